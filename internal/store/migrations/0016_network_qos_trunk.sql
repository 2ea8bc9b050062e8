-- Networking (Neutron), QoS and trunks: at most one default QoS policy per project
-- (qos-default; Neutron keeps it in qos_policies_default keyed by project), enforced by
-- the store so that two concurrent "is_default" writes cannot both win.
CREATE UNIQUE INDEX net_qos_policies_default ON net_qos_policies (project_id) WHERE is_default;

-- Trunks are looked up by parent port and subports by trunk on every port read
-- (trunk_details); the parent's unique constraint already indexes port_id.
CREATE INDEX net_subports_trunk ON net_subports (trunk_id);
