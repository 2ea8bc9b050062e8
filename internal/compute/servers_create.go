package compute

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// createRequest is a validated POST /servers body (servers.py create and the create
// schemas of each microversion).
type createRequest struct {
	name        string
	description *string
	hostname    string
	imageRef    string
	flavorRef   string
	adminPass   string
	metadata    map[string]string
	// networks is "auto", "none", "" (not given) or "list" with netList.
	networks    string
	netList     []api.Object
	rawNetworks json.RawMessage
	diskConfig  string
	accessIPv4  string
	accessIPv6  string
	zone        string
	zoneGiven   bool
	forcedHost  string
	forcedNode  string
	reqHost     string
	reqNode     string
	bdms        []api.Object
	legacyBDMs  []api.Object
	// plan is the volume mappings the request makes (nil: none); firstUUID the uuid
	// the (single) server gets, known before its row so that volumes are reserved for it.
	plan         *bdmPlan
	firstUUID    string
	configDrive  bool
	keyName      *string
	minCount     int64
	maxCount     int64
	returnResv   bool
	secGroups    []string
	userData     *string
	tags         []string
	trustedCerts []string
	hints        map[string]any
}

// createServerKeys are the server properties of the create schema at a microversion.
func createServerKeys(c *call) []string {
	keys := []string{"name", "imageRef", "flavorRef", "adminPass", "metadata", "networks", "OS-DCF:diskConfig",
		"accessIPv4", "accessIPv6", "availability_zone", "block_device_mapping", "block_device_mapping_v2",
		"config_drive", "key_name", "min_count", "max_count", "return_reservation_id", "security_groups", "user_data"}
	if !c.at(57) {
		keys = append(keys, "personality")
	}
	if c.at(19) {
		keys = append(keys, "description")
	}
	if c.at(52) {
		keys = append(keys, "tags")
	}
	if c.at(63) {
		keys = append(keys, "trusted_image_certificates")
	}
	if c.at(74) {
		keys = append(keys, "host", "hypervisor_hostname")
	}
	if c.at(90) {
		keys = append(keys, "hostname")
	}
	return keys
}

// parseCreate validates a create body as Nova's schema for the microversion does.
func parseCreate(c *call, top api.Object) (*createRequest, error) {
	if err := onlyKeys(top, "", "server", "os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"); err != nil {
		return nil, err
	}
	srv, err := requiredObject(top, "server")
	if err != nil {
		return nil, err
	}
	if err := onlyKeys(srv, "server", createServerKeys(c)...); err != nil {
		return nil, err
	}
	required := []string{"name", "flavorRef"}
	if c.at(37) {
		required = append(required, "networks")
	}
	for _, k := range required {
		if !srv.Has(k) {
			return nil, invalidInput("server", "...", fmt.Sprintf("'%s' is a required property", k))
		}
	}
	req := &createRequest{minCount: 1, metadata: map[string]string{}}
	if req.name, err = serverNameField("name", srv["name"], false); err != nil {
		return nil, err
	}
	if v, ok := srv["imageRef"]; ok {
		s, err := asString("imageRef", v)
		if err != nil {
			return nil, err
		}
		if s != "" && !validUUID(s) {
			return nil, invalidInput("imageRef", v, fmt.Sprintf("%s is not a 'uuid'", pyReprAny(v)))
		}
		req.imageRef = s
	}
	switch fv := srv["flavorRef"].(type) {
	case string:
		if fv == "" {
			return nil, invalidInput("flavorRef", fv, "'' is too short")
		}
		req.flavorRef = idFromHref(fv)
	case json.Number:
		req.flavorRef = fv.String()
	default:
		return nil, invalidInput("flavorRef", fv, fmt.Sprintf("%s is not of type 'string', 'integer'", pyReprAny(fv)))
	}
	if v, ok := srv["adminPass"]; ok {
		if req.adminPass, err = asString("adminPass", v); err != nil {
			return nil, err
		}
	}
	if v, ok := srv["metadata"]; ok {
		if req.metadata, err = validMetadata("metadata", v); err != nil {
			return nil, err
		}
	}
	if v, ok := srv["networks"]; ok {
		if err := req.parseNetworks(c, v); err != nil {
			return nil, err
		}
	}
	if v, ok := srv["OS-DCF:diskConfig"]; ok {
		if req.diskConfig, err = validDiskConfig(v); err != nil {
			return nil, err
		}
	}
	if v, ok := srv["accessIPv4"]; ok {
		if req.accessIPv4, err = validIP("accessIPv4", v, 4); err != nil {
			return nil, err
		}
	}
	if v, ok := srv["accessIPv6"]; ok {
		if req.accessIPv6, err = validIP("accessIPv6", v, 6); err != nil {
			return nil, err
		}
	}
	if v, ok := srv["personality"]; ok {
		if err := validPersonality(v); err != nil {
			return nil, err
		}
	}
	if v, ok := srv["availability_zone"]; ok {
		if req.zone, err = serverNameField("availability_zone", v, false); err != nil {
			return nil, err
		}
		req.zoneGiven = true
	}
	for _, k := range []string{"block_device_mapping", "block_device_mapping_v2"} {
		v, ok := srv[k]
		if !ok {
			continue
		}
		list, err := validBDMList(c, k, v)
		if err != nil {
			return nil, err
		}
		if k == "block_device_mapping" {
			req.legacyBDMs = list
		} else {
			req.bdms = list
		}
	}
	if len(req.legacyBDMs) > 0 && len(req.bdms) > 0 {
		return nil, badRequest("Using different block_device_mapping syntaxes is not allowed in the same request.")
	}
	if v, ok := srv["config_drive"]; ok {
		if req.configDrive, err = validBool("config_drive", v); err != nil {
			return nil, err
		}
	}
	if v, ok := srv["key_name"]; ok {
		k, err := serverNameField("key_name", v, false)
		if err != nil {
			return nil, err
		}
		req.keyName = &k
	}
	if v, ok := srv["min_count"]; ok {
		if req.minCount, err = validPositiveInt("min_count", v); err != nil {
			return nil, err
		}
	}
	req.maxCount = req.minCount
	if v, ok := srv["max_count"]; ok {
		if req.maxCount, err = validPositiveInt("max_count", v); err != nil {
			return nil, err
		}
	}
	if req.minCount > req.maxCount {
		return nil, badRequest("min_count must be <= max_count")
	}
	if v, ok := srv["return_reservation_id"]; ok {
		if req.returnResv, err = validBool("return_reservation_id", v); err != nil {
			return nil, err
		}
	}
	if v, ok := srv["security_groups"]; ok {
		if req.secGroups, err = validSecurityGroups(v); err != nil {
			return nil, err
		}
	}
	if v, ok := srv["user_data"]; ok {
		s, err := asString("user_data", v)
		if err != nil {
			return nil, err
		}
		if len(s) > 65535 {
			return nil, invalidInput("user_data", "...", "is too long")
		}
		if !validBase64(s) {
			return nil, invalidInput("user_data", v, fmt.Sprintf("%s is not a 'base64'", pyReprAny(v)))
		}
		req.userData = &s
	}
	if v, ok := srv["description"]; ok {
		if req.description, err = serverDescriptionField("description", v); err != nil {
			return nil, err
		}
	} else if !c.at(19) {
		// Before 2.19 the description is the name.
		n := req.name
		req.description = &n
	}
	if v, ok := srv["tags"]; ok {
		list, ok := v.([]any)
		if !ok {
			return nil, invalidInput("tags", v, fmt.Sprintf("%s is not of type 'array'", pyReprAny(v)))
		}
		if len(list) > 50 {
			return nil, invalidInput("tags", "...", "is too long")
		}
		for _, t := range list {
			tag, err := validTag("tags", t)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(req.tags, tag) {
				req.tags = append(req.tags, tag)
			}
		}
	}
	if v, ok := srv["trusted_image_certificates"]; ok && v != nil {
		if req.trustedCerts, err = validTrustedCerts(v); err != nil {
			return nil, err
		}
	}
	for _, k := range []string{"host", "hypervisor_hostname"} {
		v, ok := srv[k]
		if !ok {
			continue
		}
		h, err := validHostname(k, v, true)
		if err != nil {
			return nil, err
		}
		if k == "host" {
			req.reqHost = h
		} else {
			req.reqNode = h
		}
	}
	if v, ok := srv["hostname"]; ok {
		if req.hostname, err = validHostname("hostname", v, c.at(94)); err != nil {
			return nil, err
		}
	}
	for _, k := range []string{"os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"} {
		v, ok := top[k]
		if !ok {
			continue
		}
		hints, err := validHints(k, v)
		if err != nil {
			return nil, err
		}
		if req.hints == nil {
			req.hints = hints
		}
	}
	if req.zoneGiven {
		if err := req.parseZone(); err != nil {
			return nil, err
		}
	}
	return req, nil
}

// parseNetworks validates "networks" (a list, or "auto"/"none" from 2.37).
func (req *createRequest) parseNetworks(c *call, v any) error {
	if s, ok := v.(string); ok && c.at(37) {
		if s != "auto" && s != "none" {
			return invalidInput("networks", v, fmt.Sprintf("%s is not valid under any of the given schemas", pyReprAny(v)))
		}
		req.networks = s
		req.rawNetworks, _ = json.Marshal(s)
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		return invalidInput("networks", v, fmt.Sprintf("%s is not of type 'array'", pyReprAny(v)))
	}
	allowed := []string{"fixed_ip", "port", "uuid"}
	if c.ver.Minor == 32 || (c.at(33) && !c.at(37)) || c.at(42) {
		allowed = append(allowed, "tag")
	}
	ports := map[string]bool{}
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return invalidInput("networks", e, fmt.Sprintf("%s is not of type 'object'", pyReprAny(e)))
		}
		o := api.Object(m)
		if err := onlyKeys(o, "networks", allowed...); err != nil {
			return err
		}
		if fv, ok := o["fixed_ip"]; ok {
			s, ok := fv.(string)
			if _, err := netip.ParseAddr(s); !ok || err != nil {
				return invalidInput("fixed_ip", fv, fmt.Sprintf("%s is not a 'ip-address'", pyReprAny(fv)))
			}
		}
		port := ""
		if pv, ok := o["port"]; ok && pv != nil {
			s, ok := pv.(string)
			if !ok || !validUUID(s) {
				return invalidInput("port", pv, fmt.Sprintf("%s is not a 'uuid'", pyReprAny(pv)))
			}
			port = s
		}
		if uv, ok := o["uuid"]; ok {
			s, ok := uv.(string)
			if !ok {
				return invalidInput("uuid", uv, fmt.Sprintf("%s is not of type 'string'", pyReprAny(uv)))
			}
			if c.at(37) && !validUUID(s) {
				return invalidInput("uuid", uv, fmt.Sprintf("%s is not a 'uuid'", pyReprAny(uv)))
			}
		}
		if tv, ok := o["tag"]; ok {
			if _, err := validTag("tag", tv); err != nil {
				return err
			}
		}
		if port != "" {
			if ports[port] {
				return badRequest("Port ID '%s' was specified twice: you cannot attach a port multiple times.", port)
			}
			if fv, ok := o["fixed_ip"]; ok && fv != nil {
				return badRequest("Specified Fixed IP '%v' cannot be used with port '%s': the two cannot be specified together.", fv, port)
			}
			ports[port] = true
		} else {
			uv, ok := o["uuid"]
			if !ok {
				return badRequest("Bad network format: missing 'uuid'")
			}
			if s, _ := uv.(string); !validUUID(s) {
				return badRequest("Bad networks format: network uuid is not in proper format (%s)", s)
			}
		}
		req.netList = append(req.netList, o)
	}
	req.networks = "list"
	req.rawNetworks, _ = json.Marshal(list)
	return nil
}

// parseZone is compute API's parse_availability_zone: "zone", "zone:host",
// "zone::node" or "zone:host:node".
func (req *createRequest) parseZone() error {
	az := req.zone
	if !strings.Contains(az, ":") {
		return nil
	}
	switch strings.Count(az, ":") {
	case 1:
		i := strings.IndexByte(az, ':')
		req.zone, req.forcedHost = az[:i], az[i+1:]
	case 2:
		if strings.Contains(az, "::") {
			i := strings.Index(az, "::")
			req.zone, req.forcedNode = az[:i], az[i+2:]
		} else {
			parts := strings.SplitN(az, ":", 3)
			req.zone, req.forcedHost, req.forcedNode = parts[0], parts[1], parts[2]
		}
	default:
		return badRequest("Unable to parse availability_zone")
	}
	return nil
}

// validPersonality checks the personality list (injected files, before 2.57).
func validPersonality(v any) error {
	list, ok := v.([]any)
	if !ok {
		return invalidInput("personality", v, fmt.Sprintf("%s is not of type 'array'", pyReprAny(v)))
	}
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return invalidInput("personality", e, fmt.Sprintf("%s is not of type 'object'", pyReprAny(e)))
		}
		if err := onlyKeys(api.Object(m), "personality", "path", "contents"); err != nil {
			return err
		}
		if p, ok := m["path"]; ok {
			if _, err := asString("path", p); err != nil {
				return err
			}
		}
		if ct, ok := m["contents"]; ok {
			s, err := asString("contents", ct)
			if err != nil {
				return err
			}
			if !validBase64(s) {
				return invalidInput("contents", ct, fmt.Sprintf("%s is not a 'base64'", pyReprAny(ct)))
			}
		}
	}
	return nil
}

// validSecurityGroups returns the distinct names of the security_groups list.
func validSecurityGroups(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, invalidInput("security_groups", v, fmt.Sprintf("%s is not of type 'array'", pyReprAny(v)))
	}
	var names []string
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, invalidInput("security_groups", e, fmt.Sprintf("%s is not of type 'object'", pyReprAny(e)))
		}
		if err := onlyKeys(api.Object(m), "security_groups", "name"); err != nil {
			return nil, err
		}
		nv, ok := m["name"]
		if !ok {
			continue
		}
		n, err := serverNameField("name", nv, false)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names, nil
}

// validTrustedCerts is parameter_types.trusted_certs.
func validTrustedCerts(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, invalidInput("trusted_image_certificates", v, fmt.Sprintf("%s is not of type 'array', 'null'", pyReprAny(v)))
	}
	if len(list) < 1 || len(list) > 50 {
		return nil, invalidInput("trusted_image_certificates", v, "must have 1 to 50 items")
	}
	var out []string
	for _, e := range list {
		s, ok := e.(string)
		if !ok || s == "" {
			return nil, invalidInput("trusted_image_certificates", e, fmt.Sprintf("%s is not a non-empty string", pyReprAny(e)))
		}
		if slices.Contains(out, s) {
			return nil, invalidInput("trusted_image_certificates", v, "has non-unique elements")
		}
		out = append(out, s)
	}
	return out, nil
}

var bdmDeviceRe = regexp.MustCompile(`^[a-zA-Z0-9._/-]*$`)
var bdmUUIDRe = regexp.MustCompile(`^[a-zA-Z0-9._-]*$`)

// validBDMList checks block_device_mapping(_v2) entries against the schema.
func validBDMList(c *call, field string, v any) ([]api.Object, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, invalidInput(field, v, fmt.Sprintf("%s is not of type 'array'", pyReprAny(v)))
	}
	keys := []string{"virtual_name", "volume_id", "snapshot_id", "volume_size", "device_name",
		"delete_on_termination", "no_device", "connection_info"}
	if field == "block_device_mapping_v2" {
		keys = append(keys, "source_type", "uuid", "image_id", "destination_type", "guest_format",
			"device_type", "disk_bus", "boot_index")
		if c.ver.Minor == 32 || c.at(42) {
			keys = append(keys, "tag")
		}
		if c.at(67) {
			keys = append(keys, "volume_type")
		}
	}
	var out []api.Object
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, invalidInput(field, e, fmt.Sprintf("%s is not of type 'object'", pyReprAny(e)))
		}
		o := api.Object(m)
		if err := onlyKeys(o, field, keys...); err != nil {
			return nil, err
		}
		for k, val := range o {
			var err error
			switch k {
			case "source_type":
				err = enumString(k, val, "volume", "image", "snapshot", "blank")
			case "destination_type":
				err = enumString(k, val, "local", "volume")
			case "uuid":
				s, ok := val.(string)
				if !ok || s == "" || len(s) > 255 || !bdmUUIDRe.MatchString(s) {
					err = invalidInput(k, val, fmt.Sprintf("%s is not a valid id", pyReprAny(val)))
				}
			case "volume_id", "snapshot_id", "image_id":
				s, ok := val.(string)
				if !ok || !validUUID(s) {
					err = invalidInput(k, val, fmt.Sprintf("%s is not a 'uuid'", pyReprAny(val)))
				}
			case "device_name":
				s, ok := val.(string)
				if !ok || s == "" || len(s) > 255 || !bdmDeviceRe.MatchString(s) {
					err = invalidInput(k, val, fmt.Sprintf("%s does not match '^[a-zA-Z0-9._/-]*$'", pyReprAny(val)))
				}
			case "delete_on_termination":
				_, err = validBool(k, val)
			case "volume_size":
				_, err = validPositiveInt(k, val)
			case "boot_index":
				switch x := val.(type) {
				case nil, json.Number:
					if n, ok := x.(json.Number); ok {
						if _, e := n.Int64(); e != nil {
							err = invalidInput(k, val, "is not an integer")
						}
					}
				case string:
					if !regexp.MustCompile(`^-?[0-9]+$`).MatchString(x) {
						err = invalidInput(k, val, fmt.Sprintf("%s does not match '^-?[0-9]+$'", pyReprAny(val)))
					}
				default:
					err = invalidInput(k, val, fmt.Sprintf("%s is not of type 'integer', 'string', 'null'", pyReprAny(val)))
				}
			case "tag":
				_, err = validTag(k, val)
			case "virtual_name", "guest_format", "device_type", "disk_bus", "volume_type", "connection_info":
				s, ok := val.(string)
				if !ok || len(s) > 255 && k != "connection_info" {
					err = invalidInput(k, val, fmt.Sprintf("%s is not a string of at most 255 characters", pyReprAny(val)))
				}
			}
			if err != nil {
				return nil, err
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// enumString checks a string enum.
func enumString(field string, v any, values ...string) error {
	s, ok := v.(string)
	if !ok || !slices.Contains(values, s) {
		return invalidInput(field, v, fmt.Sprintf("%s is not one of %s", pyReprAny(v), pyList(values)))
	}
	return nil
}

// validHints checks the scheduler hints (additional properties allowed).
func validHints(field string, v any) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, invalidInput(field, v, fmt.Sprintf("%s is not of type 'object'", pyReprAny(v)))
	}
	uuidOrList := func(k string, val any) error {
		switch x := val.(type) {
		case string:
			if !validUUID(x) {
				return invalidInput(k, val, fmt.Sprintf("%s is not a 'uuid'", pyReprAny(val)))
			}
		case []any:
			for _, e := range x {
				s, ok := e.(string)
				if !ok || !validUUID(s) {
					return invalidInput(k, e, fmt.Sprintf("%s is not a 'uuid'", pyReprAny(e)))
				}
			}
		default:
			return invalidInput(k, val, fmt.Sprintf("%s is not valid under any of the given schemas", pyReprAny(val)))
		}
		return nil
	}
	for _, k := range []string{"group", "different_host", "same_host"} {
		if val, ok := m[k]; ok {
			if err := uuidOrList(k, val); err != nil {
				return nil, err
			}
		}
	}
	if val, ok := m["query"]; ok {
		switch val.(type) {
		case string, map[string]any:
		default:
			return nil, invalidInput("query", val, fmt.Sprintf("%s is not of type 'string', 'object'", pyReprAny(val)))
		}
	}
	if val, ok := m["target_cell"]; ok {
		if _, err := serverNameField("target_cell", val, false); err != nil {
			return nil, err
		}
	}
	if val, ok := m["build_near_host_ip"]; ok {
		s, ok := val.(string)
		if _, err := netip.ParseAddr(s); !ok || err != nil {
			return nil, invalidInput("build_near_host_ip", val, fmt.Sprintf("%s is not a 'ip-address'", pyReprAny(val)))
		}
	}
	if val, ok := m["cidr"]; ok {
		s, ok := val.(string)
		if !ok || !regexp.MustCompile(`^/[0-9a-f.:]+$`).MatchString(s) {
			return nil, invalidInput("cidr", val, fmt.Sprintf("%s does not match '^/[0-9a-f.:]+$'", pyReprAny(val)))
		}
	}
	return m, nil
}

// hintList reads a hint that is a uuid or a list of them.
func hintList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// passwordChars are the characters of generated passwords (Nova's default symbol
// groups without look-alikes).
const passwordChars = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// generatePassword is Nova's utils.generate_password (length 12).
func generatePassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = passwordChars[int(b[i])%len(passwordChars)]
	}
	return string(b)
}

// reservationID is Nova's "r-" + 8 hex characters.
func reservationID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "r-" + hex.EncodeToString(b)
}

// sanitizeHostname is Nova's utils.sanitize_hostname.
func sanitizeHostname(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r <= 0xff {
			b.WriteRune(r)
		}
	}
	h := b.String()
	if utf8.RuneCountInString(h) > 63 {
		h = string([]rune(h)[:63])
	}
	h = regexp.MustCompile(`[ _.]`).ReplaceAllString(h, "-")
	h = regexp.MustCompile(`[^\w.-]+`).ReplaceAllStringFunc(h, func(s string) string {
		// Python's \w is Unicode-aware: Latin-1 letters stay.
		var keep strings.Builder
		for _, r := range s {
			if r > 0x7f && (r >= 0xc0 && r != 0xd7 && r != 0xf7 || r == 0xaa || r == 0xb5 || r == 0xba) {
				keep.WriteRune(r)
			}
		}
		return keep.String()
	})
	h = strings.ToLower(h)
	return strings.Trim(h, ".-")
}

// createServers is POST /servers.
func (s *Service) createServers(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	top, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	req, err := parseCreate(c, top)
	if err != nil {
		return err
	}
	target := map[string]any{"project_id": c.caller.ProjectID, "user_id": c.caller.UserID, "availability_zone": nil}
	if req.zoneGiven {
		target["availability_zone"] = req.zone
	}
	if err := s.authorize(c, c.rule, target); err != nil {
		return err
	}
	if len(req.trustedCerts) > 0 {
		if err := s.authorize(c, "os_compute_api:servers:create:trusted_certs", target); err != nil {
			return err
		}
	}
	if req.forcedHost != "" || req.forcedNode != "" {
		if err := s.authorize(c, "os_compute_api:servers:create:forced_host", target); err != nil {
			return err
		}
	}
	if req.reqHost != "" || req.reqNode != "" {
		if err := s.authorize(c, "compute:servers:create:requested_destination", target); err != nil {
			return err
		}
		if req.forcedHost != "" || req.forcedNode != "" {
			return badRequest("One mechanism with host and/or hypervisor_hostname and another mechanism with zone:host:node are mutually exclusive.")
		}
	}
	if len(req.bdms) > 0 || len(req.legacyBDMs) > 0 {
		if err := s.authorize(c, "os_compute_api:servers:create:attach_volume", target); err != nil {
			return err
		}
	}
	if req.networks == "list" && len(req.netList) > 0 {
		if err := s.authorize(c, "os_compute_api:servers:create:attach_network", target); err != nil {
			return err
		}
	}
	if req.hostname != "" && req.maxCount > 1 {
		return badRequest("Unable to allocate a single hostname to multiple instances")
	}

	// Lookups that need no transaction.
	fl, found, err := loadFlavor(ctx, s.db, req.flavorRef)
	if err != nil {
		return err
	}
	if found {
		ok, err := flavorAccessible(ctx, s.db, fl, c.caller.ProjectID, isAdmin(c))
		if err != nil {
			return err
		}
		found = ok && !fl.Disabled
	}
	if !found {
		return badRequest("Flavor %s could not be found.", req.flavorRef)
	}
	if err := s.imageBlockDevices(ctx, c, req); err != nil {
		return err
	}
	if len(req.bdms) > 0 || len(req.legacyBDMs) > 0 {
		if req.plan, err = s.planBlockDevices(ctx, c, req); err != nil {
			return err
		}
	} else if req.imageRef == "" {
		return badRequest("Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid.")
	}
	bootVolume := req.plan != nil && req.plan.bootVolume
	var img *ImageInfo
	lookup := req.imageRef
	if bootVolume && req.plan.bootImage != "" {
		lookup = req.plan.bootImage
	}
	if lookup != "" {
		if s.deps.Images == nil {
			return badRequest("Can not find requested image")
		}
		img, err = s.deps.Images.Image(ctx, c.caller, lookup)
		if errors.Is(err, ErrImageNotFound) {
			return badRequest("Can not find requested image")
		}
		if err != nil {
			return err
		}
		if img.Status != "active" {
			return badRequest("Image %s is not active.", img.ID)
		}
	}
	if req.keyName != nil {
		_, found, err := loadKeypair(ctx, s.db, c.caller.UserID, *req.keyName)
		if err != nil {
			return err
		}
		if !found {
			return badRequest("Invalid key_name provided.")
		}
	}
	if err := s.resolveNetworks(ctx, c, req); err != nil {
		return neutronProblem(err)
	}
	if img != nil && !bootVolume {
		if err := checkFlavorImage(fl, img); err != nil {
			return err
		}
	}
	if fl.RootGB == 0 && img != nil && !bootVolume {
		if err := s.authorize(c, "os_compute_api:servers:create:zero_disk_flavor", target); err != nil {
			return forbidden("Only volume-backed servers are allowed for flavors with zero disk.")
		}
	}
	if req.forcedHost != "" || req.forcedNode != "" || req.reqHost != "" || req.reqNode != "" {
		if err := s.checkHostExists(ctx, req); err != nil {
			return err
		}
	}
	if req.zone != "" && req.forcedHost == "" {
		ok, err := s.zoneAvailable(ctx, req.zone)
		if err != nil {
			return err
		}
		if !ok {
			return badRequest("The requested availability zone is not available")
		}
	}

	var group string
	if g, ok := req.hints["group"]; ok {
		if l := hintList(g); len(l) > 0 {
			group = l[0]
		}
	}
	resv := reservationID()
	password := req.adminPass
	if password == "" {
		password = generatePassword()
	}
	if req.plan != nil {
		req.firstUUID = api.NewUUID()
		if err := s.reserveVolumes(ctx, c, req.plan, req.firstUUID); err != nil {
			return err
		}
	}
	var created []*Instance
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		created = nil
		if group != "" {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM compute_server_groups WHERE uuid = ?`, group).Scan(&one)
			if store.IsNoRows(err) {
				return badRequest("Instance group %s could not be found.", group)
			}
			if err != nil {
				return err
			}
		}
		if len(req.metadata) > 0 {
			if err := s.checkQuota(ctx, tx, c.caller.ProjectID, c.caller.UserID,
				map[string]int64{"metadata_items": int64(len(req.metadata))}); err != nil {
				return err
			}
		}
		n, err := s.quotaCount(ctx, tx, c, fl, req.minCount, req.maxCount)
		if err != nil {
			return err
		}
		for i := int64(0); i < n; i++ {
			inst, err := s.buildInstance(ctx, tx, c, req, fl, img, resv, int(i), int(n), group, password)
			if err != nil {
				return err
			}
			created = append(created, inst)
		}
		return nil
	})
	if err != nil {
		if req.plan != nil {
			s.unreserveVolumes(ctx, c.caller, req.plan)
		}
		return err
	}
	s.wake.notify()
	if req.returnResv {
		api.WriteJSON(w, http.StatusAccepted, map[string]any{"reservation_id": resv})
		return nil
	}
	first := created[0]
	sgs := []map[string]string{{"name": "default"}}
	if req.secGroups != nil {
		sgs = []map[string]string{}
		if list, ok := top["server"].(map[string]any)["security_groups"].([]any); ok {
			for _, e := range list {
				if m, ok := e.(map[string]any); ok {
					if n, ok := m["name"].(string); ok {
						sgs = append(sgs, map[string]string{"name": n})
					}
				}
			}
		}
	}
	body := map[string]any{
		"id":                first.UUID,
		"links":             s.serverLinks(r, first.UUID),
		"OS-DCF:diskConfig": diskConfig(first),
		"security_groups":   sgs,
		"adminPass":         password,
	}
	w.Header().Set("Location", api.BaseURL(r)+s.cfg.Prefix+"/v2.1/servers/"+first.UUID)
	api.WriteJSON(w, http.StatusAccepted, map[string]any{"server": body})
	return nil
}

// quotaCount checks instances, cores and ram for as many instances as fit between min
// and max (Nova creates max_count when the quota allows and refuses below min_count).
func (s *Service) quotaCount(ctx context.Context, tx *store.Tx, c *call, fl *flavor, minCount, maxCount int64) (int64, error) {
	try := func(n int64) error {
		return s.checkQuota(ctx, tx, c.caller.ProjectID, c.caller.UserID,
			map[string]int64{"instances": n, "cores": fl.VCPUs * n, "ram": fl.MemoryMB * n})
	}
	err := try(maxCount)
	if err == nil || minCount == maxCount {
		return maxCount, err
	}
	if ae := api.AsError(err); ae == nil || ae.Status != http.StatusForbidden {
		return 0, err
	}
	if err := try(minCount); err != nil {
		return 0, err
	}
	// Binary search for the largest count that fits.
	lo, hi := minCount, maxCount-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if try(mid) == nil {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, nil
}

// buildInstance inserts one instance of a create request with its metadata, tags,
// group membership, action and build task.
func (s *Service) buildInstance(ctx context.Context, tx *store.Tx, c *call, req *createRequest, fl *flavor,
	img *ImageInfo, resv string, index, count int, group, password string) (*Instance, error) {
	id, err := nextID(ctx, tx, "instances")
	if err != nil {
		return nil, err
	}
	t := now()
	uuid := api.NewUUID()
	if index == 0 && req.firstUUID != "" {
		uuid = req.firstUUID
	}
	inst := &Instance{
		UUID: uuid, ID: id, ProjectID: c.caller.ProjectID, UserID: c.caller.UserID,
		Name: req.name, Description: req.description, ImageRef: req.imageRef, Flavor: fl.snapshot(),
		KeyName: req.keyName, UserData: req.userData, VMState: VMBuilding, TaskState: TaskScheduling,
		PowerState: PowerNoState, AccessIPv4: req.accessIPv4, AccessIPv6: req.accessIPv6,
		ReservationID: resv, LaunchIndex: index, CreatedAt: t, UpdatedAt: t,
		SystemMetadata: map[string]string{}, NetworkInfo: json.RawMessage("[]"),
	}
	if req.configDrive {
		inst.ConfigDrive = "True"
	}
	if req.zone != "" {
		z := req.zone
		inst.AvailabilityZone = &z
	}
	if req.keyName != nil {
		kp, _, err := loadKeypair(ctx, tx, c.caller.UserID, *req.keyName)
		if err != nil {
			return nil, err
		}
		if kp != nil {
			inst.KeyData = &kp.PublicKey
		}
	}
	if len(req.trustedCerts) > 0 {
		tc := mustJSON(req.trustedCerts)
		inst.TrustedCerts = &tc
	}
	// Names: Nova's _populate_instance_names.
	if req.hostname != "" {
		inst.Hostname = req.hostname
	} else {
		h := sanitizeHostname(inst.Name)
		if h == "" {
			h = "Server-" + inst.UUID
		} else if count > 1 {
			h = fmt.Sprintf("%s-%d", h, index+1)
		}
		inst.Hostname = h
	}
	if count > 1 {
		inst.Name = fmt.Sprintf("%s-%d", inst.Name, index+1)
	}
	if req.diskConfig != "" {
		setDiskConfig(inst, req.diskConfig)
	}
	// System metadata: the image's properties as image_* keys.
	var imageProps map[string]any
	if img != nil {
		imageProps = img.Properties
		for k, v := range img.Properties {
			inst.SystemMetadata["image_"+k] = fmt.Sprint(v)
		}
		minDisk := max(img.MinDisk, fl.RootGB)
		if img.DiskFormat == "vhd" {
			minDisk = fl.RootGB
		}
		inst.SystemMetadata["image_min_disk"] = fmt.Sprint(minDisk)
		inst.SystemMetadata["image_min_ram"] = fmt.Sprint(img.MinRAM)
		if img.DiskFormat != "" {
			inst.SystemMetadata["image_disk_format"] = img.DiskFormat
		}
		if img.ContainerFormat != "" {
			inst.SystemMetadata["image_container_format"] = img.ContainerFormat
		}
		inst.SystemMetadata["image_base_image_ref"] = img.ID
	}
	if req.plan != nil && req.plan.bootVolume && req.plan.imageMeta != nil {
		props, sys := imageMetaProps(req.plan.imageMeta)
		imageProps = props
		for k, v := range sys {
			inst.SystemMetadata[k] = v
		}
	}
	if req.plan != nil && req.plan.bootVolume {
		inst.ImageRef = ""
		root := "/dev/vda"
		inst.RootDeviceName = &root
	}
	secGroups := req.secGroups
	if secGroups == nil {
		secGroups = []string{"default"}
	}
	var bdm json.RawMessage
	if len(req.bdms) > 0 {
		bdm, _ = json.Marshal(req.bdms)
	}
	spec := RequestSpec{
		AvailabilityZone: req.zone, Host: firstNonEmpty(req.forcedHost, req.reqHost),
		Node: firstNonEmpty(req.forcedNode, req.reqNode), Group: group, Hints: req.hints,
		Networks: req.rawNetworks, SecurityGroups: secGroups, BlockDeviceMapping: bdm, ImageProperties: imageProps,
	}
	if v, ok := req.hints["same_host"]; ok {
		spec.SameHost = hintList(v)
	}
	if v, ok := req.hints["different_host"]; ok {
		spec.DifferentHost = hintList(v)
	}
	inst.Request = spec
	if err := insertInstance(ctx, tx, inst); err != nil {
		return nil, err
	}
	if req.plan != nil {
		req.plan.assignDevices(inst)
		for _, m := range req.plan.mappings {
			b := m.bdm
			b.UUID, b.InstanceUUID = "", inst.UUID
			if err := insertBlockDevice(ctx, tx, &b); err != nil {
				return nil, err
			}
		}
	}
	for k, v := range req.metadata {
		if _, err := tx.ExecContext(ctx, `INSERT INTO compute_instance_metadata (instance_uuid, key, value) VALUES (?, ?, ?)`,
			inst.UUID, k, v); err != nil {
			return nil, err
		}
	}
	for _, tag := range req.tags {
		if _, err := tx.ExecContext(ctx, `INSERT INTO compute_instance_tags (instance_uuid, tag) VALUES (?, ?)`,
			inst.UUID, tag); err != nil {
			return nil, err
		}
	}
	if group != "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO compute_server_group_members (group_uuid, instance_uuid) VALUES (?, ?)`,
			group, inst.UUID); err != nil {
			return nil, err
		}
	}
	actionID, err := startAction(ctx, tx, inst.UUID, ActionCreate, api.RequestID(ctx), c.caller.UserID, c.caller.ProjectID)
	if err != nil {
		return nil, err
	}
	params := mustJSON(map[string]any{"admin_password": password})
	if _, err := enqueueTask(ctx, tx, &Task{InstanceUUID: inst.UUID, Kind: TaskBuild, Host: "", ActionID: actionID,
		RequestID: api.RequestID(ctx), Params: json.RawMessage(params)}); err != nil {
		return nil, err
	}
	return inst, nil
}

// firstNonEmpty returns the first non-empty string.
func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// checkFlavorImage is Nova's _validate_flavor_image_nostatus size checks.
func checkFlavorImage(fl *flavor, img *ImageInfo) error {
	if img.MinRAM > 0 && fl.MemoryMB < img.MinRAM {
		return badRequest("Flavor's memory is too small for requested image.")
	}
	if fl.RootGB > 0 {
		gib := int64(1) << 30
		if img.Size > fl.RootGB*gib {
			return badRequest("Flavor's disk is too small for requested image. Flavor disk is %d bytes, image is %d bytes.",
				fl.RootGB*gib, img.Size)
		}
		if img.MinDisk > fl.RootGB {
			return badRequest("Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is %d bytes, minimum size is %d bytes.",
				fl.RootGB*gib, img.MinDisk*gib)
		}
	}
	return nil
}

// checkHostExists is _validate_host_or_node: a requested host or node must be a compute
// node.
func (s *Service) checkHostExists(ctx context.Context, req *createRequest) error {
	host := firstNonEmpty(req.forcedHost, req.reqHost)
	node := firstNonEmpty(req.forcedNode, req.reqNode)
	q := `SELECT 1 FROM compute_nodes WHERE 1 = 1`
	var args []any
	if host != "" {
		q += ` AND host = ?`
		args = append(args, host)
	}
	if node != "" {
		q += ` AND hypervisor_hostname = ?`
		args = append(args, node)
	}
	var one int
	err := s.db.QueryRowContext(ctx, q+` LIMIT 1`, args...).Scan(&one)
	if store.IsNoRows(err) {
		if host != "" {
			return badRequest("Compute host %s could not be found.", host)
		}
		return badRequest("Compute host %s could not be found.", node)
	}
	return err
}

// zoneAvailable reports whether a zone has an enabled compute service (Nova's
// get_availability_zones(get_only_available=True)).
func (s *Service) zoneAvailable(ctx context.Context, zone string) (bool, error) {
	zones, err := s.hostZones(ctx, s.db)
	if err != nil {
		return false, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT host FROM compute_services WHERE service_binary = 'nova-compute' AND disabled = ?`, false)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return false, err
		}
		z, ok := zones[h]
		if !ok {
			z = s.cfg.DefaultAvailabilityZone
		}
		if z == zone {
			return true, nil
		}
	}
	return false, rows.Err()
}
