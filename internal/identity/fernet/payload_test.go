package fernet

import (
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestRoundTrip issues and validates every payload kind with UUID and
// non-UUID IDs.
func TestRoundTrip(t *testing.T) {
	k, _ := testKeyring(t)
	base := samplePayload()
	base.ProjectID = ""
	tests := []struct {
		name    string
		mod     func(p *Payload)
		version int
	}{
		{"unscoped", func(p *Payload) {}, versionUnscoped},
		{"unscoped name user", func(p *Payload) { p.UserID = "admin" }, versionUnscoped},
		{"unscoped 16 char user", func(p *Payload) { p.UserID = "0123456789abcdef" }, versionUnscoped},
		{"unscoped long user", func(p *Payload) { p.UserID = strings.Repeat("u", 300) }, versionUnscoped},
		{"unscoped hyphenated uuid user", func(p *Payload) { p.UserID = "5b9b8c07-e2a5-4f2c-9a0c-5a2d6e4f1a01" }, versionUnscoped},
		{"domain uuid", func(p *Payload) { p.DomainID = uuidDomain }, versionDomainScoped},
		{"domain default", func(p *Payload) { p.DomainID = "default" }, versionDomainScoped},
		{"domain 16 chars", func(p *Payload) { p.DomainID = "0123456789abcdef" }, versionDomainScoped},
		{"project uuid", func(p *Payload) { p.ProjectID = uuidProject }, versionProjectScoped},
		{"project name", func(p *Payload) { p.ProjectID = "demo"; p.UserID = "üser" }, versionProjectScoped},
		{"project upper-case uuid", func(p *Payload) { p.ProjectID = strings.ToUpper(uuidProject) }, versionProjectScoped},
		{"project audit chain", func(p *Payload) { p.ProjectID = uuidProject; p.AuditIDs = []string{auditA, auditB} }, versionProjectScoped},
		{"trust", func(p *Payload) { p.ProjectID = uuidProject; p.TrustID = uuidTrust }, versionTrustScoped},
		{"trust name ids", func(p *Payload) { p.ProjectID = "demo"; p.UserID = "trustee"; p.TrustID = uuidTrust }, versionTrustScoped},
		{"system", func(p *Payload) { p.System = "all" }, versionSystemScoped},
		{"app cred uuid", func(p *Payload) { p.ProjectID = uuidProject; p.AppCredID = uuidAppCred }, versionAppCredScoped},
		{"app cred name", func(p *Payload) { p.ProjectID = "demo"; p.AppCredID = "my-cred" }, versionAppCredScoped},
		{"oauth1 uuid", func(p *Payload) {
			p.ProjectID = uuidProject
			p.AccessTokenID = uuidTrust
			p.Methods = []string{"oauth1"}
		}, versionOAuthScoped},
		{"oauth1 name", func(p *Payload) { p.ProjectID = "demo"; p.AccessTokenID = "my-token" }, versionOAuthScoped},
		{"no methods", func(p *Payload) { p.Methods = nil }, versionUnscoped},
		{"all methods", func(p *Payload) { p.Methods = AuthMethods() }, versionUnscoped},
		{"new audit id", func(p *Payload) { p.AuditIDs = []string{NewAuditID(), NewAuditID()} }, versionUnscoped},
		{"unpadded audit id", func(p *Payload) { p.AuditIDs = []string{"AAEC", "AAE", "AA"} }, versionUnscoped},
		{"whole second expiry", func(p *Payload) { p.ExpiresAt = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }, versionUnscoped},
		{"expiry before issue", func(p *Payload) { p.ExpiresAt = p.IssuedAt.Add(-time.Hour) }, versionUnscoped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base
			tt.mod(&p)
			if v, err := p.version(); err != nil || v != tt.version {
				t.Fatalf("version = %d, %v; want %d", v, err, tt.version)
			}
			token, err := k.Issue(p)
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			if strings.Contains(token, "=") {
				t.Errorf("token %q has padding", token)
			}
			got, err := k.Validate(token)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			want := p
			if len(want.Methods) == 0 {
				want.Methods = []string{}
			}
			want.Methods = keystoneOrder(want.Methods)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("round trip (-issued +validated):\n%s", diff)
			}
		})
	}
}

// keystoneOrder sorts methods highest bit first, as Validate returns them.
func keystoneOrder(methods []string) []string {
	out := []string{}
	for i := len(authMethods) - 1; i >= 0; i-- {
		for _, m := range methods {
			if m == authMethods[i] {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

func TestIssuedAt(t *testing.T) {
	k, _ := testKeyring(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	k.now = func() time.Time { return now.Add(999 * time.Millisecond) }
	p := samplePayload()
	p.IssuedAt = time.Time{}
	token, err := k.Issue(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.Validate(token)
	if err != nil {
		t.Fatal(err)
	}
	if !got.IssuedAt.Equal(now) || got.IssuedAt.Location() != time.UTC {
		t.Errorf("IssuedAt = %v, want %v (the clock truncated to the second)", got.IssuedAt, now)
	}
}

// TestPayloadBytes pins the MessagePack layout of each version to what
// Keystone's msgpack.packb writes (see also TestKeystoneGolden).
func TestPayloadBytes(t *testing.T) {
	exp := time.Unix(1784384096, 0) // 0x41da96e298000000 as a double
	const (
		user    = "92c3c4105b9b8c07e2a54f2c9a0c5a2d6e4f1a01" // [True, bin8 16]
		float   = "cb41da96e298000000"
		audit   = "91c410000102030405060708090a0b0c0d0e0f" // [bin8 16]
		project = "92c3c4100c1d2e3f405162738495a6b7c8d9eaf1"
	)
	tests := []struct {
		name string
		p    Payload
		want string
	}{
		{"unscoped", Payload{UserID: uuidUser, Methods: []string{"password"}},
			"95" + "00" + user + "02" + float + audit},
		{"unscoped text user, password+token", Payload{UserID: "admin", Methods: []string{"token", "password"}},
			"95" + "00" + "92c2a561646d696e" + "06" + float + audit},
		{"domain uuid is bare bytes", Payload{UserID: uuidUser, Methods: []string{"password"}, DomainID: uuidDomain},
			"96" + "01" + user + "02" + "c410f0e1d2c3b4a5968778695a4b3c2d1e0f" + float + audit},
		{"domain default is bare text", Payload{UserID: uuidUser, Methods: []string{"password"}, DomainID: "default"},
			"96" + "01" + user + "02" + "a764656661756c74" + float + audit},
		{"project", Payload{UserID: uuidUser, Methods: []string{"password"}, ProjectID: uuidProject},
			"96" + "02" + user + "02" + project + float + audit},
		{"trust", Payload{UserID: uuidUser, Methods: []string{"password"}, ProjectID: uuidProject, TrustID: uuidTrust},
			"97" + "03" + user + "02" + project + float + audit + "c41000112233445566778899aabbccddeeff"},
		{"system", Payload{UserID: uuidUser, Methods: []string{"password"}, System: "all"},
			"96" + "08" + user + "02" + "a3616c6c" + float + audit},
		{"app cred", Payload{UserID: uuidUser, Methods: []string{"application_credential"}, ProjectID: uuidProject, AppCredID: "c"},
			"97" + "09" + user + "20" + project + float + audit + "92c2a163"},
		{"oauth1 access token before expiry", Payload{UserID: uuidUser, Methods: []string{"oauth1"}, ProjectID: uuidProject, AccessTokenID: "c"},
			"97" + "07" + user + "08" + project + "92c2a163" + float + audit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.p.ExpiresAt = exp
			tt.p.AuditIDs = []string{auditA}
			b, err := encodePayload(&tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(b); got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestMethodsBitmask(t *testing.T) {
	tests := []struct {
		methods []string
		n       int64
		back    []string
	}{
		{nil, 0, []string{}},
		{[]string{"external"}, 1, []string{"external"}},
		{[]string{"password"}, 2, []string{"password"}},
		{[]string{"token"}, 4, []string{"token"}},
		{[]string{"oauth1"}, 8, []string{"oauth1"}},
		{[]string{"mapped"}, 16, []string{"mapped"}},
		{[]string{"application_credential"}, 32, []string{"application_credential"}},
		{[]string{"password", "token"}, 6, []string{"token", "password"}},
		{[]string{"password", "password"}, 2, []string{"password"}},
		{AuthMethods(), 63, []string{"application_credential", "mapped", "oauth1", "token", "password", "external"}},
	}
	for _, tt := range tests {
		n, err := methodsToInt(tt.methods)
		if err != nil || n != tt.n {
			t.Errorf("methodsToInt(%q) = %d, %v; want %d", tt.methods, n, err, tt.n)
		}
		back, err := intToMethods(tt.n)
		if err != nil || !cmp.Equal(back, tt.back) {
			t.Errorf("intToMethods(%d) = %q, %v; want %q", tt.n, back, err, tt.back)
		}
	}
	if _, err := methodsToInt([]string{"totp"}); !errors.Is(err, ErrInvalidPayload) {
		t.Errorf("unknown method: %v", err)
	}
	for _, n := range []int64{-1, 64, 65, math.MaxInt64} {
		if _, err := intToMethods(n); err == nil {
			t.Errorf("intToMethods(%d) accepted", n)
		}
	}
}

// TestTimestamp checks float seconds are read back as Python's
// datetime.fromtimestamp reads them: rounded half to even to microseconds.
// The expected values were printed by python3's datetime.fromtimestamp(f,
// timezone.utc); 253402300799.999999 is 253402300800.0 as a double, which is
// year 10000 and out of range there too.
func TestTimestamp(t *testing.T) {
	tests := []struct {
		f    float64
		want string
	}{
		{0, "1970-01-01T00:00:00.000000Z"},
		{1784384096.123456, "2026-07-18T14:14:56.123456Z"},
		{1.0000005, "1970-01-01T00:00:01.000001Z"},
		{1784384096.0000005, "2026-07-18T14:14:56.000000Z"},
		{0.0000025, "1970-01-01T00:00:00.000002Z"}, // half to even
		{0.0000035, "1970-01-01T00:00:00.000004Z"}, // half to even
		{32503679999.999999, "3000-01-01T00:00:00.000000Z"},
		{-1.5, "1969-12-31T23:59:58.500000Z"},
		{253402300799.9999, "9999-12-31T23:59:59.999908Z"},
	}
	for _, tt := range tests {
		v := mpValue{kind: mpFloat, f: tt.f}
		got, err := v.timestamp()
		if err != nil || exactTime(got) != tt.want {
			t.Errorf("timestamp(%v) = %s, %v; want %s", tt.f, exactTime(got), err, tt.want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e300, 253402300800, 253402300799.999999, -62135596801} {
		v := mpValue{kind: mpFloat, f: f}
		if _, err := v.timestamp(); err == nil {
			t.Errorf("timestamp(%v) accepted", f)
		}
	}
	v := mpValue{kind: mpInt, i: 1784384096}
	if got, err := v.timestamp(); err != nil || got.Unix() != 1784384096 {
		t.Errorf("integer timestamp = %v, %v", got, err)
	}
}

func TestIssueRejects(t *testing.T) {
	k, _ := testKeyring(t)
	tests := []struct {
		name string
		mod  func(p *Payload)
	}{
		{"no user", func(p *Payload) { p.UserID = "" }},
		{"unknown method", func(p *Payload) { p.Methods = []string{"totp"} }},
		{"no expiry", func(p *Payload) { p.ExpiresAt = time.Time{} }},
		{"expiry after 9999", func(p *Payload) { p.ExpiresAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"no audit id", func(p *Payload) { p.AuditIDs = nil }},
		{"empty audit id", func(p *Payload) { p.AuditIDs = []string{""} }},
		{"padded audit id", func(p *Payload) { p.AuditIDs = []string{auditA + "=="} }},
		{"std base64 audit id", func(p *Payload) { p.AuditIDs = []string{"AAECAwQFBgcICQoLDA0O+/"} }},
		{"audit id with trailing bits", func(p *Payload) { p.AuditIDs = []string{"AAECAwQFBgcICQoLDA0ODx"} }},
		{"project and domain", func(p *Payload) { p.DomainID = uuidDomain }},
		{"project and system", func(p *Payload) { p.System = "all" }},
		{"trust without project", func(p *Payload) { p.ProjectID = ""; p.TrustID = uuidTrust }},
		{"trust not uuid", func(p *Payload) { p.TrustID = "my-trust" }},
		{"trust and app cred", func(p *Payload) { p.TrustID = uuidTrust; p.AppCredID = uuidAppCred }},
		{"app cred without project", func(p *Payload) { p.ProjectID = ""; p.AppCredID = uuidAppCred }},
		{"access token without project", func(p *Payload) { p.ProjectID = ""; p.AccessTokenID = uuidAppCred }},
		{"trust and access token", func(p *Payload) { p.TrustID = uuidTrust; p.AccessTokenID = uuidAppCred }},
		{"app cred and access token", func(p *Payload) { p.AppCredID = uuidAppCred; p.AccessTokenID = uuidTrust }},
		{"access token not utf-8", func(p *Payload) { p.AccessTokenID = "\xff" }},
		{"issued before 1970", func(p *Payload) { p.IssuedAt = time.Unix(-10, 0) }},
		{"user not utf-8", func(p *Payload) { p.UserID = "\xff" }},
		{"project not utf-8", func(p *Payload) { p.ProjectID = "a\xc3" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := samplePayload()
			tt.mod(&p)
			token, err := k.Issue(p)
			if !errors.Is(err, ErrInvalidPayload) {
				t.Errorf("Issue = %q, %v; want ErrInvalidPayload", token, err)
			}
		})
	}
}

// TestDecodeRejects feeds hand-made payloads that Keystone would not produce
// or would fail on.
func TestDecodeRejects(t *testing.T) {
	const (
		user  = "92c3c4105b9b8c07e2a54f2c9a0c5a2d6e4f1a01"
		float = "cb41da96e298000000"
		audit = "91c410000102030405060708090a0b0c0d0e0f"
	)
	ok := "95" + "00" + user + "02" + float + audit
	if _, err := decodePayload(mustHex(t, ok)); err != nil {
		t.Fatalf("valid payload rejected: %v", err)
	}
	tests := map[string]string{
		"empty":                  "",
		"not a list":             "a3616c6c",
		"empty list":             "90",
		"version not int":        "95" + "a130" + user + "02" + float + audit,
		"version 4":              "95" + "04" + user + "02" + float + audit,
		"version 10":             "95" + "0a" + user + "02" + float + audit,
		"version -1":             "95" + "ff" + user + "02" + float + audit,
		"too few fields":         "94" + "00" + user + "02" + float,
		"trailing data":          ok + "00",
		"truncated":              ok[:len(ok)-2],
		"user not a pair":        "95" + "00" + "c4105b9b8c07e2a54f2c9a0c5a2d6e4f1a01" + "02" + float + audit,
		"user uuid short":        "95" + "00" + "92c3c40400010203" + "02" + float + audit,
		"user uuid as str":       "95" + "00" + "92c3b0" + strings.Repeat("61", 16) + "02" + float + audit,
		"user nil":               "95" + "00" + "92c2c0" + "02" + float + audit,
		"user empty":             "95" + "00" + "92c2a0" + "02" + float + audit,
		"user invalid utf8 bin":  "95" + "00" + "92c2c401ff" + "02" + float + audit,
		"user flag not bool":     "95" + "00" + "9201a161" + "02" + float + audit,
		"methods unknown bit":    "95" + "00" + user + "40" + float + audit,
		"methods negative":       "95" + "00" + user + "ff" + float + audit,
		"methods float":          "95" + "00" + user + "cb4000000000000000" + float + audit,
		"expiry string":          "95" + "00" + user + "02" + "a130" + audit,
		"expiry nan":             "95" + "00" + user + "02" + "cb7ff8000000000000" + audit,
		"audit not list":         "95" + "00" + user + "02" + float + "c410000102030405060708090a0b0c0d0e0f",
		"audit str":              "95" + "00" + user + "02" + float + "91a3616263",
		"map":                    "81a161a162",
		"ext":                    "d4010a",
		"huge uint":              "95" + "00" + user + "cfffffffffffffffff" + float + audit,
		"array claims 4G":        "dd" + "ffffffff",
		"bin claims 4G":          "c6" + "ffffffff",
		"deep nesting":           strings.Repeat("91", 20) + "00",
		"trust id text":          "97" + "03" + user + "02" + user + float + audit + "a474727374",
		"domain int":             "96" + "01" + user + "02" + "05" + float + audit,
		"system nil":             "96" + "08" + user + "02" + "c0" + float + audit,
		"app cred not pair":      "97" + "09" + user + "02" + user + float + audit + "a163",
		"access token not pair":  "97" + "07" + user + "08" + user + "a163" + float + audit,
		"access token missing":   "96" + "07" + user + "08" + user + float + audit,
		"legacy str utf8 uuid":   "95" + "00" + "92c3b0" + strings.Repeat("00", 16) + "02" + float + audit,
		"float32 not a version":  "95" + "ca00000000" + user + "02" + float + audit,
		"bool version":           "95" + "c3" + user + "02" + float + audit,
		"nil top":                "c0",
		"array header only":      "95",
		"str header past end":    "d9ff41",
		"array16 claim past end": "dc0100",
	}
	for name, h := range tests {
		if p, err := decodePayload(mustHex(t, h)); err == nil {
			t.Errorf("%s: accepted as %+v", name, p)
		}
	}
}

// TestDecodeLegacy checks that a payload written by msgpack before 1.0 (bytes
// as str) is read like unpackb(raw=True) reads it when a str is not UTF-8.
func TestDecodeLegacy(t *testing.T) {
	// [2, [True, str16 ff..ff], 2, [False, str "demo"], float, [str16 audit]]
	h := "96" + "02" + "92c3b0" + strings.Repeat("ff", 16) + "02" + "92c2a464656d6f" +
		"cb41da96e298000000" + "91b0000102030405060708090a0b0c0d0e0f"
	p, err := decodePayload(mustHex(t, h))
	if err != nil {
		t.Fatal(err)
	}
	if p.UserID != strings.Repeat("ff", 16) || p.ProjectID != "demo" || p.AuditIDs[0] != auditA {
		t.Errorf("got %+v", p)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func TestNewAuditID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := NewAuditID()
		if len(id) != 22 || strings.ContainsAny(id, "+/=") {
			t.Fatalf("NewAuditID() = %q", id)
		}
		if _, err := rawToken.DecodeString(id); err != nil {
			t.Fatalf("NewAuditID() = %q: %v", id, err)
		}
		if seen[id] {
			t.Fatalf("NewAuditID() repeated %q", id)
		}
		seen[id] = true
	}
}
