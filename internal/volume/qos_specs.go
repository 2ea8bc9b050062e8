package volume

import (
	"context"
	"net/http"
	"sort"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// QoS specs (cinder/api/contrib/qos_specs_manage.py): named sets of key/value limits for a
// consumer (front-end: the hypervisor applies them; back-end: the storage does; both),
// associated with volume types through volume_types.qos_specs_id. Admin only.

// QoS specs rules (cinder/policies/qos_specs.py).
const (
	ruleQoSGetAll = "volume_extension:qos_specs_manage:get_all"
	ruleQoSGet    = "volume_extension:qos_specs_manage:get"
	ruleQoSCreate = "volume_extension:qos_specs_manage:create"
	ruleQoSUpdate = "volume_extension:qos_specs_manage:update"
	ruleQoSDelete = "volume_extension:qos_specs_manage:delete"
)

// qosConsumers are Cinder's QoSConsumerValues.
var qosConsumers = map[string]bool{"front-end": true, "back-end": true, "both": true}

// qosSpecsRoutes are /qos-specs and their association actions.
func (s *Service) qosSpecsRoutes() []route {
	return []route{
		{method: "GET", path: "/qos-specs", rule: ruleQoSGetAll, handle: s.listQoSSpecs},
		{method: "POST", path: "/qos-specs", rule: ruleQoSCreate, handle: s.createQoSSpecs},
		{method: "GET", path: "/qos-specs/{id}", rule: ruleQoSGet, handle: s.showQoSSpecs},
		{method: "PUT", path: "/qos-specs/{id}", rule: ruleQoSUpdate, handle: s.setQoSKeys},
		{method: "DELETE", path: "/qos-specs/{id}", rule: ruleQoSDelete, handle: s.deleteQoSSpecs},
		{method: "PUT", path: "/qos-specs/{id}/delete_keys", rule: ruleQoSDelete, handle: s.unsetQoSKeys},
		{method: "GET", path: "/qos-specs/{id}/associations", rule: ruleQoSGetAll, handle: s.qosAssociations},
		{method: "GET", path: "/qos-specs/{id}/associate", rule: ruleQoSUpdate, handle: s.associateQoS},
		{method: "GET", path: "/qos-specs/{id}/disassociate", rule: ruleQoSUpdate, handle: s.disassociateQoS},
		{method: "GET", path: "/qos-specs/{id}/disassociate_all", rule: ruleQoSUpdate, handle: s.disassociateAllQoS},
	}
}

// qosSpec is a QoS specs row with its keys.
type qosSpec struct {
	ID, Name, Consumer string
	CreatedAt          string
	Specs              map[string]string
}

// qosNotFound is Cinder's QoSSpecsNotFound (404).
func qosNotFound(id string) *api.Error { return notFound("No such QoS spec %s.", id) }

// qosCreateRequest is a parsed qos_specs create body.
type qosCreateRequest struct {
	Name, Consumer string
	Specs          map[string]string
}

// parseQoSCreate reads {"qos_specs": {"name": ..., "consumer": ..., <key>: <value>...}}:
// every property but name is a spec (consumer set apart), each a string of at most 255
// characters, as Cinder's validate_dictionary_string_length wants.
func parseQoSCreate(body api.Object) (qosCreateRequest, error) {
	if err := onlyFields(body, "qos_specs"); err != nil {
		return qosCreateRequest{}, err
	}
	o, present, err := body.Obj("qos_specs")
	if err != nil {
		return qosCreateRequest{}, err
	}
	if !present || o == nil {
		return qosCreateRequest{}, fieldError("qos_specs", nil, "'qos_specs' is a required property")
	}
	name, err := reqName(o, "name")
	if err != nil {
		return qosCreateRequest{}, err
	}
	req := qosCreateRequest{Name: name, Consumer: "back-end", Specs: map[string]string{}}
	for k, v := range o {
		if k == "name" {
			continue
		}
		sv, err := qosValue(k, v)
		if err != nil {
			return qosCreateRequest{}, err
		}
		if k == "consumer" {
			if !qosConsumers[sv] {
				return qosCreateRequest{}, badRequest("Invalid qos specs: Valid consumer of QoS specs are: ['back-end', 'both', 'front-end']")
			}
			req.Consumer = sv
			continue
		}
		req.Specs[k] = sv
	}
	return req, nil
}

// qosValue checks one spec key and value: Cinder's validate_dictionary_string_length
// wants strings of 0 to 255 characters for keys and values (numbers are accepted by
// clients that send them unquoted, and stored as their text).
func qosValue(k string, v any) (string, error) {
	if len(k) == 0 || len([]rune(k)) > 255 {
		return "", badRequest("Invalid qos specs: Key name must be between 1 and 255 characters.")
	}
	var s string
	switch x := v.(type) {
	case string:
		s = x
	default:
		return "", badRequest("Invalid qos specs: %s is not a string or unicode", shortValue(k))
	}
	if len([]rune(s)) > 255 {
		return "", badRequest("Invalid qos specs: Value of %s must be between 0 and 255 characters.", shortValue(k))
	}
	return s, nil
}

// parseQoSSet reads {"qos_specs": {<key>: <value or null>...}} (extra_specs_with_null);
// consumer changes the consumer.
func parseQoSSet(body api.Object) (map[string]string, error) {
	if err := onlyFields(body, "qos_specs"); err != nil {
		return nil, err
	}
	v, ok := body["qos_specs"]
	if !ok {
		return nil, fieldError("qos_specs", nil, "'qos_specs' is a required property")
	}
	specs, _, err := specMap("qos_specs", v, specKeyPattern, true)
	if err != nil {
		return nil, err
	}
	if c, ok := specs["consumer"]; ok && !qosConsumers[c] {
		return nil, badRequest("Invalid qos specs: Valid consumer of QoS specs are: ['back-end', 'both', 'front-end']")
	}
	return specs, nil
}

// parseQoSUnset reads {"keys": [...]}: unique strings of 1 to 255 characters.
func parseQoSUnset(body api.Object) ([]string, error) {
	if err := onlyFields(body, "keys"); err != nil {
		return nil, err
	}
	if !body.Has("keys") {
		return nil, fieldError("keys", nil, "'keys' is a required property")
	}
	keys, _, err := body.StrList("keys")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if k == "" || len([]rune(k)) > 255 {
			return nil, fieldError("keys", k, "key must be between 1 and 255 characters")
		}
		if seen[k] {
			return nil, fieldError("keys", keys, "has non-unique elements")
		}
		seen[k] = true
	}
	return keys, nil
}

// loadQoSSpec reads a QoS specs row and its keys.
func loadQoSSpec(ctx context.Context, q store.Querier, id string) (*qosSpec, error) {
	var qs qosSpec
	err := q.QueryRowContext(ctx, `SELECT id, name, consumer, created_at FROM volume_qos_specs WHERE id = ?`, id).
		Scan(&qs.ID, &qs.Name, &qs.Consumer, &qs.CreatedAt)
	if store.IsNoRows(err) {
		return nil, qosNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	qs.Specs, err = readPairs(ctx, q, `SELECT spec_key, spec_value FROM volume_qos_spec_keys WHERE qos_id = ?`, id)
	if err != nil {
		return nil, err
	}
	return &qs, nil
}

// readPairs reads key/value rows into a map.
func readPairs(ctx context.Context, q store.Querier, query string, args ...any) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

// qosView is a QoS specs' API body.
func qosView(qs *qosSpec) map[string]any {
	specs := map[string]any{}
	for k, v := range qs.Specs {
		specs[k] = v
	}
	return map[string]any{"id": qs.ID, "name": qs.Name, "consumer": qs.Consumer, "specs": specs}
}

// qosDetail is the show/create body, with links.
func (s *Service) qosDetail(r *http.Request, c *call, qs *qosSpec) map[string]any {
	return map[string]any{"qos_specs": qosView(qs),
		"links": resourceLinks(r, s.cfg.Prefix, callerProject(c), "qos-specs", qs.ID)}
}

func (s *Service) listQoSSpecs(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	page, err := api.ParsePage(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM volume_qos_specs`)
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	q := r.URL.Query()
	var all []*qosSpec
	for _, id := range ids {
		qs, err := loadQoSSpec(ctx, s.db, id)
		if err != nil {
			continue // deleted meanwhile
		}
		if v := q.Get("name"); v != "" && qs.Name != v {
			continue
		}
		if v := q.Get("consumer"); v != "" && qs.Consumer != v {
			continue
		}
		if v := q.Get("id"); v != "" && qs.ID != v {
			continue
		}
		all = append(all, qs)
	}
	// Cinder's default sort: created_at descending, then id.
	sort.Slice(all, func(i, j int) bool {
		if all[i].CreatedAt != all[j].CreatedAt {
			return all[i].CreatedAt > all[j].CreatedAt
		}
		return all[i].ID > all[j].ID
	})
	all, err = pageOf(all, func(q *qosSpec) string { return q.ID }, page, s.cfg.ListLimitMax)
	if err != nil {
		return err
	}
	list := make([]map[string]any, 0, len(all))
	for _, qs := range all {
		list = append(list, qosView(qs))
	}
	out := map[string]any{"qos_specs": list}
	if len(all) > 0 {
		if links := api.PageLinks(r, page, len(all), all[len(all)-1].ID); links != nil {
			out["qos_specs_links"] = links
		}
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// pageOf applies marker and limit (bounded by max) to sorted items; an unknown marker
// is Cinder's MarkerNotFound (404).
func pageOf[T any](items []T, id func(T) string, p api.Page, max int) ([]T, error) {
	if p.Marker != "" {
		found := false
		for i, it := range items {
			if id(it) == p.Marker {
				items = items[i+1:]
				found = true
				break
			}
		}
		if !found {
			return nil, notFound("Marker %s could not be found.", p.Marker)
		}
	}
	limit := p.Limit
	if limit == 0 || (max > 0 && limit > max) {
		limit = max
	}
	if limit > 0 && len(items) > limit {
		items = items[:limit]
	}
	return items, nil
}

func (s *Service) createQoSSpecs(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	req, err := parseQoSCreate(body)
	if err != nil {
		return err
	}
	ctx := r.Context()
	qs := &qosSpec{ID: api.NewUUID(), Name: req.Name, Consumer: req.Consumer, Specs: req.Specs,
		CreatedAt: store.FormatTime(now())}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_qos_specs WHERE name = ?`, req.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return conflict("QoS Specs %s already exists.", req.Name)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO volume_qos_specs (id, name, consumer, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?)`, qs.ID, qs.Name, qs.Consumer, qs.CreatedAt, qs.CreatedAt); err != nil {
			if store.IsUniqueViolation(err) {
				return conflict("QoS Specs %s already exists.", req.Name)
			}
			return err
		}
		return writeQoSKeys(ctx, tx, qs.ID, req.Specs)
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, s.qosDetail(r, c, qs))
	return nil
}

// writeQoSKeys sets keys of a QoS specs (insert or replace).
func writeQoSKeys(ctx context.Context, tx *store.Tx, id string, specs map[string]string) error {
	for k, v := range specs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO volume_qos_spec_keys (qos_id, spec_key, spec_value) VALUES (?, ?, ?)
			ON CONFLICT (qos_id, spec_key) DO UPDATE SET spec_value = excluded.spec_value`, id, k, v); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) showQoSSpecs(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	qs, err := loadQoSSpec(r.Context(), s.db, r.PathValue("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, s.qosDetail(r, c, qs))
	return nil
}

func (s *Service) setQoSKeys(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	specs, err := parseQoSSet(body)
	if err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := loadQoSSpec(ctx, tx, id); err != nil {
			return err
		}
		keys := map[string]string{}
		for k, v := range specs {
			if k == "consumer" {
				if _, err := tx.ExecContext(ctx, `UPDATE volume_qos_specs SET consumer = ? WHERE id = ?`, v, id); err != nil {
					return err
				}
				continue
			}
			keys[k] = v
		}
		if _, err := tx.ExecContext(ctx, `UPDATE volume_qos_specs SET updated_at = ? WHERE id = ?`,
			store.FormatTime(now()), id); err != nil {
			return err
		}
		return writeQoSKeys(ctx, tx, id, keys)
	})
	if err != nil {
		return err
	}
	// Cinder answers with the request body.
	out := map[string]any{}
	for k, v := range body["qos_specs"].(map[string]any) {
		out[k] = v
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"qos_specs": out})
	return nil
}

func (s *Service) unsetQoSKeys(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	keys, err := parseQoSUnset(body)
	if err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	var missing string
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		qs, err := loadQoSSpec(ctx, tx, id)
		if err != nil {
			return err
		}
		// Cinder deletes the keys it finds before the missing one and saves them
		// (its finally: save), then answers 404.
		for _, k := range keys {
			if _, ok := qs.Specs[k]; !ok {
				missing = k
				break
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM volume_qos_spec_keys WHERE qos_id = ? AND spec_key = ?`, id, k); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE volume_qos_specs SET updated_at = ? WHERE id = ?`,
			store.FormatTime(now()), id); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if missing != "" {
		return notFound("QoS spec %s has no spec with key %s.", id, missing)
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Service) deleteQoSSpecs(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	force, err := queryBool(r, "force")
	if err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := loadQoSSpec(ctx, tx, id); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_types WHERE qos_specs_id = ? AND deleted = ?`,
			id, false).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			if !force {
				return badRequest("Qos specs still in use.")
			}
			if _, err := tx.ExecContext(ctx, `UPDATE volume_types SET qos_specs_id = NULL WHERE qos_specs_id = ?`, id); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM volume_qos_specs WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Service) qosAssociations(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	if _, err := loadQoSSpec(ctx, s.db, id); err != nil {
		return err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, name FROM volume_types WHERE qos_specs_id = ? AND deleted = ?
		ORDER BY created_at, id`, id, false)
	if err != nil {
		return err
	}
	defer rows.Close()
	list := []map[string]any{}
	for rows.Next() {
		var tid, name string
		if err := rows.Scan(&tid, &name); err != nil {
			return err
		}
		list = append(list, map[string]any{"association_type": "volume_type", "name": name, "id": tid})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"qos_associations": list})
	return nil
}

// qosTypeParam reads the vol_type_id query parameter of associate and disassociate.
func qosTypeParam(r *http.Request) (string, error) {
	t := r.URL.Query().Get("vol_type_id")
	if t == "" {
		return "", badRequest("Volume Type id must not be None.")
	}
	return t, nil
}

// liveTypeQoS returns a live volume type's qos_specs_id ("" when none).
func liveTypeQoS(ctx context.Context, tx *store.Tx, typeID string) (string, error) {
	var qos *string
	err := tx.QueryRowContext(ctx, `SELECT qos_specs_id FROM volume_types WHERE id = ? AND deleted = ?`,
		typeID, false).Scan(&qos)
	if store.IsNoRows(err) {
		return "", typeNotFound(typeID)
	}
	if err != nil || qos == nil {
		return "", err
	}
	return *qos, nil
}

func (s *Service) associateQoS(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	typeID, err := qosTypeParam(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := loadQoSSpec(ctx, tx, id); err != nil {
			return err
		}
		cur, err := liveTypeQoS(ctx, tx, typeID)
		if err != nil {
			return err
		}
		if cur != "" {
			if cur != id {
				return badRequest("Invalid volume type: Type %s is already associated with another qos specs: %s", typeID, cur)
			}
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE volume_types SET qos_specs_id = ?, updated_at = ? WHERE id = ?`,
			id, store.FormatTime(now()), typeID)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Service) disassociateQoS(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	typeID, err := qosTypeParam(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := loadQoSSpec(ctx, tx, id); err != nil {
			return err
		}
		if _, err := liveTypeQoS(ctx, tx, typeID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE volume_types SET qos_specs_id = NULL, updated_at = ?
			WHERE id = ? AND qos_specs_id = ?`, store.FormatTime(now()), typeID, id)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Service) disassociateAllQoS(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := loadQoSSpec(ctx, tx, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE volume_types SET qos_specs_id = NULL, updated_at = ? WHERE qos_specs_id = ?`,
			store.FormatTime(now()), id)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
