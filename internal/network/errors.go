package network

import (
	"fmt"
	"net/http"

	"github.com/gostack/gostack/internal/api"
)

// fault writes Neutron's error body, {"NeutronError": {"type": ..., "message": ...,
// "detail": ""}}. The type is the Neutron exception's class name carried in api.Error.Type;
// errors without one get the name webob gives the status (HTTPBadRequest, ...). 5xx
// messages never carry the cause; the shared server logs it.
func fault(w http.ResponseWriter, r *http.Request, e *api.Error) {
	typ := e.Type
	if typ == "" {
		typ = webobNames[e.Status]
		if typ == "" {
			typ = "HTTPInternalServerError"
		}
	}
	msg := e.Message
	if e.Status >= 500 && e.Status != http.StatusServiceUnavailable {
		msg = "Request Failed: internal server error while processing your request."
		typ = "HTTPInternalServerError"
	}
	writeBody(w, e.Status, map[string]any{"NeutronError": map[string]any{
		"type": typ, "message": msg, "detail": "",
	}})
}

// webobNames are the exception names Neutron reports for plain HTTP errors.
var webobNames = map[int]string{
	400: "HTTPBadRequest",
	401: "HTTPUnauthorized",
	403: "HTTPForbidden",
	404: "HTTPNotFound",
	405: "HTTPMethodNotAllowed",
	409: "HTTPConflict",
	412: "HTTPPreconditionFailed",
	413: "HTTPRequestEntityTooLarge",
	415: "HTTPUnsupportedMediaType",
	503: "HTTPServiceUnavailable",
}

// nerr is a Neutron exception: status, class name and message.
func nerr(status int, typ, format string, args ...any) *api.Error {
	return &api.Error{Status: status, Type: typ, Message: fmt.Sprintf(format, args...)}
}

// badRequest is webob's HTTPBadRequest, which Neutron answers for attribute validation
// failures ("Invalid input for cidr. Reason: ...").
func badRequest(format string, args ...any) *api.Error {
	return nerr(http.StatusBadRequest, "HTTPBadRequest", format, args...)
}

// invalidAttr is the 400 of a failed attribute validator.
func invalidAttr(attr, reason string) *api.Error {
	return badRequest("Invalid input for %s. Reason: %s.", attr, reason)
}

// invalidInput is Neutron's InvalidInput (400).
func invalidInput(format string, args ...any) *api.Error {
	return nerr(http.StatusBadRequest, "InvalidInput", "Invalid input for operation: %s.", fmt.Sprintf(format, args...))
}

// badResourceRequest is Neutron's BadRequest exception ("Bad subnets request: ...").
func badResourceRequest(resource, msg string) *api.Error {
	return nerr(http.StatusBadRequest, "BadRequest", "Bad %s request: %s.", resource, msg)
}

// hiddenNotFound is the 404 Neutron answers when policy forbids an action on a resource
// the caller may not even see.
func hiddenNotFound() *api.Error {
	return nerr(http.StatusNotFound, "HTTPNotFound", "The resource could not be found.")
}

// policyNotAuthorized is the 403 of a refused policy rule.
func policyNotAuthorized(rule string) *api.Error {
	return nerr(http.StatusForbidden, "PolicyNotAuthorized", "(rule:%s) is disallowed by policy", rule)
}

// inUse is Neutron's InUse family (409).
func inUse(typ, format string, args ...any) *api.Error {
	return nerr(http.StatusConflict, typ, format, args...)
}

// networkNotFound and friends are Neutron's NotFound exceptions.
func networkNotFound(id string) *api.Error {
	return nerr(http.StatusNotFound, "NetworkNotFound", "Network %s could not be found.", id)
}

func subnetNotFound(id string) *api.Error {
	return nerr(http.StatusNotFound, "SubnetNotFound", "Subnet %s could not be found.", id)
}

func portNotFound(id string) *api.Error {
	return nerr(http.StatusNotFound, "PortNotFound", "Port %s could not be found.", id)
}

// networkInUse is NetworkInUse (409).
func networkInUse(id, reason string) *api.Error {
	return inUse("NetworkInUse", "Unable to complete operation on network %s. %s.", id, reason)
}

// ipGenerationFailure is IpAddressGenerationFailure (409) for a network whose subnets
// have no address left.
func ipGenerationFailure(networkID string) *api.Error {
	return nerr(http.StatusConflict, "IpAddressGenerationFailure", "No more IP addresses available on network %s.", networkID)
}

// ipAlreadyAllocated is IpAddressAlreadyAllocated (409).
func ipAlreadyAllocated(ip, subnetID string) *api.Error {
	return nerr(http.StatusConflict, "IpAddressAlreadyAllocated", "IP address %s already allocated in subnet %s", ip, subnetID)
}

// macInUse is MacAddressInUse (409).
func macInUse(networkID, mac string) *api.Error {
	return inUse("MacAddressInUse", "Unable to complete operation for network %s. The mac address %s is in use.", networkID, mac)
}

// overQuota is OverQuota (409).
func overQuota(resource string) *api.Error {
	return nerr(http.StatusConflict, "OverQuota", "Quota exceeded for resources: ['%s'].", resource)
}

// revisionFailed is the 412 of a stale If-Match revision.
func revisionFailed(expected, current int64) *api.Error {
	return nerr(http.StatusPreconditionFailed, "RevisionNumberConstraintFailed",
		"Constrained to %d, but current revision is %d", expected, current)
}

// qosPolicyNotFound is QosPolicyNotFound (404).
func qosPolicyNotFound(id string) *api.Error {
	return nerr(http.StatusNotFound, "QosPolicyNotFound", "QoS policy %s could not be found.", id)
}
