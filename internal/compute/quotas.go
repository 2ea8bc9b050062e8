package compute

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gostack/gostack/internal/store"
)

// Quota rules (nova/policies/quota_sets.py, quota_class_sets.py, limits.py).
const (
	ruleQuotaShow          = "os_compute_api:os-quota-sets:show"
	ruleQuotaUpdate        = "os_compute_api:os-quota-sets:update"
	ruleQuotaDefaults      = "os_compute_api:os-quota-sets:defaults"
	ruleQuotaDelete        = "os_compute_api:os-quota-sets:delete"
	ruleQuotaDetail        = "os_compute_api:os-quota-sets:detail"
	ruleQuotaClassShow     = "os_compute_api:os-quota-class-sets:show"
	ruleQuotaClassUpdate   = "os_compute_api:os-quota-class-sets:update"
	ruleLimits             = "os_compute_api:limits"
	ruleLimitsOtherProject = "os_compute_api:limits:other_project"
)

// quotaPolicies are Nova's quota and limits defaults.
var quotaPolicies = map[string]string{
	ruleQuotaShow:          ruleReaderOrAdmin,
	ruleQuotaUpdate:        ruleAdmin,
	ruleQuotaDefaults:      ruleAny,
	ruleQuotaDelete:        ruleAdmin,
	ruleQuotaDetail:        ruleReaderOrAdmin,
	ruleQuotaClassShow:     ruleAdmin,
	ruleQuotaClassUpdate:   ruleAdmin,
	ruleLimits:             ruleAny,
	ruleLimitsOtherProject: ruleAdmin,
}

// quotaResources are Nova's quota resources in the order of its QuotaEngine (which is
// the order the API lists them in), with their [quota] defaults. The nova-network ones
// have no option left and show -1.
var quotaResources = []struct {
	name string
	def  int64
}{
	{"cores", 20},
	{"injected_files", 5},
	{"injected_file_content_bytes", 10240},
	{"injected_file_path_bytes", 255},
	{"instances", 10},
	{"key_pairs", 100},
	{"metadata_items", 128},
	{"ram", 51200},
	{"server_groups", 10},
	{"server_group_members", 10},
	{"fixed_ips", -1},
	{"floating_ips", -1},
	{"security_groups", -1},
	{"security_group_rules", -1},
}

// quotaNetworkResources are hidden from 2.36 (2.50 for quota classes); quotaFileResources
// from 2.57.
var (
	quotaNetworkResources = []string{"fixed_ips", "floating_ips", "security_groups", "security_group_rules"}
	quotaFileResources    = []string{"injected_files", "injected_file_content_bytes", "injected_file_path_bytes"}
)

// isQuotaResource reports whether name is one of Nova's quota resources.
func isQuotaResource(name string) bool {
	for _, r := range quotaResources {
		if r.name == name {
			return true
		}
	}
	return false
}

// quotaClassLimits returns a quota class's limits with Nova's defaults for unset
// resources.
func quotaClassLimits(ctx context.Context, q querier, class string) (map[string]int64, error) {
	out := make(map[string]int64, len(quotaResources))
	for _, r := range quotaResources {
		out[r.name] = r.def
	}
	rows, err := q.QueryContext(ctx, `SELECT resource, hard_limit FROM compute_quota_classes WHERE class_name = ?`, class)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var res string
		var lim int64
		if err := rows.Scan(&res, &lim); err != nil {
			return nil, err
		}
		if _, ok := out[res]; ok {
			out[res] = lim
		}
	}
	return out, rows.Err()
}

// storedQuotas returns the limits set for a project (userID "") or for a user in it.
func storedQuotas(ctx context.Context, q querier, projectID, userID string) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT resource, hard_limit FROM compute_quotas WHERE project_id = ? AND user_id = ?`,
		projectID, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var res string
		var lim int64
		if err := rows.Scan(&res, &lim); err != nil {
			return nil, err
		}
		out[res] = lim
	}
	return out, rows.Err()
}

// projectLimits is Nova's get_project_quotas: the project's own limits over the
// default class.
func projectLimits(ctx context.Context, q querier, projectID string) (map[string]int64, error) {
	limits, err := quotaClassLimits(ctx, q, "default")
	if err != nil {
		return nil, err
	}
	set, err := storedQuotas(ctx, q, projectID, "")
	if err != nil {
		return nil, err
	}
	for k, v := range set {
		if _, ok := limits[k]; ok {
			limits[k] = v
		}
	}
	return limits, nil
}

// userLimits is Nova's get_user_quotas: the user's own limits over the project's.
func userLimits(ctx context.Context, q querier, projectID, userID string) (map[string]int64, error) {
	limits, err := projectLimits(ctx, q, projectID)
	if err != nil {
		return nil, err
	}
	set, err := storedQuotas(ctx, q, projectID, userID)
	if err != nil {
		return nil, err
	}
	for k, v := range set {
		if _, ok := limits[k]; ok {
			limits[k] = v
		}
	}
	return limits, nil
}

// quotaUsage counts what a project (or one user in it, when userID is set) uses of the
// countable resources, from the rows themselves: live instances and the vCPUs and RAM of
// their flavor snapshots, server groups, and the user's keypairs. As Nova shows them,
// key_pairs and server_group_members read 0 unless counting for a check.
func quotaUsage(ctx context.Context, q querier, projectID, userID string) (map[string]int64, error) {
	use := map[string]int64{}
	query := `SELECT flavor FROM compute_instances WHERE project_id = ? AND deleted = ?`
	args := []any{projectID, false}
	if userID != "" {
		query += ` AND user_id = ?`
		args = append(args, userID)
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			rows.Close()
			return nil, err
		}
		var f struct {
			VCPUs    int64 `json:"vcpus"`
			MemoryMB int64 `json:"memory_mb"`
		}
		if err := json.Unmarshal([]byte(raw), &f); err != nil {
			rows.Close()
			return nil, fmt.Errorf("instance flavor: %w", err)
		}
		use["instances"]++
		use["cores"] += f.VCPUs
		use["ram"] += f.MemoryMB
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	query = `SELECT COUNT(*) FROM compute_server_groups WHERE project_id = ?`
	args = []any{projectID}
	if userID != "" {
		query += ` AND user_id = ?`
		args = append(args, userID)
	}
	var n int64
	if err := q.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return nil, err
	}
	use["server_groups"] = n
	return use, nil
}

// groupMemberCount counts a server group's live members owned by a user (Nova's
// _server_group_count_members_by_user).
func groupMemberCount(ctx context.Context, q querier, groupUUID, userID string) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM compute_server_group_members m
		JOIN compute_instances i ON i.uuid = m.instance_uuid
		WHERE m.group_uuid = ? AND i.deleted = ? AND i.user_id = ?`, groupUUID, false, userID).Scan(&n)
	return n, err
}

// lockQuota serializes quota checks for a key inside tx. The row update takes a row lock
// on PostgreSQL until the transaction ends; SQLite transactions are IMMEDIATE and so
// already exclusive. Callers lock the project before the user, always in that order.
func lockQuota(ctx context.Context, tx *store.Tx, key string) error {
	name := "quota:" + key
	if _, err := tx.ExecContext(ctx, `INSERT INTO compute_sequences (name, value) VALUES (?, 0)
		ON CONFLICT (name) DO NOTHING`, name); err != nil {
		return fmt.Errorf("quota lock: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE compute_sequences SET value = value + 1 WHERE name = ?`, name); err != nil {
		return fmt.Errorf("quota lock: %w", err)
	}
	return nil
}

// checkQuota refuses (Nova's 403) a change that would take a project, or the user in
// it, over a limit. deltas maps Nova's resource names to the amount being added:
// instances, cores and ram (counted from live instances), key_pairs (the user's),
// server_groups, "server_group_members:<group uuid>" (the user's live members of that
// group; a bare "server_group_members" checks the delta alone), and the absolute ones
// (metadata_items, injected_files, ...) whose delta is the requested amount itself. It
// runs inside the write transaction that adds the resources, after taking the project's
// quota lock, so racing requests cannot overshoot a limit.
func (s *Service) checkQuota(ctx context.Context, tx *store.Tx, projectID, userID string, deltas map[string]int64) error {
	if len(deltas) == 0 {
		return nil
	}
	if err := lockQuota(ctx, tx, projectID); err != nil {
		return err
	}
	if _, ok := deltas["key_pairs"]; ok && userID != "" {
		if err := lockQuota(ctx, tx, "user:"+userID); err != nil {
			return err
		}
	}
	projLimits, err := projectLimits(ctx, tx, projectID)
	if err != nil {
		return err
	}
	usrLimits := projLimits
	if userID != "" {
		if usrLimits, err = userLimits(ctx, tx, projectID, userID); err != nil {
			return err
		}
	}
	var projUse, usrUse map[string]int64
	needCounts := false
	for k := range deltas {
		switch k {
		case "instances", "cores", "ram", "server_groups":
			needCounts = true
		}
	}
	if needCounts {
		if projUse, err = quotaUsage(ctx, tx, projectID, ""); err != nil {
			return err
		}
		usrUse = projUse
		if userID != "" {
			if usrUse, err = quotaUsage(ctx, tx, projectID, userID); err != nil {
				return err
			}
		}
	}
	// Instances, cores and RAM are reported together, as Nova's TooManyInstances.
	var overs []string
	var reqs, useds, alloweds []string
	for _, res := range []string{"instances", "cores", "ram"} {
		d, ok := deltas[res]
		if !ok || d <= 0 {
			continue
		}
		for _, lv := range []struct {
			limit int64
			used  int64
		}{{projLimits[res], projUse[res]}, {usrLimits[res], usrUse[res]}} {
			if lv.limit >= 0 && lv.used+d > lv.limit {
				overs = append(overs, res)
				reqs = append(reqs, fmt.Sprint(d))
				useds = append(useds, fmt.Sprint(lv.used))
				alloweds = append(alloweds, fmt.Sprint(lv.limit))
				break
			}
		}
	}
	if len(overs) > 0 {
		o := strings.Join(overs, ", ")
		return quotaExceeded("%s: Requested %s, but already used %s of %s %s", o,
			strings.Join(reqs, ", "), strings.Join(useds, ", "), strings.Join(alloweds, ", "), o)
	}
	for res, d := range deltas {
		if d <= 0 {
			continue
		}
		switch {
		case res == "instances" || res == "cores" || res == "ram":
		case res == "key_pairs":
			n, err := countKeypairs(ctx, tx, userID)
			if err != nil {
				return err
			}
			if over(usrLimits[res], n, d) || over(projLimits[res], n, d) {
				return forbidden("Quota exceeded, too many key pairs.")
			}
		case res == "server_groups":
			if over(projLimits[res], projUse[res], d) || over(usrLimits[res], usrUse[res], d) {
				return forbidden("Quota exceeded, too many server groups.")
			}
		case res == "server_group_members" || strings.HasPrefix(res, "server_group_members:"):
			var n int64
			if group, ok := strings.CutPrefix(res, "server_group_members:"); ok {
				if n, err = groupMemberCount(ctx, tx, group, userID); err != nil {
					return err
				}
			}
			if over(usrLimits["server_group_members"], n, d) {
				return forbidden("Quota exceeded, too many servers in group")
			}
		case res == "metadata_items":
			if over(usrLimits[res], 0, d) {
				return forbidden("Maximum number of metadata items exceeds %d", usrLimits[res])
			}
		case res == "injected_files":
			if over(usrLimits[res], 0, d) {
				return forbidden("Personality file limit exceeded")
			}
		case res == "injected_file_path_bytes":
			if over(usrLimits[res], 0, d) {
				return forbidden("Personality file path exceeds maximum %d", usrLimits[res])
			}
		case res == "injected_file_content_bytes":
			if over(usrLimits[res], 0, d) {
				return forbidden("Personality file content exceeds maximum %d", usrLimits[res])
			}
		default:
			return fmt.Errorf("check quota: unknown resource %q", res)
		}
	}
	return nil
}

// over reports whether adding d to used passes limit (-1: unlimited).
func over(limit, used, d int64) bool { return limit >= 0 && used+d > limit }
