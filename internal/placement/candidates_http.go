package placement

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// candidateRoutes is GET /allocation_candidates (1.10 and later).
func (s *Service) candidateRoutes() []route {
	return []route{{method: "GET", path: "/allocation_candidates", rule: policyCandidateList, minVer: v(10), handle: s.listCandidates}}
}

// Query schemas of GET /allocation_candidates (placement/schemas/allocation_candidate.py).
var (
	candSchema110 = obj("resources", str()).req("resources").strict()
	candSchema116 = candSchema110.with("limit", &schema{types: []string{"integer", "string"}, pattern: regexp.MustCompile(`^[1-9][0-9]*$`),
		min: f64(1), minLen: 1})
	candSchema117 = candSchema116.with("required", str())
	candSchema121 = candSchema117.with("member_of", str())
	candSchema125 = func() *schema {
		s := candSchema121.without("resources").without("required").without("member_of")
		s.required = nil
		for _, k := range []string{"resources", "required", "member_of"} {
			s = s.pat("^"+k+"("+groupPat+")?$", str())
		}
		return s.with("group_policy", &schema{types: []string{"string"}, enum: []string{"none", "isolate"}})
	}()
	candSchema131 = candSchema125.clone().pat("^in_tree("+groupPat+")?$", str())
	candSchema133 = func() *schema {
		s := candSchema131.clone()
		s.patternProps = nil
		for _, k := range []string{"resources", "required", "member_of", "in_tree"} {
			s = s.pat("^"+k+"("+groupPat133+")?$", str())
		}
		return s
	}()
	candSchema135 = candSchema133.with("root_required", str())
	candSchema136 = candSchema135.with("same_subtree", str())

	groupKeyRE    = regexp.MustCompile(`^(resources|required|member_of|in_tree)(` + groupPat + `)?$`)
	groupKeyRE133 = regexp.MustCompile(`^(resources|required|member_of|in_tree)(` + groupPat133 + `)?$`)
)

// candidateSchema returns the query schema for a version.
func candidateSchema(c *call) *schema {
	switch {
	case c.at(36):
		return candSchema136
	case c.at(35):
		return candSchema135
	case c.at(33):
		return candSchema133
	case c.at(31):
		return candSchema131
	case c.at(25):
		return candSchema125
	case c.at(21):
		return candSchema121
	case c.at(17):
		return candSchema117
	case c.at(16):
		return candSchema116
	}
	return candSchema110
}

// queryKeys returns the query's keys in the order they first appear, as Placement iterates
// req.GET.
func queryKeys(raw string) []string {
	var out []string
	seen := map[string]bool{}
	for _, pair := range strings.Split(raw, "&") {
		if pair == "" {
			continue
		}
		k, _, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil || seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, key)
	}
	return out
}

// parseWideParams is RequestWideParams.from_request.
func parseWideParams(q url.Values, c *call) (requestWide, error) {
	w := requestWide{nestedAware: c.at(29)}
	if vs := q["limit"]; len(vs) > 0 {
		n, err := strconv.Atoi(vs[0])
		if err != nil {
			return w, badRequest("Invalid query string parameters: %s does not match '^[1-9][0-9]*$'", pyRepr(vs[0]))
		}
		w.limit = n
	}
	if vs := q["group_policy"]; len(vs) > 0 {
		w.groupPolicy = vs[0]
	}
	if vs := q["root_required"]; len(vs) > 0 {
		if len(vs) > 1 {
			return w, perr(http.StatusBadRequest, codeDuplicateQuery, "Query parameter 'root_required' may be specified only once.")
		}
		req, forb, err := parseTraitsValue(vs[0], true, false)
		if err != nil {
			return w, err
		}
		for _, anyOf := range req {
			w.rootRequired = appendUnique(w.rootRequired, anyOf[0])
		}
		w.rootForbidden = forb
		var conflicts []string
		for _, f := range forb {
			for _, r := range w.rootRequired {
				if f == r {
					conflicts = append(conflicts, f)
				}
			}
		}
		if len(conflicts) > 0 {
			return w, perr(http.StatusBadRequest, codeQueryBadValue, "Conflicting required and forbidden traits found in root_required: %s",
				strings.Join(conflicts, ", "))
		}
	}
	for _, val := range q["same_subtree"] {
		var suffixes []string
		for _, part := range strings.Split(val, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				return w, perr(http.StatusBadRequest, codeQueryBadValue, "Empty string (unsuffixed group) can not be specified in `same_subtree` ")
			}
			suffixes = appendUnique(suffixes, part)
		}
		w.sameSubtrees = append(w.sameSubtrees, suffixes)
	}
	return w, nil
}

// parseGroups is RequestGroup.dict_from_request: the request groups by suffix, in the
// order their first parameter appears, with Placement's consistency checks.
func parseGroups(r *http.Request, q url.Values, c *call, wide requestWide) ([]*requestGroup, error) {
	re := groupKeyRE
	if c.at(33) {
		re = groupKeyRE133
	}
	bySuffix := map[string]*requestGroup{}
	var groups []*requestGroup
	for _, key := range queryKeys(r.URL.RawQuery) {
		m := re.FindStringSubmatch(key)
		if m == nil {
			continue
		}
		prefix, suffix := m[1], m[2]
		g := bySuffix[suffix]
		if g == nil {
			g = &requestGroup{suffix: suffix, useSameProvider: suffix != ""}
			bySuffix[suffix] = g
			groups = append(groups, g)
		}
		var err error
		switch prefix {
		case "resources":
			g.resources, err = parseResources(lastValue(q, key))
		case "required":
			g.required, g.forbidden, err = requiredTraitsParam(q, suffix, c)
		case "member_of":
			g.memberOf, g.forbiddenAggs, err = memberOfParam(q, suffix, c)
		case "in_tree":
			g.inTree, err = inTreeParam(lastValue(q, key))
		}
		if err != nil {
			return nil, err
		}
	}
	if c.at(36) {
		var resourceless []string
		for _, g := range groups {
			if len(g.resources) == 0 {
				resourceless = append(resourceless, g.suffix)
			}
		}
		if len(resourceless) == len(groups) {
			return nil, perr(http.StatusBadRequest, codeQueryMissingValue, "There must be at least one resources or resources[$S] parameter.")
		}
		inSubtree := map[string]bool{}
		for _, set := range wide.sameSubtrees {
			for _, sfx := range set {
				inSubtree[sfx] = true
			}
		}
		var bad []string
		for _, sfx := range resourceless {
			if !inSubtree[sfx] {
				bad = append(bad, sfx)
			}
		}
		if len(bad) > 0 {
			return nil, perr(http.StatusBadRequest, codeQueryBadValue, "Resourceless suffixed group request should be specified in "+
				"`same_subtree` query param: bad group(s) - %s.", pyList(bad))
		}
		bad = nil
		for _, sfx := range sortedKeys(inSubtree) {
			if bySuffix[sfx] == nil {
				bad = append(bad, sfx)
			}
		}
		if len(bad) > 0 {
			var all []string
			for _, g := range groups {
				all = append(all, g.suffix)
			}
			return nil, perr(http.StatusBadRequest, codeQueryBadValue, "Real suffixes should be specified in `same_subtree`: "+
				"%s not found in %s.", pyList(bad), pyList(all))
		}
	} else {
		var orphans []string
		for _, g := range groups {
			if len(g.required) > 0 && len(g.resources) == 0 {
				orphans = append(orphans, "required"+g.suffix)
			}
		}
		if len(orphans) > 0 {
			return nil, badRequest("All traits parameters must be associated with resources.  Found the following orphaned traits keys: %s",
				strings.Join(orphans, ", "))
		}
		for _, g := range groups {
			if len(g.resources) == 0 && (len(g.memberOf) > 0 || len(g.forbiddenAggs) > 0) {
				orphans = append(orphans, "member_of"+g.suffix)
			}
		}
		if len(orphans) > 0 {
			return nil, badRequest("All member_of parameters must be associated with resources. Found the following orphaned "+
				"member_of keys: %s", strings.Join(orphans, ", "))
		}
		for _, g := range groups {
			if len(g.resources) == 0 {
				return nil, badRequest("All request groups must specify resources.")
			}
		}
		if len(groups) == 0 {
			return nil, badRequest("At least one request group (`resources` or `resources{$S}`) is required.")
		}
	}
	if c.at(22) {
		var conflicts []string
		for _, g := range groups {
			forb := map[string]bool{}
			for _, f := range g.forbidden {
				forb[f] = true
			}
			for _, anyOf := range g.required {
				all := true
				for _, t := range anyOf {
					all = all && forb[t]
				}
				if all {
					sorted := append([]string(nil), anyOf...)
					sort.Strings(sorted)
					conflicts = append(conflicts, fmt.Sprintf("required%s: (%s)", g.suffix, strings.Join(sorted, ", ")))
				}
			}
		}
		if len(conflicts) > 0 {
			sort.Strings(conflicts)
			return nil, badRequest("Conflicting required and forbidden traits found in the following traits keys: %s",
				strings.Join(conflicts, ", "))
		}
	}
	return groups, nil
}

// pyList renders strings as a Python list's repr.
func pyList(list []string) string {
	parts := make([]string, len(list))
	for i, s := range list {
		parts[i] = pyRepr(s)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// listCandidates handles GET /allocation_candidates.
func (s *Service) listCandidates(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	if err := validateQuery(q, candidateSchema(c)); err != nil {
		return err
	}
	wide, err := parseWideParams(q, c)
	if err != nil {
		return err
	}
	wide.maxCandidates = s.cfg.MaxAllocationCandidates
	groups, err := parseGroups(r, q, c, wide)
	if err != nil {
		return err
	}
	if wide.groupPolicy == "" {
		n := 0
		for _, g := range groups {
			if g.useSameProvider {
				n++
			}
		}
		if n > 1 {
			return badRequest("The \"group_policy\" parameter is required when specifying more than one \"resources{N}\" parameter.")
		}
	}
	snap, err := s.currentSnapshot(r.Context())
	if err != nil {
		return err
	}
	used, err := liveUsage(r.Context(), s.db, snap)
	if err != nil {
		return err
	}
	res, err := findCandidates(snap, used, groups, wide)
	if err != nil {
		return err
	}
	body := candidatesJSON(c, groups, res)
	setLastModified(w, c, time.Now())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

// candidatesJSON encodes the answer for the request's microversion: allocation requests
// as a list of {resource_provider, resources} before 1.12 and keyed by provider after,
// with mappings from 1.34; summaries with only the requested classes before 1.27, traits
// from 1.17, parent and root from 1.29. It writes the JSON directly: with a thousand
// candidates and their summaries, reflection-based encoding of maps would be most of the
// request's time.
func candidatesJSON(c *call, groups []*requestGroup, res *candidateResult) []byte {
	requested := map[string]bool{}
	for _, g := range groups {
		for _, ra := range g.resources {
			requested[ra.rc] = true
		}
	}
	b := make([]byte, 0, 256*(len(res.areqs)+len(res.summaries))+64)
	b = append(b, `{"allocation_requests":[`...)
	type rpRes struct {
		rp  string
		res []arr
	}
	for i, a := range res.areqs {
		if i > 0 {
			b = append(b, ',')
		}
		var groupsByRP []rpRes
		for _, rr := range a.resources {
			found := false
			for k := range groupsByRP {
				if groupsByRP[k].rp == rr.rp {
					groupsByRP[k].res = append(groupsByRP[k].res, rr)
					found = true
					break
				}
			}
			if !found {
				groupsByRP = append(groupsByRP, rpRes{rp: rr.rp, res: []arr{rr}})
			}
		}
		writeRes := func(b []byte, list []arr) []byte {
			b = append(b, '{')
			for j, rr := range list {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, rr.rc)
				b = append(b, ':')
				b = strconv.AppendInt(b, rr.amount, 10)
			}
			return append(b, '}')
		}
		if !c.at(12) {
			b = append(b, `{"allocations":[`...)
			for j, g := range groupsByRP {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"resource_provider":{"uuid":`...)
				b = appendJSONString(b, g.rp)
				b = append(b, `},"resources":`...)
				b = writeRes(b, g.res)
				b = append(b, '}')
			}
			b = append(b, "]}"...)
			continue
		}
		b = append(b, `{"allocations":{`...)
		for j, g := range groupsByRP {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, g.rp)
			b = append(b, `:{"resources":`...)
			b = writeRes(b, g.res)
			b = append(b, '}')
		}
		b = append(b, '}')
		if c.at(34) {
			b = append(b, `,"mappings":{`...)
			for j, m := range a.mappings {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, m.suffix)
				b = append(b, ":["...)
				for k, rp := range m.rps {
					if k > 0 {
						b = append(b, ',')
					}
					b = appendJSONString(b, rp)
				}
				b = append(b, ']')
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	b = append(b, `],"provider_summaries":{`...)
	for i, p := range res.summaries {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, p.uuid)
		b = append(b, `:{"resources":{`...)
		n := 0
		for _, si := range p.invs {
			if !c.at(27) && !requested[si.ResourceClass] {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = appendJSONString(b, si.ResourceClass)
			b = append(b, `:{"capacity":`...)
			b = strconv.AppendInt(b, si.capacity(), 10)
			b = append(b, `,"used":`...)
			b = strconv.AppendInt(b, res.used[si.idx], 10)
			b = append(b, '}')
		}
		b = append(b, '}')
		if c.at(17) {
			b = append(b, `,"traits":[`...)
			for j, t := range p.traits {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, t)
			}
			b = append(b, ']')
		}
		if c.at(29) {
			b = append(b, `,"parent_provider_uuid":`...)
			if p.parent == "" {
				b = append(b, "null"...)
			} else {
				b = appendJSONString(b, p.parent)
			}
			b = append(b, `,"root_provider_uuid":`...)
			b = appendJSONString(b, p.root)
		}
		b = append(b, '}')
	}
	return append(b, "}}"...)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
