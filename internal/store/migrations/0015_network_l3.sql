-- Networking (Neutron), second part: security groups and their rules, the default
-- security group rule templates, address groups, routers with extra routes, floating IPs,
-- agents, QoS policies and rules, and trunks with subports.
--
-- Router interfaces and gateways are ports (device_id = router id, device_owner
-- network:router_interface / network:router_gateway), as a floating IP's own port is
-- (network:floatingip); no link table repeats what net_ports already says.

CREATE TABLE net_security_groups (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    stateful BOOLEAN NOT NULL DEFAULT TRUE,
    revision_number BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX net_security_groups_project ON net_security_groups (project_id);

-- One default group per project: the primary key makes concurrent first uses agree.
CREATE TABLE net_default_security_groups (
    project_id TEXT PRIMARY KEY,
    security_group_id TEXT NOT NULL
);

CREATE TABLE net_security_group_rules (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    security_group_id TEXT NOT NULL REFERENCES net_security_groups (id) ON DELETE CASCADE,
    direction TEXT NOT NULL,
    ethertype TEXT NOT NULL,
    protocol TEXT,
    port_range_min BIGINT,
    port_range_max BIGINT,
    remote_ip_prefix TEXT,
    remote_group_id TEXT,
    remote_address_group_id TEXT,
    description TEXT NOT NULL DEFAULT '',
    revision_number BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX net_sg_rules_group ON net_security_group_rules (security_group_id);
CREATE INDEX net_sg_rules_project ON net_security_group_rules (project_id);
CREATE INDEX net_sg_rules_remote ON net_security_group_rules (remote_group_id);

-- Templates of the rules new groups get (default-security-group-rules); remote_group_id
-- 'PARENT' means the group being created. Seeded with Neutron's four defaults.
CREATE TABLE net_default_sg_rules (
    id TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    direction TEXT NOT NULL,
    ethertype TEXT NOT NULL,
    protocol TEXT,
    port_range_min BIGINT,
    port_range_max BIGINT,
    remote_ip_prefix TEXT,
    remote_group_id TEXT,
    remote_address_group_id TEXT,
    used_in_default_sg BOOLEAN NOT NULL DEFAULT FALSE,
    used_in_non_default_sg BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO net_default_sg_rules (id, direction, ethertype, remote_group_id, used_in_default_sg, used_in_non_default_sg) VALUES
    ('9a5c3f0e-51e2-4bd5-8e0a-3d2f4b1a0001', 'egress', 'IPv4', NULL, TRUE, TRUE),
    ('9a5c3f0e-51e2-4bd5-8e0a-3d2f4b1a0002', 'egress', 'IPv6', NULL, TRUE, TRUE),
    ('9a5c3f0e-51e2-4bd5-8e0a-3d2f4b1a0003', 'ingress', 'IPv4', 'PARENT', TRUE, FALSE),
    ('9a5c3f0e-51e2-4bd5-8e0a-3d2f4b1a0004', 'ingress', 'IPv6', 'PARENT', TRUE, FALSE);

CREATE TABLE net_address_groups (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    revision_number BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE net_address_group_addresses (
    address_group_id TEXT NOT NULL REFERENCES net_address_groups (id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    PRIMARY KEY (address_group_id, address)
);

CREATE TABLE net_routers (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    admin_state_up BOOLEAN NOT NULL DEFAULT TRUE,
    status TEXT NOT NULL DEFAULT 'ACTIVE',
    gw_port_id TEXT,
    gw_network_id TEXT,
    enable_snat BOOLEAN NOT NULL DEFAULT TRUE,
    distributed BOOLEAN NOT NULL DEFAULT FALSE,
    ha BOOLEAN NOT NULL DEFAULT FALSE,
    availability_zone_hints TEXT NOT NULL DEFAULT '[]',
    revision_number BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX net_routers_project ON net_routers (project_id);

CREATE TABLE net_router_routes (
    router_id TEXT NOT NULL REFERENCES net_routers (id) ON DELETE CASCADE,
    destination TEXT NOT NULL,
    nexthop TEXT NOT NULL,
    PRIMARY KEY (router_id, destination, nexthop)
);

CREATE TABLE net_floatingips (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    floating_network_id TEXT NOT NULL,
    floating_port_id TEXT NOT NULL,
    floating_ip_address TEXT NOT NULL,
    fixed_port_id TEXT,
    fixed_ip_address TEXT,
    router_id TEXT,
    status TEXT NOT NULL DEFAULT 'DOWN',
    revision_number BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX net_floatingips_project ON net_floatingips (project_id);
CREATE INDEX net_floatingips_port ON net_floatingips (fixed_port_id);
CREATE INDEX net_floatingips_router ON net_floatingips (router_id);
-- A fixed address has at most one floating IP per external network.
CREATE UNIQUE INDEX net_floatingips_fixed ON net_floatingips (floating_network_id, fixed_port_id, fixed_ip_address)
    WHERE fixed_port_id IS NOT NULL;

CREATE TABLE net_agents (
    id TEXT PRIMARY KEY,
    agent_type TEXT NOT NULL,
    binary_name TEXT NOT NULL,
    topic TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL,
    availability_zone TEXT,
    admin_state_up BOOLEAN NOT NULL DEFAULT TRUE,
    description TEXT,
    configurations TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    started_at TEXT NOT NULL,
    heartbeat_timestamp TEXT NOT NULL,
    UNIQUE (agent_type, host)
);

CREATE TABLE net_qos_policies (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    shared BOOLEAN NOT NULL DEFAULT FALSE,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    revision_number BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- One table for every rule type; columns a type does not use stay NULL.
CREATE TABLE net_qos_rules (
    id TEXT PRIMARY KEY,
    policy_id TEXT NOT NULL REFERENCES net_qos_policies (id) ON DELETE CASCADE,
    rule_type TEXT NOT NULL,
    max_kbps BIGINT,
    max_burst_kbps BIGINT,
    min_kbps BIGINT,
    direction TEXT,
    dscp_mark BIGINT
);
CREATE INDEX net_qos_rules_policy ON net_qos_rules (policy_id);
-- Neutron allows one rule of a type per direction in a policy (dscp has no direction).
CREATE UNIQUE INDEX net_qos_rules_unique ON net_qos_rules (policy_id, rule_type, direction);

-- The QoS policy of a network or port (qos_policy_id).
CREATE TABLE net_qos_bindings (
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    policy_id TEXT NOT NULL REFERENCES net_qos_policies (id),
    PRIMARY KEY (object_type, object_id)
);
CREATE INDEX net_qos_bindings_policy ON net_qos_bindings (policy_id);

CREATE TABLE net_trunks (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    port_id TEXT NOT NULL UNIQUE,
    admin_state_up BOOLEAN NOT NULL DEFAULT TRUE,
    status TEXT NOT NULL DEFAULT 'DOWN',
    revision_number BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE net_subports (
    port_id TEXT PRIMARY KEY,
    trunk_id TEXT NOT NULL REFERENCES net_trunks (id) ON DELETE CASCADE,
    segmentation_type TEXT NOT NULL,
    segmentation_id BIGINT NOT NULL,
    UNIQUE (trunk_id, segmentation_type, segmentation_id)
);

-- Paging through large port and rule lists sorts by id within a project.
CREATE INDEX net_ports_project_id ON net_ports (project_id, id);
CREATE INDEX net_sg_rules_project_id ON net_security_group_rules (project_id, id);
