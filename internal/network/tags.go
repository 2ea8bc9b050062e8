package network

import (
	"context"
	"net/http"
	"slices"
	"unicode/utf8"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// maxTags and maxTagLen are Neutron's tag limits (standard-attr-tag).
const (
	maxTags   = 50
	maxTagLen = 255
)

// tagRoutes are /v2.0/<collection>/{id}/tags[/{tag}] for every kind with standard
// attributes (standard-attr-tag). The rule column names Neutron's base rule; the action's
// own per-resource rule (<verb>_<singular>:tags) is checked against the resource.
func (s *Service) tagRoutes() []route {
	var rs []route
	for _, coll := range sortedKinds(s.kinds) {
		k := s.kinds[coll]
		if !k.hasTags || k.tagless {
			continue
		}
		base := "/v2.0/" + coll + "/{id}/tags"
		rs = append(rs,
			route{"GET", base, "get_" + k.singular + ":tags", s.tagHandler(k, "get", s.listTags)},
			route{"PUT", base, "update_" + k.singular + ":tags", s.tagHandler(k, "update", s.replaceTags)},
			route{"DELETE", base, "delete_" + k.singular + ":tags", s.tagHandler(k, "delete", s.deleteAllTags)},
			route{"GET", base + "/{tag}", "get_" + k.singular + ":tags", s.tagHandler(k, "get", s.showTag)},
			route{"PUT", base + "/{tag}", "update_" + k.singular + ":tags", s.tagHandler(k, "update", s.addTag)},
			route{"DELETE", base + "/{tag}", "delete_" + k.singular + ":tags", s.tagHandler(k, "delete", s.deleteTag)},
		)
	}
	return rs
}

// tagOp is one tag operation on a loaded, authorized resource.
type tagOp func(w http.ResponseWriter, r *http.Request, k *kind, id string) error

// tagHandler loads the resource the caller can see, checks <verb>_<singular>:tags and
// runs op.
func (s *Service) tagHandler(k *kind, verb string, op tagOp) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		rec, err := s.loadOne(r.Context(), s.db, c, k, r.PathValue("id"))
		if err != nil {
			return err
		}
		rule := verb + "_" + k.singular + ":tags"
		if !s.enforce(c, rule, k.target(rec), factsOf(k, rec)) {
			return policyNotAuthorized(rule)
		}
		if t := r.PathValue("tag"); t != "" {
			if err := validateTag(t, true); err != nil {
				return err
			}
		}
		return op(w, r, k, rec["id"].(string))
	}
}

// validateTag is Neutron's tag validator.
func validateTag(t string, present bool) error {
	if !present {
		return nil
	}
	if utf8.RuneCountInString(t) > maxTagLen {
		return invalidInput("'%s' exceeds maximum length of %d", truncate(t, 64), maxTagLen)
	}
	return nil
}

// validateTags checks a tags list from a body.
func validateTags(body api.Object) ([]string, error) {
	tags, present, err := body.StrList("tags")
	if err != nil {
		return nil, badRequest("Invalid tags body")
	}
	if !present {
		return nil, badRequest("Invalid tags body")
	}
	if len(tags) > maxTags {
		return nil, badRequest("The number of tags exceed the per-resource limit of %d", maxTags)
	}
	var out []string
	for _, t := range tags {
		if err := validateTag(t, true); err != nil {
			return nil, err
		}
		if t == "" {
			return nil, invalidInput("'' is not a valid tag")
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out, nil
}

func (s *Service) listTags(w http.ResponseWriter, r *http.Request, k *kind, id string) error {
	tags, err := loadTags(r.Context(), s.db, k.collection, byID(id))
	if err != nil {
		return err
	}
	t := tags[id]
	if t == nil {
		t = []string{}
	}
	writeBody(w, http.StatusOK, map[string]any{"tags": t})
	return nil
}

func (s *Service) showTag(w http.ResponseWriter, r *http.Request, k *kind, id string) error {
	tags, err := loadTags(r.Context(), s.db, k.collection, byID(id))
	if err != nil {
		return err
	}
	tag := r.PathValue("tag")
	if !slices.Contains(tags[id], tag) {
		return tagNotFound(tag, k.singular, id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// tagNotFound is TagNotFound (404).
func tagNotFound(tag, resource, id string) *api.Error {
	return nerr(http.StatusNotFound, "TagNotFound", "Tag %s could not be found for %s %s.", tag, resource, id)
}

func (s *Service) replaceTags(w http.ResponseWriter, r *http.Request, k *kind, id string) error {
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	tags, err := validateTags(body)
	if err != nil {
		return err
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := setTags(r.Context(), tx, k.collection, id, tags); err != nil {
			return err
		}
		return s.bump(r.Context(), tx, k, id, nil)
	})
	if err != nil {
		return err
	}
	writeBody(w, http.StatusOK, map[string]any{"tags": tags})
	return nil
}

func (s *Service) addTag(w http.ResponseWriter, r *http.Request, k *kind, id string) error {
	tag := r.PathValue("tag")
	err := s.db.InTx(r.Context(), func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM net_tags WHERE resource_type = ? AND resource_id = ?`,
			k.collection, id).Scan(&n); err != nil {
			return err
		}
		var exists int
		_ = tx.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM net_tags WHERE resource_type = ? AND resource_id = ? AND tag = ?`,
			k.collection, id, tag).Scan(&exists)
		if exists > 0 {
			return nil
		}
		if n+1 > maxTags {
			return badRequest("The number of tags exceed the per-resource limit of %d", maxTags)
		}
		if _, err := tx.ExecContext(r.Context(), `INSERT INTO net_tags (resource_type, resource_id, tag) VALUES (?, ?, ?)`,
			k.collection, id, tag); err != nil {
			return err
		}
		return s.bump(r.Context(), tx, k, id, nil)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Service) deleteTag(w http.ResponseWriter, r *http.Request, k *kind, id string) error {
	tag := r.PathValue("tag")
	err := s.db.InTx(r.Context(), func(tx *store.Tx) error {
		res, err := tx.ExecContext(r.Context(), `DELETE FROM net_tags WHERE resource_type = ? AND resource_id = ? AND tag = ?`,
			k.collection, id, tag)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return tagNotFound(tag, k.singular, id)
		}
		return s.bump(r.Context(), tx, k, id, nil)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) deleteAllTags(w http.ResponseWriter, r *http.Request, k *kind, id string) error {
	err := s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := deleteTags(r.Context(), tx, k.collection, id); err != nil {
			return err
		}
		return s.bump(r.Context(), tx, k, id, nil)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// setTags replaces a resource's tags.
func setTags(ctx context.Context, tx *store.Tx, resType, id string, tags []string) error {
	if err := deleteTags(ctx, tx, resType, id); err != nil {
		return err
	}
	for _, t := range tags {
		if _, err := tx.ExecContext(ctx, `INSERT INTO net_tags (resource_type, resource_id, tag) VALUES (?, ?, ?)`,
			resType, id, t); err != nil {
			return err
		}
	}
	return nil
}

// createTags reads the optional "tags" of a create body.
func createTags(body api.Object) ([]string, error) {
	if !body.Has("tags") {
		return nil, nil
	}
	return validateTags(body)
}
