package compute

import (
	"context"

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
