//go:build linux && (amd64 || arm64 || riscv64 || loong64)

package image

import (
	"os"
	"syscall"
)

// fileStage is ingest's file stage on Linux: it writes to the file and, every
// writebackStep bytes, hands what it wrote to the kernel for writeback at once
// (sync_file_range), without waiting for it. The disk then works while the hashes do, and
// the fsync at commit, which alone makes the data durable, finds little left to write
// (about 0.01 s instead of 0.4-0.5 s for 1 GiB here). The data also stays in the page
// cache, so a download right after the upload is served from memory.
type fileStage struct {
	f              *os.File
	off, writeback int64 // bytes written; bytes up to which writeback was started
}

// newFileStage returns the file stage for f, a new, empty file.
func newFileStage(f *os.File) *fileStage { return &fileStage{f: f} }

func (w *fileStage) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if err == nil && w.off-w.writeback >= writebackStep {
		startWriteback(w.f, w.writeback, w.off-w.writeback)
		w.writeback = w.off
	}
	return n, err
}

// syncFileRangeWrite is SYNC_FILE_RANGE_WRITE: start writeback of the range's dirty
// pages, without waiting for it.
const syncFileRangeWrite = 2

// startWriteback asks the kernel to start writing a range of f to disk (sync_file_range
// with SYNC_FILE_RANGE_WRITE) and does not wait for it. It is only a head start for the
// fsync at commit, which reports any error.
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_, _, _ = syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, fd, uintptr(off), uintptr(n), syncFileRangeWrite, 0, 0)
	})
}
