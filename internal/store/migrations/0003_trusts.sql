-- Keystone's OS-TRUST delegations: the trustor lets the trustee act with some of the
-- trustor's roles on one project. project_id is NULL for a trust without a project,
-- expires_at NULL for one that never expires and remaining_uses NULL for unlimited use, so
-- that the duplicate constraint treats them as Keystone's does (NULLs never collide).
-- redelegated_trust_id names the trust a redelegated trust was made from. Deleting a trust
-- removes its row (and those redelegated from it); a revocation event with its id revokes
-- its tokens.
CREATE TABLE trusts (
    id TEXT PRIMARY KEY,
    trustor_user_id TEXT NOT NULL,
    trustee_user_id TEXT NOT NULL,
    project_id TEXT,
    impersonation BOOLEAN NOT NULL,
    expires_at TEXT,
    remaining_uses INTEGER,
    redelegated_trust_id TEXT,
    redelegation_count INTEGER NOT NULL DEFAULT 0,
    extra TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL DEFAULT '',
    UNIQUE (trustor_user_id, trustee_user_id, project_id, impersonation, expires_at)
);
CREATE INDEX trusts_trustee ON trusts (trustee_user_id);
CREATE INDEX trusts_project ON trusts (project_id);
CREATE INDEX trusts_redelegated ON trusts (redelegated_trust_id);

-- The roles a trust delegates, as given at creation (implied roles are added when a token
-- is issued).
CREATE TABLE trust_roles (
    trust_id TEXT NOT NULL REFERENCES trusts (id) ON DELETE CASCADE,
    role_id TEXT NOT NULL,
    PRIMARY KEY (trust_id, role_id)
);
CREATE INDEX trust_roles_role ON trust_roles (role_id);
