package image

import (
	"context"
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// storeID names the one store gostack has, as Glance names its enabled backends.
const storeID = "file"

// fileStore is the filesystem store. Layout under dir:
//
//	<id>            image data, present once the image row says has_data
//	.staging/<id>   data staged for import (PUT /stage), complete once renamed there
//	.tmp/<id>.*     writes in progress; anything here at start-up is debris
//
// Files are always written under .tmp, synced, then renamed into place, so a file at its
// final name is complete.
type fileStore struct {
	dir, stageDir, tmpDir string
}

// openFileStore creates the store directories.
func openFileStore(dir string) (*fileStore, error) {
	f := &fileStore{dir: dir, stageDir: filepath.Join(dir, ".staging"), tmpDir: filepath.Join(dir, ".tmp")}
	for _, d := range []string{f.dir, f.stageDir, f.tmpDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create image store: %w", err)
		}
	}
	return f, nil
}

// errBadID guards the store against names that are not image ids.
var errBadID = errors.New("not an image id")

// dataPath is where an image's data lives.
func (f *fileStore) dataPath(id string) (string, error) {
	if !uuidRE.MatchString(id) {
		return "", errBadID
	}
	return filepath.Join(f.dir, id), nil
}

// stagePath is where an image's staged data lives.
func (f *fileStore) stagePath(id string) (string, error) {
	if !uuidRE.MatchString(id) {
		return "", errBadID
	}
	return filepath.Join(f.stageDir, id), nil
}

// createTemp opens a new temporary file for an image's data.
func (f *fileStore) createTemp(id string) (*os.File, error) {
	if !uuidRE.MatchString(id) {
		return nil, errBadID
	}
	tmp, err := os.CreateTemp(f.tmpDir, id+".*")
	if err != nil {
		return nil, fmt.Errorf("create temporary image file: %w", err)
	}
	return tmp, nil
}

// commit makes a temporary file durable and moves it to dst.
func (f *fileStore) commit(tmp *os.File, dst string) error {
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("sync image file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("close image file: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("store image file: %w", err)
	}
	return syncDir(filepath.Dir(dst))
}

// discard closes and removes a temporary file.
func (f *fileStore) discard(tmp *os.File) {
	tmp.Close()
	os.Remove(tmp.Name())
}

// remove deletes a file, ignoring one that is already gone.
func remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// removeAll deletes an image's data and staged data.
func (f *fileStore) removeAll(id string) {
	if p, err := f.dataPath(id); err == nil {
		_ = remove(p)
	}
	if p, err := f.stagePath(id); err == nil {
		_ = remove(p)
	}
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open store directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync store directory: %w", err)
	}
	return nil
}

// Errors of ingest.
var (
	// errTooLarge is returned when the data exceeds the ingest limit.
	errTooLarge = errors.New("image data exceeds the size limit")
)

// readError wraps a failure to read the client's data (a cut connection, a truncated
// body), as opposed to a failure to store it.
type readError struct{ err error }

func (e *readError) Error() string { return "read image data: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// digest is what ingest learns about the data it copied.
type digest struct {
	size   int64
	md5    string
	sha512 string
}

// chunkSize and chunkCount size ingest's buffers: memory per upload is their product,
// whatever the image size.
const (
	chunkSize  = 1 << 20
	chunkCount = 8
)

// ingest copies src to dst while computing md5 and sha512 and feeding extra (the format
// inspector), all in parallel: each consumer runs in its own goroutine on shared chunks,
// so throughput is that of the slowest consumer rather than the sum of them. It stops
// with errTooLarge once more than limit bytes arrive (limit <= 0: no limit), with a
// *readError when src fails, and with the consumer's error when one fails.
func ingest(ctx context.Context, src io.Reader, dst io.Writer, limit int64, extra io.Writer) (digest, error) {
	hm, hs := md5.New(), sha512.New()
	sinks := []io.Writer{dst, hm, hs}
	if extra != nil {
		sinks = append(sinks, extra)
	}
	fo := newFanout(sinks)
	n, err := fo.readFrom(ctx, src, limit)
	if cerr := fo.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return digest{}, err
	}
	return digest{size: n, md5: hex.EncodeToString(hm.Sum(nil)), sha512: hex.EncodeToString(hs.Sum(nil))}, nil
}

// chunk is one buffer of data on its way to every sink.
type chunk struct {
	buf  []byte
	n    int
	refs atomic.Int32
}

// fanout hands each chunk it reads to every sink's goroutine and recycles the chunk
// once all of them are done with it.
type fanout struct {
	sinks  []io.Writer
	queues []chan *chunk
	free   chan *chunk
	wg     sync.WaitGroup
	failed atomic.Bool
	mu     sync.Mutex
	err    error
}

// newFanout starts one goroutine per sink.
func newFanout(sinks []io.Writer) *fanout {
	fo := &fanout{sinks: sinks, free: make(chan *chunk, chunkCount)}
	for i := 0; i < chunkCount; i++ {
		fo.free <- &chunk{buf: make([]byte, chunkSize)}
	}
	for _, s := range sinks {
		q := make(chan *chunk, chunkCount)
		fo.queues = append(fo.queues, q)
		fo.wg.Add(1)
		go fo.drain(s, q)
	}
	return fo
}

// drain writes every chunk of q to s until q is closed; after a failure it only
// releases chunks.
func (fo *fanout) drain(s io.Writer, q chan *chunk) {
	defer fo.wg.Done()
	for c := range q {
		if !fo.failed.Load() {
			if _, err := s.Write(c.buf[:c.n]); err != nil {
				fo.fail(err)
			}
		}
		if c.refs.Add(-1) == 0 {
			fo.free <- c
		}
	}
}

// fail records the first sink error.
func (fo *fanout) fail(err error) {
	fo.mu.Lock()
	if fo.err == nil {
		fo.err = err
	}
	fo.mu.Unlock()
	fo.failed.Store(true)
}

// readFrom reads src to its end, handing chunks to the sinks.
func (fo *fanout) readFrom(ctx context.Context, src io.Reader, limit int64) (int64, error) {
	var total int64
	for {
		if fo.failed.Load() {
			return total, nil
		}
		var c *chunk
		select {
		case c = <-fo.free:
		case <-ctx.Done():
			return total, ctx.Err()
		}
		n, err := fill(src, c.buf)
		if n > 0 {
			total += int64(n)
			if limit > 0 && total > limit {
				fo.free <- c
				return total, errTooLarge
			}
			c.n = n
			c.refs.Store(int32(len(fo.queues)))
			for _, q := range fo.queues {
				q <- c
			}
		} else {
			fo.free <- c
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, &readError{err}
		}
	}
}

// close waits for the sinks and returns the first sink error.
func (fo *fanout) close() error {
	for _, q := range fo.queues {
		close(q)
	}
	fo.wg.Wait()
	fo.mu.Lock()
	defer fo.mu.Unlock()
	return fo.err
}

// fill reads into buf until it is full, the reader ends (io.EOF) or fails. Unlike
// io.ReadFull it keeps a reader's own io.ErrUnexpectedEOF (a body cut short) apart from a
// normal end.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
