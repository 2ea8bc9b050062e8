package network

import (
	"context"
	"net/http"
	"slices"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// Address groups (address-group): named sets of CIDRs security group rules can name as
// remote_address_group_id.

func addressGroupNotFound(id string) *api.Error {
	return nerr(http.StatusNotFound, "AddressGroupNotFound", "Address group %s could not be found.", id)
}

func (s *Service) addressGroupKind() *kind {
	return &kind{
		singular: "address_group", collection: "address-groups", table: "net_address_groups", hasTags: true, tagless: true,
		attrs:      []string{"addresses"},
		unsortable: []string{"addresses"},
		columns:    map[string]string{"id": "id", "project_id": "project_id", "tenant_id": "project_id", "name": "name"},
		notFound:   addressGroupNotFound,
		load:       s.loadAddressGroups,
	}
}

func (s *Service) addressGroupRoutes() []route {
	k := s.kinds["address-groups"]
	return append(s.crudRoutes(k, s.createAddressGroup, s.updateAddressGroup, s.deleteAddressGroup),
		route{"PUT", "/v2.0/address-groups/{id}/add_addresses", "add_addresses", s.addressGroupAction(true)},
		route{"PUT", "/v2.0/address-groups/{id}/remove_addresses", "remove_addresses", s.addressGroupAction(false)},
	)
}

func (s *Service) loadAddressGroups(ctx context.Context, q store.Querier, c *call, pre sqlFilter) ([]record, error) {
	where, args := pre.where(s.kinds["address-groups"], "")
	if !s.isAdmin(c) {
		where += ` AND project_id = ?`
		args = append(args, c.project())
	}
	rows, err := q.QueryContext(ctx, `SELECT `+stdCols+` FROM net_address_groups WHERE 1=1`+where, args...)
	if err != nil {
		return nil, err
	}
	var recs []record
	byID := map[string]record{}
	for rows.Next() {
		var a stdAttrs
		if err := rows.Scan(a.dest()...); err != nil {
			rows.Close()
			return nil, err
		}
		rec := record{"addresses": []string{}}
		a.render(rec, nil)
		delete(rec, "tags")
		recs = append(recs, rec)
		byID[a.ID] = rec
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(recs) == 0 {
		return recs, err
	}
	addrs, err := addressGroupAddresses(ctx, q, "")
	if err != nil {
		return nil, err
	}
	for id, list := range addrs {
		if rec := byID[id]; rec != nil {
			rec["addresses"] = list
		}
	}
	return recs, nil
}

// addressGroupAddresses returns the addresses of one group (or of all, id "").
func addressGroupAddresses(ctx context.Context, q store.Querier, id string) (map[string][]string, error) {
	query, args := `SELECT address_group_id, address FROM net_address_group_addresses`, []any{}
	if id != "" {
		query, args = query+` WHERE address_group_id = ?`, append(args, id)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY address_group_id, address`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var gid, a string
		if err := rows.Scan(&gid, &a); err != nil {
			return nil, err
		}
		out[gid] = append(out[gid], a)
	}
	return out, rows.Err()
}

// parseAddresses validates a subnet list and normalises each entry to its network
// ("10.0.0.1" → "10.0.0.1/32", "10.0.0.5/24" → "10.0.0.0/24"), deduplicated.
func parseAddresses(b body) ([]string, error) {
	list, _, err := b.strList("addresses")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range list {
		p, err := parseIPPrefix(a)
		if err != nil {
			return nil, invalidAttr("addresses", "'"+truncate(a, 64)+"' is not a valid IP subnet")
		}
		n := p.Masked().String()
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (s *Service) createAddressGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["address-groups"]
	b, err := decode(r, "address_group")
	if err != nil {
		return err
	}
	if err := b.known("name", "description", "addresses", "project_id", "tenant_id"); err != nil {
		return err
	}
	project, err := b.owner(c)
	if err != nil {
		return err
	}
	name, desc, _, _, err := b.nameAndDescription()
	if err != nil {
		return err
	}
	addrs, err := parseAddresses(b)
	if err != nil {
		return err
	}
	if !s.enforce(c, "create_address_group", policy.Target{"project_id": project}, nil) {
		return policyNotAuthorized("create_address_group")
	}
	id := api.NewUUID()
	ts := store.FormatTime(now())
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if _, err := tx.ExecContext(r.Context(), `INSERT INTO net_address_groups (id, project_id, name, description,
			revision_number, created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?)`, id, project, name, desc, ts, ts); err != nil {
			return err
		}
		return insertAddresses(r.Context(), tx, id, addrs)
	})
	if err != nil {
		return err
	}
	return s.writeOne(w, c, k, http.StatusCreated, id, r.Context())
}

func insertAddresses(ctx context.Context, tx *store.Tx, id string, addrs []string) error {
	for _, a := range addrs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO net_address_group_addresses (address_group_id, address) VALUES (?, ?)`, id, a); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) updateAddressGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["address-groups"]
	id := r.PathValue("id")
	b, err := decode(r, "address_group")
	if err != nil {
		return err
	}
	if err := b.readOnly("id", "project_id", "tenant_id", "addresses"); err != nil {
		return err
	}
	if err := b.known("name", "description"); err != nil {
		return err
	}
	match, err := ifMatch(r)
	if err != nil {
		return err
	}
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "update_address_group", rec); err != nil {
		return err
	}
	name, desc, hasName, hasDesc, err := b.nameAndDescription()
	if err != nil {
		return err
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.bump(r.Context(), tx, k, id, match); err != nil {
			return err
		}
		if hasName {
			if _, err := tx.ExecContext(r.Context(), `UPDATE net_address_groups SET name = ? WHERE id = ?`, name, id); err != nil {
				return err
			}
		}
		if hasDesc {
			if _, err := tx.ExecContext(r.Context(), `UPDATE net_address_groups SET description = ? WHERE id = ?`, desc, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.writeOne(w, c, k, http.StatusOK, id, r.Context())
}

// addressGroupAction is PUT add_addresses / remove_addresses with {"addresses": [...]}.
func (s *Service) addressGroupAction(add bool) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		k := s.kinds["address-groups"]
		id := r.PathValue("id")
		o, err := api.DecodeObject(r, "")
		if err != nil {
			return err
		}
		b := body{Object: o, resource: "address_group"}
		if !b.Has("addresses") {
			return badRequest("Failed to parse request. Required attribute 'addresses' not specified")
		}
		addrs, err := parseAddresses(b)
		if err != nil {
			return err
		}
		rec, err := s.loadOne(r.Context(), s.db, c, k, id)
		if err != nil {
			return err
		}
		if err := s.authorizeOn(c, k, c.rule, rec); err != nil {
			return err
		}
		err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
			cur, err := addressGroupAddresses(r.Context(), tx, id)
			if err != nil {
				return err
			}
			var in, out []string
			for _, a := range addrs {
				if slices.Contains(cur[id], a) {
					in = append(in, a)
				} else {
					out = append(out, a)
				}
			}
			if add {
				if len(in) > 0 {
					return nerr(http.StatusBadRequest, "AddressesAlreadyExist", "Addresses %s already exist in the address group %s.", pyList(in), id)
				}
				if err := insertAddresses(r.Context(), tx, id, out); err != nil {
					return err
				}
			} else {
				if len(out) > 0 {
					return nerr(http.StatusNotFound, "AddressesNotFound", "Addresses %s not found in the address group %s.", pyList(out), id)
				}
				for _, a := range in {
					if _, err := tx.ExecContext(r.Context(), `DELETE FROM net_address_group_addresses WHERE address_group_id = ? AND address = ?`, id, a); err != nil {
						return err
					}
				}
			}
			return s.bump(r.Context(), tx, k, id, nil)
		})
		if err != nil {
			return err
		}
		s.notify()
		return s.writeOne(w, c, k, http.StatusOK, id, r.Context())
	}
}

func (s *Service) deleteAddressGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["address-groups"]
	id := r.PathValue("id")
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "delete_address_group", rec); err != nil {
		return err
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM net_security_group_rules WHERE remote_address_group_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return inUse("AddressGroupInUse", "Address group %s is in use on one or more security group rules.", id)
		}
		for _, q := range []string{`DELETE FROM net_address_group_addresses WHERE address_group_id = ?`, `DELETE FROM net_address_groups WHERE id = ?`} {
			if _, err := tx.ExecContext(r.Context(), q, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkAddressGroup is check_address_group: the group exists and, for non-admins,
// belongs to the project.
func (s *Service) checkAddressGroup(ctx context.Context, c *call, id, project string) error {
	var owner string
	err := s.db.QueryRowContext(ctx, `SELECT project_id FROM net_address_groups WHERE id = ?`, id).Scan(&owner)
	if store.IsNoRows(err) || (err == nil && !s.isAdmin(c) && owner != project) {
		return addressGroupNotFound(id)
	}
	return err
}

// addressGroupCIDRs returns the addresses of the groups named, for the driver state.
func addressGroupCIDRs(ctx context.Context, q store.Querier) (map[string][]string, error) {
	return addressGroupAddresses(ctx, q, "")
}
