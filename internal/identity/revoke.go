package identity

import (
	"context"
	"slices"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// revocationEvent is Keystone's revocation event: it revokes every token, issued at or
// before IssuedBefore, whose attributes match all of the event's non-empty fields.
type revocationEvent struct {
	UserID, ProjectID, DomainID, RoleID, TrustID, AuditID, AuditChainID string
	// ExpiresAt, when set, limits the event to tokens expiring at that instant.
	ExpiresAt    time.Time
	IssuedBefore time.Time
	RevokedAt    time.Time
}

// revoke records a revocation event inside tx. IssuedBefore defaults to now.
func (s *Service) revoke(ctx context.Context, tx *store.Tx, ev revocationEvent) error {
	t := now()
	if ev.IssuedBefore.IsZero() {
		ev.IssuedBefore = t
	}
	ev.RevokedAt = t
	_, err := tx.ExecContext(ctx, `INSERT INTO revocation_events (id, user_id, project_id, domain_id, role_id, trust_id,
		audit_id, audit_chain_id, expires_at, issued_before, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		api.NewID(), ev.UserID, ev.ProjectID, ev.DomainID, ev.RoleID, ev.TrustID, ev.AuditID, ev.AuditChainID,
		store.FormatTime(ev.ExpiresAt), store.FormatTime(ev.IssuedBefore), store.FormatTime(ev.RevokedAt))
	return err
}

// revocations returns the current revocation events, reloading them when the identity
// revision has moved since they were last read.
func (s *Service) revocations(ctx context.Context) ([]revocationEvent, error) {
	gen := s.generation.Load()
	s.revMu.Lock()
	defer s.revMu.Unlock()
	if s.revLoaded && s.revEventGen == gen {
		return s.revEvents, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT user_id, project_id, domain_id, role_id, trust_id, audit_id,
		audit_chain_id, expires_at, issued_before, revoked_at FROM revocation_events`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var evs []revocationEvent
	for rows.Next() {
		var ev revocationEvent
		var exp, ib, ra string
		if err := rows.Scan(&ev.UserID, &ev.ProjectID, &ev.DomainID, &ev.RoleID, &ev.TrustID, &ev.AuditID,
			&ev.AuditChainID, &exp, &ib, &ra); err != nil {
			return nil, err
		}
		ev.ExpiresAt, ev.IssuedBefore, ev.RevokedAt = store.ParseTime(exp), store.ParseTime(ib), store.ParseTime(ra)
		evs = append(evs, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	s.revEvents, s.revEventGen, s.revLoaded = evs, gen, true
	return evs, nil
}

// matches reports whether the event revokes the token, following Keystone's revoke model:
// user_id matches the token's user (or a trust token's trustor or trustee), trust_id its
// trust, domain_id its user's or its scope's domain, project_id its project, role_id any
// of its roles, audit_id its own audit id and audit_chain_id its chain.
func (ev *revocationEvent) matches(t *tokenInfo) bool {
	if t.IssuedAtPrecise.After(ev.IssuedBefore) {
		return false
	}
	if ev.UserID != "" && ev.UserID != t.UserID && ev.UserID != t.TrustorID && ev.UserID != t.TrusteeID {
		return false
	}
	if ev.ProjectID != "" && ev.ProjectID != t.ProjectID {
		return false
	}
	if ev.DomainID != "" && ev.DomainID != t.UserDomainID && ev.DomainID != t.ProjectDomainID && ev.DomainID != t.DomainID {
		return false
	}
	if ev.RoleID != "" && !slices.Contains(t.RoleIDs, ev.RoleID) {
		return false
	}
	if ev.TrustID != "" && ev.TrustID != t.TrustID {
		return false
	}
	if ev.AuditID != "" && (len(t.AuditIDs) == 0 || t.AuditIDs[0] != ev.AuditID) {
		return false
	}
	if ev.AuditChainID != "" && t.auditChainID() != ev.AuditChainID {
		return false
	}
	if !ev.ExpiresAt.IsZero() && !ev.ExpiresAt.Equal(t.ExpiresAt) {
		return false
	}
	return true
}

// isRevoked reports whether any revocation event matches the token.
func (s *Service) isRevoked(ctx context.Context, t *tokenInfo) (bool, error) {
	evs, err := s.revocations(ctx)
	if err != nil {
		return false, err
	}
	for i := range evs {
		if evs[i].matches(t) {
			return true, nil
		}
	}
	return false, nil
}

// pruneRevocations deletes events older than any token they could still match.
func (s *Service) pruneRevocations(ctx context.Context) {
	cutoff := now().Add(-(s.cfg.TokenExpiration + s.cfg.AllowExpiredWindow + time.Hour))
	err := s.write(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM revocation_events WHERE revoked_at < ?`, store.FormatTime(cutoff))
		return err
	})
	if err != nil {
		s.log.Warn("prune revocation events", "err", err)
	}
}
