package image

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
	"github.com/gostack/gostack/internal/store"
)

// Image statuses (glance.domain.Image.valid_state_targets).
const (
	statusQueued      = "queued"
	statusSaving      = "saving"
	statusActive      = "active"
	statusKilled      = "killed"
	statusDeleted     = "deleted"
	statusDeactivated = "deactivated"
	statusUploading   = "uploading"
	statusImporting   = "importing"
)

// validTransitions are the status changes Glance's domain model allows.
var validTransitions = map[string][]string{
	statusQueued:      {statusSaving, statusUploading, statusImporting, statusActive, statusDeleted},
	statusSaving:      {statusActive, statusKilled, statusDeleted, statusQueued},
	statusUploading:   {statusImporting, statusQueued, statusDeleted},
	statusImporting:   {statusActive, statusDeleted, statusQueued},
	statusActive:      {"pending_delete", statusDeleted, statusDeactivated},
	statusKilled:      {statusDeleted},
	"pending_delete":  {statusDeleted, statusActive},
	statusDeleted:     {},
	statusDeactivated: {statusActive, statusDeleted},
}

// errTransition is exception.InvalidImageStatusTransition, which Glance answers with 409.
func errTransition(from, to string) *api.Error {
	return api.Conflict("Image status transition from %s to %s is not allowed", from, to)
}

// canTransition reports whether an image may go from one status to another.
func canTransition(from, to string) bool {
	for _, s := range validTransitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// image is one images row with its properties and tags.
type image struct {
	ID              string
	Name            *string
	Owner           *string
	Status          string
	Visibility      string
	DiskFormat      *string
	ContainerFormat *string
	Size            *int64
	VirtualSize     *int64
	Checksum        *string
	HashAlgo        *string
	HashValue       *string
	MinDisk         int64
	MinRAM          int64
	Protected       bool
	Hidden          bool
	HasData         bool
	CreatedAt       time.Time
	UpdatedAt       time.Time
	// Props are the free-form properties; a nil value is JSON null.
	Props map[string]*string
	Tags  []string
}

// imageColumns is the column list scanImage reads.
const imageColumns = `id, name, owner, status, visibility, disk_format, container_format, size, virtual_size,
	checksum, os_hash_algo, os_hash_value, min_disk, min_ram, protected, os_hidden, has_data, created_at, updated_at`

// scanImage reads a row selected with imageColumns.
func scanImage(row interface{ Scan(...any) error }) (*image, error) {
	var img image
	var name, owner, df, cf, ck, ha, hv sql.NullString
	var size, vsize sql.NullInt64
	var created, updated string
	if err := row.Scan(&img.ID, &name, &owner, &img.Status, &img.Visibility, &df, &cf, &size, &vsize,
		&ck, &ha, &hv, &img.MinDisk, &img.MinRAM, &img.Protected, &img.Hidden, &img.HasData, &created, &updated); err != nil {
		return nil, err
	}
	img.Name, img.Owner, img.DiskFormat, img.ContainerFormat = nullStr(name), nullStr(owner), nullStr(df), nullStr(cf)
	img.Checksum, img.HashAlgo, img.HashValue = nullStr(ck), nullStr(ha), nullStr(hv)
	img.Size, img.VirtualSize = nullInt(size), nullInt(vsize)
	img.CreatedAt, img.UpdatedAt = store.ParseTime(created), store.ParseTime(updated)
	img.Props = map[string]*string{}
	img.Tags = []string{}
	return &img, nil
}

func nullStr(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	v := s.String
	return &v
}

func nullInt(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	v := n.Int64
	return &v
}

// str returns *p or "".
func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }

// owner returns the image's owner or "".
func (img *image) owner() string { return str(img.Owner) }

// loadDetails fills the properties and tags of the given images with one query each.
func loadDetails(ctx context.Context, q store.Querier, imgs []*image) error {
	if len(imgs) == 0 {
		return nil
	}
	byID := make(map[string]*image, len(imgs))
	ids := make([]any, 0, len(imgs))
	for _, img := range imgs {
		byID[img.ID] = img
		ids = append(ids, img.ID)
	}
	in := "(" + strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",") + ")"
	rows, err := q.QueryContext(ctx, `SELECT image_id, name, value FROM image_properties WHERE image_id IN `+in, ids...)
	if err != nil {
		return fmt.Errorf("load image properties: %w", err)
	}
	for rows.Next() {
		var id, name string
		var val sql.NullString
		if err := rows.Scan(&id, &name, &val); err != nil {
			rows.Close()
			return err
		}
		if img := byID[id]; img != nil {
			img.Props[name] = nullStr(val)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = q.QueryContext(ctx, `SELECT image_id, value FROM image_tags WHERE image_id IN `+in+` ORDER BY value`, ids...)
	if err != nil {
		return fmt.Errorf("load image tags: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, val string
		if err := rows.Scan(&id, &val); err != nil {
			return err
		}
		if img := byID[id]; img != nil {
			img.Tags = append(img.Tags, val)
		}
	}
	return rows.Err()
}

// errNoImage is ImageRepo.get's 404.
func errNoImage(id string) *api.Error {
	return api.NotFound("No image found with ID %s", id)
}

// getImage loads an image the caller may see (glance.db is_image_visible): admins see
// every image, others their own, public and community images, and shared images they are
// a member of in any member status. Anything else is the same 404 as a missing image.
func (c *call) getImage(ctx context.Context, q store.Querier, id string) (*image, error) {
	img, err := loadImage(ctx, q, id)
	if err != nil {
		return nil, err
	}
	if img == nil {
		return nil, errNoImage(id)
	}
	ok, err := c.canSee(ctx, q, img)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errNoImage(id)
	}
	return img, nil
}

// loadImage loads an image with its details, or nil when there is none.
func loadImage(ctx context.Context, q store.Querier, id string) (*image, error) {
	if len(id) > 36 {
		// Glance's _check_image_id: longer ids cannot exist.
		return nil, nil
	}
	img, err := scanImage(q.QueryRowContext(ctx, `SELECT `+imageColumns+` FROM images WHERE id = ?`, id))
	if store.IsNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load image: %w", err)
	}
	if err := loadDetails(ctx, q, []*image{img}); err != nil {
		return nil, err
	}
	return img, nil
}

// canSee is glance.db.utils.is_image_visible.
func (c *call) canSee(ctx context.Context, q store.Querier, img *image) (bool, error) {
	if c.admin || img.Owner == nil || img.Visibility == "public" || img.Visibility == "community" {
		return true, nil
	}
	proj := c.project()
	if proj == "" {
		return false, nil
	}
	if proj == img.owner() {
		return true, nil
	}
	if img.Visibility != "shared" {
		return false, nil
	}
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM image_members WHERE image_id = ? AND member = ?`, img.ID, proj).Scan(&n)
	return n > 0, err
}

// member is the image's "member" for policy checks: the caller's project when the image
// is shared and the caller does not own it (Glance's ImageRepo sets it so; the caller got
// this far only by being a member or an admin).
func (c *call) member(img *image) any {
	if img.Visibility == "shared" && c.project() != img.owner() && c.project() != "" {
		return c.project()
	}
	return nil
}

// target is Glance's ImageTarget: the image's attributes and properties, with
// project_id the owner and member_id the caller's membership.
func (img *image) target(c *call) policy.Target {
	t := policy.Target{}
	for k, v := range img.Props {
		if v == nil {
			t[k] = nil
		} else {
			t[k] = *v
		}
	}
	opt := func(p *string) any {
		if p == nil {
			return nil
		}
		return *p
	}
	optInt := func(p *int64) any {
		if p == nil {
			return nil
		}
		return *p
	}
	t["id"] = img.ID
	t["image_id"] = img.ID
	t["name"] = opt(img.Name)
	t["owner"] = opt(img.Owner)
	t["project_id"] = opt(img.Owner)
	t["status"] = img.Status
	t["visibility"] = img.Visibility
	t["disk_format"] = opt(img.DiskFormat)
	t["container_format"] = opt(img.ContainerFormat)
	t["size"] = optInt(img.Size)
	t["virtual_size"] = optInt(img.VirtualSize)
	t["checksum"] = opt(img.Checksum)
	t["os_hash_algo"] = opt(img.HashAlgo)
	t["os_hash_value"] = opt(img.HashValue)
	t["min_disk"] = img.MinDisk
	t["min_ram"] = img.MinRAM
	t["protected"] = img.Protected
	t["os_hidden"] = img.Hidden
	t["member"] = c.member(img)
	t["member_id"] = c.member(img)
	return t
}

// isoTime renders a timestamp as Glance does (glance.common.timeutils.isotime).
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// hiddenProperties are kept on the image but never shown (ResponseSerializer).
var hiddenProperties = map[string]bool{"os_glance_stage_host": true, "os_glance_hash_op_host": true}

// view renders an image as GET /v2/images/{id} returns it.
func (s *Service) view(img *image) map[string]any {
	v := make(map[string]any, len(img.Props)+24)
	for k, p := range img.Props {
		if hiddenProperties[k] {
			continue
		}
		if p == nil {
			if _, known := imageSchemaProperties[k]; known {
				v[k] = nil
			} else {
				v[k] = ""
			}
			continue
		}
		v[k] = *p
	}
	v["name"] = img.Name
	v["disk_format"] = img.DiskFormat
	v["container_format"] = img.ContainerFormat
	v["visibility"] = img.Visibility
	v["size"] = img.Size
	v["virtual_size"] = img.VirtualSize
	v["status"] = img.Status
	v["checksum"] = img.Checksum
	v["protected"] = img.Protected
	v["min_ram"] = img.MinRAM
	v["min_disk"] = img.MinDisk
	v["owner"] = img.Owner
	v["os_hidden"] = img.Hidden
	v["os_hash_algo"] = img.HashAlgo
	v["os_hash_value"] = img.HashValue
	v["id"] = img.ID
	v["created_at"] = isoTime(img.CreatedAt)
	v["updated_at"] = isoTime(img.UpdatedAt)
	tags := img.Tags
	if tags == nil {
		tags = []string{}
	}
	v["tags"] = tags
	v["self"] = "/v2/images/" + img.ID
	v["file"] = "/v2/images/" + img.ID + "/file"
	v["schema"] = "/v2/schemas/image"
	if img.HasData {
		// With enabled_backends Glance names the stores holding the data.
		v["stores"] = storeID
	}
	return v
}

// insertImage stores a new image with its properties and tags.
func insertImage(ctx context.Context, tx *store.Tx, img *image) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO images (id, name, owner, status, visibility, disk_format,
		container_format, size, virtual_size, checksum, os_hash_algo, os_hash_value, min_disk, min_ram,
		protected, os_hidden, has_data, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		img.ID, img.Name, img.Owner, img.Status, img.Visibility, img.DiskFormat, img.ContainerFormat,
		img.Size, img.VirtualSize, img.Checksum, img.HashAlgo, img.HashValue, img.MinDisk, img.MinRAM,
		img.Protected, img.Hidden, img.HasData, store.FormatTime(img.CreatedAt), store.FormatTime(img.UpdatedAt))
	if err != nil {
		if store.IsUniqueViolation(err) {
			return api.Conflict("Image with identifier %s already exists!", img.ID)
		}
		return fmt.Errorf("insert image: %w", err)
	}
	if err := writeProps(ctx, tx, img); err != nil {
		return err
	}
	return writeTags(ctx, tx, img)
}

// writeProps replaces an image's properties.
func writeProps(ctx context.Context, tx *store.Tx, img *image) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM image_properties WHERE image_id = ?`, img.ID); err != nil {
		return fmt.Errorf("write image properties: %w", err)
	}
	names := make([]string, 0, len(img.Props))
	for k := range img.Props {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if _, err := tx.ExecContext(ctx, `INSERT INTO image_properties (image_id, name, value) VALUES (?, ?, ?)`,
			img.ID, k, img.Props[k]); err != nil {
			return fmt.Errorf("write image properties: %w", err)
		}
	}
	return nil
}

// writeTags replaces an image's tags.
func writeTags(ctx context.Context, tx *store.Tx, img *image) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM image_tags WHERE image_id = ?`, img.ID); err != nil {
		return fmt.Errorf("write image tags: %w", err)
	}
	for _, t := range img.Tags {
		if _, err := tx.ExecContext(ctx, `INSERT INTO image_tags (image_id, value) VALUES (?, ?)`, img.ID, t); err != nil {
			return fmt.Errorf("write image tags: %w", err)
		}
	}
	return nil
}

// saveImage writes an image's mutable attributes, properties and tags back, provided its
// status is still fromStatus (Glance's from_state guard against concurrent changes).
func saveImage(ctx context.Context, tx *store.Tx, img *image, fromStatus string) error {
	res, err := tx.ExecContext(ctx, `UPDATE images SET name = ?, owner = ?, status = ?, visibility = ?,
		disk_format = ?, container_format = ?, size = ?, virtual_size = ?, checksum = ?, os_hash_algo = ?,
		os_hash_value = ?, min_disk = ?, min_ram = ?, protected = ?, os_hidden = ?, has_data = ?, updated_at = ?
		WHERE id = ? AND status = ?`,
		img.Name, img.Owner, img.Status, img.Visibility, img.DiskFormat, img.ContainerFormat, img.Size,
		img.VirtualSize, img.Checksum, img.HashAlgo, img.HashValue, img.MinDisk, img.MinRAM, img.Protected,
		img.Hidden, img.HasData, store.FormatTime(img.UpdatedAt), img.ID, fromStatus)
	if err != nil {
		return fmt.Errorf("save image: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var cur string
		err := tx.QueryRowContext(ctx, `SELECT status FROM images WHERE id = ?`, img.ID).Scan(&cur)
		if store.IsNoRows(err) {
			return errNoImage(img.ID)
		}
		if err != nil {
			return fmt.Errorf("save image: %w", err)
		}
		return errTransition(cur, img.Status)
	}
	if err := writeProps(ctx, tx, img); err != nil {
		return err
	}
	return writeTags(ctx, tx, img)
}

// setStatus moves an image from one status to another in one statement, returning
// whether it was in fromStatus. Moving to queued clears size and virtual_size, as
// Glance's status setter does.
func setStatus(ctx context.Context, q store.Querier, id, fromStatus, toStatus string) (bool, error) {
	query := `UPDATE images SET status = ?, updated_at = ? WHERE id = ? AND status = ?`
	if toStatus == statusQueued {
		query = `UPDATE images SET status = ?, updated_at = ?, size = NULL, virtual_size = NULL WHERE id = ? AND status = ?`
	}
	res, err := q.ExecContext(ctx, query, toStatus, store.FormatTime(now()), id, fromStatus)
	if err != nil {
		return false, fmt.Errorf("set image status: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// now is the current time as stored (microseconds, UTC).
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// requireFormats is the check Glance's status setter makes before data is saved.
func requireFormats(img *image) error {
	var missing []string
	if str(img.DiskFormat) == "" {
		missing = append(missing, "disk_format")
	}
	if str(img.ContainerFormat) == "" {
		missing = append(missing, "container_format")
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return errorf(http.StatusBadRequest, "Property %s must be set prior to saving data.", missing[0])
	}
	return errorf(http.StatusBadRequest, "Properties %s must be set prior to saving data.", strings.Join(missing, ", "))
}
