package image

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// randomBytes returns n random bytes that no inspector takes for anything but raw data.
func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	if n > 512 {
		b[510], b[511] = 0, 0 // no MBR signature
	}
	return b
}

func TestUploadDownload(t *testing.T) {
	tc := newTestCloud(t)
	id := tc.createImage(t, tc.demo.token, map[string]any{"name": "raw", "disk_format": "raw", "container_format": "bare"})["id"].(string)
	if rec := tc.request(t, "GET", "/image/v2/images/"+id+"/file", tc.demo.token, "", nil); rec.Code != 204 || rec.Body.Len() != 0 {
		t.Errorf("download before upload: %d %q", rec.Code, rec.Body)
	}
	data := randomBytes(t, 3<<20+17)
	if rec := tc.upload(t, tc.demo.token, id, data); rec.Code != 204 {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	img := tc.show(t, tc.demo.token, id)
	sumMD5, sumSHA := md5.Sum(data), sha512.Sum512(data)
	for k, want := range map[string]any{
		"status": "active", "size": float64(len(data)), "virtual_size": float64(len(data)),
		"checksum": hex.EncodeToString(sumMD5[:]), "os_hash_algo": "sha512",
		"os_hash_value": hex.EncodeToString(sumSHA[:]), "stores": "file",
	} {
		if img[k] != want {
			t.Errorf("%s = %v, want %v", k, img[k], want)
		}
	}
	rec := tc.request(t, "GET", "/image/v2/images/"+id+"/file", tc.demo.token, "", nil)
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), data) {
		t.Fatalf("download: %d, %d bytes, identical=%v", rec.Code, rec.Body.Len(), bytes.Equal(rec.Body.Bytes(), data))
	}
	h := rec.Header()
	if h.Get("Content-MD5") != img["checksum"] || h.Get("Content-Type") != "application/octet-stream" ||
		h.Get("Content-Length") != fmt.Sprint(len(data)) {
		t.Errorf("download headers %v", h)
	}
	rec = tc.request(t, "HEAD", "/image/v2/images/"+id+"/file", tc.demo.token, "", nil)
	if rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != fmt.Sprint(len(data)) {
		t.Errorf("HEAD download: %d, %d bytes, Content-Length %s", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
	}
	if rec := tc.upload(t, tc.demo.token, id, []byte("again")); rec.Code != 409 ||
		!strings.Contains(rec.Body.String(), "Image status transition from active to saving is not allowed") {
		t.Errorf("upload to active image: %d %s", rec.Code, rec.Body)
	}
	if rec := tc.request(t, "GET", "/image/v2/images/"+id+"/file", tc.alt.token, "", nil); rec.Code != 404 {
		t.Errorf("download of a shared image by a non-member: %d", rec.Code)
	}
	if files := storeFiles(t, tc); len(files) != 1 || files[0] != id {
		t.Errorf("store holds %v", files)
	}
}

func TestDownloadRanges(t *testing.T) {
	tc := newTestCloud(t)
	id := tc.createImage(t, tc.demo.token, map[string]any{"name": "r", "disk_format": "raw", "container_format": "bare"})["id"].(string)
	data := []byte("0123456789")
	tc.upload(t, tc.demo.token, id, data)
	for _, tt := range []struct {
		header, value string
		status        int
		body, rng     string
	}{
		{"Range", "bytes=0-4", 206, "01234", "bytes 0-4/10"},
		{"Range", "bytes=5-", 206, "56789", "bytes 5-9/10"},
		{"Range", "bytes=-3", 206, "789", "bytes 7-9/10"},
		{"Range", "bytes=2-100", 206, "23456789", "bytes 2-9/10"},
		{"Range", "bytes=10-", 416, "", ""},
		{"Range", "bytes=5-2", 416, "", ""},
		{"Range", "pages=1-2", 416, "", ""},
		{"Range", "bytes=0-1,3-4", 400, "", ""},
		{"Content-Range", "bytes 1-3/10", 206, "123", "bytes 1-3/10"},
		{"Content-Range", "bytes 1-30/*", 416, "", ""},
	} {
		rec := tc.request(t, "GET", "/image/v2/images/"+id+"/file", tc.demo.token, "", nil, tt.header, tt.value)
		if rec.Code != tt.status {
			t.Errorf("%s: %s: status %d, want %d (%s)", tt.header, tt.value, rec.Code, tt.status, rec.Body)
			continue
		}
		if tt.status == 206 {
			if rec.Body.String() != tt.body || rec.Header().Get("Content-Range") != tt.rng ||
				rec.Header().Get("Content-Length") != fmt.Sprint(len(tt.body)) {
				t.Errorf("%s: %s: body %q Content-Range %q", tt.header, tt.value, rec.Body, rec.Header().Get("Content-Range"))
			}
		}
	}
}

func TestUploadContentType(t *testing.T) {
	tc := newTestCloud(t)
	id := tc.createImage(t, tc.demo.token, map[string]any{"name": "c", "disk_format": "raw", "container_format": "bare"})["id"].(string)
	for _, ct := range []string{"", "text/plain", "application/json"} {
		rec := tc.request(t, "PUT", "/image/v2/images/"+id+"/file", tc.demo.token, ct, strings.NewReader("x"), "Accept", "application/json")
		if rec.Code != 415 {
			t.Errorf("content type %q: %d", ct, rec.Code)
			continue
		}
		msg := decode(t, rec)["message"].(string)
		if !strings.Contains(msg, "is not supported by this server") || !strings.Contains(msg, "Invalid content type") {
			t.Errorf("content type %q: message %q", ct, msg)
		}
	}
	if rec := tc.request(t, "PUT", "/image/v2/images/"+id+"/file", tc.demo.token, "application/octet-stream; charset=binary", strings.NewReader("x")); rec.Code != 204 {
		t.Errorf("octet-stream with a parameter: %d %s", rec.Code, rec.Body)
	}
	id2 := tc.createImage(t, tc.demo.token, map[string]any{"name": "noformat"})["id"].(string)
	if rec := tc.upload(t, tc.demo.token, id2, []byte("x")); rec.Code != 400 ||
		!strings.Contains(rec.Body.String(), "Properties disk_format, container_format must be set prior to saving data.") {
		t.Errorf("upload without formats: %d %s", rec.Code, rec.Body)
	}
}

func TestUploadInspection(t *testing.T) {
	tc := newTestCloud(t)
	create := func(disk, container string) string {
		return tc.createImage(t, tc.demo.token, map[string]any{"name": "i", "disk_format": disk, "container_format": container})["id"].(string)
	}
	good := qcow2Image(1<<30, "")
	id := create("qcow2", "bare")
	if rec := tc.upload(t, tc.demo.token, id, good); rec.Code != 204 {
		t.Fatalf("valid qcow2: %d %s", rec.Code, rec.Body)
	}
	if img := tc.show(t, tc.demo.token, id); img["virtual_size"] != float64(1<<30) || img["status"] != "active" {
		t.Errorf("qcow2 image: virtual_size %v status %v", img["virtual_size"], img["status"])
	}
	before := storeFiles(t, tc)
	for _, tt := range []struct {
		name, disk, container string
		data                  []byte
		want                  string
	}{
		{"HTML page as qcow2", "qcow2", "bare", htmlPage, "an HTML page"},
		{"qcow2 backed by /etc/passwd", "qcow2", "bare", qcow2Image(1<<30, "/etc/passwd"), "backing file"},
		{"qcow2 declared raw", "raw", "bare", good, "does not match"},
		{"raw declared vmdk", "vmdk", "bare", randomBytes(t, 4096), "does not match"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := create(tt.disk, tt.container)
			rec := tc.request(t, "PUT", "/image/v2/images/"+id+"/file", tc.demo.token, "application/octet-stream",
				bytes.NewReader(tt.data), "Accept", "application/json")
			if rec.Code != 415 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if msg := decode(t, rec)["message"].(string); !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not say %q", msg, tt.want)
			}
			img := tc.show(t, tc.demo.token, id)
			if img["status"] != "queued" || img["size"] != nil || img["checksum"] != nil {
				t.Errorf("refused image: status %v size %v checksum %v", img["status"], img["size"], img["checksum"])
			}
		})
	}
	if after := storeFiles(t, tc); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("refused uploads left files: %v (before %v)", after, before)
	}
	// Glance inspects only bare images; an HTML page in an OVF container is the user's affair.
	if rec := tc.upload(t, tc.demo.token, create("qcow2", "ovf"), htmlPage); rec.Code != 204 {
		t.Errorf("ovf container: %d %s", rec.Code, rec.Body)
	}
}

// TestTruncatedUpload cuts the connection in the middle of an upload: the image goes back
// to queued and nothing is left in the store.
func TestTruncatedUpload(t *testing.T) {
	tc := newTestCloud(t)
	srv := httptest.NewServer(tc.handler)
	defer srv.Close()
	id := tc.createImage(t, tc.demo.token, map[string]any{"name": "cut", "disk_format": "raw", "container_format": "bare"})["id"].(string)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT /image/v2/images/%s/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: %s\r\n"+
		"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", id, tc.demo.token, 8<<20)
	if _, err := conn.Write(randomBytes(t, 3<<20)); err != nil {
		t.Fatal(err)
	}
	// Wait until the upload is under way, then cut it.
	deadline := time.Now().Add(10 * time.Second)
	for tc.show(t, tc.demo.token, id)["status"] != "saving" {
		if time.Now().After(deadline) {
			t.Fatal("upload never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn.Close()
	for {
		img := tc.show(t, tc.demo.token, id)
		if img["status"] == "queued" {
			if img["size"] != nil || img["checksum"] != nil {
				t.Errorf("interrupted upload recorded size %v checksum %v", img["size"], img["checksum"])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("image stayed %v", img["status"])
		}
		time.Sleep(10 * time.Millisecond)
	}
	if files := storeFiles(t, tc); len(files) != 0 {
		t.Errorf("interrupted upload left %v", files)
	}
	// The image takes a complete upload afterwards.
	if rec := tc.upload(t, tc.demo.token, id, []byte("complete")); rec.Code != 204 {
		t.Errorf("upload after interruption: %d %s", rec.Code, rec.Body)
	}
}

func TestQuotas(t *testing.T) {
	tc := newTestCloud(t, func(c *Config) {
		c.Quota.ImageCountTotal = 3
		c.Quota.ImageSizeTotal = 1 << 20
	})
	a := tc.createImage(t, tc.demo.token, map[string]any{"name": "a", "disk_format": "raw", "container_format": "bare"})["id"].(string)
	b := tc.createImage(t, tc.demo.token, map[string]any{"name": "b", "disk_format": "raw", "container_format": "bare"})["id"].(string)
	c := tc.createImage(t, tc.demo.token, map[string]any{"name": "c", "disk_format": "raw", "container_format": "bare"})["id"].(string)
	resp, out := tc.json(t, "POST", "/image/v2/images", tc.demo.token, map[string]any{"name": "d"})
	if resp.StatusCode != 413 || !strings.Contains(out["message"].(string), "image_count_total is over limit of 3") {
		t.Errorf("fourth image: %d %v", resp.StatusCode, out)
	}
	tc.createImage(t, tc.alt.token, map[string]any{"name": "other project"})
	if rec := tc.upload(t, tc.demo.token, a, randomBytes(t, 600<<10)); rec.Code != 204 {
		t.Fatalf("upload within quota: %d %s", rec.Code, rec.Body)
	}
	// Declared size over the quota: refused before any data is read.
	if rec := tc.upload(t, tc.demo.token, b, randomBytes(t, 600<<10)); rec.Code != 413 {
		t.Errorf("upload over quota: %d %s", rec.Code, rec.Body)
	}
	// Unknown size (chunked): refused once the data passes the quota.
	req := httptest.NewRequest("PUT", "/image/v2/images/"+c+"/file", io.MultiReader(bytes.NewReader(randomBytes(t, 600<<10))))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-Auth-Token", tc.demo.token)
	rec := httptest.NewRecorder()
	tc.handler.ServeHTTP(rec, req)
	if rec.Code != 413 || !strings.Contains(rec.Body.String(), "storage quota") {
		t.Errorf("chunked upload over quota: %d %s", rec.Code, rec.Body)
	}
	for _, id := range []string{b, c} {
		if st := tc.show(t, tc.demo.token, id)["status"]; st != "queued" {
			t.Errorf("image over quota is %v", st)
		}
	}
	if files := storeFiles(t, tc); len(files) != 1 {
		t.Errorf("store holds %v", files)
	}
}

func TestStageAndImport(t *testing.T) {
	tc := newTestCloud(t)
	id := tc.createImage(t, tc.demo.token, map[string]any{"name": "imp", "disk_format": "qcow2", "container_format": "bare"})["id"].(string)
	resp, out := tc.json(t, "POST", "/image/v2/images/"+id+"/import", tc.demo.token, map[string]any{"method": map[string]any{"name": "glance-direct"}})
	if resp.StatusCode != 409 || !strings.Contains(out["message"].(string), "needs to be staged") {
		t.Errorf("import before staging: %d %v", resp.StatusCode, out)
	}
	data := qcow2Image(2<<30, "")
	if rec := tc.request(t, "PUT", "/image/v2/images/"+id+"/stage", tc.demo.token, "application/octet-stream", bytes.NewReader(data)); rec.Code != 204 {
		t.Fatalf("stage: %d %s", rec.Code, rec.Body)
	}
	if img := tc.show(t, tc.demo.token, id); img["status"] != "uploading" || img["size"] != float64(len(data)) {
		t.Errorf("staged image: %v size %v", img["status"], img["size"])
	}
	resp, out = tc.json(t, "POST", "/image/v2/images/"+id+"/import", tc.demo.token, map[string]any{"method": map[string]any{"name": "web-download", "uri": "http://example.com/x.img"}})
	if resp.StatusCode != 400 || !strings.Contains(out["message"].(string), "no internet access") {
		t.Errorf("web-download: %d %v", resp.StatusCode, out)
	}
	resp, out = tc.json(t, "POST", "/image/v2/images/"+id+"/import", tc.demo.token, map[string]any{"method": map[string]any{"name": "glance-direct"}})
	if resp.StatusCode != 202 {
		t.Fatalf("import: %d %v", resp.StatusCode, out)
	}
	reqID := resp.Header.Get("X-Openstack-Request-Id")
	img := waitStatus(t, tc, id, "active")
	sum := md5.Sum(data)
	if img["checksum"] != hex.EncodeToString(sum[:]) || img["virtual_size"] != float64(2<<30) || img["os_glance_failed_import"] != "" ||
		img["os_glance_importing_to_stores"] != "" || img["stores"] != "file" {
		t.Errorf("imported image %v", img)
	}
	if _, ok := img["os_glance_import_task"]; ok {
		t.Errorf("import lock left on the image")
	}
	_, out = tc.json(t, "GET", "/image/v2/images/"+id+"/tasks", tc.demo.token, nil)
	tasks := out["tasks"].([]any)
	if len(tasks) != 1 {
		t.Fatalf("tasks %v", out)
	}
	task := tasks[0].(map[string]any)
	if task["status"] != "success" || task["request_id"] != reqID || task["type"] != "api_image_import" ||
		task["input"].(map[string]any)["import_req"].(map[string]any)["method"].(map[string]any)["name"] != "glance-direct" {
		t.Errorf("task %v", task)
	}
	if files := storeFiles(t, tc); len(files) != 1 || files[0] != id {
		t.Errorf("store after import: %v", files)
	}

	// A staged HTML page fails its import: the image goes back to queued and says so.
	bad := tc.createImage(t, tc.demo.token, map[string]any{"name": "bad", "disk_format": "qcow2", "container_format": "bare"})["id"].(string)
	tc.request(t, "PUT", "/image/v2/images/"+bad+"/stage", tc.demo.token, "application/octet-stream", bytes.NewReader(htmlPage))
	if resp, out := tc.json(t, "POST", "/image/v2/images/"+bad+"/import", tc.demo.token, map[string]any{"method": map[string]any{"name": "glance-direct"}}); resp.StatusCode != 202 {
		t.Fatalf("import: %d %v", resp.StatusCode, out)
	}
	img = waitStatus(t, tc, bad, "queued")
	if img["os_glance_failed_import"] != "file" {
		t.Errorf("failed import: %v", img)
	}
	_, out = tc.json(t, "GET", "/image/v2/images/"+bad+"/tasks", tc.demo.token, nil)
	task = out["tasks"].([]any)[0].(map[string]any)
	if task["status"] != "failure" || !strings.Contains(task["message"].(string), "HTML") {
		t.Errorf("failed task %v", task)
	}
}

// waitStatus polls an image until it has the status.
func waitStatus(t testing.TB, tc *testCloud, id, status string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		img := tc.show(t, tc.demo.token, id)
		if img["status"] == status {
			return img
		}
		if time.Now().After(deadline) {
			t.Fatalf("image %s stayed %v, want %s", id, img["status"], status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
