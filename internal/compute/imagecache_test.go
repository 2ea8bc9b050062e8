package compute

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/driver/compute/fake"
)

// cachingDriver is the fake driver with an image cache manager that counts its runs.
type cachingDriver struct {
	*fake.Driver
	runs atomic.Int32
}

func (d *cachingDriver) ManageImageCache(context.Context) ([]string, error) {
	d.runs.Add(1)
	return nil, nil
}

// The host agent runs the driver's image cache manager every ImageCacheInterval.
func TestHostAgentRunsImageCacheManager(t *testing.T) {
	tc := newTestCloud(t)
	fd, err := fake.New(fake.Config{Host: "cache-host", StateDir: filepath.Join(tc.dir, "fake-hosts")})
	if err != nil {
		t.Fatal(err)
	}
	d := &cachingDriver{Driver: fd}
	if err := tc.svc.AddHost("cache-host", d, HostOptions{ImageCacheInterval: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tc.svc.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	deadline := time.Now().Add(10 * time.Second)
	for d.runs.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("image cache manager ran %d times", d.runs.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
