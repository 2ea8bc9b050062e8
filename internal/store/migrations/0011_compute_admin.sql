-- Compute admin APIs: what the hypervisor and server-migration views show beyond 0009.
--
-- compute_nodes.uptime is the host's uptime line as its agent last reported it (the
-- output of `uptime`, which os-hypervisors shows; NULL when the driver cannot tell).
-- The memory_* and disk_* columns of compute_migrations are a live migration's progress
-- in bytes as the host agent reports it (NULL until known), shown by
-- GET /servers/{id}/migrations.

ALTER TABLE compute_nodes ADD COLUMN uptime TEXT;

ALTER TABLE compute_migrations ADD COLUMN memory_total BIGINT;
ALTER TABLE compute_migrations ADD COLUMN memory_processed BIGINT;
ALTER TABLE compute_migrations ADD COLUMN memory_remaining BIGINT;
ALTER TABLE compute_migrations ADD COLUMN disk_total BIGINT;
ALTER TABLE compute_migrations ADD COLUMN disk_processed BIGINT;
ALTER TABLE compute_migrations ADD COLUMN disk_remaining BIGINT;

CREATE INDEX compute_migrations_updated ON compute_migrations (updated_at);
CREATE INDEX compute_migrations_created ON compute_migrations (created_at, id);
