package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// The methods in this file are what other services (compute) use of the image service
// in-process: they go through the same visibility rules and upload path (hashes, format
// inspection, crash-safe store) as the HTTP API, with plain types so that callers need
// not import the image package's internals and the image package need not import them.

// ErrImageNotFound is returned when an image does not exist or the caller may not see it.
var ErrImageNotFound = errors.New("image not found")

// Summary is an image as another service sees it.
type Summary struct {
	ID              string
	Name            string
	Status          string
	Owner           string
	Visibility      string
	DiskFormat      string
	ContainerFormat string
	Size            int64
	MinDisk         int64
	MinRAM          int64
	// Properties are the image's extra properties; null-valued ones are left out.
	Properties map[string]string
}

// summary converts a loaded image.
func (img *image) summary() *Summary {
	out := &Summary{ID: img.ID, Name: str(img.Name), Status: img.Status, Owner: img.owner(),
		Visibility: img.Visibility, DiskFormat: str(img.DiskFormat), ContainerFormat: str(img.ContainerFormat),
		MinDisk: img.MinDisk, MinRAM: img.MinRAM, Properties: map[string]string{}}
	if img.Size != nil {
		out.Size = *img.Size
	}
	for k, v := range img.Props {
		if v != nil {
			out.Properties[k] = *v
		}
	}
	return out
}

// callFor builds the call a caller would have on the HTTP API.
func (s *Service) callFor(caller *api.Caller) *call {
	if caller == nil {
		caller = &api.Caller{}
	}
	c := &call{s: s, caller: caller, creds: caller.PolicyCredentials()}
	c.admin = c.allowed("context_is_admin", policy.Target{})
	return c
}

// ImageFor returns the image id as caller would see it through GET /v2/images/{id}, or
// ErrImageNotFound.
func (s *Service) ImageFor(ctx context.Context, caller *api.Caller, id string) (*Summary, error) {
	c := s.callFor(caller)
	img, err := c.getImage(ctx, s.db, id)
	if err != nil {
		if ae := api.AsError(err); ae != nil && ae.Status == 404 {
			return nil, ErrImageNotFound
		}
		return nil, err
	}
	return img.summary(), nil
}

// CreateImageFor registers a queued, private image owned by caller's project with the
// given name and string properties (a server snapshot), subject to the project's image
// count quota.
func (s *Service) CreateImageFor(ctx context.Context, caller *api.Caller, name string, props map[string]string) (*Summary, error) {
	c := s.callFor(caller)
	t := now()
	img := &image{ID: api.NewUUID(), Status: statusQueued, Visibility: "private", CreatedAt: t, UpdatedAt: t,
		Props: map[string]*string{}, Tags: []string{}}
	if p := c.project(); p != "" {
		img.Owner = ptr(p)
	}
	img.Name = ptr(name)
	for k, v := range props {
		switch k {
		case "disk_format":
			img.DiskFormat = ptr(v)
		case "container_format":
			img.ContainerFormat = ptr(v)
		case "min_disk", "min_ram":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				continue
			}
			if k == "min_disk" {
				img.MinDisk = n
			} else {
				img.MinRAM = n
			}
		default:
			if baseAttrs[k] || reservedAttrs[k] {
				continue
			}
			img.Props[k] = ptr(v)
		}
	}
	if err := s.checkLimits(img); err != nil {
		return nil, err
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.enforceImageCount(ctx, tx, c.project()); err != nil {
			return err
		}
		return insertImage(ctx, tx, img)
	})
	if err != nil {
		return nil, err
	}
	return img.summary(), nil
}

// UploadImageData stores the data of a queued image in the given formats and makes it
// active, through the same hashing and inspection as PUT /v2/images/{id}/file.
func (s *Service) UploadImageData(ctx context.Context, id, diskFormat, containerFormat string, data io.Reader) error {
	if err := s.waitReconciled(ctx); err != nil {
		return err
	}
	var img *image
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		img, err = loadImage(ctx, tx, id)
		if err != nil {
			return err
		}
		if img == nil {
			return ErrImageNotFound
		}
		if !canTransition(img.Status, statusSaving) {
			return errTransition(img.Status, statusSaving)
		}
		img.DiskFormat, img.ContainerFormat = ptr(diskFormat), ptr(containerFormat)
		if _, err := tx.ExecContext(ctx, `UPDATE images SET disk_format = ?, container_format = ?, status = ?,
			updated_at = ? WHERE id = ? AND status = ?`, diskFormat, containerFormat, statusSaving,
			store.FormatTime(now()), id, img.Status); err != nil {
			return fmt.Errorf("start image upload: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	_, err = s.storeData(ctx, img, data, s.cfg.MaxImageSize, statusSaving)
	return err
}

// DeleteImageByID removes an image and its data whatever its owner (compute deletes the
// snapshots it made when they fail and the shelved images it no longer needs). A missing
// image is not an error.
func (s *Service) DeleteImageByID(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM images WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete image: %w", err)
	}
	s.files.removeAll(id)
	return nil
}

// OpenImageData streams an active image's data.
func (s *Service) OpenImageData(ctx context.Context, id string) (io.ReadCloser, error) {
	img, err := loadImage(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if img == nil || img.Status != statusActive || !img.HasData {
		return nil, ErrImageNotFound
	}
	path, err := s.files.dataPath(img.ID)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open image data: %w", err)
	}
	return f, nil
}

// ImageIDsWithProperties lists the ids of the images that have every given property
// value, oldest first (by creation time), whoever owns them: compute rotates a server's
// backups with it (image_type=backup, backup_type, instance_uuid).
func (s *Service) ImageIDsWithProperties(ctx context.Context, props map[string]string) ([]string, error) {
	q := `SELECT i.id FROM images i WHERE i.status <> 'deleted'`
	var args []any
	for k, v := range props {
		q += ` AND EXISTS (SELECT 1 FROM image_properties p WHERE p.image_id = i.id AND p.name = ? AND p.value = ?)`
		args = append(args, k, v)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY i.created_at, i.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
