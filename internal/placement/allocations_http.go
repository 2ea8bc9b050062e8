package placement

import (
	"errors"
	"net/http"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// allocationRoutes are the allocation routes.
func (s *Service) allocationRoutes() []route {
	return []route{
		{method: "GET", path: "/resource_providers/{uuid}/allocations", rule: policyRPAllocList, handle: s.listProviderAllocations},
		{method: "POST", path: "/allocations", rule: policyAllocManage, minVer: v(13), body: true, handle: s.postAllocations},
		{method: "GET", path: "/allocations/{consumer_uuid}", rule: policyAllocList, handle: s.listConsumerAllocations},
		{method: "PUT", path: "/allocations/{consumer_uuid}", rule: policyAllocUpdate, body: true, handle: s.putAllocations},
		{method: "DELETE", path: "/allocations/{consumer_uuid}", rule: policyAllocDelete, handle: s.deleteAllocations},
	}
}

// Allocation schemas (placement/schemas/allocation.py).
var (
	resourcesSchema = obj().minP(1).pat(rcPattern, integer().between(f64(1), nil)).strict()
	idSchema        = str().lenRange(1, 255)

	allocSchema10 = obj("allocations", &schema{types: []string{"array"}, minItems: 1, items: obj(
		"resource_provider", obj("uuid", uuidFormat()).req("uuid").strict(),
		"resources", resourcesSchema,
	).req("resource_provider", "resources").strict()}).req("allocations").strict()
	allocSchema18 = allocSchema10.with("project_id", idSchema).with("user_id", idSchema).req("project_id", "user_id")

	allocSchema112 = obj(
		"allocations", obj().minP(1).pat(uuidPattern, obj("generation", integer(), "resources", resourcesSchema).req("resources").strict()).strict(),
		"project_id", idSchema,
		"user_id", idSchema,
	).req("allocations", "project_id", "user_id").strict()
	deletableAllocs = func() *schema {
		s := allocSchema112.clone()
		s.props["allocations"].minProps = 0
		return s
	}()
	postAllocs113  = obj().minP(1).pat(uuidPattern, deletableAllocs).strict()
	allocSchema128 = deletableAllocs.with("consumer_generation", ofTypes("integer", "null")).req("consumer_generation")
	postAllocs128  = obj().minP(1).pat(uuidPattern, allocSchema128).strict()
	mappingsSchema = obj().minP(1).pat(groupPat133, &schema{types: []string{"array"}, minItems: 1, items: uuidFormat()})
	allocSchema134 = allocSchema128.with("mappings", mappingsSchema)
	postAllocs134  = obj().minP(1).pat(uuidPattern, allocSchema134).strict()
	allocSchema138 = allocSchema134.with("consumer_type", str().matching(consumerTypeRE).lenRange(1, 255)).req("consumer_type")
	postAllocs138  = obj().minP(1).pat(uuidPattern, allocSchema138).strict()
)

// putAllocationSchema returns the PUT /allocations/{consumer_uuid} schema for a version.
func putAllocationSchema(c *call) *schema {
	switch {
	case c.at(38):
		return allocSchema138
	case c.at(34):
		return allocSchema134
	case c.at(28):
		return allocSchema128
	case c.at(12):
		return allocSchema112
	case c.at(8):
		return allocSchema18
	}
	return allocSchema10
}

// postAllocationSchema returns the POST /allocations schema for a version.
func postAllocationSchema(c *call) *schema {
	switch {
	case c.at(38):
		return postAllocs138
	case c.at(34):
		return postAllocs134
	case c.at(28):
		return postAllocs128
	}
	return postAllocs113
}

// consumerWriteFromJSON builds one consumer's write from a validated body in the 1.12+
// (dict) form, or the older list form.
func (s *Service) consumerWriteFromJSON(c *call, uuid string, m map[string]any) consumerWrite {
	w := consumerWrite{uuid: uuid, projectID: s.cfg.IncompleteConsumerProjectID, userID: s.cfg.IncompleteConsumerUserID}
	if p, ok := m["project_id"].(string); ok {
		w.projectID = p
		if u, ok := m["user_id"].(string); ok {
			w.userID = u
		}
	}
	if c.at(28) {
		w.checkGeneration = true
		if g, ok := jsonInt(m["consumer_generation"]); ok {
			w.generation = &g
		}
	}
	if c.at(38) {
		w.consumerType, _ = m["consumer_type"].(string)
	}
	switch allocs := m["allocations"].(type) {
	case []any:
		byRP := map[string]map[string]any{}
		var order []string
		for _, e := range allocs {
			em := e.(map[string]any)
			rp := em["resource_provider"].(map[string]any)["uuid"].(string)
			if _, ok := byRP[rp]; !ok {
				order = append(order, rp)
			}
			byRP[rp] = em["resources"].(map[string]any)
		}
		for _, rp := range order {
			res := byRP[rp]
			for _, rc := range sortedKeys(res) {
				n, _ := jsonInt(res[rc])
				w.allocs = append(w.allocs, allocationWant{provider: rp, rc: rc, used: n})
			}
		}
	case map[string]any:
		for _, rp := range sortedKeys(allocs) {
			res := allocs[rp].(map[string]any)["resources"].(map[string]any)
			for _, rc := range sortedKeys(res) {
				n, _ := jsonInt(res[rc])
				w.allocs = append(w.allocs, allocationWant{provider: rp, rc: rc, used: n})
			}
		}
	}
	return w
}

// allocationWriteError maps writeAllocations' failures to Placement's responses; prefix
// is how the handler words a missing class ("Unable to allocate inventory for consumer X:
// " for PUT, "Unable to allocate inventory " for POST).
func allocationWriteError(err error, noClassPrefix string) error {
	var ae *allocationError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.kind {
	case "generation":
		return conflict(codeConcurrentUpdate, "%s", ae.msg)
	case "concurrent":
		return conflict(codeConcurrentUpdate, "Inventory and/or allocations changed while attempting to allocate: %s", ae.msg)
	case "no_provider":
		return badRequest("%s", ae.msg)
	case "no_class":
		return badRequest("%s%s", noClassPrefix, ae.msg)
	}
	return conflict("", "Unable to allocate inventory: %s", ae.msg)
}

// putAllocations handles PUT /allocations/{consumer_uuid}.
func (s *Service) putAllocations(w http.ResponseWriter, r *http.Request, c *call) error {
	raw := pathValue(r, "consumer_uuid")
	if !isUUIDLike(raw) {
		return badRequest("Malformed consumer_uuid: %s", raw)
	}
	uuid := normalizeUUID(raw)
	body, err := api.ReadBody(r, 0)
	if err != nil {
		return err
	}
	data, err := extractJSON(body, putAllocationSchema(c))
	if err != nil {
		return err
	}
	cw := s.consumerWriteFromJSON(c, uuid, data.(map[string]any))
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		return writeAllocations(r.Context(), tx, []consumerWrite{cw})
	})
	if err != nil {
		return allocationWriteError(err, "Unable to allocate inventory for consumer "+uuid+": ")
	}
	noContent(w, http.StatusNoContent)
	return nil
}

// postAllocations handles POST /allocations (1.13): several consumers in one transaction.
func (s *Service) postAllocations(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := api.ReadBody(r, 0)
	if err != nil {
		return err
	}
	data, err := extractJSON(body, postAllocationSchema(c))
	if err != nil {
		return err
	}
	m := data.(map[string]any)
	var ws []consumerWrite
	for _, uuid := range sortedKeys(m) {
		ws = append(ws, s.consumerWriteFromJSON(c, uuid, m[uuid].(map[string]any)))
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error { return writeAllocations(r.Context(), tx, ws) })
	if err != nil {
		return allocationWriteError(err, "Unable to allocate inventory ")
	}
	noContent(w, http.StatusNoContent)
	return nil
}

// listConsumerAllocations handles GET /allocations/{consumer_uuid}: an empty allocations
// object for an unknown consumer, never a 404.
func (s *Service) listConsumerAllocations(w http.ResponseWriter, r *http.Request, c *call) error {
	uuid := pathValue(r, "consumer_uuid")
	allocs, err := consumerAllocations(r.Context(), s.db, uuid)
	if err != nil {
		return err
	}
	cons, _, err := getConsumer(r.Context(), s.db, uuid)
	if err != nil {
		return err
	}
	byRP := map[string]map[string]any{}
	var last time.Time
	for _, a := range allocs {
		e := byRP[a.Provider]
		if e == nil {
			e = map[string]any{"resources": map[string]int64{}}
			byRP[a.Provider] = e
		}
		e["resources"].(map[string]int64)[a.ResourceClass] = a.Used
		e["generation"] = a.ProviderGeneration
		if a.CreatedAt.After(last) {
			last = a.CreatedAt
		}
	}
	out := map[string]any{"allocations": byRP}
	if len(allocs) > 0 && cons != nil && c.at(12) {
		out["project_id"] = cons.ProjectID
		out["user_id"] = cons.UserID
		if c.at(28) {
			out["consumer_generation"] = cons.Generation
		}
		if c.at(38) {
			ct := cons.ConsumerType
			if ct == "" {
				ct = "unknown"
			}
			out["consumer_type"] = ct
		}
	}
	setLastModified(w, c, last)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listProviderAllocations handles GET /resource_providers/{uuid}/allocations.
func (s *Service) listProviderAllocations(w http.ResponseWriter, r *http.Request, c *call) error {
	uuid := pathValue(r, "uuid")
	gens := map[string]int64{}
	p, err := getProvider(r.Context(), s.db, uuid)
	if err != nil {
		if isNoProvider(err) {
			return notFound("Resource provider '%s' not found: %s", uuid, api.AsError(err).Message)
		}
		return err
	}
	allocs, err := providerAllocations(r.Context(), s.db, uuid)
	if err != nil {
		return err
	}
	if c.at(28) {
		err := func() error {
			rows, err := s.db.QueryContext(r.Context(), `SELECT c.uuid, c.generation FROM placement_consumers c
				WHERE EXISTS (SELECT 1 FROM placement_allocations a WHERE a.consumer_uuid = c.uuid AND a.provider_uuid = ?)`, uuid)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var cu string
				var g int64
				if err := rows.Scan(&cu, &g); err != nil {
					return err
				}
				gens[cu] = g
			}
			return rows.Err()
		}()
		if err != nil {
			return err
		}
	}
	byConsumer := map[string]map[string]any{}
	var last time.Time
	for _, a := range allocs {
		e := byConsumer[a.Consumer]
		if e == nil {
			e = map[string]any{"resources": map[string]int64{}}
			if c.at(28) {
				if g, ok := gens[a.Consumer]; ok {
					e["consumer_generation"] = g
				} else {
					e["consumer_generation"] = nil
				}
			}
			byConsumer[a.Consumer] = e
		}
		e["resources"].(map[string]int64)[a.ResourceClass] = a.Used
		if a.CreatedAt.After(last) {
			last = a.CreatedAt
		}
	}
	setLastModified(w, c, last)
	writeJSON(w, http.StatusOK, map[string]any{"allocations": byConsumer, "resource_provider_generation": p.Generation})
	return nil
}

// deleteAllocations handles DELETE /allocations/{consumer_uuid}.
func (s *Service) deleteAllocations(w http.ResponseWriter, r *http.Request, c *call) error {
	uuid := pathValue(r, "consumer_uuid")
	var found bool
	err := s.db.InTx(r.Context(), func(tx *store.Tx) error {
		var err error
		found, err = deleteConsumerAllocations(r.Context(), tx, uuid)
		return err
	})
	if err != nil {
		return err
	}
	if !found {
		return notFound("No allocations for consumer '%s'", uuid)
	}
	noContent(w, http.StatusNoContent)
	return nil
}
