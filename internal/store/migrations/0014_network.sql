-- Networking (Neutron): networks and their segments, subnets, subnet pools, address
-- scopes, ports with their IP allocations and security group bindings, RBAC policies,
-- quotas and tags.
--
-- Every resource table carries Neutron's standard attributes as columns (id, project_id,
-- name, description, revision_number, created_at, updated_at); tags of every resource live
-- in net_tags keyed by (resource type, id). List-valued attributes that are only read and
-- written whole (dns_nameservers, host_routes, allocation_pools, allowed_address_pairs,
-- extra_dhcp_opts, binding profiles) are JSON text.
--
-- IPAM never hands out an address twice: net_ip_allocations has (subnet_id, ip_address) as
-- its primary key, and allocations take the subnet's row lock (ipam_lock) inside the
-- creating transaction, so concurrent creates queue instead of racing.

CREATE TABLE net_networks (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    admin_state_up BOOLEAN NOT NULL DEFAULT TRUE,
    status TEXT NOT NULL DEFAULT 'ACTIVE',
    router_external BOOLEAN NOT NULL DEFAULT FALSE,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    mtu BIGINT NOT NULL DEFAULT 1500,
    port_security_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    dns_domain TEXT NOT NULL DEFAULT '',
    availability_zone_hints TEXT NOT NULL DEFAULT '[]',
    revision_number BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX net_networks_project ON net_networks (project_id);

CREATE TABLE net_segments (
    id TEXT PRIMARY KEY,
    network_id TEXT NOT NULL REFERENCES net_networks (id) ON DELETE CASCADE,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    network_type TEXT NOT NULL,
    physical_network TEXT NOT NULL DEFAULT '',
    segmentation_id BIGINT NOT NULL DEFAULT 0,
    segment_index BIGINT NOT NULL DEFAULT 0,
    revision_number BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX net_segments_network ON net_segments (network_id);
-- One network per VLAN id on a physical network, per tunnel id, and per flat physical
-- network; local segments share nothing.
CREATE UNIQUE INDEX net_segments_unique ON net_segments (network_type, physical_network, segmentation_id)
    WHERE network_type <> 'local';

CREATE TABLE net_address_scopes (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    ip_version BIGINT NOT NULL,
    shared BOOLEAN NOT NULL DEFAULT FALSE,
    revision_number BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE net_subnetpools (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    ip_version BIGINT NOT NULL,
    prefixes TEXT NOT NULL DEFAULT '[]',
    default_prefixlen BIGINT NOT NULL,
    min_prefixlen BIGINT NOT NULL,
    max_prefixlen BIGINT NOT NULL,
    default_quota BIGINT,
    address_scope_id TEXT REFERENCES net_address_scopes (id),
    shared BOOLEAN NOT NULL DEFAULT FALSE,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    -- alloc_lock is bumped by every prefix allocation so that PostgreSQL serializes them.
    alloc_lock BIGINT NOT NULL DEFAULT 0,
    revision_number BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE net_subnets (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    network_id TEXT NOT NULL REFERENCES net_networks (id) ON DELETE CASCADE,
    ip_version BIGINT NOT NULL,
    cidr TEXT NOT NULL,
    gateway_ip TEXT,
    enable_dhcp BOOLEAN NOT NULL DEFAULT TRUE,
    ipv6_ra_mode TEXT,
    ipv6_address_mode TEXT,
    subnetpool_id TEXT REFERENCES net_subnetpools (id),
    segment_id TEXT REFERENCES net_segments (id),
    dns_nameservers TEXT NOT NULL DEFAULT '[]',
    host_routes TEXT NOT NULL DEFAULT '[]',
    allocation_pools TEXT NOT NULL DEFAULT '[]',
    service_types TEXT NOT NULL DEFAULT '[]',
    dns_publish_fixed_ip BOOLEAN NOT NULL DEFAULT FALSE,
    -- ipam_lock is bumped by every address allocation: the row lock it takes on
    -- PostgreSQL queues concurrent allocations on the subnet.
    ipam_lock BIGINT NOT NULL DEFAULT 0,
    revision_number BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX net_subnets_network ON net_subnets (network_id);
CREATE INDEX net_subnets_pool ON net_subnets (subnetpool_id);

CREATE TABLE net_ports (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    network_id TEXT NOT NULL REFERENCES net_networks (id),
    mac_address TEXT NOT NULL,
    admin_state_up BOOLEAN NOT NULL DEFAULT TRUE,
    status TEXT NOT NULL DEFAULT 'DOWN',
    device_id TEXT NOT NULL DEFAULT '',
    device_owner TEXT NOT NULL DEFAULT '',
    binding_host_id TEXT NOT NULL DEFAULT '',
    binding_vnic_type TEXT NOT NULL DEFAULT 'normal',
    binding_vif_type TEXT NOT NULL DEFAULT 'unbound',
    binding_vif_details TEXT NOT NULL DEFAULT '{}',
    binding_profile TEXT NOT NULL DEFAULT '{}',
    port_security_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    allowed_address_pairs TEXT NOT NULL DEFAULT '[]',
    extra_dhcp_opts TEXT NOT NULL DEFAULT '[]',
    dns_name TEXT NOT NULL DEFAULT '',
    dns_domain TEXT NOT NULL DEFAULT '',
    data_plane_status TEXT,
    propagate_uplink_status BOOLEAN NOT NULL DEFAULT FALSE,
    ip_allocation TEXT NOT NULL DEFAULT 'immediate',
    revision_number BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX net_ports_network ON net_ports (network_id);
CREATE INDEX net_ports_project ON net_ports (project_id);
CREATE INDEX net_ports_device ON net_ports (device_id);
CREATE INDEX net_ports_host ON net_ports (binding_host_id);
CREATE UNIQUE INDEX net_ports_mac ON net_ports (network_id, mac_address);

CREATE TABLE net_ip_allocations (
    subnet_id TEXT NOT NULL REFERENCES net_subnets (id),
    ip_address TEXT NOT NULL,
    port_id TEXT NOT NULL REFERENCES net_ports (id) ON DELETE CASCADE,
    network_id TEXT NOT NULL,
    position BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (subnet_id, ip_address)
);
CREATE INDEX net_ip_allocations_port ON net_ip_allocations (port_id);

-- Security groups are another helper's; ports keep the ids of their groups here.
CREATE TABLE net_port_security_groups (
    port_id TEXT NOT NULL REFERENCES net_ports (id) ON DELETE CASCADE,
    security_group_id TEXT NOT NULL,
    PRIMARY KEY (port_id, security_group_id)
);
CREATE INDEX net_port_security_groups_sg ON net_port_security_groups (security_group_id);

CREATE TABLE net_rbac_policies (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    action TEXT NOT NULL,
    target_tenant TEXT NOT NULL,
    revision_number BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (object_type, object_id, action, target_tenant)
);
CREATE INDEX net_rbac_object ON net_rbac_policies (object_id);

CREATE TABLE net_tags (
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (resource_type, resource_id, tag)
);

CREATE TABLE net_quotas (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);

-- One row per project, updated first thing in every creating transaction: a quota check
-- and the insert it guards then run one project at a time on both engines.
CREATE TABLE net_quota_locks (
    project_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL DEFAULT 0
);

-- Bootstrap bookkeeping: which default-topology objects exist, so restarts skip them.
CREATE TABLE net_bootstrap (
    name TEXT PRIMARY KEY,
    object_id TEXT NOT NULL
);
