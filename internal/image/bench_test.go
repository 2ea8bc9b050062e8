package image

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// benchMiB is the size of the image the upload and download benchmarks move: 256 MiB, or
// -image.bench.mib / GOSTACK_BENCH_IMAGE_MIB (1024 for the 1 GiB figure).
var benchMiB = flag.Int("image.bench.mib", 0, "image size in MiB for the upload/download benchmarks (default 256)")

func benchSize() int64 {
	mib := *benchMiB
	if mib == 0 {
		mib, _ = strconv.Atoi(os.Getenv("GOSTACK_BENCH_IMAGE_MIB"))
	}
	if mib <= 0 {
		mib = 256
	}
	return int64(mib) << 20
}

// benchFile writes a file of random data in dir (the same filesystem as the store).
func benchFile(b *testing.B, dir string, size int64) string {
	b.Helper()
	p := filepath.Join(dir, "source.img")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for written := int64(0); written < size; written += int64(len(buf)) {
		_, _ = rand.Read(buf)
		buf[510], buf[511] = 0, 0
		if _, err := f.Write(buf[:min(int64(len(buf)), size-written)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkCopyFile is the baseline for the upload benchmark: io.Copy of the same file
// to a new file on the same disk, synced as the store syncs (what `cp && sync` does).
func BenchmarkCopyFile(b *testing.B) {
	dir := b.TempDir()
	size := benchSize()
	src := benchFile(b, dir, size)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		in, _ := os.Open(src)
		out, _ := os.Create(filepath.Join(dir, "copy.img"))
		if _, err := io.Copy(out, in); err != nil {
			b.Fatal(err)
		}
		_ = out.Sync()
		out.Close()
		in.Close()
		os.Remove(filepath.Join(dir, "copy.img"))
	}
}

// BenchmarkIngest is the upload path without HTTP: the file goes through ingest (md5,
// sha512, the inspector) into a temporary file of the store, which is committed (fsync,
// rename) as an upload's is. The time the commit takes is reported apart (commit-s/op).
func BenchmarkIngest(b *testing.B) {
	dir := b.TempDir()
	files, err := openFileStore(filepath.Join(dir, "store"))
	if err != nil {
		b.Fatal(err)
	}
	size := benchSize()
	src := benchFile(b, dir, size)
	id := api.NewUUID()
	dst, _ := files.dataPath(id)
	b.SetBytes(size)
	b.ReportAllocs()
	var cpu, commitTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		in, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		tmp, err := files.createTemp(id)
		if err != nil {
			b.Fatal(err)
		}
		c0 := processCPU()
		d, err := ingest(context.Background(), in, files.writer(tmp), 0, newInspectorWriter().writer())
		if err == nil {
			t0 := time.Now()
			err = files.commit(tmp, dst)
			commitTime += time.Since(t0)
		}
		cpu += processCPU() - c0
		in.Close()
		if err != nil || d.size != size {
			b.Fatalf("ingest: %v, %d bytes", err, d.size)
		}
		b.StopTimer()
		os.Remove(dst)
		b.StartTimer()
	}
	reportCPU(b, cpu)
	b.ReportMetric(commitTime.Seconds()/float64(b.N), "commit-s/op")
}

// BenchmarkUpload uploads the file over HTTP (a real listener) into a new image each
// time: md5, sha512 and the inspector run, the file is synced and renamed, the row
// turns active. Memory per upload is reported (B/op, the peak Go heap and the peak RSS of
// the process, client included), and stays at the fixed buffers whatever the size; so is
// the CPU time the process spends per upload (client included).
func BenchmarkUpload(b *testing.B) {
	tc := newTestCloud(b)
	srv := httptest.NewServer(tc.handler)
	defer srv.Close()
	size := benchSize()
	src := benchFile(b, tc.dir, size)
	b.SetBytes(size)
	b.ReportAllocs()
	var peak, peakRSS uint64
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		id := tc.createImage(b, tc.demo.token, map[string]any{"name": "bench", "disk_format": "raw", "container_format": "bare"})["id"].(string)
		f, _ := os.Open(src)
		req, _ := http.NewRequest("PUT", srv.URL+"/image/v2/images/"+id+"/file", f)
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("X-Auth-Token", tc.demo.token)
		done := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			var ms runtime.MemStats
			for {
				select {
				case <-done:
					return
				case <-time.After(20 * time.Millisecond):
					runtime.ReadMemStats(&ms)
					if ms.HeapInuse > peak {
						peak = ms.HeapInuse
					}
				}
			}
		}()
		resetPeakRSS()
		c0 := processCPU()
		b.StartTimer()
		resp, err := http.DefaultClient.Do(req)
		b.StopTimer()
		cpu += processCPU() - c0
		peakRSS = max(peakRSS, readPeakRSS())
		close(done)
		<-sampled
		f.Close()
		if err != nil || resp.StatusCode != 204 {
			b.Fatalf("upload: %v %v", err, resp)
		}
		resp.Body.Close()
		tc.json(b, "DELETE", "/image/v2/images/"+id, tc.demo.token, nil)
		b.StartTimer()
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	if peakRSS > 0 {
		b.ReportMetric(float64(peakRSS)/(1<<20), "peak-RSS-MiB")
	}
	reportCPU(b, cpu)
}

// reportCPU reports the process's CPU time per operation, when it could be measured:
// next to the wall time it tells whether the cores were the limit.
func reportCPU(b *testing.B, cpu time.Duration) {
	if cpu > 0 {
		b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	}
}

// processCPU is the CPU time (user and system) the process has used, from /proc; zero
// where there is no /proc.
func processCPU() time.Duration {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// The fields after the command name (which may hold spaces) start at state, field 3;
	// utime and stime are fields 14 and 15, in clock ticks (USER_HZ, 100 on Linux).
	i := bytes.LastIndexByte(stat, ')')
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// resetPeakRSS resets the process's peak resident set size (VmHWM), where Linux allows.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// readPeakRSS is the process's peak resident set size in bytes, zero where unknown.
func readPeakRSS() uint64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkReadFile is the baseline for the download benchmark: io.Copy of the same
// file to io.Discard.
func BenchmarkReadFile(b *testing.B) {
	dir := b.TempDir()
	size := benchSize()
	src := benchFile(b, dir, size)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		in, _ := os.Open(src)
		if _, err := io.Copy(io.Discard, in); err != nil {
			b.Fatal(err)
		}
		in.Close()
	}
}

// BenchmarkDownload downloads an image of the same size over HTTP.
func BenchmarkDownload(b *testing.B) {
	tc := newTestCloud(b)
	srv := httptest.NewServer(tc.handler)
	defer srv.Close()
	size := benchSize()
	src := benchFile(b, tc.dir, size)
	id := tc.createImage(b, tc.demo.token, map[string]any{"name": "bench", "disk_format": "raw", "container_format": "bare"})["id"].(string)
	f, _ := os.Open(src)
	req, _ := http.NewRequest("PUT", srv.URL+"/image/v2/images/"+id+"/file", f)
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-Auth-Token", tc.demo.token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		b.Fatalf("upload: %v %v", err, resp)
	}
	f.Close()
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest("GET", srv.URL+"/image/v2/images/"+id+"/file", nil)
		req.Header.Set("X-Auth-Token", tc.demo.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("download: %v %v", err, resp)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n != size {
			b.Fatalf("downloaded %d bytes", n)
		}
	}
}

// BenchmarkList5000 lists images (the first page, as `openstack image list` starts)
// with 5,000 images in the store, and reports the median request time.
func BenchmarkList5000(b *testing.B) {
	tc := newTestCloud(b)
	seedImages(b, tc, 5000)
	for _, tt := range []struct{ name, query, token string }{
		{"first-page", "", tc.demo.token},
		{"limit-1000", "?limit=1000", tc.demo.token},
		{"name-filter", "?name=img-4242", tc.demo.token},
		// Another project sees none of the 5,000: the whole table is walked.
		{"none-visible", "", tc.alt.token},
	} {
		b.Run(tt.name, func(b *testing.B) {
			var d []time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				rec := tc.request(b, "GET", "/image/v2/images"+tt.query, tt.token, "", nil)
				d = append(d, time.Since(start))
				if rec.Code != 200 {
					b.Fatalf("list: %d", rec.Code)
				}
			}
			sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
			b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "p50-ms")
		})
	}
}

// seedImages inserts n images (with a property and a tag each) for demo directly.
func seedImages(b *testing.B, tc *testCloud, n int) {
	b.Helper()
	ctx := context.Background()
	err := tc.db.InTx(ctx, func(tx *store.Tx) error {
		for i := 0; i < n; i++ {
			t := now().Add(time.Duration(i) * time.Millisecond)
			img := &image{ID: api.NewUUID(), Name: ptr(fmt.Sprintf("img-%d", i)), Owner: ptr(tc.demo.project),
				Status: statusActive, Visibility: "shared", DiskFormat: ptr("qcow2"), ContainerFormat: ptr("bare"),
				Size: ptr(int64(i)), CreatedAt: t, UpdatedAt: t, HasData: true,
				Props: map[string]*string{"os_distro": ptr("debian")}, Tags: []string{"t"}}
			if err := insertImage(ctx, tx, img); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
