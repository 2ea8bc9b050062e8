package compute

import (
	"context"
	"io"
	"strings"
	"sync"

	"github.com/gostack/gostack/internal/api"
	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/driver/compute/fake"
)

// computeDriverInstance and fakeDriver name the driver types in tests.
type (
	computeDriverInstance = computedriver.Instance
	fakeDriver            = fake.Driver
)

// newFake returns a fake host with the default capacity.
func newFake(host, dir string) (*fake.Driver, error) {
	return fake.New(fake.Config{Host: host, StateDir: dir})
}

// fakeImages is an in-memory Images for the agent tests (snapshots, shelved images).
type fakeImages struct {
	mu   sync.Mutex
	data map[string][]byte
}

func newFakeImages() *fakeImages { return &fakeImages{data: map[string][]byte{}} }

// size returns the stored size of an image, -1 when it does not exist.
func (f *fakeImages) size(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.data[id]
	if !ok {
		return -1
	}
	return len(b)
}

func (f *fakeImages) Image(ctx context.Context, caller *api.Caller, id string) (*ImageInfo, error) {
	return &ImageInfo{ID: id, Status: "active"}, nil
}

func (f *fakeImages) CreateImage(ctx context.Context, caller *api.Caller, name string, props map[string]any) (*ImageInfo, error) {
	id := api.NewUUID()
	f.mu.Lock()
	f.data[id] = nil
	f.mu.Unlock()
	return &ImageInfo{ID: id, Name: name, Status: "queued"}, nil
}

func (f *fakeImages) UploadImage(ctx context.Context, id, diskFormat, containerFormat string, data io.Reader) error {
	b, err := io.ReadAll(data)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.data[id] = b
	f.mu.Unlock()
	return nil
}

func (f *fakeImages) DeleteImage(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.data[id]; !ok {
		return ErrImageNotFound
	}
	delete(f.data, id)
	return nil
}

func (f *fakeImages) ImagesWithProperties(ctx context.Context, props map[string]string) ([]string, error) {
	return nil, nil
}

func (f *fakeImages) OpenImage(ctx context.Context, id string) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("image " + id)), nil
}
