package network

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// Trunks (trunk, trunk-details): a parent port carrying VLAN-tagged subports, each
// another port. The rules are Neutron's (neutron/services/trunk/rules.py): a port is the
// parent of at most one trunk and never also a subport; a subport is no other trunk's
// port, has no device, and its (segmentation_type, segmentation_id) is unique in its
// trunk; a bound parent can be trunked or untrunked only when the host runs a driver
// that handles trunks on bound ports (the Linux bridge agent's, for "bridge" VIFs).

var extTrunk = []Extension{
	{"trunk", "Trunk Extension", "Provides support for trunk ports", "2016-01-01T10:00:00-00:00"},
	{"trunk-details", "Trunk port details", "Expose trunk port details", "2016-01-01T10:00:00-00:00"},
}

// Trunk statuses.
const (
	TrunkStatusActive = "ACTIVE"
	TrunkStatusDown   = "DOWN"
)

// Segmentation types: vlan is what the driver supports; inherit takes the subport's
// network's own segmentation.
const (
	segTypeVLAN    = "vlan"
	segTypeInherit = "inherit"
)

// trunkAgentType and trunkVIFType are the host agent and VIF type of the trunk driver;
// subportOwner is the device_owner Neutron gives the subports it binds with the parent.
const (
	trunkAgentType = "Linux bridge agent"
	trunkVIFType   = "bridge"
	subportOwner   = "trunk:subport"
)

func trunkNotFound(id string) *api.Error {
	return nerr(http.StatusNotFound, "TrunkNotFound", "Trunk %s could not be found.", id)
}

func trunkPortInUse(portID string) *api.Error {
	return inUse("TrunkPortInUse", "Port %s is in use by another trunk.", portID)
}

func parentPortInUse(portID string) *api.Error {
	return inUse("ParentPortInUse", "Port %s is currently in use and is not eligible for use as a parent port.", portID)
}

func trunkDisabled(id string) *api.Error {
	return nerr(http.StatusConflict, "TrunkDisabled", "Trunk %s is currently disabled.", id)
}

func (s *Service) registerTrunks() {
	s.RegisterExtensions(extTrunk...)
	s.registerKind(s.trunkKind())
}

func (s *Service) trunkKind() *kind {
	return &kind{
		singular: "trunk", collection: "trunks", table: "net_trunks", hasTags: true,
		attrs:      []string{"admin_state_up", "status", "port_id", "sub_ports"},
		unsortable: []string{"sub_ports"},
		columns: map[string]string{"id": "id", "project_id": "project_id", "tenant_id": "project_id", "name": "name",
			"port_id": "port_id", "status": "status"},
		notFound: trunkNotFound,
		load:     s.loadTrunks,
	}
}

func (s *Service) trunkRoutes() []route {
	return append(s.crudRoutes(s.kinds["trunks"], s.createTrunk, s.updateTrunk, s.deleteTrunk),
		route{"PUT", "/v2.0/trunks/{id}/add_subports", "add_subports", s.addSubports},
		route{"PUT", "/v2.0/trunks/{id}/remove_subports", "remove_subports", s.removeSubports},
		route{"GET", "/v2.0/trunks/{id}/get_subports", "get_subports", s.getSubports},
	)
}

// subport is one stored subport.
type subport struct {
	PortID, TrunkID, SegType string
	SegID                    int64
}

func (sp subport) render() map[string]any {
	return map[string]any{"port_id": sp.PortID, "segmentation_type": sp.SegType, "segmentation_id": sp.SegID}
}

// loadSubports reads subports (of one trunk, or all with trunkID "").
func loadSubports(ctx context.Context, q store.Querier, trunkID string) ([]subport, error) {
	query, args := `SELECT port_id, trunk_id, segmentation_type, segmentation_id FROM net_subports`, []any{}
	if trunkID != "" {
		query, args = query+` WHERE trunk_id = ?`, append(args, trunkID)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY trunk_id, segmentation_type, segmentation_id, port_id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []subport
	for rows.Next() {
		var sp subport
		if err := rows.Scan(&sp.PortID, &sp.TrunkID, &sp.SegType, &sp.SegID); err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	return out, rows.Err()
}

func (s *Service) loadTrunks(ctx context.Context, q store.Querier, c *call, pre sqlFilter) ([]record, error) {
	where, args := pre.where(s.kinds["trunks"], "")
	if !s.isAdmin(c) {
		where += ` AND project_id = ?`
		args = append(args, c.project())
	}
	rows, err := q.QueryContext(ctx, `SELECT `+stdCols+`, port_id, admin_state_up, status FROM net_trunks WHERE 1=1`+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	var recs []record
	var std []stdAttrs
	byID := map[string]record{}
	for rows.Next() {
		var a stdAttrs
		var port, status string
		var admin bool
		if err := rows.Scan(append(a.dest(), &port, &admin, &status)...); err != nil {
			rows.Close()
			return nil, err
		}
		rec := record{"port_id": port, "admin_state_up": admin, "status": status, "sub_ports": []any{}}
		recs = append(recs, rec)
		std = append(std, a)
		byID[a.ID] = rec
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(recs) == 0 {
		return recs, err
	}
	tags, err := loadTags(ctx, q, "trunks", pre)
	if err != nil {
		return nil, err
	}
	for i, rec := range recs {
		std[i].render(rec, tags)
	}
	one := ""
	if len(recs) == 1 {
		one = std[0].ID
	}
	subs, err := loadSubports(ctx, q, one)
	if err != nil {
		return nil, err
	}
	for _, sp := range subs {
		if rec := byID[sp.TrunkID]; rec != nil {
			rec["sub_ports"] = append(rec["sub_ports"].([]any), sp.render())
		}
	}
	return recs, nil
}

// attachTrunkDetails sets trunk_details on the ports that are a trunk's parent: the
// trunk id and its subports with their MAC addresses.
func attachTrunkDetails(ctx context.Context, q store.Querier, recs []record, one string) error {
	if len(recs) == 0 {
		return nil
	}
	query, args := `SELECT id, port_id FROM net_trunks`, []any{}
	if one != "" {
		query, args = query+` WHERE port_id = ?`, append(args, one)
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	trunkOf := map[string]string{}
	for rows.Next() {
		var id, port string
		if err := rows.Scan(&id, &port); err != nil {
			rows.Close()
			return err
		}
		trunkOf[port] = id
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(trunkOf) == 0 {
		return err
	}
	for _, rec := range recs {
		tid, ok := trunkOf[rec["id"].(string)]
		if !ok {
			continue
		}
		subs, err := loadSubports(ctx, q, tid)
		if err != nil {
			return err
		}
		list := make([]any, 0, len(subs))
		for _, sp := range subs {
			m := sp.render()
			var mac string
			if err := q.QueryRowContext(ctx, `SELECT mac_address FROM net_ports WHERE id = ?`, sp.PortID).Scan(&mac); err != nil && !store.IsNoRows(err) {
				return err
			}
			m["mac_address"] = mac
			list = append(list, m)
		}
		rec["trunk_details"] = map[string]any{"trunk_id": tid, "sub_ports": list}
	}
	return nil
}

// subportRequest is one requested subport (segmentation fields may be absent).
type subportRequest struct {
	PortID  string
	SegType string
	// segID is the raw segmentation_id (nil: absent).
	segID any
	SegID int64
	// raw is the request entry, for messages.
	raw api.Object
}

// pyDict renders a request entry as Python prints a dict, as Neutron's messages do.
func pyDict(o api.Object) string {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := o[k]
		var sv string
		switch x := v.(type) {
		case string:
			sv = "'" + truncate(x, 64) + "'"
		case nil:
			sv = "None"
		default:
			sv = describeValue(x)
		}
		parts = append(parts, "'"+truncate(k, 64)+"': "+sv)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// validateSubports is neutron-lib's validate_subports: a list of objects each with a
// unique port UUID and, unless inheriting, both segmentation fields with segmentation
// ids unique per type. It returns the message of the first failure ("" if valid), and
// stops checking at the first "inherit" entry as neutron-lib does.
func validateSubports(v any) ([]subportRequest, string) {
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Sprintf("Invalid data format for subports: '%s' is not a list", describeValue(v))
	}
	var out []subportRequest
	seen := map[string]bool{}
	segs := map[string]map[string]bool{}
	checking := true
	for _, e := range arr {
		o, ok := e.(map[string]any)
		if !ok {
			if !checking {
				continue
			}
			return nil, fmt.Sprintf("Invalid data format for subport: '%s' is not a dict", describeValue(e))
		}
		obj := api.Object(o)
		req := subportRequest{raw: obj, segID: obj["segmentation_id"]}
		req.PortID, _ = obj["port_id"].(string)
		req.SegType, _ = obj["segmentation_type"].(string)
		if checking {
			if !obj.Has("port_id") {
				return nil, "A valid port UUID must be specified"
			}
			if !isUUID(req.PortID) {
				return nil, fmt.Sprintf("Invalid UUID for subport: '%s'", describeValue(obj["port_id"]))
			}
			if seen[req.PortID] {
				return nil, fmt.Sprintf("Non unique UUID for subport: '%s'", req.PortID)
			}
			seen[req.PortID] = true
			if req.SegType == segTypeInherit {
				checking = false
			} else {
				if (req.SegType == "" || req.segID == nil) && len(obj) > 1 {
					return nil, fmt.Sprintf("Invalid subport details '%s': missing segmentation information. Must specify both segmentation_id and segmentation_type", pyDict(obj))
				}
				if req.segID != nil {
					key := fmt.Sprint(req.segID)
					if segs[req.SegType][key] {
						return nil, fmt.Sprintf("Segmentation ID '%s' for '%s' is not unique", key, req.PortID)
					}
					if segs[req.SegType] == nil {
						segs[req.SegType] = map[string]bool{}
					}
					segs[req.SegType][key] = true
				}
			}
		}
		out = append(out, req)
	}
	return out, ""
}

// portBrief is what trunk validation reads of a port.
type portBrief struct {
	ID, NetworkID, DeviceID, Host, VIFType, MAC string
	MTU                                         int64
}

func loadPortBrief(ctx context.Context, q store.Querier, id string) (*portBrief, error) {
	p := &portBrief{}
	err := q.QueryRowContext(ctx, `SELECT p.id, p.network_id, p.device_id, p.binding_host_id, p.binding_vif_type, p.mac_address, n.mtu
		FROM net_ports p JOIN net_networks n ON n.id = p.network_id WHERE p.id = ?`, id).
		Scan(&p.ID, &p.NetworkID, &p.DeviceID, &p.Host, &p.VIFType, &p.MAC, &p.MTU)
	if store.IsNoRows(err) {
		return nil, nil
	}
	return p, err
}

// checkPortTrunkFree is TrunkPortValidator.validate's first half: the port is nobody's
// subport (TrunkPortInUse) and no trunk's parent (ParentPortInUse).
func checkPortTrunkFree(ctx context.Context, q store.Querier, portID string) error {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM net_subports WHERE port_id = ?`, portID).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return trunkPortInUse(portID)
	}
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM net_trunks WHERE port_id = ?`, portID).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return parentPortInUse(portID)
	}
	return nil
}

// trunkable is can_be_trunked_or_untrunked: an unbound port always; a bound one when its
// host runs the trunk driver's agent and the VIF is the driver's.
func trunkable(ctx context.Context, q store.Querier, p *portBrief) (bool, error) {
	if p.Host == "" {
		return true, nil
	}
	if p.VIFType != trunkVIFType {
		return false, nil
	}
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM net_agents WHERE host = ? AND agent_type = ?`, p.Host, trunkAgentType).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// validateTrunkSubports is SubPortsValidator.validate with trunk validation: inherit
// resolved from the subport's network, MTU no larger than the parent's, segmentation
// type and id valid, and each port free for use as a subport.
func (s *Service) validateTrunkSubports(ctx context.Context, q store.Querier, c *call, parent *portBrief, reqs []subportRequest) ([]subport, error) {
	briefs := map[string]*portBrief{}
	for i := range reqs {
		rq := &reqs[i]
		p, err := loadPortBrief(ctx, q, rq.PortID)
		if err != nil {
			return nil, err
		}
		briefs[rq.PortID] = p
		if p != nil && rq.SegType == segTypeInherit {
			var typ string
			var segID int64
			if err := q.QueryRowContext(ctx, `SELECT network_type, segmentation_id FROM net_segments WHERE network_id = ?
				ORDER BY segment_index LIMIT 1`, p.NetworkID).Scan(&typ, &segID); err != nil && !store.IsNoRows(err) {
				return nil, err
			}
			rq.SegType, rq.segID = typ, segID
		}
	}
	out := make([]subport, 0, len(reqs))
	for _, rq := range reqs {
		if rq.PortID == parent.ID {
			return nil, parentPortInUse(rq.PortID)
		}
		if p := briefs[rq.PortID]; p != nil && parent.MTU > 0 && p.MTU > parent.MTU {
			return nil, nerr(http.StatusConflict, "SubPortMtuGreaterThanTrunkPortMtu",
				"MTU %d of subport %s cannot be greater than MTU %d of trunk %s.", p.MTU, rq.PortID, parent.MTU, parent.ID)
		}
		if (rq.SegType == "" && !rq.raw.Has("segmentation_type")) || (rq.segID == nil && !rq.raw.Has("segmentation_id")) {
			return nil, invalidInput("Invalid subport details '%s': missing segmentation information. Must specify both segmentation_id and segmentation_type", pyDict(rq.raw))
		}
		segID, err := convertInt(rq.segID)
		if err != nil {
			return nil, invalidInput("Invalid subport details: segmentation_id '%s' is not an integer", describeValue(rq.segID))
		}
		if rq.SegType != segTypeVLAN {
			return nil, invalidInput("Unknown segmentation_type '%s'", truncate(rq.SegType, 64))
		}
		if segID < 1 || segID > 4094 {
			return nil, invalidInput("Segmentation ID '%d' is not in range", segID)
		}
		if err := checkPortTrunkFree(ctx, q, rq.PortID); err != nil {
			return nil, err
		}
		p := briefs[rq.PortID]
		if p == nil || !s.portVisible(ctx, c, rq.PortID) {
			return nil, portNotFound(rq.PortID)
		}
		if p.DeviceID != "" {
			return nil, inUse("PortInUse", "Unable to complete operation on port %s for network %s. Port already has an attached device %s.",
				p.ID, p.NetworkID, p.DeviceID)
		}
		out = append(out, subport{PortID: rq.PortID, SegType: rq.SegType, SegID: segID})
	}
	return out, nil
}

// portVisible reports whether the caller may see a port (core_plugin.get_port with the
// caller's context).
func (s *Service) portVisible(ctx context.Context, c *call, id string) bool {
	_, err := s.loadOne(ctx, s.db, c, s.kinds["ports"], id)
	return err == nil
}

// insertSubports adds validated subports to a trunk, refusing a segmentation already
// used on it (DuplicateSubPort).
func insertSubports(ctx context.Context, tx *store.Tx, trunkID string, subs []subport) error {
	for _, sp := range subs {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM net_subports WHERE trunk_id = ? AND segmentation_type = ?
			AND segmentation_id = ?`, trunkID, sp.SegType, sp.SegID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return inUse("DuplicateSubPort", "segmentation_type %s and segmentation_id %d already in use on trunk %s.",
				sp.SegType, sp.SegID, trunkID)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO net_subports (port_id, trunk_id, segmentation_type, segmentation_id)
			VALUES (?, ?, ?, ?)`, sp.PortID, trunkID, sp.SegType, sp.SegID); err != nil {
			if store.IsUniqueViolation(err) {
				return trunkPortInUse(sp.PortID)
			}
			return err
		}
	}
	return nil
}

var trunkCreateAttrs = []string{"name", "description", "admin_state_up", "port_id", "sub_ports", "project_id", "tenant_id", "tags"}

func (s *Service) createTrunk(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["trunks"]
	b, err := decode(r, "trunk")
	if err != nil {
		return err
	}
	if err := b.known(trunkCreateAttrs...); err != nil {
		return err
	}
	project, err := b.owner(c)
	if err != nil {
		return err
	}
	name, desc, _, _, err := b.nameAndDescription()
	if err != nil {
		return err
	}
	admin := true
	if v, ok, err := b.boolean("admin_state_up"); err != nil {
		return err
	} else if ok {
		admin = v
	}
	portID, ok, err := b.str("port_id", 0, false)
	if err != nil {
		return err
	}
	if !ok {
		return badRequest("Failed to parse request. Required attribute 'port_id' not specified")
	}
	if !isUUID(portID) {
		return invalidAttr("port_id", fmt.Sprintf("'%s' is not a valid UUID", truncate(portID, 64)))
	}
	var reqs []subportRequest
	if b.Has("sub_ports") {
		var msg string
		if reqs, msg = validateSubports(b.Object["sub_ports"]); msg != "" {
			return invalidAttr("sub_ports", msg)
		}
	}
	tags, err := createTags(b.Object)
	if err != nil {
		return err
	}
	target := policy.Target{"project_id": project, "port_id": portID}
	if !s.enforce(c, "create_trunk", target, nil) {
		return policyNotAuthorized("create_trunk")
	}
	if err := s.authorizeAttrs(c, k, "create", b.Object, target, nil); err != nil {
		return err
	}
	id := api.NewUUID()
	ts := store.FormatTime(now())
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := checkPortTrunkFree(r.Context(), tx, portID); err != nil {
			return err
		}
		parent, err := loadPortBrief(r.Context(), tx, portID)
		if err != nil {
			return err
		}
		if parent == nil || !s.portVisible(r.Context(), c, portID) {
			return portNotFound(portID)
		}
		if ok, err := trunkable(r.Context(), tx, parent); err != nil {
			return err
		} else if !ok {
			return parentPortInUse(portID)
		}
		subs, err := s.validateTrunkSubports(r.Context(), tx, c, parent, reqs)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(r.Context(), `INSERT INTO net_trunks (id, project_id, name, description, port_id,
			admin_state_up, status, revision_number, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
			id, project, name, desc, portID, admin, TrunkStatusDown, ts, ts); err != nil {
			if store.IsUniqueViolation(err) {
				return parentPortInUse(portID)
			}
			return err
		}
		if err := insertSubports(r.Context(), tx, id, subs); err != nil {
			return err
		}
		return setTags(r.Context(), tx, "trunks", id, tags)
	})
	if err != nil {
		return err
	}
	s.notify()
	return s.writeOne(w, c, k, http.StatusCreated, id, r.Context())
}

func (s *Service) updateTrunk(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["trunks"]
	id := r.PathValue("id")
	b, err := decode(r, "trunk")
	if err != nil {
		return err
	}
	if err := b.readOnly("id", "project_id", "tenant_id", "port_id", "sub_ports", "status"); err != nil {
		return err
	}
	if err := b.known("name", "description", "admin_state_up"); err != nil {
		return err
	}
	match, err := ifMatch(r)
	if err != nil {
		return err
	}
	name, desc, hasName, hasDesc, err := b.nameAndDescription()
	if err != nil {
		return err
	}
	admin, hasAdmin, err := b.boolean("admin_state_up")
	if err != nil {
		return err
	}
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "update_trunk", rec); err != nil {
		return err
	}
	sets, args := []string{}, []any{}
	if hasName {
		sets, args = append(sets, "name = ?"), append(args, name)
	}
	if hasDesc {
		sets, args = append(sets, "description = ?"), append(args, desc)
	}
	if hasAdmin {
		sets, args = append(sets, "admin_state_up = ?"), append(args, admin)
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.bump(r.Context(), tx, k, id, match); err != nil {
			return err
		}
		if len(sets) == 0 {
			return nil
		}
		_, err := tx.ExecContext(r.Context(), `UPDATE net_trunks SET `+strings.Join(sets, ", ")+` WHERE id = ?`, append(args, id)...)
		return err
	})
	if err != nil {
		return err
	}
	s.notify()
	return s.writeOne(w, c, k, http.StatusOK, id, r.Context())
}

func (s *Service) deleteTrunk(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["trunks"]
	id := r.PathValue("id")
	match, err := ifMatch(r)
	if err != nil {
		return err
	}
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "delete_trunk", rec); err != nil {
		return err
	}
	if rec["admin_state_up"] != true {
		return trunkDisabled(id)
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.checkRevision(r.Context(), tx, k, id, match); err != nil {
			return err
		}
		parent, err := loadPortBrief(r.Context(), tx, rec["port_id"].(string))
		if err != nil {
			return err
		}
		if parent != nil {
			if ok, err := trunkable(r.Context(), tx, parent); err != nil {
				return err
			} else if !ok {
				return inUse("TrunkInUse", "Trunk %s is currently in use.", id)
			}
		}
		subs, err := loadSubports(r.Context(), tx, id)
		if err != nil {
			return err
		}
		for _, sp := range subs {
			if err := unbindSubport(r.Context(), tx, sp.PortID); err != nil {
				return err
			}
		}
		for _, q := range []string{`DELETE FROM net_subports WHERE trunk_id = ?`,
			`DELETE FROM net_tags WHERE resource_type = 'trunks' AND resource_id = ?`, `DELETE FROM net_trunks WHERE id = ?`} {
			if _, err := tx.ExecContext(r.Context(), q, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.notify()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// subportsBody reads an action body {"sub_ports": [...]} with basic validation
// (InvalidInput, as the plugin validates these bodies itself).
func subportsBody(r *http.Request) ([]subportRequest, error) {
	o, err := api.DecodeObject(r, "")
	if err != nil {
		return nil, err
	}
	if !o.Has("sub_ports") {
		return nil, badRequest("Failed to parse request. Required attribute 'sub_ports' not specified")
	}
	reqs, msg := validateSubports(o["sub_ports"])
	if msg != "" {
		return nil, invalidInput("%s", msg)
	}
	return reqs, nil
}

// trunkAction loads the trunk of an action as the caller may see it and checks the
// action's rule.
func (s *Service) trunkAction(r *http.Request, c *call) (record, error) {
	k := s.kinds["trunks"]
	rec, err := s.loadOne(r.Context(), s.db, c, k, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if err := s.authorizeOn(c, k, c.rule, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// writeTrunk answers an action with the trunk itself (not wrapped), as Neutron.
func (s *Service) writeTrunk(w http.ResponseWriter, r *http.Request, c *call, id string) error {
	k := s.kinds["trunks"]
	recs, err := k.load(r.Context(), s.db, c, byID(id))
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return trunkNotFound(id)
	}
	writeBody(w, http.StatusOK, s.present(c, k, recs[0], nil))
	return nil
}

// addSubports is PUT /v2.0/trunks/{id}/add_subports; the trunk goes DOWN until the
// driver wires the new subports.
func (s *Service) addSubports(w http.ResponseWriter, r *http.Request, c *call) error {
	reqs, err := subportsBody(r)
	if err != nil {
		return err
	}
	rec, err := s.trunkAction(r, c)
	if err != nil {
		return err
	}
	id := rec["id"].(string)
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		parent, err := loadPortBrief(r.Context(), tx, rec["port_id"].(string))
		if err != nil {
			return err
		}
		if parent == nil {
			return portNotFound(rec["port_id"].(string))
		}
		subs, err := s.validateTrunkSubports(r.Context(), tx, c, parent, reqs)
		if err != nil {
			return err
		}
		if rec["admin_state_up"] != true {
			return trunkDisabled(id)
		}
		if err := s.bump(r.Context(), tx, s.kinds["trunks"], id, nil); err != nil {
			return err
		}
		if _, err := tx.ExecContext(r.Context(), `UPDATE net_trunks SET status = ? WHERE id = ?`, TrunkStatusDown, id); err != nil {
			return err
		}
		return insertSubports(r.Context(), tx, id, subs)
	})
	if err != nil {
		return err
	}
	s.notify()
	return s.writeTrunk(w, r, c, id)
}

// removeSubports is PUT /v2.0/trunks/{id}/remove_subports (port ids only).
func (s *Service) removeSubports(w http.ResponseWriter, r *http.Request, c *call) error {
	reqs, err := subportsBody(r)
	if err != nil {
		return err
	}
	rec, err := s.trunkAction(r, c)
	if err != nil {
		return err
	}
	id := rec["id"].(string)
	if rec["admin_state_up"] != true {
		return trunkDisabled(id)
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		cur, err := loadSubports(r.Context(), tx, id)
		if err != nil {
			return err
		}
		for _, rq := range reqs {
			if !slices.ContainsFunc(cur, func(sp subport) bool { return sp.PortID == rq.PortID }) {
				return nerr(http.StatusNotFound, "SubPortNotFound", "SubPort %s on trunk %s could not be found.", rq.PortID, id)
			}
			if _, err := tx.ExecContext(r.Context(), `DELETE FROM net_subports WHERE trunk_id = ? AND port_id = ?`, id, rq.PortID); err != nil {
				return err
			}
			if err := unbindSubport(r.Context(), tx, rq.PortID); err != nil {
				return err
			}
		}
		if err := s.bump(r.Context(), tx, s.kinds["trunks"], id, nil); err != nil {
			return err
		}
		_, err = tx.ExecContext(r.Context(), `UPDATE net_trunks SET status = ? WHERE id = ?`, TrunkStatusDown, id)
		return err
	})
	if err != nil {
		return err
	}
	s.notify()
	return s.writeTrunk(w, r, c, id)
}

// getSubports is GET /v2.0/trunks/{id}/get_subports.
func (s *Service) getSubports(w http.ResponseWriter, r *http.Request, c *call) error {
	rec, err := s.trunkAction(r, c)
	if err != nil {
		return err
	}
	writeBody(w, http.StatusOK, map[string]any{"sub_ports": rec["sub_ports"]})
	return nil
}

// checkPortNotTrunked is enforce_port_deletion_rules: a subport or a trunk's parent
// cannot be deleted.
func checkPortNotTrunked(ctx context.Context, q store.Querier, portID string) error {
	var tid string
	err := q.QueryRowContext(ctx, `SELECT trunk_id FROM net_subports WHERE port_id = ?`, portID).Scan(&tid)
	if err == nil {
		return inUse("PortInUseAsSubPort", "Port %s is currently a subport for trunk %s.", portID, tid)
	}
	if !store.IsNoRows(err) {
		return err
	}
	err = q.QueryRowContext(ctx, `SELECT id FROM net_trunks WHERE port_id = ?`, portID).Scan(&tid)
	if err == nil {
		return inUse("PortInUseAsTrunkParent", "Port %s is currently a parent port for trunk %s.", portID, tid)
	}
	if !store.IsNoRows(err) {
		return err
	}
	return nil
}

// syncTrunkStatus sets the trunks whose parent a driver reported ACTIVE (status) to
// ACTIVE and those it reported otherwise to DOWN, bumping the revision of those that
// change.
func (s *Service) syncTrunkStatus(ctx context.Context, status map[string]string) error {
	if len(status) == 0 {
		return nil
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, port_id, status FROM net_trunks ORDER BY id`)
		if err != nil {
			return err
		}
		type change struct{ id, status string }
		var changes []change
		for rows.Next() {
			var id, port, cur string
			if err := rows.Scan(&id, &port, &cur); err != nil {
				rows.Close()
				return err
			}
			st, ok := status[port]
			if !ok {
				continue
			}
			want := TrunkStatusDown
			if st == PortStatusActive {
				want = TrunkStatusActive
			}
			if want != cur {
				changes = append(changes, change{id, want})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		ts := store.FormatTime(now())
		for _, ch := range changes {
			if _, err := tx.ExecContext(ctx, `UPDATE net_trunks SET status = ?, revision_number = revision_number + 1, updated_at = ?
				WHERE id = ?`, ch.status, ts, ch.id); err != nil {
				return err
			}
		}
		// The subports of a wired trunk are bound where its parent is (Neutron's
		// update_subport_bindings), so the host realises them on the next apply.
		res, err := tx.ExecContext(ctx, `UPDATE net_ports SET binding_host_id = (SELECT p.binding_host_id FROM net_ports p
				JOIN net_trunks t ON t.port_id = p.id JOIN net_subports sp ON sp.trunk_id = t.id WHERE sp.port_id = net_ports.id),
			binding_vif_type = ?, binding_vif_details = ?, device_owner = ?, revision_number = revision_number + 1, updated_at = ?
			WHERE id IN (SELECT sp.port_id FROM net_subports sp JOIN net_trunks t ON t.id = sp.trunk_id
				JOIN net_ports p ON p.id = t.port_id WHERE t.status = ? AND p.binding_host_id <> '')
			AND binding_host_id <> (SELECT p.binding_host_id FROM net_ports p JOIN net_trunks t ON t.port_id = p.id
				JOIN net_subports sp ON sp.trunk_id = t.id WHERE sp.port_id = net_ports.id)`,
			trunkVIFType, `{"connectivity": "l2", "port_filter": true}`, subportOwner, ts, TrunkStatusActive)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			s.notify()
		}
		return nil
	})
}

// unbindSubport unbinds a port leaving a trunk when the trunk had bound it.
func unbindSubport(ctx context.Context, tx *store.Tx, portID string) error {
	_, err := tx.ExecContext(ctx, `UPDATE net_ports SET binding_host_id = '', binding_vif_type = 'unbound',
		binding_vif_details = '{}', status = ?, revision_number = revision_number + 1, updated_at = ?
		WHERE id = ? AND device_owner = ?`, PortStatusDown, store.FormatTime(now()), portID, subportOwner)
	return err
}
