package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

const (
	// copyBuffer is how much a copy reads at once, and sparseBlock the unit whose
	// all-zero instances are skipped (left as holes) rather than written.
	copyBuffer  = 4 << 20
	sparseBlock = 64 << 10
)

// zeros is a block of zeros to compare against and to read holes from.
var zeros = make([]byte, copyBuffer)

func isZero(p []byte) bool {
	for len(p) > 0 {
		n := min(len(p), len(zeros))
		if !bytes.Equal(p[:n], zeros[:n]) {
			return false
		}
		p = p[n:]
	}
	return true
}

// errTooLong is returned by writeSparse when r has more than limit bytes.
var errTooLong = errors.New("stream longer than expected")

// writeSparse copies r into f from offset 0, leaving all-zero blocks as holes, and sets
// the file's length to the number of bytes copied (so trailing zeros count). With a
// limit >= 0 it stops with errTooLong when r holds more than limit bytes. It checks ctx
// between reads.
func writeSparse(ctx context.Context, f *os.File, r io.Reader, limit int64) (int64, error) {
	buf := make([]byte, copyBuffer)
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return off, err
		}
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if limit >= 0 && off+int64(n) > limit {
				return off, errTooLong
			}
			if err := writeBlocks(f, buf[:n], off); err != nil {
				return off, mapNoSpace(fmt.Errorf("write: %w", err))
			}
			off += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return off, fmt.Errorf("read: %w", rerr)
		}
	}
	if err := f.Truncate(off); err != nil {
		return off, mapNoSpace(fmt.Errorf("truncate: %w", err))
	}
	return off, nil
}

// writeBlocks writes p at off, one pwrite per run of non-zero blocks.
func writeBlocks(f *os.File, p []byte, off int64) error {
	start := -1 // start of the pending run of non-zero blocks
	for i := 0; i < len(p); i += sparseBlock {
		end := min(i+sparseBlock, len(p))
		if isZero(p[i:end]) {
			if start >= 0 {
				if _, err := f.WriteAt(p[start:i], off+int64(start)); err != nil {
					return err
				}
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		if _, err := f.WriteAt(p[start:], off+int64(start)); err != nil {
			return err
		}
	}
	return nil
}
