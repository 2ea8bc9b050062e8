package compute

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/gostack/gostack/internal/api"
	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/store"
)

// This file is compute's side of block storage, as Nova's nova/volume/cinder.py: the
// volume service is called in process through its HTTP API (validation, policy and
// views exactly as for a client), with the attachments API (Cinder 3.27+, completed
// with 3.44) that Nova uses; and the block device mappings (volumes of a server) kept
// in compute_block_device_mappings.

// cinderVersion is the volume API microversion compute speaks (attachment complete).
const cinderVersion = "volume 3.44"

// errCinder marks a failure of the volume service itself (not a 4xx answer).
var errCinder = errors.New("volume service")

// SetVolumeAPI gives compute the volume service's HTTP handler and its mount prefix
// ("/volume"). Without it, requests that name volumes answer as if none existed.
func (s *Service) SetVolumeAPI(h http.Handler, prefix string) {
	s.volumeAPI, s.volumePrefix = h, prefix
}

// cinderVolume is the part of a Cinder volume compute reads.
type cinderVolume struct {
	ID               string            `json:"id"`
	Status           string            `json:"status"`
	Size             int64             `json:"size"`
	AvailabilityZone string            `json:"availability_zone"`
	Bootable         string            `json:"bootable"`
	Multiattach      bool              `json:"multiattach"`
	MigrationStatus  *string           `json:"migration_status"`
	ImageMetadata    map[string]string `json:"volume_image_metadata"`
	Metadata         map[string]string `json:"metadata"`
	Attachments      []struct {
		ServerID     string `json:"server_id"`
		AttachmentID string `json:"attachment_id"`
	} `json:"attachments"`
}

// cinderAttachment is a Cinder attachment.
type cinderAttachment struct {
	ID             string         `json:"id"`
	Status         string         `json:"status"`
	Instance       string         `json:"instance"`
	VolumeID       string         `json:"volume_id"`
	ConnectionInfo map[string]any `json:"connection_info"`
}

// cinder makes a volume API call as caller under the project's path.
func (s *Service) cinder(ctx context.Context, caller *api.Caller, method, path string, body, out any) (int, error) {
	if s.volumeAPI == nil {
		return 0, fmt.Errorf("%w: no volume service", errCinder)
	}
	p := s.volumePrefix + "/v3/" + url.PathEscape(caller.ProjectID) + path
	h := http.Header{"Openstack-Api-Version": []string{cinderVersion}}
	return api.Call(ctx, s.volumeAPI, caller, api.CallRequest{Method: method, Path: p, Body: body, Header: h}, out)
}

// cinderMessage extracts the message of a Cinder fault answer.
func cinderMessage(err error) string {
	var ce *api.CallError
	if !errors.As(err, &ce) {
		return ""
	}
	var body map[string]struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(ce.Body, &body) == nil {
		for _, v := range body {
			if v.Message != "" {
				return v.Message
			}
		}
	}
	return ""
}

// getVolume reads a volume as caller; found is false for a 404.
func (s *Service) getVolume(ctx context.Context, caller *api.Caller, id string) (*cinderVolume, bool, error) {
	var out struct {
		Volume cinderVolume `json:"volume"`
	}
	code, err := s.cinder(ctx, caller, "GET", "/volumes/"+url.PathEscape(id), nil, &out)
	if code == http.StatusNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("get volume %s: %w", id, err)
	}
	return &out.Volume, true, nil
}

// snapshotExists reports whether caller can see a volume snapshot.
func (s *Service) snapshotExists(ctx context.Context, caller *api.Caller, id string) (bool, error) {
	code, err := s.cinder(ctx, caller, "GET", "/snapshots/"+url.PathEscape(id), nil, nil)
	if code == http.StatusNotFound {
		return false, nil
	}
	return err == nil, err
}

// hostConnector is the connector of this compute host (os-brick's properties).
func hostConnector(host string) map[string]any {
	name, _ := os.Hostname()
	return map[string]any{"host": host, "platform": goruntime.GOARCH, "os_type": goruntime.GOOS, "multipath": false,
		"do_local_attach": false, "ip": "127.0.0.1", "initiator": "iqn.2004-10.org.gostack:" + name}
}

// createAttachment reserves volumeID for instance (with connector nil) or attaches it to
// the host the connector describes, returning the attachment.
func (s *Service) createAttachment(ctx context.Context, caller *api.Caller, volumeID, instanceUUID string, connector map[string]any) (*cinderAttachment, error) {
	body := map[string]any{"volume_uuid": volumeID, "instance_uuid": instanceUUID}
	if connector != nil {
		body["connector"] = connector
	}
	var out struct {
		Attachment cinderAttachment `json:"attachment"`
	}
	if _, err := s.cinder(ctx, caller, "POST", "/attachments", map[string]any{"attachment": body}, &out); err != nil {
		return nil, err
	}
	return &out.Attachment, nil
}

// updateAttachment hands the host's connector to an attachment and returns the
// connection info the hypervisor attaches with.
func (s *Service) updateAttachment(ctx context.Context, caller *api.Caller, id string, connector map[string]any) (map[string]any, error) {
	var out struct {
		Attachment cinderAttachment `json:"attachment"`
	}
	if _, err := s.cinder(ctx, caller, "PUT", "/attachments/"+url.PathEscape(id),
		map[string]any{"attachment": map[string]any{"connector": connector}}, &out); err != nil {
		return nil, err
	}
	return out.Attachment.ConnectionInfo, nil
}

// completeAttachment marks the volume in-use.
func (s *Service) completeAttachment(ctx context.Context, caller *api.Caller, id string) error {
	_, err := s.cinder(ctx, caller, "POST", "/attachments/"+url.PathEscape(id)+"/action",
		map[string]any{"os-complete": nil}, nil)
	return err
}

// deleteAttachment removes an attachment (the volume becomes available once it has no
// other); a missing one is not an error.
func (s *Service) deleteAttachment(ctx context.Context, caller *api.Caller, id string) error {
	if id == "" {
		return nil
	}
	code, err := s.cinder(ctx, caller, "DELETE", "/attachments/"+url.PathEscape(id), nil, nil)
	if code == http.StatusNotFound {
		return nil
	}
	return err
}

// volumeAction runs a body-less volume action (os-begin_detaching, os-roll_detaching)
// as the server's project.
func (s *Service) volumeAction(ctx context.Context, inst *Instance, volumeID, action string) error {
	_, err := s.cinder(ctx, volumeCaller(inst), "POST", "/volumes/"+url.PathEscape(volumeID)+"/action",
		map[string]any{action: nil}, nil)
	return err
}

// deleteVolume deletes a volume a server owned (delete_on_termination); missing is fine.
func (s *Service) deleteVolume(ctx context.Context, caller *api.Caller, id string) error {
	code, err := s.cinder(ctx, caller, "DELETE", "/volumes/"+url.PathEscape(id), nil, nil)
	if code == http.StatusNotFound {
		return nil
	}
	return err
}

// volumeCaller is who compute acts as on a server's volumes: its project and user, as
// an admin (attachments of any state, other users' volumes in the project).
func volumeCaller(inst *Instance) *api.Caller {
	return &api.Caller{UserID: inst.UserID, ProjectID: inst.ProjectID, Roles: []string{"admin", "member", "reader"}}
}

// Block device mapping statuses.
const (
	bdmCreating  = "creating"
	bdmAttaching = "attaching"
	bdmAttached  = "attached"
	bdmDetaching = "detaching"
)

// blockDevice is one row of compute_block_device_mappings.
type blockDevice struct {
	UUID                string
	InstanceUUID        string
	SourceType          string
	ImageID, SnapshotID string
	VolumeID            string
	VolumeSize          int64
	VolumeType          string
	DeviceName          string
	BootIndex           int
	DeleteOnTermination bool
	Tag                 string
	DiskBus, DeviceType string
	AttachmentID        string
	ConnectionInfo      map[string]any
	Status              string
}

// isRoot reports whether the mapping is the server's boot volume.
func (b *blockDevice) isRoot() bool { return b.BootIndex == 0 }

const bdmColumns = `uuid, instance_uuid, source_type, image_id, snapshot_id, volume_id, volume_size, volume_type,
	device_name, boot_index, delete_on_termination, tag, disk_bus, device_type, attachment_id, connection_info, status`

func scanBlockDevice(row rowScanner) (*blockDevice, error) {
	var b blockDevice
	var conn string
	if err := row.Scan(&b.UUID, &b.InstanceUUID, &b.SourceType, &b.ImageID, &b.SnapshotID, &b.VolumeID, &b.VolumeSize,
		&b.VolumeType, &b.DeviceName, &b.BootIndex, &b.DeleteOnTermination, &b.Tag, &b.DiskBus, &b.DeviceType,
		&b.AttachmentID, &conn, &b.Status); err != nil {
		return nil, err
	}
	if conn != "" {
		_ = json.Unmarshal([]byte(conn), &b.ConnectionInfo)
	}
	return &b, nil
}

// loadBlockDevices returns an instance's volume mappings, boot volume first.
func loadBlockDevices(ctx context.Context, q querier, instanceUUID string) ([]*blockDevice, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+bdmColumns+` FROM compute_block_device_mappings
		WHERE instance_uuid = ? ORDER BY CASE WHEN boot_index < 0 THEN 1 ELSE 0 END, boot_index, created_at, uuid`, instanceUUID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*blockDevice
	for rows.Next() {
		b, err := scanBlockDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// loadBlockDevice returns one mapping by uuid.
func loadBlockDevice(ctx context.Context, q querier, uuid string) (*blockDevice, bool, error) {
	b, err := scanBlockDevice(q.QueryRowContext(ctx, `SELECT `+bdmColumns+` FROM compute_block_device_mappings WHERE uuid = ?`, uuid))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	return b, err == nil, err
}

// volumeMappings returns the mappings of a volume (on any server).
func volumeMappings(ctx context.Context, q querier, volumeID string) ([]*blockDevice, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+bdmColumns+` FROM compute_block_device_mappings WHERE volume_id = ?`, volumeID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*blockDevice
	for rows.Next() {
		b, err := scanBlockDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// insertBlockDevice writes a new mapping.
func insertBlockDevice(ctx context.Context, tx *store.Tx, b *blockDevice) error {
	if b.UUID == "" {
		b.UUID = api.NewUUID()
	}
	ts := store.FormatTime(now())
	_, err := tx.ExecContext(ctx, `INSERT INTO compute_block_device_mappings (`+bdmColumns+`, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		b.UUID, b.InstanceUUID, b.SourceType, b.ImageID, b.SnapshotID, b.VolumeID, b.VolumeSize, b.VolumeType,
		b.DeviceName, b.BootIndex, b.DeleteOnTermination, b.Tag, b.DiskBus, b.DeviceType, b.AttachmentID,
		connJSON(b.ConnectionInfo), b.Status, ts, ts)
	return err
}

// saveBlockDevice writes a mapping's mutable fields.
func saveBlockDevice(ctx context.Context, q querier, b *blockDevice) error {
	_, err := q.ExecContext(ctx, `UPDATE compute_block_device_mappings SET volume_id = ?, device_name = ?,
		delete_on_termination = ?, attachment_id = ?, connection_info = ?, status = ?, updated_at = ? WHERE uuid = ?`,
		b.VolumeID, b.DeviceName, b.DeleteOnTermination, b.AttachmentID, connJSON(b.ConnectionInfo), b.Status,
		store.FormatTime(now()), b.UUID)
	return err
}

// deleteBlockDevice removes a mapping.
func deleteBlockDevice(ctx context.Context, q querier, uuid string) error {
	_, err := q.ExecContext(ctx, `DELETE FROM compute_block_device_mappings WHERE uuid = ?`, uuid)
	return err
}

func connJSON(m map[string]any) string {
	if m == nil {
		return ""
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// nextDeviceName picks the first free /dev/vdX after the root disk (and the flavor's
// ephemeral and swap disks), as Nova's get_next_device_name does for virtio.
func nextDeviceName(inst *Instance, bdms []*blockDevice) string {
	used := map[string]bool{"vda": true}
	next := 'b'
	if inst.Flavor.EphemeralGB > 0 {
		used[fmt.Sprintf("vd%c", next)] = true
		next++
	}
	if inst.Flavor.Swap > 0 {
		used[fmt.Sprintf("vd%c", next)] = true
	}
	for _, b := range bdms {
		used[strings.TrimPrefix(b.DeviceName, "/dev/")] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		if n := fmt.Sprintf("vd%c", c); !used[n] {
			return "/dev/" + n
		}
	}
	for c1 := 'a'; c1 <= 'z'; c1++ {
		for c2 := 'a'; c2 <= 'z'; c2++ {
			if n := fmt.Sprintf("vd%c%c", c1, c2); !used[n] {
				return "/dev/" + n
			}
		}
	}
	return ""
}

// driverBlockDevices are the mappings the hypervisor attaches: those with a connection.
func driverBlockDevices(bdms []*blockDevice) []computedriver.BlockDevice {
	var out []computedriver.BlockDevice
	for _, b := range bdms {
		if b.ConnectionInfo == nil || b.Status == bdmDetaching {
			continue
		}
		out = append(out, computedriver.BlockDevice{VolumeID: b.VolumeID, DeviceName: b.DeviceName,
			BootIndex: b.BootIndex, Connection: b.ConnectionInfo})
	}
	return out
}

// waitVolume polls a volume until its status is one of want, failing on "error" or
// after timeout (Nova's block_device_allocate_retries).
func (s *Service) waitVolume(ctx context.Context, caller *api.Caller, id string, timeout time.Duration, want ...string) (*cinderVolume, error) {
	deadline := time.Now().Add(timeout)
	delay := 20 * time.Millisecond
	for {
		v, found, err := s.getVolume(ctx, caller, id)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, fmt.Errorf("volume %s could not be found", id)
		}
		for _, w := range want {
			if v.Status == w {
				return v, nil
			}
		}
		if v.Status == "error" {
			return nil, fmt.Errorf("volume %s is in error", id)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("volume %s did not finish being created even after we waited %d seconds; its status is %s",
				id, int(timeout.Seconds()), v.Status)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		if delay < time.Second {
			delay *= 2
		}
	}
}

// volumeCreateTimeout bounds how long a build waits for a volume it asked for (Nova's
// block_device_allocate_retries × interval: 60 × 3 s).
const volumeCreateTimeout = 180 * time.Second

// prepareBlockDevices is the build's block_device_mapping step: volumes the request asks
// to be made (from an image, a snapshot or blank) are created and waited for, every
// volume is connected to the server's host and its attachment completed. Each step is
// recorded on the mapping first, so a build resumed after a restart continues where it
// stopped.
func (s *Service) prepareBlockDevices(ctx context.Context, inst *Instance) error {
	bdms, err := loadBlockDevices(ctx, s.db, inst.UUID)
	if err != nil || len(bdms) == 0 {
		return err
	}
	caller := volumeCaller(inst)
	host := deref(inst.Host)
	for _, b := range bdms {
		if b.Status == bdmCreating {
			if b.VolumeID == "" {
				vol := map[string]any{"size": b.VolumeSize, "name": ""}
				switch b.SourceType {
				case "image":
					vol["imageRef"] = b.ImageID
				case "snapshot":
					vol["snapshot_id"] = b.SnapshotID
				}
				if b.VolumeType != "" {
					vol["volume_type"] = b.VolumeType
				}
				var out struct {
					Volume cinderVolume `json:"volume"`
				}
				if _, err := s.cinder(ctx, caller, "POST", "/volumes", map[string]any{"volume": vol}, &out); err != nil {
					if msg := cinderMessage(err); msg != "" {
						return &errBlockDevice{msg: msg}
					}
					return err
				}
				b.VolumeID = out.Volume.ID
				if err := saveBlockDevice(ctx, s.db, b); err != nil {
					return err
				}
			}
			if _, err := s.waitVolume(ctx, caller, b.VolumeID, volumeCreateTimeout, "available"); err != nil {
				return &errBlockDevice{msg: err.Error()}
			}
			att, err := s.createAttachment(ctx, caller, b.VolumeID, inst.UUID, nil)
			if err != nil {
				return &errBlockDevice{msg: fmt.Sprintf("volume %s could not be reserved: %s", b.VolumeID, cinderMessage(err))}
			}
			b.AttachmentID, b.Status = att.ID, bdmAttaching
			if err := saveBlockDevice(ctx, s.db, b); err != nil {
				return err
			}
		}
		if b.Status == bdmAttaching {
			conn, err := s.updateAttachment(ctx, caller, b.AttachmentID, hostConnector(host))
			if err != nil {
				return &errBlockDevice{msg: fmt.Sprintf("volume %s could not be connected: %s", b.VolumeID, cinderMessage(err))}
			}
			if err := s.completeAttachment(ctx, caller, b.AttachmentID); err != nil {
				return &errBlockDevice{msg: fmt.Sprintf("volume %s attachment could not be completed: %s", b.VolumeID, cinderMessage(err))}
			}
			b.ConnectionInfo, b.Status = conn, bdmAttached
			if err := saveBlockDevice(ctx, s.db, b); err != nil {
				return err
			}
		}
	}
	return nil
}

// errBlockDevice is a build's volume that could not be made or attached.
type errBlockDevice struct{ msg string }

func (e *errBlockDevice) Error() string { return e.msg }

// releaseBlockDevices ends a deleted server's attachments and deletes the volumes marked
// delete_on_termination, then its mappings. Volumes the user attached stay, available.
func (s *Service) releaseBlockDevices(ctx context.Context, inst *Instance) error {
	bdms, err := loadBlockDevices(ctx, s.db, inst.UUID)
	if err != nil || len(bdms) == 0 {
		return err
	}
	caller := volumeCaller(inst)
	for _, b := range bdms {
		if s.volumeAPI != nil {
			if err := s.deleteAttachment(ctx, caller, b.AttachmentID); err != nil {
				return fmt.Errorf("delete attachment of volume %s: %w", b.VolumeID, err)
			}
			if b.DeleteOnTermination && b.VolumeID != "" {
				if _, err := s.waitVolume(ctx, caller, b.VolumeID, 30*time.Second, "available", "error"); err != nil &&
					!strings.Contains(err.Error(), "could not be found") {
					s.log.Warn("volume of a deleted server did not become available", "volume", b.VolumeID, "err", err)
				}
				if err := s.deleteVolume(ctx, caller, b.VolumeID); err != nil {
					s.log.Warn("delete volume of a deleted server", "instance", inst.UUID, "volume", b.VolumeID, "err", err)
				}
			}
		}
		if err := deleteBlockDevice(ctx, s.db, b.UUID); err != nil {
			return err
		}
	}
	return nil
}

// snapshotVolumeBacked is createImage of a server booted from a volume (Nova's
// snapshot_volume_backed): every volume is snapshotted (forced, as it is in use) and the
// image records the mappings to those snapshots, with no data of its own; a server
// created from the image boots from a new volume made from the root snapshot. handled is
// false for a server with an image root disk.
func (s *Service) snapshotVolumeBacked(r *http.Request, c *call, id, name string, meta map[string]string, sc stateCheck) (*ImageInfo, bool, error) {
	ctx := r.Context()
	inst, err := s.getServer(ctx, s.db, c, id, c.rule)
	if err != nil || inst.ImageRef != "" {
		return nil, false, nil
	}
	bdms, err := loadBlockDevices(ctx, s.db, inst.UUID)
	if err != nil {
		return nil, true, err
	}
	if len(bdms) == 0 || !bdms[0].isRoot() {
		return nil, false, nil
	}
	if err := sc.check(c, inst, "createImage"); err != nil {
		return nil, true, err
	}
	if s.volumeAPI == nil || s.deps.Images == nil {
		return nil, true, conflict("The volume service is not available.")
	}
	var mappings []map[string]any
	for _, b := range bdms {
		if b.VolumeID == "" {
			continue
		}
		var out struct {
			Snapshot struct {
				ID   string `json:"id"`
				Size int64  `json:"size"`
			} `json:"snapshot"`
		}
		snap := map[string]any{"volume_id": b.VolumeID, "force": true, "name": "snapshot for " + name}
		if _, err := s.cinder(ctx, c.caller, "POST", "/snapshots", map[string]any{"snapshot": snap}, &out); err != nil {
			if msg := cinderMessage(err); msg != "" {
				return nil, true, conflict("%s", msg)
			}
			return nil, true, err
		}
		m := map[string]any{"source_type": "snapshot", "destination_type": "volume", "snapshot_id": out.Snapshot.ID,
			"volume_size": out.Snapshot.Size, "device_name": b.DeviceName, "delete_on_termination": b.DeleteOnTermination,
			"boot_index": nil, "volume_id": nil, "image_id": nil, "no_device": nil, "disk_bus": nilIfEmpty(b.DiskBus),
			"device_type": nilIfEmpty(b.DeviceType), "guest_format": nil, "tag": nilIfEmpty(b.Tag)}
		if b.BootIndex >= 0 {
			m["boot_index"] = b.BootIndex
		}
		mappings = append(mappings, m)
	}
	extra := map[string]string{}
	for k, v := range meta {
		extra[k] = v
	}
	bm, _ := json.Marshal(mappings)
	extra["block_device_mapping"] = string(bm)
	extra["bdm_v2"] = "True"
	extra["root_device_name"] = "/dev/vda"
	img, err := s.createSnapshotImage(ctx, c, inst, name, "snapshot", extra)
	if err != nil {
		return nil, true, err
	}
	// Glance keeps an image without data queued; Nova force-activates it with an empty
	// raw payload.
	if err := s.deps.Images.UploadImage(ctx, img.ID, "raw", "bare", strings.NewReader("")); err != nil {
		_ = s.deps.Images.DeleteImage(context.WithoutCancel(ctx), img.ID)
		return nil, true, err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		_, err := startAction(ctx, tx, inst.UUID, ActionCreateImage, api.RequestID(ctx), c.caller.UserID, c.caller.ProjectID)
		return err
	})
	return img, true, err
}
