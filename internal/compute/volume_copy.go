package compute

import (
	"context"
	"errors"
	"fmt"
	"time"

	computedriver "github.com/gostack/gostack/internal/driver/compute"
)

// volumeCopyTimeout bounds the hypervisor's copy of an attached volume (a full copy of
// a large volume takes minutes; the caller's context may end it sooner).
const volumeCopyTimeout = 2 * time.Hour

// CopyAttachedVolume makes a point-in-time copy of volumeID at dest (a new image file
// in format) through the hypervisor of a running server the volume is attached to, as
// Nova's volume_snapshot_create does for Cinder's file drivers: the guest keeps running
// and the copy is consistent as of its start. done is false, with no error, when no
// server can: the volume is not attached (or its attachment is not complete), its
// server has no host this process serves, the host's driver cannot copy, or the guest
// does not run; the caller then copies the volume's file itself, which is safe as
// nothing writes to it.
//
// The copy is serialized with the other operations on the same guest by the driver's
// per-instance lock (the QEMU driver holds it for the whole copy, as it does for
// attach, detach and power changes), so a detach or a stop issued meanwhile waits for
// the copy to end rather than pulling the volume from under it.
func (s *Service) CopyAttachedVolume(ctx context.Context, volumeID, dest, format string) (done bool, err error) {
	bdms, err := volumeMappings(ctx, s.db, volumeID)
	if err != nil {
		return false, fmt.Errorf("compute: copy volume: %w", err)
	}
	for _, b := range bdms {
		if b.Status != bdmAttached || b.ConnectionInfo == nil {
			continue
		}
		inst, found, err := loadInstance(ctx, s.db, b.InstanceUUID)
		if err != nil {
			return false, fmt.Errorf("compute: copy volume: %w", err)
		}
		if !found || inst.Deleted || inst.Host == nil || *inst.Host == "" {
			continue
		}
		d, ok := s.hostDriver(*inst.Host)
		if !ok {
			continue
		}
		vc, ok := d.(computedriver.VolumeCopier)
		if !ok {
			continue
		}
		di, err := s.driverInstance(ctx, inst, inst.Flavor)
		if err != nil {
			return false, fmt.Errorf("compute: copy volume: %w", err)
		}
		cctx, cancel := context.WithTimeout(ctx, volumeCopyTimeout)
		err = vc.CopyVolume(cctx, di, b.DeviceName, b.ConnectionInfo, dest, format)
		cancel()
		switch {
		case err == nil:
			s.log.Info("copied an attached volume through its server's hypervisor", "volume", volumeID,
				"instance", inst.UUID, "host", *inst.Host)
			return true, nil
		case errors.Is(err, computedriver.ErrNotRunning), errors.Is(err, computedriver.ErrNotSupported),
			errors.Is(err, computedriver.ErrNotFound):
			continue
		default:
			return false, fmt.Errorf("compute: copy volume %s of server %s: %w", volumeID, inst.UUID, err)
		}
	}
	return false, nil
}
