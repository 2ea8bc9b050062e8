package compute

import (
	"net/http"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
)

// apiServiceBinaries are services Nova hides from os-services since they do not report
// through the service group.
var apiServiceBinaries = map[string]bool{"nova-osapi_compute": true, "nova-metadata": true}

// servicesQuery is os-services' query schema (strict from 2.75).
func servicesQuery(c *call) querySchema {
	return querySchema{strict: c.at(75), params: map[string]queryParam{
		"host": {kind: qString}, "binary": {kind: qString},
	}}
}

// serviceView is a service as os-services shows it at the call's microversion.
func (s *Service) serviceView(c *call, sv *computeService, zones map[string]string) map[string]any {
	status := "enabled"
	if sv.Disabled {
		status = "disabled"
	}
	state := "down"
	if s.serviceUp(sv) {
		state = "up"
	}
	var id any = sv.ID
	if c.at(53) {
		id = sv.UUID
	}
	out := map[string]any{
		"binary":          sv.Binary,
		"host":            sv.Host,
		"id":              id,
		"zone":            s.serviceZone(sv, zones),
		"status":          status,
		"state":           state,
		"updated_at":      adminOptTimestamp(sv.UpdatedAt),
		"disabled_reason": sv.DisabledReason,
	}
	if c.at(11) {
		out["forced_down"] = sv.ForcedDown
	}
	return out
}

// listServices is GET /os-services.
func (s *Service) listServices(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	if err := servicesQuery(c).validate(q); err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	ctx := r.Context()
	svcs, err := listServiceRecords(ctx, s.db)
	if err != nil {
		return err
	}
	zones, err := s.hostZones(ctx, s.db)
	if err != nil {
		return err
	}
	host, _ := queryLast(q, "host")
	binary, _ := queryLast(q, "binary")
	out := []map[string]any{}
	for _, sv := range svcs {
		if apiServiceBinaries[sv.Binary] || (host != "" && sv.Host != host) || (binary != "" && sv.Binary != binary) {
			continue
		}
		out = append(out, s.serviceView(c, sv, zones))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"services": out})
	return nil
}

// updateService is PUT /os-services/{id}: before 2.53 the id is the action (enable,
// disable, disable-log-reason and, from 2.11, force-down) and the body names the host
// and binary; from 2.53 the id is the service uuid and the body holds the changes.
func (s *Service) updateService(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	if c.at(53) {
		return s.updateServiceV253(w, r, c, body)
	}
	allowed := []string{"host", "binary", "disabled_reason"}
	if c.at(11) {
		allowed = append(allowed, "forced_down")
	}
	if err := checkBodyKeys(body, []string{"host", "binary"}, allowed...); err != nil {
		return err
	}
	host, _, err := stringField(body, "host", 1, 255, fqdnPattern)
	if err != nil {
		return err
	}
	binary, _, err := stringField(body, "binary", 1, 255, nil)
	if err != nil {
		return err
	}
	reason, hasReason, err := stringField(body, "disabled_reason", 1, 255, nil)
	if err != nil {
		return err
	}
	forced, hasForced, err := strictBoolField(body, "forced_down")
	if err != nil {
		return err
	}
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	action := r.PathValue("id")
	switch action {
	case "enable", "disable", "disable-log-reason":
	case "force-down":
		if !c.at(11) {
			return notFound("Unknown action")
		}
	default:
		return notFound("Unknown action")
	}
	if action == "disable-log-reason" && !hasReason {
		return badRequest("Missing disabled reason field")
	}
	if action == "force-down" && !hasForced {
		return badRequest("Missing forced_down field")
	}
	if binary != BinaryCompute {
		return badRequest("Updating a %s service is not supported. Only nova-compute services can be updated.", binary)
	}
	ctx := r.Context()
	sv, found, err := loadServiceWhere(ctx, s.db, `host = ? AND service_binary = ?`, host, binary)
	if err != nil {
		return err
	}
	if !found {
		return notFound("Could not find binary %s on host %s.", binary, host)
	}
	out := map[string]any{"host": host, "binary": binary}
	switch action {
	case "enable":
		sv.Disabled, sv.DisabledReason = false, nil
		out["status"] = "enabled"
	case "disable":
		sv.Disabled, sv.DisabledReason = true, nil
		out["status"] = "disabled"
	case "disable-log-reason":
		sv.Disabled, sv.DisabledReason = true, &reason
		out["status"] = "disabled"
		out["disabled_reason"] = reason
	case "force-down":
		if !forced {
			done, err := evacuationsDone(ctx, s.db, host)
			if err != nil {
				return err
			}
			if done {
				return forceUpRefused(host)
			}
		}
		sv.ForcedDown = forced
		out["forced_down"] = forced
	}
	if err := saveServiceState(ctx, s.db, sv); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"service": out})
	return nil
}

// forceUpRefused is Nova's 400 for forcing up a host with "done" evacuations.
func forceUpRefused(host string) error {
	return badRequest("Unable to force up host %s as `done` evacuation migration records remain associated with the host. Ensure the compute service has been restarted, allowing these records to move to `completed` before retrying this request.", host)
}

// updateServiceV253 is PUT /os-services/{service_id} from 2.53.
func (s *Service) updateServiceV253(w http.ResponseWriter, r *http.Request, c *call, body api.Object) error {
	if err := checkBodyKeys(body, nil, "status", "disabled_reason", "forced_down"); err != nil {
		return err
	}
	status, hasStatus, err := stringField(body, "status", 0, 0, nil)
	if err != nil {
		return err
	}
	if hasStatus && status != "enabled" && status != "disabled" {
		return bodyInvalid("status", status, "%s is not one of ['enabled', 'disabled']", pyRepr(status))
	}
	reason, hasReason, err := stringField(body, "disabled_reason", 1, 255, nil)
	if err != nil {
		return err
	}
	forced, hasForced, err := strictBoolField(body, "forced_down")
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if !uuidLike(id) {
		return badRequest("Invalid uuid %s", id)
	}
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	ctx := r.Context()
	sv, found, err := loadServiceWhere(ctx, s.db, `uuid = ?`, id)
	if err != nil {
		return err
	}
	if !found {
		return notFound("Service %s could not be found.", id)
	}
	if sv.Binary != BinaryCompute {
		return badRequest("Updating a %s service is not supported. Only nova-compute services can be updated.", sv.Binary)
	}
	changed := false
	if hasStatus {
		changed = true
		if status == "enabled" {
			if hasReason && reason != "" {
				return badRequest("Specifying 'disabled_reason' with status 'enabled' is invalid.")
			}
			sv.Disabled, sv.DisabledReason = false, nil
		} else {
			sv.Disabled, sv.DisabledReason = true, nil
			if hasReason {
				sv.DisabledReason = &reason
			}
		}
	}
	if hasForced {
		changed = true
		sv.ForcedDown = forced
		if !forced {
			done, err := evacuationsDone(ctx, s.db, sv.Host)
			if err != nil {
				return err
			}
			if done {
				return forceUpRefused(sv.Host)
			}
		}
	}
	if !changed {
		return badRequest("No updates were requested. Fields 'status' or 'forced_down' should be specified.")
	}
	if err := saveServiceState(ctx, s.db, sv); err != nil {
		return err
	}
	zones, err := s.hostZones(ctx, s.db)
	if err != nil {
		return err
	}
	view := s.serviceView(c, sv, zones)
	view["forced_down"] = sv.ForcedDown
	api.WriteJSON(w, http.StatusOK, map[string]any{"service": view})
	return nil
}

// deleteService is DELETE /os-services/{service_id} (an integer id before 2.53, the
// uuid from 2.53).
func (s *Service) deleteService(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.authorize(c, c.rule, policy.Target{}); err != nil {
		return err
	}
	id := r.PathValue("id")
	ctx := r.Context()
	var (
		sv    *computeService
		found bool
		err   error
	)
	if c.at(53) {
		if !uuidLike(id) {
			return badRequest("Invalid uuid %s", id)
		}
		sv, found, err = loadServiceWhere(ctx, s.db, `uuid = ?`, id)
	} else {
		n, ierr := intID(id)
		if ierr != nil {
			return ierr
		}
		sv, found, err = loadServiceWhere(ctx, s.db, `id = ?`, n)
	}
	if err != nil {
		return err
	}
	if !found {
		return notFound("Service %s not found.", id)
	}
	if err := s.deleteServiceRecord(ctx, sv); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
