package identity

import (
	"context"
	"errors"
	"fmt"

	"github.com/gostack/gostack/internal/store"
)

// ErrNotFound is returned by the in-process lookups when nothing matches.
var ErrNotFound = errors.New("identity: not found")

// ProjectIDByName returns the id of the project called name in domain domainID, for
// code in this process that bootstraps other services (the network topology belongs
// to the admin and demo projects).
func (s *Service) ProjectIDByName(ctx context.Context, domainID, name string) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT id FROM projects WHERE name = ? AND domain_id = ? AND is_domain = ?`,
		name, domainID, false).Scan(&id)
	if store.IsNoRows(err) {
		return "", fmt.Errorf("project %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("look up project %q: %w", name, err)
	}
	return id, nil
}
