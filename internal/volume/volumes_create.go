package volume

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// createParams are the create_volume task's params: where the data comes from.
type createParams struct {
	SnapshotID string `json:"snapshot_id,omitempty"`
	SourceID   string `json:"source_volid,omitempty"`
	ImageID    string `json:"image_id,omitempty"`
	BackupID   string `json:"backup_id,omitempty"`
}

// createVolume is POST /volumes: validate, take quota, schedule and queue the create,
// answer 202 with the volume "creating".
func (s *Service) createVolume(w http.ResponseWriter, r *http.Request, c *call) error {
	top, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	for k := range top {
		if k != "volume" && k != "OS-SCH-HNT:scheduler_hints" {
			return badRequest("Invalid input for field/attribute body. Additional properties are not allowed ('%s' was unexpected)", k)
		}
	}
	body, present, err := top.Obj("volume")
	if err != nil {
		return schemaError("volume", top["volume"], showValue(top["volume"])+" is not of type 'object'")
	}
	if !present || body == nil {
		return badRequest("Invalid input for field/attribute volume. Value: None. 'volume' is a required property")
	}
	if c.at(53) {
		known := map[string]bool{"name": true, "description": true, "display_name": true, "display_description": true,
			"volume_type": true, "metadata": true, "snapshot_id": true, "source_volid": true, "consistencygroup_id": true,
			"size": true, "availability_zone": true, "multiattach": true, "image_id": true, "imageRef": true,
			"group_id": true, "backup_id": true}
		for k := range body {
			if !known[k] {
				return badRequest("Invalid input for field/attribute volume. Additional properties are not allowed ('%s' was unexpected)", k)
			}
		}
	}
	name, _, err := optString(body, "name", 255)
	if err != nil {
		return err
	}
	if name == nil {
		if name, _, err = optString(body, "display_name", 255); err != nil {
			return err
		}
	}
	desc, _, err := optString(body, "description", 255)
	if err != nil {
		return err
	}
	if desc == nil {
		if desc, _, err = optString(body, "display_description", 255); err != nil {
			return err
		}
	}
	if name != nil {
		*name = strings.TrimSpace(*name)
	}
	if desc != nil {
		*desc = strings.TrimSpace(*desc)
	}
	size, sizeGiven, err := sizeField(body, "size", true)
	if err != nil {
		return err
	}
	meta, _, err := metadataField(body, "metadata", true)
	if err != nil {
		return err
	}
	if meta == nil {
		meta = map[string]string{}
	}
	typeRef, _, err := optString(body, "volume_type", 255)
	if err != nil {
		return err
	}
	az, _, err := optString(body, "availability_zone", 255)
	if err != nil {
		return err
	}
	if v, ok := body["multiattach"]; ok && v != nil {
		b, valid := boolValue(v)
		if !valid {
			return schemaError("multiattach", v, "Invalid boolean")
		}
		if b {
			return badRequest("multiattach parameter has been removed. The default behavior is to use multiattach enabled volume types. Contact your administrator to create a multiattach enabled volume type and use it to create multiattach volumes.")
		}
	}
	uuidField := func(k string) (string, error) {
		p, _, err := optString(body, k, 255)
		if err != nil || p == nil {
			return "", err
		}
		if !isUUID(*p) {
			return "", schemaError(k, *p, "'"+*p+"' is not a 'uuid'")
		}
		return *p, nil
	}
	snapID, err := uuidField("snapshot_id")
	if err != nil {
		return err
	}
	srcID, err := uuidField("source_volid")
	if err != nil {
		return err
	}
	var backupID string
	if c.at(47) {
		if backupID, err = uuidField("backup_id"); err != nil {
			return err
		}
	}
	imageRef, _, err := optString(body, "imageRef", 255)
	if err != nil {
		return err
	}
	if imageRef == nil {
		if imageRef, _, err = optString(body, "image_id", 255); err != nil {
			return err
		}
	}
	rule := ruleVolumeCreate
	if imageRef != nil {
		rule = ruleVolumeCreateFromImage
	}
	if err := s.authorize(c, rule, nil); err != nil {
		return err
	}
	ctx := r.Context()
	project := c.caller.ProjectID
	vol := &volumeRec{ID: api.NewUUID(), ProjectID: project, UserID: c.caller.UserID, Name: name, Description: desc,
		Status: stCreating, AttachStatus: attachDetached, ConsumesQuota: true, Metadata: meta}
	params := createParams{}
	var imageMeta map[string]string

	// Resolve the type first: an unknown one is a 404 whatever else is wrong.
	var vt *volumeType
	if typeRef != nil && *typeRef != "" {
		if vt, err = s.typeFor(ctx, s.db, c, *typeRef); err != nil {
			return err
		}
		if vt == nil {
			if isUUID(*typeRef) {
				return typeNotFound(*typeRef)
			}
			return typeNotFoundByName(*typeRef)
		}
	}

	var srcAZ string
	switch {
	case snapID != "":
		snap, err := s.snapshotFor(ctx, c, snapID, ruleSnapshotGet)
		if err != nil {
			return err
		}
		if snap.Status != stAvailable {
			return invalidSnapshot("Originating snapshot status must be one of 'available' values")
		}
		if !sizeGiven {
			size = snap.VolumeSize
		}
		if size < snap.VolumeSize {
			return invalidInput("Volume size '%d'GB cannot be smaller than the snapshot size %dGB. They must be >= original snapshot size.", size, snap.VolumeSize)
		}
		vol.SnapshotID, params.SnapshotID = &snap.ID, snap.ID
		src, err := loadVolumeRow(ctx, s.db, snap.VolumeID)
		if err != nil {
			return err
		}
		if src != nil {
			srcAZ = src.AZ
			vol.Bootable = src.Bootable
			if vt == nil {
				vt, _ = loadType(ctx, s.db, src.TypeID)
			}
			if imageMeta, err = loadMeta(ctx, s.db, "volume_image_metadata", "volume_id", src.ID); err != nil {
				return err
			}
		}
	case srcID != "":
		src, err := s.volumeFor(ctx, c, srcID, ruleVolumeGet)
		if err != nil {
			return err
		}
		if src.Status != stAvailable && src.Status != stInUse {
			return invalidVolume("Originating source volume status must be one of 'available, in-use' values")
		}
		if !sizeGiven {
			size = src.Size
		}
		if size < src.Size {
			return invalidInput("Volume size '%d'GB cannot be smaller than original volume size  %dGB. They must be >= original volume size.", size, src.Size)
		}
		vol.SourceVolID, params.SourceID = &src.ID, src.ID
		srcAZ, vol.Bootable = src.AZ, src.Bootable
		if vt == nil {
			vt, _ = loadType(ctx, s.db, src.TypeID)
		}
		imageMeta = src.ImageMeta
	case backupID != "":
		b, err := s.backupFor(ctx, c, backupID, ruleBackupGet)
		if err != nil {
			return err
		}
		if b.Status != stAvailable {
			return invalidBackup("Backup status must be available")
		}
		if !sizeGiven {
			size = b.Size
		}
		if size < b.Size {
			return invalidInput("Volume size %dGB cannot be smaller than the backup size %dGB. It must be >= backup size.", size, b.Size)
		}
		vol.BackupID, params.BackupID = &b.ID, b.ID
	case imageRef != nil:
		if s.deps.Images == nil {
			return invalidInput("Invalid image identifier or unable to access requested image.")
		}
		ref := *imageRef
		if i := strings.LastIndex(ref, "/"); i >= 0 {
			ref = ref[i+1:]
		}
		img, err := s.deps.Images.Image(ctx, c.caller, ref)
		if errors.Is(err, ErrImageNotFound) {
			return invalidInput("Invalid image identifier or unable to access requested image.")
		}
		if err != nil {
			return err
		}
		if img.Status != "active" {
			return invalidInput("Image %s is not active.", img.ID)
		}
		imgGB := (img.Size + (1 << 30) - 1) >> 30
		if !sizeGiven {
			size = max(imgGB, img.MinDisk)
		}
		if sizeGiven && imgGB > size {
			return invalidInput("Size of specified image %dGB is larger than volume size %dGB.", imgGB, size)
		}
		if sizeGiven && img.MinDisk > size {
			return invalidInput("Volume size %dGB cannot be smaller than the image minDisk size %dGB.", size, img.MinDisk)
		}
		vol.ImageID, params.ImageID = &img.ID, img.ID
		vol.Bootable = true
		imageMeta = imageVolumeMetadata(img)
	}
	if size <= 0 {
		var shown any
		if v, ok := body["size"]; ok {
			shown = v
		}
		return invalidInput("Invalid volume size provided for create request: %s (size argument must be an integer (or string representation of an integer) and greater than zero).", showValue(shown))
	}
	vol.Size = size
	switch {
	case az != nil && *az != "":
		if *az != s.cfg.AvailabilityZone {
			return badRequest("Availability zone '%s' is invalid.", *az)
		}
		if srcAZ != "" && srcAZ != *az {
			if snapID != "" {
				return invalidInput("Volume must be in the same availability zone as the snapshot")
			}
			return invalidInput("Volume must be in the same availability zone as the source volume")
		}
		vol.AZ = *az
	case srcAZ != "":
		vol.AZ = srcAZ
	default:
		vol.AZ = s.cfg.AvailabilityZone
	}
	if vt == nil {
		if vt, err = s.defaultTypeFor(ctx, s.db, project); err != nil {
			return err
		}
	}
	if enc, err := loadEncryption(ctx, s.db, vt.ID); err != nil {
		return err
	} else if enc != nil {
		// Encrypted volumes need a key manager, which this cloud does not run.
		return badRequest("Invalid volume type: volume type %s is encrypted, and this cloud has no key manager to encrypt volumes with.", vt.ID)
	}
	vol.TypeID, vol.TypeName = vt.ID, vt.Name
	vol.Multiattach = vt.multiattach()
	vol.DiskFormat = vt.format()

	queue, err := s.scheduleQueue(ctx)
	if err != nil {
		return err
	}
	var groupID string
	if v, ok := body["group_id"]; ok && v != nil && c.at(13) {
		g, ok := v.(string)
		if !ok || g == "" {
			return badRequest("Invalid input for field/attribute group_id. Value: %v. %v is not of type 'string'", v, v)
		}
		groupID = g
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.checkQuota(ctx, tx, project, quotaDelta{volumes: 1, gigabytes: size, typeName: vt.Name, volumeSize: size}); err != nil {
			return err
		}
		if groupID != "" {
			// The volume joins a group whose types must include its own.
			if err := s.checkVolumeGroup(ctx, tx, c, groupID, vt.ID); err != nil {
				return err
			}
			vol.GroupID = &groupID
		}
		ts := store.FormatTime(now())
		vol.CreatedAt, vol.UpdatedAt = ts, ts
		if queue == "" {
			// No cinder-volume service is up and enabled: Cinder's scheduler fails the
			// volume with "No valid backend" and a user message.
			vol.Status = stError
		} else {
			vol.Host = ptr(s.poolHost())
		}
		if err := insertVolume(ctx, tx, vol); err != nil {
			return err
		}
		if err := setMeta(ctx, tx, "volume_metadata", "volume_id", vol.ID, meta, false); err != nil {
			return err
		}
		if err := setMeta(ctx, tx, "volume_image_metadata", "volume_id", vol.ID, imageMeta, false); err != nil {
			return err
		}
		if queue == "" {
			return s.recordMessage(ctx, tx, project, resVolume, vol.ID, actionScheduleAllocate, detailNoBackend)
		}
		return enqueue(ctx, tx, queue, taskCreateVolume, vol.ID, params)
	})
	if err != nil {
		return err
	}
	s.wake.notify()
	vol.ImageMeta = imageMeta
	api.WriteJSON(w, http.StatusAccepted, map[string]any{"volume": s.volumeView(r, c, vol, false)})
	return nil
}

// imageVolumeMetadata is the volume_image_metadata Cinder copies from an image: its
// id, name, formats, sizes and properties.
func imageVolumeMetadata(img *ImageInfo) map[string]string {
	m := map[string]string{"image_id": img.ID, "image_name": img.Name, "disk_format": img.DiskFormat,
		"container_format": img.ContainerFormat, "size": strconv.FormatInt(img.Size, 10),
		"min_disk": strconv.FormatInt(img.MinDisk, 10), "min_ram": strconv.FormatInt(img.MinRAM, 10)}
	for k, v := range img.Properties {
		switch k {
		case "owner", "os_hash_algo", "os_hash_value", "stores", "locations", "direct_url":
			continue
		}
		m[k] = v
	}
	return m
}

// scheduleQueue is the scheduler's choice of backend: the task queue of an up and
// enabled cinder-volume service, "" when there is none. This process's own backend
// counts as up whenever it has a driver and is not disabled, even before Run has
// registered it (the first request after a start, or a restart with a stale heartbeat):
// the process answering is alive and its runner drains the queue once started.
// Capacity is checked by the backend's runner before it creates (it knows the
// backend's space).
func (s *Service) scheduleQueue(ctx context.Context) (string, error) {
	rows, err := s.loadServices(ctx, "", binaryVolume)
	if err != nil {
		return "", err
	}
	driver, _ := s.backend()
	local := driver != nil
	for _, sv := range rows {
		if sv.host == s.volumeHost() {
			local = local && !sv.disabled
			continue
		}
		if !sv.disabled && s.up(sv) {
			return "volume:" + sv.host, nil
		}
	}
	if local {
		return s.volumeQueue(), nil
	}
	return "", nil
}

// insertVolume writes a new volume row.
func insertVolume(ctx context.Context, tx *store.Tx, v *volumeRec) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO volume_volumes (id, project_id, user_id, name, description, size, status,
		attach_status, availability_zone, host, type_id, snapshot_id, source_volid, image_id, backup_id, group_id, bootable,
		multiattach, encrypted, consumes_quota, disk_format, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.ID, v.ProjectID, v.UserID, v.Name, v.Description, v.Size, v.Status, v.AttachStatus, v.AZ, v.Host, v.TypeID,
		v.SnapshotID, v.SourceVolID, v.ImageID, v.BackupID, v.GroupID, v.Bootable, v.Multiattach, v.Encrypted, v.ConsumesQuota,
		v.DiskFormat, v.CreatedAt, v.UpdatedAt)
	return err
}

// isUUID reports whether s is a UUID (dashed, or 32 hex digits as Python's uuid accepts).
func isUUID(s string) bool {
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 || (len(s) != 32 && len(s) != 36) {
		return false
	}
	if len(s) == 36 && (s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-') {
		return false
	}
	for _, r := range h {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

// volumeDeletable are the statuses a volume may be deleted from without force.
var volumeDeletable = []string{stAvailable, stError, stErrorRestoring, stErrorExtending, "error_managing"}

// deleteVolume is DELETE /volumes/{volume_id}[?cascade=true][&force=true] (202).
func (s *Service) deleteVolume(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	cascade, force := false, false
	if q.Has("cascade") {
		b, ok := boolValue(q.Get("cascade"))
		if !ok {
			return invalidInput("Invalid value '%s' for cascade", q.Get("cascade"))
		}
		cascade = b
	}
	if q.Has("force") {
		b, ok := boolValue(q.Get("force"))
		if !ok {
			return invalidInput("Invalid value '%s' for force", q.Get("force"))
		}
		force = b
	}
	ctx := r.Context()
	v, err := s.volumeFor(ctx, c, r.PathValue("volume_id"), c.rule)
	if err != nil {
		return err
	}
	if force {
		if err := s.authorize(c, ruleVolumeForceDelete, ownerTarget(v.ProjectID)); err != nil {
			return err
		}
	}
	if err := s.startVolumeDelete(ctx, c, v.ID, cascade, force); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// deleteRefusal is Cinder's message for a volume that may not be deleted.
func deleteRefusal(force bool) *api.Error {
	status := ""
	if !force {
		status = "status must be " + strings.Join(volumeDeletable, " or ") + " and "
	}
	return invalidVolume("Volume %smust not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer.", status)
}

// startVolumeDelete marks a volume (and with cascade its snapshots) deleting and queues
// the deletes, checking Cinder's conditions in the same transaction.
func (s *Service) startVolumeDelete(ctx context.Context, c *call, id string, cascade, force bool) error {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		v, err := loadVolume(ctx, tx, id)
		if err != nil {
			return err
		}
		if v == nil {
			return volumeNotFound(id)
		}
		if v.AttachStatus == attachAttached || (v.MigrationStatus != nil && *v.MigrationStatus != "" &&
			*v.MigrationStatus != "success" && *v.MigrationStatus != "error") || v.GroupID != nil {
			return deleteRefusal(force)
		}
		if !force && !contains(volumeDeletable, v.Status) {
			return deleteRefusal(force)
		}
		for _, a := range v.Attachments {
			if a.AttachStatus == attachAttached {
				return deleteRefusal(force)
			}
		}
		snaps, err := volumeSnapshots(ctx, tx, v.ID)
		if err != nil {
			return err
		}
		if len(snaps) > 0 && !cascade {
			return deleteRefusal(force)
		}
		if cascade && !force {
			for _, sn := range snaps {
				if sn.Status != stAvailable && sn.Status != stError && sn.Status != stDeleting {
					return deleteRefusal(force)
				}
				if sn.ProjectID != v.ProjectID && !s.isAdmin(c) {
					return deleteRefusal(force)
				}
			}
		}
		ts := store.FormatTime(now())
		for _, sn := range snaps {
			if sn.Status == stDeleting {
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE volume_snapshots SET status = ?, updated_at = ? WHERE id = ?`,
				stDeleting, ts, sn.ID); err != nil {
				return err
			}
			if err := enqueue(ctx, tx, s.queueOf(v), taskDeleteSnapshot, sn.ID, nil); err != nil {
				return err
			}
		}
		// Leftover reservations (reserved, attaching) go with the volume.
		if _, err := tx.ExecContext(ctx, `UPDATE volume_attachments SET deleted = ?, deleted_at = ?, attach_status = ?
			WHERE volume_id = ? AND deleted = ?`, true, ts, attachDetached, v.ID, false); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, previous_status = ?, terminated_at = ?,
			updated_at = ? WHERE id = ?`, stDeleting, v.Status, ts, ts, v.ID); err != nil {
			return err
		}
		return enqueue(ctx, tx, s.queueOf(v), taskDeleteVolume, v.ID, nil)
	})
	if err != nil {
		return err
	}
	s.wake.notify()
	return nil
}

// queueOf is the task queue of the backend holding a volume (this host's when the
// volume was never scheduled).
func (s *Service) queueOf(v *volumeRec) string {
	if v.Host == nil || *v.Host == "" {
		return s.volumeQueue()
	}
	h, _, _ := strings.Cut(*v.Host, "#")
	return "volume:" + h
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// metaBlocked are the statuses in which Cinder refuses metadata changes
// ("maintenance"), as its _check_metadata_properties guard does.
var metaBlocked = []string{"maintenance"}

// listVolumeMeta is GET /volumes/{volume_id}/metadata.
func (s *Service) listVolumeMeta(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := s.volumeFor(r.Context(), c, r.PathValue("volume_id"), c.rule)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"metadata": v.Metadata})
	return nil
}

// showVolumeMetaItem is GET /volumes/{volume_id}/metadata/{key}.
func (s *Service) showVolumeMetaItem(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := s.volumeFor(r.Context(), c, r.PathValue("volume_id"), c.rule)
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	val, ok := v.Metadata[key]
	if !ok {
		return notFound("Volume %s has no metadata with key %s.", v.ID, key)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"meta": map[string]string{key: val}})
	return nil
}

// createVolumeMeta is POST /volumes/{volume_id}/metadata (merge).
func (s *Service) createVolumeMeta(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.writeVolumeMeta(w, r, c, false)
}

// replaceVolumeMeta is PUT /volumes/{volume_id}/metadata (replace).
func (s *Service) replaceVolumeMeta(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.writeVolumeMeta(w, r, c, true)
}

// writeVolumeMeta merges or replaces a volume's metadata.
func (s *Service) writeVolumeMeta(w http.ResponseWriter, r *http.Request, c *call, replace bool) error {
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	meta, present, err := metadataField(body, "metadata", false)
	if err != nil {
		return err
	}
	if !present {
		return badRequest("Invalid input for field/attribute metadata. Value: None. 'metadata' is a required property")
	}
	ctx := r.Context()
	v, err := s.volumeFor(ctx, c, r.PathValue("volume_id"), c.rule)
	if err != nil {
		return err
	}
	if contains(metaBlocked, v.Status) {
		return invalidVolume("Updating volume metadata is not allowed for volumes in %s status.", v.Status)
	}
	var out map[string]string
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := setMeta(ctx, tx, "volume_metadata", "volume_id", v.ID, meta, replace); err != nil {
			return err
		}
		var err error
		out, err = loadMeta(ctx, tx, "volume_metadata", "volume_id", v.ID)
		return err
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"metadata": out})
	return nil
}

// updateVolumeMetaItem is PUT /volumes/{volume_id}/metadata/{key} {"meta": {key: v}}.
func (s *Service) updateVolumeMetaItem(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	meta, present, err := metadataField(body, "meta", false)
	if err != nil {
		return err
	}
	if !present {
		return badRequest("Malformed request body")
	}
	key := r.PathValue("key")
	if len(meta) > 1 {
		return badRequest("Request body contains too many items")
	}
	if _, ok := meta[key]; !ok {
		return badRequest("Request body and URI mismatch")
	}
	ctx := r.Context()
	v, err := s.volumeFor(ctx, c, r.PathValue("volume_id"), c.rule)
	if err != nil {
		return err
	}
	if err := s.db.InTx(ctx, func(tx *store.Tx) error {
		return setMeta(ctx, tx, "volume_metadata", "volume_id", v.ID, meta, false)
	}); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"meta": meta})
	return nil
}

// deleteVolumeMetaItem is DELETE /volumes/{volume_id}/metadata/{key} (200).
func (s *Service) deleteVolumeMetaItem(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	v, err := s.volumeFor(ctx, c, r.PathValue("volume_id"), c.rule)
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	if _, ok := v.Metadata[key]; !ok {
		return notFound("Volume %s has no metadata with key %s.", v.ID, key)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM volume_metadata WHERE volume_id = ? AND meta_key = ?`, v.ID, key); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
