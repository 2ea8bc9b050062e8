package compute

import "context"

// hostZones maps each compute host that is in an aggregate with an availability_zone
// to that zone; hosts not in the map are in the default zone (Config.DefaultAvailabilityZone).
// (Placeholder; the availability zone file replaces it.)
func (s *Service) hostZones(ctx context.Context, q querier) (map[string]string, error) {
	return map[string]string{}, nil
}
