package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/testkit"
)

// TestVolumeKillDuringOperations kills gostack with SIGKILL while volume creates (empty,
// from an image, restored from a backup), deletes, snapshots, snapshot deletes, backups
// (incremental and of a snapshot) and backup deletes are in flight, restarts it, and
// checks that
//   - every volume, snapshot and backup reaches a final status within a bounded time,
//     and every operation the API accepted (202) before the kill completed: nothing ends
//     in error, nothing accepted is lost, nothing is duplicated;
//   - the file backend agrees with the records: every available volume and snapshot has
//     its file and every available backup its manifest, volumes made from the image hold
//     the image's bytes, nothing deleted left data behind, no temporary file is left, and
//     every file of the backend belongs to a live record or is one the reconcile pass
//     reported in the log.
func TestVolumeKillDuringOperations(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img is not installed (scripts/deps installs qemu-utils)")
	}
	began := time.Now()
	c := start(t)

	// An image with data (not zeros, which the driver skips), big enough that a volume
	// made from it takes a moment.
	imgPath := filepath.Join(t.TempDir(), "pattern.raw")
	if err := os.WriteFile(imgPath, bytes.Repeat([]byte("gostack-restart-pattern."), 1<<20), 0o644); err != nil { // 24 MiB
		t.Fatal(err)
	}
	img := osJSON[row](t, c, "gostack-admin", "image", "create", "--public", "--disk-format", "raw",
		"--container-format", "bare", "--file", imgPath, "pattern")
	imageID := str(img, "id")

	admin := newCinderClient(t, c, "admin", c.AdminPassword, "admin")
	demo := newCinderClient(t, c, "demo", c.DemoPassword, "demo")
	admin.must(t, "PUT", "/os-quota-sets/"+demo.project, map[string]any{"quota_set": map[string]any{
		"volumes": 200, "snapshots": 200, "backups": 200, "gigabytes": 5000, "backup_gigabytes": 5000}}, http.StatusOK)

	// The resources the load phase works on, made and settled first.
	seed := func(name string) string {
		return demo.create(t, "volumes", "volume", map[string]any{"size": 1, "name": name})
	}
	var (
		seedDel  = []string{seed("seed-del-0"), seed("seed-del-1"), seed("seed-del-2")}
		seedSnap = []string{seed("seed-snap-0"), seed("seed-snap-1"), seed("seed-snap-2")}
		seedBak  = []string{seed("seed-bak-0"), seed("seed-bak-1")}
		seedHold = seed("seed-hold")
	)
	allSeeds := append(append(append(append([]string{}, seedDel...), seedSnap...), seedBak...), seedHold)
	for _, id := range allSeeds {
		demo.wait(t, "volumes", "volume", id, "available")
	}
	snapGone := demo.create(t, "snapshots", "snapshot", map[string]any{"volume_id": seedHold, "name": "snap-gone"})
	snapKeep := demo.create(t, "snapshots", "snapshot", map[string]any{"volume_id": seedHold, "name": "snap-keep"})
	demo.wait(t, "snapshots", "snapshot", snapGone, "available")
	demo.wait(t, "snapshots", "snapshot", snapKeep, "available")
	bakParent := demo.create(t, "backups", "backup", map[string]any{"volume_id": seedBak[0], "name": "bak-parent"})
	demo.wait(t, "backups", "backup", bakParent, "available")
	demo.wait(t, "volumes", "volume", seedBak[0], "available")
	bakGone := demo.create(t, "backups", "backup", map[string]any{"volume_id": seedBak[1], "name": "bak-gone"})
	demo.wait(t, "backups", "backup", bakGone, "available")
	demo.wait(t, "volumes", "volume", seedBak[1], "available")
	bakRestore := demo.create(t, "backups", "backup", map[string]any{"volume_id": seedHold, "name": "bak-restore"})
	demo.wait(t, "backups", "backup", bakRestore, "available")
	demo.wait(t, "volumes", "volume", seedHold, "available")
	setup := time.Since(began)

	// The load: everything at once, each request recording what the API answered.
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted int // requests answered 202, to decide when to kill
		ops      []op
	)
	record := func(o op) {
		mu.Lock()
		ops = append(ops, o)
		if o.code == http.StatusAccepted {
			accepted++
		}
		mu.Unlock()
	}
	killed := make(chan struct{})
	var killDelay time.Duration
	send := func(kind, method, path string, body any, target string) op {
		o := op{kind: kind, target: target}
		if body != nil {
			if m, ok := body.(map[string]any); ok {
				for _, v := range m {
					if vm, ok := v.(map[string]any); ok {
						o.name, _ = vm["name"].(string)
						_, o.fromImage = vm["imageRef"]
					}
				}
			}
		}
		var b []byte
		o.code, _, b = requestNoFail(c, method, "/volume/v3/"+demo.project+path, demo.header(), body)
		if o.code == http.StatusAccepted && method == "POST" {
			var out map[string]map[string]any
			if json.Unmarshal(b, &out) == nil {
				for _, v := range out {
					o.id, _ = v["id"].(string)
					if o.id == "" { // a restore answers with the new volume's id
						o.id, _ = v["volume_id"].(string)
					}
				}
			}
		} else if o.code != http.StatusAccepted && o.code != 0 {
			o.err = string(b)
		}
		record(o)
		return o
	}
	const creates = 20
	for i := range creates {
		wg.Go(func() {
			vol := map[string]any{"size": 1, "name": fmt.Sprintf("load-%02d", i)}
			if i%3 == 0 {
				vol["imageRef"] = imageID
			}
			o := send("create", "POST", "/volumes", map[string]any{"volume": vol}, "")
			if o.code != http.StatusAccepted || i%5 != 1 {
				return
			}
			// Some volumes are deleted as soon as they are available, so that deletes of
			// fresh volumes are in flight too.
			for {
				select {
				case <-killed:
					return
				default:
				}
				code, _, b := requestNoFail(c, "GET", "/volume/v3/"+demo.project+"/volumes/"+o.id, demo.header(), nil)
				if code != http.StatusOK {
					return
				}
				var v struct{ Volume struct{ Status string } }
				_ = json.Unmarshal(b, &v)
				if v.Volume.Status == "available" {
					send("delete", "DELETE", "/volumes/"+o.id, nil, o.id)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	for _, id := range seedDel {
		wg.Go(func() { send("delete", "DELETE", "/volumes/"+id, nil, id) })
	}
	for i, id := range seedSnap {
		wg.Go(func() {
			send("snapshot", "POST", "/snapshots", map[string]any{"snapshot": map[string]any{
				"volume_id": id, "name": fmt.Sprintf("load-snap-%d", i)}}, id)
		})
	}
	wg.Go(func() { send("snapshot-delete", "DELETE", "/snapshots/"+snapGone, nil, snapGone) })
	wg.Go(func() {
		send("backup", "POST", "/backups", map[string]any{"backup": map[string]any{
			"volume_id": seedBak[0], "name": "load-bak-incr", "incremental": true}}, seedBak[0])
	})
	wg.Go(func() {
		send("backup", "POST", "/backups", map[string]any{"backup": map[string]any{
			"volume_id": seedHold, "snapshot_id": snapKeep, "name": "load-bak-snap"}}, seedHold)
	})
	wg.Go(func() { send("backup-delete", "DELETE", "/backups/"+bakGone, nil, bakGone) })
	wg.Go(func() {
		// A restore makes a new volume: it counts as a create.
		send("create", "POST", "/backups/"+bakRestore+"/restore", map[string]any{"restore": map[string]any{
			"name": "load-restored"}}, bakRestore)
	})
	loadStart := time.Now()
	go func() {
		defer close(killed)
		// Kill once some work was accepted, after a varying delay, so that the kill
		// lands at a different point of the work in every run.
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			n := accepted
			mu.Unlock()
			if n >= 8 || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		// The whole load takes a few seconds: the delay spreads the kills over it
		// (image copies, snapshots and backups under way, deletes of fresh volumes).
		killDelay = time.Duration(100+rand.IntN(2000)) * time.Millisecond
		time.Sleep(killDelay)
		c.Kill()
	}()
	wg.Wait()
	<-killed
	killedAfter := time.Since(loadStart)
	restartAt := time.Now()
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	demo.login(t)

	// Every resource reaches a final status.
	final := map[string]bool{"available": true, "error": true, "error_deleting": true, "error_restoring": true,
		"error_extending": true}
	deadline := time.Now().Add(2 * time.Minute)
	var vols, snaps, baks []map[string]any
	reportedSources := map[string]bool{}
	for {
		// Listed in this order, a backup still creating was creating when its source
		// was listed, and so held its source backing-up then.
		vols = demo.list(t, "volumes")
		snaps = demo.list(t, "snapshots")
		baks = demo.list(t, "backups")
		checkBackupSources(t, vols, snaps, baks, reportedSources)
		settled := true
		for _, set := range [][]map[string]any{vols, snaps, baks} {
			for _, r := range set {
				if !final[str(r, "status")] {
					settled = false
				}
			}
		}
		if settled || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	settle := time.Since(restartAt)
	for kind, set := range map[string][]map[string]any{"volume": vols, "snapshot": snaps, "backup": baks} {
		for _, r := range set {
			switch st := str(r, "status"); {
			case !final[st]:
				t.Errorf("%s %s (%s) still %s two minutes after the restart", kind, str(r, "id"), str(r, "name"), st)
			case st != "available":
				// Every step of every operation is idempotent and re-run after a crash:
				// nothing the API accepted may fail because of the kill.
				t.Errorf("%s %s (%s) ended %s after the restart", kind, str(r, "id"), str(r, "name"), st)
			}
		}
	}

	// Nothing lost, nothing duplicated: the volumes are the seeds plus the accepted
	// creates minus the accepted deletes; a create whose answer the kill cut off may or
	// may not have been committed, and a delete likewise.
	byID := map[string]map[string]any{}
	names := map[string]int{}
	for _, v := range vols {
		byID[str(v, "id")] = v
		names[str(v, "name")]++
	}
	for n, k := range names {
		if k > 1 {
			t.Errorf("%d volumes are named %q: a create ran twice", k, n)
		}
	}
	want := map[string]bool{}
	for _, id := range allSeeds {
		want[id] = true
	}
	maybe := map[string]bool{}      // ids whose delete's answer was lost
	maybeNames := map[string]bool{} // names whose create's answer was lost
	deleted := map[string]bool{}    // ids whose delete was accepted
	var nCreate, nDelete, nLost int
	counts := map[string]map[int]int{}
	for _, o := range ops {
		if counts[o.kind] == nil {
			counts[o.kind] = map[int]int{}
		}
		counts[o.kind][o.code]++
		if o.fromImage {
			if counts["create-image"] == nil {
				counts["create-image"] = map[int]int{}
			}
			counts["create-image"][o.code]++
		}
		if o.code != http.StatusAccepted && o.code != 0 {
			t.Logf("%s %s %s: HTTP %d %s", o.kind, o.target, o.name, o.code, o.err)
		}
		switch {
		case o.kind == "create" && o.code == http.StatusAccepted:
			want[o.id] = true
			nCreate++
		case o.kind == "create" && o.code == 0:
			maybeNames[o.name] = true
			nLost++
		case o.kind == "delete" && o.code == http.StatusAccepted:
			deleted[o.target] = true
			nDelete++
		case o.kind == "delete" && o.code == 0:
			maybe[o.target] = true
		}
	}
	for id := range deleted {
		delete(want, id)
		if v, ok := byID[id]; ok {
			t.Errorf("volume %s (%s) was accepted for deletion before the kill but still exists (%s)", id, str(v, "name"), str(v, "status"))
		}
	}
	for id := range want {
		if _, ok := byID[id]; !ok && !maybe[id] {
			t.Errorf("volume %s was accepted before the kill but is gone", id)
		}
	}
	for id, v := range byID {
		if !want[id] && !maybe[id] && !maybeNames[str(v, "name")] {
			t.Errorf("volume %s (%s) exists but no accepted create explains it", id, str(v, "name"))
		}
	}
	if lo, hi := len(allSeeds)+nCreate-nDelete-len(maybe), len(allSeeds)+nCreate-nDelete+nLost; len(vols) < lo || len(vols) > hi {
		t.Errorf("%d volumes after the restart, want %d-%d (%d seeds + %d accepted creates - %d accepted deletes, %d creates and %d deletes unanswered)",
			len(vols), lo, hi, len(allSeeds), nCreate, nDelete, nLost, len(maybe))
	}
	checkBackendFiles(t, c, vols, snaps, baks, deleted, imgPath, counts["create-image"][http.StatusAccepted] > 0)

	mustLiveNames(t, snaps, "snap-keep")
	mustLiveNames(t, baks, "bak-parent", "bak-restore")
	for _, o := range ops {
		set := map[string][]map[string]any{"snapshot-delete": snaps, "backup-delete": baks}[o.kind]
		for _, r := range set {
			if str(r, "id") == o.target && o.code == http.StatusAccepted {
				t.Errorf("%s of %s was accepted before the kill but it still exists (%s)", o.kind, o.target, str(r, "status"))
			}
		}
	}

	// Every transitional status of this test has a task behind it, which the restart
	// re-runs: the recovery pass must settle none of them itself.
	log := restartLog(t, c)
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "settled a resource left in a transitional status") {
			t.Errorf("the recovery pass settled a resource its re-run task carries: %s", line)
		}
	}
	t.Logf("setup %.1fs; load: %d requests, answers %v; killed %.2fs into the load (%v after the 8th answer); after the restart: %s; settled %.1fs after the restart; %d volumes, %d snapshots, %d backups",
		setup.Seconds(), len(ops), counts, killedAfter.Seconds(), killDelay, summarizeRecovery(log), settle.Seconds(), len(vols), len(snaps), len(baks))
}

// checkBackupSources fails (once per backup in reported) for a backup being made whose
// volume or snapshot is not held backing-up (released while the backup still reads it).
func checkBackupSources(t *testing.T, vols, snaps, baks []map[string]any, reported map[string]bool) {
	t.Helper()
	status := map[string]string{}
	for _, r := range append(append([]map[string]any{}, vols...), snaps...) {
		status[str(r, "id")] = str(r, "status")
	}
	for _, b := range baks {
		if str(b, "status") != "creating" {
			continue
		}
		src := str(b, "volume_id")
		if sn := str(b, "snapshot_id"); sn != "" {
			src = sn
		}
		if st, ok := status[src]; ok && st != "backing-up" && !reported[str(b, "id")] {
			reported[str(b, "id")] = true
			t.Errorf("backup %s (%s) is being made but its source %s is %s", str(b, "id"), str(b, "name"), src, st)
		}
	}
}

// op is one request of the load phase and its answer (code 0: cut off by the kill).
type op struct {
	kind, target, name, id, err string
	code                        int
	fromImage                   bool
}

// mustLiveNames fails unless a resource of each name is listed.
func mustLiveNames(t *testing.T, set []map[string]any, names ...string) {
	t.Helper()
	for _, n := range names {
		found := false
		for _, r := range set {
			found = found || str(r, "name") == n
		}
		if !found {
			t.Errorf("%s, which no request deleted, is gone after the restart", n)
		}
	}
}

// backendName reads a file name of the file volume backend: volume-<id>.<format> or
// snapshot-<id>.qcow2.
var backendName = regexp.MustCompile(`^(volume|snapshot)-([A-Za-z0-9_-]+)\.(qcow2|raw)$`)

// checkBackendFiles compares <data-dir>/volumes and <data-dir>/backups with the records.
func checkBackendFiles(t *testing.T, c *testkit.Cloud, vols, snaps, baks []map[string]any, deleted map[string]bool, imgPath string,
	wantImageVols bool) {
	t.Helper()
	log := restartLog(t, c)
	reported := func(msg, id string) bool {
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, msg) && strings.Contains(line, id) {
				return true
			}
		}
		return false
	}
	live := func(set []map[string]any) map[string]map[string]any {
		m := map[string]map[string]any{}
		for _, r := range set {
			m[str(r, "id")] = r
		}
		return m
	}
	liveVols, liveSnaps, liveBaks := live(vols), live(snaps), live(baks)

	entries, err := os.ReadDir(filepath.Join(c.DataDir, "volumes"))
	if err != nil {
		t.Fatal(err)
	}
	volFiles, snapFiles := map[string]string{}, map[string]bool{}
	for _, e := range entries {
		m := backendName.FindStringSubmatch(e.Name())
		switch {
		case strings.HasPrefix(e.Name(), ".tmp-"):
			t.Errorf("temporary file %s left in the volume directory once everything settled", e.Name())
		case m == nil:
			t.Errorf("unexpected file %s in the volume directory", e.Name())
		case m[1] == "volume" && strings.HasPrefix(m[2], "backup-"):
			t.Errorf("temporary backup volume %s left once every backup settled", e.Name())
		case m[1] == "volume":
			if _, dup := volFiles[m[2]]; dup {
				t.Errorf("volume %s has files in two formats", m[2])
			}
			volFiles[m[2]] = filepath.Join(c.DataDir, "volumes", e.Name())
			if _, ok := liveVols[m[2]]; !ok && !reported("backend holds a volume no record knows", m[2]) {
				t.Errorf("file %s belongs to no volume and the reconcile pass did not report it", e.Name())
			}
			if deleted[m[2]] {
				t.Errorf("deleted volume %s left its file %s", m[2], e.Name())
			}
		case m[1] == "snapshot":
			snapFiles[m[2]] = true
			if _, ok := liveSnaps[m[2]]; !ok && !reported("backend holds a snapshot no record knows", m[2]) {
				t.Errorf("file %s belongs to no snapshot and the reconcile pass did not report it", e.Name())
			}
		}
	}
	imageVols := 0
	for id, v := range liveVols {
		if str(v, "status") != "available" {
			continue
		}
		f, ok := volFiles[id]
		if !ok {
			t.Errorf("available volume %s (%s) has no file", id, str(v, "name"))
			continue
		}
		if got := virtualSize(t, f); got != 1<<30 {
			t.Errorf("volume %s's file is %d bytes, want 1 GiB", id, got)
		}
		if str(v, "bootable") == "true" {
			// Made from the image: the image's bytes, then zeros.
			imageVols++
			format := strings.TrimPrefix(filepath.Ext(f), ".")
			if out, err := exec.Command("qemu-img", "compare", "-U", "-f", "raw", "-F", format, imgPath, f).CombinedOutput(); err != nil {
				t.Errorf("volume %s (%s) does not hold the image's data: %v: %s", id, str(v, "name"), err, out)
			}
		}
	}
	if imageVols == 0 && wantImageVols {
		t.Errorf("no volume made from the image survived to be checked")
	}
	for id, s := range liveSnaps {
		if str(s, "status") == "available" && !snapFiles[id] {
			t.Errorf("available snapshot %s (%s) has no file", id, str(s, "name"))
		}
	}

	entries, err = os.ReadDir(filepath.Join(c.DataDir, "backups"))
	if err != nil {
		t.Fatal(err)
	}
	bakDirs := map[string]bool{}
	for _, e := range entries {
		if !e.IsDir() {
			t.Errorf("unexpected file %s in the backup directory", e.Name())
			continue
		}
		bakDirs[e.Name()] = true
		if _, err := os.Stat(filepath.Join(c.DataDir, "backups", e.Name(), "manifest.json")); err != nil {
			t.Errorf("backup directory %s has no manifest once everything settled", e.Name())
		}
		if _, ok := liveBaks[e.Name()]; !ok && !reported("backup store holds a backup no record knows", e.Name()) {
			t.Errorf("backup directory %s belongs to no backup and the reconcile pass did not report it", e.Name())
		}
	}
	for id, b := range liveBaks {
		if str(b, "status") == "available" && !bakDirs[id] {
			t.Errorf("available backup %s (%s) has no data in the backup store", id, str(b, "name"))
		}
	}
}

// restartLog is what gostack logged since its last start.
func restartLog(t *testing.T, c *testkit.Cloud) string {
	t.Helper()
	b, err := os.ReadFile(c.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if i := strings.LastIndex(s, "=== testkit: start "); i >= 0 {
		s = s[i:]
	}
	return s
}

// summarizeRecovery counts what the recovery pass logged.
func summarizeRecovery(log string) string {
	var requeued []string
	settled, removed, unknown := 0, 0, 0
	for _, line := range strings.Split(log, "\n") {
		switch {
		case strings.Contains(line, "re-running interrupted volume tasks"):
			if i := strings.Index(line, "count="); i >= 0 {
				requeued = append(requeued, strings.Fields(line[i:])[0])
			}
		case strings.Contains(line, "settled a resource left in a transitional status"):
			settled++
		case strings.Contains(line, "(an interrupted delete)"):
			removed++
		case strings.Contains(line, "no record knows"):
			unknown++
		}
	}
	return fmt.Sprintf("interrupted tasks re-run %v, %d statuses settled, %d orphans removed, %d unknown files reported",
		requeued, settled, removed, unknown)
}

// cinderClient calls the block-storage API as one user of one project.
type cinderClient struct {
	c                        *testkit.Cloud
	user, password, project0 string
	project, token           string
}

func newCinderClient(t *testing.T, c *testkit.Cloud, user, password, project string) *cinderClient {
	t.Helper()
	cl := &cinderClient{c: c, user: user, password: password, project0: project}
	cl.login(t)
	return cl
}

// login issues a new token (after a restart, say) and learns the project's id.
func (cl *cinderClient) login(t *testing.T) {
	t.Helper()
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"name": cl.user, "password": cl.password, "domain": map[string]any{"id": "default"}}}},
		"scope": map[string]any{"project": map[string]any{"name": cl.project0, "domain": map[string]any{"id": "default"}}},
	}}
	code, hdr, b := cl.c.Request(t, "POST", "/v3/auth/tokens", nil, body)
	if code != http.StatusCreated {
		t.Fatalf("token for %s: %d %s", cl.user, code, b)
	}
	var out struct {
		Token struct {
			Project struct{ ID string } `json:"project"`
		} `json:"token"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.Token.Project.ID == "" {
		t.Fatalf("token for %s: no project id in %s", cl.user, b)
	}
	cl.token, cl.project = hdr.Get("X-Subject-Token"), out.Token.Project.ID
}

func (cl *cinderClient) header() map[string]string {
	return map[string]string{"X-Auth-Token": cl.token, "OpenStack-API-Version": "volume 3.70"}
}

// must sends a request under /volume/v3/<project> and fails unless the status is want.
func (cl *cinderClient) must(t *testing.T, method, path string, body any, want int) []byte {
	t.Helper()
	code, _, b := cl.c.Request(t, method, "/volume/v3/"+cl.project+path, cl.header(), body)
	if code != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, code, want, b)
	}
	return b
}

// create POSTs a resource (collection "volumes", key "volume") and returns its id.
func (cl *cinderClient) create(t *testing.T, collection, key string, fields map[string]any) string {
	t.Helper()
	b := cl.must(t, "POST", "/"+collection, map[string]any{key: fields}, http.StatusAccepted)
	var out map[string]map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	id, _ := out[key]["id"].(string)
	if id == "" {
		t.Fatalf("POST /%s: no id in %s", collection, b)
	}
	return id
}

// wait polls a resource until its status is want, failing on an error status or after a
// minute.
func (cl *cinderClient) wait(t *testing.T, collection, key, id, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var out map[string]map[string]any
		if err := json.Unmarshal(cl.must(t, "GET", "/"+collection+"/"+id, nil, http.StatusOK), &out); err != nil {
			t.Fatal(err)
		}
		st := str(out[key], "status")
		if st == want {
			return
		}
		if strings.HasPrefix(st, "error") || time.Now().After(deadline) {
			t.Fatalf("%s %s is %s, want %s", key, id, st, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// list returns every resource of a collection in the project (detail view).
func (cl *cinderClient) list(t *testing.T, collection string) []map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(cl.must(t, "GET", "/"+collection+"/detail", nil, http.StatusOK), &out); err != nil {
		t.Fatal(err)
	}
	if _, more := out[collection+"_links"]; more {
		t.Fatalf("GET /%s/detail is paginated; the test expects one page", collection)
	}
	raw, _ := out[collection].([]any)
	var list []map[string]any
	for _, r := range raw {
		if m, ok := r.(map[string]any); ok {
			list = append(list, m)
		}
	}
	return list
}
