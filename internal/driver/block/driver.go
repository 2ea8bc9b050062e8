// Package block is the block-storage driver contract: what the volume service asks of
// the storage backend on a host. Like every gostack driver it is declarative and
// idempotent: creating a volume that exists, or deleting one that is gone, succeeds,
// because an operation interrupted by a restart is run again from its start.
//
// Implementations: file (qcow2 or raw files under the data directory) and fake (an
// in-memory double for tests that must not touch the disk). Backups go through a
// separate BackupStore, so that where volumes live and where their backups live can
// differ, as in Cinder.
package block

import (
	"context"
	"errors"
	"io"
)

// ErrNotFound is returned when the backend has no such volume, snapshot or backup.
var ErrNotFound = errors.New("not found on the storage backend")

// ErrNoSpace is returned when the backend cannot hold what is asked.
var ErrNoSpace = errors.New("not enough space on the storage backend")

// ErrInvalid is returned when a request cannot be met as asked: an image whose virtual
// size does not fit the volume, a shrink, a restore stream longer than the volume, an
// id or format the backend does not accept. The error's message says why in words fit
// for the user (no paths); the service answers it with a 400.
var ErrInvalid = errors.New("invalid request to the storage backend")

// Formats of a volume's data on the backend.
const (
	FormatQCOW2 = "qcow2"
	FormatRaw   = "raw"
)

// Volume is the desired volume handed to the driver.
type Volume struct {
	ID     string
	SizeGB int64
	// Format is FormatQCOW2 (the default when empty) or FormatRaw, from the volume
	// type's "volume_format" extra spec.
	Format string
}

// Snapshot is a point-in-time copy of a volume.
type Snapshot struct {
	ID       string
	VolumeID string
	SizeGB   int64
}

// Image is the source of a volume created from an image. The driver must inspect the
// bytes it receives (internal/image/inspect) and refuse anything that is not
// DiskFormat, before any tool reads them as a disk.
type Image struct {
	ID         string
	DiskFormat string
	Size       int64
	// Open streams the image's bytes.
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// Capacity is what the backend reports to the scheduler (Cinder's pool stats).
type Capacity struct {
	// TotalGB and FreeGB are the real space of the filesystem or pool.
	TotalGB, FreeGB float64
	// ThinProvisioning says volumes take only the space they use.
	ThinProvisioning bool
	// ProvisionedGB is the sum of the virtual sizes of the volumes and snapshots the
	// backend holds (Cinder's provisioned_capacity_gb), and ReservedPercentage the share
	// of TotalGB kept free (reserved_percentage): the scheduler checks both against its
	// overcommit ratio.
	ProvisionedGB      float64
	ReservedPercentage int
}

// Connection is how a hypervisor on the same host reaches a volume (Cinder's
// connection_info): DriverVolumeType "file" with Data {"path", "format", ...}.
type Connection struct {
	DriverVolumeType string
	Data             map[string]any
}

// Driver is the volume backend contract.
type Driver interface {
	// Name is the backend name (the "file" of "host@file#file").
	Name() string
	// Capacity reports the backend's space.
	Capacity(ctx context.Context) (Capacity, error)
	// Create makes an empty volume of vol.SizeGB (thin when the backend can).
	Create(ctx context.Context, vol Volume) error
	// CreateFromImage fills a new volume with the image's data (converted to the volume's
	// format) and grows it to vol.SizeGB.
	CreateFromImage(ctx context.Context, vol Volume, img Image) error
	// CreateFromSnapshot and Clone make a new volume holding the data of a snapshot or of
	// another volume, grown to vol.SizeGB.
	CreateFromSnapshot(ctx context.Context, vol Volume, snap Snapshot) error
	Clone(ctx context.Context, vol Volume, src Volume) error
	// Extend grows a volume to newSizeGB (never shrinks).
	Extend(ctx context.Context, vol Volume, newSizeGB int64) error
	// Delete removes a volume; a missing one is not an error.
	Delete(ctx context.Context, vol Volume) error
	// CreateSnapshot copies the volume's current data; it must work while the volume is
	// attached (force snapshots). DeleteSnapshot removes it; missing is not an error.
	CreateSnapshot(ctx context.Context, snap Snapshot, vol Volume) error
	DeleteSnapshot(ctx context.Context, snap Snapshot) error
	// Connection describes how to attach the volume on this host.
	Connection(ctx context.Context, vol Volume) (Connection, error)
	// Export streams the volume's data in diskFormat ("raw" or "qcow2"), for uploads to
	// the image service and for backups.
	Export(ctx context.Context, vol Volume, diskFormat string) (io.ReadCloser, error)
	// Import replaces a volume's data with raw bytes read from r (backup restores); the
	// volume keeps its size.
	Import(ctx context.Context, vol Volume, r io.Reader) error
	// Inventory lists the volume and snapshot ids the backend holds, for the reconcile
	// pass that finds data without records.
	Inventory(ctx context.Context) (volumes, snapshots []string, err error)
}

// BackupStore keeps volume backups (Cinder's chunked backup driver on a POSIX path).
type BackupStore interface {
	// Backup reads the volume's raw data from r and stores it under backupID. With a
	// parent, only the chunks that differ from the parent's are stored (incremental).
	Backup(ctx context.Context, backupID, parentID string, r io.Reader) (BackupInfo, error)
	// Restore streams the backup's raw data (following the incremental chain).
	Restore(ctx context.Context, backupID string) (io.ReadCloser, error)
	// Delete removes a backup; missing is not an error. Deleting a backup others depend
	// on is the service's to refuse.
	Delete(ctx context.Context, backupID string) error
	// Inventory lists the backup ids the store holds.
	Inventory(ctx context.Context) ([]string, error)
}

// BackupInfo is what a finished backup reports.
type BackupInfo struct {
	// SizeBytes is the volume size read; StoredBytes what the store kept.
	SizeBytes, StoredBytes int64
	ObjectCount            int
}

// Manageable is one object the backend holds that a manage call may adopt (an entry
// of Cinder's manageable-volumes or manageable-snapshots list).
type Manageable struct {
	// Name is the object's name on the backend: the "source-name" of a manage
	// reference ("volume-<id>" or "snapshot-<id>" for the file backend).
	Name string
	// ID is the volume or snapshot id the name carries under the driver's naming ("" when
	// it carries none); the service compares it with its records.
	ID string
	// SizeGB is the object's size in GiB, rounded up.
	SizeGB int64
	// Parent is, for a snapshot, the name of the volume it was taken of, when the backend
	// knows it ("" otherwise: the service looks it up in its records).
	Parent string
}

// Managed is what adopting an object reports.
type Managed struct {
	// SizeGB is the adopted volume's or snapshot's size in GiB, rounded up.
	SizeGB int64
	// Format is the adopted volume's format (FormatQCOW2 or FormatRaw), which may differ
	// from the one its volume type asks for: the data stays as it is.
	Format string
}

// Manager is the optional interface of a driver that can adopt storage no record owns
// (Cinder's manage_existing) and let go of a volume's or snapshot's storage without
// removing it (unmanage). A driver without it answers the manage calls with Cinder's
// 400. Every reference comes from the user and is untrusted: a driver accepts only a
// bare name under its own naming (no path separators, no ".."), and inspects the data
// before it adopts it.
type Manager interface {
	// ManageableVolumes and ManageableSnapshots list what the backend holds.
	ManageableVolumes(ctx context.Context) ([]Manageable, error)
	ManageableSnapshots(ctx context.Context) ([]Manageable, error)
	// ManageExistingGetSize checks the volume named ref and returns its size in GiB
	// (rounded up), changing nothing: the service takes the quota for it before the
	// volume is adopted. ErrNotFound when nothing has the name, ErrInvalid when the name
	// or the data is refused (the message says why, in words fit for the user).
	ManageExistingGetSize(ctx context.Context, ref string) (int64, error)
	// ManageExisting adopts the volume named ref as vol (renaming it after vol.ID). It is
	// idempotent: when vol already exists and ref no longer does, it was adopted before
	// an interruption, and its size is reported again.
	ManageExisting(ctx context.Context, ref string, vol Volume) (Managed, error)
	// ManageExistingSnapshotGetSize and ManageExistingSnapshot are the snapshot twins.
	ManageExistingSnapshotGetSize(ctx context.Context, ref string) (int64, error)
	ManageExistingSnapshot(ctx context.Context, ref string, snap Snapshot) (Managed, error)
	// Unmanage and UnmanageSnapshot let go of an object: its data stays on the backend,
	// under a name a later manage call can give as its reference.
	Unmanage(ctx context.Context, vol Volume) error
	UnmanageSnapshot(ctx context.Context, snap Snapshot) error
}

// Produce writes a copy of a volume's data as a new image file at tmpPath in format
// (FormatQCOW2 or FormatRaw), of the volume's virtual size. It is called by a
// CopyPublisher with a temporary path of its own choosing; on failure it leaves
// nothing at tmpPath.
type Produce func(ctx context.Context, tmpPath, format string) error

// CopyPublisher is the optional interface of a driver that can publish a copy of a
// volume produced by someone else: the hypervisor of the guest the volume is attached
// to, which alone can copy it at a point in time while the guest writes to it. The
// driver picks the temporary path, calls produce, checks what it wrote, makes it
// durable and puts it in place as it does its own copies.
type CopyPublisher interface {
	// CreateSnapshotWith is CreateSnapshot with the copy made by produce.
	CreateSnapshotWith(ctx context.Context, snap Snapshot, vol Volume, produce Produce) error
	// CreateVolumeWith makes the new volume vol (a temporary copy of src that a backup
	// reads through) from the data produce writes in vol's format; it is idempotent
	// like Create.
	CreateVolumeWith(ctx context.Context, vol Volume, src Volume, produce Produce) error
}
