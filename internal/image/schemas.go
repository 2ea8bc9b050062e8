package image

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gostack/gostack/internal/api"
)

// The schema documents are Glance's own (glance/api/v2/images.py get_base_properties,
// image_members.py _MEMBER_SCHEMA, glance.schema), with the custom properties of the
// schema-image.json Glance ships and DevStack installs. openstackclient fetches
// /v2/schemas/image and validates patches against it before sending them, so the
// document must be exactly as permissive as Glance's.

// diskFormats and containerFormats are Glance's [image_format] defaults.
var (
	diskFormats      = []string{"ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"}
	containerFormats = []string{"ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"}
	imageStatuses    = []string{"queued", "saving", "active", "killed", "deleted", "uploading", "importing", "pending_delete", "deactivated"}
	visibilities     = []string{"community", "public", "private", "shared"}
)

const uuidPattern = `^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$`

var uuidRE = regexp.MustCompile(uuidPattern)

// prop is one property of a JSON schema, in the subset the image schemas use.
type prop struct {
	Types       []string // "string", "null", "integer", "boolean", "array", "object"
	Description string
	ReadOnly    bool
	Enum        []any
	MaxLength   int
	Pattern     string
	Items       map[string]any // rendered as is
	IsBase      *bool          // false for custom properties
	extra       map[string]any // further keys rendered as is
}

// doc renders the property as JSON schema.
func (p prop) doc() map[string]any {
	m := map[string]any{}
	if len(p.Types) == 1 {
		m["type"] = p.Types[0]
	} else if len(p.Types) > 1 {
		m["type"] = p.Types
	}
	if p.Description != "" {
		m["description"] = p.Description
	}
	if p.ReadOnly {
		m["readOnly"] = true
	}
	if p.Enum != nil {
		m["enum"] = p.Enum
	}
	if p.MaxLength > 0 {
		m["maxLength"] = p.MaxLength
	}
	if p.Pattern != "" {
		m["pattern"] = p.Pattern
	}
	if p.Items != nil {
		m["items"] = p.Items
	}
	if p.IsBase != nil {
		m["is_base"] = *p.IsBase
	}
	for k, v := range p.extra {
		m[k] = v
	}
	return m
}

// enumOf lists strings as enum values, with null first when nullable.
func enumOf(nullable bool, vals []string) []any {
	out := []any{}
	if nullable {
		out = append(out, nil)
	}
	for _, v := range vals {
		out = append(out, v)
	}
	return out
}

// imageSchemaProperties are the properties of the image schema: Glance's base properties
// and schema-image.json's custom ones.
var imageSchemaProperties = func() map[string]prop {
	f := false
	nullStrT := []string{"null", "string"}
	p := map[string]prop{
		"id":         {Types: []string{"string"}, Description: "An identifier for the image", Pattern: uuidPattern},
		"name":       {Types: nullStrT, Description: "Descriptive name for the image", MaxLength: 255},
		"status":     {Types: []string{"string"}, ReadOnly: true, Description: "Status of the image", Enum: enumOf(false, imageStatuses)},
		"visibility": {Types: []string{"string"}, Description: "Scope of image accessibility", Enum: enumOf(false, visibilities)},
		"protected":  {Types: []string{"boolean"}, Description: "If true, image will not be deletable."},
		"os_hidden":  {Types: []string{"boolean"}, Description: "If true, image will not appear in default image list response."},
		"checksum":   {Types: nullStrT, ReadOnly: true, Description: "md5 hash of image contents.", MaxLength: 32},
		"os_hash_algo": {Types: nullStrT, ReadOnly: true, Description: "Algorithm to calculate the os_hash_value",
			MaxLength: 64},
		"os_hash_value": {Types: nullStrT, ReadOnly: true, MaxLength: 128,
			Description: "Hexdigest of the image contents using the algorithm specified by the os_hash_algo"},
		"owner":            {Types: nullStrT, Description: "Owner of the image", MaxLength: 255},
		"size":             {Types: []string{"null", "integer"}, ReadOnly: true, Description: "Size of image file in bytes"},
		"virtual_size":     {Types: []string{"null", "integer"}, ReadOnly: true, Description: "Virtual size of image in bytes"},
		"container_format": {Types: nullStrT, Description: "Format of the container", Enum: enumOf(true, containerFormats)},
		"disk_format":      {Types: nullStrT, Description: "Format of the disk", Enum: enumOf(true, diskFormats)},
		"created_at":       {Types: []string{"string"}, ReadOnly: true, Description: "Date and time of image registration"},
		"updated_at": {Types: []string{"string"}, ReadOnly: true,
			Description: "Date and time of the last image modification"},
		"tags": {Types: []string{"array"}, Description: "List of strings related to the image",
			Items: map[string]any{"type": "string", "maxLength": 255}},
		"direct_url": {Types: []string{"string"}, ReadOnly: true,
			Description: "URL to access the image file kept in external store"},
		"min_ram":  {Types: []string{"integer"}, Description: "Amount of ram (in MB) required to boot image."},
		"min_disk": {Types: []string{"integer"}, Description: "Amount of disk space (in GB) required to boot image."},
		"self":     {Types: []string{"string"}, ReadOnly: true, Description: "An image self url"},
		"file":     {Types: []string{"string"}, ReadOnly: true, Description: "An image file url"},
		"stores": {Types: []string{"string"}, ReadOnly: true,
			Description: "Store in which image data resides.  Only present when the operator has enabled multiple stores.  May be a comma-separated list of store identifiers."},
		"schema": {Types: []string{"string"}, ReadOnly: true, Description: "An image schema url"},
		"locations": {Types: []string{"array"}, Description: "A set of URLs to access the image file kept in external store",
			Items: map[string]any{
				"type": "object",
				"properties": map[string]any{
					"url":      map[string]any{"type": "string", "maxLength": 255},
					"metadata": map[string]any{"type": "object"},
					"validation_data": map[string]any{
						"description":          "Values to be used to populate the corresponding image properties. If the image status is not 'queued', values must exactly match those already contained in the image properties.",
						"type":                 "object",
						"writeOnly":            true,
						"additionalProperties": false,
						"properties": map[string]any{
							"checksum":      map[string]any{"type": "string", "minLength": 32, "maxLength": 32},
							"os_hash_algo":  map[string]any{"type": "string", "maxLength": 64},
							"os_hash_value": map[string]any{"type": "string", "maxLength": 128},
						},
						"required": []string{"os_hash_algo", "os_hash_value"},
					},
				},
				"required": []string{"url", "metadata"},
			}},
		// schema-image.json
		"kernel_id": {Types: nullStrT, Pattern: uuidPattern, IsBase: &f,
			Description: "ID of image stored in Glance that should be used as the kernel when booting an AMI-style image."},
		"ramdisk_id": {Types: nullStrT, Pattern: uuidPattern, IsBase: &f,
			Description: "ID of image stored in Glance that should be used as the ramdisk when booting an AMI-style image."},
		"instance_uuid": {Types: []string{"string"}, IsBase: &f,
			Description: "Metadata which can be used to record which instance this image is associated with. (Informational only, does not create an instance snapshot.)"},
		"architecture": {Types: []string{"string"}, IsBase: &f,
			Description: "Operating system architecture as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html"},
		"os_distro": {Types: []string{"string"}, IsBase: &f,
			Description: "Common name of operating system distribution as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html"},
		"os_version": {Types: []string{"string"}, IsBase: &f,
			Description: "Operating system version as specified by the distributor."},
		"description": {Types: []string{"string"}, IsBase: &f, Description: "A human-readable string describing this image."},
		"cinder_encryption_key_id": {Types: []string{"string"}, IsBase: &f,
			Description: "Identifier in the OpenStack Key Management Service for the encryption key for the Block Storage Service to use when mounting a volume created from this image"},
		"cinder_encryption_key_deletion_policy": {Types: []string{"string"}, IsBase: &f,
			Enum:        enumOf(false, []string{"on_image_deletion", "do_not_delete"}),
			Description: "States the condition under which the Image Service will delete the object associated with the 'cinder_encryption_key_id' image property.  If this property is missing, the Image Service will take no action"},
	}
	return p
}()

// imageLinks are the image schema's links.
var imageLinks = []map[string]string{
	{"rel": "self", "href": "{self}"},
	{"rel": "enclosure", "href": "{file}"},
	{"rel": "describedby", "href": "{schema}"},
}

// imageSchema is GET /v2/schemas/image (PermissiveSchema.raw()).
func imageSchema() map[string]any {
	props := map[string]any{}
	for k, p := range imageSchemaProperties {
		props[k] = p.doc()
	}
	return map[string]any{
		"name":                 "image",
		"properties":           props,
		"additionalProperties": map[string]any{"type": "string"},
		"links":                imageLinks,
	}
}

// imagesSchema is GET /v2/schemas/images (CollectionSchema.raw()).
func imagesSchema() map[string]any {
	return map[string]any{
		"name": "images",
		"properties": map[string]any{
			"images": map[string]any{"type": "array", "items": imageSchema()},
			"first":  map[string]any{"type": "string"},
			"next":   map[string]any{"type": "string"},
			"schema": map[string]any{"type": "string"},
		},
		"links": []map[string]string{
			{"rel": "first", "href": "{first}"},
			{"rel": "next", "href": "{next}"},
			{"rel": "describedby", "href": "{schema}"},
		},
	}
}

// memberSchemaProperties is image_members._MEMBER_SCHEMA.
func memberSchemaProperties() map[string]any {
	return map[string]any{
		"member_id": map[string]any{"type": "string", "description": "An identifier for the image member (tenantId)"},
		"image_id":  map[string]any{"type": "string", "description": "An identifier for the image", "pattern": uuidPattern},
		"created_at": map[string]any{"type": "string",
			"description": "Date and time of image member creation"},
		"updated_at": map[string]any{"type": "string",
			"description": "Date and time of last modification of image member"},
		"status": map[string]any{"type": "string", "description": "The status of this image member",
			"enum": []string{"pending", "accepted", "rejected"}},
		"schema": map[string]any{"readOnly": true, "type": "string"},
	}
}

// memberSchema is GET /v2/schemas/member (Schema.minimal()).
func memberSchema() map[string]any {
	return map[string]any{"name": "member", "properties": memberSchemaProperties()}
}

// membersSchema is GET /v2/schemas/members (CollectionSchema.minimal()).
func membersSchema() map[string]any {
	return map[string]any{
		"name": "members",
		"properties": map[string]any{
			"members": map[string]any{"type": "array", "items": memberSchema()},
			"schema":  map[string]any{"type": "string"},
		},
		"links": []map[string]string{{"rel": "describedby", "href": "{schema}"}},
	}
}

// schemaRoutes serves the schema documents; like Glance they need a token but no policy.
func (s *Service) schemaRoutes() []route {
	serve := func(doc func() map[string]any) handler {
		return func(w http.ResponseWriter, r *http.Request, c *call) error {
			if err := rejectBody(r); err != nil {
				return err
			}
			api.WriteJSON(w, http.StatusOK, doc())
			return nil
		}
	}
	return []route{
		{method: "GET", path: "/v2/schemas/image", handle: serve(imageSchema)},
		{method: "GET", path: "/v2/schemas/images", handle: serve(imagesSchema)},
		{method: "GET", path: "/v2/schemas/member", handle: serve(memberSchema)},
		{method: "GET", path: "/v2/schemas/members", handle: serve(membersSchema)},
	}
}

// schemaError is exception.InvalidObject: a 400 naming the schema and jsonschema's reason.
func schemaError(schema, reason string) *api.Error {
	return errorf(http.StatusBadRequest, "Provided object does not match schema '%s': %s", schema, reason)
}

// validateImageDoc checks an image document (a create body, or {attr: value} for one
// patch operation) against the image schema, as jsonschema.validate does.
func validateImageDoc(doc map[string]any) error {
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := doc[k]
		p, known := imageSchemaProperties[k]
		if !known {
			if _, ok := v.(string); !ok {
				return schemaError("image", fmt.Sprintf("%s is not of type 'string'\n\nFailed validating 'type' in schema['additionalProperties']:\n    {'type': 'string'}\n\nOn instance[%s]:\n    %s",
					pyRepr(v), pyRepr(k), pyRepr(v)))
			}
			continue
		}
		if msg, kw := checkProp(p, v); msg != "" {
			return schemaError("image", fmt.Sprintf("%s\n\nFailed validating %s in schema['properties'][%s]\n\nOn instance[%s]:\n    %s",
				msg, pyRepr(kw), pyRepr(k), pyRepr(k), pyRepr(v)))
		}
	}
	return nil
}

// checkProp validates one value, returning jsonschema's message and the failing keyword.
func checkProp(p prop, v any) (string, string) {
	if len(p.Types) > 0 && !typeMatches(p.Types, v) {
		names := make([]string, len(p.Types))
		for i, t := range p.Types {
			names[i] = pyRepr(t)
		}
		return fmt.Sprintf("%s is not of type %s", pyRepr(v), strings.Join(names, ", ")), "type"
	}
	if p.Enum != nil {
		ok := false
		for _, e := range p.Enum {
			if e == nil && v == nil {
				ok = true
			} else if es, isStr := e.(string); isStr {
				if vs, vok := v.(string); vok && vs == es {
					ok = true
				}
			}
		}
		if !ok {
			return fmt.Sprintf("%s is not one of %s", pyRepr(v), pyRepr(p.Enum)), "enum"
		}
	}
	if s, ok := v.(string); ok {
		if p.MaxLength > 0 && utf8.RuneCountInString(s) > p.MaxLength {
			return fmt.Sprintf("%s is too long", pyRepr(s)), "maxLength"
		}
		// The only pattern the image schema uses is the UUID one.
		if p.Pattern != "" && !uuidRE.MatchString(s) {
			return fmt.Sprintf("%s does not match %s", pyRepr(s), pyRepr(p.Pattern)), "pattern"
		}
	}
	if arr, ok := v.([]any); ok && p.Items != nil {
		if it, _ := p.Items["type"].(string); it != "" {
			for _, e := range arr {
				if !typeMatches([]string{it}, e) {
					return fmt.Sprintf("%s is not of type %s", pyRepr(e), pyRepr(it)), "type"
				}
				if ml, _ := p.Items["maxLength"].(int); ml > 0 {
					if s, ok := e.(string); ok && utf8.RuneCountInString(s) > ml {
						return fmt.Sprintf("%s is too long", pyRepr(s)), "maxLength"
					}
				}
			}
		}
	}
	return "", ""
}

// typeMatches is jsonschema's type check for decoded JSON (numbers are json.Number).
func typeMatches(types []string, v any) bool {
	for _, t := range types {
		switch t {
		case "null":
			if v == nil {
				return true
			}
		case "string":
			if _, ok := v.(string); ok {
				return true
			}
		case "boolean":
			if _, ok := v.(bool); ok {
				return true
			}
		case "integer":
			if _, ok := jsonInt(v); ok {
				return true
			}
		case "array":
			if _, ok := v.([]any); ok {
				return true
			}
		case "object":
			if _, ok := v.(map[string]any); ok {
				return true
			}
		}
	}
	return false
}

// jsonInt returns a JSON number as an int64 when it is integral (jsonschema counts 1.0
// as an integer).
func jsonInt(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || math.IsInf(f, 0) || f > math.MaxInt64 || f < math.MinInt64 {
		return 0, false
	}
	return int64(f), true
}

// pyRepr renders a decoded JSON value as Python's repr, for messages worded as
// jsonschema words them.
func pyRepr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case json.Number:
		return x.String()
	case string:
		if len(x) > 255 {
			x = x[:255] + "..."
		}
		q := "'"
		if strings.Contains(x, "'") && !strings.Contains(x, `"`) {
			q = `"`
		}
		var b strings.Builder
		b.WriteString(q)
		for _, r := range x {
			switch {
			case r == '\\':
				b.WriteString(`\\`)
			case string(r) == q:
				b.WriteString(`\` + q)
			case r == '\n':
				b.WriteString(`\n`)
			case r == '\r':
				b.WriteString(`\r`)
			case r == '\t':
				b.WriteString(`\t`)
			case r < 0x20 || r == 0x7f:
				b.WriteString(fmt.Sprintf(`\x%02x`, r))
			default:
				b.WriteRune(r)
			}
		}
		b.WriteString(q)
		return b.String()
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []string:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyRepr(k) + ": " + pyRepr(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return fmt.Sprint(v)
}
