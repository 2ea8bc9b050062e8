package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/testkit"
)

// TestComputeKillDuringCreates kills gostack with SIGKILL while 50 creates are in flight
// (the fake hosts take 300 ms per spawn), restarts it and checks that every server ends
// ACTIVE or ERROR and that Placement holds exactly the allocations of existing servers.
func TestComputeKillDuringCreates(t *testing.T) {
	t.Parallel()
	c := start(t, testkit.WithFile("gostack.toml",
		"[compute]\ndriver = 'fake'\nfake_hosts = 2\nfake_spawn_delay = '300ms'\n"))
	imageID := uploadTinyImage(t, c, "testvm")
	osRun(t, c, "gostack-admin", "quota", "set", "--instances", "100", "--cores", "1000", "--ram", "10000000", "demo")
	tok := c.PasswordToken(t, "demo", c.DemoPassword, "demo")
	hdr := map[string]string{"X-Auth-Token": tok, "OpenStack-API-Version": "compute 2.37"}

	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ids []string
	)
	killed := make(chan struct{})
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := map[string]any{"server": map[string]any{"name": fmt.Sprintf("k%d", i), "imageRef": imageID,
				"flavorRef": "42", "networks": "none"}}
			code, _, b := requestNoFail(c, "POST", "/compute/v2.1/servers", hdr, body)
			if code != http.StatusAccepted {
				return // refused or cut off by the kill
			}
			var out struct {
				Server struct{ ID string } `json:"server"`
			}
			if json.Unmarshal(b, &out) == nil && out.Server.ID != "" {
				mu.Lock()
				ids = append(ids, out.Server.ID)
				mu.Unlock()
			}
		}()
		if i == 30 {
			go func() {
				time.Sleep(150 * time.Millisecond)
				c.Kill()
				close(killed)
			}()
		}
	}
	wg.Wait()
	<-killed
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	tok = c.PasswordToken(t, "demo", c.DemoPassword, "demo")
	hdr["X-Auth-Token"] = tok
	admin := map[string]string{"X-Auth-Token": c.PasswordToken(t, "admin", c.AdminPassword, "admin"),
		"OpenStack-API-Version": "compute 2.37"}

	// Every server the API accepted before the kill (and any it accepted but could not
	// answer) ends ACTIVE or ERROR.
	deadline := time.Now().Add(90 * time.Second)
	var servers []map[string]any
	for {
		code, _, b := c.Request(t, "GET", "/compute/v2.1/servers/detail?all_tenants=1", admin, nil)
		if code != 200 {
			t.Fatalf("list servers: %d %s", code, b)
		}
		var out struct {
			Servers []map[string]any `json:"servers"`
		}
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		servers = out.Servers
		settled := true
		for _, s := range servers {
			if st := s["status"]; st != "ACTIVE" && st != "ERROR" {
				settled = false
			}
		}
		if settled || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	seen := map[string]bool{}
	for _, s := range servers {
		seen[s["id"].(string)] = true
		if st := s["status"]; st != "ACTIVE" && st != "ERROR" {
			t.Errorf("server %s stuck in %v (task %v)", s["id"], st, s["OS-EXT-STS:task_state"])
		}
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("server %s was accepted (202) before the kill but is gone", id)
		}
	}
	t.Logf("%d creates answered 202 before the kill; %d servers after the restart", len(ids), len(servers))

	// Placement: the usages of every provider equal the sum of the allocations of the
	// existing servers on it.
	place := map[string]string{"X-Auth-Token": admin["X-Auth-Token"], "OpenStack-API-Version": "placement 1.39"}
	want := map[string]map[string]float64{}
	for _, s := range servers {
		code, _, b := c.Request(t, "GET", "/placement/allocations/"+s["id"].(string), place, nil)
		if code != 200 {
			t.Fatalf("allocations of %s: %d %s", s["id"], code, b)
		}
		var a struct {
			Allocations map[string]struct {
				Resources map[string]float64 `json:"resources"`
			} `json:"allocations"`
		}
		_ = json.Unmarshal(b, &a)
		for rp, alloc := range a.Allocations {
			if want[rp] == nil {
				want[rp] = map[string]float64{}
			}
			for rc, n := range alloc.Resources {
				want[rp][rc] += n
			}
		}
	}
	code, _, b := c.Request(t, "GET", "/placement/resource_providers", place, nil)
	if code != 200 {
		t.Fatalf("resource providers: %d %s", code, b)
	}
	var rps struct {
		ResourceProviders []struct{ UUID string } `json:"resource_providers"`
	}
	_ = json.Unmarshal(b, &rps)
	for _, rp := range rps.ResourceProviders {
		_, _, b := c.Request(t, "GET", "/placement/resource_providers/"+rp.UUID+"/usages", place, nil)
		var u struct {
			Usages map[string]float64 `json:"usages"`
		}
		_ = json.Unmarshal(b, &u)
		for rc, n := range u.Usages {
			if n != want[rp.UUID][rc] {
				t.Errorf("provider %s %s: usage %v, existing servers hold %v", rp.UUID, rc, n, want[rp.UUID][rc])
			}
		}
	}
}

// requestNoFail is Cloud.Request without failing the test on a transport error (the
// process may be killed mid-request); the status is 0 then.
func requestNoFail(c *testkit.Cloud, method, path string, header map[string]string, body any) (int, http.Header, []byte) {
	var rd *jsonBody
	if body != nil {
		rd = newJSONBody(body)
	}
	req, err := http.NewRequest(method, c.URL+path, rd.reader())
	if err != nil {
		return 0, nil, nil
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, nil
	}
	defer resp.Body.Close()
	var buf [1 << 16]byte
	n, _ := readFull(resp.Body, buf[:])
	return resp.StatusCode, resp.Header, buf[:n]
}

// jsonBody is a JSON request body.
type jsonBody struct{ b []byte }

func newJSONBody(v any) *jsonBody {
	b, _ := json.Marshal(v)
	return &jsonBody{b: b}
}

func (j *jsonBody) reader() io.Reader {
	if j == nil {
		return nil
	}
	return bytes.NewReader(j.b)
}

// readFull reads until buf is full or the reader ends.
func readFull(r io.Reader, buf []byte) (int, error) {
	n, err := io.ReadFull(r, buf)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil
	}
	return n, err
}
