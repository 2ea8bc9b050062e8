package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// reconcile brings the store and the database back in line after the process stopped at
// an arbitrary point (kill -9 included):
//
//   - temporary files are removed: no write that was in progress can be finished;
//   - saving images (an upload was cut off) go back to queued, as Glance's _restore does;
//   - uploading images keep their status only when their staged data is complete (it
//     reached its final name), otherwise they go back to queued;
//   - importing images have their import started again from the staged data;
//   - files no image row owns are removed, and staged data no image waits for; a data
//     file whose row exists is never removed here, whatever the row's status.
func (s *Service) reconcile(ctx context.Context) error {
	defer s.runOnce.Do(func() { close(s.reconciled) })
	var errs []error
	if entries, err := os.ReadDir(s.files.tmpDir); err == nil {
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(s.files.tmpDir, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	} else {
		errs = append(errs, err)
	}
	statuses, err := s.imageStatuses(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for id, st := range statuses {
		switch st {
		case statusSaving:
			if _, err := setStatus(ctx, s.db, id, statusSaving, statusQueued); err != nil {
				errs = append(errs, err)
			}
			s.log.Info("interrupted image upload reset to queued", "image_id", id)
		case statusUploading:
			p, err := s.files.stagePath(id)
			if err != nil {
				continue
			}
			if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
				if _, err := setStatus(ctx, s.db, id, statusUploading, statusQueued); err != nil {
					errs = append(errs, err)
				}
				s.log.Info("interrupted image staging reset to queued", "image_id", id)
			}
		}
	}
	errs = append(errs, s.removeOrphans(s.files.dir, func(id string) bool {
		_, ok := statuses[id]
		return ok
	}))
	errs = append(errs, s.removeOrphans(s.files.stageDir, func(id string) bool {
		st := statuses[id]
		return st == statusUploading || st == statusImporting
	}))
	errs = append(errs, s.resumeImports(ctx))
	return errors.Join(errs...)
}

// imageStatuses returns the status of every image.
func (s *Service) imageStatuses(ctx context.Context) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, status FROM images`)
	if err != nil {
		return nil, fmt.Errorf("list image statuses: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, st string
		if err := rows.Scan(&id, &st); err != nil {
			return nil, err
		}
		out[id] = st
	}
	return out, rows.Err()
}

// removeOrphans removes the image files in dir that keep does not claim. Names that are
// not image ids (the store's own directories, anything an operator put there) are left.
func (s *Service) removeOrphans(dir string, keep func(id string) bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read image store: %w", err)
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !uuidRE.MatchString(name) || keep(name) {
			continue
		}
		if err := remove(filepath.Join(dir, name)); err != nil {
			errs = append(errs, err)
			continue
		}
		s.log.Info("removed image file without an image", "image_id", name)
	}
	return errors.Join(errs...)
}
