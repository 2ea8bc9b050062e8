package image

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/gostack/gostack/internal/api"
)

// The metadefs schema documents are Glance's (glance/api/v2/metadef_*.py get_schema and
// get_collection_schema, rendered by glance.schema's raw()), and request bodies are
// validated against the same documents, as Glance's deserializers do with jsonschema.

// propertyTypes is the enum of a property's (and an array item's) type.
func propertyTypes() []any {
	return []any{"array", "boolean", "integer", "number", "object", "string", nil}
}

// propertyDocProperties are the attributes of one property definition
// (metadef_namespaces.get_schema_definitions()["property"]).
func propertyDocProperties() map[string]any {
	return map[string]any{
		"name":        map[string]any{"type": "string", "maxLength": 80},
		"title":       map[string]any{"type": "string"},
		"description": map[string]any{"type": "string"},
		"operators":   map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
		"type":        map[string]any{"type": "string", "enum": propertyTypes()},
		"required":    map[string]any{"$ref": "#/definitions/stringArray"},
		"minimum":     map[string]any{"type": "number"},
		"maximum":     map[string]any{"type": "number"},
		"maxLength":   map[string]any{"$ref": "#/definitions/positiveInteger"},
		"minLength":   map[string]any{"$ref": "#/definitions/positiveIntegerDefault0"},
		"pattern":     map[string]any{"type": "string", "format": "regex"},
		"enum":        map[string]any{"type": "array"},
		"readonly":    map[string]any{"type": "boolean"},
		"default":     map[string]any{},
		"items": map[string]any{"type": "object", "properties": map[string]any{
			"type": map[string]any{"type": "string", "enum": propertyTypes()},
			"enum": map[string]any{"type": "array"},
		}},
		"maxItems":        map[string]any{"$ref": "#/definitions/positiveInteger"},
		"minItems":        map[string]any{"$ref": "#/definitions/positiveIntegerDefault0"},
		"uniqueItems":     map[string]any{"type": "boolean", "default": false},
		"additionalItems": map[string]any{"type": "boolean"},
	}
}

// metadefDefinitions are the shared definitions; minItems is metadef_properties' variant
// of stringArray, which requires at least one element.
func metadefDefinitions(withProperty bool, minItems bool) map[string]any {
	stringArray := map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "uniqueItems": true}
	if minItems {
		stringArray["minItems"] = 1
	}
	d := map[string]any{
		"positiveInteger": map[string]any{"type": "integer", "minimum": 0},
		"positiveIntegerDefault0": map[string]any{"allOf": []any{
			map[string]any{"$ref": "#/definitions/positiveInteger"},
			map[string]any{"default": 0},
		}},
		"stringArray": stringArray,
	}
	if withProperty {
		d["property"] = map[string]any{"type": "object", "additionalProperties": map[string]any{
			"type": "object", "required": []any{"title", "type"}, "properties": propertyDocProperties(),
		}}
	}
	return d
}

// dateProp is a read-only timestamp attribute.
func dateProp(desc string) map[string]any {
	return map[string]any{"type": "string", "readOnly": true, "description": desc, "format": "date-time"}
}

// readOnlyString is the schema and self attributes.
func readOnlyString() map[string]any { return map[string]any{"readOnly": true, "type": "string"} }

// rawSchema is glance.schema.Schema.raw().
func rawSchema(name string, props map[string]any, required []any, defs map[string]any) map[string]any {
	s := map[string]any{"name": name, "properties": props, "additionalProperties": false}
	if defs != nil {
		s["definitions"] = defs
	}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// collectionSchema is glance.schema.CollectionSchema.raw() (DictCollectionSchema's when
// dict is set): the definitions move from the item to the collection.
func collectionSchema(name string, item map[string]any, dict bool) map[string]any {
	defs := item["definitions"]
	delete(item, "definitions")
	container := map[string]any{"type": "array", "items": item}
	if dict {
		container = map[string]any{"type": "object", "additionalProperties": item}
	}
	s := map[string]any{
		"name": name,
		"properties": map[string]any{
			name:     container,
			"first":  map[string]any{"type": "string"},
			"next":   map[string]any{"type": "string"},
			"schema": map[string]any{"type": "string"},
		},
		"links": []any{
			map[string]any{"rel": "first", "href": "{first}"},
			map[string]any{"rel": "next", "href": "{next}"},
			map[string]any{"rel": "describedby", "href": "{schema}"},
		},
	}
	if defs != nil {
		s["definitions"] = defs
	}
	return s
}

// metadefNamespaceSchema is GET /v2/schemas/metadefs/namespace.
func metadefNamespaceSchema() map[string]any {
	props := map[string]any{
		"namespace":    map[string]any{"type": "string", "description": "The unique namespace text.", "maxLength": 80},
		"display_name": map[string]any{"type": "string", "description": "The user friendly name for the namespace. Used by UI if available.", "maxLength": 80},
		"description":  map[string]any{"type": "string", "description": "Provides a user friendly description of the namespace.", "maxLength": 500},
		"visibility":   map[string]any{"type": "string", "description": "Scope of namespace accessibility.", "enum": []any{"public", "private"}},
		"protected":    map[string]any{"type": "boolean", "description": "If true, namespace will not be deletable."},
		"owner":        map[string]any{"type": "string", "description": "Owner of the namespace.", "maxLength": 255},
		"created_at":   dateProp("Date and time of namespace creation"),
		"updated_at":   dateProp("Date and time of the last namespace modification"),
		"schema":       readOnlyString(),
		"self":         readOnlyString(),
		"resource_type_associations": map[string]any{"type": "array", "items": map[string]any{"type": "object", "properties": map[string]any{
			"name":              map[string]any{"type": "string"},
			"prefix":            map[string]any{"type": "string"},
			"properties_target": map[string]any{"type": "string"},
		}}},
		"properties": map[string]any{"$ref": "#/definitions/property"},
		"objects": map[string]any{"type": "array", "items": map[string]any{"type": "object", "properties": map[string]any{
			"name":        map[string]any{"type": "string"},
			"description": map[string]any{"type": "string"},
			"required":    map[string]any{"$ref": "#/definitions/stringArray"},
			"properties":  map[string]any{"$ref": "#/definitions/property"},
		}}},
		"tags": map[string]any{"type": "array", "items": map[string]any{"type": "object", "properties": map[string]any{
			"name": map[string]any{"type": "string"},
		}}},
	}
	return rawSchema("namespace", props, []any{"namespace"}, metadefDefinitions(true, false))
}

// metadefNamespacesSchema is GET /v2/schemas/metadefs/namespaces.
func metadefNamespacesSchema() map[string]any {
	return collectionSchema("namespaces", metadefNamespaceSchema(), false)
}

// metadefObjectSchema is GET /v2/schemas/metadefs/object.
func metadefObjectSchema() map[string]any {
	props := map[string]any{
		"name":        map[string]any{"type": "string", "maxLength": 80},
		"description": map[string]any{"type": "string"},
		"required":    map[string]any{"$ref": "#/definitions/stringArray"},
		"properties":  map[string]any{"$ref": "#/definitions/property"},
		"schema":      readOnlyString(),
		"self":        readOnlyString(),
		"created_at":  dateProp("Date and time of object creation"),
		"updated_at":  dateProp("Date and time of the last object modification"),
	}
	return rawSchema("object", props, []any{"name"}, metadefDefinitions(true, false))
}

// metadefObjectsSchema is GET /v2/schemas/metadefs/objects.
func metadefObjectsSchema() map[string]any {
	return collectionSchema("objects", metadefObjectSchema(), false)
}

// metadefPropertySchemaFor is metadef_properties.get_schema: name is required unless the
// property is one of an object's, where its key names it.
func metadefPropertySchemaFor(requireName bool) map[string]any {
	required := []any{"type", "title"}
	if requireName {
		required = append(required, "name")
	}
	return rawSchema("property", propertyDocProperties(), required, metadefDefinitions(false, true))
}

// metadefPropertySchema is GET /v2/schemas/metadefs/property.
func metadefPropertySchema() map[string]any { return metadefPropertySchemaFor(true) }

// metadefPropertiesSchema is GET /v2/schemas/metadefs/properties.
func metadefPropertiesSchema() map[string]any {
	return collectionSchema("properties", metadefPropertySchemaFor(false), true)
}

// metadefTagSchema is GET /v2/schemas/metadefs/tag.
func metadefTagSchema() map[string]any {
	props := map[string]any{
		"name":       map[string]any{"type": "string", "maxLength": 80},
		"created_at": dateProp("Date and time of tag creation"),
		"updated_at": dateProp("Date and time of the last tag modification"),
	}
	return rawSchema("tag", props, []any{"name"}, nil)
}

// metadefTagsSchema is GET /v2/schemas/metadefs/tags.
func metadefTagsSchema() map[string]any {
	return collectionSchema("tags", metadefTagSchema(), false)
}

// metadefTagsBodySchema is metadef_tags.get_schema_for_list, which a bulk tag creation
// must match.
func metadefTagsBodySchema() map[string]any {
	return rawSchema("tags", map[string]any{"tags": map[string]any{"type": "array", "items": map[string]any{
		"type":                 "object",
		"properties":           map[string]any{"name": map[string]any{"type": "string"}},
		"required":             []any{"name"},
		"additionalProperties": false,
	}}}, nil, nil)
}

// metadefResourceTypeSchema is GET /v2/schemas/metadefs/resource_type.
func metadefResourceTypeSchema() map[string]any {
	props := map[string]any{
		"name": map[string]any{"type": "string", "maxLength": 80, "description": "Resource type names should be aligned with Heat " +
			"resource types whenever possible: https://docs.openstack.org/heat/latest/template_guide/openstack.html"},
		"prefix": map[string]any{"type": "string", "maxLength": 80, "description": "Specifies the prefix to use for the given " +
			"resource type. Any properties in the namespace should be prefixed with this prefix when being applied to the " +
			"specified resource type. Must include prefix separator (e.g. a colon :)."},
		"properties_target": map[string]any{"type": "string", "maxLength": 80, "description": "Some resource types allow more " +
			"than one key / value pair per instance.  For example, Cinder allows user and image metadata on volumes. Only the " +
			"image properties metadata is evaluated by Nova (scheduling or drivers). This property allows a namespace target " +
			"to remove the ambiguity."},
		"created_at": dateProp("Date and time of resource type association"),
		"updated_at": dateProp("Date and time of the last resource type association modification"),
	}
	return rawSchema("resource_type_association", props, []any{"name"}, nil)
}

// metadefResourceTypesSchema is GET /v2/schemas/metadefs/resource_types.
func metadefResourceTypesSchema() map[string]any {
	return collectionSchema("resource_type_associations", metadefResourceTypeSchema(), false)
}

// serveSchema serves a schema document; like Glance's, it needs a token but no policy.
func serveSchema(doc func() map[string]any) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		if err := rejectBody(r); err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, doc())
		return nil
	}
}

// validateSchema checks inst against a schema document as jsonschema.validate does, in
// the subset of JSON Schema the metadefs documents use, and reports the error
// jsonschema's best_match would (the one nearest the top of the document) as Glance's
// InvalidObject. Only the first line of jsonschema's message is kept.
func validateSchema(name string, schema map[string]any, inst any) error {
	v := &schemaCheck{root: schema}
	v.check(schema, inst, 0)
	if v.fault != "" {
		return schemaError(name, v.fault)
	}
	return nil
}

// validateBody checks a request body against a schema document. Glance's documents do
// not say that a body is an object, so jsonschema lets any other JSON value through to
// the model, which fails on it with a 500; here such a body is a 400.
func validateBody(name string, schema map[string]any, body any) (map[string]any, error) {
	if err := validateSchema(name, schema, body); err != nil {
		return nil, err
	}
	doc, ok := body.(map[string]any)
	if !ok {
		return nil, schemaError(name, fmt.Sprintf("%s is not of type 'object'", pyRepr(body)))
	}
	return doc, nil
}

// schemaCheck is one validation: the document $refs resolve against and the best error.
type schemaCheck struct {
	root       map[string]any
	fault      string
	faultDepth int
}

// fail records an error found depth levels into the instance.
func (v *schemaCheck) fail(depth int, format string, args ...any) {
	if v.fault == "" || depth < v.faultDepth {
		v.fault, v.faultDepth = fmt.Sprintf(format, args...), depth
	}
}

// check validates inst against the schema s.
func (v *schemaCheck) check(s map[string]any, inst any, depth int) {
	if ref, ok := s["$ref"].(string); ok {
		if sub, ok := v.resolve(ref); ok {
			v.check(sub, inst, depth)
		}
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			if m, ok := sub.(map[string]any); ok {
				v.check(m, inst, depth)
			}
		}
	}
	if t, ok := s["type"]; ok {
		var types []string
		switch x := t.(type) {
		case string:
			types = []string{x}
		case []any:
			for _, e := range x {
				if es, ok := e.(string); ok {
					types = append(types, es)
				}
			}
		}
		if !schemaTypeMatches(types, inst) {
			names := make([]string, len(types))
			for i, t := range types {
				names[i] = pyRepr(t)
			}
			v.fail(depth, "%s is not of type %s", pyRepr(inst), strings.Join(names, ", "))
		}
	}
	if enum, ok := s["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if jsonEqual(e, inst) {
				found = true
			}
		}
		if !found {
			v.fail(depth, "%s is not one of %s", pyRepr(inst), pyRepr(enum))
		}
	}
	if str, ok := inst.(string); ok {
		if n, ok := s["maxLength"].(int); ok && utf8.RuneCountInString(str) > n {
			v.fail(depth, "%s is too long", pyRepr(str))
		}
	}
	if num, ok := inst.(json.Number); ok {
		if n, ok := s["minimum"].(int); ok && numberLess(num, n) {
			v.fail(depth, "%s is less than the minimum of %d", pyRepr(num), n)
		}
	}
	if arr, ok := inst.([]any); ok {
		if items, ok := s["items"].(map[string]any); ok {
			for _, e := range arr {
				v.check(items, e, depth+1)
			}
		}
		if n, ok := s["minItems"].(int); ok && len(arr) < n {
			v.fail(depth, "%s is too short", pyRepr(arr))
		}
		if u, _ := s["uniqueItems"].(bool); u && !uniqueJSON(arr) {
			v.fail(depth, "%s has non-unique elements", pyRepr(arr))
		}
	}
	obj, isObj := inst.(map[string]any)
	if !isObj {
		return
	}
	props, _ := s["properties"].(map[string]any)
	for _, k := range sortedKeys(obj) {
		if sub, ok := props[k].(map[string]any); ok {
			v.check(sub, obj[k], depth+1)
		}
	}
	switch ap := s["additionalProperties"].(type) {
	case bool:
		if !ap {
			var extras []string
			for _, k := range sortedKeys(obj) {
				if _, known := props[k]; !known {
					extras = append(extras, pyRepr(k))
				}
			}
			if len(extras) > 0 {
				verb := "was"
				if len(extras) > 1 {
					verb = "were"
				}
				v.fail(depth, "Additional properties are not allowed (%s %s unexpected)", strings.Join(extras, ", "), verb)
			}
		}
	case map[string]any:
		for _, k := range sortedKeys(obj) {
			if _, known := props[k]; !known {
				v.check(ap, obj[k], depth+1)
			}
		}
	}
	if req, ok := s["required"].([]any); ok {
		for _, r := range req {
			if k, ok := r.(string); ok {
				if _, present := obj[k]; !present {
					v.fail(depth, "%s is a required property", pyRepr(k))
				}
			}
		}
	}
}

// resolve finds a "#/definitions/name" reference in the root document.
func (v *schemaCheck) resolve(ref string) (map[string]any, bool) {
	name, ok := strings.CutPrefix(ref, "#/definitions/")
	if !ok {
		return nil, false
	}
	defs, _ := v.root["definitions"].(map[string]any)
	sub, ok := defs[name].(map[string]any)
	return sub, ok
}

// schemaTypeMatches is jsonschema's type check: booleans are not numbers, and an integral
// number is an integer.
func schemaTypeMatches(types []string, v any) bool {
	for _, t := range types {
		switch t {
		case "number":
			if _, ok := v.(json.Number); ok {
				return true
			}
		default:
			if typeMatches([]string{t}, v) {
				return true
			}
		}
	}
	return false
}

// numberLess reports whether a JSON number is below n.
func numberLess(num json.Number, n int) bool {
	f, ok := new(big.Float).SetString(num.String())
	return ok && f.Cmp(big.NewFloat(float64(n))) < 0
}

// jsonEqual compares two decoded JSON values.
func jsonEqual(a, b any) bool {
	return canonicalJSON(a) == canonicalJSON(b)
}

// canonicalJSON renders a decoded JSON value with sorted keys and normalized numbers.
func canonicalJSON(v any) string {
	switch x := v.(type) {
	case json.Number:
		if f, ok := new(big.Float).SetString(x.String()); ok {
			return f.Text('g', -1)
		}
		return x.String()
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = canonicalJSON(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%q:%s", k, canonicalJSON(x[k]))
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// uniqueJSON reports whether no two elements are equal.
func uniqueJSON(arr []any) bool {
	seen := map[string]bool{}
	for _, e := range arr {
		k := canonicalJSON(e)
		if seen[k] {
			return false
		}
		seen[k] = true
	}
	return true
}
