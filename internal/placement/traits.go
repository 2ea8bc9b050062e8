package placement

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// requireTrait returns Placement's TraitNotFound (a 404) when the trait does not exist.
func requireTrait(ctx context.Context, q store.Querier, name string) error {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM placement_traits WHERE name = ?`, name).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return notFound("No such trait(s): %s.", name)
	}
	return nil
}

// traitOrder orders traits as Placement's ids do: the standard ones (synced first), then
// the custom ones in creation order.
const traitOrder = `t.standard DESC, t.created_at, t.name`

// providerTraits returns a provider's traits, in trait order.
func providerTraits(ctx context.Context, q store.Querier, uuid string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT pt.trait FROM placement_provider_traits pt
		JOIN placement_traits t ON t.name = pt.trait WHERE pt.provider_uuid = ? ORDER BY `+traitOrder, uuid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// setProviderTraits replaces a provider's traits inside tx; it bumps the provider's
// generation only when the set changes, as Placement's _set_traits does. It returns the
// provider's generation afterwards.
func setProviderTraits(ctx context.Context, tx *store.Tx, p *provider, traits []string) (int64, error) {
	have, err := providerTraits(ctx, tx, p.UUID)
	if err != nil {
		return 0, err
	}
	want := map[string]bool{}
	for _, t := range traits {
		want[t] = true
	}
	haveSet := map[string]bool{}
	for _, t := range have {
		haveSet[t] = true
	}
	var add, del []string
	for t := range want {
		if !haveSet[t] {
			add = append(add, t)
		}
	}
	for _, t := range have {
		if !want[t] {
			del = append(del, t)
		}
	}
	if len(add) == 0 && len(del) == 0 {
		return p.Generation, nil
	}
	gen, err := bumpProvider(ctx, tx, p.UUID, p.Generation)
	if err != nil {
		return 0, err
	}
	for _, t := range del {
		if _, err := tx.ExecContext(ctx, `DELETE FROM placement_provider_traits WHERE provider_uuid = ? AND trait = ?`, p.UUID, t); err != nil {
			return 0, err
		}
	}
	sort.Strings(add)
	for _, t := range add {
		if _, err := tx.ExecContext(ctx, `INSERT INTO placement_provider_traits (provider_uuid, trait) VALUES (?, ?)
			ON CONFLICT DO NOTHING`, p.UUID, t); err != nil {
			return 0, err
		}
	}
	return gen, nil
}

// traitRoutes are the trait routes (microversion 1.6 and later).
func (s *Service) traitRoutes() []route {
	return []route{
		{method: "GET", path: "/traits", rule: policyTraitList, minVer: v(6), handle: s.listTraits},
		{method: "GET", path: "/traits/{name}", rule: policyTraitShow, minVer: v(6), handle: s.showTrait},
		{method: "PUT", path: "/traits/{name}", rule: policyTraitUpdate, minVer: v(6), handle: s.putTrait},
		{method: "DELETE", path: "/traits/{name}", rule: policyTraitDelete, minVer: v(6), handle: s.deleteTrait},
		{method: "GET", path: "/resource_providers/{uuid}/traits", rule: policyRPTraitList, minVer: v(6), handle: s.listProviderTraits},
		{method: "PUT", path: "/resource_providers/{uuid}/traits", rule: policyRPTraitUpdate, minVer: v(6), body: true, handle: s.updateProviderTraits},
		{method: "DELETE", path: "/resource_providers/{uuid}/traits", rule: policyRPTraitDelete, minVer: v(6), handle: s.deleteProviderTraits},
	}
}

// Trait schemas (placement/schemas/trait.py).
var (
	traitSchema       = str().lenRange(1, 255)
	customTraitSchema = str().lenRange(1, 255).matching(customPattern)
	listTraitsSchema  = obj("name", str(), "associated", str()).strict()
	setRPTraitsSchema = obj("traits", arrayOf(traitSchema), "resource_provider_generation", integer()).
				req("traits", "resource_provider_generation").strict()
)

// traitURL is a trait's relative URL.
func (s *Service) traitURL(name string) string { return s.cfg.Prefix + "/traits/" + name }

// listTraits handles GET /traits with the name (in:/startswith:) and associated filters.
func (s *Service) listTraits(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	if err := validateQuery(q, listTraitsSchema); err != nil {
		return err
	}
	var nameIn map[string]bool
	prefix, hasPrefix := "", false
	if q.Has("name") {
		val := lastValue(q, "name")
		op, value, ok := strings.Cut(val, ":")
		if !ok {
			return badRequest("Badly formatted name parameter. Expected name query string parameter in form: "+
				"?name=[in|startswith]:[name1,name2|prefix]. Got: \"%s\"", val)
		}
		switch op {
		case "in":
			nameIn = map[string]bool{}
			for _, n := range strings.Split(value, ",") {
				nameIn[n] = true
			}
		case "startswith":
			prefix, hasPrefix = value, true
		}
	}
	query := `SELECT t.name, t.created_at, t.updated_at FROM placement_traits t`
	if q.Has("associated") {
		switch strings.ToLower(lastValue(q, "associated")) {
		case "true":
			query += " WHERE EXISTS (SELECT 1 FROM placement_provider_traits pt WHERE pt.trait = t.name)"
		case "false":
			query += " WHERE NOT EXISTS (SELECT 1 FROM placement_provider_traits pt WHERE pt.trait = t.name)"
		default:
			return badRequest("The query parameter \"associated\" only accepts \"true\" or \"false\"")
		}
	}
	query += " ORDER BY " + traitOrder
	rows, err := s.db.QueryContext(r.Context(), query)
	if err != nil {
		return err
	}
	defer rows.Close()
	names := []string{}
	var last time.Time
	for rows.Next() {
		var n, created, updated string
		if err := rows.Scan(&n, &created, &updated); err != nil {
			return err
		}
		if nameIn != nil && !nameIn[n] || hasPrefix && !strings.HasPrefix(n, prefix) {
			continue
		}
		names = append(names, n)
		for _, t := range []time.Time{store.ParseTime(created), store.ParseTime(updated)} {
			if t.After(last) {
				last = t
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	setLastModified(w, c, last)
	writeJSON(w, http.StatusOK, map[string]any{"traits": names})
	return nil
}

// showTrait handles GET /traits/{name}: 204 when it exists.
func (s *Service) showTrait(w http.ResponseWriter, r *http.Request, c *call) error {
	name := pathValue(r, "name")
	var created string
	err := s.db.QueryRowContext(r.Context(), `SELECT created_at FROM placement_traits WHERE name = ?`, name).Scan(&created)
	if store.IsNoRows(err) {
		return notFound("No such trait(s): %s.", name)
	}
	if err != nil {
		return err
	}
	setLastModified(w, c, store.ParseTime(created))
	noContent(w, http.StatusNoContent)
	return nil
}

// putTrait handles PUT /traits/{name}: 201 when it creates the custom trait, 204 when it
// exists.
func (s *Service) putTrait(w http.ResponseWriter, r *http.Request, c *call) error {
	name := pathValue(r, "name")
	if customTraitSchema.validate(name) != "" {
		return badRequest("The trait is invalid. A valid trait must be no longer than 255 characters, start with the " +
			"prefix \"CUSTOM_\" and use following characters: \"A\"-\"Z\", \"0\"-\"9\" and \"_\"")
	}
	ts := now()
	created := false
	err := s.write(r.Context(), func(tx *store.Tx) error {
		res, err := tx.ExecContext(r.Context(), `INSERT INTO placement_traits (name, standard, created_at, updated_at)
			VALUES (?, ?, ?, '') ON CONFLICT DO NOTHING`, name, false, store.FormatTime(ts))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		created = n == 1
		return nil
	})
	if err != nil {
		return err
	}
	setLocation(w, r, s.traitURL(name))
	setLastModified(w, c, ts)
	if created {
		noContent(w, http.StatusCreated)
	} else {
		noContent(w, http.StatusNoContent)
	}
	return nil
}

// deleteTrait handles DELETE /traits/{name}: only custom traits not on any provider.
func (s *Service) deleteTrait(w http.ResponseWriter, r *http.Request, c *call) error {
	name := pathValue(r, "name")
	err := s.write(r.Context(), func(tx *store.Tx) error {
		if err := requireTrait(r.Context(), tx, name); err != nil {
			return err
		}
		if !strings.HasPrefix(name, "CUSTOM_") {
			return badRequest("Cannot delete standard trait %s.", name)
		}
		var n int
		if err := tx.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM placement_provider_traits WHERE trait = ?`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return conflict("", "The trait %s is in use by a resource provider.", name)
		}
		_, err := tx.ExecContext(r.Context(), `DELETE FROM placement_traits WHERE name = ?`, name)
		return err
	})
	if err != nil {
		return err
	}
	noContent(w, http.StatusNoContent)
	return nil
}

// listProviderTraits handles GET /resource_providers/{uuid}/traits.
func (s *Service) listProviderTraits(w http.ResponseWriter, r *http.Request, c *call) error {
	uuid := pathValue(r, "uuid")
	p, err := getProvider(r.Context(), s.db, uuid)
	if err != nil {
		if isNoProvider(err) {
			return notFound("No resource provider with uuid %s found: %s", uuid, api.AsError(err).Message)
		}
		return err
	}
	traits, err := providerTraits(r.Context(), s.db, uuid)
	if err != nil {
		return err
	}
	setLastModified(w, c, time.Now())
	writeJSON(w, http.StatusOK, map[string]any{"traits": traits, "resource_provider_generation": p.Generation})
	return nil
}

// updateProviderTraits handles PUT /resource_providers/{uuid}/traits.
func (s *Service) updateProviderTraits(w http.ResponseWriter, r *http.Request, c *call) error {
	uuid := pathValue(r, "uuid")
	body, err := api.ReadBody(r, 0)
	if err != nil {
		return err
	}
	data, err := extractJSON(body, setRPTraitsSchema)
	if err != nil {
		return err
	}
	m := data.(map[string]any)
	gen, _ := jsonInt(m["resource_provider_generation"])
	var traits []string
	for _, t := range m["traits"].([]any) {
		traits = appendUnique(traits, t.(string))
	}
	var newGen int64
	err = s.write(r.Context(), func(tx *store.Tx) error {
		p, err := getProvider(r.Context(), tx, uuid)
		if err != nil {
			return err
		}
		if p.Generation != gen {
			return conflict(codeConcurrentUpdate, "Resource provider's generation already changed. Please update the generation and try again.")
		}
		var missing []string
		for _, t := range traits {
			if err := requireTrait(r.Context(), tx, t); err != nil {
				if api.AsError(err).Status != http.StatusNotFound {
					return err
				}
				missing = append(missing, t)
			}
		}
		if len(missing) > 0 {
			return badRequest("No such trait %s", strings.Join(missing, ", "))
		}
		newGen, err = setProviderTraits(r.Context(), tx, p, traits)
		if err == errConcurrentProvider {
			return conflict(codeConcurrentUpdate, "Resource provider's generation already changed. Please update the generation and try again.")
		}
		if err != nil {
			return err
		}
		traits, err = providerTraits(r.Context(), tx, uuid)
		return err
	})
	if err != nil {
		return err
	}
	setLastModified(w, c, time.Now())
	writeJSON(w, http.StatusOK, map[string]any{"traits": traits, "resource_provider_generation": newGen})
	return nil
}

// deleteProviderTraits handles DELETE /resource_providers/{uuid}/traits.
func (s *Service) deleteProviderTraits(w http.ResponseWriter, r *http.Request, c *call) error {
	uuid := pathValue(r, "uuid")
	err := s.write(r.Context(), func(tx *store.Tx) error {
		p, err := getProvider(r.Context(), tx, uuid)
		if err != nil {
			return err
		}
		_, err = setProviderTraits(r.Context(), tx, p, nil)
		if err == errConcurrentProvider {
			return conflict(codeConcurrentUpdate, "%s", errConcurrentProvider.Error())
		}
		return err
	})
	if err != nil {
		return err
	}
	noContent(w, http.StatusNoContent)
	return nil
}
