package compute

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"

	"github.com/gostack/gostack/internal/api"
)

// This file is Nova's volume proxy APIs up to 2.35 (volumes.py and snapshots.py):
// /os-volumes and /os-snapshots answered from the volume service in process, as the
// caller, in Nova's camelCase shapes.

// regexpDigits is the size pattern of os-volumes' schema.
var regexpDigits = regexp.MustCompile(`^[0-9]+$`)

// volumeProxyPolicies are nova/policies/volumes.py.
func volumeProxyPolicies() map[string]string {
	return map[string]string{
		"os_compute_api:os-volumes:list":             ruleReaderOrAdmin,
		"os_compute_api:os-volumes:detail":           ruleReaderOrAdmin,
		"os_compute_api:os-volumes:show":             ruleReaderOrAdmin,
		"os_compute_api:os-volumes:create":           ruleMemberOrAdmin,
		"os_compute_api:os-volumes:delete":           ruleMemberOrAdmin,
		"os_compute_api:os-volumes:snapshots:list":   ruleReaderOrAdmin,
		"os_compute_api:os-volumes:snapshots:detail": ruleReaderOrAdmin,
		"os_compute_api:os-volumes:snapshots:show":   ruleReaderOrAdmin,
		"os_compute_api:os-volumes:snapshots:create": ruleMemberOrAdmin,
		"os_compute_api:os-volumes:snapshots:delete": ruleMemberOrAdmin,
	}
}

// volumeProxyRoutes are /os-volumes and /os-snapshots.
func (s *Service) volumeProxyRoutes() []route {
	return []route{
		{method: "GET", path: "/v2.1/os-volumes", rule: "os_compute_api:os-volumes:list", maxVer: v(35), handle: s.listVolumesProxy("volumes")},
		{method: "GET", path: "/v2.1/os-volumes/detail", rule: "os_compute_api:os-volumes:detail", maxVer: v(35), handle: s.listVolumesProxy("volumes")},
		{method: "GET", path: "/v2.1/os-volumes/{id}", rule: "os_compute_api:os-volumes:show", maxVer: v(35), handle: s.showVolumeProxy("volumes")},
		{method: "POST", path: "/v2.1/os-volumes", rule: "os_compute_api:os-volumes:create", maxVer: v(35), handle: s.createVolumeProxy},
		{method: "DELETE", path: "/v2.1/os-volumes/{id}", rule: "os_compute_api:os-volumes:delete", maxVer: v(35), handle: s.deleteVolumeProxy("volumes")},
		{method: "GET", path: "/v2.1/os-snapshots", rule: "os_compute_api:os-volumes:snapshots:list", maxVer: v(35), handle: s.listVolumesProxy("snapshots")},
		{method: "GET", path: "/v2.1/os-snapshots/detail", rule: "os_compute_api:os-volumes:snapshots:detail", maxVer: v(35), handle: s.listVolumesProxy("snapshots")},
		{method: "GET", path: "/v2.1/os-snapshots/{id}", rule: "os_compute_api:os-volumes:snapshots:show", maxVer: v(35), handle: s.showVolumeProxy("snapshots")},
		{method: "POST", path: "/v2.1/os-snapshots", rule: "os_compute_api:os-volumes:snapshots:create", maxVer: v(35), handle: s.createSnapshotProxy},
		{method: "DELETE", path: "/v2.1/os-snapshots/{id}", rule: "os_compute_api:os-volumes:snapshots:delete", maxVer: v(35), handle: s.deleteVolumeProxy("snapshots")},
	}
}

// novaVolumeView is Nova's _translate_volume_summary_view of a Cinder volume.
func novaVolumeView(v map[string]any) map[string]any {
	d := map[string]any{"id": v["id"], "status": v["status"], "size": v["size"],
		"availabilityZone": v["availability_zone"], "createdAt": v["created_at"],
		"displayName": v["name"], "displayDescription": v["description"], "volumeType": v["volume_type"],
		"snapshotId": v["snapshot_id"], "metadata": map[string]any{}, "attachments": []any{map[string]any{}}}
	if m, ok := v["metadata"].(map[string]any); ok && len(m) > 0 {
		d["metadata"] = m
	}
	if atts, ok := v["attachments"].([]any); ok && len(atts) > 0 {
		if a, ok := atts[0].(map[string]any); ok {
			e := map[string]any{"id": v["id"], "volumeId": v["id"], "serverId": a["server_id"]}
			if dev, ok := a["device"].(string); ok && dev != "" {
				e["device"] = dev
			}
			d["attachments"] = []any{e}
		}
	}
	return d
}

// novaSnapshotView is Nova's _translate_snapshot_summary_view.
func novaSnapshotView(v map[string]any) map[string]any {
	return map[string]any{"id": v["id"], "volumeId": v["volume_id"], "status": v["status"], "size": v["size"],
		"createdAt": v["created_at"], "displayName": v["name"], "displayDescription": v["description"]}
}

// proxyView picks the view of a collection ("volumes" or "snapshots").
func proxyView(kind string, v map[string]any) map[string]any {
	if kind == "snapshots" {
		return novaSnapshotView(v)
	}
	return novaVolumeView(v)
}

// proxyNotFound is the 404 of a missing volume or snapshot.
func proxyNotFound(kind, id string) error {
	if kind == "snapshots" {
		return notFound("Snapshot %s could not be found.", id)
	}
	return notFound("Volume %s could not be found.", id)
}

// listVolumesProxy is GET /os-volumes(/detail) and /os-snapshots(/detail).
func (s *Service) listVolumesProxy(kind string) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		q := r.URL.Query()
		if err := securityGroupsQuery.validate(q); err != nil {
			return err
		}
		if err := s.authorize(c, c.rule, nil); err != nil {
			return err
		}
		out := []any{}
		if s.volumeAPI != nil {
			var body map[string][]map[string]any
			if _, err := s.cinder(r.Context(), c.caller, "GET", "/"+kind+"/detail", nil, &body); err != nil {
				return err
			}
			list := body[kind]
			offset, limit := 0, s.cfg.ListLimitMax
			if v, ok := queryLast(q, "offset"); ok {
				offset, _ = strconv.Atoi(v)
			}
			if v, ok := queryLast(q, "limit"); ok {
				if n, _ := strconv.Atoi(v); n > 0 && n < limit {
					limit = n
				}
			}
			offset = min(offset, len(list))
			for _, v := range list[offset:min(len(list), offset+limit)] {
				out = append(out, proxyView(kind, v))
			}
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{kind: out})
		return nil
	}
}

// showVolumeProxy is GET /os-volumes/{id} and /os-snapshots/{id}.
func (s *Service) showVolumeProxy(kind string) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		if err := s.authorize(c, c.rule, nil); err != nil {
			return err
		}
		id := r.PathValue("id")
		if s.volumeAPI == nil {
			return proxyNotFound(kind, id)
		}
		var body map[string]map[string]any
		code, err := s.cinder(r.Context(), c.caller, "GET", "/"+kind+"/"+url.PathEscape(id), nil, &body)
		if code == http.StatusNotFound {
			return proxyNotFound(kind, id)
		}
		if err != nil {
			return err
		}
		one := kind[:len(kind)-1]
		api.WriteJSON(w, http.StatusOK, map[string]any{one: proxyView(kind, body[one])})
		return nil
	}
}

// deleteVolumeProxy is DELETE /os-volumes/{id} and /os-snapshots/{id}.
func (s *Service) deleteVolumeProxy(kind string) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		if err := s.authorize(c, c.rule, nil); err != nil {
			return err
		}
		id := r.PathValue("id")
		if s.volumeAPI == nil {
			return proxyNotFound(kind, id)
		}
		code, err := s.cinder(r.Context(), c.caller, "DELETE", "/"+kind+"/"+url.PathEscape(id), nil, nil)
		switch {
		case code == http.StatusNotFound:
			return proxyNotFound(kind, id)
		case code == http.StatusBadRequest || code == http.StatusConflict:
			return badRequest("%s", cinderMessage(err))
		case err != nil:
			return err
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
}

// createVolumeProxy is POST /os-volumes.
func (s *Service) createVolumeProxy(w http.ResponseWriter, r *http.Request, c *call) error {
	top, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	if err := onlyKeys(top, "", "volume"); err != nil {
		return err
	}
	body, err := requiredObject(top, "volume")
	if err != nil {
		return err
	}
	if err := onlyKeys(body, "volume", "volume_type", "metadata", "snapshot_id", "size", "availability_zone",
		"display_name", "display_description"); err != nil {
		return err
	}
	raw, ok := body["size"]
	if !ok {
		return badRequest("Invalid input for field/attribute volume. Value: %s. 'size' is a required property", pyReprAny(map[string]any(body)))
	}
	size, ok := anyInt(raw)
	if _, isStr := raw.(string); !ok || size < 1 || (isStr && !regexpDigits.MatchString(raw.(string))) {
		return invalidInput("size", raw, fmt.Sprintf("%s is not valid under any of the given schemas", pyReprAny(raw)))
	}
	for _, k := range []string{"volume_type", "snapshot_id", "availability_zone", "display_name", "display_description"} {
		if v, ok := body[k]; ok {
			if _, ok := v.(string); !ok {
				return invalidInput(k, v, fmt.Sprintf("%s is not of type 'string'", pyReprAny(v)))
			}
		}
	}
	if v, ok := body["metadata"]; ok {
		if _, ok := v.(map[string]any); !ok {
			return invalidInput("metadata", v, fmt.Sprintf("%s is not of type 'object'", pyReprAny(v)))
		}
	}
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	if s.volumeAPI == nil {
		return badRequest("The volume service is not available.")
	}
	vol := map[string]any{"size": size}
	for from, to := range map[string]string{"volume_type": "volume_type", "metadata": "metadata", "snapshot_id": "snapshot_id",
		"availability_zone": "availability_zone", "display_name": "name", "display_description": "description"} {
		if v, ok := body[from]; ok {
			vol[to] = v
		}
	}
	if sid, ok := body["snapshot_id"].(string); ok {
		found, err := s.snapshotExists(r.Context(), c.caller, sid)
		if err != nil {
			return err
		}
		if !found {
			return notFound("Snapshot %s could not be found.", sid)
		}
	}
	var out map[string]map[string]any
	code, err := s.cinder(r.Context(), c.caller, "POST", "/volumes", map[string]any{"volume": vol}, &out)
	switch {
	case code == http.StatusRequestEntityTooLarge || code == http.StatusForbidden:
		return forbidden("%s", cinderMessage(err))
	case code >= 400 && code < 500:
		return badRequest("%s", cinderMessage(err))
	case err != nil:
		return err
	}
	view := novaVolumeView(out["volume"])
	w.Header().Set("Location", api.BaseURL(r)+r.URL.Path+"/"+fmt.Sprint(view["id"]))
	api.WriteJSON(w, http.StatusOK, map[string]any{"volume": view})
	return nil
}

// createSnapshotProxy is POST /os-snapshots.
func (s *Service) createSnapshotProxy(w http.ResponseWriter, r *http.Request, c *call) error {
	top, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	if err := onlyKeys(top, "", "snapshot"); err != nil {
		return err
	}
	body, err := requiredObject(top, "snapshot")
	if err != nil {
		return err
	}
	if err := onlyKeys(body, "snapshot", "volume_id", "force", "display_name", "display_description"); err != nil {
		return err
	}
	vid, ok := body["volume_id"].(string)
	if !ok {
		return badRequest("Invalid input for field/attribute snapshot. Value: %s. 'volume_id' is a required property", pyReprAny(map[string]any(body)))
	}
	force := false
	if v, ok := body["force"]; ok {
		if force, err = parseBoolParam("force", v); err != nil {
			return err
		}
	}
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	if s.volumeAPI == nil {
		return badRequest("The volume service is not available.")
	}
	snap := map[string]any{"volume_id": vid, "force": force}
	if v, ok := body["display_name"]; ok {
		snap["name"] = v
	}
	if v, ok := body["display_description"]; ok {
		snap["description"] = v
	}
	var out map[string]map[string]any
	code, err := s.cinder(r.Context(), c.caller, "POST", "/snapshots", map[string]any{"snapshot": snap}, &out)
	switch {
	case code == http.StatusRequestEntityTooLarge || code == http.StatusForbidden:
		return forbidden("%s", cinderMessage(err))
	case code >= 400 && code < 500:
		return badRequest("%s", cinderMessage(err))
	case err != nil:
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"snapshot": novaSnapshotView(out["snapshot"])})
	return nil
}
