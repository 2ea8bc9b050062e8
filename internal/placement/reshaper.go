package placement

import (
	"errors"
	"net/http"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// reshaperRoutes is POST /reshaper (1.30).
func (s *Service) reshaperRoutes() []route {
	return []route{{method: "POST", path: "/reshaper", rule: policyReshape, minVer: v(30), body: true, handle: s.reshape}}
}

// Reshaper schemas (placement/schemas/reshaper.py).
var (
	reshaperInventories = obj().minP(1).pat(uuidPattern, putInventoriesSchema).strict()
	reshaperSchema130   = obj("inventories", reshaperInventories, "allocations", func() *schema {
		s := postAllocs128.clone()
		s.minProps = 0
		return s
	}()).req("inventories", "allocations").strict()
	reshaperSchema134 = reshaperSchema130.with("allocations", func() *schema {
		s := postAllocs134.clone()
		s.minProps = 0
		return s
	}())
	reshaperSchema138 = reshaperSchema130.with("allocations", func() *schema {
		s := postAllocs138.clone()
		s.minProps = 0
		return s
	}())
)

// reshape handles POST /reshaper: in one transaction, each listed provider's inventory is
// first widened to hold both its old and new classes, the allocations are replaced, and
// then each inventory is narrowed to exactly the new one. Either all of it happens or
// none.
func (s *Service) reshape(w http.ResponseWriter, r *http.Request, c *call) error {
	sch := reshaperSchema130
	switch {
	case c.at(38):
		sch = reshaperSchema138
	case c.at(34):
		sch = reshaperSchema134
	}
	body, err := api.ReadBody(r, 0)
	if err != nil {
		return err
	}
	data, err := extractJSON(body, sch)
	if err != nil {
		return err
	}
	m := data.(map[string]any)
	type rpInventory struct {
		uuid string
		gen  int64
		invs []*inventory
	}
	var rps []rpInventory
	rawInv := m["inventories"].(map[string]any)
	for _, uuid := range sortedKeys(rawInv) {
		e := rawInv[uuid].(map[string]any)
		gen, _ := jsonInt(e["resource_provider_generation"])
		ri := rpInventory{uuid: uuid, gen: gen}
		invMap := e["inventories"].(map[string]any)
		for _, rc := range sortedKeys(invMap) {
			rec, ok := invMap[rc].(map[string]any)
			if !ok {
				return badRequest("JSON does not validate: %s is not of type 'object'", pyRepr(invMap[rc]))
			}
			if msg := putInventoryRecordSchema.validate(rec); msg != "" {
				return badRequest("JSON does not validate: %s", msg)
			}
			ri.invs = append(ri.invs, inventoryFromJSON(rc, rec))
		}
		rps = append(rps, ri)
	}
	rawAllocs := m["allocations"].(map[string]any)
	var ws []consumerWrite
	for _, uuid := range sortedKeys(rawAllocs) {
		ws = append(ws, s.consumerWriteFromJSON(c, uuid, rawAllocs[uuid].(map[string]any)))
	}
	err = s.write(r.Context(), func(tx *store.Tx) error {
		ctx := r.Context()
		for _, ri := range rps {
			p, err := getProvider(ctx, tx, ri.uuid)
			if err != nil {
				if isNoProvider(err) {
					return perr(http.StatusBadRequest, codeProviderNotFound, "Resource provider %s in inventories not found: %s",
						ri.uuid, api.AsError(err).Message)
				}
				return err
			}
			if p.Generation != ri.gen {
				return conflict(codeConcurrentUpdate, "resource provider generation conflict for provider %s: actual: %d, given: %d",
					ri.uuid, p.Generation, ri.gen)
			}
		}
		// Lock the consumers, then every provider the reshape touches (those whose
		// inventory changes, those allocated from and those the consumers hold
		// allocations on), in the order every writer uses.
		lock := map[string]bool{}
		for _, ri := range rps {
			lock[ri.uuid] = true
		}
		for _, cw := range ws {
			if _, err := tx.ExecContext(ctx, `UPDATE placement_consumers SET updated_at = updated_at WHERE uuid = ?`, cw.uuid); err != nil {
				return err
			}
			held, err := consumerAllocations(ctx, tx, cw.uuid)
			if err != nil {
				return err
			}
			for _, a := range held {
				lock[a.Provider] = true
			}
			for _, a := range cw.allocs {
				lock[a.provider] = true
			}
		}
		if err := lockProviders(ctx, tx, lock); err != nil {
			return err
		}
		for _, ri := range rps {
			// Lock the provider at the generation the client read; the interim inventory
			// (old and new classes together) is written only when there is a new one, as
			// Placement's reshape skips it (and its generation bump) otherwise.
			if len(ri.invs) == 0 {
				res, err := tx.ExecContext(ctx, `UPDATE placement_resource_providers SET updated_at = updated_at
					WHERE uuid = ? AND generation = ?`, ri.uuid, ri.gen)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n != 1 {
					return conflict(codeConcurrentUpdate, "update conflict: %s", errConcurrentProvider)
				}
				continue
			}
			if _, err := bumpProvider(ctx, tx, ri.uuid, ri.gen); err != nil {
				if err == errConcurrentProvider {
					return conflict(codeConcurrentUpdate, "update conflict: %s", err)
				}
				return err
			}
			interim, err := providerInventories(ctx, tx, ri.uuid)
			if err != nil {
				return err
			}
			for _, i := range ri.invs {
				interim[i.ResourceClass] = i
			}
			all := make([]*inventory, 0, len(interim))
			for _, rc := range sortedKeys(interim) {
				all = append(all, interim[rc])
			}
			if err := reshapeInventoryError(replaceInventories(ctx, tx, ri.uuid, all)); err != nil {
				return err
			}
		}
		if err := writeAllocations(ctx, tx, ws); err != nil {
			var ae *allocationError
			if errors.As(err, &ae) && ae.kind == "no_class" {
				return badRequest("malformed reshaper data: %s", ae.msg)
			}
			return allocationWriteError(err, "")
		}
		for _, ri := range rps {
			if _, err := bumpProvider(ctx, tx, ri.uuid, -1); err != nil {
				return err
			}
			if err := reshapeInventoryError(replaceInventories(ctx, tx, ri.uuid, ri.invs)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	noContent(w, http.StatusNoContent)
	return nil
}

// reshapeInventoryError words inventory failures as the reshaper does.
func reshapeInventoryError(err error) error {
	var inUse *inventoryInUse
	var noRC *noResourceClass
	switch {
	case err == nil:
		return nil
	case errors.As(err, &inUse):
		return conflict(codeInventoryInUse, "update conflict: %s", inUse.Error())
	case errors.As(err, &noRC):
		return badRequest("malformed reshaper data: %s", noRC.Error())
	}
	return err
}
