package identity

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// This file holds Keystone's legacy policy API (/v3/policies: opaque policy blobs that
// services could fetch, keystone/policy/backends/sql.py) and the OS-ENDPOINT-POLICY
// extension that associates a blob with endpoints, services, or services in a region
// (keystone/endpoint_policy). gostack's own authorization never reads these blobs, as
// Keystone's does not. The HTTP handlers are in policies_api_http.go.

// policyBlob is a stored policy: its type, its blob and any extra attributes the client
// set (project_id, user_id, ...).
type policyBlob struct {
	ID, Type, Blob string
	Extra          map[string]any
}

// getPolicyBlob loads a policy or returns Keystone's 404.
func (s *Service) getPolicyBlob(ctx context.Context, q store.Querier, id string) (*policyBlob, error) {
	var p policyBlob
	var extra string
	err := q.QueryRowContext(ctx, `SELECT id, type, blob, extra FROM policies WHERE id = ?`, id).Scan(&p.ID, &p.Type, &p.Blob, &extra)
	if store.IsNoRows(err) {
		return nil, api.NotFound("Could not find policy: %s.", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get policy %s: %w", id, err)
	}
	p.Extra = jsonMap(extra)
	return &p, nil
}

// listPolicyBlobs returns the policies, only those of one type when byType.
func (s *Service) listPolicyBlobs(ctx context.Context, q store.Querier, typ string, byType bool) ([]*policyBlob, error) {
	query := `SELECT id, type, blob, extra FROM policies`
	var args []any
	if byType {
		query += ` WHERE type = ?`
		args = append(args, typ)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list policies: %w", err)
	}
	defer rows.Close()
	out := []*policyBlob{}
	for rows.Next() {
		var p policyBlob
		var extra string
		if err := rows.Scan(&p.ID, &p.Type, &p.Blob, &extra); err != nil {
			return nil, fmt.Errorf("list policies: %w", err)
		}
		p.Extra = jsonMap(extra)
		out = append(out, &p)
	}
	return out, rows.Err()
}

// insertPolicyBlob stores a new policy.
func insertPolicyBlob(ctx context.Context, tx *store.Tx, p *policyBlob) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO policies (id, type, blob, extra) VALUES (?, ?, ?, ?)`, p.ID, p.Type, p.Blob, jsonText(p.Extra))
	return mapStoreError(err)
}

// updatePolicyBlobRow writes a policy's mutable columns.
func updatePolicyBlobRow(ctx context.Context, tx *store.Tx, p *policyBlob) error {
	_, err := tx.ExecContext(ctx, `UPDATE policies SET type = ?, blob = ?, extra = ? WHERE id = ?`, p.Type, p.Blob, jsonText(p.Extra), p.ID)
	return mapStoreError(err)
}

// deletePolicyBlobTx deletes a policy and its endpoint associations.
func deletePolicyBlobTx(ctx context.Context, tx *store.Tx, id string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM policy_associations WHERE policy_id = ?`, id); err != nil {
		return fmt.Errorf("delete policy %s: %w", id, err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM policies WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete policy %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return api.NotFound("Could not find policy: %s.", id)
	}
	return nil
}

// --- OS-ENDPOINT-POLICY ---

// policyTarget is what a policy association points at: an endpoint, a service, or a
// service in a region. Unset fields are "".
type policyTarget struct {
	EndpointID, ServiceID, RegionID string
}

// where returns the SQL condition matching exactly this target (NULL for unset fields).
func (t policyTarget) where() (string, []any) {
	var conds []string
	var args []any
	for _, c := range []struct{ col, val string }{
		{"endpoint_id", t.EndpointID}, {"service_id", t.ServiceID}, {"region_id", t.RegionID},
	} {
		if c.val == "" {
			conds = append(conds, c.col+` IS NULL`)
		} else {
			conds = append(conds, c.col+` = ?`)
			args = append(args, c.val)
		}
	}
	return strings.Join(conds, ` AND `), args
}

// createPolicyAssociation points the target at the policy, replacing any policy the same
// target had, as Keystone does.
func createPolicyAssociation(ctx context.Context, tx *store.Tx, policyID string, t policyTarget) error {
	where, args := t.where()
	res, err := tx.ExecContext(ctx, `UPDATE policy_associations SET policy_id = ? WHERE `+where, append([]any{policyID}, args...)...)
	if err != nil {
		return fmt.Errorf("create policy association: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO policy_associations (id, policy_id, endpoint_id, service_id, region_id) VALUES (?, ?, ?, ?, ?)`,
		api.NewID(), policyID, nullID(t.EndpointID), nullID(t.ServiceID), nullID(t.RegionID))
	return mapStoreError(err)
}

// checkPolicyAssociation returns Keystone's 404 unless the policy is associated with the
// target.
func checkPolicyAssociation(ctx context.Context, q store.Querier, policyID string, t policyTarget) error {
	where, args := t.where()
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM policy_associations WHERE policy_id = ? AND `+where,
		append([]any{policyID}, args...)...).Scan(&n); err != nil {
		return fmt.Errorf("check policy association: %w", err)
	}
	if n == 0 {
		return api.NotFound("Could not find policy association.")
	}
	return nil
}

// deletePolicyAssociation removes the association if it exists; like Keystone, removing
// one that does not exist is not an error.
func deletePolicyAssociation(ctx context.Context, tx *store.Tx, policyID string, t policyTarget) error {
	where, args := t.where()
	_, err := tx.ExecContext(ctx, `DELETE FROM policy_associations WHERE policy_id = ? AND `+where, append([]any{policyID}, args...)...)
	return err
}

// policyForTarget returns the policy id associated with exactly the target, "" if none.
func policyForTarget(ctx context.Context, q store.Querier, t policyTarget) (string, error) {
	where, args := t.where()
	var id string
	err := q.QueryRowContext(ctx, `SELECT policy_id FROM policy_associations WHERE `+where, args...).Scan(&id)
	if store.IsNoRows(err) {
		return "", nil
	}
	return id, err
}

// endpointsForPolicy is Keystone's list_endpoints_for_policy: the endpoints associated
// directly, every endpoint of associated services, and the endpoints of a service in an
// associated region or any region below it.
func (s *Service) endpointsForPolicy(ctx context.Context, q store.Querier, policyID string) ([]*endpoint, error) {
	rows, err := q.QueryContext(ctx, `SELECT COALESCE(endpoint_id, ''), COALESCE(service_id, ''), COALESCE(region_id, '')
		FROM policy_associations WHERE policy_id = ? ORDER BY id`, policyID)
	if err != nil {
		return nil, fmt.Errorf("list endpoints for policy: %w", err)
	}
	var targets []policyTarget
	for rows.Next() {
		var t policyTarget
		if err := rows.Scan(&t.EndpointID, &t.ServiceID, &t.RegionID); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list endpoints for policy: %w", err)
		}
		targets = append(targets, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list endpoints for policy: %w", err)
	}
	out := []*endpoint{}
	if len(targets) == 0 {
		return out, nil
	}
	all, err := s.listEndpoints(ctx, q, endpointFilter{})
	if err != nil {
		return nil, err
	}
	for _, t := range targets {
		switch {
		case t.EndpointID != "":
			for _, e := range all {
				if e.ID == t.EndpointID {
					out = append(out, e)
				}
			}
		case t.RegionID == "":
			for _, e := range all {
				if e.ServiceID == t.ServiceID {
					out = append(out, e)
				}
			}
		default:
			sub, err := regionSubtree(ctx, q, t.RegionID)
			if err != nil {
				return nil, fmt.Errorf("list endpoints for policy: %w", err)
			}
			// Keystone walks the tree from the region down, one level at a time.
			for _, rid := range append([]string{t.RegionID}, sub...) {
				for _, e := range all {
					if e.ServiceID == t.ServiceID && e.RegionID == rid {
						out = append(out, e)
					}
				}
			}
		}
	}
	return out, nil
}

// policyForEndpoint is Keystone's get_policy_for_endpoint: the policy associated with the
// endpoint itself, else with its service in its region or the nearest region above, else
// with its service; a 404 when there is none.
func (s *Service) policyForEndpoint(ctx context.Context, q store.Querier, e *endpoint) (*policyBlob, error) {
	id, err := policyForTarget(ctx, q, policyTarget{EndpointID: e.ID})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for region := e.RegionID; id == "" && region != "" && !seen[region]; {
		seen[region] = true
		if id, err = policyForTarget(ctx, q, policyTarget{ServiceID: e.ServiceID, RegionID: region}); err != nil {
			return nil, err
		}
		var parent sql.NullString
		err := q.QueryRowContext(ctx, `SELECT parent_region_id FROM regions WHERE id = ?`, region).Scan(&parent)
		if err != nil && !store.IsNoRows(err) {
			return nil, err
		}
		region = parent.String
	}
	if id == "" {
		if id, err = policyForTarget(ctx, q, policyTarget{ServiceID: e.ServiceID}); err != nil {
			return nil, err
		}
	}
	if id == "" {
		return nil, api.NotFound("No policy is associated with endpoint %s.", e.ID)
	}
	return s.getPolicyBlob(ctx, q, id)
}
