package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/image/inspect"
	"github.com/gostack/gostack/internal/store"
)

// imageDataRoutes are the image data routes: upload, download and staging.
func (s *Service) imageDataRoutes() []route {
	return []route{
		{method: "GET", path: "/v2/images/{image_id}/file", rule: "download_image", handle: s.downloadImage},
		{method: "PUT", path: "/v2/images/{image_id}/file", rule: "upload_image", handle: s.uploadImage},
		// Staging has no rule of its own; Glance checks modify_image.
		{method: "PUT", path: "/v2/images/{image_id}/stage", rule: "modify_image", handle: s.stageImage},
	}
}

// checkOctetStream is Request.get_content_type(('application/octet-stream',)): image
// data must be sent as application/octet-stream, anything else is a 415.
func checkOctetStream(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return detailErr(http.StatusUnsupportedMediaType, "Invalid content type None")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/octet-stream" {
		if err == nil {
			ct = mt
		}
		return detailErr(http.StatusUnsupportedMediaType, "Invalid content type %s", ct)
	}
	return nil
}

// declaredSize is RequestDeserializer._get_image_size: x-openstack-image-size, else the
// Content-Length, else unknown (-1).
func declaredSize(r *http.Request) (int64, error) {
	if v := r.Header.Get("X-Openstack-Image-Size"); v != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, errorf(http.StatusBadRequest, "Invalid or missing image size in request headers.")
		}
		return n, nil
	}
	if r.ContentLength > 0 {
		return r.ContentLength, nil
	}
	return -1, nil
}

// uploadImage is PUT /v2/images/{image_id}/file: the data streams through the hashes and
// the format inspector into a temporary file, which is renamed into the store before the
// image turns active. Any failure puts the image back to queued with nothing stored.
func (s *Service) uploadImage(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := checkOctetStream(r); err != nil {
		return err
	}
	size, err := declaredSize(r)
	if err != nil {
		return err
	}
	if st := r.Header.Get("X-Image-Meta-Store"); st != "" && st != storeID {
		return errorf(http.StatusBadRequest, "Unknown scheme '%s' found in URI", st)
	}
	ctx := r.Context()
	if err := s.enforceSizeQuota(ctx, c.project(), size); err != nil {
		return err
	}
	if err := s.waitReconciled(ctx); err != nil {
		return err
	}
	id := r.PathValue("image_id")
	var img *image
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		img, err = c.getImage(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := c.enforceImage(c.rule, img); err != nil {
			return err
		}
		if !canTransition(img.Status, statusSaving) {
			return errTransition(img.Status, statusSaving)
		}
		if err := requireFormats(img); err != nil {
			return err
		}
		if err := s.enforceUploadCount(ctx, tx, c.project()); err != nil {
			return err
		}
		ok, err := setStatus(ctx, tx, img.ID, img.Status, statusSaving)
		if err != nil {
			return err
		}
		if !ok {
			return errTransition(img.Status, statusSaving)
		}
		return nil
	})
	if err != nil {
		return err
	}
	limit, err := s.uploadLimit(ctx, c.project(), img.ID)
	if err != nil {
		s.restoreQueued(img.ID, statusSaving)
		return err
	}
	if _, err := s.storeData(ctx, img, r.Body, limit, statusSaving); err != nil {
		s.log.Info("image upload refused", "image_id", img.ID, "err", err)
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// stored is what storeData recorded.
type stored struct {
	digest
	virtualSize *int64
}

// storeData streams src into the store as img's data and makes the image active, moving
// it from fromStatus. On failure the temporary file is removed and the image is put back
// to queued; the returned error is the one the client sees.
func (s *Service) storeData(ctx context.Context, img *image, src io.Reader, limit int64, fromStatus string) (*stored, error) {
	tmp, err := s.files.createTemp(img.ID)
	if err != nil {
		s.restoreQueued(img.ID, fromStatus)
		return nil, err
	}
	var iw *inspectorWriter
	if inspects(img) {
		iw = newInspectorWriter()
	}
	d, err := ingest(ctx, src, s.files.writer(tmp), limit, iw.writer())
	if err != nil {
		s.files.discard(tmp)
		s.restoreQueued(img.ID, fromStatus)
		return nil, s.ingestError(img, err, limit)
	}
	st := &stored{digest: d}
	if iw != nil {
		info, err := checkFormat(iw.ins, d.size, str(img.DiskFormat))
		if err != nil {
			s.files.discard(tmp)
			s.restoreQueued(img.ID, fromStatus)
			return nil, err
		}
		st.virtualSize = ptr(info.VirtualSize)
	}
	dst, err := s.files.dataPath(img.ID)
	if err != nil {
		s.files.discard(tmp)
		s.restoreQueued(img.ID, fromStatus)
		return nil, err
	}
	if err := s.files.commit(tmp, dst); err != nil {
		s.restoreQueued(img.ID, fromStatus)
		return nil, err
	}
	// The file is complete and durable; only now does the row say so.
	res, err := s.db.ExecContext(context.WithoutCancel(ctx), `UPDATE images SET status = ?, size = ?, virtual_size = ?,
		checksum = ?, os_hash_algo = ?, os_hash_value = ?, has_data = ?, updated_at = ? WHERE id = ? AND status = ?`,
		statusActive, d.size, st.virtualSize, d.md5, "sha512", d.sha512, true, store.FormatTime(now()), img.ID, fromStatus)
	if err != nil {
		_ = remove(dst)
		s.restoreQueued(img.ID, fromStatus)
		return nil, fmt.Errorf("activate image: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// The image was deleted (or changed) while its data arrived.
		_ = remove(dst)
		return nil, &api.Error{Status: http.StatusGone, Message: fmt.Sprintf("Image %s could not be found after upload. "+
			"The image may have been deleted during the upload, cleaning up the chunks uploaded.", img.ID)}
	}
	return st, nil
}

// inspectorWriter is the format inspector as one of ingest's consumers.
type inspectorWriter struct{ ins *inspect.Inspector }

// newInspectorWriter starts an inspection.
func newInspectorWriter() *inspectorWriter { return &inspectorWriter{ins: inspect.NewInspector()} }

// writer returns the inspector as a writer, or nil when there is no inspection.
func (iw *inspectorWriter) writer() io.Writer {
	if iw == nil {
		return nil
	}
	return iw.ins
}

// inspects reports whether an upload is inspected: Glance inspects the data of bare
// images only (other containers wrap the disk in an archive of some kind).
func inspects(img *image) bool { return str(img.ContainerFormat) == "bare" }

// checkFormat is Glance's check after an upload: the data must be safe for qemu and match
// the declared disk_format. A refusal is the 415 Glance answers (InvalidImageData), with a
// message that names what the data was found to be.
func checkFormat(ins *inspect.Inspector, size int64, declared string) (inspect.Info, error) {
	info, err := ins.Result(size)
	if err != nil {
		if errors.Is(err, inspect.ErrUnsafe) {
			return info, detailErr(http.StatusUnsupportedMediaType, "Image failed safety checks: %s", err.Error())
		}
		return info, fmt.Errorf("inspect image: %w", err)
	}
	if err := inspect.CheckDeclared(declared, info); err != nil {
		msg := err.Error()
		if msg != "" {
			msg = strings.ToUpper(msg[:1]) + msg[1:]
		}
		return info, detailErr(http.StatusUnsupportedMediaType, "%s", msg)
	}
	return info, nil
}

// ingestError maps a failed ingest to the client's error.
func (s *Service) ingestError(img *image, err error, limit int64) error {
	var re *readError
	switch {
	case errors.Is(err, errTooLarge):
		if limit == s.cfg.MaxImageSize {
			return errorf(http.StatusRequestEntityTooLarge, "The incoming image is too large: The provided image is too large.")
		}
		return errorf(http.StatusRequestEntityTooLarge, "Image exceeds the storage quota: The size of the data exceeds the limit. %d bytes remaining.", max(limit, 0))
	case errors.As(err, &re):
		return errorf(http.StatusBadRequest, "Image data for %s could not be read: the upload was interrupted. Nothing was stored.", img.ID)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return &api.Error{Status: http.StatusRequestEntityTooLarge, Message: "Image storage media is full: There is " +
			"not enough disk space on the image storage media.", Err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusBadRequest, "Image data for %s could not be read: the upload was interrupted. Nothing was stored.", img.ID)
	}
	return err
}

// restoreQueued puts an image back to queued after a failed upload (Glance's _restore),
// if it is still in the status the upload moved it to.
func (s *Service) restoreQueued(id, from string) {
	if _, err := setStatus(context.Background(), s.db, id, from, statusQueued); err != nil {
		s.log.Error("restore image to queued", "image_id", id, "err", err)
	}
}

// uploadLimit is how many bytes an upload may bring: the image size cap, or less when the
// caller's project quota leaves less room.
func (s *Service) uploadLimit(ctx context.Context, project, imageID string) (int64, error) {
	limit := s.cfg.MaxImageSize
	if q := s.cfg.Quota.ImageSizeTotal; q > 0 {
		used, err := s.storageUsage(ctx, s.db, project)
		if err != nil {
			return 0, err
		}
		if room := q - used; room < limit {
			limit = room
		}
		if limit <= 0 {
			return 0, errQuota(project, "image_size_total", q, used, 0)
		}
	}
	return limit, nil
}

// downloadImage is GET /v2/images/{image_id}/file, with single byte ranges.
func (s *Service) downloadImage(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	img, err := c.getImage(r.Context(), s.db, r.PathValue("image_id"))
	if err != nil {
		return err
	}
	if img.Status == statusDeactivated && !c.admin {
		return errorf(http.StatusForbidden, "The requested image has been deactivated. Image data download is forbidden.")
	}
	if err := c.enforceImage(c.rule, img); err != nil {
		return err
	}
	if !img.HasData || img.Size == nil {
		// Glance answers an image without data with an empty 204.
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	path, err := s.files.dataPath(img.ID)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		s.log.Error("image data missing from the store", "image_id", img.ID)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err != nil {
		return fmt.Errorf("open image data: %w", err)
	}
	defer f.Close()
	size := *img.Size
	offset, length, partial, err := byteRange(r, size)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	if img.Checksum != nil {
		h.Set("Content-MD5", *img.Checksum)
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	status := http.StatusOK
	if partial {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", offset, offset+length-1, size))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead || length == 0 {
		return nil
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil
	}
	// The status is sent; a failure now can only cut the body short.
	if _, err := copyOut(w, io.LimitReader(f, length)); err != nil {
		s.log.Info("image download cut short", "image_id", img.ID, "err", err)
	}
	return nil
}

// copyOut copies to the response, letting the connection use sendfile when it can: the
// server's writer is found beneath the wrappers that record the status.
func copyOut(w http.ResponseWriter, src io.Reader) (int64, error) {
	for {
		if rf, ok := w.(io.ReaderFrom); ok {
			return rf.ReadFrom(src)
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		w = u.Unwrap()
	}
	return io.CopyBuffer(w, src, make([]byte, 256<<10))
}

var rangeRE = regexp.MustCompile(`(?i)^bytes *= *(\d*) *- *(\d*)`)
var contentRangeRE = regexp.MustCompile(`^bytes (?:(\d+)-(\d+)|[*])/(?:(\d+)|[*])`)

// byteRange is Glance's get_range_from_request with the download serializer's
// arithmetic: one "bytes=a-b" range (or, for old clients, a Content-Range header) gives
// a 206; several ranges are a 400 and a range outside the image a 416.
func byteRange(r *http.Request, size int64) (offset, length int64, partial bool, err error) {
	bad := func(msg string) error { return detailErr(http.StatusRequestedRangeNotSatisfiable, "%s", msg) }
	if rs := r.Header.Get("Range"); rs != "" {
		if strings.Contains(rs, ",") {
			return 0, 0, false, errorf(http.StatusBadRequest, "Requests with multiple ranges are not supported in Glance. "+
				"You may make multiple single-range requests instead.")
		}
		m := rangeRE.FindStringSubmatch(rs)
		if m == nil || (m[1] == "" && m[2] == "") {
			return 0, 0, false, bad("Invalid Range header.")
		}
		var start int64
		end := int64(-1) // exclusive; -1: none
		if m[1] == "" {
			n, perr := strconv.ParseInt(m[2], 10, 64)
			if perr != nil {
				return 0, 0, false, bad("Invalid Range header.")
			}
			start = -n
		} else {
			start, err = strconv.ParseInt(m[1], 10, 64)
			if err != nil {
				return 0, 0, false, bad("Invalid Range header.")
			}
			if m[2] != "" {
				e, perr := strconv.ParseInt(m[2], 10, 64)
				if perr != nil || start >= e+1 {
					return 0, 0, false, bad("Invalid Range header.")
				}
				end = e + 1
			}
		}
		if start >= size {
			return 0, 0, false, bad(fmt.Sprintf("Invalid start position in Range header. Start position MUST be in the inclusive range [0, %d].", size-1))
		}
		if start >= 0 {
			offset = start
		} else if -start < size {
			offset = size + start
		}
		if end >= 0 && end < size {
			length = end - offset
		} else {
			length = size - offset
		}
		return offset, length, true, nil
	}
	if cr := r.Header.Get("Content-Range"); cr != "" {
		m := contentRangeRE.FindStringSubmatch(cr)
		if m == nil || m[1] == "" {
			return 0, 0, false, bad("Invalid Content-Range header.")
		}
		start, _ := strconv.ParseInt(m[1], 10, 64)
		stop, _ := strconv.ParseInt(m[2], 10, 64)
		stop++
		if stop <= start {
			return 0, 0, false, bad("Invalid Content-Range header.")
		}
		if m[3] != "" {
			if l, _ := strconv.ParseInt(m[3], 10, 64); stop > l {
				return 0, 0, false, bad("Invalid Content-Range header.")
			}
		} else if stop > size {
			return 0, 0, false, bad(fmt.Sprintf("Invalid stop position in Content-Range header. The stop position MUST be in the inclusive range [0, %d].", size-1))
		}
		if start >= size {
			return 0, 0, false, bad(fmt.Sprintf("Invalid start position in Content-Range header. Start position MUST be in the inclusive range [0, %d].", size-1))
		}
		if stop > size {
			stop = size
		}
		return start, stop - start, true, nil
	}
	return 0, size, false, nil
}

// stageImage is PUT /v2/images/{image_id}/stage: the data is kept in the staging area
// for a later glance-direct import, and the image is uploading until then.
func (s *Service) stageImage(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := checkOctetStream(r); err != nil {
		return err
	}
	size, err := declaredSize(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := s.enforceStageQuota(ctx, c.project(), max(size, 0)); err != nil {
		return err
	}
	if err := s.waitReconciled(ctx); err != nil {
		return err
	}
	id := r.PathValue("image_id")
	var img *image
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		img, err = c.getImage(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := c.enforceImage(c.rule, img); err != nil {
			return err
		}
		if !canTransition(img.Status, statusUploading) {
			return errTransition(img.Status, statusUploading)
		}
		if err := s.enforceUploadCount(ctx, tx, c.project()); err != nil {
			return err
		}
		ok, err := setStatus(ctx, tx, img.ID, img.Status, statusUploading)
		if err != nil {
			return err
		}
		if !ok {
			return errTransition(img.Status, statusUploading)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fail := func(err error) error {
		s.restoreQueued(img.ID, statusUploading)
		return err
	}
	limit, err := s.stageLimit(ctx, c.project())
	if err != nil {
		return fail(err)
	}
	tmp, err := s.files.createTemp(img.ID)
	if err != nil {
		return fail(err)
	}
	d, err := ingest(ctx, r.Body, s.files.writer(tmp), limit, nil)
	if err != nil {
		s.files.discard(tmp)
		return fail(s.ingestError(img, err, limit))
	}
	dst, err := s.files.stagePath(img.ID)
	if err != nil {
		s.files.discard(tmp)
		return fail(err)
	}
	if err := s.files.commit(tmp, dst); err != nil {
		return fail(err)
	}
	res, err := s.db.ExecContext(context.WithoutCancel(ctx), `UPDATE images SET size = ?, updated_at = ? WHERE id = ? AND status = ?`,
		d.size, store.FormatTime(now()), img.ID, statusUploading)
	if err != nil {
		_ = remove(dst)
		return fail(fmt.Errorf("record staged image: %w", err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		_ = remove(dst)
		return &api.Error{Status: http.StatusGone, Message: fmt.Sprintf("Image %s could not be found after upload. "+
			"The image may have been deleted during the upload, cleaning up the chunks uploaded.", img.ID)}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
