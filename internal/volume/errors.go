package volume

import (
	"fmt"
	"net/http"

	"github.com/gostack/gostack/internal/api"
)

// Cinder's fault body is {"<name>": {"code": N, "message": "..."}}, the name chosen by
// status (cinder/api/openstack/wsgi.py Fault._fault_names); every other status is a
// computeFault, as Cinder inherited from Nova.
var faultNames = map[int]string{
	400: "badRequest",
	401: "unauthorized",
	403: "forbidden",
	404: "itemNotFound",
	405: "badMethod",
	409: "conflictingRequest",
	413: "overLimit",
	415: "badMediaType",
	501: "notImplemented",
	503: "serviceUnavailable",
}

// fault writes Cinder's error body. 5xx messages never carry the cause (the shared server
// logs it); Cinder's FaultWrapper says the same for unexpected errors.
func fault(w http.ResponseWriter, r *http.Request, e *api.Error) {
	name, ok := faultNames[e.Status]
	if !ok {
		name = "computeFault"
	}
	msg := e.Message
	if e.Status >= 500 && e.Status != 501 && e.Status != 503 {
		msg = "The server has either erred or is incapable of performing the requested operation."
	}
	api.WriteJSON(w, e.Status, map[string]any{name: map[string]any{"code": e.Status, "message": msg}})
}

// badRequest is a 400 with Cinder's message.
func badRequest(format string, args ...any) *api.Error {
	return api.Errorf(http.StatusBadRequest, format, args...)
}

// notFound is a 404 with Cinder's message.
func notFound(format string, args ...any) *api.Error {
	return api.Errorf(http.StatusNotFound, format, args...)
}

// conflict is a 409 with Cinder's message.
func conflict(format string, args ...any) *api.Error {
	return api.Errorf(http.StatusConflict, format, args...)
}

// forbidden is a 403 with Cinder's message.
func forbidden(format string, args ...any) *api.Error {
	return api.Errorf(http.StatusForbidden, format, args...)
}

// policyForbidden is Cinder's PolicyNotAuthorized (403).
func policyForbidden(rule string) *api.Error {
	return forbidden("Policy doesn't allow %s to be performed.", rule)
}

// overLimit is a 413 (Cinder's VolumeSizeExceedsAvailableQuota, VolumeLimitExceeded...).
func overLimit(format string, args ...any) *api.Error {
	return api.Errorf(http.StatusRequestEntityTooLarge, format, args...)
}

// invalidInput is Cinder's InvalidInput (400).
func invalidInput(format string, args ...any) *api.Error {
	return badRequest("Invalid input received: %s", fmt.Sprintf(format, args...))
}

// invalidVolume is Cinder's InvalidVolume (400).
func invalidVolume(format string, args ...any) *api.Error {
	return badRequest("Invalid volume: %s", fmt.Sprintf(format, args...))
}

// invalidSnapshot is Cinder's InvalidSnapshot (400).
func invalidSnapshot(format string, args ...any) *api.Error {
	return badRequest("Invalid snapshot: %s", fmt.Sprintf(format, args...))
}

// invalidBackup is Cinder's InvalidBackup (400).
func invalidBackup(format string, args ...any) *api.Error {
	return badRequest("Invalid backup: %s", fmt.Sprintf(format, args...))
}

// volumeNotFound is Cinder's VolumeNotFound (404).
func volumeNotFound(id string) *api.Error {
	return notFound("Volume %s could not be found.", id)
}

// snapshotNotFound is Cinder's SnapshotNotFound (404).
func snapshotNotFound(id string) *api.Error {
	return notFound("Snapshot %s could not be found.", id)
}

// backupNotFound is Cinder's BackupNotFound (404).
func backupNotFound(id string) *api.Error {
	return notFound("Backup %s could not be found.", id)
}

// typeNotFound is Cinder's VolumeTypeNotFound (404).
func typeNotFound(id string) *api.Error {
	return notFound("Volume type %s could not be found.", id)
}

// typeNotFoundByName is Cinder's VolumeTypeNotFoundByName (404).
func typeNotFoundByName(name string) *api.Error {
	return notFound("Volume type with name %s could not be found.", name)
}

// attachmentNotFound is Cinder's VolumeAttachmentNotFound (404).
func attachmentNotFound(id string) *api.Error {
	return notFound("Volume attachment could not be found with filter: attachment_id = %s.", id)
}
