package gophercloud_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/imagedata"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/members"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/gostack/gostack/internal/testkit"
)

// imageUser is an image client for one user together with the project it is scoped to.
type imageUser struct {
	*gophercloud.ServiceClient
	projectID string
}

// imageClient authenticates a Default-domain user scoped to a project and returns an image
// v2 client found through the catalog.
func imageClient(t *testing.T, c *testkit.Cloud, user, password, project string) imageUser {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: c.AuthURL(),
		Username:         user,
		Password:         password,
		DomainID:         "default",
		TenantName:       project,
	})
	if err != nil {
		t.Fatalf("authenticate %s: %v", user, err)
	}
	img, err := openstack.NewImageV2(provider, gophercloud.EndpointOpts{Region: "RegionOne"})
	if err != nil {
		t.Fatalf("image endpoint from the catalog: %v", err)
	}
	res, ok := provider.GetAuthResult().(tokens.CreateResult)
	if !ok {
		t.Fatalf("auth result %T, want tokens.CreateResult", provider.GetAuthResult())
	}
	p, err := res.ExtractProject()
	if err != nil || p == nil || p.ID == "" {
		t.Fatalf("token project of %s: %+v, %v", user, p, err)
	}
	return imageUser{ServiceClient: img, projectID: p.ID}
}

// imageSetup starts a cloud and returns image clients for demo, alt_demo and admin.
func imageSetup(t *testing.T) (c *testkit.Cloud, demo, alt, admin imageUser) {
	t.Helper()
	if testing.Short() {
		t.Skip("black-box gophercloud suite: skipped in -short mode")
	}
	c = testkit.Start(t)
	demo = imageClient(t, c, "demo", c.DemoPassword, "demo")
	alt = imageClient(t, c, "alt_demo", c.DemoPassword, "alt_demo")
	admin = imageClient(t, c, "admin", c.AdminPassword, "admin")
	return c, demo, alt, admin
}

// randomData returns n random bytes.
func randomData(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// download reads an image's data through imagedata.Download.
func download(t *testing.T, sc *gophercloud.ServiceClient, id string) ([]byte, error) {
	t.Helper()
	rc, err := imagedata.Download(t.Context(), sc, id).Extract()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// listImages returns every image a list with opts shows.
func listImages(t *testing.T, sc *gophercloud.ServiceClient, opts images.ListOpts) []images.Image {
	t.Helper()
	pages, err := images.List(sc, opts).AllPages(t.Context())
	if err != nil {
		t.Fatalf("list images %+v: %v", opts, err)
	}
	all, err := images.ExtractImages(pages)
	if err != nil {
		t.Fatalf("extract images: %v", err)
	}
	return all
}

func imageIDs(list []images.Image) []string {
	var ids []string
	for _, i := range list {
		ids = append(ids, i.ID)
	}
	return ids
}

// TestImages creates, uploads, downloads, updates (JSON patch), lists and deletes an image
// through gophercloud's image v2 client, with Glance's errors for what is not allowed.
func TestImages(t *testing.T) {
	_, demo, alt, _ := imageSetup(t)
	ctx := t.Context()
	data := randomData(t, 3<<20+17)
	m, s := md5.Sum(data), sha512.Sum512(data)
	wantMD5, wantSHA := hex.EncodeToString(m[:]), hex.EncodeToString(s[:])

	private := images.ImageVisibilityPrivate
	img, err := images.Create(ctx, demo.ServiceClient, images.CreateOpts{
		Name:            "gc-image",
		DiskFormat:      "raw",
		ContainerFormat: "bare",
		Visibility:      &private,
		Tags:            []string{"one", "two"},
		MinDisk:         1,
		MinRAM:          128,
		Properties:      map[string]string{"architecture": "x86_64", "gc_key": "gc_value"},
	}).Extract()
	if err != nil {
		t.Fatalf("create image: %v", err)
	}
	if img.ID == "" || img.Name != "gc-image" || img.Status != images.ImageStatusQueued || img.Visibility != private ||
		img.DiskFormat != "raw" || img.ContainerFormat != "bare" || img.MinDiskGigabytes != 1 || img.MinRAMMegabytes != 128 ||
		img.Owner != demo.projectID || img.SizeBytes != 0 || img.Checksum != "" {
		t.Errorf("created image: %+v", img)
	}
	if !slices.Contains(img.Tags, "one") || !slices.Contains(img.Tags, "two") || len(img.Tags) != 2 {
		t.Errorf("created image tags %v, want [one two]", img.Tags)
	}
	if img.Properties["architecture"] != "x86_64" || img.Properties["gc_key"] != "gc_value" {
		t.Errorf("created image properties %v, want architecture and gc_key", img.Properties)
	}
	if img.File != "/v2/images/"+img.ID+"/file" || img.Schema != "/v2/schemas/image" {
		t.Errorf("created image file %q schema %q", img.File, img.Schema)
	}
	id := img.ID

	// An image without data: Glance answers 204 No Content, which gophercloud's Download
	// (expecting 200) reports as an unexpected response code.
	_, err = download(t, demo.ServiceClient, id)
	wantCode(t, err, http.StatusNoContent, "download of a queued image")

	// Upload, then the hashes and sizes.
	if err := imagedata.Upload(ctx, demo.ServiceClient, id, bytes.NewReader(data)).ExtractErr(); err != nil {
		t.Fatalf("upload: %v", err)
	}
	got, err := images.Get(ctx, demo.ServiceClient, id).Extract()
	if err != nil {
		t.Fatalf("get image: %v", err)
	}
	if got.Status != images.ImageStatusActive || got.SizeBytes != int64(len(data)) || got.Checksum != wantMD5 {
		t.Errorf("after upload: status %s size %d checksum %s, want active %d %s", got.Status, got.SizeBytes, got.Checksum, len(data), wantMD5)
	}
	if got.Properties["os_hash_algo"] != "sha512" || got.Properties["os_hash_value"] != wantSHA {
		t.Errorf("after upload: os_hash_algo %v os_hash_value %v, want sha512 %s", got.Properties["os_hash_algo"], got.Properties["os_hash_value"], wantSHA)
	}
	if got.VirtualSize != int64(len(data)) {
		t.Errorf("after upload: virtual_size %d, want %d for raw data", got.VirtualSize, len(data))
	}
	if b, err := download(t, demo.ServiceClient, id); err != nil || !bytes.Equal(b, data) {
		t.Errorf("download: %d bytes, %v; want the %d bytes uploaded", len(b), err, len(data))
	}

	// A second upload to an active image is a conflict, and changes nothing.
	err = imagedata.Upload(ctx, demo.ServiceClient, id, bytes.NewReader([]byte("other data"))).ExtractErr()
	wantCode(t, err, http.StatusConflict, "upload to an active image")
	if b, err := download(t, demo.ServiceClient, id); err != nil || !bytes.Equal(b, data) {
		t.Errorf("download after the refused second upload: %d bytes, %v", len(b), err)
	}

	// JSON patch updates.
	upd, err := images.Update(ctx, demo.ServiceClient, id, images.UpdateOpts{
		images.ReplaceImageName{NewName: "gc-image-renamed"},
		images.ReplaceImageTags{NewTags: []string{"three"}},
		images.ReplaceImageMinDisk{NewMinDisk: 2},
		images.ReplaceImageMinRam{NewMinRam: 256},
		images.UpdateImageProperty{Op: images.AddOp, Name: "hw_disk_bus", Value: "virtio"},
		images.UpdateImageProperty{Op: images.ReplaceOp, Name: "gc_key", Value: "gc_value2"},
		images.UpdateImageProperty{Op: images.RemoveOp, Name: "architecture"},
	}).Extract()
	if err != nil {
		t.Fatalf("update image: %v", err)
	}
	if upd.Name != "gc-image-renamed" || !slices.Equal(upd.Tags, []string{"three"}) || upd.MinDiskGigabytes != 2 ||
		upd.MinRAMMegabytes != 256 || upd.Checksum != wantMD5 || upd.Status != images.ImageStatusActive {
		t.Errorf("updated image: %+v", upd)
	}
	if upd.Properties["hw_disk_bus"] != "virtio" || upd.Properties["gc_key"] != "gc_value2" {
		t.Errorf("updated properties %v, want hw_disk_bus=virtio gc_key=gc_value2", upd.Properties)
	}
	if _, ok := upd.Properties["architecture"]; ok {
		t.Errorf("updated properties %v still hold architecture", upd.Properties)
	}
	if got, err := images.Get(ctx, demo.ServiceClient, id).Extract(); err != nil || got.Name != "gc-image-renamed" || got.Properties["gc_key"] != "gc_value2" {
		t.Errorf("get after update: %+v, %v", got, err)
	}
	// Read-only attributes are refused (Glance: 403), and so is removing a property that
	// is not there (409).
	_, err = images.Update(ctx, demo.ServiceClient, id, images.UpdateOpts{images.ReplaceImageChecksum{Checksum: "0123"}}).Extract()
	wantCode(t, err, http.StatusForbidden, "patch the read-only checksum")
	_, err = images.Update(ctx, demo.ServiceClient, id, images.UpdateOpts{
		images.UpdateImageProperty{Op: images.RemoveOp, Name: "no_such_property"},
	}).Extract()
	wantCode(t, err, http.StatusConflict, "remove a property that is not there")

	// Listing, with filters. (Not size_min/size_max: gophercloud v2.15.0 builds its query
	// string with reflect.Int only and silently drops those int64 fields.)
	if ids := imageIDs(listImages(t, demo.ServiceClient, images.ListOpts{})); !slices.Contains(ids, id) {
		t.Errorf("list: %v, want %s", ids, id)
	}
	for _, opts := range []images.ListOpts{
		{Name: "gc-image-renamed"},
		{Tags: []string{"three"}},
		{Status: images.ImageStatusActive, Visibility: images.ImageVisibilityPrivate},
		{DiskFormat: "raw", ContainerFormat: "bare"},
		{Owner: demo.projectID},
	} {
		if ids := imageIDs(listImages(t, demo.ServiceClient, opts)); !slices.Equal(ids, []string{id}) {
			t.Errorf("list %+v: %v, want only %s", opts, ids, id)
		}
	}
	for _, opts := range []images.ListOpts{
		{Name: "gc-image"},
		{Tags: []string{"one"}},
		{Status: images.ImageStatusQueued},
	} {
		if ids := imageIDs(listImages(t, demo.ServiceClient, opts)); len(ids) != 0 {
			t.Errorf("list %+v: %v, want nothing", opts, ids)
		}
	}
	// Pagination: three more images, listed one per page.
	for _, n := range []string{"gc-page-a", "gc-page-b", "gc-page-c"} {
		if _, err := images.Create(ctx, demo.ServiceClient, images.CreateOpts{Name: n, DiskFormat: "raw", ContainerFormat: "bare"}).Extract(); err != nil {
			t.Fatalf("create %s: %v", n, err)
		}
	}
	var pages int
	var names []string
	err = images.List(demo.ServiceClient, images.ListOpts{Limit: 1, SortKey: "name", SortDir: "asc"}).EachPage(ctx,
		func(_ context.Context, p pagination.Page) (bool, error) {
			pages++
			list, err := images.ExtractImages(p)
			for _, i := range list {
				names = append(names, i.Name)
			}
			return true, err
		})
	if err != nil {
		t.Fatalf("paged list: %v", err)
	}
	if want := []string{"gc-image-renamed", "gc-page-a", "gc-page-b", "gc-page-c"}; !slices.Equal(names, want) || pages < len(want) {
		t.Errorf("paged list by name: %v in %d pages, want %v one per page", names, pages, want)
	}

	// The private image is invisible to another project.
	_, err = images.Get(ctx, alt.ServiceClient, id).Extract()
	wantCode(t, err, http.StatusNotFound, "alt_demo: get demo's private image")
	if ids := imageIDs(listImages(t, alt.ServiceClient, images.ListOpts{})); slices.Contains(ids, id) {
		t.Errorf("alt_demo: list shows demo's private image %s", id)
	}

	// Unknown ids.
	const missing = "8c1b8f8e-0000-4000-8000-000000000000"
	_, err = images.Get(ctx, demo.ServiceClient, missing).Extract()
	wantCode(t, err, http.StatusNotFound, "get an unknown image")
	if !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Errorf("gophercloud.ResponseCodeIs(err, 404) is false for %v", err)
	}
	err = imagedata.Upload(ctx, demo.ServiceClient, missing, bytes.NewReader(data[:10])).ExtractErr()
	wantCode(t, err, http.StatusNotFound, "upload to an unknown image")
	err = images.Delete(ctx, demo.ServiceClient, missing).ExtractErr()
	wantCode(t, err, http.StatusNotFound, "delete an unknown image")

	// Bad input at create.
	_, err = images.Create(ctx, demo.ServiceClient, images.CreateOpts{Name: "bad", DiskFormat: "floppy", ContainerFormat: "bare"}).Extract()
	wantCode(t, err, http.StatusBadRequest, "create with an unknown disk_format")

	// Protected images cannot be deleted until unprotected.
	if _, err := images.Update(ctx, demo.ServiceClient, id, images.UpdateOpts{images.ReplaceImageProtected{NewProtected: true}}).Extract(); err != nil {
		t.Fatalf("protect: %v", err)
	}
	err = images.Delete(ctx, demo.ServiceClient, id).ExtractErr()
	wantCode(t, err, http.StatusForbidden, "delete a protected image")
	if _, err := images.Update(ctx, demo.ServiceClient, id, images.UpdateOpts{images.ReplaceImageProtected{NewProtected: false}}).Extract(); err != nil {
		t.Fatalf("unprotect: %v", err)
	}

	// Delete.
	if err := images.Delete(ctx, demo.ServiceClient, id).ExtractErr(); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err = images.Get(ctx, demo.ServiceClient, id).Extract()
	wantCode(t, err, http.StatusNotFound, "get a deleted image")
	_, err = download(t, demo.ServiceClient, id)
	wantCode(t, err, http.StatusNotFound, "download a deleted image")
	err = images.Delete(ctx, demo.ServiceClient, id).ExtractErr()
	wantCode(t, err, http.StatusNotFound, "delete a deleted image")
}

// TestImageBadData uploads data that does not match the declared disk_format: refused
// with 415 and a message that names what it is, and the image stays queued.
func TestImageBadData(t *testing.T) {
	_, demo, _, _ := imageSetup(t)
	ctx := t.Context()
	img, err := images.Create(ctx, demo.ServiceClient, images.CreateOpts{Name: "html", DiskFormat: "qcow2", ContainerFormat: "bare"}).Extract()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	page := []byte("<!DOCTYPE html>\n<html><head><title>Not Found</title></head><body>404</body></html>\n")
	err = imagedata.Upload(ctx, demo.ServiceClient, img.ID, bytes.NewReader(page)).ExtractErr()
	wantCode(t, err, http.StatusUnsupportedMediaType, "upload an HTML page as qcow2")
	var ue gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &ue) && !bytes.Contains(bytes.ToLower(ue.Body), []byte("html")) {
		t.Errorf("415 body does not name HTML: %s", ue.Body)
	}
	got, err := images.Get(ctx, demo.ServiceClient, img.ID).Extract()
	if err != nil || got.Status != images.ImageStatusQueued || got.SizeBytes != 0 || got.Checksum != "" {
		t.Errorf("after the refused upload: %+v, %v; want queued without data", got, err)
	}
}

// TestImageMembers shares an image of demo with alt_demo through gophercloud's members
// client: create, list, get, accept, reject, delete.
func TestImageMembers(t *testing.T) {
	_, demo, alt, admin := imageSetup(t)
	ctx := t.Context()
	shared := images.ImageVisibilityShared
	img, err := images.Create(ctx, demo.ServiceClient, images.CreateOpts{
		Name: "gc-shared", DiskFormat: "raw", ContainerFormat: "bare", Visibility: &shared,
	}).Extract()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	data := randomData(t, 1<<20)
	if err := imagedata.Upload(ctx, demo.ServiceClient, img.ID, bytes.NewReader(data)).ExtractErr(); err != nil {
		t.Fatalf("upload: %v", err)
	}

	// Before the membership, alt_demo cannot see it.
	_, err = images.Get(ctx, alt.ServiceClient, img.ID).Extract()
	wantCode(t, err, http.StatusNotFound, "alt_demo: get an image not shared with it")

	m, err := members.Create(ctx, demo.ServiceClient, img.ID, alt.projectID).Extract()
	if err != nil {
		t.Fatalf("add member: %v", err)
	}
	if m.ImageID != img.ID || m.MemberID != alt.projectID || m.Status != "pending" || m.Schema != "/v2/schemas/member" {
		t.Errorf("member: %+v", m)
	}
	_, err = members.Create(ctx, demo.ServiceClient, img.ID, alt.projectID).Extract()
	wantCode(t, err, http.StatusConflict, "add the same member twice")

	pages, err := members.List(demo.ServiceClient, img.ID).AllPages(ctx)
	if err != nil {
		t.Fatalf("list members: %v", err)
	}
	if ms, err := members.ExtractMembers(pages); err != nil || len(ms) != 1 || ms[0].MemberID != alt.projectID {
		t.Errorf("list members: %+v, %v; want only %s", ms, err, alt.projectID)
	}
	if got, err := members.Get(ctx, demo.ServiceClient, img.ID, alt.projectID).Extract(); err != nil || got.Status != "pending" {
		t.Errorf("get member: %+v, %v", got, err)
	}

	// Pending: alt_demo may read it by id but does not list it by default.
	if got, err := images.Get(ctx, alt.ServiceClient, img.ID).Extract(); err != nil || got.ID != img.ID {
		t.Errorf("alt_demo: get a pending shared image: %+v, %v", got, err)
	}
	if ids := imageIDs(listImages(t, alt.ServiceClient, images.ListOpts{})); slices.Contains(ids, img.ID) {
		t.Errorf("alt_demo: default list shows the pending shared image")
	}
	if ids := imageIDs(listImages(t, alt.ServiceClient, images.ListOpts{MemberStatus: images.ImageMemberStatusPending})); !slices.Contains(ids, img.ID) {
		t.Errorf("alt_demo: list member_status=pending: %v, want %s", ids, img.ID)
	}

	// Only the member changes its status; the owner may not accept for it.
	_, err = members.Update(ctx, demo.ServiceClient, img.ID, alt.projectID, members.UpdateOpts{Status: "accepted"}).Extract()
	wantCode(t, err, http.StatusForbidden, "owner accepts for the member")
	acc, err := members.Update(ctx, alt.ServiceClient, img.ID, alt.projectID, members.UpdateOpts{Status: "accepted"}).Extract()
	if err != nil || acc.Status != "accepted" {
		t.Fatalf("alt_demo accepts: %+v, %v", acc, err)
	}
	if ids := imageIDs(listImages(t, alt.ServiceClient, images.ListOpts{})); !slices.Contains(ids, img.ID) {
		t.Errorf("alt_demo: list after accepting: %v, want %s", ids, img.ID)
	}
	if b, err := download(t, alt.ServiceClient, img.ID); err != nil || !bytes.Equal(b, data) {
		t.Errorf("alt_demo: download the shared image: %d bytes, %v", len(b), err)
	}
	_, err = members.Update(ctx, alt.ServiceClient, img.ID, alt.projectID, members.UpdateOpts{Status: "maybe"}).Extract()
	wantCode(t, err, http.StatusBadRequest, "member status maybe")

	// A project that is not a member has no member record to show.
	_, err = members.Get(ctx, demo.ServiceClient, img.ID, admin.projectID).Extract()
	wantCode(t, err, http.StatusNotFound, "get a member that is not one")

	rej, err := members.Update(ctx, alt.ServiceClient, img.ID, alt.projectID, members.UpdateOpts{Status: "rejected"}).Extract()
	if err != nil || rej.Status != "rejected" {
		t.Fatalf("alt_demo rejects: %+v, %v", rej, err)
	}
	if ids := imageIDs(listImages(t, alt.ServiceClient, images.ListOpts{})); slices.Contains(ids, img.ID) {
		t.Errorf("alt_demo: default list shows a rejected shared image")
	}

	if err := members.Delete(ctx, demo.ServiceClient, img.ID, alt.projectID).ExtractErr(); err != nil {
		t.Fatalf("delete member: %v", err)
	}
	_, err = images.Get(ctx, alt.ServiceClient, img.ID).Extract()
	wantCode(t, err, http.StatusNotFound, "alt_demo: get after the membership was deleted")
	_, err = members.Get(ctx, demo.ServiceClient, img.ID, alt.projectID).Extract()
	wantCode(t, err, http.StatusNotFound, "get a deleted member")

	// Private images have no members.
	private := images.ImageVisibilityPrivate
	if _, err := images.Update(ctx, demo.ServiceClient, img.ID, images.UpdateOpts{images.UpdateVisibility{Visibility: private}}).Extract(); err != nil {
		t.Fatalf("make private: %v", err)
	}
	_, err = members.Create(ctx, demo.ServiceClient, img.ID, alt.projectID).Extract()
	wantCode(t, err, http.StatusForbidden, "add a member to a private image")
}
