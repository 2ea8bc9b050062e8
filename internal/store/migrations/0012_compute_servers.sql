-- Compute servers: indexes for the server list's keyset paging in Nova's default order
-- (created_at DESC, id DESC), per project and across projects.
CREATE INDEX compute_instances_project_page ON compute_instances (project_id, deleted, created_at, id);
CREATE INDEX compute_instances_page ON compute_instances (deleted, created_at, id);
