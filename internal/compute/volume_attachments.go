package compute

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"

	"github.com/gostack/gostack/internal/api"
	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/store"
)

// This file is os-volume_attachments (Nova's volume_attachments.py) and the host side
// of attaching and detaching. As in Nova, the API reserves the volume (a Cinder
// attachment without a connector) and records the mapping, and the server's host then
// connects it (attachment update with the host's connector), hot-plugs it when the
// guest runs and completes the attachment (the volume goes in-use). Detaching is the
// reverse, and the volume becomes available when the attachment is deleted.

// deviceNameRe is Nova's match_device pattern.
var deviceNameRe = regexp.MustCompile(`^(/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$`)

// volumeAttachState is attach_volume's and detach_volume's state check.
var volumeAttachState = stateCheck{vm: []string{VMActive, VMPaused, VMStopped, VMResized, VMSoftDeleted, VMShelved,
	VMShelvedOffloaded}, lock: true}

// attachmentView is Nova's _translate_attachment_detail_view.
func attachmentView(c *call, b *blockDevice) map[string]any {
	v := map[string]any{"volumeId": b.VolumeID, "serverId": b.InstanceUUID}
	if !c.at(89) {
		v["id"] = b.VolumeID
	}
	if b.DeviceName != "" {
		v["device"] = b.DeviceName
	}
	if c.at(70) {
		v["tag"] = nilIfEmpty(b.Tag)
	}
	if c.at(79) {
		v["delete_on_termination"] = b.DeleteOnTermination
	}
	if c.at(89) {
		v["attachment_id"] = b.AttachmentID
		v["bdm_uuid"] = b.UUID
	}
	return v
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// listVolumeAttachments is GET /servers/{id}/os-volume_attachments.
func (s *Service) listVolumeAttachments(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	if c.at(75) {
		for k := range q {
			if k != "limit" && k != "offset" {
				return badRequest("Invalid input for query parameters %s. Value: %s. Additional properties are not allowed ('%s' was unexpected)", k, q.Get(k), k)
			}
		}
	}
	limit, offset := -1, 0
	for _, k := range []string{"limit", "offset"} {
		if v := q.Get(k); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return badRequest("Invalid input for query parameters %s. Value: %s. %s does not match '^[0-9]*$'", k, v, pyReprAny(v))
			}
			if k == "limit" {
				limit = n
			} else {
				offset = n
			}
		}
	}
	inst, err := s.getServer(r.Context(), s.db, c, r.PathValue("server_id"), c.rule)
	if err != nil {
		return err
	}
	bdms, err := loadBlockDevices(r.Context(), s.db, inst.UUID)
	if err != nil {
		return err
	}
	if offset > len(bdms) {
		offset = len(bdms)
	}
	bdms = bdms[offset:]
	if limit >= 0 && limit < len(bdms) {
		bdms = bdms[:limit]
	}
	out := []any{}
	for _, b := range bdms {
		if b.VolumeID == "" || (c.at(89) && b.AttachmentID == "") {
			continue
		}
		out = append(out, attachmentView(c, b))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"volumeAttachments": out})
	return nil
}

// findAttachment returns the mapping of volumeID on inst, or Nova's 404.
func (s *Service) findAttachment(ctx context.Context, inst *Instance, volumeID string) (*blockDevice, error) {
	bdms, err := loadBlockDevices(ctx, s.db, inst.UUID)
	if err != nil {
		return nil, err
	}
	for _, b := range bdms {
		if b.VolumeID == volumeID && b.VolumeID != "" {
			return b, nil
		}
	}
	return nil, notFound("Instance %s is not attached to volume %s", inst.UUID, volumeID)
}

// showVolumeAttachment is GET /servers/{id}/os-volume_attachments/{volume_id}.
func (s *Service) showVolumeAttachment(w http.ResponseWriter, r *http.Request, c *call) error {
	inst, err := s.getServer(r.Context(), s.db, c, r.PathValue("server_id"), c.rule)
	if err != nil {
		return err
	}
	b, err := s.findAttachment(r.Context(), inst, r.PathValue("volume_id"))
	if err != nil {
		return err
	}
	if c.at(89) && b.AttachmentID == "" {
		return notFound("Instance %s is not attached to volume %s", inst.UUID, b.VolumeID)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"volumeAttachment": attachmentView(c, b)})
	return nil
}

// volumeAttachmentBody validates the body of an attach or update.
func volumeAttachmentBody(r *http.Request, allowed ...string) (api.Object, string, error) {
	top, err := api.DecodeObject(r, "")
	if err != nil {
		return nil, "", err
	}
	if err := onlyKeys(top, "", "volumeAttachment"); err != nil {
		return nil, "", err
	}
	body, err := requiredObject(top, "volumeAttachment")
	if err != nil {
		return nil, "", err
	}
	if err := onlyKeys(body, "volumeAttachment", allowed...); err != nil {
		return nil, "", err
	}
	raw, present := body["volumeId"]
	if !present {
		return nil, "", badRequest("Invalid input for field/attribute volumeAttachment. Value: %s. 'volumeId' is a required property", pyReprAny(map[string]any(body)))
	}
	vid, ok := raw.(string)
	if !ok || !validUUID(vid) {
		return nil, "", invalidInput("volumeId", raw, fmt.Sprintf("%s is not a 'uuid'", pyReprAny(raw)))
	}
	if v, ok := body["device"]; ok && v != nil {
		d, ok := v.(string)
		if !ok || !deviceNameRe.MatchString(d) {
			return nil, "", invalidInput("device", v, fmt.Sprintf("%s does not match '(^/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$'", pyReprAny(v)))
		}
	}
	if v, ok := body["delete_on_termination"]; ok {
		if _, err := parseBoolParam("delete_on_termination", v); err != nil {
			return nil, "", err
		}
	}
	return body, vid, nil
}

// parseBoolParam is Nova's parameter_types.boolean.
func parseBoolParam(field string, v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		switch x {
		case "true", "True", "TRUE", "1", "on", "On", "ON", "yes", "Yes", "YES", "y", "t":
			return true, nil
		case "false", "False", "FALSE", "0", "off", "Off", "OFF", "no", "No", "NO", "n", "f":
			return false, nil
		}
	}
	return false, invalidInput(field, v, fmt.Sprintf("%s is not of type 'boolean', 'string'", pyReprAny(v)))
}

// attachVolume is POST /servers/{id}/os-volume_attachments.
func (s *Service) attachVolume(w http.ResponseWriter, r *http.Request, c *call) error {
	allowed := []string{"volumeId", "device"}
	if c.at(49) {
		allowed = append(allowed, "tag")
	}
	if c.at(79) {
		allowed = append(allowed, "delete_on_termination")
	}
	body, vid, err := volumeAttachmentBody(r, allowed...)
	if err != nil {
		return err
	}
	tag := ""
	if tv, ok := body["tag"]; ok {
		if tag, err = validTag("tag", tv); err != nil {
			return err
		}
	}
	dot := false
	if v, ok := body["delete_on_termination"]; ok {
		dot, _ = parseBoolParam("delete_on_termination", v)
	}
	ctx := r.Context()
	inst, err := s.getServer(ctx, s.db, c, r.PathValue("server_id"), c.rule)
	if err != nil {
		return err
	}
	if (inst.VMState == VMShelved || inst.VMState == VMShelvedOffloaded) && !c.at(20) {
		return invalidState("attach_volume", inst.UUID, "vm_state", inst.VMState)
	}
	if err := volumeAttachState.check(c, inst, "attach_volume"); err != nil {
		return err
	}
	if s.volumeAPI == nil {
		return notFound("Volume %s could not be found.", vid)
	}
	vol, found, err := s.getVolume(ctx, c.caller, vid)
	if err != nil {
		return err
	}
	if !found {
		return notFound("Volume %s could not be found.", vid)
	}
	existing, err := volumeMappings(ctx, s.db, vid)
	if err != nil {
		return err
	}
	if len(existing) > 0 {
		for _, b := range existing {
			if b.InstanceUUID == inst.UUID {
				return badRequest("Invalid volume: volume %s already attached", vid)
			}
		}
		if !vol.Multiattach {
			ids := ""
			for i, b := range existing {
				if i > 0 {
					ids += " "
				}
				ids += b.InstanceUUID
			}
			return badRequest("Invalid volume: volume %s is already attached to instances: %s", vid, ids)
		}
	}
	if inst.VMState == VMShelvedOffloaded && tag != "" {
		return badRequest("Tagged volume attachment is not supported for shelved-offloaded instances.")
	}
	bdms, err := loadBlockDevices(ctx, s.db, inst.UUID)
	if err != nil {
		return err
	}
	device := nextDeviceName(inst, bdms)
	if device == "" {
		return forbidden("The maximum allowed number of disk devices (26) to attach to a single instance has been exceeded.")
	}
	// Reserve the volume as the caller: Cinder checks the volume's state and who may
	// attach it.
	att, err := s.createAttachment(ctx, c.caller, vid, inst.UUID, nil)
	if err != nil {
		if msg := cinderMessage(err); msg != "" {
			return badRequest("Invalid volume: %s", msg)
		}
		return err
	}
	b := &blockDevice{InstanceUUID: inst.UUID, SourceType: "volume", VolumeID: vid, DeviceName: device, BootIndex: -1,
		DeleteOnTermination: dot, Tag: tag, AttachmentID: att.ID, Status: bdmAttaching}
	offloaded := inst.VMState == VMShelvedOffloaded || deref(inst.Host) == ""
	t := transition{action: "attach_volume", record: "attach_volume", kind: TaskAttachVolume, check: volumeAttachState,
		noTaskKind: offloaded,
		prepare: func(ctx context.Context, tx *store.Tx, _ *Instance) (any, error) {
			if offloaded {
				b.Status = bdmAttached
			}
			return map[string]any{"bdm_uuid": b.UUID, "volume_id": vid}, insertBlockDevice(ctx, tx, b)
		}}
	b.UUID = api.NewUUID()
	if _, err := s.run(r, c, inst.UUID, t); err != nil {
		_ = s.deleteAttachment(ctx, volumeCaller(inst), att.ID)
		return err
	}
	if offloaded {
		// Nova completes the attachment without a connector so that the volume shows
		// in-use; the host connects it when the server is unshelved.
		if err := s.completeAttachment(ctx, volumeCaller(inst), att.ID); err != nil {
			s.log.Warn("complete attachment of a shelved server", "instance", inst.UUID, "volume", vid, "err", err)
		}
	}
	view := map[string]any{"id": vid, "serverId": inst.UUID, "volumeId": vid, "device": device}
	if c.at(70) {
		view["tag"] = nilIfEmpty(tag)
	}
	if c.at(79) {
		view["delete_on_termination"] = dot
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"volumeAttachment": view})
	return nil
}

// updateVolumeAttachment is PUT /servers/{id}/os-volume_attachments/{volume_id}:
// delete_on_termination can change (2.85); swapping volumes is Cinder's migration
// callback, and gostack's volume service never migrates volumes.
func (s *Service) updateVolumeAttachment(w http.ResponseWriter, r *http.Request, c *call) error {
	allowed := []string{"volumeId"}
	if c.at(85) {
		allowed = append(allowed, "device", "tag", "delete_on_termination", "serverId", "id")
	}
	body, vid, err := volumeAttachmentBody(r, allowed...)
	if err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("volume_id")
	onlySwap := !c.at(85)
	if onlySwap || id != vid {
		if err := s.authorize(c, "os_compute_api:os-volumes-attachments:swap", nil); err != nil {
			return err
		}
	}
	inst, err := s.getServer(ctx, s.db, c, r.PathValue("server_id"), c.rule)
	if err != nil {
		return err
	}
	if !onlySwap {
		b, err := s.findAttachment(ctx, inst, id)
		if err != nil {
			return err
		}
		if v, ok := body["id"]; ok && v != id {
			return badRequest("The id property is not mutable")
		}
		if v, ok := body["serverId"]; ok && v != inst.UUID {
			return badRequest("The serverId property is not mutable")
		}
		if v, ok := body["device"]; ok && v != b.DeviceName {
			return badRequest("The device property is not mutable")
		}
		if v, ok := body["tag"]; ok && v != b.Tag {
			return badRequest("The tag property is not mutable")
		}
		if v, ok := body["delete_on_termination"]; ok {
			b.DeleteOnTermination, _ = parseBoolParam("delete_on_termination", v)
			if err := saveBlockDevice(ctx, s.db, b); err != nil {
				return err
			}
		}
		if id == vid {
			w.WriteHeader(http.StatusAccepted)
			return nil
		}
	}
	if s.volumeAPI == nil {
		return notFound("Volume %s could not be found.", id)
	}
	if _, found, err := s.getVolume(ctx, c.caller, id); err != nil {
		return err
	} else if !found {
		return notFound("Volume %s could not be found.", id)
	}
	return conflict("volume %s is not migrating; this API should only be called by Cinder", id)
}

// detachVolume is DELETE /servers/{id}/os-volume_attachments/{volume_id}.
func (s *Service) detachVolume(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	inst, err := s.getServer(ctx, s.db, c, r.PathValue("server_id"), c.rule)
	if err != nil {
		return err
	}
	vid := r.PathValue("volume_id")
	if (inst.VMState == VMShelved || inst.VMState == VMShelvedOffloaded) && !c.at(20) {
		return invalidState("detach_volume", inst.UUID, "vm_state", inst.VMState)
	}
	if s.volumeAPI == nil {
		return notFound("Volume %s could not be found.", vid)
	}
	if _, found, err := s.getVolume(ctx, c.caller, vid); err != nil {
		return err
	} else if !found {
		return notFound("Volume %s could not be found.", vid)
	}
	b, err := s.findAttachment(ctx, inst, vid)
	if err != nil {
		return err
	}
	if b.isRoot() {
		return badRequest("Cannot detach a root device volume")
	}
	if err := volumeAttachState.check(c, inst, "detach_volume"); err != nil {
		return err
	}
	if b.Status == bdmDetaching {
		return badRequest("Invalid volume: Unable to detach volume. Volume status must be 'in-use' and attach_status must be 'attached' to detach.")
	}
	offloaded := inst.VMState == VMShelvedOffloaded || deref(inst.Host) == ""
	if !offloaded {
		// The volume shows "detaching" until the host has unplugged it.
		if err := s.volumeAction(ctx, inst, vid, "os-begin_detaching"); err != nil {
			if msg := cinderMessage(err); msg != "" {
				return badRequest("Invalid volume: %s", msg)
			}
			return err
		}
	}
	t := transition{action: "detach_volume", record: "detach_volume", kind: TaskDetachVolume, check: volumeAttachState,
		noTaskKind: offloaded,
		prepare: func(ctx context.Context, tx *store.Tx, _ *Instance) (any, error) {
			b.Status = bdmDetaching
			return map[string]any{"bdm_uuid": b.UUID, "volume_id": vid}, saveBlockDevice(ctx, tx, b)
		}}
	if _, err := s.run(r, c, inst.UUID, t); err != nil {
		if !offloaded {
			_ = s.volumeAction(ctx, inst, vid, "os-roll_detaching")
		}
		return err
	}
	if offloaded {
		if err := s.finishDetach(ctx, inst, b); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// finishDetach deletes a mapping's attachment and the mapping.
func (s *Service) finishDetach(ctx context.Context, inst *Instance, b *blockDevice) error {
	if err := s.deleteAttachment(ctx, volumeCaller(inst), b.AttachmentID); err != nil {
		return fmt.Errorf("delete attachment %s: %w", b.AttachmentID, err)
	}
	return deleteBlockDevice(ctx, s.db, b.UUID)
}

// bdmArgs are the parameters of attach and detach tasks.
type bdmArgs struct {
	BDMUUID  string `json:"bdm_uuid"`
	VolumeID string `json:"volume_id"`
}

// guestRuns reports whether the hypervisor has the guest running (or paused), so that a
// device change must be hot-plugged rather than picked up at the next start.
func (a *HostAgent) guestRuns(ctx context.Context, di *computedriver.Instance) bool {
	info, err := a.driver.Info(ctx, di)
	return err == nil && (info.State == computedriver.Running || info.State == computedriver.Paused)
}

// attachVolumeTask connects a reserved volume on this host and hot-plugs it.
func (a *HostAgent) attachVolumeTask(ctx context.Context, t *Task) error {
	var args bdmArgs
	_ = taskParams(t, &args)
	inst, found, err := loadInstance(ctx, a.s.db, t.InstanceUUID)
	if err != nil {
		return err
	}
	b, bfound, err := loadBlockDevice(ctx, a.s.db, args.BDMUUID)
	if err != nil {
		return err
	}
	if !found || inst.Deleted || !bfound || b.Status != bdmAttaching {
		return a.s.finishTaskAlone(ctx, t, TaskDone, "")
	}
	ev, err := a.s.beginEvent(ctx, t, "compute_attach_volume", a.name)
	if err != nil {
		return err
	}
	caller := volumeCaller(inst)
	err = func() error {
		conn, err := a.s.updateAttachment(ctx, caller, b.AttachmentID, hostConnector(a.name))
		if err != nil {
			return fmt.Errorf("connect volume %s: %w", b.VolumeID, err)
		}
		b.ConnectionInfo = conn
		if err := saveBlockDevice(ctx, a.s.db, b); err != nil {
			return err
		}
		di, err := a.s.driverInstance(ctx, inst, inst.Flavor)
		if err != nil {
			return err
		}
		if a.guestRuns(ctx, di) {
			va, err := optional[computedriver.VolumeAttacher](a.driver)
			if err != nil {
				return err
			}
			if err := va.AttachVolume(ctx, di, b.DeviceName, conn); err != nil {
				return err
			}
		}
		return a.s.completeAttachment(ctx, caller, b.AttachmentID)
	}()
	if err != nil {
		if ctx.Err() != nil {
			return errTaskAbandoned
		}
		a.log.Warn("attach volume failed", "instance", inst.UUID, "volume", b.VolumeID, "err", err)
		_ = a.s.deleteAttachment(ctx, caller, b.AttachmentID)
		return a.s.db.InTx(ctx, func(tx *store.Tx) error {
			if err := deleteBlockDevice(ctx, tx, b.UUID); err != nil {
				return err
			}
			if err := ev.finish(ctx, tx, err, ""); err != nil {
				return err
			}
			return finishTask(ctx, tx, t, TaskFailed, err.Error())
		})
	}
	return a.s.db.InTx(ctx, func(tx *store.Tx) error {
		b.Status = bdmAttached
		if err := saveBlockDevice(ctx, tx, b); err != nil {
			return err
		}
		if err := ev.finish(ctx, tx, nil, ""); err != nil {
			return err
		}
		return finishTask(ctx, tx, t, TaskDone, "")
	})
}

// detachVolumeTask unplugs a volume from the guest and ends its attachment.
func (a *HostAgent) detachVolumeTask(ctx context.Context, t *Task) error {
	var args bdmArgs
	_ = taskParams(t, &args)
	inst, found, err := loadInstance(ctx, a.s.db, t.InstanceUUID)
	if err != nil {
		return err
	}
	b, bfound, err := loadBlockDevice(ctx, a.s.db, args.BDMUUID)
	if err != nil {
		return err
	}
	if !found || inst.Deleted || !bfound {
		return a.s.finishTaskAlone(ctx, t, TaskDone, "")
	}
	ev, err := a.s.beginEvent(ctx, t, "compute_detach_volume", a.name)
	if err != nil {
		return err
	}
	err = func() error {
		di, err := a.s.driverInstance(ctx, inst, inst.Flavor)
		if err != nil {
			return err
		}
		if a.guestRuns(ctx, di) {
			if va, ok := a.driver.(computedriver.VolumeAttacher); ok {
				if err := va.DetachVolume(ctx, di, b.DeviceName); err != nil && !errors.Is(err, computedriver.ErrNotFound) {
					return err
				}
			}
		}
		return a.s.finishDetach(ctx, inst, b)
	}()
	if err != nil {
		if ctx.Err() != nil {
			return errTaskAbandoned
		}
		a.log.Warn("detach volume failed", "instance", inst.UUID, "volume", b.VolumeID, "err", err)
		_ = a.s.volumeAction(ctx, inst, b.VolumeID, "os-roll_detaching")
		return a.s.db.InTx(ctx, func(tx *store.Tx) error {
			b.Status = bdmAttached
			if err := saveBlockDevice(ctx, tx, b); err != nil {
				return err
			}
			if err := ev.finish(ctx, tx, err, ""); err != nil {
				return err
			}
			return finishTask(ctx, tx, t, TaskFailed, err.Error())
		})
	}
	return a.s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := ev.finish(ctx, tx, nil, ""); err != nil {
			return err
		}
		return finishTask(ctx, tx, t, TaskDone, "")
	})
}
