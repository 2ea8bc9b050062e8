// Package platform is the one way gostack acts on its host: every program it runs
// (qemu-img, qemu-system-*, ip, nft, haproxy) goes through a Runner, so that drivers can
// be tested by recording the exact commands they issue, without root and without the
// programs installed, and so that logging and timeouts live in one place.
package platform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
)

// Command is one program invocation.
type Command struct {
	// Name is the program (looked up in PATH) and Args its arguments.
	Name string
	Args []string
	// Dir is the working directory ("" the current one); Env extra KEY=VALUE pairs.
	Dir string
	Env []string
	// Stdin, when set, is fed to the program.
	Stdin []byte
}

// String renders the command as a shell would show it (for logs and golden files).
func (c Command) String() string {
	var b strings.Builder
	b.WriteString(c.Name)
	for _, a := range c.Args {
		b.WriteByte(' ')
		if a == "" || strings.ContainsAny(a, " \t\"'\\$") {
			fmt.Fprintf(&b, "%q", a)
		} else {
			b.WriteString(a)
		}
	}
	return b.String()
}

// Detached describes a long-running program started so that it outlives gostack (its
// own session and process group, not a child that dies with us).
type Detached struct {
	Command
	// Stdout and Stderr are files the program's output goes to ("" discards it).
	Stdout, Stderr string
}

// Runner runs host programs.
type Runner interface {
	// Run runs cmd to completion and returns its standard output. A non-zero exit is an
	// *ExitError carrying the standard error.
	Run(ctx context.Context, cmd Command) ([]byte, error)
	// Start starts a detached program and returns its PID without waiting for it.
	Start(ctx context.Context, cmd Detached) (int, error)
	// LookPath reports where a program is, or an error when it is not installed.
	LookPath(name string) (string, error)
}

// ExitError is a program that ran and failed.
type ExitError struct {
	Command  string
	ExitCode int
	Stderr   string
}

func (e *ExitError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	return fmt.Sprintf("%s: exit status %d: %s", e.Command, e.ExitCode, msg)
}

// Exec is the real Runner: it executes programs on this host.
type Exec struct {
	// Log receives one debug line per command; nil discards.
	Log *slog.Logger
}

var _ Runner = (*Exec)(nil)

// Run implements Runner.
func (x *Exec) Run(ctx context.Context, c Command) ([]byte, error) {
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	cmd.Dir = c.Dir
	if len(c.Env) > 0 {
		cmd.Env = append(os.Environ(), c.Env...)
	}
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if x.Log != nil {
		x.Log.Debug("exec", "cmd", c.String())
	}
	// The program dies with gostack: a command gostack waits for (a probe guest, a
	// conversion) must not outlive it, which the context's kill does not ensure when the
	// whole process exits first (a KVM probe hanging on a broken /dev/kvm stayed behind).
	// The parent-death signal follows the thread that forked, so the thread is kept for
	// the program's lifetime.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	err := cmd.Run()
	runtime.UnlockOSThread()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return stdout.Bytes(), &ExitError{Command: c.Name, ExitCode: ee.ExitCode(), Stderr: stderr.String()}
		}
		return stdout.Bytes(), fmt.Errorf("%s: %w", c.Name, err)
	}
	return stdout.Bytes(), nil
}

// Start implements Runner: the program gets its own session (setsid), so a signal to
// gostack's process group does not reach it, and it is reaped by a goroutine while
// gostack lives (init adopts it after gostack exits).
func (x *Exec) Start(ctx context.Context, c Detached) (int, error) {
	cmd := exec.Command(c.Name, c.Args...)
	cmd.Dir = c.Dir
	if len(c.Env) > 0 {
		cmd.Env = append(os.Environ(), c.Env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	open := func(path string) (*os.File, error) {
		if path == "" {
			return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		}
		return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	}
	out, err := open(c.Stdout)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	errf, err := open(c.Stderr)
	if err != nil {
		return 0, err
	}
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = out, errf
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	if x.Log != nil {
		x.Log.Debug("start", "cmd", c.String())
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("%s: %w", c.Name, err)
	}
	pid := cmd.Process.Pid
	go cmd.Wait() //nolint:errcheck // reaping only; the owner watches the process by pid
	return pid, nil
}

// LookPath implements Runner.
func (x *Exec) LookPath(name string) (string, error) { return exec.LookPath(name) }

// Recorder is a Runner for tests: it records every command and answers from a table
// of canned results, so tests compare the exact commands a driver issues.
type Recorder struct {
	mu       sync.Mutex
	commands []string
	// Reply, when set, answers a command (by its String form); the default answers
	// every command with empty output and success.
	Reply   func(c Command) ([]byte, error)
	nextPID int
}

var _ Runner = (*Recorder)(nil)

// Run implements Runner.
func (r *Recorder) Run(_ context.Context, c Command) ([]byte, error) {
	r.mu.Lock()
	r.commands = append(r.commands, c.String())
	reply := r.Reply
	r.mu.Unlock()
	if reply != nil {
		return reply(c)
	}
	return nil, nil
}

// Start implements Runner; it returns made-up PIDs from 100000 upwards.
func (r *Recorder) Start(_ context.Context, c Detached) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.commands = append(r.commands, "start: "+c.String())
	if r.nextPID == 0 {
		r.nextPID = 100000
	}
	r.nextPID++
	return r.nextPID, nil
}

// LookPath implements Runner; every program is "installed" at /usr/bin.
func (r *Recorder) LookPath(name string) (string, error) { return "/usr/bin/" + name, nil }

// Commands returns the commands recorded so far, in order.
func (r *Recorder) Commands() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.commands...)
}
