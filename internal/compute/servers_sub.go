package compute

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gostack/gostack/internal/api"
	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/store"
)

// Server sub-resources: metadata, tags, ips, instance actions, interfaces, volume
// attachments, diagnostics, password, topology, security groups and remote consoles.

// metadataOf reads an instance's metadata.
func metadataOf(ctx context.Context, q querier, uuid string) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT key, value FROM compute_instance_metadata WHERE instance_uuid = ?`, uuid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

// metadataState is update_instance_metadata's state check.
var metadataState = stateCheck{vm: []string{VMActive, VMPaused, VMSuspended, VMStopped}, lock: true, launched: true}

// listMetadata is GET /servers/{id}/metadata.
func (s *Service) listMetadata(w http.ResponseWriter, r *http.Request, c *call) error {
	inst, err := s.getServer(r.Context(), s.db, c, r.PathValue("server_id"), c.rule)
	if err != nil {
		return err
	}
	meta, err := metadataOf(r.Context(), s.db, inst.UUID)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"metadata": meta})
	return nil
}

// readMetadataBody reads {"metadata": {...}}.
func readMetadataBody(r *http.Request) (map[string]string, error) {
	top, err := api.DecodeObject(r, "")
	if err != nil {
		return nil, err
	}
	if err := onlyKeys(top, "", "metadata"); err != nil {
		return nil, err
	}
	if !top.Has("metadata") {
		return nil, badRequest("Invalid input for field/attribute . Value: %s. 'metadata' is a required property", pyReprAny(map[string]any(top)))
	}
	return validMetadata("metadata", top["metadata"])
}

// writeMetadata changes metadata under the state check and quota: set merges (replace
// drops keys not given; del removes one key).
func (s *Service) writeMetadata(r *http.Request, c *call, action string, set map[string]string, replace bool, del string) (map[string]string, error) {
	ctx := r.Context()
	var out map[string]string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		inst, err := s.getServer(ctx, tx, c, r.PathValue("server_id"), c.rule)
		if err != nil {
			return err
		}
		if err := metadataState.check(c, inst, action); err != nil {
			return err
		}
		cur, err := metadataOf(ctx, tx, inst.UUID)
		if err != nil {
			return err
		}
		if del != "" {
			if _, ok := cur[del]; !ok {
				return notFound("Metadata item was not found")
			}
			_, err := tx.ExecContext(ctx, `DELETE FROM compute_instance_metadata WHERE instance_uuid = ? AND key = ?`, inst.UUID, del)
			return err
		}
		next := map[string]string{}
		if !replace {
			for k, v := range cur {
				next[k] = v
			}
		}
		for k, v := range set {
			next[k] = v
		}
		if err := s.checkQuota(ctx, tx, inst.ProjectID, inst.UserID, map[string]int64{"metadata_items": int64(len(next))}); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM compute_instance_metadata WHERE instance_uuid = ?`, inst.UUID); err != nil {
			return err
		}
		for k, v := range next {
			if _, err := tx.ExecContext(ctx, `INSERT INTO compute_instance_metadata (instance_uuid, key, value) VALUES (?, ?, ?)`,
				inst.UUID, k, v); err != nil {
				return err
			}
		}
		inst.UpdatedAt = now()
		_, err = tx.ExecContext(ctx, `UPDATE compute_instances SET updated_at = ? WHERE uuid = ?`, store.FormatTime(now()), inst.UUID)
		out = next
		return err
	})
	return out, err
}

// mergeMetadata is POST /servers/{id}/metadata.
func (s *Service) mergeMetadata(w http.ResponseWriter, r *http.Request, c *call) error {
	meta, err := readMetadataBody(r)
	if err != nil {
		return err
	}
	out, err := s.writeMetadata(r, c, "update metadata", meta, false, "")
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"metadata": out})
	return nil
}

// replaceMetadata is PUT /servers/{id}/metadata.
func (s *Service) replaceMetadata(w http.ResponseWriter, r *http.Request, c *call) error {
	meta, err := readMetadataBody(r)
	if err != nil {
		return err
	}
	out, err := s.writeMetadata(r, c, "update metadata", meta, true, "")
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"metadata": out})
	return nil
}

// showMetadataItem is GET /servers/{id}/metadata/{key}.
func (s *Service) showMetadataItem(w http.ResponseWriter, r *http.Request, c *call) error {
	inst, err := s.getServer(r.Context(), s.db, c, r.PathValue("server_id"), c.rule)
	if err != nil {
		return err
	}
	meta, err := metadataOf(r.Context(), s.db, inst.UUID)
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	v, ok := meta[key]
	if !ok {
		return notFound("Metadata item was not found")
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"meta": map[string]string{key: v}})
	return nil
}

// putMetadataItem is PUT /servers/{id}/metadata/{key}.
func (s *Service) putMetadataItem(w http.ResponseWriter, r *http.Request, c *call) error {
	top, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	if err := onlyKeys(top, "", "meta"); err != nil {
		return err
	}
	if !top.Has("meta") {
		return badRequest("Invalid input for field/attribute . Value: %s. 'meta' is a required property", pyReprAny(map[string]any(top)))
	}
	meta, err := validMetadata("meta", top["meta"])
	if err != nil {
		return err
	}
	if len(meta) == 0 {
		return invalidInput("meta", top["meta"], "{} does not have enough properties")
	}
	if len(meta) > 1 {
		return badRequest("Request body contains too many items")
	}
	key := r.PathValue("key")
	if _, ok := meta[key]; !ok {
		return badRequest("Request body and URI mismatch")
	}
	if _, err := s.writeMetadata(r, c, "update metadata", meta, false, ""); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"meta": meta})
	return nil
}

// deleteMetadataItem is DELETE /servers/{id}/metadata/{key}.
func (s *Service) deleteMetadataItem(w http.ResponseWriter, r *http.Request, c *call) error {
	if _, err := s.writeMetadata(r, c, "delete metadata", nil, false, r.PathValue("key")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// tagsOf reads an instance's tags, sorted.
func tagsOf(ctx context.Context, q querier, uuid string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT tag FROM compute_instance_tags WHERE instance_uuid = ? ORDER BY tag`, uuid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// tagState is server_tags' _check_instance_in_valid_state.
func tagState(inst *Instance, action string) error {
	switch inst.VMState {
	case VMActive, VMPaused, VMSuspended, VMStopped:
		return nil
	}
	return invalidState(action, inst.UUID, "vm_state", inst.VMState)
}

// listTags is GET /servers/{id}/tags.
func (s *Service) listTags(w http.ResponseWriter, r *http.Request, c *call) error {
	inst, err := s.getServer(r.Context(), s.db, c, r.PathValue("server_id"), c.rule)
	if err != nil {
		return err
	}
	tags, err := tagsOf(r.Context(), s.db, inst.UUID)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"tags": tags})
	return nil
}

// showTag is GET /servers/{id}/tags/{tag}.
func (s *Service) showTag(w http.ResponseWriter, r *http.Request, c *call) error {
	inst, err := s.getServer(r.Context(), s.db, c, r.PathValue("server_id"), c.rule)
	if err != nil {
		return err
	}
	tags, err := tagsOf(r.Context(), s.db, inst.UUID)
	if err != nil {
		return err
	}
	tag := r.PathValue("tag")
	if !slices.Contains(tags, tag) {
		return notFound("Server %s has no tag '%s'", inst.UUID, tag)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// tagTx runs fn on a server's tags in a transaction after the state check.
func (s *Service) tagTx(r *http.Request, c *call, action string, fn func(ctx context.Context, tx *store.Tx, inst *Instance, tags []string) error) error {
	ctx := r.Context()
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		inst, err := s.getServer(ctx, tx, c, r.PathValue("server_id"), c.rule)
		if err != nil {
			return err
		}
		if err := tagState(inst, action); err != nil {
			return err
		}
		tags, err := tagsOf(ctx, tx, inst.UUID)
		if err != nil {
			return err
		}
		if err := fn(ctx, tx, inst, tags); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE compute_instances SET updated_at = ? WHERE uuid = ?`, store.FormatTime(now()), inst.UUID)
		return err
	})
}

// replaceTags is PUT /servers/{id}/tags.
func (s *Service) replaceTags(w http.ResponseWriter, r *http.Request, c *call) error {
	top, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	if err := onlyKeys(top, "", "tags"); err != nil {
		return err
	}
	list, ok := top["tags"].([]any)
	if !ok {
		return invalidInput("tags", top["tags"], fmt.Sprintf("%s is not of type 'array'", pyReprAny(top["tags"])))
	}
	if len(list) > 50 {
		return invalidInput("tags", "...", "is too long")
	}
	var tags []string
	for _, e := range list {
		t, err := validTag("tags", e)
		if err != nil {
			return err
		}
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	err = s.tagTx(r, c, "update tags", func(ctx context.Context, tx *store.Tx, inst *Instance, _ []string) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM compute_instance_tags WHERE instance_uuid = ?`, inst.UUID); err != nil {
			return err
		}
		for _, t := range tags {
			if _, err := tx.ExecContext(ctx, `INSERT INTO compute_instance_tags (instance_uuid, tag) VALUES (?, ?)`, inst.UUID, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(tags)
	if tags == nil {
		tags = []string{}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"tags": tags})
	return nil
}

// putTag is PUT /servers/{id}/tags/{tag}: 201 for a new tag, 204 for an existing one.
func (s *Service) putTag(w http.ResponseWriter, r *http.Request, c *call) error {
	tag := r.PathValue("tag")
	if _, err := validTag("tag", tag); err != nil {
		return badRequest("Tag '%s' is invalid. It must be a non empty string without characters '/' and ','. Validation error message: %s", tag, api.AsError(err).Message)
	}
	created := false
	err := s.tagTx(r, c, "update tag", func(ctx context.Context, tx *store.Tx, inst *Instance, tags []string) error {
		if slices.Contains(tags, tag) {
			return nil
		}
		if len(tags) >= 50 {
			return badRequest("The number of tags exceeded the per-server limit 50")
		}
		created = true
		_, err := tx.ExecContext(ctx, `INSERT INTO compute_instance_tags (instance_uuid, tag) VALUES (?, ?)`, inst.UUID, tag)
		return err
	})
	if err != nil {
		return err
	}
	if !created {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	w.Header().Set("Location", api.BaseURL(r)+s.cfg.Prefix+"/v2.1/servers/"+r.PathValue("server_id")+"/tags/"+tag)
	w.WriteHeader(http.StatusCreated)
	return nil
}

// deleteTag is DELETE /servers/{id}/tags/{tag}.
func (s *Service) deleteTag(w http.ResponseWriter, r *http.Request, c *call) error {
	tag := r.PathValue("tag")
	err := s.tagTx(r, c, "delete tag", func(ctx context.Context, tx *store.Tx, inst *Instance, tags []string) error {
		if !slices.Contains(tags, tag) {
			return notFound("Tag %s does not exist for instance %s", tag, inst.UUID)
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM compute_instance_tags WHERE instance_uuid = ? AND tag = ?`, inst.UUID, tag)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteAllTags is DELETE /servers/{id}/tags.
func (s *Service) deleteAllTags(w http.ResponseWriter, r *http.Request, c *call) error {
	err := s.tagTx(r, c, "delete tags", func(ctx context.Context, tx *store.Tx, inst *Instance, _ []string) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM compute_instance_tags WHERE instance_uuid = ?`, inst.UUID)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listIPs is GET /servers/{id}/ips.
func (s *Service) listIPs(w http.ResponseWriter, r *http.Request, c *call) error {
	inst, err := s.getServer(r.Context(), s.db, c, r.PathValue("server_id"), c.rule)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"addresses": addresses(inst, false)})
	return nil
}

// showIPs is GET /servers/{id}/ips/{network}.
func (s *Service) showIPs(w http.ResponseWriter, r *http.Request, c *call) error {
	inst, err := s.getServer(r.Context(), s.db, c, r.PathValue("server_id"), c.rule)
	if err != nil {
		return err
	}
	label := r.PathValue("network")
	addrs := addresses(inst, false)
	v, ok := addrs[label]
	if !ok {
		return notFound("Instance is not a member of specified network")
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{label: v})
	return nil
}

// getServerForActions loads a server for os-instance-actions: from 2.21 deleted servers
// are visible too.
func (s *Service) getServerForActions(ctx context.Context, c *call, id string) (*Instance, error) {
	inst, found, err := loadInstance(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if !found || (inst.Deleted && !c.at(21)) || (!isAdmin(c) && inst.ProjectID != c.caller.ProjectID) {
		return nil, instanceNotFound(id)
	}
	if err := s.authorize(c, c.rule, map[string]any{"project_id": inst.ProjectID}); err != nil {
		return nil, err
	}
	return inst, nil
}

// actionTime renders an action timestamp as Nova's JSON encoder does.
func actionTime(s sql.NullString) any {
	if !s.Valid || s.String == "" {
		return nil
	}
	return strings.TrimSuffix(s.String, "Z")
}

// instanceActionRow is one action as stored.
type instanceActionRow struct {
	id                                         int64
	action, uuid, requestID, userID, projectID string
	start, finish, updated, message            sql.NullString
}

// view renders an action.
func (a *instanceActionRow) view(c *call) map[string]any {
	out := map[string]any{"action": a.action, "instance_uuid": a.uuid, "request_id": a.requestID,
		"user_id": a.userID, "project_id": a.projectID, "start_time": actionTime(a.start), "message": nil}
	if a.message.Valid {
		out["message"] = a.message.String
	}
	if c.at(58) {
		out["updated_at"] = actionTime(a.updated)
	}
	return out
}

const actionColumns = `id, action, instance_uuid, request_id, user_id, project_id, start_time, finish_time, updated_at, message`

func scanAction(row rowScanner) (*instanceActionRow, error) {
	var a instanceActionRow
	err := row.Scan(&a.id, &a.action, &a.uuid, &a.requestID, &a.userID, &a.projectID, &a.start, &a.finish, &a.updated, &a.message)
	return &a, err
}

// listInstanceActions is GET /servers/{id}/os-instance-actions (2.58 paging and
// changes-since, 2.66 changes-before).
func (s *Service) listInstanceActions(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	inst, err := s.getServerForActions(ctx, c, r.PathValue("server_id"))
	if err != nil {
		return err
	}
	query := `SELECT ` + actionColumns + ` FROM compute_instance_actions WHERE instance_uuid = ?`
	args := []any{inst.UUID}
	limit := 0
	if c.at(58) {
		q := r.URL.Query()
		allowed := []string{"limit", "marker", "changes-since"}
		if c.at(66) {
			allowed = append(allowed, "changes-before")
		}
		for k := range q {
			if !slices.Contains(allowed, k) {
				return badRequest("Additional properties are not allowed ('%s' was unexpected)", k)
			}
		}
		var since string
		if v := q.Get("changes-since"); q.Has("changes-since") {
			t, ok := parseISO(v)
			if !ok {
				return badRequest("Invalid input for query parameters changes-since. Value: %s. '%s' is not a 'date-time'", v, v)
			}
			since = formatStored(t)
			query += ` AND updated_at >= ?`
			args = append(args, since)
		}
		if v := q.Get("changes-before"); q.Has("changes-before") {
			t, ok := parseISO(v)
			if !ok {
				return badRequest("Invalid input for query parameters changes-before. Value: %s. '%s' is not a 'date-time'", v, v)
			}
			if since != "" && formatStored(t) < since {
				return badRequest("The value of changes-since must be less than or equal to changes-before.")
			}
			query += ` AND updated_at <= ?`
			args = append(args, formatStored(t))
		}
		page, err := api.ParsePage(r)
		if err != nil {
			return err
		}
		limit = page.Limit
		if limit == 0 || limit > s.cfg.ListLimitMax {
			limit = s.cfg.ListLimitMax
		}
		if page.Marker != "" {
			var mStart string
			var mID int64
			err := s.db.QueryRowContext(ctx, `SELECT start_time, id FROM compute_instance_actions WHERE instance_uuid = ? AND request_id = ?`,
				inst.UUID, page.Marker).Scan(&mStart, &mID)
			if store.IsNoRows(err) {
				return badRequest("Marker %s could not be found.", page.Marker)
			}
			if err != nil {
				return err
			}
			query += ` AND (start_time < ? OR (start_time = ? AND id < ?))`
			args = append(args, mStart, mStart, mID)
		}
	}
	query += ` ORDER BY start_time DESC, id DESC`
	if limit > 0 {
		query += ` LIMIT ` + itoa(limit)
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	out := []map[string]any{}
	var last string
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			return err
		}
		out = append(out, a.view(c))
		last = a.requestID
	}
	if err := rows.Err(); err != nil {
		return err
	}
	body := map[string]any{"instanceActions": out}
	if c.at(58) && limit > 0 && len(out) >= limit {
		vals := r.URL.Query()
		vals.Set("marker", last)
		body["links"] = []map[string]string{{"rel": "next", "href": api.BaseURL(r) + s.cfg.Prefix +
			"/v2.1/servers/" + inst.UUID + "/os-instance-actions?" + vals.Encode()}}
	}
	api.WriteJSON(w, http.StatusOK, body)
	return nil
}

// showInstanceAction is GET /servers/{id}/os-instance-actions/{request_id}.
func (s *Service) showInstanceAction(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	inst, err := s.getServerForActions(ctx, c, r.PathValue("server_id"))
	if err != nil {
		return err
	}
	reqID := r.PathValue("request_id")
	a, err := scanAction(s.db.QueryRowContext(ctx, `SELECT `+actionColumns+` FROM compute_instance_actions
		WHERE instance_uuid = ? AND request_id = ? ORDER BY id DESC LIMIT 1`, inst.UUID, reqID))
	if store.IsNoRows(err) {
		return notFound("Action %s not found", reqID)
	}
	if err != nil {
		return err
	}
	view := a.view(c)
	target := map[string]any{"project_id": inst.ProjectID}
	showEvents, showTrace, showHost := false, false, false
	if s.can(c, "os_compute_api:os-instance-actions:events", target) {
		showEvents, showTrace, showHost = true, true, c.at(62)
	} else if c.at(51) {
		showEvents = true
	}
	if showEvents {
		showDetails := c.at(84) && s.can(c, "os_compute_api:os-instance-actions:events:details", target)
		rows, err := s.db.QueryContext(ctx, `SELECT event, start_time, finish_time, result, traceback, host, details
			FROM compute_instance_action_events WHERE action_id = ? ORDER BY id`, a.id)
		if err != nil {
			return err
		}
		defer rows.Close()
		events := []map[string]any{}
		for rows.Next() {
			var name string
			var start, finish, result, trace, host, details sql.NullString
			if err := rows.Scan(&name, &start, &finish, &result, &trace, &host, &details); err != nil {
				return err
			}
			e := map[string]any{"event": name, "start_time": actionTime(start), "finish_time": actionTime(finish),
				"result": nullString(result)}
			if showTrace {
				e["traceback"] = nullString(trace)
			}
			if showHost {
				e["host"] = host.String
			}
			if c.at(62) {
				h := host.String
				e["hostId"] = hostID(&h, inst.ProjectID)
			}
			if showDetails {
				e["details"] = nullString(details)
			}
			events = append(events, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		view["events"] = events
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"instanceAction": view})
	return nil
}

// nullString renders a nullable column.
func nullString(s sql.NullString) any {
	if !s.Valid {
		return nil
	}
	return s.String
}

// interfaceState is attach_interface's state check.
var interfaceState = stateCheck{vm: []string{VMActive, VMPaused, VMStopped}, lock: true, launched: true}

// driverInstance is the driver's view of an instance for the synchronous calls the API
// makes (console output, consoles, diagnostics).
func driverInstance(inst *Instance) *computedriver.Instance {
	f := inst.Flavor
	return &computedriver.Instance{UUID: inst.UUID, Name: inst.InstanceName(), DisplayName: inst.Name,
		Hostname: inst.Hostname, ProjectID: inst.ProjectID, UserID: inst.UserID,
		Flavor: computedriver.Flavor{Name: f.Name, VCPUs: int(f.VCPUs), MemoryMB: f.MemoryMB, RootGB: f.RootGB,
			EphemeralGB: f.EphemeralGB, SwapMB: f.Swap, ExtraSpecs: f.ExtraSpecs},
		LaunchIndex: inst.LaunchIndex, CreatedAt: inst.CreatedAt}
}

// serverDiagnostics is GET /servers/{id}/diagnostics (admin; 2.48 standard format).
func (s *Service) serverDiagnostics(w http.ResponseWriter, r *http.Request, c *call) error {
	inst, err := s.getServer(r.Context(), s.db, c, r.PathValue("server_id"), c.rule)
	if err != nil {
		return err
	}
	if inst.Host == nil || *inst.Host == "" {
		return conflict("Instance %s is not ready", inst.UUID)
	}
	if inst.VMState != VMActive && inst.VMState != VMPaused && inst.VMState != VMSuspended && inst.VMState != VMRescued {
		return invalidState("get_diagnostics", inst.UUID, "vm_state", inst.VMState)
	}
	d, ok := s.hostDriver(*inst.Host)
	if !ok {
		return conflict("Instance %s is not ready", inst.UUID)
	}
	dg, ok := d.(computedriver.Diagnoser)
	if !ok {
		return api.Errorf(http.StatusNotImplemented, "Unable to get diagnostics, functionality not implemented")
	}
	diag, err := dg.Diagnostics(r.Context(), driverInstance(inst))
	if err != nil {
		return conflict("Instance %s is not ready", inst.UUID)
	}
	if !c.at(48) {
		out := map[string]any{}
		for i, cpu := range diag.CPUDetails {
			if t, ok := cpu["time"]; ok {
				out[fmt.Sprintf("cpu%d_time", i)] = t
			}
		}
		out["memory"] = diag.MemoryMB * 1024
		api.WriteJSON(w, http.StatusOK, out)
		return nil
	}
	orEmpty := func(l []map[string]any) []map[string]any {
		if l == nil {
			return []map[string]any{}
		}
		return l
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"state": diag.State, "driver": diag.Driver, "hypervisor": diag.Hypervisor, "hypervisor_os": diag.HypervisorOS,
		"uptime": diag.Uptime, "config_drive": diag.ConfigDrive, "num_cpus": diag.NumCPUs, "num_nics": diag.NumNICs,
		"num_disks": diag.NumDisks, "memory_details": map[string]any{"maximum": diag.MemoryMB, "used": diag.MemoryMB},
		"cpu_details": orEmpty(diag.CPUDetails), "nic_details": orEmpty(diag.NICDetails), "disk_details": orEmpty(diag.DiskDetails),
	})
	return nil
}

// sysMetaPassword is the system metadata key of the encrypted password the metadata
// service receives from the guest (Nova's password_0..3 pieces, kept whole here).
const sysMetaPassword = "password"

// showServerPassword is GET /servers/{id}/os-server-password.
func (s *Service) showServerPassword(w http.ResponseWriter, r *http.Request, c *call) error {
	inst, err := s.getServer(r.Context(), s.db, c, r.PathValue("server_id"), c.rule)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"password": inst.SystemMetadata[sysMetaPassword]})
	return nil
}

// clearServerPassword is DELETE /servers/{id}/os-server-password.
func (s *Service) clearServerPassword(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		inst, err := s.getServer(ctx, tx, c, r.PathValue("server_id"), c.rule)
		if err != nil {
			return err
		}
		if _, ok := inst.SystemMetadata[sysMetaPassword]; !ok {
			return nil
		}
		delete(inst.SystemMetadata, sysMetaPassword)
		_, err = updateInstance(ctx, tx, inst, nil)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// serverTopology is GET /servers/{id}/topology (2.78): gostack guests have no NUMA
// topology, which Nova reports as an empty node list.
func (s *Service) serverTopology(w http.ResponseWriter, r *http.Request, c *call) error {
	if _, err := s.getServer(r.Context(), s.db, c, r.PathValue("server_id"), c.rule); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"nodes": []any{}, "pagesize_kb": nil})
	return nil
}
