// Package gophercloud_test drives a real gostack process through gophercloud, the Go SDK
// terraform and many operators use, to check that gostack answers as Keystone does.
package gophercloud_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/gostack/gostack/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// setup starts a cloud and returns it with an identity client authenticated as admin.
func setup(t *testing.T) (*testkit.Cloud, *gophercloud.ServiceClient) {
	t.Helper()
	if testing.Short() {
		t.Skip("black-box gophercloud suite: skipped in -short mode")
	}
	c := testkit.Start(t)
	return c, client(t, c, "admin", c.AdminPassword, "admin")
}

// client authenticates a Default-domain user scoped to a project and returns an identity
// client found through the catalog.
func client(t *testing.T, c *testkit.Cloud, user, password, project string) *gophercloud.ServiceClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: c.AuthURL(),
		Username:         user,
		Password:         password,
		DomainID:         "default",
		TenantName:       project,
	})
	if err != nil {
		t.Fatalf("authenticate %s: %v", user, err)
	}
	id, err := openstack.NewIdentityV3(provider, gophercloud.EndpointOpts{Region: "RegionOne"})
	if err != nil {
		t.Fatalf("identity endpoint from the catalog: %v", err)
	}
	return id
}

// wantCode checks that err is a gophercloud response error with the given status.
func wantCode(t *testing.T, err error, code int, what string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded, want HTTP %d", what, code)
		return
	}
	var ue gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &ue) {
		t.Errorf("%s: %v (%T), want a gophercloud.ErrUnexpectedResponseCode", what, err, err)
		return
	}
	if !gophercloud.ResponseCodeIs(err, code) {
		t.Errorf("%s: HTTP %d, want %d: %s", what, ue.Actual, code, ue.Body)
	}
}

func TestTokens(t *testing.T) {
	c, id := setup(t)
	ctx := t.Context()

	res := tokens.Create(ctx, id, &tokens.AuthOptions{
		Username: "admin", Password: c.AdminPassword, DomainID: "default",
		Scope: tokens.Scope{ProjectName: "admin", DomainID: "default"},
	})
	tok, err := res.ExtractToken()
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	if tok.ID == "" || time.Until(tok.ExpiresAt) < 10*time.Minute {
		t.Errorf("token %q expires at %v; want an id and at least 10 minutes of life", tok.ID, tok.ExpiresAt)
	}
	if u, err := res.ExtractUser(); err != nil || u.Name != "admin" || u.Domain.ID != "default" {
		t.Errorf("token user: %+v, %v; want admin in domain default", u, err)
	}
	if p, err := res.ExtractProject(); err != nil || p.Name != "admin" {
		t.Errorf("token project: %+v, %v; want admin", p, err)
	}
	if rs, err := res.ExtractRoles(); err != nil || !slices.ContainsFunc(rs, func(r tokens.Role) bool { return r.Name == "admin" }) {
		t.Errorf("token roles: %+v, %v; want admin among them", rs, err)
	}
	cat, err := res.ExtractServiceCatalog()
	if err != nil || !slices.ContainsFunc(cat.Entries, func(e tokens.CatalogEntry) bool { return e.Type == "identity" }) {
		t.Errorf("token catalog: %+v, %v; want an identity entry", cat, err)
	}

	if got, err := tokens.Get(ctx, id, tok.ID).ExtractToken(); err != nil || got.ID != tok.ID {
		t.Errorf("get token: %+v, %v", got, err)
	}
	if ok, err := tokens.Validate(ctx, id, tok.ID); err != nil || !ok {
		t.Errorf("validate token: %v, %v; want true", ok, err)
	}
	if err := tokens.Revoke(ctx, id, tok.ID).Err; err != nil {
		t.Fatalf("revoke token: %v", err)
	}
	if ok, err := tokens.Validate(ctx, id, tok.ID); err != nil || ok {
		t.Errorf("validate revoked token: %v, %v; want false", ok, err)
	}
	_, err = tokens.Get(ctx, id, tok.ID).ExtractToken()
	wantCode(t, err, http.StatusNotFound, "get revoked token")

	_, err = tokens.Create(ctx, id, &tokens.AuthOptions{
		Username: "admin", Password: "wrong", DomainID: "default",
	}).ExtractToken()
	wantCode(t, err, http.StatusUnauthorized, "create token with a wrong password")
}

func TestProjectsUsersRoles(t *testing.T) {
	c, id := setup(t)
	ctx := t.Context()

	// Projects.
	p, err := projects.Create(ctx, id, projects.CreateOpts{Name: "gc-project", Description: "first"}).Extract()
	if err != nil {
		t.Fatalf("create project: %v", err)
	}
	if p.ID == "" || p.Name != "gc-project" || p.DomainID != "default" || !p.Enabled || p.Description != "first" {
		t.Errorf("created project: %+v", p)
	}
	_, err = projects.Create(ctx, id, projects.CreateOpts{Name: "gc-project"}).Extract()
	wantCode(t, err, http.StatusConflict, "create a project with a taken name")

	desc := "second"
	if up, err := projects.Update(ctx, id, p.ID, projects.UpdateOpts{Description: &desc}).Extract(); err != nil || up.Description != "second" {
		t.Errorf("update project: %+v, %v", up, err)
	}
	if got, err := projects.Get(ctx, id, p.ID).Extract(); err != nil || got.Description != "second" || got.Name != "gc-project" {
		t.Errorf("get project: %+v, %v", got, err)
	}
	pages, err := projects.List(id, projects.ListOpts{Name: "gc-project"}).AllPages(ctx)
	if err != nil {
		t.Fatalf("list projects: %v", err)
	}
	if ps, err := projects.ExtractProjects(pages); err != nil || len(ps) != 1 || ps[0].ID != p.ID {
		t.Errorf("list projects by name: %+v, %v; want only %s", ps, err, p.ID)
	}
	_, err = projects.Get(ctx, id, "00000000000000000000000000000000").Extract()
	wantCode(t, err, http.StatusNotFound, "get a missing project")

	// Users.
	u, err := users.Create(ctx, id, users.CreateOpts{
		Name: "gc-user", Password: "gc-secret", DefaultProjectID: p.ID, DomainID: "default",
	}).Extract()
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	if u.ID == "" || u.Name != "gc-user" || !u.Enabled || u.DefaultProjectID != p.ID {
		t.Errorf("created user: %+v", u)
	}
	_, err = users.Create(ctx, id, users.CreateOpts{Name: "gc-user", Password: "x"}).Extract()
	wantCode(t, err, http.StatusConflict, "create a user with a taken name")
	udesc := "updated"
	if up, err := users.Update(ctx, id, u.ID, users.UpdateOpts{Description: &udesc}).Extract(); err != nil || up.Description != "updated" {
		t.Errorf("update user: %+v, %v", up, err)
	}
	if got, err := users.Get(ctx, id, u.ID).Extract(); err != nil || got.Name != "gc-user" {
		t.Errorf("get user: %+v, %v", got, err)
	}

	// Groups.
	g, err := groups.Create(ctx, id, groups.CreateOpts{Name: "gc-group", DomainID: "default"}).Extract()
	if err != nil {
		t.Fatalf("create group: %v", err)
	}
	if err := users.AddToGroup(ctx, id, g.ID, u.ID).ExtractErr(); err != nil {
		t.Errorf("add user to group: %v", err)
	}
	if ok, err := users.IsMemberOfGroup(ctx, id, g.ID, u.ID).Extract(); err != nil || !ok {
		t.Errorf("is member of group: %v, %v; want true", ok, err)
	}

	// Roles and assignments.
	pages, err = roles.List(id, roles.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatalf("list roles: %v", err)
	}
	rs, err := roles.ExtractRoles(pages)
	if err != nil {
		t.Fatal(err)
	}
	var memberID string
	for _, r := range rs {
		if r.Name == "member" {
			memberID = r.ID
		}
	}
	if memberID == "" {
		t.Fatalf("no member role in %+v", rs)
	}
	if err := roles.Assign(ctx, id, memberID, roles.AssignOpts{UserID: u.ID, ProjectID: p.ID}).ExtractErr(); err != nil {
		t.Fatalf("assign member: %v", err)
	}
	if err := roles.Validate(ctx, id, memberID, roles.ValidateOpts{UserID: u.ID, ProjectID: p.ID}).ExtractErr(); err != nil {
		t.Errorf("check assignment: %v", err)
	}
	assignments := func() []roles.RoleAssignment {
		t.Helper()
		pages, err := roles.ListAssignments(id, roles.ListAssignmentsOpts{UserID: u.ID, ScopeProjectID: p.ID}).AllPages(ctx)
		if err != nil {
			t.Fatalf("list assignments: %v", err)
		}
		as, err := roles.ExtractRoleAssignments(pages)
		if err != nil {
			t.Fatal(err)
		}
		return as
	}
	if as := assignments(); len(as) != 1 || as[0].Role.ID != memberID || as[0].User.ID != u.ID || as[0].Scope.Project.ID != p.ID {
		t.Errorf("assignments: %+v; want member for %s on %s", as, u.ID, p.ID)
	}

	// The new user can authenticate to the project and sees the member role.
	res := tokens.Create(ctx, id, &tokens.AuthOptions{
		UserID: u.ID, Password: "gc-secret", Scope: tokens.Scope{ProjectID: p.ID},
	})
	if rs, err := res.ExtractRoles(); err != nil || len(rs) == 0 || !slices.ContainsFunc(rs, func(r tokens.Role) bool { return r.Name == "member" }) {
		t.Errorf("gc-user token roles: %+v, %v; want member", rs, err)
	}
	userClient := client(t, c, "gc-user", "gc-secret", "gc-project")
	_, err = projects.Create(ctx, userClient, projects.CreateOpts{Name: "not-allowed"}).Extract()
	wantCode(t, err, http.StatusForbidden, "member creates a project")

	if err := roles.Unassign(ctx, id, memberID, roles.UnassignOpts{UserID: u.ID, ProjectID: p.ID}).ExtractErr(); err != nil {
		t.Errorf("unassign member: %v", err)
	}
	if as := assignments(); len(as) != 0 {
		t.Errorf("assignments after unassign: %+v; want none", as)
	}
	err = roles.Validate(ctx, id, memberID, roles.ValidateOpts{UserID: u.ID, ProjectID: p.ID}).ExtractErr()
	wantCode(t, err, http.StatusNotFound, "check a removed assignment")

	// Deletes, and 404 after them.
	if err := groups.Delete(ctx, id, g.ID).ExtractErr(); err != nil {
		t.Errorf("delete group: %v", err)
	}
	if err := users.Delete(ctx, id, u.ID).ExtractErr(); err != nil {
		t.Errorf("delete user: %v", err)
	}
	_, err = users.Get(ctx, id, u.ID).Extract()
	wantCode(t, err, http.StatusNotFound, "get a deleted user")
	if err := projects.Delete(ctx, id, p.ID).ExtractErr(); err != nil {
		t.Errorf("delete project: %v", err)
	}
	_, err = projects.Get(ctx, id, p.ID).Extract()
	wantCode(t, err, http.StatusNotFound, "get a deleted project")
	err = projects.Delete(ctx, id, p.ID).ExtractErr()
	wantCode(t, err, http.StatusNotFound, "delete a deleted project")
}

func TestDemoUser(t *testing.T) {
	c, _ := setup(t)
	ctx := t.Context()
	demo := client(t, c, "demo", c.DemoPassword, "demo")

	_, err := users.Create(ctx, demo, users.CreateOpts{Name: "intruder", Password: "x"}).Extract()
	wantCode(t, err, http.StatusForbidden, "demo creates a user")
	err = projects.List(demo, nil).EachPage(ctx, func(context.Context, pagination.Page) (bool, error) { return false, nil })
	wantCode(t, err, http.StatusForbidden, "demo lists all projects")

	pages, err := projects.ListAvailable(demo).AllPages(ctx)
	if err != nil {
		t.Fatalf("demo lists its available projects: %v", err)
	}
	ps, err := projects.ExtractProjects(pages)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"demo"}) {
		t.Errorf("demo's available projects: %v, want [demo]", names)
	}
}
