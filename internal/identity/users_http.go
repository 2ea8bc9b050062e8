package identity

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// userPolicies are Keystone's current defaults for users (keystone/common/policies/user.py)
// and groups (group.py). Changing one's own password is not a policy-checked call.
func userPolicies() map[string]string {
	const (
		systemReaderOrDomainReaderOrUser = "(role:reader and system_scope:all) or " +
			"(role:reader and token.domain.id:%(target.user.domain_id)s) or user_id:%(target.user.id)s"
		systemReaderOrDomainReader = "(role:reader and system_scope:all) or (role:reader and domain_id:%(target.domain_id)s)"
		adminOrDomainManager       = "(rule:admin_required) or (role:manager and token.domain.id:%(target.user.domain_id)s)"
	)
	m := map[string]string{
		"identity:get_user":               "(rule:admin_required) or " + systemReaderOrDomainReaderOrUser,
		"identity:list_users":             "(rule:admin_required) or " + systemReaderOrDomainReader,
		"identity:list_projects_for_user": "",
		"identity:list_domains_for_user":  "",
		"identity:create_user":            adminOrDomainManager,
		"identity:update_user":            adminOrDomainManager,
		"identity:delete_user":            adminOrDomainManager,
	}
	for k, v := range groupPolicies() {
		m[k] = v
	}
	return m
}

// userRoutes is the route table for users, their password and their groups. The user's
// projects (/v3/users/{user_id}/projects) are served with role assignments.
func (s *Service) userRoutes() []api.Route {
	ut := s.userTarget
	return []api.Route{
		{Method: "GET", Path: "/v3/users", Policy: "identity:list_users", Target: s.listUsersTarget, Handler: s.listUsers},
		{Method: "POST", Path: "/v3/users", Handler: s.createUser},
		{Method: "GET", Path: "/v3/users/{user_id}", Policy: "identity:get_user", Target: ut, Handler: s.showUser},
		{Method: "PATCH", Path: "/v3/users/{user_id}", Policy: "identity:update_user", Target: ut, Handler: s.updateUser},
		{Method: "DELETE", Path: "/v3/users/{user_id}", Policy: "identity:delete_user", Target: ut, Handler: s.deleteUser},
		// Keystone lets users change their password without a token, since a user whose
		// password has expired cannot get one; the original password is the credential.
		{Method: "POST", Path: "/v3/users/{user_id}/password", Public: true, Handler: s.changePassword},
		{Method: "GET", Path: "/v3/users/{user_id}/groups", Policy: "identity:list_groups_for_user", Target: ut, Handler: s.listGroupsForUser},
	}
}

// userTargetFields adds a user's attributes to a policy target under target.user.
func userTargetFields(t policy.Target, u *user) {
	t["target.user.id"], t["target.user.domain_id"], t["target.user.name"] = u.ID, u.DomainID, u.Name
	t["target.user.enabled"] = u.Enabled
	if u.DefaultProjectID != "" {
		t["target.user.default_project_id"] = u.DefaultProjectID
	}
}

// userTarget is the policy target of calls on /v3/users/{user_id}. As in Keystone, a user
// that does not exist leaves the target empty: the rules then deny everyone but admins,
// who get the handler's 404.
func (s *Service) userTarget(r *http.Request) (policy.Target, error) {
	id := r.PathValue("user_id")
	t := policy.Target{"user_id": id}
	u, err := s.getUser(r.Context(), s.db, id)
	if err == nil {
		userTargetFields(t, u)
	} else if api.AsError(err).Status != http.StatusNotFound {
		return nil, err
	}
	return t, nil
}

// listUsersTarget gives domain-scoped callers their domain as target.domain_id, which is
// what lets domain readers list users.
func (s *Service) listUsersTarget(r *http.Request) (policy.Target, error) {
	t := policy.Target{}
	if d := caller(r.Context()).DomainID; d != "" {
		t["target.domain_id"] = d
	}
	return t, nil
}

// userJSON renders a user as Keystone does: extra attributes at the top level, no
// password, default_project_id only when set, password_expires_at always.
func userJSON(r *http.Request, u *user) map[string]any {
	m := map[string]any{}
	for k, v := range u.Extra {
		switch k {
		case "password", "tenants", "groups", "domains":
		default:
			m[k] = v
		}
	}
	opts := u.Options
	if opts == nil {
		opts = map[string]any{}
	}
	m["id"], m["name"], m["domain_id"], m["enabled"], m["options"] = u.ID, u.Name, u.DomainID, u.Enabled, opts
	if u.DefaultProjectID != "" {
		m["default_project_id"] = u.DefaultProjectID
	}
	m["password_expires_at"] = keystoneTime(u.PasswordExpiresAt)
	m["links"] = map[string]any{"self": api.BaseURL(r) + "/v3/users/" + u.ID}
	return m
}

// keystoneTime renders a timestamp the way Keystone's JSON encoder does
// ("2016-11-06T15:32:17.000000", UTC, no zone); the zero time is null.
func keystoneTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000")
}

// userAttributes are the user fields that are not free-form extras.
var userAttributes = []string{"id", "name", "domain_id", "enabled", "default_project_id", "password",
	"options", "federated", "password_expires_at", "links"}

// keystoneIDPattern is the pattern of Keystone's domain_id and project_id parameters.
var keystoneIDPattern = regexp.MustCompile(`^[a-zA-Z0-9-]+$`)

// readDomainIDField validates a body's domain_id: a string of 1 to 64 letters, digits and
// dashes.
func readDomainIDField(o api.Object) (string, bool, error) {
	d, present, err := o.Str("domain_id", false)
	if err != nil || !present {
		return "", present, err
	}
	if d == "" || len(d) > 64 || !keystoneIDPattern.MatchString(d) {
		return "", true, api.BadRequest("Invalid input for field 'domain_id': %s does not match '^[a-zA-Z0-9-]+$'.", describeJSON(d))
	}
	return d, true, nil
}

// keystoneBoolStrings are the strings Keystone's boolean parameter type accepts besides
// true and false, mapped to their value (oslo's bool_from_string: only the false strings
// are false).
var keystoneBoolStrings = map[string]bool{
	"True": true, "TRUE": true, "true": true, "False": false, "FALSE": false, "false": false,
	"": true, "1": true, "0": false, "y": true, "Y": true, "n": false, "N": false,
	"on": true, "ON": true, "off": false, "OFF": false, "yes": true, "no": false,
}

// readKeystoneBool reads a field of Keystone's boolean parameter type: a JSON boolean or
// one of a few spellings of one.
func readKeystoneBool(o api.Object, k string) (bool, bool, error) {
	v, present := o[k]
	if !present {
		return false, false, nil
	}
	switch x := v.(type) {
	case bool:
		return x, true, nil
	case string:
		if b, ok := keystoneBoolStrings[x]; ok {
			return b, true, nil
		}
	}
	return false, true, api.BadRequest("Invalid input for field '%s': %s is not one of the allowed boolean values.", k, describeJSON(v))
}

// userInput is a validated user create or update body.
type userInput struct {
	name, domainID, defaultProjectID, password, id *string
	enabled                                        *bool
	hasDefaultProject, hasPassword, hasID          bool
	options                                        api.Object
	extra                                          map[string]any
}

// readUserInput validates a user body against Keystone's user schema.
func readUserInput(o api.Object, create bool) (*userInput, error) {
	in := &userInput{}
	if name, ok, err := o.Name("name", create, 255); err != nil {
		return nil, err
	} else if ok {
		in.name = &name
	}
	if d, ok, err := readDomainIDField(o); err != nil {
		return nil, err
	} else if ok {
		in.domainID = &d
	}
	if e, ok, err := readKeystoneBool(o, "enabled"); err != nil {
		return nil, err
	} else if ok {
		in.enabled = &e
	}
	if dp, ok, err := o.Str("default_project_id", true); err != nil {
		return nil, err
	} else if ok {
		in.hasDefaultProject = true
		if !o.IsNull("default_project_id") {
			in.defaultProjectID = &dp
		}
	}
	if pw, ok, err := o.Str("password", true); err != nil {
		return nil, err
	} else if ok {
		in.hasPassword = true
		if !o.IsNull("password") {
			in.password = &pw
		}
	}
	if _, _, err := o.Str("description", true); err != nil {
		return nil, err
	}
	if v, ok := o["id"]; ok && v != nil {
		id, isStr := v.(string)
		if !isStr {
			return nil, api.BadRequest("Invalid input for field 'id': %s is not of type 'string'.", describeJSON(v))
		}
		in.hasID, in.id = true, &id
	}
	opts, ok, err := o.Obj("options")
	if err != nil {
		return nil, err
	}
	if ok {
		if opts == nil {
			return nil, api.BadRequest("Invalid input for field 'options': None is not of type 'object'.")
		}
		if err := validateUserOptions(opts); err != nil {
			return nil, err
		}
		in.options = opts
	}
	if err := checkFederated(o); err != nil {
		return nil, err
	}
	in.extra = o.Extra(userAttributes...)
	return in, nil
}

// checkFederated validates the federated attribute. gostack has no identity providers, so
// naming one is the 400 Keystone gives for an unknown provider.
func checkFederated(o api.Object) error {
	list, ok, err := o.List("federated")
	if err != nil || !ok {
		return err
	}
	if len(list) == 0 {
		return nil
	}
	// The first entry decides: either it is malformed or its provider is unknown.
	f := list[0]
	idp, _, err := f.Str("idp_id", false)
	if err != nil {
		return err
	}
	protocols, _, err := f.List("protocols")
	if err != nil {
		return err
	}
	if idp == "" || len(protocols) == 0 {
		return api.BadRequest("Invalid input for field 'federated': each item needs an idp_id and at least one protocol.")
	}
	return api.BadRequest("Could not find Identity Provider: %s", idp)
}

// normalizeKeys replaces ':' and '-' in top-level attribute names with '_', as Keystone
// does to create bodies.
func normalizeKeys(o api.Object) api.Object {
	out := make(api.Object, len(o))
	for k, v := range o {
		out[strings.NewReplacer(":", "_", "-", "_").Replace(k)] = v
	}
	return out
}

// applyUserOptions merges validated options into current ones; null removes an option.
func applyUserOptions(current map[string]any, opts api.Object) map[string]any {
	out := map[string]any{}
	for k, v := range current {
		out[k] = v
	}
	for k, v := range opts {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// checkDefaultProject refuses a domain as a user's default project; an unknown project is
// accepted, as in Keystone.
func (s *Service) checkDefaultProject(r *http.Request, id string) error {
	if id == "" {
		return nil
	}
	p, err := s.getProject(r.Context(), s.db, id)
	if err != nil {
		if api.AsError(err).Status == http.StatusNotFound {
			return nil
		}
		return err
	}
	if p.IsDomain {
		return api.BadRequest("User's default project ID cannot be a domain ID: %s", id)
	}
	return nil
}

// defaultDomainFor is the domain of an entity created without one: the token's domain for
// domain-scoped tokens, else the Default domain.
func defaultDomainFor(r *http.Request) string {
	if d := caller(r.Context()).DomainID; d != "" {
		return d
	}
	return DefaultDomainID
}

// createUser handles POST /v3/users.
func (s *Service) createUser(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	raw, err := api.DecodeObject(r, "user")
	if err != nil {
		return err
	}
	// Validate before the policy check, as Keystone's schema runs first.
	if _, err := readUserInput(raw, true); err != nil {
		return err
	}
	target := policy.Target{}
	for k, v := range raw {
		if _, isObj := v.(map[string]any); !isObj && k != "password" {
			target["target.user."+k] = v
		}
	}
	if err := s.authorizeFor(ctx, "identity:create_user", target); err != nil {
		return err
	}
	in, err := readUserInput(normalizeKeys(raw), true)
	if err != nil {
		return err
	}
	if in.hasPassword {
		if err := s.validatePasswordRules(in.password); err != nil {
			return err
		}
	}
	u := &user{Name: strings.TrimSpace(*in.name), Enabled: true, Extra: in.extra, Options: map[string]any{}}
	if in.domainID != nil {
		u.DomainID = *in.domainID
	} else {
		u.DomainID = defaultDomainFor(r)
	}
	if in.enabled != nil {
		u.Enabled = *in.enabled
	}
	if in.defaultProjectID != nil {
		u.DefaultProjectID = *in.defaultProjectID
	}
	if in.options != nil {
		u.Options = applyUserOptions(nil, in.options)
	}
	if _, err := s.getDomain(ctx, s.db, u.DomainID); err != nil {
		return err
	}
	if err := s.checkDefaultProject(r, u.DefaultProjectID); err != nil {
		return err
	}
	var pc passwordColumns
	if in.password != nil {
		hash, err := s.hashPassword(*in.password)
		if err != nil {
			return err
		}
		pc = s.newPasswordColumns(hash, u.Options, false, now())
	}
	if err := s.write(ctx, func(tx *store.Tx) error { return s.insertUserTx(ctx, tx, u, pc) }); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"user": userJSON(r, u)})
	return nil
}

// showUser handles GET /v3/users/{user_id}.
func (s *Service) showUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.getUser(r.Context(), s.db, r.PathValue("user_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"user": userJSON(r, u)})
	return nil
}

// updateUser handles PATCH /v3/users/{user_id}. Disabling a user or resetting its password
// revokes its tokens.
func (s *Service) updateUser(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("user_id")
	raw, err := api.DecodeObject(r, "user")
	if err != nil {
		return err
	}
	if len(raw) == 0 {
		return api.BadRequest("Invalid input for field 'user': {} does not have enough properties.")
	}
	in, err := readUserInput(raw, false)
	if err != nil {
		return err
	}
	u, err := s.getUser(ctx, s.db, id)
	if err != nil {
		return err
	}
	if in.id != nil && *in.id != id {
		return api.BadRequest("Cannot change ID")
	}
	if in.domainID != nil && *in.domainID != u.DomainID {
		return api.BadRequest("Cannot change Domain ID")
	}
	if in.hasPassword {
		if err := s.validatePasswordRules(in.password); err != nil {
			return err
		}
	}
	if in.name != nil {
		u.Name = strings.TrimSpace(*in.name)
	}
	wasEnabled := u.Enabled
	if in.enabled != nil {
		u.Enabled = *in.enabled
	}
	if in.hasDefaultProject {
		u.DefaultProjectID = ""
		if in.defaultProjectID != nil {
			u.DefaultProjectID = *in.defaultProjectID
			if err := s.checkDefaultProject(r, u.DefaultProjectID); err != nil {
				return err
			}
		}
	}
	for k, v := range in.extra {
		u.Extra[k] = v
	}
	if in.options != nil {
		u.Options = applyUserOptions(u.Options, in.options)
	}
	var pc passwordColumns
	if in.hasPassword {
		if in.password != nil {
			hash, err := s.hashPassword(*in.password)
			if err != nil {
				return err
			}
			pc = s.newPasswordColumns(hash, u.Options, false, now())
		} else {
			pc = passwordColumns{CreatedAt: now()}
		}
		u.PasswordExpiresAt = pc.Expires
	}
	revoke := (wasEnabled && !u.Enabled) || in.password != nil
	err = s.write(ctx, func(tx *store.Tx) error {
		if in.hasPassword {
			st, err := loadUserAuthState(ctx, tx, id)
			if store.IsNoRows(err) {
				return api.NotFound("Could not find user: %s.", id)
			}
			if err != nil {
				return err
			}
			if err := s.replacePasswordTx(ctx, tx, id, st.PasswordHash, st.PasswordCreatedAt, pc); err != nil {
				return err
			}
			u.selfService = false
		}
		if err := updateUserTx(ctx, tx, u); err != nil {
			if store.IsUniqueViolation(err) {
				domainID := ""
				if in.domainID != nil {
					domainID = *in.domainID
				}
				return userConflict(u.Name, domainID)
			}
			return err
		}
		if revoke {
			return s.revoke(ctx, tx, revocationEvent{UserID: id})
		}
		return nil
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"user": userJSON(r, u)})
	return nil
}

// deleteUser handles DELETE /v3/users/{user_id}.
func (s *Service) deleteUser(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("user_id")
	if _, err := s.getUser(ctx, s.db, id); err != nil {
		return err
	}
	if err := s.write(ctx, func(tx *store.Tx) error { return s.deleteUserTx(ctx, tx, id) }); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// changePassword handles POST /v3/users/{user_id}/password: body
// {"user": {"original_password": ..., "password": ...}}, 204 on success.
func (s *Service) changePassword(w http.ResponseWriter, r *http.Request) error {
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	o := api.Object{}
	if _, present := body["user"]; present {
		if o, _, err = body.Obj("user"); err != nil {
			return err
		}
		if o == nil {
			return api.BadRequest("Invalid input for field 'user': None is not of type 'object'.")
		}
	}
	for k := range o {
		if k != "original_password" && k != "password" {
			return api.BadRequest("Invalid input for field 'user': Additional properties are not allowed ('%s' was unexpected).", truncateForMessage(k))
		}
	}
	original, ok, err := o.Str("original_password", false)
	if err != nil {
		return err
	}
	if !ok {
		return api.BadRequest("Invalid input for field 'user': 'original_password' is a required property.")
	}
	password, ok, err := o.Str("password", false)
	if err != nil {
		return err
	}
	if !ok {
		return api.BadRequest("Invalid input for field 'user': 'password' is a required property.")
	}
	if err := s.changeOwnPassword(r.Context(), r.PathValue("user_id"), original, password); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listUsers handles GET /v3/users with Keystone's filters: domain_id, name, enabled,
// password_expires_at (operator:timestamp), the inexact forms (name__icontains, ...), and
// the federated filters (idp_id, protocol_id, unique_id), which match nobody here.
// Domain-scoped callers only see their domain's users.
func (s *Service) listUsers(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	lq, err := parseUserListQuery(r.URL.Query(), []string{"domain_id", "enabled", "idp_id", "name", "protocol_id", "unique_id", "password_expires_at"})
	if err != nil {
		return err
	}
	page, err := parseKeystonePage(r)
	if err != nil {
		return err
	}
	var users []*user
	if !lq.federated {
		where, args := lq.sqlWhere("u.")
		if page.Marker != "" {
			if err := checkMarker(ctx, s.db, "users", page.Marker); err != nil {
				return err
			}
			where, args = append(where, "u.id > ?"), append(args, page.Marker)
		}
		if users, err = queryUsers(ctx, s.db, "", strings.Join(where, " AND "), args...); err != nil {
			return err
		}
	}
	domain := caller(ctx).DomainID
	out := []any{}
	for _, u := range users {
		if (domain == "" || u.DomainID == domain) && lq.matchUser(u) {
			out = append(out, userJSON(r, u))
		}
	}
	writeKeystoneList(w, r, "users", out, page)
	return nil
}

// userListQuery holds the filters of a Keystone user or group list.
type userListQuery struct {
	exact     map[string]string
	inexact   []inexactFilter
	enabled   *bool
	expires   []expiryFilter
	federated bool
}

// inexactFilter is one name__contains-style filter.
type inexactFilter struct {
	field, comparator, value string
	caseSensitive            bool
}

// expiryFilter is one password_expires_at filter.
type expiryFilter struct {
	op string
	at time.Time
}

// parseUserListQuery reads the filters Keystone supports on a list, validating them as
// its query schemas do.
func parseUserListQuery(q url.Values, supported []string) (*userListQuery, error) {
	lq := &userListQuery{exact: map[string]string{}}
	isSupported := map[string]bool{}
	for _, k := range supported {
		isSupported[k] = true
	}
	for key, vals := range q {
		if len(vals) == 0 {
			continue
		}
		v := vals[0]
		if isSupported[key] {
			switch key {
			case "domain_id":
				if v == "" || len(v) > 64 || !keystoneIDPattern.MatchString(v) {
					return nil, api.BadRequest("Invalid input for field 'domain_id': %s does not match '^[a-zA-Z0-9-]+$'.", describeJSON(v))
				}
				lq.exact[key] = v
			case "name":
				if strings.TrimSpace(v) == "" || utf8.RuneCountInString(v) > 255 {
					return nil, api.BadRequest("Invalid input for field 'name': %s is not a valid name.", describeJSON(v))
				}
				lq.exact[key] = v
			case "enabled":
				b, ok := keystoneBoolStrings[v]
				if !ok {
					return nil, api.BadRequest("Invalid input for field 'enabled': %s is not one of the allowed boolean values.", describeJSON(v))
				}
				lq.enabled = &b
			case "idp_id", "protocol_id", "unique_id":
				lq.federated = true
			case "password_expires_at":
				for _, one := range vals {
					f, err := parseExpiryFilter(one)
					if err != nil {
						return nil, err
					}
					lq.expires = append(lq.expires, f)
				}
			}
			continue
		}
		base, comparator, ok := strings.Cut(key, "__")
		if !ok || !isSupported[base] {
			continue
		}
		switch base {
		case "idp_id", "protocol_id", "unique_id":
			lq.federated = true
			continue
		case "name", "domain_id":
		default:
			// Keystone's inexact filters only make sense on strings.
			continue
		}
		f := inexactFilter{field: base, value: v, caseSensitive: true}
		if strings.HasPrefix(comparator, "i") {
			f.caseSensitive, comparator = false, comparator[1:]
		}
		f.comparator = comparator
		lq.inexact = append(lq.inexact, f)
	}
	return lq, nil
}

// expiryOperators are the password_expires_at operators.
var expiryOperators = map[string]bool{"lt": true, "lte": true, "gt": true, "gte": true, "eq": true, "neq": true}

// parseExpiryFilter reads "op:timestamp" (or a bare timestamp, meaning eq) as Keystone's
// _translate_expired_password_hints does.
func parseExpiryFilter(v string) (expiryFilter, error) {
	op, ts := "eq", v
	if len(v) >= 3 && strings.Contains(v[2:min(4, len(v))], ":") {
		op, ts, _ = strings.Cut(v, ":")
	}
	at, ok := parseISOTime(ts)
	if !ok {
		return expiryFilter{}, api.BadRequest("Timestamp not in expected format. The server could not comply with the request " +
			"since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
	}
	if !expiryOperators[op] {
		return expiryFilter{}, api.BadRequest("The given operator %s is not valid. It must be one of the following: "+
			"'eq', 'neq', 'lt', 'lte', 'gt', or 'gte'.", truncateForMessage(op))
	}
	return expiryFilter{op: op, at: at}, nil
}

// parseISOTime parses the ISO 8601 forms oslo's parse_isotime accepts in practice; a time
// without a zone is UTC.
func parseISOTime(s string) (time.Time, bool) {
	for _, layout := range []string{
		time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02T15:04:05.999999999",
		"2006-01-02T15:04", "2006-01-02", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999",
	} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// sqlWhere returns the exact filters as SQL conditions on columns with the given prefix.
func (lq *userListQuery) sqlWhere(prefix string) ([]string, []any) {
	var where []string
	var args []any
	for _, k := range []string{"domain_id", "name"} {
		if v, ok := lq.exact[k]; ok {
			where, args = append(where, prefix+k+" = ?"), append(args, v)
		}
	}
	if lq.enabled != nil {
		where, args = append(where, prefix+"enabled = ?"), append(args, *lq.enabled)
	}
	return where, args
}

// matchStrings applies the inexact filters to an entity's name and domain_id.
func (lq *userListQuery) matchStrings(name, domainID string) bool {
	for _, f := range lq.inexact {
		target := name
		if f.field == "domain_id" {
			target = domainID
		}
		val := f.value
		if !f.caseSensitive {
			target, val = strings.ToLower(target), strings.ToLower(val)
		}
		var ok bool
		switch f.comparator {
		case "contains":
			ok = strings.Contains(target, val)
		case "startswith":
			ok = strings.HasPrefix(target, val)
		case "endswith":
			ok = strings.HasSuffix(target, val)
		case "equals":
			ok = target == val
		default:
			// Keystone silently ignores comparators it does not know.
			ok = true
		}
		if !ok {
			return false
		}
	}
	return true
}

// matchUser applies the filters SQL did not: inexact ones and password expiry. A user
// whose password never expires matches no expiry filter, as in SQL.
func (lq *userListQuery) matchUser(u *user) bool {
	if !lq.matchStrings(u.Name, u.DomainID) {
		return false
	}
	for _, f := range lq.expires {
		if u.PasswordExpiresAt.IsZero() {
			return false
		}
		c := u.PasswordExpiresAt.Compare(f.at)
		ok := map[string]bool{"lt": c < 0, "lte": c <= 0, "gt": c > 0, "gte": c >= 0, "eq": c == 0, "neq": c != 0}[f.op]
		if !ok {
			return false
		}
	}
	return true
}

// keystoneMaxDBLimit is Keystone's max_db_limit, the largest page it returns.
const keystoneMaxDBLimit = 1000

// parseKeystonePage reads limit and marker; limits above max_db_limit are lowered to it.
func parseKeystonePage(r *http.Request) (api.Page, error) {
	p, err := api.ParsePage(r)
	if err != nil {
		return p, err
	}
	p.Limit = min(p.Limit, keystoneMaxDBLimit)
	return p, nil
}

// checkMarker returns Keystone's 404 when a marker names no row of table.
func checkMarker(ctx context.Context, q store.Querier, table, marker string) error {
	var id string
	err := q.QueryRowContext(ctx, `SELECT id FROM `+table+` WHERE id = ?`, marker).Scan(&id)
	if store.IsNoRows(err) {
		return api.NotFound("Marker %s could not be found.", marker)
	}
	return err
}

// writeKeystoneList writes a Keystone collection: the items (cut to the page limit), the
// links object with a next link when the page is full, and truncated when it is.
func writeKeystoneList(w http.ResponseWriter, r *http.Request, key string, items []any, page api.Page) {
	links := api.KeystoneLinks(r)
	body := map[string]any{}
	if page.Limit > 0 && len(items) >= page.Limit {
		items = items[:page.Limit]
		if len(items) > 0 {
			last, _ := items[len(items)-1].(map[string]any)
			id, _ := last["id"].(string)
			q := r.URL.Query()
			q.Set("marker", id)
			q.Set("limit", strconv.Itoa(page.Limit))
			links["next"] = api.BaseURL(r) + r.URL.Path + "?" + q.Encode()
		}
		body["truncated"] = true
	}
	body[key], body["links"] = items, links
	api.WriteJSON(w, http.StatusOK, body)
}
