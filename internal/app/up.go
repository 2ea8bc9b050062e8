package app

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/compute"
	"github.com/gostack/gostack/internal/identity"
	"github.com/gostack/gostack/internal/image"
	"github.com/gostack/gostack/internal/placement"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// Version is the gostack version, set at build time with -ldflags.
var Version = "0.1.0-dev"

// Up runs the all-in-one cloud until ctx is cancelled: store, identity, the shared API
// listener, and first-start bootstrap. It prints how to use the cloud to out once the
// listener is accepting requests.
func Up(ctx context.Context, cfg Config, out io.Writer, log *slog.Logger) error {
	start := time.Now()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:5000"
	}
	if cfg.Region == "" {
		cfg.Region = "RegionOne"
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if err := cfg.loadFileConfig(); err != nil {
		return err
	}
	if cfg.Identity.KeyDir == "" {
		cfg.Identity.KeyDir = filepath.Join(cfg.DataDir, "fernet-keys")
	}

	tlsConf, caFile, err := cfg.tlsConfig()
	if err != nil {
		return err
	}
	base, err := cfg.publicURL(tlsConf != nil)
	if err != nil {
		return err
	}

	dsn := cfg.DatabaseURL
	if dsn == "" {
		dsn = filepath.Join(cfg.DataDir, "gostack.db")
	}
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()

	enforcer := policy.New(nil, log.With("component", "policy"))
	enforcer.SetOverrideFile(filepath.Join(cfg.DataDir, "policy.yaml"))

	idSvc, err := identity.New(ctx, db, enforcer, cfg.Identity, log.With("component", "identity"))
	if err != nil {
		return err
	}
	secrets, err := loadSecrets(cfg)
	if err != nil {
		return err
	}
	if err := idSvc.Bootstrap(ctx, bootstrapConfig(cfg, secrets, base)); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if err := writeClientFiles(cfg.DataDir, base+"/v3", cfg.Region, caFile, secrets); err != nil {
		return err
	}

	imageSvc, err := image.New(ctx, db, enforcer, image.Config{Dir: filepath.Join(cfg.DataDir, "images")},
		log.With("component", "image"))
	if err != nil {
		return err
	}

	placementSvc, err := placement.New(ctx, db, enforcer, placement.Config{}, log.With("component", "placement"))
	if err != nil {
		return err
	}

	consoleCfg, err := computeConsoleConfig(cfg, base)
	if err != nil {
		return err
	}
	computeSvc, err := compute.New(ctx, db, enforcer, compute.Config{ServiceDownTime: cfg.Compute.ServiceDownTime, Consoles: consoleCfg},
		compute.Deps{Images: glanceImages{imageSvc}, Placement: placementSvc}, log.With("component", "compute"))
	if err != nil {
		return err
	}
	if err := computeSvc.EnsureDefaultFlavors(ctx); err != nil {
		return fmt.Errorf("bootstrap flavors: %w", err)
	}
	computeHosts, err := addComputeHosts(computeSvc, cfg, log.With("component", "compute"))
	if err != nil {
		return err
	}

	netSvc, netHost, err := newNetwork(ctx, db, enforcer, log.With("component", "network"))
	if err != nil {
		return err
	}
	if err := bootstrapNetwork(ctx, netSvc, idSvc, cfg.Network); err != nil {
		return err
	}
	simPorts := newSimulatedHostPorts(netSvc, without(computeHosts, netHost), log.With("component", "network"))

	volumeSvc, err := newVolume(ctx, db, enforcer, cfg, imageSvc, log.With("component", "volume"))
	if err != nil {
		return err
	}

	srv := api.NewServer(log.With("component", "api"), idSvc, enforcer)
	srv.Mount(idSvc.APIService())
	srv.Mount(imageSvc.APIService())
	srv.Mount(placementSvc.APIService())
	srv.Mount(computeSvc.APIService())
	srv.Mount(simPorts.wrapAPI(netSvc.APIService()))
	srv.Mount(volumeSvc.APIService())
	consoleProxy, err := mountConsoleProxy(srv, computeSvc, cfg, log.With("component", "console"))
	if err != nil {
		return err
	}
	defer consoleProxy.Close()
	computeSvc.SetImageAPI(srv, "/image")
	computeSvc.SetNetworkAPI(srv, "/networking")
	computeSvc.SetVolumeAPI(srv, "/volume")
	volumeSvc.SetComputeAPI(srv, "/compute")
	volumeSvc.SetVolumeCopier(computeSvc)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go idSvc.Run(runCtx)
	go imageSvc.Run(runCtx)
	netDone := make(chan struct{})
	go func() {
		defer close(netDone)
		_ = netSvc.Run(runCtx)
	}()
	go simPorts.run(runCtx, 5*time.Second)
	go purgeConsoleTokens(runCtx, computeSvc, time.Minute, log.With("component", "console"))
	computeDone := make(chan struct{})
	go func() {
		defer close(computeDone)
		computeSvc.Run(runCtx)
	}()

	volumeDone := make(chan struct{})
	go func() {
		defer close(volumeDone)
		volumeSvc.Run(runCtx)
	}()

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("gostack is up", "listen", ln.Addr().String(), "url", base, "data_dir", cfg.DataDir,
		"startup_ms", time.Since(start).Milliseconds())
	printBanner(out, cfg, base)

	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	// Running tasks stop at their next step; whatever is left is picked up again at the
	// next start, as after a crash.
	stop()
	for name, done := range map[string]chan struct{}{"compute": computeDone, "network": netDone, "volume": volumeDone} {
		select {
		case <-done:
		case <-sctx.Done():
			log.Warn(name + " did not stop in time")
		}
	}
	return nil
}

// without returns list without s.
func without(list []string, s string) []string {
	var out []string
	for _, e := range list {
		if e != s {
			out = append(out, e)
		}
	}
	return out
}

// RotateKeys rotates the Fernet key repository in dir, sized for the default token life,
// allow_expired window and daily rotation.
func RotateKeys(dir string) error {
	return identity.RotateKeyRepository(dir, identity.Config{KeyRotationInterval: 24 * time.Hour})
}

// secrets are the generated (or given) bootstrap passwords, kept in the data directory so
// that the client files can be rewritten at every start.
type secrets struct {
	AdminPassword   string `json:"admin_password"`
	DemoPassword    string `json:"demo_password"`
	AltDemoPassword string `json:"alt_demo_password"`
}

// loadSecrets reads DataDir/secrets.json, generating missing passwords and applying the
// ones given on the command line.
func loadSecrets(cfg Config) (*secrets, error) {
	path := filepath.Join(cfg.DataDir, "secrets.json")
	var s secrets
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
	case !os.IsNotExist(err):
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if cfg.AdminPassword != "" {
		s.AdminPassword = cfg.AdminPassword
	}
	if cfg.DemoPassword != "" {
		s.DemoPassword = cfg.DemoPassword
		s.AltDemoPassword = cfg.DemoPassword
	}
	for _, p := range []*string{&s.AdminPassword, &s.DemoPassword, &s.AltDemoPassword} {
		if *p == "" {
			*p = randomPassword()
		}
	}
	nb, _ := json.MarshalIndent(&s, "", "  ")
	if err := writeFileAtomic(path, nb, 0o600); err != nil {
		return nil, err
	}
	return &s, nil
}

// randomPassword returns a 20-character password from an unambiguous alphabet.
func randomPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}

// bootstrapConfig describes the accounts and catalog of a fresh cloud.
func bootstrapConfig(cfg Config, s *secrets, base string) identity.BootstrapConfig {
	urls := func(u string) map[string]string {
		return map[string]string{"public": u, "internal": u, "admin": u}
	}
	return identity.BootstrapConfig{
		Region: cfg.Region,
		// Passwords given on the command line are (re)applied at every start, like
		// keystone-manage bootstrap --bootstrap-password; generated ones only at creation.
		Admin:   identity.BootstrapAccount{UserName: "admin", ProjectName: "admin", Password: s.AdminPassword, Reset: cfg.AdminPassword != "", Role: "admin"},
		Demo:    identity.BootstrapAccount{UserName: "demo", ProjectName: "demo", Password: s.DemoPassword, Reset: cfg.DemoPassword != "", Role: "member"},
		AltDemo: identity.BootstrapAccount{UserName: "alt_demo", ProjectName: "alt_demo", Password: s.AltDemoPassword, Reset: cfg.DemoPassword != "", Role: "member"},
		Catalog: []identity.CatalogEntryConfig{
			identity.CatalogEntry("identity", "keystone", "Identity Service", cfg.Region, urls(base+"/v3")),
			identity.CatalogEntry("image", "glance", "Image Service", cfg.Region, urls(base+"/image")),
			identity.CatalogEntry("placement", "placement", "Placement Service", cfg.Region, urls(base+"/placement")),
			identity.CatalogEntry("compute", "nova", "Compute Service", cfg.Region, urls(base+"/compute/v2.1")),
			identity.CatalogEntry("network", "neutron", "Network Service", cfg.Region, urls(base+"/networking")),
			identity.CatalogEntry("volumev3", "cinderv3", "Cinder Volume Service V3", cfg.Region,
				urls(base+"/volume/v3/$(project_id)s")),
			identity.CatalogEntry("block-storage", "cinder", "Cinder Volume Service", cfg.Region,
				urls(base+"/volume/v3/$(project_id)s")),
		},
	}
}

// writeFileAtomic writes a file so that readers see the old or the new content, never a
// partial one.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// printBanner tells a new user how to reach the cloud.
func printBanner(out io.Writer, cfg Config, base string) {
	fmt.Fprintf(out, `
gostack %s is up: %s/v3 (identity), region %s, data in %s

Use it with the openstack CLI:
    export OS_CLIENT_CONFIG_FILE=%s
    openstack --os-cloud gostack-admin token issue     # admin
    openstack --os-cloud gostack project list --my-projects   # demo user
or:
    source %s

Passwords are in the clouds.yaml and *-openrc files there (mode 0600).
Stop with Ctrl-C or SIGTERM; the next 'gostack up' reuses the same state.
`, Version, base, cfg.Region, cfg.DataDir, filepath.Join(cfg.DataDir, "clouds.yaml"),
		filepath.Join(cfg.DataDir, "admin-openrc"))
}
