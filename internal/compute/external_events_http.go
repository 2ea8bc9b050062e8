package compute

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gostack/gostack/internal/api"
	computedriver "github.com/gostack/gostack/internal/driver/compute"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// os-server-external-events is how Neutron and Cinder tell Nova that something happened
// to a server's port or volume. The API validates and reports per event as Nova does
// (200 completed, 404 unknown server, 422 server without a host, 400 missing tag; 207
// overall when any failed). gostack's network service reaches compute in process, so
// the network events record nothing. volume-extended (2.51) is handed to the server's
// host at once, as nova-compute's extend_volume: the hypervisor grows the attached
// device (and, for a file volume QEMU holds, the file). Unlike Nova, which casts the
// event and answers before the host acted, the answer says whether the host did it
// (422 when it could not), because the volume service calls this synchronously and
// only then sets the volume's new size.

// externalEventRoutes is the os-server-external-events route.
func (s *Service) externalEventRoutes() []route {
	return []route{{method: "POST", path: "/v2.1/os-server-external-events",
		rule: "os_compute_api:os-server-external-events:create", handle: s.createExternalEvents}}
}

// externalEventNames are the event names each microversion accepts.
func externalEventNames(c *call) []string {
	names := []string{"network-changed", "network-vif-plugged", "network-vif-unplugged", "network-vif-deleted"}
	if c.at(51) {
		names = append(names, "volume-extended")
	}
	if c.at(76) {
		names = append(names, "power-update")
	}
	if c.at(82) {
		names = append(names, "accelerator-request-bound")
	}
	if c.at(93) {
		names = append(names, "volume-reimaged")
	}
	return names
}

// createExternalEvents is POST /os-server-external-events.
func (s *Service) createExternalEvents(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	o, err := api.DecodeObject(r, "")
	if err != nil {
		return badRequest("Malformed request body")
	}
	for k := range o {
		if k != "events" {
			return badRequest("Invalid input for field/attribute request body. Additional properties are not allowed ('%s' was unexpected)", k)
		}
	}
	list, ok := o["events"].([]any)
	if !ok || len(list) == 0 {
		return invalidInput("events", o["events"], fmt.Sprintf("%s is not of type 'array' or is too short", reprValue(o["events"])))
	}
	names := externalEventNames(c)
	type event struct {
		name, uuid, status, tag string
		hasTag                  bool
	}
	events := make([]event, 0, len(list))
	for _, item := range list {
		e, ok := item.(map[string]any)
		if !ok {
			return invalidInput("events", item, fmt.Sprintf("%s is not of type 'object'", reprValue(item)))
		}
		var ev event
		for k, v := range e {
			sv, isStr := v.(string)
			switch k {
			case "name":
				if !isStr || !slices.Contains(names, sv) {
					return invalidInput("name", v, fmt.Sprintf("%s is not one of %s", reprValue(v), pyList(names)))
				}
				ev.name = sv
			case "server_uuid":
				if !isStr || !uuidLike(sv) {
					return invalidInput("server_uuid", v, fmt.Sprintf("%s is not a 'uuid'", reprValue(v)))
				}
				ev.uuid = sv
			case "status":
				if !isStr || !slices.Contains([]string{"failed", "completed", "in-progress"}, sv) {
					return invalidInput("status", v, fmt.Sprintf("%s is not one of ['failed', 'completed', 'in-progress']", reprValue(v)))
				}
				ev.status = sv
			case "tag":
				if !isStr || len(sv) > 255 {
					return invalidInput("tag", v, fmt.Sprintf("%s is not a string of at most 255 characters", reprValue(v)))
				}
				ev.tag, ev.hasTag = sv, true
			default:
				return badRequest("Invalid input for field/attribute events. Additional properties are not allowed ('%s' was unexpected)", k)
			}
		}
		if ev.name == "" || ev.uuid == "" {
			return badRequest("Invalid input for field/attribute events. 'name' and 'server_uuid' are required properties")
		}
		if ev.status == "" {
			ev.status = "completed"
		}
		events = append(events, ev)
	}
	status := http.StatusOK
	out := make([]map[string]any, 0, len(events))
	for _, ev := range events {
		view := map[string]any{"name": ev.name, "server_uuid": ev.uuid, "status": ev.status}
		if ev.hasTag {
			view["tag"] = ev.tag
		}
		inst, found, err := loadInstance(r.Context(), s.db, ev.uuid)
		if err != nil {
			return err
		}
		tagRequired := ev.name == "volume-extended" || ev.name == "power-update" || ev.name == "volume-reimaged" ||
			ev.name == "accelerator-request-bound"
		switch {
		case !found || inst.Deleted:
			view["status"], view["code"] = "failed", 404
			status = http.StatusMultiStatus
		case tagRequired && !ev.hasTag:
			view["status"], view["code"] = "failed", 400
			status = http.StatusMultiStatus
		case inst.Host != nil && *inst.Host != "":
			view["status"], view["code"] = "completed", 200
			if ev.name == "volume-extended" {
				if err := s.recordedVolumeExtended(r.Context(), c, inst, ev.tag); err != nil {
					s.log.Warn("volume-extended event not handled", "instance", inst.UUID, "volume", ev.tag, "err", err)
					view["status"], view["code"] = "failed", 422
					status = http.StatusMultiStatus
				}
			}
		default:
			view["status"], view["code"] = "failed", 422
			status = http.StatusMultiStatus
		}
		out = append(out, view)
	}
	api.WriteJSON(w, status, map[string]any{"events": out})
	return nil
}

// recordedVolumeExtended runs volumeExtended as Nova records it: an "extend_volume"
// instance action under the event request's id, with a "compute_extend_volume" event
// whose result is the driver's.
func (s *Service) recordedVolumeExtended(ctx context.Context, c *call, inst *Instance, volumeID string) error {
	var evID int64
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		userID, projectID := inst.UserID, inst.ProjectID
		if c.caller != nil {
			userID, projectID = c.caller.UserID, c.caller.ProjectID
		}
		actionID, err := startAction(ctx, tx, inst.UUID, "extend_volume", api.RequestID(ctx), userID, projectID)
		if err != nil {
			return err
		}
		evID, err = startEvent(ctx, tx, actionID, "compute_extend_volume", deref(inst.Host))
		return err
	})
	if err != nil {
		return err
	}
	cause := s.volumeExtended(ctx, inst, volumeID)
	err = s.db.InTx(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		if cause != nil {
			return finishEvent(ctx, tx, evID, "Error", cause.Error(), "")
		}
		return finishEvent(ctx, tx, evID, "Success", "", "")
	})
	if cause != nil {
		return cause
	}
	return err
}

// extendVolumeTimeout bounds the hypervisor's part of a volume-extended event.
const extendVolumeTimeout = time.Minute

// volumeExtended is nova-compute's extend_volume for the volume-extended event: the
// mapping of the volume on the server takes the volume's new size and the host's
// driver grows the device in the guest. A volume the server does not have (or has no
// connection for) is logged and ignored, as Nova does; a host this process does not
// serve, a driver without VolumeExtender or its failure is an error.
func (s *Service) volumeExtended(ctx context.Context, inst *Instance, volumeID string) error {
	bdms, err := volumeMappings(ctx, s.db, volumeID)
	if err != nil {
		return err
	}
	var b *blockDevice
	for _, x := range bdms {
		if x.InstanceUUID == inst.UUID {
			b = x
		}
	}
	if b == nil || b.ConnectionInfo == nil {
		s.log.Warn("extend volume: the volume is not attached to the instance", "instance", inst.UUID, "volume", volumeID)
		return nil
	}
	vol, found, err := s.getVolume(ctx, volumeCaller(inst), volumeID)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("volume %s could not be found", volumeID)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE compute_block_device_mappings SET volume_size = ?, updated_at = ? WHERE uuid = ?`,
		vol.Size, store.FormatTime(now()), b.UUID); err != nil {
		return err
	}
	d, ok := s.hostDriver(*inst.Host)
	if !ok {
		return fmt.Errorf("host %s is not served by this process", *inst.Host)
	}
	ve, ok := d.(computedriver.VolumeExtender)
	if !ok {
		return fmt.Errorf("%w: extend volume", computedriver.ErrNotSupported)
	}
	di, err := s.driverInstance(ctx, inst, inst.Flavor)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, extendVolumeTimeout)
	defer cancel()
	return ve.ExtendVolume(dctx, di, b.DeviceName, b.ConnectionInfo, vol.Size<<30)
}
