package image

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// The per-project quotas follow Glance's unified limits (glance/quota/keystone.py): the
// resource names, what counts towards each and where each is enforced are Glance's;
// the limits come from Config.Quota. Like Glance, the project checked is the caller's.

// Quota resource names.
const (
	quotaSizeTotal      = "image_size_total"
	quotaStageTotal     = "image_stage_total"
	quotaCountTotal     = "image_count_total"
	quotaCountUploading = "image_count_uploading"
)

// errQuota is exception.LimitExceeded wrapping oslo.limit's ProjectOverLimit, as a 413.
func errQuota(project, resource string, limit, usage, delta int64) *api.Error {
	return errorf(http.StatusRequestEntityTooLarge, "The request returned a 413 Request Entity Too Large. This generally "+
		"means that rate limiting or a quota threshold was breached.\n\nThe response body:\nProject %s is over a limit "+
		"for [Resource %s is over limit of %d due to current usage %d and delta %d]", project, resource, limit, usage, delta)
}

// imageCount is the number of images a project owns (user_get_image_count).
func imageCount(ctx context.Context, q store.Querier, project string) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM images WHERE owner = ? AND status NOT IN ('killed', 'deleted', 'pending_delete')`,
		project).Scan(&n)
	return n, err
}

// storageUsage is the bytes of image data a project stores (user_get_storage_usage).
func (s *Service) storageUsage(ctx context.Context, q store.Querier, project string) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM images WHERE owner = ? AND has_data = ? AND size > 0
		AND status NOT IN ('killed', 'deleted', 'pending_delete')`, project, true).Scan(&n)
	return n, err
}

// stagingUsage is the bytes a project has staged (user_get_staging_usage).
func stagingUsage(ctx context.Context, q store.Querier, project string) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM images WHERE owner = ? AND size > 0
		AND status IN ('uploading', 'importing')`, project).Scan(&n)
	return n, err
}

// uploadingCount is the uploads and imports a project runs (user_get_uploading_count).
func uploadingCount(ctx context.Context, q store.Querier, project string) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM images WHERE owner = ? AND status IN ('saving', 'uploading', 'importing')`,
		project).Scan(&n)
	return n, err
}

// enforceImageCount refuses a new image over image_count_total.
func (s *Service) enforceImageCount(ctx context.Context, q store.Querier, project string) error {
	limit := s.cfg.Quota.ImageCountTotal
	if limit <= 0 {
		return nil
	}
	n, err := imageCount(ctx, q, project)
	if err != nil {
		return fmt.Errorf("count images: %w", err)
	}
	if n+1 > limit {
		return errQuota(project, quotaCountTotal, limit, n, 1)
	}
	return nil
}

// enforceSizeQuota refuses an upload of size bytes (-1: unknown) over image_size_total.
func (s *Service) enforceSizeQuota(ctx context.Context, project string, size int64) error {
	limit := s.cfg.Quota.ImageSizeTotal
	if limit <= 0 {
		return nil
	}
	used, err := s.storageUsage(ctx, s.db, project)
	if err != nil {
		return fmt.Errorf("image storage usage: %w", err)
	}
	delta := max(size, 0)
	if used+delta > limit {
		return errQuota(project, quotaSizeTotal, limit, used, delta)
	}
	return nil
}

// enforceStageQuota refuses staging size bytes over image_stage_total.
func (s *Service) enforceStageQuota(ctx context.Context, project string, size int64) error {
	limit := s.cfg.Quota.ImageStageTotal
	if limit <= 0 {
		return nil
	}
	used, err := stagingUsage(ctx, s.db, project)
	if err != nil {
		return fmt.Errorf("image staging usage: %w", err)
	}
	if used+size > limit {
		return errQuota(project, quotaStageTotal, limit, used, size)
	}
	return nil
}

// stageLimit is how many bytes a stage may bring.
func (s *Service) stageLimit(ctx context.Context, project string) (int64, error) {
	limit := s.cfg.MaxImageSize
	if q := s.cfg.Quota.ImageStageTotal; q > 0 {
		used, err := stagingUsage(ctx, s.db, project)
		if err != nil {
			return 0, err
		}
		// The image being staged has no size yet, so it is not in used.
		if room := q - used; room < limit {
			limit = room
		}
		if limit <= 0 {
			return 0, errQuota(project, quotaStageTotal, q, used, 0)
		}
	}
	return limit, nil
}

// enforceUploadCount refuses one more upload or import over image_count_uploading.
func (s *Service) enforceUploadCount(ctx context.Context, q store.Querier, project string) error {
	limit := s.cfg.Quota.ImageCountUploading
	if limit <= 0 {
		return nil
	}
	n, err := uploadingCount(ctx, q, project)
	if err != nil {
		return fmt.Errorf("count uploads: %w", err)
	}
	if n+1 > limit {
		return errQuota(project, quotaCountUploading, limit, n, 1)
	}
	return nil
}

// usage is GET /v2/info/usage's body for a project: each resource's usage and limit
// (-1 for no limit). Sizes are in MiB, as Glance reports them.
func (s *Service) usage(ctx context.Context, project string) (map[string]any, error) {
	count, err := imageCount(ctx, s.db, project)
	if err != nil {
		return nil, err
	}
	size, err := s.storageUsage(ctx, s.db, project)
	if err != nil {
		return nil, err
	}
	staged, err := stagingUsage(ctx, s.db, project)
	if err != nil {
		return nil, err
	}
	uploading, err := uploadingCount(ctx, s.db, project)
	if err != nil {
		return nil, err
	}
	lim := func(v int64, mib bool) int64 {
		if v <= 0 {
			return -1
		}
		if mib {
			return v >> 20
		}
		return v
	}
	q := s.cfg.Quota
	return map[string]any{
		quotaSizeTotal:      map[string]int64{"usage": size >> 20, "limit": lim(q.ImageSizeTotal, true)},
		quotaStageTotal:     map[string]int64{"usage": staged >> 20, "limit": lim(q.ImageStageTotal, true)},
		quotaCountTotal:     map[string]int64{"usage": count, "limit": lim(q.ImageCountTotal, false)},
		quotaCountUploading: map[string]int64{"usage": uploading, "limit": lim(q.ImageCountUploading, false)},
	}, nil
}
