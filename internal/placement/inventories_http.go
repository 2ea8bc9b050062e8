package placement

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// inventoryRoutes are the inventory routes.
func (s *Service) inventoryRoutes() []route {
	const base = "/resource_providers/{uuid}/inventories"
	return []route{
		{method: "GET", path: base, rule: policyInvList, handle: s.listInventories},
		{method: "POST", path: base, rule: policyInvCreate, body: true, handle: s.createInventory},
		{method: "PUT", path: base, rule: policyInvUpdate, body: true, handle: s.setInventories},
		{method: "DELETE", path: base, rule: policyInvDelete, minVer: v(5), outside: http.StatusMethodNotAllowed, handle: s.deleteInventories},
		{method: "GET", path: base + "/{resource_class}", rule: policyInvShow, handle: s.showInventory},
		{method: "PUT", path: base + "/{resource_class}", rule: policyInvUpdate, body: true, handle: s.updateInventory},
		{method: "DELETE", path: base + "/{resource_class}", rule: policyInvDelete, handle: s.deleteInventory},
	}
}

// Inventory schemas (placement/schemas/inventory.py).
var (
	amountSchema        = integer().between(f64(1), f64(maxInt))
	baseInventorySchema = obj(
		"resource_provider_generation", integer(),
		"total", amountSchema,
		"reserved", integer().between(f64(0), f64(maxInt)),
		"min_unit", amountSchema,
		"max_unit", amountSchema,
		"step_size", amountSchema,
		"allocation_ratio", number().between(nil, f64(sqlSPFloatMax)),
	).req("total", "resource_provider_generation").strict()
	postInventorySchema = func() *schema {
		s := baseInventorySchema.with("resource_class", str().matching(rcPattern)).without("resource_provider_generation")
		s = s.with("resource_provider_generation", integer())
		return s.req("resource_class")
	}()
	putInventoryRecordSchema = func() *schema {
		s := baseInventorySchema.clone()
		s.required = []string{"total"}
		return s
	}()
	putInventoriesSchema = obj(
		"resource_provider_generation", integer(),
		"inventories", obj().pat(rcPattern, putInventoryRecordSchema),
	).req("resource_provider_generation", "inventories").strict()
)

// jsonInt reads an integer-valued JSON number.
func jsonInt(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return 0, false
	}
	return int64(f), true
}

// jsonFloat reads a JSON number.
func jsonFloat(v any) float64 {
	n, _ := v.(json.Number)
	f, _ := strconv.ParseFloat(string(n), 64)
	return f
}

// inventoryFromJSON builds a record from validated fields, with Placement's defaults.
func inventoryFromJSON(rc string, m map[string]any) *inventory {
	i := &inventory{ResourceClass: rc, MinUnit: 1, MaxUnit: maxInt, StepSize: 1, AllocationRatio: 1.0}
	i.Total, _ = jsonInt(m["total"])
	if v, ok := m["reserved"]; ok {
		i.Reserved, _ = jsonInt(v)
	}
	if v, ok := m["min_unit"]; ok {
		i.MinUnit, _ = jsonInt(v)
	}
	if v, ok := m["max_unit"]; ok {
		i.MaxUnit, _ = jsonInt(v)
	}
	if v, ok := m["step_size"]; ok {
		i.StepSize, _ = jsonInt(v)
	}
	if v, ok := m["allocation_ratio"]; ok {
		i.AllocationRatio = jsonFloat(v)
	}
	return i
}

// checkCapacity is Placement's _validate_inventory_capacity: before 1.26 reserved must be
// below total (capacity > 0); from 1.26 it may equal it (capacity >= 0).
func checkCapacity(c *call, uuid string, invs []*inventory) error {
	for _, i := range invs {
		capacity := i.capacity()
		if !c.at(26) && capacity <= 0 {
			return errors.New("Invalid inventory for '" + i.ResourceClass + "' on resource provider '" + uuid +
				"'. The reserved value is greater than or equal to total.")
		}
		if c.at(26) && capacity < 0 {
			return errors.New("Invalid inventory for '" + i.ResourceClass + "' on resource provider '" + uuid +
				"'. The reserved value is greater than total.")
		}
	}
	return nil
}

// inventoriesBody is the body of GET and PUT /resource_providers/{uuid}/inventories.
func inventoriesBody(gen int64, invs map[string]*inventory) (map[string]any, time.Time) {
	out := map[string]any{}
	var last time.Time
	for rc, i := range invs {
		out[rc] = i.toJSON()
		if lm := i.lastModified(); lm.After(last) {
			last = lm
		}
	}
	return map[string]any{"resource_provider_generation": gen, "inventories": out}, last
}

// listInventories handles GET /resource_providers/{uuid}/inventories.
func (s *Service) listInventories(w http.ResponseWriter, r *http.Request, c *call) error {
	uuid := pathValue(r, "uuid")
	p, err := getProvider(r.Context(), s.db, uuid)
	if err != nil {
		if isNoProvider(err) {
			return notFound("No resource provider with uuid %s found : %s", uuid, api.AsError(err).Message)
		}
		return err
	}
	invs, err := providerInventories(r.Context(), s.db, uuid)
	if err != nil {
		return err
	}
	body, last := inventoriesBody(p.Generation, invs)
	setLastModified(w, c, last)
	writeJSON(w, http.StatusOK, body)
	return nil
}

// showInventory handles GET /resource_providers/{uuid}/inventories/{resource_class}.
func (s *Service) showInventory(w http.ResponseWriter, r *http.Request, c *call) error {
	uuid, rc := pathValue(r, "uuid"), pathValue(r, "resource_class")
	p, err := getProvider(r.Context(), s.db, uuid)
	if err != nil {
		if isNoProvider(err) {
			return notFound("No resource provider with uuid %s found : %s", uuid, api.AsError(err).Message)
		}
		return err
	}
	invs, err := providerInventories(r.Context(), s.db, uuid)
	if err != nil {
		return err
	}
	i := invs[rc]
	if i == nil {
		return notFound("No inventory of class %s for %s", rc, uuid)
	}
	setLastModified(w, c, i.lastModified())
	writeJSON(w, http.StatusOK, i.withGeneration(p.Generation))
	return nil
}

// createInventory handles POST /resource_providers/{uuid}/inventories: one new record,
// 201 with a Location header.
func (s *Service) createInventory(w http.ResponseWriter, r *http.Request, c *call) error {
	uuid := pathValue(r, "uuid")
	if _, err := getProvider(r.Context(), s.db, uuid); err != nil {
		return err
	}
	body, err := api.ReadBody(r, 0)
	if err != nil {
		return err
	}
	data, err := extractJSON(body, postInventorySchema)
	if err != nil {
		return err
	}
	m := data.(map[string]any)
	inv := inventoryFromJSON(m["resource_class"].(string), m)
	if err := checkCapacity(c, uuid, []*inventory{inv}); err != nil {
		return badRequest("Unable to create inventory for resource provider %s: %s", uuid, err)
	}
	var gen int64
	err = s.write(r.Context(), func(tx *store.Tx) error {
		p, err := getProvider(r.Context(), tx, uuid)
		if err != nil {
			return err
		}
		if err := requireResourceClass(r.Context(), tx, inv.ResourceClass); err != nil {
			return badRequest("Unable to create inventory for resource provider %s: %s", uuid, api.AsError(err).Message)
		}
		invs, err := providerInventories(r.Context(), tx, uuid)
		if err != nil {
			return err
		}
		if invs[inv.ResourceClass] != nil {
			return conflict(codeConcurrentUpdate, "Update conflict: Inventory for '%s' on resource provider '%s' already exists.",
				inv.ResourceClass, uuid)
		}
		if gen, err = bumpProvider(r.Context(), tx, uuid, p.Generation); err != nil {
			if err == errConcurrentProvider {
				return conflict(codeConcurrentUpdate, "Update conflict: %s", err)
			}
			return err
		}
		all := []*inventory{inv}
		for _, i := range invs {
			all = append(all, i)
		}
		return replaceInventories(r.Context(), tx, uuid, all)
	})
	if err != nil {
		return err
	}
	setLocation(w, r, s.providerURL(uuid)+"/inventories/"+inv.ResourceClass)
	setLastModified(w, c, now())
	writeJSON(w, http.StatusCreated, inv.withGeneration(gen))
	return nil
}

// setInventories handles PUT /resource_providers/{uuid}/inventories: the provider's whole
// inventory, checked against the generation the client read.
func (s *Service) setInventories(w http.ResponseWriter, r *http.Request, c *call) error {
	uuid := pathValue(r, "uuid")
	if _, err := getProvider(r.Context(), s.db, uuid); err != nil {
		return err
	}
	body, err := api.ReadBody(r, 0)
	if err != nil {
		return err
	}
	data, err := extractJSON(body, putInventoriesSchema)
	if err != nil {
		return err
	}
	m := data.(map[string]any)
	gen, _ := jsonInt(m["resource_provider_generation"])
	raw := m["inventories"].(map[string]any)
	var invs []*inventory
	for _, rc := range sortedKeys(raw) {
		rec, ok := raw[rc].(map[string]any)
		if !ok {
			return badRequest("JSON does not validate: %s is not of type 'object'", pyRepr(raw[rc]))
		}
		if msg := putInventoryRecordSchema.validate(rec); msg != "" {
			return badRequest("JSON does not validate: %s", msg)
		}
		invs = append(invs, inventoryFromJSON(rc, rec))
	}
	var newGen int64
	err = s.write(r.Context(), func(tx *store.Tx) error {
		p, err := getProvider(r.Context(), tx, uuid)
		if err != nil {
			return err
		}
		if p.Generation != gen {
			return conflict(codeConcurrentUpdate, "resource provider generation conflict")
		}
		if err := checkCapacity(c, uuid, invs); err != nil {
			return badRequest("Unable to update inventory for resource provider %s: %s", uuid, err)
		}
		if newGen, err = bumpProvider(r.Context(), tx, uuid, gen); err != nil {
			if err == errConcurrentProvider {
				return conflict(codeConcurrentUpdate, "update conflict: %s", err)
			}
			return err
		}
		return s.inventoryWriteError(replaceInventories(r.Context(), tx, uuid, invs), uuid, "update conflict: ")
	})
	if err != nil {
		return err
	}
	byRC := map[string]*inventory{}
	for _, i := range invs {
		byRC[i.ResourceClass] = i
	}
	out, _ := inventoriesBody(newGen, byRC)
	setLastModified(w, c, now())
	writeJSON(w, http.StatusOK, out)
	return nil
}

// inventoryWriteError maps replaceInventories' errors to Placement's responses for PUT.
func (s *Service) inventoryWriteError(err error, uuid, inUsePrefix string) error {
	var inUse *inventoryInUse
	var noRC *noResourceClass
	switch {
	case err == nil:
		return nil
	case errors.As(err, &inUse):
		return conflict(codeInventoryInUse, "%s%s", inUsePrefix, inUse.Error())
	case errors.As(err, &noRC):
		return badRequest("Unknown resource class in inventory for resource provider %s: %s", uuid, noRC.Error())
	}
	return err
}

// deleteInventories handles DELETE /resource_providers/{uuid}/inventories (1.5).
func (s *Service) deleteInventories(w http.ResponseWriter, r *http.Request, c *call) error {
	uuid := pathValue(r, "uuid")
	err := s.write(r.Context(), func(tx *store.Tx) error {
		p, err := getProvider(r.Context(), tx, uuid)
		if err != nil {
			return err
		}
		if _, err := bumpProvider(r.Context(), tx, uuid, p.Generation); err != nil {
			if err == errConcurrentProvider {
				return conflict(codeConcurrentUpdate, "Unable to delete inventory for resource provider %s because the inventory "+
					"was updated by another process. Please retry your request.", uuid)
			}
			return err
		}
		err = replaceInventories(r.Context(), tx, uuid, nil)
		var inUse *inventoryInUse
		if errors.As(err, &inUse) {
			return conflict(codeInventoryInUse, "%s", inUse.Error())
		}
		return err
	})
	if err != nil {
		return err
	}
	noContent(w, http.StatusNoContent)
	return nil
}

// updateInventory handles PUT /resource_providers/{uuid}/inventories/{resource_class}.
func (s *Service) updateInventory(w http.ResponseWriter, r *http.Request, c *call) error {
	uuid, rc := pathValue(r, "uuid"), pathValue(r, "resource_class")
	if _, err := getProvider(r.Context(), s.db, uuid); err != nil {
		return err
	}
	body, err := api.ReadBody(r, 0)
	if err != nil {
		return err
	}
	data, err := extractJSON(body, baseInventorySchema)
	if err != nil {
		return err
	}
	m := data.(map[string]any)
	gen, _ := jsonInt(m["resource_provider_generation"])
	inv := inventoryFromJSON(rc, m)
	var newGen int64
	err = s.write(r.Context(), func(tx *store.Tx) error {
		p, err := getProvider(r.Context(), tx, uuid)
		if err != nil {
			return err
		}
		if p.Generation != gen {
			return conflict(codeConcurrentUpdate, "resource provider generation conflict")
		}
		if err := checkCapacity(c, uuid, []*inventory{inv}); err != nil {
			return badRequest("Unable to update inventory for resource provider %s: %s", uuid, err)
		}
		if err := requireResourceClass(r.Context(), tx, rc); err != nil {
			return err
		}
		invs, err := providerInventories(r.Context(), tx, uuid)
		if err != nil {
			return err
		}
		if invs[rc] == nil {
			return badRequest("No inventory record with resource class for resource provider %s: No inventory of class %s found.", uuid, rc)
		}
		if newGen, err = bumpProvider(r.Context(), tx, uuid, gen); err != nil {
			if err == errConcurrentProvider {
				return conflict(codeConcurrentUpdate, "update conflict: %s", err)
			}
			return err
		}
		invs[rc] = inv
		all := make([]*inventory, 0, len(invs))
		for _, k := range sortedKeys(invs) {
			all = append(all, invs[k])
		}
		return replaceInventories(r.Context(), tx, uuid, all)
	})
	if err != nil {
		return err
	}
	setLastModified(w, c, now())
	writeJSON(w, http.StatusOK, inv.withGeneration(newGen))
	return nil
}

// deleteInventory handles DELETE /resource_providers/{uuid}/inventories/{resource_class}.
func (s *Service) deleteInventory(w http.ResponseWriter, r *http.Request, c *call) error {
	uuid, rc := pathValue(r, "uuid"), pathValue(r, "resource_class")
	err := s.write(r.Context(), func(tx *store.Tx) error {
		p, err := getProvider(r.Context(), tx, uuid)
		if err != nil {
			return err
		}
		if err := requireResourceClass(r.Context(), tx, rc); err != nil {
			return notFound("No inventory of class %s found for delete: %s", rc, api.AsError(err).Message)
		}
		invs, err := providerInventories(r.Context(), tx, uuid)
		if err != nil {
			return err
		}
		if invs[rc] == nil {
			return notFound("No inventory of class %s found for delete: No inventory of class %s found for delete", rc, rc)
		}
		if _, err := bumpProvider(r.Context(), tx, uuid, p.Generation); err != nil {
			if err == errConcurrentProvider {
				return conflict(codeConcurrentUpdate, "Unable to delete inventory of class %s: %s", rc, err)
			}
			return err
		}
		var rest []*inventory
		for _, k := range sortedKeys(invs) {
			if k != rc {
				rest = append(rest, invs[k])
			}
		}
		err = replaceInventories(r.Context(), tx, uuid, rest)
		var inUse *inventoryInUse
		if errors.As(err, &inUse) {
			return conflict(codeConcurrentUpdate, "Unable to delete inventory of class %s: %s", rc, inUse.Error())
		}
		return err
	})
	if err != nil {
		return err
	}
	noContent(w, http.StatusNoContent)
	return nil
}
