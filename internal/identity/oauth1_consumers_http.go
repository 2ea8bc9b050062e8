package identity

import (
	"bytes"
	"net/http"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// oauth1ConsumerRoutes are /v3/OS-OAUTH1/consumers (keystone/api/os_oauth1.py).
func (s *Service) oauth1ConsumerRoutes() []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/v3/OS-OAUTH1/consumers", Policy: "identity:list_consumers", Handler: s.handleListConsumers},
		{Method: "POST", Path: "/v3/OS-OAUTH1/consumers", Policy: "identity:create_consumer", Handler: s.handleCreateConsumer},
		{Method: "GET", Path: "/v3/OS-OAUTH1/consumers/{consumer_id}", Policy: "identity:get_consumer", Handler: s.handleGetConsumer},
		{Method: "PATCH", Path: "/v3/OS-OAUTH1/consumers/{consumer_id}", Policy: "identity:update_consumer", Handler: s.handleUpdateConsumer},
		{Method: "DELETE", Path: "/v3/OS-OAUTH1/consumers/{consumer_id}", Policy: "identity:delete_consumer", Handler: s.handleDeleteConsumer},
	}
}

// oauth1ConsumerPolicies are Keystone's current defaults for consumers
// (keystone/common/policies/consumer.py).
func oauth1ConsumerPolicies() map[string]string {
	const adminOrSystemReader = "rule:admin_required or (role:reader and system_scope:all)"
	return map[string]string{
		"identity:get_consumer":    adminOrSystemReader,
		"identity:list_consumers":  adminOrSystemReader,
		"identity:create_consumer": "rule:admin_required",
		"identity:update_consumer": "rule:admin_required",
		"identity:delete_consumer": "rule:admin_required",
	}
}

// consumerKnown are the consumer attributes that are not extra.
var consumerKnown = []string{"id", "description", "secret", "links"}

// consumerJSON renders a consumer as Keystone does: extra attributes, id, description
// (null when unset) and links, plus the secret only when withSecret (on create).
func consumerJSON(r *http.Request, c *oauthConsumer, withSecret bool) map[string]any {
	m := make(map[string]any, len(c.Extra)+4)
	for k, v := range c.Extra {
		m[k] = v
	}
	var desc any
	if c.Description != nil {
		desc = *c.Description
	}
	m["id"], m["description"] = c.ID, desc
	if withSecret {
		m["secret"] = c.Secret
	}
	m["links"] = map[string]any{"self": api.BaseURL(r) + "/v3/OS-OAUTH1/consumers/" + c.ID}
	return m
}

// decodeConsumer reads the "consumer" object of a body the way Keystone does: an empty
// body or one without "consumer" is an empty consumer.
func decodeConsumer(r *http.Request) (api.Object, error) {
	b, err := api.ReadBody(r, 0)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return api.Object{}, nil
	}
	var top any
	if err := api.Unmarshal(b, &top); err != nil {
		return nil, err
	}
	m, ok := top.(map[string]any)
	if !ok {
		return nil, api.BadRequest("Invalid input for field 'body': expected an object.")
	}
	c, present, err := api.Object(m).Obj("consumer")
	if err != nil {
		return nil, err
	}
	if !present || c == nil {
		return api.Object{}, nil
	}
	return c, nil
}

// readConsumerDescription applies the schema's nullable string description.
func readConsumerDescription(o api.Object, c *oauthConsumer) error {
	d, present, err := o.Str("description", true)
	if err != nil || !present {
		return err
	}
	if o.IsNull("description") {
		c.Description = nil
	} else {
		c.Description = &d
	}
	return nil
}

// handleListConsumers serves GET /v3/OS-OAUTH1/consumers.
func (s *Service) handleListConsumers(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.listConsumers(r.Context(), s.db)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(cs))
	for _, c := range cs {
		out = append(out, consumerJSON(r, c, false))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"consumers": out, "links": api.KeystoneLinks(r)})
	return nil
}

// handleCreateConsumer serves POST /v3/OS-OAUTH1/consumers; the response is the only time
// the secret is shown.
func (s *Service) handleCreateConsumer(w http.ResponseWriter, r *http.Request) error {
	o, err := decodeConsumer(r)
	if err != nil {
		return err
	}
	o = normalizeAttrNames(o)
	c := &oauthConsumer{ID: api.NewID(), Secret: api.NewID()}
	if err := readConsumerDescription(o, c); err != nil {
		return err
	}
	c.Extra = o.Extra(consumerKnown...)
	if err := s.write(r.Context(), func(tx *store.Tx) error { return insertConsumer(r.Context(), tx, c) }); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"consumer": consumerJSON(r, c, true)})
	return nil
}

// handleGetConsumer serves GET /v3/OS-OAUTH1/consumers/{consumer_id}.
func (s *Service) handleGetConsumer(w http.ResponseWriter, r *http.Request) error {
	c, err := s.getConsumer(r.Context(), s.db, r.PathValue("consumer_id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"consumer": consumerJSON(r, c, false)})
	return nil
}

// handleUpdateConsumer serves PATCH /v3/OS-OAUTH1/consumers/{consumer_id}. The secret
// cannot be changed.
func (s *Service) handleUpdateConsumer(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("consumer_id")
	o, err := decodeConsumer(r)
	if err != nil {
		return err
	}
	if err := requireProperties(o, "consumer"); err != nil {
		return err
	}
	if o.Has("secret") {
		return api.BadRequest("Invalid input for field 'consumer': the secret of a consumer cannot be changed.")
	}
	if err := readConsumerDescription(o, &oauthConsumer{}); err != nil {
		return err
	}
	o = normalizeAttrNames(o)
	if err := requireMatchingID(o, id); err != nil {
		return err
	}
	var c *oauthConsumer
	err = s.write(r.Context(), func(tx *store.Tx) error {
		var err error
		if c, err = s.getConsumer(r.Context(), tx, id); err != nil {
			return err
		}
		if err := readConsumerDescription(o, c); err != nil {
			return err
		}
		c.Extra = mergeExtra(c.Extra, o, consumerKnown...)
		return updateConsumerRow(r.Context(), tx, c)
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"consumer": consumerJSON(r, c, false)})
	return nil
}

// handleDeleteConsumer serves DELETE /v3/OS-OAUTH1/consumers/{consumer_id}.
func (s *Service) handleDeleteConsumer(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("consumer_id")
	if err := s.write(r.Context(), func(tx *store.Tx) error { return deleteConsumerTx(r.Context(), tx, id) }); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
