package compute

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gostack/gostack/internal/api"
)

// This file holds the pieces of Nova's JSON-schema validation (nova/api/validation) the
// resource APIs need: body and query decoding with additionalProperties checks, Nova's
// "printable" name and description formats and its integer and boolean parameter types.

// invalidInput is Nova's 400 for a value its schema refuses:
// "Invalid input for field/attribute <field>. Value: <value>. <reason>".
func invalidInput(field string, value any, reason string) error {
	return badRequest("Invalid input for field/attribute %s. Value: %s. %s", field, reprValue(value), reason)
}

// reprValue renders a JSON value for an error message, shortened.
func reprValue(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		s = "None"
	case string:
		s = x
	case json.Number:
		s = x.String()
	case bool:
		if x {
			s = "True"
		} else {
			s = "False"
		}
	default:
		b, _ := json.Marshal(x)
		s = string(b)
	}
	if len(s) > 128 {
		s = s[:128] + "..."
	}
	return s
}

// decodeBody reads the request body as a JSON object whose only keys are the allowed
// ones and which has every required key (Nova's top-level schema with
// additionalProperties false).
func decodeBody(r *http.Request, required []string, allowed ...string) (api.Object, error) {
	var top any
	if err := api.DecodeJSON(r, &top); err != nil {
		return nil, err
	}
	m, ok := top.(map[string]any)
	if !ok {
		return nil, invalidInput("root", top, fmt.Sprintf("%s is not of type 'object'", reprValue(top)))
	}
	o := api.Object(m)
	if err := checkObject(o, "root", required, allowed); err != nil {
		return nil, err
	}
	return o, nil
}

// checkObject refuses an object that lacks a required key or has a key not allowed.
func checkObject(o api.Object, field string, required, allowed []string) error {
	for _, k := range required {
		if !o.Has(k) {
			return invalidInput(field, map[string]any(o), fmt.Sprintf("'%s' is a required property", k))
		}
	}
	if allowed != nil {
		var extra []string
		for k := range o {
			if !slices.Contains(allowed, k) {
				extra = append(extra, "'"+k+"'")
			}
		}
		if len(extra) > 0 {
			slices.Sort(extra)
			verb := "was"
			if len(extra) > 1 {
				verb = "were"
			}
			return invalidInput(field, map[string]any(o),
				fmt.Sprintf("Additional properties are not allowed (%s %s unexpected)", strings.Join(extra, ", "), verb))
		}
	}
	return nil
}

// subObject returns o[key] as an object, refusing other types.
func subObject(o api.Object, key string) (api.Object, error) {
	v := o[key]
	m, ok := v.(map[string]any)
	if !ok {
		return nil, invalidInput(key, v, fmt.Sprintf("%s is not of type 'object'", reprValue(v)))
	}
	return api.Object(m), nil
}

// checkQuery refuses query parameters not in allowed (Nova's query schemas with
// additionalProperties false, from the microversion that closed them).
func checkQuery(q url.Values, allowed ...string) error {
	var extra []string
	for k := range q {
		if !slices.Contains(allowed, k) {
			extra = append(extra, "'"+k+"'")
		}
	}
	if len(extra) == 0 {
		return nil
	}
	slices.Sort(extra)
	verb := "was"
	if len(extra) > 1 {
		verb = "were"
	}
	return badRequest("Invalid input for query parameters %s. Value: %s. Additional properties are not allowed (%s %s unexpected)",
		strings.Trim(strings.Join(extra, ", "), "'"), reprValue(q.Get(strings.Trim(extra[0], "'"))), strings.Join(extra, ", "), verb)
}

// printable is Nova's _is_printable over the Basic Multilingual Plane its regexes cover:
// no control, format, surrogate or unassigned characters and no separators other than
// spaces.
func printable(r rune) bool {
	if r > 0xFFFE {
		return false
	}
	if unicode.Is(unicode.C, r) || !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Zs) {
		return false
	}
	return true
}

// validName is Nova's "name" format: printable characters, at least one, and no
// whitespace (or unprintable character) at either end.
func validName(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !printable(r) {
			return false
		}
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	return !unicode.Is(unicode.Zs, first) && !unicode.Is(unicode.Zs, last)
}

// validNameLeadingTrailingSpaces is Nova's "name_with_leading_trailing_spaces" format:
// printable characters with at least one that is not a space.
func validNameLeadingTrailingSpaces(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	nonSpace := false
	for _, r := range s {
		if !printable(r) {
			return false
		}
		if !unicode.Is(unicode.Zs, r) {
			nonSpace = true
		}
	}
	return nonSpace
}

// validDescription is Nova's description pattern: printable characters only (possibly
// none).
func validDescription(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !printable(r) {
			return false
		}
	}
	return true
}

// nameField reads a required or optional string with Nova's "name" schema (1–maxLen
// printable characters, no surrounding whitespace).
func nameField(o api.Object, key string, maxLen int, leadingSpaces bool) (string, bool, error) {
	v, ok := o[key]
	if !ok {
		return "", false, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", true, invalidInput(key, v, fmt.Sprintf("%s is not of type 'string'", reprValue(v)))
	}
	n := utf8.RuneCountInString(s)
	if n < 1 {
		return "", true, invalidInput(key, v, fmt.Sprintf("'%s' is too short", s))
	}
	if n > maxLen {
		return "", true, invalidInput(key, v, fmt.Sprintf("'%s' is too long", reprValue(s)))
	}
	valid := validName(s)
	if leadingSpaces {
		valid = validNameLeadingTrailingSpaces(s)
	}
	if !valid {
		return "", true, invalidInput(key, v, "Invalid input: printable characters. Can not start or end with whitespace.")
	}
	return s, true, nil
}

// intField reads Nova's integer-or-digit-string parameter types (positive_integer,
// non_negative_integer, flavor_param_*): an integer, or a string of digits, within
// [min, max].
func intField(o api.Object, key string, min, max int64) (int64, bool, error) {
	v, ok := o[key]
	if !ok {
		return 0, false, nil
	}
	n, err := intValue(key, v, min, max)
	return n, true, err
}

// intValue validates one integer-or-digit-string value.
func intValue(field string, v any, min, max int64) (int64, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
		if strings.ContainsAny(s, ".eE") {
			return 0, invalidInput(field, v, fmt.Sprintf("%s is not of type 'integer', 'string'", s))
		}
	case string:
		if x == "" || strings.Trim(x, "0123456789") != "" {
			return 0, invalidInput(field, v, fmt.Sprintf("'%s' does not match '^[0-9]+$'", x))
		}
		s = x
	default:
		return 0, invalidInput(field, v, fmt.Sprintf("%s is not of type 'integer', 'string'", reprValue(v)))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if strings.HasPrefix(s, "-") {
			return 0, invalidInput(field, v, fmt.Sprintf("%s is less than the minimum of %d", s, min))
		}
		return 0, invalidInput(field, v, fmt.Sprintf("%s is greater than the maximum of %d", s, max))
	}
	if n < min {
		return 0, invalidInput(field, v, fmt.Sprintf("%d is less than the minimum of %d", n, min))
	}
	if n > max {
		return 0, invalidInput(field, v, fmt.Sprintf("%d is greater than the maximum of %d", n, max))
	}
	return n, nil
}

// boolField reads Nova's parameter_types.boolean: a JSON boolean or one of the strings
// oslo's bool_from_string accepts strictly.
func boolField(o api.Object, key string) (bool, bool, error) {
	v, ok := o[key]
	if !ok {
		return false, false, nil
	}
	switch x := v.(type) {
	case bool:
		return x, true, nil
	case string:
		switch x {
		case "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes":
			return true, true, nil
		case "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no":
			return false, true, nil
		}
	}
	return false, true, invalidInput(key, v, fmt.Sprintf("%s is not one of [True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']", reprValue(v)))
}

// strictBool parses a query value as oslo's bool_from_string(strict=True).
func strictBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "on", "y", "yes":
		return true, true
	case "0", "f", "false", "off", "n", "no":
		return false, true
	}
	return false, false
}

// pageParams reads limit and marker as Nova's common.get_limit_and_marker does: limit
// must be a non-negative integer and is capped at [api] max_limit (0 or absent means
// max_limit). The last value wins when a parameter repeats.
func (s *Service) pageParams(q url.Values) (limit int, marker string, err error) {
	limit = s.cfg.ListLimitMax
	if vs := q["limit"]; len(vs) > 0 {
		v := vs[len(vs)-1]
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 || strings.Trim(v, "0123456789") != "" {
			return 0, "", badRequest("Invalid input for query parameters limit. Value: %s. '%s' does not match '^[0-9]*$'", reprValue(v), reprValue(v))
		}
		if n > 0 && n < limit {
			limit = n
		}
	}
	if vs := q["marker"]; len(vs) > 0 {
		marker = vs[len(vs)-1]
	}
	return limit, marker, nil
}

// lastQuery returns the last value of a repeated query parameter and whether any was
// given (Nova's multi_params take the last one).
func lastQuery(q url.Values, key string) (string, bool) {
	vs, ok := q[key]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}
