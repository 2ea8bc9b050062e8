package volume

import (
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
	{"os-quota-class-sets", "QuotaClasses", "Quota classes management support."},
	{"os-quota-sets", "Quotas", "Quota management support."},
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
			"volume_backend_name": d.Name(), "vendor_name": "gostack", "driver_version": "1.0",
			"storage_protocol": "file", "total_capacity_gb": capa.TotalGB, "free_capacity_gb": capa.FreeGB,
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
