package placement

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// schema is the subset of JSON Schema (draft 4) that Placement's request schemas use
// (placement/schemas/*.py). Bodies and query strings are checked against it before any
// handler logic runs, and a failure is reported with jsonschema's wording for the first
// violation found, as Placement's "JSON does not validate: ..." messages do.
type schema struct {
	types        []string // "object", "array", "string", "integer", "number", "boolean", "null"
	props        map[string]*schema
	propOrder    []string // the order in which properties are checked
	patternProps []patternProp
	noAdditional bool
	required     []string
	minProps     int
	minLen       int
	maxLen       int // 0: unlimited
	pattern      *regexp.Regexp
	uuid         bool // format "uuid"
	min, max     *float64
	items        *schema
	minItems     int
	uniqueItems  bool
	enum         []string
	anyOf        []*schema
}

// patternProp is a patternProperties entry.
type patternProp struct {
	re     *regexp.Regexp
	schema *schema
}

// obj returns an object schema with the given properties, checked in the given order.
func obj(props ...any) *schema {
	s := &schema{types: []string{"object"}, props: map[string]*schema{}}
	for i := 0; i+1 < len(props); i += 2 {
		name := props[i].(string)
		s.props[name] = props[i+1].(*schema)
		s.propOrder = append(s.propOrder, name)
	}
	return s
}

// strict forbids properties other than the declared (and pattern) ones.
func (s *schema) strict() *schema { s.noAdditional = true; return s }

// req marks properties as required.
func (s *schema) req(names ...string) *schema { s.required = append(s.required, names...); return s }

// pat adds a patternProperties entry.
func (s *schema) pat(expr string, sub *schema) *schema {
	s.patternProps = append(s.patternProps, patternProp{re: regexp.MustCompile(expr), schema: sub})
	return s
}

// minP sets minProperties.
func (s *schema) minP(n int) *schema { s.minProps = n; return s }

// str returns a string schema.
func str() *schema { return &schema{types: []string{"string"}} }

// lenRange sets minLength and maxLength (0 for no maximum).
func (s *schema) lenRange(min, max int) *schema { s.minLen, s.maxLen = min, max; return s }

// matching sets the pattern.
func (s *schema) matching(expr string) *schema { s.pattern = regexp.MustCompile(expr); return s }

// uuidFormat returns a string schema with format "uuid".
func uuidFormat() *schema { return &schema{types: []string{"string"}, uuid: true} }

// integer returns an integer schema.
func integer() *schema { return &schema{types: []string{"integer"}} }

// number returns a number schema.
func number() *schema { return &schema{types: []string{"number"}} }

// ofTypes returns a schema accepting any of the given types.
func ofTypes(types ...string) *schema { return &schema{types: types} }

// between sets minimum and maximum (nil for none).
func (s *schema) between(min, max *float64) *schema { s.min, s.max = min, max; return s }

// arrayOf returns an array schema.
func arrayOf(items *schema) *schema { return &schema{types: []string{"array"}, items: items} }

// f64 returns a pointer to v.
func f64(v float64) *float64 { return &v }

// clone returns a deep copy of s, for schemas derived from others as Placement does with
// copy.deepcopy.
func (s *schema) clone() *schema {
	if s == nil {
		return nil
	}
	c := *s
	c.types = slices.Clone(s.types)
	if s.props != nil {
		c.props = make(map[string]*schema, len(s.props))
		for k, v := range s.props {
			c.props[k] = v.clone()
		}
	}
	c.propOrder = slices.Clone(s.propOrder)
	c.patternProps = nil
	for _, p := range s.patternProps {
		c.patternProps = append(c.patternProps, patternProp{re: p.re, schema: p.schema.clone()})
	}
	c.required = slices.Clone(s.required)
	c.items = s.items.clone()
	c.enum = slices.Clone(s.enum)
	c.anyOf = nil
	for _, a := range s.anyOf {
		c.anyOf = append(c.anyOf, a.clone())
	}
	return &c
}

// with returns a copy of s with one more property.
func (s *schema) with(name string, sub *schema) *schema {
	c := s.clone()
	if _, ok := c.props[name]; !ok {
		c.propOrder = append(c.propOrder, name)
	}
	c.props[name] = sub
	return c
}

// without returns a copy of s without the named property (and not requiring it).
func (s *schema) without(name string) *schema {
	c := s.clone()
	delete(c.props, name)
	c.propOrder = slices.DeleteFunc(c.propOrder, func(n string) bool { return n == name })
	c.required = slices.DeleteFunc(c.required, func(n string) bool { return n == name })
	return c
}

// decodeJSON parses a request body the way Placement's extract_json does: any JSON value,
// numbers kept exact. A parse failure is the 400 Placement gives for malformed JSON.
func decodeJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badRequest("Malformed JSON: %s", jsonErrorText(err, body))
	}
	if _, err := dec.Token(); err == nil {
		return nil, badRequest("Malformed JSON: Extra data")
	}
	return v, nil
}

// jsonErrorText describes a JSON syntax error the way Python's json module words the
// common cases, without echoing the body.
func jsonErrorText(err error, body []byte) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off := int(se.Offset) - 1
		if off < 0 {
			off = 0
		}
		if off > len(body) {
			off = len(body)
		}
		line := 1 + bytes.Count(body[:off], []byte("\n"))
		col := off - bytes.LastIndexByte(body[:off], '\n')
		return fmt.Sprintf("Expecting value: line %d column %d (char %d)", line, col, off)
	}
	return fmt.Sprintf("Expecting value: line 1 column %d (char %d)", len(body)+1, len(body))
}

// extractJSON decodes body and validates it against s; failures are 400s worded as
// Placement's util.extract_json words them.
func extractJSON(body []byte, s *schema) (any, error) {
	v, err := decodeJSON(body)
	if err != nil {
		return nil, err
	}
	if msg := s.validate(v); msg != "" {
		return nil, badRequest("JSON does not validate: %s", msg)
	}
	return v, nil
}

// schemaError is a validation failure, with what jsonschema's str(ValidationError)
// shows: the message, the keyword, where in the schema and the instance it failed.
type schemaError struct {
	msg      string
	keyword  string
	spath    []any // schema path to the failing subschema (without the keyword)
	ipath    []any // path to the failing instance
	schema   *schema
	instance any
}

// String renders the error as jsonschema does: the message, then "Failed validating
// '<keyword>' in schema[...]:" with the subschema and "On instance[...]:" with the value.
func (e *schemaError) String() string {
	return e.msg + "\n\nFailed validating " + pyRepr(e.keyword) + " in " + formatIndex("schema", e.spath) + ":\n    " +
		pyRepr(e.schema.toMap()) + "\n\nOn " + formatIndex("instance", e.ipath) + ":\n    " + pyRepr(e.instance)
}

// formatIndex is jsonschema's _utils.format_as_index.
func formatIndex(container string, path []any) string {
	if len(path) == 0 {
		return container
	}
	parts := make([]string, len(path))
	for i, p := range path {
		if n, ok := p.(int); ok {
			parts[i] = strconv.Itoa(n)
		} else {
			parts[i] = pyRepr(p)
		}
	}
	return container + "[" + strings.Join(parts, "][") + "]"
}

// validate returns jsonschema's full message for the first violation of s by v, or "".
func (s *schema) validate(v any) string {
	if e := s.check(v, nil, nil); e != nil {
		return e.String()
	}
	return ""
}

// with returns a path extended by elements.
func extend(path []any, elems ...any) []any {
	out := make([]any, 0, len(path)+len(elems))
	return append(append(out, path...), elems...)
}

// check returns the first violation of s by v, at the given schema and instance paths.
func (s *schema) check(v any, spath, ipath []any) *schemaError {
	if s == nil {
		return nil
	}
	fail := func(kw, msg string) *schemaError {
		return &schemaError{msg: msg, keyword: kw, spath: spath, ipath: ipath, schema: s, instance: v}
	}
	if len(s.anyOf) > 0 {
		ok := false
		for i, a := range s.anyOf {
			if a.check(v, extend(spath, "anyOf", i), ipath) == nil {
				ok = true
				break
			}
		}
		if !ok {
			return fail("anyOf", pyRepr(v)+" is not valid under any of the given schemas")
		}
	}
	if len(s.types) > 0 && !slices.ContainsFunc(s.types, func(t string) bool { return isType(v, t) }) {
		quoted := make([]string, len(s.types))
		for i, t := range s.types {
			quoted[i] = "'" + t + "'"
		}
		return fail("type", pyRepr(v)+" is not of type "+strings.Join(quoted, ", "))
	}
	switch x := v.(type) {
	case map[string]any:
		return s.checkObject(x, spath, ipath)
	case []any:
		if len(x) < s.minItems {
			return fail("minItems", pyRepr(v)+" is too short")
		}
		if s.uniqueItems {
			seen := map[string]bool{}
			for _, e := range x {
				k := pyRepr(e)
				if seen[k] {
					return fail("uniqueItems", pyRepr(v)+" has non-unique elements")
				}
				seen[k] = true
			}
		}
		for i, e := range x {
			if err := s.items.check(e, extend(spath, "items"), extend(ipath, i)); err != nil {
				return err
			}
		}
	case string:
		n := utf8.RuneCountInString(x)
		if n < s.minLen {
			return fail("minLength", pyRepr(v)+" is too short")
		}
		if s.maxLen > 0 && n > s.maxLen {
			return fail("maxLength", pyRepr(v)+" is too long")
		}
		if s.pattern != nil && !s.pattern.MatchString(x) {
			return fail("pattern", pyRepr(v)+" does not match "+pyRepr(s.pattern.String()))
		}
		if s.uuid && !isUUIDLike(x) {
			return fail("format", pyRepr(v)+" is not a 'uuid'")
		}
		if len(s.enum) > 0 && !slices.Contains(s.enum, x) {
			parts := make([]string, len(s.enum))
			for i, e := range s.enum {
				parts[i] = pyRepr(e)
			}
			return fail("enum", pyRepr(v)+" is not one of ["+strings.Join(parts, ", ")+"]")
		}
	case json.Number:
		f, _ := strconv.ParseFloat(string(x), 64)
		if s.min != nil && f < *s.min {
			return fail("minimum", fmt.Sprintf("%s is less than the minimum of %s", x, pyNum(*s.min)))
		}
		if s.max != nil && f > *s.max {
			return fail("maximum", fmt.Sprintf("%s is greater than the maximum of %s", x, pyNum(*s.max)))
		}
	}
	return nil
}

// checkObject checks the object keywords.
func (s *schema) checkObject(m map[string]any, spath, ipath []any) *schemaError {
	fail := func(kw, msg string) *schemaError {
		return &schemaError{msg: msg, keyword: kw, spath: spath, ipath: ipath, schema: s, instance: m}
	}
	if len(m) < s.minProps {
		return fail("minProperties", pyRepr(m)+" does not have enough properties")
	}
	for _, name := range s.required {
		if _, ok := m[name]; !ok {
			return fail("required", pyRepr(name)+" is a required property")
		}
	}
	keys := sortedKeys(m)
	if s.noAdditional {
		var extra []string
		for _, k := range keys {
			if _, ok := s.props[k]; ok {
				continue
			}
			if slices.ContainsFunc(s.patternProps, func(p patternProp) bool { return p.re.MatchString(k) }) {
				continue
			}
			extra = append(extra, k)
		}
		if len(extra) > 0 {
			quoted := make([]string, len(extra))
			for i, e := range extra {
				quoted[i] = pyRepr(e)
			}
			if len(s.patternProps) > 0 {
				var res []string
				for _, p := range s.patternProps {
					res = append(res, pyRepr(p.re.String()))
				}
				verb := "does"
				if len(extra) > 1 {
					verb = "do"
				}
				return fail("additionalProperties", strings.Join(quoted, ", ")+" "+verb+" not match any of the regexes: "+strings.Join(res, ", "))
			}
			verb := "was"
			if len(extra) > 1 {
				verb = "were"
			}
			return fail("additionalProperties", "Additional properties are not allowed ("+strings.Join(quoted, ", ")+" "+verb+" unexpected)")
		}
	}
	for _, name := range s.propOrder {
		if v, ok := m[name]; ok {
			if err := s.props[name].check(v, extend(spath, "properties", name), extend(ipath, name)); err != nil {
				return err
			}
		}
	}
	for _, k := range keys {
		for _, p := range s.patternProps {
			if p.re.MatchString(k) {
				if err := p.schema.check(m[k], extend(spath, "patternProperties", p.re.String()), extend(ipath, k)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// toMap renders the schema as the Python dict Placement's schema module defines, for
// error messages.
func (s *schema) toMap() map[string]any {
	if s == nil {
		return map[string]any{}
	}
	m := map[string]any{}
	switch len(s.types) {
	case 0:
	case 1:
		m["type"] = s.types[0]
	default:
		var ts []any
		for _, t := range s.types {
			ts = append(ts, t)
		}
		m["type"] = ts
	}
	if len(s.props) > 0 {
		props := map[string]any{}
		for k, v := range s.props {
			props[k] = v.toMap()
		}
		m["properties"] = props
	}
	if len(s.patternProps) > 0 {
		pp := map[string]any{}
		for _, p := range s.patternProps {
			pp[p.re.String()] = p.schema.toMap()
		}
		m["patternProperties"] = pp
	}
	if s.noAdditional {
		m["additionalProperties"] = false
	}
	if len(s.required) > 0 {
		var r []any
		for _, n := range s.required {
			r = append(r, n)
		}
		m["required"] = r
	}
	num := func(f float64) any { return json.Number(pyNum(f)) }
	if s.minProps > 0 {
		m["minProperties"] = num(float64(s.minProps))
	}
	if s.minLen > 0 {
		m["minLength"] = num(float64(s.minLen))
	}
	if s.maxLen > 0 {
		m["maxLength"] = num(float64(s.maxLen))
	}
	if s.pattern != nil {
		m["pattern"] = s.pattern.String()
	}
	if s.uuid {
		m["format"] = "uuid"
	}
	if s.min != nil {
		m["minimum"] = num(*s.min)
	}
	if s.max != nil {
		m["maximum"] = num(*s.max)
	}
	if s.items != nil {
		m["items"] = s.items.toMap()
	}
	if s.minItems > 0 {
		m["minItems"] = num(float64(s.minItems))
	}
	if s.uniqueItems {
		m["uniqueItems"] = true
	}
	if len(s.enum) > 0 {
		var e []any
		for _, v := range s.enum {
			e = append(e, v)
		}
		m["enum"] = e
	}
	if len(s.anyOf) > 0 {
		var a []any
		for _, sub := range s.anyOf {
			a = append(a, sub.toMap())
		}
		m["anyOf"] = a
	}
	return m
}

// isType reports whether v is of the JSON Schema type t.
func isType(v any, t string) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "null":
		return v == nil
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		if _, err := n.Int64(); err == nil {
			return true
		}
		// jsonschema accepts floats with no fractional part (1.0) as integers.
		f, err := strconv.ParseFloat(string(n), 64)
		return err == nil && f == math.Trunc(f) && !math.IsInf(f, 0) && math.Abs(f) < 1<<62
	}
	return false
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// pyRepr renders a decoded JSON value as Python's repr() renders the equivalent value,
// the way jsonschema quotes instances in its messages. Long values are shortened.
func pyRepr(v any) string {
	var b strings.Builder
	writeRepr(&b, v)
	s := b.String()
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// writeRepr writes repr(v) to b.
func writeRepr(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if x {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case json.Number:
		b.WriteString(string(x))
	case string:
		q := byte('\'')
		if strings.IndexByte(x, '\'') >= 0 && strings.IndexByte(x, '"') < 0 {
			q = '"'
		}
		b.WriteByte(q)
		for _, r := range x {
			switch {
			case r == rune(q) || r == '\\':
				b.WriteByte('\\')
				b.WriteRune(r)
			case r == '\n':
				b.WriteString(`\n`)
			case r == '\t':
				b.WriteString(`\t`)
			case r < 0x20 || r == 0x7f:
				fmt.Fprintf(b, `\x%02x`, r)
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte(q)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		b.WriteByte('{')
		for i, k := range sortedKeys(x) {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, k)
			b.WriteString(": ")
			writeRepr(b, x[k])
		}
		b.WriteByte('}')
	default:
		fmt.Fprint(b, x)
	}
}

// pyNum renders a schema bound as Python does (an int when integral).
func pyNum(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
