-- Keystone's extension APIs: OS-EP-FILTER (project-endpoint associations and endpoint
-- groups), the legacy policy blobs with their OS-ENDPOINT-POLICY associations, OS-OAUTH1
-- consumers and domain-specific configuration. Rows that hang off a project, endpoint,
-- service, region or policy go with it (Keystone removes them through notification
-- callbacks; here the foreign keys do it).

-- OS-EP-FILTER: an endpoint made visible to a project explicitly.
CREATE TABLE project_endpoints (
    endpoint_id TEXT NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    PRIMARY KEY (endpoint_id, project_id)
);
CREATE INDEX project_endpoints_project ON project_endpoints (project_id);

-- OS-EP-FILTER endpoint groups; filters is a JSON object over interface, service_id and
-- region_id. description is NULL when never set, as Keystone returns it.
CREATE TABLE endpoint_groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    filters TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE project_endpoint_groups (
    endpoint_group_id TEXT NOT NULL REFERENCES endpoint_groups (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    PRIMARY KEY (endpoint_group_id, project_id)
);
CREATE INDEX project_endpoint_groups_project ON project_endpoint_groups (project_id);

-- The /v3/policies blobs (Keystone's deprecated policy API).
CREATE TABLE policies (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    blob TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}'
);

-- OS-ENDPOINT-POLICY: a policy for an endpoint, a service, or a service in a region (and
-- the regions below it). The (endpoint_id, service_id, region_id) triple is unique; NULLs
-- make that a rule the code keeps rather than a constraint.
CREATE TABLE policy_associations (
    id TEXT PRIMARY KEY,
    policy_id TEXT NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
    endpoint_id TEXT REFERENCES endpoints (id) ON DELETE CASCADE,
    service_id TEXT REFERENCES services (id) ON DELETE CASCADE,
    region_id TEXT REFERENCES regions (id) ON DELETE CASCADE
);
CREATE INDEX policy_associations_policy ON policy_associations (policy_id);

-- OS-OAUTH1 consumers. The secret is kept as Keystone keeps it: OAuth 1.0a HMAC signatures
-- need it in the clear to verify.
CREATE TABLE oauth1_consumers (
    id TEXT PRIMARY KEY,
    description TEXT,
    secret TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}'
);

-- Domain-specific configuration, one row per option; value is JSON. Sensitive options
-- (ldap password) are stored but never returned.
CREATE TABLE domain_configs (
    domain_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    config_group TEXT NOT NULL,
    config_option TEXT NOT NULL,
    value TEXT NOT NULL,
    sensitive BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (domain_id, config_group, config_option)
);
