package identity

import (
	"bytes"
	"mime"
	"net/http"
	"net/url"
	"slices"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// oauth1Routes are the OS-OAUTH1 delegation flow (keystone/api/os_oauth1.py) and a user's
// access tokens (keystone/api/users.py). Request and access tokens are asked for with
// OAuth-signed requests, not with tokens.
func (s *Service) oauth1Routes() []api.Route {
	const (
		tokens = "/v3/users/{user_id}/OS-OAUTH1/access_tokens"
		one    = tokens + "/{access_token_id}"
	)
	return []api.Route{
		{Method: "POST", Path: "/v3/OS-OAUTH1/request_token", Public: true, Handler: s.handleCreateRequestToken},
		{Method: "POST", Path: "/v3/OS-OAUTH1/access_token", Public: true, Handler: s.handleCreateAccessToken},
		{Method: "PUT", Path: "/v3/OS-OAUTH1/authorize/{request_token_id}", Policy: "identity:authorize_request_token", Handler: s.handleAuthorizeRequestToken},
		{Method: "GET", Path: tokens, Policy: "identity:list_access_tokens", Target: userIDTarget, Handler: s.handleListAccessTokens},
		{Method: "GET", Path: one, Policy: "identity:get_access_token", Target: userIDTarget, Handler: s.handleGetAccessToken},
		{Method: "DELETE", Path: one, Policy: "identity:delete_access_token", Target: userIDTarget, Handler: s.handleDeleteAccessToken},
		{Method: "GET", Path: one + "/roles", Policy: "identity:list_access_token_roles", Target: userIDTarget, Handler: s.handleListAccessTokenRoles},
		{Method: "GET", Path: one + "/roles/{role_id}", Policy: "identity:get_access_token_role", Target: userIDTarget, Handler: s.handleGetAccessTokenRole},
	}
}

// oauth1TokenPolicies are Keystone's current defaults for request and access tokens
// (keystone/common/policies/access_token.py). Keystone checks DELETE of an access token
// against identity:ec2_delete_credential, which for an access token comes to
// admin_required too; gostack uses the rule documented for it.
func oauth1TokenPolicies() map[string]string {
	return map[string]string{
		"identity:authorize_request_token": "rule:admin_required",
		"identity:get_access_token":        "rule:admin_required",
		"identity:get_access_token_role":   "rule:admin_required",
		"identity:list_access_tokens":      "rule:admin_required",
		"identity:list_access_token_roles": "rule:admin_required",
		"identity:delete_access_token":     "rule:admin_required",
	}
}

// userIDTarget gives the rules the path's user, as Keystone's default target does.
func userIDTarget(r *http.Request) (policy.Target, error) {
	return policy.Target{"user_id": r.PathValue("user_id"), "target.user.id": r.PathValue("user_id")}, nil
}

// oauthForm reads the parameters of an application/x-www-form-urlencoded body, which the
// signature covers; other bodies are not read.
func oauthForm(r *http.Request) (url.Values, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return nil, nil
	}
	b, err := api.ReadBody(r, 0)
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, oauthInvalid("invalid_request", "Malformed form body.")
	}
	return form, nil
}

// writeOAuthForm writes a request or access token as Keystone does: 201 with a
// form-encoded body.
func writeOAuthForm(w http.ResponseWriter, t *oauthToken) {
	w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(t.formResponse()))
}

// handleCreateRequestToken serves POST /v3/OS-OAUTH1/request_token.
func (s *Service) handleCreateRequestToken(w http.ResponseWriter, r *http.Request) error {
	form, err := oauthForm(r)
	if err != nil {
		return err
	}
	o, err := readOAuthRequest(r, form)
	if err != nil {
		return err
	}
	t, err := s.createRequestToken(r.Context(), o, r.Header.Get("Requested-Project-Id"))
	if err != nil {
		return err
	}
	writeOAuthForm(w, t)
	return nil
}

// handleCreateAccessToken serves POST /v3/OS-OAUTH1/access_token.
func (s *Service) handleCreateAccessToken(w http.ResponseWriter, r *http.Request) error {
	form, err := oauthForm(r)
	if err != nil {
		return err
	}
	o, err := readOAuthRequest(r, form)
	if err != nil {
		return err
	}
	t, err := s.createAccessToken(r.Context(), o)
	if err != nil {
		return err
	}
	writeOAuthForm(w, t)
	return nil
}

// decodeAuthorizeRoles reads the body of an authorize request the way Keystone does: a
// body that is not a JSON object, or has no "roles", authorizes no role; "roles" must be
// a list of objects with exactly one of "id" and "name" (request_token_authorize).
func decodeAuthorizeRoles(r *http.Request) ([]api.Object, error) {
	b, err := api.ReadBody(r, 0)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	var top any
	if err := api.Unmarshal(b, &top); err != nil {
		return nil, nil
	}
	m, ok := top.(map[string]any)
	if !ok {
		return nil, nil
	}
	raw, present := m["roles"]
	if !present {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, api.BadRequest("Invalid input for field 'roles': expected a list.")
	}
	out := make([]api.Object, 0, len(list))
	for _, item := range list {
		ro, ok := item.(map[string]any)
		if !ok {
			return nil, api.BadRequest("Invalid input for field 'roles': each role must be an object.")
		}
		o := api.Object(ro)
		if len(o) != 1 {
			return nil, api.BadRequest("Invalid input for field 'roles': each role must have exactly one of 'id' or 'name'.")
		}
		switch {
		case o.Has("id"):
			id, _, err := o.Str("id", false)
			if err != nil {
				return nil, err
			}
			if len(id) == 0 || len(id) > 64 || !idStringRe.MatchString(id) {
				return nil, api.BadRequest("Invalid input for field 'roles/id': %q does not match '^[a-zA-Z0-9-]+$'.", truncateRunes(id, 64))
			}
		case o.Has("name"):
			if _, _, err := o.Name("name", true, 255); err != nil {
				return nil, err
			}
		default:
			return nil, api.BadRequest("Invalid input for field 'roles': Additional properties are not allowed.")
		}
		out = append(out, o)
	}
	return out, nil
}

// handleAuthorizeRequestToken serves PUT /v3/OS-OAUTH1/authorize/{request_token_id}.
func (s *Service) handleAuthorizeRequestToken(w http.ResponseWriter, r *http.Request) error {
	roles, err := decodeAuthorizeRoles(r)
	if err != nil {
		return err
	}
	verifier, err := s.authorizeRequestToken(r.Context(), r.PathValue("request_token_id"), roles)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"token": map[string]any{"oauth_verifier": verifier}})
	return nil
}

// createOAuthToken serves POST /v3/auth/tokens with the "oauth1" method: a token for the
// access token's user, scoped to its project whatever scope the body asks for (Keystone
// sets the scope from the access token). The method cannot be combined with others.
func (s *Service) createOAuthToken(w http.ResponseWriter, r *http.Request, methods []string) error {
	ctx := r.Context()
	if slices.ContainsFunc(methods, func(m string) bool { return m != "oauth1" }) {
		return api.Unauthorized("Attempted to authenticate with an unsupported method.")
	}
	at, err := s.oauthAuthenticate(ctx, r)
	if err != nil {
		return err
	}
	t, err := s.issue(ctx, s.oauthTokenPayload(at))
	if err != nil {
		return err
	}
	nocat, _, _ := api.QueryBool(r.URL.Query(), "nocatalog")
	body, err := s.tokenJSON(ctx, r, t, !nocat)
	if err != nil {
		return err
	}
	w.Header().Set("X-Subject-Token", t.Token)
	api.WriteJSON(w, http.StatusCreated, body)
	return nil
}

// refuseDelegatedForAccessTokens is Keystone's _block_delegated_token for the access
// token APIs.
func (s *Service) refuseDelegatedForAccessTokens(r *http.Request) error {
	delegated, err := s.callerDelegated(r.Context())
	if err != nil {
		return err
	}
	if delegated {
		return api.Forbidden("Cannot manage OAuth access tokens with a token issued via delegation.")
	}
	return nil
}

// accessTokenJSON renders an access token as Keystone does: without its secret and
// roles, with links to itself and its roles.
func accessTokenJSON(r *http.Request, t *oauthToken) map[string]any {
	self := api.BaseURL(r) + "/v3/users/" + t.AuthorizingUserID + "/OS-OAUTH1/access_tokens/" + t.ID
	var expires any
	if !t.ExpiresAt.IsZero() {
		expires = store.FormatTime(t.ExpiresAt)
	}
	return map[string]any{
		"id": t.ID, "consumer_id": t.ConsumerID, "project_id": t.ProjectID,
		"authorizing_user_id": t.AuthorizingUserID, "expires_at": expires,
		"links": map[string]any{"self": self, "roles": self + "/roles"},
	}
}

// userAccessToken loads the path's access token, which must be the path user's; like
// Keystone, another user's token is not found.
func (s *Service) userAccessToken(r *http.Request) (*oauthToken, error) {
	at, err := getAccessToken(r.Context(), s.db, r.PathValue("access_token_id"))
	if err != nil {
		return nil, err
	}
	if at.AuthorizingUserID != r.PathValue("user_id") {
		return nil, api.NotFound("Access token not found")
	}
	return at, nil
}

// handleListAccessTokens serves GET /v3/users/{user_id}/OS-OAUTH1/access_tokens.
func (s *Service) handleListAccessTokens(w http.ResponseWriter, r *http.Request) error {
	if err := s.refuseDelegatedForAccessTokens(r); err != nil {
		return err
	}
	ts, err := listAccessTokens(r.Context(), s.db, r.PathValue("user_id"))
	if err != nil {
		return err
	}
	out := make([]any, 0, len(ts))
	for _, t := range ts {
		out = append(out, accessTokenJSON(r, t))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"access_tokens": out, "links": api.KeystoneLinks(r)})
	return nil
}

// handleGetAccessToken serves GET /v3/users/{user_id}/OS-OAUTH1/access_tokens/{id}.
func (s *Service) handleGetAccessToken(w http.ResponseWriter, r *http.Request) error {
	if err := s.refuseDelegatedForAccessTokens(r); err != nil {
		return err
	}
	at, err := s.userAccessToken(r)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"access_token": accessTokenJSON(r, at)})
	return nil
}

// handleDeleteAccessToken serves DELETE /v3/users/{user_id}/OS-OAUTH1/access_tokens/{id}.
func (s *Service) handleDeleteAccessToken(w http.ResponseWriter, r *http.Request) error {
	if err := s.refuseDelegatedForAccessTokens(r); err != nil {
		return err
	}
	if err := s.deleteAccessToken(r.Context(), r.PathValue("user_id"), r.PathValue("access_token_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// accessTokenRoleJSON renders a delegated role as Keystone's _format_role_entity does:
// the role without description (or enabled).
func accessTokenRoleJSON(r *http.Request, ro *role) map[string]any {
	m := roleJSON(r, ro)
	delete(m, "description")
	delete(m, "enabled")
	return m
}

// handleListAccessTokenRoles serves GET .../access_tokens/{id}/roles: the roles as
// authorized (implied roles not added). Roles deleted since are left out.
func (s *Service) handleListAccessTokenRoles(w http.ResponseWriter, r *http.Request) error {
	at, err := s.userAccessToken(r)
	if err != nil {
		return err
	}
	out := []any{}
	for _, id := range at.RoleIDs {
		ro, err := s.getRole(r.Context(), s.db, id)
		if err != nil {
			if api.AsError(err).Status == http.StatusNotFound {
				continue
			}
			return err
		}
		out = append(out, accessTokenRoleJSON(r, ro))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"roles": out, "links": api.KeystoneLinks(r)})
	return nil
}

// handleGetAccessTokenRole serves GET .../access_tokens/{id}/roles/{role_id}. Like
// Keystone, another user's access token is a 401 here.
func (s *Service) handleGetAccessTokenRole(w http.ResponseWriter, r *http.Request) error {
	at, err := getAccessToken(r.Context(), s.db, r.PathValue("access_token_id"))
	if err != nil {
		return err
	}
	if at.AuthorizingUserID != r.PathValue("user_id") {
		return api.Unauthorized("User IDs do not match")
	}
	id := r.PathValue("role_id")
	if !slices.Contains(at.RoleIDs, id) {
		return roleNotFound(id)
	}
	ro, err := s.getRole(r.Context(), s.db, id)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"role": accessTokenRoleJSON(r, ro)})
	return nil
}
