package file

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"github.com/gostack/gostack/internal/driver/block"
)

// defaultChunkSize is the size of the chunks a backup cuts the volume into.
const defaultChunkSize = 4 << 20

// BackupStore keeps backups under a directory, as Cinder's chunked POSIX backup driver
// does: one directory per backup holding a file per stored chunk and, written last and
// atomically, manifest.json. Chunks are cut at fixed offsets, hashed (sha256) and
// compressed (zlib, or stored as they are when that does not pay); all-zero chunks are
// not stored at all, so a sparse volume backs up small; an incremental backup stores
// only the chunks whose hash differs from its parent's chunk at the same offset and
// refers to the parent's (or an older ancestor's) file for the others. It implements
// block.BackupStore.
type BackupStore struct {
	dir       string
	log       *slog.Logger
	locks     keyedMutex
	chunkSize int64
	workers   int
}

// NewBackupStore returns the store under dir, creating it when missing and removing the
// backups that never finished (directories without a manifest).
func NewBackupStore(dir string, log *slog.Logger) (*BackupStore, error) {
	if dir == "" {
		return nil, errors.New("file backup store: no directory")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("file backup store: %w", err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("file backup store: %w", err)
	}
	s := &BackupStore{
		dir:       abs,
		log:       log.With("component", "block.file.backup"),
		chunkSize: defaultChunkSize,
		workers:   max(1, min(4, runtime.GOMAXPROCS(0))),
	}
	if err := s.removeUnfinished(); err != nil {
		return nil, err
	}
	return s, nil
}

// removeUnfinished deletes the directories of backups interrupted before their manifest
// was written, and manifest temporaries. Only directories named like a backup are
// considered; nothing else is touched.
func (s *BackupStore) removeUnfinished() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("file backup store: list: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || !idPattern.MatchString(e.Name()) {
			continue
		}
		bdir := filepath.Join(s.dir, e.Name())
		_, err := os.Stat(filepath.Join(bdir, manifestName))
		switch {
		case err == nil:
			if err := removeIfExists(filepath.Join(bdir, tmpPrefix+manifestName)); err != nil {
				return fmt.Errorf("file backup store: %w", err)
			}
		case errors.Is(err, fs.ErrNotExist):
			if err := os.RemoveAll(bdir); err != nil {
				return fmt.Errorf("file backup store: remove unfinished backup: %w", err)
			}
			s.log.Info("removed an unfinished backup", "backup", e.Name())
		default:
			return fmt.Errorf("file backup store: %w", err)
		}
	}
	return syncDir(s.dir)
}

// load reads a backup's manifest; a backup without one is block.ErrNotFound.
func (s *BackupStore) load(id string) (*manifest, error) {
	data, err := os.ReadFile(filepath.Join(s.dir, id, manifestName))
	if err != nil {
		return nil, notFound("backup", id, err)
	}
	m, err := parseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", id, err)
	}
	if m.BackupID != id {
		return nil, fmt.Errorf("backup %s: the manifest is of backup %s", id, m.BackupID)
	}
	return m, nil
}

func backupInfo(m *manifest) block.BackupInfo {
	return block.BackupInfo{SizeBytes: m.Size, StoredBytes: m.StoredBytes, ObjectCount: m.ObjectCount}
}

// Backup implements block.BackupStore. A backup that exists is not made again (its
// stored figures are returned); a directory left by an interrupted attempt is replaced.
func (s *BackupStore) Backup(ctx context.Context, backupID, parentID string, r io.Reader) (block.BackupInfo, error) {
	if err := checkID("backup", backupID); err != nil {
		return block.BackupInfo{}, err
	}
	if parentID != "" {
		if err := checkID("backup", parentID); err != nil {
			return block.BackupInfo{}, err
		}
		if parentID == backupID {
			return block.BackupInfo{}, fmt.Errorf("%w: a backup cannot be its own parent", block.ErrInvalid)
		}
	}
	defer s.locks.lock(backupID)()
	if m, err := s.load(backupID); err == nil {
		return backupInfo(m), nil
	} else if !errors.Is(err, block.ErrNotFound) {
		return block.BackupInfo{}, err
	}
	var parent *manifest
	if parentID != "" {
		p, err := s.load(parentID)
		if err != nil {
			return block.BackupInfo{}, fmt.Errorf("parent: %w", err)
		}
		parent = p
	}
	bdir := filepath.Join(s.dir, backupID)
	if err := os.RemoveAll(bdir); err != nil {
		return block.BackupInfo{}, fmt.Errorf("remove unfinished backup: %w", err)
	}
	if err := os.Mkdir(bdir, 0o750); err != nil {
		return block.BackupInfo{}, mapNoSpace(fmt.Errorf("create backup: %w", err))
	}
	done := false
	defer func() {
		if !done {
			_ = os.RemoveAll(bdir)
		}
	}()
	m, err := s.writeChunks(ctx, backupID, parent, r, bdir)
	if err != nil {
		return block.BackupInfo{}, err
	}
	if err := writeManifest(bdir, m); err != nil {
		return block.BackupInfo{}, err
	}
	if err := syncDir(s.dir); err != nil {
		return block.BackupInfo{}, err
	}
	done = true
	s.log.Info("backup stored", "backup", backupID, "parent", parentID, "size", m.Size,
		"stored", m.StoredBytes, "objects", m.ObjectCount)
	return backupInfo(m), nil
}

// writeManifest writes the manifest last and atomically, after every chunk file and
// the directory are on disk.
func writeManifest(bdir string, m *manifest) error {
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	if err := syncDir(bdir); err != nil {
		return err
	}
	tmp := filepath.Join(bdir, tmpPrefix+manifestName)
	if err := os.WriteFile(tmp, data, 0o640); err != nil {
		return mapNoSpace(fmt.Errorf("write manifest: %w", err))
	}
	if err := syncFile(tmp); err != nil {
		return mapNoSpace(err)
	}
	if err := os.Rename(tmp, filepath.Join(bdir, manifestName)); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return syncDir(bdir)
}

// chunkJob is a chunk read from the volume, for a worker to hash, compare and store.
type chunkJob struct {
	index int64
	buf   []byte
	n     int
}

// writeChunks reads r chunk by chunk and has workers store the chunks that are neither
// all zeros nor unchanged from the parent. It returns the manifest, not yet written.
func (s *BackupStore) writeChunks(ctx context.Context, id string, parent *manifest, r io.Reader, bdir string) (*manifest, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var parentChunks map[int64]chunk
	if parent != nil && parent.ChunkSize == s.chunkSize {
		parentChunks = make(map[int64]chunk, len(parent.Chunks))
		for _, c := range parent.Chunks {
			parentChunks[c.Index] = c
		}
	}
	var (
		mu       sync.Mutex
		chunks   []chunk
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	free := make(chan []byte, s.workers+1)
	for range s.workers + 1 {
		free <- make([]byte, s.chunkSize)
	}
	jobs := make(chan chunkJob)
	var wg sync.WaitGroup
	for range s.workers {
		wg.Go(func() {
			w := chunkWriter{dir: bdir, id: id}
			for j := range jobs {
				c, err := w.store(j, parent, parentChunks)
				free <- j.buf
				if err != nil {
					fail(err)
					continue
				}
				mu.Lock()
				chunks = append(chunks, c)
				mu.Unlock()
			}
		})
	}
	var size int64
read:
	for index := int64(0); ; index++ {
		var buf []byte
		select {
		case buf = <-free:
		case <-ctx.Done():
			break read
		}
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			size += int64(n)
			if size > maxBackupSize {
				fail(fmt.Errorf("%w: the volume is larger than a backup may be", block.ErrInvalid))
				break
			}
			if isZero(buf[:n]) {
				free <- buf
			} else {
				select {
				case jobs <- chunkJob{index: index, buf: buf, n: n}:
				case <-ctx.Done():
					break read
				}
			}
		} else {
			free <- buf
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			fail(fmt.Errorf("read volume: %w", err))
			break
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return nil, firstErr
	}
	sort.Slice(chunks, func(a, b int) bool { return chunks[a].Index < chunks[b].Index })
	m := &manifest{
		Format: manifestFormat, Version: manifestVersion,
		BackupID: id, Size: size, ChunkSize: s.chunkSize, Chunks: chunks,
	}
	if parent != nil {
		m.ParentID = parent.BackupID
	}
	if m.Chunks == nil {
		m.Chunks = []chunk{}
	}
	for _, c := range chunks {
		if c.Backup == id {
			m.StoredBytes += c.StoredSize
			m.ObjectCount++
		}
	}
	return m, nil
}

// chunkWriter is one worker's state: its compressor and buffer are reused.
type chunkWriter struct {
	dir, id string
	zw      *zlib.Writer
	out     bytes.Buffer
}

// store hashes a chunk and either refers to the parent's identical chunk or compresses
// it into its own file, synced to disk.
func (w *chunkWriter) store(j chunkJob, parent *manifest, parentChunks map[int64]chunk) (chunk, error) {
	data := j.buf[:j.n]
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	if pc, ok := parentChunks[j.index]; ok && pc.SHA256 == hash && parent.chunkLen(j.index) == int64(j.n) {
		return pc, nil
	}
	w.out.Reset()
	if w.zw == nil {
		zw, err := zlib.NewWriterLevel(&w.out, zlib.BestSpeed)
		if err != nil {
			return chunk{}, err
		}
		w.zw = zw
	} else {
		w.zw.Reset(&w.out)
	}
	if _, err := w.zw.Write(data); err != nil {
		return chunk{}, fmt.Errorf("compress: %w", err)
	}
	if err := w.zw.Close(); err != nil {
		return chunk{}, fmt.Errorf("compress: %w", err)
	}
	c := chunk{Index: j.index, SHA256: hash, Backup: w.id, Compression: compressZlib}
	stored := w.out.Bytes()
	if len(stored) >= len(data)-len(data)/32 {
		// Incompressible data: storing it as it is saves the inflate at restore.
		c.Compression, stored = compressNone, data
	}
	c.StoredSize = int64(len(stored))
	f, err := os.OpenFile(filepath.Join(w.dir, chunkFile(j.index)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return chunk{}, mapNoSpace(fmt.Errorf("store chunk: %w", err))
	}
	_, err = f.Write(stored)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return chunk{}, mapNoSpace(fmt.Errorf("store chunk: %w", err))
	}
	return c, nil
}

// Restore implements block.BackupStore: the backup's raw bytes, chunk after chunk, read
// from whichever backup of the chain holds each chunk, zeros for the chunks not stored.
// Every chunk is checked against its hash.
func (s *BackupStore) Restore(ctx context.Context, backupID string) (io.ReadCloser, error) {
	if err := checkID("backup", backupID); err != nil {
		return nil, err
	}
	m, err := s.load(backupID)
	if err != nil {
		return nil, err
	}
	return &restoreReader{ctx: ctx, dir: s.dir, m: m, count: chunkCount(m.Size, m.ChunkSize)}, nil
}

// restoreReader streams a backup's data.
type restoreReader struct {
	ctx   context.Context
	dir   string
	m     *manifest
	count int64
	// next is the next chunk index, stored the position in m.Chunks of the next stored
	// chunk.
	next   int64
	stored int
	// cur is what is left of the current stored chunk, hole what is left of the current
	// run of zeros.
	cur  []byte
	hole int64
	buf  []byte
	zr   io.ReadCloser
	err  error
}

func (r *restoreReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 && r.hole == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.next >= r.count {
			return 0, io.EOF
		}
		if err := r.load(); err != nil {
			r.err = err
			return 0, err
		}
	}
	if len(r.cur) > 0 {
		n := copy(p, r.cur)
		r.cur = r.cur[n:]
		return n, nil
	}
	n := int(min(int64(len(p)), r.hole, int64(len(zeros))))
	clear(p[:n])
	r.hole -= int64(n)
	return n, nil
}

// load makes chunk r.next current.
func (r *restoreReader) load() error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	i := r.next
	r.next++
	length := r.m.chunkLen(i)
	if r.stored >= len(r.m.Chunks) || r.m.Chunks[r.stored].Index != i {
		r.hole = length
		return nil
	}
	c := r.m.Chunks[r.stored]
	r.stored++
	f, err := os.Open(filepath.Join(r.dir, c.Backup, chunkFile(i)))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("backup %s: chunk %d of backup %s is missing", r.m.BackupID, i, c.Backup)
		}
		return fmt.Errorf("backup %s: %w", r.m.BackupID, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != c.StoredSize {
		return fmt.Errorf("backup %s: chunk %d of backup %s has the wrong size", r.m.BackupID, i, c.Backup)
	}
	if int64(cap(r.buf)) < length {
		r.buf = make([]byte, length)
	}
	buf := r.buf[:length]
	var src io.Reader = io.LimitReader(f, c.StoredSize+1)
	if c.Compression == compressZlib {
		if r.zr == nil {
			r.zr, err = zlib.NewReader(src)
		} else {
			err = r.zr.(zlib.Resetter).Reset(src, nil)
		}
		if err != nil {
			return fmt.Errorf("backup %s: chunk %d: %w", r.m.BackupID, i, err)
		}
		src = r.zr
	}
	if _, err := io.ReadFull(src, buf); err != nil {
		return fmt.Errorf("backup %s: chunk %d is damaged: %w", r.m.BackupID, i, err)
	}
	if n, _ := src.Read(make([]byte, 1)); n != 0 {
		return fmt.Errorf("backup %s: chunk %d is longer than expected", r.m.BackupID, i)
	}
	sum := sha256.Sum256(buf)
	if hex.EncodeToString(sum[:]) != c.SHA256 {
		return fmt.Errorf("backup %s: chunk %d does not match its hash", r.m.BackupID, i)
	}
	r.cur = buf
	return nil
}

// Close implements io.Closer.
func (r *restoreReader) Close() error {
	r.err = errors.New("restore stream closed")
	r.cur, r.hole = nil, 0
	return nil
}

// Delete implements block.BackupStore; a missing backup is not an error.
func (s *BackupStore) Delete(ctx context.Context, backupID string) error {
	if err := checkID("backup", backupID); err != nil {
		return err
	}
	defer s.locks.lock(backupID)()
	if err := os.RemoveAll(filepath.Join(s.dir, backupID)); err != nil {
		return fmt.Errorf("delete backup %s: %w", backupID, err)
	}
	return syncDir(s.dir)
}

// Inventory implements block.BackupStore: the backups that have a manifest.
func (s *BackupStore) Inventory(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if !e.IsDir() || !idPattern.MatchString(e.Name()) {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.dir, e.Name(), manifestName)); err == nil {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}
