package compute

import (
	"context"
	"fmt"

	"github.com/gostack/gostack/internal/store"
)

// keypair is a keypair as stored.
type keypair struct {
	ID          int64
	UserID      string
	Name        string
	Type        string
	PublicKey   string
	Fingerprint string
	CreatedAt   string
}

// loadKeypair reads a user's keypair by name; found is false when there is none.
func loadKeypair(ctx context.Context, q querier, userID, name string) (k *keypair, found bool, err error) {
	var kp keypair
	err = q.QueryRowContext(ctx, `SELECT id, user_id, name, type, public_key, fingerprint, created_at
		FROM compute_keypairs WHERE user_id = ? AND name = ?`, userID, name).Scan(
		&kp.ID, &kp.UserID, &kp.Name, &kp.Type, &kp.PublicKey, &kp.Fingerprint, &kp.CreatedAt)
	if store.IsNoRows(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return &kp, true, nil
}

// insertKeypair writes a new keypair, taking the next keypair id; a taken name is
// Nova's 409.
func insertKeypair(ctx context.Context, tx *store.Tx, k *keypair) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM compute_keypairs WHERE user_id = ? AND name = ?`,
		k.UserID, k.Name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return keypairExists(k.Name)
	}
	id, err := nextID(ctx, tx, "keypairs")
	if err != nil {
		return err
	}
	k.ID = id
	_, err = tx.ExecContext(ctx, `INSERT INTO compute_keypairs (id, user_id, name, type, public_key, fingerprint, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, k.ID, k.UserID, k.Name, k.Type, k.PublicKey, k.Fingerprint, k.CreatedAt)
	if store.IsUniqueViolation(err) {
		return keypairExists(k.Name)
	}
	return err
}

// keypairExists is Nova's KeyPairExists (409).
func keypairExists(name string) error { return conflict("Key pair '%s' already exists.", name) }

// listKeypairs returns a user's keypairs by name, after marker (a name) when given, at
// most limit of them (0: all).
func listKeypairs(ctx context.Context, q querier, userID string, limit int, marker string) ([]*keypair, error) {
	query := `SELECT id, user_id, name, type, public_key, fingerprint, created_at FROM compute_keypairs WHERE user_id = ?`
	args := []any{userID}
	if marker != "" {
		query += ` AND name > ?`
		args = append(args, marker)
	}
	query += ` ORDER BY name`
	if limit > 0 {
		query += fmt.Sprintf(` LIMIT %d`, limit)
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*keypair
	for rows.Next() {
		var kp keypair
		if err := rows.Scan(&kp.ID, &kp.UserID, &kp.Name, &kp.Type, &kp.PublicKey, &kp.Fingerprint, &kp.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, &kp)
	}
	return out, rows.Err()
}

// countKeypairs counts a user's keypairs (the key_pairs quota usage).
func countKeypairs(ctx context.Context, q querier, userID string) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM compute_keypairs WHERE user_id = ?`, userID).Scan(&n)
	return n, err
}

// deleteKeypair removes a user's keypair; found is false when there was none.
func deleteKeypair(ctx context.Context, q querier, userID, name string) (found bool, err error) {
	res, err := q.ExecContext(ctx, `DELETE FROM compute_keypairs WHERE user_id = ? AND name = ?`, userID, name)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
