-- Block storage (Cinder v3): services, volume types, volumes with their metadata and
-- attachments, snapshots, backups, quotas, user messages and the persisted tasks the
-- cinder-volume and cinder-backup runners carry out. Rows are soft-deleted (deleted =
-- TRUE) as Cinder does, so that an interrupted delete can be finished and the reconcile
-- pass can tell data of deleted records from data it knows nothing about.

-- volume_sequences hands out integer ids (tasks, services, attachments order).
CREATE TABLE volume_sequences (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

-- volume_services are cinder-scheduler, cinder-volume (host@backend) and cinder-backup,
-- heartbeating through updated_at.
CREATE TABLE volume_services (
    id BIGINT PRIMARY KEY,
    binary_name TEXT NOT NULL,
    host TEXT NOT NULL,
    availability_zone TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    disabled_reason TEXT,
    frozen BOOLEAN NOT NULL DEFAULT FALSE,
    replication_status TEXT NOT NULL DEFAULT 'not-capable',
    active_backend_id TEXT,
    backend_state TEXT NOT NULL DEFAULT 'up',
    report_count BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT '',
    UNIQUE (binary_name, host)
);

CREATE TABLE volume_types (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    is_public BOOLEAN NOT NULL DEFAULT TRUE,
    qos_specs_id TEXT,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT '',
    deleted_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX volume_types_name ON volume_types (name, deleted);

CREATE TABLE volume_type_extra_specs (
    type_id TEXT NOT NULL REFERENCES volume_types (id) ON DELETE CASCADE,
    spec_key TEXT NOT NULL,
    spec_value TEXT NOT NULL,
    PRIMARY KEY (type_id, spec_key)
);

-- volume_type_projects grants private types to projects (os-volume-type-access).
CREATE TABLE volume_type_projects (
    type_id TEXT NOT NULL REFERENCES volume_types (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    PRIMARY KEY (type_id, project_id)
);

-- volume_default_types overrides the default type per project (3.62).
CREATE TABLE volume_default_types (
    project_id TEXT PRIMARY KEY,
    type_id TEXT NOT NULL REFERENCES volume_types (id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT ''
);

CREATE TABLE volume_volumes (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT,
    description TEXT,
    size BIGINT NOT NULL,
    status TEXT NOT NULL,
    previous_status TEXT,
    attach_status TEXT NOT NULL DEFAULT 'detached',
    migration_status TEXT,
    availability_zone TEXT NOT NULL,
    host TEXT,
    type_id TEXT NOT NULL,
    snapshot_id TEXT,
    source_volid TEXT,
    image_id TEXT,
    backup_id TEXT,
    group_id TEXT,
    bootable BOOLEAN NOT NULL DEFAULT FALSE,
    multiattach BOOLEAN NOT NULL DEFAULT FALSE,
    encrypted BOOLEAN NOT NULL DEFAULT FALSE,
    consumes_quota BOOLEAN NOT NULL DEFAULT TRUE,
    disk_format TEXT NOT NULL DEFAULT 'qcow2',
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT '',
    launched_at TEXT NOT NULL DEFAULT '',
    terminated_at TEXT NOT NULL DEFAULT '',
    deleted_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX volume_volumes_project ON volume_volumes (project_id, deleted);
CREATE INDEX volume_volumes_status ON volume_volumes (status, deleted);

CREATE TABLE volume_metadata (
    volume_id TEXT NOT NULL REFERENCES volume_volumes (id) ON DELETE CASCADE,
    meta_key TEXT NOT NULL,
    meta_value TEXT NOT NULL,
    PRIMARY KEY (volume_id, meta_key)
);

-- volume_admin_metadata holds Cinder's admin metadata (readonly, attached_mode).
CREATE TABLE volume_admin_metadata (
    volume_id TEXT NOT NULL REFERENCES volume_volumes (id) ON DELETE CASCADE,
    meta_key TEXT NOT NULL,
    meta_value TEXT NOT NULL,
    PRIMARY KEY (volume_id, meta_key)
);

-- volume_image_metadata is Cinder's volume_glance_metadata: the properties of the image
-- a volume came from (volume_image_metadata in the API), copied to volumes made from it.
CREATE TABLE volume_image_metadata (
    volume_id TEXT NOT NULL REFERENCES volume_volumes (id) ON DELETE CASCADE,
    meta_key TEXT NOT NULL,
    meta_value TEXT NOT NULL,
    PRIMARY KEY (volume_id, meta_key)
);

-- volume_attachments are Cinder's volume_attachment rows (the attachments API 3.27 and
-- the legacy os-attach path). attach_status: reserved, attaching, attached, detaching,
-- detached, error_attaching, error_detaching.
CREATE TABLE volume_attachments (
    id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    volume_id TEXT NOT NULL REFERENCES volume_volumes (id) ON DELETE CASCADE,
    instance_uuid TEXT,
    attached_host TEXT,
    mountpoint TEXT,
    attach_mode TEXT NOT NULL DEFAULT 'rw',
    attach_status TEXT NOT NULL,
    connector TEXT,
    connection_info TEXT,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    attach_time TEXT NOT NULL DEFAULT '',
    detach_time TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT '',
    deleted_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX volume_attachments_volume ON volume_attachments (volume_id, deleted);

CREATE TABLE volume_snapshots (
    id TEXT PRIMARY KEY,
    volume_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT,
    description TEXT,
    status TEXT NOT NULL,
    progress TEXT NOT NULL DEFAULT '0%',
    volume_size BIGINT NOT NULL,
    type_id TEXT NOT NULL DEFAULT '',
    group_snapshot_id TEXT,
    consumes_quota BOOLEAN NOT NULL DEFAULT TRUE,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT '',
    deleted_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX volume_snapshots_project ON volume_snapshots (project_id, deleted);
CREATE INDEX volume_snapshots_volume ON volume_snapshots (volume_id, deleted);

CREATE TABLE volume_snapshot_metadata (
    snapshot_id TEXT NOT NULL REFERENCES volume_snapshots (id) ON DELETE CASCADE,
    meta_key TEXT NOT NULL,
    meta_value TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, meta_key)
);

CREATE TABLE volume_backups (
    id TEXT PRIMARY KEY,
    volume_id TEXT NOT NULL,
    snapshot_id TEXT,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT,
    description TEXT,
    status TEXT NOT NULL,
    fail_reason TEXT,
    availability_zone TEXT NOT NULL DEFAULT '',
    container TEXT,
    host TEXT,
    size BIGINT NOT NULL,
    object_count BIGINT NOT NULL DEFAULT 0,
    stored_bytes BIGINT NOT NULL DEFAULT 0,
    is_incremental BOOLEAN NOT NULL DEFAULT FALSE,
    parent_id TEXT,
    restore_volume_id TEXT,
    data_timestamp TEXT NOT NULL DEFAULT '',
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT '',
    deleted_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX volume_backups_project ON volume_backups (project_id, deleted);
CREATE INDEX volume_backups_volume ON volume_backups (volume_id, deleted);

CREATE TABLE volume_backup_metadata (
    backup_id TEXT NOT NULL REFERENCES volume_backups (id) ON DELETE CASCADE,
    meta_key TEXT NOT NULL,
    meta_value TEXT NOT NULL,
    PRIMARY KEY (backup_id, meta_key)
);

-- volume_quotas are per-project limits (os-quota-sets); volume_quota_classes the
-- "default" class (os-quota-class-sets), both overriding the built-in defaults.
CREATE TABLE volume_quotas (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);

CREATE TABLE volume_quota_classes (
    class_name TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (class_name, resource)
);

-- One row per project, updated first thing in every transaction that takes quota: usage
-- is counted from the live rows, and this lock makes check-and-insert race-free on
-- PostgreSQL (SQLite's IMMEDIATE transactions serialize writers already).
CREATE TABLE volume_quota_locks (
    project_id TEXT PRIMARY KEY,
    updated_at TEXT NOT NULL
);

-- volume_messages are Cinder's user messages (/messages): failures users can read.
CREATE TABLE volume_messages (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    request_id TEXT NOT NULL DEFAULT '',
    resource_type TEXT NOT NULL,
    resource_uuid TEXT,
    event_id TEXT NOT NULL,
    action_id TEXT NOT NULL,
    detail_id TEXT NOT NULL,
    message_level TEXT NOT NULL DEFAULT 'ERROR',
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX volume_messages_project ON volume_messages (project_id, deleted);

-- volume_tasks are the persisted operations. The API inserts one in the transaction that
-- sets the resource's transitional status; the runner of the queue (host: the
-- cinder-volume host@backend, or the cinder-backup host) carries it out through the
-- block driver or backup store and writes the status back. state: pending, running,
-- done, failed. A task found running at start was interrupted and is run again.
CREATE TABLE volume_tasks (
    id BIGINT PRIMARY KEY,
    queue TEXT NOT NULL,
    kind TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL,
    request_id TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX volume_tasks_pending ON volume_tasks (state, queue, id);
CREATE INDEX volume_tasks_resource ON volume_tasks (resource_id, state);

-- volume_type_encryption holds a type's encryption specs (/types/{id}/encryption).
CREATE TABLE volume_type_encryption (
    type_id TEXT PRIMARY KEY REFERENCES volume_types (id) ON DELETE CASCADE,
    encryption_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    control_location TEXT NOT NULL,
    cipher TEXT,
    key_size INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT ''
);
