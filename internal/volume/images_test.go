package volume

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// uploadImage creates an active public raw image holding data and returns its id.
func (tc *testCloud) uploadImage(t testing.TB, name string, data []byte) string {
	t.Helper()
	r := tc.raw(t, tc.adminToken, "", "POST", "/image/v2/images", map[string]any{"name": name,
		"disk_format": "raw", "container_format": "bare", "visibility": "public", "hw_disk_bus": "virtio"})
	if r.code != 201 {
		t.Fatalf("create image: %d %s", r.code, r.raw)
	}
	id := r.body["id"].(string)
	req := httptest.NewRequest("PUT", "/image/v2/images/"+id+"/file", bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-Auth-Token", tc.adminToken)
	rec := httptest.NewRecorder()
	tc.handler.ServeHTTP(rec, req)
	if rec.Code != 204 {
		t.Fatalf("upload image: %d %s", rec.Code, rec.Body)
	}
	return id
}

func TestVolumeFromImageAndUploadToImage(t *testing.T) {
	tc := newTestCloud(t)
	data := bytes.Repeat([]byte("gostack!"), 512)
	img := tc.uploadImage(t, "testvm", data)
	v := tc.createVolume(t, tc.demoToken, map[string]any{"imageRef": img, "size": 1, "name": "bootvol"})
	id := v["id"].(string)
	if v["bootable"] != "true" {
		t.Fatalf("bootable: %v", v["bootable"])
	}
	meta, _ := v["volume_image_metadata"].(map[string]any)
	if meta["image_id"] != img || meta["hw_disk_bus"] != "virtio" || meta["image_name"] != "testvm" {
		t.Fatalf("volume_image_metadata: %v", v["volume_image_metadata"])
	}
	if !bytes.Equal(tc.driver.Data(id), data) {
		t.Fatal("volume data differs from the image")
	}
	// Image metadata actions.
	r := tc.doAs(t, tc.demoToken, "", "POST", "/volumes/"+id+"/action", map[string]any{"os-set_image_metadata": map[string]any{"metadata": map[string]any{"hw_vif_model": "e1000"}}}).want(t, http.StatusOK)
	if r.obj("metadata")["hw_vif_model"] != "e1000" {
		t.Fatalf("set image metadata: %s", r.raw)
	}
	tc.doAs(t, tc.demoToken, "", "POST", "/volumes/"+id+"/action", map[string]any{"os-unset_image_metadata": map[string]any{"key": "hw_vif_model"}}).want(t, http.StatusOK)
	// Upload the volume back into Glance.
	r = tc.doAs(t, tc.demoToken, "3.1", "POST", "/volumes/"+id+"/action", map[string]any{"os-volume_upload_image": map[string]any{"image_name": "from-volume", "disk_format": "raw"}}).want(t, http.StatusAccepted)
	up := r.obj("os-volume_upload_image")
	if up["status"] != "uploading" || up["image_name"] != "from-volume" || up["visibility"] != "private" {
		t.Fatalf("upload response: %s", r.raw)
	}
	newImg := up["image_id"].(string)
	tc.waitStatus(t, "/volumes/"+id, "volume", "available")
	deadline := time.Now().Add(5 * time.Second)
	for {
		ir := tc.raw(t, tc.demoToken, "", "GET", "/image/v2/images/"+newImg, nil).want(t, http.StatusOK)
		if ir.body["status"] == "active" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("image status %v", ir.body["status"])
		}
		time.Sleep(5 * time.Millisecond)
	}
	req := httptest.NewRequest("GET", "/image/v2/images/"+newImg+"/file", nil)
	req.Header.Set("X-Auth-Token", tc.demoToken)
	rec := httptest.NewRecorder()
	tc.handler.ServeHTTP(rec, req)
	got, _ := io.ReadAll(rec.Body)
	if !bytes.Equal(got, data) {
		t.Fatalf("uploaded image holds %d bytes, want the volume's %d", len(got), len(data))
	}
	// An unknown image is a 400, and a volume smaller than the image's min_disk too.
	tc.doAs(t, tc.demoToken, "", "POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1,
		"imageRef": "11111111-2222-3333-4444-555555555555"}}).want(t, http.StatusBadRequest)
}

func TestReimageAndEncryptedTypes(t *testing.T) {
	tc := newTestCloud(t)
	data := []byte("new operating system")
	img := tc.uploadImage(t, "os2", data)
	v := tc.createVolume(t, tc.demoToken, map[string]any{"size": 1})
	id := v["id"].(string)
	tc.driver.Put(id, 1, []byte("old data"))
	tc.doAs(t, tc.demoToken, "3.67", "POST", "/volumes/"+id+"/action", map[string]any{"os-reimage": map[string]any{
		"image_id": img}}).want(t, http.StatusBadRequest)
	tc.doAs(t, tc.demoToken, "3.68", "POST", "/volumes/"+id+"/action", map[string]any{"os-reimage": map[string]any{
		"image_id": img}}).want(t, http.StatusAccepted)
	got := tc.waitStatus(t, "/volumes/"+id, "volume", "available")
	if got["bootable"] != "true" || !bytes.Equal(tc.driver.Data(id), data) {
		t.Fatalf("reimage: %v %q", got["bootable"], tc.driver.Data(id))
	}
	// Encryption specs of a type.
	r := tc.do(t, "", "POST", "/types", map[string]any{"volume_type": map[string]any{"name": "enc"}}).want(t, http.StatusOK)
	tid := r.obj("volume_type")["id"].(string)
	r = tc.do(t, "", "POST", "/types/"+tid+"/encryption", map[string]any{"encryption": map[string]any{
		"provider": "luks", "control_location": "front-end", "cipher": "aes-xts-plain64", "key_size": 256}}).want(t, http.StatusOK)
	eid := r.obj("encryption")["encryption_id"].(string)
	r = tc.do(t, "", "GET", "/types/"+tid+"/encryption", nil).want(t, http.StatusOK)
	if r.body["key_size"] != float64(256) || r.body["provider"] != "luks" {
		t.Fatalf("encryption: %s", r.raw)
	}
	r = tc.do(t, "", "GET", "/types/"+tid+"/encryption/cipher", nil).want(t, http.StatusOK)
	if r.body["cipher"] != "aes-xts-plain64" {
		t.Fatalf("encryption item: %s", r.raw)
	}
	r = tc.do(t, "", "PUT", "/types/"+tid+"/encryption/"+eid, map[string]any{"encryption": map[string]any{
		"control_location": "back-end"}}).want(t, http.StatusOK)
	if r.obj("encryption")["control_location"] != "back-end" {
		t.Fatalf("update: %s", r.raw)
	}
	tc.do(t, "", "POST", "/volumes", map[string]any{"volume": map[string]any{"size": 1, "volume_type": "enc"}}).want(t, http.StatusBadRequest)
	tc.do(t, "", "DELETE", "/types/"+tid+"/encryption/"+eid, nil).want(t, http.StatusAccepted)
	r = tc.do(t, "", "GET", "/types/"+tid+"/encryption", nil).want(t, http.StatusOK)
	if len(r.body) != 0 {
		t.Fatalf("after delete: %s", r.raw)
	}
}
