package identity

import (
	"net/http"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
)

// ec2CredentialPolicies are Keystone's current defaults for the OS-EC2 API
// (keystone/common/policies/ec2_credential.py).
func ec2CredentialPolicies() map[string]string {
	const (
		systemReader = "role:reader and system_scope:all"
		credOwner    = "user_id:%(target.credential.user_id)s"
	)
	return map[string]string{
		"identity:ec2_get_credential":    "(rule:admin_required) or (" + systemReader + ") or " + credOwner,
		"identity:ec2_list_credentials":  "(rule:admin_required) or (" + systemReader + ") or rule:owner",
		"identity:ec2_create_credential": "(rule:admin_required) or (role:member and " + credOwner + ")",
		"identity:ec2_delete_credential": "(rule:admin_required) or (role:member and " + credOwner + ")",
	}
}

// ec2CredentialRoutes is the route table of /v3/users/{user_id}/credentials/OS-EC2.
func (s *Service) ec2CredentialRoutes() []api.Route {
	const (
		creds = "/v3/users/{user_id}/credentials/OS-EC2"
		one   = creds + "/{credential_id}"
	)
	return []api.Route{
		{Method: "GET", Path: creds, Policy: "identity:ec2_list_credentials", Target: pathUserTarget, Handler: s.listEC2CredentialsHTTP},
		{Method: "POST", Path: creds, Policy: "identity:ec2_create_credential", Target: ec2CreateTarget, Handler: s.createEC2CredentialHTTP},
		{Method: "GET", Path: one, Policy: "identity:ec2_get_credential", Target: s.ec2CredentialTarget, Handler: s.showEC2CredentialHTTP},
		{Method: "DELETE", Path: one, Policy: "identity:ec2_delete_credential", Target: s.ec2CredentialTarget, Handler: s.deleteEC2CredentialHTTP},
	}
}

// ec2CreateTarget is Keystone's create target: a credential owned by the path's user.
func ec2CreateTarget(r *http.Request) (policy.Target, error) {
	return policy.Target{"target.credential.user_id": r.PathValue("user_id")}, nil
}

// ec2CredentialTarget loads the credential of the access key in the path (404 when
// there is none), whose owner the rules test.
func (s *Service) ec2CredentialTarget(r *http.Request) (policy.Target, error) {
	c, err := s.getCredential(r.Context(), s.db, ec2CredentialID(r.PathValue("credential_id")))
	if err != nil {
		return nil, err
	}
	return credentialPolicyTarget(c), nil
}

// listEC2CredentialsHTTP handles GET /v3/users/{user_id}/credentials/OS-EC2.
func (s *Service) listEC2CredentialsHTTP(w http.ResponseWriter, r *http.Request) error {
	creds, err := s.listEC2Credentials(r.Context(), r.PathValue("user_id"))
	if err != nil {
		return err
	}
	out := make([]any, 0, len(creds))
	for _, c := range creds {
		out = append(out, ec2CredentialJSON(r, ec2View(c)))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"credentials": out, "links": api.KeystoneLinks(r)})
	return nil
}

// createEC2CredentialHTTP handles POST /v3/users/{user_id}/credentials/OS-EC2, whose
// body is {"tenant_id": ...} without a wrapper.
func (s *Service) createEC2CredentialHTTP(w http.ResponseWriter, r *http.Request) error {
	o, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	tenant, _, err := o.Str("tenant_id", true)
	if err != nil {
		return err
	}
	if tenant == "" {
		return api.NotFound("Could not find project: None.")
	}
	cred, err := s.createEC2Credential(r.Context(), r.PathValue("user_id"), tenant)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"credential": ec2CredentialJSON(r, ec2View(cred))})
	return nil
}

// showEC2CredentialHTTP handles GET /v3/users/{user_id}/credentials/OS-EC2/{credential_id}.
func (s *Service) showEC2CredentialHTTP(w http.ResponseWriter, r *http.Request) error {
	cred, err := s.getEC2Credential(r.Context(), r.PathValue("user_id"), r.PathValue("credential_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"credential": ec2CredentialJSON(r, ec2View(cred))})
	return nil
}

// deleteEC2CredentialHTTP handles DELETE /v3/users/{user_id}/credentials/OS-EC2/{credential_id}.
func (s *Service) deleteEC2CredentialHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	cred, err := s.getEC2Credential(ctx, r.PathValue("user_id"), r.PathValue("credential_id"))
	if err != nil {
		return err
	}
	if err := s.deleteCredential(ctx, cred.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
