// Package app is the one place that wires gostack together: it opens the store, builds the
// policy engine and the services, mounts them on the shared listener, bootstraps the cloud
// and writes the files clients need. cmd/gostack only turns flags into a Config.
package app

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/gostack/gostack/internal/identity"
)

// Config is everything `gostack up` can be told.
type Config struct {
	// DataDir holds the database, keys, certificates and client files.
	DataDir string
	// Listen is the address of the single API listener.
	Listen string
	// PublicURL is the base URL advertised in the catalog; derived from Listen when empty.
	PublicURL string
	// Region names the region of every endpoint.
	Region string
	// DatabaseURL selects PostgreSQL ("postgres://..."); empty means SQLite in DataDir.
	DatabaseURL string
	// AdminPassword and DemoPassword are used instead of generated passwords when set.
	AdminPassword, DemoPassword string
	// TLS is "off" or "auto" (a local CA and server certificate in DataDir); TLSCert and
	// TLSKey name a certificate to serve instead.
	TLS, TLSCert, TLSKey string
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// Identity holds Keystone settings; zero values take Keystone's defaults.
	Identity identity.Config
	// Compute holds the compute host settings.
	Compute ComputeConfig
	// Network holds the networking settings.
	Network NetworkConfig
	// Console holds the remote console settings (console.go).
	Console ConsoleConfig
	// Volume holds the block-storage settings.
	Volume VolumeConfig
}

// VolumeConfig says which block-storage backend this process's cinder-volume uses.
type VolumeConfig struct {
	// Driver is "file" (qcow2/raw files under <data-dir>/volumes, the default) or
	// "fake" (in memory, for tests).
	Driver string
	// ServiceDownTime is how long a silent volume service stays "up" (60 s).
	ServiceDownTime time.Duration
}

// ComputeConfig says which compute hosts this process runs.
type ComputeConfig struct {
	// Driver is the compute driver of the local host agent: "qemu" (the default: real
	// guests, KVM when usable, TCG otherwise) or "fake" (simulated hypervisors).
	Driver string
	// Accel forces the QEMU driver's accelerator ("kvm" or "tcg"; "" probes).
	Accel string
	// DefaultEphemeralFormat is the ephemeral disks' file system when the image's
	// os_type does not decide it (Nova's default_ephemeral_format; "" is vfat).
	DefaultEphemeralFormat string
	// PowerSyncInterval is how often guests' power states are compared with the
	// hypervisor's ([compute] sync_power_state_interval; default 60 s).
	PowerSyncInterval time.Duration
	// ImageCacheInterval is how often the QEMU driver's image cache drops bases no disk
	// uses ([compute] image_cache_manager_interval; default 40 min), ImageCacheMinAge how
	// long such a base is kept after its last use (image_cache_min_age; default 24 h).
	ImageCacheInterval, ImageCacheMinAge time.Duration
	// FakeHosts is how many simulated hosts the fake driver runs (fake-host-1 ... N);
	// more than one makes affinity, aggregates and migrations testable on one machine.
	FakeHosts int
	// FakeVCPUs, FakeMemoryMB and FakeDiskGB size each simulated host (defaults 16 vCPUs,
	// 32 GiB, 500 GB).
	FakeVCPUs    int
	FakeMemoryMB int64
	FakeDiskGB   int64
	// FakeSpawnDelay makes every simulated spawn take this long (tests that need builds
	// in flight; default 0).
	FakeSpawnDelay time.Duration
	// ServiceDownTime is how long a silent compute service stays "up" (60 s).
	ServiceDownTime time.Duration
}

// DefaultDataDir is /var/lib/gostack for root and $XDG_DATA_HOME/gostack (or
// ~/.local/share/gostack) for other users.
func DefaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/gostack"
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "gostack")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "gostack-data"
	}
	return filepath.Join(home, ".local", "share", "gostack")
}

// fileConfig is the optional gostack.toml in the data directory, for settings that are
// rarely changed: token life, bcrypt cost, Keystone's security_compliance options and the
// compute hosts ([compute]), the remote consoles ([console]), the volume backend ([volume])
// and the default network ranges ([network]).
type fileConfig struct {
	Identity struct {
		TokenExpiration string `toml:"token_expiration"`
		BcryptCost      int    `toml:"bcrypt_cost"`
	} `toml:"identity"`
	Compute struct {
		Driver          string `toml:"driver"`
		Accel           string `toml:"accel"`
		EphemeralFormat string `toml:"default_ephemeral_format"`
		PowerSync       string `toml:"sync_power_state_interval"`
		ImageCacheEvery string `toml:"image_cache_manager_interval"`
		ImageCacheAge   string `toml:"image_cache_min_age"`
		FakeHosts       int    `toml:"fake_hosts"`
		FakeVCPUs       int    `toml:"fake_vcpus"`
		FakeMemoryMB    int64  `toml:"fake_memory_mb"`
		FakeDiskGB      int64  `toml:"fake_disk_gb"`
		FakeSpawnDelay  string `toml:"fake_spawn_delay"`
		ServiceDownTime string `toml:"service_down_time"`
	} `toml:"compute"`
	Console struct {
		BaseURL        string   `toml:"base_url"`
		TokenTTL       string   `toml:"token_ttl"`
		AllowedOrigins []string `toml:"allowed_origins"`
		WebDir         string   `toml:"web_dir"`
		Disabled       bool     `toml:"disabled"`
	} `toml:"console"`
	Volume struct {
		Driver          string `toml:"driver"`
		ServiceDownTime string `toml:"service_down_time"`
	} `toml:"volume"`
	Network struct {
		PublicCIDR    string `toml:"public_cidr"`
		PrivateCIDR   string `toml:"private_cidr"`
		PrivateV6CIDR string `toml:"private_v6_cidr"`
	} `toml:"network"`
	SecurityCompliance struct {
		LockoutFailureAttempts     int    `toml:"lockout_failure_attempts"`
		LockoutDuration            string `toml:"lockout_duration"`
		PasswordExpiresDays        int    `toml:"password_expires_days"`
		UniqueLastPasswordCount    int    `toml:"unique_last_password_count"`
		MinimumPasswordAge         int    `toml:"minimum_password_age"`
		PasswordRegex              string `toml:"password_regex"`
		PasswordRegexDescription   string `toml:"password_regex_description"`
		ChangePasswordUponFirstUse bool   `toml:"change_password_upon_first_use"`
	} `toml:"security_compliance"`
}

// loadFileConfig applies DataDir/gostack.toml, when present, under the values already set
// by flags.
func (c *Config) loadFileConfig() error {
	path := filepath.Join(c.DataDir, "gostack.toml")
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	var fc fileConfig
	if err := toml.Unmarshal(b, &fc); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	dur := func(key, s string, into *time.Duration) error {
		if s == "" || *into != 0 {
			return nil
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", path, key, err)
		}
		*into = d
		return nil
	}
	if err := dur("[identity] token_expiration", fc.Identity.TokenExpiration, &c.Identity.TokenExpiration); err != nil {
		return err
	}
	if c.Identity.BcryptCost == 0 {
		c.Identity.BcryptCost = fc.Identity.BcryptCost
	}
	cc := fc.Compute
	if c.Compute.Driver == "" {
		c.Compute.Driver = cc.Driver
	}
	if c.Compute.Accel == "" {
		c.Compute.Accel = cc.Accel
	}
	if c.Compute.DefaultEphemeralFormat == "" {
		c.Compute.DefaultEphemeralFormat = cc.EphemeralFormat
	}
	switch c.Compute.DefaultEphemeralFormat {
	case "", "vfat", "ext2", "ext3", "ext4", "xfs", "ntfs":
	default:
		return fmt.Errorf("[compute] default_ephemeral_format %q: want vfat, ext2, ext3, ext4, xfs or ntfs",
			c.Compute.DefaultEphemeralFormat)
	}
	if err := dur("[compute] sync_power_state_interval", cc.PowerSync, &c.Compute.PowerSyncInterval); err != nil {
		return err
	}
	if err := dur("[compute] image_cache_manager_interval", cc.ImageCacheEvery, &c.Compute.ImageCacheInterval); err != nil {
		return err
	}
	if err := dur("[compute] image_cache_min_age", cc.ImageCacheAge, &c.Compute.ImageCacheMinAge); err != nil {
		return err
	}
	if c.Compute.FakeHosts == 0 {
		c.Compute.FakeHosts = cc.FakeHosts
	}
	if c.Compute.FakeVCPUs == 0 {
		c.Compute.FakeVCPUs = cc.FakeVCPUs
	}
	if c.Compute.FakeMemoryMB == 0 {
		c.Compute.FakeMemoryMB = cc.FakeMemoryMB
	}
	if c.Compute.FakeDiskGB == 0 {
		c.Compute.FakeDiskGB = cc.FakeDiskGB
	}
	if err := dur("[compute] fake_spawn_delay", cc.FakeSpawnDelay, &c.Compute.FakeSpawnDelay); err != nil {
		return err
	}
	if err := dur("[compute] service_down_time", cc.ServiceDownTime, &c.Compute.ServiceDownTime); err != nil {
		return err
	}
	if err := c.applyConsoleFileConfig(fc, dur); err != nil {
		return err
	}
	if c.Volume.Driver == "" {
		c.Volume.Driver = fc.Volume.Driver
	}
	if err := dur("[volume] service_down_time", fc.Volume.ServiceDownTime, &c.Volume.ServiceDownTime); err != nil {
		return err
	}
	for _, f := range []struct {
		into *string
		v    string
	}{{&c.Network.PublicCIDR, fc.Network.PublicCIDR},
		{&c.Network.PrivateCIDR, fc.Network.PrivateCIDR}, {&c.Network.PrivateV6CIDR, fc.Network.PrivateV6CIDR}} {
		if *f.into == "" {
			*f.into = f.v
		}
	}
	sc := fc.SecurityCompliance
	s := &c.Identity.Security
	if err := dur("[security_compliance] lockout_duration", sc.LockoutDuration, &s.LockoutDuration); err != nil {
		return err
	}
	if s.LockoutFailureAttempts == 0 {
		s.LockoutFailureAttempts = sc.LockoutFailureAttempts
	}
	if s.PasswordExpiresDays == 0 {
		s.PasswordExpiresDays = sc.PasswordExpiresDays
	}
	if s.UniqueLastPasswordCount == 0 {
		s.UniqueLastPasswordCount = sc.UniqueLastPasswordCount
	}
	if s.MinimumPasswordAge == 0 {
		s.MinimumPasswordAge = sc.MinimumPasswordAge
	}
	if s.PasswordRegex == "" {
		s.PasswordRegex, s.PasswordRegexDescription = sc.PasswordRegex, sc.PasswordRegexDescription
	}
	s.ChangePasswordUponFirstUse = s.ChangePasswordUponFirstUse || sc.ChangePasswordUponFirstUse
	return nil
}

// publicURL returns the advertised base URL: PublicURL, or the listen address with
// 0.0.0.0/:: replaced by the loopback address.
func (c *Config) publicURL(tls bool) (string, error) {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/"), nil
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", c.Listen, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}
