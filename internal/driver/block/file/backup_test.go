package file

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gostack/gostack/internal/driver/block"
)

// volumeData is 10 chunks and a bit: chunks 0, 3 of random data, 5 of text (it
// compresses), 7 of zeros but for one byte, the rest zeros, and a short last chunk.
func volumeData() []byte {
	cs := defaultChunkSize
	b := make([]byte, 10*cs+12345)
	copy(b[0:], pattern(1, cs))
	copy(b[3*cs:], pattern(2, cs))
	copy(b[5*cs:], bytes.Repeat([]byte("gostack backup "), cs/15))
	b[7*cs+100] = 1
	copy(b[10*cs:], pattern(3, 12345))
	return b
}

func restoreAll(t *testing.T, s *BackupStore, id string) []byte {
	t.Helper()
	r, err := s.Restore(t.Context(), id)
	if err != nil {
		t.Fatalf("restore %s: %v", id, err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("restore %s: %v", id, err)
	}
	return got
}

func TestBackupFullAndIncremental(t *testing.T) {
	dir := t.TempDir()
	s, err := NewBackupStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	cs := int64(defaultChunkSize)
	v1 := volumeData()
	full, err := s.Backup(ctx, "b1", "", bytes.NewReader(v1))
	if err != nil {
		t.Fatal(err)
	}
	// Chunks 0, 3, 5, 7 and 10 hold data; the zeros are not stored; the text compresses.
	if full.SizeBytes != int64(len(v1)) || full.ObjectCount != 5 || full.StoredBytes >= 3*cs+12345+cs/4 {
		t.Errorf("full backup %+v", full)
	}
	// Done already: the same answer, nothing read.
	again, err := s.Backup(ctx, "b1", "", readFunc(func([]byte) (int, error) { return 0, errors.New("must not be read") }))
	if err != nil || again != full {
		t.Errorf("backup again: %+v, %v; want %+v", again, err, full)
	}
	if got := restoreAll(t, s, "b1"); !bytes.Equal(got, v1) {
		t.Fatal("full restore differs from the volume")
	}

	// Change chunk 3, zero chunk 0, write into chunk 8 (was zeros).
	v2 := bytes.Clone(v1)
	v2[3*cs+17] ^= 0xff
	clear(v2[:cs])
	v2[8*cs] = 9
	incr, err := s.Backup(ctx, "b2", "b1", bytes.NewReader(v2))
	if err != nil {
		t.Fatal(err)
	}
	if incr.ObjectCount != 2 || incr.StoredBytes > 2*cs {
		t.Errorf("incremental backup %+v: want chunks 3 and 8 stored", incr)
	}
	// A third level refers to chunks stored by the first and the second.
	v3 := bytes.Clone(v2)
	v3[len(v3)-1] = 0
	incr2, err := s.Backup(ctx, "b3", "b2", bytes.NewReader(v3))
	if err != nil {
		t.Fatal(err)
	}
	if incr2.ObjectCount != 1 {
		t.Errorf("second incremental %+v: want the last chunk stored", incr2)
	}
	for id, want := range map[string][]byte{"b1": v1, "b2": v2, "b3": v3} {
		if got := restoreAll(t, s, id); !bytes.Equal(got, want) {
			t.Errorf("restore %s differs", id)
		}
	}
	m, err := s.load("b3")
	if err != nil {
		t.Fatal(err)
	}
	owners := map[int64]string{}
	for _, c := range m.Chunks {
		owners[c.Index] = c.Backup
	}
	want := map[int64]string{3: "b2", 5: "b1", 7: "b1", 8: "b2", 10: "b3"}
	if diff := cmp.Diff(want, owners); diff != "" {
		t.Errorf("chunk owners of b3 (-want +got):\n%s", diff)
	}
	ids, err := s.Inventory(ctx)
	if err != nil || !cmp.Equal(ids, []string{"b1", "b2", "b3"}) {
		t.Errorf("inventory %v, %v", ids, err)
	}
	for range 2 {
		if err := s.Delete(ctx, "b3"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Restore(ctx, "b3"); !errors.Is(err, block.ErrNotFound) {
		t.Errorf("restore deleted: err = %v, want ErrNotFound", err)
	}
	// Deleting a parent under a child is the service's to refuse; when it happens
	// anyway, the child's restore fails clearly instead of returning wrong data.
	if err := s.Delete(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	r, err := s.Restore(ctx, "b2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("restore with the parent gone: err = %v, want a missing chunk", err)
	}
}

func TestBackupEmptyAndSparse(t *testing.T) {
	s, err := NewBackupStore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for id, size := range map[string]int64{"empty": 0, "zeros": 1 << 30} {
		info, err := s.Backup(ctx, id, "", io.LimitReader(zeroReader{}, size))
		if err != nil {
			t.Fatal(err)
		}
		if info != (block.BackupInfo{SizeBytes: size}) {
			t.Errorf("%s: %+v, want nothing stored", id, info)
		}
		r, err := s.Restore(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, r)
		if err != nil || n != size {
			t.Errorf("%s: restored %d bytes, %v; want %d", id, n, err, size)
		}
	}
}

func TestBackupRefusals(t *testing.T) {
	s, err := NewBackupStore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for name, tc := range map[string]struct {
		id, parent string
		want       error
	}{
		"bad id":        {"../x", "", block.ErrInvalid},
		"bad parent":    {"x", "a/b", block.ErrInvalid},
		"own parent":    {"x", "x", block.ErrInvalid},
		"parent absent": {"x", "nothere", block.ErrNotFound},
	} {
		if _, err := s.Backup(ctx, tc.id, tc.parent, bytes.NewReader([]byte("data"))); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
	// A failing read leaves no backup behind.
	failing := io.MultiReader(bytes.NewReader(pattern(5, 9<<20)), readFunc(func([]byte) (int, error) { return 0, errors.New("disk on fire") }))
	if _, err := s.Backup(ctx, "x", "", failing); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("failing read: err = %v", err)
	}
	if names := listDir(t, s.dir); len(names) != 0 {
		t.Errorf("left after failures: %q", names)
	}
	if err := s.Delete(ctx, ".."); !errors.Is(err, block.ErrInvalid) {
		t.Errorf("delete ..: err = %v", err)
	}
	if _, err := s.Restore(ctx, ""); !errors.Is(err, block.ErrInvalid) {
		t.Errorf("restore empty id: err = %v", err)
	}
}

func TestBackupDamage(t *testing.T) {
	dir := t.TempDir()
	s, err := NewBackupStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	data := volumeData()
	if _, err := s.Backup(t.Context(), "b", "", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	for name, damage := range map[string]func(path string) error{
		"flipped byte": func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 1
			return os.WriteFile(p, b, 0o640)
		},
		"truncated": func(p string) error { return os.Truncate(p, 100) },
		"longer":    func(p string) error { return appendTo(p, []byte("x")) },
		"missing":   os.Remove,
	} {
		for _, chunkName := range []string{chunkFile(0), chunkFile(5)} { // stored raw, zlib
			path := filepath.Join(dir, "b", chunkName)
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := damage(path); err != nil {
				t.Fatal(err)
			}
			r, err := s.Restore(t.Context(), "b")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadAll(r); err == nil {
				t.Errorf("%s %s: restore succeeded", name, chunkName)
			}
			if err := os.WriteFile(path, orig, 0o640); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := restoreAll(t, s, "b"); !bytes.Equal(got, data) {
		t.Error("restore after repair differs")
	}
}

func appendTo(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(b)
	return err
}

func TestBackupUnfinishedRemoved(t *testing.T) {
	dir := t.TempDir()
	s, err := NewBackupStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Backup(t.Context(), "done", "", bytes.NewReader(volumeData())); err != nil {
		t.Fatal(err)
	}
	// What a kill -9 leaves: a directory with chunks and no manifest, a manifest
	// temporary next to a finished manifest; and things the store must not touch.
	mk := func(name string, data string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	mk("interrupted/"+chunkFile(0), "chunk")
	mk("done/"+tmpPrefix+manifestName, "{")
	mk("not.a-backup/file", "keep")
	mk("README", "keep")
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o750); err != nil {
		t.Fatal(err)
	}
	s, err = NewBackupStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"README", "done", "not.a-backup"}, listDir(t, dir)); diff != "" {
		t.Errorf("store directory (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(dir, "done", tmpPrefix+manifestName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("manifest temporary not removed: %v", err)
	}
	if got := restoreAll(t, s, "done"); !bytes.Equal(got, volumeData()) {
		t.Error("the finished backup changed")
	}
	ids, _ := s.Inventory(t.Context())
	if !cmp.Equal(ids, []string{"done"}) {
		t.Errorf("inventory %v", ids)
	}
	// A backup interrupted in this process's life is redone from its start.
	mk("again/"+chunkFile(3), "stale")
	if _, err := s.Backup(t.Context(), "again", "", bytes.NewReader([]byte("new"))); err != nil {
		t.Fatal(err)
	}
	if got := restoreAll(t, s, "again"); string(got) != "new" {
		t.Errorf("redone backup restores %q", got)
	}
}
