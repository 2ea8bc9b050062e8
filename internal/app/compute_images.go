package app

import (
	"context"
	"errors"
	"io"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/compute"
	"github.com/gostack/gostack/internal/image"
)

// glanceImages gives compute the image service in-process (compute.Images), keeping the
// two packages independent of each other.
type glanceImages struct{ svc *image.Service }

var _ compute.Images = glanceImages{}

// computeImage converts an image summary.
func computeImage(s *image.Summary) *compute.ImageInfo {
	props := make(map[string]any, len(s.Properties))
	for k, v := range s.Properties {
		props[k] = v
	}
	return &compute.ImageInfo{ID: s.ID, Name: s.Name, Status: s.Status, Owner: s.Owner, Visibility: s.Visibility,
		DiskFormat: s.DiskFormat, ContainerFormat: s.ContainerFormat, Size: s.Size, MinDisk: s.MinDisk,
		MinRAM: s.MinRAM, Properties: props}
}

// Image implements compute.Images.
func (g glanceImages) Image(ctx context.Context, caller *api.Caller, id string) (*compute.ImageInfo, error) {
	s, err := g.svc.ImageFor(ctx, caller, id)
	if errors.Is(err, image.ErrImageNotFound) {
		return nil, compute.ErrImageNotFound
	}
	if err != nil {
		return nil, err
	}
	return computeImage(s), nil
}

// CreateImage implements compute.Images; non-string property values are skipped.
func (g glanceImages) CreateImage(ctx context.Context, caller *api.Caller, name string, props map[string]any) (*compute.ImageInfo, error) {
	sp := make(map[string]string, len(props))
	for k, v := range props {
		if s, ok := v.(string); ok {
			sp[k] = s
		}
	}
	s, err := g.svc.CreateImageFor(ctx, caller, name, sp)
	if err != nil {
		return nil, err
	}
	return computeImage(s), nil
}

// UploadImage implements compute.Images.
func (g glanceImages) UploadImage(ctx context.Context, id, diskFormat, containerFormat string, data io.Reader) error {
	err := g.svc.UploadImageData(ctx, id, diskFormat, containerFormat, data)
	if errors.Is(err, image.ErrImageNotFound) {
		return compute.ErrImageNotFound
	}
	return err
}

// DeleteImage implements compute.Images.
func (g glanceImages) DeleteImage(ctx context.Context, id string) error {
	return g.svc.DeleteImageByID(ctx, id)
}

// OpenImage implements compute.Images.
func (g glanceImages) OpenImage(ctx context.Context, id string) (io.ReadCloser, error) {
	rc, err := g.svc.OpenImageData(ctx, id)
	if errors.Is(err, image.ErrImageNotFound) {
		return nil, compute.ErrImageNotFound
	}
	return rc, err
}

// ImagesWithProperties implements compute.Images.
func (g glanceImages) ImagesWithProperties(ctx context.Context, props map[string]string) ([]string, error) {
	return g.svc.ImageIDsWithProperties(ctx, props)
}
