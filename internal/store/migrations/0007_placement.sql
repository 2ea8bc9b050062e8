-- Placement (openstack/placement): resource providers in trees, resource classes, traits,
-- inventories, aggregates, consumers and their allocations. Resource classes and traits are
-- referenced by name (standard ones are synced from os-resource-classes and os-traits at
-- start); renaming a custom resource class (PUT before microversion 1.7) cascades.
--
-- placement_inventories.used is the sum of the allocations against the inventory, kept in
-- the same transaction as every allocation write, so that capacity checks and allocation
-- candidates read one row per (provider, class) instead of summing allocations.
-- Writers lock the rows they change in one order (consumers, then providers by uuid) by
-- bumping their generation first, so concurrent claims serialize on PostgreSQL as they do
-- on SQLite.

CREATE TABLE placement_resource_classes (
    name TEXT PRIMARY KEY,
    standard BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL DEFAULT ''
);

CREATE TABLE placement_traits (
    name TEXT PRIMARY KEY,
    standard BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL DEFAULT ''
);

CREATE TABLE placement_resource_providers (
    uuid TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    generation BIGINT NOT NULL DEFAULT 0,
    parent_uuid TEXT REFERENCES placement_resource_providers (uuid),
    root_uuid TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX placement_resource_providers_root ON placement_resource_providers (root_uuid);
CREATE INDEX placement_resource_providers_parent ON placement_resource_providers (parent_uuid);

CREATE TABLE placement_inventories (
    provider_uuid TEXT NOT NULL REFERENCES placement_resource_providers (uuid) ON DELETE CASCADE,
    resource_class TEXT NOT NULL REFERENCES placement_resource_classes (name) ON UPDATE CASCADE,
    total BIGINT NOT NULL,
    reserved BIGINT NOT NULL DEFAULT 0,
    min_unit BIGINT NOT NULL DEFAULT 1,
    max_unit BIGINT NOT NULL,
    step_size BIGINT NOT NULL DEFAULT 1,
    allocation_ratio DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    used BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (provider_uuid, resource_class)
);
CREATE INDEX placement_inventories_class ON placement_inventories (resource_class);

CREATE TABLE placement_provider_traits (
    provider_uuid TEXT NOT NULL REFERENCES placement_resource_providers (uuid) ON DELETE CASCADE,
    trait TEXT NOT NULL REFERENCES placement_traits (name),
    PRIMARY KEY (provider_uuid, trait)
);
CREATE INDEX placement_provider_traits_trait ON placement_provider_traits (trait);

CREATE TABLE placement_provider_aggregates (
    provider_uuid TEXT NOT NULL REFERENCES placement_resource_providers (uuid) ON DELETE CASCADE,
    aggregate_uuid TEXT NOT NULL,
    PRIMARY KEY (provider_uuid, aggregate_uuid)
);
CREATE INDEX placement_provider_aggregates_agg ON placement_provider_aggregates (aggregate_uuid);

-- A consumer exists while it has allocations, as in Placement. consumer_type is NULL for
-- consumers written before microversion 1.38 ("unknown").
CREATE TABLE placement_consumers (
    uuid TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    consumer_type TEXT,
    generation BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX placement_consumers_project ON placement_consumers (project_id, user_id);

CREATE TABLE placement_allocations (
    consumer_uuid TEXT NOT NULL REFERENCES placement_consumers (uuid),
    provider_uuid TEXT NOT NULL REFERENCES placement_resource_providers (uuid),
    resource_class TEXT NOT NULL REFERENCES placement_resource_classes (name) ON UPDATE CASCADE,
    used BIGINT NOT NULL,
    created_at TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (consumer_uuid, provider_uuid, resource_class)
);
CREATE INDEX placement_allocations_provider ON placement_allocations (provider_uuid, resource_class);
