package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// Server actions (POST /servers/{server_id}/action): each checks its policy, Nova's lock
// and state decorators (nova/compute/api.py check_instance_lock, check_instance_host,
// check_instance_state), then sets the task_state Nova's API sets, records the instance
// action and enqueues the task that carries it out, in one transaction.

// stateCheck is check_instance_state: vm nil allows any vm_state; task nil allows any
// task_state (Nova's default is "no task"); launched is must_have_launched.
type stateCheck struct {
	vm       []string
	task     []string
	anyTask  bool
	launched bool
	lock     bool
	host     bool
}

// noTask is the default task_state requirement.
var noTask = []string{""}

// check applies the decorators in Nova's order: lock, host, state.
func (sc stateCheck) check(c *call, inst *Instance, action string) error {
	if sc.lock && inst.Locked && !isAdmin(c) {
		return instanceLocked(inst.UUID)
	}
	if sc.host && (inst.Host == nil || *inst.Host == "") {
		return conflict("Instance %s is not ready", inst.UUID)
	}
	if sc.vm != nil && !slices.Contains(sc.vm, inst.VMState) {
		return invalidState(action, inst.UUID, "vm_state", inst.VMState)
	}
	task := sc.task
	if task == nil && !sc.anyTask {
		task = noTask
	}
	if !sc.anyTask && !slices.Contains(task, inst.TaskState) {
		return invalidState(action, inst.UUID, "task_state", inst.TaskState)
	}
	if sc.launched && inst.LaunchedAt == nil {
		return invalidState(action, inst.UUID, "launched_at", "")
	}
	return nil
}

// serverActionRoutes is the action endpoint; each action names its own rule.
func (s *Service) serverActionRoutes() []route {
	return []route{{method: "POST", path: "/v2.1/servers/{server_id}/action", handle: s.serverAction}}
}

// actionFunc runs one action; body is the value under the action's key.
type actionFunc func(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error

// actionDef is one server action.
type actionDef struct {
	rule           string
	minVer, maxVer int // minor versions, 0: unbounded
	run            actionFunc
}

// actions lists the server actions by body key.
func (s *Service) actions() map[string]actionDef {
	return map[string]actionDef{
		"os-start":            {rule: "os_compute_api:servers:start", run: s.simpleAction("start", TaskStart, ActionStart, TaskPoweringOn, stateCheck{vm: []string{VMStopped}, lock: true, host: true, launched: true})},
		"os-stop":             {rule: "os_compute_api:servers:stop", run: s.simpleAction("stop", TaskStop, ActionStop, TaskPoweringOff, stateCheck{vm: []string{VMActive, VMError}, lock: true, host: true, launched: true})},
		"reboot":              {rule: "os_compute_api:servers:reboot", run: s.actionReboot},
		"pause":               {rule: "os_compute_api:os-pause-server:pause", run: s.simpleAction("pause", TaskPause, ActionPause, TaskPausing, stateCheck{vm: []string{VMActive}, lock: true, launched: true})},
		"unpause":             {rule: "os_compute_api:os-pause-server:unpause", run: s.simpleAction("unpause", TaskUnpause, ActionUnpause, TaskUnpausing, stateCheck{vm: []string{VMPaused}, lock: true, launched: true})},
		"suspend":             {rule: "os_compute_api:os-suspend-server:suspend", run: s.simpleAction("suspend", TaskSuspend, ActionSuspend, TaskSuspending, stateCheck{vm: []string{VMActive}, lock: true, launched: true})},
		"resume":              {rule: "os_compute_api:os-suspend-server:resume", run: s.simpleAction("resume", TaskResume, ActionResume, TaskResuming, stateCheck{vm: []string{VMSuspended}, lock: true, launched: true})},
		"unrescue":            {rule: "os_compute_api:os-unrescue", run: s.simpleAction("unrescue", TaskUnrescue, ActionUnrescue, TaskUnrescuing, stateCheck{vm: []string{VMRescued}, lock: true, launched: true})},
		"shelveOffload":       {rule: "os_compute_api:os-shelve:shelve_offload", run: s.simpleAction("shelveOffload", TaskShelveOffload, ActionShelveOffload, TaskShelvingOffloading, stateCheck{vm: []string{VMShelved}, lock: true, launched: true})},
		"trigger_crash_dump":  {rule: "os_compute_api:servers:trigger_crash_dump", minVer: 17, run: s.actionCrashDump},
		"rescue":              {rule: "os_compute_api:os-rescue", run: s.actionRescue},
		"shelve":              {rule: "os_compute_api:os-shelve:shelve", run: s.actionShelve},
		"unshelve":            {rule: "os_compute_api:os-shelve:unshelve", run: s.actionUnshelve},
		"resize":              {rule: "os_compute_api:servers:resize", run: s.actionResize},
		"confirmResize":       {rule: "os_compute_api:servers:confirm_resize", run: s.actionConfirmResize},
		"revertResize":        {rule: "os_compute_api:servers:revert_resize", run: s.actionRevertResize},
		"migrate":             {rule: "os_compute_api:os-migrate-server:migrate", run: s.actionMigrate},
		"os-migrateLive":      {rule: "os_compute_api:os-migrate-server:migrate_live", run: s.actionLiveMigrate},
		"evacuate":            {rule: "os_compute_api:os-evacuate", run: s.actionEvacuate},
		"rebuild":             {rule: "os_compute_api:servers:rebuild", run: s.actionRebuild},
		"createImage":         {rule: "os_compute_api:servers:create_image", run: s.actionCreateImage},
		"createBackup":        {rule: "os_compute_api:os-create-backup", run: s.actionCreateBackup},
		"lock":                {rule: "os_compute_api:os-lock-server:lock", run: s.actionLock},
		"unlock":              {rule: "os_compute_api:os-lock-server:unlock", run: s.actionUnlock},
		"os-resetState":       {rule: "os_compute_api:os-admin-actions:reset_state", run: s.actionResetState},
		"injectNetworkInfo":   {rule: "os_compute_api:os-admin-actions:inject_network_info", run: s.actionInjectNetworkInfo},
		"changePassword":      {rule: "os_compute_api:os-admin-password", run: s.actionChangePassword},
		"os-getConsoleOutput": {rule: "os_compute_api:os-console-output", run: s.actionConsoleOutput},
		"os-getVNCConsole":    {rule: "os_compute_api:os-remote-consoles", maxVer: 5, run: s.actionLegacyConsole("vnc")},
		"os-getSPICEConsole":  {rule: "os_compute_api:os-remote-consoles", maxVer: 5, run: s.actionLegacyConsole("spice")},
		"os-getSerialConsole": {rule: "os_compute_api:os-remote-consoles", maxVer: 5, run: s.actionLegacyConsole("serial")},
		"os-getRDPConsole":    {rule: "os_compute_api:os-remote-consoles", maxVer: 5, run: s.actionLegacyConsole("rdp")},
		"addSecurityGroup":    {rule: "os_compute_api:os-security-groups:add", run: s.actionSecurityGroup(true)},
		"removeSecurityGroup": {rule: "os_compute_api:os-security-groups:remove", run: s.actionSecurityGroup(false)},
		"addFloatingIp":       {rule: "os_compute_api:os-floating-ips:add", maxVer: 43, run: s.actionAddFloatingIP},
		"removeFloatingIp":    {rule: "os_compute_api:os-floating-ips:remove", maxVer: 43, run: s.actionRemoveFloatingIP},
		"forceDelete":         {rule: "os_compute_api:os-deferred-delete:force", run: s.actionForceDelete},
		"restore":             {rule: "os_compute_api:os-deferred-delete:restore", run: s.actionRestore},
		"addFixedIp":          {rule: "os_compute_api:os-multinic:add", maxVer: 43, run: s.actionAddFixedIP},
		"removeFixedIp":       {rule: "os_compute_api:os-multinic:remove", maxVer: 43, run: s.actionRemoveFixedIP},
	}
}

// serverAction dispatches POST /servers/{server_id}/action on the body's key.
func (s *Service) serverAction(w http.ResponseWriter, r *http.Request, c *call) error {
	top, err := api.DecodeObject(r, "")
	if err != nil {
		return err
	}
	defs := s.actions()
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		d, ok := defs[k]
		if !ok || (d.minVer > 0 && !c.at(d.minVer)) || (d.maxVer > 0 && c.at(d.maxVer+1)) {
			continue
		}
		if len(top) > 1 {
			return onlyKeys(top, "", k)
		}
		c.rule = d.rule
		return d.run(w, r, c, r.PathValue("server_id"), top[k])
	}
	if len(keys) == 0 {
		return badRequest("Malformed request body")
	}
	return notFound("There is no such action: %s", keys[0])
}

// taskHost is the host a task for inst goes to ("" for the conductor).
func taskHost(inst *Instance) string {
	if inst.Host == nil {
		return ""
	}
	return *inst.Host
}

// transition is one state-changing action: in a transaction it loads the server,
// authorizes, checks, lets prepare adjust the instance (and return task params), sets
// task_state, records the action and enqueues the task.
type transition struct {
	action     string // name in 409 messages
	record     string // instance action
	kind       TaskKind
	taskState  string // "" leaves task_state alone
	check      stateCheck
	conductor  bool // the conductor schedules the task (host "")
	noTaskKind bool // synchronous: no task
	prepare    func(ctx context.Context, tx *store.Tx, inst *Instance) (params any, err error)
}

// run executes a transition, returning the updated instance.
func (s *Service) run(r *http.Request, c *call, id string, t transition) (*Instance, error) {
	ctx := r.Context()
	var inst *Instance
	queued := false
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		inst, err = s.getServer(ctx, tx, c, id, c.rule)
		if err != nil {
			return err
		}
		if err := t.check.check(c, inst, t.action); err != nil {
			return err
		}
		prev := inst.TaskState
		var params any
		if t.prepare != nil {
			if params, err = t.prepare(ctx, tx, inst); err != nil {
				return err
			}
		}
		if t.taskState != "" {
			inst.TaskState = t.taskState
		}
		ok, err := updateInstance(ctx, tx, inst, []string{prev})
		if err != nil {
			return err
		}
		if !ok {
			return invalidState(t.action, inst.UUID, "task_state", "changed")
		}
		actionID, err := startAction(ctx, tx, inst.UUID, t.record, api.RequestID(ctx), c.caller.UserID, c.caller.ProjectID)
		if err != nil {
			return err
		}
		if t.noTaskKind {
			return nil
		}
		host := taskHost(inst)
		if t.conductor {
			host = ""
		}
		task := &Task{InstanceUUID: inst.UUID, Kind: t.kind, Host: host, ActionID: actionID, RequestID: api.RequestID(ctx)}
		if params != nil {
			task.Params = json.RawMessage(mustJSON(params))
		}
		if _, err := enqueueTask(ctx, tx, task); err != nil {
			return err
		}
		queued = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	if queued {
		s.wake.notify()
	}
	return inst, nil
}

// simpleAction is an action with no body to speak of and a task.
func (s *Service) simpleAction(action string, kind TaskKind, record, taskState string, sc stateCheck) actionFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
		t := transition{action: action, record: record, kind: kind, taskState: taskState, check: sc}
		if kind == TaskStop {
			t.prepare = func(ctx context.Context, tx *store.Tx, inst *Instance) (any, error) {
				inst.Progress = 0
				return nil, nil
			}
		}
		if _, err := s.run(r, c, id, t); err != nil {
			return err
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
}

// bodyObject reads an action body that must be an object (or, when nullable, null).
func bodyObject(field string, body any, nullable bool) (api.Object, error) {
	if body == nil && nullable {
		return api.Object{}, nil
	}
	m, ok := body.(map[string]any)
	if !ok {
		return nil, invalidInput(field, body, fmt.Sprintf("%s is not of type 'object'", pyReprAny(body)))
	}
	return api.Object(m), nil
}

// actionReboot is reboot (SOFT or HARD).
func (s *Service) actionReboot(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	o, err := bodyObject("reboot", body, false)
	if err != nil {
		return err
	}
	if err := onlyKeys(o, "reboot", "type"); err != nil {
		return err
	}
	typ, ok := o["type"].(string)
	valid := []string{"HARD", "Hard", "hard", "SOFT", "Soft", "soft"}
	if !ok || !slices.Contains(valid, typ) {
		if !o.Has("type") {
			return invalidInput("reboot", map[string]any(o), "'type' is a required property")
		}
		return invalidInput("type", o["type"], fmt.Sprintf("%s is not one of %s", pyReprAny(o["type"]), pyList(valid)))
	}
	hard := typ == "HARD" || typ == "Hard" || typ == "hard"
	t := transition{action: "reboot", record: ActionReboot, kind: TaskReboot}
	params := map[string]string{"type": "SOFT"}
	if hard {
		params["type"] = "HARD"
		t.taskState = TaskRebootingHard
		t.check = stateCheck{vm: []string{VMActive, VMStopped, VMPaused, VMSuspended, VMError}, lock: true, launched: true,
			task: []string{"", TaskRebooting, TaskRebootPending, TaskRebootStarted, TaskResuming, TaskRebootingHard,
				TaskUnpausing, TaskPausing, TaskSuspending}}
	} else {
		t.taskState = TaskRebooting
		t.check = stateCheck{vm: []string{VMActive}, lock: true, launched: true}
	}
	t.prepare = func(context.Context, *store.Tx, *Instance) (any, error) { return params, nil }
	if _, err := s.run(r, c, id, t); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// actionCrashDump is trigger_crash_dump (2.17).
func (s *Service) actionCrashDump(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	if body != nil {
		return invalidInput("trigger_crash_dump", body, fmt.Sprintf("%s is not of type 'null'", pyReprAny(body)))
	}
	_, err := s.run(r, c, id, transition{action: "trigger_crash_dump", record: ActionTriggerCrashDump, kind: TaskCrashDump,
		check: stateCheck{vm: []string{VMActive, VMPaused, VMRescued, VMResized, VMError}, lock: true, host: true, launched: true}})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// actionRescue is rescue: the rescue password is returned.
func (s *Service) actionRescue(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	o, err := bodyObject("rescue", body, true)
	if err != nil {
		return err
	}
	if err := onlyKeys(o, "rescue", "adminPass", "rescue_image_ref"); err != nil {
		return err
	}
	password := ""
	if v, ok := o["adminPass"]; ok {
		if password, err = asString("adminPass", v); err != nil {
			return err
		}
	}
	if password == "" {
		password = generatePassword()
	}
	params := map[string]string{"admin_password": password}
	if v, ok := o["rescue_image_ref"]; ok {
		ref, err := asString("rescue_image_ref", v)
		if err != nil {
			return err
		}
		if !validUUID(ref) {
			return invalidInput("rescue_image_ref", v, fmt.Sprintf("%s is not a 'uuid'", pyReprAny(v)))
		}
		if s.deps.Images == nil {
			return badRequest("Can not find requested image")
		}
		if _, err := s.deps.Images.Image(r.Context(), c.caller, ref); errors.Is(err, ErrImageNotFound) {
			return badRequest("Can not find requested image")
		} else if err != nil {
			return err
		}
		params["rescue_image_ref"] = ref
	}
	_, err = s.run(r, c, id, transition{action: "rescue", record: ActionRescue, kind: TaskRescue, taskState: TaskRescuing,
		check:   stateCheck{vm: []string{VMActive, VMStopped, VMError}, lock: true, launched: true},
		prepare: func(context.Context, *store.Tx, *Instance) (any, error) { return params, nil }})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"adminPass": password})
	return nil
}

// snapshotProps are the properties Nova gives a server snapshot (compute API
// _create_image / _initialize_instance_snapshot_metadata).
func snapshotProps(inst *Instance, c *call, imageType string, extra map[string]string) map[string]any {
	props := map[string]any{}
	for k, v := range inst.SystemMetadata {
		if len(k) > 6 && k[:6] == "image_" {
			switch k[6:] {
			case "min_disk", "min_ram", "disk_format", "container_format", "base_image_ref":
				continue
			}
			props[k[6:]] = v
		}
	}
	props["instance_uuid"] = inst.UUID
	props["user_id"] = c.caller.UserID
	props["image_type"] = imageType
	props["base_image_ref"] = inst.ImageRef
	props["owner_project_name"] = c.caller.ProjectName
	props["owner_user_name"] = c.caller.UserName
	if v, ok := inst.SystemMetadata["image_min_disk"]; ok {
		props["min_disk"] = v
	}
	if v, ok := inst.SystemMetadata["image_min_ram"]; ok {
		props["min_ram"] = v
	}
	for k, v := range extra {
		props[k] = v
	}
	return props
}

// createSnapshotImage registers the image a snapshot, backup or shelve fills.
func (s *Service) createSnapshotImage(ctx context.Context, c *call, inst *Instance, name, imageType string, extra map[string]string) (*ImageInfo, error) {
	if s.deps.Images == nil {
		return nil, conflict("The image service is not available.")
	}
	img, err := s.deps.Images.CreateImage(ctx, c.caller, name, snapshotProps(inst, c, imageType, extra))
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) && ae.Status == http.StatusRequestEntityTooLarge {
			return nil, forbidden("%s", ae.Message)
		}
		return nil, err
	}
	return img, nil
}

// snapshotAction runs createImage, createBackup and shelve: the image is created first,
// then the state is set; a refused state removes the image again.
func (s *Service) snapshotAction(r *http.Request, c *call, id string, name, imageType string, extra map[string]string,
	t transition, params map[string]any) (*ImageInfo, error) {
	ctx := r.Context()
	inst, err := s.getServer(ctx, s.db, c, id, c.rule)
	if err != nil {
		return nil, err
	}
	if err := t.check.check(c, inst, t.action); err != nil {
		return nil, err
	}
	img, err := s.createSnapshotImage(ctx, c, inst, name, imageType, extra)
	if err != nil {
		return nil, err
	}
	if params == nil {
		params = map[string]any{}
	}
	params["image_id"] = img.ID
	t.prepare = func(context.Context, *store.Tx, *Instance) (any, error) { return params, nil }
	if _, err := s.run(r, c, id, t); err != nil {
		_ = s.deps.Images.DeleteImage(context.WithoutCancel(ctx), img.ID)
		return nil, err
	}
	return img, nil
}

// writeImageCreated answers createImage/createBackup: the image id in the body from 2.45,
// in the Location header before.
func (s *Service) writeImageCreated(w http.ResponseWriter, r *http.Request, c *call, img *ImageInfo) {
	if c.at(45) {
		api.WriteJSON(w, http.StatusAccepted, map[string]any{"image_id": img.ID})
		return
	}
	w.Header().Set("Location", api.BaseURL(r)+"/image/v2/images/"+img.ID)
	w.WriteHeader(http.StatusAccepted)
}

// actionCreateImage is createImage.
func (s *Service) actionCreateImage(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	o, err := bodyObject("createImage", body, false)
	if err != nil {
		return err
	}
	if err := onlyKeys(o, "createImage", "name", "metadata"); err != nil {
		return err
	}
	if !o.Has("name") {
		return invalidInput("createImage", map[string]any(o), "'name' is a required property")
	}
	name, err := serverNameField("name", o["name"], false)
	if err != nil {
		return err
	}
	var meta map[string]string
	if v, ok := o["metadata"]; ok {
		if meta, err = validMetadata("metadata", v); err != nil {
			return err
		}
	}
	t := transition{action: "createImage", record: ActionCreateImage, kind: TaskSnapshot, taskState: TaskImageSnapshot,
		check: stateCheck{vm: []string{VMActive, VMStopped, VMPaused, VMSuspended}, launched: true}}
	if img, handled, err := s.snapshotVolumeBacked(r, c, id, name, meta, t.check); handled {
		if err != nil {
			return err
		}
		s.writeImageCreated(w, r, c, img)
		return nil
	}
	img, err := s.snapshotAction(r, c, id, name, "snapshot", meta, t, nil)
	if err != nil {
		return err
	}
	s.writeImageCreated(w, r, c, img)
	return nil
}

// actionCreateBackup is createBackup.
func (s *Service) actionCreateBackup(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	o, err := bodyObject("createBackup", body, false)
	if err != nil {
		return err
	}
	if err := onlyKeys(o, "createBackup", "name", "backup_type", "rotation", "metadata"); err != nil {
		return err
	}
	for _, k := range []string{"name", "backup_type", "rotation"} {
		if !o.Has(k) {
			return invalidInput("createBackup", map[string]any(o), fmt.Sprintf("'%s' is a required property", k))
		}
	}
	name, err := serverNameField("name", o["name"], false)
	if err != nil {
		return err
	}
	btype, err := asString("backup_type", o["backup_type"])
	if err != nil {
		return err
	}
	var rotation int64
	switch x := o["rotation"].(type) {
	case json.Number:
		rotation, err = x.Int64()
	case string:
		rotation, err = strconv.ParseInt(x, 10, 64)
	default:
		err = errors.New("type")
	}
	if err != nil || rotation < 0 {
		return invalidInput("rotation", o["rotation"], "is not a non-negative integer")
	}
	var meta map[string]string
	if v, ok := o["metadata"]; ok {
		if meta, err = validMetadata("metadata", v); err != nil {
			return err
		}
	}
	extra := map[string]string{"backup_type": btype}
	for k, v := range meta {
		extra[k] = v
	}
	t := transition{action: "createBackup", record: ActionBackup, kind: TaskSnapshot, taskState: TaskImageBackup,
		check: stateCheck{vm: []string{VMActive, VMStopped, VMPaused, VMSuspended}, launched: true}}
	img, err := s.snapshotAction(r, c, id, name, "backup", extra, t, map[string]any{"backup_type": btype, "rotation": rotation})
	if err != nil {
		return err
	}
	s.writeImageCreated(w, r, c, img)
	return nil
}

// actionShelve is shelve: the shelved image is created now, filled by the host.
func (s *Service) actionShelve(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	if body != nil {
		if _, ok := body.(map[string]any); !ok {
			return invalidInput("shelve", body, fmt.Sprintf("%s is not of type 'null'", pyReprAny(body)))
		}
	}
	ctx := r.Context()
	inst, err := s.getServer(ctx, s.db, c, id, c.rule)
	if err != nil {
		return err
	}
	t := transition{action: "shelve", record: ActionShelve, kind: TaskShelve, taskState: TaskShelving,
		check: stateCheck{vm: []string{VMActive, VMStopped, VMPaused, VMSuspended}, lock: true, launched: true}}
	if inst.ImageRef == "" {
		if _, err := s.run(r, c, id, t); err != nil {
			return err
		}
	} else if _, err := s.snapshotAction(r, c, id, inst.Name+"-shelved", "snapshot", nil, t, nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// actionUnshelve is unshelve (2.77 availability_zone, 2.91 host).
func (s *Service) actionUnshelve(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	params := map[string]any{}
	if body != nil {
		o, err := bodyObject("unshelve", body, false)
		if err != nil || !c.at(77) {
			return invalidInput("unshelve", body, fmt.Sprintf("%s is not of type 'null'", pyReprAny(body)))
		}
		allowed := []string{"availability_zone"}
		if c.at(91) {
			allowed = append(allowed, "host")
		}
		if err := onlyKeys(o, "unshelve", allowed...); err != nil {
			return err
		}
		if v, ok := o["availability_zone"]; ok {
			if v == nil && c.at(91) {
				params["availability_zone"] = nil
			} else {
				az, err := serverNameField("availability_zone", v, false)
				if err != nil {
					return err
				}
				ok, err := s.zoneAvailable(r.Context(), az)
				if err != nil {
					return err
				}
				if !ok {
					return badRequest("The requested availability zone is not available")
				}
				params["availability_zone"] = az
			}
		}
		if v, ok := o["host"]; ok {
			h, err := validHostname("host", v, true)
			if err != nil {
				return err
			}
			if err := s.authorize(c, "os_compute_api:os-shelve:unshelve_to_host", nil); err != nil {
				return err
			}
			if err := s.checkHostExists(r.Context(), &createRequest{reqHost: h}); err != nil {
				return err
			}
			params["host"] = h
		}
	}
	t := transition{action: "unshelve", record: ActionUnshelve, kind: TaskUnshelve, taskState: TaskUnshelving, conductor: true,
		check: stateCheck{vm: []string{VMShelved, VMShelvedOffloaded}, lock: true, launched: true},
		prepare: func(_ context.Context, _ *store.Tx, inst *Instance) (any, error) {
			if _, ok := params["host"]; ok && inst.VMState != VMShelvedOffloaded {
				return nil, conflict("The unshelve action failed: the instance %s is not shelve offloaded.", inst.UUID)
			}
			return params, nil
		}}
	if _, err := s.run(r, c, id, t); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// newMigration records a migration for a resize, cold or live migration or evacuation.
func newMigration(ctx context.Context, tx *store.Tx, inst *Instance, kind, status, destHost string, newFlavor string) (int64, error) {
	id, err := nextID(ctx, tx, "migrations")
	if err != nil {
		return 0, err
	}
	ts := store.FormatTime(now())
	var dest any
	if destHost != "" {
		dest = destHost
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO compute_migrations (id, uuid, instance_uuid, migration_type, status,
		source_compute, source_node, dest_compute, dest_node, dest_host, old_flavor_id, new_flavor_id, project_id, user_id,
		created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?, ?)`,
		id, api.NewUUID(), inst.UUID, kind, status, inst.Host, inst.Node, dest, inst.Flavor.ID, newFlavor,
		inst.ProjectID, inst.UserID, ts, ts)
	return id, err
}

// actionResize is resize.
func (s *Service) actionResize(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	o, err := bodyObject("resize", body, false)
	if err != nil {
		return err
	}
	if err := onlyKeys(o, "resize", "flavorRef", "OS-DCF:diskConfig"); err != nil {
		return err
	}
	var ref string
	switch fv := o["flavorRef"].(type) {
	case string:
		if fv == "" {
			return invalidInput("flavorRef", fv, "'' is too short")
		}
		ref = idFromHref(fv)
	case json.Number:
		ref = fv.String()
	case nil:
		if !o.Has("flavorRef") {
			return invalidInput("resize", map[string]any(o), "'flavorRef' is a required property")
		}
		return invalidInput("flavorRef", fv, "None is not of type 'string', 'integer'")
	default:
		return invalidInput("flavorRef", fv, fmt.Sprintf("%s is not of type 'string', 'integer'", pyReprAny(fv)))
	}
	dc := ""
	if v, ok := o["OS-DCF:diskConfig"]; ok {
		if dc, err = validDiskConfig(v); err != nil {
			return err
		}
	}
	ctx := r.Context()
	fl, found, err := loadFlavor(ctx, s.db, ref)
	if err != nil {
		return err
	}
	if found {
		ok, err := flavorAccessible(ctx, s.db, fl, c.caller.ProjectID, isAdmin(c))
		if err != nil {
			return err
		}
		found = ok && !fl.Disabled
	}
	if !found {
		return badRequest("Unable to locate requested flavor.")
	}
	t := transition{action: "resize", record: ActionResize, kind: TaskResize, taskState: TaskResizePrep, conductor: true,
		check: stateCheck{vm: []string{VMActive, VMStopped}, lock: true, host: true, launched: true},
		prepare: func(ctx context.Context, tx *store.Tx, inst *Instance) (any, error) {
			if inst.Flavor.ID == fl.FlavorID {
				return nil, badRequest("When resizing, instances must change flavor!")
			}
			if fl.RootGB < inst.Flavor.RootGB && inst.ImageRef != "" {
				return nil, badRequest("Resize error: Unable to resize disk down.")
			}
			if fl.RootGB == 0 && inst.ImageRef != "" && inst.Flavor.RootGB > 0 {
				if err := s.authorize(c, "os_compute_api:servers:create:zero_disk_flavor", instanceTarget(inst)); err != nil {
					return nil, forbidden("Only volume-backed servers are allowed for flavors with zero disk.")
				}
			}
			deltas := map[string]int64{}
			if d := fl.VCPUs - inst.Flavor.VCPUs; d > 0 {
				deltas["cores"] = d
			}
			if d := fl.MemoryMB - inst.Flavor.MemoryMB; d > 0 {
				deltas["ram"] = d
			}
			if len(deltas) > 0 {
				if err := s.checkQuota(ctx, tx, inst.ProjectID, inst.UserID, deltas); err != nil {
					return nil, err
				}
			}
			snap := fl.snapshot()
			inst.NewFlavor = &snap
			inst.Progress = 0
			if dc != "" {
				setDiskConfig(inst, dc)
			}
			mid, err := newMigration(ctx, tx, inst, "resize", "pre-migrating", "", fl.FlavorID)
			if err != nil {
				return nil, err
			}
			return map[string]any{"migration_id": mid, "flavor_id": fl.FlavorID}, nil
		}}
	if _, err := s.run(r, c, id, t); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// resizeMigrationParams is the prepare step of confirmResize and revertResize: it moves
// the resize's migration to status and hands its id to the task.
func resizeMigrationParams(status string) func(context.Context, *store.Tx, *Instance) (any, error) {
	return func(ctx context.Context, tx *store.Tx, inst *Instance) (any, error) {
		mid, err := resizeMigration(ctx, tx, inst, status)
		if err != nil {
			return nil, err
		}
		return map[string]any{"migration_id": mid}, nil
	}
}

// resizeMigration finds the migration a resized instance waits on.
func resizeMigration(ctx context.Context, tx *store.Tx, inst *Instance, newStatus string) (int64, error) {
	var mid int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM compute_migrations WHERE instance_uuid = ? AND status = 'finished'
		ORDER BY id DESC LIMIT 1`, inst.UUID).Scan(&mid)
	if store.IsNoRows(err) {
		return 0, badRequest("Instance has not been resized.")
	}
	if err != nil {
		return 0, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE compute_migrations SET status = ?, updated_at = ? WHERE id = ?`,
		newStatus, store.FormatTime(now()), mid)
	return mid, err
}

// actionConfirmResize is confirmResize (204, no task_state).
func (s *Service) actionConfirmResize(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	t := transition{action: "confirmResize", record: ActionConfirmResize, kind: TaskConfirmResize,
		check:   stateCheck{vm: []string{VMResized}, lock: true, launched: true},
		prepare: resizeMigrationParams("confirming")}
	if _, err := s.run(r, c, id, t); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// actionRevertResize is revertResize.
func (s *Service) actionRevertResize(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	t := transition{action: "revertResize", record: ActionRevertResize, kind: TaskRevertResize, taskState: TaskResizeReverting,
		check:   stateCheck{vm: []string{VMResized}, lock: true, launched: true},
		prepare: resizeMigrationParams("reverting")}
	if _, err := s.run(r, c, id, t); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// actionMigrate is migrate (cold migration; 2.56 host).
func (s *Service) actionMigrate(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	host := ""
	// Nova validates the body only from 2.56 (schema.migrate: an object with an optional
	// host, or null); before that anything is accepted and ignored.
	if body != nil && c.at(56) {
		o, err := bodyObject("migrate", body, false)
		if err != nil {
			return invalidInput("migrate", body, fmt.Sprintf("%s is not of type 'object', 'null'", pyReprAny(body)))
		}
		if err := onlyKeys(o, "migrate", "host"); err != nil {
			return err
		}
		if v, ok := o["host"]; ok && v != nil {
			if host, err = validHostname("host", v, true); err != nil {
				return err
			}
		}
	}
	if host != "" {
		if err := s.authorize(c, "os_compute_api:os-migrate-server:migrate:host", nil); err != nil {
			return err
		}
		if err := s.checkHostExists(r.Context(), &createRequest{reqHost: host}); err != nil {
			return notFound("Compute host %s could not be found.", host)
		}
	}
	t := transition{action: "migrate", record: ActionMigrate, kind: TaskMigrate, taskState: TaskResizePrep, conductor: true,
		check: stateCheck{vm: []string{VMActive, VMStopped}, lock: true, host: true, launched: true},
		prepare: func(ctx context.Context, tx *store.Tx, inst *Instance) (any, error) {
			if host != "" && inst.Host != nil && *inst.Host == host {
				return nil, badRequest("No valid host was found. Cannot migrate to the host the instance is on.")
			}
			snap := inst.Flavor
			inst.NewFlavor = &snap
			mid, err := newMigration(ctx, tx, inst, "migration", "pre-migrating", host, inst.Flavor.ID)
			if err != nil {
				return nil, err
			}
			p := map[string]any{"migration_id": mid}
			if host != "" {
				p["host"] = host
			}
			return p, nil
		}}
	if _, err := s.run(r, c, id, t); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// actionLiveMigrate is os-migrateLive.
func (s *Service) actionLiveMigrate(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	o, err := bodyObject("os-migrateLive", body, false)
	if err != nil {
		return err
	}
	allowed := []string{"host", "block_migration"}
	if !c.at(25) {
		allowed = append(allowed, "disk_over_commit")
	}
	if c.at(30) && !c.at(68) {
		allowed = append(allowed, "force")
	}
	if err := onlyKeys(o, "os-migrateLive", allowed...); err != nil {
		return err
	}
	if !o.Has("host") || (!c.at(25) && !o.Has("block_migration")) {
		return invalidInput("os-migrateLive", map[string]any(o), "'host' and 'block_migration' are required properties")
	}
	host := ""
	if v := o["host"]; v != nil {
		if host, err = validHostname("host", v, true); err != nil {
			return err
		}
	}
	block := any(false)
	if v, ok := o["block_migration"]; ok {
		if s, ok := v.(string); ok && s == "auto" && c.at(25) {
			block = "auto"
		} else if b, err := validBool("block_migration", v); err == nil {
			block = b
		} else {
			return err
		}
	}
	if host != "" {
		if err := s.authorize(c, "os_compute_api:os-migrate-server:migrate_live:host", nil); err != nil {
			return err
		}
		if err := s.checkHostExists(r.Context(), &createRequest{reqHost: host}); err != nil {
			return badRequest("Compute host %s could not be found.", host)
		}
	}
	t := transition{action: "os-migrateLive", record: ActionLiveMigration, kind: TaskLiveMigrate, taskState: TaskMigrating, conductor: true,
		check: stateCheck{vm: []string{VMActive, VMPaused}, lock: true, launched: true},
		prepare: func(ctx context.Context, tx *store.Tx, inst *Instance) (any, error) {
			if host != "" && inst.Host != nil && *inst.Host == host {
				return nil, badRequest("The supplied hypervisor type of is invalid: the target host is the source host.")
			}
			mid, err := newMigration(ctx, tx, inst, "live-migration", "accepted", host, inst.Flavor.ID)
			if err != nil {
				return nil, err
			}
			return map[string]any{"host": host, "block_migration": block, "migration_id": mid}, nil
		}}
	if _, err := s.run(r, c, id, t); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// actionEvacuate is evacuate: only from a host whose compute service is down.
func (s *Service) actionEvacuate(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	o, err := bodyObject("evacuate", body, false)
	if err != nil {
		return err
	}
	allowed := []string{"host", "adminPass"}
	if !c.at(14) {
		allowed = append(allowed, "onSharedStorage")
	}
	if c.at(29) && !c.at(68) {
		allowed = append(allowed, "force")
	}
	if c.at(95) {
		allowed = append(allowed, "targetState")
	}
	if err := onlyKeys(o, "evacuate", allowed...); err != nil {
		return err
	}
	if !c.at(14) && !o.Has("onSharedStorage") {
		return invalidInput("evacuate", map[string]any(o), "'onSharedStorage' is a required property")
	}
	host := ""
	if v, ok := o["host"]; ok && v != nil {
		if host, err = validHostname("host", v, true); err != nil {
			return err
		}
		if err := s.checkHostExists(r.Context(), &createRequest{reqHost: host}); err != nil {
			return notFound("Compute host %s not found.", host)
		}
	}
	password := ""
	if v, ok := o["adminPass"]; ok {
		if password, err = asString("adminPass", v); err != nil {
			return err
		}
	}
	if password == "" {
		password = generatePassword()
	}
	target := ""
	if v, ok := o["targetState"]; ok {
		if err := enumString("targetState", v, "stopped"); err != nil {
			return err
		}
		target = "stopped"
	}
	ctx := r.Context()
	services, err := loadHostServices(ctx, s.db)
	if err != nil {
		return err
	}
	t := transition{action: "evacuate", record: ActionEvacuate, kind: TaskEvacuate, taskState: TaskRebuilding, conductor: true,
		check: stateCheck{vm: []string{VMActive, VMStopped, VMError}, launched: true},
		prepare: func(ctx context.Context, tx *store.Tx, inst *Instance) (any, error) {
			if inst.Host != nil && host == *inst.Host {
				return nil, badRequest("The target host can't be the same one.")
			}
			if st := s.hostStatus(inst, services); st == "UP" || st == "MAINTENANCE" {
				return nil, badRequest("Compute service of %s is still in use.", taskHost(inst))
			}
			mid, err := newMigration(ctx, tx, inst, "evacuation", "accepted", host, inst.Flavor.ID)
			if err != nil {
				return nil, err
			}
			p := map[string]any{"host": host, "admin_password": password, "migration_id": mid}
			if target != "" {
				p["target_state"] = target
			}
			return p, nil
		}}
	if _, err := s.run(r, c, id, t); err != nil {
		return err
	}
	if !c.at(14) {
		api.WriteJSON(w, http.StatusOK, map[string]any{"adminPass": password})
		return nil
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// actionRebuild is rebuild.
func (s *Service) actionRebuild(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	o, err := bodyObject("rebuild", body, false)
	if err != nil {
		return err
	}
	allowed := []string{"name", "imageRef", "adminPass", "metadata", "preserve_ephemeral", "OS-DCF:diskConfig",
		"accessIPv4", "accessIPv6"}
	if !c.at(57) {
		allowed = append(allowed, "personality")
	}
	if c.at(19) {
		allowed = append(allowed, "description")
	}
	if c.at(54) {
		allowed = append(allowed, "key_name")
	}
	if c.at(57) {
		allowed = append(allowed, "user_data")
	}
	if c.at(63) {
		allowed = append(allowed, "trusted_image_certificates")
	}
	if c.at(90) {
		allowed = append(allowed, "hostname")
	}
	if err := onlyKeys(o, "rebuild", allowed...); err != nil {
		return err
	}
	if !o.Has("imageRef") {
		return invalidInput("rebuild", map[string]any(o), "'imageRef' is a required property")
	}
	ref, err := asString("imageRef", o["imageRef"])
	if err != nil {
		return err
	}
	if !validUUID(ref) {
		return invalidInput("imageRef", ref, fmt.Sprintf("%s is not a 'uuid'", pyReprAny(ref)))
	}
	// Validate every field before anything changes.
	var (
		name, accessV4, accessV6, dc, hostname string
		desc                                   *string
		meta                                   map[string]string
		preserve                               bool
		certs                                  []string
	)
	if v, ok := o["name"]; ok {
		if name, err = serverNameField("name", v, false); err != nil {
			return err
		}
	}
	password := ""
	if v, ok := o["adminPass"]; ok {
		if password, err = asString("adminPass", v); err != nil {
			return err
		}
	}
	if password == "" {
		password = generatePassword()
	}
	if v, ok := o["metadata"]; ok {
		if meta, err = validMetadata("metadata", v); err != nil {
			return err
		}
	}
	if v, ok := o["preserve_ephemeral"]; ok {
		if preserve, err = validBool("preserve_ephemeral", v); err != nil {
			return err
		}
	}
	if v, ok := o["OS-DCF:diskConfig"]; ok {
		if dc, err = validDiskConfig(v); err != nil {
			return err
		}
	}
	if v, ok := o["accessIPv4"]; ok {
		if accessV4, err = validIP("accessIPv4", v, 4); err != nil {
			return err
		}
	}
	if v, ok := o["accessIPv6"]; ok {
		if accessV6, err = validIP("accessIPv6", v, 6); err != nil {
			return err
		}
	}
	if v, ok := o["personality"]; ok {
		if err := validPersonality(v); err != nil {
			return err
		}
	}
	if v, ok := o["description"]; ok {
		if desc, err = serverDescriptionField("description", v); err != nil {
			return err
		}
	}
	var keyName *string
	keyGiven := false
	if v, ok := o["key_name"]; ok {
		keyGiven = true
		if v != nil {
			k, err := serverNameField("key_name", v, false)
			if err != nil {
				return err
			}
			keyName = &k
		}
	}
	var userData *string
	udGiven := false
	if v, ok := o["user_data"]; ok {
		udGiven = true
		if v != nil {
			ud, err := asString("user_data", v)
			if err != nil {
				return err
			}
			if len(ud) > 65535 || !validBase64(ud) {
				return invalidInput("user_data", v, fmt.Sprintf("%s is not a 'base64'", pyReprAny(v)))
			}
			userData = &ud
		}
	}
	certsGiven := false
	if v, ok := o["trusted_image_certificates"]; ok {
		certsGiven = true
		if v != nil {
			if certs, err = validTrustedCerts(v); err != nil {
				return err
			}
			if err := s.authorize(c, "os_compute_api:servers:rebuild:trusted_certs", nil); err != nil {
				return err
			}
		}
	}
	if v, ok := o["hostname"]; ok {
		if hostname, err = validHostname("hostname", v, c.at(94)); err != nil {
			return err
		}
	}
	ctx := r.Context()
	if s.deps.Images == nil {
		return badRequest("Cannot find requested image %s.", ref)
	}
	img, err := s.deps.Images.Image(ctx, c.caller, ref)
	if errors.Is(err, ErrImageNotFound) {
		return badRequest("Cannot find requested image %s.", ref)
	}
	if err != nil {
		return err
	}
	if img.Status != "active" {
		return badRequest("Image %s is not active.", img.ID)
	}
	var kp *keypair
	if keyName != nil {
		k, found, err := loadKeypair(ctx, s.db, c.caller.UserID, *keyName)
		if err != nil {
			return err
		}
		if !found {
			return badRequest("Invalid key_name provided.")
		}
		kp = k
	}
	t := transition{action: "rebuild", record: ActionRebuild, kind: TaskRebuild, taskState: TaskRebuilding,
		check: stateCheck{vm: []string{VMActive, VMStopped, VMError}, lock: true, launched: true},
		prepare: func(ctx context.Context, tx *store.Tx, inst *Instance) (any, error) {
			fl := &flavor{FlavorID: inst.Flavor.ID, MemoryMB: inst.Flavor.MemoryMB, RootGB: inst.Flavor.RootGB}
			if err := checkFlavorImage(fl, img); err != nil {
				return nil, err
			}
			if meta != nil {
				if err := s.checkQuota(ctx, tx, inst.ProjectID, inst.UserID,
					map[string]int64{"metadata_items": int64(len(meta))}); err != nil {
					return nil, err
				}
				if _, err := tx.ExecContext(ctx, `DELETE FROM compute_instance_metadata WHERE instance_uuid = ?`, inst.UUID); err != nil {
					return nil, err
				}
				for k, v := range meta {
					if _, err := tx.ExecContext(ctx, `INSERT INTO compute_instance_metadata (instance_uuid, key, value)
						VALUES (?, ?, ?)`, inst.UUID, k, v); err != nil {
						return nil, err
					}
				}
			}
			if name != "" {
				inst.Name = name
			}
			if o.Has("description") {
				inst.Description = desc
			}
			if accessV4 != "" {
				inst.AccessIPv4 = accessV4
			}
			if accessV6 != "" {
				inst.AccessIPv6 = accessV6
			}
			if dc != "" {
				setDiskConfig(inst, dc)
			}
			if keyGiven {
				inst.KeyName = keyName
				inst.KeyData = nil
				if kp != nil {
					inst.KeyData = &kp.PublicKey
				}
			}
			if udGiven {
				inst.UserData = userData
			}
			if certsGiven {
				inst.TrustedCerts = nil
				if len(certs) > 0 {
					tc := mustJSON(certs)
					inst.TrustedCerts = &tc
				}
			}
			if hostname != "" {
				inst.Hostname = hostname
			}
			// The image properties of the new image replace the old ones.
			for k := range inst.SystemMetadata {
				if len(k) > 6 && k[:6] == "image_" {
					delete(inst.SystemMetadata, k)
				}
			}
			for k, v := range img.Properties {
				inst.SystemMetadata["image_"+k] = fmt.Sprint(v)
			}
			inst.SystemMetadata["image_min_disk"] = fmt.Sprint(max(img.MinDisk, inst.Flavor.RootGB))
			inst.SystemMetadata["image_min_ram"] = fmt.Sprint(img.MinRAM)
			inst.SystemMetadata["image_disk_format"] = img.DiskFormat
			inst.SystemMetadata["image_container_format"] = img.ContainerFormat
			inst.SystemMetadata["image_base_image_ref"] = img.ID
			inst.Request.ImageProperties = img.Properties
			inst.ImageRef = img.ID
			inst.Progress = 0
			return map[string]any{"image_ref": img.ID, "preserve_ephemeral": preserve, "admin_password": password}, nil
		}}
	inst, err := s.run(r, c, id, t)
	if err != nil {
		return err
	}
	o2 := s.viewOptions(c, inst.ProjectID, true)
	ex, err := s.loadExtras(ctx, s.db, []*Instance{inst}, o2.groups, o2.hostStatus > 0)
	if err != nil {
		return err
	}
	if err := s.withPortSecurityGroups(ctx, c, []*Instance{inst}, ex); err != nil {
		return err
	}
	if !c.at(75) {
		o2.extendedAttr, o2.hostStatus = false, 0
	}
	view := s.detailView(r, c, inst, ex, o2)
	if !c.at(75) {
		stripExtensions(inst, view, c.at(54))
	}
	delete(view, "OS-EXT-SRV-ATTR:user_data")
	view["adminPass"] = password
	if c.at(57) {
		view["user_data"] = inst.UserData
	}
	w.Header().Set("Location", api.BaseURL(r)+s.cfg.Prefix+"/v2.1/servers/"+inst.UUID)
	api.WriteJSON(w, http.StatusAccepted, map[string]any{"server": view})
	return nil
}

// actionLock is lock (2.73 locked_reason); synchronous.
func (s *Service) actionLock(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	var reason *string
	if body != nil {
		o, err := bodyObject("lock", body, false)
		if err != nil {
			return err
		}
		allowed := []string{}
		if c.at(73) {
			allowed = append(allowed, "locked_reason")
		}
		if err := onlyKeys(o, "lock", allowed...); err != nil {
			return err
		}
		if v, ok := o["locked_reason"]; ok {
			s, err := asString("locked_reason", v)
			if err != nil {
				return err
			}
			if len([]rune(s)) > 255 {
				return invalidInput("locked_reason", v, "is too long")
			}
			reason = &s
		}
	}
	by := "owner"
	if isAdmin(c) {
		by = "admin"
	}
	_, err := s.run(r, c, id, transition{action: "lock", record: ActionLock, noTaskKind: true, check: stateCheck{anyTask: true},
		prepare: func(_ context.Context, _ *store.Tx, inst *Instance) (any, error) {
			if inst.Locked {
				return nil, nil
			}
			inst.Locked, inst.LockedBy, inst.LockedReason = true, &by, reason
			return nil, nil
		}})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// actionUnlock is unlock: a lock taken by an admin needs unlock_override to lift.
func (s *Service) actionUnlock(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	_, err := s.run(r, c, id, transition{action: "unlock", record: ActionUnlock, noTaskKind: true, check: stateCheck{anyTask: true},
		prepare: func(_ context.Context, _ *store.Tx, inst *Instance) (any, error) {
			if inst.Locked && inst.LockedBy != nil && *inst.LockedBy == "admin" && !isAdmin(c) {
				if err := s.authorize(c, "os_compute_api:os-lock-server:unlock:unlock_override", instanceTarget(inst)); err != nil {
					return nil, err
				}
			}
			inst.Locked, inst.LockedBy, inst.LockedReason = false, nil, nil
			return nil, nil
		}})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// actionResetState is os-resetState (admin): vm_state active or error, no task.
func (s *Service) actionResetState(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	o, err := bodyObject("os-resetState", body, false)
	if err != nil {
		return err
	}
	if err := onlyKeys(o, "os-resetState", "state"); err != nil {
		return err
	}
	if !o.Has("state") {
		return invalidInput("os-resetState", map[string]any(o), "'state' is a required property")
	}
	if err := enumString("state", o["state"], "active", "error"); err != nil {
		return err
	}
	state := o["state"].(string)
	_, err = s.run(r, c, id, transition{action: "os-resetState", record: ActionResetState, noTaskKind: true,
		check: stateCheck{anyTask: true},
		prepare: func(_ context.Context, _ *store.Tx, inst *Instance) (any, error) {
			inst.VMState, inst.TaskState = state, ""
			return nil, nil
		}})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// actionInjectNetworkInfo is injectNetworkInfo (admin): nothing to inject until
// networking exists, so it only checks the server.
func (s *Service) actionInjectNetworkInfo(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	inst, err := s.getServer(r.Context(), s.db, c, id, c.rule)
	if err != nil {
		return err
	}
	if inst.Locked && !isAdmin(c) {
		return instanceLocked(inst.UUID)
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// actionChangePassword is changePassword: no gostack driver can set a guest's password,
// which Nova reports as 501 once the state checks pass.
func (s *Service) actionChangePassword(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	o, err := bodyObject("changePassword", body, false)
	if err != nil {
		return err
	}
	if err := onlyKeys(o, "changePassword", "adminPass"); err != nil {
		return err
	}
	if !o.Has("adminPass") {
		return invalidInput("changePassword", map[string]any(o), "'adminPass' is a required property")
	}
	if _, err := asString("adminPass", o["adminPass"]); err != nil {
		return err
	}
	inst, err := s.getServer(r.Context(), s.db, c, id, c.rule)
	if err != nil {
		return err
	}
	if err := (stateCheck{vm: []string{VMActive}, lock: true, launched: true}).check(c, inst, "changePassword"); err != nil {
		return err
	}
	return api.Errorf(http.StatusNotImplemented, "Unable to set password on instance")
}

// actionConsoleOutput is os-getConsoleOutput, read from the host's driver.
func (s *Service) actionConsoleOutput(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	o, err := bodyObject("os-getConsoleOutput", body, false)
	if err != nil {
		return err
	}
	if err := onlyKeys(o, "os-getConsoleOutput", "length"); err != nil {
		return err
	}
	length := -1
	if v, ok := o["length"]; ok && v != nil {
		var n int64
		switch x := v.(type) {
		case json.Number:
			n, err = x.Int64()
		case string:
			n, err = strconv.ParseInt(x, 10, 64)
		default:
			err = errors.New("type")
		}
		if err != nil || n < -1 {
			return invalidInput("length", v, fmt.Sprintf("%s is not a valid length", pyReprAny(v)))
		}
		length = int(n)
	}
	inst, err := s.getServer(r.Context(), s.db, c, id, c.rule)
	if err != nil {
		return err
	}
	if inst.Host == nil || *inst.Host == "" {
		return conflict("Instance %s is not ready", inst.UUID)
	}
	d, ok := s.hostDriver(*inst.Host)
	if !ok {
		return conflict("Instance %s is not ready", inst.UUID)
	}
	if length == -1 {
		length = 0
	}
	out, err := d.ConsoleOutput(r.Context(), driverInstance(inst), length)
	if err != nil {
		return notFound("Guest does not have a console available.")
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"output": out})
	return nil
}

// actionForceDelete is forceDelete: with soft delete off it deletes as DELETE does.
func (s *Service) actionForceDelete(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	if err := s.requestDelete(r, c, id, c.rule); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// actionRestore is restore: only soft-deleted servers, which gostack (like Nova with
// reclaim_instance_interval = 0) never has.
func (s *Service) actionRestore(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	inst, err := s.getServer(r.Context(), s.db, c, id, c.rule)
	if err != nil {
		return err
	}
	if err := (stateCheck{vm: []string{VMSoftDeleted}, lock: true, launched: true}).check(c, inst, "restore"); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// actionAddFixedIP is addFixedIp (before 2.44): no network can be found yet.
func (s *Service) actionAddFixedIP(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	o, err := bodyObject("addFixedIp", body, false)
	if err != nil {
		return err
	}
	if err := onlyKeys(o, "addFixedIp", "networkId"); err != nil {
		return err
	}
	if _, err := s.getServer(r.Context(), s.db, c, id, c.rule); err != nil {
		return err
	}
	return badRequest("Network %v could not be found.", o["networkId"])
}

// actionRemoveFixedIP is removeFixedIp (before 2.44).
func (s *Service) actionRemoveFixedIP(w http.ResponseWriter, r *http.Request, c *call, id string, body any) error {
	o, err := bodyObject("removeFixedIp", body, false)
	if err != nil {
		return err
	}
	if err := onlyKeys(o, "removeFixedIp", "address"); err != nil {
		return err
	}
	if _, err := s.getServer(r.Context(), s.db, c, id, c.rule); err != nil {
		return err
	}
	return badRequest("Unable to find address %v", o["address"])
}

// stripExtensions removes from a detailed view what Nova leaves out of its update and
// rebuild answers before 2.75 (the show() call with every show_* flag off).
// keepKeyName is rebuild's show_keypair (2.54+); update never shows it.
func stripExtensions(inst *Instance, view map[string]any, keepKeyName bool) {
	for _, k := range []string{"OS-EXT-AZ:availability_zone", "config_drive", "OS-SRV-USG:launched_at",
		"OS-SRV-USG:terminated_at", "security_groups", "OS-EXT-STS:task_state", "OS-EXT-STS:vm_state",
		"OS-EXT-STS:power_state", "os-extended-volumes:volumes_attached", "server_groups", "host_status"} {
		delete(view, k)
	}
	view["addresses"] = addresses(inst, false)
	if !keepKeyName {
		delete(view, "key_name")
	}
}
