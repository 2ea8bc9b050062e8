package platform

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv makes the test binary a short-lived parent: it starts a long program through
// Exec.Run in the background and exits, as gostack does when it is stopped while it
// waits for a command.
const childEnv = "PLATFORM_TEST_PARENT_PIDFILE"

func TestMain(m *testing.M) {
	if pidfile := os.Getenv(childEnv); pidfile != "" {
		go func() {
			_, _ = (&Exec{}).Run(context.Background(), Command{Name: "sh",
				Args: []string{"-c", "echo $$ > " + pidfile + "; exec sleep 60"}})
		}()
		for {
			if b, err := os.ReadFile(pidfile); err == nil && strings.HasSuffix(string(b), "\n") {
				os.Exit(0)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	os.Exit(m.Run())
}

// A program Run waits for dies when gostack exits, instead of staying behind.
func TestExecRunProgramDiesWithParent(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+pidfile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("parent: %v: %s", err, out)
	}
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the program (pid %d) outlived its parent", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
