package identity

import (
	"net/http"
	"slices"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// delegationPolicies are Keystone's current defaults for trusts and EC2 credentials
// (keystone/common/policies/trust.py and ec2_credential.py).
func delegationPolicies() map[string]string {
	out := trustPolicies()
	for k, v := range ec2CredentialPolicies() {
		out[k] = v
	}
	return out
}

// trustPolicies are Keystone's current defaults for trusts (keystone/common/policies/trust.py).
func trustPolicies() map[string]string {
	const (
		systemReader = "role:reader and system_scope:all"
		trustor      = "user_id:%(target.trust.trustor_user_id)s"
		trustee      = "user_id:%(target.trust.trustee_user_id)s"
	)
	readerOrParty := "(rule:admin_required) or (" + systemReader + " or " + trustor + " or " + trustee + ")"
	return map[string]string{
		"identity:create_trust":            trustor,
		"identity:list_trusts":             "rule:admin_required or (" + systemReader + ")",
		"identity:list_trusts_for_trustor": "(rule:admin_required) or (" + systemReader + " or " + trustor + ")",
		"identity:list_trusts_for_trustee": "(rule:admin_required) or (" + systemReader + " or " + trustee + ")",
		"identity:list_roles_for_trust":    readerOrParty,
		"identity:get_role_for_trust":      readerOrParty,
		"identity:delete_trust":            "rule:admin_required or " + trustor,
		"identity:get_trust":               readerOrParty,
	}
}

// trustRoutes is the route table of /v3/OS-TRUST. Listing and creation are authorized in
// their handlers: the rule depends on the query and on the body.
func (s *Service) trustRoutes() []api.Route {
	const (
		trusts = "/v3/OS-TRUST/trusts"
		one    = trusts + "/{trust_id}"
	)
	return []api.Route{
		{Method: "GET", Path: trusts, Handler: s.listTrustsHTTP},
		{Method: "POST", Path: trusts, Handler: s.createTrustHTTP},
		{Method: "GET", Path: one, Policy: "identity:get_trust", Target: s.trustTarget, Handler: s.showTrustHTTP},
		{Method: "DELETE", Path: one, Policy: "identity:delete_trust", Target: s.trustTarget, Handler: s.deleteTrustHTTP},
		{Method: "GET", Path: one + "/roles", Policy: "identity:list_roles_for_trust", Target: s.trustTarget, Handler: s.listTrustRolesHTTP},
		{Method: "GET", Path: one + "/roles/{role_id}", Policy: "identity:get_role_for_trust", Target: s.trustTarget, Handler: s.showTrustRoleHTTP},
	}
}

// trustPolicyTarget is the target the trust rules test (target.trust.*).
func trustPolicyTarget(tr *trust) policy.Target {
	return policy.Target{
		"target.trust.id": tr.ID, "target.trust.trustor_user_id": tr.TrustorID,
		"target.trust.trustee_user_id": tr.TrusteeID, "target.trust.project_id": nullable(tr.ProjectID),
	}
}

// trustTarget loads the trust named in the path; like Keystone, a missing, expired or
// used-up trust is a 404 before any policy check.
func (s *Service) trustTarget(r *http.Request) (policy.Target, error) {
	tr, err := s.getTrust(r.Context(), s.db, r.PathValue("trust_id"))
	if err != nil {
		return nil, err
	}
	return trustPolicyTarget(tr), nil
}

// refuseAppCredForTrusts is Keystone's _check_application_credential: tokens from
// application credentials may not read or manage trusts.
func refuseAppCredForTrusts(c *api.Caller) error {
	if c.AppCredID != "" || slices.Contains(c.Methods, "application_credential") {
		return api.Forbidden("You are not authorized to perform the requested action: Using method 'application_credential' is not allowed for managing trusts.")
	}
	return nil
}

// trustJSON renders a trust as Keystone does: extra attributes, then the stored ones,
// with the roles (and roles_links) when roles is not nil.
func trustJSON(r *http.Request, tr *trust, roles []role) map[string]any {
	m := map[string]any{}
	for k, v := range tr.Extra {
		m[k] = v
	}
	var expires, uses any
	if !tr.ExpiresAt.IsZero() {
		// Keystone shows it with the microseconds zeroed.
		expires = tr.ExpiresAt.UTC().Truncate(time.Second).Format(store.TimeFormat)
	}
	if tr.RemainingUses != nil {
		uses = *tr.RemainingUses
	}
	self := api.BaseURL(r) + "/v3/OS-TRUST/trusts/" + tr.ID
	m["id"], m["trustor_user_id"], m["trustee_user_id"] = tr.ID, tr.TrustorID, tr.TrusteeID
	m["project_id"], m["impersonation"], m["expires_at"] = nullable(tr.ProjectID), tr.Impersonation, expires
	m["remaining_uses"], m["redelegated_trust_id"], m["redelegation_count"] = uses, nullable(tr.RedelegatedTrustID), tr.RedelegationCount
	m["deleted_at"] = nil
	m["links"] = map[string]any{"self": self}
	if roles != nil {
		rs := make([]any, 0, len(roles))
		for i := range roles {
			rs = append(rs, roleJSON(r, &roles[i]))
		}
		m["roles"] = rs
		m["roles_links"] = map[string]any{"self": self + "/roles", "next": nil, "previous": nil}
	}
	return m
}

// trustRoles loads the trust's roles in the given order, skipping roles deleted since.
func trustRoles(r *http.Request, q store.Querier, tr *trust) ([]role, error) {
	found, err := rolesByIDs(r.Context(), q, tr.RoleIDs)
	if err != nil {
		return nil, err
	}
	out := make([]role, 0, len(found))
	for _, id := range tr.RoleIDs {
		for _, ro := range found {
			if ro.ID == id {
				out = append(out, ro)
			}
		}
	}
	return out, nil
}

// listTrustsHTTP handles GET /v3/OS-TRUST/trusts: all trusts (admins and system
// readers), or those of trustor_user_id or trustee_user_id. Like Keystone, a query with
// neither filter lists nothing.
func (s *Service) listTrustsHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	trustor, trustee := q.Get("trustor_user_id"), q.Get("trustee_user_id")
	var err error
	switch {
	case trustor != "":
		err = s.authorizeFor(ctx, "identity:list_trusts_for_trustor", policy.Target{"target.trust.trustor_user_id": trustor})
	case trustee != "":
		err = s.authorizeFor(ctx, "identity:list_trusts_for_trustee", policy.Target{"target.trust.trustee_user_id": trustee})
	default:
		err = s.authorizeFor(ctx, "identity:list_trusts", policy.Target{})
	}
	if err != nil {
		return err
	}
	if err := refuseAppCredForTrusts(caller(ctx)); err != nil {
		return err
	}
	var trusts []*trust
	switch {
	case len(q) == 0:
		trusts, err = listTrusts(ctx, s.db, "", "")
	case trustor != "":
		trusts, err = listTrusts(ctx, s.db, trustor, "")
	case trustee != "":
		trusts, err = listTrusts(ctx, s.db, "", trustee)
	}
	if err != nil {
		return err
	}
	out := make([]any, 0, len(trusts))
	for _, tr := range trusts {
		out = append(out, trustJSON(r, tr, nil))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"trusts": out, "links": api.KeystoneLinks(r)})
	return nil
}

// createTrustHTTP handles POST /v3/OS-TRUST/trusts.
func (s *Service) createTrustHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	o, err := api.DecodeObject(r, "trust")
	if err != nil {
		return err
	}
	in, err := parseTrustInput(o)
	if err != nil {
		return err
	}
	if err := s.authorizeFor(ctx, "identity:create_trust", policy.Target{"target.trust.trustor_user_id": in.TrustorID}); err != nil {
		return err
	}
	c := caller(ctx)
	if err := refuseAppCredForTrusts(c); err != nil {
		return err
	}
	tr, err := s.createTrust(ctx, c, in)
	if err != nil {
		return err
	}
	roles, err := trustRoles(r, s.db, tr)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"trust": trustJSON(r, tr, roles)})
	return nil
}

// showTrustHTTP handles GET /v3/OS-TRUST/trusts/{trust_id}.
func (s *Service) showTrustHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := refuseAppCredForTrusts(caller(ctx)); err != nil {
		return err
	}
	tr, err := s.getTrust(ctx, s.db, r.PathValue("trust_id"))
	if err != nil {
		return err
	}
	roles, err := trustRoles(r, s.db, tr)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"trust": trustJSON(r, tr, roles)})
	return nil
}

// deleteTrustHTTP handles DELETE /v3/OS-TRUST/trusts/{trust_id}.
func (s *Service) deleteTrustHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := refuseAppCredForTrusts(caller(ctx)); err != nil {
		return err
	}
	if err := s.deleteTrust(ctx, r.PathValue("trust_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listTrustRolesHTTP handles GET /v3/OS-TRUST/trusts/{trust_id}/roles.
func (s *Service) listTrustRolesHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := refuseAppCredForTrusts(caller(ctx)); err != nil {
		return err
	}
	tr, err := s.getTrust(ctx, s.db, r.PathValue("trust_id"))
	if err != nil {
		return err
	}
	roles, err := trustRoles(r, s.db, tr)
	if err != nil {
		return err
	}
	m := trustJSON(r, tr, roles)
	api.WriteJSON(w, http.StatusOK, map[string]any{"roles": m["roles"], "links": m["roles_links"]})
	return nil
}

// showTrustRoleHTTP handles GET and HEAD /v3/OS-TRUST/trusts/{trust_id}/roles/{role_id}:
// 404 unless the trust delegates the role.
func (s *Service) showTrustRoleHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := refuseAppCredForTrusts(caller(ctx)); err != nil {
		return err
	}
	tr, err := s.getTrust(ctx, s.db, r.PathValue("trust_id"))
	if err != nil {
		return err
	}
	roleID := r.PathValue("role_id")
	if !slices.Contains(tr.RoleIDs, roleID) {
		return roleNotFound(roleID)
	}
	ro, err := s.getRole(ctx, s.db, roleID)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"role": roleJSON(r, ro)})
	return nil
}
