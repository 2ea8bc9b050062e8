package identity

// scope is what a token is scoped to: one project, one domain, the system, or nothing.
// A trust scope is the trust's project with TrustID set.
type scope struct {
	ProjectID string
	DomainID  string
	System    bool
	TrustID   string
}

// unscoped reports whether the scope names nothing.
func (sc scope) unscoped() bool { return sc.ProjectID == "" && sc.DomainID == "" && !sc.System }

// catalogEntry describes one service and its endpoints for bootstrap: the service is
// created if no service of that type and name exists, and each interface's endpoint is
// created or its URL updated.
type catalogEntry struct {
	Type, Name, Description string
	Region                  string
	// URLs maps interface (public, internal, admin) to URL.
	URLs map[string]string
}
