// Package testkit runs the real gostack binary for black-box tests.
//
// A test builds the binary once per test process and starts a cloud on a free loopback port
// with its own data directory:
//
//	func TestMain(m *testing.M) { testkit.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		c := testkit.Start(t)
//		out, err := c.OpenStack(t, "gostack-admin", "token", "issue", "-f", "json")
//		...
//	}
//
// Start waits until GET /v3 answers 200 and registers a cleanup that stops the process with
// SIGTERM and reports an unclean exit as a test error. The process's stdout and stderr go to
// [LogName] in the data directory; when a test fails, the tail of that file is logged so the
// failure report shows what the server said.
//
// The binary comes from $GOSTACK_BIN when set (make test builds bin/gostack once and points
// every test package at it); otherwise [Build] compiles ./cmd/gostack into a temporary
// directory the first time it is needed.
//
// Tests that drive the openstack CLI are skipped with a clear reason when the CLI is not
// installed, unless $GOSTACK_REQUIRE_CLI is set (make test sets it), in which case a missing
// CLI fails the test instead.
package testkit
