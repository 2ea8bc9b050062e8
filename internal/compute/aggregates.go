package compute

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// hostAggregate is a host aggregate with its hosts and metadata. Its availability zone
// is the "availability_zone" metadata key, as in Nova.
type hostAggregate struct {
	ID        int64
	UUID      string
	Name      string
	Hosts     []string
	Metadata  map[string]string
	CreatedAt time.Time
	UpdatedAt *time.Time
}

// zone is the aggregate's availability zone ("" when it has none).
func (a *hostAggregate) zone() string { return a.Metadata["availability_zone"] }

// aggregateNotFound is Nova's AggregateNotFound.
func aggregateNotFound(id any) error {
	return notFound("Aggregate %v could not be found.", id)
}

// loadAggregates reads aggregates (all when id is 0) with hosts and metadata, in id
// order.
func loadAggregates(ctx context.Context, q querier, id int64) ([]*hostAggregate, error) {
	where, args := "", []any{}
	if id != 0 {
		where, args = " WHERE id = ?", []any{id}
	}
	rows, err := q.QueryContext(ctx, `SELECT id, uuid, name, created_at, updated_at FROM compute_aggregates`+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	var out []*hostAggregate
	byID := map[int64]*hostAggregate{}
	for rows.Next() {
		var (
			a                hostAggregate
			created, updated string
		)
		if err := rows.Scan(&a.ID, &a.UUID, &a.Name, &created, &updated); err != nil {
			rows.Close()
			return nil, err
		}
		a.CreatedAt = store.ParseTime(created)
		if updated != "" {
			t := store.ParseTime(updated)
			a.UpdatedAt = &t
		}
		a.Hosts, a.Metadata = []string{}, map[string]string{}
		out = append(out, &a)
		byID[a.ID] = &a
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	hrows, err := q.QueryContext(ctx, `SELECT aggregate_id, host FROM compute_aggregate_hosts`+strings.Replace(where, "id", "aggregate_id", 1)+` ORDER BY aggregate_id, host`, args...)
	if err != nil {
		return nil, err
	}
	for hrows.Next() {
		var (
			aid  int64
			host string
		)
		if err := hrows.Scan(&aid, &host); err != nil {
			hrows.Close()
			return nil, err
		}
		if a := byID[aid]; a != nil {
			a.Hosts = append(a.Hosts, host)
		}
	}
	hrows.Close()
	if err := hrows.Err(); err != nil {
		return nil, err
	}
	mrows, err := q.QueryContext(ctx, `SELECT aggregate_id, key, value FROM compute_aggregate_metadata`+strings.Replace(where, "id", "aggregate_id", 1), args...)
	if err != nil {
		return nil, err
	}
	defer mrows.Close()
	for mrows.Next() {
		var (
			aid        int64
			key, value string
		)
		if err := mrows.Scan(&aid, &key, &value); err != nil {
			return nil, err
		}
		if a := byID[aid]; a != nil {
			a.Metadata[key] = value
		}
	}
	return out, mrows.Err()
}

// loadAggregate reads one aggregate; found is false when there is none.
func loadAggregate(ctx context.Context, q querier, id int64) (*hostAggregate, bool, error) {
	aggs, err := loadAggregates(ctx, q, id)
	if err != nil || len(aggs) == 0 {
		return nil, false, err
	}
	return aggs[0], true, nil
}

// aggregatesOfHost reads the aggregates a host is in.
func aggregatesOfHost(ctx context.Context, q querier, host string) ([]*hostAggregate, error) {
	all, err := loadAggregates(ctx, q, 0)
	if err != nil {
		return nil, err
	}
	var out []*hostAggregate
	for _, a := range all {
		if slices.Contains(a.Hosts, host) {
			out = append(out, a)
		}
	}
	return out, nil
}

// Nova's aggregate actions, which choose the message of InvalidAggregateAction.
const (
	aggActionAdd        = "add"
	aggActionRemove     = "remove"
	aggActionUpdate     = "update"
	aggActionUpdateMeta = "update_meta"
)

// invalidAggregateAction is Nova's InvalidAggregateAction* message for an action.
func invalidAggregateAction(action string, id int64, reason string) string {
	switch action {
	case aggActionAdd:
		return fmt.Sprintf("Cannot add host to aggregate %d. Reason: %s.", id, reason)
	case aggActionRemove:
		return fmt.Sprintf("Cannot remove host from aggregate %d. Reason: %s.", id, reason)
	case aggActionUpdate:
		return fmt.Sprintf("Cannot update aggregate %d. Reason: %s.", id, reason)
	default:
		return fmt.Sprintf("Cannot update metadata of aggregate %d. Reason: %s.", id, reason)
	}
}

// checkZoneChange is Nova's is_safe_to_update_az: when meta sets availability_zone, the
// zone must not be empty, no host concerned (hosts, or the aggregate's own) may already
// be in another aggregate with a different zone and, when checkInstances is set and the
// zone changes, no such host may have instances. It returns the refusal's message ("" if
// the change is safe).
func checkZoneChange(ctx context.Context, q querier, agg *hostAggregate, meta map[string]*string, hosts []string, action string, checkInstances bool) (string, error) {
	newZone, ok := meta["availability_zone"]
	if !ok {
		return "", nil
	}
	if newZone == nil || *newZone == "" {
		return invalidAggregateAction(action, agg.ID, fmt.Sprintf("Aggregate %s does not support empty named availability zone", agg.Name)), nil
	}
	if hosts == nil {
		hosts = agg.Hosts
	}
	all, err := loadAggregates(ctx, q, 0)
	if err != nil {
		return "", err
	}
	var conflicting []string
	for _, other := range all {
		z, hasZone := other.Metadata["availability_zone"]
		if !hasZone || other.ID == agg.ID || z == *newZone {
			continue
		}
		if slices.ContainsFunc(hosts, func(h string) bool { return slices.Contains(other.Hosts, h) }) {
			conflicting = append(conflicting, z)
		}
	}
	if len(conflicting) > 0 {
		return invalidAggregateAction(action, agg.ID, "One or more hosts already in availability zone(s) "+pyList(conflicting)), nil
	}
	if checkInstances && agg.zone() != *newZone {
		for _, h := range hosts {
			n, err := hostInstanceCount(ctx, q, h)
			if err != nil {
				return "", err
			}
			if n > 0 {
				return invalidAggregateAction(action, agg.ID, "One or more hosts contain instances in this zone"), nil
			}
		}
	}
	return "", nil
}

// zoneOfHostExcept is the zone a host's aggregates give it, leaving out one aggregate
// (0: none); "" when none of them has a zone.
func zoneOfHostExcept(ctx context.Context, q querier, host string, except int64) (string, error) {
	aggs, err := aggregatesOfHost(ctx, q, host)
	if err != nil {
		return "", err
	}
	for _, a := range aggs {
		if a.ID != except && a.zone() != "" {
			return a.zone(), nil
		}
	}
	return "", nil
}

// pyOptString renders a possibly empty zone as Python's %s of None or the string.
func pyOptString(s string) string {
	if s == "" {
		return "None"
	}
	return s
}

// moveRefused is Nova's refusal to change the zone of a host that has instances.
func moveRefused(verb string, from, to string, n int) string {
	return fmt.Sprintf("The host cannot be %s the aggregate as the availability zone of the host would change from '%s' to '%s' but the host already has %d instance(s). Changing the AZ of an existing instance is not supported by this action. Move the instances away from this host then try again. If you need to move the instances between AZs then you can use shelve_offload and unshelve to achieve this.",
		verb, pyOptString(from), pyOptString(to), n)
}

// setAggregateMetadata applies a metadata update in tx: null values remove keys.
func setAggregateMetadata(ctx context.Context, tx *store.Tx, agg *hostAggregate, meta map[string]*string) error {
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := meta[k]
		if v == nil {
			if _, err := tx.ExecContext(ctx, `DELETE FROM compute_aggregate_metadata WHERE aggregate_id = ? AND key = ?`, agg.ID, k); err != nil {
				return err
			}
			delete(agg.Metadata, k)
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO compute_aggregate_metadata (aggregate_id, key, value) VALUES (?, ?, ?)
			ON CONFLICT (aggregate_id, key) DO UPDATE SET value = excluded.value`, agg.ID, k, *v); err != nil {
			return err
		}
		agg.Metadata[k] = *v
	}
	return nil
}

// touchAggregate records an update of the aggregate.
func touchAggregate(ctx context.Context, tx *store.Tx, agg *hostAggregate) error {
	t := now()
	agg.UpdatedAt = &t
	_, err := tx.ExecContext(ctx, `UPDATE compute_aggregates SET updated_at = ? WHERE id = ?`, store.FormatTime(t), agg.ID)
	return err
}

// createAggregateRecord creates an aggregate (with its zone, if any); a taken name is
// Nova's 409.
func createAggregateRecord(ctx context.Context, tx *store.Tx, name, zone string) (*hostAggregate, error) {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM compute_aggregates WHERE name = ?`, name).Scan(&n); err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, conflict("Aggregate %s already exists.", name)
	}
	id, err := nextID(ctx, tx, "aggregates")
	if err != nil {
		return nil, err
	}
	agg := &hostAggregate{ID: id, UUID: api.NewUUID(), Name: name, Hosts: []string{}, Metadata: map[string]string{}, CreatedAt: now()}
	if _, err := tx.ExecContext(ctx, `INSERT INTO compute_aggregates (id, uuid, name, created_at, updated_at) VALUES (?, ?, ?, ?, '')`,
		agg.ID, agg.UUID, agg.Name, store.FormatTime(agg.CreatedAt)); err != nil {
		if store.IsUniqueViolation(err) {
			return nil, conflict("Aggregate %s already exists.", name)
		}
		return nil, err
	}
	if zone != "" {
		if err := setAggregateMetadata(ctx, tx, agg, map[string]*string{"availability_zone": &zone}); err != nil {
			return nil, err
		}
	}
	return agg, nil
}

// Name formats of Nova's schemas (nova/api/validation/parameter_types.py). Nova builds
// its character classes from the Basic Multilingual Plane only, so characters beyond it
// never match.

// novaPrintable is Nova's _is_printable: not a control/format/unassigned character and
// not a line or paragraph separator.
func novaPrintable(r rune) bool {
	if r >= 0xFFFF {
		return false
	}
	if unicode.In(r, unicode.C) || !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Zs) {
		return false
	}
	return true
}

// novaSpace reports a Zs (space separator) character.
func novaSpace(r rune) bool { return unicode.In(r, unicode.Zs) }

// validAggregateName is the "name" format: printable characters, not starting or ending with a
// space. With noColon (the az_name format) ':' is refused too.
func validAggregateName(s string, noColon bool) bool {
	rs := []rune(s)
	for i, r := range rs {
		if !novaPrintable(r) || (noColon && r == ':') {
			return false
		}
		if (i == 0 || i == len(rs)-1) && novaSpace(r) {
			return false
		}
	}
	return true
}

// validNameWithSpaces is the name_with_leading_trailing_spaces format: printable
// characters with at least one that is not a space (':' refused with noColon).
func validNameWithSpaces(s string, noColon bool) bool {
	nonSpace := false
	for _, r := range s {
		if !novaPrintable(r) || (noColon && r == ':') {
			return false
		}
		if !novaSpace(r) {
			nonSpace = true
		}
	}
	return nonSpace
}

// aggregateNameField validates an aggregate name or zone the way the schema of the call does:
// format is "name", "az_name", "name_with_leading_trailing_spaces" or
// "az_name_with_leading_trailing_spaces". The value comes back trimmed, as Nova's
// normalize_name leaves it.
func aggregateNameField(o map[string]any, field, format string) (val string, present bool, err error) {
	s, present, err := stringField(o, field, 1, 255, nil)
	if err != nil || !present {
		return "", present, err
	}
	var ok bool
	reason := ""
	switch format {
	case "name":
		ok, reason = validAggregateName(s, false), "printable characters. Can not start or end with whitespace."
	case "az_name":
		ok, reason = validAggregateName(s, true), "printable characters except :.Can not start or end with whitespace."
	case "az_name_with_leading_trailing_spaces":
		ok, reason = validNameWithSpaces(s, true), "printable characters except :, with at least one non space character"
	default:
		ok, reason = validNameWithSpaces(s, false), "printable characters with at least one non space character"
	}
	if !ok {
		return "", true, badRequest("An invalid 'name' value was provided. The name must be: %s", reason)
	}
	return strings.TrimSpace(s), true, nil
}
