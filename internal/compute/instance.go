package compute

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gostack/gostack/internal/store"
)

// FlavorSnapshot is the flavor an instance runs, copied into the instance at create (and
// resize) time as Nova embeds it, so that deleting or changing the flavor later does not
// change the server. It is what 2.47+ shows as the server's "flavor".
type FlavorSnapshot struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	VCPUs       int64             `json:"vcpus"`
	MemoryMB    int64             `json:"memory_mb"`
	RootGB      int64             `json:"root_gb"`
	EphemeralGB int64             `json:"ephemeral_gb"`
	Swap        int64             `json:"swap"`
	RxtxFactor  float64           `json:"rxtx_factor"`
	IsPublic    bool              `json:"is_public"`
	Description *string           `json:"description,omitempty"`
	ExtraSpecs  map[string]string `json:"extra_specs"`
}

// RequestSpec is what the scheduler needs to place (or place again) an instance: Nova's
// RequestSpec, kept as JSON on the instance row.
type RequestSpec struct {
	// AvailabilityZone is the requested zone ("" for any); Host and Node a requested
	// host ("zone:host" or 2.74's host/hypervisor_hostname).
	AvailabilityZone string `json:"availability_zone,omitempty"`
	Host             string `json:"host,omitempty"`
	Node             string `json:"node,omitempty"`
	// Group is the server group the instance belongs to (scheduler_hints.group).
	Group string `json:"group,omitempty"`
	// SameHost and DifferentHost are instance uuids from the scheduler hints.
	SameHost      []string `json:"same_host,omitempty"`
	DifferentHost []string `json:"different_host,omitempty"`
	// Hints holds every scheduler hint as given (shown back by 2.100's server show and
	// used by filters gostack may add).
	Hints map[string]any `json:"hints,omitempty"`
	// Networks is the requested networks: "auto", "none" or the list.
	Networks json.RawMessage `json:"networks,omitempty"`
	// SecurityGroups are the requested security group names.
	SecurityGroups []string `json:"security_groups,omitempty"`
	// BlockDeviceMapping is block_device_mapping_v2 as given, validated.
	BlockDeviceMapping json.RawMessage `json:"block_device_mapping_v2,omitempty"`
	// ImageProperties are the image's properties at create time, for the image
	// properties filter.
	ImageProperties map[string]any `json:"image_properties,omitempty"`
	// IgnoreHosts are hosts a retry or a migration must not pick.
	IgnoreHosts []string `json:"ignore_hosts,omitempty"`
}

// Instance is a server as stored.
type Instance struct {
	UUID             string
	ID               int64
	ProjectID        string
	UserID           string
	Name             string
	Description      *string
	Hostname         string
	ImageRef         string
	Flavor           FlavorSnapshot
	OldFlavor        *FlavorSnapshot
	NewFlavor        *FlavorSnapshot
	KeyName          *string
	KeyData          *string
	UserData         *string
	ConfigDrive      string
	AvailabilityZone *string
	Host             *string
	Node             *string
	VMState          string
	TaskState        string // "" when none
	PowerState       int
	LaunchedAt       *time.Time
	TerminatedAt     *time.Time
	Locked           bool
	LockedBy         *string
	LockedReason     *string
	AccessIPv4       string
	AccessIPv6       string
	ReservationID    string
	LaunchIndex      int
	Progress         int
	RootDeviceName   *string
	Request          RequestSpec
	NetworkInfo      json.RawMessage
	SystemMetadata   map[string]string
	TrustedCerts     *string
	Deleted          bool
	DeletedAt        *time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// InstanceName is the name the hypervisor knows the instance by (Nova's
// instance_name_template "instance-%08x"), shown as OS-EXT-SRV-ATTR:instance_name.
func (i *Instance) InstanceName() string { return fmt.Sprintf("instance-%08x", i.ID) }

// Status is the API status of the instance.
func (i *Instance) Status() string {
	if i.Deleted {
		return "DELETED"
	}
	return Status(i.VMState, i.TaskState)
}

// instanceColumns lists the columns scanInstance reads, in order.
const instanceColumns = `uuid, id, project_id, user_id, name, description, hostname, image_ref,
	flavor, old_flavor, new_flavor, key_name, key_data, user_data, config_drive, availability_zone,
	host, node, vm_state, task_state, power_state, launched_at, terminated_at, locked, locked_by,
	locked_reason, access_ip_v4, access_ip_v6, reservation_id, launch_index, progress,
	root_device_name, request, network_info, system_metadata, trusted_certs, deleted, deleted_at,
	created_at, updated_at`

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

// scanInstance reads one instance row selected with instanceColumns.
func scanInstance(row rowScanner) (*Instance, error) {
	var (
		i                                   Instance
		flavor, request, netInfo, sysMeta   string
		oldFlavor, newFlavor, taskState     sql.NullString
		launchedAt, terminatedAt, deletedAt sql.NullString
		createdAt, updatedAt                string
	)
	err := row.Scan(&i.UUID, &i.ID, &i.ProjectID, &i.UserID, &i.Name, &i.Description, &i.Hostname, &i.ImageRef,
		&flavor, &oldFlavor, &newFlavor, &i.KeyName, &i.KeyData, &i.UserData, &i.ConfigDrive, &i.AvailabilityZone,
		&i.Host, &i.Node, &i.VMState, &taskState, &i.PowerState, &launchedAt, &terminatedAt, &i.Locked, &i.LockedBy,
		&i.LockedReason, &i.AccessIPv4, &i.AccessIPv6, &i.ReservationID, &i.LaunchIndex, &i.Progress,
		&i.RootDeviceName, &request, &netInfo, &sysMeta, &i.TrustedCerts, &i.Deleted, &deletedAt,
		&createdAt, &updatedAt)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(flavor), &i.Flavor); err != nil {
		return nil, fmt.Errorf("instance %s flavor: %w", i.UUID, err)
	}
	for _, f := range []struct {
		src sql.NullString
		dst **FlavorSnapshot
	}{{oldFlavor, &i.OldFlavor}, {newFlavor, &i.NewFlavor}} {
		if f.src.Valid && f.src.String != "" {
			var fs FlavorSnapshot
			if err := json.Unmarshal([]byte(f.src.String), &fs); err != nil {
				return nil, fmt.Errorf("instance %s flavor: %w", i.UUID, err)
			}
			*f.dst = &fs
		}
	}
	if err := json.Unmarshal([]byte(request), &i.Request); err != nil {
		return nil, fmt.Errorf("instance %s request spec: %w", i.UUID, err)
	}
	i.NetworkInfo = json.RawMessage(netInfo)
	if err := json.Unmarshal([]byte(sysMeta), &i.SystemMetadata); err != nil {
		return nil, fmt.Errorf("instance %s system metadata: %w", i.UUID, err)
	}
	i.TaskState = taskState.String
	i.LaunchedAt = optTime(launchedAt)
	i.TerminatedAt = optTime(terminatedAt)
	i.DeletedAt = optTime(deletedAt)
	i.CreatedAt = store.ParseTime(createdAt)
	i.UpdatedAt = store.ParseTime(updatedAt)
	return &i, nil
}

// optTime parses a nullable stored time.
func optTime(s sql.NullString) *time.Time {
	if !s.Valid || s.String == "" {
		return nil
	}
	t := store.ParseTime(s.String)
	return &t
}

// optTimeArg is the stored form of a nullable time.
func optTimeArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	return store.FormatTime(*t)
}

// nullIfEmpty stores "" as NULL (task_state).
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// mustJSON encodes v, which is always encodable (maps, snapshots).
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("compute: encode %T: %v", v, err))
	}
	return string(b)
}

// querier is a *store.DB or *store.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// loadInstance reads one instance, deleted or not; found is false when there is no row.
func loadInstance(ctx context.Context, q querier, uuid string) (inst *Instance, found bool, err error) {
	inst, err = scanInstance(q.QueryRowContext(ctx, `SELECT `+instanceColumns+` FROM compute_instances WHERE uuid = ?`, uuid))
	if store.IsNoRows(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return inst, true, nil
}

// insertInstance writes a new instance row.
func insertInstance(ctx context.Context, tx *store.Tx, i *Instance) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO compute_instances (`+instanceColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		instanceArgs(i)...)
	return err
}

// updateInstance writes every column of i back. When expectTask is not nil the write only
// happens if the row's task_state is still one of them (Nova's expected_task_state), and
// ok is false otherwise: an operation that raced with another leaves the row alone.
func updateInstance(ctx context.Context, q querier, i *Instance, expectTask []string) (ok bool, err error) {
	i.UpdatedAt = now()
	args := instanceArgs(i)
	// Drop uuid from the front; it goes in the WHERE clause.
	set := strings.Split(strings.Join(strings.Fields(instanceColumns), " "), ", ")
	var b strings.Builder
	b.WriteString("UPDATE compute_instances SET ")
	for n, col := range set[1:] {
		if n > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strings.TrimSpace(col) + " = ?")
	}
	b.WriteString(" WHERE uuid = ?")
	vals := append(args[1:], i.UUID)
	if expectTask != nil {
		var conds []string
		for _, t := range expectTask {
			if t == "" {
				conds = append(conds, "task_state IS NULL")
			} else {
				conds = append(conds, "task_state = ?")
				vals = append(vals, t)
			}
		}
		b.WriteString(" AND (" + strings.Join(conds, " OR ") + ")")
	}
	res, err := q.ExecContext(ctx, b.String(), vals...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// instanceArgs are i's values in instanceColumns order.
func instanceArgs(i *Instance) []any {
	var oldFlavor, newFlavor any
	if i.OldFlavor != nil {
		oldFlavor = mustJSON(i.OldFlavor)
	}
	if i.NewFlavor != nil {
		newFlavor = mustJSON(i.NewFlavor)
	}
	netInfo := string(i.NetworkInfo)
	if netInfo == "" {
		netInfo = "[]"
	}
	sysMeta := i.SystemMetadata
	if sysMeta == nil {
		sysMeta = map[string]string{}
	}
	updated := ""
	if !i.UpdatedAt.IsZero() {
		updated = store.FormatTime(i.UpdatedAt)
	}
	return []any{i.UUID, i.ID, i.ProjectID, i.UserID, i.Name, i.Description, i.Hostname, i.ImageRef,
		mustJSON(i.Flavor), oldFlavor, newFlavor, i.KeyName, i.KeyData, i.UserData, i.ConfigDrive, i.AvailabilityZone,
		i.Host, i.Node, i.VMState, nullIfEmpty(i.TaskState), i.PowerState, optTimeArg(i.LaunchedAt),
		optTimeArg(i.TerminatedAt), i.Locked, i.LockedBy, i.LockedReason, i.AccessIPv4, i.AccessIPv6,
		i.ReservationID, i.LaunchIndex, i.Progress, i.RootDeviceName, mustJSON(i.Request), netInfo,
		mustJSON(sysMeta), i.TrustedCerts, i.Deleted, optTimeArg(i.DeletedAt),
		store.FormatTime(i.CreatedAt), updated}
}
