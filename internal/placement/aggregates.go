package placement

import (
	"context"
	"net/http"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// aggregateRoutes are the provider aggregate routes (microversion 1.1 and later).
func (s *Service) aggregateRoutes() []route {
	const base = "/resource_providers/{uuid}/aggregates"
	return []route{
		{method: "GET", path: base, rule: policyAggList, minVer: v(1), handle: s.listAggregates},
		{method: "PUT", path: base, rule: policyAggUpdate, minVer: v(1), body: true, handle: s.setAggregates},
	}
}

// Aggregate schemas (placement/schemas/aggregate.py): a bare list before 1.19, an object
// with the provider generation from 1.19.
var (
	aggregateListSchema = &schema{types: []string{"array"}, items: uuidFormat(), uniqueItems: true}
	putAggregatesSchema = obj("aggregates", aggregateListSchema, "resource_provider_generation", integer()).
				req("aggregates", "resource_provider_generation").strict()
)

// providerAggregates returns a provider's aggregate uuids.
func providerAggregates(ctx context.Context, q store.Querier, uuid string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT aggregate_uuid FROM placement_provider_aggregates WHERE provider_uuid = ?
		ORDER BY aggregate_uuid`, uuid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// aggregatesBody is the response of GET and PUT .../aggregates.
func aggregatesBody(c *call, gen int64, aggs []string) map[string]any {
	if aggs == nil {
		aggs = []string{}
	}
	out := map[string]any{"aggregates": aggs}
	if c.at(19) {
		out["resource_provider_generation"] = gen
	}
	return out
}

// listAggregates handles GET /resource_providers/{uuid}/aggregates.
func (s *Service) listAggregates(w http.ResponseWriter, r *http.Request, c *call) error {
	uuid := pathValue(r, "uuid")
	p, err := getProvider(r.Context(), s.db, uuid)
	if err != nil {
		return err
	}
	aggs, err := providerAggregates(r.Context(), s.db, uuid)
	if err != nil {
		return err
	}
	setLastModified(w, c, time.Now())
	writeJSON(w, http.StatusOK, aggregatesBody(c, p.Generation, aggs))
	return nil
}

// setAggregates handles PUT /resource_providers/{uuid}/aggregates. From 1.19 the body
// carries the provider generation, which must match, and the generation is bumped.
func (s *Service) setAggregates(w http.ResponseWriter, r *http.Request, c *call) error {
	uuid := pathValue(r, "uuid")
	if _, err := getProvider(r.Context(), s.db, uuid); err != nil {
		return err
	}
	body, err := api.ReadBody(r, 0)
	if err != nil {
		return err
	}
	withGen := c.at(19)
	sch := aggregateListSchema
	if withGen {
		sch = putAggregatesSchema
	}
	data, err := extractJSON(body, sch)
	if err != nil {
		return err
	}
	var list []any
	var gen int64
	if withGen {
		m := data.(map[string]any)
		list = m["aggregates"].([]any)
		gen, _ = jsonInt(m["resource_provider_generation"])
	} else {
		list = data.([]any)
	}
	aggs := make([]string, 0, len(list))
	for _, a := range list {
		aggs = appendUnique(aggs, a.(string))
	}
	var newGen int64
	err = s.write(r.Context(), func(tx *store.Tx) error {
		p, err := getProvider(r.Context(), tx, uuid)
		if err != nil {
			return err
		}
		newGen = p.Generation
		if withGen {
			if p.Generation != gen {
				return conflict(codeConcurrentUpdate, "Resource provider's generation already changed. Please update the generation and try again.")
			}
			if newGen, err = bumpProvider(r.Context(), tx, uuid, gen); err != nil {
				if err == errConcurrentProvider {
					return conflict(codeConcurrentUpdate, "Update conflict: %s", err)
				}
				return err
			}
		}
		if _, err := tx.ExecContext(r.Context(), `DELETE FROM placement_provider_aggregates WHERE provider_uuid = ?`, uuid); err != nil {
			return err
		}
		for _, a := range aggs {
			if _, err := tx.ExecContext(r.Context(), `INSERT INTO placement_provider_aggregates (provider_uuid, aggregate_uuid)
				VALUES (?, ?) ON CONFLICT DO NOTHING`, uuid, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	setLastModified(w, c, time.Now())
	writeJSON(w, http.StatusOK, aggregatesBody(c, newGen, aggs))
	return nil
}
