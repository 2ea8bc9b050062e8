package compute

import (
	"context"
	"net/http"
	"net/url"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// keypairRoutes serves os-keypairs.
func (s *Service) keypairRoutes() []route {
	const coll = "/v2.1/os-keypairs"
	return []route{
		{method: "GET", path: coll, rule: ruleKeypairIndex, handle: s.handleListKeypairs},
		{method: "POST", path: coll, rule: ruleKeypairCreate, handle: s.handleCreateKeypair},
		{method: "GET", path: coll + "/{name}", rule: ruleKeypairShow, handle: s.handleShowKeypair},
		{method: "DELETE", path: coll + "/{name}", rule: ruleKeypairDelete, handle: s.handleDeleteKeypair},
	}
}

// keypairUser is the user a keypair request acts for: the 2.10 user_id query parameter
// (first value, as Nova) or the caller. From 2.75 unknown query parameters are a 400.
func keypairUser(c *call, q url.Values, extra ...string) (string, error) {
	if c.at(75) {
		if err := checkQuery(q, append([]string{"user_id"}, extra...)...); err != nil {
			return "", err
		}
	}
	if c.at(10) {
		if vs := q["user_id"]; len(vs) > 0 {
			return vs[0], nil
		}
	}
	return c.caller.UserID, nil
}

// keypairTime renders a keypair timestamp as Nova's API does (no zone suffix).
func keypairTime(ts string) string {
	t := store.ParseTime(ts)
	if t.IsZero() {
		return ts
	}
	return t.Format("2006-01-02T15:04:05.000000")
}

func (s *Service) handleListKeypairs(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	var extra []string
	if c.at(35) {
		extra = []string{"limit", "marker"}
	}
	userID, err := keypairUser(c, q, extra...)
	if err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, policy.Target{"user_id": userID}); err != nil {
		return err
	}
	limit, marker := 0, ""
	if c.at(35) {
		if limit, marker, err = s.pageParams(q); err != nil {
			return err
		}
		if marker != "" {
			if _, found, err := loadKeypair(r.Context(), s.db, userID, marker); err != nil {
				return err
			} else if !found {
				return badRequest("Marker %s could not be found.", marker)
			}
		}
	}
	kps, err := listKeypairs(r.Context(), s.db, userID, limit, marker)
	if err != nil {
		return err
	}
	items := make([]map[string]any, 0, len(kps))
	for _, k := range kps {
		kp := map[string]any{"name": k.Name, "public_key": k.PublicKey, "fingerprint": k.Fingerprint}
		if c.at(2) {
			kp["type"] = k.Type
		}
		items = append(items, map[string]any{"keypair": kp})
	}
	out := map[string]any{"keypairs": items}
	if c.at(35) && len(kps) > 0 {
		if links := s.collectionLinks(r, "os-keypairs", limit, len(kps), kps[len(kps)-1].Name); links != nil {
			out["keypairs_links"] = links
		}
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) handleShowKeypair(w http.ResponseWriter, r *http.Request, c *call) error {
	userID, err := keypairUser(c, r.URL.Query())
	if err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, policy.Target{"user_id": userID}); err != nil {
		return err
	}
	name := r.PathValue("name")
	k, found, err := loadKeypair(r.Context(), s.db, userID, name)
	if err != nil {
		return err
	}
	if !found {
		return notFound("Keypair %s not found for user %s", name, userID)
	}
	kp := map[string]any{
		"name": k.Name, "public_key": k.PublicKey, "fingerprint": k.Fingerprint, "user_id": k.UserID,
		"created_at": keypairTime(k.CreatedAt), "deleted": false, "deleted_at": nil, "updated_at": nil, "id": k.ID,
	}
	if c.at(2) {
		kp["type"] = k.Type
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"keypair": kp})
	return nil
}

func (s *Service) handleDeleteKeypair(w http.ResponseWriter, r *http.Request, c *call) error {
	userID, err := keypairUser(c, r.URL.Query())
	if err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, policy.Target{"user_id": userID}); err != nil {
		return err
	}
	name := r.PathValue("name")
	found, err := deleteKeypair(r.Context(), s.db, userID, name)
	if err != nil {
		return err
	}
	if !found {
		return notFound("Keypair %s not found for user %s", name, userID)
	}
	if c.at(2) {
		w.WriteHeader(http.StatusNoContent)
	} else {
		w.WriteHeader(http.StatusAccepted)
	}
	return nil
}

func (s *Service) handleCreateKeypair(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := decodeBody(r, []string{"keypair"}, "keypair")
	if err != nil {
		return err
	}
	kc, err := parseKeypairCreate(body, c.ver)
	if err != nil {
		return err
	}
	userID := kc.userID
	if userID == "" {
		userID = c.caller.UserID
	}
	if err := s.authorize(c, c.rule, policy.Target{"user_id": userID}); err != nil {
		return err
	}
	k := &keypair{UserID: userID, Name: kc.name, Type: kc.typ, CreatedAt: store.FormatTime(now())}
	private := ""
	if kc.publicKey != nil {
		k.PublicKey = *kc.publicKey
		if k.Fingerprint, err = keypairFingerprint(kc.typ, k.PublicKey); err != nil {
			return err
		}
	} else {
		gen := generateSSHKeypair
		if kc.typ == keypairTypeX509 {
			gen = func() (string, string, string, error) { return generateX509Keypair(userID) }
		}
		if private, k.PublicKey, k.Fingerprint, err = gen(); err != nil {
			return err
		}
	}
	if err := s.storeKeypair(r.Context(), c, k); err != nil {
		return err
	}
	kp := map[string]any{"name": k.Name, "public_key": k.PublicKey, "fingerprint": k.Fingerprint, "user_id": k.UserID}
	if c.at(2) {
		kp["type"] = k.Type
	}
	if kc.publicKey == nil {
		kp["private_key"] = private
	}
	status := http.StatusOK
	if c.at(2) {
		status = http.StatusCreated
	}
	api.WriteJSON(w, status, map[string]any{"keypair": kp})
	return nil
}

// storeKeypair checks the key_pairs quota of the owner and inserts the keypair in one
// transaction.
func (s *Service) storeKeypair(ctx context.Context, c *call, k *keypair) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.checkQuota(ctx, tx, c.caller.ProjectID, k.UserID, map[string]int64{"key_pairs": 1}); err != nil {
			return err
		}
		return insertKeypair(ctx, tx, k)
	})
}
