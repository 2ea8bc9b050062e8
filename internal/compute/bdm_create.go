package compute

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/gostack/gostack/internal/api"
)

// This file turns a create request's block device mappings into the server's volume
// mappings, with the checks of Nova's _validate_bdm and _get_bdm_image_metadata: the
// boot sequence, every volume, snapshot and image named exists for the caller, volumes
// are available (and reserved for the server), sizes are given where Nova needs them,
// and a server booting from a volume takes its image properties from that volume.

// plannedBDM is one volume mapping a new server will have.
type plannedBDM struct {
	bdm blockDevice
	// reserve is set for an existing volume, which the API reserves for the server.
	reserve bool
}

// bdmPlan is what planBlockDevices found.
type bdmPlan struct {
	mappings []plannedBDM
	// bootVolume is true when the server boots from a volume (image_ref stays "").
	bootVolume bool
	// imageMeta are the boot volume's image properties (volume_image_metadata).
	imageMeta map[string]string
	// bootImage is the image a boot volume is made from (source image, dest volume).
	bootImage string
}

// anyInt reads an integer given as a JSON number or a string; ok is false when absent or
// null.
func anyInt(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	case float64:
		return int64(x), true
	}
	return 0, false
}

// planBlockDevices validates the request's mappings against the volume and image
// services as the caller. It returns nil when the request names no volumes.
func (s *Service) planBlockDevices(ctx context.Context, c *call, req *createRequest) (*bdmPlan, error) {
	type entry struct {
		src, dst, id  string
		boot          int64
		hasBoot       bool
		size          int64
		device, vtype string
		dot           bool
		tag           string
		bus, devType  string
	}
	var entries []entry
	for _, b := range req.legacyBDMs {
		if nd, ok := b["no_device"]; ok && nd != nil && nd != false {
			continue
		}
		e := entry{dst: "volume", boot: -1}
		e.device, _ = b["device_name"].(string)
		if v, ok := b["volume_id"].(string); ok {
			e.src, e.id = "volume", v
		} else if v, ok := b["snapshot_id"].(string); ok {
			e.src, e.id = "snapshot", v
		} else {
			continue
		}
		if n, ok := anyInt(b["volume_size"]); ok {
			e.size = n
		}
		if v, ok := b["delete_on_termination"]; ok {
			e.dot, _ = parseBoolParam("delete_on_termination", v)
		}
		// The legacy format boots from the mapping of the root device.
		if req.imageRef == "" && (e.device == "vda" || e.device == "/dev/vda" || len(req.legacyBDMs) == 1) {
			e.boot, e.hasBoot = 0, true
		}
		entries = append(entries, e)
	}
	for _, b := range req.bdms {
		if nd, ok := b["no_device"]; ok && nd != nil && nd != false {
			continue
		}
		e := entry{boot: -1}
		e.src, _ = b["source_type"].(string)
		e.dst, _ = b["destination_type"].(string)
		e.id, _ = b["uuid"].(string)
		if e.src == "" {
			// A v2 entry in the legacy shape (volume_id / snapshot_id).
			if v, ok := b["volume_id"].(string); ok {
				e.src, e.id = "volume", v
			} else if v, ok := b["snapshot_id"].(string); ok {
				e.src, e.id = "snapshot", v
			}
		}
		if e.dst == "" {
			e.dst = "volume"
			if e.src == "image" || e.src == "blank" {
				e.dst = "local"
			}
		}
		if n, ok := anyInt(b["boot_index"]); ok {
			e.boot, e.hasBoot = n, n >= 0
		}
		if n, ok := anyInt(b["volume_size"]); ok {
			e.size = n
		}
		e.device, _ = b["device_name"].(string)
		e.vtype, _ = b["volume_type"].(string)
		e.tag, _ = b["tag"].(string)
		e.bus, _ = b["disk_bus"].(string)
		e.devType, _ = b["device_type"].(string)
		if v, ok := b["delete_on_termination"]; ok {
			e.dot, _ = parseBoolParam("delete_on_termination", v)
		}
		entries = append(entries, e)
	}
	// The boot sequence: boot indexes 0..n-1 with the server's image as 0 when given.
	var boots []int64
	rootGiven := false
	for _, e := range entries {
		if e.hasBoot {
			boots = append(boots, e.boot)
			rootGiven = rootGiven || e.boot == 0
		}
	}
	if req.imageRef != "" && !rootGiven {
		// The server's image is the root disk unless a mapping claims boot index 0.
		boots = append(boots, 0)
	}
	sort.Slice(boots, func(i, j int) bool { return boots[i] < boots[j] })
	valid := len(boots) > 0
	for i, b := range boots {
		if b != int64(i) {
			valid = false
		}
	}
	if !valid {
		return nil, badRequest("Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid.")
	}
	plan := &bdmPlan{}
	for _, e := range entries {
		if e.dst != "volume" {
			if e.src == "image" && e.hasBoot && e.boot == 0 && req.imageRef == "" {
				req.imageRef = e.id
			}
			continue
		}
		if s.volumeAPI == nil {
			switch e.src {
			case "volume":
				return nil, badRequest("Volume %s could not be found.", e.id)
			case "snapshot":
				return nil, badRequest("Snapshot %s could not be found.", e.id)
			}
			return nil, badRequest("Block Device Mapping is Invalid: the volume service is not available.")
		}
		p := plannedBDM{bdm: blockDevice{SourceType: e.src, VolumeSize: e.size, VolumeType: e.vtype, DeviceName: e.device,
			BootIndex: -1, DeleteOnTermination: e.dot, Tag: e.tag, DiskBus: e.bus, DeviceType: e.devType, Status: bdmCreating}}
		if e.hasBoot {
			p.bdm.BootIndex = int(e.boot)
		}
		root := e.hasBoot && e.boot == 0
		switch e.src {
		case "volume":
			vol, found, err := s.getVolume(ctx, c.caller, e.id)
			if err != nil {
				return nil, err
			}
			if !found {
				return nil, badRequest("Volume %s could not be found.", e.id)
			}
			if root && vol.Bootable != "true" {
				return nil, badRequest("Block Device %s is not bootable.", e.id)
			}
			if vol.Status != "available" && !(vol.Multiattach && vol.Status == "in-use") {
				return nil, badRequest("Invalid volume: volume '%s' status must be 'available'. Currently in '%s'", e.id, vol.Status)
			}
			p.bdm.VolumeID, p.bdm.VolumeSize, p.bdm.Status, p.reserve = vol.ID, vol.Size, bdmAttaching, true
			if root {
				plan.imageMeta = vol.ImageMetadata
			}
		case "snapshot":
			ok, err := s.snapshotExists(ctx, c.caller, e.id)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, badRequest("Block Device Mapping is Invalid: failed to get snapshot %s.", e.id)
			}
			p.bdm.SnapshotID = e.id
		case "image":
			if s.deps.Images == nil {
				return nil, badRequest("Block Device Mapping is Invalid: failed to get image %s.", e.id)
			}
			if _, err := s.deps.Images.Image(ctx, c.caller, e.id); err != nil {
				return nil, badRequest("Block Device Mapping is Invalid: failed to get image %s.", e.id)
			}
			if e.size <= 0 {
				return nil, badRequest("Block Device Mapping is Invalid: Images with destination_type 'volume' need to have a non-zero size specified")
			}
			p.bdm.ImageID = e.id
			if root {
				plan.bootImage = e.id
			}
		case "blank":
			if e.size <= 0 {
				return nil, badRequest("Block Device Mapping is Invalid: Blank volumes (source: 'blank', dest: 'volume') need to have non-zero size")
			}
		default:
			return nil, badRequest("Block Device Mapping is Invalid: the mapping of %s has no source.", e.id)
		}
		if root {
			plan.bootVolume = true
		}
		plan.mappings = append(plan.mappings, p)
	}
	if len(plan.mappings) == 0 {
		return nil, nil
	}
	if req.maxCount > 1 {
		for _, m := range plan.mappings {
			if m.reserve {
				return nil, badRequest("Cannot attach one or more volumes to multiple instances")
			}
		}
	}
	return plan, nil
}

// assignDevices names the devices of a plan: the boot volume /dev/vda, the others the
// next free names unless the request named them.
func (p *bdmPlan) assignDevices(inst *Instance) {
	var named []*blockDevice
	for i := range p.mappings {
		b := &p.mappings[i].bdm
		if b.BootIndex == 0 {
			b.DeviceName = "/dev/vda"
		} else if b.DeviceName != "" && !strings.HasPrefix(b.DeviceName, "/dev/") {
			b.DeviceName = "/dev/" + b.DeviceName
		}
		if b.DeviceName != "" {
			named = append(named, b)
		}
	}
	for i := range p.mappings {
		b := &p.mappings[i].bdm
		if b.DeviceName == "" {
			b.DeviceName = nextDeviceName(inst, named)
			named = append(named, b)
		}
	}
}

// reserveVolumes makes the Cinder attachments of a plan's existing volumes for the
// server about to be created; on failure the ones made are deleted again.
func (s *Service) reserveVolumes(ctx context.Context, c *call, p *bdmPlan, instanceUUID string) error {
	for i := range p.mappings {
		m := &p.mappings[i]
		if !m.reserve {
			continue
		}
		att, err := s.createAttachment(ctx, c.caller, m.bdm.VolumeID, instanceUUID, nil)
		if err != nil {
			s.unreserveVolumes(ctx, c.caller, p)
			if msg := cinderMessage(err); msg != "" {
				return badRequest("Invalid volume: %s", msg)
			}
			return err
		}
		m.bdm.AttachmentID = att.ID
	}
	return nil
}

// unreserveVolumes deletes the attachments reserveVolumes made.
func (s *Service) unreserveVolumes(ctx context.Context, caller *api.Caller, p *bdmPlan) {
	for i := range p.mappings {
		if id := p.mappings[i].bdm.AttachmentID; id != "" {
			if err := s.deleteAttachment(ctx, caller, id); err != nil {
				s.log.Warn("undo volume reservation", "attachment", id, "err", err)
			}
			p.mappings[i].bdm.AttachmentID = ""
		}
	}
}

// imageMetaProps turns a volume's image metadata into the image properties and system
// metadata of a server booted from it.
func imageMetaProps(meta map[string]string) (props map[string]any, sys map[string]string) {
	props, sys = map[string]any{}, map[string]string{}
	for k, v := range meta {
		switch k {
		case "image_id":
			sys["image_base_image_ref"] = v
		case "image_name", "checksum", "size":
		case "min_ram", "min_disk", "disk_format", "container_format":
			sys["image_"+k] = v
		default:
			props[k] = v
			sys["image_"+k] = v
		}
	}
	return props, sys
}

// String renders a plan for logs.
func (p *bdmPlan) String() string {
	var b strings.Builder
	for _, m := range p.mappings {
		fmt.Fprintf(&b, "%s:%s@%s(boot %d) ", m.bdm.SourceType, m.bdm.VolumeID+m.bdm.ImageID+m.bdm.SnapshotID, m.bdm.DeviceName, m.bdm.BootIndex)
	}
	return strings.TrimSpace(b.String())
}

// imageBlockDevices adds the mappings an image records (a volume-backed server's
// snapshot: block_device_mapping with bdm_v2) to a request that boots from it, as Nova's
// _get_image_defined_bdms does; the server then boots from a volume made from the root
// snapshot. Mappings the request gives for the same device win.
func (s *Service) imageBlockDevices(ctx context.Context, c *call, req *createRequest) error {
	if req.imageRef == "" || s.deps.Images == nil || s.volumeAPI == nil {
		return nil
	}
	img, err := s.deps.Images.Image(ctx, c.caller, req.imageRef)
	if err != nil {
		return nil // the image lookup after planning reports it
	}
	raw, ok := img.Properties["block_device_mapping"].(string)
	if !ok || fmt.Sprint(img.Properties["bdm_v2"]) != "True" {
		return nil
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		return nil
	}
	given := map[string]bool{}
	for _, b := range req.bdms {
		if d, ok := b["device_name"].(string); ok {
			given[strings.TrimPrefix(d, "/dev/")] = true
		}
	}
	root := false
	for _, m := range list {
		if d, ok := m["device_name"].(string); ok && given[strings.TrimPrefix(d, "/dev/")] {
			continue
		}
		o := api.Object{}
		for k, v := range m {
			if v == nil {
				continue
			}
			if k == "snapshot_id" || k == "volume_id" || k == "image_id" {
				o["uuid"] = v
				continue
			}
			if f, ok := v.(float64); ok {
				v = json.Number(strconv.FormatInt(int64(f), 10))
			}
			o[k] = v
		}
		if n, ok := anyInt(o["boot_index"]); ok && n == 0 {
			root = true
		}
		req.bdms = append(req.bdms, o)
	}
	if root {
		req.imageRef = ""
	}
	return nil
}
