// Package console is gostack's noVNC websocket proxy, what nova-novncproxy is to Nova:
// a browser (or any websocket client) connects to <base>/vnc/websockify?token=<token>,
// the proxy resolves the token through the compute service to the guest's VNC server (a
// unix socket or host:port on the compute host) and relays bytes both ways, each
// websocket binary message carrying what one read returned. It also serves the noVNC
// web client, unmodified, from the Debian package's directory when it is installed.
//
// A token that is unknown, expired, or whose guest or console is gone is refused before
// the websocket is accepted and before anything connects to the guest: the client gets
// an empty 403 and the connection closes. Browsers' Origin headers are checked as Nova's
// proxy checks them (the Origin's host must be the host the request was sent to, or an
// allowed one, and its scheme must match the console URL's).
package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Target is the console a token leads to.
type Target struct {
	InstanceUUID string
	// Network ("unix" or "tcp") and Address are what the proxy dials.
	Network, Address string
	// AccessURLBase is the base of the console URL the token was issued in; the
	// Origin's scheme must match its scheme.
	AccessURLBase string
	// Expires is when the token stops working.
	Expires time.Time
}

// ErrInvalidToken is what a Resolver returns (wrapped or not) for a token it refuses.
var ErrInvalidToken = errors.New("console: the token is invalid or has expired")

// ResolveFunc turns a token into its console; errors refuse the connection.
type ResolveFunc func(ctx context.Context, token string) (Target, error)

// DefaultWebDir is where Debian's novnc package installs the web client.
const DefaultWebDir = "/usr/share/novnc"

// Config configures a Proxy.
type Config struct {
	// Resolve resolves tokens (the compute service's ResolveConsole); required.
	Resolve ResolveFunc
	// Prefix is the path the proxy is mounted at ("/vnc"); the websocket is
	// <Prefix>/websockify and the noVNC pages <Prefix>/vnc_lite.html and vnc.html.
	Prefix string
	// WebDir holds the noVNC web client (DefaultWebDir when empty); when it does not
	// exist the pages answer how to install it.
	WebDir string
	// AllowedOrigins are host names (besides the request's own host) a browser page may
	// open consoles from ([console] allowed_origins in Nova).
	AllowedOrigins []string
	// DialTimeout bounds connecting to the console server (5 s).
	DialTimeout time.Duration
	// Log receives one line per session and per refusal.
	Log *slog.Logger
}

// Proxy is the websocket proxy and noVNC file server; it is an http.Handler for the
// paths under its mount point (strip the mount prefix before it).
type Proxy struct {
	cfg   Config
	files http.Handler
	web   bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a Proxy.
func New(cfg Config) (*Proxy, error) {
	if cfg.Resolve == nil {
		return nil, errors.New("console: a token resolver is required")
	}
	cfg.Prefix = "/" + strings.Trim(cfg.Prefix, "/")
	if cfg.Prefix == "/" {
		cfg.Prefix = ""
	}
	if cfg.WebDir == "" {
		cfg.WebDir = DefaultWebDir
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{cfg: cfg}
	if st, err := os.Stat(filepath.Join(cfg.WebDir, "vnc_lite.html")); err == nil && !st.IsDir() {
		p.web = true
		p.files = http.FileServer(noListing{http.Dir(cfg.WebDir)})
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p, nil
}

// WebClient reports whether the noVNC web client is served.
func (p *Proxy) WebClient() bool { return p.web }

// Close ends every session and waits for them.
func (p *Proxy) Close() {
	p.cancel()
	p.wg.Wait()
}

// ServeHTTP serves <Prefix>/websockify (the websocket) and the noVNC files under
// <Prefix>.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, p.cfg.Prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		http.NotFound(w, r)
		return
	}
	name := path.Clean("/" + rest)
	switch {
	case name == "/websockify":
		p.serveWebsocket(w, r)
	case name == "/":
		http.Redirect(w, r, p.cfg.Prefix+"/vnc_lite.html", http.StatusFound)
	case p.web:
		w.Header().Set("X-Content-Type-Options", "nosniff")
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = name, ""
		p.files.ServeHTTP(w, r2)
	case name == "/vnc_lite.html" || name == "/vnc.html" || name == "/vnc_auto.html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, noWebClientPage)
	default:
		http.NotFound(w, r)
	}
}

// noWebClientPage answers the noVNC pages when the web client is not installed.
const noWebClientPage = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>gostack console</title></head>
<body><h1>Console</h1>
<p>The noVNC web client is not installed on this gostack host. Install the Debian package
<code>novnc</code> (<code>apt-get install novnc</code>) and reload this page; the console
websocket itself works without it, for any noVNC-compatible client.</p>
</body></html>
`

// noListing is a file system that refuses directories, so that the file server never
// lists one.
type noListing struct{ fs http.FileSystem }

// Open opens name unless it is a directory.
func (n noListing) Open(name string) (http.File, error) {
	f, err := n.fs.Open(name)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || st.IsDir() {
		f.Close()
		return nil, os.ErrNotExist
	}
	return f, nil
}

// requestToken returns the token of a websocket request: the "token" query parameter,
// or (noVNC before 1.1 sent it so) the "token" cookie.
func requestToken(r *http.Request) string {
	if t := r.URL.Query().Get("token"); t != "" {
		return t
	}
	if c, err := r.Cookie("token"); err == nil {
		return c.Value
	}
	return ""
}

// isUpgrade reports whether r asks for a websocket.
func isUpgrade(r *http.Request) bool {
	if !strings.EqualFold(strings.TrimSpace(r.Header.Get("Upgrade")), "websocket") {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// refuse ends a websocket request before the upgrade: an empty 403 and the connection
// closed, so that a client sees no data at all (tempest's bad-token check reads none).
func refuse(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusForbidden)
}

// serveWebsocket checks the token and the origin, connects to the console and relays.
func (p *Proxy) serveWebsocket(w http.ResponseWriter, r *http.Request) {
	if !isUpgrade(r) {
		http.Error(w, "this is a WebSocket endpoint: connect with a WebSocket client", http.StatusBadRequest)
		return
	}
	log := p.cfg.Log.With("remote", r.RemoteAddr)
	ctx := r.Context()
	target, err := p.cfg.Resolve(ctx, requestToken(r))
	if err != nil {
		// The token itself is a credential: it is never logged.
		if errors.Is(err, ErrInvalidToken) {
			log.Info("console token refused")
		} else {
			log.Warn("console token check failed", "err", err)
		}
		refuse(w)
		return
	}
	log = log.With("instance", target.InstanceUUID)
	if err := checkOrigin(r.Header.Get("Origin"), r.Host, r.Header.Get("X-Forwarded-Proto"), target.AccessURLBase,
		p.cfg.AllowedOrigins); err != nil {
		log.Info("console origin refused", "origin", r.Header.Get("Origin"), "reason", err)
		refuse(w)
		return
	}
	d := net.Dialer{Timeout: p.cfg.DialTimeout}
	backend, err := d.DialContext(ctx, target.Network, target.Address)
	if err != nil {
		log.Warn("connect to console", "err", err)
		w.Header().Set("Connection", "close")
		http.Error(w, "the console is not reachable", http.StatusBadGateway)
		return
	}
	defer backend.Close()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: []string{"binary"},
		// The origin was checked above, as Nova checks it (host name, not host:port).
		InsecureSkipVerify: true,
	})
	if err != nil {
		log.Info("websocket handshake", "err", err)
		return
	}
	p.wg.Add(1)
	defer p.wg.Done()
	start := time.Now()
	up, down := p.relay(ws, backend)
	log.Info("console session ended", "duration_ms", time.Since(start).Milliseconds(), "bytes_in", up, "bytes_out", down)
}

// relay copies bytes between the websocket and the console until either side ends or
// the proxy closes; it returns the bytes sent to and from the console.
func (p *Proxy) relay(ws *websocket.Conn, backend net.Conn) (up, down int64) {
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	nc := websocket.NetConn(ctx, ws, websocket.MessageBinary)
	defer nc.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		up, _ = io.Copy(backend, nc)
		// The client went: tell the console server, which then ends its side.
		if cw, ok := backend.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		cancel()
	}()
	go func() {
		defer wg.Done()
		down, _ = io.Copy(nc, backend)
		cancel()
	}()
	<-ctx.Done()
	backend.Close()
	wg.Wait()
	return up, down
}

// checkOrigin is nova-novncproxy's Origin check. A request without Origin comes from a
// non-browser client and passes. Otherwise the Origin must name a host and scheme, the
// host must be the one the request was sent to (Host, without port) or an allowed one,
// and the scheme (X-Forwarded-Proto when a front proxy sets it) must be the console
// URL's (http and ws, https and wss count as the same).
func checkOrigin(origin, host, forwardedProto, accessURLBase string, allowed []string) error {
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil {
		return errors.New("origin header not valid")
	}
	scheme := strings.ToLower(u.Scheme)
	if forwardedProto != "" {
		scheme = strings.ToLower(forwardedProto)
	}
	if u.Hostname() == "" || scheme == "" {
		return errors.New("origin header not valid")
	}
	want := []string{hostOnly(host)}
	want = append(want, allowed...)
	if !slices.ContainsFunc(want, func(h string) bool { return h != "" && strings.EqualFold(h, u.Hostname()) }) {
		return errors.New("origin header does not match this host")
	}
	base, err := url.Parse(accessURLBase)
	if err != nil || base.Scheme == "" {
		return errors.New("no console url to check the origin's protocol against")
	}
	expected := []string{strings.ToLower(base.Scheme)}
	switch expected[0] {
	case "ws":
		expected = append(expected, "http")
	case "wss":
		expected = append(expected, "https")
	}
	if !slices.Contains(expected, scheme) {
		return fmt.Errorf("origin header protocol %q does not match this host", scheme)
	}
	return nil
}

// hostOnly returns the host name of a Host header value (no port, no IPv6 brackets).
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}
