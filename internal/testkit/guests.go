package testkit

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// GuestPIDs returns the PIDs of the QEMU guests of a data directory, by instance uuid:
// the processes named in <data-dir>/instances/*/qemu.pid whose command line is a QEMU
// started for that instance (a stale pid file or a recycled PID is left out).
func GuestPIDs(dataDir string) map[string]int {
	out := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(dataDir, "instances", "*", "qemu.pid"))
	for _, f := range files {
		uuid := filepath.Base(filepath.Dir(f))
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 1 {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil || !strings.Contains(string(cmdline), "\x00"+uuid+"\x00") || !strings.Contains(string(cmdline), "qemu") {
			continue
		}
		out[uuid] = pid
	}
	return out
}

// killGuests kills the QEMU guests a test's gostack left running (they outlive gostack
// by design, so stopping gostack does not end them), waits until they are gone and
// removes the socket directories kept outside the data directory (when its path is too
// long for a unix socket).
func killGuests(dataDir string) {
	defer removeSocketDirs(dataDir)
	pids := GuestPIDs(dataDir)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for time.Now().Before(deadline) {
			if err := syscall.Kill(pid, 0); err != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// removeSocketDirs removes the guests' socket directories kept outside the data directory.
func removeSocketDirs(dataDir string) {
	files, _ := filepath.Glob(filepath.Join(dataDir, "instances", "*", "instance.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var g struct {
			SocketDir string `json:"socket_dir"`
		}
		if json.Unmarshal(b, &g) != nil || g.SocketDir == "" {
			continue
		}
		uuid := filepath.Base(filepath.Dir(f))
		if filepath.Base(g.SocketDir) == uuid && !strings.HasPrefix(g.SocketDir, dataDir+string(filepath.Separator)) {
			_ = os.RemoveAll(g.SocketDir)
		}
	}
}
