package placement

import (
	"net/http"
	"strings"
	"testing"
)

func TestResourceClasses(t *testing.T) {
	tc := newTestCloud(t)
	r := tc.do(t, "1.2", "GET", "/resource_classes", nil).want(t, http.StatusOK)
	rcs := r.body["resource_classes"].([]any)
	if len(rcs) != len(standardResourceClasses) {
		t.Fatalf("%d classes, want %d", len(rcs), len(standardResourceClasses))
	}
	first := rcs[0].(map[string]any)
	if first["name"] != "VCPU" || first["links"].([]any)[0].(map[string]any)["href"] != "/placement/resource_classes/VCPU" {
		t.Errorf("first class: %v", first)
	}
	tc.do(t, "1.2", "GET", "/resource_classes/MEMORY_MB", nil).want(t, http.StatusOK)
	r = tc.do(t, "1.2", "GET", "/resource_classes/CUSTOM_NOPE", nil).want(t, http.StatusNotFound)
	if !strings.Contains(r.detail(), "No such resource class CUSTOM_NOPE.") {
		t.Errorf("missing class: %s", r.raw)
	}

	// POST creates custom classes only, once.
	r = tc.do(t, "1.2", "POST", "/resource_classes", map[string]any{"name": "CUSTOM_FPGA_X"}).want(t, http.StatusCreated)
	if r.header.Get("Location") != "http://example.com/placement/resource_classes/CUSTOM_FPGA_X" {
		t.Errorf("Location: %v", r.header)
	}
	r = tc.do(t, "1.2", "POST", "/resource_classes", map[string]any{"name": "CUSTOM_FPGA_X"}).want(t, http.StatusConflict)
	if !strings.Contains(r.detail(), "Conflicting resource class already exists: CUSTOM_FPGA_X") {
		t.Errorf("duplicate: %s", r.raw)
	}
	tc.do(t, "1.2", "POST", "/resource_classes", map[string]any{"name": "VCPU"}).want(t, http.StatusBadRequest)
	tc.do(t, "1.2", "POST", "/resource_classes", map[string]any{"name": "CUSTOM_lower"}).want(t, http.StatusBadRequest)

	// PUT before 1.7 renames a custom class.
	r = tc.do(t, "1.2", "PUT", "/resource_classes/CUSTOM_FPGA_X", map[string]any{"name": "CUSTOM_FPGA_Y"}).want(t, http.StatusOK)
	if r.body["name"] != "CUSTOM_FPGA_Y" {
		t.Errorf("rename: %s", r.raw)
	}
	tc.do(t, "1.2", "GET", "/resource_classes/CUSTOM_FPGA_X", nil).want(t, http.StatusNotFound)
	r = tc.do(t, "1.6", "PUT", "/resource_classes/VCPU", map[string]any{"name": "CUSTOM_VCPU"}).want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "Cannot update standard resource class VCPU") {
		t.Errorf("rename standard: %s", r.raw)
	}

	// PUT from 1.7 creates (201) or confirms (204).
	tc.do(t, "1.7", "PUT", "/resource_classes/CUSTOM_NEW", nil).want(t, http.StatusCreated)
	tc.do(t, "1.7", "PUT", "/resource_classes/CUSTOM_NEW", nil).want(t, http.StatusNoContent)
	r = tc.do(t, "1.7", "PUT", "/resource_classes/NOT_CUSTOM", nil).want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "JSON does not validate") {
		t.Errorf("non-custom PUT: %s", r.raw)
	}
	r = tc.do(t, "1.7", "GET", "/resource_classes", nil).want(t, http.StatusOK)
	rcs = r.body["resource_classes"].([]any)
	last := rcs[len(rcs)-1].(map[string]any)["name"]
	if len(rcs) != len(standardResourceClasses)+2 || last != "CUSTOM_NEW" {
		t.Errorf("list after create: %d classes, last %v", len(rcs), last)
	}

	// DELETE: not standard classes, not classes in use.
	r = tc.do(t, "1.2", "DELETE", "/resource_classes/VCPU", nil).want(t, http.StatusBadRequest)
	if !strings.Contains(r.detail(), "Cannot delete standard resource class VCPU") {
		t.Errorf("delete standard: %s", r.raw)
	}
	u := tc.createProvider(t, "cn", "")
	tc.setInventory(t, u, map[string]any{"CUSTOM_NEW": inv(4)})
	r = tc.do(t, "1.2", "DELETE", "/resource_classes/CUSTOM_NEW", nil).want(t, http.StatusConflict)
	if !strings.Contains(r.detail(), "Class is in use in inventory") {
		t.Errorf("delete in use: %s", r.raw)
	}
	// Renaming a class in use carries the inventory along.
	tc.do(t, "1.2", "PUT", "/resource_classes/CUSTOM_NEW", map[string]any{"name": "CUSTOM_RENAMED"}).want(t, http.StatusOK)
	r = tc.do(t, "1.2", "GET", "/resource_providers/"+u+"/inventories", nil).want(t, http.StatusOK)
	if r.get("inventories", "CUSTOM_RENAMED") == nil {
		t.Errorf("inventory after rename: %s", r.raw)
	}
	tc.do(t, "1.2", "DELETE", "/resource_classes/CUSTOM_FPGA_Y", nil).want(t, http.StatusNoContent)
	tc.do(t, "1.2", "DELETE", "/resource_classes/CUSTOM_FPGA_Y", nil).want(t, http.StatusNotFound)
}
