package placement

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// provider is a resource provider row.
type provider struct {
	UUID, Name           string
	Generation           int64
	ParentUUID, RootUUID string // ParentUUID is "" for a root provider
	CreatedAt, UpdatedAt time.Time
}

// lastModified is updated_at, or created_at for a row never updated.
func (p *provider) lastModified() time.Time {
	if !p.UpdatedAt.IsZero() {
		return p.UpdatedAt
	}
	return p.CreatedAt
}

// providerColumns is the column list scanProvider reads.
const providerColumns = `uuid, name, generation, COALESCE(parent_uuid, ''), root_uuid, created_at, updated_at`

// scanProvider reads one row selected with providerColumns.
func scanProvider(row interface{ Scan(...any) error }) (*provider, error) {
	var p provider
	var created, updated string
	if err := row.Scan(&p.UUID, &p.Name, &p.Generation, &p.ParentUUID, &p.RootUUID, &created, &updated); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = store.ParseTime(created), store.ParseTime(updated)
	return &p, nil
}

// errNoProvider is the lookup failure getProvider reports.
var errNoProvider = errors.New("no such resource provider")

// getProvider loads one provider; a missing one is errNoProvider wrapped in a 404 whose
// detail is Placement's "No resource provider with uuid X found".
func getProvider(ctx context.Context, q store.Querier, uuid string) (*provider, error) {
	p, err := scanProvider(q.QueryRowContext(ctx, `SELECT `+providerColumns+`
		FROM placement_resource_providers WHERE uuid = ?`, uuid))
	if store.IsNoRows(err) {
		return nil, &api.Error{Status: http.StatusNotFound, Message: fmt.Sprintf("No resource provider with uuid %s found", uuid), Err: errNoProvider}
	}
	return p, err
}

// isNoProvider reports whether err is getProvider's not-found error.
func isNoProvider(err error) bool { return errors.Is(err, errNoProvider) }

// bumpProvider increments a provider's generation, which also takes its row lock on
// PostgreSQL. With want >= 0 the generation must still be want, or the update is a 409
// concurrent-update conflict. It returns the new generation.
func bumpProvider(ctx context.Context, tx *store.Tx, uuid string, want int64) (int64, error) {
	ts := store.FormatTime(now())
	var res sql.Result
	var err error
	if want >= 0 {
		res, err = tx.ExecContext(ctx, `UPDATE placement_resource_providers SET generation = generation + 1, updated_at = ?
			WHERE uuid = ? AND generation = ?`, ts, uuid, want)
	} else {
		res, err = tx.ExecContext(ctx, `UPDATE placement_resource_providers SET generation = generation + 1, updated_at = ?
			WHERE uuid = ?`, ts, uuid)
	}
	if err != nil {
		return 0, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return 0, errConcurrentProvider
	}
	var gen int64
	if err := tx.QueryRowContext(ctx, `SELECT generation FROM placement_resource_providers WHERE uuid = ?`, uuid).Scan(&gen); err != nil {
		return 0, err
	}
	return gen, nil
}

// lockProviders takes the row locks of the given providers, in uuid order, without
// changing them. Every writer that changes the inventory rows (usage included) of several
// providers locks those providers first, always in uuid order after any consumers, so that
// concurrent writers on PostgreSQL queue instead of deadlocking. (SQLite runs one writer
// at a time.)
func lockProviders(ctx context.Context, tx *store.Tx, uuids map[string]bool) error {
	for _, u := range sortedKeys(uuids) {
		if _, err := tx.ExecContext(ctx, `UPDATE placement_resource_providers SET updated_at = updated_at WHERE uuid = ?`, u); err != nil {
			return err
		}
	}
	return nil
}

// errConcurrentProvider is Placement's ResourceProviderConcurrentUpdateDetected; its text
// is shown to clients as Placement words it.
//
//lint:ignore ST1005 Placement's wording, shown to clients.
var errConcurrentProvider = errors.New("Another thread concurrently updated the resource provider data. Please retry your update")

// errConcurrentConsumer is Placement's ConcurrentUpdateDetected for a consumer.
//
//lint:ignore ST1005 Placement's wording, shown to clients.
var errConcurrentConsumer = errors.New("Another thread concurrently updated the data. Please retry your update")

// providerFilters are the filters of GET /resource_providers.
type providerFilters struct {
	name, uuid, inTree string
	memberOf           [][]string
	forbiddenAggs      []string
	required           [][]string
	forbidden          []string
	resources          []resourceAmount
}

// resourceAmount is one "CLASS:amount" of a resources query parameter, in request order.
type resourceAmount struct {
	rc     string
	amount int64
}

// listProviders returns the providers matching f, ordered by creation. Unknown traits and
// resource classes in the filters are 400s, as in Placement.
func listProviders(ctx context.Context, q store.Querier, f providerFilters) ([]*provider, error) {
	var conds []string
	var args []any
	if f.name != "" {
		conds, args = append(conds, "name = ?"), append(args, f.name)
	}
	if f.uuid != "" {
		conds, args = append(conds, "uuid = ?"), append(args, f.uuid)
	}
	if f.inTree != "" {
		tree, err := getProvider(ctx, q, f.inTree)
		if isNoProvider(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		conds, args = append(conds, "root_uuid = ?"), append(args, tree.RootUUID)
	}
	var allow []map[string]bool
	var deny map[string]bool
	if len(f.required) > 0 {
		for _, any := range f.required {
			for _, t := range any {
				if err := requireTrait(ctx, q, t); err != nil {
					return nil, badRequest("Invalid trait(s) in \"required\" parameter: %s", api.AsError(err).Message)
				}
			}
		}
		set, err := providersMatchingRequiredTraits(ctx, q, f.required)
		if err != nil {
			return nil, err
		}
		if len(set) == 0 {
			return nil, nil
		}
		allow = append(allow, set)
	}
	if len(f.forbidden) > 0 {
		for _, t := range f.forbidden {
			if err := requireTrait(ctx, q, t); err != nil {
				return nil, badRequest("Invalid trait(s) in \"required\" parameter: %s", api.AsError(err).Message)
			}
		}
		set, err := providersWithAnyTrait(ctx, q, f.forbidden)
		if err != nil {
			return nil, err
		}
		deny = set
	}
	if len(f.memberOf) > 0 {
		set, err := providersMatchingAggregates(ctx, q, f.memberOf)
		if err != nil {
			return nil, err
		}
		if len(set) == 0 {
			return nil, nil
		}
		allow = append(allow, set)
	}
	if len(f.forbiddenAggs) > 0 {
		set, err := providersMatchingAggregates(ctx, q, [][]string{f.forbiddenAggs})
		if err != nil {
			return nil, err
		}
		if deny == nil {
			deny = map[string]bool{}
		}
		for k := range set {
			deny[k] = true
		}
	}
	for _, ra := range f.resources {
		if err := requireResourceClass(ctx, q, ra.rc); err != nil {
			return nil, badRequest("Invalid resource class in resources parameter: %s", api.AsError(err).Message)
		}
		rows, err := providersWithCapacity(ctx, q, ra.rc, ra.amount, "")
		if err != nil {
			return nil, err
		}
		set := make(map[string]bool, len(rows))
		for _, r := range rows {
			set[r.uuid] = true
		}
		allow = append(allow, set)
	}
	query := `SELECT ` + providerColumns + ` FROM placement_resource_providers`
	if len(conds) > 0 {
		query += " WHERE " + strings.Join(conds, " AND ")
	}
	query += " ORDER BY created_at, uuid"
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*provider
	for rows.Next() {
		p, err := scanProvider(rows)
		if err != nil {
			return nil, err
		}
		ok := !deny[p.UUID]
		for _, set := range allow {
			ok = ok && set[p.UUID]
		}
		if ok {
			out = append(out, p)
		}
	}
	return out, rows.Err()
}

// createProvider inserts a provider, checking for duplicates and its parent.
func (s *Service) createProvider(ctx context.Context, p *provider) error {
	return s.write(ctx, func(tx *store.Tx) error {
		var dups []string
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM placement_resource_providers WHERE uuid = ?`, p.UUID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			dups = append(dups, "uuid: "+p.UUID)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM placement_resource_providers WHERE name = ?`, p.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			dups = append(dups, "name: "+p.Name)
		}
		if len(dups) > 0 {
			return conflict(codeDuplicateName, "Conflicting resource provider %s already exists.", strings.Join(dups, ", "))
		}
		p.RootUUID = p.UUID
		if p.ParentUUID != "" {
			if p.ParentUUID == p.UUID {
				return badRequest("Unable to create resource provider \"%s\", %s: Object action create failed because: "+
					"parent provider UUID cannot be same as UUID. Please set parent provider UUID to None if there is no parent.", p.Name, p.UUID)
			}
			parent, err := getProvider(ctx, tx, p.ParentUUID)
			if isNoProvider(err) {
				return badRequest("Unable to create resource provider \"%s\", %s: Object action create failed because: "+
					"parent provider UUID does not exist.", p.Name, p.UUID)
			}
			if err != nil {
				return err
			}
			p.RootUUID = parent.RootUUID
		}
		p.CreatedAt = now()
		var parent any
		if p.ParentUUID != "" {
			parent = p.ParentUUID
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO placement_resource_providers
			(uuid, name, generation, parent_uuid, root_uuid, created_at, updated_at) VALUES (?, ?, 0, ?, ?, ?, '')`,
			p.UUID, p.Name, parent, p.RootUUID, store.FormatTime(p.CreatedAt))
		if store.IsUniqueViolation(err) {
			return conflict(codeDuplicateName, "Conflicting resource provider name: %s already exists.", p.Name)
		}
		return err
	})
}

// updateProvider renames and (from 1.14) re-parents a provider, as ResourceProvider.save
// does: a provider may always gain a parent, but changing or removing one needs 1.37
// (allowReparent), and a provider may not become its own descendant.
func (s *Service) updateProvider(ctx context.Context, uuid, name string, parent *string, allowReparent bool) (*provider, error) {
	var out *provider
	err := s.write(ctx, func(tx *store.Tx) error {
		p, err := getProvider(ctx, tx, uuid)
		if err != nil {
			return err
		}
		saveErr := func(reason string) error {
			return badRequest("Unable to save resource provider %s: Object action update failed because: %s", uuid, reason)
		}
		newParent := p.ParentUUID
		if parent != nil {
			newParent = *parent
		}
		newRoot := p.RootUUID
		var subtree []string
		if newParent != "" {
			par, err := getProvider(ctx, tx, newParent)
			if isNoProvider(err) {
				return badRequest("Unable to save resource provider %s: Object action create failed because: parent provider UUID does not exist.", uuid)
			}
			if err != nil {
				return err
			}
			if p.ParentUUID != "" && p.ParentUUID != newParent && !allowReparent {
				return saveErr("re-parenting a provider is not currently allowed.")
			}
			subtree, err = providerSubtree(ctx, tx, p)
			if err != nil {
				return err
			}
			for _, d := range subtree {
				if d == newParent {
					return saveErr("creating loop in the provider tree is not allowed.")
				}
			}
			newRoot = par.RootUUID
		} else if p.ParentUUID != "" {
			if !allowReparent {
				return saveErr("un-parenting a provider is not currently allowed.")
			}
			subtree, err = providerSubtree(ctx, tx, p)
			if err != nil {
				return err
			}
			newRoot = p.UUID
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM placement_resource_providers WHERE name = ? AND uuid <> ?`,
			name, uuid).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return conflict(codeDuplicateName, "Conflicting resource provider %s already exists.", name)
		}
		lock := map[string]bool{uuid: true}
		for _, d := range subtree {
			lock[d] = true
		}
		if err := lockProviders(ctx, tx, lock); err != nil {
			return err
		}
		ts := now()
		var parentArg any
		if newParent != "" {
			parentArg = newParent
		}
		if _, err := tx.ExecContext(ctx, `UPDATE placement_resource_providers SET name = ?, parent_uuid = ?, root_uuid = ?, updated_at = ?
			WHERE uuid = ?`, name, parentArg, newRoot, store.FormatTime(ts), uuid); err != nil {
			if store.IsUniqueViolation(err) {
				return conflict(codeDuplicateName, "Conflicting resource provider %s already exists.", name)
			}
			return err
		}
		for _, d := range subtree {
			if d == uuid {
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE placement_resource_providers SET root_uuid = ? WHERE uuid = ?`, newRoot, d); err != nil {
				return err
			}
		}
		p.Name, p.ParentUUID, p.RootUUID, p.UpdatedAt = name, newParent, newRoot, ts
		out = p
		return nil
	})
	return out, err
}

// providerSubtree returns the uuids of p and every provider below it.
func providerSubtree(ctx context.Context, q store.Querier, p *provider) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT uuid, COALESCE(parent_uuid, '') FROM placement_resource_providers WHERE root_uuid = ?`, p.RootUUID)
	if err != nil {
		return nil, err
	}
	children := map[string][]string{}
	for rows.Next() {
		var u, par string
		if err := rows.Scan(&u, &par); err != nil {
			rows.Close()
			return nil, err
		}
		if par != "" {
			children[par] = append(children[par], u)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := []string{p.UUID}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out, nil
}

// deleteProvider removes a provider with no children and no allocations, with its
// inventories, traits and aggregate associations.
func (s *Service) deleteProvider(ctx context.Context, uuid string) error {
	return s.write(ctx, func(tx *store.Tx) error {
		if _, err := getProvider(ctx, tx, uuid); err != nil {
			if isNoProvider(err) {
				return notFound("No resource provider with uuid %s found for delete", uuid)
			}
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM placement_resource_providers WHERE parent_uuid = ?`, uuid).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return conflict(codeCannotDeleteParent, "Unable to delete parent resource provider %s: It has child resource providers.", uuid)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM placement_allocations WHERE provider_uuid = ?`, uuid).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return conflict(codeProviderInUse, "Unable to delete resource provider %s: Resource provider has allocations.", uuid)
		}
		for _, stmt := range []string{
			`DELETE FROM placement_inventories WHERE provider_uuid = ?`,
			`DELETE FROM placement_provider_traits WHERE provider_uuid = ?`,
			`DELETE FROM placement_provider_aggregates WHERE provider_uuid = ?`,
			`DELETE FROM placement_resource_providers WHERE uuid = ?`,
		} {
			if _, err := tx.ExecContext(ctx, stmt, uuid); err != nil {
				if store.IsForeignKeyViolation(err) {
					return conflict(codeCannotDeleteParent, "Unable to delete parent resource provider %s: It has child resource providers.", uuid)
				}
				return err
			}
		}
		return nil
	})
}

// providersMatchingAggregates returns the providers in at least one aggregate of every
// set in memberOf.
func providersMatchingAggregates(ctx context.Context, q store.Querier, memberOf [][]string) (map[string]bool, error) {
	var result map[string]bool
	for _, anyOf := range memberOf {
		set, err := queryUUIDSet(ctx, q, `SELECT DISTINCT provider_uuid FROM placement_provider_aggregates WHERE aggregate_uuid IN (`+
			placeholders(len(anyOf))+`)`, stringArgs(anyOf)...)
		if err != nil {
			return nil, err
		}
		result = intersect(result, set)
		if len(result) == 0 {
			return result, nil
		}
	}
	return result, nil
}

// providersWithAnyTrait returns the providers having at least one of traits.
func providersWithAnyTrait(ctx context.Context, q store.Querier, traits []string) (map[string]bool, error) {
	if len(traits) == 0 {
		return map[string]bool{}, nil
	}
	return queryUUIDSet(ctx, q, `SELECT DISTINCT provider_uuid FROM placement_provider_traits WHERE trait IN (`+
		placeholders(len(traits))+`)`, stringArgs(traits)...)
}

// providersMatchingRequiredTraits returns the providers that have, for every set in
// required, at least one of its traits.
func providersMatchingRequiredTraits(ctx context.Context, q store.Querier, required [][]string) (map[string]bool, error) {
	var result map[string]bool
	for _, anyOf := range required {
		set, err := providersWithAnyTrait(ctx, q, anyOf)
		if err != nil {
			return nil, err
		}
		result = intersect(result, set)
		if len(result) == 0 {
			return result, nil
		}
	}
	return result, nil
}

// capacityRow is a provider with room for a requested amount of one class.
type capacityRow struct {
	uuid, root string
	inv        *snapInventory // set by snapshot searches
}

// providersWithCapacity returns the providers (and their roots) whose inventory of rc can
// take amount more, honouring reserved, allocation_ratio, min_unit, max_unit and step_size
// (research_context.get_providers_with_resource). With root set, only that tree counts.
func providersWithCapacity(ctx context.Context, q store.Querier, rc string, amount int64, root string) ([]capacityRow, error) {
	query := `SELECT i.provider_uuid, p.root_uuid, i.total, i.reserved, i.min_unit, i.max_unit, i.step_size, i.allocation_ratio, i.used
		FROM placement_inventories i JOIN placement_resource_providers p ON p.uuid = i.provider_uuid
		WHERE i.resource_class = ?`
	args := []any{rc}
	if root != "" {
		query += ` AND p.root_uuid = ?`
		args = append(args, root)
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []capacityRow
	for rows.Next() {
		var r capacityRow
		var inv inventory
		if err := rows.Scan(&r.uuid, &r.root, &inv.Total, &inv.Reserved, &inv.MinUnit, &inv.MaxUnit, &inv.StepSize,
			&inv.AllocationRatio, &inv.Used); err != nil {
			return nil, err
		}
		if inv.fits(amount) {
			out = append(out, r)
		}
	}
	return out, rows.Err()
}

// queryUUIDSet runs a one-column query into a set.
func queryUUIDSet(ctx context.Context, q store.Querier, query string, args ...any) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out[u] = true
	}
	return out, rows.Err()
}

// intersect returns a ∩ b, treating a nil a as "everything".
func intersect(a, b map[string]bool) map[string]bool {
	if a == nil {
		return b
	}
	out := map[string]bool{}
	for k := range a {
		if b[k] {
			out[k] = true
		}
	}
	return out
}

// placeholders returns "?, ?, ..." for n values.
func placeholders(n int) string {
	if n <= 0 {
		return "NULL"
	}
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// stringArgs converts strings to query arguments.
func stringArgs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
