-- Block storage extras (Cinder v3): QoS specs, group types and their specs, generic
-- volume groups with their volume types, group snapshots and volume transfers. Groups,
-- group snapshots and transfers are soft-deleted as volumes are (a group's delete is
-- finished by a task, and accepted transfers are kept as history, 3.57); QoS specs and
-- group types have no data behind them and are deleted outright.

CREATE TABLE volume_qos_specs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    consumer TEXT NOT NULL DEFAULT 'back-end',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT ''
);

CREATE TABLE volume_qos_spec_keys (
    qos_id TEXT NOT NULL REFERENCES volume_qos_specs (id) ON DELETE CASCADE,
    spec_key TEXT NOT NULL,
    spec_value TEXT NOT NULL,
    PRIMARY KEY (qos_id, spec_key)
);

CREATE TABLE volume_group_types (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    is_public BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT ''
);

CREATE TABLE volume_group_type_specs (
    group_type_id TEXT NOT NULL REFERENCES volume_group_types (id) ON DELETE CASCADE,
    spec_key TEXT NOT NULL,
    spec_value TEXT NOT NULL,
    PRIMARY KEY (group_type_id, spec_key)
);

-- volume_groups are Cinder's generic volume groups (3.13). status: creating, available,
-- updating, deleting, error, error_deleting, in-use.
CREATE TABLE volume_groups (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT,
    description TEXT,
    status TEXT NOT NULL,
    availability_zone TEXT NOT NULL,
    host TEXT,
    group_type_id TEXT NOT NULL,
    group_snapshot_id TEXT,
    source_group_id TEXT,
    replication_status TEXT NOT NULL DEFAULT 'disabled',
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT '',
    deleted_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX volume_groups_project ON volume_groups (project_id, deleted);

-- volume_group_volume_types are the volume types a group accepts, in request order.
CREATE TABLE volume_group_volume_types (
    group_id TEXT NOT NULL REFERENCES volume_groups (id) ON DELETE CASCADE,
    type_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (group_id, type_id)
);
CREATE INDEX volume_group_volume_types_type ON volume_group_volume_types (type_id);

-- volume_group_snapshots are snapshots of every volume of a group (3.14); the member
-- snapshots are volume_snapshots rows with group_snapshot_id set.
CREATE TABLE volume_group_snapshots (
    id TEXT PRIMARY KEY,
    group_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT,
    description TEXT,
    status TEXT NOT NULL,
    group_type_id TEXT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT '',
    deleted_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX volume_group_snapshots_project ON volume_group_snapshots (project_id, deleted);
CREATE INDEX volume_group_snapshots_group ON volume_group_snapshots (group_id, deleted);

-- volume_transfers offer a volume to another project. Only the salted HMAC of the auth
-- key is kept (Cinder's salt and crypt_hash); an accepted transfer is soft-deleted with
-- its destination recorded (3.57 history).
CREATE TABLE volume_transfers (
    id TEXT PRIMARY KEY,
    volume_id TEXT NOT NULL,
    name TEXT,
    salt TEXT NOT NULL,
    crypt_hash TEXT NOT NULL,
    no_snapshots BOOLEAN NOT NULL DEFAULT FALSE,
    source_project_id TEXT NOT NULL,
    destination_project_id TEXT,
    accepted BOOLEAN NOT NULL DEFAULT FALSE,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT '',
    deleted_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX volume_transfers_volume ON volume_transfers (volume_id, deleted);
CREATE INDEX volume_transfers_project ON volume_transfers (source_project_id, deleted);
