package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestComputeEphemeralFormatConfig(t *testing.T) {
	for _, c := range []struct{ toml, want, err string }{
		{"[compute]\ndefault_ephemeral_format = 'ext4'\nimage_cache_manager_interval = '5m'\nimage_cache_min_age = '2h'\n", "ext4", ""},
		{"[compute]\nimage_cache_min_age = 'soon'\n", "", "image_cache_min_age"},
		{"[compute]\n", "", ""},
		{"[compute]\ndefault_ephemeral_format = 'ext4 -E foo'\n", "", "default_ephemeral_format"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "gostack.toml"), []byte(c.toml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := Config{DataDir: dir}
		err := cfg.loadFileConfig()
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want one naming %s", c.toml, err, c.err)
			}
			continue
		}
		if c.want != "" && (cfg.Compute.ImageCacheInterval != 5*time.Minute || cfg.Compute.ImageCacheMinAge != 2*time.Hour) {
			t.Errorf("%q: image cache %v %v", c.toml, cfg.Compute.ImageCacheInterval, cfg.Compute.ImageCacheMinAge)
		}
		if err != nil || cfg.Compute.DefaultEphemeralFormat != c.want {
			t.Errorf("%q: %q, %v; want %q", c.toml, cfg.Compute.DefaultEphemeralFormat, err, c.want)
		}
	}
}
