// Package image is gostack's Glance v2: images with their properties, tags and members,
// uploads and downloads through a filesystem store, the interoperable import flow
// (staging plus glance-direct), deactivation, schemas, discovery and per-project quotas,
// with Glance's default policies, error bodies and status codes.
//
// Image data is streamed, never buffered: an upload goes through md5, sha512 and the
// disk-format inspector (internal/image/inspect) in parallel while it is written to a
// temporary file, which is synced and renamed into the store before the row turns active.
// A row therefore never describes partial data. Run reconciles what an interrupted process
// left behind (uploads cut off by kill -9, staged data, imports in progress) and carries
// imports through to the end.
package image

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// Config holds image service settings; zero values take Glance's defaults.
type Config struct {
	// Dir is the filesystem store: image files, staged data and temporary uploads live
	// under it (typically <data-dir>/images). Required.
	Dir string
	// Prefix is where the API is mounted on the shared listener ("/image", as DevStack).
	Prefix string
	// MaxImageSize is Glance's image_size_cap (1 TiB); larger uploads get a 413.
	MaxImageSize int64
	// MaxProperties, MaxTags and MaxMembers are Glance's image_property_quota,
	// image_tag_quota and image_member_quota (128 each).
	MaxProperties, MaxTags, MaxMembers int
	// Quota holds the per-project limits (Glance's keystone quotas); zero means no limit.
	Quota Quota
	// ListLimitDefault and ListLimitMax are limit_param_default (25) and api_limit_max
	// (1000).
	ListLimitDefault, ListLimitMax int
	// ReconcileInterval is how often Run looks for imports to carry on (5 s).
	ReconcileInterval time.Duration
}

// Quota is the per-project image quota, as Glance's unified-limits resources: zero means
// unlimited. Usage is reported by GET /v2/info/usage.
type Quota struct {
	// ImageCountTotal caps the images a project owns (image_count_total).
	ImageCountTotal int64
	// ImageSizeTotal caps the bytes of image data a project stores (image_size_total,
	// which Glance counts in MiB).
	ImageSizeTotal int64
	// ImageStageTotal caps the bytes a project has staged for import (image_stage_total).
	ImageStageTotal int64
	// ImageCountUploading caps the uploads and imports a project runs at once
	// (image_count_uploading).
	ImageCountUploading int64
}

// Service is the image service.
type Service struct {
	db       *store.DB
	enforcer *policy.Enforcer
	cfg      Config
	log      *slog.Logger
	files    *fileStore

	// importMu guards importing, the images whose import this process is running.
	importMu  sync.Mutex
	importing map[string]bool
	imports   sync.WaitGroup
	// reconciled is closed once Run's start-up reconcile pass has finished.
	reconciled chan struct{}
	runOnce    sync.Once
}

// New returns the image service over db, creating the store directories and registering
// Glance's default policies on enforcer.
func New(ctx context.Context, db *store.DB, enforcer *policy.Enforcer, cfg Config, log *slog.Logger) (*Service, error) {
	if cfg.Dir == "" {
		return nil, errors.New("image: no store directory configured")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/image"
	}
	if cfg.MaxImageSize == 0 {
		cfg.MaxImageSize = 1 << 40
	}
	if cfg.MaxProperties == 0 {
		cfg.MaxProperties = 128
	}
	if cfg.MaxTags == 0 {
		cfg.MaxTags = 128
	}
	if cfg.MaxMembers == 0 {
		cfg.MaxMembers = 128
	}
	if cfg.ListLimitDefault == 0 {
		cfg.ListLimitDefault = 25
	}
	if cfg.ListLimitMax == 0 {
		cfg.ListLimitMax = 1000
	}
	if cfg.ReconcileInterval == 0 {
		cfg.ReconcileInterval = 5 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("image store directory: %w", err)
	}
	cfg.Dir = dir
	files, err := openFileStore(dir)
	if err != nil {
		return nil, err
	}
	if enforcer != nil {
		if err := enforcer.RegisterDefaults(defaultPolicies()); err != nil {
			return nil, err
		}
	}
	return &Service{
		db: db, enforcer: enforcer, cfg: cfg, log: log, files: files,
		importing: map[string]bool{}, reconciled: make(chan struct{}),
	}, nil
}

// Run reconciles the store with the database, then keeps carrying imports through until
// ctx ends. At start it puts back to queued every upload a previous process did not
// finish, removes temporary files and files no image owns, and resumes imports; staged
// data whose image still waits for import is kept.
func (s *Service) Run(ctx context.Context) {
	if err := s.reconcile(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("image store reconcile failed", "err", err)
	}
	t := time.NewTicker(s.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.imports.Wait()
			return
		case <-t.C:
			if err := s.resumeImports(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("resume image imports", "err", err)
			}
		}
	}
}

// waitReconciled holds back requests that write image data until Run's start-up
// reconcile has run, so that it never mistakes their files for debris.
func (s *Service) waitReconciled(ctx context.Context) error {
	select {
	case <-s.reconciled:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// APIService returns the image API ready to mount on the shared listener.
func (s *Service) APIService() api.Service {
	return api.Service{Name: "image", Prefix: s.cfg.Prefix, Fault: fault, Routes: s.Routes()}
}
