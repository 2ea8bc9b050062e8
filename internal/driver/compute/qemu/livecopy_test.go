package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/platform/qmp"
)

// jobMonitor is a scripted QMP monitor for copyBlock: fakeBlocks for query-block, and
// a backup job that concludes after polls query-jobs (with jobErr), or never when
// polls < 0; fail makes one command fail; stale are jobs and nodes left from before.
type jobMonitor struct {
	mu         sync.Mutex
	calls      []string
	polls      int
	jobErr     string
	fail       string
	job        string
	status     string
	staleJob   string
	staleNodes []string
}

func (m *jobMonitor) exec(_ context.Context, cmd string, args, result any) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, cmd)
	if cmd == m.fail {
		return &qmp.Error{Class: "GenericError", Desc: "scripted failure"}
	}
	a, _ := args.(map[string]any)
	set := func(v any) error {
		b, _ := json.Marshal(v)
		return json.Unmarshal(b, result)
	}
	switch cmd {
	case "query-block":
		return json.Unmarshal([]byte(fakeBlocks), result)
	case "blockdev-backup":
		m.job, m.status = a["job-id"].(string), "running"
	case "query-jobs":
		var jobs []jobInfo
		if m.staleJob != "" {
			jobs = append(jobs, jobInfo{ID: m.staleJob, Type: "backup", Status: "concluded"})
		}
		if m.job != "" {
			if m.status == "running" && m.polls >= 0 {
				if m.polls == 0 {
					m.status = "concluded"
				}
				m.polls--
			}
			j := jobInfo{ID: m.job, Type: "backup", Status: m.status}
			if m.status == "concluded" {
				j.Error = m.jobErr
			}
			jobs = append(jobs, j)
		}
		return set(jobs)
	case "job-cancel":
		if a["id"] == m.job {
			m.status, m.jobErr = "concluded", "Operation canceled"
		}
	case "job-dismiss":
		if a["id"] == m.job {
			m.job = ""
		} else if a["id"] == m.staleJob {
			m.staleJob = ""
		}
	case "query-named-block-nodes":
		var nodes []map[string]string
		for _, n := range m.staleNodes {
			nodes = append(nodes, map[string]string{"node-name": n})
		}
		return set(nodes)
	}
	return nil
}

func (m *jobMonitor) recorded() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.calls, " ")
}

func TestCopyBlock(t *testing.T) {
	const prelude = "query-jobs query-named-block-nodes query-block "
	cases := []struct {
		name      string
		id        string
		m         *jobMonitor
		createErr bool
		cancel    bool
		wantErr   string
		want      string
		kept      bool
	}{
		{name: "done after a few polls", id: "virtio-vdb", m: &jobMonitor{polls: 2}, kept: true,
			want: prelude + "blockdev-add blockdev-backup query-jobs query-jobs query-jobs query-jobs job-dismiss blockdev-del"},
		{name: "hot-plugged volume", id: "virtio-vdc", m: &jobMonitor{}, kept: true,
			want: prelude + "blockdev-add blockdev-backup query-jobs query-jobs job-dismiss blockdev-del"},
		{name: "job error", id: "virtio-vdb", m: &jobMonitor{polls: 1, jobErr: "No space left on device"},
			wantErr: "the copy job failed: No space left on device",
			want:    prelude + "blockdev-add blockdev-backup query-jobs query-jobs query-jobs job-dismiss blockdev-del"},
		{name: "unknown device", id: "virtio-vdz", m: &jobMonitor{}, wantErr: "no block device virtio-vdz",
			want: prelude},
		{name: "create fails", id: "virtio-vdb", m: &jobMonitor{}, createErr: true, wantErr: "create the copy",
			want: prelude},
		{name: "blockdev-add fails", id: "virtio-vdb", m: &jobMonitor{fail: "blockdev-add"}, wantErr: "add the copy's node",
			want: prelude + "blockdev-add"},
		{name: "backup refused", id: "virtio-vdb", m: &jobMonitor{fail: "blockdev-backup"}, wantErr: "start the copy",
			want: prelude + "blockdev-add blockdev-backup query-jobs blockdev-del"},
		{name: "cancelled", id: "virtio-vdb", m: &jobMonitor{polls: -1}, cancel: true, wantErr: "context canceled"},
		{name: "stale job and node cleared", id: "virtio-vdb",
			m:    &jobMonitor{staleJob: "livecopy-old", staleNodes: []string{"livecopy-old-t", "drive-virtio-vdc", "#block1"}},
			kept: true,
			want: "query-jobs job-dismiss query-named-block-nodes blockdev-del query-block blockdev-add blockdev-backup query-jobs query-jobs job-dismiss blockdev-del"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "copy.qcow2")
			var size int64
			create := func(_ context.Context, n int64) error {
				size = n
				if err := os.WriteFile(dest, []byte("image"), 0o600); err != nil {
					return err
				}
				if c.createErr {
					return errors.New("qemu-img failed")
				}
				return nil
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if c.cancel {
				go func() {
					time.Sleep(20 * time.Millisecond)
					cancel()
				}()
			}
			err := copyBlock(ctx, c.m.exec, create, c.id, dest, "qcow2", time.Millisecond, 0)
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("err = %v, want %q", err, c.wantErr)
			}
			if c.want != "" && c.m.recorded() != strings.TrimSpace(c.want) {
				t.Fatalf("commands:\n%s\nwant\n%s", c.m.recorded(), c.want)
			}
			if c.cancel {
				got := c.m.recorded()
				if !strings.HasSuffix(got, "job-cancel query-jobs query-jobs job-dismiss blockdev-del") {
					t.Fatalf("a cancelled copy did not stop its job and node: %s", got)
				}
			}
			if _, err := os.Stat(dest); c.kept != (err == nil) {
				t.Fatalf("dest kept = %v, want %v", err == nil, c.kept)
			}
			if c.m.job != "" {
				t.Fatalf("job %s left behind", c.m.job)
			}
			if c.kept && c.id == "virtio-vdc" && size != 2<<30 || c.kept && c.id == "virtio-vdb" && size != 1<<30 {
				t.Fatalf("target made with %d bytes", size)
			}
		})
	}
}

func TestCopyVolumeNotRunning(t *testing.T) {
	d := newTestDriver(t, recorderFor(t, 64<<20))
	ctx := t.Context()
	inst := testInstance(writeImage(t, qcow2Header()))
	conn := map[string]any{"driver_volume_type": "file", "data": map[string]any{"path": "/srv/volumes/v1.qcow2", "format": "qcow2"}}
	dest := filepath.Join(t.TempDir(), "copy.qcow2")
	if err := d.CopyVolume(ctx, inst, "/dev/vdd", conn, dest, "qcow2"); !errors.Is(err, computedriver.ErrNotFound) {
		t.Fatalf("copy on a missing guest: %v", err)
	}
	if err := d.Spawn(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if err := d.AttachVolume(ctx, inst, "/dev/vdd", conn); err != nil {
		t.Fatal(err)
	}
	if err := d.CopyVolume(ctx, inst, "/dev/vdd", conn, dest, "qcow2"); !errors.Is(err, computedriver.ErrNotRunning) {
		t.Fatalf("copy on a stopped guest: %v, want ErrNotRunning", err)
	}
	for _, bad := range []struct{ device, format, want string }{
		{"/dev/vdb", "qcow2", "no volume at /dev/vdb"},
		{"/dev/vdd", "vmdk", "unsupported format"},
	} {
		if err := d.CopyVolume(ctx, inst, bad.device, conn, dest, bad.format); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("copy %s as %s: %v, want %q", bad.device, bad.format, err, bad.want)
		}
	}
	if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("refused copies made a file: %v", err)
	}
}
