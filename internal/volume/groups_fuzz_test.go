package volume

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/gostack/gostack/internal/api"
)

// jsonNumber is a number as the API decoder produces it.
func jsonNumber(s string) json.Number { return json.Number(s) }

// decodeForFuzz decodes a body as the API does (numbers as json.Number); ok is false
// when it is not an object.
func decodeForFuzz(b []byte) (api.Object, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, false
	}
	return api.Object(m), true
}

// checkParserError fails unless err is nil or an API 4xx.
func checkParserError(t *testing.T, name string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	e, ok := err.(*api.Error)
	if !ok || e.Status < 400 || e.Status >= 500 {
		t.Fatalf("%s: error %v is not a 4xx API error", name, err)
	}
}

// FuzzExtrasBodyParsers feeds every body parser of the QoS specs, group types, groups,
// group snapshots and transfers the same bytes: none may panic, and every refusal is a
// 4xx.
func FuzzExtrasBodyParsers(f *testing.F) {
	for _, seed := range []string{
		`{"qos_specs": {"name": "q", "consumer": "both", "k": "v"}}`,
		`{"qos_specs": {"k": null}}`,
		`{"keys": ["a", "b"]}`,
		`{"group_type": {"name": "g", "is_public": "t", "group_specs": {"a": "b"}}}`,
		`{"group_specs": {"a": null}}`,
		`{"k1": "v1"}`,
		`{"group": {"group_type": "x", "volume_types": ["a"], "availability_zone": "nova"}}`,
		`{"group": {"add_volumes": "a,b,", "remove_volumes": ",c"}}`,
		`{"create-from-src": {"source_group_id": "00000000-0000-0000-0000-000000000000"}}`,
		`{"group_snapshot": {"group_id": "00000000-0000-0000-0000-000000000000", "name": null}}`,
		`{"transfer": {"volume_id": "00000000-0000-0000-0000-000000000000", "no_snapshots": "yes", "name": null}}`,
		`{"accept": {"auth_key": 12}}`,
		`{"delete": {"delete-volumes": 1}}`,
		`{"reset_status": {"status": "ERROR"}}`,
		`{"qos_specs": [1, {"a": 2}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		body, ok := decodeForFuzz(b)
		if !ok {
			return
		}
		_, err := parseQoSCreate(body)
		checkParserError(t, "qos create", err)
		_, err = parseQoSSet(body)
		checkParserError(t, "qos set", err)
		_, err = parseQoSUnset(body)
		checkParserError(t, "qos unset", err)
		_, err = parseGroupTypeCreate(body)
		checkParserError(t, "group type create", err)
		_, err = parseGroupTypeUpdate(body)
		checkParserError(t, "group type update", err)
		_, err = parseGroupSpecsCreate(body)
		checkParserError(t, "group specs create", err)
		_, err = parseGroupSpecUpdate(body, "k1")
		checkParserError(t, "group spec update", err)
		_, err = parseGroupCreate(body)
		checkParserError(t, "group create", err)
		_, err = parseGroupUpdate(body)
		checkParserError(t, "group update", err)
		_, err = parseGroupFromSource(body)
		checkParserError(t, "group from source", err)
		_, err = parseGroupSnapshotCreate(body)
		checkParserError(t, "group snapshot create", err)
		_, err = parseTransferCreate(body, true)
		checkParserError(t, "transfer create", err)
		_, err = parseTransferAccept(body)
		checkParserError(t, "transfer accept", err)
		if action, arg, err := groupActionBody(body); err == nil {
			switch action {
			case "delete":
				_, err = parseGroupDelete(arg)
				checkParserError(t, "group delete", err)
			case "reset_status":
				_, err = parseStatusArg(arg, groupStatuses, func(st string) *api.Error { return badRequest("bad %s", st) })
				checkParserError(t, "reset status", err)
			}
		} else {
			checkParserError(t, "action", err)
		}
	})
}
