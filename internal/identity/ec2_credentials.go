package identity

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/gostack/gostack/internal/api"
)

// EC2 credentials (OS-EC2) are credentials of type "ec2" seen through Keystone's older
// per-user API: the blob holds the access key, the secret and, when the credential was
// made with a delegated token, the trust or application credential it came from. The id
// is the SHA-256 of the access key, so the access key in the path finds the row.

// ec2CredentialType is the credential type the OS-EC2 API lists and creates.
const ec2CredentialType = "ec2"

// ec2CredentialView is the OS-EC2 form of a credential (Keystone's
// _convert_v3_to_ec2_credential).
type ec2CredentialView struct {
	UserID, ProjectID, Access, Secret, TrustID string
}

// ec2View decodes an EC2 credential's blob.
func ec2View(c *credential) ec2CredentialView {
	var blob map[string]any
	_ = json.Unmarshal([]byte(c.Blob), &blob)
	str := func(k string) string { v, _ := blob[k].(string); return v }
	return ec2CredentialView{UserID: c.UserID, ProjectID: c.ProjectID, Access: str("access"), Secret: str("secret"), TrustID: str("trust_id")}
}

// ec2CredentialJSON renders an EC2 credential as Keystone's OS-EC2 API does.
func ec2CredentialJSON(r *http.Request, v ec2CredentialView) map[string]any {
	return map[string]any{
		"user_id": v.UserID, "tenant_id": nullable(v.ProjectID), "access": v.Access,
		"secret": v.Secret, "trust_id": nullable(v.TrustID),
		"links": map[string]any{"self": api.BaseURL(r) + "/v3/users/" + v.UserID + "/credentials/OS-EC2/" + v.Access},
	}
}

// checkEC2Delegation is Keystone's _check_delegation_for_ec2: a token from a trust or an
// application credential reaches only EC2 credentials of its own project.
func (s *Service) checkEC2Delegation(ctx context.Context, projectID string) error {
	c := caller(ctx)
	delegated := c.AppCredID != ""
	if !delegated {
		trustID, err := s.callerTrustID(ctx)
		if err != nil {
			return err
		}
		delegated = trustID != ""
	}
	if delegated && projectID != c.ProjectID {
		return api.Forbidden("You are not authorized to perform the requested action: EC2 credential project does not match the project scope of the delegated token.")
	}
	return nil
}

// createEC2Credential makes a new EC2 key pair for userID on projectID. A trust-scoped
// caller records its trust in the blob, an application credential caller its
// application credential, so that EC2 authentication later yields a token limited the
// same way.
func (s *Service) createEC2Credential(ctx context.Context, userID, projectID string) (*credential, error) {
	c := caller(ctx)
	if err := s.requireUnrestricted(ctx, c, "application credentials"); err != nil {
		return nil, err
	}
	if _, err := s.getUser(ctx, s.db, userID); err != nil {
		return nil, err
	}
	if _, err := s.getProject(ctx, s.db, projectID); err != nil {
		return nil, err
	}
	if err := s.checkEC2Delegation(ctx, projectID); err != nil {
		return nil, err
	}
	trustID, err := s.callerTrustID(ctx)
	if err != nil {
		return nil, err
	}
	blob := map[string]any{"access": api.NewID(), "secret": api.NewID(), "trust_id": nullable(trustID)}
	b, err := json.Marshal(blob)
	if err != nil {
		return nil, err
	}
	cred := &credential{UserID: userID, ProjectID: projectID, Type: ec2CredentialType, Blob: string(b), Extra: map[string]any{}}
	if err := s.createCredential(ctx, c, cred); err != nil {
		return nil, err
	}
	return cred, nil
}

// listEC2Credentials returns a user's EC2 credentials that the caller's token may
// reach (Keystone skips, rather than refuses, those of other projects).
func (s *Service) listEC2Credentials(ctx context.Context, userID string) ([]*credential, error) {
	if _, err := s.getUser(ctx, s.db, userID); err != nil {
		return nil, err
	}
	creds, err := s.listCredentials(ctx, s.db, userID, ec2CredentialType)
	if err != nil {
		return nil, err
	}
	out := creds[:0]
	for _, cred := range creds {
		if err := s.checkEC2Delegation(ctx, cred.ProjectID); err != nil {
			if api.AsError(err).Status >= http.StatusInternalServerError {
				return nil, err
			}
			continue
		}
		out = append(out, cred)
	}
	return out, nil
}

// getEC2Credential loads the EC2 credential of an access key for userID, as Keystone's
// UserOSEC2CredentialsResourceGetDelete does: the user must exist, a credential of
// another type is a 401, and delegated tokens reach only their project's credentials.
func (s *Service) getEC2Credential(ctx context.Context, userID, access string) (*credential, error) {
	if _, err := s.getUser(ctx, s.db, userID); err != nil {
		return nil, err
	}
	cred, err := s.getCredential(ctx, s.db, ec2CredentialID(access))
	if err != nil {
		return nil, err
	}
	if cred.Type != ec2CredentialType {
		return nil, api.Unauthorized(api.ErrAuthRequired)
	}
	if err := s.checkEC2Delegation(ctx, cred.ProjectID); err != nil {
		return nil, err
	}
	return cred, nil
}
