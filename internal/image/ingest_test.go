package image

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// oddReader hands out its data in reads of varying, odd sizes, as a network connection
// does.
type oddReader struct {
	data []byte
	i    int
}

func (r *oddReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	r.i++
	n := min(len(p), len(r.data), 1+(r.i*7919)%(300<<10))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// TestIngestSizes checks the data, the hashes and what the inspector sees for sizes around
// the chunk boundaries, with readers that fill a chunk at once and readers that do not,
// into a plain writer and into a file (the writeback path).
func TestIngestSizes(t *testing.T) {
	sizes := []int{0, 1, 511, chunkSize - 1, chunkSize, chunkSize + 1, 2*chunkSize - 1, 2 * chunkSize,
		chunkCount * chunkSize, chunkCount*chunkSize + 1, 3*chunkCount*chunkSize + 12345, writebackStep + chunkSize/2}
	all := randomBytes(t, slicesMax(sizes))
	for _, size := range sizes {
		data := all[:size]
		sumMD5, sumSHA := md5.Sum(data), sha512.Sum512(data)
		for _, src := range []struct {
			name string
			r    func() io.Reader
		}{
			{"whole", func() io.Reader { return bytes.NewReader(data) }},
			{"odd", func() io.Reader { return &oddReader{data: data} }},
		} {
			t.Run(fmt.Sprintf("%d/%s", size, src.name), func(t *testing.T) {
				var dst, seen bytes.Buffer
				d, err := ingest(t.Context(), src.r(), &dst, int64(size), &seen)
				if err != nil {
					t.Fatal(err)
				}
				if d.size != int64(size) || d.md5 != hex.EncodeToString(sumMD5[:]) || d.sha512 != hex.EncodeToString(sumSHA[:]) {
					t.Errorf("digest %+v, want size %d md5 %x", d, size, sumMD5)
				}
				if !bytes.Equal(dst.Bytes(), data) {
					t.Errorf("written data differs: %d bytes, want %d", dst.Len(), size)
				}
				if !bytes.Equal(seen.Bytes(), data) {
					t.Errorf("inspected data differs: %d bytes, want %d", seen.Len(), size)
				}
			})
		}
		t.Run(fmt.Sprintf("%d/file", size), func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "data"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			d, err := ingest(t.Context(), &oddReader{data: data}, f, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			if d.sha512 != hex.EncodeToString(sumSHA[:]) || !bytes.Equal(got, data) {
				t.Errorf("file holds %d bytes, identical=%v; sha512 ok=%v", len(got), bytes.Equal(got, data), d.sha512 == hex.EncodeToString(sumSHA[:]))
			}
		})
	}
}

func slicesMax(s []int) int {
	m := 0
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

// TestIngestLimit: exactly the limit passes, one byte more does not.
func TestIngestLimit(t *testing.T) {
	data := randomBytes(t, 2*chunkSize+3)
	if _, err := ingest(t.Context(), bytes.NewReader(data), io.Discard, int64(len(data)), nil); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	if _, err := ingest(t.Context(), bytes.NewReader(data), io.Discard, int64(len(data)-1), nil); !errors.Is(err, errTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
}

// endless is an endless source of data that counts what it hands out.
type endless struct{ n atomic.Int64 }

func (r *endless) Read(p []byte) (int, error) {
	r.n.Add(int64(len(p)))
	return len(p), nil
}

// fullDisk accepts limit bytes and then fails as a full disk does.
type fullDisk struct {
	w     io.Writer
	limit int64
}

func (d *fullDisk) Write(p []byte) (int, error) {
	if int64(len(p)) > d.limit {
		n, _ := d.w.Write(p[:d.limit])
		d.limit = 0
		return n, &os.PathError{Op: "write", Path: "image", Err: syscall.ENOSPC}
	}
	d.limit -= int64(len(p))
	return d.w.Write(p)
}

// checkGoroutines fails when the goroutines started since before do not end.
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestIngestStageFails: a failing writer (a full disk) stops an endless source promptly,
// the error is the writer's, and no stage is left running.
func TestIngestStageFails(t *testing.T) {
	before := runtime.NumGoroutine()
	src := &endless{}
	_, err := ingest(t.Context(), src, &fullDisk{w: io.Discard, limit: 5*chunkSize + 100}, 0, nil)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("error %v, want ENOSPC", err)
	}
	if n := src.n.Load(); n > (5+chunkCount+2)*chunkSize {
		t.Errorf("read %d bytes after the disk filled at %d", n, 5*chunkSize)
	}
	checkGoroutines(t, before)
}

// TestIngestReadFails: a source cut short is a *readError that keeps the cause.
func TestIngestReadFails(t *testing.T) {
	before := runtime.NumGoroutine()
	src := io.MultiReader(bytes.NewReader(randomBytes(t, 3*chunkSize+5)), iotestErrReader{io.ErrUnexpectedEOF})
	_, err := ingest(t.Context(), src, io.Discard, 0, nil)
	var re *readError
	if !errors.As(err, &re) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("error %v, want a readError for an unexpected EOF", err)
	}
	checkGoroutines(t, before)
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

// TestIngestCanceled: ingest ends with the context.
func TestIngestCanceled(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(t.Context())
	src := &cancelAfter{n: 4 * chunkSize, cancel: cancel}
	_, err := ingest(ctx, src, io.Discard, 0, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	checkGoroutines(t, before)
}

// cancelAfter is an endless source that cancels a context after n bytes.
type cancelAfter struct {
	n      int
	cancel func()
}

func (r *cancelAfter) Read(p []byte) (int, error) {
	r.n -= len(p)
	if r.n <= 0 {
		r.cancel()
	}
	return len(p), nil
}

// gate is a writer that blocks until it is opened.
type gate struct{ open chan struct{} }

func (g *gate) Write(p []byte) (int, error) {
	<-g.open
	return len(p), nil
}

// TestIngestBackpressure: while a stage is stuck, the reader takes no more than the
// chunks can hold, however much the source offers; memory stays flat.
func TestIngestBackpressure(t *testing.T) {
	src := &endlessUntil{limit: 64 * chunkSize}
	g := &gate{open: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := ingest(context.Background(), src, g, 0, nil)
		done <- err
	}()
	// Wait for the reader to stall.
	var last int64 = -1
	for {
		time.Sleep(50 * time.Millisecond)
		n := src.n.Load()
		if n == last {
			break
		}
		last = n
	}
	if most := int64(chunkCount+1) * chunkSize; last > most {
		t.Errorf("reader took %d bytes with a stage stuck, more than the %d the chunks hold", last, most)
	}
	close(g.open)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := src.n.Load(); n != src.limit {
		t.Errorf("read %d bytes, want %d", n, src.limit)
	}
}

// endlessUntil hands out limit bytes, counting them.
type endlessUntil struct {
	n     atomic.Int64
	limit int64
}

func (r *endlessUntil) Read(p []byte) (int, error) {
	left := r.limit - r.n.Load()
	if left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), left))
	r.n.Add(int64(n))
	return n, nil
}

// TestUploadDiskFull fills the disk in the middle of an upload and of a staging: a 413
// that says so, the image back to queued with nothing recorded, no file left behind.
func TestUploadDiskFull(t *testing.T) {
	tc := newTestCloud(t)
	tc.svc.files.sink = func(tmp *os.File) io.Writer { return &fullDisk{w: tmp, limit: 3*chunkSize + 7} }
	data := randomBytes(t, 20*chunkSize)
	for _, path := range []string{"file", "stage"} {
		t.Run(path, func(t *testing.T) {
			id := tc.createImage(t, tc.demo.token, map[string]any{"name": "full", "disk_format": "raw", "container_format": "bare"})["id"].(string)
			rec := tc.request(t, "PUT", "/image/v2/images/"+id+"/"+path, tc.demo.token, "application/octet-stream", bytes.NewReader(data))
			if rec.Code != 413 || !strings.Contains(rec.Body.String(), "not enough disk space") {
				t.Errorf("upload to a full disk: %d %s", rec.Code, rec.Body)
			}
			img := tc.show(t, tc.demo.token, id)
			if img["status"] != "queued" || img["size"] != nil || img["checksum"] != nil || img["os_hash_value"] != nil {
				t.Errorf("image after a full disk: status %v size %v checksum %v", img["status"], img["size"], img["checksum"])
			}
			if files := storeFiles(t, tc); len(files) != 0 {
				t.Errorf("full disk left %v", files)
			}
		})
	}
	tc.svc.files.sink = nil
	id := tc.createImage(t, tc.demo.token, map[string]any{"name": "roomy", "disk_format": "raw", "container_format": "bare"})["id"].(string)
	if rec := tc.upload(t, tc.demo.token, id, data); rec.Code != 204 {
		t.Errorf("upload once there is room: %d %s", rec.Code, rec.Body)
	}
}

// TestUploadDisconnectManyChunks: a client that goes away after many chunks, with more
// in flight, leaves the image queued, no temporary file and no stage running.
func TestUploadDisconnectManyChunks(t *testing.T) {
	tc := newTestCloud(t)
	srv := httptest.NewServer(tc.handler)
	defer srv.Close()
	before := runtime.NumGoroutine()
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			id := tc.createImage(t, tc.demo.token, map[string]any{"name": "cut", "disk_format": "raw", "container_format": "bare"})["id"].(string)
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			framing := fmt.Sprintf("Content-Length: %d", 64*chunkSize)
			if chunked {
				framing = "Transfer-Encoding: chunked"
			}
			fmt.Fprintf(conn, "PUT /image/v2/images/%s/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: %s\r\n"+
				"Content-Type: application/octet-stream\r\n%s\r\n\r\n", id, tc.demo.token, framing)
			data := randomBytes(t, 2*chunkSize+99)
			for i := 0; i < 2*chunkCount; i++ {
				if chunked {
					fmt.Fprintf(conn, "%x\r\n", len(data))
				}
				if _, err := conn.Write(data); err != nil {
					t.Fatal(err)
				}
				if chunked {
					fmt.Fprint(conn, "\r\n")
				}
			}
			waitStatus(t, tc, id, "saving")
			conn.Close()
			img := waitStatus(t, tc, id, "queued")
			if img["size"] != nil || img["checksum"] != nil {
				t.Errorf("interrupted upload recorded size %v checksum %v", img["size"], img["checksum"])
			}
			if files := storeFiles(t, tc); len(files) != 0 {
				t.Errorf("interrupted upload left %v", files)
			}
		})
	}
	srv.CloseClientConnections()
	checkGoroutines(t, before)
}

// readerFromRecorder is a response writer that, like the server's, can read from a
// reader, and records what it was handed.
type readerFromRecorder struct {
	*httptest.ResponseRecorder
	srcs []string
}

func (w *readerFromRecorder) ReadFrom(r io.Reader) (int64, error) {
	desc := fmt.Sprintf("%T", r)
	if lr, ok := r.(*io.LimitedReader); ok {
		desc += fmt.Sprintf("(%T, %d)", lr.R, lr.N)
	}
	w.srcs = append(w.srcs, desc)
	return io.Copy(w.ResponseRecorder, r)
}

// TestDownloadSendfile: a download, whole or ranged, hands the server's writer the image
// file itself, limited to the range, which is what lets the connection use sendfile.
func TestDownloadSendfile(t *testing.T) {
	tc := newTestCloud(t)
	id := tc.createImage(t, tc.demo.token, map[string]any{"name": "dl", "disk_format": "raw", "container_format": "bare"})["id"].(string)
	data := randomBytes(t, 3*chunkSize+5)
	if rec := tc.upload(t, tc.demo.token, id, data); rec.Code != 204 {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	for _, tt := range []struct {
		rng    string
		status int
		want   []byte
	}{
		{"", 200, data},
		{"bytes=1000-", 206, data[1000:]},
		{"bytes=5-2000004", 206, data[5:2000005]},
	} {
		req := httptest.NewRequest("GET", "/image/v2/images/"+id+"/file", nil)
		req.Header.Set("X-Auth-Token", tc.demo.token)
		if tt.rng != "" {
			req.Header.Set("Range", tt.rng)
		}
		w := &readerFromRecorder{ResponseRecorder: httptest.NewRecorder()}
		tc.handler.ServeHTTP(w, req)
		if w.Code != tt.status || !bytes.Equal(w.Body.Bytes(), tt.want) {
			t.Errorf("range %q: %d, %d bytes, identical=%v", tt.rng, w.Code, w.Body.Len(), bytes.Equal(w.Body.Bytes(), tt.want))
		}
		if want := fmt.Sprintf("*io.LimitedReader(*os.File, %d)", len(tt.want)); len(w.srcs) != 1 || w.srcs[0] != want {
			t.Errorf("range %q: the writer read from %v, want %s", tt.rng, w.srcs, want)
		}
	}
}

// TestFileStage writes odd sequences through the file stage, across the writeback steps;
// the file must hold exactly the data.
func TestFileStage(t *testing.T) {
	data := randomBytes(t, 3*writebackStep)
	for _, writes := range [][]int{
		{chunkSize, chunkSize, 12345},
		{1, writebackStep, chunkSize, 7, writebackStep - 3, writebackStep / 2},
		{writebackStep - 1, 1, 1, writebackStep},
	} {
		t.Run(fmt.Sprint(writes), func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "data"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			w := newFileStage(f)
			off := 0
			for i, n := range writes {
				if m, err := w.Write(data[off : off+n]); err != nil || m != n {
					t.Fatalf("write %d (%d bytes): %d, %v", i, n, m, err)
				}
				off += n
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data[:off]) {
				t.Errorf("file holds %d bytes, want %d, identical=%v", len(got), off, bytes.Equal(got, data[:off]))
			}
		})
	}
}
