package compute

import (
	"context"
	"net/http"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// serverRoutes are /servers and its sub-resources (servers.py, server_metadata.py,
// server_tags.py, ips.py, instance_actions.py, attach_interfaces.py,
// volumes.py, server_diagnostics.py, server_password.py, server_topology.py,
// remote_consoles.py).
func (s *Service) serverRoutes() []route {
	const srv = "/v2.1/servers/{server_id}"
	return []route{
		{method: "GET", path: "/v2.1/servers", rule: "os_compute_api:servers:index", handle: s.listServers},
		{method: "GET", path: "/v2.1/servers/detail", rule: "os_compute_api:servers:detail", handle: s.listServers},
		{method: "POST", path: "/v2.1/servers", rule: "os_compute_api:servers:create", handle: s.createServers},
		{method: "GET", path: srv, rule: "os_compute_api:servers:show", handle: s.showServer},
		{method: "PUT", path: srv, rule: "os_compute_api:servers:update", handle: s.updateServer},
		{method: "DELETE", path: srv, rule: "os_compute_api:servers:delete", handle: s.deleteServer},

		{method: "GET", path: srv + "/metadata", rule: "os_compute_api:server-metadata:index", handle: s.listMetadata},
		{method: "POST", path: srv + "/metadata", rule: "os_compute_api:server-metadata:create", handle: s.mergeMetadata},
		{method: "PUT", path: srv + "/metadata", rule: "os_compute_api:server-metadata:update_all", handle: s.replaceMetadata},
		{method: "GET", path: srv + "/metadata/{key}", rule: "os_compute_api:server-metadata:show", handle: s.showMetadataItem},
		{method: "PUT", path: srv + "/metadata/{key}", rule: "os_compute_api:server-metadata:update", handle: s.putMetadataItem},
		{method: "DELETE", path: srv + "/metadata/{key}", rule: "os_compute_api:server-metadata:delete", handle: s.deleteMetadataItem},

		{method: "GET", path: srv + "/tags", rule: "os_compute_api:os-server-tags:index", minVer: v(26), handle: s.listTags},
		{method: "PUT", path: srv + "/tags", rule: "os_compute_api:os-server-tags:update_all", minVer: v(26), handle: s.replaceTags},
		{method: "DELETE", path: srv + "/tags", rule: "os_compute_api:os-server-tags:delete_all", minVer: v(26), handle: s.deleteAllTags},
		{method: "GET", path: srv + "/tags/{tag}", rule: "os_compute_api:os-server-tags:show", minVer: v(26), handle: s.showTag},
		{method: "PUT", path: srv + "/tags/{tag}", rule: "os_compute_api:os-server-tags:update", minVer: v(26), handle: s.putTag},
		{method: "DELETE", path: srv + "/tags/{tag}", rule: "os_compute_api:os-server-tags:delete", minVer: v(26), handle: s.deleteTag},

		{method: "GET", path: srv + "/ips", rule: "os_compute_api:ips:index", handle: s.listIPs},
		{method: "GET", path: srv + "/ips/{network}", rule: "os_compute_api:ips:show", handle: s.showIPs},

		{method: "GET", path: srv + "/os-instance-actions", rule: "os_compute_api:os-instance-actions:list", handle: s.listInstanceActions},
		{method: "GET", path: srv + "/os-instance-actions/{request_id}", rule: "os_compute_api:os-instance-actions:show", handle: s.showInstanceAction},

		{method: "GET", path: srv + "/os-interface", rule: "os_compute_api:os-attach-interfaces:list", handle: s.listInterfaces},
		{method: "POST", path: srv + "/os-interface", rule: "os_compute_api:os-attach-interfaces:create", handle: s.attachInterface},
		{method: "GET", path: srv + "/os-interface/{port_id}", rule: "os_compute_api:os-attach-interfaces:show", handle: s.showInterface},
		{method: "DELETE", path: srv + "/os-interface/{port_id}", rule: "os_compute_api:os-attach-interfaces:delete", handle: s.detachInterface},

		{method: "GET", path: srv + "/os-volume_attachments", rule: "os_compute_api:os-volumes-attachments:index", handle: s.listVolumeAttachments},
		{method: "POST", path: srv + "/os-volume_attachments", rule: "os_compute_api:os-volumes-attachments:create", handle: s.attachVolume},
		{method: "GET", path: srv + "/os-volume_attachments/{volume_id}", rule: "os_compute_api:os-volumes-attachments:show", handle: s.showVolumeAttachment},
		{method: "PUT", path: srv + "/os-volume_attachments/{volume_id}", rule: "os_compute_api:os-volumes-attachments:update", handle: s.updateVolumeAttachment},
		{method: "DELETE", path: srv + "/os-volume_attachments/{volume_id}", rule: "os_compute_api:os-volumes-attachments:delete", handle: s.detachVolume},

		{method: "GET", path: srv + "/diagnostics", rule: "os_compute_api:os-server-diagnostics", handle: s.serverDiagnostics},
		{method: "GET", path: srv + "/os-server-password", rule: "os_compute_api:os-server-password:show", handle: s.showServerPassword},
		{method: "DELETE", path: srv + "/os-server-password", rule: "os_compute_api:os-server-password:clear", handle: s.clearServerPassword},
		{method: "GET", path: srv + "/topology", rule: "compute:server:topology:index", minVer: v(78), handle: s.serverTopology},
		{method: "GET", path: srv + "/os-security-groups", rule: "os_compute_api:os-security-groups:list", handle: s.listServerSecurityGroups},
		{method: "POST", path: srv + "/remote-consoles", rule: "os_compute_api:os-remote-consoles", minVer: v(6), handle: s.createRemoteConsole},
	}
}

// isAdmin is Nova's context.is_admin (the admin role).
func isAdmin(c *call) bool { return c.caller != nil && c.caller.IsAdmin() }

// instanceTarget is the policy target of an instance.
func instanceTarget(inst *Instance) policy.Target {
	return policy.Target{"project_id": inst.ProjectID, "user_id": inst.UserID}
}

// getServer loads a server the caller may see (Nova's project_only lookup: another
// project's server is a 404 for non-admins; deleted servers are 404s) and checks rule
// against it ("" skips the check).
func (s *Service) getServer(ctx context.Context, q querier, c *call, id, rule string) (*Instance, error) {
	inst, found, err := loadInstance(ctx, q, id)
	if err != nil {
		return nil, err
	}
	if !found || inst.Deleted || (!isAdmin(c) && (c.caller == nil || inst.ProjectID != c.caller.ProjectID)) {
		return nil, instanceNotFound(id)
	}
	if rule != "" {
		if err := s.authorize(c, rule, instanceTarget(inst)); err != nil {
			return nil, err
		}
	}
	return inst, nil
}

// listServers is GET /servers and /servers/detail.
func (s *Service) listServers(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, nil); err != nil {
		return err
	}
	detail := c.rule == "os_compute_api:servers:detail"
	q, err := parseServerQuery(r.URL.RawQuery, listParams{
		ver: c.ver, admin: isAdmin(c), allowAllFilters: s.can(c, "os_compute_api:servers:allow_all_filters", nil),
		projectID: c.caller.ProjectID, userID: c.caller.UserID, maxLimit: s.cfg.ListLimitMax,
	})
	if err != nil {
		return err
	}
	if q.allTenants {
		rule := "os_compute_api:servers:index:get_all_tenants"
		if detail {
			rule = "os_compute_api:servers:detail:get_all_tenants"
		}
		if err := s.authorize(c, rule, nil); err != nil {
			return err
		}
	}
	ctx := r.Context()
	var insts []*Instance
	if !q.empty {
		if q.flavor != "" {
			if _, found, err := loadFlavor(ctx, s.db, q.flavor); err != nil {
				return err
			} else if !found {
				q.empty = true
			}
		}
	}
	if !q.empty {
		insts, err = s.queryServers(ctx, q, isAdmin(c), c.caller.ProjectID)
		if err != nil {
			return err
		}
	}
	out := make([]map[string]any, 0, len(insts))
	coll := "/v2.1/servers"
	if detail {
		ex, err := s.loadExtras(ctx, s.db, insts, false, c.at(16))
		if err != nil {
			return err
		}
		if err := s.withPortSecurityGroups(ctx, c, insts, ex); err != nil {
			return err
		}
		o := s.viewOptions(c, "", false)
		for _, inst := range insts {
			out = append(out, s.detailView(r, c, inst, ex, o))
		}
		coll += "/detail"
	} else {
		for _, inst := range insts {
			out = append(out, s.basicView(r, inst))
		}
	}
	body := map[string]any{"servers": out}
	if len(insts) > 0 && len(insts) >= q.limit && q.limit > 0 {
		last := insts[len(insts)-1].UUID
		vals := r.URL.Query()
		vals.Set("marker", last)
		vals.Set("limit", itoa(q.limit))
		if _, had := r.URL.Query()["limit"]; !had {
			vals.Del("limit")
		}
		body["servers_links"] = []map[string]string{{"rel": "next",
			"href": api.BaseURL(r) + s.cfg.Prefix + coll + "?" + vals.Encode()}}
	}
	writeViewJSON(w, http.StatusOK, body)
	return nil
}

// showServer is GET /servers/{server_id}.
func (s *Service) showServer(w http.ResponseWriter, r *http.Request, c *call) error {
	if c.at(102) {
		if len(r.URL.Query()) > 0 {
			return badRequest("Additional properties are not allowed")
		}
	}
	inst, err := s.getServer(r.Context(), s.db, c, r.PathValue("server_id"), c.rule)
	if err != nil {
		return err
	}
	return s.writeServer(w, r, c, inst, http.StatusOK)
}

// writeServer answers {"server": <detailed view>}.
func (s *Service) writeServer(w http.ResponseWriter, r *http.Request, c *call, inst *Instance, status int) error {
	o := s.viewOptions(c, inst.ProjectID, true)
	ex, err := s.loadExtras(r.Context(), s.db, []*Instance{inst}, o.groups, o.hostStatus > 0)
	if err != nil {
		return err
	}
	if err := s.withPortSecurityGroups(r.Context(), c, []*Instance{inst}, ex); err != nil {
		return err
	}
	writeViewJSON(w, status, map[string]any{"server": s.detailView(r, c, inst, ex, o)})
	return nil
}

// updateServer is PUT /servers/{server_id}.
func (s *Service) updateServer(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	id := r.PathValue("server_id")
	top, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	if err := onlyKeys(top, "", "server"); err != nil {
		return err
	}
	body, err := requiredObject(top, "server")
	if err != nil {
		return err
	}
	allowed := []string{"name", "OS-DCF:diskConfig", "accessIPv4", "accessIPv6"}
	if c.at(19) {
		allowed = append(allowed, "description")
	}
	if c.at(90) {
		allowed = append(allowed, "hostname")
	}
	if err := onlyKeys(body, "server", allowed...); err != nil {
		return err
	}
	var inst *Instance
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		inst, err = s.getServer(ctx, tx, c, id, c.rule)
		if err != nil {
			return err
		}
		if v, ok := body["name"]; ok {
			name, err := serverNameField("name", v, false)
			if err != nil {
				return err
			}
			inst.Name = name
		}
		if v, ok := body["description"]; ok {
			d, err := serverDescriptionField("description", v)
			if err != nil {
				return err
			}
			inst.Description = d
		}
		if v, ok := body["accessIPv4"]; ok {
			ip, err := validIP("accessIPv4", v, 4)
			if err != nil {
				return err
			}
			inst.AccessIPv4 = ip
		}
		if v, ok := body["accessIPv6"]; ok {
			ip, err := validIP("accessIPv6", v, 6)
			if err != nil {
				return err
			}
			inst.AccessIPv6 = ip
		}
		if v, ok := body["OS-DCF:diskConfig"]; ok {
			dc, err := validDiskConfig(v)
			if err != nil {
				return err
			}
			setDiskConfig(inst, dc)
		}
		if v, ok := body["hostname"]; ok {
			h, err := validHostname("hostname", v, c.at(94))
			if err != nil {
				return err
			}
			inst.Hostname = h
		}
		_, err = updateInstance(ctx, tx, inst, nil)
		return err
	})
	if err != nil {
		return err
	}
	if c.at(75) {
		return s.writeServer(w, r, c, inst, http.StatusOK)
	}
	// Before 2.75 Nova answers an update with the basic view: no extension attributes,
	// addresses without their OS-EXT-IPS keys.
	o := s.viewOptions(c, inst.ProjectID, false)
	o.extendedAttr, o.hostStatus = false, 0
	ex, err := s.loadExtras(r.Context(), s.db, []*Instance{inst}, false, false)
	if err != nil {
		return err
	}
	view := s.detailView(r, c, inst, ex, o)
	stripExtensions(inst, view, false)
	writeViewJSON(w, http.StatusOK, map[string]any{"server": view})
	return nil
}

// deleteServer is DELETE /servers/{server_id}.
func (s *Service) deleteServer(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.requestDelete(r, c, r.PathValue("server_id"), c.rule); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// requestDelete sets a server deleting and enqueues its delete task (delete and
// forceDelete). A server already deleting is accepted again without a second task.
func (s *Service) requestDelete(r *http.Request, c *call, id, rule string) error {
	ctx := r.Context()
	queued := false
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		inst, err := s.getServer(ctx, tx, c, id, rule)
		if err != nil {
			return err
		}
		if inst.Locked && !isAdmin(c) {
			return instanceLocked(inst.UUID)
		}
		if inst.TaskState == TaskDeleting {
			return nil
		}
		prev := inst.TaskState
		inst.TaskState = TaskDeleting
		ok, err := updateInstance(ctx, tx, inst, []string{prev})
		if err != nil {
			return err
		}
		if !ok {
			return conflict("Instance %s was changed by another request; try again.", inst.UUID)
		}
		actionID, err := startAction(ctx, tx, inst.UUID, ActionDelete, api.RequestID(ctx), c.caller.UserID, c.caller.ProjectID)
		if err != nil {
			return err
		}
		host := ""
		if inst.Host != nil {
			host = *inst.Host
		}
		if _, err := enqueueTask(ctx, tx, &Task{InstanceUUID: inst.UUID, Kind: TaskDelete, Host: host,
			ActionID: actionID, RequestID: api.RequestID(ctx)}); err != nil {
			return err
		}
		queued = true
		return nil
	})
	if err != nil {
		return err
	}
	if queued {
		s.wake.notify()
	}
	return nil
}
