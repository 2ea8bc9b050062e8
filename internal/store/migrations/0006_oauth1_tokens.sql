-- Keystone's OS-OAUTH1 request and access tokens (keystone/oauth1/backends/sql.py). A
-- consumer asks for a request token for a project; a user authorizes it with some of their
-- roles on that project (setting the verifier, the user and role_ids, a JSON list of role
-- ids); the consumer trades it for an access token, which replaces it, and then gets
-- project-scoped tokens for the user with those roles. Secrets are kept in the clear, as
-- Keystone keeps them: HMAC signatures need them to verify. expires_at is NULL for a token
-- that never expires. Tokens go with their consumer, their project and their user (Keystone
-- removes them with the consumer; a token from an access token whose row is gone no longer
-- validates).
CREATE TABLE oauth1_request_tokens (
    id TEXT PRIMARY KEY,
    request_secret TEXT NOT NULL,
    verifier TEXT,
    authorizing_user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    requested_project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    role_ids TEXT,
    consumer_id TEXT NOT NULL REFERENCES oauth1_consumers (id) ON DELETE CASCADE,
    expires_at TEXT
);
CREATE INDEX oauth1_request_tokens_consumer ON oauth1_request_tokens (consumer_id);
CREATE INDEX oauth1_request_tokens_project ON oauth1_request_tokens (requested_project_id);
CREATE INDEX oauth1_request_tokens_user ON oauth1_request_tokens (authorizing_user_id);

CREATE TABLE oauth1_access_tokens (
    id TEXT PRIMARY KEY,
    access_secret TEXT NOT NULL,
    authorizing_user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    role_ids TEXT NOT NULL,
    consumer_id TEXT NOT NULL REFERENCES oauth1_consumers (id) ON DELETE CASCADE,
    expires_at TEXT
);
CREATE INDEX oauth1_access_tokens_user ON oauth1_access_tokens (authorizing_user_id);
CREATE INDEX oauth1_access_tokens_consumer ON oauth1_access_tokens (consumer_id);
CREATE INDEX oauth1_access_tokens_project ON oauth1_access_tokens (project_id);
