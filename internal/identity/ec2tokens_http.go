package identity

import (
	"net/http"

	"github.com/gostack/gostack/internal/api"
)

// ec2TokenPolicies are Keystone's current defaults for EC2 and S3 token authentication
// (keystone/common/policies/ec2tokens.py and s3tokens.py). Since the fix for Launchpad
// bug 2119646 the caller must be a service user or an admin, so that a presigned URL's
// signature cannot be turned into a token by whoever holds the URL.
func ec2TokenPolicies() map[string]string {
	return map[string]string{
		"identity:ec2tokens_validate": "rule:service_or_admin",
		"identity:s3tokens_validate":  "rule:service_or_admin",
	}
}

// ec2TokenRoutes are POST /v3/ec2tokens and POST /v3/s3tokens.
func (s *Service) ec2TokenRoutes() []api.Route {
	return []api.Route{
		{Method: "POST", Path: "/v3/ec2tokens", Policy: "identity:ec2tokens_validate", Handler: s.handleEC2Tokens},
		{Method: "POST", Path: "/v3/s3tokens", Policy: "identity:s3tokens_validate", Handler: s.handleS3Tokens},
	}
}

// handleEC2Tokens serves POST /v3/ec2tokens: a token for the EC2 credential whose
// signature the body carries, with its id in X-Subject-Token.
func (s *Service) handleEC2Tokens(w http.ResponseWriter, r *http.Request) error {
	return s.serveEC2Token(w, r, false)
}

// handleS3Tokens serves POST /v3/s3tokens: like ec2tokens, but the body carries an S3
// string to sign, and the response has no X-Subject-Token.
func (s *Service) handleS3Tokens(w http.ResponseWriter, r *http.Request) error {
	return s.serveEC2Token(w, r, true)
}

// serveEC2Token authenticates the body and writes the token body with its catalog.
func (s *Service) serveEC2Token(w http.ResponseWriter, r *http.Request, s3 bool) error {
	body, err := api.ReadBody(r, 0)
	if err != nil {
		return err
	}
	t, err := s.ec2Authenticate(r.Context(), body, s3)
	if err != nil {
		return err
	}
	out, err := s.tokenJSON(r.Context(), r, t, true)
	if err != nil {
		return err
	}
	if !s3 {
		w.Header().Set("X-Subject-Token", t.Token)
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}
