package compute

import (
	"context"
	"database/sql"

	"github.com/gostack/gostack/internal/store"
)

// flavor is a flavor as stored.
type flavor struct {
	FlavorID    string
	ID          int64
	Name        string
	VCPUs       int64
	MemoryMB    int64
	RootGB      int64
	EphemeralGB int64
	Swap        int64
	RxtxFactor  float64
	IsPublic    bool
	Disabled    bool
	Description *string
	ExtraSpecs  map[string]string
	CreatedAt   string
	UpdatedAt   string
}

// flavorColumns lists the columns scanFlavor reads.
const flavorColumns = `flavorid, id, name, vcpus, memory_mb, root_gb, ephemeral_gb, swap, rxtx_factor,
	is_public, disabled, description, created_at, updated_at`

// scanFlavor reads one flavor row (without extra specs).
func scanFlavor(row rowScanner) (*flavor, error) {
	var f flavor
	err := row.Scan(&f.FlavorID, &f.ID, &f.Name, &f.VCPUs, &f.MemoryMB, &f.RootGB, &f.EphemeralGB, &f.Swap,
		&f.RxtxFactor, &f.IsPublic, &f.Disabled, &f.Description, &f.CreatedAt, &f.UpdatedAt)
	return &f, err
}

// loadFlavor reads a flavor with its extra specs by flavor id; found is false when there
// is none. Access to private flavors is the caller's check (flavorAccessible).
func loadFlavor(ctx context.Context, q querier, flavorID string) (f *flavor, found bool, err error) {
	f, err = scanFlavor(q.QueryRowContext(ctx, `SELECT `+flavorColumns+` FROM compute_flavors WHERE flavorid = ?`, flavorID))
	if store.IsNoRows(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	f.ExtraSpecs, err = flavorExtraSpecs(ctx, q, flavorID)
	if err != nil {
		return nil, false, err
	}
	return f, true, nil
}

// flavorExtraSpecs reads a flavor's extra specs.
func flavorExtraSpecs(ctx context.Context, q querier, flavorID string) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT key, value FROM compute_flavor_extra_specs WHERE flavorid = ?`, flavorID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	specs := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		specs[k] = v
	}
	return specs, rows.Err()
}

// flavorAccessible reports whether a project may use a flavor: public ones always,
// private ones when the project is in the flavor's access list (admins see all).
func flavorAccessible(ctx context.Context, q querier, f *flavor, projectID string, admin bool) (bool, error) {
	if f.IsPublic || admin {
		return true, nil
	}
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM compute_flavor_projects WHERE flavorid = ? AND project_id = ?`,
		f.FlavorID, projectID).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, err
}

// snapshot is the copy of the flavor an instance keeps.
func (f *flavor) snapshot() FlavorSnapshot {
	specs := make(map[string]string, len(f.ExtraSpecs))
	for k, v := range f.ExtraSpecs {
		specs[k] = v
	}
	return FlavorSnapshot{ID: f.FlavorID, Name: f.Name, VCPUs: f.VCPUs, MemoryMB: f.MemoryMB, RootGB: f.RootGB,
		EphemeralGB: f.EphemeralGB, Swap: f.Swap, RxtxFactor: f.RxtxFactor, IsPublic: f.IsPublic,
		Description: f.Description, ExtraSpecs: specs}
}
