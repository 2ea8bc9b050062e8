package compute

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gostack/gostack/internal/api"
)

// The compute API's images proxy (GET /images, /images/{id}/metadata; deprecated and gone
// from microversion 2.36) answers from the image service, as Nova's calls Glance: each
// request is made in process against the image API's HTTP handler as the caller
// (api.Call), so Glance's visibility, policy and limits apply unchanged, and the answer is
// translated into Nova's image view.

// SetImageAPI gives compute the image service's HTTP handler and its mount prefix
// ("/image"); without it the images proxy answers 404.
func (s *Service) SetImageAPI(h http.Handler, prefix string) {
	s.imageAPI, s.imagePrefix = h, prefix
}

// imageRoutes are the images proxy routes (until 2.35).
func (s *Service) imageRoutes() []route {
	return []route{
		{method: "GET", path: "/v2.1/images", maxVer: v(35), handle: s.listImagesProxy(false)},
		{method: "GET", path: "/v2.1/images/detail", maxVer: v(35), handle: s.listImagesProxy(true)},
		{method: "GET", path: "/v2.1/images/{image_id}", maxVer: v(35), handle: s.showImageProxy},
		{method: "DELETE", path: "/v2.1/images/{image_id}", maxVer: v(35), handle: s.deleteImageProxy},
		{method: "GET", path: "/v2.1/images/{image_id}/metadata", maxVer: v(35), handle: s.imageMetadataList},
		{method: "POST", path: "/v2.1/images/{image_id}/metadata", maxVer: v(35), handle: s.imageMetadataUpdate(false)},
		{method: "PUT", path: "/v2.1/images/{image_id}/metadata", maxVer: v(35), handle: s.imageMetadataUpdate(true)},
		{method: "GET", path: "/v2.1/images/{image_id}/metadata/{key}", maxVer: v(35), handle: s.imageMetadataShow},
		{method: "PUT", path: "/v2.1/images/{image_id}/metadata/{key}", maxVer: v(35), handle: s.imageMetadataPutKey},
		{method: "DELETE", path: "/v2.1/images/{image_id}/metadata/{key}", maxVer: v(35), handle: s.imageMetadataDeleteKey},
	}
}

// glanceBaseKeys are the keys of a Glance v2 image that are not custom properties.
var glanceBaseKeys = map[string]bool{"id": true, "name": true, "status": true, "visibility": true,
	"protected": true, "checksum": true, "os_hash_algo": true, "os_hash_value": true, "owner": true,
	"size": true, "virtual_size": true, "min_ram": true, "min_disk": true, "disk_format": true,
	"container_format": true, "created_at": true, "updated_at": true, "tags": true, "self": true,
	"file": true, "schema": true, "direct_url": true, "locations": true, "os_hidden": true, "stores": true}

// glanceCall makes one request to the image API as the caller (a trusted in-process
// call, so it works for background work without a token too) and decodes a JSON answer
// into out (nil: ignore the body). It returns the status; error statuses are not errors.
func (s *Service) glanceCall(r *http.Request, c *call, method, path, contentType string, body any, out any) (int, error) {
	if s.imageAPI == nil {
		return 0, notFound("The resource could not be found.")
	}
	code, err := api.Call(r.Context(), s.imageAPI, c.caller, api.CallRequest{Method: method,
		Path: s.imagePrefix + path, ContentType: contentType, Body: body, Host: r.Host}, out)
	var ce *api.CallError
	if errors.As(err, &ce) {
		return code, nil
	}
	if err != nil {
		return code, fmt.Errorf("image API: %w", err)
	}
	return code, nil
}

// glanceImage fetches one image as the caller sees it; 404 as Nova words it.
func (s *Service) glanceImage(r *http.Request, c *call, id string) (map[string]any, error) {
	var img map[string]any
	code, err := s.glanceCall(r, c, "GET", "/v2/images/"+url.PathEscape(id), "", nil, &img)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, notFound("Image not found.")
	}
	return img, nil
}

// imageProperties are an image's custom properties as Nova's metadata (strings).
func imageProperties(img map[string]any) map[string]any {
	meta := map[string]any{}
	for k, v := range img {
		if glanceBaseKeys[k] || v == nil {
			continue
		}
		meta[k] = v
	}
	return meta
}

// novaImageStatus maps Glance's status to Nova's (nova/api/openstack/compute/views/images.py).
func novaImageStatus(glance string) (status string, progress int) {
	switch glance {
	case "active":
		return "ACTIVE", 100
	case "queued", "uploading", "importing":
		return "SAVING", 25
	case "saving":
		return "SAVING", 50
	case "deleted", "pending_delete":
		return "DELETED", 0
	case "killed":
		return "ERROR", 0
	}
	return "UNKNOWN", 0
}

// glanceTime reformats Glance's timestamp as Nova's ("2026-01-02T03:04:05Z").
func glanceTime(v any) string {
	s, _ := v.(string)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return isoTime(t)
	}
	return s
}

// intOf reads a JSON number.
func intOf(v any) int64 {
	if f, ok := v.(float64); ok {
		return int64(f)
	}
	return 0
}

// glanceImageView is Nova's detailed image view of a Glance image.
func (s *Service) glanceImageView(r *http.Request, img map[string]any) map[string]any {
	id, _ := img["id"].(string)
	status, progress := novaImageStatus(fmt.Sprint(img["status"]))
	meta := imageProperties(img)
	v := map[string]any{
		"id": id, "name": img["name"], "status": status, "progress": progress,
		"minRam": intOf(img["min_ram"]), "minDisk": intOf(img["min_disk"]), "metadata": meta,
		"created": glanceTime(img["created_at"]), "updated": glanceTime(img["updated_at"]),
		"links":                s.imageLinks(r, id),
		"OS-EXT-IMG-SIZE:size": img["size"],
	}
	if uuid, ok := meta["instance_uuid"].(string); ok && uuid != "" {
		v["server"] = map[string]any{"id": uuid, "links": s.serverLinks(r, uuid)}
	}
	if adc, ok := meta["auto_disk_config"].(string); ok {
		if b, _ := strictBool(adc); b {
			v["OS-DCF:diskConfig"] = "AUTO"
		} else {
			v["OS-DCF:diskConfig"] = "MANUAL"
		}
	}
	return v
}

// imageLinks are an image's self, bookmark and alternate (Glance) links.
func (s *Service) imageLinks(r *http.Request, id string) []map[string]string {
	base := api.BaseURL(r)
	return []map[string]string{
		{"rel": "self", "href": base + s.cfg.Prefix + "/v2.1/images/" + id},
		{"rel": "bookmark", "href": base + s.cfg.Prefix + "/images/" + id},
		{"rel": "alternate", "type": "application/vnd.openstack.image", "href": base + s.imagePrefix + "/images/" + id},
	}
}

// listImagesProxy is GET /images and /images/detail with Nova's filters (name, status,
// changes-since, server, type, minRam, minDisk) and limit/marker paging.
func (s *Service) listImagesProxy(detail bool) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		q := r.URL.Query()
		var all []map[string]any
		next := "/v2/images?limit=1000"
		for next != "" {
			var page struct {
				Images []map[string]any `json:"images"`
				Next   string           `json:"next"`
			}
			code, err := s.glanceCall(r, c, "GET", next, "", nil, &page)
			if err != nil {
				return err
			}
			if code != http.StatusOK {
				return badRequest("Invalid image list request.")
			}
			all = append(all, page.Images...)
			next = strings.TrimPrefix(page.Next, s.imagePrefix)
		}
		var minRAM, minDisk int64
		for _, p := range []struct {
			key string
			dst *int64
		}{{"minRam", &minRAM}, {"minDisk", &minDisk}} {
			if v := q.Get(p.key); v != "" {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return badRequest("Invalid %s filter [%s]", p.key, v)
				}
				*p.dst = n
			}
		}
		var since time.Time
		if v := q.Get("changes-since"); v != "" {
			t, ok := parseISO(v)
			if !ok {
				return badRequest("Invalid changes-since value")
			}
			since = t
		}
		// The server filter may be the server's link: Nova keeps what follows the last "/".
		server := q.Get("server")
		if i := strings.LastIndexByte(server, '/'); i >= 0 {
			server = server[i+1:]
		}
		var out []map[string]any
		for _, img := range all {
			meta := imageProperties(img)
			status, _ := novaImageStatus(fmt.Sprint(img["status"]))
			switch {
			case q.Has("name") && fmt.Sprint(img["name"]) != q.Get("name"),
				q.Has("status") && !strings.EqualFold(status, q.Get("status")),
				q.Has("server") && fmt.Sprint(meta["instance_uuid"]) != server,
				q.Has("type") && fmt.Sprint(meta["image_type"]) != q.Get("type"),
				intOf(img["min_ram"]) < minRAM, intOf(img["min_disk"]) < minDisk:
				continue
			}
			if !since.IsZero() {
				if t, err := time.Parse(time.RFC3339, fmt.Sprint(img["updated_at"])); err == nil && t.Before(since) {
					continue
				}
			}
			out = append(out, img)
		}
		if m := q.Get("marker"); m != "" {
			i := slices.IndexFunc(out, func(img map[string]any) bool { return img["id"] == m })
			if i < 0 {
				return badRequest("marker [%s] not found", m)
			}
			out = out[i+1:]
		}
		limit := len(out)
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return badRequest("limit param must be an integer")
			}
			limit = n
		}
		more := limit < len(out)
		if more {
			out = out[:limit]
		}
		views := make([]map[string]any, 0, len(out))
		for _, img := range out {
			v := s.glanceImageView(r, img)
			if !detail {
				v = map[string]any{"id": v["id"], "name": v["name"], "links": v["links"]}
			}
			views = append(views, v)
		}
		body := map[string]any{"images": views}
		if more && len(out) > 0 {
			last, _ := out[len(out)-1]["id"].(string)
			body["images_links"] = []map[string]string{{"rel": "next", "href": api.NextURL(r, last)}}
		}
		api.WriteJSON(w, http.StatusOK, body)
		return nil
	}
}

// showImageProxy is GET /images/{image_id}.
func (s *Service) showImageProxy(w http.ResponseWriter, r *http.Request, c *call) error {
	img, err := s.glanceImage(r, c, r.PathValue("image_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"image": s.glanceImageView(r, img)})
	return nil
}

// deleteImageProxy is DELETE /images/{image_id}.
func (s *Service) deleteImageProxy(w http.ResponseWriter, r *http.Request, c *call) error {
	code, err := s.glanceCall(r, c, "DELETE", "/v2/images/"+url.PathEscape(r.PathValue("image_id")), "", nil, nil)
	if err != nil {
		return err
	}
	switch code {
	case http.StatusNoContent, http.StatusOK:
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.StatusForbidden:
		return forbidden("You are not allowed to delete the image.")
	case http.StatusConflict:
		return conflict("Image %s is in use or protected.", r.PathValue("image_id"))
	}
	return notFound("Image not found.")
}

// imageMetadataList is GET /images/{image_id}/metadata.
func (s *Service) imageMetadataList(w http.ResponseWriter, r *http.Request, c *call) error {
	img, err := s.glanceImage(r, c, r.PathValue("image_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"metadata": imageProperties(img)})
	return nil
}

// imageMetadataShow is GET /images/{image_id}/metadata/{key}.
func (s *Service) imageMetadataShow(w http.ResponseWriter, r *http.Request, c *call) error {
	img, err := s.glanceImage(r, c, r.PathValue("image_id"))
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	v, ok := imageProperties(img)[key]
	if !ok {
		return notFound("Image %s has no metadata with key %s.", r.PathValue("image_id"), key)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"meta": map[string]any{key: v}})
	return nil
}

// decodeMetadataBody reads {"<key>": {"k": "v", ...}} with string keys (1–255 characters)
// and string values (at most 255).
func decodeMetadataBody(r *http.Request, key string) (map[string]string, error) {
	o, err := api.DecodeObject(r, key)
	if err != nil {
		return nil, badRequest("Malformed request body")
	}
	out := map[string]string{}
	for k, v := range o {
		sv, ok := v.(string)
		if !ok || len(k) < 1 || len(k) > 255 || len(sv) > 255 {
			return nil, badRequest("Invalid metadata: %s", k)
		}
		out[k] = sv
	}
	return out, nil
}

// imageMetadataUpdate is POST (merge) and PUT (replace) /images/{image_id}/metadata.
func (s *Service) imageMetadataUpdate(replace bool) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		meta, err := decodeMetadataBody(r, "metadata")
		if err != nil {
			return err
		}
		props, err := s.patchImageProperties(r, c, r.PathValue("image_id"), meta, nil, replace)
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"metadata": props})
		return nil
	}
}

// imageMetadataPutKey is PUT /images/{image_id}/metadata/{key}.
func (s *Service) imageMetadataPutKey(w http.ResponseWriter, r *http.Request, c *call) error {
	meta, err := decodeMetadataBody(r, "meta")
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	if _, ok := meta[key]; !ok || len(meta) != 1 {
		return badRequest("Request body and URI mismatch")
	}
	if _, err := s.patchImageProperties(r, c, r.PathValue("image_id"), meta, nil, false); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"meta": map[string]any{key: meta[key]}})
	return nil
}

// imageMetadataDeleteKey is DELETE /images/{image_id}/metadata/{key}.
func (s *Service) imageMetadataDeleteKey(w http.ResponseWriter, r *http.Request, c *call) error {
	img, err := s.glanceImage(r, c, r.PathValue("image_id"))
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	if _, ok := imageProperties(img)[key]; !ok {
		return notFound("Image %s has no metadata with key %s.", r.PathValue("image_id"), key)
	}
	if _, err := s.patchImageProperties(r, c, r.PathValue("image_id"), nil, []string{key}, false); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// patchImageProperties sets (and, with replace, drops every other) custom property and
// removes the keys in drop, through one JSON-patch request, and returns the properties
// the image then has.
func (s *Service) patchImageProperties(r *http.Request, c *call, id string, set map[string]string, drop []string, replace bool) (map[string]any, error) {
	img, err := s.glanceImage(r, c, id)
	if err != nil {
		return nil, err
	}
	have := imageProperties(img)
	var ops []map[string]any
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		op := "add"
		if _, ok := have[k]; ok {
			op = "replace"
		}
		ops = append(ops, map[string]any{"op": op, "path": "/" + jsonPointerEscape(k), "value": set[k]})
	}
	for k := range have {
		_, keep := set[k]
		if (replace && !keep) || slices.Contains(drop, k) {
			ops = append(ops, map[string]any{"op": "remove", "path": "/" + jsonPointerEscape(k)})
		}
	}
	var out map[string]any
	code, err := s.glanceCall(r, c, "PATCH", "/v2/images/"+url.PathEscape(id),
		"application/openstack-images-v2.1-json-patch", ops, &out)
	if err != nil {
		return nil, err
	}
	switch {
	case code == http.StatusOK:
		return imageProperties(out), nil
	case code == http.StatusRequestEntityTooLarge:
		return nil, forbidden("Image metadata limit exceeded")
	case code == http.StatusForbidden:
		return nil, forbidden("You are not allowed to update the image metadata.")
	case code == http.StatusNotFound:
		return nil, notFound("Image not found.")
	}
	return nil, badRequest("Invalid image metadata")
}

// jsonPointerEscape escapes a key for a JSON pointer (RFC 6901).
func jsonPointerEscape(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}
