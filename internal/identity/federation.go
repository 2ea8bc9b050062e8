package identity

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// This file holds the administrative side of Keystone's OS-FEDERATION extension
// (keystone/federation/core.py and backends/sql.py): attribute mappings, identity
// providers with their remote ids and protocols, and service providers. Federated
// authentication itself (SAML 2.0, OpenID Connect, the /auth endpoints, WebSSO,
// Keystone-to-Keystone assertions) is not implemented: these records are kept and served
// so that clients and deployment tools can manage them. The HTTP handlers are in
// federation_http.go.

// defaultRelayStatePrefix is Keystone's [saml] relay_state_prefix, the default of a
// service provider's relay_state_prefix.
const defaultRelayStatePrefix = "ss:mem:"

// defaultMappingSchemaVersion is Keystone's [federation]
// attribute_mapping_default_schema_version, given to mappings registered without one.
const defaultMappingSchemaVersion = "1.0"

// federationIDMaxLen is the length of Keystone's id columns for federation records.
const federationIDMaxLen = 64

// fedMapping is an attribute mapping: rules that turn a federated assertion into local
// users, groups and project roles.
type fedMapping struct {
	ID string
	// Rules is the decoded JSON list of rules, as given.
	Rules         any
	SchemaVersion string
}

// identityProvider is a trusted source of federated identities.
type identityProvider struct {
	ID, DomainID string
	Enabled      bool
	// Description is nil when never set; Keystone returns it as null.
	Description *string
	// AuthorizationTTL is nil when unset (Keystone's default applies).
	AuthorizationTTL *int64
	// RemoteIDs are the ids the provider is known by, sorted.
	RemoteIDs []string
}

// fedProtocol is a protocol of an identity provider and the mapping it applies.
type fedProtocol struct {
	IdPID, ID, MappingID string
	// RemoteIDAttribute is nil when unset.
	RemoteIDAttribute *string
}

// serviceProvider is a remote Keystone that accepts this cloud's assertions.
type serviceProvider struct {
	ID               string
	Enabled          bool
	Description      *string
	AuthURL, SPURL   string
	RelayStatePrefix string
}

// Keystone's 404s for federation records.
func mappingNotFound(id string) error { return api.NotFound("Could not find mapping: %s.", id) }

func idpNotFound(id string) error {
	return api.NotFound("Could not find Identity Provider: %s.", id)
}

func protocolNotFound(idpID, id string) error {
	return api.NotFound("Could not find federated protocol %s for Identity Provider: %s.", id, idpID)
}

func spNotFound(id string) error {
	return api.NotFound("Could not find Service Provider: %s.", id)
}

// federationConflict is Keystone's Conflict for a federation record.
func federationConflict(kind, details string) error {
	return api.Conflict("Conflict occurred attempting to store %s - %s.", kind, details)
}

// --- mappings ---

// getMapping loads a mapping or returns Keystone's 404.
func getMapping(ctx context.Context, q store.Querier, id string) (*fedMapping, error) {
	var m fedMapping
	var rules string
	err := q.QueryRowContext(ctx, `SELECT id, rules, schema_version FROM federation_mappings WHERE id = ?`, id).
		Scan(&m.ID, &rules, &m.SchemaVersion)
	if store.IsNoRows(err) {
		return nil, mappingNotFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("get mapping %s: %w", id, err)
	}
	m.Rules = decodeRules(rules)
	return &m, nil
}

// decodeRules decodes a stored rules document, keeping numbers as written.
func decodeRules(s string) any {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || v == nil {
		return []any{}
	}
	return v
}

// listMappings returns every mapping.
func listMappings(ctx context.Context, q store.Querier) ([]*fedMapping, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, rules, schema_version FROM federation_mappings ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list mappings: %w", err)
	}
	defer rows.Close()
	out := []*fedMapping{}
	for rows.Next() {
		var m fedMapping
		var rules string
		if err := rows.Scan(&m.ID, &rules, &m.SchemaVersion); err != nil {
			return nil, fmt.Errorf("list mappings: %w", err)
		}
		m.Rules = decodeRules(rules)
		out = append(out, &m)
	}
	return out, rows.Err()
}

// createMapping stores a new, validated mapping.
func (s *Service) createMapping(ctx context.Context, m *fedMapping) error {
	return s.write(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM federation_mappings WHERE id = ?`, m.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return federationConflict("mapping", "Duplicate entry")
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO federation_mappings (id, rules, schema_version) VALUES (?, ?, ?)`,
			m.ID, jsonText(m.Rules), m.SchemaVersion)
		if store.IsUniqueViolation(err) {
			return federationConflict("mapping", "Duplicate entry")
		}
		return err
	})
}

// updateMapping replaces a mapping's rules and schema version.
func (s *Service) updateMapping(ctx context.Context, m *fedMapping) error {
	return s.write(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE federation_mappings SET rules = ?, schema_version = ? WHERE id = ?`,
			jsonText(m.Rules), m.SchemaVersion, m.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return mappingNotFound(m.ID)
		}
		return nil
	})
}

// deleteMapping deletes a mapping; protocols that name it are left as they are, as in
// Keystone.
func (s *Service) deleteMapping(ctx context.Context, id string) error {
	return s.write(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM federation_mappings WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return mappingNotFound(id)
		}
		return nil
	})
}

// --- identity providers ---

// idpColumns is the column list scanIdP reads.
const idpColumns = `id, domain_id, enabled, description, authorization_ttl`

// scanIdP reads one row selected with idpColumns.
func scanIdP(row interface{ Scan(...any) error }) (*identityProvider, error) {
	var p identityProvider
	var desc sql.NullString
	var ttl sql.NullInt64
	if err := row.Scan(&p.ID, &p.DomainID, &p.Enabled, &desc, &ttl); err != nil {
		return nil, err
	}
	if desc.Valid {
		p.Description = &desc.String
	}
	if ttl.Valid {
		p.AuthorizationTTL = &ttl.Int64
	}
	return &p, nil
}

// getIdP loads an identity provider with its remote ids or returns Keystone's 404.
func getIdP(ctx context.Context, q store.Querier, id string) (*identityProvider, error) {
	p, err := scanIdP(q.QueryRowContext(ctx, `SELECT `+idpColumns+` FROM identity_providers WHERE id = ?`, id))
	if store.IsNoRows(err) {
		return nil, idpNotFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("get identity provider %s: %w", id, err)
	}
	if err := loadRemoteIDs(ctx, q, []*identityProvider{p}); err != nil {
		return nil, err
	}
	return p, nil
}

// listIdPs returns identity providers, filtered by id and enabled when given.
func listIdPs(ctx context.Context, q store.Querier, id *string, enabled *bool) ([]*identityProvider, error) {
	query := `SELECT ` + idpColumns + ` FROM identity_providers WHERE 1 = 1`
	var args []any
	if id != nil {
		query += ` AND id = ?`
		args = append(args, *id)
	}
	if enabled != nil {
		query += ` AND enabled = ?`
		args = append(args, *enabled)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list identity providers: %w", err)
	}
	out := []*identityProvider{}
	for rows.Next() {
		p, err := scanIdP(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list identity providers: %w", err)
		}
		out = append(out, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, loadRemoteIDs(ctx, q, out)
}

// loadRemoteIDs fills in the remote ids of ps, sorted as Keystone orders them.
func loadRemoteIDs(ctx context.Context, q store.Querier, ps []*identityProvider) error {
	byID := make(map[string]*identityProvider, len(ps))
	for _, p := range ps {
		p.RemoteIDs = []string{}
		byID[p.ID] = p
	}
	if len(ps) == 0 {
		return nil
	}
	query := `SELECT idp_id, remote_id FROM idp_remote_ids`
	var args []any
	if len(ps) == 1 {
		query += ` WHERE idp_id = ?`
		args = append(args, ps[0].ID)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY remote_id`, args...)
	if err != nil {
		return fmt.Errorf("load remote ids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var idp, rid string
		if err := rows.Scan(&idp, &rid); err != nil {
			return fmt.Errorf("load remote ids: %w", err)
		}
		if p := byID[idp]; p != nil {
			p.RemoteIDs = append(p.RemoteIDs, rid)
		}
	}
	return rows.Err()
}

// setRemoteIDs replaces an identity provider's remote ids; a remote id another provider
// holds is Keystone's 409.
func setRemoteIDs(ctx context.Context, tx *store.Tx, idpID string, remoteIDs []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM idp_remote_ids WHERE idp_id = ?`, idpID); err != nil {
		return err
	}
	for _, rid := range remoteIDs {
		var owner string
		err := tx.QueryRowContext(ctx, `SELECT idp_id FROM idp_remote_ids WHERE remote_id = ?`, rid).Scan(&owner)
		if err == nil {
			return federationConflict("identity_provider", "Duplicate remote ID: "+rid)
		}
		if !store.IsNoRows(err) {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO idp_remote_ids (remote_id, idp_id) VALUES (?, ?)`, rid, idpID)
		if store.IsUniqueViolation(err) {
			return federationConflict("identity_provider", "Duplicate remote ID: "+rid)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// createIdP stores a new identity provider. Without a domain_id, a domain is created for
// it ("Auto generated federated domain for Identity Provider: <id>"), in the same
// transaction, so that a conflict leaves no orphaned domain behind; a domain_id given
// must name an existing domain.
func (s *Service) createIdP(ctx context.Context, p *identityProvider) error {
	return s.write(ctx, func(tx *store.Tx) error {
		if p.DomainID == "" {
			id := api.NewID()
			d := &project{ID: id, Name: id, DomainID: RootDomainID, IsDomain: true, Enabled: true,
				Description: "Auto generated federated domain for Identity Provider: " + p.ID,
				Extra:       map[string]any{}, Options: map[string]any{}, Tags: []string{}}
			if err := insertProject(ctx, tx, d); err != nil {
				return err
			}
			p.DomainID = id
		} else if _, err := s.getDomain(ctx, tx, p.DomainID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM identity_providers WHERE id = ?`, p.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return federationConflict("identity_provider", "Duplicate entry: "+p.ID)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO identity_providers (id, domain_id, enabled, description, authorization_ttl) VALUES (?, ?, ?, ?, ?)`,
			p.ID, p.DomainID, p.Enabled, nullableText(p.Description), nullableInt(p.AuthorizationTTL))
		if store.IsUniqueViolation(err) {
			return federationConflict("identity_provider", "Duplicate entry: "+p.ID)
		}
		if err != nil {
			return err
		}
		return setRemoteIDs(ctx, tx, p.ID, p.RemoteIDs)
	})
}

// nullableInt maps nil to SQL NULL.
func nullableInt(p *int64) sql.NullInt64 {
	if p == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: *p, Valid: true}
}

// idpUpdate is a validated identity provider update; nil fields are left alone.
type idpUpdate struct {
	Enabled *bool
	// Description and AuthorizationTTL are set (possibly to null) when Has* is true.
	Description         *string
	HasDescription      bool
	AuthorizationTTL    *int64
	HasAuthorizationTTL bool
	// RemoteIDs replaces the remote ids when not nil.
	RemoteIDs []string
}

// updateIdP applies an update and returns the stored result.
func (s *Service) updateIdP(ctx context.Context, id string, u idpUpdate) (*identityProvider, error) {
	var out *identityProvider
	err := s.write(ctx, func(tx *store.Tx) error {
		p, err := getIdP(ctx, tx, id)
		if err != nil {
			return err
		}
		if u.Enabled != nil {
			p.Enabled = *u.Enabled
		}
		if u.HasDescription {
			p.Description = u.Description
		}
		if u.HasAuthorizationTTL {
			p.AuthorizationTTL = u.AuthorizationTTL
		}
		if _, err := tx.ExecContext(ctx, `UPDATE identity_providers SET enabled = ?, description = ?, authorization_ttl = ? WHERE id = ?`,
			p.Enabled, nullableText(p.Description), nullableInt(p.AuthorizationTTL), id); err != nil {
			return err
		}
		if u.RemoteIDs != nil {
			if err := setRemoteIDs(ctx, tx, id, u.RemoteIDs); err != nil {
				return err
			}
			p.RemoteIDs = slices.Clone(u.RemoteIDs)
			sort.Strings(p.RemoteIDs)
		}
		out = p
		return nil
	})
	return out, err
}

// deleteIdP deletes an identity provider with its protocols and remote ids. Its domain
// stays, as in Keystone.
func (s *Service) deleteIdP(ctx context.Context, id string) error {
	return s.write(ctx, func(tx *store.Tx) error {
		for _, stmt := range []string{
			`DELETE FROM federation_protocols WHERE idp_id = ?`,
			`DELETE FROM idp_remote_ids WHERE idp_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, stmt, id); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM identity_providers WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return idpNotFound(id)
		}
		return nil
	})
}

// --- protocols ---

// scanProtocol reads one row of idp_id, id, mapping_id, remote_id_attribute.
func scanProtocol(row interface{ Scan(...any) error }) (*fedProtocol, error) {
	var p fedProtocol
	var attr sql.NullString
	if err := row.Scan(&p.IdPID, &p.ID, &p.MappingID, &attr); err != nil {
		return nil, err
	}
	if attr.Valid {
		p.RemoteIDAttribute = &attr.String
	}
	return &p, nil
}

// getProtocol loads a protocol of an identity provider or returns Keystone's 404.
func getProtocol(ctx context.Context, q store.Querier, idpID, id string) (*fedProtocol, error) {
	p, err := scanProtocol(q.QueryRowContext(ctx,
		`SELECT idp_id, id, mapping_id, remote_id_attribute FROM federation_protocols WHERE idp_id = ? AND id = ?`, idpID, id))
	if store.IsNoRows(err) {
		return nil, protocolNotFound(idpID, id)
	}
	if err != nil {
		return nil, fmt.Errorf("get protocol %s/%s: %w", idpID, id, err)
	}
	return p, nil
}

// listProtocols returns an identity provider's protocols; like Keystone, an unknown
// provider simply has none.
func listProtocols(ctx context.Context, q store.Querier, idpID string) ([]*fedProtocol, error) {
	rows, err := q.QueryContext(ctx,
		`SELECT idp_id, id, mapping_id, remote_id_attribute FROM federation_protocols WHERE idp_id = ? ORDER BY id`, idpID)
	if err != nil {
		return nil, fmt.Errorf("list protocols: %w", err)
	}
	defer rows.Close()
	out := []*fedProtocol{}
	for rows.Next() {
		p, err := scanProtocol(rows)
		if err != nil {
			return nil, fmt.Errorf("list protocols: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// requireMapping is Keystone's _validate_mapping_exists: a protocol naming an unknown
// mapping is a 400.
func requireMapping(ctx context.Context, q store.Querier, id string) error {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM federation_mappings WHERE id = ?`, id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return api.BadRequest("Invalid mapping id: %s", id)
	}
	return nil
}

// createProtocol adds a protocol to an identity provider: the mapping must exist (400),
// then the provider (404), and the protocol must be new (409).
func (s *Service) createProtocol(ctx context.Context, p *fedProtocol) error {
	return s.write(ctx, func(tx *store.Tx) error {
		if err := requireMapping(ctx, tx, p.MappingID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM identity_providers WHERE id = ?`, p.IdPID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return idpNotFound(p.IdPID)
		}
		conflict := federationConflict("federation_protocol", "Duplicate entry found with ID "+p.ID)
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM federation_protocols WHERE idp_id = ? AND id = ?`, p.IdPID, p.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return conflict
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO federation_protocols (idp_id, id, mapping_id, remote_id_attribute) VALUES (?, ?, ?, ?)`,
			p.IdPID, p.ID, p.MappingID, nullableText(p.RemoteIDAttribute))
		if store.IsUniqueViolation(err) {
			return conflict
		}
		return err
	})
}

// updateProtocol changes a protocol's mapping and, when attr is not nil, its remote id
// attribute.
func (s *Service) updateProtocol(ctx context.Context, idpID, id, mappingID string, attr *string) (*fedProtocol, error) {
	var out *fedProtocol
	err := s.write(ctx, func(tx *store.Tx) error {
		if err := requireMapping(ctx, tx, mappingID); err != nil {
			return err
		}
		p, err := getProtocol(ctx, tx, idpID, id)
		if err != nil {
			return err
		}
		p.MappingID = mappingID
		if attr != nil {
			p.RemoteIDAttribute = attr
		}
		if _, err := tx.ExecContext(ctx, `UPDATE federation_protocols SET mapping_id = ?, remote_id_attribute = ? WHERE idp_id = ? AND id = ?`,
			p.MappingID, nullableText(p.RemoteIDAttribute), idpID, id); err != nil {
			return err
		}
		out = p
		return nil
	})
	return out, err
}

// deleteProtocol removes a protocol from an identity provider.
func (s *Service) deleteProtocol(ctx context.Context, idpID, id string) error {
	return s.write(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM federation_protocols WHERE idp_id = ? AND id = ?`, idpID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return protocolNotFound(idpID, id)
		}
		return nil
	})
}

// --- service providers ---

// spColumns is the column list scanSP reads.
const spColumns = `id, enabled, description, auth_url, sp_url, relay_state_prefix`

// scanSP reads one row selected with spColumns.
func scanSP(row interface{ Scan(...any) error }) (*serviceProvider, error) {
	var p serviceProvider
	var desc sql.NullString
	if err := row.Scan(&p.ID, &p.Enabled, &desc, &p.AuthURL, &p.SPURL, &p.RelayStatePrefix); err != nil {
		return nil, err
	}
	if desc.Valid {
		p.Description = &desc.String
	}
	return &p, nil
}

// getSP loads a service provider or returns Keystone's 404.
func getSP(ctx context.Context, q store.Querier, id string) (*serviceProvider, error) {
	p, err := scanSP(q.QueryRowContext(ctx, `SELECT `+spColumns+` FROM service_providers WHERE id = ?`, id))
	if store.IsNoRows(err) {
		return nil, spNotFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("get service provider %s: %w", id, err)
	}
	return p, nil
}

// listSPs returns service providers, filtered by id and enabled when given.
func listSPs(ctx context.Context, q store.Querier, id *string, enabled *bool) ([]*serviceProvider, error) {
	query := `SELECT ` + spColumns + ` FROM service_providers WHERE 1 = 1`
	var args []any
	if id != nil {
		query += ` AND id = ?`
		args = append(args, *id)
	}
	if enabled != nil {
		query += ` AND enabled = ?`
		args = append(args, *enabled)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list service providers: %w", err)
	}
	defer rows.Close()
	out := []*serviceProvider{}
	for rows.Next() {
		p, err := scanSP(rows)
		if err != nil {
			return nil, fmt.Errorf("list service providers: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// createSP stores a new service provider.
func (s *Service) createSP(ctx context.Context, p *serviceProvider) error {
	return s.write(ctx, func(tx *store.Tx) error {
		conflict := federationConflict("service_provider", "Duplicate entry found with ID "+p.ID)
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM service_providers WHERE id = ?`, p.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return conflict
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO service_providers (id, enabled, description, auth_url, sp_url, relay_state_prefix) VALUES (?, ?, ?, ?, ?, ?)`,
			p.ID, p.Enabled, nullableText(p.Description), p.AuthURL, p.SPURL, p.RelayStatePrefix)
		if store.IsUniqueViolation(err) {
			return conflict
		}
		return err
	})
}

// updateSP loads a service provider, lets apply change it and stores the result.
func (s *Service) updateSP(ctx context.Context, id string, apply func(*serviceProvider)) (*serviceProvider, error) {
	var out *serviceProvider
	err := s.write(ctx, func(tx *store.Tx) error {
		p, err := getSP(ctx, tx, id)
		if err != nil {
			return err
		}
		apply(p)
		if _, err := tx.ExecContext(ctx, `UPDATE service_providers SET enabled = ?, description = ?, auth_url = ?, sp_url = ?, relay_state_prefix = ? WHERE id = ?`,
			p.Enabled, nullableText(p.Description), p.AuthURL, p.SPURL, p.RelayStatePrefix, id); err != nil {
			return err
		}
		out = p
		return nil
	})
	return out, err
}

// deleteSP deletes a service provider.
func (s *Service) deleteSP(ctx context.Context, id string) error {
	return s.write(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM service_providers WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return spNotFound(id)
		}
		return nil
	})
}

// enabledServiceProviders returns the enabled service providers as Keystone lists them
// in a token body's "service_providers" (id, auth_url and sp_url of each), or nil when
// there are none, in which case Keystone leaves the key out.
func (s *Service) enabledServiceProviders(ctx context.Context, q store.Querier) ([]any, error) {
	enabled := true
	sps, err := listSPs(ctx, q, nil, &enabled)
	if err != nil || len(sps) == 0 {
		return nil, err
	}
	out := make([]any, 0, len(sps))
	for _, sp := range sps {
		out = append(out, map[string]any{"id": sp.ID, "auth_url": sp.AuthURL, "sp_url": sp.SPURL})
	}
	return out, nil
}

// --- mapping schema ---

// jsonSchema is the small part of JSON Schema (draft 4) that Keystone's attribute
// mapping schemas use (keystone/federation/utils.py IDP_ATTRIBUTE_MAPPING_SCHEMA_*).
type jsonSchema struct {
	// Type is the JSON type the value must have ("" : any).
	Type       string
	Properties map[string]*jsonSchema
	Required   []string
	// Closed refuses properties not in Properties (additionalProperties: false).
	Closed   bool
	Items    *jsonSchema
	MinItems int
	Enum     []string
	// OneOf requires exactly one of the schemas to match.
	OneOf []*jsonSchema
}

// validate appends to errs a message for each way v breaks the schema, worded as the
// Python jsonschema library words them.
func (sc *jsonSchema) validate(v any, errs *[]string) {
	if sc.Type != "" && !jsonIsType(v, sc.Type) {
		*errs = append(*errs, fmt.Sprintf("%s is not of type '%s'", pyRepr(v), sc.Type))
		return
	}
	if len(sc.Enum) > 0 {
		s, ok := v.(string)
		if !ok || !slices.Contains(sc.Enum, s) {
			quoted := make([]string, len(sc.Enum))
			for i, e := range sc.Enum {
				quoted[i] = pyRepr(e)
			}
			*errs = append(*errs, fmt.Sprintf("%s is not one of [%s]", pyRepr(v), strings.Join(quoted, ", ")))
		}
	}
	if len(sc.OneOf) > 0 {
		matched := 0
		for _, alt := range sc.OneOf {
			var sub []string
			alt.validate(v, &sub)
			if len(sub) == 0 {
				matched++
			}
		}
		switch {
		case matched == 0:
			*errs = append(*errs, fmt.Sprintf("%s is not valid under any of the given schemas", pyRepr(v)))
		case matched > 1:
			*errs = append(*errs, fmt.Sprintf("%s is valid under each of the given schemas", pyRepr(v)))
		}
	}
	switch x := v.(type) {
	case map[string]any:
		for _, k := range sc.Required {
			if _, ok := x[k]; !ok {
				*errs = append(*errs, fmt.Sprintf("'%s' is a required property", k))
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var extra []string
		for _, k := range keys {
			if p := sc.Properties[k]; p != nil {
				p.validate(x[k], errs)
			} else if sc.Closed {
				extra = append(extra, pyRepr(k))
			}
		}
		switch len(extra) {
		case 0:
		case 1:
			*errs = append(*errs, fmt.Sprintf("Additional properties are not allowed (%s was unexpected)", extra[0]))
		default:
			*errs = append(*errs, fmt.Sprintf("Additional properties are not allowed (%s were unexpected)", strings.Join(extra, ", ")))
		}
	case []any:
		if len(x) < sc.MinItems {
			*errs = append(*errs, fmt.Sprintf("%s is too short", pyRepr(v)))
		}
		if sc.Items != nil {
			for _, e := range x {
				sc.Items.validate(e, errs)
			}
		}
	}
}

// jsonIsType reports whether a decoded JSON value has a JSON Schema type.
func jsonIsType(v any, typ string) bool {
	switch typ {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil
	case "null":
		return v == nil
	}
	return true
}

// pyRepr renders a decoded JSON value roughly as Python's repr does, shortened, for
// schema error messages.
func pyRepr(v any) string {
	var b strings.Builder
	writePyRepr(&b, v, 0)
	s := b.String()
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "..."
	}
	return s
}

// writePyRepr writes v's Python-like repr to b, eliding deep nesting.
func writePyRepr(b *strings.Builder, v any, depth int) {
	if depth > 4 {
		b.WriteString("...")
		return
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if x {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case string:
		b.WriteString("'" + truncateForMessage(x) + "'")
	case json.Number:
		b.WriteString(x.String())
	case []any:
		b.WriteString("[")
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyRepr(b, e, depth+1)
		}
		b.WriteString("]")
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("'" + truncateForMessage(k) + "': ")
			writePyRepr(b, x[k], depth+1)
		}
		b.WriteString("}")
	default:
		fmt.Fprint(b, x)
	}
}

// mappingSchemas are Keystone's attribute mapping schemas by schema_version.
var mappingSchemas = buildMappingSchemas()

// buildMappingSchemas builds IDP_ATTRIBUTE_MAPPING_SCHEMA_1_0, _2_0 (projects may name a
// domain) and _3_0 (adds projects_json).
func buildMappingSchemas() map[string]*jsonSchema {
	str := func() *jsonSchema { return &jsonSchema{Type: "string"} }
	domain := func() *jsonSchema {
		return &jsonSchema{Type: "object", Closed: true, Properties: map[string]*jsonSchema{"id": str(), "name": str()}}
	}
	roles := &jsonSchema{Type: "array", Items: &jsonSchema{Type: "object", Required: []string{"name"}, Closed: true,
		Properties: map[string]*jsonSchema{"name": str()}}}
	projects := func(withDomain bool) *jsonSchema {
		props := map[string]*jsonSchema{"name": str(), "roles": roles}
		if withDomain {
			props["domain"] = domain()
		}
		return &jsonSchema{Type: "array", Items: &jsonSchema{Type: "object", Required: []string{"name", "roles"}, Closed: true, Properties: props}}
	}
	remoteAlt := func(list string) *jsonSchema {
		if list == "" {
			return &jsonSchema{Type: "object", Required: []string{"type"}, Closed: true, Properties: map[string]*jsonSchema{"type": str()}}
		}
		return &jsonSchema{Type: "object", Required: []string{"type", list}, Closed: true, Properties: map[string]*jsonSchema{
			"type": str(), list: {Type: "array"}, "regex": {Type: "boolean"}}}
	}
	build := func(version string) *jsonSchema {
		local := map[string]*jsonSchema{
			"user": {Type: "object", Closed: true, Properties: map[string]*jsonSchema{
				"id": str(), "name": str(), "email": str(), "domain": domain(),
				"type": {Type: "string", Enum: []string{"ephemeral", "local"}},
			}},
			"projects": projects(version != "1.0"),
			"group": {Type: "object", OneOf: []*jsonSchema{
				{Type: "object", Required: []string{"id"}, Closed: true, Properties: map[string]*jsonSchema{"id": str()}},
				{Type: "object", Required: []string{"name", "domain"}, Closed: true, Properties: map[string]*jsonSchema{"name": str(), "domain": domain()}},
			}},
			"groups":    str(),
			"group_ids": str(),
			"domain":    domain(),
		}
		if version == "3.0" {
			local["projects_json"] = str()
		}
		rule := &jsonSchema{Type: "object", Required: []string{"local", "remote"}, Closed: true, Properties: map[string]*jsonSchema{
			"local": {Type: "array", Items: &jsonSchema{Type: "object", Closed: true, Properties: local}},
			"remote": {Type: "array", MinItems: 1, Items: &jsonSchema{Type: "object", OneOf: []*jsonSchema{
				remoteAlt(""), remoteAlt("any_one_of"), remoteAlt("not_any_of"), remoteAlt("blacklist"), remoteAlt("whitelist"),
			}}},
		}}
		return &jsonSchema{Type: "object", Required: []string{"rules"}, Properties: map[string]*jsonSchema{
			"rules":          {Type: "array", MinItems: 1, Items: rule},
			"schema_version": str(),
		}}
	}
	return map[string]*jsonSchema{"1.0": build("1.0"), "2.0": build("2.0"), "3.0": build("3.0")}
}

// validateMapping applies Keystone's mapping validation to a "mapping" object: a
// missing or empty schema_version becomes the default, which must name a known schema,
// and the mapping must satisfy that schema. It returns the mapping to store.
func validateMapping(id string, o api.Object) (*fedMapping, error) {
	o = normalizeAttrNames(o)
	if isFalsyJSON(o["schema_version"]) {
		o["schema_version"] = defaultMappingSchemaVersion
	}
	version, ok := o["schema_version"].(string)
	schema := mappingSchemas[version]
	if !ok || schema == nil {
		return nil, api.BadRequest("Invalid input for field 'schema_version': %s is not one of ['1.0', '2.0', '3.0'].", pyRepr(o["schema_version"]))
	}
	var errs []string
	schema.validate(map[string]any(o), &errs)
	if len(errs) > 0 {
		return nil, api.BadRequest("%s\n", strings.Join(errs, "\n"))
	}
	return &fedMapping{ID: id, Rules: o["rules"], SchemaVersion: version}, nil
}

// isFalsyJSON reports whether a decoded JSON value is false in Python's sense (absent,
// null, false, zero, or an empty string, list or object).
func isFalsyJSON(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case string:
		return x == ""
	case json.Number:
		f, err := x.Float64()
		return err == nil && f == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}
