package volume

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// Volume type encryption (/types/{type_id}/encryption): the specs are stored and shown
// as Cinder does. gostack has no key manager, so volumes of an encrypted type are
// refused at create (see createVolume) rather than made unencrypted.

// Encryption rules (cinder/policies/volume_type.py).
const (
	ruleEncryptionCreate = "volume_extension:volume_type_encryption:create"
	ruleEncryptionGet    = "volume_extension:volume_type_encryption:get"
	ruleEncryptionUpdate = "volume_extension:volume_type_encryption:update"
	ruleEncryptionDelete = "volume_extension:volume_type_encryption:delete"
)

// encryptionRoutes are /types/{type_id}/encryption.
func (s *Service) encryptionRoutes() []route {
	return []route{
		{method: "GET", path: "/types/{type_id}/encryption", rule: ruleEncryptionGet, handle: s.showEncryption},
		{method: "POST", path: "/types/{type_id}/encryption", rule: ruleEncryptionCreate, handle: s.createEncryption},
		{method: "GET", path: "/types/{type_id}/encryption/{key}", rule: ruleEncryptionGet, handle: s.showEncryptionItem},
		{method: "PUT", path: "/types/{type_id}/encryption/{key}", rule: ruleEncryptionUpdate, handle: s.updateEncryption},
		{method: "DELETE", path: "/types/{type_id}/encryption/{key}", rule: ruleEncryptionDelete, handle: s.deleteEncryption},
	}
}

// encryptionSpec is one volume_type_encryption row.
type encryptionSpec struct {
	TypeID, EncryptionID, Provider, ControlLocation string
	Cipher                                          *string
	KeySize                                         *int64
	CreatedAt, UpdatedAt                            string
}

// loadEncryption reads a type's encryption specs; nil when it has none.
func loadEncryption(ctx context.Context, q store.Querier, typeID string) (*encryptionSpec, error) {
	var e encryptionSpec
	err := q.QueryRowContext(ctx, `SELECT type_id, encryption_id, provider, control_location, cipher, key_size, created_at,
		updated_at FROM volume_type_encryption WHERE type_id = ?`, typeID).Scan(&e.TypeID, &e.EncryptionID, &e.Provider,
		&e.ControlLocation, &e.Cipher, &e.KeySize, &e.CreatedAt, &e.UpdatedAt)
	if store.IsNoRows(err) {
		return nil, nil
	}
	return &e, err
}

// view is the encryption row as Cinder's index shows it.
func (e *encryptionSpec) view() map[string]any {
	var ks any
	if e.KeySize != nil {
		ks = *e.KeySize
	}
	return map[string]any{"volume_type_id": e.TypeID, "encryption_id": e.EncryptionID, "provider": e.Provider,
		"control_location": e.ControlLocation, "cipher": strOrNil(e.Cipher), "key_size": ks, "deleted": false,
		"created_at": isoTime(e.CreatedAt), "updated_at": isoTime(e.UpdatedAt), "deleted_at": nil}
}

// encryptionType loads the type of an encryption route (404 when none).
func (s *Service) encryptionType(r *http.Request, c *call, rule string) (*volumeType, error) {
	if err := s.authorize(c, rule, nil); err != nil {
		return nil, err
	}
	id := r.PathValue("type_id")
	t, err := loadType(r.Context(), s.db, id)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, typeNotFound(id)
	}
	return t, nil
}

// typeInUse reports whether volumes use a type.
func (s *Service) typeInUse(ctx context.Context, typeID string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_volumes WHERE type_id = ? AND deleted = ?`, typeID, false).Scan(&n)
	return n > 0, err
}

// encryptionBody validates {"encryption": {...}}; create requires provider and
// control_location.
func encryptionBody(r *http.Request, create bool) (api.Object, error) {
	body, err := api.DecodeObject(r, "encryption")
	if err != nil {
		return nil, err
	}
	if create {
		for _, k := range []string{"provider", "control_location"} {
			if !body.Has(k) {
				return nil, badRequest("Invalid input for field/attribute encryption. Value: %s. '%s' is a required property", showValue(map[string]any(body)), k)
			}
		}
	}
	if v, ok := body["provider"]; ok {
		if s, isStr := v.(string); !isStr || len(s) > 255 {
			return nil, schemaError("provider", v, showValue(v)+" is not of type 'string'")
		}
	}
	if v, ok := body["control_location"]; ok && v != "front-end" && v != "back-end" {
		return nil, schemaError("control_location", v, fmt.Sprintf("%s is not one of ['front-end', 'back-end']", showValue(v)))
	}
	if v, ok := body["cipher"]; ok && v != nil {
		if s, isStr := v.(string); !isStr || len(s) > 255 {
			return nil, schemaError("cipher", v, showValue(v)+" is not of type 'string', 'null'")
		}
	}
	if v, ok := body["key_size"]; ok && v != nil {
		n, isNum := v.(json.Number)
		i, err := n.Int64()
		if !isNum || err != nil || i < 0 {
			return nil, schemaError("key_size", v, showValue(v)+" is not valid under any of the given schemas")
		}
		body["key_size"] = i
	}
	return body, nil
}

// showEncryption is GET /types/{type_id}/encryption ({} when the type has none).
func (s *Service) showEncryption(w http.ResponseWriter, r *http.Request, c *call) error {
	t, err := s.encryptionType(r, c, c.rule)
	if err != nil {
		return err
	}
	e, err := loadEncryption(r.Context(), s.db, t.ID)
	if err != nil {
		return err
	}
	if e == nil {
		api.WriteJSON(w, http.StatusOK, map[string]any{})
		return nil
	}
	api.WriteJSON(w, http.StatusOK, e.view())
	return nil
}

// showEncryptionItem is GET /types/{type_id}/encryption/{key}.
func (s *Service) showEncryptionItem(w http.ResponseWriter, r *http.Request, c *call) error {
	t, err := s.encryptionType(r, c, c.rule)
	if err != nil {
		return err
	}
	e, err := loadEncryption(r.Context(), s.db, t.ID)
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	var v any
	ok := false
	if e != nil {
		v, ok = e.view()[key]
	}
	if !ok {
		return notFound("Volume type encryption for type %s does not exist.", t.ID)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{key: v})
	return nil
}

// createEncryption is POST /types/{type_id}/encryption (answers the body with the ids).
func (s *Service) createEncryption(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := encryptionBody(r, true)
	if err != nil {
		return err
	}
	t, err := s.encryptionType(r, c, c.rule)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if used, err := s.typeInUse(ctx, t.ID); err != nil {
		return err
	} else if used {
		return badRequest("Cannot create encryption specs. Volume type in use.")
	}
	id := api.NewUUID()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		old, err := loadEncryption(ctx, tx, t.ID)
		if err != nil {
			return err
		}
		if old != nil {
			return conflict("Volume type encryption for type %s already exists.", t.ID)
		}
		ts := store.FormatTime(now())
		_, err = tx.ExecContext(ctx, `INSERT INTO volume_type_encryption (type_id, encryption_id, provider, control_location,
			cipher, key_size, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, t.ID, id, body["provider"],
			body["control_location"], body["cipher"], body["key_size"], ts, ts)
		return err
	})
	if err != nil {
		return err
	}
	out := map[string]any{"volume_type_id": t.ID, "encryption_id": id}
	for _, k := range []string{"provider", "control_location", "cipher", "key_size"} {
		if v, ok := body[k]; ok {
			out[k] = v
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"encryption": out})
	return nil
}

// updateEncryption is PUT /types/{type_id}/encryption/{encryption_id} (routed as {key}) (answers the body).
func (s *Service) updateEncryption(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := encryptionBody(r, false)
	if err != nil {
		return err
	}
	t, err := s.encryptionType(r, c, c.rule)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if used, err := s.typeInUse(ctx, t.ID); err != nil {
		return err
	} else if used {
		return badRequest("Cannot update encryption specs. Volume type in use.")
	}
	out := map[string]any{}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		e, err := loadEncryption(ctx, tx, t.ID)
		if err != nil {
			return err
		}
		if e == nil {
			return notFound("Volume type encryption for type %s does not exist.", t.ID)
		}
		for _, k := range []string{"provider", "control_location", "cipher", "key_size"} {
			v, ok := body[k]
			if !ok {
				continue
			}
			out[k] = v
			if _, err := tx.ExecContext(ctx, `UPDATE volume_type_encryption SET `+k+` = ?, updated_at = ? WHERE type_id = ?`,
				v, store.FormatTime(now()), t.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"encryption": out})
	return nil
}

// deleteEncryption is DELETE /types/{type_id}/encryption/{encryption_id} (202).
func (s *Service) deleteEncryption(w http.ResponseWriter, r *http.Request, c *call) error {
	t, err := s.encryptionType(r, c, c.rule)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if used, err := s.typeInUse(ctx, t.ID); err != nil {
		return err
	} else if used {
		return badRequest("Cannot delete encryption specs. Volume type in use.")
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM volume_type_encryption WHERE type_id = ?`, t.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("Volume type encryption for type %s does not exist.", t.ID)
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
