package identity

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// This file holds the consumers of Keystone's OS-OAUTH1 extension
// (keystone/oauth1/backends/sql.py): the third-party applications that may ask users to
// delegate roles through OAuth 1.0a. Request and access tokens are not implemented. The
// HTTP handlers are in oauth1_consumers_http.go.

// oauthConsumer is an OAuth 1.0a consumer.
type oauthConsumer struct {
	ID string
	// Description is nil when never set; Keystone returns it as null.
	Description *string
	// Secret is the shared secret, shown to the client only when the consumer is created.
	Secret string
	Extra  map[string]any
}

// consumerNotFound is Keystone's 404 for an unknown consumer.
func consumerNotFound() error { return api.NotFound("Consumer not found") }

// scanConsumer reads one row of id, description, secret, extra.
func scanConsumer(row interface{ Scan(...any) error }) (*oauthConsumer, error) {
	var c oauthConsumer
	var desc sql.NullString
	var extra string
	if err := row.Scan(&c.ID, &desc, &c.Secret, &extra); err != nil {
		return nil, err
	}
	if desc.Valid {
		c.Description = &desc.String
	}
	c.Extra = jsonMap(extra)
	return &c, nil
}

// getConsumer loads a consumer or returns Keystone's 404.
func (s *Service) getConsumer(ctx context.Context, q store.Querier, id string) (*oauthConsumer, error) {
	c, err := scanConsumer(q.QueryRowContext(ctx, `SELECT id, description, secret, extra FROM oauth1_consumers WHERE id = ?`, id))
	if store.IsNoRows(err) {
		return nil, consumerNotFound()
	}
	if err != nil {
		return nil, fmt.Errorf("get consumer %s: %w", id, err)
	}
	return c, nil
}

// listConsumers returns every consumer.
func (s *Service) listConsumers(ctx context.Context, q store.Querier) ([]*oauthConsumer, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, description, secret, extra FROM oauth1_consumers ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list consumers: %w", err)
	}
	defer rows.Close()
	out := []*oauthConsumer{}
	for rows.Next() {
		c, err := scanConsumer(rows)
		if err != nil {
			return nil, fmt.Errorf("list consumers: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// insertConsumer stores a new consumer.
func insertConsumer(ctx context.Context, tx *store.Tx, c *oauthConsumer) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO oauth1_consumers (id, description, secret, extra) VALUES (?, ?, ?, ?)`,
		c.ID, nullableText(c.Description), c.Secret, jsonText(c.Extra))
	return mapStoreError(err)
}

// updateConsumerRow writes a consumer's mutable columns; the secret never changes.
func updateConsumerRow(ctx context.Context, tx *store.Tx, c *oauthConsumer) error {
	_, err := tx.ExecContext(ctx, `UPDATE oauth1_consumers SET description = ?, extra = ? WHERE id = ?`,
		nullableText(c.Description), jsonText(c.Extra), c.ID)
	return mapStoreError(err)
}

// deleteConsumerTx deletes a consumer, 404 when there is none.
func deleteConsumerTx(ctx context.Context, tx *store.Tx, id string) error {
	res, err := tx.ExecContext(ctx, `DELETE FROM oauth1_consumers WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete consumer %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return consumerNotFound()
	}
	return nil
}
