-- Console authorization tokens (Nova's console_auth_tokens): what a remote-console URL
-- grants until it expires. Only the SHA-256 of a token is stored, as Nova does, so the
-- table never holds a usable credential. expires is Unix seconds (Nova's integer form).
-- host/port (or path, a unix socket on the compute host) are where the console server
-- listened when the token was issued; the proxy checks them against the host's driver
-- before relaying a byte. Rows go when they expire and when the server is deleted.
CREATE TABLE compute_console_auth_tokens (
    token_hash TEXT PRIMARY KEY,
    instance_uuid TEXT NOT NULL,
    console_type TEXT NOT NULL,
    compute_host TEXT NOT NULL,
    host TEXT NOT NULL DEFAULT '',
    port INTEGER NOT NULL DEFAULT 0,
    path TEXT NOT NULL DEFAULT '',
    internal_access_path TEXT,
    access_url_base TEXT NOT NULL,
    expires BIGINT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX compute_console_auth_tokens_instance ON compute_console_auth_tokens (instance_uuid);
CREATE INDEX compute_console_auth_tokens_expires ON compute_console_auth_tokens (expires);
