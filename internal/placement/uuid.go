package placement

import "strings"

// isUUIDLike reports whether s is a UUID in any form Python's uuid.UUID accepts (with or
// without dashes, braces or a urn:uuid: prefix, any case), as oslo's is_uuid_like does.
func isUUIDLike(s string) bool {
	_, ok := uuidHex(s)
	return ok
}

// uuidHex returns the 32 lower-case hex digits of a UUID-like string.
func uuidHex(s string) (string, bool) {
	s = strings.ReplaceAll(s, "urn:", "")
	s = strings.ReplaceAll(s, "uuid:", "")
	s = strings.Trim(s, "{}")
	s = strings.ReplaceAll(s, "-", "")
	if len(s) != 32 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return "", false
		}
	}
	return strings.ToLower(s), true
}

// normalizeUUID returns the canonical dashed lower-case form of a UUID-like string, as
// str(uuid.UUID(s)) does; s is returned unchanged when it is not UUID-like.
func normalizeUUID(s string) string {
	h, ok := uuidHex(s)
	if !ok {
		return s
	}
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
