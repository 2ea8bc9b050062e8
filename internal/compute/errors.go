package compute

import (
	"fmt"
	"net/http"

	"github.com/gostack/gostack/internal/api"
)

// Nova's fault body is {"<name>": {"code": N, "message": "..."}}, with the name chosen
// by status (nova/api/openstack/wsgi.py Fault._fault_names); everything else is a
// computeFault.
var faultNames = map[int]string{
	400: "badRequest",
	401: "unauthorized",
	403: "forbidden",
	404: "itemNotFound",
	405: "badMethod",
	409: "conflictingRequest",
	413: "overLimit",
	415: "badMediaType",
	429: "overLimit",
	501: "notImplemented",
	503: "serviceUnavailable",
}

// fault writes Nova's error body. 5xx messages never carry the cause; the shared server
// logs it.
func fault(w http.ResponseWriter, r *http.Request, e *api.Error) {
	name, ok := faultNames[e.Status]
	if !ok {
		name = "computeFault"
	}
	msg := e.Message
	if e.Status >= 500 && e.Status != 501 && e.Status != 503 {
		msg = "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible."
	}
	api.WriteJSON(w, e.Status, map[string]any{name: map[string]any{"code": e.Status, "message": msg}})
}

// badRequest is a 400 with Nova's message.
func badRequest(format string, args ...any) *api.Error {
	return api.Errorf(http.StatusBadRequest, format, args...)
}

// notFound is a 404 with Nova's message.
func notFound(format string, args ...any) *api.Error {
	return api.Errorf(http.StatusNotFound, format, args...)
}

// conflict is a 409 with Nova's message.
func conflict(format string, args ...any) *api.Error {
	return api.Errorf(http.StatusConflict, format, args...)
}

// forbidden is a 403 with Nova's message.
func forbidden(format string, args ...any) *api.Error {
	return api.Errorf(http.StatusForbidden, format, args...)
}

// policyForbidden is the 403 Nova answers when policy refuses an action.
func policyForbidden(rule string) *api.Error {
	return forbidden("Policy doesn't allow %s to be performed.", rule)
}

// instanceNotFound is Nova's InstanceNotFound as the API shows it.
func instanceNotFound(id string) *api.Error {
	return notFound("Instance %s could not be found.", id)
}

// invalidState is Nova's InstanceInvalidState as the API shows it (409): "Cannot 'stop'
// instance <uuid> while it is in vm_state stopped".
func invalidState(action, uuid, attr, state string) *api.Error {
	if state == "" {
		state = "None"
	}
	return conflict("Cannot '%s' instance %s while it is in %s %s", action, uuid, attr, state)
}

// instanceLocked is Nova's InstanceIsLocked (409).
func instanceLocked(uuid string) *api.Error {
	return conflict("Instance %s is locked", uuid)
}

// quotaExceeded is Nova's 403 for a quota that a request would exceed.
func quotaExceeded(format string, args ...any) *api.Error {
	return forbidden("Quota exceeded for %s", fmt.Sprintf(format, args...))
}
