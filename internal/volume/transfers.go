package volume

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// Volume transfers (cinder/api/contrib/volume_transfer.py at /os-volume-transfer, and
// cinder/api/v3/volume_transfer.py at /volume-transfers from 3.55): the owner offers an
// available volume, gets an auth key once, and whoever holds the id and the key accepts
// it into their project. The volume (and its snapshots, unless no_snapshots) changes
// project; quota follows since usage is counted from the rows.

// Transfer rules (cinder/policies/volume_transfer.py).
const (
	ruleTransferGetAll = "volume:get_all_transfers"
	ruleTransferCreate = "volume:create_transfer"
	ruleTransferGet    = "volume:get_transfer"
	ruleTransferAccept = "volume:accept_transfer"
	ruleTransferDelete = "volume:delete_transfer"
)

// Cinder's [DEFAULT] volume_transfer_salt_length and volume_transfer_key_length.
const (
	transferSaltLength = 8
	transferKeyLength  = 16
)

// transferRoutes are both transfer endpoints: the legacy extension at every
// microversion and /volume-transfers from 3.55.
func (s *Service) transferRoutes() []route {
	var out []route
	for _, base := range []struct {
		path   string
		minVer int
	}{{"/os-volume-transfer", 0}, {"/volume-transfers", 55}} {
		legacy := base.minVer == 0
		mv := v(base.minVer)
		out = append(out,
			route{method: "GET", path: base.path, rule: ruleTransferGetAll, minVer: mv, handle: s.listTransfers(false, legacy)},
			route{method: "GET", path: base.path + "/detail", rule: ruleTransferGetAll, minVer: mv, handle: s.listTransfers(true, legacy)},
			route{method: "POST", path: base.path, rule: ruleTransferCreate, minVer: mv, handle: s.createTransfer(legacy)},
			route{method: "GET", path: base.path + "/{id}", rule: ruleTransferGet, minVer: mv, handle: s.showTransfer(legacy)},
			route{method: "DELETE", path: base.path + "/{id}", rule: ruleTransferDelete, minVer: mv, handle: s.deleteTransfer},
			route{method: "POST", path: base.path + "/{id}/accept", rule: ruleTransferAccept, minVer: mv, handle: s.acceptTransfer(legacy)},
		)
	}
	return out
}

// transfer is a volume_transfers row.
type transfer struct {
	ID, VolumeID          string
	Name                  *string
	Salt, CryptHash       string
	NoSnapshots, Accepted bool
	SourceProjectID       string
	DestProjectID         *string
	CreatedAt             string
}

// transferNotFound is Cinder's TransferNotFound (404).
func transferNotFound(id string) *api.Error { return notFound("Transfer %s could not be found.", id) }

const transferColumns = `t.id, t.volume_id, t.name, t.salt, t.crypt_hash, t.no_snapshots, t.accepted,
	t.source_project_id, t.destination_project_id, t.created_at`

func scanTransfer(sc interface{ Scan(...any) error }) (*transfer, error) {
	var t transfer
	err := sc.Scan(&t.ID, &t.VolumeID, &t.Name, &t.Salt, &t.CryptHash, &t.NoSnapshots, &t.Accepted,
		&t.SourceProjectID, &t.DestProjectID, &t.CreatedAt)
	return &t, err
}

// loadTransfer reads a pending transfer. With c, only the owner of the volume (or an
// admin) sees it, as Cinder's transfer_get; accept passes nil, since the recipient
// knows only the id and key.
func (s *Service) loadTransfer(ctx context.Context, q store.Querier, c *call, id string) (*transfer, string, error) {
	var project string
	row := q.QueryRowContext(ctx, `SELECT `+transferColumns+`, v.project_id FROM volume_transfers t
		JOIN volume_volumes v ON v.id = t.volume_id WHERE t.id = ? AND t.deleted = ? AND v.deleted = ?`, id, false, false)
	var t transfer
	err := row.Scan(&t.ID, &t.VolumeID, &t.Name, &t.Salt, &t.CryptHash, &t.NoSnapshots, &t.Accepted,
		&t.SourceProjectID, &t.DestProjectID, &t.CreatedAt, &project)
	if store.IsNoRows(err) {
		return nil, "", transferNotFound(id)
	}
	if err != nil {
		return nil, "", err
	}
	if c != nil && project != callerProject(c) && !s.isAdmin(c) {
		return nil, "", transferNotFound(id)
	}
	return &t, project, nil
}

// transferCollection is the collection name of the endpoint in links.
func transferCollection(legacy bool) string {
	if legacy {
		return "os-volume-transfer"
	}
	return "volume-transfers"
}

// transferView is a transfer's detail body at the call's microversion (authKey only at
// creation).
func (s *Service) transferView(r *http.Request, c *call, t *transfer, legacy bool, authKey string) map[string]any {
	out := map[string]any{"id": t.ID, "created_at": isoTime(t.CreatedAt), "name": t.Name, "volume_id": t.VolumeID,
		"links": resourceLinks(r, s.cfg.Prefix, callerProject(c), transferCollection(legacy), t.ID)}
	if authKey != "" {
		out["auth_key"] = authKey
	}
	if c.at(55) {
		out["no_snapshots"] = t.NoSnapshots
	}
	if c.at(57) {
		out["destination_project_id"] = t.DestProjectID
		out["source_project_id"] = t.SourceProjectID
		out["accepted"] = t.Accepted
	}
	return out
}

func (s *Service) listTransfers(detail, legacy bool) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		if err := s.authorize(c, c.rule, nil); err != nil {
			return err
		}
		page, err := api.ParsePage(r)
		if err != nil {
			return err
		}
		allTenants, err := queryBool(r, "all_tenants")
		if err != nil {
			return err
		}
		ctx := r.Context()
		query := `SELECT ` + transferColumns + ` FROM volume_transfers t JOIN volume_volumes v ON v.id = t.volume_id
			WHERE t.deleted = ? AND v.deleted = ?`
		args := []any{false, false}
		if !(allTenants && s.isAdmin(c)) {
			query += ` AND v.project_id = ?`
			args = append(args, callerProject(c))
		}
		q := r.URL.Query()
		if n := q.Get("name"); n != "" {
			query += ` AND t.name = ?`
			args = append(args, n)
		}
		if vid := q.Get("volume_id"); vid != "" {
			query += ` AND t.volume_id = ?`
			args = append(args, vid)
		}
		rows, err := s.db.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		var all []*transfer
		for rows.Next() {
			t, err := scanTransfer(rows)
			if err != nil {
				rows.Close()
				return err
			}
			all = append(all, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// Cinder lists transfers oldest first (created_at, id ascending).
		sort.Slice(all, func(i, j int) bool {
			if all[i].CreatedAt != all[j].CreatedAt {
				return all[i].CreatedAt < all[j].CreatedAt
			}
			return all[i].ID < all[j].ID
		})
		all, err = pageOf(all, func(t *transfer) string { return t.ID }, page, s.cfg.ListLimitMax)
		if err != nil {
			return err
		}
		list := make([]map[string]any, 0, len(all))
		for _, t := range all {
			if detail {
				list = append(list, s.transferView(r, c, t, legacy, ""))
			} else {
				list = append(list, map[string]any{"id": t.ID, "volume_id": t.VolumeID, "name": t.Name,
					"links": resourceLinks(r, s.cfg.Prefix, callerProject(c), transferCollection(legacy), t.ID)})
			}
		}
		out := map[string]any{"transfers": list}
		if len(all) > 0 {
			if links := api.PageLinks(r, page, len(all), all[len(all)-1].ID); links != nil {
				out["transfers_links"] = links
			}
		}
		api.WriteJSON(w, http.StatusOK, out)
		return nil
	}
}

func (s *Service) showTransfer(legacy bool) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		t, project, err := s.loadTransfer(r.Context(), s.db, c, r.PathValue("id"))
		if err != nil {
			return err
		}
		if err := s.authorize(c, c.rule, ownerTarget(project)); err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"transfer": s.transferView(r, c, t, legacy, "")})
		return nil
	}
}

// transferCreateRequest is a parsed transfer create body.
type transferCreateRequest struct {
	VolumeID    string
	Name        *string
	NoSnapshots bool
}

// parseTransferCreate reads {"transfer": {"volume_id", "name", "no_snapshots"}};
// no_snapshots exists on /volume-transfers from 3.55 only (withSnapshots).
func parseTransferCreate(body api.Object, withNoSnapshots bool) (transferCreateRequest, error) {
	var req transferCreateRequest
	if err := onlyFields(body, "transfer"); err != nil {
		return req, err
	}
	o, present, err := body.Obj("transfer")
	if err != nil {
		return req, err
	}
	if !present || o == nil {
		return req, fieldError("transfer", nil, "'transfer' is a required property")
	}
	allowed := []string{"volume_id", "name"}
	if withNoSnapshots {
		allowed = append(allowed, "no_snapshots")
	}
	if err := onlyFields(o, allowed...); err != nil {
		return req, err
	}
	v, ok := o["volume_id"]
	if !ok {
		return req, fieldError("volume_id", nil, "'volume_id' is a required property")
	}
	id, isStr := v.(string)
	if !isStr || !isUUID(id) {
		return req, fieldError("volume_id", v, "%s is not a 'uuid'", shortValue(v))
	}
	req.VolumeID = id
	if nv, ok := o["name"]; ok && nv != nil {
		n, isStr := nv.(string)
		if !isStr {
			return req, fieldError("name", nv, "%s is not valid under any of the given schemas", shortValue(nv))
		}
		n = strings.TrimSpace(n)
		if n == "" || len([]rune(n)) > 255 {
			return req, fieldError("name", nv, "%s is not valid under any of the given schemas", shortValue(nv))
		}
		req.Name = &n
	}
	if nv, ok := o["no_snapshots"]; ok {
		if req.NoSnapshots, err = schemaBool("no_snapshots", nv); err != nil {
			return req, err
		}
	}
	return req, nil
}

// transferVolume is what transfers need of a volume.
type transferVolume struct {
	ID, ProjectID, Status, TypeID string
	Size                          int64
	Encrypted                     bool
	GroupID                       *string
}

// loadTransferVolume reads a live volume (nil c: any project).
func (s *Service) loadTransferVolume(ctx context.Context, q store.Querier, c *call, id string) (*transferVolume, error) {
	var tv transferVolume
	err := q.QueryRowContext(ctx, `SELECT id, project_id, status, type_id, size, encrypted, group_id FROM volume_volumes
		WHERE id = ? AND deleted = ?`, id, false).Scan(&tv.ID, &tv.ProjectID, &tv.Status, &tv.TypeID, &tv.Size,
		&tv.Encrypted, &tv.GroupID)
	if store.IsNoRows(err) {
		return nil, volumeNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	if c != nil && tv.ProjectID != callerProject(c) && !s.isAdmin(c) {
		return nil, volumeNotFound(id)
	}
	return &tv, nil
}

// newTransferSecret is a random hex string of n characters (Cinder's
// _get_random_string).
func newTransferSecret(n int) (string, error) {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b)[:n], nil
}

// transferHash is Cinder's _get_crypt_hash: HMAC-SHA1 of the auth key keyed by the salt.
func transferHash(salt, authKey string) string {
	m := hmac.New(sha1.New, []byte(salt))
	m.Write([]byte(authKey))
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Service) createTransfer(legacy bool) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		body, err := api.DecodeObject(r, "")
		if err != nil {
			return err
		}
		req, err := parseTransferCreate(body, !legacy && c.at(55))
		if err != nil {
			return err
		}
		salt, err := newTransferSecret(transferSaltLength)
		if err != nil {
			return err
		}
		authKey, err := newTransferSecret(transferKeyLength)
		if err != nil {
			return err
		}
		ctx := r.Context()
		ts := store.FormatTime(now())
		t := &transfer{ID: api.NewUUID(), VolumeID: req.VolumeID, Name: req.Name, Salt: salt,
			CryptHash: transferHash(salt, authKey), NoSnapshots: req.NoSnapshots, CreatedAt: ts}
		err = s.db.InTx(ctx, func(tx *store.Tx) error {
			vol, err := s.loadTransferVolume(ctx, tx, c, req.VolumeID)
			if err != nil {
				return err
			}
			if err := s.authorize(c, c.rule, ownerTarget(vol.ProjectID)); err != nil {
				return err
			}
			if vol.Status != "available" {
				return invalidVolume("status must be available")
			}
			if vol.Encrypted {
				if !c.at(70) {
					return invalidVolume("transferring encrypted volume is not supported")
				}
				if req.NoSnapshots {
					return invalidVolume("transferring an encrypted volume without its snapshots is not supported")
				}
			}
			if vol.GroupID != nil && *vol.GroupID != "" {
				// Cinder does not check this; gostack refuses, since the group (and
				// its delete-volumes) would stay with the donor project.
				return invalidVolume("Volume %s must not be part of a group.", vol.ID)
			}
			if !req.NoSnapshots {
				var bad string
				err := tx.QueryRowContext(ctx, `SELECT id FROM volume_snapshots WHERE volume_id = ? AND deleted = ?
					AND status <> ? ORDER BY created_at LIMIT 1`, vol.ID, false, "available").Scan(&bad)
				if err == nil {
					return invalidSnapshot("snapshot: %s status must be available", bad)
				}
				if !store.IsNoRows(err) {
					return err
				}
			}
			t.SourceProjectID = vol.ProjectID
			if _, err := tx.ExecContext(ctx, `INSERT INTO volume_transfers (id, volume_id, name, salt, crypt_hash,
				no_snapshots, source_project_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				t.ID, t.VolumeID, t.Name, t.Salt, t.CryptHash, t.NoSnapshots, t.SourceProjectID, ts, ts); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, previous_status = ?, updated_at = ?
				WHERE id = ? AND status = ?`, "awaiting-transfer", "available", ts, vol.ID, "available")
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return invalidVolume("status must be available")
			}
			return nil
		})
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusAccepted, map[string]any{"transfer": s.transferView(r, c, t, legacy, authKey)})
		return nil
	}
}

func (s *Service) deleteTransfer(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	id := r.PathValue("id")
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		t, project, err := s.loadTransfer(ctx, tx, c, id)
		if err != nil {
			return err
		}
		if err := s.authorize(c, c.rule, ownerTarget(project)); err != nil {
			return err
		}
		ts := store.FormatTime(now())
		if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, updated_at = ? WHERE id = ? AND status = ?`,
			"available", ts, t.VolumeID, "awaiting-transfer"); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE volume_transfers SET deleted = ?, deleted_at = ?, updated_at = ? WHERE id = ?`,
			true, ts, ts, t.ID)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// parseTransferAccept reads {"accept": {"auth_key": <string or integer>}}.
func parseTransferAccept(body api.Object) (string, error) {
	if err := onlyFields(body, "accept"); err != nil {
		return "", err
	}
	o, present, err := body.Obj("accept")
	if err != nil {
		return "", err
	}
	if !present || o == nil {
		return "", fieldError("accept", nil, "'accept' is a required property")
	}
	if err := onlyFields(o, "auth_key"); err != nil {
		return "", err
	}
	v, ok := o["auth_key"]
	if !ok {
		return "", fieldError("auth_key", nil, "'auth_key' is a required property")
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return x.String(), nil
		}
	}
	return "", fieldError("auth_key", v, "%s is not of type 'string', 'integer'", shortValue(v))
}

func (s *Service) acceptTransfer(legacy bool) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		if err := s.authorize(c, c.rule, nil); err != nil {
			return err
		}
		body, err := api.DecodeObject(r, "")
		if err != nil {
			return err
		}
		authKey, err := parseTransferAccept(body)
		if err != nil {
			return err
		}
		ctx := r.Context()
		id := r.PathValue("id")
		dest := callerProject(c)
		var t *transfer
		err = s.db.InTx(ctx, func(tx *store.Tx) error {
			var err error
			t, _, err = s.loadTransfer(ctx, tx, nil, id)
			if err != nil {
				return err
			}
			if !hmac.Equal([]byte(transferHash(t.Salt, authKey)), []byte(t.CryptHash)) {
				return badRequest("Invalid auth key: Attempt to transfer %s with invalid auth key.", id)
			}
			vol, err := s.loadTransferVolume(ctx, tx, nil, t.VolumeID)
			if err != nil {
				return err
			}
			donor := vol.ProjectID
			// Take both projects' quota locks in a fixed order.
			locks := []string{dest, donor}
			sort.Strings(locks)
			for _, p := range locks {
				if err := lockQuota(ctx, tx, p); err != nil {
					return err
				}
			}
			if dest != donor {
				var typeName string
				if err := tx.QueryRowContext(ctx, `SELECT name FROM volume_types WHERE id = ?`, vol.TypeID).Scan(&typeName); err != nil &&
					!store.IsNoRows(err) {
					return err
				}
				delta := quotaDelta{volumes: 1, gigabytes: vol.Size, typeName: typeName, volumeSize: vol.Size}
				if !t.NoSnapshots {
					var n, gigs int64
					if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(volume_size), 0) FROM volume_snapshots
						WHERE volume_id = ? AND deleted = ?`, vol.ID, false).Scan(&n, &gigs); err != nil {
						return err
					}
					delta.snapshots, delta.gigabytes = n, delta.gigabytes+gigs
				}
				if err := s.checkQuota(ctx, tx, dest, delta); err != nil {
					return err
				}
			}
			if vol.Status != "awaiting-transfer" {
				return invalidVolume("Transfer %s: Volume id %s expected in awaiting-transfer state.", t.ID, vol.ID)
			}
			ts := store.FormatTime(now())
			if _, err := tx.ExecContext(ctx, `UPDATE volume_volumes SET status = ?, project_id = ?, user_id = ?,
				updated_at = ? WHERE id = ?`, "available", dest, c.caller.UserID, ts, vol.ID); err != nil {
				return err
			}
			if !t.NoSnapshots {
				if _, err := tx.ExecContext(ctx, `UPDATE volume_snapshots SET project_id = ?, user_id = ?, updated_at = ?
					WHERE volume_id = ? AND deleted = ?`, dest, c.caller.UserID, ts, vol.ID, false); err != nil {
					return err
				}
			}
			_, err = tx.ExecContext(ctx, `UPDATE volume_transfers SET accepted = ?, destination_project_id = ?,
				deleted = ?, deleted_at = ?, updated_at = ? WHERE id = ?`, true, dest, true, ts, ts, t.ID)
			return err
		})
		if err != nil {
			return err
		}
		api.WriteJSON(w, http.StatusAccepted, map[string]any{"transfer": map[string]any{
			"id": t.ID, "name": t.Name, "volume_id": t.VolumeID,
			"links": resourceLinks(r, s.cfg.Prefix, callerProject(c), transferCollection(legacy), t.ID)}})
		return nil
	}
}
