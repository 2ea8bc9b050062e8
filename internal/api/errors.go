package api

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is an error a client should see: an HTTP status and a message safe to show. Service
// logic returns these (or wraps them); the service's Fault function turns them into the
// body shape that service's real OpenStack counterpart uses.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Message is shown to the client; it never contains secrets, internals or paths.
	Message string
	// Type is an optional machine-readable kind, used by services whose faults carry one
	// (Neutron's "type", for instance "NetworkNotFound").
	Type string
	// Header holds extra response headers, such as WWW-Authenticate on a 401.
	Header http.Header
	// Err is the underlying cause, logged but never shown.
	Err error
}

// Error returns the message and, for logs, the cause.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Title is the HTTP reason phrase OpenStack uses as an error title.
func (e *Error) Title() string {
	switch e.Status {
	case http.StatusRequestEntityTooLarge:
		return "Request Entity Too Large"
	}
	return http.StatusText(e.Status)
}

// Errorf returns an *Error with the given status and formatted message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// BadRequest returns a 400 error.
func BadRequest(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, format, args...)
}

// Unauthorized returns a 401 error.
func Unauthorized(format string, args ...any) *Error {
	return Errorf(http.StatusUnauthorized, format, args...)
}

// Forbidden returns a 403 error.
func Forbidden(format string, args ...any) *Error {
	return Errorf(http.StatusForbidden, format, args...)
}

// NotFound returns a 404 error.
func NotFound(format string, args ...any) *Error {
	return Errorf(http.StatusNotFound, format, args...)
}

// Conflict returns a 409 error.
func Conflict(format string, args ...any) *Error {
	return Errorf(http.StatusConflict, format, args...)
}

// ErrAuthRequired is the message OpenStack services give a request without valid credentials.
const ErrAuthRequired = "The request you have made requires authentication."

// AsError converts any error into an *Error. Errors that are not already *Error become a
// 500 whose message hides the cause.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &Error{Status: http.StatusRequestEntityTooLarge, Message: "Request is too large.", Err: err}
	}
	return &Error{
		Status:  http.StatusInternalServerError,
		Message: "An unexpected error prevented the server from fulfilling your request.",
		Err:     err,
	}
}

// FaultFunc writes err to w in the body shape of one OpenStack service.
type FaultFunc func(w http.ResponseWriter, r *http.Request, err *Error)

// KeystoneFault writes Keystone's error body:
// {"error": {"code": 404, "title": "Not Found", "message": "..."}}.
func KeystoneFault(w http.ResponseWriter, r *http.Request, e *Error) {
	WriteJSON(w, e.Status, map[string]any{"error": map[string]any{
		"code": e.Status, "title": e.Title(), "message": e.Message,
	}})
}
