package file

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
)

// A backup's manifest (manifest.json in its directory) is written last, atomically: a
// backup directory without one is a backup that never finished.
const (
	manifestName    = "manifest.json"
	manifestFormat  = "gostack-backup"
	manifestVersion = 1
	// maxManifest bounds what parseManifest reads (a 64 TiB volume in 4 MiB chunks is
	// 16 Mi chunks; at ~150 bytes each a manifest stays far below this in practice).
	maxManifest = 1 << 30
	// maxBackupSize bounds the size a manifest may declare (64 TiB).
	maxBackupSize = int64(64) << 40
)

// Chunk compressions.
const (
	compressZlib = "zlib"
	compressNone = "none"
)

// manifest describes one backup: its volume data is Size bytes cut into chunks of
// ChunkSize (the last one shorter); chunks that are all zeros are not listed, and the
// others name the backup whose directory holds their file (this one, or an ancestor
// for a chunk an incremental backup found unchanged).
type manifest struct {
	Format      string  `json:"format"`
	Version     int     `json:"version"`
	BackupID    string  `json:"backup_id"`
	ParentID    string  `json:"parent_id,omitempty"`
	Size        int64   `json:"size"`
	ChunkSize   int64   `json:"chunk_size"`
	StoredBytes int64   `json:"stored_bytes"`
	ObjectCount int     `json:"object_count"`
	Chunks      []chunk `json:"chunks"`
}

// chunk is one stored (or referenced) chunk of a backup.
type chunk struct {
	Index int64 `json:"index"`
	// SHA256 is the hash of the chunk's raw bytes, checked at restore.
	SHA256 string `json:"sha256"`
	// Backup is the id of the backup whose directory holds the chunk's file.
	Backup      string `json:"backup"`
	Compression string `json:"compression"`
	StoredSize  int64  `json:"stored_size"`
}

var sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// chunkCount is the number of chunks of a backup of size bytes.
func chunkCount(size, chunkSize int64) int64 {
	return (size + chunkSize - 1) / chunkSize
}

// chunkLen is the length of chunk i.
func (m *manifest) chunkLen(i int64) int64 {
	return min(m.ChunkSize, m.Size-i*m.ChunkSize)
}

// chunkFile names the file of chunk i in its backup's directory.
func chunkFile(i int64) string { return fmt.Sprintf("chunk-%08d", i) }

// parseManifest reads and checks a manifest: everything Restore later relies on (chunk
// indexes in range and increasing, hashes, backup ids that are safe in a path, sizes)
// is verified here, so that a damaged or hostile file is an error, never a panic or a
// read outside the store.
func parseManifest(data []byte) (*manifest, error) {
	if len(data) > maxManifest {
		return nil, errors.New("backup manifest too large")
	}
	var m manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("backup manifest: %w", err)
	}
	if dec.More() {
		return nil, errors.New("backup manifest: data after the object")
	}
	if m.Format != manifestFormat || m.Version != manifestVersion {
		return nil, fmt.Errorf("backup manifest: unknown format %q version %d", m.Format, m.Version)
	}
	if !idPattern.MatchString(m.BackupID) {
		return nil, errors.New("backup manifest: invalid backup_id")
	}
	if m.ParentID != "" && (!idPattern.MatchString(m.ParentID) || m.ParentID == m.BackupID) {
		return nil, errors.New("backup manifest: invalid parent_id")
	}
	if m.Size < 0 || m.Size > maxBackupSize {
		return nil, errors.New("backup manifest: size out of range")
	}
	if m.ChunkSize < 4096 || m.ChunkSize > 64<<20 {
		return nil, errors.New("backup manifest: chunk_size out of range")
	}
	if m.StoredBytes < 0 || m.ObjectCount < 0 {
		return nil, errors.New("backup manifest: negative counts")
	}
	n := chunkCount(m.Size, m.ChunkSize)
	prev := int64(-1)
	for _, c := range m.Chunks {
		if c.Index <= prev || c.Index >= n {
			return nil, fmt.Errorf("backup manifest: chunk index %d out of order or range", c.Index)
		}
		prev = c.Index
		if !sha256Pattern.MatchString(c.SHA256) {
			return nil, fmt.Errorf("backup manifest: chunk %d: invalid sha256", c.Index)
		}
		if !idPattern.MatchString(c.Backup) {
			return nil, fmt.Errorf("backup manifest: chunk %d: invalid backup", c.Index)
		}
		if c.Backup != m.BackupID && m.ParentID == "" {
			return nil, fmt.Errorf("backup manifest: chunk %d refers to another backup in a full backup", c.Index)
		}
		switch c.Compression {
		case compressZlib, compressNone:
		default:
			return nil, fmt.Errorf("backup manifest: chunk %d: unknown compression", c.Index)
		}
		if c.StoredSize < 0 || c.StoredSize > 2*m.ChunkSize+1024 {
			return nil, fmt.Errorf("backup manifest: chunk %d: stored_size out of range", c.Index)
		}
	}
	return &m, nil
}
