package placement

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// queryDict returns the query as Placement's schema validation sees it (dict(req.GET)):
// each key with its last value.
func queryDict(q url.Values) map[string]any {
	out := make(map[string]any, len(q))
	for k, vs := range q {
		if len(vs) > 0 {
			out[k] = vs[len(vs)-1]
		}
	}
	return out
}

// validateQuery checks the query against a schema, as util.validate_query_params does.
func validateQuery(q url.Values, s *schema) error {
	if msg := s.validate(queryDict(q)); msg != "" {
		return badRequest("Invalid query string parameters: %s", msg)
	}
	return nil
}

// parseResources parses a resources query value ("VCPU:2,MEMORY_MB:1024"), as
// util.normalize_resources_qs_param does. A class named twice keeps its first position
// and its last amount.
func parseResources(val string) ([]resourceAmount, error) {
	if strings.TrimSpace(val) == "" {
		return nil, badRequest("Badly formed resources parameter. Expected resources query string parameter in form: " +
			"?resources=VCPU:2,MEMORY_MB:1024. Got: empty string.")
	}
	var out []resourceAmount
	for _, part := range strings.Split(val, ",") {
		fields := strings.Split(part, ":")
		if len(fields) != 2 {
			return nil, badRequest("Badly formed resources parameter. Expected resources query string parameter in form: "+
				"?resources=VCPU:2,MEMORY_MB:1024. Got: %s.", part)
		}
		rc, amountText := fields[0], fields[1]
		amount, err := strconv.ParseInt(strings.TrimSpace(amountText), 10, 64)
		if err != nil {
			return nil, badRequest("Requested resource %s expected positive integer amount. Got: %s.", rc, amountText)
		}
		if amount < 1 {
			return nil, badRequest("Requested resource %s requires amount >= 1. Got: %d.", rc, amount)
		}
		replaced := false
		for i := range out {
			if out[i].rc == rc {
				out[i].amount, replaced = amount, true
			}
		}
		if !replaced {
			out = append(out, resourceAmount{rc: rc, amount: amount})
		}
	}
	return out, nil
}

// parseTraitsValue parses one required/root_required value into AND-ed sets of OR-ed
// required traits and a set of forbidden traits (util.normalize_traits_qs_param).
func parseTraitsValue(val string, allowForbidden, allowAny bool) ([][]string, []string, error) {
	if strings.HasPrefix(val, "in:") {
		if !allowAny {
			return nil, nil, badRequest("Invalid query string parameters: The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' only "+
				"supported since microversion 1.39. Got: %s", val)
		}
		var anyOf []string
		seen := map[string]bool{}
		for _, t := range strings.Split(val[3:], ",") {
			t = strings.TrimSpace(t)
			if t == "" {
				return nil, nil, badRequest("Invalid query string parameters: Expected 'required' parameter value of the form: "+
					"in:HW_CPU_X86_VMX,CUSTOM_MAGIC. Got an empty trait in: %s", val)
			}
			if !seen[t] {
				seen[t] = true
				anyOf = append(anyOf, t)
			}
		}
		for _, t := range anyOf {
			if strings.HasPrefix(t, "!") {
				return nil, nil, badRequest("Invalid query string parameters: The format 'in:HW_CPU_X86_VMX,CUSTOM_MAGIC' does "+
					"not support forbidden traits. Got: %s", val)
			}
		}
		return [][]string{anyOf}, nil, nil
	}
	var required [][]string
	var forbidden []string
	all := strings.Split(val, ",")
	for i := range all {
		all[i] = strings.TrimSpace(all[i])
	}
	empty := false
	for _, t := range all {
		if t == "" || strings.HasPrefix(t, "!") && strings.TrimLeft(t, "!") == "" {
			empty = true
		}
	}
	if empty {
		form := "HW_CPU_X86_VMX,!CUSTOM_MAGIC"
		if !allowForbidden {
			form = "HW_CPU_X86_VMX,CUSTOM_MAGIC"
		}
		return nil, nil, badRequest("Invalid query string parameters: Expected 'required' parameter value of the form: "+
			"%s. Got an empty trait in: %s", form, val)
	}
	for _, t := range all {
		if strings.HasPrefix(t, "!") {
			forbidden = appendUnique(forbidden, strings.TrimLeft(t, "!"))
		} else {
			required = append(required, []string{t})
		}
	}
	if len(forbidden) > 0 && !allowForbidden {
		return nil, nil, badRequest("Invalid query string parameters: Expected 'required' parameter value of the form: "+
			"HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: %s", val)
	}
	return required, forbidden, nil
}

// requiredTraitsParam reads the required<suffix> parameters (util.normalize_traits_qs_params):
// forbidden traits from 1.22, the in: form and repeated parameters from 1.39 (earlier,
// only the last one counts).
func requiredTraitsParam(q url.Values, suffix string, c *call) ([][]string, []string, error) {
	values := q["required"+suffix]
	if !c.at(39) && len(values) > 1 {
		values = values[len(values)-1:]
	}
	var required [][]string
	var forbidden []string
	for _, val := range values {
		rts, fts, err := parseTraitsValue(val, c.at(22), c.at(39))
		if err != nil {
			return nil, nil, err
		}
		required = append(required, rts...)
		for _, f := range fts {
			forbidden = appendUnique(forbidden, f)
		}
	}
	return required, forbidden, nil
}

// memberOfParam reads the member_of<suffix> parameters (util.normalize_member_of_qs_params):
// repeated from 1.24, forbidden ("!") from 1.32.
func memberOfParam(q url.Values, suffix string, c *call) ([][]string, []string, error) {
	values := q["member_of"+suffix]
	if !c.at(24) && len(values) > 1 {
		return nil, nil, badRequest("Multiple member_of%s parameters are not supported", suffix)
	}
	var required [][]string
	var forbidden []string
	for _, val := range values {
		req, forb, err := parseMemberOf(val)
		if err != nil {
			return nil, nil, err
		}
		if len(req) > 0 {
			required = append(required, req)
		}
		if len(forb) > 0 {
			if !c.at(32) {
				return nil, nil, badRequest("Forbidden member_of%s parameters are not supported in the specified microversion", suffix)
			}
			for _, f := range forb {
				forbidden = appendUnique(forbidden, f)
			}
		}
	}
	return required, forbidden, nil
}

// parseMemberOf parses one member_of value: a UUID, "!UUID", "in:U1,U2" or "!in:U1,U2".
func parseMemberOf(val string) (required, forbidden []string, err error) {
	if strings.Contains(val, ",") && !strings.HasPrefix(val, "in:") && !strings.HasPrefix(val, "!in:") {
		return nil, nil, badRequest("Multiple values for 'member_of' must be prefixed with the 'in:' or '!in:' keyword "+
			"using the valid microversion. Got: %s", val)
	}
	switch {
	case strings.HasPrefix(val, "!in:"):
		forbidden = uniqueStrings(strings.Split(val[4:], ","))
	case strings.HasPrefix(val, "!"):
		forbidden = []string{val[1:]}
	case strings.HasPrefix(val, "in:"):
		required = uniqueStrings(strings.Split(val[3:], ","))
	default:
		required = []string{val}
	}
	for _, u := range append(append([]string{}, required...), forbidden...) {
		if !isUUIDLike(u) {
			return nil, nil, badRequest("Invalid query string parameters: Expected 'member_of' parameter to contain valid "+
				"UUID(s). Got: %s", u)
		}
	}
	return required, forbidden, nil
}

// inTreeParam validates an in_tree value (util.normalize_in_tree_qs_params).
func inTreeParam(val string) (string, error) {
	v := strings.TrimSpace(val)
	if !isUUIDLike(v) {
		return "", badRequest("Invalid query string parameters: Expected 'in_tree' parameter to be a format of uuid. Got: %s", val)
	}
	return v, nil
}

// appendUnique appends s unless present.
func appendUnique(list []string, s string) []string {
	for _, e := range list {
		if e == s {
			return list
		}
	}
	return append(list, s)
}

// uniqueStrings returns list without repeats, in order.
func uniqueStrings(list []string) []string {
	var out []string
	for _, s := range list {
		out = appendUnique(out, s)
	}
	return out
}

// pathValue returns a path wildcard, as the router decoded it.
func pathValue(r *http.Request, name string) string { return r.PathValue(name) }
