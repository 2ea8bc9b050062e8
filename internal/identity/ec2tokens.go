package identity

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/identity/fernet"
)

// This file is Keystone's EC2 and S3 token authentication (keystone/api/ec2tokens.py,
// s3tokens.py and _shared/EC2_S3_Resource.py): a service that received a request signed
// with an EC2 access key (an EC2 API, Swift's s3api, radosgw) forwards the signature
// material here; if the signature matches the credential's secret, the credential's
// user gets a token scoped to the credential's project. The signature algorithms are
// those of python-keystoneclient's Ec2Signer (versions 0, 1, 2 and 4) for EC2 and of
// Keystone's s3tokens (AWS v1 and v4 over a client-computed string to sign) for S3.
// The HTTP handlers are in ec2tokens_http.go.

// ec2AuthTTL is Keystone's [credential] auth_ttl: how long after its timestamp a signed
// request is accepted.
const ec2AuthTTL = 15 * time.Minute

// ec2MethodName is the authentication method Keystone names in EC2 and S3 token bodies.
// Like Keystone's, the Fernet method bitmask cannot carry it (it is not one of the
// [auth] methods), so the token itself records no method and validates with
// "methods": [], while the body returned by ec2tokens and s3tokens shows it.
const ec2MethodName = "ec2credential"

// ec2Unauthorized is the 401 of a failed EC2 or S3 authentication. Keystone's
// Unauthorized hides its reason outside insecure_debug mode, so the client sees the
// generic message and the reason goes only to the log.
func ec2Unauthorized(reason string) error {
	return &api.Error{Status: http.StatusUnauthorized, Message: api.ErrAuthRequired, Err: errors.New(reason)}
}

// errEC2Format is a signing failure on malformed credentials (Keystone's signer raises
// and the request fails).
var errEC2Format = errors.New("malformed ec2 credentials")

// ec2Secrets is what an EC2 credential's blob holds, in Keystone's legacy form.
type ec2Secrets struct {
	Secret, TrustID, AppCredID, AccessTokenID string
}

// ec2Authenticate checks the signed body of an ec2tokens (s3 false) or s3tokens (s3
// true) request and returns the token it earns, with its body's methods set to
// ec2credential. Failures are Keystone's: 400 for a missing body, 401 for a missing or
// wrong signature, an expired timestamp, a disabled user or project or no roles, 404
// for an unknown access key.
func (s *Service) ec2Authenticate(ctx context.Context, body []byte, s3 bool) (*tokenInfo, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, api.BadRequest("request must include a request body")
	}
	var top any
	if err := api.Unmarshal(body, &top); err != nil {
		return nil, err
	}
	if isFalsyJSON(top) {
		return nil, api.BadRequest("request must include a request body")
	}
	obj, ok := top.(map[string]any)
	if !ok {
		return nil, api.BadRequest("Invalid input for field 'body': expected an object.")
	}
	// Keystone accepts "credentials", "credential" and "ec2Credentials", the first that
	// is not empty.
	var creds map[string]any
	for _, k := range []string{"credentials", "credential", "ec2Credentials"} {
		if v := obj[k]; !isFalsyJSON(v) {
			creds, _ = v.(map[string]any)
			break
		}
	}
	if _, ok := creds["access"]; !ok {
		return nil, ec2Unauthorized("EC2 Signature not supplied")
	}
	access, ok := creds["access"].(string)
	if !ok {
		return nil, api.NotFound("EC2 access key not found.")
	}
	cred, err := s.getCredential(ctx, s.db, ec2CredentialID(access))
	if err != nil {
		if api.AsError(err).Status == http.StatusNotFound {
			return nil, api.NotFound("EC2 access key not found.")
		}
		return nil, err
	}
	if cred.Type != ec2CredentialType {
		return nil, api.NotFound("EC2 access key not found.")
	}
	sec, err := parseEC2Blob(cred.Blob)
	if err != nil {
		return nil, err
	}
	if s3 {
		err = checkS3Signature(sec.Secret, creds)
	} else {
		err = checkEC2Signature(sec.Secret, creds)
	}
	if err != nil {
		return nil, err
	}
	if cred.ProjectID == "" {
		return nil, api.NotFound("Could not find project: None.")
	}
	p, err := s.getProject(ctx, s.db, cred.ProjectID)
	if err != nil {
		return nil, err
	}
	u, err := s.getUser(ctx, s.db, cred.UserID)
	if err != nil {
		return nil, err
	}
	if !u.Enabled || !p.Enabled {
		return nil, ec2Unauthorized("user or project disabled")
	}
	if err := checkEC2Timestamp(creds, time.Now()); err != nil {
		return nil, err
	}
	payload := fernet.Payload{UserID: u.ID, ProjectID: p.ID, AuditIDs: []string{fernet.NewAuditID()}}
	var nRoles int
	switch {
	case sec.TrustID != "":
		tr, err := s.getTrust(ctx, s.db, sec.TrustID)
		if err != nil {
			return nil, err
		}
		// A credential made with an impersonating trust token belongs to the trustor;
		// the trust token is issued to the trustee, and stands for the trustor.
		if tr.Impersonation {
			payload.UserID = tr.TrusteeID
		}
		payload.TrustID, nRoles = tr.ID, len(tr.RoleIDs)
	case sec.AppCredID != "":
		ac, err := s.getAppCred(ctx, s.db, sec.AppCredID)
		if err != nil {
			return nil, err
		}
		if ac.ProjectID != p.ID {
			return nil, ec2Unauthorized("EC2 credential project does not match the application credential project.")
		}
		payload.AppCredID, nRoles = ac.ID, len(ac.RoleIDs)
		payload.ExpiresAt = now().Add(s.cfg.TokenExpiration)
		if !ac.ExpiresAt.IsZero() && ac.ExpiresAt.Before(payload.ExpiresAt) {
			payload.ExpiresAt = ac.ExpiresAt
		}
	case sec.AccessTokenID != "":
		// OS-OAUTH1 access tokens are not implemented, so none can be found.
		return nil, api.NotFound("Could not find access token: %s.", sec.AccessTokenID)
	default:
		roles, err := s.effectiveRoles(ctx, s.db, u.ID, scope{ProjectID: p.ID})
		if err != nil {
			return nil, err
		}
		nRoles = len(roles)
	}
	if nRoles == 0 {
		return nil, ec2Unauthorized("User not valid for project.")
	}
	t, err := s.issue(ctx, payload)
	if err != nil {
		return nil, err
	}
	t.Methods = []string{ec2MethodName}
	return t, nil
}

// parseEC2Blob reads an EC2 credential's blob. A blob that is not a JSON object with a
// string secret cannot verify anything: a 401.
func parseEC2Blob(blob string) (ec2Secrets, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(blob), &m); err != nil || m == nil {
		return ec2Secrets{}, ec2Unauthorized("EC2 credential blob is not a JSON object")
	}
	secret, ok := m["secret"].(string)
	if !ok {
		return ec2Secrets{}, ec2Unauthorized("EC2 credential has no secret")
	}
	str := func(k string) string { v, _ := m[k].(string); return v }
	return ec2Secrets{Secret: secret, TrustID: str("trust_id"), AppCredID: str("app_cred_id"), AccessTokenID: str("access_token_id")}, nil
}

// authStrEqual compares a provided signature with the expected one in constant time.
func authStrEqual(provided any, known string) bool {
	p, ok := provided.(string)
	if !ok {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(p), []byte(known)) == 1
}

// checkEC2Signature is EC2TokensResource._check_signature: the credentials' signature
// must equal the one Ec2Signer computes with the secret; if not, and the host has a
// port, the signature is computed again without the port (some clients sign without
// it).
func checkEC2Signature(secret string, creds map[string]any) error {
	sig, err := ec2Signature(secret, creds)
	if err != nil {
		return ec2Unauthorized("EC2 signature cannot be computed: " + err.Error())
	}
	provided := creds["signature"]
	if isFalsyJSON(provided) {
		return ec2Unauthorized("EC2 signature not supplied.")
	}
	if authStrEqual(provided, sig) {
		return nil
	}
	if host, ok := creds["host"].(string); ok && strings.Contains(host, ":") {
		retry := make(map[string]any, len(creds))
		for k, v := range creds {
			retry[k] = v
		}
		retry["host"] = nil
		if u, err := url.Parse("//" + host); err == nil && u.Hostname() != "" {
			retry["host"] = strings.ToLower(u.Hostname())
		}
		if sig, err := ec2Signature(secret, retry); err == nil && authStrEqual(provided, sig) {
			return nil
		}
	}
	return ec2Unauthorized("Invalid EC2 signature.")
}

// ec2Signature is python-keystoneclient's Ec2Signer.generate: the signature of the
// request the credentials describe, by params["SignatureVersion"] (0, 1 or 2) or, for
// version 4, by an AWS4-HMAC-SHA256 Authorization header or X-Amz-Algorithm parameter.
func ec2Signature(secret string, creds map[string]any) (string, error) {
	params, ok := creds["params"].(map[string]any)
	if !ok {
		return "", fmt.Errorf("%w: params must be an object", errEC2Format)
	}
	version, hasVersion := params["SignatureVersion"]
	switch version {
	case "0":
		action, ok1 := params["Action"].(string)
		ts, ok2 := params["Timestamp"].(string)
		if !ok1 || !ok2 {
			return "", fmt.Errorf("%w: version 0 needs Action and Timestamp", errEC2Format)
		}
		return base64HMAC(sha1.New, secret, []byte(action+ts)), nil
	case "1":
		keys := sortedKeys(params)
		sort.SliceStable(keys, func(i, j int) bool { return strings.ToLower(keys[i]) < strings.ToLower(keys[j]) })
		var msg bytes.Buffer
		for _, k := range keys {
			msg.WriteString(k)
			msg.WriteString(pyStr(params[k]))
		}
		return base64HMAC(sha1.New, secret, msg.Bytes()), nil
	case "2":
		verb, ok1 := creds["verb"]
		host, ok2 := creds["host"]
		path, ok3 := creds["path"]
		if !ok1 || !ok2 || !ok3 {
			return "", fmt.Errorf("%w: version 2 needs verb, host and path", errEC2Format)
		}
		signed := make(map[string]any, len(params)+1)
		for k, v := range params {
			signed[k] = v
		}
		signed["SignatureMethod"] = "HmacSHA256"
		msg := pyStr(verb) + "\n" + pyStr(host) + "\n" + pyStr(path) + "\n" + canonicalQueryString(signed)
		return base64HMAC(sha256.New, secret, []byte(msg)), nil
	}
	v4, err := isEC2V4(creds, params)
	if err != nil {
		return "", err
	}
	if v4 {
		return ec2SignatureV4(secret, creds, params)
	}
	if hasVersion && version != nil {
		return "", fmt.Errorf("%w: unknown signature version", errEC2Format)
	}
	return "", fmt.Errorf("%w: unexpected signature format", errEC2Format)
}

// isEC2V4 is Ec2Signer._v4_creds: an Authorization header that starts with
// AWS4-HMAC-SHA256 or, when there is no such header, an X-Amz-Algorithm parameter of
// that value.
func isEC2V4(creds, params map[string]any) (bool, error) {
	if h, present := creds["headers"]; present {
		headers, ok := h.(map[string]any)
		if !ok {
			return false, fmt.Errorf("%w: headers must be an object", errEC2Format)
		}
		if a, present := headers["Authorization"]; present {
			auth, ok := a.(string)
			if !ok {
				return false, fmt.Errorf("%w: Authorization must be a string", errEC2Format)
			}
			return strings.HasPrefix(auth, "AWS4-HMAC-SHA256"), nil
		}
	}
	return params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256", nil
}

// botoPortBug matches the user agents of boto releases that sign the host header
// without its port.
var botoPortBug = regexp.MustCompile(`^Boto/2\.[0-9]\.[0-2]`)

// ec2SignatureV4 is Ec2Signer._calc_signature_4: AWS signature version 4 over the
// canonical request the credentials describe.
func ec2SignatureV4(secret string, creds, params map[string]any) (string, error) {
	headers, ok := creds["headers"].(map[string]any)
	if !ok {
		return "", fmt.Errorf("%w: version 4 needs headers", errEC2Format)
	}
	verb, ok1 := creds["verb"].(string)
	path, ok2 := creds["path"].(string)
	bodyHash, ok3 := creds["body_hash"].(string)
	if !ok1 || !ok2 || !ok3 {
		return "", fmt.Errorf("%w: version 4 needs verb, path and body_hash strings", errEC2Format)
	}
	authParam := func(name string) (string, error) {
		if a, present := headers["Authorization"]; present {
			auth, ok := a.(string)
			if !ok {
				return "", fmt.Errorf("%w: Authorization must be a string", errEC2Format)
			}
			_, after, _ := strings.Cut(auth, name+"=")
			v, _, _ := strings.Cut(after, ",")
			return v, nil
		}
		v, ok := params["X-Amz-"+name].(string)
		if !ok {
			return "", fmt.Errorf("%w: no %s", errEC2Format, name)
		}
		return v, nil
	}
	signedHeaders, err := authParam("SignedHeaders")
	if err != nil {
		return "", err
	}
	// Canonical headers: the signed ones that are present, lower-cased and trimmed.
	lower := map[string]string{}
	for _, k := range sortedKeys(headers) {
		v, ok := headers[k].(string)
		if !ok {
			return "", fmt.Errorf("%w: header values must be strings", errEC2Format)
		}
		lower[strings.TrimSpace(strings.ToLower(k))] = strings.TrimSpace(v)
	}
	stripPort := botoPortBug.MatchString(lower["user-agent"])
	var hl []string
	for _, h := range strings.Split(signedHeaders, ";") {
		v, ok := lower[h]
		if !ok {
			continue
		}
		if h == "host" && stripPort {
			v, _, _ = strings.Cut(v, ":")
		}
		hl = append(hl, h+":"+v)
	}
	canonicalHeaders := strings.Join(hl, "\n") + "\n"
	query := ""
	if strings.ToUpper(verb) != "POST" {
		query = canonicalQueryString(params)
	}
	cr := strings.Join([]string{strings.ToUpper(verb), path, query, canonicalHeaders, signedHeaders, bodyHash}, "\n")
	credential, err := authParam("Credential")
	if err != nil {
		return "", err
	}
	parts := strings.Split(credential, "/")
	if len(parts) < 4 {
		return "", fmt.Errorf("%w: credential scope is incomplete", errEC2Format)
	}
	date := parts[1]
	var paramDate string
	if d, present := headers["X-Amz-Date"]; present {
		paramDate, ok = d.(string)
	} else {
		paramDate, ok = params["X-Amz-Date"].(string)
	}
	if !ok || !strings.HasPrefix(paramDate, date) {
		return "", fmt.Errorf("%w: request date mismatch", errEC2Format)
	}
	crSum := sha256.Sum256([]byte(cr))
	stringToSign := strings.Join([]string{"AWS4-HMAC-SHA256", paramDate, strings.Join(parts[1:], "/"), hex.EncodeToString(crSum[:])}, "\n")
	key := aws4SigningKey(secret, date, parts[2], parts[3])
	return hex.EncodeToString(hmacSum(sha256.New, key, []byte(stringToSign))), nil
}

// aws4SigningKey derives the AWS signature version 4 key of a date, region and service.
func aws4SigningKey(secret, date, region, service string) []byte {
	k := hmacSum(sha256.New, []byte("AWS4"+secret), []byte(date))
	k = hmacSum(sha256.New, k, []byte(region))
	k = hmacSum(sha256.New, k, []byte(service))
	return hmacSum(sha256.New, k, []byte("aws4_request"))
}

// checkS3Signature is S3Resource._check_signature: the token is the base64 of the
// string the client signed; an AWS v4 string to sign ("AWS4-HMAC-SHA256\n<date>\n
// <date>/<region>/<s3|iam|sts>/aws4_request\n<hash>") is checked with the v4 key, any
// other with HMAC-SHA1 (v1).
func checkS3Signature(secret string, creds map[string]any) error {
	token, present := creds["token"]
	if !present {
		return ec2Unauthorized("S3 token not supplied")
	}
	stringToSign, err := urlsafeB64Decode(pyStr(token))
	if err != nil {
		return ec2Unauthorized("S3 token is not base64")
	}
	var sig string
	if bytes.HasPrefix(stringToSign, []byte("AWS4")) {
		parts := bytes.Split(stringToSign, []byte("\n"))
		if len(parts) != 4 || string(parts[0]) != "AWS4-HMAC-SHA256" {
			return ec2Unauthorized("Invalid EC2 signature.")
		}
		sc := strings.Split(string(parts[2]), "/")
		if len(sc) != 4 || sc[3] != "aws4_request" {
			return ec2Unauthorized("Invalid EC2 signature.")
		}
		if sc[2] != "s3" && sc[2] != "iam" && sc[2] != "sts" {
			return ec2Unauthorized("Invalid EC2 signature.")
		}
		key := aws4SigningKey(secret, sc[0], sc[1], sc[2])
		sig = hex.EncodeToString(hmacSum(sha256.New, key, stringToSign))
	} else {
		sig = base64HMAC(sha1.New, secret, stringToSign)
	}
	if !authStrEqual(creds["signature"], sig) {
		return ec2Unauthorized("Credential signature mismatch")
	}
	return nil
}

// urlsafeB64Decode is Python's base64.urlsafe_b64decode, lenient as Python's
// non-strict decoder is: characters outside the alphabet are skipped, and missing
// padding is tolerated.
func urlsafeB64Decode(s string) ([]byte, error) {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '-':
			b.WriteByte('+')
		case c == '_':
			b.WriteByte('/')
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
			b.WriteRune(c)
		case c == '=':
			// Padding ends the data.
			return base64.RawStdEncoding.DecodeString(b.String())
		}
	}
	return base64.RawStdEncoding.DecodeString(b.String())
}

// checkEC2Timestamp is ResourceBase._check_timestamp: a request that names its time
// (params Timestamp, an X-Amz-Date header or parameter) must not be older than
// ec2AuthTTL. A request without a timestamp passes, as its signer chose.
func checkEC2Timestamp(creds map[string]any, at time.Time) error {
	params, _ := creds["params"].(map[string]any)
	headers, _ := creds["headers"].(map[string]any)
	var ts any
	for _, v := range []any{params["Timestamp"], headers["X-Amz-Date"], params["X-Amz-Date"]} {
		if !isFalsyJSON(v) {
			ts = v
			break
		}
	}
	if ts == nil {
		return nil
	}
	s, ok := ts.(string)
	if !ok {
		return ec2Unauthorized("Credential timestamp is invalid")
	}
	t, err := parseISO8601(s)
	if err != nil {
		return ec2Unauthorized("Credential timestamp is invalid: " + err.Error())
	}
	if at.After(t.Add(ec2AuthTTL)) {
		return ec2Unauthorized("Credential is expired")
	}
	return nil
}

// iso8601Re matches the ISO 8601 forms the iso8601 library Keystone uses accepts for
// request timestamps: extended or basic dates and times, optional fraction and zone.
var iso8601Re = regexp.MustCompile(`^(\d{4})-?(\d{2})-?(\d{2})(?:[T ](\d{2})(?::?(\d{2})(?::?(\d{2})(?:[.,](\d+))?)?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$`)

// parseISO8601 parses a request timestamp; one without a zone is UTC.
func parseISO8601(s string) (time.Time, error) {
	m := iso8601Re.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return time.Time{}, errors.New("unable to parse date string")
	}
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	nsec := 0
	if m[7] != "" {
		frac := (m[7] + "000000000")[:9]
		nsec = num(frac)
	}
	loc := time.UTC
	if z := m[8]; z != "" && z != "Z" {
		digits := strings.ReplaceAll(z[1:], ":", "")
		off := num(digits[:2]) * 3600
		if len(digits) == 4 {
			off += num(digits[2:]) * 60
		}
		if z[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	}
	year, month, day := num(m[1]), num(m[2]), num(m[3])
	hour, minute, sec := num(m[4]), num(m[5]), num(m[6])
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, errors.New("date out of range")
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	if t.Day() != day {
		return time.Time{}, errors.New("day is out of range for month")
	}
	return t.UTC(), nil
}

// canonicalQueryString is Ec2Signer._canonical_qs: parameters sorted by name, names and
// values percent-encoded except for unreserved characters, joined with &.
func canonicalQueryString(params map[string]any) string {
	keys := sortedKeys(params)
	pairs := make([]string, 0, len(keys))
	for _, k := range keys {
		pairs = append(pairs, pyQuote(k)+"="+pyQuote(pyStr(params[k])))
	}
	return strings.Join(pairs, "&")
}

// pyQuote is Python's urllib.parse.quote with safe='-_~' (or ”): every byte except
// letters, digits and "_.-~" becomes %XX.
func pyQuote(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// pyStr renders a decoded JSON value as Python's str() does for the scalar values that
// signing parameters hold.
func pyStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case json.Number:
		return x.String()
	default:
		return pyRepr(v)
	}
}

// sortedKeys returns a map's keys in byte order, which for UTF-8 is Python's code point
// order.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// hmacSum returns the HMAC of msg with key.
func hmacSum(h func() hash.Hash, key, msg []byte) []byte {
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)
}

// base64HMAC returns the standard base64 of the HMAC of msg with the secret.
func base64HMAC(h func() hash.Hash, secret string, msg []byte) string {
	return base64.StdEncoding.EncodeToString(hmacSum(h, []byte(secret), msg))
}
