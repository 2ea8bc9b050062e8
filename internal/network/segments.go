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

// segRequest is a requested network segment: the provider attributes as given (empty
// type: the tenant network type; zero id: allocate one).
type segRequest struct {
	Type, Physnet string
	SegID         int64
	hasSegID      bool
}

// allocated is a segment with every attribute decided.
type allocated struct {
	Type, Physnet string
	SegID         int64
}

// parseProvider reads and validates the provider:* attributes as ML2's type drivers do.
func (s *Service) parseProvider(b body) (segRequest, error) {
	var req segRequest
	var err error
	if req.Type, _, err = b.str("provider:network_type", 255, true); err != nil {
		return req, err
	}
	if req.Physnet, _, err = b.str("provider:physical_network", 64, true); err != nil {
		return req, err
	}
	if b.Has("provider:segmentation_id") && !b.IsNull("provider:segmentation_id") {
		if req.SegID, req.hasSegID, err = b.integer("provider:segmentation_id"); err != nil {
			return req, err
		}
	}
	if req.Type == "" {
		if req.Physnet != "" || req.hasSegID {
			return req, invalidInput("network_type required")
		}
		return req, nil
	}
	return req, s.validateSegment(req)
}

// validateSegment checks a segment request against its type's rules.
func (s *Service) validateSegment(req segRequest) error {
	switch req.Type {
	case "flat":
		if req.hasSegID {
			return invalidInput("segmentation_id prohibited for flat provider network")
		}
		if req.Physnet == "" {
			return invalidInput("physical_network required for flat provider network")
		}
		if !slices.Contains(s.cfg.FlatNetworks, req.Physnet) && !slices.Contains(s.cfg.FlatNetworks, "*") {
			return invalidInput("physical_network '%s' unknown for flat provider network", truncate(req.Physnet, 64))
		}
	case "vlan":
		if req.Physnet == "" {
			if req.hasSegID {
				return invalidInput("segmentation_id requires physical_network for VLAN provider network")
			}
		} else if _, ok := s.cfg.VLANRanges[req.Physnet]; !ok {
			return invalidInput("physical_network '%s' unknown for VLAN provider network", truncate(req.Physnet, 64))
		}
		if req.hasSegID && (req.SegID < 1 || req.SegID > 4094) {
			return invalidInput("segmentation_id out of range (1 through 4094)")
		}
	case "vxlan", "geneve", "gre":
		if req.Type == "gre" {
			return invalidInput("network_type value '%s' not supported", req.Type)
		}
		if req.Physnet != "" {
			return invalidInput("provider:physical_network specified for %s network", req.Type)
		}
		if req.hasSegID && (req.SegID < 1 || req.SegID > 16777215) {
			return invalidInput("segmentation_id out of range (1 through 16777215)")
		}
	case "local":
		if req.Physnet != "" || req.hasSegID {
			return invalidInput("physical_network and segmentation_id prohibited for local provider network")
		}
	default:
		return invalidInput("network_type value '%s' not supported", truncate(req.Type, 64))
	}
	return nil
}

// typeMTU is the largest MTU a network of the type carries: the physical MTU less the
// encapsulation overhead (VXLAN 50, Geneve 58 with ML2/OVN's header size).
func (s *Service) typeMTU(typ string) int {
	switch typ {
	case "vxlan":
		return s.cfg.GlobalPhysnetMTU - 50
	case "geneve":
		return s.cfg.GlobalPhysnetMTU - 58
	}
	return s.cfg.GlobalPhysnetMTU
}

// allocateSegment decides a segment: a requested id must be free (VlanIdInUse,
// TunnelIdInUse, FlatNetworkInUse), a missing one is the lowest free id of the
// configured ranges. The unique index on segments catches the race of two creates picking
// the same id; the loser is retried by retryOnConflict.
func (s *Service) allocateSegment(ctx context.Context, tx *store.Tx, req segRequest) (allocated, error) {
	if req.Type == "" {
		req.Type = s.cfg.TenantNetworkType
	}
	a := allocated{Type: req.Type, Physnet: req.Physnet, SegID: req.SegID}
	inUse := func(physnet string, id int64) (bool, error) {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM net_segments WHERE network_type = ? AND physical_network = ?
			AND segmentation_id = ?`, a.Type, physnet, id).Scan(&n)
		return n > 0, err
	}
	switch req.Type {
	case "local":
		return a, nil
	case "flat":
		used, err := inUse(req.Physnet, 0)
		if err != nil {
			return a, err
		}
		if used {
			return a, inUse2("FlatNetworkInUse", "Unable to create the flat network. Physical network %s is in use.", req.Physnet)
		}
		return a, nil
	}
	if req.hasSegID {
		used, err := inUse(req.Physnet, req.SegID)
		if err != nil {
			return a, err
		}
		if used {
			if req.Type == "vlan" {
				return a, inUse2("VlanIdInUse", "Unable to create the network. The VLAN %d on physical network %s is in use.", req.SegID, req.Physnet)
			}
			return a, inUse2("TunnelIdInUse", "Unable to create the network. The tunnel ID %d is in use.", req.SegID)
		}
		return a, nil
	}
	type span struct {
		physnet string
		ranges  [][2]int
	}
	var spans []span
	switch req.Type {
	case "vlan":
		if req.Physnet != "" {
			spans = append(spans, span{req.Physnet, s.cfg.VLANRanges[req.Physnet]})
		} else {
			nets := make([]string, 0, len(s.cfg.VLANRanges))
			for p := range s.cfg.VLANRanges {
				nets = append(nets, p)
			}
			slices.Sort(nets)
			for _, p := range nets {
				spans = append(spans, span{p, s.cfg.VLANRanges[p]})
			}
		}
	case "vxlan":
		spans = append(spans, span{"", s.cfg.VNIRanges})
	case "geneve":
		spans = append(spans, span{"", s.cfg.GeneveRanges})
	}
	for _, sp := range spans {
		rows, err := tx.QueryContext(ctx, `SELECT segmentation_id FROM net_segments WHERE network_type = ? AND physical_network = ?`,
			a.Type, sp.physnet)
		if err != nil {
			return a, err
		}
		used := map[int64]bool{}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return a, err
			}
			used[id] = true
		}
		rows.Close()
		for _, rg := range sp.ranges {
			for id := int64(rg[0]); id <= int64(rg[1]); id++ {
				if !used[id] {
					a.Physnet, a.SegID = sp.physnet, id
					return a, nil
				}
			}
		}
	}
	return a, nerr(http.StatusServiceUnavailable, "NoNetworkAvailable",
		"Unable to create the network. No project network is available for allocation.")
}

func inUse2(typ, format string, args ...any) error { return inUse(typ, format, args...) }

// segmentKind is /v2.0/segments (admin only, as Neutron's defaults).
func (s *Service) segmentKind() *kind {
	return &kind{
		singular: "segment", collection: "segments", table: "net_segments", hasTags: true,
		attrs:   []string{"network_id", "network_type", "physical_network", "segmentation_id"},
		columns: map[string]string{"id": "id", "network_id": "network_id", "network_type": "network_type", "name": "name"},
		notFound: func(id string) *api.Error {
			return nerr(http.StatusNotFound, "SegmentNotFound", "Segment %s could not be found.", id)
		},
		load:   s.loadSegments,
		target: segmentTarget,
	}
}

func (s *Service) segmentRoutes() []route {
	return s.crudRoutes(s.kinds["segments"], s.createSegment, s.updateSegment, s.deleteSegment)
}

// loadSegments renders segments. Segments have no project of their own; the network's
// owner stands in for policy targets.
func (s *Service) loadSegments(ctx context.Context, q store.Querier, c *call, pre sqlFilter) ([]record, error) {
	tags, err := loadTags(ctx, q, "segments", pre)
	if err != nil {
		return nil, err
	}
	where, args := pre.where(s.kinds["segments"], "s.")
	rows, err := q.QueryContext(ctx, `SELECT s.id, n.project_id, s.name, s.description, s.revision_number, s.created_at,
		s.updated_at, s.network_id, s.network_type, s.physical_network, s.segmentation_id
		FROM net_segments s JOIN net_networks n ON n.id = s.network_id WHERE 1=1`+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var recs []record
	for rows.Next() {
		var a stdAttrs
		var nid, typ, phys string
		var seg int64
		if err := rows.Scan(append(a.dest(), &nid, &typ, &phys, &seg)...); err != nil {
			return nil, err
		}
		rec := record{"network_id": nid, "network_type": typ, "physical_network": nilIfEmpty(phys)}
		if typ == "flat" || typ == "local" {
			rec["segmentation_id"] = nil
		} else {
			rec["segmentation_id"] = seg
		}
		a.render(rec, tags)
		delete(rec, "project_id")
		delete(rec, "tenant_id")
		rec["_project"] = a.ProjectID
		recs = append(recs, rec)
	}
	return recs, rows.Err()
}

func (s *Service) createSegment(w http.ResponseWriter, r *http.Request, c *call) error {
	b, err := decode(r, "segment")
	if err != nil {
		return err
	}
	if !s.enforce(c, "create_segment", nil, nil) {
		return policyNotAuthorized("create_segment")
	}
	if err := b.known("network_id", "network_type", "physical_network", "segmentation_id", "name", "description", "project_id", "tenant_id"); err != nil {
		return err
	}
	nid, _, err := b.str("network_id", 36, false)
	if err != nil {
		return err
	}
	if _, err := s.networkOf(r.Context(), s.db, c, nid); err != nil {
		return err
	}
	req := segRequest{}
	if req.Type, _, err = b.str("network_type", 255, false); err != nil {
		return err
	}
	if req.Physnet, _, err = b.str("physical_network", 64, true); err != nil {
		return err
	}
	if b.Has("segmentation_id") && !b.IsNull("segmentation_id") {
		if req.SegID, req.hasSegID, err = b.integer("segmentation_id"); err != nil {
			return err
		}
	}
	if req.Type == "" {
		return invalidAttr("network_type", "'' is not a valid string")
	}
	if err := s.validateSegment(req); err != nil {
		return err
	}
	name, desc, _, _, err := b.nameAndDescription()
	if err != nil {
		return err
	}
	id := api.NewUUID()
	err = retryOnConflict(r.Context(), func() error {
		return s.db.InTx(r.Context(), func(tx *store.Tx) error {
			seg, err := s.allocateSegment(r.Context(), tx, req)
			if err != nil {
				return err
			}
			var idx int64
			_ = tx.QueryRowContext(r.Context(), `SELECT COALESCE(MAX(segment_index), -1) + 1 FROM net_segments WHERE network_id = ?`, nid).Scan(&idx)
			ts := store.FormatTime(now())
			_, err = tx.ExecContext(r.Context(), `INSERT INTO net_segments (id, network_id, name, description, network_type,
				physical_network, segmentation_id, segment_index, revision_number, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`, id, nid, name, desc, seg.Type, seg.Physnet, seg.SegID, idx, ts, ts)
			return err
		})
	})
	if err != nil {
		return err
	}
	return s.writeOne(w, c, s.kinds["segments"], http.StatusCreated, id, r.Context())
}

func (s *Service) updateSegment(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["segments"]
	id := r.PathValue("id")
	b, err := decode(r, "segment")
	if err != nil {
		return err
	}
	if err := b.known("name", "description"); err != nil {
		return err
	}
	match, err := ifMatch(r)
	if err != nil {
		return err
	}
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "update_segment", rec); err != nil {
		return err
	}
	name, desc, hasName, hasDesc, err := b.nameAndDescription()
	if err != nil {
		return err
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.bump(r.Context(), tx, k, id, match); err != nil {
			return err
		}
		if hasName {
			if _, err := tx.ExecContext(r.Context(), `UPDATE net_segments SET name = ? WHERE id = ?`, name, id); err != nil {
				return err
			}
		}
		if hasDesc {
			_, err := tx.ExecContext(r.Context(), `UPDATE net_segments SET description = ? WHERE id = ?`, desc, id)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.writeOne(w, c, k, http.StatusOK, id, r.Context())
}

func (s *Service) deleteSegment(w http.ResponseWriter, r *http.Request, c *call) error {
	k := s.kinds["segments"]
	id := r.PathValue("id")
	rec, err := s.loadOne(r.Context(), s.db, c, k, id)
	if err != nil {
		return err
	}
	if err := s.authorizeOn(c, k, "delete_segment", rec); err != nil {
		return err
	}
	err = s.db.InTx(r.Context(), func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM net_subnets WHERE segment_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return inUse("SegmentInUse", "Segment '%s' cannot be deleted: %d subnets still use it.", id, n)
		}
		if err := deleteTags(r.Context(), tx, "segments", id); err != nil {
			return err
		}
		_, err := tx.ExecContext(r.Context(), `DELETE FROM net_segments WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// segmentTarget is the policy target of a segment: its network's owner.
func segmentTarget(rec record) policy.Target {
	return policy.Target{"project_id": rec["_project"], "network_id": rec["network_id"]}
}

var _ = strings.TrimSpace
var _ = fmt.Sprint
