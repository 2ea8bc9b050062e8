package network

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"unicode/utf8"
)

// writeBody writes a response body with appendJSON: list responses render thousands of
// generic records, and encoding/json's reflection over maps was the largest cost of a
// 5,000-port list.
func writeBody(w http.ResponseWriter, status int, v any) {
	b, err := appendJSON(make([]byte, 0, 64<<10), v)
	if err != nil {
		b, err = json.Marshal(v)
		if err != nil {
			status = http.StatusInternalServerError
			b = []byte(`{"NeutronError": {"type": "HTTPInternalServerError", "message": "response encoding failed", "detail": ""}}`)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// appendJSON appends the JSON encoding of v: the value types records hold are encoded
// directly (object keys sorted, as encoding/json does); anything else goes through
// encoding/json.
func appendJSON(b []byte, v any) ([]byte, error) {
	return appendValue(b, v, &shapeCache{})
}

// appendValue is appendJSON with the key-order cache of the value being encoded.
func appendValue(b []byte, v any, sc *shapeCache) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case []string:
		b = append(b, '[')
		for i, s := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		return append(b, ']'), nil
	case []any:
		return appendList(b, len(x), func(i int) any { return x[i] }, sc)
	case []map[string]any:
		return appendList(b, len(x), func(i int) any { return x[i] }, sc)
	case []map[string]string:
		return appendList(b, len(x), func(i int) any { return x[i] }, sc)
	case map[string]string:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, x[k])
		}
		return append(b, '}'), nil
	case record:
		return appendObjectCached(b, map[string]any(x), sc)
	case map[string]any:
		return appendObjectCached(b, x, sc)
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return append(b, enc...), nil
}

func appendList(b []byte, n int, at func(int) any, sc *shapeCache) ([]byte, error) {
	b = append(b, '[')
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendValue(b, at(i), sc); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

// shapeCache remembers the sorted keys of the last objects encoded at each nesting
// shape: a list's records share their keys, so sorting once per list suffices.
type shapeCache struct{ keys [][]string }

// sortedKeys returns m's keys sorted, reusing a cached order of the same key set.
func (sc *shapeCache) sortedKeys(m map[string]any) []string {
	for _, ks := range sc.keys {
		if len(ks) != len(m) {
			continue
		}
		same := true
		for _, k := range ks {
			if _, ok := m[k]; !ok {
				same = false
				break
			}
		}
		if same {
			return ks
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(sc.keys) < 8 {
		sc.keys = append(sc.keys, keys)
	}
	return keys
}

func appendObjectCached(b []byte, m map[string]any, sc *shapeCache) ([]byte, error) {
	var keys []string
	if sc != nil {
		keys = sc.sortedKeys(m)
	} else {
		keys = make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
	}
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		var err error
		if b, err = appendValue(b, m[k], sc); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string: quotes, backslashes and control characters
// escaped, U+2028/U+2029 escaped for JavaScript, invalid UTF-8 replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				switch c {
				case '\n':
					b = append(b, '\\', 'n')
				case '\r':
					b = append(b, '\\', 'r')
				case '\t':
					b = append(b, '\\', 't')
				default:
					b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
				}
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
