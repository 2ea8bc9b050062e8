package compute

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/api"
	blockfake "github.com/gostack/gostack/internal/driver/block/fake"
	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/driver/compute/fake"
	"github.com/gostack/gostack/internal/testkit"
	"github.com/gostack/gostack/internal/volume"
)

// volumeCloud is the server fixture with one fake compute host and the volume service
// (fake block backend) wired to compute both ways, as app.Up wires them.
type volumeCloud struct {
	*serverFixture
	host    *fake.Driver
	backend *blockfake.Driver
	vol     *volume.Service
	// extends records each backend extend as "volume:size:guestBytes", the guest's
	// size of the volume's device when it ran.
	mu      sync.Mutex
	extends []string
}

// backendHook records the backend's extends and makes one fail as qemu-img does on a file a running
// QEMU holds: when the volume's server runs and its guest did not grow the device to
// the volume's (already recorded) new size.
func (vc *volumeCloud) backendHook(ctx context.Context, op, id string) error {
	if op != "extend" {
		return nil
	}
	var size int64
	if err := vc.db.QueryRowContext(ctx, `SELECT size FROM volume_volumes WHERE id = ?`, id).Scan(&size); err != nil {
		return err
	}
	var server, device string
	_ = vc.db.QueryRowContext(ctx, `SELECT instance_uuid, device_name FROM compute_block_device_mappings WHERE volume_id = ?`,
		id).Scan(&server, &device)
	g, running := vc.host.Guest(server)
	running = running && g.State == computedriver.Running
	vc.mu.Lock()
	vc.extends = append(vc.extends, fmt.Sprintf("%d:%d", size, g.VolumeSizes[device]))
	vc.mu.Unlock()
	if running && g.VolumeSizes[device] < size<<30 {
		return errors.New(`qemu-img: Failed to get "write" lock`)
	}
	return nil
}

func newVolumeCloud(t *testing.T) *volumeCloud {
	t.Helper()
	vc := &volumeCloud{serverFixture: newServerCloud(t)}
	vc.host = vc.startCompute(t, 1)["fake-host-1"]
	ctx := context.Background()
	vol, err := volume.New(ctx, vc.db, vc.enf, volume.Config{Host: "testhost"}, volume.Deps{}, vc.log)
	if err != nil {
		t.Fatal(err)
	}
	vc.backend = blockfake.New(blockfake.Config{Name: "file", Hook: vc.backendHook})
	vol.SetBackend(vc.backend, blockfake.NewBackupStore())
	srv := vc.handler.(*api.Server)
	srv.Mount(vol.APIService())
	vc.svc.SetVolumeAPI(srv, "/volume")
	vol.SetComputeAPI(srv, "/compute")
	vol.SetVolumeCopier(vc.svc)
	vc.vol = vol
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		vol.Run(runCtx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return vc
}

// volumeAPI sends a volume request as the demo user at microversion 3.42.
func (vc *volumeCloud) volumeAPI(t *testing.T, method, path string, body any) resp {
	t.Helper()
	r := testkit.Serve(t, vc.handler, method, "/volume/v3/"+vc.demoProjectID+path,
		map[string]string{"X-Auth-Token": vc.demoToken, "OpenStack-API-Version": "volume 3.42"}, body)
	return resp{code: r.Code, header: r.Header, body: r.Body, raw: r.Raw}
}

// waitVolume waits until the volume has status and size.
func (vc *volumeCloud) waitVolume(t *testing.T, id, status string, size int64) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v := vc.volumeAPI(t, "GET", "/volumes/"+id, nil).want(t, http.StatusOK).obj("volume")
		if v["status"] == status && v["size"] == float64(size) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("volume %s: status %v size %v, want %s %d", id, v["status"], v["size"], status, size)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// extend extends volume id to size through the volume API.
func (vc *volumeCloud) extend(t *testing.T, id string, size int64) {
	t.Helper()
	vc.volumeAPI(t, "POST", "/volumes/"+id+"/action", map[string]any{"os-extend": map[string]any{"new_size": size}}).
		want(t, http.StatusAccepted)
}

// bdmSize is the volume size compute recorded on the volume's mapping.
func (vc *volumeCloud) bdmSize(t *testing.T, id string) int64 {
	t.Helper()
	var n int64
	if err := vc.db.QueryRowContext(context.Background(), `SELECT volume_size FROM compute_block_device_mappings
		WHERE volume_id = ?`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestExtendAttachedVolume(t *testing.T) {
	vc := newVolumeCloud(t)
	server := vc.createServer(t, vc.demoToken, "2.37", nil)
	vc.waitStatus(t, server, "ACTIVE")
	vid := vc.volumeAPI(t, "POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1}}).
		want(t, http.StatusAccepted).obj("volume")["id"].(string)
	vc.waitVolume(t, vid, "available", 1)
	att := vc.doAs(t, vc.demoToken, "2.1", "POST", "/v2.1/servers/"+server+"/os-volume_attachments",
		map[string]any{"volumeAttachment": map[string]any{"volumeId": vid}}).want(t, http.StatusOK).obj("volumeAttachment")
	device := att["device"].(string)
	vc.waitVolume(t, vid, "in-use", 1)
	guestSize := func() int64 {
		g, _ := vc.host.Guest(server)
		return g.VolumeSizes[device]
	}

	// A running server: its hypervisor grows the device before the backend's extend,
	// which then finds the volume grown.
	vc.extend(t, vid, 2)
	vc.waitVolume(t, vid, "in-use", 2)
	if guestSize() != 2<<30 || vc.bdmSize(t, vid) != 2 {
		t.Fatalf("guest size %d, mapping size %d", guestSize(), vc.bdmSize(t, vid))
	}
	if size, _ := vc.backend.Has(vid); size != 2 {
		t.Fatalf("backend size %d", size)
	}
	// Nova records the event as an "extend_volume" action with a compute_extend_volume
	// event (tempest waits for it).
	var result string
	if err := vc.db.QueryRowContext(t.Context(), `SELECT e.result FROM compute_instance_action_events e
		JOIN compute_instance_actions a ON a.id = e.action_id
		WHERE a.instance_uuid = ? AND a.action = 'extend_volume' AND e.event = 'compute_extend_volume'`, server).Scan(&result); err != nil || result != "Success" {
		t.Fatalf("extend_volume action event: %q, %v", result, err)
	}

	// A stopped server: the guest is left alone and the backend grows the volume.
	vc.doAs(t, vc.demoToken, "2.1", "POST", "/v2.1/servers/"+server+"/action", map[string]any{"os-stop": nil}).want(t, http.StatusAccepted)
	vc.waitStatus(t, server, "SHUTOFF")
	vc.extend(t, vid, 3)
	vc.waitVolume(t, vid, "in-use", 3)
	if guestSize() != 2<<30 || vc.bdmSize(t, vid) != 3 {
		t.Fatalf("stopped: guest size %d, mapping size %d", guestSize(), vc.bdmSize(t, vid))
	}
	if size, _ := vc.backend.Has(vid); size != 3 {
		t.Fatalf("backend size %d", size)
	}

	// The hypervisor fails while the guest runs: the volume cannot grow under it.
	vc.doAs(t, vc.demoToken, "2.1", "POST", "/v2.1/servers/"+server+"/action", map[string]any{"os-start": nil}).want(t, http.StatusAccepted)
	vc.waitStatus(t, server, "ACTIVE")
	vc.doAs(t, vc.demoToken, "2.1", "POST", "/v2.1/servers/"+server+"/metadata",
		map[string]any{"metadata": map[string]any{"fake:fail": "extend_volume"}}).want(t, http.StatusOK)
	vc.extend(t, vid, 4)
	vc.waitVolume(t, vid, "error_extending", 3)
	if guestSize() != 2<<30 {
		t.Fatalf("failed extend: guest size %d", guestSize())
	}
	vc.mu.Lock()
	got := fmt.Sprint(vc.extends)
	vc.mu.Unlock()
	if want := fmt.Sprint([]string{"2:2147483648", "3:2147483648", "4:2147483648"}); got != want {
		t.Fatalf("backend extends (size:guest bytes) %s, want %s", got, want)
	}
}

func TestVolumeExtendedEvent(t *testing.T) {
	vc := newVolumeCloud(t)
	server := vc.createServer(t, vc.demoToken, "2.37", nil)
	vc.waitStatus(t, server, "ACTIVE")
	vid := vc.volumeAPI(t, "POST", "/volumes", map[string]any{"volume": map[string]any{"size": 2}}).
		want(t, http.StatusAccepted).obj("volume")["id"].(string)
	vc.waitVolume(t, vid, "available", 2)
	att := vc.doAs(t, vc.demoToken, "2.1", "POST", "/v2.1/servers/"+server+"/os-volume_attachments",
		map[string]any{"volumeAttachment": map[string]any{"volumeId": vid}}).want(t, http.StatusOK).obj("volumeAttachment")
	vc.waitVolume(t, vid, "in-use", 2)
	event := func(tag string) map[string]any {
		return map[string]any{"events": []any{map[string]any{"name": "volume-extended", "server_uuid": server, "tag": tag}}}
	}
	cases := []struct {
		name, ver, tag string
		status         int
		code           float64
		wantSize       int64
	}{
		// Before 2.51 the event does not exist.
		{name: "2.50", ver: "2.50", tag: vid, status: http.StatusBadRequest},
		// A volume the server does not have is ignored, as Nova does.
		{name: "other volume", ver: "2.51", tag: "6e0c1ad2-8f0b-4c55-9d2a-1a2b3c4d5e6f", status: http.StatusOK, code: 200},
		// The volume's current size reaches the guest.
		{name: "attached volume", ver: "2.51", tag: vid, status: http.StatusOK, code: 200, wantSize: 2 << 30},
	}
	for _, c := range cases {
		r := vc.do(t, c.ver, "POST", "/v2.1/os-server-external-events", event(c.tag)).want(t, c.status)
		if c.code != 0 {
			if got := r.list("events"); len(got) != 1 || got[0]["code"] != c.code || got[0]["tag"] != c.tag {
				t.Fatalf("%s: events %s", c.name, r.raw)
			}
		}
		if g, _ := vc.host.Guest(server); g.VolumeSizes[att["device"].(string)] != c.wantSize {
			t.Fatalf("%s: guest sizes %v", c.name, g.VolumeSizes)
		}
	}
	// A host this process does not serve cannot be asked: 422, as a server without one.
	if _, err := vc.db.ExecContext(context.Background(), `UPDATE compute_instances SET host = ? WHERE uuid = ?`, "elsewhere", server); err != nil {
		t.Fatal(err)
	}
	r := vc.do(t, "2.51", "POST", "/v2.1/os-server-external-events", event(vid)).want(t, http.StatusMultiStatus)
	if got := r.list("events"); got[0]["code"] != float64(422) || got[0]["status"] != "failed" {
		t.Fatalf("elsewhere: %s", r.raw)
	}
}
