package placement

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// traitList returns the traits of a list response.
func traitList(r resp) []string {
	var out []string
	for _, t := range r.body["traits"].([]any) {
		out = append(out, t.(string))
	}
	return out
}

func TestTraits(t *testing.T) {
	tc := newTestCloud(t)
	r := tc.do(t, "1.6", "GET", "/traits", nil).want(t, http.StatusOK)
	all := traitList(r)
	for _, want := range []string{"COMPUTE_NODE", "HW_CPU_X86_AVX2", "STORAGE_DISK_SSD", "MISC_SHARES_VIA_AGGREGATE",
		"COMPUTE_VOLUME_MULTI_ATTACH", "HW_CPU_X86_SSE42"} {
		if !slices.Contains(all, want) {
			t.Errorf("standard trait %s missing", want)
		}
	}
	r = tc.do(t, "1.6", "GET", "/traits?name=startswith:HW_CPU_X86_AVX", nil).want(t, http.StatusOK)
	for _, tr := range traitList(r) {
		if !strings.HasPrefix(tr, "HW_CPU_X86_AVX") {
			t.Errorf("startswith returned %s", tr)
		}
	}
	r = tc.do(t, "1.6", "GET", "/traits?name=in:COMPUTE_NODE,STORAGE_DISK_SSD,CUSTOM_NONE", nil).want(t, http.StatusOK)
	if got := traitList(r); !slices.Equal(got, []string{"COMPUTE_NODE", "STORAGE_DISK_SSD"}) {
		t.Errorf("in: %v", got)
	}
	r = tc.do(t, "1.6", "GET", "/traits?name=COMPUTE_NODE", nil).want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "Badly formatted name parameter") {
		t.Errorf("bad name filter: %s", r.raw)
	}
	tc.do(t, "1.6", "GET", "/traits?associated=maybe", nil).want(t, http.StatusBadRequest)
	tc.do(t, "1.6", "GET", "/traits?other=1", nil).want(t, http.StatusBadRequest)

	// Custom traits: PUT creates (201) then confirms (204); only CUSTOM_ names.
	tc.do(t, "1.6", "PUT", "/traits/CUSTOM_RAID", nil).want(t, http.StatusCreated)
	r = tc.do(t, "1.6", "PUT", "/traits/CUSTOM_RAID", nil).want(t, http.StatusNoContent)
	if r.header.Get("Location") != "http://example.com/placement/traits/CUSTOM_RAID" {
		t.Errorf("Location: %v", r.header)
	}
	r = tc.do(t, "1.6", "PUT", "/traits/HW_NEW", nil).want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "start with the prefix \"CUSTOM_\"") {
		t.Errorf("non-custom PUT: %s", r.raw)
	}
	tc.do(t, "1.6", "GET", "/traits/CUSTOM_RAID", nil).want(t, http.StatusNoContent)
	r = tc.do(t, "1.6", "GET", "/traits/CUSTOM_NONE", nil).want(t, http.StatusNotFound)
	if !strings.Contains(r.detail(), "No such trait(s): CUSTOM_NONE.") {
		t.Errorf("missing trait: %s", r.raw)
	}

	// Provider traits, with generation checks; the generation moves only on change.
	u := tc.createProvider(t, "cn", "")
	r = tc.do(t, "1.6", "PUT", "/resource_providers/"+u+"/traits", map[string]any{
		"resource_provider_generation": 0, "traits": []string{"CUSTOM_RAID", "COMPUTE_NODE"}}).want(t, http.StatusOK)
	if r.num("resource_provider_generation") != 1 || !slices.Equal(traitList(r), []string{"COMPUTE_NODE", "CUSTOM_RAID"}) {
		t.Errorf("set traits: %s", r.raw)
	}
	r = tc.do(t, "1.6", "PUT", "/resource_providers/"+u+"/traits", map[string]any{
		"resource_provider_generation": 1, "traits": []string{"COMPUTE_NODE", "CUSTOM_RAID"}}).want(t, http.StatusOK)
	if r.num("resource_provider_generation") != 1 {
		t.Errorf("unchanged traits bumped the generation: %s", r.raw)
	}
	r = tc.do(t, "1.23", "PUT", "/resource_providers/"+u+"/traits", map[string]any{
		"resource_provider_generation": 0, "traits": []string{}}).want(t, http.StatusConflict)
	if r.errCode() != codeConcurrentUpdate {
		t.Errorf("stale generation: %s", r.raw)
	}
	r = tc.do(t, "1.6", "PUT", "/resource_providers/"+u+"/traits", map[string]any{
		"resource_provider_generation": 1, "traits": []string{"CUSTOM_NONE"}}).want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "No such trait CUSTOM_NONE") {
		t.Errorf("unknown trait: %s", r.raw)
	}
	r = tc.do(t, "1.6", "GET", "/resource_providers/"+u+"/traits", nil).want(t, http.StatusOK)
	if !slices.Equal(traitList(r), []string{"COMPUTE_NODE", "CUSTOM_RAID"}) || r.num("resource_provider_generation") != 1 {
		t.Errorf("get traits: %s", r.raw)
	}
	tc.do(t, "1.6", "GET", "/resource_providers/nope/traits", nil).want(t, http.StatusNotFound)

	// associated filter.
	r = tc.do(t, "1.6", "GET", "/traits?associated=true", nil).want(t, http.StatusOK)
	if got := traitList(r); !slices.Equal(got, []string{"COMPUTE_NODE", "CUSTOM_RAID"}) {
		t.Errorf("associated=true: %v", got)
	}
	r = tc.do(t, "1.6", "GET", "/traits?associated=false&name=startswith:CUSTOM_", nil).want(t, http.StatusOK)
	if got := traitList(r); len(got) != 0 {
		t.Errorf("associated=false custom: %v", got)
	}

	// Deleting: not standard, not in use.
	r = tc.do(t, "1.6", "DELETE", "/traits/COMPUTE_NODE", nil).want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "Cannot delete standard trait COMPUTE_NODE.") {
		t.Errorf("delete standard: %s", r.raw)
	}
	r = tc.do(t, "1.6", "DELETE", "/traits/CUSTOM_RAID", nil).want(t, http.StatusConflict)
	if !strings.Contains(r.detail(), "The trait CUSTOM_RAID is in use by a resource provider.") {
		t.Errorf("delete in use: %s", r.raw)
	}
	tc.do(t, "1.6", "DELETE", "/resource_providers/"+u+"/traits", nil).want(t, http.StatusNoContent)
	if g := tc.generation(t, u); g != 2 {
		t.Errorf("generation after DELETE traits: %d", g)
	}
	tc.do(t, "1.6", "DELETE", "/traits/CUSTOM_RAID", nil).want(t, http.StatusNoContent)
	tc.do(t, "1.6", "DELETE", "/traits/CUSTOM_RAID", nil).want(t, http.StatusNotFound)
}

func TestAggregates(t *testing.T) {
	tc := newTestCloud(t)
	u := tc.createProvider(t, "cn", "")
	agg1, agg2 := "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
	// Before 1.19: a bare list, no generation, not bumped.
	r := tc.do(t, "1.1", "PUT", "/resource_providers/"+u+"/aggregates", []string{agg1}).want(t, http.StatusOK)
	if _, ok := r.body["resource_provider_generation"]; ok || tc.generation(t, u) != 0 {
		t.Errorf("1.1 set: %s", r.raw)
	}
	tc.do(t, "1.1", "PUT", "/resource_providers/"+u+"/aggregates", []string{agg1, agg1}).want(t, http.StatusBadRequest)
	tc.do(t, "1.1", "PUT", "/resource_providers/"+u+"/aggregates", []string{"nope"}).want(t, http.StatusBadRequest)
	// From 1.19: an object with the generation, which must match and is bumped.
	r = tc.do(t, "1.19", "GET", "/resource_providers/"+u+"/aggregates", nil).want(t, http.StatusOK)
	if r.num("resource_provider_generation") != 0 || len(r.body["aggregates"].([]any)) != 1 {
		t.Errorf("1.19 get: %s", r.raw)
	}
	r = tc.do(t, "1.23", "PUT", "/resource_providers/"+u+"/aggregates",
		map[string]any{"aggregates": []string{agg2}, "resource_provider_generation": 5}).want(t, http.StatusConflict)
	if r.errCode() != codeConcurrentUpdate {
		t.Errorf("stale generation: %s", r.raw)
	}
	tc.do(t, "1.19", "PUT", "/resource_providers/"+u+"/aggregates", []string{agg2}).want(t, http.StatusBadRequest)
	r = tc.do(t, "1.19", "PUT", "/resource_providers/"+u+"/aggregates",
		map[string]any{"aggregates": []string{agg2, agg1}, "resource_provider_generation": 0}).want(t, http.StatusOK)
	if r.num("resource_provider_generation") != 1 || len(r.body["aggregates"].([]any)) != 2 {
		t.Errorf("1.19 set: %s", r.raw)
	}
	tc.do(t, "1.0", "GET", "/resource_providers/"+u+"/aggregates", nil).want(t, http.StatusNotFound)
	tc.do(t, "1.19", "GET", "/resource_providers/nope/aggregates", nil).want(t, http.StatusNotFound)
}
