package compute

// Nova's instance states (nova/compute/vm_states.py, task_states.py, power_state.py).
// vm_state is the stable state a user expects, task_state the operation in progress
// ("" when none) and power_state what the hypervisor last reported.
const (
	VMActive           = "active"
	VMBuilding         = "building"
	VMPaused           = "paused"
	VMSuspended        = "suspended"
	VMStopped          = "stopped"
	VMRescued          = "rescued"
	VMResized          = "resized"
	VMSoftDeleted      = "soft-delete"
	VMDeleted          = "deleted"
	VMError            = "error"
	VMShelved          = "shelved"
	VMShelvedOffloaded = "shelved_offloaded"
)

// Task states.
const (
	TaskScheduling                 = "scheduling"
	TaskBlockDeviceMapping         = "block_device_mapping"
	TaskNetworking                 = "networking"
	TaskSpawning                   = "spawning"
	TaskImageSnapshot              = "image_snapshot"
	TaskImageSnapshotPending       = "image_snapshot_pending"
	TaskImagePendingUpload         = "image_pending_upload"
	TaskImageUploading             = "image_uploading"
	TaskImageBackup                = "image_backup"
	TaskUpdatingPassword           = "updating_password"
	TaskResizePrep                 = "resize_prep"
	TaskResizeMigrating            = "resize_migrating"
	TaskResizeMigrated             = "resize_migrated"
	TaskResizeFinish               = "resize_finish"
	TaskResizeReverting            = "resize_reverting"
	TaskResizeConfirming           = "resize_confirming"
	TaskRebooting                  = "rebooting"
	TaskRebootPending              = "reboot_pending"
	TaskRebootStarted              = "reboot_started"
	TaskRebootingHard              = "rebooting_hard"
	TaskRebootPendingHard          = "reboot_pending_hard"
	TaskRebootStartedHard          = "reboot_started_hard"
	TaskPausing                    = "pausing"
	TaskUnpausing                  = "unpausing"
	TaskSuspending                 = "suspending"
	TaskResuming                   = "resuming"
	TaskPoweringOff                = "powering-off"
	TaskPoweringOn                 = "powering-on"
	TaskRescuing                   = "rescuing"
	TaskUnrescuing                 = "unrescuing"
	TaskRebuilding                 = "rebuilding"
	TaskRebuildBlockDeviceMapping  = "rebuild_block_device_mapping"
	TaskRebuildSpawning            = "rebuild_spawning"
	TaskMigrating                  = "migrating"
	TaskDeleting                   = "deleting"
	TaskSoftDeleting               = "soft-deleting"
	TaskRestoring                  = "restoring"
	TaskShelving                   = "shelving"
	TaskShelvingImagePendingUpload = "shelving_image_pending_upload"
	TaskShelvingImageUploading     = "shelving_image_uploading"
	TaskShelvingOffloading         = "shelving_offloading"
	TaskUnshelving                 = "unshelving"
)

// Power states (nova/compute/power_state.py); the numbers are what OS-EXT-STS:power_state
// shows.
const (
	PowerNoState   = 0
	PowerRunning   = 1
	PowerPaused    = 3
	PowerShutdown  = 4
	PowerCrashed   = 6
	PowerSuspended = 7
)

// stateMap is Nova's _STATE_MAP (nova/api/openstack/common.py): the API status of a
// vm_state, refined by some task states.
var stateMap = map[string]map[string]string{
	VMActive: {
		"":                            "ACTIVE",
		TaskRebooting:                 "REBOOT",
		TaskRebootPending:             "REBOOT",
		TaskRebootStarted:             "REBOOT",
		TaskRebootingHard:             "HARD_REBOOT",
		TaskRebootPendingHard:         "HARD_REBOOT",
		TaskRebootStartedHard:         "HARD_REBOOT",
		TaskUpdatingPassword:          "PASSWORD",
		TaskRebuilding:                "REBUILD",
		TaskRebuildBlockDeviceMapping: "REBUILD",
		TaskRebuildSpawning:           "REBUILD",
		TaskMigrating:                 "MIGRATING",
		TaskResizePrep:                "RESIZE",
		TaskResizeMigrating:           "RESIZE",
		TaskResizeMigrated:            "RESIZE",
		TaskResizeFinish:              "RESIZE",
	},
	VMBuilding: {"": "BUILD"},
	VMStopped: {
		"":                            "SHUTOFF",
		TaskResizePrep:                "RESIZE",
		TaskResizeMigrating:           "RESIZE",
		TaskResizeMigrated:            "RESIZE",
		TaskResizeFinish:              "RESIZE",
		TaskRebuilding:                "REBUILD",
		TaskRebuildBlockDeviceMapping: "REBUILD",
		TaskRebuildSpawning:           "REBUILD",
	},
	VMResized:   {"": "VERIFY_RESIZE", TaskResizeReverting: "REVERT_RESIZE"},
	VMPaused:    {"": "PAUSED", TaskMigrating: "MIGRATING"},
	VMSuspended: {"": "SUSPENDED"},
	VMRescued:   {"": "RESCUE"},
	VMError: {
		"":                            "ERROR",
		TaskRebuilding:                "REBUILD",
		TaskRebuildBlockDeviceMapping: "REBUILD",
		TaskRebuildSpawning:           "REBUILD",
	},
	VMDeleted:          {"": "DELETED"},
	VMSoftDeleted:      {"": "SOFT_DELETED"},
	VMShelved:          {"": "SHELVED"},
	VMShelvedOffloaded: {"": "SHELVED_OFFLOADED"},
}

// Status returns the API status of an instance, as Nova's status_from_state: the
// task-specific status when there is one, else the vm_state's default, else UNKNOWN.
func Status(vmState, taskState string) string {
	m, ok := stateMap[vmState]
	if !ok {
		return "UNKNOWN"
	}
	if s, ok := m[taskState]; ok {
		return s
	}
	return m[""]
}

// StatesForStatus returns the vm_states (and, for task-specific statuses, the task
// states) an API status filter matches, as Nova's task_and_vm_state_from_status. ok is
// false for a status Nova does not know.
func StatesForStatus(status string) (vmStates, taskStates []string, ok bool) {
	seenVM := map[string]bool{}
	seenTask := map[string]bool{}
	for vm, m := range stateMap {
		for task, s := range m {
			if s != status {
				continue
			}
			ok = true
			if !seenVM[vm] {
				seenVM[vm] = true
				vmStates = append(vmStates, vm)
			}
			if task != "" && !seenTask[task] {
				seenTask[task] = true
				taskStates = append(taskStates, task)
			}
		}
	}
	return vmStates, taskStates, ok
}
