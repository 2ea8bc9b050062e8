-- Glance metadata definitions ("metadefs", glance/db/sqlalchemy/models_metadef.py), in the
-- portable subset both engines accept. Namespaces own objects, properties, tags and
-- resource-type associations; everything a namespace owns goes with it (ON DELETE
-- CASCADE), and children refer to the namespace by its id so that renaming a namespace
-- keeps them. Ids are dashed UUIDs (Glance's are integers it never shows). owner is a
-- Keystone project id, or "admin" for the namespaces of the standard catalog, as
-- glance-manage db_load_metadefs stores them. Property and object schemas are JSON
-- documents as Glance keeps them (json_schema). Timestamps are fixed-width UTC text
-- (store.TimeFormat).

CREATE TABLE image_metadef_namespaces (
    id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL UNIQUE,
    display_name TEXT,
    description TEXT,
    visibility TEXT NOT NULL,
    protected BOOLEAN NOT NULL DEFAULT FALSE,
    owner TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX image_metadef_namespaces_owner ON image_metadef_namespaces (owner);

-- required is the object's required property names joined with commas (NULL when none);
-- json_schema maps property names to their property documents.
CREATE TABLE image_metadef_objects (
    id TEXT PRIMARY KEY,
    namespace_id TEXT NOT NULL REFERENCES image_metadef_namespaces (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    required TEXT,
    json_schema TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (namespace_id, name)
);
CREATE INDEX image_metadef_objects_name ON image_metadef_objects (name);

CREATE TABLE image_metadef_properties (
    id TEXT PRIMARY KEY,
    namespace_id TEXT NOT NULL REFERENCES image_metadef_namespaces (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    json_schema TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (namespace_id, name)
);
CREATE INDEX image_metadef_properties_name ON image_metadef_properties (name);

CREATE TABLE image_metadef_tags (
    id TEXT PRIMARY KEY,
    namespace_id TEXT NOT NULL REFERENCES image_metadef_namespaces (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (namespace_id, name)
);
CREATE INDEX image_metadef_tags_name ON image_metadef_tags (name);

-- Resource types are created by the standard catalog (protected) or on the fly when a
-- namespace is first associated with a new name; they are never deleted.
CREATE TABLE image_metadef_resource_types (
    name TEXT PRIMARY KEY,
    protected BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE image_metadef_namespace_resource_types (
    namespace_id TEXT NOT NULL REFERENCES image_metadef_namespaces (id) ON DELETE CASCADE,
    resource_type TEXT NOT NULL REFERENCES image_metadef_resource_types (name),
    prefix TEXT,
    properties_target TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (namespace_id, resource_type)
);
CREATE INDEX image_metadef_namespace_resource_types_type ON image_metadef_namespace_resource_types (resource_type);

-- One row per standard catalog loaded into this database (DevStack's
-- glance-manage db_load_metadefs), so that a catalog is loaded once and namespaces an
-- administrator deletes afterwards stay deleted.
CREATE TABLE image_metadef_catalogs (
    name TEXT PRIMARY KEY,
    loaded_at TEXT NOT NULL
);
