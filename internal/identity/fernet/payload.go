package fernet

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
)

// Payload is what a token carries. Exactly one kind is encoded, chosen the way
// Keystone's Fernet provider chooses it: a trust token when TrustID is set, an
// application credential token when AppCredID is set, an OAuth 1.0a token when
// AccessTokenID is set, otherwise a project, domain or system scoped token, or
// an unscoped token when no scope is set.
type Payload struct {
	// UserID is the ID of the user the token was issued to.
	UserID string
	// Methods are the authentication methods used, drawn from AuthMethods;
	// Issue refuses any other method (Keystone silently drops them).
	// Validate returns them in Keystone's order: the method with the highest
	// bit first, so ["password", "token"] comes back as ["token", "password"].
	Methods []string
	// ExpiresAt is when the token expires. It is carried as float seconds
	// with microsecond precision, like Keystone, and Validate does not check
	// it. Keystone's API shows it (and IssuedAt) with the microseconds
	// zeroed: "2026-07-18T14:14:56.000000Z".
	ExpiresAt time.Time
	// AuditIDs holds the token's own audit ID and, for a token obtained with
	// another token, the audit ID at the start of that chain.
	AuditIDs []string
	// ProjectID is the project scope; trust and application credential
	// tokens are always project scoped.
	ProjectID string
	// DomainID is the domain scope. A domain ID that is not a UUID is
	// carried as text; Keystone only issues that for its default domain and
	// only validates it when it equals its [identity] default_domain_id.
	DomainID string
	// System is the system scope, "all" in Keystone.
	System string
	// TrustID is the trust in effect; it must be a UUID in hex form.
	TrustID string
	// AppCredID is the application credential in effect.
	AppCredID string
	// AccessTokenID is the OS-OAUTH1 access token in effect.
	AccessTokenID string
	// IssuedAt is the Fernet timestamp, with one second precision. Issue uses
	// it as the timestamp when it is set and the current time otherwise.
	IssuedAt time.Time
}

// Payload versions, from keystone/token/token_formatters.py. Versions 4 to 6
// (federated) and 10 (OAuth 2.0 mTLS) are not supported.
const (
	versionUnscoped      = 0
	versionDomainScoped  = 1
	versionProjectScoped = 2
	versionTrustScoped   = 3
	versionOAuthScoped   = 7
	versionSystemScoped  = 8
	versionAppCredScoped = 9
)

// authMethods is Keystone's default [auth] methods list. The position of a
// method is the bit it takes in a token: external=1, password=2, token=4,
// oauth1=8, mapped=16, application_credential=32.
var authMethods = [...]string{"external", "password", "token", "oauth1", "mapped", "application_credential"}

// AuthMethods returns the authentication methods a token can record, in the
// order that gives each its bit (Keystone's default [auth] methods option).
func AuthMethods() []string {
	return append([]string(nil), authMethods[:]...)
}

// Bounds of Python's datetime, which Keystone converts timestamps to.
var (
	minTime = time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, time.December, 31, 23, 59, 59, 999999000, time.UTC)
)

// version picks the payload version for p, rejecting combinations Keystone
// never issues.
func (p *Payload) version() (int, error) {
	scopes := 0
	for _, s := range []string{p.ProjectID, p.DomainID, p.System} {
		if s != "" {
			scopes++
		}
	}
	if scopes > 1 {
		return 0, fmt.Errorf("%w: more than one scope", ErrInvalidPayload)
	}
	delegations := 0
	for _, s := range []string{p.TrustID, p.AppCredID, p.AccessTokenID} {
		if s != "" {
			delegations++
		}
	}
	switch {
	case delegations > 1:
		return 0, fmt.Errorf("%w: more than one of a trust, an application credential and an access token", ErrInvalidPayload)
	case delegations == 1:
		if p.ProjectID == "" {
			return 0, fmt.Errorf("%w: trust, application credential and access token tokens need a project scope", ErrInvalidPayload)
		}
		switch {
		case p.TrustID != "":
			return versionTrustScoped, nil
		case p.AccessTokenID != "":
			return versionOAuthScoped, nil
		}
		return versionAppCredScoped, nil
	case p.ProjectID != "":
		return versionProjectScoped, nil
	case p.DomainID != "":
		return versionDomainScoped, nil
	case p.System != "":
		return versionSystemScoped, nil
	}
	return versionUnscoped, nil
}

// encodePayload serialises p exactly as Keystone's create_token does with
// msgpack.packb: the version followed by the fields of that version.
func encodePayload(p *Payload) ([]byte, error) {
	v, err := p.version()
	if err != nil {
		return nil, err
	}
	if p.UserID == "" {
		return nil, fmt.Errorf("%w: no user id", ErrInvalidPayload)
	}
	for _, s := range []string{p.UserID, p.ProjectID, p.DomainID, p.System, p.AppCredID, p.AccessTokenID} {
		if !utf8.ValidString(s) {
			// Keystone could not decode the token, nor could Validate.
			return nil, fmt.Errorf("%w: id is not utf-8", ErrInvalidPayload)
		}
	}
	methods, err := methodsToInt(p.Methods)
	if err != nil {
		return nil, err
	}
	if p.ExpiresAt.IsZero() || p.ExpiresAt.Before(minTime) || p.ExpiresAt.After(maxTime) {
		return nil, fmt.Errorf("%w: expiry out of range", ErrInvalidPayload)
	}
	if len(p.AuditIDs) == 0 {
		return nil, fmt.Errorf("%w: no audit id", ErrInvalidPayload)
	}
	audit := make([][]byte, len(p.AuditIDs))
	for i, id := range p.AuditIDs {
		b, err := rawToken.DecodeString(id)
		if err != nil || len(b) == 0 {
			return nil, fmt.Errorf("%w: audit id is not url-safe base64", ErrInvalidPayload)
		}
		audit[i] = b
	}
	var trust []byte
	if v == versionTrustScoped {
		if trust = uuidBytes(p.TrustID); trust == nil {
			return nil, fmt.Errorf("%w: trust id is not a uuid", ErrInvalidPayload)
		}
	}

	var buf bytes.Buffer
	buf.Grow(128)
	e := &packer{enc: msgpack.NewEncoder(&buf)}
	switch v {
	case versionUnscoped:
		e.arrayLen(5)
	case versionTrustScoped, versionAppCredScoped, versionOAuthScoped:
		e.arrayLen(7)
	default:
		e.arrayLen(6)
	}
	e.int(int64(v))
	e.id(p.UserID)
	e.int(methods)
	switch v {
	case versionDomainScoped:
		// A domain ID is packed bare, not as an (is_uuid, id) pair.
		if b := uuidBytes(p.DomainID); b != nil {
			e.bytes(b)
		} else {
			e.string(p.DomainID)
		}
	case versionProjectScoped, versionTrustScoped, versionAppCredScoped:
		e.id(p.ProjectID)
	case versionOAuthScoped:
		// OauthScopedPayload puts the access token before the expiry.
		e.id(p.ProjectID)
		e.id(p.AccessTokenID)
	case versionSystemScoped:
		e.string(p.System)
	}
	e.float(float64(p.ExpiresAt.UnixMicro()) / 1e6)
	e.arrayLen(len(audit))
	for _, b := range audit {
		e.bytes(b)
	}
	switch v {
	case versionTrustScoped:
		e.bytes(trust)
	case versionAppCredScoped:
		e.id(p.AppCredID)
	}
	if e.err != nil {
		return nil, fmt.Errorf("fernet: encode payload: %w", e.err)
	}
	return buf.Bytes(), nil
}

// packer writes MessagePack values and keeps the first error.
type packer struct {
	enc *msgpack.Encoder
	err error
}

func (e *packer) keep(err error) {
	if e.err == nil {
		e.err = err
	}
}

func (e *packer) arrayLen(n int)  { e.keep(e.enc.EncodeArrayLen(n)) }
func (e *packer) int(n int64)     { e.keep(e.enc.EncodeInt(n)) }
func (e *packer) float(f float64) { e.keep(e.enc.EncodeFloat64(f)) }
func (e *packer) string(s string) { e.keep(e.enc.EncodeString(s)) }
func (e *packer) bytes(b []byte) {
	if b == nil {
		b = []byte{} // EncodeBytes writes nil for a nil slice
	}
	e.keep(e.enc.EncodeBytes(b))
}
func (e *packer) bool(b bool)  { e.keep(e.enc.EncodeBool(b)) }
func (e *packer) id(id string) { e.pair(uuidBytes(id), id) }
func (e *packer) pair(b []byte, s string) {
	// attempt_convert_uuid_hex_to_bytes: (True, 16 bytes) or (False, text).
	e.arrayLen(2)
	e.bool(b != nil)
	if b != nil {
		e.bytes(b)
	} else {
		e.string(s)
	}
}

// uuidBytes returns the 16 bytes of id when id is a UUID in the canonical
// Keystone form (32 lower-case hex digits) and nil otherwise. Python's
// uuid.UUID also accepts upper case, hyphens and braces, but would turn such
// IDs into a different string on the way back; packing them as text keeps
// every ID exactly as it was and stays readable by Keystone.
func uuidBytes(id string) []byte {
	if len(id) != 32 {
		return nil
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return nil
		}
	}
	b, err := hex.DecodeString(id)
	if err != nil {
		return nil
	}
	return b
}

// methodsToInt is keystone.auth.plugins.core.convert_method_list_to_integer,
// except that an unknown method is an error instead of being dropped and a
// repeated method is counted once.
func methodsToInt(methods []string) (int64, error) {
	var n int64
next:
	for _, m := range methods {
		for i, known := range authMethods {
			if m == known {
				n |= 1 << i
				continue next
			}
		}
		return 0, fmt.Errorf("%w: unknown authentication method %q", ErrInvalidPayload, m)
	}
	return n, nil
}

// intToMethods is convert_integer_to_method_list: highest bit first. Bits
// that name no method make the token invalid.
func intToMethods(n int64) ([]string, error) {
	if n < 0 || n >= 1<<len(authMethods) {
		return nil, errors.New("unknown authentication methods")
	}
	methods := make([]string, 0, bits.OnesCount64(uint64(n)))
	for i := len(authMethods) - 1; i >= 0; i-- {
		if n&(1<<i) != 0 {
			methods = append(methods, authMethods[i])
		}
	}
	return methods, nil
}

// decodePayload parses a serialised payload the way Keystone's validate_token
// does and fills every field of a Payload except IssuedAt.
func decodePayload(data []byte) (Payload, error) {
	var p Payload
	top, err := unpack(data)
	if err != nil {
		return p, err
	}
	if top.kind != mpArray || len(top.arr) == 0 {
		return p, errors.New("payload is not a list")
	}
	v, f := top.arr[0], top.arr[1:]
	if v.kind != mpInt {
		return p, errors.New("payload version is not an integer")
	}
	// Keystone reads fields by index and ignores any that follow.
	var n int
	switch v.i {
	case versionUnscoped:
		n = 4
	case versionDomainScoped, versionProjectScoped, versionSystemScoped:
		n = 5
	case versionTrustScoped, versionAppCredScoped, versionOAuthScoped:
		n = 6
	default:
		return p, fmt.Errorf("unsupported payload version %d", v.i)
	}
	if len(f) < n {
		return p, errors.New("payload has too few fields")
	}
	if p.UserID, err = f[0].id(); err != nil {
		return p, fmt.Errorf("user id: %w", err)
	}
	if f[1].kind != mpInt {
		return p, errors.New("methods are not an integer")
	}
	if p.Methods, err = intToMethods(f[1].i); err != nil {
		return p, err
	}
	rest := f[2:]
	switch v.i {
	case versionDomainScoped:
		if p.DomainID, err = rest[0].domainID(); err != nil {
			return p, fmt.Errorf("domain id: %w", err)
		}
		rest = rest[1:]
	case versionProjectScoped, versionTrustScoped, versionAppCredScoped:
		if p.ProjectID, err = rest[0].id(); err != nil {
			return p, fmt.Errorf("project id: %w", err)
		}
		rest = rest[1:]
	case versionOAuthScoped:
		if p.ProjectID, err = rest[0].id(); err != nil {
			return p, fmt.Errorf("project id: %w", err)
		}
		if p.AccessTokenID, err = rest[1].id(); err != nil {
			return p, fmt.Errorf("access token id: %w", err)
		}
		rest = rest[2:]
	case versionSystemScoped:
		if p.System, err = rest[0].text(); err != nil {
			return p, fmt.Errorf("system: %w", err)
		}
		rest = rest[1:]
	}
	if p.ExpiresAt, err = rest[0].timestamp(); err != nil {
		return p, fmt.Errorf("expiry: %w", err)
	}
	if p.AuditIDs, err = rest[1].auditIDs(); err != nil {
		return p, fmt.Errorf("audit ids: %w", err)
	}
	switch v.i {
	case versionTrustScoped:
		if p.TrustID, err = rest[2].uuid(); err != nil {
			return p, fmt.Errorf("trust id: %w", err)
		}
	case versionAppCredScoped:
		if p.AppCredID, err = rest[2].id(); err != nil {
			return p, fmt.Errorf("application credential id: %w", err)
		}
	}
	return p, nil
}

// id decodes an (is_uuid, value) pair like Keystone's _convert_or_decode.
func (v *mpValue) id() (string, error) {
	if v.kind != mpArray || len(v.arr) != 2 || v.arr[0].kind != mpBool {
		return "", errors.New("not an (is_uuid, id) pair")
	}
	if v.arr[0].b {
		return v.arr[1].uuid()
	}
	return v.arr[1].text()
}

// domainID decodes the bare domain ID of a domain scoped payload: 16 bytes
// are a UUID, anything else is text (Keystone's default domain ID).
func (v *mpValue) domainID() (string, error) {
	if v.kind == mpBin && len(v.raw) == 16 {
		return hex.EncodeToString(v.raw), nil
	}
	return v.text()
}

// uuid decodes 16 raw bytes into a hex UUID, like convert_uuid_bytes_to_hex.
func (v *mpValue) uuid() (string, error) {
	if v.kind != mpBin || len(v.raw) != 16 {
		return "", errors.New("not a 16-byte uuid")
	}
	return hex.EncodeToString(v.raw), nil
}

// text decodes a string, or bytes holding UTF-8 as Keystone decodes them.
func (v *mpValue) text() (string, error) {
	if (v.kind != mpStr && v.kind != mpBin) || !utf8.Valid(v.raw) || len(v.raw) == 0 {
		return "", errors.New("not a string")
	}
	return string(v.raw), nil
}

// timestamp converts float seconds to a time the way Python's
// datetime.fromtimestamp does: the fraction is rounded half to even to
// microseconds.
func (v *mpValue) timestamp() (time.Time, error) {
	var f float64
	switch v.kind {
	case mpFloat:
		f = v.f
	case mpInt:
		f = float64(v.i)
	default:
		return time.Time{}, errors.New("not a number")
	}
	if math.IsNaN(f) || f < float64(minTime.Unix())-1 || f > float64(maxTime.Unix())+1 {
		return time.Time{}, errors.New("out of range")
	}
	sec, frac := math.Modf(f)
	us := math.RoundToEven(frac * 1e6)
	if us >= 1e6 {
		sec, us = sec+1, us-1e6
	} else if us < 0 {
		sec, us = sec-1, us+1e6
	}
	t := time.Unix(int64(sec), int64(us)*1000).UTC()
	if t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, errors.New("out of range")
	}
	return t, nil
}

// auditIDs decodes the list of raw audit IDs into unpadded URL-safe base64,
// like Keystone's base64_encode.
func (v *mpValue) auditIDs() ([]string, error) {
	if v.kind != mpArray {
		return nil, errors.New("not a list")
	}
	ids := make([]string, len(v.arr))
	for i, a := range v.arr {
		if a.kind != mpBin {
			return nil, errors.New("not bytes")
		}
		ids[i] = base64.RawURLEncoding.EncodeToString(a.raw)
	}
	return ids, nil
}
