package fernet

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// DefaultMaxActiveKeys is Keystone's default [fernet_tokens] max_active_keys:
// one staged, one primary and one secondary key.
const DefaultMaxActiveKeys = 3

// tempPattern names the temporary files key writes go through. Names that are
// not numbers are ignored by Keystone and by this package when loading keys.
const (
	tempPrefix  = ".key-"
	tempSuffix  = ".tmp"
	tempPattern = tempPrefix + "*" + tempSuffix
)

// Setup creates the key repository in dir, like keystone-manage fernet_setup:
// the directory (mode 0700) and a staged key 0 and a primary key 1 (mode
// 0600). It is idempotent: a repository that already has a staged key is left
// alone. A repository that has keys but lost its staged key (for example one
// edited by hand) gets a new staged key; Keystone would also promote a fresh
// key to primary there, which would make tokens issued by this node
// unreadable to nodes that have not received the key yet.
func Setup(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("fernet: create key repository: %w", err)
		}
		if err := os.Chmod(dir, 0o700); err != nil { // undo the umask
			return fmt.Errorf("fernet: create key repository: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("fernet: key repository: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	removeTemps(dir)

	files, err := readKeyFiles(dir)
	if err != nil {
		return err
	}
	if _, ok := files[0]; ok {
		return nil
	}
	if len(files) == 0 {
		// fernet_setup creates key 0 and rotates once, which leaves a new
		// staged key 0 and the first key as primary 1. Writing 1 first
		// leaves a usable repository if we stop half way.
		if err := writeKeyFile(dir, 1, newKey()); err != nil {
			return err
		}
	}
	return writeKeyFile(dir, 0, newKey())
}

// Rotate rotates the key repository in dir like keystone-manage
// fernet_rotate: the staged key 0 becomes the new primary key (one above the
// current highest number), a new staged key 0 is written, and the oldest
// secondary keys are deleted so that at most maxActive keys remain. A
// maxActive of zero means DefaultMaxActiveKeys; less than 2 is refused (with 1
// Keystone deletes every key but the staged one).
//
// Every file is written through a synced temporary file and a rename, and the
// new primary key is written before the staged key is replaced, so the
// repository holds a complete, usable set of keys at every moment. When a
// previous rotation stopped after promoting the staged key (the highest key
// and key 0 are equal), Rotate finishes that rotation instead of promoting the
// same key again. Running keyrings see the new keys after Keyring.Reload.
func Rotate(dir string, maxActive int) error {
	if maxActive == 0 {
		maxActive = DefaultMaxActiveKeys
	}
	if maxActive < 2 {
		return fmt.Errorf("fernet: max active keys is %d, need at least 2", maxActive)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	removeTemps(dir)

	files, err := readKeyFiles(dir)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("%w: %s (run setup first)", ErrNoKeys, dir)
	}
	staged, ok := files[0]
	if !ok {
		return fmt.Errorf("fernet: key repository %s has no staged key 0 (run setup first)", dir)
	}
	if _, err := parseKey(staged); err != nil {
		return fmt.Errorf("fernet: key file 0 in %s: %w", dir, err)
	}
	ids := make([]int, 0, len(files))
	for id := range files {
		if id != 0 {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	primary := 0
	if len(ids) > 0 {
		primary = ids[len(ids)-1]
	}
	if primary == 0 || strings.TrimSpace(files[primary]) != strings.TrimSpace(staged) {
		primary++
		if err := writeKeyFile(dir, primary, staged); err != nil {
			return err
		}
		ids = append(ids, primary)
	}
	if err := writeKeyFile(dir, 0, newKey()); err != nil {
		return err
	}
	// Purge excess keys, oldest first, keeping maxActive-1 besides key 0.
	removed := false
	for len(ids) > maxActive-1 {
		if err := os.Remove(filepath.Join(dir, strconv.Itoa(ids[0]))); err != nil {
			return fmt.Errorf("fernet: purge key %d: %w", ids[0], err)
		}
		ids = ids[1:]
		removed = true
	}
	if removed {
		return syncDir(dir)
	}
	return nil
}

// readKeyFiles returns the contents of the key files in dir by key number.
// Like Keystone it reads regular files (following symbolic links) whose name
// is a number and skips empty files; unlike Keystone it only accepts the
// plain decimal form of a number, so "01" or "+1" are not keys.
func readKeyFiles(dir string) (map[int]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("fernet: read key repository: %w", err)
	}
	files := make(map[int]string)
	for _, e := range entries {
		id, err := strconv.Atoi(e.Name())
		if err != nil || id < 0 || strconv.Itoa(id) != e.Name() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		info, err := os.Stat(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // removed by a rotation meanwhile
				continue
			}
			return nil, fmt.Errorf("fernet: key file %d: %w", id, err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		text, err := readSmallFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("fernet: key file %d: %w", id, err)
		}
		if text == "" {
			continue
		}
		files[id] = text
	}
	return files, nil
}

// readSmallFile reads a key file, refusing anything too large to be a key.
func readSmallFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileLen+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxKeyFileLen {
		return "", errors.New("too large to be a fernet key")
	}
	return string(b), nil
}

// newKey returns a new random Fernet key in its file form, as
// cryptography's Fernet.generate_key does.
func newKey() string {
	var b [keyLen]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.URLEncoding.EncodeToString(b[:])
}

// writeKeyFile atomically replaces key file id in dir with text: the text is
// written to a temporary file (mode 0600) and synced, the file is renamed into
// place and the directory is synced.
func writeKeyFile(dir string, id int, text string) (err error) {
	f, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return fmt.Errorf("fernet: write key %d: %w", id, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("fernet: write key %d: %w", id, err)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.WriteString(text); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), filepath.Join(dir, strconv.Itoa(id))); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fernet: sync key repository: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fernet: sync key repository: %w", err)
	}
	return nil
}

// removeTemps deletes temporary files left by a write that was interrupted.
// It runs with the repository locked, so no write is in progress.
func removeTemps(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if name := e.Name(); strings.HasPrefix(name, tempPrefix) && strings.HasSuffix(name, tempSuffix) {
			os.Remove(filepath.Join(dir, name))
		}
	}
}
