//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package fernet

import (
	"fmt"
	"os"
	"syscall"
)

// lockDir takes an exclusive advisory lock on the key repository directory
// itself, so that concurrent Setup and Rotate calls, from this process or
// another, run one after the other. No lock file is left in the repository.
func lockDir(dir string) (unlock func(), err error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("fernet: lock key repository: %w", err)
	}
	for {
		err = syscall.Flock(int(d.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("fernet: lock key repository: %w", err)
	}
	return func() {
		_ = syscall.Flock(int(d.Fd()), syscall.LOCK_UN)
		d.Close()
	}, nil
}
