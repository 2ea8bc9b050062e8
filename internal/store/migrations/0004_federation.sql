-- Keystone's OS-FEDERATION configuration: attribute mappings, identity providers with their
-- remote ids and protocols, and service providers (keystone/federation/backends/sql.py).
-- Only the administrative records are kept; federated users are not (gostack does not
-- perform SAML or OpenID Connect authentication).

-- Attribute mappings. rules is the JSON list of rules as given; schema_version names the
-- mapping schema the rules were validated against.
CREATE TABLE federation_mappings (
    id TEXT PRIMARY KEY,
    rules TEXT NOT NULL,
    schema_version TEXT NOT NULL DEFAULT '1.0'
);

-- Identity providers. Each belongs to a domain (created for it when none is given);
-- deleting the domain deletes its identity providers, as Keystone's domain-deleted
-- callback does. description and authorization_ttl are NULL when never set.
CREATE TABLE identity_providers (
    id TEXT PRIMARY KEY,
    domain_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    enabled BOOLEAN NOT NULL,
    description TEXT,
    authorization_ttl INTEGER
);
CREATE INDEX identity_providers_domain ON identity_providers (domain_id);

-- The remote ids an identity provider is known by; a remote id names one provider only.
CREATE TABLE idp_remote_ids (
    remote_id TEXT PRIMARY KEY,
    idp_id TEXT NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE
);
CREATE INDEX idp_remote_ids_idp ON idp_remote_ids (idp_id);

-- The protocols of an identity provider, each with the mapping it applies. mapping_id
-- is not a foreign key: Keystone lets a mapping in use be deleted.
CREATE TABLE federation_protocols (
    idp_id TEXT NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    mapping_id TEXT NOT NULL,
    remote_id_attribute TEXT,
    PRIMARY KEY (idp_id, id)
);

-- Service providers (remote Keystones for Keystone-to-Keystone federation).
CREATE TABLE service_providers (
    id TEXT PRIMARY KEY,
    enabled BOOLEAN NOT NULL,
    description TEXT,
    auth_url TEXT NOT NULL,
    sp_url TEXT NOT NULL,
    relay_state_prefix TEXT NOT NULL
);
