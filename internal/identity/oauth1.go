package identity

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"hash"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/identity/fernet"
	"github.com/gostack/gostack/internal/store"
)

// This file is Keystone's OS-OAUTH1 delegation (keystone/oauth1, keystone/api/os_oauth1.py
// and keystone/auth/plugins/oauth1.py): a consumer (oauth1_consumers.go) gets a request
// token for a project, signing the request with OAuth 1.0a (RFC 5849); a user authorizes
// it with some of their roles on that project and hands the verifier to the consumer; the
// consumer trades request token and verifier for an access token; with the access token it
// gets project-scoped tokens for the user (method "oauth1") that carry the delegated roles
// the user still holds. Deleting the access token, its consumer, its user or its project
// removes the row, and tokens from it no longer validate. The HTTP handlers are in
// oauth1_http.go.

// Keystone's [oauth1] request_token_duration and access_token_duration defaults.
const (
	oauthRequestTokenDuration = 8 * time.Hour
	oauthAccessTokenDuration  = 24 * time.Hour
)

// oauthTimestampLifetime is how far a request's oauth_timestamp may be from the server's
// clock (oauthlib's RequestValidator.timestamp_lifetime).
const oauthTimestampLifetime = 600 * time.Second

// oauthVerifierChars are the characters of a verifier: letters and digits without the
// easily confused ones (keystone/oauth1/backends/base.py VERIFIER_CHARS).
const oauthVerifierChars = "abcdefghkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// oauthHeadersMissing is Keystone's OAuthHeadersMissingError. Keystone answers it with a
// 500; a request without the header is the client's error, so this is a 400.
func oauthHeadersMissing() error {
	return api.BadRequest("No Authorization headers found, cannot proceed with OAuth related calls. If running under HTTPd or Apache, ensure WSGIPassAuthorization is set to On.")
}

// oauthInvalid is the 400 Keystone makes of an oauthlib error (validate_oauth_params).
func oauthInvalid(code, desc string) error {
	return api.BadRequest("Validation failed with errors: %s, detail message is: %s", code, desc)
}

// oauthRequest is an OAuth 1.0a signed request as the server sees it.
type oauthRequest struct {
	// Params are the protocol parameters of the Authorization header, decoded; realm
	// is left out and oauth_signature kept.
	Params map[string]string
	// Signed are the parameters the signature covers (RFC 5849 section 3.4.1.3): the
	// header's without realm and oauth_signature, the query's and those of a form body.
	Signed [][2]string
	// Method and BaseURI are the first two parts of the signature base string.
	Method, BaseURI string
}

// parseOAuthAuthorization parses an "OAuth k="v", ..." Authorization header the way
// oauthlib does (urllib's parse_http_list and parse_keqv_list, then percent-decoding),
// returning the parameters in order. Any other scheme, an item without '=', an empty name,
// a bad percent escape or a repeated parameter is an error.
func parseOAuthAuthorization(h string) ([][2]string, error) {
	const scheme = "oauth "
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return nil, oauthInvalid("invalid_request", "Malformed authorization header.")
	}
	var items []string
	var part strings.Builder
	escape, quote := false, false
	for _, c := range h[len(scheme):] {
		switch {
		case escape:
			part.WriteRune(c)
			escape = false
		case quote:
			if c == '\\' {
				escape = true
				continue
			}
			if c == '"' {
				quote = false
			}
			part.WriteRune(c)
		case c == ',':
			items = append(items, part.String())
			part.Reset()
		default:
			if c == '"' {
				quote = true
			}
			part.WriteRune(c)
		}
	}
	if part.Len() > 0 {
		items = append(items, part.String())
	}
	var out [][2]string
	seen := map[string]bool{}
	for _, it := range items {
		it = strings.TrimSpace(it)
		if it == "" {
			continue
		}
		k, v, ok := strings.Cut(it, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, oauthInvalid("invalid_request", "Malformed authorization header.")
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		dk, err1 := url.PathUnescape(k)
		dv, err2 := url.PathUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, oauthInvalid("invalid_request", "Malformed authorization header.")
		}
		if seen[dk] {
			return nil, oauthInvalid("invalid_request", "Duplicate OAuth1 entries.")
		}
		seen[dk] = true
		out = append(out, [2]string{dk, dv})
	}
	return out, nil
}

// readOAuthRequest reads the signed parts of r. form holds the parameters of an
// application/x-www-form-urlencoded body (nil for none). Protocol parameters must all be
// in the Authorization header, as Keystone reads them from there.
func readOAuthRequest(r *http.Request, form url.Values) (*oauthRequest, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, oauthHeadersMissing()
	}
	header, err := parseOAuthAuthorization(h)
	if err != nil {
		return nil, err
	}
	o := &oauthRequest{Params: map[string]string{}, Method: strings.ToUpper(r.Method), BaseURI: oauthBaseURI(r)}
	for _, kv := range header {
		if kv[0] == "realm" {
			continue
		}
		o.Params[kv[0]] = kv[1]
		if kv[0] != "oauth_signature" {
			o.Signed = append(o.Signed, kv)
		}
	}
	query, err := url.ParseQuery(requestQuery(r))
	if err != nil {
		return nil, oauthInvalid("invalid_request", "Malformed query string.")
	}
	for _, vals := range []url.Values{query, form} {
		for k, vs := range vals {
			if strings.HasPrefix(k, "oauth_") {
				return nil, oauthInvalid("invalid_request", "oauth_ params must come from only 1 signature type but were found in header and query or body.")
			}
			for _, v := range vs {
				o.Signed = append(o.Signed, [2]string{k, v})
			}
		}
	}
	return o, nil
}

// requestQuery is the query string of the request as the client sent it.
func requestQuery(r *http.Request) string {
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && r.RequestURI != "" {
		return u.RawQuery
	}
	return r.URL.RawQuery
}

// oauthBaseURI is the base string URI of RFC 5849 section 3.4.1.2: scheme and host as
// the client reached the server (lower case, without the scheme's default port) and the
// path as sent, before the server trimmed any trailing slash.
func oauthBaseURI(r *http.Request) string {
	base, err := url.Parse(api.BaseURL(r))
	scheme, host := "http", strings.ToLower(r.Host)
	if err == nil {
		scheme, host = strings.ToLower(base.Scheme), strings.ToLower(base.Host)
	}
	switch scheme {
	case "http":
		host = strings.TrimSuffix(host, ":80")
	case "https":
		host = strings.TrimSuffix(host, ":443")
	}
	path := r.URL.EscapedPath()
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && r.RequestURI != "" {
		path = u.EscapedPath()
	}
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path
}

// oauthEncode is the percent-encoding of RFC 5849 section 3.6: every byte but the
// unreserved characters as %XX with upper-case hex.
func oauthEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// baseString is the signature base string of RFC 5849 section 3.4.1.
func (o *oauthRequest) baseString() string {
	pairs := make([]string, 0, len(o.Signed))
	enc := make([][2]string, 0, len(o.Signed))
	for _, kv := range o.Signed {
		enc = append(enc, [2]string{oauthEncode(kv[0]), oauthEncode(kv[1])})
	}
	sort.Slice(enc, func(i, j int) bool {
		if enc[i][0] != enc[j][0] {
			return enc[i][0] < enc[j][0]
		}
		return enc[i][1] < enc[j][1]
	})
	for _, kv := range enc {
		pairs = append(pairs, kv[0]+"="+kv[1])
	}
	return o.Method + "&" + oauthEncode(o.BaseURI) + "&" + oauthEncode(strings.Join(pairs, "&"))
}

// oauthSignatureMethods are the methods oauthlib allows by default. The RSA methods are
// accepted as names but never verify: Keystone has no RSA keys for consumers.
var oauthSignatureMethods = []string{"HMAC-SHA1", "HMAC-SHA256", "HMAC-SHA512", "RSA-SHA1", "RSA-SHA256", "RSA-SHA512", "PLAINTEXT"}

// checkMandatory applies oauthlib's checks of the protocol parameters every signed
// request needs (BaseEndpoint._check_mandatory_parameters), with Keystone's formats for
// the consumer key; failures are 400s.
func (o *oauthRequest) checkMandatory(now time.Time) error {
	p := o.Params
	for _, k := range []string{"oauth_signature", "oauth_consumer_key", "oauth_nonce", "oauth_timestamp", "oauth_signature_method"} {
		if p[k] == "" {
			return oauthInvalid("invalid_request", "Missing mandatory OAuth parameters.")
		}
	}
	if m := p["oauth_signature_method"]; !slices.Contains(oauthSignatureMethods, m) {
		return oauthInvalid("invalid_signature_method", "Invalid signature, "+truncateRunes(m, 32)+" not in the allowed signature methods.")
	}
	if v, ok := p["oauth_version"]; ok && v != "1.0" {
		return oauthInvalid("invalid_request", "Invalid OAuth version.")
	}
	ts := p["oauth_timestamp"]
	if len(ts) != 10 {
		return oauthInvalid("invalid_request", "Invalid timestamp size")
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || n < 0 {
		return oauthInvalid("invalid_request", "Timestamp must be an integer.")
	}
	if d := now.Sub(time.Unix(n, 0)); d > oauthTimestampLifetime || d < -oauthTimestampLifetime {
		return oauthInvalid("invalid_request", "Timestamp given is invalid, differ from allowed by over 600 seconds.")
	}
	if !isUUIDHex(p["oauth_consumer_key"]) {
		return oauthInvalid("invalid_request", "Invalid client key format.")
	}
	if !validNonce(p["oauth_nonce"]) {
		return oauthInvalid("invalid_request", "Invalid nonce format.")
	}
	return nil
}

// isUUIDHex reports whether s has the form of Keystone's OAuth ids and keys (32
// lower-case hex digits; the validator's _check_token).
func isUUIDHex(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// validNonce accepts a nonce of 1 to 128 unreserved characters. Keystone accepts only hex
// digits; every client that works with Keystone sends those.
func validNonce(s string) bool {
	return len(s) > 0 && len(s) <= 128 && oauthEncode(s) == s
}

// validVerifier reports whether s could be a verifier (the validator's check_verifier).
func validVerifier(s string) bool {
	if len(s) != 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(oauthVerifierChars, rune(s[i])) {
			return false
		}
	}
	return true
}

// verify checks the request's signature with the consumer's and the token's secrets,
// comparing in constant time.
func (o *oauthRequest) verify(consumerSecret, tokenSecret string) bool {
	key := oauthEncode(consumerSecret) + "&" + oauthEncode(tokenSecret)
	var h func() hash.Hash
	switch o.Params["oauth_signature_method"] {
	case "PLAINTEXT":
		return subtle.ConstantTimeCompare([]byte(key), []byte(o.Params["oauth_signature"])) == 1
	case "HMAC-SHA1":
		h = sha1.New
	case "HMAC-SHA256":
		h = sha256.New
	case "HMAC-SHA512":
		h = sha512.New
	default:
		return false
	}
	mac := hmac.New(h, []byte(key))
	mac.Write([]byte(o.baseString()))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return subtle.ConstantTimeCompare([]byte(want), []byte(o.Params["oauth_signature"])) == 1
}

// oauthToken is a stored request or access token.
type oauthToken struct {
	ID, Secret, ConsumerID, ProjectID string
	// AuthorizingUserID is "" for a request token nobody authorized yet.
	AuthorizingUserID string
	// Verifier is set when a request token is authorized; access tokens have none.
	Verifier string
	// RoleIDs are the delegated roles as authorized, implied roles not added.
	RoleIDs []string
	// ExpiresAt is zero for a token that never expires.
	ExpiresAt time.Time
}

// expired reports whether the token has passed its expiry at t.
func (t *oauthToken) expired(at time.Time) bool {
	return !t.ExpiresAt.IsZero() && at.After(t.ExpiresAt)
}

// formResponse is the body of the request and access token responses.
func (t *oauthToken) formResponse() string {
	s := "oauth_token=" + t.ID + "&oauth_token_secret=" + t.Secret
	if !t.ExpiresAt.IsZero() {
		s += "&oauth_expires_at=" + store.FormatTime(t.ExpiresAt)
	}
	return s
}

// scanOAuthToken reads id, secret, consumer_id, project_id, authorizing_user_id, verifier,
// role_ids, expires_at.
func scanOAuthToken(row interface{ Scan(...any) error }) (*oauthToken, error) {
	var t oauthToken
	var user, verifier, roles, expires sql.NullString
	if err := row.Scan(&t.ID, &t.Secret, &t.ConsumerID, &t.ProjectID, &user, &verifier, &roles, &expires); err != nil {
		return nil, err
	}
	t.AuthorizingUserID, t.Verifier = user.String, verifier.String
	if roles.Valid && roles.String != "" {
		_ = json.Unmarshal([]byte(roles.String), &t.RoleIDs)
	}
	t.ExpiresAt = store.ParseTime(expires.String)
	return &t, nil
}

// getRequestToken loads a request token or returns Keystone's 404.
func getRequestToken(ctx context.Context, q store.Querier, id string) (*oauthToken, error) {
	t, err := scanOAuthToken(q.QueryRowContext(ctx, `SELECT id, request_secret, consumer_id, requested_project_id,
		authorizing_user_id, verifier, role_ids, expires_at FROM oauth1_request_tokens WHERE id = ?`, id))
	if store.IsNoRows(err) {
		return nil, api.NotFound("Request token not found")
	}
	return t, err
}

// accessTokenColumns is the column list scanOAuthToken reads from oauth1_access_tokens.
const accessTokenColumns = `id, access_secret, consumer_id, project_id, authorizing_user_id, NULL, role_ids, expires_at`

// getAccessToken loads an access token or returns Keystone's 404.
func getAccessToken(ctx context.Context, q store.Querier, id string) (*oauthToken, error) {
	t, err := scanOAuthToken(q.QueryRowContext(ctx, `SELECT `+accessTokenColumns+` FROM oauth1_access_tokens WHERE id = ?`, id))
	if store.IsNoRows(err) {
		return nil, api.NotFound("Access token not found")
	}
	return t, err
}

// listAccessTokens returns the access tokens a user authorized, ordered by id.
func listAccessTokens(ctx context.Context, q store.Querier, userID string) ([]*oauthToken, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+accessTokenColumns+` FROM oauth1_access_tokens
		WHERE authorizing_user_id = ? ORDER BY id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*oauthToken{}
	for rows.Next() {
		t, err := scanOAuthToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// nullTime stores a zero time as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return store.FormatTime(t)
}

// newVerifier draws 8 distinct verifier characters, as Keystone's
// system_random.sample(VERIFIER_CHARS, 8) does.
func newVerifier() (string, error) {
	chars := []byte(oauthVerifierChars)
	out := make([]byte, 8)
	for i := range out {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(chars)-i)))
		if err != nil {
			return "", err
		}
		j := i + int(n.Int64())
		chars[i], chars[j] = chars[j], chars[i]
		out[i] = chars[i]
	}
	return string(out), nil
}

// requireHeaderParam is Keystone's ValidationError for a protocol parameter or header the
// request lacks.
func requireHeaderParam(o *oauthRequest, name string) (string, error) {
	v := o.Params[name]
	if v == "" {
		return "", validationError(name, "request")
	}
	return v, nil
}

// createRequestToken serves a consumer's request for a request token on projectID
// (RequestTokenResource.post): the consumer and project must exist and the request must
// be signed with the consumer's secret.
func (s *Service) createRequestToken(ctx context.Context, o *oauthRequest, projectID string) (*oauthToken, error) {
	consumerID, err := requireHeaderParam(o, "oauth_consumer_key")
	if err != nil {
		return nil, err
	}
	if projectID == "" {
		return nil, validationError("Requested-Project-Id", "request")
	}
	if _, err := s.getProject(ctx, s.db, projectID); err != nil {
		return nil, err
	}
	c, err := s.getConsumer(ctx, s.db, consumerID)
	if err != nil {
		return nil, err
	}
	if err := o.checkMandatory(time.Now()); err != nil {
		return nil, err
	}
	if o.Params["oauth_callback"] == "" {
		return nil, oauthInvalid("invalid_request", "Missing callback URI.")
	}
	if !o.verify(c.Secret, "") {
		return nil, api.Unauthorized("Invalid signature")
	}
	t := &oauthToken{ID: api.NewID(), Secret: api.NewID(), ConsumerID: c.ID, ProjectID: projectID,
		ExpiresAt: now().Add(oauthRequestTokenDuration)}
	err = s.write(ctx, func(tx *store.Tx) error {
		// Request tokens nobody exchanged in time are of no further use; drop them here
		// rather than let them pile up (expires_at is fixed-width text, so it compares).
		if _, err := tx.ExecContext(ctx, `DELETE FROM oauth1_request_tokens WHERE expires_at < ?`, store.FormatTime(now())); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth1_request_tokens (id, request_secret, requested_project_id,
			consumer_id, expires_at) VALUES (?, ?, ?, ?, ?)`, t.ID, t.Secret, t.ProjectID, t.ConsumerID, nullTime(t.ExpiresAt))
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// callerDelegated reports whether the caller's token was issued through delegation (a
// trust, an OAuth access token or an application credential), which Keystone does not let
// authorize request tokens or manage access tokens.
func (s *Service) callerDelegated(ctx context.Context) (bool, error) {
	c := caller(ctx)
	if slices.Contains(c.Methods, "application_credential") || c.AppCredID != "" {
		return true, nil
	}
	if c.Token == "" {
		return false, nil
	}
	t, err := s.validate(ctx, c.Token, false)
	if err != nil {
		return false, err
	}
	return t.TrustID != "" || t.AccessTokenID != "", nil
}

// authorizeRequestToken lets the caller delegate roles (each {"id"} or {"name"}) on the
// request token's project (AuthorizeResource.put) and returns the verifier. The caller
// must hold every role on the project.
func (s *Service) authorizeRequestToken(ctx context.Context, id string, roles []api.Object) (string, error) {
	if delegated, err := s.callerDelegated(ctx); err != nil {
		return "", err
	} else if delegated {
		return "", api.Forbidden("Cannot authorize a request token with a token issued via delegation.")
	}
	userID := caller(ctx).UserID
	verifier, err := newVerifier()
	if err != nil {
		return "", err
	}
	err = s.write(ctx, func(tx *store.Tx) error {
		rt, err := getRequestToken(ctx, tx, id)
		if err != nil {
			return err
		}
		if rt.expired(time.Now()) {
			return api.Unauthorized("Request token is expired")
		}
		ids, err := trustRoleIDs(ctx, tx, roles)
		if err != nil {
			return err
		}
		have, err := s.effectiveRoleIDs(ctx, tx, userID, rt.ProjectID)
		if err != nil {
			return err
		}
		for _, rid := range ids {
			if _, ok := have[rid]; !ok {
				return api.Unauthorized("authorizing user does not have role required")
			}
		}
		if ids == nil {
			ids = []string{}
		}
		_, err = tx.ExecContext(ctx, `UPDATE oauth1_request_tokens SET authorizing_user_id = ?, verifier = ?, role_ids = ?
			WHERE id = ?`, userID, verifier, jsonText(ids), id)
		return err
	})
	if err != nil {
		return "", err
	}
	return verifier, nil
}

// createAccessToken trades an authorized request token for an access token
// (AccessTokenResource.post); the request is signed with the consumer's and the request
// token's secrets and carries the verifier. The request token is used up.
func (s *Service) createAccessToken(ctx context.Context, o *oauthRequest) (*oauthToken, error) {
	consumerID, err := requireHeaderParam(o, "oauth_consumer_key")
	if err != nil {
		return nil, err
	}
	requestID, err := requireHeaderParam(o, "oauth_token")
	if err != nil {
		return nil, err
	}
	verifier, err := requireHeaderParam(o, "oauth_verifier")
	if err != nil {
		return nil, err
	}
	rt, err := getRequestToken(ctx, s.db, requestID)
	if err != nil {
		return nil, err
	}
	if rt.expired(time.Now()) {
		return nil, api.Unauthorized("Request token is expired")
	}
	if err := o.checkMandatory(time.Now()); err != nil {
		return nil, err
	}
	if !isUUIDHex(requestID) {
		return nil, oauthInvalid("invalid_request", "Invalid resource owner key format.")
	}
	if !validVerifier(verifier) {
		return nil, oauthInvalid("invalid_request", "Invalid verifier format.")
	}
	c, err := s.getConsumer(ctx, s.db, consumerID)
	if err != nil {
		if api.AsError(err).Status == http.StatusNotFound {
			return nil, api.Unauthorized("Provided consumer does not exist.")
		}
		return nil, err
	}
	if rt.ConsumerID != c.ID {
		return nil, api.Unauthorized("Provided consumer key does not match stored consumer key.")
	}
	if rt.Verifier == "" || subtle.ConstantTimeCompare([]byte(rt.Verifier), []byte(verifier)) != 1 {
		return nil, api.Unauthorized("Provided verifier does not match stored verifier")
	}
	if !o.verify(c.Secret, rt.Secret) {
		return nil, api.Unauthorized("Invalid signature")
	}
	if rt.AuthorizingUserID == "" {
		return nil, api.Unauthorized("Request Token does not have an authorizing user id.")
	}
	at := &oauthToken{ID: api.NewID(), Secret: api.NewID(), ConsumerID: rt.ConsumerID, ProjectID: rt.ProjectID,
		AuthorizingUserID: rt.AuthorizingUserID, RoleIDs: rt.RoleIDs, ExpiresAt: now().Add(oauthAccessTokenDuration)}
	err = s.write(ctx, func(tx *store.Tx) error {
		// The request token is used once: whoever deletes it makes the access token.
		res, err := tx.ExecContext(ctx, `DELETE FROM oauth1_request_tokens WHERE id = ? AND verifier = ?`, rt.ID, rt.Verifier)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return api.NotFound("Request token not found")
		}
		roles := at.RoleIDs
		if roles == nil {
			roles = []string{}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO oauth1_access_tokens (id, access_secret, authorizing_user_id, project_id,
			role_ids, consumer_id, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			at.ID, at.Secret, at.AuthorizingUserID, at.ProjectID, jsonText(roles), at.ConsumerID, nullTime(at.ExpiresAt))
		return err
	})
	if err != nil {
		return nil, err
	}
	return at, nil
}

// deleteAccessToken deletes one of userID's access tokens; the tokens issued from it no
// longer validate (their access token is gone).
func (s *Service) deleteAccessToken(ctx context.Context, userID, id string) error {
	return s.write(ctx, func(tx *store.Tx) error {
		at, err := getAccessToken(ctx, tx, id)
		if err != nil {
			return err
		}
		if at.AuthorizingUserID != userID {
			return api.Unauthorized("User IDs do not match")
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM oauth1_access_tokens WHERE id = ?`, id)
		return err
	})
}

// oauthAuthenticate checks a POST /v3/auth/tokens request signed with an access token
// (keystone/auth/plugins/oauth1.py) and returns the access token. Failures of the
// signature and its parameters are all the same 401, as in Keystone.
func (s *Service) oauthAuthenticate(ctx context.Context, r *http.Request) (*oauthToken, error) {
	o, err := readOAuthRequest(r, nil)
	if err != nil {
		return nil, err
	}
	id, err := requireHeaderParam(o, "oauth_token")
	if err != nil {
		return nil, err
	}
	at, err := getAccessToken(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if at.expired(time.Now()) {
		return nil, api.Unauthorized("Access token is expired")
	}
	invalid := api.Unauthorized("Could not validate the access token")
	if err := o.checkMandatory(time.Now()); err != nil || !isUUIDHex(id) {
		return nil, invalid
	}
	c, err := s.getConsumer(ctx, s.db, o.Params["oauth_consumer_key"])
	if err != nil {
		if api.AsError(err).Status == http.StatusNotFound {
			return nil, invalid
		}
		return nil, err
	}
	if c.ID != at.ConsumerID || !o.verify(c.Secret, at.Secret) {
		return nil, invalid
	}
	return at, nil
}

// oauthTokenPayload is the payload of a token from access token at: the authorizing user,
// scoped to the access token's project, expiring no later than the access token.
func (s *Service) oauthTokenPayload(at *oauthToken) fernet.Payload {
	p := fernet.Payload{
		UserID: at.AuthorizingUserID, Methods: []string{"oauth1"}, ProjectID: at.ProjectID,
		AccessTokenID: at.ID, AuditIDs: []string{fernet.NewAuditID()}, ExpiresAt: now().Add(s.cfg.TokenExpiration),
	}
	if !at.ExpiresAt.IsZero() && at.ExpiresAt.Before(p.ExpiresAt) {
		p.ExpiresAt = at.ExpiresAt
	}
	return p
}

// oauthTokenRoles returns the roles a token from the access token carries (Keystone's
// _get_oauth_roles): the delegated roles and those they imply, as far as the user still
// holds them on the project, sorted by name.
func (s *Service) oauthTokenRoles(ctx context.Context, q store.Querier, at *oauthToken) ([]role, error) {
	rules, err := impliedRuleMap(ctx, q)
	if err != nil {
		return nil, err
	}
	ids := slices.Clone(at.RoleIDs)
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	for i := 0; i < len(ids); i++ {
		for _, implied := range rules[ids[i]] {
			if !seen[implied] {
				seen[implied] = true
				ids = append(ids, implied)
			}
		}
	}
	have, err := s.effectiveRoleIDs(ctx, q, at.AuthorizingUserID, at.ProjectID)
	if err != nil {
		return nil, err
	}
	var out []role
	for _, id := range ids {
		if r, ok := have[id]; ok {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// resolveOAuthToken fills in an OAuth-scoped token at validation: its access token must
// still exist, for the token's user and project; the token carries the delegated roles
// the user still holds. Any failure makes the token invalid.
func (s *Service) resolveOAuthToken(ctx context.Context, t *tokenInfo) error {
	at, err := getAccessToken(ctx, s.db, t.AccessTokenID)
	if err != nil {
		if api.AsError(err).Status >= http.StatusInternalServerError {
			return err
		}
		return errTokenInvalid()
	}
	if at.AuthorizingUserID != t.UserID || at.ProjectID != t.ProjectID {
		return errTokenInvalid()
	}
	roles, err := s.oauthTokenRoles(ctx, s.db, at)
	if err != nil {
		return err
	}
	t.Roles, t.OAuthConsumerID = roles, at.ConsumerID
	return nil
}

// oauthTokenJSON adds an OAuth-scoped token's "OS-OAUTH1" to its body.
func oauthTokenJSON(t *tokenInfo, body map[string]any) {
	if t.AccessTokenID == "" {
		return
	}
	body["OS-OAUTH1"] = map[string]any{"access_token_id": t.AccessTokenID, "consumer_id": t.OAuthConsumerID}
}
