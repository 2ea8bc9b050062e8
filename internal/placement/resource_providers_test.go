package placement

import (
	"context"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
)

// checkUsage fails the test unless every inventory's used column equals the sum of the
// allocations against it, and no allocation lacks an inventory or a consumer.
func checkUsage(t testing.TB, tc *testCloud) {
	t.Helper()
	ctx := context.Background()
	rows, err := tc.db.QueryContext(ctx, `SELECT i.provider_uuid, i.resource_class, i.used,
		COALESCE((SELECT SUM(a.used) FROM placement_allocations a WHERE a.provider_uuid = i.provider_uuid
			AND a.resource_class = i.resource_class), 0)
		FROM placement_inventories i`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var rp, rc string
		var used, sum int64
		if err := rows.Scan(&rp, &rc, &used, &sum); err != nil {
			t.Fatal(err)
		}
		if used != sum {
			t.Errorf("inventory %s/%s: used column %d, allocations sum %d", rp, rc, used, sum)
		}
	}
	var orphans int
	if err := tc.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM placement_allocations a WHERE NOT EXISTS
		(SELECT 1 FROM placement_inventories i WHERE i.provider_uuid = a.provider_uuid AND i.resource_class = a.resource_class)
		OR NOT EXISTS (SELECT 1 FROM placement_consumers c WHERE c.uuid = a.consumer_uuid)`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Errorf("%d allocations without inventory or consumer", orphans)
	}
}

// names returns the sorted names of the providers in a list response.
func names(r resp) []string {
	var out []string
	for _, p := range r.body["resource_providers"].([]any) {
		out = append(out, p.(map[string]any)["name"].(string))
	}
	sort.Strings(out)
	return out
}

// linkRels returns the rel names of a provider's links.
func linkRels(p map[string]any) []string {
	var out []string
	for _, l := range p["links"].([]any) {
		out = append(out, l.(map[string]any)["rel"].(string))
	}
	return out
}

func TestRootVersionDocument(t *testing.T) {
	tc := newTestCloud(t)
	r := tc.doAs(t, "", "", "GET", "", nil).want(t, http.StatusOK)
	v := r.body["versions"].([]any)[0].(map[string]any)
	if v["id"] != "v1.0" || v["min_version"] != "1.0" || v["max_version"] != "1.39" || v["status"] != "CURRENT" {
		t.Errorf("version document: %s", r.raw)
	}
	if got := r.header.Get("OpenStack-API-Version"); got != "placement 1.0" {
		t.Errorf("OpenStack-API-Version: %q", got)
	}
	r = tc.doAs(t, "", "latest", "GET", "/", nil).want(t, http.StatusOK)
	if got := r.header.Get("OpenStack-API-Version"); got != "placement 1.39" {
		t.Errorf("latest: %q", got)
	}
	if r.header.Get("Last-Modified") == "" || r.header.Get("Cache-Control") != "no-cache" {
		t.Errorf("1.15+ caching headers missing: %v", r.header)
	}
}

func TestMicroversionErrors(t *testing.T) {
	tc := newTestCloud(t)
	r := tc.do(t, "1.40", "GET", "/resource_providers", nil).want(t, http.StatusNotAcceptable)
	if !strings.Contains(r.detail(), "Unacceptable version header: 1.40") {
		t.Errorf("406 detail: %q", r.detail())
	}
	e := r.body["errors"].([]any)[0].(map[string]any)
	if e["max_version"] != "1.39" || e["min_version"] != "1.0" || e["title"] != "Not Acceptable" {
		t.Errorf("406 body: %s", r.raw)
	}
	r = tc.do(t, "1.2.3", "GET", "/resource_providers", nil).want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "invalid version string: 1.2.3") {
		t.Errorf("400 detail: %q", r.detail())
	}
	// Error codes appear from 1.23.
	if r := tc.do(t, "1.22", "GET", "/resource_providers/x", nil).want(t, http.StatusNotFound); r.errCode() != "" {
		t.Errorf("1.22 error has a code: %s", r.raw)
	}
	r = tc.do(t, "1.23", "GET", "/resource_providers/x", nil).want(t, http.StatusNotFound)
	if r.errCode() != codeDefault || r.body["errors"].([]any)[0].(map[string]any)["request_id"] == "" {
		t.Errorf("1.23 error: %s", r.raw)
	}
	if !strings.HasPrefix(r.detail(), "The resource could not be found.\n\n No resource provider with uuid x found") {
		t.Errorf("detail: %q", r.detail())
	}
	// Routes that do not exist at a microversion are 404s, or 405 for DELETE inventories.
	tc.do(t, "1.1", "GET", "/resource_classes", nil).want(t, http.StatusNotFound)
	tc.do(t, "1.5", "GET", "/traits", nil).want(t, http.StatusNotFound)
	tc.do(t, "1.9", "GET", "/allocation_candidates?resources=VCPU:1", nil).want(t, http.StatusNotFound)
	tc.do(t, "1.29", "POST", "/reshaper", map[string]any{}).want(t, http.StatusNotFound)
	u := tc.createProvider(t, "cn", "")
	tc.do(t, "1.4", "DELETE", "/resource_providers/"+u+"/inventories", nil).want(t, http.StatusMethodNotAllowed)
	r = tc.do(t, "1.23", "PATCH", "/resource_providers", nil).want(t, http.StatusMethodNotAllowed)
	if r.header.Get("Allow") != "GET, POST" {
		t.Errorf("Allow: %q", r.header.Get("Allow"))
	}
	// Bodies must be JSON.
	r = tc.doRaw(t, "1.20", "POST", "/resource_providers", "text/plain", `name=x`).want(t, http.StatusUnsupportedMediaType)
	if !strings.Contains(r.detail(), "The media type text/plain is not supported, use application/json") {
		t.Errorf("415 detail: %q", r.detail())
	}
	r = tc.doRaw(t, "1.20", "GET", "/resource_providers", "", `x`).want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "content-type header required when content-length > 0") {
		t.Errorf("missing content type: %q", r.detail())
	}
}

func TestResourceProviderCRUD(t *testing.T) {
	tc := newTestCloud(t)
	// Before 1.20 create answers 201 with only a Location.
	r := tc.do(t, "1.19", "POST", "/resource_providers", map[string]any{"name": "old"}).want(t, http.StatusCreated)
	if r.raw != "" || !strings.HasPrefix(r.header.Get("Location"), "http://example.com/placement/resource_providers/") {
		t.Errorf("1.19 create: %q %v", r.raw, r.header)
	}
	// A dash-less uuid is normalized.
	r = tc.do(t, "1.20", "POST", "/resource_providers", map[string]any{"name": "new", "uuid": "AAAAAAAABBBBCCCCDDDDEEEEEEEEEEEE"}).
		want(t, http.StatusOK)
	uuid := r.body["uuid"].(string)
	if uuid != "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee" || r.num("generation") != 0 {
		t.Errorf("create: %s", r.raw)
	}
	if r.get("root_provider_uuid") != uuid || r.get("parent_provider_uuid") != nil {
		t.Errorf("1.14 tree fields: %s", r.raw)
	}
	// Shapes per microversion.
	r = tc.do(t, "1.0", "GET", "/resource_providers/"+uuid, nil).want(t, http.StatusOK)
	if _, ok := r.body["root_provider_uuid"]; ok || !slices.Equal(linkRels(r.body), []string{"self", "inventories", "usages"}) {
		t.Errorf("1.0 shape: %s", r.raw)
	}
	r = tc.do(t, "1.11", "GET", "/resource_providers/"+uuid, nil).want(t, http.StatusOK)
	if !slices.Equal(linkRels(r.body), []string{"self", "inventories", "usages", "aggregates", "traits", "allocations"}) {
		t.Errorf("1.11 links: %s", r.raw)
	}
	// Duplicates.
	r = tc.do(t, "1.23", "POST", "/resource_providers", map[string]any{"name": "new"}).want(t, http.StatusConflict)
	if r.errCode() != codeDuplicateName || !strings.Contains(r.detail(), "Conflicting resource provider name: new already exists") {
		t.Errorf("duplicate name: %s", r.raw)
	}
	r = tc.do(t, "1.23", "POST", "/resource_providers", map[string]any{"name": "other", "uuid": uuid}).want(t, http.StatusConflict)
	if !strings.Contains(r.detail(), "uuid: "+uuid) {
		t.Errorf("duplicate uuid: %s", r.raw)
	}
	// Bad input.
	for _, body := range []any{map[string]any{"name": strings.Repeat("x", 201)}, map[string]any{"name": "x", "uuid": "nope"},
		map[string]any{"name": "x", "extra": 1}, map[string]any{}, []any{}} {
		r = tc.do(t, "1.20", "POST", "/resource_providers", body).want(t, http.StatusBadRequest)
		if !strings.Contains(r.detail(), "JSON does not validate") {
			t.Errorf("%v: %s", body, r.raw)
		}
	}
	// parent_provider_uuid only from 1.14.
	tc.do(t, "1.13", "POST", "/resource_providers", map[string]any{"name": "c", "parent_provider_uuid": uuid}).want(t, http.StatusBadRequest)
	// Update.
	r = tc.do(t, "1.20", "PUT", "/resource_providers/"+uuid, map[string]any{"name": "renamed"}).want(t, http.StatusOK)
	if r.body["name"] != "renamed" {
		t.Errorf("update: %s", r.raw)
	}
	tc.do(t, "1.20", "PUT", "/resource_providers/"+uuid, map[string]any{"name": "old"}).want(t, http.StatusConflict)
	tc.do(t, "1.20", "PUT", "/resource_providers/nope", map[string]any{"name": "x"}).want(t, http.StatusNotFound)
	// Delete.
	tc.do(t, "1.20", "DELETE", "/resource_providers/"+uuid, nil).want(t, http.StatusNoContent)
	r = tc.do(t, "1.20", "DELETE", "/resource_providers/"+uuid, nil).want(t, http.StatusNotFound)
	if !strings.Contains(r.detail(), "No resource provider with uuid "+uuid+" found for delete") {
		t.Errorf("delete missing: %s", r.raw)
	}
}

func TestResourceProviderTree(t *testing.T) {
	tc := newTestCloud(t)
	root := tc.createProvider(t, "root", "")
	child := tc.createProvider(t, "child", root)
	grand := tc.createProvider(t, "grandchild", child)
	other := tc.createProvider(t, "other", "")
	r := tc.do(t, "1.20", "GET", "/resource_providers/"+grand, nil).want(t, http.StatusOK)
	if r.get("root_provider_uuid") != root || r.get("parent_provider_uuid") != child {
		t.Errorf("grandchild: %s", r.raw)
	}
	// Self-parenting and missing parents.
	self := "99999999-aaaa-bbbb-cccc-dddddddddddd"
	r = tc.do(t, "1.20", "POST", "/resource_providers", map[string]any{"name": "s", "uuid": self,
		"parent_provider_uuid": self}).want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "parent provider UUID cannot be same as UUID") {
		t.Errorf("self parent: %s", r.raw)
	}
	r = tc.do(t, "1.20", "POST", "/resource_providers", map[string]any{"name": "s",
		"parent_provider_uuid": "11111111-2222-3333-4444-555555555555"}).want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "parent provider UUID does not exist") {
		t.Errorf("missing parent: %s", r.raw)
	}
	// A parent with children cannot be deleted.
	r = tc.do(t, "1.23", "DELETE", "/resource_providers/"+root, nil).want(t, http.StatusConflict)
	if r.errCode() != codeCannotDeleteParent {
		t.Errorf("delete parent: %s", r.raw)
	}
	// in_tree lists the whole tree from any member.
	r = tc.do(t, "1.14", "GET", "/resource_providers?in_tree="+grand, nil).want(t, http.StatusOK)
	if got := names(r); !slices.Equal(got, []string{"child", "grandchild", "root"}) {
		t.Errorf("in_tree: %v", got)
	}
	// Re-parenting needs 1.37; a root may always gain a parent.
	r = tc.do(t, "1.36", "PUT", "/resource_providers/"+child, map[string]any{"name": "child", "parent_provider_uuid": other}).
		want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "re-parenting a provider is not currently allowed") {
		t.Errorf("re-parent at 1.36: %s", r.raw)
	}
	r = tc.do(t, "1.36", "PUT", "/resource_providers/"+child, map[string]any{"name": "child", "parent_provider_uuid": nil}).
		want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "un-parenting a provider is not currently allowed") {
		t.Errorf("un-parent at 1.36: %s", r.raw)
	}
	r = tc.do(t, "1.37", "PUT", "/resource_providers/"+root, map[string]any{"name": "root", "parent_provider_uuid": grand}).
		want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "creating loop in the provider tree is not allowed") {
		t.Errorf("loop: %s", r.raw)
	}
	// Moving child (with its grandchild) under other moves the subtree's root.
	tc.do(t, "1.37", "PUT", "/resource_providers/"+child, map[string]any{"name": "child", "parent_provider_uuid": other}).
		want(t, http.StatusOK)
	r = tc.do(t, "1.37", "GET", "/resource_providers/"+grand, nil).want(t, http.StatusOK)
	if r.get("root_provider_uuid") != other {
		t.Errorf("after re-parent: %s", r.raw)
	}
	// Un-parenting makes a new root of the subtree.
	r = tc.do(t, "1.37", "PUT", "/resource_providers/"+child, map[string]any{"name": "child", "parent_provider_uuid": nil}).
		want(t, http.StatusOK)
	if r.get("parent_provider_uuid") != nil || r.get("root_provider_uuid") != child {
		t.Errorf("un-parent: %s", r.raw)
	}
	r = tc.do(t, "1.37", "GET", "/resource_providers/"+grand, nil).want(t, http.StatusOK)
	if r.get("root_provider_uuid") != child {
		t.Errorf("grandchild after un-parent: %s", r.raw)
	}
	// A root gains a parent before 1.37 too.
	tc.do(t, "1.14", "PUT", "/resource_providers/"+root, map[string]any{"name": "root", "parent_provider_uuid": other}).
		want(t, http.StatusOK)
}

func TestResourceProviderFilters(t *testing.T) {
	tc := newTestCloud(t)
	a := tc.createProvider(t, "a", "")
	b := tc.createProvider(t, "b", "")
	c := tc.createProvider(t, "c", "")
	tc.setInventory(t, a, map[string]any{"VCPU": inv(4), "DISK_GB": inv(100, "reserved", 10)})
	tc.setInventory(t, b, map[string]any{"VCPU": inv(8)})
	tc.setTraits(t, a, "HW_CPU_X86_AVX2", "STORAGE_DISK_SSD")
	tc.setTraits(t, b, "HW_CPU_X86_AVX2", "CUSTOM_GOLD")
	agg1, agg2 := "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
	tc.do(t, "1.19", "PUT", "/resource_providers/"+a+"/aggregates",
		map[string]any{"aggregates": []string{agg1}, "resource_provider_generation": tc.generation(t, a)}).want(t, http.StatusOK)
	tc.do(t, "1.19", "PUT", "/resource_providers/"+c+"/aggregates",
		map[string]any{"aggregates": []string{agg1, agg2}, "resource_provider_generation": tc.generation(t, c)}).want(t, http.StatusOK)

	for _, tt := range []struct {
		ver, query string
		want       []string
	}{
		{"1.0", "", []string{"a", "b", "c"}},
		{"1.0", "?name=b", []string{"b"}},
		{"1.0", "?uuid=" + c, []string{"c"}},
		{"1.3", "?member_of=" + agg1, []string{"a", "c"}},
		{"1.3", "?member_of=in:" + agg2 + "," + agg1, []string{"a", "c"}},
		{"1.24", "?member_of=" + agg1 + "&member_of=" + agg2, []string{"c"}},
		{"1.32", "?member_of=!" + agg2, []string{"a", "b"}},
		{"1.32", "?member_of=!in:" + agg1 + "," + agg2, []string{"b"}},
		{"1.4", "?resources=VCPU:5", []string{"b"}},
		{"1.4", "?resources=VCPU:1,DISK_GB:90", []string{"a"}},
		{"1.4", "?resources=DISK_GB:91", nil},
		{"1.18", "?required=HW_CPU_X86_AVX2", []string{"a", "b"}},
		{"1.18", "?required=HW_CPU_X86_AVX2,CUSTOM_GOLD", []string{"b"}},
		{"1.22", "?required=HW_CPU_X86_AVX2,!CUSTOM_GOLD", []string{"a"}},
		{"1.39", "?required=in:CUSTOM_GOLD,STORAGE_DISK_SSD", []string{"a", "b"}},
		{"1.39", "?required=in:CUSTOM_GOLD,STORAGE_DISK_SSD&required=!HW_CPU_X86_AVX2", nil},
		{"1.39", "?required=in:CUSTOM_GOLD,STORAGE_DISK_SSD&required=!CUSTOM_GOLD", []string{"a"}},
	} {
		r := tc.do(t, tt.ver, "GET", "/resource_providers"+tt.query, nil).want(t, http.StatusOK)
		if got := names(r); !slices.Equal(got, tt.want) {
			t.Errorf("%s %s: %v, want %v", tt.ver, tt.query, got, tt.want)
		}
	}
	for _, tt := range []struct{ ver, query, detail string }{
		{"1.2", "?member_of=" + agg1, "Additional properties are not allowed ('member_of' was unexpected)"},
		{"1.0", "?uuid=nope", "Invalid query string parameters: 'nope' is not a 'uuid'"},
		{"1.23", "?member_of=" + agg1 + "&member_of=" + agg2, "Multiple member_of parameters are not supported"},
		{"1.31", "?member_of=!" + agg1, "Forbidden member_of parameters are not supported in the specified microversion"},
		{"1.3", "?member_of=" + agg1 + "," + agg2, "Multiple values for 'member_of' must be prefixed with the 'in:' or '!in:' keyword"},
		{"1.3", "?member_of=in:nope", "Expected 'member_of' parameter to contain valid UUID(s). Got: nope"},
		{"1.4", "?resources=VCPU", "Badly formed resources parameter"},
		{"1.4", "?resources=VCPU:0", "Requested resource VCPU requires amount >= 1. Got: 0."},
		{"1.4", "?resources=CUSTOM_NOPE:1", "Invalid resource class in resources parameter: No such resource class CUSTOM_NOPE."},
		{"1.18", "?required=CUSTOM_NOPE", "Invalid trait(s) in \"required\" parameter: No such trait(s): CUSTOM_NOPE."},
		{"1.21", "?required=!CUSTOM_GOLD", "Expected 'required' parameter value of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: !CUSTOM_GOLD"},
		{"1.22", "?required=CUSTOM_GOLD,", "Got an empty trait in"},
		{"1.38", "?required=in:CUSTOM_GOLD", "only supported since microversion 1.39"},
		{"1.39", "?required=in:CUSTOM_GOLD,!STORAGE_DISK_SSD", "does not support forbidden traits"},
	} {
		r := tc.do(t, tt.ver, "GET", "/resource_providers"+tt.query, nil).want(t, http.StatusBadRequest)
		if !strings.Contains(r.detail(), tt.detail) {
			t.Errorf("%s %s: %q, want %q", tt.ver, tt.query, r.detail(), tt.detail)
		}
	}
	// An unknown in_tree matches nothing.
	r := tc.do(t, "1.14", "GET", "/resource_providers?in_tree=99999999-9999-9999-9999-999999999999", nil).want(t, http.StatusOK)
	if len(names(r)) != 0 {
		t.Errorf("unknown in_tree: %s", r.raw)
	}
}

func TestResourceProviderDeleteInUse(t *testing.T) {
	tc := newTestCloud(t)
	u := tc.createProvider(t, "cn", "")
	tc.setInventory(t, u, map[string]any{"VCPU": inv(4)})
	tc.allocate(t, "11111111-1111-1111-1111-111111111111", nil, map[string]map[string]int{u: {"VCPU": 1}}).want(t, http.StatusNoContent)
	r := tc.do(t, "1.23", "DELETE", "/resource_providers/"+u, nil).want(t, http.StatusConflict)
	if r.errCode() != codeProviderInUse || !strings.Contains(r.detail(), "Resource provider has allocations.") {
		t.Errorf("delete in use: %s", r.raw)
	}
	tc.do(t, "1.23", "DELETE", "/allocations/11111111-1111-1111-1111-111111111111", nil).want(t, http.StatusNoContent)
	tc.do(t, "1.23", "DELETE", "/resource_providers/"+u, nil).want(t, http.StatusNoContent)
	checkUsage(t, tc)
}
