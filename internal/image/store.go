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
	// sink, when set, is what ingest writes a temporary file's data to instead of the
	// file itself: tests put a failing disk there.
	sink func(tmp *os.File) io.Writer
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

// writer is where ingest writes a temporary file's data.
func (f *fileStore) writer(tmp *os.File) io.Writer {
	if f.sink != nil {
		return f.sink(tmp)
	}
	return tmp
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
// whatever the image size. The buffers are reused from one upload to the next.
const (
	chunkSize  = 1 << 20
	chunkCount = 8
)

// writebackStep is how much written data the file stage lets pile up before it asks the
// kernel to start writing it to disk, so that the fsync at commit has little left to do.
const writebackStep = 16 << 20

// chunkPool keeps ingest's buffers between uploads.
var chunkPool = sync.Pool{New: func() any { return &chunk{buf: make([]byte, chunkSize)} }}

// ingest copies src to dst while computing md5 and sha512 and feeding inspector (the
// format inspector; nil for none). It is a pipeline: the calling goroutine reads src into
// a few reusable chunks, shows each to the inspector (cheap: it keeps a head and a tail)
// and hands it, in order, to three stages that run concurrently (md5, sha512 and dst),
// taking the chunk back once all three are done with it. Throughput is that of the slowest
// stage rather than the sum of them, and memory stays at the chunks. When dst is an
// *os.File (a new, empty file), its writeback to disk starts while the data still arrives
// (see newFileStage).
//
// ingest stops with errTooLarge once more than limit bytes arrive (limit <= 0: no
// limit), with a *readError when src fails, with ctx's error once ctx is done, and with a
// stage's error (a full disk) when a stage fails; the first failure stops the rest. It
// returns only when no stage touches dst any more, so the caller may discard it at once.
func ingest(ctx context.Context, src io.Reader, dst io.Writer, limit int64, inspector io.Writer) (digest, error) {
	hm, hs := md5.New(), sha512.New()
	if f, ok := dst.(*os.File); ok {
		dst = newFileStage(f)
	}
	p := startPipeline(dst, hm, hs)
	n, err := p.run(ctx, src, limit, inspector)
	if serr := p.finish(); err == nil {
		err = serr
	}
	if err != nil {
		return digest{}, err
	}
	return digest{size: n, md5: hex.EncodeToString(hm.Sum(nil)), sha512: hex.EncodeToString(hs.Sum(nil))}, nil
}

// chunk is one buffer of data on its way through every stage.
type chunk struct {
	buf  []byte
	n    int
	refs atomic.Int32 // stages not yet done with it
}

// pipeline hands each chunk the reader fills to every stage's goroutine and recycles it
// once all of them are done. The reader waits for a free chunk, so a slow stage holds the
// reader back instead of letting data pile up.
type pipeline struct {
	free   chan *chunk   // chunks nobody uses
	queues []chan *chunk // one per stage; never full, as there are only chunkCount chunks
	wg     sync.WaitGroup
	once   sync.Once
	failed atomic.Bool   // a stage failed: stop reading, stop writing
	stop   chan struct{} // closed when a stage fails
	err    error         // the first stage error; read after wg.Wait
}

// startPipeline starts one goroutine per stage.
func startPipeline(stages ...io.Writer) *pipeline {
	p := &pipeline{free: make(chan *chunk, chunkCount), stop: make(chan struct{})}
	for range chunkCount {
		p.free <- chunkPool.Get().(*chunk)
	}
	for _, w := range stages {
		q := make(chan *chunk, chunkCount)
		p.queues = append(p.queues, q)
		p.wg.Add(1)
		go p.stage(w, q)
	}
	return p
}

// stage writes every chunk of q to w until q is closed; once any stage has failed it only
// releases chunks.
func (p *pipeline) stage(w io.Writer, q <-chan *chunk) {
	defer p.wg.Done()
	for c := range q {
		if !p.failed.Load() {
			if _, err := w.Write(c.buf[:c.n]); err != nil {
				p.fail(err)
			}
		}
		if c.refs.Add(-1) == 0 {
			p.free <- c
		}
	}
}

// fail records the first stage error and stops the pipeline.
func (p *pipeline) fail(err error) {
	p.once.Do(func() {
		p.err = err
		p.failed.Store(true)
		close(p.stop)
	})
}

// run reads src to its end, handing chunks to the stages, and returns how many bytes it
// handed over. It returns nil when it stopped because a stage failed: finish reports that.
func (p *pipeline) run(ctx context.Context, src io.Reader, limit int64, inspector io.Writer) (int64, error) {
	var total int64
	for {
		var c *chunk
		select {
		case c = <-p.free:
		case <-p.stop:
			return total, nil
		case <-ctx.Done():
			return total, ctx.Err()
		}
		n, err := p.fill(src, c.buf)
		if p.failed.Load() {
			p.free <- c
			return total, nil
		}
		if n > 0 {
			total += int64(n)
			if limit > 0 && total > limit {
				p.free <- c
				return total, errTooLarge
			}
			if inspector != nil {
				if _, err := inspector.Write(c.buf[:n]); err != nil {
					p.free <- c
					return total, err
				}
			}
			c.n = n
			c.refs.Store(int32(len(p.queues)))
			for _, q := range p.queues {
				q <- c
			}
		} else {
			p.free <- c
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, &readError{err}
		}
	}
}

// fill reads into buf until it is full, the reader ends (io.EOF) or fails, or a stage
// fails. Unlike io.ReadFull it keeps a reader's own io.ErrUnexpectedEOF (a body cut short)
// apart from a normal end.
func (p *pipeline) fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) && !p.failed.Load() {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// finish waits for the stages to drain, returns the chunks to the pool and returns the
// first stage error.
func (p *pipeline) finish() error {
	for _, q := range p.queues {
		close(q)
	}
	p.wg.Wait()
	for {
		select {
		case c := <-p.free:
			c.n = 0
			chunkPool.Put(c)
		default:
			return p.err
		}
	}
}
