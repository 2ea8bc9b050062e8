-- Keystone v3 identity. Domains are rows of projects with is_domain true and domain_id set
-- to the root marker, as in Keystone, so that domain and project ids share one namespace.
-- Timestamps are fixed-width UTC text (store.TimeFormat); JSON documents are text.

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL,
    parent_id TEXT,
    is_domain BOOLEAN NOT NULL DEFAULT FALSE,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    description TEXT NOT NULL DEFAULT '',
    extra TEXT NOT NULL DEFAULT '{}',
    options TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL DEFAULT '',
    UNIQUE (domain_id, name)
);
CREATE INDEX projects_parent ON projects (parent_id);

CREATE TABLE project_tags (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    PRIMARY KEY (project_id, name)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    domain_id TEXT NOT NULL,
    name TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    default_project_id TEXT,
    extra TEXT NOT NULL DEFAULT '{}',
    options TEXT NOT NULL DEFAULT '{}',
    password_hash TEXT NOT NULL DEFAULT '',
    password_created_at TEXT NOT NULL DEFAULT '',
    password_expires_at TEXT NOT NULL DEFAULT '',
    failed_auth_count INTEGER NOT NULL DEFAULT 0,
    failed_auth_at TEXT NOT NULL DEFAULT '',
    last_active_at TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL DEFAULT '',
    UNIQUE (domain_id, name)
);

-- Earlier password hashes, for unique_last_password_count.
CREATE TABLE password_history (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX password_history_user ON password_history (user_id, created_at);

CREATE TABLE groups (
    id TEXT PRIMARY KEY,
    domain_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (domain_id, name)
);

CREATE TABLE user_group_membership (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX user_group_membership_group ON user_group_membership (group_id);

-- Global roles have domain_id '<<null>>' (Keystone's marker), so (name, domain_id) stays unique.
CREATE TABLE roles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain_id TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    options TEXT NOT NULL DEFAULT '{}',
    extra TEXT NOT NULL DEFAULT '{}',
    UNIQUE (name, domain_id)
);

CREATE TABLE implied_roles (
    prior_role_id TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    implied_role_id TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (prior_role_id, implied_role_id)
);

-- One row per grant. type is UserProject, GroupProject, UserDomain, GroupDomain, UserSystem
-- or GroupSystem; system grants use target_id 'system'.
CREATE TABLE assignments (
    type TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    target_id TEXT NOT NULL,
    role_id TEXT NOT NULL,
    inherited BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (type, actor_id, target_id, role_id, inherited)
);
CREATE INDEX assignments_actor ON assignments (actor_id);
CREATE INDEX assignments_target ON assignments (target_id);
CREATE INDEX assignments_role ON assignments (role_id);

CREATE TABLE regions (
    id TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    parent_region_id TEXT,
    extra TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE services (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    extra TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE endpoints (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    interface TEXT NOT NULL,
    url TEXT NOT NULL,
    region_id TEXT,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX endpoints_service ON endpoints (service_id);

CREATE TABLE application_credentials (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    user_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    expires_at TEXT NOT NULL DEFAULT '',
    unrestricted BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TEXT NOT NULL DEFAULT '',
    UNIQUE (user_id, name)
);

CREATE TABLE application_credential_roles (
    application_credential_id TEXT NOT NULL REFERENCES application_credentials (id) ON DELETE CASCADE,
    role_id TEXT NOT NULL,
    PRIMARY KEY (application_credential_id, role_id)
);

CREATE TABLE access_rules (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    service TEXT NOT NULL,
    path TEXT NOT NULL,
    method TEXT NOT NULL
);

CREATE TABLE application_credential_access_rules (
    application_credential_id TEXT NOT NULL REFERENCES application_credentials (id) ON DELETE CASCADE,
    access_rule_id TEXT NOT NULL REFERENCES access_rules (id) ON DELETE CASCADE,
    PRIMARY KEY (application_credential_id, access_rule_id)
);

CREATE TABLE credentials (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    project_id TEXT,
    type TEXT NOT NULL,
    blob TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX credentials_user ON credentials (user_id);

CREATE TABLE registered_limits (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL,
    region_id TEXT NOT NULL DEFAULT '',
    resource_name TEXT NOT NULL,
    default_limit BIGINT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    UNIQUE (service_id, region_id, resource_name)
);

-- project_id or domain_id is '' when the limit is on the other kind of target.
CREATE TABLE limits (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL DEFAULT '',
    domain_id TEXT NOT NULL DEFAULT '',
    service_id TEXT NOT NULL,
    region_id TEXT NOT NULL DEFAULT '',
    resource_name TEXT NOT NULL,
    resource_limit BIGINT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    UNIQUE (project_id, domain_id, service_id, region_id, resource_name)
);

-- Keystone's revocation events: a token is revoked when every non-empty field of an event
-- matches it and it was issued at or before issued_before. Events expire with the longest
-- token life and are pruned.
CREATE TABLE revocation_events (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL DEFAULT '',
    project_id TEXT NOT NULL DEFAULT '',
    domain_id TEXT NOT NULL DEFAULT '',
    role_id TEXT NOT NULL DEFAULT '',
    trust_id TEXT NOT NULL DEFAULT '',
    audit_id TEXT NOT NULL DEFAULT '',
    audit_chain_id TEXT NOT NULL DEFAULT '',
    expires_at TEXT NOT NULL DEFAULT '',
    issued_before TEXT NOT NULL,
    revoked_at TEXT NOT NULL
);
CREATE INDEX revocation_events_revoked_at ON revocation_events (revoked_at);

-- Small state shared by all replicas: the identity revision that invalidates token caches,
-- bootstrap markers, and similar single values.
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
