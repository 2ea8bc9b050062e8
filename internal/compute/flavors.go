package compute

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// Flavor rules (nova/policies/flavor_manage.py, flavor_extra_specs.py, flavor_access.py).
const (
	ruleFlavorCreate         = "os_compute_api:os-flavor-manage:create"
	ruleFlavorUpdate         = "os_compute_api:os-flavor-manage:update"
	ruleFlavorDelete         = "os_compute_api:os-flavor-manage:delete"
	ruleExtraSpecsIndex      = "os_compute_api:os-flavor-extra-specs:index"
	ruleExtraSpecsShow       = "os_compute_api:os-flavor-extra-specs:show"
	ruleExtraSpecsCreate     = "os_compute_api:os-flavor-extra-specs:create"
	ruleExtraSpecsUpdate     = "os_compute_api:os-flavor-extra-specs:update"
	ruleExtraSpecsDelete     = "os_compute_api:os-flavor-extra-specs:delete"
	ruleFlavorAccess         = "os_compute_api:os-flavor-access"
	ruleFlavorAccessAdd      = "os_compute_api:os-flavor-access:add_tenant_access"
	ruleFlavorAccessRemove   = "os_compute_api:os-flavor-access:remove_tenant_access"
	flavorBootstrapMarker    = "bootstrap:flavors"
	flavorIDSequence         = "flavors"
	maxFlavorInt             = 0x7FFFFFFF
	maxRxtxFactor            = 3.40282e+38
	maxFlavorDescriptionLen  = 65535
	maxExtraSpecValueLen     = 255
	maxFlavorAccessTenantLen = 255
)

// flavorPolicies are Nova's defaults for the flavor rules.
var flavorPolicies = map[string]string{
	ruleFlavorCreate:       ruleAdmin,
	ruleFlavorUpdate:       ruleAdmin,
	ruleFlavorDelete:       ruleAdmin,
	ruleExtraSpecsIndex:    ruleReaderOrAdmin,
	ruleExtraSpecsShow:     ruleReaderOrAdmin,
	ruleExtraSpecsCreate:   ruleAdmin,
	ruleExtraSpecsUpdate:   ruleAdmin,
	ruleExtraSpecsDelete:   ruleAdmin,
	ruleFlavorAccess:       ruleAdmin,
	ruleFlavorAccessAdd:    ruleAdmin,
	ruleFlavorAccessRemove: ruleAdmin,
}

// defaultFlavor is one of the flavors a new cloud starts with.
type defaultFlavor struct {
	id, name         string
	vcpus, ram, disk int64
}

// defaultFlavors are Nova's classic m1 flavors plus the small ones DevStack creates for
// tempest and CirrOS-sized guests.
var defaultFlavors = []defaultFlavor{
	{"1", "m1.tiny", 1, 512, 1},
	{"2", "m1.small", 1, 2048, 20},
	{"3", "m1.medium", 2, 4096, 40},
	{"4", "m1.large", 4, 8192, 80},
	{"5", "m1.xlarge", 8, 16384, 160},
	{"42", "m1.nano", 1, 128, 1},
	{"84", "m1.micro", 1, 192, 1},
	{"c1", "cirros256", 1, 256, 1},
	{"d1", "ds512M", 1, 512, 5},
	{"d2", "ds1G", 1, 1024, 10},
	{"d3", "ds2G", 2, 2048, 10},
	{"d4", "ds4G", 4, 4096, 20},
}

// EnsureDefaultFlavors creates the default flavors the first time a cloud starts. It
// records that it ran (a marker row), so that flavors an admin deleted or changed
// afterwards are left as they are on every later start; a default whose id or name is
// already taken is skipped.
func (s *Service) EnsureDefaultFlavors(ctx context.Context) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM compute_sequences WHERE name = ?`, flavorBootstrapMarker).Scan(&one)
		if err == nil {
			return nil
		}
		if !store.IsNoRows(err) {
			return fmt.Errorf("default flavors: %w", err)
		}
		for _, d := range defaultFlavors {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM compute_flavors WHERE flavorid = ? OR name = ?`,
				d.id, d.name).Scan(&n); err != nil {
				return fmt.Errorf("default flavors: %w", err)
			}
			if n > 0 {
				continue
			}
			f := &flavor{FlavorID: d.id, Name: d.name, VCPUs: d.vcpus, MemoryMB: d.ram, RootGB: d.disk,
				RxtxFactor: 1.0, IsPublic: true}
			if err := insertFlavor(ctx, tx, f); err != nil {
				return fmt.Errorf("default flavor %s: %w", d.name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO compute_sequences (name, value) VALUES (?, 1)`, flavorBootstrapMarker); err != nil {
			return fmt.Errorf("default flavors: %w", err)
		}
		return nil
	})
}

// insertFlavor writes a new flavor (and its extra specs), taking the next internal id.
func insertFlavor(ctx context.Context, tx *store.Tx, f *flavor) error {
	id, err := nextID(ctx, tx, flavorIDSequence)
	if err != nil {
		return err
	}
	f.ID = id
	ts := store.FormatTime(now())
	f.CreatedAt = ts
	_, err = tx.ExecContext(ctx, `INSERT INTO compute_flavors (`+flavorColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		f.FlavorID, f.ID, f.Name, f.VCPUs, f.MemoryMB, f.RootGB, f.EphemeralGB, f.Swap, f.RxtxFactor,
		f.IsPublic, f.Disabled, f.Description, ts, "")
	if err != nil {
		return err
	}
	for k, v := range f.ExtraSpecs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO compute_flavor_extra_specs (flavorid, key, value) VALUES (?, ?, ?)`,
			f.FlavorID, k, v); err != nil {
			return err
		}
	}
	return nil
}

// flavorNotFound is Nova's FlavorNotFound.
func flavorNotFound(id string) error { return notFound("Flavor %s could not be found.", id) }

// isAdminCaller reports whether the caller passes context_is_admin, which is what Nova's
// context.is_admin reflects (admins see private and disabled flavors).
func (s *Service) isAdminCaller(c *call) bool {
	return c.caller != nil && s.can(c, "context_is_admin", nil)
}

// visibleFlavor loads a flavor the caller may see (Nova's get_flavor_by_flavor_id with
// the caller's context): admins see every flavor, others public ones and private ones
// their project has access to.
func (s *Service) visibleFlavor(ctx context.Context, c *call, id string) (*flavor, error) {
	f, found, err := loadFlavor(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, flavorNotFound(id)
	}
	ok, err := flavorAccessible(ctx, s.db, f, c.caller.ProjectID, s.isAdminCaller(c))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, flavorNotFound(id)
	}
	return f, nil
}

// flavorQuery is a parsed flavor list request.
type flavorQuery struct {
	// isPublic filters on is_public; nil lists both (admins only, is_public=none).
	isPublic         *bool
	minRAM, minDisk  *int64
	name             *regexp.Regexp
	sortKey, sortDir string
	limit            int
	marker           string
}

// flavorSortKeys are the sort keys Nova's query schema accepts.
var flavorSortKeys = []string{"created_at", "description", "disabled", "ephemeral_gb", "flavorid", "id",
	"is_public", "memory_mb", "name", "root_gb", "rxtx_factor", "swap", "updated_at", "vcpu_weight", "vcpus"}

// parseFlavorQuery validates a flavor list query as Nova's index_query schemas and
// _get_flavors do. Before 2.75 unknown parameters are ignored; from 2.75 they are a 400.
func (s *Service) parseFlavorQuery(q map[string][]string, ver api.Version, admin bool) (*flavorQuery, error) {
	allowed := []string{"limit", "marker", "is_public", "minRam", "minDisk", "sort_key", "sort_dir"}
	if ver.AtLeast(2, 75) {
		if err := checkQuery(q, allowed...); err != nil {
			return nil, err
		}
	}
	fq := &flavorQuery{sortKey: "flavorid", sortDir: "asc"}
	var err error
	if fq.limit, fq.marker, err = s.pageParams(q); err != nil {
		return nil, err
	}
	if _, ok := q["marker"]; !ok {
		fq.marker = ""
	}
	if v, ok := lastQuery(q, "sort_key"); ok {
		if !slices.Contains(flavorSortKeys, v) {
			return nil, badRequest("Invalid input for query parameters sort_key. Value: %s. '%s' is not one of %s",
				reprValue(v), reprValue(v), "['created_at', 'description', 'disabled', 'ephemeral_gb', 'flavorid', 'id', 'is_public', 'memory_mb', 'name', 'root_gb', 'rxtx_factor', 'swap', 'updated_at', 'vcpu_weight', 'vcpus']")
		}
		if v != "" {
			fq.sortKey = v
		}
	}
	if v, ok := lastQuery(q, "sort_dir"); ok {
		if v != "asc" && v != "desc" {
			return nil, badRequest("Invalid input for query parameters sort_dir. Value: %s. '%s' is not one of ['asc', 'desc']",
				reprValue(v), reprValue(v))
		}
		fq.sortDir = v
	}
	t := true
	fq.isPublic = &t
	if admin {
		if v, ok := lastQuery(q, "is_public"); ok {
			switch {
			case strings.EqualFold(v, "none"):
				fq.isPublic = nil
			default:
				b, ok := strictBool(v)
				if !ok {
					return nil, badRequest("Invalid is_public filter [%s]", v)
				}
				fq.isPublic = &b
			}
		}
	}
	for _, p := range []struct {
		key string
		dst **int64
	}{{"minRam", &fq.minRAM}, {"minDisk", &fq.minDisk}} {
		if v, ok := lastQuery(q, p.key); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return nil, badRequest("Invalid %s filter [%s]", p.key, v)
			}
			*p.dst = &n
		}
	}
	if v, ok := lastQuery(q, "name"); ok && !ver.AtLeast(2, 75) {
		re, err := regexp.Compile(v)
		if err != nil {
			return nil, badRequest("Invalid name filter [%s]", v)
		}
		fq.name = re
	}
	return fq, nil
}

// listFlavors returns one page of the flavors the caller sees, filtered and sorted as
// Nova's FlavorList.get_all (sort key then internal id, both in sort_dir).
func (s *Service) listFlavors(ctx context.Context, c *call, fq *flavorQuery, withSpecs bool) ([]*flavor, error) {
	admin := s.isAdminCaller(c)
	rows, err := s.db.QueryContext(ctx, `SELECT `+flavorColumns+` FROM compute_flavors`)
	if err != nil {
		return nil, err
	}
	var all []*flavor
	for rows.Next() {
		f, err := scanFlavor(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		all = append(all, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	access := map[string]bool{}
	projRows, err := s.db.QueryContext(ctx, `SELECT flavorid FROM compute_flavor_projects WHERE project_id = ?`, c.caller.ProjectID)
	if err != nil {
		return nil, err
	}
	for projRows.Next() {
		var id string
		if err := projRows.Scan(&id); err != nil {
			projRows.Close()
			return nil, err
		}
		access[id] = true
	}
	projRows.Close()
	if err := projRows.Err(); err != nil {
		return nil, err
	}
	// visible is Nova's _flavor_get_query_from_db: admins see all, others public
	// flavors and those shared with their project.
	visible := func(f *flavor) bool { return admin || f.IsPublic || access[f.FlavorID] }
	var out []*flavor
	for _, f := range all {
		if !visible(f) {
			continue
		}
		if !admin && f.Disabled {
			continue
		}
		if fq.isPublic != nil && f.IsPublic != *fq.isPublic && !(*fq.isPublic && access[f.FlavorID]) {
			continue
		}
		if fq.minRAM != nil && f.MemoryMB < *fq.minRAM {
			continue
		}
		if fq.minDisk != nil && f.RootGB < *fq.minDisk {
			continue
		}
		if fq.name != nil && !fq.name.MatchString(f.Name) {
			continue
		}
		out = append(out, f)
	}
	slices.SortStableFunc(out, func(a, b *flavor) int {
		r := compareFlavors(a, b, fq.sortKey)
		if r == 0 {
			r = cmp.Compare(a.ID, b.ID)
		}
		if fq.sortDir == "desc" {
			r = -r
		}
		return r
	})
	if fq.marker != "" {
		idx := slices.IndexFunc(all, func(f *flavor) bool { return f.FlavorID == fq.marker && visible(f) })
		if idx < 0 {
			return nil, badRequest("marker [%s] not found", fq.marker)
		}
		m := all[idx]
		start := len(out)
		for i, f := range out {
			r := compareFlavors(f, m, fq.sortKey)
			if r == 0 {
				r = cmp.Compare(f.ID, m.ID)
			}
			if fq.sortDir == "desc" {
				r = -r
			}
			if r > 0 {
				start = i
				break
			}
		}
		out = out[start:]
	}
	if fq.limit > 0 && len(out) > fq.limit {
		out = out[:fq.limit]
	}
	if withSpecs {
		for _, f := range out {
			if f.ExtraSpecs, err = flavorExtraSpecs(ctx, s.db, f.FlavorID); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// compareFlavors orders two flavors by one of Nova's sort keys.
func compareFlavors(a, b *flavor, key string) int {
	boolInt := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	switch key {
	case "created_at":
		return cmp.Compare(a.CreatedAt, b.CreatedAt)
	case "updated_at":
		return cmp.Compare(a.UpdatedAt, b.UpdatedAt)
	case "description":
		switch {
		case a.Description == nil && b.Description == nil:
			return 0
		case a.Description == nil:
			return -1
		case b.Description == nil:
			return 1
		}
		return cmp.Compare(*a.Description, *b.Description)
	case "disabled":
		return cmp.Compare(boolInt(a.Disabled), boolInt(b.Disabled))
	case "is_public":
		return cmp.Compare(boolInt(a.IsPublic), boolInt(b.IsPublic))
	case "ephemeral_gb":
		return cmp.Compare(a.EphemeralGB, b.EphemeralGB)
	case "id", "vcpu_weight":
		return cmp.Compare(a.ID, b.ID)
	case "memory_mb":
		return cmp.Compare(a.MemoryMB, b.MemoryMB)
	case "name":
		return cmp.Compare(a.Name, b.Name)
	case "root_gb":
		return cmp.Compare(a.RootGB, b.RootGB)
	case "rxtx_factor":
		return cmp.Compare(a.RxtxFactor, b.RxtxFactor)
	case "swap":
		return cmp.Compare(a.Swap, b.Swap)
	case "vcpus":
		return cmp.Compare(a.VCPUs, b.VCPUs)
	default:
		return cmp.Compare(a.FlavorID, b.FlavorID)
	}
}

// flavorFlavorIDPattern is the create schema's id pattern: no leading or trailing space,
// letters, digits, '.', ' ', '_' and '-'.
var flavorFlavorIDPattern = regexp.MustCompile(`^[a-zA-Z0-9. _-]+$`)

// parseFlavorCreate validates a flavor create body as Nova's create schemas (create,
// create_v255) and flavors.create do.
func parseFlavorCreate(body api.Object, ver api.Version) (*flavor, error) {
	fo, err := subObject(body, "flavor")
	if err != nil {
		return nil, err
	}
	allowed := []string{"name", "id", "ram", "vcpus", "disk", "OS-FLV-EXT-DATA:ephemeral", "swap",
		"rxtx_factor", "os-flavor-access:is_public"}
	if ver.AtLeast(2, 55) {
		allowed = append(allowed, "description")
	}
	if err := checkObject(fo, "flavor", []string{"name", "ram", "vcpus", "disk"}, allowed); err != nil {
		return nil, err
	}
	f := &flavor{RxtxFactor: 1.0, IsPublic: true, ExtraSpecs: map[string]string{}}
	name, _, err := nameField(fo, "name", 255, false)
	if err != nil {
		return nil, err
	}
	f.Name = strings.TrimSpace(name)
	switch v := fo["id"].(type) {
	case nil:
	case string:
		if n := len([]rune(v)); n < 1 || n > 255 || !flavorFlavorIDPattern.MatchString(v) ||
			strings.HasPrefix(v, " ") || strings.HasSuffix(v, " ") {
			return nil, invalidInput("id", v, fmt.Sprintf("'%s' does not match '^(?! )[a-zA-Z0-9. _-]+(?<! )$'", v))
		}
		f.FlavorID = v
	case json.Number:
		f.FlavorID = v.String()
	default:
		return nil, invalidInput("id", v, fmt.Sprintf("%s is not of type 'string', 'number', 'null'", reprValue(v)))
	}
	for _, p := range []struct {
		key string
		min int64
		dst *int64
	}{
		{"ram", 1, &f.MemoryMB}, {"vcpus", 1, &f.VCPUs}, {"disk", 0, &f.RootGB},
		{"OS-FLV-EXT-DATA:ephemeral", 0, &f.EphemeralGB}, {"swap", 0, &f.Swap},
	} {
		n, present, err := intField(fo, p.key, p.min, maxFlavorInt)
		if err != nil {
			return nil, err
		}
		if present {
			*p.dst = n
		}
	}
	if v, ok := fo["rxtx_factor"]; ok {
		var s string
		switch x := v.(type) {
		case json.Number:
			s = x.String()
		case string:
			if !regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`).MatchString(x) {
				return nil, invalidInput("rxtx_factor", v, fmt.Sprintf("'%s' does not match '^[0-9]+(\\.[0-9]+)?$'", x))
			}
			s = x
		default:
			return nil, invalidInput("rxtx_factor", v, fmt.Sprintf("%s is not of type 'number', 'string'", reprValue(v)))
		}
		r, err := strconv.ParseFloat(s, 64)
		if err != nil || r <= 0 || r > maxRxtxFactor {
			return nil, badRequest("Invalid input received: 'rxtx_factor' argument must be a float between 0 and %g", maxRxtxFactor)
		}
		f.RxtxFactor = r
	}
	if b, present, err := boolField(fo, "os-flavor-access:is_public"); err != nil {
		return nil, err
	} else if present {
		f.IsPublic = b
	}
	if ver.AtLeast(2, 55) {
		d, err := flavorDescription(fo)
		if err != nil {
			return nil, err
		}
		f.Description = d
	}
	return f, nil
}

// flavorDescription reads the 2.55 description: null or up to 65535 printable
// characters.
func flavorDescription(fo api.Object) (*string, error) {
	v, ok := fo["description"]
	if !ok || v == nil {
		return nil, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return nil, invalidInput("description", v, fmt.Sprintf("%s is not of type 'string', 'null'", reprValue(v)))
	}
	if len([]rune(s)) > maxFlavorDescriptionLen {
		return nil, invalidInput("description", v, "is too long")
	}
	if !validDescription(s) {
		return nil, invalidInput("description", v, "does not match the description pattern (printable characters)")
	}
	return &s, nil
}

// createFlavor stores a new flavor, answering Nova's 409s for a taken name or id.
func (s *Service) createFlavor(ctx context.Context, f *flavor) error {
	if f.FlavorID == "" {
		f.FlavorID = api.NewUUID()
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM compute_flavors WHERE name = ?`, f.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return conflict("Flavor with name %s already exists.", f.Name)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM compute_flavors WHERE flavorid = ?`, f.FlavorID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return conflict("Flavor with ID %s already exists.", f.FlavorID)
		}
		return insertFlavor(ctx, tx, f)
	})
	if store.IsUniqueViolation(err) {
		return conflict("Flavor with name %s already exists.", f.Name)
	}
	return err
}

// deleteFlavor removes a flavor with its extra specs and access list; servers keep
// their snapshot of it.
func (s *Service) deleteFlavor(ctx context.Context, id string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, q := range []string{
			`DELETE FROM compute_flavor_extra_specs WHERE flavorid = ?`,
			`DELETE FROM compute_flavor_projects WHERE flavorid = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM compute_flavors WHERE flavorid = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return flavorNotFound(id)
		}
		return nil
	})
}

// updateFlavorDescription sets a flavor's description (2.55).
func (s *Service) updateFlavorDescription(ctx context.Context, id string, desc *string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE compute_flavors SET description = ?, updated_at = ? WHERE flavorid = ?`,
		desc, store.FormatTime(now()), id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return flavorNotFound(id)
	}
	return nil
}

// parseExtraSpecs validates an extra specs object (Nova's flavor metadata schema: keys of
// 1–255 characters from [a-zA-Z0-9-_:. ], string values of at most 255 characters or
// numbers) and, from 2.86, each key and value with Nova's validators. It returns the
// values as stored (numbers as their text).
func parseExtraSpecs(field string, v any, ver api.Version) (map[string]string, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, invalidInput(field, v, fmt.Sprintf("%s is not of type 'object'", reprValue(v)))
	}
	out := make(map[string]string, len(m))
	for k, val := range m {
		if n := len([]rune(k)); n < 1 || n > 255 || !extraSpecKeyPattern.MatchString(k) {
			return nil, invalidInput(field, v, fmt.Sprintf("Additional properties are not allowed ('%s' was unexpected)", k))
		}
		var s string
		switch x := val.(type) {
		case string:
			if len([]rune(x)) > maxExtraSpecValueLen {
				return nil, invalidInput(field+"/"+k, val, fmt.Sprintf("'%s' is too long", reprValue(x)))
			}
			s = x
		case json.Number:
			s = x.String()
			if len(s) > maxExtraSpecValueLen {
				return nil, badRequest("Invalid input received: extra_specs value has more than %d characters.", maxExtraSpecValueLen)
			}
		default:
			return nil, invalidInput(field+"/"+k, val, fmt.Sprintf("%s is not of type 'string', 'number'", reprValue(val)))
		}
		if ver.AtLeast(2, 86) {
			if reason := validateExtraSpec(k, s); reason != "" {
				return nil, badRequest("%s", reason)
			}
		}
		out[k] = s
	}
	return out, nil
}

// extraSpecKeyPattern is Nova's metadata key pattern for flavor extra specs.
var extraSpecKeyPattern = regexp.MustCompile(`^[a-zA-Z0-9-_:. ]{1,255}$`)

// setExtraSpecs merges specs into a flavor's extra specs.
func (s *Service) setExtraSpecs(ctx context.Context, id string, specs map[string]string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM compute_flavors WHERE flavorid = ?`, id).Scan(&one); err != nil {
			if store.IsNoRows(err) {
				return flavorNotFound(id)
			}
			return err
		}
		for k, v := range specs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO compute_flavor_extra_specs (flavorid, key, value) VALUES (?, ?, ?)
				ON CONFLICT (flavorid, key) DO UPDATE SET value = excluded.value`, id, k, v); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE compute_flavors SET updated_at = ? WHERE flavorid = ?`, store.FormatTime(now()), id)
		return err
	})
}

// deleteExtraSpec removes one key; missing is Nova's 404.
func (s *Service) deleteExtraSpec(ctx context.Context, id, key string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM compute_flavor_extra_specs WHERE flavorid = ? AND key = ?`, id, key)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return notFound("Flavor %s has no extra specs with key %s.", id, key)
	}
	return nil
}

// flavorProjects lists the projects with access to a flavor.
func flavorProjects(ctx context.Context, q querier, id string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT project_id FROM compute_flavor_projects WHERE flavorid = ? ORDER BY project_id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// addFlavorAccess grants a project access to a flavor.
func (s *Service) addFlavorAccess(ctx context.Context, id, project string) error {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM compute_flavor_projects WHERE flavorid = ? AND project_id = ?`,
			id, project).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errFlavorAccessExists
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO compute_flavor_projects (flavorid, project_id) VALUES (?, ?)`, id, project)
		return err
	})
	if errors.Is(err, errFlavorAccessExists) || store.IsUniqueViolation(err) {
		return conflict("Flavor access already exists for flavor %s and project %s combination.", id, project)
	}
	if store.IsForeignKeyViolation(err) {
		return flavorNotFound(id)
	}
	return err
}

// errFlavorAccessExists marks a duplicate grant inside the transaction.
var errFlavorAccessExists = errors.New("flavor access exists")

// removeFlavorAccess revokes a project's access.
func (s *Service) removeFlavorAccess(ctx context.Context, id, project string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM compute_flavor_projects WHERE flavorid = ? AND project_id = ?`, id, project)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return notFound("Flavor access not found for %s / %s combination.", id, project)
	}
	return nil
}
