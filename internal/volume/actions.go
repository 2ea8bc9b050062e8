package volume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// Volume action rules (cinder/policies/volume_actions.py).
const (
	ruleExtend            = "volume:extend"
	ruleExtendAttached    = "volume:extend_attached_volume"
	ruleRevert            = "volume:revert_to_snapshot"
	ruleRetype            = "volume:retype"
	ruleUpdateReadonly    = "volume:update_readonly_flag"
	ruleAdminForceDelete  = "volume_extension:volume_admin_actions:force_delete"
	ruleAdminForceDetach  = "volume_extension:volume_admin_actions:force_detach"
	ruleAdminResetStatus  = "volume_extension:volume_admin_actions:reset_status"
	ruleUploadPublic      = "volume_extension:volume_actions:upload_public"
	ruleUploadImage       = "volume_extension:volume_actions:upload_image"
	ruleActionAttach      = "volume_extension:volume_actions:attach"
	ruleActionDetach      = "volume_extension:volume_actions:detach"
	ruleActionReserve     = "volume_extension:volume_actions:reserve"
	ruleActionUnreserve   = "volume_extension:volume_actions:unreserve"
	ruleActionBeginDetach = "volume_extension:volume_actions:begin_detaching"
	ruleActionRollDetach  = "volume_extension:volume_actions:roll_detaching"
	ruleActionInitialize  = "volume_extension:volume_actions:initialize_connection"
	ruleActionTerminate   = "volume_extension:volume_actions:terminate_connection"
	ruleReimage           = "volume:reimage"
	ruleReimageReserved   = "volume:reimage_reserved"
)

// volumeActionRoutes is POST /volumes/{volume_id}/action; the rule that guards each
// action is in volumeActions.
func (s *Service) volumeActionRoutes() []route {
	return []route{{method: "POST", path: "/volumes/{volume_id}/action", rule: ruleVolumeGet, handle: s.volumeAction}}
}

// volumeActionFunc carries out one action on a volume the caller may see.
type volumeActionFunc func(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, body any) error

// volumeActions maps each action to its policy rule and its function.
func (s *Service) volumeActions() map[string]struct {
	rule   string
	minVer int
	fn     volumeActionFunc
} {
	type entry = struct {
		rule   string
		minVer int
		fn     volumeActionFunc
	}
	return map[string]entry{
		"os-extend":                    {ruleExtend, 0, s.actExtend},
		"os-retype":                    {ruleRetype, 0, s.actRetype},
		"os-set_bootable":              {ruleVolumeUpdate, 0, s.actSetBootable},
		"os-reset_status":              {ruleAdminResetStatus, 0, s.actResetStatus},
		"os-force_delete":              {ruleAdminForceDelete, 0, s.actForceDelete},
		"os-force_detach":              {ruleAdminForceDetach, 0, s.actForceDetach},
		"os-volume_upload_image":       {ruleUploadImage, 0, s.actUploadImage},
		"os-reserve":                   {ruleActionReserve, 0, s.actReserve},
		"os-unreserve":                 {ruleActionUnreserve, 0, s.actUnreserve},
		"os-begin_detaching":           {ruleActionBeginDetach, 0, s.actBeginDetaching},
		"os-roll_detaching":            {ruleActionRollDetach, 0, s.actRollDetaching},
		"os-attach":                    {ruleActionAttach, 0, s.actAttach},
		"os-detach":                    {ruleActionDetach, 0, s.actDetach},
		"os-initialize_connection":     {ruleActionInitialize, 0, s.actInitializeConnection},
		"os-terminate_connection":      {ruleActionTerminate, 0, s.actTerminateConnection},
		"os-update_readonly_flag":      {ruleUpdateReadonly, 0, s.actUpdateReadonly},
		"os-set_image_metadata":        {ruleImageMetaSet, 0, s.actSetImageMetadata},
		"os-unset_image_metadata":      {ruleImageMetaRemove, 0, s.actUnsetImageMetadata},
		"os-show_image_metadata":       {ruleImageMetaShow, 0, s.actShowImageMetadata},
		"revert":                       {ruleRevert, 40, s.actRevert},
		"os-reimage":                   {ruleReimage, 68, s.actReimage},
		"os-unmanage":                  {ruleVolumeUnmanage, 0, s.actUnmanage},
		"os-migrate_volume":            {"volume_extension:volume_admin_actions:migrate_volume", 0, s.actNotSupported},
		"os-migrate_volume_completion": {"volume_extension:volume_admin_actions:migrate_volume_completion", 0, s.actNotSupported},
	}
}

// volumeAction dispatches POST /volumes/{volume_id}/action: exactly one action key.
func (s *Service) volumeAction(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	if len(body) != 1 {
		return badRequest("Malformed request body")
	}
	name := firstKey(body)
	act, ok := s.volumeActions()[name]
	if !ok || (act.minVer > 0 && !c.at(act.minVer)) {
		return badRequest("There is no such action: %s", name)
	}
	ctx := r.Context()
	v, err := s.volumeFor(ctx, c, r.PathValue("volume_id"), ruleVolumeGet)
	if err != nil {
		return err
	}
	if err := s.authorize(c, act.rule, ownerTarget(v.ProjectID)); err != nil {
		return err
	}
	return act.fn(w, r, c, v, body[name])
}

// actionObject returns an action's body as an object (null or absent: empty).
func actionObject(name string, body any) (api.Object, error) {
	if body == nil {
		return api.Object{}, nil
	}
	m, ok := body.(map[string]any)
	if !ok {
		return nil, schemaError(name, body, showValue(body)+" is not of type 'object'")
	}
	return api.Object(m), nil
}

// accepted writes an empty 202.
func accepted(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// casStatus moves a volume from one of the expected statuses to a new one inside tx,
// reporting whether it did (Cinder's conditional_update).
func casStatus(ctx context.Context, tx *store.Tx, id string, expected []string, set string, extra string, args ...any) (bool, error) {
	ph := strings.TrimSuffix(strings.Repeat("?,", len(expected)), ",")
	q := `UPDATE volume_volumes SET status = ?, updated_at = ?` + extra + ` WHERE id = ? AND deleted = ? AND status IN (` + ph + `)`
	all := []any{set, store.FormatTime(now())}
	all = append(all, args...)
	all = append(all, id, false)
	for _, e := range expected {
		all = append(all, e)
	}
	res, err := tx.ExecContext(ctx, q, all...)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// actExtend is os-extend {"new_size": N}: available volumes, and in-use ones from
// 3.42; the quota is taken for the increase.
func (s *Service) actExtend(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	body, err := actionObject("os-extend", raw)
	if err != nil {
		return err
	}
	newSize, present, err := sizeField(body, "new_size", false)
	if err != nil {
		return err
	}
	if !present {
		return badRequest("Invalid input for field/attribute os-extend. Value: %s. 'new_size' is a required property", showValue(raw))
	}
	attached := v.Status == stInUse
	if attached {
		if !c.at(42) {
			return invalidVolume("Volume %s status must be '{'status': 'available'}' to extend, currently %s.", v.ID, v.Status)
		}
		if err := s.authorize(c, ruleExtendAttached, ownerTarget(v.ProjectID)); err != nil {
			return err
		}
	}
	if newSize <= v.Size {
		return invalidInput("New size for extend must be greater than current size. (current: %d, extended: %d).", v.Size, newSize)
	}
	ctx := r.Context()
	expected := stAvailable
	if attached {
		expected = stInUse
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := loadVolumeRow(ctx, tx, v.ID)
		if err != nil {
			return err
		}
		if cur.Status != expected {
			return invalidVolume("Volume %s status must be '{'status': '%s'}' to extend, currently %s.", v.ID, expected, cur.Status)
		}
		if err := s.checkQuota(ctx, tx, v.ProjectID, quotaDelta{gigabytes: newSize - cur.Size, typeName: cur.TypeName, volumeSize: newSize}); err != nil {
			return err
		}
		if _, err := casStatus(ctx, tx, v.ID, []string{expected}, stExtending, `, previous_status = ?`, expected); err != nil {
			return err
		}
		return enqueue(ctx, tx, s.queueOf(cur), taskExtendVolume, v.ID, map[string]int64{"new_size": newSize, "old_size": cur.Size})
	})
	if err != nil {
		return err
	}
	s.wake.notify()
	return accepted(w)
}

// actRetype is os-retype {"new_type": ..., "migration_policy": "never"|"on-demand"}.
// The file backend keeps the data where it is, so a retype is a database change.
func (s *Service) actRetype(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	body, err := actionObject("os-retype", raw)
	if err != nil {
		return err
	}
	ref, _, err := body.Str("new_type", false)
	if err != nil || ref == "" {
		return badRequest("Invalid input for field/attribute os-retype. Value: %s. 'new_type' is a required property", showValue(raw))
	}
	if p, given, err := body.Str("migration_policy", true); err != nil || (given && p != "" && p != "never" && p != "on-demand") {
		return badRequest("Invalid input for field/attribute migration_policy. Value: %s. %s is not one of ['on-demand', 'never']", p, p)
	}
	ctx := r.Context()
	nt, err := s.typeFor(ctx, s.db, c, ref)
	if err != nil {
		return err
	}
	if nt == nil {
		return invalidInput("Invalid volume_type passed: %s.", ref)
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := loadVolume(ctx, tx, v.ID)
		if err != nil {
			return err
		}
		if cur == nil {
			return volumeNotFound(v.ID)
		}
		if (cur.Status != stAvailable && cur.Status != stInUse) || cur.TypeID == nt.ID || cur.GroupID != nil ||
			(cur.MigrationStatus != nil && *cur.MigrationStatus != "" && *cur.MigrationStatus != "success" && *cur.MigrationStatus != "error") {
			return invalidVolume("Retype needs volume to be in available or in-use state, not be part of an active migration or a consistency group, requested type has to be different that the one from the volume, and for in-use volumes front-end qos specs cannot change.")
		}
		if nt.multiattach() != cur.Multiattach && cur.Status != stAvailable {
			return invalidInput("Invalid volume_type passed, retypes affecting multiattach are only allowed on available volumes, the specified volume however currently has a status of: %s.", cur.Status)
		}
		// Only the new type's own quotas change; the totals stay as they are.
		if err := s.checkQuota(ctx, tx, cur.ProjectID, quotaDelta{volumes: 1, gigabytes: cur.Size, typeName: nt.Name,
			typeOnly: true}); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE volume_volumes SET type_id = ?, multiattach = ?, updated_at = ? WHERE id = ?`,
			nt.ID, nt.multiattach(), store.FormatTime(now()), cur.ID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE volume_snapshots SET type_id = ? WHERE volume_id = ? AND deleted = ?`, nt.ID, cur.ID, false)
		return err
	})
	if err != nil {
		return err
	}
	return accepted(w)
}

// actSetBootable is os-set_bootable {"bootable": bool} (200).
func (s *Service) actSetBootable(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	body, err := actionObject("os-set_bootable", raw)
	if err != nil {
		return err
	}
	val, ok := body["bootable"]
	if !ok {
		return badRequest("Invalid input for field/attribute os-set_bootable. Value: %s. 'bootable' is a required property", showValue(raw))
	}
	b, valid := boolValue(val)
	if !valid {
		return schemaError("bootable", val, fmt.Sprintf("%s is not valid under any of the given schemas", showValue(val)))
	}
	if _, err := s.db.ExecContext(r.Context(), `UPDATE volume_volumes SET bootable = ?, updated_at = ? WHERE id = ?`,
		b, store.FormatTime(now()), v.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// volumeStatuses are Cinder's VolumeStatus values (os-reset_status accepts them).
var volumeStatuses = []string{"creating", "available", "deleting", "error", "error_deleting", "error_managing",
	"managing", "attaching", "in-use", "detaching", "maintenance", "restoring-backup", "error_restoring", "reserved",
	"awaiting-transfer", "backing-up", "error_backing-up", "error_extending", "downloading", "uploading", "retyping",
	"extending"}

// actResetStatus is the admin's os-reset_status {status, attach_status, migration_status}.
func (s *Service) actResetStatus(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	body, err := actionObject("os-reset_status", raw)
	if err != nil {
		return err
	}
	status, _, err := body.Str("status", true)
	if err != nil {
		return err
	}
	attach, _, err := body.Str("attach_status", true)
	if err != nil {
		return err
	}
	mig, migGiven, err := body.Str("migration_status", true)
	if err != nil {
		return err
	}
	if status == "" && attach == "" && mig == "" {
		return badRequest("Must specify 'status', 'attach_status' or 'migration_status' for update.")
	}
	status, attach, mig = strings.ToLower(status), strings.ToLower(attach), strings.ToLower(mig)
	if status != "" && !contains(volumeStatuses, status) {
		return badRequest("Volume status: %s is invalid, valid statuses are: %s.", status, strings.Join(volumeStatuses, ", "))
	}
	if attach != "" && attach != attachAttached && attach != attachDetached {
		return badRequest("Volume attach status: %s is invalid, valid statuses are: attached, detached.", attach)
	}
	migValid := []string{"migrating", "error", "success", "completing", "none", "starting"}
	if mig != "" && !contains(migValid, mig) {
		return badRequest("Volume migration status: %s is invalid, valid statuses are: %s.", mig, strings.Join(migValid, ", "))
	}
	if status == stDeleting || status == "error_deletingdetaching" {
		return badRequest("Cannot reset-state to %s", status)
	}
	if status == stInUse {
		var attached bool
		for _, a := range v.Attachments {
			attached = attached || a.ID != ""
		}
		if !attached {
			return badRequest("Cannot reset-state to in-use because volume does not have any attachments.")
		}
	}
	ctx := r.Context()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		ts := store.FormatTime(now())
		if status != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, updated_at = ? WHERE id = ?`, status, ts, v.ID); err != nil {
				return err
			}
		}
		if attach != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET attach_status = ?, updated_at = ? WHERE id = ?`, attach, ts, v.ID); err != nil {
				return err
			}
			if attach == attachDetached {
				if _, err := tx.ExecContext(ctx, `UPDATE volume_attachments SET attach_status = ?, detach_time = ?, deleted = ?,
					deleted_at = ? WHERE volume_id = ? AND deleted = ?`, attachDetached, ts, true, ts, v.ID, false); err != nil {
					return err
				}
			}
		}
		if migGiven && mig != "" {
			var m any = mig
			if mig == "none" {
				m = nil
			}
			if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET migration_status = ?, updated_at = ? WHERE id = ?`, m, ts, v.ID); err != nil {
				return err
			}
		}
		// A reset ends what the runner was doing with the volume (Cinder deletes the
		// worker entry): pending tasks of it are dropped.
		_, err := tx.ExecContext(ctx, `UPDATE volume_tasks SET state = ?, error = ?, updated_at = ? WHERE resource_id = ?
			AND state = ?`, taskFailed, "status reset by an administrator", ts, v.ID, taskPending)
		return err
	})
	if err != nil {
		return err
	}
	return accepted(w)
}

// actForceDelete is the admin's os-force_delete: delete whatever the status.
func (s *Service) actForceDelete(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	if err := s.startVolumeDelete(r.Context(), c, v.ID, false, true); err != nil {
		return err
	}
	return accepted(w)
}

// actForceDetach is the admin's os-force_detach {attachment_id, connector}: detach
// whatever the attachment's state.
func (s *Service) actForceDetach(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	body, err := actionObject("os-force_detach", raw)
	if err != nil {
		return err
	}
	attID, _, _ := body.Str("attachment_id", true)
	ctx := r.Context()
	if attID == "" {
		for _, a := range v.Attachments {
			if _, err := s.finishDetach(ctx, v.ID, a.ID); err != nil {
				return err
			}
		}
		if len(v.Attachments) == 0 {
			if _, err := s.finishDetach(ctx, v.ID, ""); err != nil {
				return err
			}
		}
		return accepted(w)
	}
	found := false
	for _, a := range v.Attachments {
		found = found || a.ID == attID
	}
	if !found {
		return attachmentNotFound(attID)
	}
	if _, err := s.finishDetach(ctx, v.ID, attID); err != nil {
		return err
	}
	return accepted(w)
}

// actReserve is the legacy os-reserve: available (or in-use when multiattach) to
// attaching.
func (s *Service) actReserve(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	expected := []string{stAvailable}
	if v.Multiattach {
		expected = append(expected, stInUse)
	}
	ok := false
	err := s.db.InTx(r.Context(), func(tx *store.Tx) error {
		var err error
		ok, err = casStatus(r.Context(), tx, v.ID, expected, stAttaching, "")
		return err
	})
	if err != nil {
		return err
	}
	if !ok {
		return invalidVolume("Volume status must be %s to reserve, but the status is %s.", buildOr(expected), v.Status)
	}
	return accepted(w)
}

// actUnreserve is the legacy os-unreserve: attaching back to in-use or available.
func (s *Service) actUnreserve(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	if v.Status != stAttaching {
		return accepted(w)
	}
	status := stAvailable
	for _, a := range v.Attachments {
		if a.AttachStatus == attachAttached {
			status = stInUse
		}
	}
	err := s.db.InTx(r.Context(), func(tx *store.Tx) error {
		_, err := casStatus(r.Context(), tx, v.ID, []string{stAttaching}, status, "")
		return err
	})
	if err != nil {
		return err
	}
	return accepted(w)
}

// actBeginDetaching is the legacy os-begin_detaching: in-use and attached to detaching.
func (s *Service) actBeginDetaching(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	ok := false
	err := s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if v.AttachStatus != attachAttached {
			return nil
		}
		var err error
		ok, err = casStatus(r.Context(), tx, v.ID, []string{stInUse}, stDetaching, "")
		return err
	})
	if err != nil {
		return err
	}
	if !ok {
		return invalidVolume("Unable to detach volume. Volume status must be 'in-use' and attach_status must be 'attached' to detach.")
	}
	return accepted(w)
}

// actRollDetaching is the legacy os-roll_detaching: detaching back to in-use.
func (s *Service) actRollDetaching(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	err := s.db.InTx(r.Context(), func(tx *store.Tx) error {
		_, err := casStatus(r.Context(), tx, v.ID, []string{stDetaching}, stInUse, "")
		return err
	})
	if err != nil {
		return err
	}
	return accepted(w)
}

// actAttach is the legacy os-attach {instance_uuid | host_name, mountpoint, mode}: an
// attachment marked attached at once, the volume in-use.
func (s *Service) actAttach(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	body, err := actionObject("os-attach", raw)
	if err != nil {
		return err
	}
	instance, _, err := optString(body, "instance_uuid", 255)
	if err != nil {
		return err
	}
	host, _, err := optString(body, "host_name", 255)
	if err != nil {
		return err
	}
	mount, _, err := body.Str("mountpoint", false)
	if err != nil || mount == "" {
		return badRequest("Invalid input for field/attribute os-attach. Value: %s. 'mountpoint' is a required property", showValue(raw))
	}
	if instance != nil && host != nil {
		return badRequest("Invalid request to attach volume to an instance %s and a host %s simultaneously", *instance, *host)
	}
	if instance == nil && host == nil {
		return badRequest("Invalid request to attach volume to an invalid target")
	}
	if instance != nil && !isUUID(*instance) {
		return badRequest("Invalid request to attach volume with an invalid UUID")
	}
	mode := "rw"
	if m, given, err := body.Str("mode", false); err != nil {
		return err
	} else if given {
		if m != "rw" && m != "ro" {
			return badRequest("Invalid request to attach volume with an invalid mode. Attaching mode should be 'rw' or 'ro'")
		}
		mode = m
	}
	if v.Status == "maintenance" {
		return invalidVolume("The volume cannot be attached in maintenance mode.")
	}
	if v.AdminMeta["readonly"] == "True" && mode != "ro" {
		return badRequest("Invalid attaching mode '%s' for volume %s.", mode, v.ID)
	}
	ctx := r.Context()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := loadVolume(ctx, tx, v.ID)
		if err != nil {
			return err
		}
		ok := []string{stAvailable, stAttaching, stReserved}
		if cur.Multiattach {
			ok = append(ok, stInUse)
		}
		if !contains(ok, cur.Status) {
			return invalidVolume("Volume %s status must be available or attaching to attach, but the current status is %s.", v.ID, cur.Status)
		}
		ts := store.FormatTime(now())
		var attID string
		for _, a := range cur.Attachments {
			if a.AttachStatus != attachAttached && (instance == nil || (a.InstanceUUID != nil && *a.InstanceUUID == *instance)) {
				attID = a.ID
			}
		}
		if attID == "" {
			attID = api.NewUUID()
			if err := insertAttachment(ctx, tx, attID, v.ID, instance, mode, attachAttaching); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE volume_attachments SET instance_uuid = ?, attached_host = ?, mountpoint = ?,
			attach_mode = ?, attach_status = ?, attach_time = ?, updated_at = ? WHERE id = ?`, instance, host, mount, mode,
			attachAttached, ts, ts, attID); err != nil {
			return err
		}
		if err := setMeta(ctx, tx, "volume_admin_metadata", "volume_id", v.ID, map[string]string{"attached_mode": mode}, false); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, attach_status = ?, updated_at = ? WHERE id = ?`,
			stInUse, attachAttached, ts, v.ID)
		return err
	})
	if err != nil {
		return err
	}
	return accepted(w)
}

// actDetach is the legacy os-detach {attachment_id}.
func (s *Service) actDetach(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	body, err := actionObject("os-detach", raw)
	if err != nil {
		return err
	}
	attID, _, err := body.Str("attachment_id", true)
	if err != nil {
		return err
	}
	if v.Status == "maintenance" {
		return invalidVolume("The volume cannot be detached in maintenance mode.")
	}
	if attID == "" {
		if len(v.Attachments) > 1 {
			return invalidVolume("Detach volume failed: More than one attachment, but no attachment_id provided.")
		}
		if len(v.Attachments) == 1 {
			attID = v.Attachments[0].ID
		}
	}
	if attID == "" {
		// Nothing attached: Cinder's detach_volume just sets the volume available.
		_, err := s.finishDetach(r.Context(), v.ID, "")
		if err != nil {
			return err
		}
		return accepted(w)
	}
	found := false
	for _, a := range v.Attachments {
		found = found || a.ID == attID
	}
	if !found {
		return attachmentNotFound(attID)
	}
	if _, err := s.finishDetach(r.Context(), v.ID, attID); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(r.Context(), `DELETE FROM volume_admin_metadata WHERE volume_id = ? AND meta_key = ?`,
		v.ID, "attached_mode"); err != nil {
		return err
	}
	return accepted(w)
}

// actInitializeConnection is os-initialize_connection {"connector": {...}} (200 with
// {"connection_info": {"driver_volume_type", "data"}}).
func (s *Service) actInitializeConnection(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	body, err := actionObject("os-initialize_connection", raw)
	if err != nil {
		return err
	}
	connector, present, err := body.Obj("connector")
	if err != nil || !present || connector == nil {
		return badRequest("Invalid input for field/attribute os-initialize_connection. Value: %s. 'connector' is a required property", showValue(raw))
	}
	if v.Status == "maintenance" {
		return invalidVolume("The volume connection cannot be initialized in maintenance mode.")
	}
	info, err := s.connectionInfo(r.Context(), v)
	if err != nil {
		return err
	}
	dvt := info["driver_volume_type"]
	delete(info, "driver_volume_type")
	mode := v.AdminMeta["attached_mode"]
	if mode == "" {
		mode = "rw"
		if v.AdminMeta["readonly"] == "True" {
			mode = "ro"
		}
	}
	info["access_mode"] = mode
	info["volume_id"] = v.ID
	api.WriteJSON(w, http.StatusOK, map[string]any{"connection_info": map[string]any{"driver_volume_type": dvt, "data": info}})
	return nil
}

// actTerminateConnection is os-terminate_connection {"connector": {...}}: the file
// backend keeps nothing per connection.
func (s *Service) actTerminateConnection(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	body, err := actionObject("os-terminate_connection", raw)
	if err != nil {
		return err
	}
	if _, present, err := body.Obj("connector"); err != nil || !present {
		return badRequest("Invalid input for field/attribute os-terminate_connection. Value: %s. 'connector' is a required property", showValue(raw))
	}
	return accepted(w)
}

// actUpdateReadonly is os-update_readonly_flag {"readonly": bool}.
func (s *Service) actUpdateReadonly(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	body, err := actionObject("os-update_readonly_flag", raw)
	if err != nil {
		return err
	}
	val, ok := body["readonly"]
	if !ok {
		return badRequest("Invalid input for field/attribute os-update_readonly_flag. Value: %s. 'readonly' is a required property", showValue(raw))
	}
	b, valid := boolValue(val)
	if !valid {
		return schemaError("readonly", val, fmt.Sprintf("%s is not valid under any of the given schemas", showValue(val)))
	}
	if v.Status != stAvailable {
		return invalidVolume("Volume %s status must be available to update readonly flag, but current status is: %s.", v.ID, v.Status)
	}
	flag := "False"
	if b {
		flag = "True"
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		return setMeta(r.Context(), tx, "volume_admin_metadata", "volume_id", v.ID, map[string]string{"readonly": flag}, false)
	})
	if err != nil {
		return err
	}
	return accepted(w)
}

// actSetImageMetadata is os-set_image_metadata {"metadata": {...}} (200, all of it).
func (s *Service) actSetImageMetadata(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	body, err := actionObject("os-set_image_metadata", raw)
	if err != nil {
		return err
	}
	meta, present, err := metadataField(body, "metadata", false)
	if err != nil {
		return err
	}
	if !present {
		return badRequest("Invalid input for field/attribute os-set_image_metadata. Value: %s. 'metadata' is a required property", showValue(raw))
	}
	if !contains([]string{stAvailable, stInUse}, v.Status) {
		return invalidVolume("Volume status must be available or in-use to update its image metadata, but current status is: %s.", v.Status)
	}
	ctx := r.Context()
	var out map[string]string
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := setMeta(ctx, tx, "volume_image_metadata", "volume_id", v.ID, meta, false); err != nil {
			return err
		}
		var err error
		out, err = loadMeta(ctx, tx, "volume_image_metadata", "volume_id", v.ID)
		return err
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"metadata": out})
	return nil
}

// actUnsetImageMetadata is os-unset_image_metadata {"key": k} (200).
func (s *Service) actUnsetImageMetadata(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	body, err := actionObject("os-unset_image_metadata", raw)
	if err != nil {
		return err
	}
	key, _, err := body.Str("key", false)
	if err != nil || key == "" {
		return badRequest("Invalid input for field/attribute os-unset_image_metadata. Value: %s. 'key' is a required property", showValue(raw))
	}
	if _, ok := v.ImageMeta[key]; !ok {
		return notFound("Glance metadata for volume/snapshot %s cannot be found.", v.ID)
	}
	if _, err := s.db.ExecContext(r.Context(), `DELETE FROM volume_image_metadata WHERE volume_id = ? AND meta_key = ?`,
		v.ID, key); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// actShowImageMetadata is os-show_image_metadata (200 {"metadata": {...}}).
func (s *Service) actShowImageMetadata(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	api.WriteJSON(w, http.StatusOK, map[string]any{"metadata": orEmpty(v.ImageMeta)})
	return nil
}

// actNotSupported answers actions gostack's single-backend cloud cannot carry out.
func (s *Service) actNotSupported(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	return badRequest("Invalid volume: volume migration is not supported by this cloud's single backend.")
}

// actRevert is revert {"snapshot_id": ...} (3.40): back to the volume's latest
// snapshot, which must be the one named.
func (s *Service) actRevert(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	body, err := actionObject("revert", raw)
	if err != nil {
		return err
	}
	snapID, _, err := body.Str("snapshot_id", true)
	if err != nil {
		return err
	}
	ctx := r.Context()
	sn, err := s.snapshotFor(ctx, c, snapID, ruleSnapshotGet)
	if err != nil {
		return err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		snaps, err := volumeSnapshots(ctx, tx, v.ID)
		if err != nil {
			return err
		}
		var latest *snapshotRec
		for _, x := range snaps {
			if latest == nil || x.CreatedAt >= latest.CreatedAt {
				latest = x
			}
		}
		if latest == nil || latest.ID != sn.ID {
			return invalidInput("It is not allowed to revert volume %s to snapshot %s: it is not the latest snapshot.", v.ID, sn.ID)
		}
		cur, err := loadVolumeRow(ctx, tx, v.ID)
		if err != nil {
			return err
		}
		if cur.Status != stAvailable {
			return invalidVolume("Can't revert volume %s to its latest snapshot %s. The volume's status must be 'available' but the current status is: %s.",
				v.ID, sn.ID, cur.Status)
		}
		if sn.Status != stAvailable {
			return invalidSnapshot("Can't revert volume %s to its latest snapshot %s. The snapshot's status must be 'available' but the current status is: %s.",
				v.ID, sn.ID, sn.Status)
		}
		if sn.VolumeSize != cur.Size {
			return invalidInput("Volume %s size %d does not match the snapshot size %d; revert is not allowed after an extend.", v.ID, cur.Size, sn.VolumeSize)
		}
		if _, err := casStatus(ctx, tx, v.ID, []string{stAvailable}, stReverting, ""); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE volume_snapshots SET status = ? WHERE id = ?`, "restoring", sn.ID); err != nil {
			return err
		}
		return enqueue(ctx, tx, s.queueOf(cur), taskRevertVolume, v.ID, map[string]string{"snapshot_id": sn.ID})
	})
	if err != nil {
		return err
	}
	s.wake.notify()
	return accepted(w)
}

// uploadParams are the upload_image task's params.
type uploadParams struct {
	ImageID         string `json:"image_id"`
	DiskFormat      string `json:"disk_format"`
	ContainerFormat string `json:"container_format"`
	PreviousStatus  string `json:"previous_status"`
}

// actUploadImage is os-volume_upload_image: a new Glance image from the volume's data
// (202 with Cinder's upload response).
func (s *Service) actUploadImage(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	body, err := actionObject("os-volume_upload_image", raw)
	if err != nil {
		return err
	}
	name, _, err := body.Str("image_name", false)
	if err != nil || name == "" {
		return badRequest("Invalid input for field/attribute os-volume_upload_image. Value: %s. 'image_name' is a required property", showValue(raw))
	}
	force := false
	if f, ok := body["force"]; ok {
		b, valid := boolValue(f)
		if !valid {
			return schemaError("force", f, "Invalid boolean")
		}
		force = b
	}
	diskFormat, _, _ := body.Str("disk_format", false)
	if diskFormat == "" {
		diskFormat = "raw"
	}
	validDisk := []string{"raw", "vmdk", "vdi", "qcow2", "vhd", "vhdx", "ploop"}
	if !contains(validDisk, diskFormat) {
		return badRequest("Invalid disk-format '%s' is specified. Allowed disk-formats are %s.", diskFormat, strings.Join(validDisk, ", "))
	}
	if diskFormat != "raw" && diskFormat != "qcow2" {
		return badRequest("Invalid disk-format '%s': this cloud uploads volumes as raw or qcow2.", diskFormat)
	}
	containerFormat, _, _ := body.Str("container_format", false)
	if containerFormat == "" {
		containerFormat = "bare"
	}
	visibility := "private"
	protected := false
	if c.at(1) {
		if vis, given, _ := body.Str("visibility", false); given {
			if !contains([]string{"public", "private", "shared", "community"}, vis) {
				return badRequest("Invalid input for field/attribute visibility. Value: %s.", vis)
			}
			visibility = vis
		}
		if p, ok := body["protected"]; ok {
			b, valid := boolValue(p)
			if !valid {
				return schemaError("protected", p, "Invalid boolean")
			}
			protected = b
		}
		if visibility == "public" {
			if err := s.authorize(c, ruleUploadPublic, ownerTarget(v.ProjectID)); err != nil {
				return err
			}
		}
	}
	if s.deps.Images == nil {
		return badRequest("The image service is not available.")
	}
	ctx := r.Context()
	expected := []string{stAvailable}
	if force {
		expected = append(expected, stInUse)
	}
	if !contains(expected, v.Status) {
		return invalidVolume("Volume %s status must be %s", v.ID, buildOr(expected))
	}
	props := map[string]string{"disk_format": diskFormat, "container_format": containerFormat,
		"min_disk": fmt.Sprint(v.Size)}
	for k, val := range v.ImageMeta {
		switch k {
		case "image_id", "image_name", "disk_format", "container_format", "size", "min_disk", "checksum",
			"os_hash_algo", "os_hash_value", "owner", "visibility", "protected", "status":
			continue
		}
		props[k] = val
	}
	img, err := s.deps.Images.CreateImage(ctx, c.caller, name, props)
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) && ae.Status < 500 {
			return badRequest("%s", ae.Message)
		}
		return err
	}
	ok := false
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		ok, err = casStatus(ctx, tx, v.ID, expected, stUploading, `, previous_status = ?`, v.Status)
		if err != nil || !ok {
			return err
		}
		return enqueue(ctx, tx, s.queueOf(v), taskUploadImage, v.ID, uploadParams{ImageID: img.ID,
			DiskFormat: diskFormat, ContainerFormat: containerFormat, PreviousStatus: v.Status})
	})
	if err != nil || !ok {
		_ = s.deps.Images.DeleteImage(context.WithoutCancel(ctx), img.ID)
		if err != nil {
			return err
		}
		return invalidVolume("Volume %s status must be %s", v.ID, buildOr(expected))
	}
	s.wake.notify()
	var vt any
	if t, err := loadType(ctx, s.db, v.TypeID); err == nil && t != nil {
		vt = map[string]any{"id": t.ID, "name": t.Name, "description": strOrNil(t.Description), "is_public": t.IsPublic,
			"extra_specs": t.Specs, "qos_specs_id": strOrNil(t.QoSSpecsID), "created_at": isoTime(t.CreatedAt),
			"updated_at": isoTime(t.UpdatedAt), "deleted": false, "deleted_at": nil}
	}
	resp := map[string]any{"id": v.ID, "updated_at": isoTime(v.UpdatedAt), "status": stUploading,
		"display_description": strOrNil(v.Description), "size": v.Size, "volume_type": vt, "image_id": img.ID,
		"container_format": containerFormat, "disk_format": diskFormat, "image_name": name}
	if c.at(1) {
		resp["visibility"] = visibility
		resp["protected"] = protected
	}
	api.WriteJSON(w, http.StatusAccepted, map[string]any{"os-volume_upload_image": resp})
	return nil
}

// jsonString encodes v for a text column.
func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// reimageParams are the reimage task's params.
type reimageParams struct {
	ImageID        string `json:"image_id"`
	PreviousStatus string `json:"previous_status"`
}

// actReimage is os-reimage {"image_id", "reimage_reserved"} (3.68): the volume's data
// is replaced by the image's (available or error volumes; reserved ones with
// reimage_reserved).
func (s *Service) actReimage(w http.ResponseWriter, r *http.Request, c *call, v *volumeRec, raw any) error {
	body, err := actionObject("os-reimage", raw)
	if err != nil {
		return err
	}
	imageID, _, err := body.Str("image_id", false)
	if err != nil || !isUUID(imageID) {
		return schemaError("image_id", body["image_id"], "'image_id' is a required property")
	}
	reserved := false
	if x, ok := body["reimage_reserved"]; ok {
		b, valid := boolValue(x)
		if !valid {
			return schemaError("reimage_reserved", x, "Invalid boolean")
		}
		reserved = b
	}
	expected := []string{stAvailable, stError}
	if reserved {
		expected = append(expected, stReserved)
		if err := s.authorize(c, ruleReimageReserved, ownerTarget(v.ProjectID)); err != nil {
			return err
		}
	}
	if s.deps.Images == nil {
		return invalidInput("Invalid image identifier or unable to access requested image.")
	}
	ctx := r.Context()
	img, err := s.deps.Images.Image(ctx, c.caller, imageID)
	if errors.Is(err, ErrImageNotFound) {
		return notFound("Image %s could not be found.", imageID)
	}
	if err != nil {
		return err
	}
	if img.Status != "active" {
		return invalidInput("Image %s is not active.", img.ID)
	}
	if gb := gib(img.Size); gb > v.Size {
		return invalidInput("Size of specified image %dGB is larger than volume size %dGB.", gb, v.Size)
	}
	if img.MinDisk > v.Size {
		return invalidInput("Volume size %dGB cannot be smaller than the image minDisk size %dGB.", v.Size, img.MinDisk)
	}
	ok := false
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		ok, err = casStatus(ctx, tx, v.ID, expected, stDownloading, `, previous_status = ?`, v.Status)
		if err != nil || !ok {
			return err
		}
		if err := setMeta(ctx, tx, "volume_image_metadata", "volume_id", v.ID, imageVolumeMetadata(img), true); err != nil {
			return err
		}
		return enqueue(ctx, tx, s.queueOf(v), taskReimageVolume, v.ID, reimageParams{ImageID: img.ID, PreviousStatus: v.Status})
	})
	if err != nil {
		return err
	}
	if !ok {
		return invalidVolume("Volume %s status must be %s, but current status is %s.", v.ID, buildOr(expected), v.Status)
	}
	s.wake.notify()
	return accepted(w)
}
