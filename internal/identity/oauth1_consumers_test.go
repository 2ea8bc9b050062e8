package identity

import (
	"net/http"
	"testing"
)

func TestOAuth1ConsumersCRUD(t *testing.T) {
	tc := newTestCloud(t)
	const base = "/v3/OS-OAUTH1/consumers"

	c := extAdmin(t, tc, "POST", base, map[string]any{"consumer": map[string]any{"description": "app", "vendor": "acme"}}, http.StatusCreated)["consumer"].(map[string]any)
	id, _ := c["id"].(string)
	secret, _ := c["secret"].(string)
	if !hexID.MatchString(id) || secret == "" || c["description"] != "app" || c["vendor"] != "acme" {
		t.Fatalf("created = %v", c)
	}
	if c["links"].(map[string]any)["self"] != "http://example.com/v3/OS-OAUTH1/consumers/"+id {
		t.Errorf("links = %v", c["links"])
	}

	got := extAdmin(t, tc, "GET", base+"/"+id, nil, http.StatusOK)["consumer"].(map[string]any)
	if _, ok := got["secret"]; ok {
		t.Errorf("get shows the secret: %v", got)
	}
	for _, k := range []string{"id", "description", "links", "vendor"} {
		if !jsonEqual(got[k], c[k]) {
			t.Errorf("get %s = %v, created %v", k, got[k], c[k])
		}
	}

	// A consumer without a description (even without a body) has a null one.
	bare := extAdmin(t, tc, "POST", base, nil, http.StatusCreated)["consumer"].(map[string]any)
	if v, ok := bare["description"]; !ok || v != nil {
		t.Errorf("bare consumer = %v", bare)
	}

	list := extAdmin(t, tc, "GET", base, nil, http.StatusOK)
	if ids := extIDs(t, list, "consumers"); !sameSet(ids, []string{id, bare["id"].(string)}) {
		t.Errorf("list = %v", ids)
	}
	for _, e := range list["consumers"].([]any) {
		if _, ok := e.(map[string]any)["secret"]; ok {
			t.Errorf("list shows a secret: %v", e)
		}
	}

	upd := extAdmin(t, tc, "PATCH", base+"/"+id, map[string]any{"consumer": map[string]any{"description": "new"}}, http.StatusOK)["consumer"].(map[string]any)
	if upd["description"] != "new" || upd["vendor"] != "acme" {
		t.Errorf("updated = %v", upd)
	}
	if _, ok := upd["secret"]; ok {
		t.Errorf("update shows the secret")
	}
	extAdmin(t, tc, "PATCH", base+"/"+id, map[string]any{"consumer": map[string]any{"description": nil}}, http.StatusOK)
	if got := extAdmin(t, tc, "GET", base+"/"+id, nil, http.StatusOK)["consumer"].(map[string]any); got["description"] != nil {
		t.Errorf("description after null = %v", got["description"])
	}

	extAdmin(t, tc, "PATCH", base+"/"+id, map[string]any{"consumer": map[string]any{"secret": "mine"}}, http.StatusBadRequest)
	extAdmin(t, tc, "PATCH", base+"/"+id, map[string]any{"consumer": map[string]any{}}, http.StatusBadRequest)
	extAdmin(t, tc, "PATCH", base+"/"+id, map[string]any{"consumer": map[string]any{"id": "other"}}, http.StatusBadRequest)
	extAdmin(t, tc, "PATCH", base+"/"+id, map[string]any{"consumer": map[string]any{"description": 5}}, http.StatusBadRequest)
	extAdmin(t, tc, "POST", base, map[string]any{"consumer": map[string]any{"description": true}}, http.StatusBadRequest)
	extCall(t, tc, tc.demoToken, "POST", base, map[string]any{"consumer": map[string]any{}}, http.StatusForbidden)
	extCall(t, tc, tc.demoToken, "GET", base, nil, http.StatusForbidden)

	extAdmin(t, tc, "DELETE", base+"/"+id, nil, http.StatusNoContent)
	out := extAdmin(t, tc, "GET", base+"/"+id, nil, http.StatusNotFound)
	if extMessage(out) != "Consumer not found" {
		t.Errorf("404 message = %q", extMessage(out))
	}
	extAdmin(t, tc, "DELETE", base+"/"+id, nil, http.StatusNotFound)
	extAdmin(t, tc, "PATCH", base+"/"+id, map[string]any{"consumer": map[string]any{"description": "x"}}, http.StatusNotFound)
}
