package identity

import (
	"context"
	"fmt"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// This file holds Keystone's unified limits (keystone/limit): registered limits, the
// default a service applies to a resource, and limits, a project's or domain's override
// of one. Enforcement follows the "flat" model, Keystone's default: limits are not checked
// against the project hierarchy. The HTTP handlers are in limits_http.go.

// limitModelName and limitModelDescription describe the flat enforcement model, as
// GET /v3/limits/model reports it.
const (
	limitModelName        = "flat"
	limitModelDescription = "Limit enforcement and validation does not take project hierarchy into consideration."
)

// limitMax is the largest limit value Keystone accepts (a signed 32-bit integer); -1
// means unlimited.
const limitMax = 0x7FFFFFFF

// registeredLimit is a service's default limit for one resource, optionally per region.
type registeredLimit struct {
	ID, ServiceID, RegionID, ResourceName, Description string
	DefaultLimit                                       int64
}

// limit overrides a registered limit for one project or one domain; exactly one of
// ProjectID and DomainID is set.
type limit struct {
	ID, ProjectID, DomainID, ServiceID, RegionID, ResourceName, Description string
	ResourceLimit                                                           int64
}

// registeredLimitColumns is the column list scanRegisteredLimit reads.
const registeredLimitColumns = `id, service_id, region_id, resource_name, default_limit, description`

// scanRegisteredLimit reads one row selected with registeredLimitColumns.
func scanRegisteredLimit(row interface{ Scan(...any) error }) (*registeredLimit, error) {
	var rl registeredLimit
	err := row.Scan(&rl.ID, &rl.ServiceID, &rl.RegionID, &rl.ResourceName, &rl.DefaultLimit, &rl.Description)
	return &rl, err
}

// limitColumns is the column list scanLimit reads.
const limitColumns = `id, project_id, domain_id, service_id, region_id, resource_name, resource_limit, description`

// scanLimit reads one row selected with limitColumns.
func scanLimit(row interface{ Scan(...any) error }) (*limit, error) {
	var l limit
	err := row.Scan(&l.ID, &l.ProjectID, &l.DomainID, &l.ServiceID, &l.RegionID, &l.ResourceName, &l.ResourceLimit, &l.Description)
	return &l, err
}

// getRegisteredLimit loads a registered limit or returns Keystone's 404.
func (s *Service) getRegisteredLimit(ctx context.Context, q store.Querier, id string) (*registeredLimit, error) {
	rl, err := scanRegisteredLimit(q.QueryRowContext(ctx, `SELECT `+registeredLimitColumns+` FROM registered_limits WHERE id = ?`, id))
	if store.IsNoRows(err) {
		return nil, api.NotFound("Could not find registered limit for %s.", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get registered limit %s: %w", id, err)
	}
	return rl, nil
}

// getLimit loads a limit or returns Keystone's 404.
func (s *Service) getLimit(ctx context.Context, q store.Querier, id string) (*limit, error) {
	l, err := scanLimit(q.QueryRowContext(ctx, `SELECT `+limitColumns+` FROM limits WHERE id = ?`, id))
	if store.IsNoRows(err) {
		return nil, api.NotFound("Could not find limit for %s.", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get limit %s: %w", id, err)
	}
	return l, nil
}

// limitFilter selects registered limits or limits in a list; a nil field does not filter.
type limitFilter struct {
	ServiceID, RegionID, ResourceName, ProjectID, DomainID *string
}

// where renders the filter as SQL conditions over the given columns.
func (f limitFilter) where(withTarget bool) (string, []any) {
	var conds []string
	var args []any
	add := func(col string, v *string) {
		if v != nil {
			conds = append(conds, col+` = ?`)
			args = append(args, *v)
		}
	}
	add("service_id", f.ServiceID)
	add("region_id", f.RegionID)
	add("resource_name", f.ResourceName)
	if withTarget {
		add("project_id", f.ProjectID)
		add("domain_id", f.DomainID)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return ` WHERE ` + strings.Join(conds, ` AND `), args
}

// listRegisteredLimits returns the registered limits matching f.
func (s *Service) listRegisteredLimits(ctx context.Context, q store.Querier, f limitFilter) ([]*registeredLimit, error) {
	where, args := f.where(false)
	rows, err := q.QueryContext(ctx, `SELECT `+registeredLimitColumns+` FROM registered_limits`+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list registered limits: %w", err)
	}
	defer rows.Close()
	out := []*registeredLimit{}
	for rows.Next() {
		rl, err := scanRegisteredLimit(rows)
		if err != nil {
			return nil, fmt.Errorf("list registered limits: %w", err)
		}
		out = append(out, rl)
	}
	return out, rows.Err()
}

// listLimits returns the limits matching f.
func (s *Service) listLimits(ctx context.Context, q store.Querier, f limitFilter) ([]*limit, error) {
	where, args := f.where(true)
	rows, err := q.QueryContext(ctx, `SELECT `+limitColumns+` FROM limits`+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list limits: %w", err)
	}
	defer rows.Close()
	out := []*limit{}
	for rows.Next() {
		l, err := scanLimit(rows)
		if err != nil {
			return nil, fmt.Errorf("list limits: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// checkLimitRefs is Keystone's _assert_resource_exist: the service, region, project and
// domain a (registered) limit names must exist, or it is a 400 naming the attribute. A
// limit given a domain's id as project_id becomes that domain's limit.
func (s *Service) checkLimitRefs(ctx context.Context, q store.Querier, serviceID, regionID string, l *limit, what string) error {
	if serviceID != "" {
		ok, err := serviceExists(ctx, q, serviceID)
		if err != nil {
			return fmt.Errorf("check %s service: %w", what, err)
		}
		if !ok {
			return validationError("service_id", what)
		}
	}
	if regionID != "" {
		ok, err := regionExists(ctx, q, regionID)
		if err != nil {
			return fmt.Errorf("check %s region: %w", what, err)
		}
		if !ok {
			return validationError("region_id", what)
		}
	}
	if l == nil {
		return nil
	}
	if l.ProjectID != "" {
		p, err := s.getProject(ctx, q, l.ProjectID)
		if err != nil {
			if api.AsError(err).Status == 404 {
				return validationError("project_id", what)
			}
			return err
		}
		if p.IsDomain {
			l.DomainID, l.ProjectID = l.ProjectID, ""
		}
	}
	if l.DomainID != "" {
		if _, err := s.getDomain(ctx, q, l.DomainID); err != nil {
			if api.AsError(err).Status == 404 {
				return validationError("domain_id", what)
			}
			return err
		}
	}
	return nil
}

// registeredLimitTaken reports whether another registered limit (not excludeID) already
// covers the service, region and resource.
func registeredLimitTaken(ctx context.Context, q store.Querier, rl *registeredLimit, excludeID string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM registered_limits WHERE service_id = ? AND region_id = ? AND resource_name = ? AND id <> ?`,
		rl.ServiceID, rl.RegionID, rl.ResourceName, excludeID).Scan(&n)
	return n > 0, err
}

// registeredLimitReferenced reports whether limits override the registered limit.
func registeredLimitReferenced(ctx context.Context, q store.Querier, rl *registeredLimit) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM limits WHERE service_id = ? AND region_id = ? AND resource_name = ?`,
		rl.ServiceID, rl.RegionID, rl.ResourceName).Scan(&n)
	return n > 0, err
}

// createRegisteredLimitsTx stores new registered limits after Keystone's checks: their
// service and region exist (400) and none duplicates another (409).
func (s *Service) createRegisteredLimitsTx(ctx context.Context, tx *store.Tx, rls []*registeredLimit) error {
	for _, rl := range rls {
		if err := s.checkLimitRefs(ctx, tx, rl.ServiceID, rl.RegionID, nil, "registered_limit"); err != nil {
			return err
		}
	}
	for _, rl := range rls {
		taken, err := registeredLimitTaken(ctx, tx, rl, rl.ID)
		if err != nil {
			return fmt.Errorf("create registered limit: %w", err)
		}
		if taken {
			return api.Conflict("Conflict occurred attempting to store registered_limit - Duplicate entry.")
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO registered_limits (id, service_id, region_id, resource_name, default_limit, description) VALUES (?, ?, ?, ?, ?, ?)`,
			rl.ID, rl.ServiceID, rl.RegionID, rl.ResourceName, rl.DefaultLimit, rl.Description)
		if err != nil {
			return mapStoreError(err)
		}
	}
	return nil
}

// updateRegisteredLimitTx writes a changed registered limit. Moving it to another service,
// region or resource is refused (403) while limits override it, since they would lose their
// reference, and refused (409) when another registered limit already covers the target.
func (s *Service) updateRegisteredLimitTx(ctx context.Context, tx *store.Tx, old, rl *registeredLimit) error {
	if err := s.checkLimitRefs(ctx, tx, rl.ServiceID, rl.RegionID, nil, "registered_limit"); err != nil {
		return err
	}
	moved := old.ServiceID != rl.ServiceID || old.RegionID != rl.RegionID || old.ResourceName != rl.ResourceName
	if moved {
		ref, err := registeredLimitReferenced(ctx, tx, old)
		if err != nil {
			return fmt.Errorf("update registered limit: %w", err)
		}
		if ref {
			return api.Forbidden("Unable to update or delete registered limit %s because there are project limits associated with it.", old.ID)
		}
		taken, err := registeredLimitTaken(ctx, tx, rl, rl.ID)
		if err != nil {
			return fmt.Errorf("update registered limit: %w", err)
		}
		if taken {
			return api.Conflict("Conflict occurred attempting to store registered_limit - Duplicate entry.")
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE registered_limits SET service_id = ?, region_id = ?, resource_name = ?, default_limit = ?, description = ? WHERE id = ?`,
		rl.ServiceID, rl.RegionID, rl.ResourceName, rl.DefaultLimit, rl.Description, rl.ID)
	return mapStoreError(err)
}

// deleteRegisteredLimitTx deletes a registered limit unless limits override it (403).
func (s *Service) deleteRegisteredLimitTx(ctx context.Context, tx *store.Tx, id string) error {
	rl, err := s.getRegisteredLimit(ctx, tx, id)
	if err != nil {
		return err
	}
	ref, err := registeredLimitReferenced(ctx, tx, rl)
	if err != nil {
		return fmt.Errorf("delete registered limit: %w", err)
	}
	if ref {
		return api.Forbidden("Unable to update or delete registered limit %s because there are project limits associated with it.", id)
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM registered_limits WHERE id = ?`, id)
	return err
}

// createLimitsTx stores new limits after Keystone's checks: what they name exists (400),
// a registered limit exists for their service, region and resource (403), and none
// duplicates another limit of the same project or domain (409).
func (s *Service) createLimitsTx(ctx context.Context, tx *store.Tx, ls []*limit) error {
	for _, l := range ls {
		if err := s.checkLimitRefs(ctx, tx, l.ServiceID, l.RegionID, l, "limit"); err != nil {
			return err
		}
	}
	for _, l := range ls {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM registered_limits WHERE service_id = ? AND region_id = ? AND resource_name = ?`,
			l.ServiceID, l.RegionID, l.ResourceName).Scan(&n)
		if err != nil {
			return fmt.Errorf("create limit: %w", err)
		}
		if n == 0 {
			return api.Forbidden("Unable to create a limit that has no corresponding registered limit.")
		}
		err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM limits WHERE project_id = ? AND domain_id = ? AND service_id = ? AND region_id = ? AND resource_name = ?`,
			l.ProjectID, l.DomainID, l.ServiceID, l.RegionID, l.ResourceName).Scan(&n)
		if err != nil {
			return fmt.Errorf("create limit: %w", err)
		}
		if n > 0 {
			return api.Conflict("Conflict occurred attempting to store limit - Duplicate entry.")
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO limits (id, project_id, domain_id, service_id, region_id, resource_name, resource_limit, description) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			l.ID, l.ProjectID, l.DomainID, l.ServiceID, l.RegionID, l.ResourceName, l.ResourceLimit, l.Description)
		if err != nil {
			return mapStoreError(err)
		}
	}
	return nil
}

// projectIDsInDomain returns the ids of the projects (not domains) of a domain.
func projectIDsInDomain(ctx context.Context, q store.Querier, domainID string) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT id FROM projects WHERE domain_id = ? AND is_domain = ?`, domainID, false)
	if err != nil {
		return nil, fmt.Errorf("list domain projects: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list domain projects: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}
