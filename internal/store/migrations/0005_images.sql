-- Glance v2 images (glance/db/sqlalchemy/models.py), in the portable subset both engines
-- accept. An image's id is a dashed UUID; owner is a Keystone project id and is not a
-- foreign key (Glance does not check it against Keystone either). Deleted images are
-- removed with their properties, tags, members and tasks rather than kept as soft-deleted
-- rows. Timestamps are fixed-width UTC text (store.TimeFormat).

-- has_data is true once the image's file is in the store and the row describes it (size,
-- checksum and hashes are set in the same statement); the file is renamed into place
-- before the row says so, so a row never points at partial data.
CREATE TABLE images (
    id TEXT PRIMARY KEY,
    name TEXT,
    owner TEXT,
    status TEXT NOT NULL,
    visibility TEXT NOT NULL,
    disk_format TEXT,
    container_format TEXT,
    size BIGINT,
    virtual_size BIGINT,
    checksum TEXT,
    os_hash_algo TEXT,
    os_hash_value TEXT,
    min_disk BIGINT NOT NULL DEFAULT 0,
    min_ram BIGINT NOT NULL DEFAULT 0,
    protected BOOLEAN NOT NULL DEFAULT FALSE,
    os_hidden BOOLEAN NOT NULL DEFAULT FALSE,
    has_data BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX images_owner ON images (owner);
CREATE INDEX images_visibility ON images (visibility);
CREATE INDEX images_created ON images (created_at, id);
CREATE INDEX images_status ON images (status);

-- Free-form ("extra") properties; a NULL value is JSON null (kernel_id and ramdisk_id
-- accept it).
CREATE TABLE image_properties (
    image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value TEXT,
    PRIMARY KEY (image_id, name)
);
CREATE INDEX image_properties_name ON image_properties (name);

CREATE TABLE image_tags (
    image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    value TEXT NOT NULL,
    PRIMARY KEY (image_id, value)
);
CREATE INDEX image_tags_value ON image_tags (value);

-- Projects a shared image is offered to, with their answer (pending, accepted, rejected).
CREATE TABLE image_members (
    image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    member TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (image_id, member)
);
CREATE INDEX image_members_member ON image_members (member, status);

-- Tasks: imports (api_image_import), as GET /v2/images/{id}/tasks shows them, and the
-- legacy tasks API's tasks, which have no image. input and result are JSON documents;
-- result is NULL until the task ends.
CREATE TABLE image_tasks (
    id TEXT PRIMARY KEY,
    image_id TEXT REFERENCES images (id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    owner TEXT,
    user_id TEXT,
    request_id TEXT,
    input TEXT NOT NULL DEFAULT '{}',
    result TEXT,
    message TEXT NOT NULL DEFAULT '',
    expires_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX image_tasks_image ON image_tasks (image_id);
