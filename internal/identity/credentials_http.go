package identity

import (
	"net/http"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
)

// credentialRoutes is the route table for /v3/credentials. Creation is authorized in the
// handler, against the owner named in the body.
func (s *Service) credentialRoutes() []api.Route {
	const one = "/v3/credentials/{credential_id}"
	return []api.Route{
		{Method: "GET", Path: "/v3/credentials", Policy: "identity:list_credentials", Target: listCredentialsTarget, Handler: s.listCredentialsHTTP},
		{Method: "POST", Path: "/v3/credentials", Handler: s.createCredentialHTTP},
		{Method: "GET", Path: one, Policy: "identity:get_credential", Target: s.credentialTarget, Handler: s.showCredentialHTTP},
		{Method: "PATCH", Path: one, Policy: "identity:update_credential", Target: s.credentialTarget, Handler: s.updateCredentialHTTP},
		{Method: "DELETE", Path: one, Policy: "identity:delete_credential", Target: s.credentialTarget, Handler: s.deleteCredentialHTTP},
	}
}

// credentialPolicyTarget is the target the credential rules test (target.credential.*).
func credentialPolicyTarget(c *credential) policy.Target {
	var project any
	if c.ProjectID != "" {
		project = c.ProjectID
	}
	return policy.Target{
		"target.credential.id": c.ID, "target.credential.user_id": c.UserID,
		"target.credential.project_id": project, "target.credential.type": c.Type,
	}
}

// credentialTarget loads the credential named in the path.
func (s *Service) credentialTarget(r *http.Request) (policy.Target, error) {
	c, err := s.getCredential(r.Context(), s.db, r.PathValue("credential_id"))
	if err != nil {
		return nil, err
	}
	return credentialPolicyTarget(c), nil
}

// listCredentialsTarget is Keystone's list target: callers without system scope are
// checked as the owner of the credentials they will see; each result is then checked
// on its own.
func listCredentialsTarget(r *http.Request) (policy.Target, error) {
	c := caller(r.Context())
	if c.System != "" {
		return policy.Target{}, nil
	}
	return policy.Target{"target.credential.user_id": c.UserID}, nil
}

// credentialJSON renders a credential as Keystone does: extra attributes, then the
// stored ones, with project_id null when unset.
func credentialJSON(r *http.Request, c *credential) map[string]any {
	m := map[string]any{}
	for k, v := range c.Extra {
		m[k] = v
	}
	var project any
	if c.ProjectID != "" {
		project = c.ProjectID
	}
	m["id"], m["user_id"], m["project_id"], m["type"], m["blob"] = c.ID, c.UserID, project, c.Type, c.Blob
	m["links"] = map[string]any{"self": api.BaseURL(r) + "/v3/credentials/" + c.ID}
	return m
}

// credentialKnownFields are the attributes that are not free-form extras.
var credentialKnownFields = []string{"id", "user_id", "project_id", "type", "blob", "links"}

// readCredentialFields applies the fields of a create or update body to c.
func readCredentialFields(o api.Object, c *credential) error {
	for _, f := range []struct {
		key string
		dst *string
	}{{"blob", &c.Blob}, {"type", &c.Type}, {"user_id", &c.UserID}} {
		v, ok, err := o.Str(f.key, false)
		if err != nil {
			return err
		}
		if ok {
			*f.dst = v
		}
	}
	if p, ok, err := o.Str("project_id", true); err != nil {
		return err
	} else if ok {
		c.ProjectID = p
	}
	extra := o.Extra(credentialKnownFields...)
	if len(extra) > 0 && c.Extra == nil {
		c.Extra = map[string]any{}
	}
	for k, v := range extra {
		c.Extra[k] = v
	}
	return nil
}

// listCredentialsHTTP handles GET /v3/credentials (filters: user_id, type), returning
// only the credentials the caller may read.
func (s *Service) listCredentialsHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	creds, err := s.listCredentials(ctx, s.db, q.Get("user_id"), q.Get("type"))
	if err != nil {
		return err
	}
	c := caller(ctx)
	out := []any{}
	for _, cred := range creds {
		if s.authorizeFor(ctx, "identity:get_credential", credentialPolicyTarget(cred)) != nil {
			continue
		}
		if checkDelegatedProject(c, cred) != nil {
			continue
		}
		out = append(out, credentialJSON(r, cred))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"credentials": out, "links": api.KeystoneLinks(r)})
	return nil
}

// createCredentialHTTP handles POST /v3/credentials.
func (s *Service) createCredentialHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	o, err := api.DecodeObject(r, "credential")
	if err != nil {
		return err
	}
	for _, k := range []string{"blob", "type", "user_id"} {
		if !o.Has(k) {
			return api.BadRequest("Invalid input for field/attribute credential. '%s' is a required property.", k)
		}
	}
	if _, _, err := o.Str("id", false); err != nil {
		return err
	}
	cred := &credential{Extra: map[string]any{}}
	if err := readCredentialFields(o, cred); err != nil {
		return err
	}
	if isEC2(cred.Type) && cred.ProjectID == "" {
		return api.BadRequest("Invalid input for field/attribute credential. 'project_id' is a required property for ec2 credentials.")
	}
	if err := s.authorizeFor(ctx, "identity:create_credential", credentialPolicyTarget(cred)); err != nil {
		return err
	}
	if err := s.createCredential(ctx, caller(ctx), cred); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"credential": credentialJSON(r, cred)})
	return nil
}

// showCredentialHTTP handles GET /v3/credentials/{credential_id}.
func (s *Service) showCredentialHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	cred, err := s.getCredential(ctx, s.db, r.PathValue("credential_id"))
	if err != nil {
		return err
	}
	if err := checkDelegatedProject(caller(ctx), cred); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"credential": credentialJSON(r, cred)})
	return nil
}

// updateCredentialHTTP handles PATCH /v3/credentials/{credential_id}. The policy is
// checked again against the updated credential, so that an owner cannot hand a
// credential to someone else.
func (s *Service) updateCredentialHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("credential_id")
	cur, err := s.getCredential(ctx, s.db, id)
	if err != nil {
		return err
	}
	if err := checkDelegatedProject(caller(ctx), cur); err != nil {
		return err
	}
	o, err := api.DecodeObject(r, "credential")
	if err != nil {
		return err
	}
	if len(o) == 0 {
		return api.BadRequest("Invalid input for field/attribute credential. {} does not have enough properties.")
	}
	if newID, ok, err := o.Str("id", true); err != nil {
		return err
	} else if ok && newID != "" && newID != id {
		return api.BadRequest("Cannot change ID")
	}
	next := *cur
	next.Extra = map[string]any{}
	for k, v := range cur.Extra {
		next.Extra[k] = v
	}
	if err := readCredentialFields(o, &next); err != nil {
		return err
	}
	if err := checkCredentialUpdate(cur, &next, o.Has("blob")); err != nil {
		return err
	}
	if err := s.authorizeFor(ctx, "identity:update_credential", credentialPolicyTarget(&next)); err != nil {
		return err
	}
	if err := s.updateCredential(ctx, &next); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"credential": credentialJSON(r, &next)})
	return nil
}

// deleteCredentialHTTP handles DELETE /v3/credentials/{credential_id}.
func (s *Service) deleteCredentialHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("credential_id")
	cred, err := s.getCredential(ctx, s.db, id)
	if err != nil {
		return err
	}
	if err := checkDelegatedProject(caller(ctx), cred); err != nil {
		return err
	}
	if err := s.deleteCredential(ctx, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
