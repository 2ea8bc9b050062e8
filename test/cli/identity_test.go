package cli_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gostack/gostack/internal/testkit"
)

// TestCLIFilesWritten checks the files the first start writes: the openrc files (mode 0600,
// usable on their own) and every cloud of clouds.yaml.
func TestCLIFilesWritten(t *testing.T) {
	t.Parallel()
	c := start(t)

	for _, name := range []string{"admin-openrc", "demo-openrc", "alt_demo-openrc", "clouds.yaml"} {
		fi, err := os.Stat(filepath.Join(c.DataDir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if strings.HasSuffix(name, "openrc") && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, fi.Mode().Perm())
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v is readable by others; it holds a password", name, fi.Mode().Perm())
		}
	}

	t.Run("admin-openrc", func(t *testing.T) {
		vars, err := c.OpenRC("admin")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"OS_AUTH_URL":             c.AuthURL(),
			"OS_USERNAME":             "admin",
			"OS_PASSWORD":             c.AdminPassword,
			"OS_PROJECT_NAME":         "admin",
			"OS_IDENTITY_API_VERSION": "3",
			"OS_REGION_NAME":          "RegionOne",
			"OS_INTERFACE":            "public",
		}
		for k, v := range want {
			if got := vars[k]; got != v {
				t.Errorf("%s=%q, want %q", k, got, v)
			}
		}
		for _, k := range []string{"OS_USER_DOMAIN", "OS_PROJECT_DOMAIN"} {
			if vars[k+"_ID"] == "" && vars[k+"_NAME"] == "" {
				t.Errorf("neither %s_ID nor %s_NAME is set", k, k)
			}
		}
		var env []string
		for k, v := range vars {
			env = append(env, k+"="+v)
		}
		tok := issueToken(t, env)
		if tok.ProjectID == "" {
			t.Errorf("token from admin-openrc is not project-scoped: %+v", tok)
		}
	})

	for _, rc := range []struct{ file, user string }{{"demo", "demo"}, {"alt_demo", "alt_demo"}} {
		t.Run(rc.file+"-openrc", func(t *testing.T) {
			vars, err := c.OpenRC(rc.file)
			if err != nil {
				t.Fatal(err)
			}
			if vars["OS_USERNAME"] != rc.user || vars["OS_PROJECT_NAME"] != rc.user {
				t.Errorf("OS_USERNAME=%q OS_PROJECT_NAME=%q, want %q", vars["OS_USERNAME"], vars["OS_PROJECT_NAME"], rc.user)
			}
			var env []string
			for k, v := range vars {
				env = append(env, k+"="+v)
			}
			issueToken(t, env)
		})
	}

	for _, cloud := range []string{"gostack-admin", "gostack", "devstack-admin", "devstack", "devstack-alt"} {
		t.Run("clouds.yaml/"+cloud, func(t *testing.T) {
			issueToken(t, c.Env(cloud))
		})
	}
}

// TestCLIIdentityWalkthrough is the identity walkthrough of the admin guide, step by step,
// each step checking what the CLI prints.
func TestCLIIdentityWalkthrough(t *testing.T) {
	t.Parallel()
	c := start(t)
	const admin = "gostack-admin"

	var adminTok token
	t.Run("token issue", func(t *testing.T) {
		adminTok = issueToken(t, c.Env(admin))
		if adminTok.ProjectID == "" {
			t.Errorf("admin token is not project-scoped: %+v", adminTok)
		}
		p := osJSON[row](t, c, admin, "project", "show", "admin")
		if str(p, "id") != adminTok.ProjectID {
			t.Errorf("token project_id %q, want the admin project %q", adminTok.ProjectID, str(p, "id"))
		}
		u := osJSON[row](t, c, admin, "user", "show", "admin")
		if str(u, "id") != adminTok.UserID {
			t.Errorf("token user_id %q, want the admin user %q", adminTok.UserID, str(u, "id"))
		}
	})

	t.Run("catalog list", func(t *testing.T) {
		rows := osJSON[[]row](t, c, admin, "catalog", "list")
		var found bool
		for _, r := range rows {
			if str(r, "Type") == "identity" {
				found = true
				if !strings.Contains(str(r, "Endpoints"), c.URL) {
					t.Errorf("identity endpoints %q do not mention %s", str(r, "Endpoints"), c.URL)
				}
			}
		}
		if !found {
			t.Errorf("catalog has no identity service: %v", rows)
		}
	})

	var endpointID string
	t.Run("endpoint list", func(t *testing.T) {
		rows := osJSON[[]row](t, c, admin, "endpoint", "list")
		for _, r := range rows {
			if str(r, "Service Type") == "identity" && str(r, "Interface") == "public" {
				endpointID = str(r, "ID")
				if str(r, "Region") != "RegionOne" {
					t.Errorf("identity public endpoint region %q, want RegionOne", str(r, "Region"))
				}
				if !strings.HasPrefix(str(r, "URL"), c.URL) {
					t.Errorf("identity public endpoint URL %q, want it under %s", str(r, "URL"), c.URL)
				}
				if str(r, "Enabled") != "true" {
					t.Errorf("identity public endpoint Enabled=%s, want true", str(r, "Enabled"))
				}
			}
		}
		if endpointID == "" {
			t.Fatalf("no public identity endpoint in %v", rows)
		}
	})

	t.Run("endpoint show", func(t *testing.T) {
		if endpointID == "" {
			t.Skip("no endpoint id from endpoint list")
		}
		e := osJSON[row](t, c, admin, "endpoint", "show", endpointID)
		for k, want := range map[string]string{"id": endpointID, "service_type": "identity", "interface": "public", "region": "RegionOne"} {
			if got := str(e, k); got != want {
				t.Errorf("endpoint show: %s=%q, want %q", k, got, want)
			}
		}
		if !strings.HasPrefix(str(e, "url"), c.URL) {
			t.Errorf("endpoint show: url %q, want it under %s", str(e, "url"), c.URL)
		}
	})

	var projectID string
	t.Run("project create", func(t *testing.T) {
		p := osJSON[row](t, c, admin, "project", "create", "newProject")
		projectID = str(p, "id")
		if projectID == "" || str(p, "name") != "newProject" || str(p, "enabled") != "true" || str(p, "domain_id") != "default" {
			t.Errorf("project create: got %v, want an id, name newProject, enabled, domain_id default", p)
		}
		_, err := c.OpenStack(t, admin, "project", "create", "newProject")
		wantHTTPError(t, err, 409, "project create of an existing name")
	})

	t.Run("project set --description", func(t *testing.T) {
		out := osRun(t, c, admin, "project", "set", "--description", "for testing purpose", "newProject")
		if strings.TrimSpace(out) != "" {
			t.Errorf("project set printed %q, want nothing", out)
		}
	})

	t.Run("project show", func(t *testing.T) {
		p := osJSON[row](t, c, admin, "project", "show", "newProject")
		if got := str(p, "description"); got != "for testing purpose" {
			t.Errorf("description %q, want %q", got, "for testing purpose")
		}
		if str(p, "id") != projectID {
			t.Errorf("id %q, want %q", str(p, "id"), projectID)
		}
	})

	var userID string
	t.Run("user create", func(t *testing.T) {
		u := osJSON[row](t, c, admin, "user", "create", "--project", "newProject", "--password", "secret", "developer1")
		userID = str(u, "id")
		if userID == "" || str(u, "name") != "developer1" || str(u, "enabled") != "true" {
			t.Errorf("user create: got %v, want an id, name developer1, enabled", u)
		}
		if str(u, "default_project_id") != projectID {
			t.Errorf("default_project_id %q, want %q", str(u, "default_project_id"), projectID)
		}
		if _, ok := u["password"]; ok {
			t.Errorf("user create echoes the password: %v", u)
		}
	})

	var adminRoleID string
	t.Run("role list", func(t *testing.T) {
		rows := osJSON[[]row](t, c, admin, "role", "list")
		names := column(rows, "Name")
		for _, want := range []string{"admin", "member", "reader", "manager", "service"} {
			if !contains(names, want) {
				t.Errorf("role list: %q missing from %v", want, names)
			}
		}
		for _, r := range rows {
			if str(r, "Name") == "admin" {
				adminRoleID = str(r, "ID")
			}
		}
	})

	t.Run("role add", func(t *testing.T) {
		out := osRun(t, c, admin, "role", "add", "--project", "newProject", "--user", "developer1", "admin")
		if strings.TrimSpace(out) != "" {
			t.Errorf("role add printed %q, want nothing", out)
		}
	})

	t.Run("role assignment list", func(t *testing.T) {
		rows := osJSON[[]row](t, c, admin, "role", "assignment", "list", "--project", "newProject", "--user", "developer1", "--names")
		if len(rows) != 1 {
			t.Fatalf("got %d assignments, want 1: %v", len(rows), rows)
		}
		r := rows[0]
		for k, want := range map[string]string{"Role": "admin", "User": "developer1@Default", "Project": "newProject@Default"} {
			if got := str(r, k); got != want {
				t.Errorf("%s=%q, want %q (row %v)", k, got, want, r)
			}
		}
		rows = osJSON[[]row](t, c, admin, "role", "assignment", "list", "--project", projectID, "--user", userID)
		if len(rows) != 1 || str(rows[0], "Role") != adminRoleID || str(rows[0], "User") != userID || str(rows[0], "Project") != projectID {
			t.Errorf("assignments by id: got %v, want role %s user %s project %s", rows, adminRoleID, userID, projectID)
		}
	})

	t.Run("domain create, list, show", func(t *testing.T) {
		d := osJSON[row](t, c, admin, "domain", "create", "--description", "a test domain", "dom1")
		domID := str(d, "id")
		if domID == "" || str(d, "name") != "dom1" || str(d, "enabled") != "true" || str(d, "description") != "a test domain" {
			t.Errorf("domain create: got %v", d)
		}
		names := column(osJSON[[]row](t, c, admin, "domain", "list"), "Name")
		if !contains(names, "Default") || !contains(names, "dom1") {
			t.Errorf("domain list: %v, want Default and dom1", names)
		}
		d = osJSON[row](t, c, admin, "domain", "show", "dom1")
		if str(d, "id") != domID || str(d, "name") != "dom1" {
			t.Errorf("domain show: got %v, want id %s", d, domID)
		}
	})

	t.Run("group create, add user", func(t *testing.T) {
		g := osJSON[row](t, c, admin, "group", "create", "--description", "developers", "grp1")
		if str(g, "id") == "" || str(g, "name") != "grp1" || str(g, "domain_id") != "default" {
			t.Errorf("group create: got %v", g)
		}
		osRun(t, c, admin, "group", "add", "user", "grp1", "developer1")
		out := osRun(t, c, admin, "group", "contains", "user", "grp1", "developer1")
		if !strings.Contains(out, "developer1 in group grp1") {
			t.Errorf("group contains user: %q, want %q", out, "developer1 in group grp1")
		}
		names := column(osJSON[[]row](t, c, admin, "user", "list", "--group", "grp1"), "Name")
		if !slices.Equal(names, []string{"developer1"}) {
			t.Errorf("user list --group grp1: %v, want [developer1]", names)
		}
		// The CLI reports a non-member on stderr ("admin not in group grp1") and exits 0.
		out, err := c.OpenStack(t, admin, "group", "contains", "user", "grp1", "admin")
		if err != nil || strings.Contains(out, "admin in group") {
			t.Errorf("group contains user grp1 admin: %q, %v; want admin not in group", out, err)
		}
	})

	t.Run("application credential", func(t *testing.T) {
		ac := osJSON[row](t, c, admin, "application", "credential", "create", "--description", "ci", "appcred1")
		id, secret := str(ac, "id"), str(ac, "secret")
		if id == "" || secret == "" || str(ac, "name") != "appcred1" {
			t.Fatalf("application credential create: got %v, want id, secret and name", ac)
		}
		if adminTok.ProjectID != "" && str(ac, "project_id") != adminTok.ProjectID {
			t.Errorf("project_id %q, want the admin project %q", str(ac, "project_id"), adminTok.ProjectID)
		}
		names := column(osJSON[[]row](t, c, admin, "application", "credential", "list"), "Name")
		if !contains(names, "appcred1") {
			t.Errorf("application credential list: %v, want appcred1", names)
		}
		env := cloudsFile(t, "v3applicationcredential", map[string]any{
			"auth_url":                      c.AuthURL(),
			"application_credential_id":     id,
			"application_credential_secret": secret,
		})
		tok := issueToken(t, env)
		if tok.UserID != adminTok.UserID || tok.ProjectID != adminTok.ProjectID {
			t.Errorf("app credential token user %s project %s, want user %s project %s",
				tok.UserID, tok.ProjectID, adminTok.UserID, adminTok.ProjectID)
		}
		bad := cloudsFile(t, "v3applicationcredential", map[string]any{
			"auth_url":                      c.AuthURL(),
			"application_credential_id":     id,
			"application_credential_secret": secret + "x",
		})
		_, err := testkit.RunOpenStack(t, bad, "token", "issue", "-f", "json")
		wantHTTPError(t, err, 401, "token issue with a wrong application credential secret")
	})

	t.Run("user set --disable revokes tokens", func(t *testing.T) {
		devEnv := passwordCloud(t, c, "developer1", "secret", "newProject")
		devTok := issueToken(t, devEnv)
		if devTok.UserID != userID || devTok.ProjectID != projectID {
			t.Errorf("developer1 token user %s project %s, want %s %s", devTok.UserID, devTok.ProjectID, userID, projectID)
		}
		self := map[string]string{"X-Auth-Token": devTok.ID, "X-Subject-Token": devTok.ID}
		if st, _, b := c.Request(t, http.MethodGet, "/v3/auth/tokens", self, nil); st != http.StatusOK {
			t.Fatalf("GET /v3/auth/tokens with developer1's own token before disabling: %d, want 200: %s", st, b)
		}

		osRun(t, c, admin, "user", "set", "--disable", "developer1")
		u := osJSON[row](t, c, admin, "user", "show", "developer1")
		if str(u, "enabled") != "false" {
			t.Errorf("user show after --disable: enabled=%s, want false", str(u, "enabled"))
		}

		if st, _, b := c.Request(t, http.MethodGet, "/v3/auth/tokens", self, nil); st != http.StatusUnauthorized {
			t.Errorf("GET /v3/auth/tokens with a disabled user's token: %d, want 401: %s", st, b)
		}
		adminHTTP := c.PasswordToken(t, "admin", c.AdminPassword, "admin")
		check := map[string]string{"X-Auth-Token": adminHTTP, "X-Subject-Token": devTok.ID}
		if st, _, b := c.Request(t, http.MethodGet, "/v3/auth/tokens", check, nil); st != http.StatusNotFound {
			t.Errorf("admin validating a disabled user's token: %d, want 404: %s", st, b)
		}
		_, err := testkit.RunOpenStack(t, nil, "--os-auth-url", c.AuthURL(), "--os-auth-type", "token",
			"--os-token", devTok.ID, "--os-project-id", projectID, "--os-identity-api-version", "3",
			"project", "show", projectID, "-f", "json")
		// Authenticating with the token method validates the token first, and Keystone
		// turns every validation failure into TokenNotFound (404), as tempest's
		// test_user_update_own_password expects; 401 is for a bad X-Auth-Token.
		wantHTTPError(t, err, 404, "CLI with a disabled user's token (token auth method)")
		_, err = testkit.RunOpenStack(t, devEnv, "token", "issue", "-f", "json")
		wantHTTPError(t, err, 401, "token issue as a disabled user")
	})

	t.Run("user password set", func(t *testing.T) {
		vars, err := c.OpenRC("alt_demo")
		if err != nil {
			t.Fatal(err)
		}
		old := vars["OS_PASSWORD"]
		if old == "" {
			t.Fatal("alt_demo-openrc sets no OS_PASSWORD")
		}
		out, err := c.OpenStack(t, "devstack-alt", "user", "password", "set", "--password", "n3w-secret", "--original-password", old)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out) != "" {
			t.Errorf("user password set printed %q, want nothing", out)
		}
		issueToken(t, passwordCloud(t, c, "alt_demo", "n3w-secret", "alt_demo"))
		_, err = c.OpenStack(t, "devstack-alt", "token", "issue", "-f", "json")
		wantHTTPError(t, err, 401, "token issue with the old password")
		_, err = c.OpenStack(t, "devstack", "user", "password", "set", "--password", "x", "--original-password", "wrong")
		wantHTTPError(t, err, 401, "user password set with a wrong original password")
	})
}

// TestCLIDemoUser checks what a member of the demo project may and may not do.
func TestCLIDemoUser(t *testing.T) {
	t.Parallel()
	c := start(t)
	const demo = "gostack"

	var demoProject string
	t.Run("token issue", func(t *testing.T) {
		tok := issueToken(t, c.Env(demo))
		p := osJSON[row](t, c, "gostack-admin", "project", "show", "demo")
		demoProject = str(p, "id")
		if tok.ProjectID != demoProject {
			t.Errorf("demo token project %q, want the demo project %q", tok.ProjectID, demoProject)
		}
	})
	t.Run("user create is forbidden", func(t *testing.T) {
		_, err := c.OpenStack(t, demo, "user", "create", "--password", "x", "intruder")
		wantHTTPError(t, err, 403, "demo: user create")
	})
	t.Run("project create is forbidden", func(t *testing.T) {
		_, err := c.OpenStack(t, demo, "project", "create", "intruder")
		wantHTTPError(t, err, 403, "demo: project create")
	})
	t.Run("project list is forbidden", func(t *testing.T) {
		// Keystone answers 403 to GET /v3/projects from a project member; the CLI then
		// falls back to GET /v3/users/{id}/projects, so plain "project list" shows the
		// user's own projects and the 403 is only visible on the wire.
		tok := c.PasswordToken(t, "demo", c.DemoPassword, "demo")
		if st, _, b := c.Request(t, http.MethodGet, "/v3/projects", map[string]string{"X-Auth-Token": tok}, nil); st != http.StatusForbidden {
			t.Errorf("demo: GET /v3/projects: %d, want 403: %s", st, b)
		}
		_, err := c.OpenStack(t, demo, "project", "list", "--domain", "default", "-f", "json")
		wantHTTPError(t, err, 403, "demo: project list --domain default")
		names := column(osJSON[[]row](t, c, demo, "project", "list"), "Name")
		if !slices.Equal(names, []string{"demo"}) {
			t.Errorf("demo: project list (CLI fallback to own projects): %v, want [demo]", names)
		}
	})
	t.Run("project list --my-projects", func(t *testing.T) {
		names := column(osJSON[[]row](t, c, demo, "project", "list", "--my-projects"), "Name")
		if !slices.Equal(names, []string{"demo"}) {
			t.Errorf("demo: project list --my-projects: %v, want [demo]", names)
		}
	})
	t.Run("user show self", func(t *testing.T) {
		u := osJSON[row](t, c, demo, "user", "show", "demo")
		if str(u, "name") != "demo" {
			t.Errorf("demo: user show demo: %v", u)
		}
	})
	t.Run("user list is forbidden", func(t *testing.T) {
		_, err := c.OpenStack(t, demo, "user", "list", "-f", "json")
		wantHTTPError(t, err, 403, "demo: user list")
	})
	t.Run("alt_demo sees only its project", func(t *testing.T) {
		names := column(osJSON[[]row](t, c, "devstack-alt", "project", "list", "--my-projects"), "Name")
		if !slices.Equal(names, []string{"alt_demo"}) {
			t.Errorf("alt_demo: project list --my-projects: %v, want [alt_demo]", names)
		}
	})
}

// TestCLIPolicyOverride checks that policy.yaml in the data directory takes effect on the
// next request, and that removing it restores the defaults.
func TestCLIPolicyOverride(t *testing.T) {
	t.Parallel()
	c := start(t)
	const admin = "gostack-admin"
	policy := filepath.Join(c.DataDir, "policy.yaml")
	tok := c.PasswordToken(t, "admin", c.AdminPassword, "admin")
	listProjects := func() int {
		st, _, _ := c.Request(t, http.MethodGet, "/v3/projects", map[string]string{"X-Auth-Token": tok}, nil)
		return st
	}
	// "project list" without filters falls back to the user's own projects on 403, so the
	// CLI checks use --domain, which makes the 403 visible.
	cliList := []string{"project", "list", "--domain", "default"}

	if st := listProjects(); st != http.StatusOK {
		t.Fatalf("admin: GET /v3/projects: %d, want 200", st)
	}
	if names := column(osJSON[[]row](t, c, admin, cliList...), "Name"); !contains(names, "admin") {
		t.Fatalf("admin: project list: %v, want admin among them", names)
	}

	if err := os.WriteFile(policy, []byte("\"identity:list_projects\": \"!\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st := listProjects(); st != http.StatusForbidden {
		t.Errorf("admin: GET /v3/projects on the first request after writing policy.yaml: %d, want 403", st)
	}
	_, err := c.OpenStack(t, admin, append(cliList, "-f", "json")...)
	wantHTTPError(t, err, 403, "admin: project list with identity:list_projects denied by policy.yaml")
	if u := osJSON[[]row](t, c, admin, "user", "list"); len(u) == 0 {
		t.Errorf("admin: user list with the override in place returned nothing")
	}

	if err := os.Remove(policy); err != nil {
		t.Fatal(err)
	}
	if st := listProjects(); st != http.StatusOK {
		t.Errorf("admin: GET /v3/projects on the first request after removing policy.yaml: %d, want 200", st)
	}
	if names := column(osJSON[[]row](t, c, admin, cliList...), "Name"); !contains(names, "admin") {
		t.Errorf("admin: project list after removing policy.yaml: %v, want admin among them", names)
	}
}

// state is what restartSeed creates and restartVerify checks after a restart.
type state struct {
	projectID, userID, tokenID string
}

// restartSeed creates a project, a user with a role on it and an admin token.
func restartSeed(t *testing.T, c *testkit.Cloud) state {
	t.Helper()
	const admin = "gostack-admin"
	var s state
	s.projectID = str(osJSON[row](t, c, admin, "project", "create", "--description", "survives", "keepProject"), "id")
	s.userID = str(osJSON[row](t, c, admin, "user", "create", "--project", "keepProject", "--password", "keep-secret", "keeper"), "id")
	osRun(t, c, admin, "role", "add", "--project", "keepProject", "--user", "keeper", "member")
	s.tokenID = c.PasswordToken(t, "admin", c.AdminPassword, "admin")
	return s
}

// restartVerify checks that the seeded state, the catalog and the token survived.
func restartVerify(t *testing.T, c *testkit.Cloud, s state) {
	t.Helper()
	const admin = "gostack-admin"
	h := map[string]string{"X-Auth-Token": s.tokenID, "X-Subject-Token": s.tokenID}
	if st, _, b := c.Request(t, http.MethodGet, "/v3/auth/tokens", h, nil); st != http.StatusOK {
		t.Errorf("token issued before the restart: validate %d, want 200: %s", st, b)
	}
	if p := osJSON[row](t, c, admin, "project", "show", "keepProject"); str(p, "id") != s.projectID || str(p, "description") != "survives" {
		t.Errorf("project after restart: %v, want id %s description survives", p, s.projectID)
	}
	if u := osJSON[row](t, c, admin, "user", "show", "keeper"); str(u, "id") != s.userID {
		t.Errorf("user after restart: %v, want id %s", u, s.userID)
	}
	rows := osJSON[[]row](t, c, admin, "role", "assignment", "list", "--project", "keepProject", "--user", "keeper", "--names")
	if len(rows) != 1 || str(rows[0], "Role") != "member" {
		t.Errorf("assignments after restart: %v, want one member assignment", rows)
	}
	var identity bool
	for _, r := range osJSON[[]row](t, c, admin, "catalog", "list") {
		identity = identity || str(r, "Type") == "identity"
	}
	if !identity {
		t.Errorf("catalog after restart has no identity service")
	}
	tok := issueToken(t, passwordCloud(t, c, "keeper", "keep-secret", "keepProject"))
	if tok.ProjectID != s.projectID {
		t.Errorf("keeper token project %q, want %q", tok.ProjectID, s.projectID)
	}
}

// TestCLIRestart stops gostack with SIGTERM and starts it again on the same data directory.
func TestCLIRestart(t *testing.T) {
	t.Parallel()
	c := start(t)
	s := restartSeed(t, c)
	c.Stop()
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	restartVerify(t, c, s)
	// A second start must not bootstrap again: the admin password is unchanged and the
	// bootstrap roles are not duplicated.
	names := column(osJSON[[]row](t, c, "gostack-admin", "role", "list"), "Name")
	seen := map[string]int{}
	for _, n := range names {
		seen[n]++
		if seen[n] > 1 {
			t.Errorf("role %q listed twice after restart: %v", n, names)
		}
	}
}

// TestCLIKill9 kills gostack with SIGKILL and checks that everything acknowledged before
// the kill is there after a restart.
func TestCLIKill9(t *testing.T) {
	t.Parallel()
	c := start(t)
	s := restartSeed(t, c)
	// The last write before the crash was acknowledged; it must survive.
	last := osJSON[row](t, c, "gostack-admin", "project", "create", "lastBeforeCrash")
	c.Kill()
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	restartVerify(t, c, s)
	if p := osJSON[row](t, c, "gostack-admin", "project", "show", "lastBeforeCrash"); str(p, "id") != str(last, "id") {
		t.Errorf("project created just before kill -9: %v, want id %s", p, str(last, "id"))
	}
	// And the cloud keeps working after the crash.
	osJSON[row](t, c, "gostack-admin", "project", "create", "afterCrash")
	var v json.RawMessage
	if err := c.OpenStackJSON(t, "gostack-admin", &v, "project", "show", "afterCrash"); err != nil {
		t.Error(err)
	}
}
