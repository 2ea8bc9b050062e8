package volume

import (
	"context"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// defaultTypeName is the volume type Cinder creates at install and uses when neither the
// request nor a project default names one.
const defaultTypeName = "__DEFAULT__"

// ensureDefaultType creates the __DEFAULT__ type on first start, as Cinder's migration
// does.
func (s *Service) ensureDefaultType(ctx context.Context) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_types WHERE name = ? AND deleted = ?`,
			defaultTypeName, false).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		ts := store.FormatTime(now())
		_, err := tx.ExecContext(ctx, `INSERT INTO volume_types (id, name, description, is_public, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)`, api.NewUUID(), defaultTypeName, "Default Volume Type", true, ts, ts)
		return err
	})
}
