package compute

import (
	"net/http"
	"slices"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
)

// limitNames maps quota resources to their names in GET /limits (Nova's limits view).
var limitNames = []struct {
	resource string
	names    []string
}{
	{"ram", []string{"maxTotalRAMSize"}},
	{"instances", []string{"maxTotalInstances"}},
	{"cores", []string{"maxTotalCores"}},
	{"key_pairs", []string{"maxTotalKeypairs"}},
	{"floating_ips", []string{"maxTotalFloatingIps"}},
	{"metadata_items", []string{"maxServerMeta", "maxImageMeta"}},
	{"injected_files", []string{"maxPersonality"}},
	{"injected_file_content_bytes", []string{"maxPersonalitySize"}},
	{"security_groups", []string{"maxSecurityGroups"}},
	{"security_group_rules", []string{"maxSecurityGroupRules"}},
	{"server_groups", []string{"maxServerGroups"}},
	{"server_group_members", []string{"maxServerGroupMembers"}},
}

// usedNames maps the "total*Used" entries to their resources.
var usedNames = []struct{ name, resource string }{
	{"totalRAMUsed", "ram"},
	{"totalCoresUsed", "cores"},
	{"totalInstancesUsed", "instances"},
	{"totalFloatingIpsUsed", "floating_ips"},
	{"totalSecurityGroupsUsed", "security_groups"},
	{"totalServerGroupsUsed", "server_groups"},
}

// handleLimits is GET /limits: the project's absolute limits and usage (another
// project's with tenant_id, for admins). From 2.36 the network limits go, from 2.39
// maxImageMeta, from 2.57 the personality limits.
func (s *Service) handleLimits(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	q := r.URL.Query()
	if c.at(75) {
		if err := checkQuery(q, "tenant_id"); err != nil {
			return err
		}
	}
	project := c.caller.ProjectID
	if q.Has("tenant_id") {
		project = q.Get("tenant_id")
		if err := s.authorize(c, ruleLimitsOtherProject, nil); err != nil {
			return err
		}
	}
	var hidden []string
	if c.at(36) {
		hidden = []string{"floating_ips", "security_groups", "security_group_rules"}
	}
	if c.at(57) {
		hidden = append(hidden, "injected_files", "injected_file_content_bytes")
	}
	limits, err := projectLimits(r.Context(), s.db, project)
	if err != nil {
		return err
	}
	use, err := quotaUsage(r.Context(), s.db, project, "")
	if err != nil {
		return err
	}
	abs := map[string]any{}
	for _, ln := range limitNames {
		if slices.Contains(hidden, ln.resource) {
			continue
		}
		for _, n := range ln.names {
			if n == "maxImageMeta" && c.at(39) {
				continue
			}
			abs[n] = limits[ln.resource]
		}
	}
	for _, un := range usedNames {
		if slices.Contains(hidden, un.resource) {
			continue
		}
		abs[un.name] = use[un.resource]
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"limits": map[string]any{"rate": []any{}, "absolute": abs}})
	return nil
}
