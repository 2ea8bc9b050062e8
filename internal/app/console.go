package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/compute"
	"github.com/gostack/gostack/internal/console"
)

// ConsoleConfig configures remote consoles: the console URLs `openstack console url show`
// answers and the noVNC websocket proxy gostack serves at /vnc on its listener.
type ConsoleConfig struct {
	// BaseURL is where browsers reach the proxy's site root (default: the public URL);
	// the console URL is <BaseURL>/vnc/vnc_lite.html?path=<path>/vnc/websockify?token=…
	BaseURL string
	// TokenTTL is how long a console URL works (Nova's [consoleauth] token_ttl, 600 s).
	TokenTTL time.Duration
	// AllowedOrigins are extra host names browser pages may open consoles from
	// (Nova's [console] allowed_origins).
	AllowedOrigins []string
	// WebDir is the noVNC web client (default /usr/share/novnc, Debian's novnc package).
	WebDir string
	// Disabled turns VNC consoles off (Nova's [vnc] enabled = false).
	Disabled bool
}

// consolePrefix is where the proxy is mounted on the shared listener.
const consolePrefix = "/vnc"

// noVNCBaseURL is Nova's novncproxy_base_url for a site root: the noVNC page, with the
// websocket's path relative to the site root (noVNC prepends the page's host) in "path".
func noVNCBaseURL(siteRoot string) (string, error) {
	u, err := url.Parse(strings.TrimRight(siteRoot, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("console base url %q: want http(s)://host[:port][/path]", siteRoot)
	}
	ws := strings.TrimPrefix(u.Path+consolePrefix+"/websockify", "/")
	u.Path += consolePrefix + "/vnc_lite.html"
	u.RawQuery = url.Values{"path": {ws}}.Encode()
	return u.String(), nil
}

// computeConsoleConfig returns the compute service's console settings.
func computeConsoleConfig(cfg Config, publicBase string) (compute.ConsoleConfig, error) {
	if cfg.Console.Disabled {
		return compute.ConsoleConfig{}, nil
	}
	root := cfg.Console.BaseURL
	if root == "" {
		root = publicBase
	}
	base, err := noVNCBaseURL(root)
	if err != nil {
		return compute.ConsoleConfig{}, err
	}
	return compute.ConsoleConfig{NoVNCBaseURL: base, TokenTTL: cfg.Console.TokenTTL}, nil
}

// mountConsoleProxy serves the websocket proxy and the noVNC client at /vnc, resolving
// tokens through the compute service (whose in-process host agents know the consoles).
func mountConsoleProxy(srv *api.Server, svc *compute.Service, cfg Config, log *slog.Logger) (*console.Proxy, error) {
	p, err := console.New(console.Config{
		Prefix:         consolePrefix,
		WebDir:         cfg.Console.WebDir,
		AllowedOrigins: cfg.Console.AllowedOrigins,
		Log:            log,
		Resolve: func(ctx context.Context, token string) (console.Target, error) {
			t, err := svc.ResolveConsole(ctx, token)
			if errors.Is(err, compute.ErrConsoleTokenInvalid) {
				return console.Target{}, console.ErrInvalidToken
			}
			if err != nil {
				return console.Target{}, err
			}
			return console.Target{InstanceUUID: t.InstanceUUID, Network: t.Network, Address: t.Address,
				AccessURLBase: t.AccessURLBase, Expires: t.Expires}, nil
		},
	})
	if err != nil {
		return nil, err
	}
	serve := func(w http.ResponseWriter, r *http.Request) error {
		p.ServeHTTP(w, r)
		return nil
	}
	srv.Mount(api.Service{Name: "console", Prefix: consolePrefix, Routes: []api.Route{
		{Method: "GET", Path: "", Public: true, Handler: serve},
		{Method: "GET", Path: "/{file...}", Public: true, Handler: serve},
	}})
	if !p.WebClient() {
		log.Info("noVNC web client not installed (Debian package novnc); console websockets still work")
	}
	return p, nil
}

// purgeConsoleTokens deletes expired console tokens every interval until ctx ends
// (Nova's periodic clean_expired_console_auths).
func purgeConsoleTokens(ctx context.Context, svc *compute.Service, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := svc.PurgeExpiredConsoleTokens(ctx); err != nil && ctx.Err() == nil {
				log.Warn("purge console tokens", "err", err)
			}
		}
	}
}

// applyConsoleFileConfig applies gostack.toml's [console] under the values already set.
func (c *Config) applyConsoleFileConfig(fc fileConfig, dur func(key, s string, into *time.Duration) error) error {
	cc := fc.Console
	if c.Console.BaseURL == "" {
		c.Console.BaseURL = cc.BaseURL
	}
	if c.Console.WebDir == "" {
		c.Console.WebDir = cc.WebDir
	}
	if c.Console.AllowedOrigins == nil {
		c.Console.AllowedOrigins = cc.AllowedOrigins
	}
	c.Console.Disabled = c.Console.Disabled || cc.Disabled
	return dur("[console] token_ttl", cc.TokenTTL, &c.Console.TokenTTL)
}
