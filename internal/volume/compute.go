package volume

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gostack/gostack/internal/api"
)

// This file is the volume service's side of Nova, as Cinder's cinder/compute/nova.py:
// the compute service is called in process through its HTTP API, with the external
// events Nova takes from Cinder. The one Cinder sends is volume-extended (compute
// 2.51), after an in-use volume was extended: the hypervisor then grows the device the
// guest sees.

// computeEventsVersion is the compute microversion of volume-extended.
const computeEventsVersion = "compute 2.51"

// SetComputeAPI gives the volume service the compute service's HTTP handler and its
// mount prefix ("/compute"). Without it, an in-use volume is extended by the backend
// alone, as an available one.
func (s *Service) SetComputeAPI(h http.Handler, prefix string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.computeAPI, s.computePrefix = h, prefix
}

// compute returns the compute API (nil when not wired) and its prefix.
func (s *Service) compute() (http.Handler, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.computeAPI, s.computePrefix
}

// computeCaller is who the volume service is to compute: a service user with the
// admin role (Cinder's [nova] credentials), acting for the volume's owner.
func computeCaller(v *volumeRec) *api.Caller {
	return &api.Caller{UserID: v.UserID, ProjectID: v.ProjectID, Roles: []string{"admin", "service", "member", "reader"}}
}

// eventResult is one event of compute's answer.
type eventResult struct {
	ServerUUID string `json:"server_uuid"`
	Status     string `json:"status"`
	Code       int    `json:"code"`
}

// notifyExtended sends volume-extended for v to every server it is attached to, so
// that each running guest's hypervisor grows its device (QEMU grows a file volume
// itself, since it holds the file's lock). Servers that did not take the event (gone,
// without a host, or whose host could not act) are logged: the backend grows the
// volume then, which fails if a running guest still holds it. A refusal or a failure
// of compute itself is an error.
func (s *Service) notifyExtended(ctx context.Context, v *volumeRec) error {
	h, prefix := s.compute()
	if h == nil {
		return nil
	}
	all, err := loadAttachmentsMany(ctx, s.db, []string{v.ID})
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var events []map[string]any
	for _, a := range all[v.ID] {
		if a.InstanceUUID == nil || a.AttachStatus != attachAttached || !isUUID(*a.InstanceUUID) || seen[*a.InstanceUUID] {
			continue
		}
		seen[*a.InstanceUUID] = true
		events = append(events, map[string]any{"name": "volume-extended", "server_uuid": *a.InstanceUUID, "tag": v.ID})
	}
	if len(events) == 0 {
		return nil
	}
	var out struct {
		Events []eventResult `json:"events"`
	}
	_, err = api.Call(ctx, h, computeCaller(v), api.CallRequest{Method: "POST", Path: prefix + "/v2.1/os-server-external-events",
		Body: map[string]any{"events": events}, Header: http.Header{"Openstack-Api-Version": []string{computeEventsVersion}}}, &out)
	if err != nil {
		return fmt.Errorf("send volume-extended to compute: %w", err)
	}
	for _, e := range out.Events {
		switch e.Code {
		case http.StatusOK:
		case http.StatusNotFound, http.StatusUnprocessableEntity:
			s.log.Info("volume-extended not delivered", "volume", v.ID, "server", e.ServerUUID, "code", e.Code)
		default:
			return fmt.Errorf("compute refused volume-extended for server %s (%d)", e.ServerUUID, e.Code)
		}
	}
	return nil
}
