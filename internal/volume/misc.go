package volume

import (
	"fmt"
	"net/http"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// This file holds the small read-only resources: availability zones, extensions and
// the scheduler's pool statistics.

// ruleGetPools is scheduler_extension:scheduler_stats:get_pools.
const ruleGetPools = "scheduler_extension:scheduler_stats:get_pools"

// availabilityZoneRoutes are /os-availability-zone (any authenticated caller).
func (s *Service) availabilityZoneRoutes() []route {
	return []route{{method: "GET", path: "/os-availability-zone", handle: s.listAvailabilityZones}}
}

// listAvailabilityZones lists the zones of the enabled cinder-volume services: the
// zone is available when one of them is up.
func (s *Service) listAvailabilityZones(w http.ResponseWriter, r *http.Request, c *call) error {
	rows, err := s.loadServices(r.Context(), "", binaryVolume)
	if err != nil {
		return err
	}
	zones := map[string]bool{}
	var order []string
	for _, sv := range rows {
		if sv.disabled {
			continue
		}
		if _, seen := zones[sv.zone]; !seen {
			order = append(order, sv.zone)
		}
		zones[sv.zone] = zones[sv.zone] || s.up(sv)
	}
	out := make([]map[string]any, 0, len(order))
	for _, z := range order {
		out = append(out, map[string]any{"zoneName": z, "zoneState": map[string]any{"available": zones[z]}})
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"availabilityZoneInfo": out})
	return nil
}

// extensionRoutes are /extensions.
func (s *Service) extensionRoutes() []route {
	return []route{{method: "GET", path: "/extensions", handle: s.listExtensions}}
}

// cinderExtensions are the extensions Cinder's API lists (alias, name, description).
var cinderExtensions = [][3]string{
	{"os-admin-actions", "AdminActions", "Enable admin actions."},
	{"os-availability-zone", "AvailabilityZones", "Describe Availability Zones."},
	{"backups", "Backups", "Backups support."},
	{"os-extended-services", "ExtendedServices", "Extended services support."},
	{"os-extended-snapshot-attributes", "ExtendedSnapshotAttributes", "Extended SnapshotAttributes support."},
	{"os-hosts", "Hosts", "Admin-only host administration."},
	{"qos-specs", "Qos_specs_manage", "QoS specs support."},
	{"os-quota-class-sets", "QuotaClasses", "Quota classes management support."},
	{"os-quota-sets", "Quotas", "Quota management support."},
	{"OS-SCH-HNT", "SchedulerHints", "Pass arbitrary key/value pairs to the scheduler."},
	{"scheduler-stats", "Scheduler_stats", "Scheduler stats support."},
	{"os-services", "Services", "Services support."},
	{"os-snapshot-actions", "SnapshotActions", "Enable snapshot manager actions."},
	{"os-types-extra-specs", "TypesExtraSpecs", "Type extra specs support."},
	{"os-types-manage", "TypesManage", "Types manage support."},
	{"os-used-limits", "UsedLimits", "Provide data on limited resources that are being used."},
	{"os-volume-actions", "VolumeActions", "Enable volume actions."},
	{"os-vol-host-attr", "VolumeHostAttribute", "Expose host as an attribute of a volume."},
	{"os-vol-image-meta", "VolumeImageMetadata", "Show image metadata associated with the volume."},
	{"os-vol-mig-status-attr", "VolumeMigStatusAttribute", "Expose migration_status as an attribute of a volume."},
	{"os-vol-tenant-attr", "VolumeTenantAttribute", "Expose the internal project_id as an attribute of a volume."},
	{"os-volume-transfer", "VolumeTransfer", "Volume transfer management support."},
	{"os-volume-type-access", "VolumeTypeAccess", "Volume type access support."},
}

// listExtensions is GET /extensions.
func (s *Service) listExtensions(w http.ResponseWriter, r *http.Request, c *call) error {
	out := make([]map[string]any, 0, len(cinderExtensions))
	for _, e := range cinderExtensions {
		out = append(out, map[string]any{"alias": e[0], "name": e[1], "description": e[2], "links": []any{},
			"updated": "2013-10-03T00:00:00+00:00"})
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"extensions": out})
	return nil
}

// schedulerStatsRoutes are /scheduler-stats/get_pools (admin).
func (s *Service) schedulerStatsRoutes() []route {
	return []route{{method: "GET", path: "/scheduler-stats/get_pools", rule: ruleGetPools, handle: s.getPools}}
}

// getPools is GET /scheduler-stats/get_pools[?detail=true]: this host's backend pool with
// its capacity as the scheduler sees it.
func (s *Service) getPools(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	d, _ := s.backend()
	if d == nil {
		api.WriteJSON(w, http.StatusOK, map[string]any{"pools": []any{}})
		return nil
	}
	pool := map[string]any{"name": s.poolHost()}
	if b, ok := boolValue(r.URL.Query().Get("detail")); ok && b {
		ctx := r.Context()
		capa, err := d.Capacity(ctx)
		if err != nil {
			return err
		}
		var provisioned int64
		if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM volume_volumes WHERE deleted = ? AND host = ?`,
			false, s.poolHost()).Scan(&provisioned); err != nil {
			return err
		}
		ts := isoTime(store.FormatTime(now()))
		pool["capabilities"] = map[string]any{
			"volume_backend_name": d.Name(), "vendor_name": vendorName, "driver_version": driverVersion,
			"storage_protocol": storageProtocol, "total_capacity_gb": capa.TotalGB, "free_capacity_gb": capa.FreeGB,
			"provisioned_capacity_gb": provisioned, "allocated_capacity_gb": provisioned,
			"max_over_subscription_ratio": s.cfg.MaxOverSubscriptionRatio,
			"reserved_percentage":         int(s.cfg.ReservedPercentage), "thin_provisioning_support": capa.ThinProvisioning,
			"thick_provisioning_support": !capa.ThinProvisioning, "QoS_support": false, "multiattach": true,
			"pool_name": d.Name(), "backend_state": "up", "updated": ts, "timestamp": ts,
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"pools": []any{pool}})
	return nil
}

// Host and capability rules (cinder/policies/hosts.py, capabilities.py).
const (
	ruleHosts        = "volume_extension:hosts"
	ruleCapabilities = "volume_extension:capabilities"
)

// hostRoutes are /os-hosts (admin): the services' hosts and per-project usage of a
// cinder-volume host.
func (s *Service) hostRoutes() []route {
	return []route{
		{method: "GET", path: "/os-hosts", rule: ruleHosts, handle: s.listHosts},
		{method: "GET", path: "/os-hosts/{host}", rule: ruleHosts, handle: s.showHost},
		{method: "GET", path: "/capabilities/{host}", rule: ruleCapabilities, handle: s.showCapabilities},
	}
}

// listHosts is GET /os-hosts.
func (s *Service) listHosts(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	rows, err := s.loadServices(r.Context(), "", "")
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(rows))
	for _, sv := range rows {
		status, state := "unavailable", "enabled"
		if s.up(sv) {
			status = "available"
		}
		if sv.disabled {
			state = "disabled"
		}
		updated := sv.updatedAt
		if updated == "" {
			updated = sv.createdAt
		}
		out = append(out, map[string]any{"host_name": sv.host, "service": sv.binary, "zone": sv.zone,
			"service-status": status, "service-state": state, "last-update": isoTime(updated)})
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"hosts": out})
	return nil
}

// showHost is GET /os-hosts/{host}: usage per project on an enabled cinder-volume host.
func (s *Service) showHost(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	ctx := r.Context()
	host := r.PathValue("host")
	rows, err := s.loadServices(ctx, "", binaryVolume)
	if err != nil {
		return err
	}
	found := false
	for _, sv := range rows {
		found = found || (sv.host == host && !sv.disabled)
	}
	if !found {
		return notFound("Host %s could not be found.", host)
	}
	type usage struct{ vols, volGB, snaps, snapGB int64 }
	per := map[string]*usage{}
	q, err := s.db.QueryContext(ctx, `SELECT project_id, COUNT(*), COALESCE(SUM(size), 0) FROM volume_volumes
		WHERE deleted = ? AND (host = ? OR host LIKE ?) GROUP BY project_id`, false, host, host+"#%")
	if err != nil {
		return err
	}
	for q.Next() {
		var p string
		u := &usage{}
		if err := q.Scan(&p, &u.vols, &u.volGB); err != nil {
			q.Close()
			return err
		}
		per[p] = u
	}
	q.Close()
	if err := q.Err(); err != nil {
		return err
	}
	q, err = s.db.QueryContext(ctx, `SELECT s.project_id, COUNT(*), COALESCE(SUM(s.volume_size), 0) FROM volume_snapshots s
		JOIN volume_volumes v ON v.id = s.volume_id WHERE s.deleted = ? AND (v.host = ? OR v.host LIKE ?)
		GROUP BY s.project_id`, false, host, host+"#%")
	if err != nil {
		return err
	}
	for q.Next() {
		var p string
		var n, gb int64
		if err := q.Scan(&p, &n, &gb); err != nil {
			q.Close()
			return err
		}
		if per[p] == nil {
			per[p] = &usage{}
		}
		per[p].snaps, per[p].snapGB = n, gb
	}
	q.Close()
	if err := q.Err(); err != nil {
		return err
	}
	var total usage
	for _, u := range per {
		total.vols += u.vols
		total.volGB += u.volGB
		total.snaps += u.snaps
		total.snapGB += u.snapGB
	}
	res := func(project string, u usage) map[string]any {
		return map[string]any{"resource": map[string]any{"host": host, "project": project,
			"volume_count": fmt.Sprint(u.vols), "total_volume_gb": fmt.Sprint(u.volGB),
			"snapshot_count": fmt.Sprint(u.snaps), "total_snapshot_gb": fmt.Sprint(u.snapGB)}}
	}
	out := []map[string]any{res("(total)", total)}
	for p, u := range per {
		out = append(out, res(p, *u))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"host": out})
	return nil
}

// showCapabilities is GET /capabilities/{host} (admin): the backend's capabilities.
func (s *Service) showCapabilities(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	d, _ := s.backend()
	host := r.PathValue("host")
	if d == nil || (host != s.volumeHost() && host != s.poolHost()) {
		return notFound("Host %s could not be found.", host)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"namespace": "OS::Storage::Capabilities::" + s.volumeHost(), "vendor_name": vendorName,
		"volume_backend_name": d.Name(), "pool_name": d.Name(), "driver_version": driverVersion,
		"storage_protocol": storageProtocol, "display_name": nil, "description": nil, "visibility": nil,
		"replication_targets": []any{},
		"properties": map[string]any{
			"thin_provisioning": map[string]any{"title": "Thin Provisioning", "type": "boolean",
				"description": "Sets thin provisioning."},
		},
	})
	return nil
}

// What the backend reports about itself (Cinder's reference drivers say "Open Source").
const (
	vendorName      = "Open Source"
	driverVersion   = "1.0.0"
	storageProtocol = "file"
)
