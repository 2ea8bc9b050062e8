package compute

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
)

// hostZones maps each host that is in an aggregate with availability_zone metadata to
// its zone; hosts not in the map are in the default zone (Config.DefaultAvailabilityZone).
// A host is never in two zones (adding it to an aggregate of another zone is refused),
// but should the records say otherwise the zones are joined with commas, as Nova's
// set_availability_zones shows them.
func (s *Service) hostZones(ctx context.Context, q querier) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT DISTINCT h.host, m.value FROM compute_aggregate_hosts h
		JOIN compute_aggregate_metadata m ON m.aggregate_id = h.aggregate_id AND m.key = 'availability_zone'
		ORDER BY h.host, m.value`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	zones := map[string][]string{}
	for rows.Next() {
		var host, zone string
		if err := rows.Scan(&host, &zone); err != nil {
			return nil, err
		}
		zones[host] = append(zones[host], zone)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(zones))
	for h, zs := range zones {
		out[h] = strings.Join(zs, ",")
	}
	return out, nil
}

// zonedService is a service with the availability zone Nova shows it in.
type zonedService struct {
	svc  *computeService
	zone string
}

// zonedServices reads every service with its zone.
func (s *Service) zonedServices(ctx context.Context) ([]zonedService, error) {
	svcs, err := listServiceRecords(ctx, s.db)
	if err != nil {
		return nil, err
	}
	zones, err := s.hostZones(ctx, s.db)
	if err != nil {
		return nil, err
	}
	out := make([]zonedService, 0, len(svcs))
	for _, sv := range svcs {
		out = append(out, zonedService{svc: sv, zone: s.serviceZone(sv, zones)})
	}
	return out, nil
}

// splitZones is Nova's get_availability_zones: the zones with an enabled service are
// available, those with only disabled services are not; both sorted.
func splitZones(services []zonedService) (available, unavailable []string) {
	avail := map[string]bool{}
	for _, z := range services {
		if !z.svc.Disabled {
			avail[z.zone] = true
		}
	}
	unavail := map[string]bool{}
	for _, z := range services {
		if z.svc.Disabled && !avail[z.zone] {
			unavail[z.zone] = true
		}
	}
	for z := range avail {
		available = append(available, z)
	}
	for z := range unavail {
		unavailable = append(unavailable, z)
	}
	slices.Sort(available)
	slices.Sort(unavailable)
	return available, unavailable
}

// zonesQuery is the availability zone APIs' query schema: anything goes before 2.102.
var zonesQuery = querySchema{params: map[string]queryParam{}}

// listAvailabilityZones is GET /os-availability-zone: every zone with its availability,
// the internal zone hidden.
func (s *Service) listAvailabilityZones(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := zonesQuery.validate(r.URL.Query()); err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	services, err := s.zonedServices(r.Context())
	if err != nil {
		return err
	}
	available, unavailable := splitZones(services)
	info := []map[string]any{}
	for _, group := range []struct {
		zones []string
		ok    bool
	}{{available, true}, {unavailable, false}} {
		for _, z := range group.zones {
			if z == internalZone {
				continue
			}
			info = append(info, map[string]any{"zoneName": z, "zoneState": map[string]any{"available": group.ok}, "hosts": nil})
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"availabilityZoneInfo": info})
	return nil
}

// detailAvailabilityZones is GET /os-availability-zone/detail: the available zones with
// their hosts and each host's enabled services (up or down, active, last update),
// including the internal zone of the conductor and scheduler; unavailable zones without
// hosts.
func (s *Service) detailAvailabilityZones(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := zonesQuery.validate(r.URL.Query()); err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	services, err := s.zonedServices(r.Context())
	if err != nil {
		return err
	}
	available, unavailable := splitZones(services)
	hosts := map[string]map[string]map[string]any{}
	for _, z := range services {
		if z.svc.Disabled || apiServiceBinaries[z.svc.Binary] {
			continue
		}
		if hosts[z.zone] == nil {
			hosts[z.zone] = map[string]map[string]any{}
		}
		if hosts[z.zone][z.svc.Host] == nil {
			hosts[z.zone][z.svc.Host] = map[string]any{}
		}
		hosts[z.zone][z.svc.Host][z.svc.Binary] = map[string]any{
			"available":  s.serviceUp(z.svc),
			"active":     !z.svc.Disabled,
			"updated_at": adminOptTimestamp(z.svc.UpdatedAt),
		}
	}
	info := []map[string]any{}
	for _, z := range available {
		zh := map[string]any{}
		for h, svcs := range hosts[z] {
			zh[h] = svcs
		}
		info = append(info, map[string]any{"zoneName": z, "zoneState": map[string]any{"available": true}, "hosts": zh})
	}
	for _, z := range unavailable {
		info = append(info, map[string]any{"zoneName": z, "zoneState": map[string]any{"available": false}, "hosts": nil})
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"availabilityZoneInfo": info})
	return nil
}
