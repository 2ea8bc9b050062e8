package compute

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
)

// serverGroupRoutes serves os-server-groups.
func (s *Service) serverGroupRoutes() []route {
	const coll = "/v2.1/os-server-groups"
	return []route{
		{method: "GET", path: coll, rule: ruleServerGroupIndex, handle: s.handleListServerGroups},
		{method: "POST", path: coll, rule: ruleServerGroupCreate, handle: s.handleCreateServerGroup},
		{method: "GET", path: coll + "/{id}", rule: ruleServerGroupShow, handle: s.handleShowServerGroup},
		{method: "DELETE", path: coll + "/{id}", rule: ruleServerGroupDelete, handle: s.handleDeleteServerGroup},
	}
}

// serverGroupView renders a group as Nova does at the request's microversion: policies
// and an empty metadata before 2.64, policy and rules from it, and project_id and
// user_id from 2.13.
func serverGroupView(c *call, g *serverGroup) map[string]any {
	out := map[string]any{"id": g.UUID, "name": g.Name, "members": g.Members}
	if g.Members == nil {
		out["members"] = []string{}
	}
	if c.at(64) {
		out["policy"] = g.Policy
		rules := g.Rules
		if rules == nil {
			rules = map[string]int64{}
		}
		out["rules"] = rules
	} else {
		out["policies"] = []string{g.Policy}
		out["metadata"] = map[string]any{}
	}
	if c.at(13) {
		out["project_id"] = g.ProjectID
		out["user_id"] = g.UserID
	}
	return out
}

// offsetParams reads limit and offset as Nova's common.limited: non-negative integers,
// limit capped at max_limit (0 or absent: max_limit).
func (s *Service) offsetParams(c *call, r *http.Request) (offset, limit int, err error) {
	q := r.URL.Query()
	if c.at(75) {
		if err := checkQuery(q, "all_projects", "limit", "offset"); err != nil {
			return 0, 0, err
		}
	}
	limit = s.cfg.ListLimitMax
	for _, p := range []struct {
		key string
		dst *int
	}{{"limit", &limit}, {"offset", &offset}} {
		v, ok := lastQuery(q, p.key)
		if !ok {
			continue
		}
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 || strings.Trim(v, "0123456789") != "" {
			return 0, 0, badRequest("Invalid input for query parameters %s. Value: %s. '%s' does not match '^[0-9]*$'", p.key, reprValue(v), reprValue(v))
		}
		if p.key == "limit" {
			if n > 0 && n < limit {
				limit = n
			}
		} else {
			*p.dst = n
		}
	}
	return offset, limit, nil
}

func (s *Service) handleListServerGroups(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{"project_id": c.caller.ProjectID}); err != nil {
		return err
	}
	offset, limit, err := s.offsetParams(c, r)
	if err != nil {
		return err
	}
	project := c.caller.ProjectID
	if r.URL.Query().Has("all_projects") && s.isAdminCaller(c) {
		if err := s.authorize(c, ruleServerGroupIndexAll, policy.Target{"project_id": c.caller.ProjectID}); err != nil {
			return err
		}
		project = ""
	}
	groups, err := listServerGroups(r.Context(), s.db, project, offset, limit)
	if err != nil {
		return err
	}
	items := make([]map[string]any, 0, len(groups))
	for _, g := range groups {
		items = append(items, serverGroupView(c, g))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"server_groups": items})
	return nil
}

func (s *Service) handleShowServerGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	g, found, err := loadServerGroup(r.Context(), s.db, id)
	if err != nil {
		return err
	}
	if !found {
		return serverGroupNotFound(id)
	}
	if err := s.authorize(c, c.rule, policy.Target{"project_id": g.ProjectID}); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"server_group": serverGroupView(c, g)})
	return nil
}

func (s *Service) handleDeleteServerGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	g, found, err := loadServerGroup(r.Context(), s.db, id)
	if err != nil {
		return err
	}
	if !found {
		return serverGroupNotFound(id)
	}
	if err := s.authorize(c, c.rule, policy.Target{"project_id": g.ProjectID}); err != nil {
		return err
	}
	if err := s.deleteServerGroup(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) handleCreateServerGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{"project_id": c.caller.ProjectID}); err != nil {
		return err
	}
	body, err := decodeBody(r, []string{"server_group"}, "server_group")
	if err != nil {
		return err
	}
	sc, err := parseServerGroupCreate(body, c.ver)
	if err != nil {
		return err
	}
	g, err := s.createServerGroup(r.Context(), c.caller.ProjectID, c.caller.UserID, sc)
	if err != nil {
		return err
	}
	g.Members = []string{}
	api.WriteJSON(w, http.StatusOK, map[string]any{"server_group": serverGroupView(c, g)})
	return nil
}
