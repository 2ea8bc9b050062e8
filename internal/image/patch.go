package image

import (
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// Image updates are JSON patches (RFC 6902 in the form Glance accepts): add, replace and
// remove on one attribute or free-form property each, in
// application/openstack-images-v2.1-json-patch (ops named by "op") or the older
// application/openstack-images-v2.0-json-patch (ops named by their key). Every operation
// is validated before any is applied, and all are saved together or not at all.

// patchTypes maps the patch media types to Glance's JSON schema draft version.
var patchTypes = map[string]int{
	"application/openstack-images-v2.0-json-patch": 4,
	"application/openstack-images-v2.1-json-patch": 10,
}

// patchOp is one parsed operation.
type patchOp struct {
	op       string
	path     []string
	value    any
	hasValue bool
	draft    int
}

// imageAttrs are the attributes of Glance's domain image that a patch can name (hasattr);
// anything else is a free-form property.
var imageAttrs = map[string]bool{
	"name": true, "visibility": true, "os_hidden": true, "min_disk": true, "min_ram": true, "protected": true,
	"owner": true, "disk_format": true, "container_format": true, "tags": true, "locations": true,
	"checksum": true, "os_hash_algo": true, "os_hash_value": true, "size": true, "virtual_size": true,
	"status": true, "created_at": true, "updated_at": true, "image_id": true, "member": true,
	"extra_properties": true,
}

// parsePatch is RequestDeserializer.update.
func parsePatch(r *http.Request) ([]patchOp, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	draft, ok := patchTypes[mt]
	if err != nil || !ok {
		e := detailErr(http.StatusUnsupportedMediaType, "Image PATCH expects Content-Type one of: "+
			"application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch")
		e.Header = http.Header{"Accept-Patch": {"application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch"}}
		return nil, e
	}
	body, err := readJSON(r)
	if err != nil {
		return nil, err
	}
	list, ok := body.([]any)
	if !ok {
		return nil, errorf(http.StatusBadRequest, "Request body must be a JSON array of operation objects.")
	}
	ops := make([]patchOp, 0, len(list))
	for _, raw := range list {
		change, ok := raw.(map[string]any)
		if !ok {
			return nil, errorf(http.StatusBadRequest, "Operations must be JSON objects.")
		}
		op, pointer, err := changeOpPath(change, draft)
		if err != nil {
			return nil, err
		}
		path, err := decodePointer(pointer)
		if err != nil {
			return nil, err
		}
		depth := 1
		if path[0] == "locations" && op != "replace" {
			depth = 2
		}
		if len(path) != depth {
			return nil, errorf(http.StatusBadRequest, "Invalid JSON pointer for this resource: '/%s'", strings.Join(path, "/"))
		}
		p := patchOp{op: op, path: path, draft: draft}
		if op != "remove" {
			v, present := change["value"]
			if !present {
				return nil, errorf(http.StatusBadRequest, `Operation "%s" requires a member named "value".`, op)
			}
			p.value, p.hasValue = v, true
		}
		if err := validateChange(p); err != nil {
			return nil, err
		}
		ops = append(ops, p)
	}
	return ops, nil
}

// changeOpPath reads an operation's name and path for the draft in use.
func changeOpPath(change map[string]any, draft int) (string, string, error) {
	supported := "add, remove, replace"
	var op string
	var path any
	if draft == 10 {
		raw, present := change["op"]
		if !present || raw == nil {
			return "", "", errorf(http.StatusBadRequest, "Unable to find `op` in JSON Schema change. It must be one of the following: %s.", supported)
		}
		op, _ = raw.(string)
		if op != "add" && op != "remove" && op != "replace" {
			return "", "", errorf(http.StatusBadRequest, "Invalid operation: `%s`. It must be one of the following: %s.", pyStr(raw), supported)
		}
		p, present := change["path"]
		if !present {
			return "", "", errorf(http.StatusBadRequest, "Unable to find 'path' in JSON Schema change")
		}
		path = p
	} else {
		for _, k := range []string{"add", "remove", "replace"} {
			if _, present := change[k]; present {
				if op != "" {
					return "", "", errorf(http.StatusBadRequest, `Operation objects must contain only one member named "add", "remove", or "replace".`)
				}
				op = k
			}
		}
		if op == "" {
			return "", "", errorf(http.StatusBadRequest, `Operation objects must contain exactly one member named "add", "remove", or "replace".`)
		}
		path = change[op]
	}
	s, ok := path.(string)
	if !ok {
		return "", "", errorf(http.StatusBadRequest, "Pointer `%s` does not start with \"/\".", pyStr(path))
	}
	return op, s, nil
}

var (
	adjacentSlashRE = regexp.MustCompile(`/\s*?/`)
	badTildeRE      = regexp.MustCompile(`~[^01]`)
)

// decodePointer is _decode_json_pointer with _validate_json_pointer: Glance's limited
// JSON pointers.
func decodePointer(p string) ([]string, error) {
	switch {
	case !strings.HasPrefix(p, "/"):
		return nil, errorf(http.StatusBadRequest, "Pointer `%s` does not start with \"/\".", p)
	case adjacentSlashRE.MatchString(p[1:]):
		return nil, errorf(http.StatusBadRequest, "Pointer `%s` contains adjacent \"/\".", p)
	case len(p) > 1 && strings.HasSuffix(p, "/"):
		return nil, errorf(http.StatusBadRequest, "Pointer `%s` end with \"/\".", p)
	case strings.TrimSpace(p[1:]) == "/":
		return nil, errorf(http.StatusBadRequest, "Pointer `%s` does not contains valid token.", p)
	case badTildeRE.MatchString(p) || strings.HasSuffix(p, "~"):
		return nil, errorf(http.StatusBadRequest, "Pointer `%s` contains \"~\" not part of a recognized escape sequence.", p)
	}
	parts := strings.Split(strings.TrimLeft(p, "/"), "/")
	for i, part := range parts {
		parts[i] = strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~"))
	}
	return parts, nil
}

// validateChange is _validate_change: read-only and reserved attributes are refused, and
// a new value must fit the image schema.
func validateChange(p patchOp) error {
	root := p.path[0]
	if readOnlyAttrs[root] {
		return errorf(http.StatusForbidden, "Attribute '%s' is read-only.", root)
	}
	if reservedAttrs[root] || strings.HasPrefix(root, reservedNamespace) {
		return errorf(http.StatusForbidden, "Attribute '%s' is reserved.", root)
	}
	if p.op == "remove" {
		return nil
	}
	var doc map[string]any
	if len(p.path) == 1 {
		doc = map[string]any{root: p.value}
	} else if root == "locations" {
		doc = map[string]any{root: []any{p.value}}
	}
	if doc != nil {
		return validateImageDoc(doc)
	}
	return nil
}

// updateImage is PATCH /v2/images/{image_id}.
func (s *Service) updateImage(w http.ResponseWriter, r *http.Request, c *call) error {
	ops, err := parsePatch(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var img *image
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		img, err = c.getImage(ctx, tx, r.PathValue("image_id"))
		if err != nil {
			return err
		}
		from := img.Status
		for _, op := range ops {
			if err := c.applyPatch(img, op); err != nil {
				return err
			}
		}
		if len(ops) == 0 {
			return nil
		}
		if err := s.checkLimits(img); err != nil {
			return err
		}
		img.UpdatedAt = now()
		return saveImage(ctx, tx, img, from)
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, s.view(img))
	return nil
}

// applyPatch applies one operation to img (ImagesController._do_add, _do_replace,
// _do_remove), checking modify_image (and the visibility rules) as Glance does.
func (c *call) applyPatch(img *image, op patchOp) error {
	root := op.path[0]
	if root == "locations" {
		if op.op == "replace" && isEmptyList(op.value) {
			return detailErr(http.StatusForbidden, "Cannot set locations to empty list.")
		}
		rule := map[string]string{"add": "set_image_location", "replace": "set_image_location", "remove": "delete_image_location"}[op.op]
		if err := c.enforceImage(rule, img); err != nil {
			return err
		}
		verb := map[string]string{"add": "add", "replace": "update", "remove": "remove"}[op.op]
		return errorf(http.StatusForbidden, "It's not allowed to %s locations if locations are invisible.", verb)
	}
	if op.op == "replace" && root == "owner" && !c.admin {
		return detailErr(http.StatusForbidden, "Owner can't be updated by non admin.")
	}
	if root == "visibility" && op.op != "remove" {
		if v, ok := op.value.(string); ok {
			if err := c.enforceVisibility(v, img.target(c)); err != nil {
				return err
			}
		}
	}
	if err := c.enforceImage("modify_image", img); err != nil {
		return err
	}
	switch op.op {
	case "replace", "add":
		if imageAttrs[root] {
			if op.op == "add" && op.draft == 4 {
				return detailErr(http.StatusConflict, "Property %s already present.", root)
			}
			return setAttr(img, root, op.value)
		}
		_, exists := img.Props[root]
		if op.op == "replace" && !exists {
			return detailErr(http.StatusConflict, "Property %s does not exist.", root)
		}
		if op.op == "add" && op.draft == 4 && exists {
			return detailErr(http.StatusConflict, "Property %s already present.", root)
		}
		if len(root) > 255 {
			return errorf(http.StatusBadRequest, "Custom property should not be greater than 255 characters.")
		}
		if factoryReserved[root] {
			return errorf(http.StatusForbidden, "Attribute '%s' is reserved.", root)
		}
		if op.value == nil {
			img.Props[root] = nil
			return nil
		}
		v := op.value.(string)
		if len(v) > maxPropertyValue {
			return errorf(http.StatusBadRequest, "Property %s is longer than %d bytes.", root, maxPropertyValue)
		}
		img.Props[root] = ptr(v)
		return nil
	case "remove":
		if imageAttrs[root] {
			return detailErr(http.StatusForbidden, "Property %s may not be removed.", root)
		}
		if _, exists := img.Props[root]; !exists {
			return detailErr(http.StatusConflict, "Property %s does not exist.", root)
		}
		delete(img.Props, root)
		return nil
	}
	return fmt.Errorf("unknown patch operation %q", op.op)
}

// isEmptyList reports whether v is a JSON empty array (or another falsy value).
func isEmptyList(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case []any:
		return len(x) == 0
	}
	return false
}

// setAttr sets one image attribute from a schema-checked value, with the domain model's
// own rules.
func setAttr(img *image, name string, v any) error {
	optStr := func() *string {
		if v == nil {
			return nil
		}
		return ptr(v.(string))
	}
	switch name {
	case "name":
		img.Name = optStr()
	case "owner":
		img.Owner = optStr()
	case "visibility":
		img.Visibility = v.(string)
	case "protected":
		img.Protected = v.(bool)
	case "os_hidden":
		img.Hidden = v.(bool)
	case "min_disk", "min_ram":
		n, _ := jsonInt(v)
		if n < 0 {
			return errorf(http.StatusBadRequest, "Invalid value '%d' for parameter '%s': Cannot be a negative value", n, name)
		}
		if name == "min_disk" {
			img.MinDisk = n
		} else {
			img.MinRAM = n
		}
	case "disk_format", "container_format":
		if img.Status != statusQueued && img.Status != statusImporting {
			return errorf(http.StatusForbidden, "Attribute %s can be only replaced for a queued image.", name)
		}
		if name == "disk_format" {
			img.DiskFormat = optStr()
		} else {
			img.ContainerFormat = optStr()
		}
	case "tags":
		list, _ := v.([]any)
		img.Tags = tagSet(list)
	default:
		// image_id, member and extra_properties are attributes of Glance's domain object
		// that a patch may name but that are not saved.
	}
	return nil
}
