package api

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/gostack/gostack/internal/policy"
)

// Caller is the authenticated identity behind a request, as established from its token.
type Caller struct {
	// Token is the raw token; it is never logged.
	Token string
	// UserID, UserName and UserDomainID identify the user.
	UserID, UserName, UserDomainID, UserDomainName string
	// ProjectID, ProjectName and ProjectDomainID are set for project-scoped tokens.
	ProjectID, ProjectName, ProjectDomainID, ProjectDomainName string
	// DomainID and DomainName are set for domain-scoped tokens.
	DomainID, DomainName string
	// System is "all" for system-scoped tokens.
	System string
	// Roles are the effective role names (implied roles expanded); RoleIDs match them.
	Roles, RoleIDs []string
	// Methods are the authentication methods the token was issued for.
	Methods []string
	// AuditIDs are the token's audit id and, for rescoped tokens, its chain id.
	AuditIDs []string
	// AppCredID is set when the token came from an application credential.
	AppCredID string
	// IssuedAt and ExpiresAt bound the token's life.
	IssuedAt, ExpiresAt time.Time
}

// HasRole reports whether the caller holds the named role (case-insensitively).
func (c *Caller) HasRole(name string) bool {
	return slices.ContainsFunc(c.Roles, func(r string) bool { return strings.EqualFold(r, name) })
}

// IsAdmin reports whether the caller holds the admin role in any scope, which is what
// OpenStack's default `admin_required` rule checks.
func (c *Caller) IsAdmin() bool { return c.HasRole("admin") }

// PolicyCredentials converts the caller into the credentials the policy engine evaluates.
func (c *Caller) PolicyCredentials() policy.Credentials {
	return policy.Credentials{
		UserID:          c.UserID,
		UserDomainID:    c.UserDomainID,
		ProjectID:       c.ProjectID,
		ProjectDomainID: c.ProjectDomainID,
		DomainID:        c.DomainID,
		System:          c.System,
		Roles:           c.Roles,
		IsAdmin:         c.IsAdmin(),
	}
}

// callerKey is the context key for the Caller.
type callerKey struct{}

// WithCaller returns a context carrying c.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the request's Caller, or nil for unauthenticated requests.
func CallerFrom(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}
