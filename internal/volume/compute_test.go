package volume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gostack/gostack/internal/api"
)

// fakeNova is a compute API that takes os-server-external-events: it records what it
// was sent (and the volume's size and status at that moment) and answers each event
// with codes[server] (200 when unset), or the whole request with fail.
type fakeNova struct {
	tc    *testCloud
	mu    sync.Mutex
	codes map[string]int
	fail  int
	order *[]string
	calls []novaCall
}

// novaCall is one request fakeNova took.
type novaCall struct {
	path, version, body string
	caller              *api.Caller
	size                int64
	status              string
}

func (n *fakeNova) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var req struct {
		Events []map[string]any `json:"events"`
	}
	_ = json.Unmarshal(b, &req)
	c := novaCall{path: r.URL.Path, version: r.Header.Get("OpenStack-API-Version"), body: string(b)}
	c.caller = api.CallerFrom(r.Context())
	if len(req.Events) > 0 {
		id, _ := req.Events[0]["tag"].(string)
		_ = n.tc.db.QueryRowContext(r.Context(), `SELECT size, status FROM volume_volumes WHERE id = ?`, id).Scan(&c.size, &c.status)
	}
	n.mu.Lock()
	n.calls = append(n.calls, c)
	*n.order = append(*n.order, "event")
	fail, codes := n.fail, n.codes
	n.mu.Unlock()
	if fail != 0 {
		api.WriteJSON(w, fail, map[string]any{"computeFault": map[string]any{"code": fail, "message": "scripted"}})
		return
	}
	status := http.StatusOK
	for _, e := range req.Events {
		code := http.StatusOK
		if c, ok := codes[e["server_uuid"].(string)]; ok {
			code = c
		}
		e["code"], e["status"] = code, "completed"
		if code != http.StatusOK {
			e["status"], status = "failed", http.StatusMultiStatus
		}
	}
	api.WriteJSON(w, status, map[string]any{"events": req.Events})
}

func (n *fakeNova) recorded() []novaCall {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.calls)
}

// extendCloud is a volume cloud whose backend records extends (failing them with
// lockErr when set, as qemu-img does on a file a guest holds) and whose compute is
// fakeNova.
func extendCloud(t *testing.T) (*testCloud, *fakeNova, *[]string, *error) {
	var (
		mu      sync.Mutex
		order   []string
		lockErr error
	)
	hook := func(ctx context.Context, op, id string) error {
		if op != "extend" {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		order = append(order, "extend")
		return lockErr
	}
	tc := newTestCloud(t, testOptions{hook: hook})
	nova := &fakeNova{tc: tc, order: &order}
	// Mounted on the shared server, as compute is, so that the trusted caller arrives.
	tc.handler.(*api.Server).Mount(api.Service{Name: "compute", Prefix: "/compute", Fault: api.KeystoneFault,
		Routes: []api.Route{{Method: "POST", Path: "/v2.1/os-server-external-events",
			Handler: func(w http.ResponseWriter, r *http.Request) error { nova.ServeHTTP(w, r); return nil }}}})
	tc.svc.SetComputeAPI(tc.handler, "/compute")
	return tc, nova, &order, &lockErr
}

// attachTo makes volume id in-use by server through the attachments API.
func (tc *testCloud) attachTo(t *testing.T, id, server string) {
	t.Helper()
	r := tc.doAs(t, tc.demoToken, "3.44", "POST", "/attachments", map[string]any{"attachment": map[string]any{
		"volume_uuid": id, "instance_uuid": server, "connector": map[string]any{"host": "compute1"}}}).want(t, http.StatusOK)
	aid := r.obj("attachment")["id"].(string)
	tc.doAs(t, tc.demoToken, "3.44", "POST", "/attachments/"+aid+"/action", map[string]any{"os-complete": nil}).want(t, http.StatusNoContent)
	tc.waitStatus(t, "/volumes/"+id, "volume", "in-use")
}

func TestExtendInUseNotifiesCompute(t *testing.T) {
	const server = "11111111-2222-4333-8444-555555555555"
	cases := []struct {
		name string
		// code is compute's answer for the server's event; fail fails the request.
		code, fail int
		// lock makes the backend's extend fail as on a file a running guest holds.
		lock       bool
		wantStatus string
		wantSize   float64
		wantOrder  []string
	}{
		{name: "the guest grew it; the backend finds it grown", code: 200, wantStatus: "in-use", wantSize: 3,
			wantOrder: []string{"event", "extend"}},
		{name: "server without a host: the backend grows it", code: 422, wantStatus: "in-use", wantSize: 3,
			wantOrder: []string{"event", "extend"}},
		{name: "server gone: the backend grows it", code: 404, wantStatus: "in-use", wantSize: 3,
			wantOrder: []string{"event", "extend"}},
		{name: "host could not act and a guest holds the file", code: 422, lock: true, wantStatus: "error_extending",
			wantSize: 1, wantOrder: []string{"event", "extend"}},
		{name: "compute refuses the event", code: 400, wantStatus: "error_extending", wantSize: 1, wantOrder: []string{"event"}},
		{name: "compute fails", fail: 500, wantStatus: "error_extending", wantSize: 1, wantOrder: []string{"event"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc, nova, order, lockErr := extendCloud(t)
			nova.codes, nova.fail = map[string]int{server: c.code}, c.fail
			if c.lock {
				*lockErr = errors.New(`qemu-img: Failed to get "write" lock`)
			}
			id := tc.createVolume(t, tc.demoToken, map[string]any{"size": 1})["id"].(string)
			tc.attachTo(t, id, server)
			tc.doAs(t, tc.demoToken, "3.42", "POST", "/volumes/"+id+"/action",
				map[string]any{"os-extend": map[string]any{"new_size": 3}}).want(t, http.StatusAccepted)
			got := tc.waitStatus(t, "/volumes/"+id, "volume", c.wantStatus)
			if got["size"] != c.wantSize {
				t.Fatalf("size %v, want %v", got["size"], c.wantSize)
			}
			calls := nova.recorded()
			if len(calls) != 1 {
				t.Fatalf("compute got %d calls", len(calls))
			}
			call := calls[0]
			wantBody := fmt.Sprintf(`{"events":[{"name":"volume-extended","server_uuid":%q,"tag":%q}]}`, server, id)
			if call.path != "/compute/v2.1/os-server-external-events" || call.version != "compute 2.51" || call.body != wantBody {
				t.Fatalf("compute call = %+v", call)
			}
			// Compute reads the new size while the volume is still extending.
			if call.size != 3 || call.status != "extending" {
				t.Fatalf("volume at the event: size %d, status %s", call.size, call.status)
			}
			if call.caller == nil || !slices.Contains(call.caller.Roles, "admin") || !slices.Contains(call.caller.Roles, "service") ||
				call.caller.ProjectID != tc.demoProjectID {
				t.Fatalf("caller = %+v", call.caller)
			}
			if !slices.Equal(*order, c.wantOrder) {
				t.Fatalf("order %v, want %v", *order, c.wantOrder)
			}
			if c.wantStatus == "error_extending" {
				r := tc.doAs(t, tc.demoToken, "3.3", "GET", "/messages", nil).want(t, http.StatusOK)
				if msgs := r.list("messages"); len(msgs) != 1 || !strings.Contains(msgs[0]["user_message"].(string), "extend volume") {
					t.Fatalf("messages: %s", r.raw)
				}
			}
		})
	}
}

func TestExtendWithoutComputeEvent(t *testing.T) {
	tc, nova, order, _ := extendCloud(t)
	// An available volume: the backend alone.
	id := tc.createVolume(t, tc.demoToken, map[string]any{"size": 1})["id"].(string)
	tc.doAs(t, tc.demoToken, "3.42", "POST", "/volumes/"+id+"/action",
		map[string]any{"os-extend": map[string]any{"new_size": 2}}).want(t, http.StatusAccepted)
	if got := tc.waitStatus(t, "/volumes/"+id, "volume", "available"); got["size"] != float64(2) {
		t.Fatalf("size %v", got["size"])
	}
	// A volume only reserved for a server is held by no guest.
	r := tc.doAs(t, tc.demoToken, "3.44", "POST", "/attachments", map[string]any{"attachment": map[string]any{
		"volume_uuid": id, "instance_uuid": "11111111-2222-4333-8444-555555555555"}}).want(t, http.StatusOK)
	if err := tc.svc.notifyExtended(t.Context(), mustVolume(t, tc, id)); err != nil {
		t.Fatal(err)
	}
	if len(nova.recorded()) != 0 || !slices.Equal(*order, []string{"extend"}) {
		t.Fatalf("compute calls %v, order %v", nova.recorded(), *order)
	}
	tc.doAs(t, tc.demoToken, "3.44", "DELETE", "/attachments/"+r.obj("attachment")["id"].(string), nil).want(t, http.StatusOK)

	// Without compute wired, an in-use volume is extended by the backend alone.
	tc.svc.SetComputeAPI(nil, "")
	tc.attachTo(t, id, "11111111-2222-4333-8444-555555555555")
	tc.doAs(t, tc.demoToken, "3.42", "POST", "/volumes/"+id+"/action",
		map[string]any{"os-extend": map[string]any{"new_size": 4}}).want(t, http.StatusAccepted)
	if got := tc.waitStatus(t, "/volumes/"+id, "volume", "in-use"); got["size"] != float64(4) {
		t.Fatalf("size %v", got["size"])
	}
	if size, _ := tc.driver.Has(id); size != 4 || len(nova.recorded()) != 0 {
		t.Fatalf("backend size %d, compute calls %d", size, len(nova.recorded()))
	}
}

// mustVolume loads a volume row.
func mustVolume(t *testing.T, tc *testCloud, id string) *volumeRec {
	t.Helper()
	v, err := loadVolumeRow(t.Context(), tc.db, id)
	if err != nil || v == nil {
		t.Fatalf("volume %s: %v", id, err)
	}
	return v
}
