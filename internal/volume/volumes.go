package volume

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// Volume rules (cinder/policies/volumes.py, volume_metadata.py).
const (
	ruleVolumeCreate          = "volume:create"
	ruleVolumeCreateFromImage = "volume:create_from_image"
	ruleVolumeGet             = "volume:get"
	ruleVolumeGetAll          = "volume:get_all"
	ruleVolumeUpdate          = "volume:update"
	ruleVolumeDelete          = "volume:delete"
	ruleVolumeForceDelete     = "volume:force_delete"
	ruleVolumeHostAttr        = "volume_extension:volume_host_attribute"
	ruleVolumeTenantAttr      = "volume_extension:volume_tenant_attribute"
	ruleVolumeMigAttr         = "volume_extension:volume_mig_status_attribute"
	ruleImageMetaShow         = "volume_extension:volume_image_metadata:show"
	ruleImageMetaSet          = "volume_extension:volume_image_metadata:set"
	ruleImageMetaRemove       = "volume_extension:volume_image_metadata:remove"
	ruleMetaGet               = "volume:get_volume_metadata"
	ruleMetaCreate            = "volume:create_volume_metadata"
	ruleMetaUpdate            = "volume:update_volume_metadata"
	ruleMetaDelete            = "volume:delete_volume_metadata"
)

// Volume statuses (cinder/objects/fields.py VolumeStatus) and attach statuses.
const (
	stCreating         = "creating"
	stAvailable        = "available"
	stDeleting         = "deleting"
	stError            = "error"
	stErrorDeleting    = "error_deleting"
	stAttaching        = "attaching"
	stInUse            = "in-use"
	stDetaching        = "detaching"
	stReserved         = "reserved"
	stExtending        = "extending"
	stErrorExtending   = "error_extending"
	stBackingUp        = "backing-up"
	stRestoringBackup  = "restoring-backup"
	stErrorRestoring   = "error_restoring"
	stDownloading      = "downloading"
	stUploading        = "uploading"
	stRetyping         = "retyping"
	stReverting        = "reverting"
	attachDetached     = "detached"
	attachAttached     = "attached"
	attachAttaching    = "attaching"
	attachDetaching    = "detaching"
	attachReserved     = "reserved"
	attachErrAttaching = "error_attaching"
	attachErrDetaching = "error_detaching"
)

// volumeRoutes are /volumes with metadata; actions are in actions.go.
func (s *Service) volumeRoutes() []route {
	return []route{
		{method: "GET", path: "/volumes", rule: ruleVolumeGetAll, handle: s.listVolumes},
		{method: "GET", path: "/volumes/detail", rule: ruleVolumeGetAll, handle: s.listVolumesDetail},
		{method: "GET", path: "/volumes/summary", rule: ruleVolumeGetAll, minVer: v(12), handle: s.volumesSummary},
		{method: "POST", path: "/volumes", rule: ruleVolumeCreate, handle: s.createVolume},
		{method: "GET", path: "/volumes/{volume_id}", rule: ruleVolumeGet, handle: s.showVolume},
		{method: "PUT", path: "/volumes/{volume_id}", rule: ruleVolumeUpdate, handle: s.updateVolume},
		{method: "DELETE", path: "/volumes/{volume_id}", rule: ruleVolumeDelete, handle: s.deleteVolume},
		{method: "GET", path: "/volumes/{volume_id}/metadata", rule: ruleMetaGet, handle: s.listVolumeMeta},
		{method: "POST", path: "/volumes/{volume_id}/metadata", rule: ruleMetaCreate, handle: s.createVolumeMeta},
		{method: "PUT", path: "/volumes/{volume_id}/metadata", rule: ruleMetaUpdate, handle: s.replaceVolumeMeta},
		{method: "GET", path: "/volumes/{volume_id}/metadata/{key}", rule: ruleMetaGet, handle: s.showVolumeMetaItem},
		{method: "PUT", path: "/volumes/{volume_id}/metadata/{key}", rule: ruleMetaUpdate, handle: s.updateVolumeMetaItem},
		{method: "DELETE", path: "/volumes/{volume_id}/metadata/{key}", rule: ruleMetaDelete, handle: s.deleteVolumeMetaItem},
	}
}

// volumeRec is one volume_volumes row with what views need.
type volumeRec struct {
	ID, ProjectID, UserID               string
	Name, Description                   *string
	Size                                int64
	Status                              string
	PreviousStatus                      *string
	AttachStatus                        string
	MigrationStatus                     *string
	AZ                                  string
	Host                                *string
	TypeID                              string
	SnapshotID, SourceVolID, ImageID    *string
	BackupID, GroupID                   *string
	Bootable, Multiattach, Encrypted    bool
	ConsumesQuota                       bool
	DiskFormat                          string
	Deleted                             bool
	CreatedAt, UpdatedAt                string
	LaunchedAt, TerminatedAt, DeletedAt string

	// Loaded alongside.
	TypeName    string
	Metadata    map[string]string
	AdminMeta   map[string]string
	ImageMeta   map[string]string
	Attachments []*attachmentRec
}

// volumeColumns lists the columns scanVolume reads.
const volumeColumns = `v.id, v.project_id, v.user_id, v.name, v.description, v.size, v.status, v.previous_status,
	v.attach_status, v.migration_status, v.availability_zone, v.host, v.type_id, v.snapshot_id, v.source_volid,
	v.image_id, v.backup_id, v.group_id, v.bootable, v.multiattach, v.encrypted, v.consumes_quota, v.disk_format,
	v.deleted, v.created_at, v.updated_at, v.launched_at, v.terminated_at, v.deleted_at, COALESCE(t.name, '')`

// volumeFrom is the FROM clause that goes with volumeColumns.
const volumeFrom = ` FROM volume_volumes v LEFT JOIN volume_types t ON t.id = v.type_id `

// scanner is a row.
type scanner interface{ Scan(dest ...any) error }

// scanVolume reads one volume row.
func scanVolume(row scanner) (*volumeRec, error) {
	var v volumeRec
	err := row.Scan(&v.ID, &v.ProjectID, &v.UserID, &v.Name, &v.Description, &v.Size, &v.Status, &v.PreviousStatus,
		&v.AttachStatus, &v.MigrationStatus, &v.AZ, &v.Host, &v.TypeID, &v.SnapshotID, &v.SourceVolID, &v.ImageID,
		&v.BackupID, &v.GroupID, &v.Bootable, &v.Multiattach, &v.Encrypted, &v.ConsumesQuota, &v.DiskFormat,
		&v.Deleted, &v.CreatedAt, &v.UpdatedAt, &v.LaunchedAt, &v.TerminatedAt, &v.DeletedAt, &v.TypeName)
	return &v, err
}

// loadVolumeRow reads a volume (deleted ones too) without its related rows; nil when
// there is none.
func loadVolumeRow(ctx context.Context, q store.Querier, id string) (*volumeRec, error) {
	v, err := scanVolume(q.QueryRowContext(ctx, `SELECT `+volumeColumns+volumeFrom+`WHERE v.id = ?`, id))
	if store.IsNoRows(err) {
		return nil, nil
	}
	return v, err
}

// loadVolume reads an undeleted volume with its metadata and attachments; nil when
// there is none.
func loadVolume(ctx context.Context, q store.Querier, id string) (*volumeRec, error) {
	v, err := loadVolumeRow(ctx, q, id)
	if err != nil || v == nil || v.Deleted {
		return nil, err
	}
	if err := fillVolumes(ctx, q, []*volumeRec{v}); err != nil {
		return nil, err
	}
	return v, nil
}

// fillVolumes loads the metadata, admin and image metadata and attachments of volumes.
func fillVolumes(ctx context.Context, q store.Querier, vols []*volumeRec) error {
	if len(vols) == 0 {
		return nil
	}
	ids := make([]string, len(vols))
	for i, v := range vols {
		ids[i] = v.ID
	}
	meta, err := loadMetaMany(ctx, q, "volume_metadata", "volume_id", ids)
	if err != nil {
		return err
	}
	admin, err := loadMetaMany(ctx, q, "volume_admin_metadata", "volume_id", ids)
	if err != nil {
		return err
	}
	img, err := loadMetaMany(ctx, q, "volume_image_metadata", "volume_id", ids)
	if err != nil {
		return err
	}
	atts, err := loadAttachmentsMany(ctx, q, ids)
	if err != nil {
		return err
	}
	for _, v := range vols {
		v.Metadata, v.AdminMeta, v.ImageMeta = orEmpty(meta[v.ID]), orEmpty(admin[v.ID]), img[v.ID]
		v.Attachments = atts[v.ID]
	}
	return nil
}

// orEmpty returns m, or an empty map for nil.
func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// volumeFor loads a volume the caller may act on under rule: other projects' volumes are
// a 404 for non-admins (as Cinder's project-scoped lookups make them), then the rule is
// checked against the volume's project.
func (s *Service) volumeFor(ctx context.Context, c *call, id, rule string) (*volumeRec, error) {
	v, err := loadVolume(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if v == nil || (v.ProjectID != c.caller.ProjectID && !s.isAdmin(c)) {
		return nil, volumeNotFound(id)
	}
	if err := s.authorize(c, rule, ownerTarget(v.ProjectID)); err != nil {
		return nil, err
	}
	return v, nil
}

// volumeView is Cinder's detailed volume view at the request's microversion, with the
// host, tenant, migration-status and image-metadata extensions as policy allows.
func (s *Service) volumeView(r *http.Request, c *call, v *volumeRec) map[string]any {
	admin := s.isAdmin(c)
	target := ownerTarget(v.ProjectID)
	atts := []map[string]any{}
	for _, a := range v.Attachments {
		if a.AttachStatus != attachAttached {
			continue
		}
		m := map[string]any{"id": v.ID, "attachment_id": a.ID, "volume_id": v.ID, "server_id": strOrNil(a.InstanceUUID),
			"host_name": nil, "device": strOrNil(a.Mountpoint), "attached_at": isoTime(a.AttachTime)}
		if admin || c.caller.HasRole("service") {
			m["host_name"] = strOrNil(a.AttachedHost)
		}
		atts = append(atts, m)
	}
	var typeName any = v.TypeName
	if v.TypeName == "" {
		typeName = nil
	}
	out := map[string]any{
		"id": v.ID, "status": v.Status, "size": v.Size, "availability_zone": v.AZ,
		"created_at": isoTime(v.CreatedAt), "updated_at": isoTime(v.UpdatedAt),
		"name": strOrNil(v.Name), "description": strOrNil(v.Description), "volume_type": typeName,
		"snapshot_id": strOrNil(v.SnapshotID), "source_volid": strOrNil(v.SourceVolID), "metadata": v.Metadata,
		"links": s.resourceLinks(r, "volumes", v.ID), "user_id": v.UserID,
		"bootable": strconv.FormatBool(v.Bootable), "encrypted": v.Encrypted, "replication_status": "disabled",
		"consistencygroup_id": nil, "multiattach": v.Multiattach, "attachments": atts,
	}
	if admin {
		out["migration_status"] = strOrNil(v.MigrationStatus)
	}
	if c.at(13) {
		out["group_id"] = strOrNil(v.GroupID)
	}
	if admin && c.at(21) {
		out["provider_id"] = nil
	}
	if c.at(48) {
		out["shared_targets"] = false
		out["service_uuid"] = nil
	}
	if admin && c.at(61) {
		out["cluster_name"] = nil
	}
	if c.at(63) {
		out["volume_type_id"] = v.TypeID
	}
	if c.at(65) {
		out["consumes_quota"] = v.ConsumesQuota
	}
	if s.can(c, ruleVolumeHostAttr, target) {
		out["os-vol-host-attr:host"] = strOrNil(v.Host)
	}
	if s.can(c, ruleVolumeMigAttr, target) {
		out["os-vol-mig-status-attr:migstat"] = strOrNil(v.MigrationStatus)
		out["os-vol-mig-status-attr:name_id"] = nil
	}
	if s.can(c, ruleVolumeTenantAttr, target) {
		out["os-vol-tenant-attr:tenant_id"] = v.ProjectID
	}
	if len(v.ImageMeta) > 0 && s.can(c, ruleImageMetaShow, target) {
		out["volume_image_metadata"] = v.ImageMeta
	}
	return out
}

// volumeSortKeys are the keys volumes sort by.
var volumeSortKeys = map[string]bool{"id": true, "status": true, "size": true, "availability_zone": true,
	"created_at": true, "updated_at": true, "display_name": true, "bootable": true, "user_id": true,
	"project_id": true, "volume_type_id": true, "host": true, "display_description": true}

// volumeSortValue is a volume's value for a sort key.
func volumeSortValue(v *volumeRec, k string) any {
	switch k {
	case "id":
		return v.ID
	case "status":
		return v.Status
	case "size":
		return v.Size
	case "availability_zone":
		return v.AZ
	case "updated_at":
		return v.UpdatedAt
	case "display_name":
		if v.Name == nil {
			return nil
		}
		return *v.Name
	case "display_description":
		if v.Description == nil {
			return nil
		}
		return *v.Description
	case "bootable":
		return v.Bootable
	case "user_id":
		return v.UserID
	case "project_id":
		return v.ProjectID
	case "volume_type_id":
		return v.TypeID
	case "host":
		if v.Host == nil {
			return nil
		}
		return *v.Host
	}
	return v.CreatedAt
}

// queryVolumes lists the volumes a list request names: the caller's project (admins:
// all with all_tenants, or ?project_id), filtered, sorted and paged. total is the
// count before paging (with_count, 3.45).
func (s *Service) queryVolumes(r *http.Request, c *call) (vols []*volumeRec, total int, limit int, err error) {
	ctx := r.Context()
	q := r.URL.Query()
	where := `WHERE v.deleted = ?`
	args := []any{false}
	admin := s.isAdmin(c)
	switch {
	case admin && q.Get("project_id") != "":
		where += ` AND v.project_id = ?`
		args = append(args, q.Get("project_id"))
	case admin && allTenants(q):
	default:
		where += ` AND v.project_id = ?`
		args = append(args, c.caller.ProjectID)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+volumeColumns+volumeFrom+where, args...)
	if err != nil {
		return nil, 0, 0, err
	}
	for rows.Next() {
		v, err := scanVolume(rows)
		if err != nil {
			rows.Close()
			return nil, 0, 0, err
		}
		vols = append(vols, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, 0, err
	}
	if err := fillVolumes(ctx, s.db, vols); err != nil {
		return nil, 0, 0, err
	}
	vols, err = filterVolumes(vols, q, c)
	if err != nil {
		return nil, 0, 0, err
	}
	keys, err := parseSort(q, volumeSortKeys)
	if err != nil {
		return nil, 0, 0, err
	}
	sortRows(vols, keys, volumeSortValue)
	total = len(vols)
	limit, err = s.pageLimit(q)
	if err != nil {
		return nil, 0, 0, err
	}
	vols, err = paginate(s, vols, func(v *volumeRec) string { return v.ID }, q.Get("marker"), limit)
	return vols, total, limit, err
}

// filterVolumes applies Cinder's volume filters: name, status, metadata, bootable,
// availability_zone, migration_status, size, volume_type, group_id (exact, or inexact
// with the "~" suffix from 3.34); unknown filters are ignored as Cinder ignores them.
func filterVolumes(vols []*volumeRec, q map[string][]string, c *call) ([]*volumeRec, error) {
	get := func(k string) (string, bool, bool) {
		if vs, ok := q[k]; ok && len(vs) > 0 {
			return vs[0], true, false
		}
		if vs, ok := q[k+"~"]; ok && len(vs) > 0 && c.at(34) {
			return vs[0], true, true
		}
		return "", false, false
	}
	match := func(have *string, want string, inexact bool) bool {
		if have == nil {
			return false
		}
		if inexact {
			return strings.Contains(strings.ToLower(*have), strings.ToLower(want))
		}
		return *have == want
	}
	var meta map[string]string
	if m, ok, _ := get("metadata"); ok {
		parsed, err := parseDictFilter(m)
		if err != nil {
			return nil, err
		}
		meta = parsed
	}
	var out []*volumeRec
	for _, v := range vols {
		if want, ok, inexact := get("name"); ok {
			if !match(v.Name, want, inexact) {
				if !(want == "" && v.Name == nil) {
					continue
				}
			}
		}
		if want, ok, _ := get("display_name"); ok && !match(v.Name, want, false) {
			continue
		}
		if want, ok, _ := get("status"); ok && v.Status != want {
			continue
		}
		if want, ok, _ := get("availability_zone"); ok && v.AZ != want {
			continue
		}
		if want, ok, _ := get("migration_status"); ok && !match(v.MigrationStatus, want, false) {
			continue
		}
		if want, ok, _ := get("bootable"); ok {
			b, valid := boolValue(want)
			if valid && v.Bootable != b {
				continue
			}
		}
		if want, ok, _ := get("size"); ok && strconv.FormatInt(v.Size, 10) != want {
			continue
		}
		if want, ok, _ := get("volume_type"); ok && v.TypeName != want && v.TypeID != want {
			continue
		}
		if want, ok, _ := get("group_id"); ok && !match(v.GroupID, want, false) {
			continue
		}
		skip := false
		for k, want := range meta {
			if v.Metadata[k] != want {
				skip = true
				break
			}
		}
		if skip {
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

// parseDictFilter reads a dict-valued filter as clients send it: a Python or JSON dict
// literal ("{'k': 'v'}" or {"k": "v"}).
func parseDictFilter(s string) (map[string]string, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return nil, invalidInput("Invalid filter value: %s", s)
	}
	out := map[string]string{}
	body := strings.TrimSpace(s[1 : len(s)-1])
	if body == "" {
		return out, nil
	}
	for _, part := range strings.Split(body, ",") {
		k, v, ok := strings.Cut(part, ":")
		if !ok {
			return nil, invalidInput("Invalid filter value: %s", s)
		}
		unq := func(x string) string {
			x = strings.TrimSpace(x)
			if len(x) >= 2 && (x[0] == '\'' || x[0] == '"') && x[len(x)-1] == x[0] {
				return x[1 : len(x)-1]
			}
			return x
		}
		out[unq(k)] = unq(v)
	}
	return out, nil
}

// listVolumes is GET /volumes (summary view).
func (s *Service) listVolumes(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.writeVolumeList(w, r, c, false)
}

// listVolumesDetail is GET /volumes/detail.
func (s *Service) listVolumesDetail(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.writeVolumeList(w, r, c, true)
}

// writeVolumeList answers a volume list.
func (s *Service) writeVolumeList(w http.ResponseWriter, r *http.Request, c *call, detail bool) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	vols, total, limit, err := s.queryVolumes(r, c)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(vols))
	for _, v := range vols {
		if detail {
			out = append(out, s.volumeView(r, c, v))
		} else {
			out = append(out, map[string]any{"id": v.ID, "name": strOrNil(v.Name), "links": s.resourceLinks(r, "volumes", v.ID)})
		}
	}
	body := map[string]any{"volumes": out}
	coll := "volumes"
	if detail {
		coll = "volumes/detail"
	}
	last := ""
	if len(vols) > 0 {
		last = vols[len(vols)-1].ID
	}
	if links := s.collectionLinks(r, coll, len(vols), limit, last); links != nil {
		body["volumes_links"] = links
	}
	if c.at(45) {
		if b, ok := boolValue(r.URL.Query().Get("with_count")); ok && b {
			body["count"] = total
		}
	}
	api.WriteJSON(w, http.StatusOK, body)
	return nil
}

// volumesSummary is GET /volumes/summary (3.12; metadata from 3.36).
func (s *Service) volumesSummary(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	vols, _, _, err := s.queryVolumes(r, c)
	if err != nil {
		return err
	}
	var size int64
	meta := map[string][]string{}
	for _, v := range vols {
		size += v.Size
		for k, val := range v.Metadata {
			meta[k] = append(meta[k], val)
		}
	}
	sum := map[string]any{"total_count": len(vols), "total_size": size}
	if c.at(36) {
		sum["metadata"] = meta
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"volume-summary": sum})
	return nil
}

// showVolume is GET /volumes/{volume_id}.
func (s *Service) showVolume(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := s.volumeFor(r.Context(), c, r.PathValue("volume_id"), c.rule)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"volume": s.volumeView(r, c, v)})
	return nil
}

// updateVolume is PUT /volumes/{volume_id}: name, description, metadata.
func (s *Service) updateVolume(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := api.DecodeObject(r, "volume")
	if err != nil {
		return err
	}
	known := map[string]bool{"name": true, "description": true, "display_name": true, "display_description": true, "metadata": true}
	for k := range body {
		if !known[k] {
			return badRequest("Invalid input for field/attribute volume. Value: %s. Additional properties are not allowed ('%s' was unexpected)",
				showValue(map[string]any(body)), k)
		}
	}
	if c.at(53) && len(body) == 0 {
		return badRequest("Invalid input for field/attribute volume. Value: {}. {} does not have enough properties")
	}
	name, nameGiven, err := optString(body, "name", 255)
	if err != nil {
		return err
	}
	if !nameGiven {
		name, nameGiven, err = optString(body, "display_name", 255)
		if err != nil {
			return err
		}
	}
	desc, descGiven, err := optString(body, "description", 255)
	if err != nil {
		return err
	}
	if !descGiven {
		desc, descGiven, err = optString(body, "display_description", 255)
		if err != nil {
			return err
		}
	}
	meta, metaGiven, err := metadataField(body, "metadata", false)
	if err != nil {
		return err
	}
	if name != nil {
		*name = strings.TrimSpace(*name)
	}
	if desc != nil {
		*desc = strings.TrimSpace(*desc)
	}
	ctx := r.Context()
	v, err := s.volumeFor(ctx, c, r.PathValue("volume_id"), c.rule)
	if err != nil {
		return err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if nameGiven {
			v.Name = name
		}
		if descGiven {
			v.Description = desc
		}
		v.UpdatedAt = store.FormatTime(now())
		if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET name = ?, description = ?, updated_at = ? WHERE id = ?`,
			v.Name, v.Description, v.UpdatedAt, v.ID); err != nil {
			return err
		}
		if metaGiven {
			v.Metadata = meta
			return setMeta(ctx, tx, "volume_metadata", "volume_id", v.ID, meta, true)
		}
		return nil
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"volume": s.volumeView(r, c, v)})
	return nil
}
