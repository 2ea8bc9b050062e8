package compute

import "testing"

// TestResourceRoutePolicies checks that every rule a resource route names is one of the
// registered defaults.
func TestResourceRoutePolicies(t *testing.T) {
	s := &Service{}
	defaults := defaultPolicies()
	var rs []route
	for _, g := range [][]route{s.versionRoutes(), s.flavorRoutes(), s.keypairRoutes(), s.serverGroupRoutes(), s.quotaRoutes()} {
		rs = append(rs, g...)
	}
	for _, rt := range rs {
		if rt.rule == "" {
			continue
		}
		if _, ok := defaults[rt.rule]; !ok {
			t.Errorf("%s %s: rule %q is not registered", rt.method, rt.path, rt.rule)
		}
	}
	for _, rule := range []string{ruleFlavorAccessRemove, ruleServerGroupIndexAll, ruleLimitsOtherProject, ruleExtraSpecsIndex} {
		if _, ok := defaults[rule]; !ok {
			t.Errorf("rule %q checked in handlers is not registered", rule)
		}
	}
}
