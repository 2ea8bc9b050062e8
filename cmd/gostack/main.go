// Package main is the gostack command, an OpenStack-compatible cloud in one binary.
// `gostack up` runs the whole cloud on this machine; see `gostack --help`.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gostack/gostack/internal/app"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "gostack:", err)
		os.Exit(1)
	}
}

// newRootCommand builds the command tree.
func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "gostack",
		Short: "An OpenStack-compatible cloud in one binary",
		Long: `gostack runs an OpenStack-compatible cloud from one binary, with the same APIs the
openstack CLI, openstacksdk, gophercloud, terraform and Ansible use.

Start a cloud on this machine:
    gostack up

It writes clouds.yaml and admin-openrc/demo-openrc into the data directory and prints how
to use them, for example:
    source /var/lib/gostack/admin-openrc && openstack token issue`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newUpCommand(), newKeysCommand(), newVersionCommand())
	return root
}

// newVersionCommand prints the version.
func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the gostack version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "gostack %s\n", app.Version)
		},
	}
}

// newUpCommand runs the all-in-one cloud.
func newUpCommand() *cobra.Command {
	var cfg app.Config
	var tokenExpiration time.Duration
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the whole cloud on this machine",
		Long: `Run every gostack service on one listener with an embedded SQLite database.

The first start bootstraps the cloud: the Default domain, the admin, demo and alt_demo
users and projects, the roles admin, manager, member, reader and service, region RegionOne
and the service catalog. Later starts reuse the state in the data directory.

Settings that are rarely changed (token life, bcrypt cost, Keystone's security_compliance
options such as lockout_failure_attempts) go in <data-dir>/gostack.toml; policy overrides
in <data-dir>/policy.yaml take effect on the next request.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger(cfg.LogLevel)
			cfg.Identity.TokenExpiration = tokenExpiration
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return app.Up(ctx, cfg, cmd.OutOrStdout(), log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", app.DefaultDataDir(), "directory for the database, keys and client files")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:5000", "address of the API listener")
	f.StringVar(&cfg.PublicURL, "public-url", "", "base URL advertised in the catalog (default: from --listen)")
	f.StringVar(&cfg.Region, "region", "RegionOne", "region name of the endpoints")
	f.StringVar(&cfg.DatabaseURL, "database-url", "", "PostgreSQL URL (postgres://...); default is SQLite in the data directory")
	f.StringVar(&cfg.AdminPassword, "admin-password", "", "admin password (default: generated on first start)")
	f.StringVar(&cfg.DemoPassword, "demo-password", "", "demo and alt_demo password (default: generated on first start)")
	f.StringVar(&cfg.TLS, "tls", "off", "off, or auto to create a local CA and serve HTTPS")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate to serve HTTPS with")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key for --tls-cert")
	f.StringVar(&cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&cfg.Compute.Driver, "compute-driver", "", "compute driver of the local host: fake (default until the QEMU driver lands)")
	f.IntVar(&cfg.Compute.FakeHosts, "fake-hosts", 0, "number of simulated compute hosts the fake driver runs (default 1)")
	f.DurationVar(&tokenExpiration, "token-expiration", 0, "token lifetime (default 1h)")
	f.IntVar(&cfg.Identity.BcryptCost, "bcrypt-cost", 0, "bcrypt cost for passwords (default 12)")
	f.DurationVar(&cfg.Identity.KeyRotationInterval, "key-rotation", 24*time.Hour, "rotate the Fernet token keys this often (0: only by 'gostack keys rotate')")
	return cmd
}

// newKeysCommand manages the Fernet token key repository.
func newKeysCommand() *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "Manage the Fernet keys that sign tokens"}
	var dataDir string
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Rotate the token keys now (like keystone-manage fernet_rotate)",
		Long: `Promote the staged key to primary, stage a new key and drop the oldest keys beyond
what unexpired tokens need. A running gostack picks the new keys up within a minute;
tokens signed by the keys that remain keep validating.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir := filepath.Join(dataDir, "fernet-keys")
			if err := app.RotateKeys(dir); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rotated the keys in %s\n", dir)
			return nil
		},
	}
	rotate.Flags().StringVar(&dataDir, "data-dir", app.DefaultDataDir(), "gostack's data directory")
	keys.AddCommand(rotate)
	return keys
}

// newLogger returns a structured logger on stderr at the given level.
func newLogger(level string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
