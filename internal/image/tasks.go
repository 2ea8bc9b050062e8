package image

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// The legacy tasks API (glance/api/v2/tasks.py), deprecated in Glance and limited to
// admins (tasks_api_access). Its one task type, import, has the cloud fetch an image from
// a URL; a cloud without internet access accepts the task and fails it at once, saying
// why, as Glance fails a task whose download fails. The import tasks the interoperable
// import creates are listed here too.

// taskRoutes are the tasks API routes.
func (s *Service) taskRoutes() []route {
	return []route{
		{method: "GET", path: "/v2/tasks", rule: "tasks_api_access", handle: s.listTasks},
		{method: "POST", path: "/v2/tasks", rule: "tasks_api_access", handle: s.createTask},
		{method: "GET", path: "/v2/tasks/{task_id}", rule: "tasks_api_access", handle: s.showTask},
		{method: "DELETE", path: "/v2/tasks/{task_id}", rule: "tasks_api_access", handle: s.deleteTask},
		{method: "GET", path: "/v2/schemas/task", handle: func(w http.ResponseWriter, r *http.Request, c *call) error {
			api.WriteJSON(w, http.StatusOK, map[string]any{"name": "task", "properties": taskSchemaProperties(true)})
			return nil
		}},
		{method: "GET", path: "/v2/schemas/tasks", handle: func(w http.ResponseWriter, r *http.Request, c *call) error {
			api.WriteJSON(w, http.StatusOK, map[string]any{
				"name": "tasks",
				"properties": map[string]any{
					"tasks":  map[string]any{"type": "array", "items": map[string]any{"name": "task", "properties": taskSchemaProperties(false)}},
					"schema": map[string]any{"type": "string"},
				},
				"links": []map[string]string{{"rel": "describedby", "href": "{schema}"}},
			})
			return nil
		}},
	}
}

// taskSchemaProperties is tasks._TASK_SCHEMA; the partial schema of list entries lacks
// input, result and message.
func taskSchemaProperties(full bool) map[string]any {
	p := map[string]any{
		"id":         map[string]any{"description": "An identifier for the task", "pattern": uuidPattern, "type": "string"},
		"type":       map[string]any{"description": "The type of task represented by this content", "enum": []string{"import", "api_image_import", "location_import"}, "type": "string"},
		"status":     map[string]any{"description": "The current status of this task", "enum": []string{"pending", "processing", "success", "failure"}, "type": "string"},
		"owner":      map[string]any{"description": "An identifier for the owner of this task", "type": "string"},
		"image_id":   map[string]any{"description": "Image associated with the task", "type": "string"},
		"request_id": map[string]any{"description": "Human-readable informative request-id", "type": "string"},
		"user_id":    map[string]any{"description": "User associated with the task", "type": "string"},
		"expires_at": map[string]any{"description": "Datetime when this resource would be subject to removal", "type": []string{"null", "string"}},
		"created_at": map[string]any{"description": "Datetime when this resource was created", "type": "string"},
		"updated_at": map[string]any{"description": "Datetime when this resource was updated", "type": "string"},
		"self":       map[string]any{"readOnly": true, "type": "string"},
		"schema":     map[string]any{"readOnly": true, "type": "string"},
	}
	if full {
		p["input"] = map[string]any{"description": "The parameters required by task, JSON blob", "type": []string{"null", "object"}}
		p["result"] = map[string]any{"description": "The result of current task, JSON blob", "type": []string{"null", "object"}}
		p["message"] = map[string]any{"description": "Human-readable informative message only included when appropriate (usually on failure)", "type": "string"}
	}
	return p
}

// task is one image_tasks row.
type task struct {
	ID, Type, Status, Message         string
	ImageID, Owner, UserID, RequestID *string
	Input, Result                     any
	ExpiresAt, CreatedAt, UpdatedAt   time.Time
	hasExpiry                         bool
}

const taskColumns = `id, type, status, message, image_id, owner, user_id, request_id, input, result, expires_at, created_at, updated_at`

// scanTask reads a row selected with taskColumns.
func scanTask(row interface{ Scan(...any) error }) (*task, error) {
	var t task
	var input string
	var result, expires *string
	var created, updated string
	if err := row.Scan(&t.ID, &t.Type, &t.Status, &t.Message, &t.ImageID, &t.Owner, &t.UserID, &t.RequestID,
		&input, &result, &expires, &created, &updated); err != nil {
		return nil, err
	}
	_ = json.Unmarshal([]byte(input), &t.Input)
	if result != nil {
		_ = json.Unmarshal([]byte(*result), &t.Result)
	}
	if expires != nil && *expires != "" {
		t.ExpiresAt, t.hasExpiry = store.ParseTime(*expires), true
	}
	t.CreatedAt, t.UpdatedAt = store.ParseTime(created), store.ParseTime(updated)
	return &t, nil
}

// view renders a task (full) or a list entry (stub) as the tasks API does.
func (t *task) view(full bool) map[string]any {
	v := map[string]any{
		"id": t.ID, "type": t.Type, "status": t.Status, "owner": str(t.Owner),
		"created_at": isoTime(t.CreatedAt), "updated_at": isoTime(t.UpdatedAt),
		"self": "/v2/tasks/" + t.ID, "schema": "/v2/schemas/task",
	}
	if t.hasExpiry {
		v["expires_at"] = isoTime(t.ExpiresAt)
	}
	if full {
		v["input"], v["result"], v["message"] = t.Input, t.Result, t.Message
		if t.ImageID != nil {
			v["image_id"] = *t.ImageID
		}
		if str(t.RequestID) != "" {
			v["request_id"] = *t.RequestID
		}
		if str(t.UserID) != "" {
			v["user_id"] = *t.UserID
		}
	}
	return v
}

// listTasks is GET /v2/tasks.
func (s *Service) listTasks(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := c.enforce(c.rule, c.projectTarget()); err != nil {
		return err
	}
	pairs, err := orderedQuery(r.URL.RawQuery)
	if err != nil {
		return errorf(http.StatusBadRequest, "The query string could not be parsed.")
	}
	q := map[string]string{}
	var params []queryParam
	for _, p := range pairs {
		if _, seen := q[p.key]; !seen {
			params = append(params, p)
		}
		q[p.key] = p.value
	}
	for i := range params {
		params[i].value = q[params[i].key]
	}
	sortKey, sortDir := "created_at", "desc"
	if v, ok := q["sort_key"]; ok {
		sortKey = v
	}
	if v, ok := q["sort_dir"]; ok {
		if v != "asc" && v != "desc" {
			return errorf(http.StatusBadRequest, "Invalid sort direction: %s", v)
		}
		sortDir = v
	}
	col, ok := map[string]string{"created_at": "created_at", "updated_at": "updated_at", "id": "id", "type": "type",
		"status": "status", "expires_at": "COALESCE(expires_at, '')", "owner": "COALESCE(owner, '')"}[sortKey]
	if !ok {
		return errorf(http.StatusBadRequest, "Sort key supplied was not valid.")
	}
	limit := s.cfg.ListLimitDefault
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return errorf(http.StatusBadRequest, "limit param must be an integer")
		}
		if n < 0 {
			return errorf(http.StatusBadRequest, "limit param must be positive")
		}
		limit = n
	}
	limit = min(limit, s.cfg.ListLimitMax)
	conds, args := []string{"1 = 1"}, []any{}
	if v := q["status"]; v != "" {
		if !contains([]string{"pending", "processing", "success", "failure"}, v) {
			return errorf(http.StatusBadRequest, "Invalid status value: %s", v)
		}
		conds, args = append(conds, "status = ?"), append(args, v)
	}
	if v := q["type"]; v != "" {
		if v != "import" {
			return errorf(http.StatusBadRequest, "Invalid type value: %s", v)
		}
		conds, args = append(conds, "type = ?"), append(args, v)
	}
	if m, ok := q["marker"]; ok && m != "" {
		if !uuidRE.MatchString(m) {
			return errorf(http.StatusBadRequest, "Invalid marker format")
		}
		var mv string
		err := s.db.QueryRowContext(r.Context(), `SELECT `+col+` FROM image_tasks WHERE id = ?`, m).Scan(&mv)
		if store.IsNoRows(err) {
			return errorf(http.StatusBadRequest, "Task with identifier %s not found", m)
		}
		if err != nil {
			return fmt.Errorf("load task marker: %w", err)
		}
		op := "<"
		if sortDir == "asc" {
			op = ">"
		}
		conds = append(conds, "("+col+" "+op+" ? OR ("+col+" = ? AND id "+op+" ?))")
		args = append(args, mv, mv, m)
	}
	dir := strings.ToUpper(sortDir)
	rows, err := s.db.QueryContext(r.Context(), `SELECT `+taskColumns+` FROM image_tasks WHERE `+strings.Join(conds, " AND ")+
		` ORDER BY `+col+` `+dir+`, id `+dir+` LIMIT ?`, append(args, limit)...)
	if err != nil {
		return fmt.Errorf("list tasks: %w", err)
	}
	defer rows.Close()
	views := []map[string]any{}
	var last string
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return err
		}
		views = append(views, t.view(false))
		last = t.ID
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var rest []queryParam
	for _, p := range params {
		if p.key != "marker" {
			rest = append(rest, p)
		}
	}
	out := map[string]any{"tasks": views, "first": "/v2/tasks", "schema": "/v2/schemas/tasks"}
	if len(rest) > 0 {
		out["first"] = "/v2/tasks?" + encodeParams(rest)
	}
	if len(views) > 0 && len(views) == limit {
		out["next"] = "/v2/tasks?" + encodeParams(append(rest, queryParam{"marker", last}))
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// showTask is GET /v2/tasks/{task_id}.
func (s *Service) showTask(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := c.enforce(c.rule, c.projectTarget()); err != nil {
		return err
	}
	id := r.PathValue("task_id")
	t, err := scanTask(s.db.QueryRowContext(r.Context(), `SELECT `+taskColumns+` FROM image_tasks WHERE id = ?`, id))
	if store.IsNoRows(err) {
		return api.NotFound("Task with identifier %s not found", id)
	}
	if err != nil {
		return fmt.Errorf("load task: %w", err)
	}
	api.WriteJSON(w, http.StatusOK, t.view(true))
	return nil
}

// deleteTask is DELETE /v2/tasks/{task_id}, which Glance refuses.
func (s *Service) deleteTask(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := c.enforce(c.rule, c.projectTarget()); err != nil {
		return err
	}
	e := detailErr(http.StatusMethodNotAllowed, "This operation is currently not permitted on Glance Tasks. "+
		"They are auto deleted after reaching the time based on their expires_at property.")
	e.Header = http.Header{"Allow": {"GET"}}
	return e
}

// createTask is POST /v2/tasks.
func (s *Service) createTask(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := c.enforce(c.rule, c.projectTarget()); err != nil {
		return err
	}
	body, err := readJSON(r)
	if err != nil {
		return err
	}
	doc, ok := body.(map[string]any)
	if !ok {
		return schemaError("task", fmt.Sprintf("%s is not of type 'object'", pyRepr(body)))
	}
	for _, k := range []string{"type", "input"} {
		if _, ok := doc[k]; !ok {
			return errorf(http.StatusBadRequest, "Task '%s' is required", k)
		}
	}
	typ, _ := doc["type"].(string)
	if !contains([]string{"import", "api_image_import", "location_import"}, typ) {
		return schemaError("task", fmt.Sprintf("%s is not one of ['import', 'api_image_import', 'location_import']", pyRepr(doc["type"])))
	}
	input, ok := doc["input"].(map[string]any)
	if doc["input"] != nil && !ok {
		return schemaError("task", fmt.Sprintf("%s is not of type 'null', 'object'", pyRepr(doc["input"])))
	}
	if typ != "import" {
		return errorf(http.StatusBadRequest, "Task type %s is not supported", typ)
	}
	from, _ := input["import_from"].(string)
	if from == "" {
		return errorf(http.StatusBadRequest, "Invalid location")
	}
	t := now()
	tk := &task{ID: api.NewUUID(), Type: typ, Status: "pending", Owner: ptr(c.project()), UserID: ptr(c.caller.UserID),
		RequestID: ptr(api.RequestID(r.Context())), Input: input, CreatedAt: t, UpdatedAt: t}
	if _, err := s.db.ExecContext(r.Context(), `INSERT INTO image_tasks (id, type, status, owner, user_id, request_id, input,
		message, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, tk.ID, tk.Type, tk.Status, tk.Owner,
		tk.UserID, tk.RequestID, jsonText(input), "", store.FormatTime(t), store.FormatTime(t)); err != nil {
		return fmt.Errorf("create task: %w", err)
	}
	w.Header().Set("Location", api.BaseURL(r)+s.cfg.Prefix+"/v2/tasks/"+tk.ID)
	api.WriteJSON(w, http.StatusCreated, tk.view(true))
	// The task would download import_from; there is nothing to download it with.
	ctx := context.WithoutCancel(r.Context())
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		return finishTask(ctx, tx, tk.ID, "failure", nil, fmt.Sprintf("Import from %s failed: this cloud has no "+
			"internet access, so it cannot fetch image data from a URL. Download the image yourself and upload it.", truncate(from, 200)))
	})
	if err != nil {
		s.log.Error("fail import task", "task_id", tk.ID, "err", err)
	}
	return nil
}
