package network

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// Agents (agent, dhcp_agent_scheduler, l3_agent_scheduler) and availability zones. The
// network service registers the agents of its host and keeps them alive while its
// driver applies state; an agent is alive while its last heartbeat is younger than
// agent_down_time.

// agentDownTime is [DEFAULT] agent_down_time.
const agentDownTime = 75 * time.Second

// hostAgents are the agents a DevStack host runs, with their binaries and topics.
var hostAgents = []struct{ typ, binary, topic string }{
	{"DHCP agent", "neutron-dhcp-agent", "dhcp_agent"},
	{"L3 agent", "neutron-l3-agent", "l3_agent"},
	{"Linux bridge agent", "neutron-linuxbridge-agent", "N/A"},
	{"Metadata agent", "neutron-metadata-agent", "N/A"},
}

func agentNotFound(id string) *api.Error {
	return nerr(http.StatusNotFound, "AgentNotFound", "Agent %s could not be found", id)
}

func (s *Service) registerAgents() {
	s.RegisterExtensions(extAgent...)
	s.registerKind(&kind{
		singular: "agent", collection: "agents", table: "net_agents",
		attrs: []string{"id", "agent_type", "binary", "topic", "host", "admin_state_up", "alive", "availability_zone",
			"description", "created_at", "started_at", "heartbeat_timestamp", "configurations", "resources_synced"},
		unsortable: []string{"configurations"},
		columns: map[string]string{"id": "id", "agent_type": "agent_type", "binary": "binary_name", "host": "host",
			"topic": "topic"},
		notFound: agentNotFound,
		load:     s.loadAgents,
		target:   func(record) policy.Target { return policy.Target{} },
	})
}

func (s *Service) agentRoutes() []route {
	k := s.kinds["agents"]
	rs := s.crudRoutes(k, nil, s.updateAgent, s.deleteAgent)
	return append(rs,
		route{"GET", "/v2.0/agents/{id}/dhcp-networks", "get_dhcp-networks", s.agentHosted("DHCP agent", "networks")},
		route{"GET", "/v2.0/agents/{id}/l3-routers", "get_l3-routers", s.agentHosted("L3 agent", "routers")},
		route{"GET", "/v2.0/networks/{id}/dhcp-agents", "get_dhcp-agents", s.hostingAgents("DHCP agent", "networks")},
		route{"GET", "/v2.0/routers/{id}/l3-agents", "get_l3-agents", s.hostingAgents("L3 agent", "routers")},
		route{"GET", "/v2.0/availability_zones", "get_availability_zone", s.listAvailabilityZones},
	)
}

// agentStamp renders agent times as Neutron does ("2026-01-02 03:04:05").
func agentStamp(stored string) string {
	t := store.ParseTime(stored)
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func (s *Service) loadAgents(ctx context.Context, q store.Querier, c *call, pre sqlFilter) ([]record, error) {
	where, args := pre.where(s.kinds["agents"], "")
	rows, err := q.QueryContext(ctx, `SELECT id, agent_type, binary_name, topic, host, availability_zone, admin_state_up,
		description, configurations, created_at, started_at, heartbeat_timestamp FROM net_agents WHERE 1=1`+where+` ORDER BY host, agent_type`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []record
	for rows.Next() {
		var id, typ, bin, topic, host, conf, created, started, beat string
		var az, desc *string
		var admin bool
		if err := rows.Scan(&id, &typ, &bin, &topic, &host, &az, &admin, &desc, &conf, &created, &started, &beat); err != nil {
			return nil, err
		}
		cfg := map[string]any{}
		_ = json.Unmarshal([]byte(conf), &cfg)
		out = append(out, record{"id": id, "agent_type": typ, "binary": bin, "topic": topic, "host": host,
			"availability_zone": strPtr(az), "admin_state_up": admin, "description": strPtr(desc), "configurations": cfg,
			"created_at": agentStamp(created), "started_at": agentStamp(started), "heartbeat_timestamp": agentStamp(beat),
			"alive": now().Sub(store.ParseTime(beat)) < agentDownTime, "resources_synced": nil})
	}
	return out, rows.Err()
}

// Heartbeat registers (on first call) and refreshes the agents of host: the DHCP, L3,
// Linux bridge and metadata agents. Run calls it for the service's own host after each
// successful apply; host agents elsewhere call it the same way.
func (s *Service) Heartbeat(ctx context.Context, host string) error {
	if host == "" {
		return nil
	}
	ts := store.FormatTime(now())
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, a := range hostAgents {
			var az any
			if a.typ == "DHCP agent" || a.typ == "L3 agent" {
				az = s.cfg.AvailabilityZone
			}
			conf := agentConfig(a.typ)
			if _, err := tx.ExecContext(ctx, `INSERT INTO net_agents (id, agent_type, binary_name, topic, host, availability_zone,
				admin_state_up, configurations, created_at, started_at, heartbeat_timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (agent_type, host) DO UPDATE SET heartbeat_timestamp = excluded.heartbeat_timestamp`,
				api.NewUUID(), a.typ, a.binary, a.topic, host, az, true, conf, ts, ts, ts); err != nil {
				return err
			}
		}
		return nil
	})
}

// agentConfig is the configurations dict an agent reports.
func agentConfig(typ string) string {
	var m map[string]any
	switch typ {
	case "DHCP agent":
		m = map[string]any{"dhcp_driver": "neutron.agent.linux.dhcp.Dnsmasq", "dhcp_lease_duration": 86400, "log_agent_heartbeats": false}
	case "L3 agent":
		m = map[string]any{"agent_mode": "legacy", "interface_driver": "linuxbridge", "log_agent_heartbeats": false}
	case "Linux bridge agent":
		m = map[string]any{"bridge_mappings": map[string]any{}, "interface_mappings": map[string]any{"public": "br-ex"},
			"tunnel_types": []any{"vxlan"}, "l2_population": true}
	default:
		m = map[string]any{"metadata_proxy_socket": "/var/lib/neutron/metadata_proxy", "log_agent_heartbeats": false}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func (s *Service) updateAgent(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["agents"]
	id := r.PathValue("id")
	if !s.enforce(c, "update_agent", policy.Target{}, nil) {
		return policyNotAuthorized("update_agent")
	}
	b, err := decode(r, "agent")
	if err != nil {
		return err
	}
	if err := b.readOnly("id", "agent_type", "binary", "topic", "host", "alive", "availability_zone", "configurations",
		"created_at", "started_at", "heartbeat_timestamp"); err != nil {
		return err
	}
	if err := b.known("admin_state_up", "description"); err != nil {
		return err
	}
	if _, err := s.loadOne(r.Context(), s.db, c, k, id); err != nil {
		return err
	}
	if v, ok, err := b.boolean("admin_state_up"); err != nil {
		return err
	} else if ok {
		if _, err := s.db.ExecContext(r.Context(), `UPDATE net_agents SET admin_state_up = ? WHERE id = ?`, v, id); err != nil {
			return err
		}
	}
	if d, ok, err := b.str("description", 255, true); err != nil {
		return err
	} else if ok {
		if _, err := s.db.ExecContext(r.Context(), `UPDATE net_agents SET description = ? WHERE id = ?`, nilIfEmpty(d), id); err != nil {
			return err
		}
	}
	return s.writeOne(w, c, k, http.StatusOK, id, r.Context())
}

func (s *Service) deleteAgent(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	if !s.enforce(c, "delete_agent", policy.Target{}, nil) {
		return policyNotAuthorized("delete_agent")
	}
	if _, err := s.loadOne(r.Context(), s.db, c, s.kinds["agents"], id); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(r.Context(), `DELETE FROM net_agents WHERE id = ?`, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// agentHosted lists what an agent hosts: every DHCP-enabled network (DHCP agents) or
// every router (L3 agents) when the agent is the service's own host's.
func (s *Service) agentHosted(typ, coll string) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		if !s.enforce(c, c.rule, policy.Target{}, nil) {
			return policyNotAuthorized(c.rule)
		}
		a, err := s.loadOne(r.Context(), s.db, c, s.kinds["agents"], r.PathValue("id"))
		if err != nil {
			return err
		}
		out := []any{}
		if a["agent_type"] == typ && a["host"] == s.cfg.Host {
			recs, err := s.kinds[coll].load(r.Context(), s.db, c, nil)
			if err != nil {
				return err
			}
			dhcp := map[string]bool{}
			if coll == "networks" {
				subs, err := loadSubnetRows(r.Context(), s.db, ` AND enable_dhcp = ?`, true)
				if err != nil {
					return err
				}
				for _, sr := range subs {
					dhcp[sr.NetworkID] = true
				}
			}
			for _, rec := range recs {
				if coll == "networks" && !dhcp[rec["id"].(string)] {
					continue
				}
				out = append(out, s.present(c, s.kinds[coll], rec, nil))
			}
		}
		writeBody(w, http.StatusOK, map[string]any{coll: out})
		return nil
	}
}

// hostingAgents lists the agents hosting a network (DHCP) or router (L3).
func (s *Service) hostingAgents(typ, coll string) handler {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		if !s.enforce(c, c.rule, policy.Target{}, nil) {
			return policyNotAuthorized(c.rule)
		}
		if _, err := s.loadOne(r.Context(), s.db, c, s.kinds[coll], r.PathValue("id")); err != nil {
			return err
		}
		recs, err := s.loadAgents(r.Context(), s.db, c, sqlFilter{"agent_type": {typ}, "host": {s.cfg.Host}})
		if err != nil {
			return err
		}
		out := make([]any, 0, len(recs))
		for _, rec := range recs {
			out = append(out, map[string]any(rec))
		}
		writeBody(w, http.StatusOK, map[string]any{"agents": out})
		return nil
	}
}

// listAvailabilityZones is GET /v2.0/availability_zones: the one zone, for networks and
// routers, filtered by name, resource and state.
func (s *Service) listAvailabilityZones(w http.ResponseWriter, r *http.Request, c *call) error {
	if !s.enforce(c, "get_availability_zone", policy.Target{}, nil) {
		return policyNotAuthorized("get_availability_zone")
	}
	q := r.URL.Query()
	out := []any{}
	for _, res := range []string{"network", "router"} {
		az := map[string]any{"name": s.cfg.AvailabilityZone, "resource": res, "state": "available"}
		ok := true
		for _, key := range []string{"name", "resource", "state"} {
			if vals, has := q[key]; has {
				m := false
				for _, v := range vals {
					m = m || v == az[key]
				}
				ok = ok && m
			}
		}
		if ok {
			out = append(out, az)
		}
	}
	writeBody(w, http.StatusOK, map[string]any{"availability_zones": out})
	return nil
}
