package volume

import (
	"context"
	"errors"

	"github.com/gostack/gostack/internal/driver/block"
)

// This file makes snapshots and backups of in-use volumes point-in-time. A volume
// attached to a running guest is written while the backend reads its file, so a copy
// the backend makes itself is torn; Cinder's file drivers ask Nova for the snapshot
// then (volume_snapshot_create), and gostack asks the compute service, whose
// hypervisor copies the device with a block job while the guest runs. The backend
// still picks where the copy goes and publishes it (block.CopyPublisher); when no
// hypervisor can copy (the guest does not run, the volume is attached nowhere, or the
// host is not served here) the backend copies the file as it does for available
// volumes, which is then safe.

// VolumeCopier is the compute service's side of copies of in-use volumes; app wires it
// to compute.Service.CopyAttachedVolume in process.
type VolumeCopier interface {
	// CopyAttachedVolume makes a point-in-time copy of the volume at dest, a new image
	// file in format, through the hypervisor of a running server it is attached to.
	// done is false (with no error) when no such server can: the caller copies the
	// volume itself.
	CopyAttachedVolume(ctx context.Context, volumeID, dest, format string) (done bool, err error)
}

// SetVolumeCopier gives the volume service the compute service's volume copies. Without
// it, snapshots and backups of in-use volumes are copied by the backend alone.
func (s *Service) SetVolumeCopier(c VolumeCopier) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.copier = c
}

// errNotCopied is what a produce function returns when compute said no server could
// copy the volume: the caller falls back to the backend's own copy.
var errNotCopied = errors.New("no hypervisor copied the volume")

// liveCopy returns how to copy volume v through its server's hypervisor: the backend
// publishing the copy and the produce function asking compute for it. ok is false when
// the copy is the backend's own: nothing is wired for it, or the volume has no
// complete attachment to a server (an available volume is never sent to compute).
func (s *Service) liveCopy(ctx context.Context, d block.Driver, v *volumeRec) (pub block.CopyPublisher, produce block.Produce, ok bool, err error) {
	s.mu.Lock()
	c := s.copier
	s.mu.Unlock()
	pub, isPub := d.(block.CopyPublisher)
	if c == nil || !isPub {
		return nil, nil, false, nil
	}
	atts, err := loadAttachmentsMany(ctx, s.db, []string{v.ID})
	if err != nil {
		return nil, nil, false, err
	}
	attached := false
	for _, a := range atts[v.ID] {
		if a.InstanceUUID != nil && a.AttachStatus == attachAttached {
			attached = true
		}
	}
	if !attached {
		return nil, nil, false, nil
	}
	produce = func(ctx context.Context, tmpPath, format string) error {
		done, err := c.CopyAttachedVolume(ctx, v.ID, tmpPath, format)
		if err != nil {
			return err
		}
		if !done {
			return errNotCopied
		}
		return nil
	}
	return pub, produce, true, nil
}

// snapshotInUse makes the snapshot of an attached volume through its server's
// hypervisor; copied is false when the backend is to copy it itself.
func (s *Service) snapshotInUse(ctx context.Context, d block.Driver, snap block.Snapshot, v *volumeRec) (copied bool, err error) {
	pub, produce, ok, err := s.liveCopy(ctx, d, v)
	if err != nil || !ok {
		return false, err
	}
	err = pub.CreateSnapshotWith(ctx, snap, blockVolume(v), produce)
	if errors.Is(err, errNotCopied) {
		return false, nil
	}
	return err == nil, err
}

// backupSourceInUse makes the temporary point-in-time copy "backup-<id>" of an
// attached volume that its backup reads through (as a backup of a snapshot does;
// reconcile removes it if the process stops before the backup ends). ok is false when
// the backup is to read the volume itself.
func (s *Service) backupSourceInUse(ctx context.Context, d block.Driver, backupID string, v *volumeRec) (tmp block.Volume, ok bool, err error) {
	pub, produce, ok, err := s.liveCopy(ctx, d, v)
	if err != nil || !ok {
		return block.Volume{}, false, err
	}
	src := blockVolume(v)
	tmp = block.Volume{ID: "backup-" + backupID, SizeGB: src.SizeGB, Format: src.Format}
	err = pub.CreateVolumeWith(ctx, tmp, src, produce)
	if errors.Is(err, errNotCopied) {
		return block.Volume{}, false, nil
	}
	if err != nil {
		return block.Volume{}, false, err
	}
	return tmp, true, nil
}
