package volume

import (
	"context"
	"net/http"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// Cinder's service binaries.
const (
	binaryScheduler = "cinder-scheduler"
	binaryVolume    = "cinder-volume"
	binaryBackup    = "cinder-backup"
)

// Service rules (cinder/policies/services.py).
const (
	ruleServicesIndex  = "volume_extension:services:index"
	ruleServicesUpdate = "volume_extension:services:update"
	ruleFreezeHost     = "volume:freeze_host"
	ruleThawHost       = "volume:thaw_host"
)

// serviceRoutes are /os-services: list (filters host, binary), enable, disable,
// disable-log-reason, freeze and thaw.
func (s *Service) serviceRoutes() []route {
	return []route{
		{method: "GET", path: "/os-services", rule: ruleServicesIndex, handle: s.listServices},
		{method: "PUT", path: "/os-services/{action}", rule: ruleServicesUpdate, handle: s.updateService},
	}
}

// serviceHosts are the (binary, host) pairs this process runs.
func (s *Service) serviceHosts(volume, backup bool) [][2]string {
	out := [][2]string{{binaryScheduler, s.cfg.Host}}
	if volume {
		out = append(out, [2]string{binaryVolume, s.volumeHost()})
	}
	if backup {
		out = append(out, [2]string{binaryBackup, s.cfg.Host})
	}
	return out
}

// registerServices creates this process's service rows (kept across restarts, with
// their disabled state) and reports them alive.
func (s *Service) registerServices(ctx context.Context, volume, backup bool) error {
	ts := store.FormatTime(now())
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, sv := range s.serviceHosts(volume, backup) {
			var id int64
			err := tx.QueryRowContext(ctx, `SELECT id FROM volume_services WHERE binary_name = ? AND host = ?`,
				sv[0], sv[1]).Scan(&id)
			if err == nil {
				continue
			}
			if !store.IsNoRows(err) {
				return err
			}
			id, err = nextID(ctx, tx, "services")
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO volume_services (id, binary_name, host, availability_zone,
				created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`, id, sv[0], sv[1], s.cfg.AvailabilityZone, ts, ts); err != nil {
				return err
			}
		}
		return nil
	})
}

// heartbeat reports this process's services alive (Cinder's report_state).
func (s *Service) heartbeat(ctx context.Context, volume, backup bool) error {
	ts := store.FormatTime(now())
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, sv := range s.serviceHosts(volume, backup) {
			if _, err := tx.ExecContext(ctx, `UPDATE volume_services SET updated_at = ?, report_count = report_count + 1
				WHERE binary_name = ? AND host = ?`, ts, sv[0], sv[1]); err != nil {
				return err
			}
		}
		return nil
	})
}

// serviceRow is one volume_services row.
type serviceRow struct {
	id                          int64
	binary, host, zone          string
	disabled, frozen            bool
	disabledReason              *string
	replicationStatus, backendS string
	activeBackendID             *string
	createdAt, updatedAt        string
}

// loadServices returns the service rows matching the optional host and binary.
func (s *Service) loadServices(ctx context.Context, host, binary string) ([]serviceRow, error) {
	q := `SELECT id, binary_name, host, availability_zone, disabled, frozen, disabled_reason, replication_status,
		backend_state, active_backend_id, created_at, updated_at FROM volume_services WHERE 1 = 1`
	var args []any
	if host != "" {
		// A host names its services and its backends' (host@backend), as Cinder's
		// service filter matches.
		q += ` AND (host = ? OR host LIKE ?)`
		args = append(args, host, host+"@%")
	}
	if binary != "" {
		q += ` AND binary_name = ?`
		args = append(args, binary)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []serviceRow
	for rows.Next() {
		var r serviceRow
		if err := rows.Scan(&r.id, &r.binary, &r.host, &r.zone, &r.disabled, &r.frozen, &r.disabledReason,
			&r.replicationStatus, &r.backendS, &r.activeBackendID, &r.createdAt, &r.updatedAt); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// up reports whether a service heartbeated within service_down_time.
func (s *Service) up(r serviceRow) bool {
	t := r.updatedAt
	if t == "" {
		t = r.createdAt
	}
	d := now().Sub(store.ParseTime(t))
	if d < 0 {
		d = -d
	}
	return d <= s.cfg.ServiceDownTime
}

// listServices is GET /os-services.
func (s *Service) listServices(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	q := r.URL.Query()
	rows, err := s.loadServices(r.Context(), q.Get("host"), q.Get("binary"))
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(rows))
	for _, sv := range rows {
		state, status := "down", "enabled"
		if s.up(sv) {
			state = "up"
		}
		if sv.disabled {
			status = "disabled"
		}
		updated := sv.updatedAt
		if updated == "" {
			updated = sv.createdAt
		}
		m := map[string]any{"binary": sv.binary, "host": sv.host, "zone": sv.zone, "status": status, "state": state,
			"updated_at": isoTime(updated), "disabled_reason": sv.disabledReason}
		if c.at(7) {
			m["cluster"] = nil
		}
		if sv.binary == binaryVolume {
			if c.at(49) {
				m["backend_state"] = sv.backendS
			}
			m["replication_status"] = sv.replicationStatus
			m["active_backend_id"] = sv.activeBackendID
			m["frozen"] = sv.frozen
		}
		out = append(out, m)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"services": out})
	return nil
}

// updateService is PUT /os-services/{enable,disable,disable-log-reason,freeze,thaw}.
func (s *Service) updateService(w http.ResponseWriter, r *http.Request, c *call) error {
	action := r.PathValue("action")
	rule := c.rule
	switch action {
	case "freeze":
		rule = ruleFreezeHost
	case "thaw":
		rule = ruleThawHost
	}
	if err := s.authorize(c, rule, nil); err != nil {
		return err
	}
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	host, _, err := body.Str("host", true)
	if err != nil {
		return badRequest("Invalid input for field/attribute host.")
	}
	ctx := r.Context()
	switch action {
	case "freeze", "thaw":
		if host == "" {
			return badRequest("Missing required element 'host' in request body.")
		}
		rows, err := s.loadServices(ctx, host, binaryVolume)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return invalidInput("Service %s could not be found.", host)
		}
		frozen := action == "freeze"
		if _, err := s.db.ExecContext(ctx, `UPDATE volume_services SET frozen = ?, disabled = ?, disabled_reason = ?
			WHERE id = ?`, frozen, frozen, nullStr(map[bool]string{true: "frozen"}[frozen]), rows[0].id); err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{})
		return nil
	case "enable", "disable", "disable-log-reason":
	default:
		return notFound("Unknown action")
	}
	service, _, err := body.Str("service", false)
	if err != nil {
		return err
	}
	binary, _, err := body.Str("binary", false)
	if err != nil {
		return err
	}
	key := binary
	if key == "" {
		key = service
	}
	if key == "" {
		return badRequest("Invalid input for field/attribute binary. Value: None. 'binary' is a required property")
	}
	if host == "" {
		return badRequest("Missing required element 'host' in request body.")
	}
	reason := ""
	if action == "disable-log-reason" {
		reason, _, err = body.Str("disabled_reason", false)
		if err != nil {
			return err
		}
		if len(reason) == 0 || len(reason) > 255 {
			return badRequest("Invalid input for field/attribute disabled_reason.")
		}
	}
	rows, err := s.loadServices(ctx, host, key)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return notFound("Service %s could not be found.", key)
	}
	disabled := action != "enable"
	if _, err := s.db.ExecContext(ctx, `UPDATE volume_services SET disabled = ?, disabled_reason = ? WHERE id = ?`,
		disabled, nullStr(reason), rows[0].id); err != nil {
		return err
	}
	out := map[string]any{"host": host, "service": service, "binary": binary, "disabled": disabled,
		"status": map[bool]string{true: "disabled", false: "enabled"}[disabled]}
	switch action {
	case "disable-log-reason":
		out["disabled_reason"] = reason
	case "enable":
		out["disabled_reason"] = nil
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// nullStr is nil for "" and s otherwise, for nullable text columns.
func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// isoTime renders a stored timestamp as Cinder shows it ("2024-01-02T03:04:05.000000");
// "" becomes null.
func isoTime(stored string) any {
	if stored == "" {
		return nil
	}
	t := store.ParseTime(stored)
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000")
}
