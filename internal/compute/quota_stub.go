package compute

import (
	"context"

	"github.com/gostack/gostack/internal/store"
)

// checkQuota refuses (Nova's 403 "Quota exceeded for ...") a change that would take a
// project (and user) over its limits. deltas maps Nova's resource names (instances,
// cores, ram, key_pairs, server_groups, server_group_members, metadata_items) to the
// amount being added. It must be called inside the write transaction that adds the
// resources, after which concurrent callers for the same project are serialized, so that
// racing requests can never overshoot a limit. (Placeholder; the quota file replaces it.)
func (s *Service) checkQuota(ctx context.Context, tx *store.Tx, projectID, userID string, deltas map[string]int64) error {
	return nil
}
