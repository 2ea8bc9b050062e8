package compute

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// Server group rules (nova/policies/server_groups.py).
const (
	ruleServerGroupCreate      = "os_compute_api:os-server-groups:create"
	ruleServerGroupDelete      = "os_compute_api:os-server-groups:delete"
	ruleServerGroupIndex       = "os_compute_api:os-server-groups:index"
	ruleServerGroupIndexAll    = "os_compute_api:os-server-groups:index:all_projects"
	ruleServerGroupShow        = "os_compute_api:os-server-groups:show"
	serverGroupIDSequence      = "server_groups"
	serverGroupPolicyAntiAffin = "anti-affinity"
)

// serverGroupPolicies are Nova's server group defaults.
var serverGroupPolicies = map[string]string{
	ruleServerGroupCreate:   ruleMemberOrAdmin,
	ruleServerGroupDelete:   ruleMemberOrAdmin,
	ruleServerGroupIndex:    ruleReaderOrAdmin,
	ruleServerGroupIndexAll: ruleAdmin,
	ruleServerGroupShow:     ruleReaderOrAdmin,
}

// serverGroup is a server group as stored; Rules holds max_server_per_host.
type serverGroup struct {
	UUID      string
	ID        int64
	Name      string
	ProjectID string
	UserID    string
	Policy    string
	Rules     map[string]int64
	CreatedAt string
	Members   []string
}

// serverGroupColumns lists the columns scanServerGroup reads.
const serverGroupColumns = `uuid, id, name, project_id, user_id, policy, rules, created_at`

// scanServerGroup reads one server group row.
func scanServerGroup(row rowScanner) (*serverGroup, error) {
	var g serverGroup
	var rules string
	if err := row.Scan(&g.UUID, &g.ID, &g.Name, &g.ProjectID, &g.UserID, &g.Policy, &rules, &g.CreatedAt); err != nil {
		return nil, err
	}
	g.Rules = map[string]int64{}
	if rules != "" {
		if err := json.Unmarshal([]byte(rules), &g.Rules); err != nil {
			return nil, fmt.Errorf("server group %s rules: %w", g.UUID, err)
		}
	}
	return &g, nil
}

// serverGroupCreate is a validated create request.
type serverGroupCreate struct {
	name, policy string
	rules        map[string]int64
}

// parseServerGroupCreate validates a create body as Nova's create, create_v215 and
// create_v264 schemas and its rules check do.
func parseServerGroupCreate(body api.Object, ver api.Version) (*serverGroupCreate, error) {
	so, err := subObject(body, "server_group")
	if err != nil {
		return nil, err
	}
	policies := []string{"anti-affinity", "affinity"}
	if ver.AtLeast(2, 15) {
		policies = append(policies, "soft-anti-affinity", "soft-affinity")
	}
	if ver.AtLeast(2, 64) {
		if err := checkObject(so, "server_group", []string{"name", "policy"}, []string{"name", "policy", "rules"}); err != nil {
			return nil, err
		}
	} else if err := checkObject(so, "server_group", []string{"name", "policies"}, []string{"name", "policies"}); err != nil {
		return nil, err
	}
	name, _, err := nameField(so, "name", 255, false)
	if err != nil {
		return nil, err
	}
	sc := &serverGroupCreate{name: name, rules: map[string]int64{}}
	if ver.AtLeast(2, 64) {
		p, ok := so["policy"].(string)
		if !ok || !slices.Contains(policies, p) {
			return nil, invalidInput("policy", so["policy"], fmt.Sprintf("%s is not one of %s", reprValue(so["policy"]), pyList(policies)))
		}
		sc.policy = p
		if v, ok := so["rules"]; ok {
			ro, isObj := v.(map[string]any)
			if !isObj {
				return nil, invalidInput("rules", v, fmt.Sprintf("%s is not of type 'object'", reprValue(v)))
			}
			if err := checkObject(api.Object(ro), "rules", nil, []string{"max_server_per_host"}); err != nil {
				return nil, err
			}
			if mv, ok := ro["max_server_per_host"]; ok {
				n, err := intValue("max_server_per_host", mv, 1, 1<<62)
				if err != nil {
					return nil, err
				}
				sc.rules["max_server_per_host"] = n
			}
		}
		if p != serverGroupPolicyAntiAffin && len(sc.rules) > 0 {
			return nil, badRequest("Only anti-affinity policy supports rules.")
		}
		return sc, nil
	}
	v := so["policies"]
	list, ok := v.([]any)
	if !ok {
		return nil, invalidInput("policies", v, fmt.Sprintf("%s is not of type 'array'", reprValue(v)))
	}
	if len(list) != 1 {
		reason := "[] is too short"
		if len(list) > 1 {
			reason = fmt.Sprintf("%s is too long", reprValue(v))
		}
		return nil, invalidInput("policies", v, reason)
	}
	p, ok := list[0].(string)
	if !ok || !slices.Contains(policies, p) {
		return nil, invalidInput("policies", v, fmt.Sprintf("%s is not one of %s", reprValue(list[0]), pyList(policies)))
	}
	sc.policy = p
	return sc, nil
}

// createServerGroup stores a new group under the server_groups quota.
func (s *Service) createServerGroup(ctx context.Context, projectID, userID string, sc *serverGroupCreate) (*serverGroup, error) {
	g := &serverGroup{UUID: api.NewUUID(), Name: sc.name, ProjectID: projectID, UserID: userID, Policy: sc.policy,
		Rules: sc.rules, CreatedAt: store.FormatTime(now())}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.checkQuota(ctx, tx, projectID, userID, map[string]int64{"server_groups": 1}); err != nil {
			return err
		}
		id, err := nextID(ctx, tx, serverGroupIDSequence)
		if err != nil {
			return err
		}
		g.ID = id
		_, err = tx.ExecContext(ctx, `INSERT INTO compute_server_groups (`+serverGroupColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			g.UUID, g.ID, g.Name, g.ProjectID, g.UserID, g.Policy, mustJSON(g.Rules), g.CreatedAt)
		return err
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// loadServerGroup reads a group with its live members; found is false when there is
// none.
func loadServerGroup(ctx context.Context, q querier, uuid string) (*serverGroup, bool, error) {
	g, err := scanServerGroup(q.QueryRowContext(ctx, `SELECT `+serverGroupColumns+` FROM compute_server_groups WHERE uuid = ?`, uuid))
	if store.IsNoRows(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if err := fillGroupMembers(ctx, q, []*serverGroup{g}); err != nil {
		return nil, false, err
	}
	return g, true, nil
}

// listServerGroups returns the groups of a project (all projects when projectID is ""),
// oldest first, after offset and at most limit of them.
func listServerGroups(ctx context.Context, q querier, projectID string, offset, limit int) ([]*serverGroup, error) {
	query := `SELECT ` + serverGroupColumns + ` FROM compute_server_groups`
	var args []any
	if projectID != "" {
		query += ` WHERE project_id = ?`
		args = append(args, projectID)
	}
	query += fmt.Sprintf(` ORDER BY id LIMIT %d OFFSET %d`, limit, offset)
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var out []*serverGroup
	for rows.Next() {
		g, err := scanServerGroup(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, fillGroupMembers(ctx, q, out)
}

// fillGroupMembers sets each group's members: the instances in the group that are not
// deleted, as Nova shows them.
func fillGroupMembers(ctx context.Context, q querier, groups []*serverGroup) error {
	for _, g := range groups {
		rows, err := q.QueryContext(ctx, `SELECT m.instance_uuid FROM compute_server_group_members m
			JOIN compute_instances i ON i.uuid = m.instance_uuid
			WHERE m.group_uuid = ? AND i.deleted = ? ORDER BY m.instance_uuid`, g.UUID, false)
		if err != nil {
			return err
		}
		g.Members = []string{}
		for rows.Next() {
			var u string
			if err := rows.Scan(&u); err != nil {
				rows.Close()
				return err
			}
			g.Members = append(g.Members, u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// deleteServerGroup removes a group and its membership rows.
func (s *Service) deleteServerGroup(ctx context.Context, uuid string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM compute_server_group_members WHERE group_uuid = ?`, uuid); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM compute_server_groups WHERE uuid = ?`, uuid)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return serverGroupNotFound(uuid)
		}
		return nil
	})
}

// serverGroupNotFound is Nova's InstanceGroupNotFound.
func serverGroupNotFound(uuid string) error {
	return notFound("Instance group %s could not be found.", uuid)
}
