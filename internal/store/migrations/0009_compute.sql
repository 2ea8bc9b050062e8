-- Compute (Nova): flavors, keypairs, instances with their metadata, tags, actions and
-- faults, the persisted tasks that drive them, server groups, services, compute nodes
-- (hypervisors), aggregates, quotas and migrations.
--
-- Integer ids Nova exposes (instance id in instance_name, keypair, aggregate, service,
-- hypervisor, migration and action ids) come from compute_sequences, incremented inside
-- the writing transaction, so the schema stays portable between SQLite and PostgreSQL.
--
-- Instances are soft-deleted as in Nova (deleted = TRUE, deleted_at set): admins list them
-- with deleted=True and changes-since returns them as DELETED.

CREATE TABLE compute_sequences (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

CREATE TABLE compute_flavors (
    flavorid TEXT PRIMARY KEY,
    id BIGINT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    vcpus BIGINT NOT NULL,
    memory_mb BIGINT NOT NULL,
    root_gb BIGINT NOT NULL DEFAULT 0,
    ephemeral_gb BIGINT NOT NULL DEFAULT 0,
    swap BIGINT NOT NULL DEFAULT 0,
    rxtx_factor DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    is_public BOOLEAN NOT NULL DEFAULT TRUE,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    description TEXT,
    created_at TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL DEFAULT ''
);

CREATE TABLE compute_flavor_extra_specs (
    flavorid TEXT NOT NULL REFERENCES compute_flavors (flavorid) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (flavorid, key)
);

CREATE TABLE compute_flavor_projects (
    flavorid TEXT NOT NULL REFERENCES compute_flavors (flavorid) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    PRIMARY KEY (flavorid, project_id)
);

CREATE TABLE compute_keypairs (
    id BIGINT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL DEFAULT 'ssh',
    public_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (user_id, name)
);

CREATE TABLE compute_instances (
    uuid TEXT PRIMARY KEY,
    id BIGINT NOT NULL UNIQUE,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    hostname TEXT NOT NULL DEFAULT '',
    image_ref TEXT NOT NULL DEFAULT '',
    -- flavor is the JSON snapshot of the flavor the instance runs (Nova's embedded
    -- flavor); old_flavor and new_flavor are set during a resize.
    flavor TEXT NOT NULL,
    old_flavor TEXT,
    new_flavor TEXT,
    key_name TEXT,
    key_data TEXT,
    user_data TEXT,
    config_drive TEXT NOT NULL DEFAULT '',
    availability_zone TEXT,
    host TEXT,
    node TEXT,
    vm_state TEXT NOT NULL,
    task_state TEXT,
    power_state INTEGER NOT NULL DEFAULT 0,
    launched_at TEXT,
    terminated_at TEXT,
    locked BOOLEAN NOT NULL DEFAULT FALSE,
    locked_by TEXT,
    locked_reason TEXT,
    access_ip_v4 TEXT NOT NULL DEFAULT '',
    access_ip_v6 TEXT NOT NULL DEFAULT '',
    reservation_id TEXT NOT NULL DEFAULT '',
    launch_index INTEGER NOT NULL DEFAULT 0,
    progress INTEGER NOT NULL DEFAULT 0,
    root_device_name TEXT,
    -- request is the JSON request spec kept for scheduling again (resize, migrate,
    -- unshelve, rebuild): requested networks, security groups, block device mappings,
    -- scheduler hints, requested availability zone and host, image properties.
    request TEXT NOT NULL DEFAULT '{}',
    -- network_info is the JSON network info cache behind "addresses" (Nova's
    -- instance_info_caches).
    network_info TEXT NOT NULL DEFAULT '[]',
    -- system_metadata holds Nova's system metadata (image_* properties, shelved_image_id,
    -- clean shutdown flags) as a JSON object.
    system_metadata TEXT NOT NULL DEFAULT '{}',
    trusted_certs TEXT,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    deleted_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX compute_instances_project ON compute_instances (project_id, deleted, created_at);
CREATE INDEX compute_instances_host ON compute_instances (host, deleted);
CREATE INDEX compute_instances_created ON compute_instances (created_at, uuid);
CREATE INDEX compute_instances_updated ON compute_instances (updated_at);
CREATE INDEX compute_instances_reservation ON compute_instances (reservation_id);

CREATE TABLE compute_instance_metadata (
    instance_uuid TEXT NOT NULL REFERENCES compute_instances (uuid) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (instance_uuid, key)
);

CREATE TABLE compute_instance_tags (
    instance_uuid TEXT NOT NULL REFERENCES compute_instances (uuid) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (instance_uuid, tag)
);
CREATE INDEX compute_instance_tags_tag ON compute_instance_tags (tag);

-- A fault per failure; the newest is shown on the server.
CREATE TABLE compute_instance_faults (
    id BIGINT PRIMARY KEY,
    instance_uuid TEXT NOT NULL REFERENCES compute_instances (uuid) ON DELETE CASCADE,
    code INTEGER NOT NULL,
    message TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX compute_instance_faults_instance ON compute_instance_faults (instance_uuid, id);

-- Instance actions and their events are the user-visible record of every operation
-- (os-instance-actions).
CREATE TABLE compute_instance_actions (
    id BIGINT PRIMARY KEY,
    instance_uuid TEXT NOT NULL REFERENCES compute_instances (uuid) ON DELETE CASCADE,
    action TEXT NOT NULL,
    request_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    start_time TEXT NOT NULL,
    finish_time TEXT,
    message TEXT,
    updated_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX compute_instance_actions_instance ON compute_instance_actions (instance_uuid, start_time);
CREATE INDEX compute_instance_actions_request ON compute_instance_actions (instance_uuid, request_id);

CREATE TABLE compute_instance_action_events (
    id BIGINT PRIMARY KEY,
    action_id BIGINT NOT NULL REFERENCES compute_instance_actions (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    start_time TEXT NOT NULL,
    finish_time TEXT,
    result TEXT,
    traceback TEXT,
    host TEXT,
    details TEXT
);
CREATE INDEX compute_instance_action_events_action ON compute_instance_action_events (action_id);

-- compute_tasks are the persisted operations. The API inserts one in the transaction that
-- sets the instance's task_state; the conductor runs tasks with host = '' (scheduling),
-- the host agent serving a host runs the ones for it. state: pending, running, done,
-- failed. A task found running at start was interrupted and is run again: every step is
-- idempotent.
CREATE TABLE compute_tasks (
    id BIGINT PRIMARY KEY,
    instance_uuid TEXT NOT NULL,
    kind TEXT NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    host TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    action_id BIGINT,
    request_id TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX compute_tasks_pending ON compute_tasks (state, host, id);
CREATE INDEX compute_tasks_instance ON compute_tasks (instance_uuid, state);

CREATE TABLE compute_server_groups (
    uuid TEXT PRIMARY KEY,
    id BIGINT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    policy TEXT NOT NULL,
    rules TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
CREATE INDEX compute_server_groups_project ON compute_server_groups (project_id);

CREATE TABLE compute_server_group_members (
    group_uuid TEXT NOT NULL REFERENCES compute_server_groups (uuid) ON DELETE CASCADE,
    instance_uuid TEXT NOT NULL,
    PRIMARY KEY (group_uuid, instance_uuid)
);
CREATE INDEX compute_server_group_members_instance ON compute_server_group_members (instance_uuid);

CREATE TABLE compute_services (
    id BIGINT PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    host TEXT NOT NULL,
    service_binary TEXT NOT NULL,
    topic TEXT NOT NULL DEFAULT '',
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    disabled_reason TEXT,
    forced_down BOOLEAN NOT NULL DEFAULT FALSE,
    last_seen_up TEXT,
    report_count BIGINT NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT '',
    UNIQUE (host, service_binary)
);

-- compute_nodes are the hypervisors: one per compute host (node name = host name for
-- every driver gostack has), with the capacity its driver reports. uuid is also the
-- node's Placement resource provider uuid.
CREATE TABLE compute_nodes (
    id BIGINT PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    host TEXT NOT NULL,
    hypervisor_hostname TEXT NOT NULL UNIQUE,
    hypervisor_type TEXT NOT NULL,
    hypervisor_version BIGINT NOT NULL DEFAULT 0,
    host_ip TEXT NOT NULL DEFAULT '',
    vcpus BIGINT NOT NULL,
    memory_mb BIGINT NOT NULL,
    local_gb BIGINT NOT NULL,
    cpu_info TEXT NOT NULL DEFAULT '{}',
    cpu_allocation_ratio DOUBLE PRECISION NOT NULL DEFAULT 16.0,
    ram_allocation_ratio DOUBLE PRECISION NOT NULL DEFAULT 1.5,
    disk_allocation_ratio DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    reserved_host_memory_mb BIGINT NOT NULL DEFAULT 512,
    reserved_host_disk_mb BIGINT NOT NULL DEFAULT 0,
    reserved_host_cpus BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX compute_nodes_host ON compute_nodes (host);

CREATE TABLE compute_aggregates (
    id BIGINT PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT ''
);

CREATE TABLE compute_aggregate_hosts (
    aggregate_id BIGINT NOT NULL REFERENCES compute_aggregates (id) ON DELETE CASCADE,
    host TEXT NOT NULL,
    PRIMARY KEY (aggregate_id, host)
);
CREATE INDEX compute_aggregate_hosts_host ON compute_aggregate_hosts (host);

CREATE TABLE compute_aggregate_metadata (
    aggregate_id BIGINT NOT NULL REFERENCES compute_aggregates (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (aggregate_id, key)
);

-- Quota limits per project (user_id = '') or per user in a project; unset resources
-- take the quota class "default".
CREATE TABLE compute_quotas (
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL DEFAULT '',
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    created_at TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (project_id, user_id, resource)
);

CREATE TABLE compute_quota_classes (
    class_name TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (class_name, resource)
);

CREATE TABLE compute_migrations (
    id BIGINT PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    instance_uuid TEXT NOT NULL,
    migration_type TEXT NOT NULL,
    status TEXT NOT NULL,
    source_compute TEXT,
    source_node TEXT,
    dest_compute TEXT,
    dest_node TEXT,
    dest_host TEXT,
    old_flavor_id TEXT,
    new_flavor_id TEXT,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX compute_migrations_instance ON compute_migrations (instance_uuid, id);
