package compute

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gostack/gostack/internal/api"
	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/store"
)

// Remote consoles (nova/api/openstack/compute/remote_consoles.py, console_auth_tokens.py,
// nova/objects/console_auth_token.py). A console request asks the instance's host driver
// where its console server listens, stores a short-lived token for that endpoint (only
// the token's SHA-256, as Nova) and answers the URL of the noVNC page with the token in
// it. The websocket proxy (internal/console) resolves the token back to the endpoint
// through ResolveConsole, which checks the token, the instance and the host's driver
// before the proxy relays a byte. Only noVNC consoles exist: SPICE, serial and WebMKS
// consoles are disabled, as in a Nova whose [spice], [serial_console] and [mks] are off,
// and RDP was removed from Nova.

// ConsoleConfig configures remote consoles ([vnc] and [consoleauth] in Nova).
type ConsoleConfig struct {
	// NoVNCBaseURL is Nova's [vnc] novncproxy_base_url: the noVNC page a console URL
	// points at, with the websocket's path (relative to the site root) in its "path"
	// query parameter, e.g. "http://host:5000/vnc/vnc_lite.html?path=vnc%2Fwebsockify".
	// Empty disables VNC consoles (Nova's [vnc] enabled = false).
	NoVNCBaseURL string
	// TokenTTL is [consoleauth] token_ttl: how long a console URL works (600 s).
	TokenTTL time.Duration
}

// defaultConsoleTokenTTL is Nova's [consoleauth] token_ttl.
const defaultConsoleTokenTTL = 600 * time.Second

// maxConsoleToken bounds the token a client may present; issued tokens are UUIDs.
const maxConsoleToken = 255

// ErrConsoleTokenInvalid is returned by ResolveConsole for a token that is unknown or
// expired, or whose console is gone.
var ErrConsoleTokenInvalid = errors.New("compute: the console token is invalid or has expired")

// ConsoleTarget is where a console token leads: the console server the proxy connects
// to, and what the proxy checks the browser's request against.
type ConsoleTarget struct {
	InstanceUUID string
	// ConsoleType is the console type the token was issued for ("novnc").
	ConsoleType string
	// Network ("unix" or "tcp") and Address are what to dial.
	Network, Address string
	// AccessURLBase is the base URL the console URL was built from; the proxy checks the
	// Origin's scheme against it.
	AccessURLBase string
	// Expires is when the token stops working.
	Expires time.Time
}

// consoleRoutes is os-console-auth-tokens (POST /servers/{id}/remote-consoles sits with
// the server routes).
func (s *Service) consoleRoutes() []route {
	return []route{
		{method: "GET", path: "/v2.1/os-console-auth-tokens/{console_token}", rule: "os_compute_api:os-console-auth-tokens",
			handle: s.showConsoleAuthToken},
	}
}

// consolePolicies are nova/policies/console_auth_tokens.py (remote_consoles.py's rule is
// with the server policies).
func consolePolicies() map[string]string {
	return map[string]string{"os_compute_api:os-console-auth-tokens": ruleAdmin}
}

// consoleTTL returns the configured token life.
func (s *Service) consoleTTL() time.Duration {
	if s.cfg.Consoles.TokenTTL > 0 {
		return s.cfg.Consoles.TokenTTL
	}
	return defaultConsoleTokenTTL
}

// createRemoteConsole is POST /servers/{id}/remote-consoles (2.6).
func (s *Service) createRemoteConsole(w http.ResponseWriter, r *http.Request, c *call) error {
	top, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	protocol, typ, err := parseRemoteConsole(top, c)
	if err != nil {
		return err
	}
	inst, err := s.getServer(r.Context(), s.db, c, r.PathValue("server_id"), c.rule)
	if err != nil {
		return err
	}
	if protocol == "rdp" {
		return badRequest("Unavailable console type %s.", protocol)
	}
	u, err := s.remoteConsoleURL(r.Context(), inst, protocol, typ)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"remote_console": map[string]any{"protocol": protocol, "type": typ, "url": u}})
	return nil
}

// parseRemoteConsole checks a remote-consoles body against Nova's create_v26 (2.6, 2.7)
// or create_v28 schema and returns its protocol and type.
func parseRemoteConsole(top api.Object, c *call) (protocol, typ string, err error) {
	if err := checkObject(top, "", []string{"remote_console"}, []string{"remote_console"}); err != nil {
		return "", "", err
	}
	body, err := requiredObject(top, "remote_console")
	if err != nil {
		return "", "", err
	}
	if err := checkObject(body, "remote_console", []string{"protocol", "type"}, []string{"protocol", "type"}); err != nil {
		return "", "", err
	}
	protocols := []string{"vnc", "spice", "serial", "rdp"}
	types := []string{"novnc", "xvpvnc", "spice-html5", "serial", "rdp-html5"}
	if c.at(8) {
		protocols = append(protocols, "mks")
		types = append(types, "webmks")
	}
	if err := enumString("protocol", body["protocol"], protocols...); err != nil {
		return "", "", err
	}
	if err := enumString("type", body["type"], types...); err != nil {
		return "", "", err
	}
	return body["protocol"].(string), body["type"].(string), nil
}

// legacyConsoleTypes are the types each legacy action's schema accepts.
var legacyConsoleTypes = map[string][]string{"vnc": {"novnc", "xvpvnc"}, "spice": {"spice-html5"}, "serial": {"serial"}}

// legacyConsoleActions names the legacy actions by protocol.
var legacyConsoleActions = map[string]string{"vnc": "os-getVNCConsole", "spice": "os-getSPICEConsole",
	"serial": "os-getSerialConsole", "rdp": "os-getRDPConsole"}

// actionLegacyConsole is os-getVNCConsole, os-getSPICEConsole, os-getSerialConsole and
// os-getRDPConsole (2.1–2.5).
func (s *Service) actionLegacyConsole(protocol string) actionFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
		if protocol == "rdp" {
			// Removed with the Hyper-V driver: Nova answers a bare 400 before anything else.
			return badRequest("The server could not comply with the request since it is either malformed or otherwise incorrect.")
		}
		typ, err := parseLegacyConsole(protocol, body)
		if err != nil {
			return err
		}
		if err := s.authorize(c, c.rule, nil); err != nil {
			return err
		}
		inst, err := s.getServer(r.Context(), s.db, c, id, "")
		if err != nil {
			return err
		}
		u, err := s.remoteConsoleURL(r.Context(), inst, protocol, typ)
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"console": map[string]any{"type": typ, "url": u}})
		return nil
	}
}

// parseLegacyConsole checks a legacy console action's body (the value under its key)
// against Nova's get_<protocol>_console schema and returns the console type.
func parseLegacyConsole(protocol string, body any) (string, error) {
	action := legacyConsoleActions[protocol]
	o, err := bodyObject(action, body, false)
	if err != nil {
		return "", err
	}
	if err := checkObject(o, action, []string{"type"}, []string{"type"}); err != nil {
		return "", err
	}
	if err := enumString("type", o["type"], legacyConsoleTypes[protocol]...); err != nil {
		return "", err
	}
	return o["type"].(string), nil
}

// consoleVMStates are the states in which a guest runs and so has a display.
var consoleVMStates = []string{VMActive, VMPaused, VMRescued, VMResized}

// remoteConsoleURL is compute API get_<protocol>_console and the compute manager's side:
// the checks, the driver's console, the token and the URL.
func (s *Service) remoteConsoleURL(ctx context.Context, inst *Instance, protocol, typ string) (string, error) {
	host := deref(inst.Host)
	if host == "" {
		return "", conflict("Instance %s is not ready", inst.UUID)
	}
	if inst.TaskState == TaskDeleting || inst.TaskState == TaskMigrating {
		return "", invalidState("get_"+protocol+"_console", inst.UUID, "task_state", inst.TaskState)
	}
	// The manager's checks: the console kind must be enabled, then the type valid.
	if protocol != "vnc" || s.cfg.Consoles.NoVNCBaseURL == "" {
		return "", badRequest("Unavailable console type %s.", typ)
	}
	if typ != "novnc" {
		return "", badRequest("Invalid console type %s", typ)
	}
	if !slices.Contains(consoleVMStates, inst.VMState) {
		return "", conflict("Instance %s is not ready", inst.UUID)
	}
	rc, err := s.driverConsole(ctx, host, inst, protocol)
	if err != nil {
		return "", err
	}
	token, err := s.authorizeConsole(ctx, inst.UUID, host, typ, rc)
	if err != nil {
		return "", err
	}
	return noVNCAccessURL(s.cfg.Consoles.NoVNCBaseURL, token)
}

// driverConsole asks the host's driver for the instance's console, mapping its errors
// as the compute manager does.
func (s *Service) driverConsole(ctx context.Context, host string, inst *Instance, protocol string) (computedriver.RemoteConsole, error) {
	d, ok := s.hostDriver(host)
	if !ok {
		// The host is served by an agent in another process, which this one cannot ask.
		return computedriver.RemoteConsole{}, conflict("Instance %s is not ready", inst.UUID)
	}
	cd, ok := d.(computedriver.Consoler)
	if !ok {
		return computedriver.RemoteConsole{}, api.Errorf(http.StatusNotImplemented, "The requested functionality is not supported.")
	}
	rc, err := cd.RemoteConsole(ctx, driverInstance(inst), protocol)
	switch {
	case errors.Is(err, computedriver.ErrNotSupported):
		return rc, badRequest("Unavailable console type %s.", protocol)
	case errors.Is(err, computedriver.ErrNotFound):
		if inst.VMState == VMBuilding {
			return rc, conflict("Instance %s is not ready", inst.UUID)
		}
		return rc, instanceNotFound(inst.UUID)
	case err != nil:
		s.log.Warn("remote console", "instance", inst.UUID, "host", host, "err", err)
		return rc, conflict("Instance %s is not ready", inst.UUID)
	}
	if rc.Protocol != protocol || (rc.Path == "" && (rc.Host == "" || rc.Port <= 0)) {
		return rc, badRequest("Unavailable console type %s.", protocol)
	}
	return rc, nil
}

// hashConsoleToken is Nova's utils.get_sha256_str.
func hashConsoleToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// authorizeConsole is ConsoleAuthToken.authorize: a new random token for the console,
// stored hashed with its expiry. Expired tokens are purged on the way.
func (s *Service) authorizeConsole(ctx context.Context, instanceUUID, computeHost, typ string, rc computedriver.RemoteConsole) (string, error) {
	token := api.NewUUID()
	t := now()
	expires := t.Add(s.consoleTTL()).Unix()
	host := rc.Host
	if rc.Path != "" {
		// A unix socket is local to the compute host: that host is the console's host.
		host = computeHost
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM compute_console_auth_tokens WHERE expires <= ?`, t.Unix()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO compute_console_auth_tokens
			(token_hash, instance_uuid, console_type, compute_host, host, port, path, access_url_base, expires, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			hashConsoleToken(token), instanceUUID, typ, computeHost, host, rc.Port, rc.Path,
			s.cfg.Consoles.NoVNCBaseURL, expires, store.FormatTime(t))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("store console token: %w", err)
	}
	return token, nil
}

// noVNCAccessURL is ConsoleAuthToken.access_url for noVNC: since noVNC 1.1 the token
// travels inside the "path" query parameter (the websocket's path), which keeps the path
// the base URL gives.
func noVNCAccessURL(base, token string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("novnc base url: %w", err)
	}
	q := u.Query()
	q.Set("path", q.Get("path")+"?token="+token)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// consoleToken is a stored token row.
type consoleToken struct {
	instanceUUID, consoleType, computeHost, host, path, accessURLBase string
	internalAccessPath                                                *string
	port                                                              int
	expires                                                           int64
}

// validConsoleToken is ConsoleAuthToken.validate: the unexpired row for token, or
// found false.
func (s *Service) validConsoleToken(ctx context.Context, token string) (tok consoleToken, found bool, err error) {
	if token == "" || len(token) > maxConsoleToken {
		return tok, false, nil
	}
	err = s.db.QueryRowContext(ctx, `SELECT instance_uuid, console_type, compute_host, host, port, path,
		internal_access_path, access_url_base, expires FROM compute_console_auth_tokens WHERE token_hash = ? AND expires > ?`,
		hashConsoleToken(token), now().Unix()).Scan(&tok.instanceUUID, &tok.consoleType, &tok.computeHost, &tok.host,
		&tok.port, &tok.path, &tok.internalAccessPath, &tok.accessURLBase, &tok.expires)
	if store.IsNoRows(err) {
		return tok, false, nil
	}
	if err != nil {
		return tok, false, fmt.Errorf("look up console token: %w", err)
	}
	return tok, true, nil
}

// showConsoleAuthToken is GET /os-console-auth-tokens/{console_token} (admin; 2.31 for
// every console type, a bare 400 before, since only RDP tokens were shown then).
func (s *Service) showConsoleAuthToken(w http.ResponseWriter, r *http.Request, c *call) error {
	if !c.at(31) {
		return badRequest("The server could not comply with the request since it is either malformed or otherwise incorrect.")
	}
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	token := r.PathValue("console_token")
	if token == "" {
		return badRequest("token not provided")
	}
	tok, found, err := s.validConsoleToken(r.Context(), token)
	if err != nil {
		return err
	}
	if !found {
		return notFound("Token not found")
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"console": map[string]any{
		"instance_uuid": tok.instanceUUID, "host": tok.host, "port": tok.port,
		"internal_access_path": tok.internalAccessPath,
	}})
	return nil
}

// ResolveConsole turns a console token into the console to connect to, for the
// websocket proxy: the token must be valid, its instance still on the host it was issued
// on and running, and the host's driver must still report the same console endpoint
// (Nova's validate_console_port). Anything else is ErrConsoleTokenInvalid.
func (s *Service) ResolveConsole(ctx context.Context, token string) (ConsoleTarget, error) {
	tok, found, err := s.validConsoleToken(ctx, token)
	if err != nil {
		return ConsoleTarget{}, err
	}
	if !found || tok.consoleType != "novnc" {
		return ConsoleTarget{}, ErrConsoleTokenInvalid
	}
	inst, found, err := loadInstance(ctx, s.db, tok.instanceUUID)
	if err != nil {
		return ConsoleTarget{}, fmt.Errorf("load instance of console token: %w", err)
	}
	if !found || inst.Deleted || deref(inst.Host) != tok.computeHost || !slices.Contains(consoleVMStates, inst.VMState) {
		return ConsoleTarget{}, ErrConsoleTokenInvalid
	}
	rc, err := s.driverConsole(ctx, tok.computeHost, inst, "vnc")
	if err != nil || rc.Path != tok.path || (rc.Path == "" && (rc.Host != tok.host || rc.Port != tok.port)) {
		return ConsoleTarget{}, ErrConsoleTokenInvalid
	}
	t := ConsoleTarget{InstanceUUID: inst.UUID, ConsoleType: tok.consoleType, AccessURLBase: tok.accessURLBase,
		Expires: time.Unix(tok.expires, 0).UTC(), Network: "unix", Address: rc.Path}
	if rc.Path == "" {
		t.Network, t.Address = "tcp", net.JoinHostPort(rc.Host, strconv.Itoa(rc.Port))
	}
	return t, nil
}

// PurgeExpiredConsoleTokens deletes expired console tokens (Nova's periodic
// clean_expired_console_auths) and reports how many went.
func (s *Service) PurgeExpiredConsoleTokens(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM compute_console_auth_tokens WHERE expires <= ?`, now().Unix())
	if err != nil {
		return 0, fmt.Errorf("purge console tokens: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// deleteConsoleTokens is clean_console_auths_for_instance: a deleted server's console
// URLs stop working at once.
func deleteConsoleTokens(ctx context.Context, tx *store.Tx, instanceUUID string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM compute_console_auth_tokens WHERE instance_uuid = ?`, instanceUUID)
	return err
}
