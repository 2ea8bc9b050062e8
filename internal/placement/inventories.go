package placement

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gostack/gostack/internal/store"
)

// inventory is one inventory record of a provider. Used is the sum of the allocations
// against it, kept in the same transaction as every allocation write.
type inventory struct {
	ResourceClass                               string
	Total, Reserved, MinUnit, MaxUnit, StepSize int64
	AllocationRatio                             float64
	Used                                        int64
	CreatedAt, UpdatedAt                        time.Time
}

// capacity is Placement's Inventory.capacity: (total - reserved) * allocation_ratio,
// truncated.
func (i *inventory) capacity() int64 {
	return int64(float64(i.Total-i.Reserved) * i.AllocationRatio)
}

// fits reports whether amount more can be allocated from the inventory: within capacity
// (the untruncated product, as Placement's SQL compares it), min_unit, max_unit and a
// multiple of step_size.
func (i *inventory) fits(amount int64) bool {
	if i.StepSize <= 0 || amount%i.StepSize != 0 || amount < i.MinUnit || amount > i.MaxUnit {
		return false
	}
	return float64(i.Used+amount) <= float64(i.Total-i.Reserved)*i.AllocationRatio
}

// lastModified is updated_at, or created_at for a record never updated.
func (i *inventory) lastModified() time.Time {
	if !i.UpdatedAt.IsZero() {
		return i.UpdatedAt
	}
	return i.CreatedAt
}

// ratio is an allocation ratio, written as Python writes a float ("1.0", "16.0", "1.5").
type ratio float64

// MarshalJSON renders the ratio as Python's repr renders a float: positional notation
// with at least one decimal between 1e-4 and 1e16, scientific notation outside.
func (r ratio) MarshalJSON() ([]byte, error) {
	return []byte(pyFloat(float64(r))), nil
}

// pyFloat formats f as Python's repr(float) does.
func pyFloat(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "0.0"
	}
	abs := math.Abs(f)
	if f == 0 || abs >= 1e-4 && abs < 1e16 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(s, "e")
	sign, digits := exp[:1], strings.TrimLeft(exp[1:], "0")
	if len(digits) < 2 {
		digits = fmt.Sprintf("%02s", digits)
	}
	return mant + "e" + sign + digits
}

// inventoryJSON is an inventory record as Placement serializes it.
type inventoryJSON struct {
	Total           int64 `json:"total"`
	Reserved        int64 `json:"reserved"`
	MinUnit         int64 `json:"min_unit"`
	MaxUnit         int64 `json:"max_unit"`
	StepSize        int64 `json:"step_size"`
	AllocationRatio ratio `json:"allocation_ratio"`
}

// toJSON serializes the record.
func (i *inventory) toJSON() inventoryJSON {
	return inventoryJSON{i.Total, i.Reserved, i.MinUnit, i.MaxUnit, i.StepSize, ratio(i.AllocationRatio)}
}

// withGeneration serializes one inventory with resource_provider_generation, which
// Placement leaves out when it is zero (it tests the generation's truthiness).
func (i *inventory) withGeneration(gen int64) map[string]any {
	m := map[string]any{
		"total": i.Total, "reserved": i.Reserved, "min_unit": i.MinUnit, "max_unit": i.MaxUnit,
		"step_size": i.StepSize, "allocation_ratio": ratio(i.AllocationRatio),
	}
	if gen != 0 {
		m["resource_provider_generation"] = gen
	}
	return m
}

// providerInventories returns a provider's inventory records by class.
func providerInventories(ctx context.Context, q store.Querier, uuid string) (map[string]*inventory, error) {
	rows, err := q.QueryContext(ctx, `SELECT resource_class, total, reserved, min_unit, max_unit, step_size, allocation_ratio,
		used, created_at, updated_at FROM placement_inventories WHERE provider_uuid = ?`, uuid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]*inventory{}
	for rows.Next() {
		var i inventory
		var created, updated string
		if err := rows.Scan(&i.ResourceClass, &i.Total, &i.Reserved, &i.MinUnit, &i.MaxUnit, &i.StepSize,
			&i.AllocationRatio, &i.Used, &created, &updated); err != nil {
			return nil, err
		}
		i.CreatedAt, i.UpdatedAt = store.ParseTime(created), store.ParseTime(updated)
		out[i.ResourceClass] = &i
	}
	return out, rows.Err()
}

// inventoryInUse is Placement's InventoryInUse.
type inventoryInUse struct {
	classes  []string
	provider string
}

// Error returns Placement's message.
func (e *inventoryInUse) Error() string {
	return fmt.Sprintf("Inventory for '%s' on resource provider '%s' in use.", strings.Join(e.classes, ", "), e.provider)
}

// noResourceClass is Placement's ResourceClassNotFound.
type noResourceClass struct{ name string }

// Error returns Placement's message.
func (e *noResourceClass) Error() string { return fmt.Sprintf("No such resource class %s.", e.name) }

// allocatedClasses returns which of classes have allocations on the provider.
func allocatedClasses(ctx context.Context, q store.Querier, uuid string, classes []string) ([]string, error) {
	if len(classes) == 0 {
		return nil, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT DISTINCT resource_class FROM placement_allocations
		WHERE provider_uuid = ? AND resource_class IN (`+placeholders(len(classes))+`)`,
		append([]any{uuid}, stringArgs(classes)...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var rc string
		if err := rows.Scan(&rc); err != nil {
			return nil, err
		}
		out = append(out, rc)
	}
	sortClasses(out)
	return out, rows.Err()
}

// sortClasses orders resource classes as Placement's ids do: the standard ones in
// os-resource-classes order, then the custom ones.
func sortClasses(rcs []string) {
	sort.Slice(rcs, func(i, j int) bool {
		a, aok := standardRCIndex[rcs[i]]
		b, bok := standardRCIndex[rcs[j]]
		switch {
		case aok && bok:
			return a < b
		case aok != bok:
			return aok
		}
		return rcs[i] < rcs[j]
	})
}

// replaceInventories makes invs the provider's whole inventory, inside tx: classes not in
// invs are removed (an *inventoryInUse error when allocated), new ones added (a
// *noResourceClass error for an unknown class) and existing ones updated, keeping their
// usage. The caller bumps the provider's generation.
func replaceInventories(ctx context.Context, tx *store.Tx, uuid string, invs []*inventory) error {
	existing, err := providerInventories(ctx, tx, uuid)
	if err != nil {
		return err
	}
	want := map[string]*inventory{}
	for _, i := range invs {
		want[i.ResourceClass] = i
	}
	var del []string
	for rc := range existing {
		if want[rc] == nil {
			del = append(del, rc)
		}
	}
	sort.Strings(del)
	for _, i := range invs {
		if existing[i.ResourceClass] == nil {
			if err := requireResourceClass(ctx, tx, i.ResourceClass); err != nil {
				return &noResourceClass{i.ResourceClass}
			}
		}
	}
	if len(del) > 0 {
		inUse, err := allocatedClasses(ctx, tx, uuid, del)
		if err != nil {
			return err
		}
		if len(inUse) > 0 {
			return &inventoryInUse{classes: inUse, provider: uuid}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM placement_inventories WHERE provider_uuid = ? AND resource_class IN (`+
			placeholders(len(del))+`)`, append([]any{uuid}, stringArgs(del)...)...); err != nil {
			return err
		}
	}
	ts := store.FormatTime(now())
	for _, i := range invs {
		if existing[i.ResourceClass] != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE placement_inventories SET total = ?, reserved = ?, min_unit = ?, max_unit = ?,
				step_size = ?, allocation_ratio = ?, updated_at = ? WHERE provider_uuid = ? AND resource_class = ?`,
				i.Total, i.Reserved, i.MinUnit, i.MaxUnit, i.StepSize, i.AllocationRatio, ts, uuid, i.ResourceClass); err != nil {
				return err
			}
			continue
		}
		var used int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(used), 0) FROM placement_allocations
			WHERE provider_uuid = ? AND resource_class = ?`, uuid, i.ResourceClass).Scan(&used); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO placement_inventories (provider_uuid, resource_class, total, reserved,
			min_unit, max_unit, step_size, allocation_ratio, used, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '')`,
			uuid, i.ResourceClass, i.Total, i.Reserved, i.MinUnit, i.MaxUnit, i.StepSize, i.AllocationRatio, used, ts); err != nil {
			return err
		}
	}
	return nil
}
