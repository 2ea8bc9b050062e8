package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// MaxBodyBytes is the largest request body accepted by default; it is Keystone's
// max_request_body_size (114,688 bytes). Larger bodies get a 413.
const MaxBodyBytes = 114688

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error": {"code": 500, "title": "Internal Server Error", "message": "response encoding failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// ReadBody reads the request body up to limit bytes (MaxBodyBytes when limit is 0) and
// returns a 413 *Error when it is larger.
func ReadBody(r *http.Request, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = MaxBodyBytes
	}
	if r.ContentLength > limit {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Message: "Request is too large."}
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, BadRequest("Could not read the request body.")
	}
	if int64(len(b)) > limit {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Message: "Request is too large."}
	}
	return b, nil
}

// DecodeJSON reads the request body as one JSON value into v. An empty, malformed or
// oversized body gives a 400 or 413 *Error.
func DecodeJSON(r *http.Request, v any) error {
	b, err := ReadBody(r, 0)
	if err != nil {
		return err
	}
	return Unmarshal(b, v)
}

// Unmarshal decodes one JSON value from b into v, mapping failures to a 400 *Error with a
// message that says what was wrong without echoing the body.
func Unmarshal(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return BadRequest("The request body is empty; a JSON object is required.")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				field = "body"
			}
			return BadRequest("Invalid input for field '%s': expected %s, got %s.", field, jsonType(te.Type.Kind().String()), te.Value)
		}
		return BadRequest("Malformed request body: the body is not valid JSON.")
	}
	if dec.More() {
		return BadRequest("Malformed request body: unexpected data after the JSON value.")
	}
	return nil
}

// jsonType names a Go kind the way JSON schema does.
func jsonType(kind string) string {
	switch {
	case kind == "string":
		return "string"
	case kind == "bool":
		return "boolean"
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"), strings.HasPrefix(kind, "float"):
		return "number"
	case kind == "slice", kind == "array":
		return "array"
	default:
		return "object"
	}
}
