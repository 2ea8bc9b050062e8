package network

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gostack/gostack/internal/api"
)

// Bulk create ({"ports": [{...}, {...}]} to POST /v2.0/ports) is Neutron's emulated bulk:
// each item goes through the single-create handler in order, and when one fails the ones
// already made are deleted again and that failure is the answer, so the request is all or
// nothing as Neutron's _emulate_bulk_create makes it.

// bulkCreate wraps a single-create handler so that a body keyed by the plural collection
// name creates every item; other bodies go to create unchanged.
func (s *Service) bulkCreate(k *kind, create, del handler) handler {
	plural := strings.ReplaceAll(k.collection, "-", "_")
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<22))
		if err != nil {
			return badRequest("Failed to read the request body")
		}
		var top map[string]json.RawMessage
		items := []json.RawMessage(nil)
		if json.Unmarshal(raw, &top) == nil && len(top) == 1 && top[plural] != nil {
			if err := json.Unmarshal(top[plural], &items); err != nil {
				return badRequest("Invalid input for operation: the %s body must be a list of objects.", plural)
			}
		}
		if items == nil {
			r.Body = io.NopCloser(bytes.NewReader(raw))
			return create(w, r, c)
		}
		if len(items) == 0 {
			return badRequest("Resources required")
		}
		var made []map[string]any
		rollback := func() {
			for i := len(made) - 1; i >= 0; i-- {
				id, _ := made[i]["id"].(string)
				dr := httptest.NewRequest("DELETE", r.URL.Path+"/"+id, nil).WithContext(r.Context())
				dr.SetPathValue("id", id)
				_ = del(httptest.NewRecorder(), dr, c)
			}
		}
		for _, item := range items {
			body, _ := json.Marshal(map[string]json.RawMessage{k.singular: item})
			sr := r.Clone(r.Context())
			sr.Body = io.NopCloser(bytes.NewReader(body))
			sr.ContentLength = int64(len(body))
			rec := httptest.NewRecorder()
			if err := create(rec, sr, c); err != nil {
				rollback()
				return err
			}
			var one map[string]map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &one); err != nil || one[k.singular] == nil {
				rollback()
				return badRequest("Bulk create of %s failed", plural)
			}
			made = append(made, one[k.singular])
		}
		api.WriteJSON(w, http.StatusCreated, map[string]any{plural: made})
		return nil
	}
}
