package policy

import "slices"

// Credentials describe the caller of an API request, as established from its token. An
// empty string means the attribute is absent (for instance ProjectID on a domain-scoped
// token); rules then see Python's None for it, so "domain_id:None" matches a caller
// without domain scope, as in Keystone.
type Credentials struct {
	// UserID and UserDomainID identify the user.
	UserID, UserDomainID string
	// ProjectID and ProjectDomainID are set for project-scoped tokens.
	ProjectID, ProjectDomainID string
	// DomainID is set for domain-scoped tokens.
	DomainID string
	// System is "all" for system-scoped tokens and empty otherwise.
	System string
	// Roles are the caller's effective role names, implied roles included.
	Roles []string
	// IsAdmin is the legacy is_admin flag some services' rules test with is_admin:True.
	IsAdmin bool
	// Extra holds further values for generic checks, such as "is_admin_project" or
	// "service_roles". Nested values should be map[string]any, []any or []string. Extra
	// cannot replace the values PolicyValues derives from the fields above.
	Extra map[string]any
}

// PolicyValues returns the credentials as the dictionary oslo.policy evaluates: the keys of
// oslo.context's to_policy_values (user_id, user_domain_id, project_id,
// project_domain_id, domain_id, system_scope, roles), is_admin, "system" when the token
// is system-scoped (oslo.policy adds it), and "token" holding the parts of Keystone's
// rendered token that rules test: token.user.id, token.user.domain.id, token.domain.id,
// token.project.id, token.project.domain.id, token.system.all and token.roles (each
// with only a "name"). Generic checks such as token.domain.id:%(target.domain.id)s look
// their left side up in this dictionary.
func (c Credentials) PolicyValues() map[string]any {
	m := make(map[string]any, len(c.Extra)+10)
	for k, v := range c.Extra {
		m[k] = v
	}
	m["user_id"] = orNone(c.UserID)
	m["user_domain_id"] = orNone(c.UserDomainID)
	m["project_id"] = orNone(c.ProjectID)
	m["project_domain_id"] = orNone(c.ProjectDomainID)
	m["domain_id"] = orNone(c.DomainID)
	m["system_scope"] = orNone(c.System)
	if c.System != "" {
		m["system"] = c.System
	}
	roles := slices.Clone(c.Roles)
	if roles == nil {
		roles = []string{}
	}
	m["roles"] = roles
	m["is_admin"] = c.IsAdmin

	token := map[string]any{
		"user": map[string]any{
			"id":     orNone(c.UserID),
			"domain": map[string]any{"id": orNone(c.UserDomainID)},
		},
	}
	if c.System != "" {
		token["system"] = map[string]any{c.System: true}
	}
	if c.DomainID != "" {
		token["domain"] = map[string]any{"id": c.DomainID}
	}
	if c.ProjectID != "" {
		token["project"] = map[string]any{
			"id":     c.ProjectID,
			"domain": map[string]any{"id": orNone(c.ProjectDomainID)},
		}
	}
	if c.System != "" || c.DomainID != "" || c.ProjectID != "" {
		tr := make([]any, len(c.Roles))
		for i, r := range c.Roles {
			tr[i] = map[string]any{"name": r}
		}
		token["roles"] = tr
	}
	m["token"] = token
	return m
}

// orNone returns nil (Python's None) for an empty string and s otherwise.
func orNone(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// strOrNone returns str() of orNone(s).
func strOrNone(s string) string {
	if s == "" {
		return "None"
	}
	return s
}

// credField names a credential value that generic checks can read straight from the
// Credentials fields, without building PolicyValues.
type credField uint8

const (
	fieldNone credField = iota
	fieldUserID
	fieldUserDomainID
	fieldProjectID
	fieldProjectDomainID
	fieldDomainID
	fieldSystemScope
	fieldIsAdmin
	fieldTokenUserID
	fieldTokenUserDomainID
	fieldTokenProjectID
	fieldTokenProjectDomainID
	fieldTokenDomainID
)

// credFieldFor returns the field a generic check's left side reads, or fieldNone when
// the general lookup in PolicyValues is needed.
func credFieldFor(path string) credField {
	switch path {
	case "user_id":
		return fieldUserID
	case "user_domain_id":
		return fieldUserDomainID
	case "project_id":
		return fieldProjectID
	case "project_domain_id":
		return fieldProjectDomainID
	case "domain_id":
		return fieldDomainID
	case "system_scope":
		return fieldSystemScope
	case "is_admin":
		return fieldIsAdmin
	case "token.user.id":
		return fieldTokenUserID
	case "token.user.domain.id":
		return fieldTokenUserDomainID
	case "token.project.id":
		return fieldTokenProjectID
	case "token.project.domain.id":
		return fieldTokenProjectDomainID
	case "token.domain.id":
		return fieldTokenDomainID
	}
	return fieldNone
}

// matchField reports whether the value PolicyValues holds for f renders as match. A
// value absent from PolicyValues (token.project when not project-scoped, for
// instance) matches nothing.
func (c *Credentials) matchField(f credField, match string) bool {
	switch f {
	case fieldUserID, fieldTokenUserID:
		return match == strOrNone(c.UserID)
	case fieldUserDomainID, fieldTokenUserDomainID:
		return match == strOrNone(c.UserDomainID)
	case fieldProjectID:
		return match == strOrNone(c.ProjectID)
	case fieldProjectDomainID:
		return match == strOrNone(c.ProjectDomainID)
	case fieldDomainID:
		return match == strOrNone(c.DomainID)
	case fieldSystemScope:
		return match == strOrNone(c.System)
	case fieldIsAdmin:
		if c.IsAdmin {
			return match == "True"
		}
		return match == "False"
	case fieldTokenProjectID:
		return c.ProjectID != "" && match == c.ProjectID
	case fieldTokenProjectDomainID:
		return c.ProjectID != "" && match == strOrNone(c.ProjectDomainID)
	case fieldTokenDomainID:
		return c.DomainID != "" && match == c.DomainID
	}
	return false
}

// findIn is oslo's GenericCheck._find_in_dict: it follows path through nested maps and
// reports whether the value at its end renders as match. A list met on the way is
// searched element by element, so a check matches when any element does.
func findIn(v any, path []string, match string) bool {
	if len(path) == 0 {
		return match == pyStr(v)
	}
	next, ok := index(v, path[0])
	if !ok {
		return false
	}
	rest := path[1:]
	switch l := next.(type) {
	case []any:
		for _, e := range l {
			if findIn(e, rest, match) {
				return true
			}
		}
		return false
	case []string:
		for _, e := range l {
			if findIn(e, rest, match) {
				return true
			}
		}
		return false
	case []map[string]any:
		for _, e := range l {
			if findIn(e, rest, match) {
				return true
			}
		}
		return false
	}
	return findIn(next, rest, match)
}

// index returns v[key] when v is a map holding key. Indexing anything else makes Python
// raise; the check is then false.
func index(v any, key string) (any, bool) {
	switch m := v.(type) {
	case map[string]any:
		x, ok := m[key]
		return x, ok
	case map[string]string:
		x, ok := m[key]
		return x, ok
	case Target:
		x, ok := m[key]
		return x, ok
	}
	return nil, false
}
