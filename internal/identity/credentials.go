package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// credential is a Keystone credential: an opaque blob (an EC2 key pair, a TOTP seed, a
// certificate) that belongs to a user and optionally a project.
type credential struct {
	ID, UserID, ProjectID, Type, Blob string
	Extra                             map[string]any
}

// isEC2 reports whether a credential type is "ec2", which Keystone compares
// case-insensitively.
func isEC2(typ string) bool { return strings.EqualFold(typ, "ec2") }

// credentialNotFound is Keystone's 404 for a missing credential.
func credentialNotFound(id string) *api.Error {
	return api.NotFound("Could not find credential: %s.", id)
}

// credentialConflict is Keystone's 409 for a credential id that exists (for EC2, the
// same access key).
func credentialConflict() *api.Error {
	return api.Conflict("Conflict occurred attempting to store credential - Duplicate entry.")
}

// credentialColumns is the column list scanCredential reads.
const credentialColumns = `id, user_id, COALESCE(project_id, ''), type, blob, extra`

// scanCredential reads one row selected with credentialColumns.
func scanCredential(row interface{ Scan(...any) error }) (*credential, error) {
	var c credential
	var extra string
	if err := row.Scan(&c.ID, &c.UserID, &c.ProjectID, &c.Type, &c.Blob, &extra); err != nil {
		return nil, err
	}
	c.Extra = jsonMap(extra)
	return &c, nil
}

// getCredential loads a credential or returns Keystone's 404.
func (s *Service) getCredential(ctx context.Context, q store.Querier, id string) (*credential, error) {
	c, err := scanCredential(q.QueryRowContext(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE id = ?`, id))
	if store.IsNoRows(err) {
		return nil, credentialNotFound(id)
	}
	return c, err
}

// listCredentials returns credentials, filtered by user and type when those are set.
func (s *Service) listCredentials(ctx context.Context, q store.Querier, userID, typ string) ([]*credential, error) {
	query := `SELECT ` + credentialColumns + ` FROM credentials WHERE 1 = 1`
	var args []any
	if userID != "" {
		query += ` AND user_id = ?`
		args = append(args, userID)
	}
	if typ != "" {
		query += ` AND type = ?`
		args = append(args, typ)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*credential
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ec2Blob parses and checks the blob of an EC2 credential: a JSON object with an
// "access" key, as Keystone's _validate_blob_json requires.
func ec2Blob(blob string) (map[string]any, error) {
	var v any
	if err := json.Unmarshal([]byte(blob), &v); err != nil {
		return nil, api.BadRequest("Invalid blob in credential")
	}
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return nil, validationError("blob", "credential")
	}
	if _, ok := m["access"].(string); !ok {
		return nil, validationError("access", "credential")
	}
	return m, nil
}

// ec2CredentialID is the id Keystone gives an EC2 credential: the SHA-256 of its access
// key, in hex, so that the access key finds the credential.
func ec2CredentialID(access string) string {
	sum := sha256.Sum256([]byte(access))
	return hex.EncodeToString(sum[:])
}

// checkDelegatedProject refuses a token from an application credential access to a
// credential outside the token's project (Keystone's _check_credential_project_scope).
// Credentials without a project are out of reach of such tokens.
func checkDelegatedProject(c *api.Caller, cred *credential) error {
	if c.AppCredID == "" || cred.ProjectID == c.ProjectID && cred.ProjectID != "" {
		return nil
	}
	return api.Forbidden("You are not authorized to perform the requested action: Credential project does not match the project scope of the delegated token.")
}

// createCredential stores a new credential whose id, for EC2 credentials, derives from
// the access key. A token from an application credential records it in an EC2 blob so
// that EC2 authentication later yields a token limited the same way.
func (s *Service) createCredential(ctx context.Context, c *api.Caller, cred *credential) error {
	if isEC2(cred.Type) {
		if err := s.requireUnrestricted(ctx, c, "credentials"); err != nil {
			return err
		}
	}
	if err := checkDelegatedProject(c, cred); err != nil {
		return err
	}
	if isEC2(cred.Type) {
		blob, err := ec2Blob(cred.Blob)
		if err != nil {
			return err
		}
		cred.ID = ec2CredentialID(blob["access"].(string))
		if c.AppCredID != "" {
			blob["app_cred_id"] = c.AppCredID
			b, err := json.Marshal(blob)
			if err != nil {
				return err
			}
			cred.Blob = string(b)
		}
	} else {
		cred.ID = api.NewID()
	}
	return s.write(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO credentials (id, user_id, project_id, type, blob, extra) VALUES (?, ?, ?, ?, ?, ?)`,
			cred.ID, cred.UserID, nullIfEmpty(cred.ProjectID), cred.Type, cred.Blob, jsonText(cred.Extra))
		if store.IsUniqueViolation(err) {
			return credentialConflict()
		}
		return err
	})
}

// nullIfEmpty stores "" as SQL NULL.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ec2ScopeKeys are the EC2 blob keys that bind a credential to a delegation; an update
// may not change them.
var ec2ScopeKeys = []string{"trust_id", "app_cred_id", "access_token_id", "access_id"}

// checkCredentialUpdate applies Keystone's update rules: an EC2 credential's new blob
// must still be a valid EC2 blob with the same delegation keys, and a credential
// becoming EC2 must have a project.
func checkCredentialUpdate(cur, next *credential, blobChanged bool) error {
	if isEC2(cur.Type) && blobChanged {
		nb, err := ec2Blob(next.Blob)
		if err != nil {
			return err
		}
		var ob map[string]any
		_ = json.Unmarshal([]byte(cur.Blob), &ob)
		for _, k := range ec2ScopeKeys {
			if !jsonEqual(ob[k], nb[k]) {
				return api.BadRequest("%s can not be updated for credential", k)
			}
		}
	}
	if isEC2(next.Type) && next.ProjectID == "" {
		return validationError("project_id", "credential")
	}
	return nil
}

// jsonEqual compares two decoded JSON values.
func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// updateCredential stores a changed credential.
func (s *Service) updateCredential(ctx context.Context, cred *credential) error {
	return s.write(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE credentials SET user_id = ?, project_id = ?, type = ?, blob = ?, extra = ? WHERE id = ?`,
			cred.UserID, nullIfEmpty(cred.ProjectID), cred.Type, cred.Blob, jsonText(cred.Extra), cred.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return credentialNotFound(cred.ID)
		}
		return nil
	})
}

// deleteCredential deletes a credential.
func (s *Service) deleteCredential(ctx context.Context, id string) error {
	return s.write(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM credentials WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return credentialNotFound(id)
		}
		return nil
	})
}
