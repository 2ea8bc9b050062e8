package network

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gostack/gostack/internal/api"
)

// body is a decoded resource body with Neutron's attribute converters and validators.
type body struct {
	api.Object
	// resource is the singular name, for messages.
	resource string
}

// decode reads the request's {"<resource>": {...}} object.
func decode(r *http.Request, resource string) (body, error) {
	o, err := api.DecodeObject(r, resource)
	if err != nil {
		return body{}, err
	}
	return body{Object: o, resource: resource}, nil
}

// known refuses attributes the resource does not have (Neutron's "Unrecognized
// attribute(s)").
func (b body) known(attrs ...string) error {
	var bad []string
	for k := range b.Object {
		if !slices.Contains(attrs, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return badRequest("Unrecognized attribute(s) '%s'", truncate(strings.Join(bad, ", "), 200))
	}
	return nil
}

// readOnly refuses updating attributes that cannot change.
func (b body) readOnly(attrs ...string) error {
	for _, a := range attrs {
		if b.Has(a) {
			return badRequest("Cannot update read-only attribute %s", a)
		}
	}
	return nil
}

// str reads a string attribute of at most max characters (0: no limit); nullable
// strings read null as "".
func (b body) str(key string, max int, nullable bool) (string, bool, error) {
	v, ok := b.Object[key]
	if !ok {
		return "", false, nil
	}
	if v == nil {
		if nullable {
			return "", true, nil
		}
		return "", true, invalidAttr(key, "'None' is not a valid string")
	}
	s, isStr := v.(string)
	if !isStr {
		return "", true, invalidAttr(key, fmt.Sprintf("'%s' is not a valid string", describeValue(v)))
	}
	if max > 0 && utf8.RuneCountInString(s) > max {
		return "", true, invalidAttr(key, fmt.Sprintf("'%s' exceeds maximum length of %d", truncate(s, 64), max))
	}
	return s, true, nil
}

// boolean reads a boolean with Neutron's convert_to_boolean (true/false, "True",
// "false", 1, 0, "1", "0").
func (b body) boolean(key string) (bool, bool, error) {
	v, ok := b.Object[key]
	if !ok {
		return false, false, nil
	}
	switch x := v.(type) {
	case bool:
		return x, true, nil
	case string:
		switch strings.ToLower(x) {
		case "true", "1":
			return true, true, nil
		case "false", "0":
			return false, true, nil
		}
	case json.Number:
		switch x.String() {
		case "1":
			return true, true, nil
		case "0":
			return false, true, nil
		}
	}
	return false, true, invalidAttr(key, fmt.Sprintf("'%s' cannot be converted to boolean", describeValue(v)))
}

// integer reads an integer (numbers or numeric strings, as convert_to_int).
func (b body) integer(key string) (int64, bool, error) {
	v, ok := b.Object[key]
	if !ok {
		return 0, false, nil
	}
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, true, nil
		}
	case string:
		var n int64
		if _, err := fmt.Sscanf(x, "%d", &n); err == nil && fmt.Sprint(n) == strings.TrimSpace(x) {
			return n, true, nil
		}
	}
	return 0, true, invalidAttr(key, fmt.Sprintf("'%s' is not an integer", describeValue(v)))
}

// strList reads a list of strings.
func (b body) strList(key string) ([]string, bool, error) {
	v, ok := b.Object[key]
	if !ok {
		return nil, false, nil
	}
	if v == nil {
		return []string{}, true, nil
	}
	arr, isArr := v.([]any)
	if !isArr {
		return nil, true, invalidAttr(key, fmt.Sprintf("'%s' is not a list", describeValue(v)))
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, isStr := e.(string)
		if !isStr {
			return nil, true, invalidAttr(key, fmt.Sprintf("'%s' is not a valid string", describeValue(e)))
		}
		out = append(out, s)
	}
	return out, true, nil
}

// owner resolves the project a new resource belongs to: project_id or tenant_id from
// the body (which must agree), else the caller's project.
func (b body) owner(c *call) (string, error) {
	p, hasP, err := b.str("project_id", 255, false)
	if err != nil {
		return "", err
	}
	t, hasT, err := b.str("tenant_id", 255, false)
	if err != nil {
		return "", err
	}
	switch {
	case hasP && hasT && p != t:
		return "", badRequest("'project_id' and 'tenant_id' do not match")
	case hasP:
		return p, nil
	case hasT:
		return t, nil
	}
	return c.project(), nil
}

// nameAndDescription reads the standard name and description (255 characters each).
func (b body) nameAndDescription() (name, desc string, hasName, hasDesc bool, err error) {
	if name, hasName, err = b.str("name", 255, false); err != nil {
		return
	}
	desc, hasDesc, err = b.str("description", 255, false)
	return
}
