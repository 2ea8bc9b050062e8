package network

import (
	"math/big"
	"net/http"
)

// availabilityRoutes are /v2.0/network-ip-availabilities (admin; network-ip-availability).
func (s *Service) availabilityRoutes() []route {
	return []route{
		{"GET", "/v2.0/network-ip-availabilities", "get_network_ip_availability", s.listAvailability},
		{"GET", "/v2.0/network-ip-availabilities/{id}", "get_network_ip_availability", s.showAvailability},
	}
}

// availability renders the IP availability of the networks matching filter.
func (s *Service) availability(r *http.Request, c *call, id string) ([]map[string]any, error) {
	pre := sqlFilter{}
	if id != "" {
		pre["id"] = []string{id}
	}
	q := r.URL.Query()
	for _, key := range []string{"network_id", "network_name", "project_id", "tenant_id", "ip_version"} {
		if q.Has(key) {
			switch key {
			case "network_id":
				pre["id"] = q[key]
			case "network_name":
				pre["name"] = q[key]
			case "project_id", "tenant_id":
				pre["project_id"] = q[key]
			}
		}
	}
	nets, err := s.loadNetworks(r.Context(), s.db, c, pre)
	if err != nil {
		return nil, err
	}
	subnets, err := loadSubnetRows(r.Context(), s.db, "")
	if err != nil {
		return nil, err
	}
	used := map[string]int64{}
	rows, err := s.db.QueryContext(r.Context(), `SELECT subnet_id, COUNT(*) FROM net_ip_allocations GROUP BY subnet_id`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var sid string
		var n int64
		if err := rows.Scan(&sid, &n); err != nil {
			rows.Close()
			return nil, err
		}
		used[sid] = n
	}
	rows.Close()
	ipVersion := q.Get("ip_version")
	var out []map[string]any
	for _, n := range nets {
		nid := n["id"].(string)
		total, usedN := new(big.Int), int64(0)
		subs := []any{}
		for _, sr := range subnets {
			if sr.NetworkID != nid {
				continue
			}
			if ipVersion != "" && ipVersion != big.NewInt(sr.IPVersion).String() {
				continue
			}
			st := new(big.Int)
			for _, p := range sr.pools {
				st.Add(st, p.Size())
			}
			total.Add(total, st)
			usedN += used[sr.ID]
			subs = append(subs, map[string]any{"subnet_id": sr.ID, "subnet_name": sr.Name, "cidr": sr.CIDR,
				"ip_version": sr.IPVersion, "total_ips": bigJSON(st), "used_ips": used[sr.ID]})
		}
		out = append(out, map[string]any{"network_id": nid, "network_name": n["name"], "project_id": n["project_id"],
			"tenant_id": n["project_id"], "total_ips": bigJSON(total), "used_ips": usedN, "subnet_ip_availability": subs})
	}
	return out, nil
}

// bigJSON renders a count as a JSON number even beyond 64 bits (IPv6 pools).
func bigJSON(n *big.Int) any {
	if n.IsInt64() {
		return n.Int64()
	}
	f, _ := new(big.Float).SetInt(n).Float64()
	return f
}

func (s *Service) listAvailability(w http.ResponseWriter, r *http.Request, c *call) error {
	if !s.enforce(c, c.rule, nil, nil) {
		return policyNotAuthorized(c.rule)
	}
	out, err := s.availability(r, c, "")
	if err != nil {
		return err
	}
	if out == nil {
		out = []map[string]any{}
	}
	writeBody(w, http.StatusOK, map[string]any{"network_ip_availabilities": out})
	return nil
}

func (s *Service) showAvailability(w http.ResponseWriter, r *http.Request, c *call) error {
	if !s.enforce(c, c.rule, nil, nil) {
		return policyNotAuthorized(c.rule)
	}
	id := r.PathValue("id")
	out, err := s.availability(r, c, id)
	if err != nil {
		return err
	}
	if len(out) == 0 {
		return networkNotFound(id)
	}
	writeBody(w, http.StatusOK, map[string]any{"network_ip_availability": out[0]})
	return nil
}
