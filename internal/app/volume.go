package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/compute"
	"github.com/gostack/gostack/internal/driver/block"
	"github.com/gostack/gostack/internal/driver/block/fake"
	"github.com/gostack/gostack/internal/driver/block/file"
	"github.com/gostack/gostack/internal/image"
	"github.com/gostack/gostack/internal/platform"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
	"github.com/gostack/gostack/internal/volume"
)

// newVolume builds the block-storage service with this host's cinder-volume backend
// and cinder-backup store, as [volume] driver says.
func newVolume(ctx context.Context, db *store.DB, enforcer *policy.Enforcer, cfg Config, images *image.Service,
	log *slog.Logger) (*volume.Service, error) {
	svc, err := volume.New(ctx, db, enforcer, volume.Config{ServiceDownTime: cfg.Volume.ServiceDownTime},
		volume.Deps{Images: volumeImages{images}}, log)
	if err != nil {
		return nil, err
	}
	var (
		driver  block.Driver
		backups block.BackupStore
	)
	switch cfg.Volume.Driver {
	case "", "file":
		fd, err := file.New(file.Config{Dir: filepath.Join(cfg.DataDir, "volumes"),
			Runner: &platform.Exec{Log: log.With("component", "exec")}, Log: log.With("driver", "file")})
		if err != nil {
			return nil, err
		}
		bs, err := file.NewBackupStore(filepath.Join(cfg.DataDir, "backups"), log.With("driver", "file-backup"))
		if err != nil {
			return nil, err
		}
		driver, backups = fd, bs
	case "fake":
		driver, backups = fake.New(fake.Config{}), fake.NewBackupStore()
	default:
		return nil, fmt.Errorf("volume driver %q is not available (drivers: file, fake)", cfg.Volume.Driver)
	}
	svc.SetBackend(driver, backups)
	return svc, nil
}

// The compute service copies in-use volumes for the volume service's snapshots and
// backups through the hypervisor of their running server (up.go wires it with
// SetVolumeCopier, as SetComputeAPI).
var _ volume.VolumeCopier = (*compute.Service)(nil)

// volumeImages gives the volume service the image service in process
// (volume.Images), as compute_images.go does for compute.
type volumeImages struct{ svc *image.Service }

var _ volume.Images = volumeImages{}

// volumeImage converts an image summary.
func volumeImage(s *image.Summary) *volume.ImageInfo {
	return &volume.ImageInfo{ID: s.ID, Name: s.Name, Status: s.Status, DiskFormat: s.DiskFormat,
		ContainerFormat: s.ContainerFormat, Size: s.Size, MinDisk: s.MinDisk, MinRAM: s.MinRAM, Properties: s.Properties}
}

// Image implements volume.Images.
func (g volumeImages) Image(ctx context.Context, caller *api.Caller, id string) (*volume.ImageInfo, error) {
	s, err := g.svc.ImageFor(ctx, caller, id)
	if errors.Is(err, image.ErrImageNotFound) {
		return nil, volume.ErrImageNotFound
	}
	if err != nil {
		return nil, err
	}
	return volumeImage(s), nil
}

// OpenImage implements volume.Images.
func (g volumeImages) OpenImage(ctx context.Context, id string) (io.ReadCloser, error) {
	rc, err := g.svc.OpenImageData(ctx, id)
	if errors.Is(err, image.ErrImageNotFound) {
		return nil, volume.ErrImageNotFound
	}
	return rc, err
}

// CreateImage implements volume.Images.
func (g volumeImages) CreateImage(ctx context.Context, caller *api.Caller, name string, props map[string]string) (*volume.ImageInfo, error) {
	s, err := g.svc.CreateImageFor(ctx, caller, name, props)
	if err != nil {
		return nil, err
	}
	return volumeImage(s), nil
}

// UploadImage implements volume.Images.
func (g volumeImages) UploadImage(ctx context.Context, id, diskFormat, containerFormat string, data io.Reader) error {
	err := g.svc.UploadImageData(ctx, id, diskFormat, containerFormat, data)
	if errors.Is(err, image.ErrImageNotFound) {
		return volume.ErrImageNotFound
	}
	return err
}

// DeleteImage implements volume.Images.
func (g volumeImages) DeleteImage(ctx context.Context, id string) error {
	return g.svc.DeleteImageByID(ctx, id)
}
