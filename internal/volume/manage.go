package volume

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/driver/block"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// Manage and unmanage (cinder/api/contrib/volume_manage.py, snapshot_manage.py,
// volume_unmanage.py, snapshot_unmanage.py and their v3 controllers): an admin lists
// what a backend holds, adopts an object no record owns as a new volume or snapshot
// (the backend renames it after the new id once it has inspected it), and lets go of
// a volume or snapshot without removing its data, which stays on the backend under
// the name a later manage call gives as its reference.
//
// A manage call answers 202 with the new record "creating"; the backend's runner asks
// the driver for the object's size, takes the gigabytes quota for it, then adopts it
// (manage_tasks.go). An unmanaged record is soft-deleted with the status "unmanaged",
// which tells the restart reconcile pass to leave its data alone.

// Manage rules (cinder/policies/manageable_volumes.py, manageable_snapshots.py).
const (
	ruleListManageableVolumes   = "volume_extension:list_manageable"
	ruleVolumeManage            = "volume_extension:volume_manage"
	ruleVolumeUnmanage          = "volume_extension:volume_unmanage"
	ruleListManageableSnapshots = "snapshot_extension:list_manageable"
	ruleSnapshotManage          = "snapshot_extension:snapshot_manage"
	ruleSnapshotUnmanage        = "snapshot_extension:snapshot_unmanage"
)

// Manage statuses (cinder/objects/fields.py).
const (
	stErrorManaging = "error_managing"
	stUnmanaging    = "unmanaging"
	// stUnmanaged is the status of the soft-deleted record of an unmanaged volume or
	// snapshot (Cinder destroys the row; gostack keeps it, marked, so that the
	// reconcile pass knows the data left behind is meant to stay).
	stUnmanaged = "unmanaged"
)

// manageRoutes are /manageable_volumes and /manageable_snapshots (3.8) and the legacy
// /os-volume-manage and /os-snapshot-manage extensions (any version). Unmanage is an
// action of volumes and snapshots (actions.go, snapshots.go).
func (s *Service) manageRoutes() []route {
	return []route{
		{method: "GET", path: "/manageable_volumes", rule: ruleListManageableVolumes, minVer: v(8), handle: s.listManageableVolumes},
		{method: "GET", path: "/manageable_volumes/detail", rule: ruleListManageableVolumes, minVer: v(8), handle: s.listManageableVolumesDetail},
		{method: "POST", path: "/manageable_volumes", rule: ruleVolumeManage, minVer: v(8), handle: s.manageVolume},
		{method: "GET", path: "/os-volume-manage", rule: ruleListManageableVolumes, handle: s.listManageableVolumes},
		{method: "GET", path: "/os-volume-manage/detail", rule: ruleListManageableVolumes, handle: s.listManageableVolumesDetail},
		{method: "POST", path: "/os-volume-manage", rule: ruleVolumeManage, handle: s.manageVolume},
		{method: "GET", path: "/manageable_snapshots", rule: ruleListManageableSnapshots, minVer: v(8), handle: s.listManageableSnapshots},
		{method: "GET", path: "/manageable_snapshots/detail", rule: ruleListManageableSnapshots, minVer: v(8), handle: s.listManageableSnapshotsDetail},
		{method: "POST", path: "/manageable_snapshots", rule: ruleSnapshotManage, minVer: v(8), handle: s.manageSnapshot},
		{method: "GET", path: "/os-snapshot-manage", rule: ruleListManageableSnapshots, handle: s.listManageableSnapshots},
		{method: "GET", path: "/os-snapshot-manage/detail", rule: ruleListManageableSnapshots, handle: s.listManageableSnapshotsDetail},
		{method: "POST", path: "/os-snapshot-manage", rule: ruleSnapshotManage, handle: s.manageSnapshot},
	}
}

// manager returns this host's driver as a block.Manager (nil when it has none).
func (s *Service) manager() block.Manager {
	d, _ := s.backend()
	m, _ := d.(block.Manager)
	return m
}

// clusterHost is Cinder's get_cluster_host: from clusterMinor on, exactly one of
// cluster and host; before it, host is required.
func clusterHost(c *call, clusterMinor int, cluster, host string) (string, string, error) {
	if c.at(clusterMinor) {
		if (cluster != "") == (host != "") {
			return "", "", invalidInput("One and only one of cluster and host must be set.")
		}
		return cluster, host, nil
	}
	if host == "" {
		return "", "", invalidInput("Host field is missing.")
	}
	return "", host, nil
}

// manageServiceError is why manageService found no usable service: none has the host
// or cluster (notFound; the caller words it), or err.
type manageServiceError struct {
	notFound bool
	err      *api.Error
}

// manageService is Cinder's _get_service_by_host_cluster: the cinder-volume service of
// the backend a host ("host@backend[#pool]") names; gostack has no clusters, so a
// cluster names none. A service that is disabled or down is Cinder's
// ServiceUnavailable (400). This process's own backend counts as up whenever it has a
// driver, as the scheduler counts it.
func (s *Service) manageService(ctx context.Context, cluster, host string) (string, *manageServiceError) {
	if cluster != "" {
		return "", &manageServiceError{notFound: true}
	}
	backend, _, _ := strings.Cut(host, "#")
	if !strings.Contains(backend, "@") {
		return "", &manageServiceError{notFound: true}
	}
	rows, err := s.loadServices(ctx, "", binaryVolume)
	if err != nil {
		return "", &manageServiceError{err: api.Errorf(http.StatusInternalServerError, "%s", err.Error())}
	}
	local := backend == s.volumeHost()
	driver, _ := s.backend()
	for _, sv := range rows {
		if sv.host != backend {
			continue
		}
		if sv.disabled || !(s.up(sv) || (local && driver != nil)) {
			return "", &manageServiceError{err: badRequest("Service is unavailable at this time.")}
		}
		return backend, nil
	}
	if local && driver != nil {
		return backend, nil
	}
	return "", &manageServiceError{notFound: true}
}

// manageableEntry is one entry of a manageable list.
type manageableEntry struct {
	reference       map[string]any
	size            int64
	safe            bool
	reasonNotSafe   any
	cinderID        any
	sourceReference map[string]any
	name            string
}

// listManageableVolumes is GET /manageable_volumes (and /os-volume-manage).
func (s *Service) listManageableVolumes(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.writeManageable(w, r, c, false, false)
}

// listManageableVolumesDetail is GET /manageable_volumes/detail.
func (s *Service) listManageableVolumesDetail(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.writeManageable(w, r, c, false, true)
}

// listManageableSnapshots is GET /manageable_snapshots (and /os-snapshot-manage).
func (s *Service) listManageableSnapshots(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.writeManageable(w, r, c, true, false)
}

// listManageableSnapshotsDetail is GET /manageable_snapshots/detail.
func (s *Service) listManageableSnapshotsDetail(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.writeManageable(w, r, c, true, true)
}

// manageableSort is a parsed manageable-list sort: keys reference and size.
type manageableSort struct {
	key string
	asc bool
}

// parseManageableQuery reads the paging and sorting of a manageable list (Cinder's
// get_pagination_params and get_sort_params with the default key "reference").
func parseManageableQuery(q url.Values) (marker string, limit, offset int, sorts []manageableSort, err error) {
	limit, offset = -1, 0
	if v := q.Get("limit"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil {
			return "", 0, 0, nil, invalidInput("limit param must be an integer")
		}
		if n < 0 {
			return "", 0, 0, nil, invalidInput("limit param must be positive")
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 {
			return "", 0, 0, nil, invalidInput("offset param must be an integer")
		}
		offset = n
	}
	marker = q.Get("marker")
	var keys, dirs []string
	if v := q.Get("sort"); v != "" {
		if q.Has("sort_key") || q.Has("sort_dir") {
			return "", 0, 0, nil, invalidInput("The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter.")
		}
		for _, part := range strings.Split(v, ",") {
			k, d, _ := strings.Cut(strings.TrimSpace(part), ":")
			if d == "" {
				d = "desc"
			}
			keys, dirs = append(keys, strings.TrimSpace(k)), append(dirs, strings.ToLower(strings.TrimSpace(d)))
		}
	} else {
		k, d := q.Get("sort_key"), q.Get("sort_dir")
		if k == "" {
			k = "reference"
		}
		if d == "" {
			d = "desc"
		}
		keys, dirs = []string{strings.TrimSpace(k)}, []string{strings.ToLower(strings.TrimSpace(d))}
	}
	var badKeys, badDirs []string
	for i, k := range keys {
		if k != "reference" && k != "size" {
			badKeys = append(badKeys, k)
		}
		if dirs[i] != "asc" && dirs[i] != "desc" {
			badDirs = append(badDirs, dirs[i])
		}
		sorts = append(sorts, manageableSort{key: k, asc: dirs[i] == "asc"})
	}
	if len(badKeys) > 0 {
		return "", 0, 0, nil, badRequest("Invalid sort keys passed: %s", strings.Join(badKeys, ", "))
	}
	if len(badDirs) > 0 {
		return "", 0, 0, nil, badRequest("Invalid sort dirs passed: %s", strings.Join(badDirs, ", "))
	}
	return marker, limit, offset, sorts, nil
}

// markerReference reads a manageable-list marker: a reference as JSON (Cinder's
// paginate_entries_list), compared by its source-name.
func markerReference(marker string) (string, error) {
	var ref map[string]any
	if err := json.Unmarshal([]byte(marker), &ref); err != nil {
		return "", invalidInput("marker %s can not be analysed, please use json like format", marker)
	}
	name, _ := ref["source-name"].(string)
	return name, nil
}

// writeManageable lists what this host's backend holds for an admin.
func (s *Service) writeManageable(w http.ResponseWriter, r *http.Request, c *call, snapshots, detail bool) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	q := r.URL.Query()
	cluster, host, err := clusterHost(c, 17, q.Get("cluster"), q.Get("host"))
	if err != nil {
		return err
	}
	marker, limit, offset, sorts, err := parseManageableQuery(q)
	if err != nil {
		return err
	}
	ctx := r.Context()
	backend, serr := s.manageService(ctx, cluster, host)
	if serr != nil {
		if serr.notFound {
			return notFound("Service %s could not be found.", binaryVolume)
		}
		return serr.err
	}
	var entries []manageableEntry
	if backend == s.volumeHost() {
		if m := s.manager(); m != nil {
			// A driver without manage support lists nothing, as Cinder's manager
			// answers a driver's AttributeError.
			if entries, err = s.manageableEntries(ctx, m, snapshots); err != nil {
				return err
			}
		}
	} else {
		return badRequest("Listing what the backend %s holds is only possible through the gostack process serving it.", backend)
	}
	sort.SliceStable(entries, func(i, j int) bool {
		for _, k := range sorts {
			var cmp int
			if k.key == "size" {
				cmp = compareValues(entries[i].size, entries[j].size)
			} else {
				cmp = strings.Compare(entries[i].name, entries[j].name)
			}
			if cmp == 0 {
				continue
			}
			return (cmp < 0) == k.asc
		}
		return false
	})
	start := 0
	if marker != "" {
		name, err := markerReference(marker)
		if err != nil {
			return err
		}
		start = -1
		for i, e := range entries {
			if e.name == name {
				start = i + 1
				break
			}
		}
		if start < 0 {
			return invalidInput("marker not found: %s", marker)
		}
	}
	entries = entries[min(start+offset, len(entries)):]
	max := s.cfg.ListLimitMax
	if limit >= 0 && limit < max {
		max = limit
	}
	if len(entries) > max {
		entries = entries[:max]
	}
	out := make([]map[string]any, 0, len(entries))
	for _, e := range entries {
		m := map[string]any{"reference": e.reference, "size": e.size, "safe_to_manage": e.safe}
		if detail {
			m["reason_not_safe"], m["cinder_id"], m["extra_info"] = e.reasonNotSafe, e.cinderID, nil
		}
		if snapshots {
			m["source_reference"] = e.sourceReference
		}
		out = append(out, m)
	}
	key := "manageable-volumes"
	if snapshots {
		key = "manageable-snapshots"
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{key: out})
	return nil
}

// manageableEntries builds the entries of the driver's objects: an object whose id a
// live record has is not safe to manage ("already managed", with the record's id);
// the temporary volumes snapshot backups read through are not listed.
func (s *Service) manageableEntries(ctx context.Context, m block.Manager, snapshots bool) ([]manageableEntry, error) {
	list, table := m.ManageableVolumes, "volume_volumes"
	if snapshots {
		list, table = m.ManageableSnapshots, "volume_snapshots"
	}
	objs, err := list(ctx)
	if err != nil {
		return nil, err
	}
	var out []manageableEntry
	for _, o := range objs {
		if !snapshots && strings.HasPrefix(o.ID, "backup-") {
			continue
		}
		e := manageableEntry{name: o.Name, reference: map[string]any{"source-name": o.Name}, size: o.SizeGB,
			safe: true}
		if o.ID != "" {
			st, err := s.recordState(ctx, table, o.ID)
			if err != nil {
				return nil, err
			}
			if st == rowLive {
				e.safe, e.reasonNotSafe, e.cinderID = false, "already managed", o.ID
			}
		}
		if snapshots {
			parent := o.Parent
			if parent == "" && o.ID != "" {
				// The backend does not know a snapshot's volume; the records do, for
				// snapshots gostack made (unmanaged ones included).
				var volID string
				err := s.db.QueryRowContext(ctx, `SELECT volume_id FROM volume_snapshots WHERE id = ?`, o.ID).Scan(&volID)
				if err != nil && !store.IsNoRows(err) {
					return nil, err
				}
				if volID != "" {
					parent = "volume-" + volID
				}
			}
			e.sourceReference = map[string]any{"source-name": nil}
			if parent != "" {
				e.sourceReference = map[string]any{"source-name": parent}
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// cinderHostPattern is parameter_types.cinder_host: host@backend#pool, each part free
// of the separators and of spaces.
var cinderHostPattern = regexp.MustCompile(`^[^@#\s]+(@[^@#\s]+)?(#[^@#\s]+)?$`)

// manageParams are the manage tasks' params: the reference as the user sent it.
type manageParams struct {
	Ref json.RawMessage `json:"ref"`
}

// refName is the source-name of a manage reference, "" when it has none (a reference
// the backend cannot resolve: the manage fails on the backend, as Cinder's does).
func refName(ref any) string {
	m, ok := ref.(map[string]any)
	if !ok {
		return ""
	}
	name, _ := m["source-name"].(string)
	return name
}

// refID is the id a source-name carries under the naming prefix ("volume-",
// "snapshot-"), as Cinder's extract_id_from_volume_name; "" when none.
func refID(name, prefix string) string {
	id, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return ""
	}
	id, _, _ = strings.Cut(id, ".")
	return id
}

// manageVolumeBody is a validated manage request (volume_manage_create schema).
type manageVolumeBody struct {
	host, cluster         string
	ref                   any
	name, description, az *string
	volumeType            *string
	bootable              bool
	metadata              map[string]string
}

// parseManageVolume validates the body of POST /os-volume-manage at the request's
// microversion: unknown keys, types and the host pattern are 400s, as Cinder's schema.
func parseManageVolume(c *call, top api.Object) (*manageVolumeBody, error) {
	for k := range top {
		if k != "volume" {
			return nil, badRequest("Invalid input for field/attribute body. Additional properties are not allowed ('%s' was unexpected)", k)
		}
	}
	body, present, err := top.Obj("volume")
	if err != nil {
		return nil, schemaError("volume", top["volume"], showValue(top["volume"])+" is not of type 'object'")
	}
	if !present || body == nil {
		return nil, badRequest("Invalid input for field/attribute volume. Value: None. 'volume' is a required property")
	}
	known := map[string]bool{"description": true, "availability_zone": true, "bootable": true, "volume_type": true,
		"name": true, "host": true, "ref": true, "metadata": true}
	if c.at(16) {
		known["cluster"] = true
	}
	for k := range body {
		if !known[k] {
			return nil, badRequest("Invalid input for field/attribute volume. Additional properties are not allowed ('%s' was unexpected)", k)
		}
	}
	out := &manageVolumeBody{}
	ref, ok := body["ref"]
	if !ok {
		return nil, badRequest("Invalid input for field/attribute volume. Value: %s. 'ref' is a required property", showValue(map[string]any(body)))
	}
	switch ref.(type) {
	case map[string]any, string:
	default:
		return nil, schemaError("ref", ref, showValue(ref)+" is not of type 'object', 'string'")
	}
	out.ref = ref
	for _, f := range []struct {
		key string
		dst **string
	}{{"name", &out.name}, {"description", &out.description}, {"availability_zone", &out.az}, {"volume_type", &out.volumeType}} {
		p, _, err := optString(body, f.key, 255)
		if err != nil {
			return nil, err
		}
		*f.dst = p
	}
	if hv, ok := body["host"]; ok && hv != nil {
		h, isStr := hv.(string)
		if !isStr {
			return nil, schemaError("host", hv, showValue(hv)+" is not of type 'string'")
		}
		if len(h) > 255 || !cinderHostPattern.MatchString(h) {
			return nil, schemaError("host", hv, showValue(hv)+" does not match '^[^@#\\s]+(@[^@#\\s]+)?(#[^@#\\s]+)?$'")
		}
		out.host = h
	}
	if cv, ok := body["cluster"]; ok && cv != nil {
		cl, isStr := cv.(string)
		if !isStr || len(cl) > 255 {
			return nil, schemaError("cluster", cv, showValue(cv)+" is not of type 'string'")
		}
		out.cluster = cl
	}
	if bv, ok := body["bootable"]; ok {
		b, valid := boolValue(bv)
		if !valid {
			return nil, schemaError("bootable", bv, showValue(bv)+" is not of type 'boolean', 'string'")
		}
		out.bootable = b
	}
	meta, _, err := metadataField(body, "metadata", true)
	if err != nil {
		return nil, err
	}
	out.metadata = orEmpty(meta)
	return out, nil
}

// manageVolume is POST /os-volume-manage (and /manageable_volumes from 3.8): a new
// volume record "creating" on the named backend, whose runner adopts the object.
func (s *Service) manageVolume(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	top, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	b, err := parseManageVolume(c, top)
	if err != nil {
		return err
	}
	cluster, host, err := clusterHost(c, 16, b.cluster, b.host)
	if err != nil {
		return err
	}
	ctx := r.Context()
	project := c.caller.ProjectID
	if name := refName(b.ref); name != "" {
		if id := refID(name, "volume-"); isUUID(id) {
			if st, err := s.recordState(ctx, "volume_volumes", strings.ToLower(id)); err != nil {
				return err
			} else if st == rowLive {
				return invalidVolume("Unable to manage existing volume. The volume is already managed")
			}
		}
	}
	var vt *volumeType
	if b.volumeType != nil && *b.volumeType != "" {
		if vt, err = s.typeFor(ctx, s.db, c, *b.volumeType); err != nil {
			return err
		}
		if vt == nil {
			return badRequest("Invalid volume type: Cannot find requested '%s' volume type", *b.volumeType)
		}
	} else if vt, err = s.defaultTypeFor(ctx, s.db, project); err != nil {
		return err
	}
	if enc, err := loadEncryption(ctx, s.db, vt.ID); err != nil {
		return err
	} else if enc != nil {
		return badRequest("Invalid volume type: Managing to an encrypted volume type is not supported.")
	}
	backend, serr := s.manageService(ctx, cluster, host)
	if serr != nil {
		if serr.notFound {
			what, val := "Host", host
			if cluster != "" {
				what, val = "Cluster", cluster
			}
			return badRequest("%s '%s' not found", what, val)
		}
		return serr.err
	}
	if backend == s.volumeHost() && s.manager() == nil {
		return badRequest("Manage existing volume not implemented.")
	}
	rawRef, err := json.Marshal(b.ref)
	if err != nil {
		return badRequest("Invalid input for field/attribute ref.")
	}
	az := s.cfg.AvailabilityZone
	if b.az != nil && *b.az != "" {
		az = *b.az
	}
	poolHost := host
	if !strings.Contains(poolHost, "#") {
		_, name, _ := strings.Cut(backend, "@")
		poolHost = backend + "#" + name
	}
	for _, p := range []*string{b.name, b.description} {
		if p != nil {
			*p = strings.TrimSpace(*p)
		}
	}
	name, desc := b.name, b.description
	if name != nil && *name == "" {
		name = nil
	}
	if desc != nil && *desc == "" {
		desc = nil
	}
	vol := &volumeRec{ID: api.NewUUID(), ProjectID: project, UserID: c.caller.UserID, Name: name, Description: desc,
		Status: stCreating, AttachStatus: attachDetached, ConsumesQuota: true, Metadata: b.metadata, AZ: az,
		Host: &poolHost, TypeID: vt.ID, TypeName: vt.Name, Multiattach: vt.multiattach(), DiskFormat: vt.format(),
		Bootable: b.bootable}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		// The volume counts at once; its gigabytes once the backend has said its size.
		if err := s.checkQuota(ctx, tx, project, quotaDelta{volumes: 1, typeName: vt.Name}); err != nil {
			return err
		}
		ts := store.FormatTime(now())
		vol.CreatedAt, vol.UpdatedAt = ts, ts
		if err := insertVolume(ctx, tx, vol); err != nil {
			return err
		}
		if err := setMeta(ctx, tx, "volume_metadata", "volume_id", vol.ID, b.metadata, false); err != nil {
			return err
		}
		return enqueue(ctx, tx, "volume:"+backend, taskManageVolume, vol.ID, manageParams{Ref: rawRef})
	})
	if err != nil {
		return err
	}
	s.wake.notify()
	// Cinder answers with its legacy (v3.0) detail view, whatever the microversion.
	legacy := *c
	legacy.ver = minVersion
	api.WriteJSON(w, http.StatusAccepted, map[string]any{"volume": s.volumeView(r, &legacy, vol, false)})
	return nil
}

// actUnmanage is the admin's os-unmanage: the record goes (the quota with it) and the
// data stays on the backend. The conditions are a delete's.
func (s *Service) actUnmanage(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	if raw != nil {
		if _, ok := raw.(map[string]any); !ok {
			return schemaError("os-unmanage", raw, showValue(raw)+" is not of type 'object', 'null'")
		}
	}
	if v.Encrypted {
		return badRequest("Invalid input received: Unmanaging encrypted volumes is not supported.")
	}
	ctx := r.Context()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := loadVolume(ctx, tx, v.ID)
		if err != nil {
			return err
		}
		if cur == nil {
			return volumeNotFound(v.ID)
		}
		if cur.AttachStatus == attachAttached || (cur.MigrationStatus != nil && *cur.MigrationStatus != "" &&
			*cur.MigrationStatus != "success" && *cur.MigrationStatus != "error") || cur.GroupID != nil ||
			!contains(volumeDeletable, cur.Status) {
			return deleteRefusal(false)
		}
		for _, a := range cur.Attachments {
			if a.AttachStatus == attachAttached {
				return deleteRefusal(false)
			}
		}
		snaps, err := volumeSnapshots(ctx, tx, cur.ID)
		if err != nil {
			return err
		}
		if len(snaps) > 0 {
			return deleteRefusal(false)
		}
		if cur.Host == nil || *cur.Host == "" {
			// Never scheduled: no backend holds anything; the record just goes.
			return markDeletedAs(ctx, tx, "volume_volumes", cur.ID, stUnmanaged)
		}
		ts := store.FormatTime(now())
		if _, err := tx.ExecContext(ctx, `UPDATE volume_attachments SET deleted = ?, deleted_at = ?, attach_status = ?
			WHERE volume_id = ? AND deleted = ?`, true, ts, attachDetached, cur.ID, false); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, previous_status = ?, terminated_at = ?,
			updated_at = ? WHERE id = ?`, stUnmanaging, cur.Status, ts, ts, cur.ID); err != nil {
			return err
		}
		return enqueue(ctx, tx, s.queueOf(cur), taskUnmanageVolume, cur.ID, nil)
	})
	if err != nil {
		return err
	}
	s.wake.notify()
	return accepted(w)
}

// manageSnapshotBody is a validated snapshot manage request (snapshot_manage create).
type manageSnapshotBody struct {
	volumeID          string
	ref               any
	name, description *string
	metadata          map[string]string
}

// parseManageSnapshot validates the body of POST /os-snapshot-manage.
func parseManageSnapshot(top api.Object) (*manageSnapshotBody, error) {
	for k := range top {
		if k != "snapshot" {
			return nil, badRequest("Invalid input for field/attribute body. Additional properties are not allowed ('%s' was unexpected)", k)
		}
	}
	body, present, err := top.Obj("snapshot")
	if err != nil {
		return nil, schemaError("snapshot", top["snapshot"], showValue(top["snapshot"])+" is not of type 'object'")
	}
	if !present || body == nil {
		return nil, badRequest("Invalid input for field/attribute snapshot. Value: None. 'snapshot' is a required property")
	}
	known := map[string]bool{"description": true, "metadata": true, "name": true, "volume_id": true, "ref": true}
	for k := range body {
		if !known[k] {
			return nil, badRequest("Invalid input for field/attribute snapshot. Additional properties are not allowed ('%s' was unexpected)", k)
		}
	}
	out := &manageSnapshotBody{}
	for _, k := range []string{"ref", "volume_id"} {
		if _, ok := body[k]; !ok {
			return nil, badRequest("Invalid input for field/attribute snapshot. Value: %s. '%s' is a required property", showValue(map[string]any(body)), k)
		}
	}
	switch ref := body["ref"].(type) {
	case map[string]any, string, nil:
		out.ref = ref
	default:
		return nil, schemaError("ref", ref, showValue(ref)+" is not of type 'object', 'null', 'string'")
	}
	vid, ok := body["volume_id"].(string)
	if !ok || !isUUID(vid) {
		return nil, schemaError("volume_id", body["volume_id"], showValue(body["volume_id"])+" is not a 'uuid'")
	}
	out.volumeID = vid
	if out.name, _, err = optString(body, "name", 255); err != nil {
		return nil, err
	}
	if out.description, _, err = optString(body, "description", 255); err != nil {
		return nil, err
	}
	meta, _, err := metadataField(body, "metadata", true)
	if err != nil {
		return nil, err
	}
	out.metadata = orEmpty(meta)
	return out, nil
}

// manageSnapshot is POST /os-snapshot-manage (and /manageable_snapshots from 3.8): a
// new snapshot of the volume, "creating", whose backend adopts the object. The quota
// is taken as for a snapshot of the volume, and corrected to the object's size.
func (s *Service) manageSnapshot(w http.ResponseWriter, r *http.Request, c *call) error {
	top, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	b, err := parseManageSnapshot(top)
	if err != nil {
		return err
	}
	ctx := r.Context()
	vol, err := s.volumeFor(ctx, c, b.volumeID, ruleVolumeGet)
	if err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, ownerTarget(vol.ProjectID)); err != nil {
		return err
	}
	if vol.Host == nil || *vol.Host == "" {
		return invalidVolume("The snapshot cannot be created because volume has not been scheduled to any host.")
	}
	backend, serr := s.manageService(ctx, "", *vol.Host)
	if serr != nil {
		if serr.notFound {
			return notFound("Service %s could not be found.", binaryVolume)
		}
		return serr.err
	}
	if backend == s.volumeHost() && s.manager() == nil {
		return badRequest("Manage existing snapshot not implemented.")
	}
	if name := refName(b.ref); name != "" {
		if id := refID(name, "snapshot-"); id != "" {
			if st, err := s.recordState(ctx, "volume_snapshots", id); err != nil {
				return err
			} else if st == rowLive {
				return invalidSnapshot("Unable to manage existing snapshot. The snapshot is already managed")
			}
		}
	}
	rawRef, err := json.Marshal(b.ref)
	if err != nil {
		return badRequest("Invalid input for field/attribute ref.")
	}
	sn := &snapshotRec{ID: api.NewUUID(), VolumeID: vol.ID, ProjectID: vol.ProjectID, UserID: c.caller.UserID,
		Name: b.name, Description: b.description, Status: snapCreating, Progress: "0%", VolumeSize: vol.Size,
		TypeID: vol.TypeID, Metadata: b.metadata}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		v, err := loadVolumeRow(ctx, tx, vol.ID)
		if err != nil {
			return err
		}
		if v == nil || v.Deleted {
			return volumeNotFound(vol.ID)
		}
		if v.Status != stAvailable && v.Status != stInUse {
			return invalidVolume("Volume %s status must be available, in-use, but current status is: %s.", v.ID, v.Status)
		}
		if v.MigrationStatus != nil && *v.MigrationStatus != "" && *v.MigrationStatus != "success" && *v.MigrationStatus != "error" {
			return invalidVolume("Snapshot cannot be created while volume is migrating.")
		}
		if err := s.checkQuota(ctx, tx, sn.ProjectID, quotaDelta{snapshots: 1, gigabytes: v.Size, typeName: v.TypeName}); err != nil {
			return err
		}
		ts := store.FormatTime(now())
		sn.CreatedAt, sn.UpdatedAt = ts, ts
		if _, err := tx.ExecContext(ctx, `INSERT INTO volume_snapshots (id, volume_id, project_id, user_id, name,
			description, status, progress, volume_size, type_id, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, sn.ID, sn.VolumeID, sn.ProjectID, sn.UserID, sn.Name,
			sn.Description, sn.Status, sn.Progress, sn.VolumeSize, sn.TypeID, ts, ts); err != nil {
			return err
		}
		if err := setMeta(ctx, tx, "volume_snapshot_metadata", "snapshot_id", sn.ID, b.metadata, false); err != nil {
			return err
		}
		return enqueue(ctx, tx, "volume:"+backend, taskManageSnapshot, sn.ID, manageParams{Ref: rawRef})
	})
	if err != nil {
		return err
	}
	s.wake.notify()
	// Cinder's snapshot view without the extensions' attributes.
	api.WriteJSON(w, http.StatusAccepted, map[string]any{"snapshot": map[string]any{
		"id": sn.ID, "created_at": isoTime(sn.CreatedAt), "updated_at": isoTime(sn.UpdatedAt),
		"name": strOrNil(sn.Name), "description": strOrNil(sn.Description), "volume_id": sn.VolumeID,
		"status": sn.Status, "size": sn.VolumeSize, "metadata": sn.Metadata}})
	return nil
}

// unmanageSnapshot is the admin's snapshot os-unmanage: the record goes (the quota
// with it) and the data stays. The snapshot must be available or error and not part
// of a group snapshot, as for a delete.
func (s *Service) unmanageSnapshot(w http.ResponseWriter, r *http.Request, c *call, id string, raw any) error {
	if raw != nil {
		if _, ok := raw.(map[string]any); !ok {
			return schemaError("os-unmanage", raw, showValue(raw)+" is not of type 'object', 'null'")
		}
	}
	ctx := r.Context()
	sn, err := s.snapshotFor(ctx, c, id, ruleSnapshotGet)
	if err != nil {
		return err
	}
	if err := s.authorize(c, ruleSnapshotUnmanage, ownerTarget(sn.ProjectID)); err != nil {
		return err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := loadSnapshot(ctx, tx, sn.ID)
		if err != nil {
			return err
		}
		if cur == nil {
			return snapshotNotFound(sn.ID)
		}
		if cur.GroupSnapshotID != nil || (cur.Status != stAvailable && cur.Status != stError) {
			return invalidSnapshot("Snapshot status must be available or error and must not be part of a group.")
		}
		if err := setStatus(ctx, tx, "volume_snapshots", cur.ID, stUnmanaging); err != nil {
			return err
		}
		queue := s.volumeQueue()
		if v, err := loadVolumeRow(ctx, tx, cur.VolumeID); err != nil {
			return err
		} else if v != nil {
			queue = s.queueOf(v)
		}
		return enqueue(ctx, tx, queue, taskUnmanageSnapshot, cur.ID, nil)
	})
	if err != nil {
		return err
	}
	s.wake.notify()
	return accepted(w)
}
