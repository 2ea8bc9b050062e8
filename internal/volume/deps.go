package volume

import (
	"context"
	"errors"
	"io"

	"github.com/gostack/gostack/internal/api"
)

// ErrImageNotFound is returned by Images when an image does not exist or the caller may
// not see it.
var ErrImageNotFound = errors.New("image not found")

// ImageInfo is what the volume service needs to know about a Glance image.
type ImageInfo struct {
	ID              string
	Name            string
	Status          string // Glance status: active, queued, ...
	DiskFormat      string
	ContainerFormat string
	Size            int64
	MinDisk         int64 // GiB
	MinRAM          int64 // MiB
	// Properties are the image's extra properties, copied into the volume's
	// volume_image_metadata.
	Properties map[string]string
}

// Images is what the volume service needs from the image service; app wires it to
// internal/image in process, as Cinder calls Glance.
type Images interface {
	// Image returns the image id as caller sees it, or ErrImageNotFound.
	Image(ctx context.Context, caller *api.Caller, id string) (*ImageInfo, error)
	// OpenImage streams an active image's data.
	OpenImage(ctx context.Context, id string) (io.ReadCloser, error)
	// CreateImage registers a queued, private image owned by caller's project
	// (os-volume_upload_image) with the given properties (disk_format,
	// container_format, min_disk and extra properties).
	CreateImage(ctx context.Context, caller *api.Caller, name string, props map[string]string) (*ImageInfo, error)
	// UploadImage stores the data of a queued image and makes it active.
	UploadImage(ctx context.Context, id, diskFormat, containerFormat string, data io.Reader) error
	// DeleteImage removes an image the service created (a failed upload).
	DeleteImage(ctx context.Context, id string) error
}

// Deps are the other services the volume service works with.
type Deps struct {
	// Images is the image service (volumes from images, uploads to images); nil refuses
	// both with a 400.
	Images Images
}
