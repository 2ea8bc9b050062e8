package compute

import (
	"context"
	"net/http"
	"regexp"
	"slices"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// aggregatesQuery is the aggregate list and show query schema: anything goes before
// 2.102.
var aggregatesQuery = querySchema{params: map[string]queryParam{}}

// aggregateView is an aggregate as the API shows it (uuid from 2.41). Create leaves out
// hosts and metadata, as Nova does.
func aggregateView(c *call, a *hostAggregate, withMembers bool) map[string]any {
	var zone any
	if z, ok := a.Metadata["availability_zone"]; ok {
		zone = z
	}
	out := map[string]any{
		"id":                a.ID,
		"name":              a.Name,
		"availability_zone": zone,
		"created_at":        adminTimestamp(a.CreatedAt),
		"updated_at":        adminOptTimestamp(a.UpdatedAt),
		"deleted":           false,
		"deleted_at":        nil,
	}
	if withMembers {
		out["hosts"] = a.Hosts
		out["metadata"] = a.Metadata
	}
	if c.at(41) {
		out["uuid"] = a.UUID
	}
	return out
}

// writeAggregate answers {"aggregate": ...} with 200.
func writeAggregate(w http.ResponseWriter, c *call, a *hostAggregate) {
	api.WriteJSON(w, http.StatusOK, map[string]any{"aggregate": aggregateView(c, a, true)})
}

// listAggregates is GET /os-aggregates.
func (s *Service) listAggregates(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := aggregatesQuery.validate(r.URL.Query()); err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	aggs, err := loadAggregates(r.Context(), s.db, 0)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(aggs))
	for _, a := range aggs {
		out = append(out, aggregateView(c, a, true))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"aggregates": out})
	return nil
}

// aggregateBody decodes {"<key>": {...}} with Nova's additionalProperties False at the
// top level.
func aggregateBody(r *http.Request, key string) (api.Object, error) {
	top, err := api.DecodeObject(r, "")
	if err != nil {
		return nil, err
	}
	if err := checkBodyKeys(top, []string{key}, key); err != nil {
		return nil, err
	}
	inner, ok := top[key].(map[string]any)
	if !ok {
		return nil, bodyInvalid(key, top[key], "%s is not of type 'object'", pyTyped(top[key]))
	}
	return api.Object(inner), nil
}

// zoneField reads an optional availability_zone that may be null (null and absent both
// give present false for create; update tells them apart through isNull).
func zoneField(o api.Object) (zone string, present, isNull bool, err error) {
	if !o.Has("availability_zone") {
		return "", false, false, nil
	}
	if o.IsNull("availability_zone") {
		return "", true, true, nil
	}
	z, _, err := aggregateNameField(o, "availability_zone", "az_name")
	return z, true, false, err
}

// createAggregate is POST /os-aggregates (200, as Nova answers).
func (s *Service) createAggregate(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := aggregateBody(r, "aggregate")
	if err != nil {
		return err
	}
	if err := checkBodyKeys(body, []string{"name"}, "name", "availability_zone"); err != nil {
		return err
	}
	name, _, err := aggregateNameField(body, "name", "name")
	if err != nil {
		return err
	}
	zone, _, _, err := zoneField(body)
	if err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	var agg *hostAggregate
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		agg, err = createAggregateRecord(r.Context(), tx, name, zone)
		return err
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"aggregate": aggregateView(c, agg, false)})
	return nil
}

// aggregateID parses the path id (Nova's validate_integer: 400 when not an integer).
func aggregateID(r *http.Request) (int64, error) {
	return intID(r.PathValue("id"))
}

// showAggregate is GET /os-aggregates/{id}.
func (s *Service) showAggregate(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := aggregatesQuery.validate(r.URL.Query()); err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	id, err := aggregateID(r)
	if err != nil {
		return err
	}
	agg, found, err := loadAggregate(r.Context(), s.db, id)
	if err != nil {
		return err
	}
	if !found {
		return aggregateNotFound(r.PathValue("id"))
	}
	writeAggregate(w, c, agg)
	return nil
}

// updateAggregate is PUT /os-aggregates/{id}: name and/or availability_zone.
func (s *Service) updateAggregate(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := aggregateBody(r, "aggregate")
	if err != nil {
		return err
	}
	if err := checkBodyKeys(body, nil, "name", "availability_zone"); err != nil {
		return err
	}
	if !body.Has("name") && !body.Has("availability_zone") {
		return badRequest("Invalid input for field/attribute aggregate. Value: {}. {} should be non-empty")
	}
	name, hasName, err := aggregateNameField(body, "name", "name_with_leading_trailing_spaces")
	if err != nil {
		return err
	}
	zone, hasZone, zoneNull, err := zoneField(body)
	if err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	id, err := aggregateID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var agg *hostAggregate
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var found bool
		agg, found, err = loadAggregate(ctx, tx, id)
		if err != nil {
			return err
		}
		if !found {
			return aggregateNotFound(r.PathValue("id"))
		}
		if hasName && name != agg.Name {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM compute_aggregates WHERE name = ? AND id <> ?`, name, id).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return conflict("Aggregate %s already exists.", name)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE compute_aggregates SET name = ? WHERE id = ?`, name, id); err != nil {
				return err
			}
			agg.Name = name
		}
		if hasZone {
			meta := map[string]*string{"availability_zone": &zone}
			if zoneNull {
				meta["availability_zone"] = nil
			}
			msg, err := checkZoneChange(ctx, tx, agg, meta, nil, aggActionUpdate, true)
			if err != nil {
				return err
			}
			if msg != "" {
				return badRequest("%s", msg)
			}
			if err := setAggregateMetadata(ctx, tx, agg, meta); err != nil {
				return err
			}
		}
		return touchAggregate(ctx, tx, agg)
	})
	if err != nil {
		return err
	}
	writeAggregate(w, c, agg)
	return nil
}

// deleteAggregate is DELETE /os-aggregates/{id} (200 with no body, as Nova answers);
// an aggregate with hosts is refused.
func (s *Service) deleteAggregate(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	id, err := aggregateID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		agg, found, err := loadAggregate(ctx, tx, id)
		if err != nil {
			return err
		}
		if !found {
			return aggregateNotFound(r.PathValue("id"))
		}
		if len(agg.Hosts) > 0 {
			return badRequest("%s", invalidAggregateAction(aggActionRemove, id, "Host aggregate is not empty"))
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM compute_aggregates WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// metadataKeyPattern is the key pattern of Nova's metadata schema.
var metadataKeyPattern = regexp.MustCompile(`^[a-zA-Z0-9-_:. ]{1,255}$`)

// aggregateAction is POST /os-aggregates/{id}/action: add_host, remove_host or
// set_metadata, each with its own policy rule.
func (s *Service) aggregateAction(w http.ResponseWriter, r *http.Request, c *call) error {
	top, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	var action string
	for _, a := range []string{"add_host", "remove_host", "set_metadata"} {
		if _, ok := top[a]; ok {
			action = a
			break
		}
	}
	if action == "" {
		return badRequest("There is no such action: %s", firstKey(top))
	}
	if err := checkBodyKeys(top, []string{action}, action); err != nil {
		return err
	}
	inner, ok := top[action].(map[string]any)
	if !ok {
		return bodyInvalid(action, top[action], "%s is not of type 'object'", pyTyped(top[action]))
	}
	switch action {
	case "set_metadata":
		return s.setAggregateMetadataAction(w, r, c, inner)
	default:
		return s.aggregateHostAction(w, r, c, action, inner)
	}
}

// firstKey names some key of a body for Nova's "no such action" message.
func firstKey(o map[string]any) string {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) == 0 {
		return "None"
	}
	return keys[0]
}

// aggregateHostAction adds a host to or removes one from an aggregate.
func (s *Service) aggregateHostAction(w http.ResponseWriter, r *http.Request, c *call, action string, body map[string]any) error {
	if err := checkBodyKeys(body, []string{"host"}, "host"); err != nil {
		return err
	}
	host, _, err := stringField(body, "host", 1, 255, fqdnPattern)
	if err != nil {
		return err
	}
	if err := s.authorize(c, c.rule+action, policy.Target{}); err != nil {
		return err
	}
	id, err := aggregateID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var agg *hostAggregate
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		_, known, err := computeServiceOf(ctx, tx, host)
		if err != nil {
			return err
		}
		var found bool
		if known {
			agg, found, err = loadAggregate(ctx, tx, id)
			if err != nil {
				return err
			}
		}
		if action == "remove_host" {
			return s.removeAggregateHost(ctx, tx, agg, known && found, id, host)
		}
		if !known {
			return notFound("Compute host %s could not be found.", host)
		}
		if !found {
			return aggregateNotFound(id)
		}
		return s.addAggregateHost(ctx, tx, agg, host)
	})
	if err != nil {
		return err
	}
	writeAggregate(w, c, agg)
	return nil
}

// addAggregateHost is Nova's add_host_to_aggregate after the lookups: the host may not
// end up in two zones nor change the zone of its instances (409 for both).
func (s *Service) addAggregateHost(ctx context.Context, tx *store.Tx, agg *hostAggregate, host string) error {
	meta := map[string]*string{}
	for k, v := range agg.Metadata {
		meta[k] = &v
	}
	msg, err := checkZoneChange(ctx, tx, agg, meta, []string{host}, aggActionAdd, false)
	if err != nil {
		return err
	}
	if msg != "" {
		return conflict("%s", msg)
	}
	if newZone := agg.zone(); newZone != "" {
		n, err := hostInstanceCount(ctx, tx, host)
		if err != nil {
			return err
		}
		if n > 0 {
			oldZone, err := zoneOfHostExcept(ctx, tx, host, 0)
			if err != nil {
				return err
			}
			if oldZone != newZone {
				return conflict("%s", invalidAggregateAction(aggActionAdd, agg.ID, moveRefused("added to", oldZone, newZone, n)))
			}
		}
	}
	if slices.Contains(agg.Hosts, host) {
		return conflict("Aggregate %d already has host %s.", agg.ID, host)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO compute_aggregate_hosts (aggregate_id, host) VALUES (?, ?)`, agg.ID, host); err != nil {
		if store.IsUniqueViolation(err) {
			return conflict("Aggregate %d already has host %s.", agg.ID, host)
		}
		return err
	}
	agg.Hosts = append(agg.Hosts, host)
	slices.Sort(agg.Hosts)
	return nil
}

// removeAggregateHost is Nova's remove_host_from_aggregate after the lookups (ok is
// false when the host or the aggregate is unknown): every "not found" is the one 404
// Nova answers, and removing the zone of a host with instances is a 409.
func (s *Service) removeAggregateHost(ctx context.Context, tx *store.Tx, agg *hostAggregate, ok bool, id int64, host string) error {
	notThere := notFound("Cannot remove host %s in aggregate %d", host, id)
	if !ok {
		return notThere
	}
	if curZone := agg.zone(); curZone != "" {
		n, err := hostInstanceCount(ctx, tx, host)
		if err != nil {
			return err
		}
		if n > 0 {
			newZone, err := zoneOfHostExcept(ctx, tx, host, agg.ID)
			if err != nil {
				return err
			}
			if newZone != curZone {
				return conflict("%s", invalidAggregateAction(aggActionRemove, agg.ID, moveRefused("removed from", curZone, newZone, n)))
			}
		}
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM compute_aggregate_hosts WHERE aggregate_id = ? AND host = ?`, agg.ID, host)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return err
		}
		return notThere
	}
	agg.Hosts = slices.DeleteFunc(agg.Hosts, func(h string) bool { return h == host })
	return nil
}

// setAggregateMetadataAction is the set_metadata action: keys with null values are
// removed, others set; the availability_zone key is checked as a zone change.
func (s *Service) setAggregateMetadataAction(w http.ResponseWriter, r *http.Request, c *call, body map[string]any) error {
	if err := checkBodyKeys(body, []string{"metadata"}, "metadata"); err != nil {
		return err
	}
	raw, ok := body["metadata"].(map[string]any)
	if !ok {
		return bodyInvalid("metadata", body["metadata"], "%s is not of type 'object'", pyTyped(body["metadata"]))
	}
	meta := map[string]*string{}
	var badKeys []string
	for k, v := range raw {
		if !metadataKeyPattern.MatchString(k) {
			badKeys = append(badKeys, k)
			continue
		}
		switch x := v.(type) {
		case nil:
			meta[k] = nil
		case string:
			if len([]rune(x)) > 255 {
				return bodyInvalid(k, x, "%s is too long", pyRepr(x))
			}
			meta[k] = &x
		default:
			return bodyInvalid(k, v, "%s is not of type 'string', 'null'", pyTyped(v))
		}
	}
	if len(badKeys) > 0 {
		return checkBodyKeys(map[string]any{badKeys[0]: nil}, nil)
	}
	if err := s.authorize(c, c.rule+"set_metadata", policy.Target{}); err != nil {
		return err
	}
	id, err := aggregateID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var agg *hostAggregate
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var found bool
		agg, found, err = loadAggregate(ctx, tx, id)
		if err != nil {
			return err
		}
		if !found {
			return aggregateNotFound(r.PathValue("id"))
		}
		msg, err := checkZoneChange(ctx, tx, agg, meta, nil, aggActionUpdateMeta, true)
		if err != nil {
			return err
		}
		if msg != "" {
			return badRequest("%s", msg)
		}
		if err := setAggregateMetadata(ctx, tx, agg, meta); err != nil {
			return err
		}
		return touchAggregate(ctx, tx, agg)
	})
	if err != nil {
		return err
	}
	writeAggregate(w, c, agg)
	return nil
}

// aggregateImages is POST /os-aggregates/{id}/images (2.81): a request to pre-cache
// images on the aggregate's hosts. gostack's drivers fetch images on first use and
// keep them, so the request is validated and accepted (202).
func (s *Service) aggregateImages(w http.ResponseWriter, r *http.Request, c *call) error {
	top, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	if err := checkBodyKeys(top, []string{"cache"}, "cache"); err != nil {
		return err
	}
	list, ok := top["cache"].([]any)
	if !ok {
		return bodyInvalid("cache", top["cache"], "%s is not of type 'array'", pyTyped(top["cache"]))
	}
	if len(list) == 0 {
		return bodyInvalid("cache", list, "[] should be non-empty")
	}
	seen := map[string]bool{}
	dup := false
	for _, item := range list {
		obj, ok := item.(map[string]any)
		if !ok {
			return bodyInvalid("cache", item, "%s is not of type 'object'", pyTyped(item))
		}
		if err := checkBodyKeys(obj, []string{"id"}, "id"); err != nil {
			return err
		}
		imgID, ok := obj["id"].(string)
		if !ok {
			return bodyInvalid("id", obj["id"], "%s is not of type 'string'", pyTyped(obj["id"]))
		}
		if !uuidLike(imgID) {
			return bodyInvalid("id", imgID, "%s is not a 'uuid'", pyRepr(imgID))
		}
		if seen[imgID] {
			dup = true
		}
		seen[imgID] = true
	}
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	id, err := aggregateID(r)
	if err != nil {
		return err
	}
	if dup {
		return badRequest("Duplicate images in request")
	}
	_, found, err := loadAggregate(r.Context(), s.db, id)
	if err != nil {
		return err
	}
	if !found {
		return aggregateNotFound(r.PathValue("id"))
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
