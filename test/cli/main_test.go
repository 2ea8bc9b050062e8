// Package cli_test drives a real gostack process with the unmodified openstack CLI, using
// only the files gostack writes (clouds.yaml, *-openrc), as a user would.
package cli_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gostack/gostack/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// start skips in -short mode and starts a cloud; the openstack CLI must be installed.
func start(t *testing.T, opts ...testkit.Option) *testkit.Cloud {
	t.Helper()
	if testing.Short() {
		t.Skip("black-box CLI suite: skipped in -short mode")
	}
	testkit.RequireCLI(t)
	return testkit.Start(t, opts...)
}

// osJSON runs the CLI against cloud with "-f json" and decodes the output into a value of type
// T; any failure ends the (sub)test.
func osJSON[T any](t *testing.T, c *testkit.Cloud, cloud string, args ...string) T {
	t.Helper()
	var v T
	if err := c.OpenStackJSON(t, cloud, &v, args...); err != nil {
		t.Fatal(err)
	}
	return v
}

// osRun runs the CLI against cloud and returns stdout; any failure ends the (sub)test.
func osRun(t *testing.T, c *testkit.Cloud, cloud string, args ...string) string {
	t.Helper()
	out, err := c.OpenStack(t, cloud, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// wantHTTPError checks that err is a CLI failure whose message carries "(HTTP code)".
func wantHTTPError(t *testing.T, err error, code int, what string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded, want HTTP %d", what, code)
		return
	}
	var ce *testkit.CLIError
	if !errors.As(err, &ce) {
		t.Errorf("%s: %v, want a CLI failure with HTTP %d", what, err, code)
		return
	}
	if !strings.Contains(ce.Stderr, fmt.Sprintf("(HTTP %d)", code)) {
		t.Errorf("%s: failed without (HTTP %d) in stderr: %v", what, code, err)
	}
}

// row is one row of a CLI list command's JSON output.
type row map[string]any

// str returns a field of a row or an object as a string ("" when absent).
func str(m map[string]any, key string) string {
	v, ok := m[key]
	if !ok || v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// column returns one column of a list command's output.
func column(rows []row, key string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, str(r, key))
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// cloudsFile writes a clouds.yaml with one cloud named "test" using auth (and the usual
// region/interface settings) into a new directory and returns the environment that selects it.
func cloudsFile(t *testing.T, authType string, auth map[string]any) []string {
	t.Helper()
	cloud := map[string]any{
		"auth":                 auth,
		"region_name":          "RegionOne",
		"interface":            "public",
		"identity_api_version": 3,
	}
	if authType != "" {
		cloud["auth_type"] = authType
	}
	// JSON is YAML, so the CLI reads this file as it reads any clouds.yaml.
	b, err := json.MarshalIndent(map[string]any{"clouds": map[string]any{"test": cloud}}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "clouds.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"OS_CLIENT_CONFIG_FILE=" + path, "OS_CLOUD=test"}
}

// passwordCloud returns the environment of a clouds.yaml for a Default-domain user scoped
// to a Default-domain project.
func passwordCloud(t *testing.T, c *testkit.Cloud, user, password, project string) []string {
	t.Helper()
	return cloudsFile(t, "password", map[string]any{
		"auth_url":            c.AuthURL(),
		"username":            user,
		"password":            password,
		"project_name":        project,
		"user_domain_name":    "Default",
		"project_domain_name": "Default",
	})
}

// token is the output of "openstack token issue -f json".
type token struct {
	ID        string `json:"id"`
	Expires   string `json:"expires"`
	ProjectID string `json:"project_id"`
	UserID    string `json:"user_id"`
}

// issueToken runs "token issue" with env and decodes it; any failure ends the (sub)test.
func issueToken(t *testing.T, env []string) token {
	t.Helper()
	out, err := testkit.RunOpenStack(t, env, "token", "issue", "-f", "json")
	if err != nil {
		t.Fatal(err)
	}
	var tok token
	if err := json.Unmarshal([]byte(out), &tok); err != nil {
		t.Fatalf("token issue: decode: %v\n%s", err, out)
	}
	if tok.ID == "" || tok.UserID == "" || tok.Expires == "" {
		t.Fatalf("token issue: missing id, user_id or expires: %s", out)
	}
	return tok
}
