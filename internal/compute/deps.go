package compute

import (
	"context"
	"errors"
	"io"

	"github.com/gostack/gostack/internal/api"
)

// ErrImageNotFound is returned by Images when an image does not exist or the caller may
// not see it.
var ErrImageNotFound = errors.New("image not found")

// ImageInfo is what compute needs to know about a Glance image.
type ImageInfo struct {
	ID              string
	Name            string
	Status          string // Glance status: active, queued, ...
	Owner           string
	Visibility      string
	DiskFormat      string
	ContainerFormat string
	Size            int64
	MinDisk         int64 // GiB
	MinRAM          int64 // MiB
	// Properties are the image's extra properties (hw_*, os_*, ...).
	Properties map[string]any
}

// Images is what compute needs from the image service; app wires it to internal/image.
type Images interface {
	// Image returns the image id as caller sees it, or ErrImageNotFound.
	Image(ctx context.Context, caller *api.Caller, id string) (*ImageInfo, error)
	// CreateImage registers a queued image owned by caller's project (a server snapshot,
	// createImage or shelve) and returns it.
	CreateImage(ctx context.Context, caller *api.Caller, name string, props map[string]any) (*ImageInfo, error)
	// UploadImage stores the data of a queued image (disk and container format given)
	// and makes it active.
	UploadImage(ctx context.Context, id, diskFormat, containerFormat string, data io.Reader) error
	// DeleteImage removes an image compute created (a failed snapshot, an unshelved
	// server's shelved image).
	DeleteImage(ctx context.Context, id string) error
	// OpenImage streams an active image's data, for drivers that need the bytes.
	OpenImage(ctx context.Context, id string) (io.ReadCloser, error)
	// ImagesWithProperties lists the ids of the images having every given property
	// value, oldest first (backup rotation).
	ImagesWithProperties(ctx context.Context, props map[string]string) ([]string, error)
}
