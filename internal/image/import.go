package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// The interoperable image import (glance/api/v2/images.py import_image and
// glance/async_/flows/api_image_import.py): the data is staged with PUT /stage, then
// POST /import with glance-direct starts a task that moves it into the store through the
// same hashing and inspection as an upload. The task runs in the background; the image
// is importing meanwhile. Run carries on imports a stopped process left unfinished.

// importMethods are the import methods this cloud offers. web-download and
// glance-download would have the cloud fetch a URL, and the cloud has no internet access;
// copy-image needs more than one store.
var importMethods = []string{"glance-direct"}

// errNoInternet refuses the methods that would fetch data from elsewhere.
func errNoInternet(method string) *api.Error {
	return errorf(http.StatusBadRequest, "Import method '%s' is not available: this cloud has no internet access, so "+
		"it cannot fetch image data from a URL or another cloud. Download the image yourself and upload it "+
		"(PUT /v2/images/{image_id}/file), or stage it and import it with 'glance-direct'.", method)
}

// importRoutes are the discovery, import and task routes.
func (s *Service) importRoutes() []route {
	return []route{
		{method: "GET", path: "/v2/info/import", handle: s.importInfo},
		{method: "GET", path: "/v2/info/stores", handle: s.storesInfo},
		{method: "GET", path: "/v2/info/stores/detail", rule: "stores_info_detail", handle: s.storesDetail},
		{method: "GET", path: "/v2/info/usage", handle: s.usageInfo},
		// Importing needs modify_image on the image (copy-image would need copy_image).
		{method: "POST", path: "/v2/images/{image_id}/import", rule: "modify_image", handle: s.importImage},
		{method: "GET", path: "/v2/images/{image_id}/tasks", rule: "get_image", handle: s.imageTasks},
		{method: "DELETE", path: "/v2/stores/{store_id}/{image_id}", rule: "delete_image_location", handle: s.deleteFromStore},
	}
}

// importInfo is GET /v2/info/import.
func (s *Service) importInfo(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"import-methods": map[string]any{
		"description": "Import methods available.", "type": "array", "value": importMethods,
	}})
	return nil
}

// storeDescription describes the one store.
const storeDescription = "Local filesystem store"

// storesInfo is GET /v2/info/stores.
func (s *Service) storesInfo(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"stores": []map[string]any{
		{"id": storeID, "description": storeDescription, "default": "true"},
	}})
	return nil
}

// storesDetail is GET /v2/info/stores/detail (admin). The store's directory is not
// shown: messages and documents never carry host paths.
func (s *Service) storesDetail(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	if err := c.enforce(c.rule, c.projectTarget()); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"stores": []map[string]any{{
		"id": storeID, "description": storeDescription, "default": "true", "type": "file", "weight": 0,
		"properties": map[string]any{"chunk_size": chunkSize, "thin_provisioning": false},
	}}})
	return nil
}

// usageInfo is GET /v2/info/usage: the caller's project's usage against its quotas.
func (s *Service) usageInfo(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := s.usage(r.Context(), c.project())
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"usage": u})
	return nil
}

// importImage is POST /v2/images/{image_id}/import.
func (s *Service) importImage(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := readJSON(r)
	if err != nil {
		return err
	}
	req, ok := body.(map[string]any)
	if !ok {
		return errorf(http.StatusBadRequest, "Import request requires a 'method' field.")
	}
	method, ok := req["method"].(map[string]any)
	if _, present := req["method"]; !present {
		return errorf(http.StatusBadRequest, "Import request requires a 'method' field.")
	}
	if !ok {
		return errorf(http.StatusBadRequest, "Import request requires a 'name' field.")
	}
	name, present := method["name"]
	if !present {
		return errorf(http.StatusBadRequest, "Import request requires a 'name' field.")
	}
	nameStr, _ := name.(string)
	switch nameStr {
	case "glance-direct":
	case "web-download", "glance-download":
		return errNoInternet(nameStr)
	default:
		return errorf(http.StatusBadRequest, "Unknown import method name '%s'.", pyStr(name))
	}
	for _, k := range []string{"all_stores_must_succeed", "all_stores"} {
		if v, present := req[k]; present {
			if _, ok := v.(bool); !ok {
				return errorf(http.StatusBadRequest, "'%s' must be boolean value only", k)
			}
		}
	}
	stores := []string{storeID}
	if v, present := req["stores"]; present {
		list, ok := v.([]any)
		if !ok {
			return errorf(http.StatusBadRequest, "'stores' must be a list of store identifiers.")
		}
		for _, e := range list {
			if id, _ := e.(string); id != storeID {
				return api.Conflict("Store for identifier %s not found", pyStr(e))
			}
		}
	}
	if h := r.Header.Get("X-Image-Meta-Store"); h != "" && h != storeID {
		return api.Conflict("Store for identifier %s not found", h)
	}
	ctx := r.Context()
	if err := s.waitReconciled(ctx); err != nil {
		return err
	}
	if err := s.enforceSizeQuota(ctx, c.project(), 0); err != nil {
		return err
	}
	var taskID string
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		img, err := c.getImage(ctx, tx, r.PathValue("image_id"))
		if err != nil {
			return err
		}
		switch {
		case img.Status == statusActive:
			return api.Conflict("Image with status active cannot be target for import")
		case img.Status != statusUploading:
			return api.Conflict("Image needs to be staged before 'glance-direct' method can be used")
		case str(img.ContainerFormat) == "":
			return api.Conflict("'container_format' needs to be set before import")
		case str(img.DiskFormat) == "":
			return api.Conflict("'disk_format' needs to be set before import")
		}
		if err := c.enforceImage(c.rule, img); err != nil {
			return err
		}
		if img.Props["os_glance_import_task"] != nil {
			return api.Conflict("Image has active task")
		}
		taskID = api.NewUUID()
		input := map[string]any{"image_id": img.ID, "import_req": req, "backend": stores}
		t := now()
		if _, err := tx.ExecContext(ctx, `INSERT INTO image_tasks (id, image_id, type, status, owner, user_id, request_id,
			input, message, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			taskID, img.ID, "api_image_import", "pending", c.project(), c.caller.UserID, api.RequestID(ctx),
			jsonText(input), "", store.FormatTime(t), store.FormatTime(t)); err != nil {
			return fmt.Errorf("create import task: %w", err)
		}
		img.Props["os_glance_import_task"] = ptr(taskID)
		img.Props["os_glance_importing_to_stores"] = ptr(storeID)
		img.Props["os_glance_failed_import"] = ptr("")
		delete(img.Props, "os_glance_stage_host")
		img.Status, img.UpdatedAt = statusImporting, t
		return saveImage(ctx, tx, img, statusUploading)
	})
	if err != nil {
		return err
	}
	s.startImport(r.PathValue("image_id"))
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// pyStr renders a JSON value as Python's str() does, for messages.
func pyStr(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return pyRepr(v)
}

// jsonText encodes a JSON document column.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// startImport runs an image's import in the background unless this process already is.
func (s *Service) startImport(id string) {
	s.importMu.Lock()
	if s.importing[id] {
		s.importMu.Unlock()
		return
	}
	s.importing[id] = true
	s.imports.Add(1)
	s.importMu.Unlock()
	go func() {
		defer s.imports.Done()
		defer func() {
			s.importMu.Lock()
			delete(s.importing, id)
			s.importMu.Unlock()
		}()
		if err := s.runImport(context.Background(), id); err != nil {
			s.log.Error("image import failed", "image_id", id, "err", err)
		}
	}()
}

// runImport moves an importing image's staged data into the store: the task goes to
// processing, the data through the hashes and the inspector, and the image to active
// (success) or back to queued with os_glance_failed_import set (failure). It is
// idempotent: an import a crash interrupted starts over from the staged data.
func (s *Service) runImport(ctx context.Context, id string) error {
	img, err := loadImage(ctx, s.db, id)
	if err != nil || img == nil || img.Status != statusImporting {
		return err
	}
	taskID := str(img.Props["os_glance_import_task"])
	if _, err := s.db.ExecContext(ctx, `UPDATE image_tasks SET status = ?, updated_at = ? WHERE id = ? AND status = ?`,
		"processing", store.FormatTime(now()), taskID, "pending"); err != nil {
		return fmt.Errorf("start import task: %w", err)
	}
	stagePath, err := s.files.stagePath(id)
	if err != nil {
		return s.failImport(ctx, id, taskID, "Image data is not staged.")
	}
	f, err := os.Open(stagePath)
	if errors.Is(err, os.ErrNotExist) {
		return s.failImport(ctx, id, taskID, "Image data is no longer staged; stage it again.")
	}
	if err != nil {
		return fmt.Errorf("open staged image data: %w", err)
	}
	defer f.Close()
	if err := s.importData(ctx, img, f, taskID); err != nil {
		msg := "Image import failed."
		var ae *api.Error
		if errors.As(err, &ae) && ae.Status < 500 {
			msg = ae.Message
		}
		return errors.Join(err, s.failImport(ctx, id, taskID, msg))
	}
	_ = remove(stagePath)
	return nil
}

// importData copies staged data into the store and activates the image, finishing the
// task in the same transaction.
func (s *Service) importData(ctx context.Context, img *image, f *os.File, taskID string) error {
	tmp, err := s.files.createTemp(img.ID)
	if err != nil {
		return err
	}
	var extra *inspectorWriter
	if inspects(img) {
		extra = newInspectorWriter()
	}
	d, err := ingest(ctx, f, tmp, s.cfg.MaxImageSize, extra.writer())
	if err != nil {
		s.files.discard(tmp)
		return s.ingestError(img, err, s.cfg.MaxImageSize)
	}
	var vsize *int64
	if extra != nil {
		info, err := checkFormat(extra.ins, d.size, str(img.DiskFormat))
		if err != nil {
			s.files.discard(tmp)
			return err
		}
		vsize = ptr(info.VirtualSize)
	}
	dst, err := s.files.dataPath(img.ID)
	if err != nil {
		s.files.discard(tmp)
		return err
	}
	if err := s.files.commit(tmp, dst); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := loadImage(ctx, tx, img.ID)
		if err != nil {
			return err
		}
		if cur == nil || cur.Status != statusImporting {
			_ = remove(dst)
			return nil
		}
		delete(cur.Props, "os_glance_import_task")
		cur.Props["os_glance_importing_to_stores"] = ptr("")
		cur.Props["os_glance_failed_import"] = ptr("")
		cur.Status, cur.UpdatedAt, cur.HasData = statusActive, now(), true
		cur.Size, cur.VirtualSize = &d.size, vsize
		cur.Checksum, cur.HashAlgo, cur.HashValue = ptr(d.md5), ptr("sha512"), ptr(d.sha512)
		if err := saveImage(ctx, tx, cur, statusImporting); err != nil {
			return err
		}
		return finishTask(ctx, tx, taskID, "success", map[string]any{"image_id": img.ID}, "")
	})
}

// failImport puts an importing image back to queued with its store in
// os_glance_failed_import, drops the staged data and fails the task.
func (s *Service) failImport(ctx context.Context, id, taskID, msg string) error {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := loadImage(ctx, tx, id)
		if err != nil || cur == nil || cur.Status != statusImporting {
			return err
		}
		delete(cur.Props, "os_glance_import_task")
		cur.Props["os_glance_importing_to_stores"] = ptr("")
		cur.Props["os_glance_failed_import"] = ptr(storeID)
		cur.Status, cur.UpdatedAt = statusQueued, now()
		cur.Size, cur.VirtualSize = nil, nil
		if err := saveImage(ctx, tx, cur, statusImporting); err != nil {
			return err
		}
		return finishTask(ctx, tx, taskID, "failure", nil, msg)
	})
	if p, perr := s.files.stagePath(id); perr == nil {
		_ = remove(p)
	}
	return err
}

// finishTask ends a task.
func finishTask(ctx context.Context, tx *store.Tx, id, status string, result map[string]any, msg string) error {
	var res any
	if result != nil {
		res = jsonText(result)
	}
	t := now()
	_, err := tx.ExecContext(ctx, `UPDATE image_tasks SET status = ?, result = ?, message = ?, updated_at = ?, expires_at = ?
		WHERE id = ?`, status, res, msg, store.FormatTime(t), store.FormatTime(t.Add(taskTimeToLive)), id)
	if err != nil {
		return fmt.Errorf("finish import task: %w", err)
	}
	return nil
}

// imageTasks is GET /v2/images/{image_id}/tasks (API 2.12).
func (s *Service) imageTasks(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	ctx := r.Context()
	img, err := c.getImage(ctx, s.db, r.PathValue("image_id"))
	if err != nil {
		return notFound()
	}
	if !c.allowed(c.rule, img.target(c)) {
		return notFound()
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, type, status, owner, user_id, request_id, input, result, message,
		expires_at, created_at, updated_at FROM image_tasks WHERE image_id = ? ORDER BY created_at`, img.ID)
	if err != nil {
		return fmt.Errorf("list image tasks: %w", err)
	}
	defer rows.Close()
	tasks := []map[string]any{}
	for rows.Next() {
		var id, typ, status, input, message, created, updated string
		var owner, user, reqID, result, expires *string
		if err := rows.Scan(&id, &typ, &status, &owner, &user, &reqID, &input, &result, &message, &expires, &created, &updated); err != nil {
			return err
		}
		if !c.admin && str(owner) != c.project() {
			continue
		}
		var in, res any
		_ = json.Unmarshal([]byte(input), &in)
		if result != nil {
			_ = json.Unmarshal([]byte(*result), &res)
		}
		var exp any
		if expires != nil && *expires != "" {
			exp = pyTime(store.ParseTime(*expires))
		}
		tasks = append(tasks, map[string]any{
			"id": id, "type": typ, "status": status, "owner": owner, "user_id": user, "request_id": reqID,
			"image_id": img.ID, "input": in, "result": res, "message": message, "expires_at": exp,
			"created_at": pyTime(store.ParseTime(created)), "updated_at": pyTime(store.ParseTime(updated)),
			"deleted": false, "deleted_at": nil,
		})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"tasks": tasks})
	return nil
}

// pyTime renders a time as Python's datetime.isoformat() for a naive UTC time.
func pyTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000") }

// taskTimeToLive is Glance's [task] task_time_to_live (48 h): a finished task expires.
const taskTimeToLive = 48 * time.Hour

// deleteFromStore is DELETE /v2/stores/{store_id}/{image_id} (API 2.13): with a single
// store, the image's only copy cannot be removed this way.
func (s *Service) deleteFromStore(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	if r.PathValue("store_id") != storeID {
		return api.Conflict("The selected store %s is not available on this node.", r.PathValue("store_id"))
	}
	ctx := r.Context()
	id := r.PathValue("image_id")
	img, err := c.getImage(ctx, s.db, id)
	if err != nil {
		return api.NotFound("Failed to find image %s", id)
	}
	if err := c.enforceImage("get_image_location", img); err != nil {
		return err
	}
	if err := c.enforceImage(c.rule, img); err != nil {
		return err
	}
	if img.Status != statusActive {
		return api.Conflict("It's not allowed to remove image data from store if image status is not 'active'")
	}
	return api.Forbidden("Cannot delete image data from the only store containing it. Consider deleting the image instead.")
}

// resumeImports starts the imports of importing images that no goroutine of this
// process is running: after a restart, every import in progress starts over from its
// staged data.
func (s *Service) resumeImports(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM images WHERE status = ?`, statusImporting)
	if err != nil {
		return err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		s.startImport(id)
	}
	return nil
}
