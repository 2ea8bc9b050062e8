package compute

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gostack/gostack/internal/api"
)

// Nova's view builder (nova/api/openstack/compute/views/servers.py): the basic view is
// id, name and links; the detailed view carries everything, shaped per microversion.

// progressStatuses are the statuses that show "progress".
var progressStatuses = map[string]bool{"ACTIVE": true, "BUILD": true, "REBUILD": true, "RESIZE": true,
	"VERIFY_RESIZE": true, "MIGRATING": true}

// isoTime is Nova's utils.isotime.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// isoMicro is how Nova's JSON encoder renders naive datetimes (OS-SRV-USG:*).
func isoMicro(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000")
}

// hostID is Nova's generate_hostid: sha224(project_id + host) or "" without a host.
func hostID(host *string, project string) string {
	if host == nil || *host == "" {
		return ""
	}
	sum := sha256.Sum224([]byte(project + *host))
	return hex.EncodeToString(sum[:])
}

// serverLinks are the self and bookmark links of a server.
func (s *Service) serverLinks(r *http.Request, uuid string) []map[string]string {
	base := api.BaseURL(r) + s.cfg.Prefix
	return []map[string]string{
		{"rel": "self", "href": base + "/v2.1/servers/" + uuid},
		{"rel": "bookmark", "href": base + "/servers/" + uuid},
	}
}

// bookmark is a bookmark link to another compute collection (flavors, images).
func (s *Service) bookmark(r *http.Request, collection, id string) []map[string]string {
	return []map[string]string{{"rel": "bookmark", "href": api.BaseURL(r) + s.cfg.Prefix + "/" + collection + "/" + id}}
}

// fault is the newest fault of an instance.
type instanceFault struct {
	Code      int
	Message   string
	Details   string
	CreatedAt time.Time
}

// serverExtras are what the detailed view needs beyond the instance row, loaded in bulk
// for a page of servers (one query per table).
type serverExtras struct {
	metadata map[string]map[string]string
	tags     map[string][]string
	faults   map[string]*instanceFault
	groups   map[string][]string
	volumes  map[string][]attachedVolume
	zones    map[string]string
	services map[string]hostService
	// portSGs are the security groups on the servers' ports (withPortSecurityGroups);
	// nil when not loaded, and then the recorded names are shown.
	portSGs map[string][]map[string]string
}

// attachedVolume is an entry of os-extended-volumes:volumes_attached.
type attachedVolume struct {
	id                  string
	deleteOnTermination bool
}

// withPortSecurityGroups loads the groups on insts' ports into ex, as the caller sees
// them (Nova's _add_security_grps). Without a networking service the recorded names stay.
func (s *Service) withPortSecurityGroups(ctx context.Context, c *call, insts []*Instance, ex *serverExtras) error {
	if s.networkAPI == nil || len(insts) == 0 {
		return nil
	}
	sgs, err := s.portSecurityGroupNames(ctx, c.caller, insts)
	if err != nil {
		return err
	}
	ex.portSGs = sgs
	return nil
}

// hostService is what host_status needs of a host's compute service.
type hostService struct {
	disabled, forcedDown bool
	lastSeen             time.Time
}

// inClause returns "(?, ?, ...)" and the args for ids.
func inClause(ids []string) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return "(" + strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",") + ")", args
}

// loadExtras loads metadata, tags, faults (for ERROR/DELETED servers), server groups and,
// when asked, zones and host services for insts.
func (s *Service) loadExtras(ctx context.Context, q querier, insts []*Instance, withGroups, withHosts bool) (*serverExtras, error) {
	ex := &serverExtras{metadata: map[string]map[string]string{}, tags: map[string][]string{},
		faults: map[string]*instanceFault{}, groups: map[string][]string{}, volumes: map[string][]attachedVolume{}}
	if len(insts) == 0 {
		return ex, nil
	}
	ids := make([]string, len(insts))
	var faulted []string
	for i, inst := range insts {
		ids[i] = inst.UUID
		if st := inst.Status(); st == "ERROR" || st == "DELETED" {
			faulted = append(faulted, inst.UUID)
		}
	}
	in, args := inClause(ids)
	rows, err := q.QueryContext(ctx, `SELECT instance_uuid, key, value FROM compute_instance_metadata WHERE instance_uuid IN `+in, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id, k, v string
		if err := rows.Scan(&id, &k, &v); err != nil {
			rows.Close()
			return nil, err
		}
		m := ex.metadata[id]
		if m == nil {
			m = map[string]string{}
			ex.metadata[id] = m
		}
		m[k] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.QueryContext(ctx, `SELECT instance_uuid, volume_id, delete_on_termination FROM compute_block_device_mappings
		WHERE volume_id <> '' AND instance_uuid IN `+in+` ORDER BY created_at, uuid`, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		var av attachedVolume
		if err := rows.Scan(&id, &av.id, &av.deleteOnTermination); err != nil {
			rows.Close()
			return nil, err
		}
		ex.volumes[id] = append(ex.volumes[id], av)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.QueryContext(ctx, `SELECT instance_uuid, tag FROM compute_instance_tags WHERE instance_uuid IN `+in+` ORDER BY tag`, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id, t string
		if err := rows.Scan(&id, &t); err != nil {
			rows.Close()
			return nil, err
		}
		ex.tags[id] = append(ex.tags[id], t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(faulted) > 0 {
		fin, fargs := inClause(faulted)
		rows, err = q.QueryContext(ctx, `SELECT instance_uuid, code, message, details, created_at FROM compute_instance_faults
			WHERE instance_uuid IN `+fin+` ORDER BY id`, fargs...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, msg, det, created string
			var code int
			if err := rows.Scan(&id, &code, &msg, &det, &created); err != nil {
				rows.Close()
				return nil, err
			}
			// Ordered by id, so the last one seen is the newest.
			ex.faults[id] = &instanceFault{Code: code, Message: msg, Details: det, CreatedAt: parseStored(created)}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if withGroups {
		rows, err = q.QueryContext(ctx, `SELECT instance_uuid, group_uuid FROM compute_server_group_members WHERE instance_uuid IN `+in, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, g string
			if err := rows.Scan(&id, &g); err != nil {
				rows.Close()
				return nil, err
			}
			ex.groups[id] = append(ex.groups[id], g)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	hosted := false
	for _, inst := range insts {
		if inst.Host != nil && *inst.Host != "" {
			hosted = true
			break
		}
	}
	if hosted {
		if ex.zones, err = s.hostZones(ctx, q); err != nil {
			return nil, err
		}
		if withHosts {
			if ex.services, err = loadHostServices(ctx, q); err != nil {
				return nil, err
			}
		}
	}
	return ex, nil
}

// loadHostServices reads the compute services by host.
func loadHostServices(ctx context.Context, q querier) (map[string]hostService, error) {
	rows, err := q.QueryContext(ctx, `SELECT host, disabled, forced_down, last_seen_up FROM compute_services
		WHERE service_binary = 'nova-compute'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]hostService{}
	for rows.Next() {
		var host string
		var hs hostService
		var seen sql.NullString
		if err := rows.Scan(&host, &hs.disabled, &hs.forcedDown, &seen); err != nil {
			return nil, err
		}
		hs.lastSeen = parseStored(seen.String)
		out[host] = hs
	}
	return out, rows.Err()
}

// parseStored parses a stored timestamp, tolerating the zero value.
func parseStored(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse("2006-01-02T15:04:05.000000Z", s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// hostStatus is Nova's get_instance_host_status.
func (s *Service) hostStatus(inst *Instance, services map[string]hostService) string {
	if inst.Host == nil || *inst.Host == "" {
		return ""
	}
	svc, ok := services[*inst.Host]
	switch {
	case !ok:
		return ""
	case svc.forcedDown:
		return "DOWN"
	case svc.disabled:
		return "MAINTENANCE"
	case !svc.lastSeen.IsZero() && now().Sub(svc.lastSeen) <= s.cfg.ServiceDownTime:
		return "UP"
	default:
		return "UNKNOWN"
	}
}

// instanceZone is Nova's get_instance_availability_zone: the zone of the instance's host,
// or the requested zone while it has none.
func (s *Service) instanceZone(inst *Instance, zones map[string]string) string {
	if inst.Host == nil || *inst.Host == "" {
		if inst.AvailabilityZone != nil {
			return *inst.AvailabilityZone
		}
		return ""
	}
	if z, ok := zones[*inst.Host]; ok {
		return z
	}
	return s.cfg.DefaultAvailabilityZone
}

// viewOpts are per-request decisions of the detailed view, made once per list.
type viewOpts struct {
	extraSpecs   bool // 2.47+ and os_compute_api:servers:show:flavor-extra-specs
	extendedAttr bool // os_compute_api:os-extended-server-attributes
	hostStatus   int  // 0: hidden, 1: UNKNOWN only, 2: any
	groups       bool // server_groups (show at 2.71+, not detail)
	admin        bool // fault details
}

// viewOptions decides the policy-driven parts of the view for the caller; project is
// the server's project for show ("" for a list: the caller's own).
func (s *Service) viewOptions(c *call, project string, show bool) viewOpts {
	target := nilTargetFor(c, project)
	o := viewOpts{admin: c.caller != nil && c.caller.IsAdmin()}
	if c.at(47) {
		o.extraSpecs = s.can(c, "os_compute_api:servers:show:flavor-extra-specs", target)
	}
	o.extendedAttr = s.can(c, "os_compute_api:os-extended-server-attributes", target)
	if c.at(16) {
		switch {
		case s.can(c, "os_compute_api:servers:show:host_status", target):
			o.hostStatus = 2
		case s.can(c, "os_compute_api:servers:show:host_status:unknown-only", target):
			o.hostStatus = 1
		}
	}
	o.groups = show && c.at(71)
	return o
}

// nilTargetFor is the policy target Nova uses for view decisions.
func nilTargetFor(c *call, project string) map[string]any {
	if project == "" && c.caller != nil {
		project = c.caller.ProjectID
	}
	return map[string]any{"project_id": project}
}

// basicView is the index entry of a server.
func (s *Service) basicView(r *http.Request, inst *Instance) map[string]any {
	return map[string]any{"id": inst.UUID, "name": inst.Name, "links": s.serverLinks(r, inst.UUID)}
}

// detailView is Nova's ViewBuilder.show.
func (s *Service) detailView(r *http.Request, c *call, inst *Instance, ex *serverExtras, o viewOpts) map[string]any {
	status := inst.Status()
	meta := ex.metadata[inst.UUID]
	if meta == nil {
		meta = map[string]string{}
	}
	v := map[string]any{
		"accessIPv4":        inst.AccessIPv4,
		"accessIPv6":        inst.AccessIPv6,
		"addresses":         addresses(inst, true),
		"created":           isoTime(inst.CreatedAt),
		"flavor":            s.serverFlavorView(r, c, inst, o),
		"hostId":            hostID(inst.Host, inst.ProjectID),
		"id":                inst.UUID,
		"image":             s.imageView(r, inst),
		"links":             s.serverLinks(r, inst.UUID),
		"metadata":          meta,
		"name":              inst.Name,
		"status":            status,
		"tenant_id":         inst.ProjectID,
		"user_id":           inst.UserID,
		"updated":           isoTime(updatedAt(inst)),
		"OS-DCF:diskConfig": diskConfig(inst),
	}
	if status == "ERROR" || status == "DELETED" {
		if f := ex.faults[inst.UUID]; f != nil {
			fd := map[string]any{"code": f.Code, "created": isoTime(f.CreatedAt), "message": f.Message}
			if f.Details != "" && (o.admin || f.Code != 500) {
				fd["details"] = f.Details
			}
			v["fault"] = fd
		}
	}
	if progressStatuses[status] {
		v["progress"] = inst.Progress
	}
	v["OS-EXT-AZ:availability_zone"] = s.instanceZone(inst, ex.zones)
	v["config_drive"] = inst.ConfigDrive
	v["key_name"] = inst.KeyName
	v["OS-SRV-USG:launched_at"] = isoMicro(inst.LaunchedAt)
	v["OS-SRV-USG:terminated_at"] = isoMicro(inst.TerminatedAt)
	if ex.portSGs != nil {
		if sgs := ex.portSGs[inst.UUID]; len(sgs) > 0 {
			v["security_groups"] = sgs
		}
	} else if sgs := securityGroupsOf(inst); len(sgs) > 0 {
		v["security_groups"] = sgs
	}
	if o.extendedAttr {
		v["OS-EXT-SRV-ATTR:host"] = inst.Host
		v["OS-EXT-SRV-ATTR:instance_name"] = inst.InstanceName()
		v["OS-EXT-SRV-ATTR:hypervisor_hostname"] = inst.Node
		if c.at(3) {
			v["OS-EXT-SRV-ATTR:hostname"] = inst.Hostname
			v["OS-EXT-SRV-ATTR:kernel_id"] = ""
			v["OS-EXT-SRV-ATTR:ramdisk_id"] = ""
			v["OS-EXT-SRV-ATTR:launch_index"] = inst.LaunchIndex
			v["OS-EXT-SRV-ATTR:reservation_id"] = inst.ReservationID
			v["OS-EXT-SRV-ATTR:root_device_name"] = inst.RootDeviceName
			v["OS-EXT-SRV-ATTR:user_data"] = inst.UserData
		}
	}
	v["OS-EXT-STS:task_state"] = nullable(inst.TaskState)
	v["OS-EXT-STS:vm_state"] = inst.VMState
	v["OS-EXT-STS:power_state"] = inst.PowerState
	vols := []any{}
	for _, av := range ex.volumes[inst.UUID] {
		e := map[string]any{"id": av.id}
		if c.at(3) {
			e["delete_on_termination"] = av.deleteOnTermination
		}
		vols = append(vols, e)
	}
	v["os-extended-volumes:volumes_attached"] = vols
	if c.at(9) {
		v["locked"] = inst.Locked
	}
	if c.at(16) && o.hostStatus > 0 {
		hs := s.hostStatus(inst, ex.services)
		if o.hostStatus == 2 || hs == "UNKNOWN" {
			v["host_status"] = hs
		}
	}
	if c.at(19) {
		v["description"] = inst.Description
	}
	if c.at(26) {
		tags := ex.tags[inst.UUID]
		if tags == nil {
			tags = []string{}
		}
		v["tags"] = tags
	}
	if c.at(63) {
		v["trusted_image_certificates"] = trustedCerts(inst)
	}
	if o.groups {
		g := ex.groups[inst.UUID]
		if g == nil {
			g = []string{}
		}
		v["server_groups"] = g
	}
	if c.at(73) {
		v["locked_reason"] = inst.LockedReason
	}
	if c.at(90) && !o.extendedAttr {
		v["OS-EXT-SRV-ATTR:hostname"] = inst.Hostname
	}
	if c.at(96) {
		var pinned any
		if inst.Request.AvailabilityZone != "" {
			pinned = inst.Request.AvailabilityZone
		}
		v["pinned_availability_zone"] = pinned
	}
	return v
}

// updatedAt is the row's update time, its creation time before any update.
func updatedAt(inst *Instance) time.Time {
	if inst.UpdatedAt.IsZero() {
		return inst.CreatedAt
	}
	return inst.UpdatedAt
}

// nullable renders "" as JSON null.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// sysMetaAutoDiskConfig is the system metadata key keeping OS-DCF:diskConfig (Nova's
// auto_disk_config column).
const sysMetaAutoDiskConfig = "auto_disk_config"

// diskConfig is OS-DCF:diskConfig.
func diskConfig(inst *Instance) string {
	if inst.SystemMetadata[sysMetaAutoDiskConfig] == "True" {
		return "AUTO"
	}
	return "MANUAL"
}

// trustedCerts decodes the stored trusted certificate ids (nil when none).
func trustedCerts(inst *Instance) any {
	if inst.TrustedCerts == nil || *inst.TrustedCerts == "" {
		return nil
	}
	var ids []string
	if err := json.Unmarshal([]byte(*inst.TrustedCerts), &ids); err != nil || len(ids) == 0 {
		return nil
	}
	return ids
}

// securityGroupsOf lists the security groups recorded for the instance.
func securityGroupsOf(inst *Instance) []map[string]string {
	out := []map[string]string{}
	for _, n := range inst.Request.SecurityGroups {
		out = append(out, map[string]string{"name": n})
	}
	return out
}

// serverFlavorView is the server's flavor: {id, links} before 2.47, the embedded snapshot after.
func (s *Service) serverFlavorView(r *http.Request, c *call, inst *Instance, o viewOpts) map[string]any {
	f := inst.Flavor
	if c.at(47) {
		out := map[string]any{"vcpus": f.VCPUs, "ram": f.MemoryMB, "disk": f.RootGB, "ephemeral": f.EphemeralGB,
			"swap": f.Swap, "original_name": f.Name}
		if o.extraSpecs {
			specs := f.ExtraSpecs
			if specs == nil {
				specs = map[string]string{}
			}
			out["extra_specs"] = specs
		}
		return out
	}
	return map[string]any{"id": f.ID, "links": s.bookmark(r, "flavors", f.ID)}
}

// imageView is the server's image: {id, links}, or "" for a server booted from a volume.
func (s *Service) imageView(r *http.Request, inst *Instance) any {
	if inst.ImageRef == "" {
		return ""
	}
	return map[string]any{"id": inst.ImageRef, "links": s.bookmark(r, "images", inst.ImageRef)}
}

// vif is one entry of Nova's network info cache (nova/network/model.py), the shape the
// network side writes into Instance.NetworkInfo.
type vif struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Network struct {
		ID      string `json:"id"`
		Label   string `json:"label"`
		Subnets []struct {
			IPs []struct {
				Address     string `json:"address"`
				Type        string `json:"type"`
				Version     int    `json:"version"`
				FloatingIPs []struct {
					Address string `json:"address"`
					Type    string `json:"type"`
					Version int    `json:"version"`
				} `json:"floating_ips"`
			} `json:"ips"`
		} `json:"subnets"`
	} `json:"network"`
}

// addrEntry is one address of the "addresses" view.
type addrEntry struct {
	label string
	entry map[string]any
}

// addressList flattens the network info into per-network addresses, in order.
func addressList(inst *Instance, extended bool) []addrEntry {
	var vifs []vif
	if len(inst.NetworkInfo) == 0 || json.Unmarshal(inst.NetworkInfo, &vifs) != nil {
		return nil
	}
	var out []addrEntry
	add := func(label, addr, typ string, version int, mac string) {
		e := map[string]any{"addr": addr, "version": version}
		if extended {
			e["OS-EXT-IPS:type"] = typ
			e["OS-EXT-IPS-MAC:mac_addr"] = mac
		}
		out = append(out, addrEntry{label: label, entry: e})
	}
	for _, v := range vifs {
		for _, sn := range v.Network.Subnets {
			for _, ip := range sn.IPs {
				typ := ip.Type
				if typ == "" {
					typ = "fixed"
				}
				add(v.Network.Label, ip.Address, typ, ip.Version, v.Address)
				for _, fip := range ip.FloatingIPs {
					add(v.Network.Label, fip.Address, "floating", fip.Version, v.Address)
				}
			}
		}
	}
	return out
}

// addresses is the "addresses" object; empty while the server is building, as Nova hides
// them then.
func addresses(inst *Instance, extended bool) map[string]any {
	out := map[string]any{}
	if inst.VMState == VMBuilding {
		return out
	}
	for _, a := range addressList(inst, extended) {
		l, _ := out[a.label].([]map[string]any)
		out[a.label] = append(l, a.entry)
	}
	return out
}

// ipStrings lists an instance's addresses (for the ip/ip6 filters).
func ipStrings(inst *Instance) (v4, v6 []string) {
	for _, a := range addressList(inst, false) {
		addr, _ := a.entry["addr"].(string)
		if a.entry["version"] == 6 {
			v6 = append(v6, addr)
		} else {
			v4 = append(v4, addr)
		}
	}
	sort.Strings(v4)
	return v4, v6
}
