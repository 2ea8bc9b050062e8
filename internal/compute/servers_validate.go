package compute

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gostack/gostack/internal/api"
)

// Request validation as Nova's JSON schemas do it (nova/api/validation), with Nova's
// "Invalid input for field/attribute <path>. Value: <value>. <reason>" messages.

// pyReprAny renders a JSON value roughly as Python's repr, for messages.
func pyReprAny(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		if len(x) > 80 {
			x = x[:80] + "..."
		}
		return "'" + x + "'"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case json.Number:
		return x.String()
	default:
		b, _ := json.Marshal(x)
		if len(b) > 80 {
			b = append(b[:80], "..."...)
		}
		return string(b)
	}
}

// onlyKeys refuses properties not in allowed (additionalProperties: false).
func onlyKeys(o api.Object, field string, allowed ...string) error {
	var extra []string
	for k := range o {
		if !slices.Contains(allowed, k) {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	slices.Sort(extra)
	quoted := make([]string, len(extra))
	for i, k := range extra {
		quoted[i] = "'" + k + "'"
	}
	verb := "was"
	if len(extra) > 1 {
		verb = "were"
	}
	msg := fmt.Sprintf("Additional properties are not allowed (%s %s unexpected)", strings.Join(quoted, ", "), verb)
	if field == "" {
		return badRequest("Invalid input for field/attribute . Value: %s. %s", pyReprAny(map[string]any(o)), msg)
	}
	return invalidInput(field, map[string]any(o), msg)
}

// requiredObject returns o[key] as an object, or Nova's 400.
func requiredObject(o api.Object, key string) (api.Object, error) {
	v, ok := o[key]
	if !ok {
		return nil, badRequest("Invalid input for field/attribute . Value: %s. '%s' is a required property", pyReprAny(map[string]any(o)), key)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, invalidInput(key, v, fmt.Sprintf("%s is not of type 'object'", pyReprAny(v)))
	}
	return api.Object(m), nil
}

// asString returns v as a string or the type error.
func asString(field string, v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", invalidInput(field, v, fmt.Sprintf("%s is not of type 'string'", pyReprAny(v)))
	}
	return s, nil
}

// isPrintable reports whether r is a printable character (Nova's regex ranges exclude
// control characters).
func isPrintable(r rune) bool { return unicode.IsPrint(r) || unicode.IsSpace(r) }

// serverNameField is parameter_types.name (or name_with_leading_trailing_spaces): 1–255
// printable characters, no leading or trailing whitespace.
func serverNameField(field string, v any, allowSpaces bool) (string, error) {
	s, err := asString(field, v)
	if err != nil {
		return "", err
	}
	n := utf8.RuneCountInString(s)
	if n < 1 {
		return "", invalidInput(field, v, fmt.Sprintf("%s is too short", pyReprAny(v)))
	}
	if n > 255 {
		return "", invalidInput(field, v, fmt.Sprintf("%s is too long", pyReprAny(v)))
	}
	bad := strings.TrimSpace(s) == ""
	if !allowSpaces && (strings.TrimSpace(s) != s) {
		bad = true
	}
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' {
			bad = true
		}
	}
	if bad {
		return "", invalidInput(field, v, "printable characters. Can not start or end with whitespace.")
	}
	return s, nil
}

// serverDescriptionField is parameter_types.description: null or up to 255 printable characters.
func serverDescriptionField(field string, v any) (*string, error) {
	if v == nil {
		return nil, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, invalidInput(field, v, fmt.Sprintf("%s is not of type 'string', 'null'", pyReprAny(v)))
	}
	if utf8.RuneCountInString(s) > 255 {
		return nil, invalidInput(field, v, fmt.Sprintf("%s is too long", pyReprAny(v)))
	}
	for _, r := range s {
		if !isPrintable(r) {
			return nil, invalidInput(field, v, fmt.Sprintf("%s does not match the description pattern", pyReprAny(v)))
		}
	}
	return &s, nil
}

// validIP checks an accessIPv4/accessIPv6 value.
func validIP(field string, v any, version int) (string, error) {
	s, err := asString(field, v)
	if err != nil {
		return "", err
	}
	a, perr := netip.ParseAddr(s)
	if perr != nil || (version == 4 && !a.Is4()) || (version == 6 && !a.Is6()) {
		return "", invalidInput(field, v, fmt.Sprintf("%s is not a 'ipv%d'", pyReprAny(v), version))
	}
	// Nova stores access addresses in IP columns, which answer them in canonical form
	// ("0:0:0:0:0:babe:220.12.22.2" reads back as "::babe:dc0c:1602").
	return a.String(), nil
}

// validDiskConfig is parameter_types.disk_config.
func validDiskConfig(v any) (string, error) {
	s, ok := v.(string)
	if !ok || (s != "AUTO" && s != "MANUAL") {
		return "", invalidInput("OS-DCF:diskConfig", v, fmt.Sprintf("%s is not one of ['AUTO', 'MANUAL']", pyReprAny(v)))
	}
	return s, nil
}

// setDiskConfig records OS-DCF:diskConfig.
func setDiskConfig(inst *Instance, dc string) {
	if inst.SystemMetadata == nil {
		inst.SystemMetadata = map[string]string{}
	}
	if dc == "AUTO" {
		inst.SystemMetadata[sysMetaAutoDiskConfig] = "True"
	} else {
		inst.SystemMetadata[sysMetaAutoDiskConfig] = "False"
	}
}

var (
	hostnameRe = regexp.MustCompile(`^[a-zA-Z0-9]+[a-zA-Z0-9-]*[a-zA-Z0-9]+$`)
	fqdnRe     = regexp.MustCompile(`^[a-zA-Z0-9-._]*$`)
)

// validHostname is parameter_types.hostname (2.90) or fqdn (2.94).
func validHostname(field string, v any, fqdn bool) (string, error) {
	s, err := asString(field, v)
	if err != nil {
		return "", err
	}
	if fqdn {
		if len(s) < 1 || len(s) > 255 || !fqdnRe.MatchString(s) {
			return "", invalidInput(field, v, fmt.Sprintf("%s does not match '^[a-zA-Z0-9-._]*$'", pyReprAny(v)))
		}
		return s, nil
	}
	if len(s) < 2 || len(s) > 63 || !hostnameRe.MatchString(s) {
		return "", invalidInput(field, v, fmt.Sprintf("%s does not match '^[a-zA-Z0-9]+[a-zA-Z0-9-]*[a-zA-Z0-9]+$'", pyReprAny(v)))
	}
	return s, nil
}

var metadataKeyRe = regexp.MustCompile(`^[a-zA-Z0-9-_:. ]{1,255}$`)

// validMetadata is parameter_types.metadata: keys of 1–255 characters from
// [a-zA-Z0-9-_:. ], string values up to 255 characters.
func validMetadata(field string, v any) (map[string]string, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, invalidInput(field, v, fmt.Sprintf("%s is not of type 'object'", pyReprAny(v)))
	}
	out := make(map[string]string, len(m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !metadataKeyRe.MatchString(k) {
			return nil, invalidInput(field, v, fmt.Sprintf("Additional properties are not allowed ('%s' was unexpected)", k))
		}
		s, ok := m[k].(string)
		if !ok {
			return nil, invalidInput(field+"/"+k, m[k], fmt.Sprintf("%s is not of type 'string'", pyReprAny(m[k])))
		}
		if utf8.RuneCountInString(s) > 255 {
			return nil, invalidInput(field+"/"+k, s, fmt.Sprintf("%s is too long", pyReprAny(s)))
		}
		out[k] = s
	}
	return out, nil
}

// validTag is parameter_types.tag: 1–60 characters without "," or "/".
func validTag(field string, v any) (string, error) {
	s, err := asString(field, v)
	if err != nil {
		return "", err
	}
	n := utf8.RuneCountInString(s)
	switch {
	case n < 1:
		return "", invalidInput(field, v, fmt.Sprintf("%s is too short", pyReprAny(v)))
	case n > 60:
		return "", invalidInput(field, v, fmt.Sprintf("%s is too long", pyReprAny(v)))
	case strings.ContainsAny(s, ",/"):
		return "", invalidInput(field, v, fmt.Sprintf("%s does not match '^[^,/]*$'", pyReprAny(v)))
	}
	return s, nil
}

// boolValues are parameter_types.boolean's accepted values.
var boolValues = map[string]bool{
	"True": true, "TRUE": true, "true": true, "1": true, "ON": true, "On": true, "on": true,
	"YES": true, "Yes": true, "yes": true, "y": true, "t": true,
	"False": false, "FALSE": false, "false": false, "0": false, "OFF": false, "Off": false, "off": false,
	"NO": false, "No": false, "no": false, "n": false, "f": false,
}

// validBool is parameter_types.boolean (a JSON boolean or one of its strings).
func validBool(field string, v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		if b, ok := boolValues[x]; ok {
			return b, nil
		}
	}
	return false, invalidInput(field, v, fmt.Sprintf("%s is not one of the boolean values", pyReprAny(v)))
}

// validPositiveInt is parameter_types.positive_integer (an integer or digit string ≥ 1).
func validPositiveInt(field string, v any) (int64, error) {
	var n int64
	switch x := v.(type) {
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			return 0, invalidInput(field, v, fmt.Sprintf("%s is not of type 'integer', 'string'", pyReprAny(v)))
		}
		n = i
	case string:
		if x == "" {
			return 0, invalidInput(field, v, fmt.Sprintf("%s is too short", pyReprAny(v)))
		}
		i, err := strconv.ParseInt(x, 10, 64)
		if err != nil || strings.ContainsAny(x, "+-") {
			return 0, invalidInput(field, v, fmt.Sprintf("%s does not match '^[0-9]*$'", pyReprAny(v)))
		}
		n = i
	default:
		return 0, invalidInput(field, v, fmt.Sprintf("%s is not of type 'integer', 'string'", pyReprAny(v)))
	}
	if n < 1 {
		return 0, invalidInput(field, v, fmt.Sprintf("%s is less than the minimum of 1", pyReprAny(v)))
	}
	return n, nil
}

// validUUID is the "uuid" format (uuidutils.is_uuid_like: hyphens optional).
func validUUID(s string) bool {
	t := strings.ReplaceAll(s, "-", "")
	if len(t) != 32 {
		return false
	}
	for _, r := range t {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

// validBase64 is the "base64" format.
func validBase64(s string) bool {
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil
}

// itoa formats an int.
func itoa(n int) string { return strconv.Itoa(n) }
