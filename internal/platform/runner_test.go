package platform

import (
	"context"
	"errors"
	"testing"
)

func TestExecRunReportsExitAndStderr(t *testing.T) {
	x := &Exec{}
	out, err := x.Run(context.Background(), Command{Name: "sh", Args: []string{"-c", "echo out; echo bad >&2; exit 3"}})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.ExitCode != 3 || ee.Stderr != "bad\n" {
		t.Fatalf("err = %#v", err)
	}
	if string(out) != "out\n" {
		t.Fatalf("out = %q", out)
	}
}

func TestCommandString(t *testing.T) {
	c := Command{Name: "qemu-img", Args: []string{"create", "-f", "qcow2", "/a b", ""}}
	if got, want := c.String(), `qemu-img create -f qcow2 "/a b" ""`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}

func TestRecorder(t *testing.T) {
	r := &Recorder{}
	r.Run(context.Background(), Command{Name: "ip", Args: []string{"link"}})
	pid, _ := r.Start(context.Background(), Detached{Command: Command{Name: "qemu"}})
	if pid <= 100000 {
		t.Fatalf("pid %d", pid)
	}
	if got := r.Commands(); len(got) != 2 || got[0] != "ip link" || got[1] != "start: qemu" {
		t.Fatalf("commands %q", got)
	}
}
