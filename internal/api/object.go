package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Object is a decoded JSON object from a request body, with typed accessors that return
// OpenStack-style 400 errors when a field has the wrong type. Services decode bodies into
// Objects rather than structs when, like Keystone, they must keep unknown attributes or tell
// a missing field from an explicit null.
type Object map[string]any

// DecodeObject reads a body of the form {"<key>": {...}} and returns the inner object.
// With key "" the whole body must be an object.
func DecodeObject(r *http.Request, key string) (Object, error) {
	var top any
	if err := DecodeJSON(r, &top); err != nil {
		return nil, err
	}
	m, ok := top.(map[string]any)
	if !ok {
		return nil, BadRequest("Invalid input for field 'body': expected an object.")
	}
	if key == "" {
		return Object(m), nil
	}
	inner, present := m[key]
	if !present {
		return nil, BadRequest("Invalid input: '%s' is a required property.", key)
	}
	im, ok := inner.(map[string]any)
	if !ok {
		return nil, BadRequest("Invalid input for field '%s': expected an object.", key)
	}
	return Object(im), nil
}

// Has reports whether the field is present (even as null).
func (o Object) Has(k string) bool { _, ok := o[k]; return ok }

// IsNull reports whether the field is present with a JSON null value.
func (o Object) IsNull(k string) bool { v, ok := o[k]; return ok && v == nil }

// typeError is the 400 for a field of the wrong JSON type.
func typeError(k string, v any, want string) error {
	return BadRequest("Invalid input for field '%s': %s is not of type '%s'.", k, describe(v), want)
}

// describe renders a short, safe description of a JSON value for error messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		if len(x) > 64 {
			x = x[:64] + "..."
		}
		return fmt.Sprintf("%q", x)
	case bool, json.Number:
		return fmt.Sprint(x)
	case []any:
		return "an array"
	default:
		return "an object"
	}
}

// Str returns a string field. present is false when the field is absent. A null value is
// an error unless nullable is set, in which case it reads as "" with present true.
func (o Object) Str(k string, nullable bool) (s string, present bool, err error) {
	v, ok := o[k]
	if !ok {
		return "", false, nil
	}
	if v == nil {
		if nullable {
			return "", true, nil
		}
		return "", true, typeError(k, v, "string")
	}
	s, ok = v.(string)
	if !ok {
		return "", true, typeError(k, v, "string")
	}
	return s, true, nil
}

// Name returns a required or optional name-like string: non-empty after trimming spaces and
// at most maxLen characters.
func (o Object) Name(k string, required bool, maxLen int) (string, bool, error) {
	s, present, err := o.Str(k, false)
	if err != nil {
		return "", present, err
	}
	if !present {
		if required {
			return "", false, BadRequest("Invalid input for field '%s': '%s' is a required property.", k, k)
		}
		return "", false, nil
	}
	if strings.TrimSpace(s) == "" {
		return "", true, BadRequest("Invalid input for field '%s': the value must not be empty.", k)
	}
	if maxLen > 0 && utf8.RuneCountInString(s) > maxLen {
		return "", true, BadRequest("Invalid input for field '%s': the value is longer than %d characters.", k, maxLen)
	}
	return s, true, nil
}

// Bool returns a boolean field; absent fields give present false.
func (o Object) Bool(k string) (b bool, present bool, err error) {
	v, ok := o[k]
	if !ok {
		return false, false, nil
	}
	b, ok = v.(bool)
	if !ok {
		return false, true, typeError(k, v, "boolean")
	}
	return b, true, nil
}

// Int returns an integer field; absent fields give present false.
func (o Object) Int(k string) (n int64, present bool, err error) {
	v, ok := o[k]
	if !ok {
		return 0, false, nil
	}
	num, ok := v.(json.Number)
	if !ok {
		return 0, true, typeError(k, v, "integer")
	}
	n, perr := num.Int64()
	if perr != nil {
		return 0, true, typeError(k, v, "integer")
	}
	return n, true, nil
}

// StrList returns an array-of-strings field; absent fields give present false.
func (o Object) StrList(k string) (list []string, present bool, err error) {
	v, ok := o[k]
	if !ok {
		return nil, false, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, true, typeError(k, v, "array")
	}
	list = make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, true, typeError(k, e, "string")
		}
		list = append(list, s)
	}
	return list, true, nil
}

// Obj returns a nested object field; absent fields give present false. A null value gives
// a nil Object with present true.
func (o Object) Obj(k string) (obj Object, present bool, err error) {
	v, ok := o[k]
	if !ok {
		return nil, false, nil
	}
	if v == nil {
		return nil, true, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, true, typeError(k, v, "object")
	}
	return Object(m), true, nil
}

// List returns an array field of objects; absent fields give present false.
func (o Object) List(k string) (list []Object, present bool, err error) {
	v, ok := o[k]
	if !ok {
		return nil, false, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, true, typeError(k, v, "array")
	}
	for _, e := range arr {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, true, typeError(k, e, "object")
		}
		list = append(list, Object(m))
	}
	return list, true, nil
}

// Extra returns the fields not named in known, as Keystone keeps unknown attributes of
// users, projects and other entities and returns them unchanged.
func (o Object) Extra(known ...string) map[string]any {
	skip := make(map[string]bool, len(known))
	for _, k := range known {
		skip[k] = true
	}
	out := map[string]any{}
	for k, v := range o {
		if !skip[k] {
			out[k] = v
		}
	}
	return out
}
