package image

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// Image members (glance/api/v2/image_members.py): the owner of a shared image offers it
// to other projects, which accept or reject it. A member project sees the image by id in
// any member status, and in lists once it has accepted (or when it asks for its pending
// or rejected images with member_status).

// memberRoutes are the image member routes.
func (s *Service) memberRoutes() []route {
	return []route{
		{method: "GET", path: "/v2/images/{image_id}/members", rule: "get_members", handle: s.listMembers},
		{method: "POST", path: "/v2/images/{image_id}/members", rule: "add_member", handle: s.createMember},
		{method: "GET", path: "/v2/images/{image_id}/members/{member_id}", rule: "get_member", handle: s.showMember},
		{method: "PUT", path: "/v2/images/{image_id}/members/{member_id}", rule: "modify_member", handle: s.updateMember},
		{method: "DELETE", path: "/v2/images/{image_id}/members/{member_id}", rule: "delete_member", handle: s.deleteMember},
	}
}

// member is one image_members row.
type member struct {
	ImageID, MemberID, Status string
	CreatedAt, UpdatedAt      time.Time
}

// view renders a member as Glance does.
func (m *member) view() map[string]any {
	return map[string]any{
		"member_id": m.MemberID, "image_id": m.ImageID, "status": m.Status,
		"created_at": isoTime(m.CreatedAt), "updated_at": isoTime(m.UpdatedAt), "schema": "/v2/schemas/member",
	}
}

// listMemberRows returns the memberships of an image the caller may see (Glance's
// _image_member_find): all of them for admins and the owner, a member's own otherwise.
func (c *call) listMemberRows(ctx context.Context, q store.Querier, img *image, memberID string) ([]*member, error) {
	query := `SELECT image_id, member, status, created_at, updated_at FROM image_members WHERE image_id = ?`
	args := []any{img.ID}
	if memberID != "" {
		query += ` AND member = ?`
		args = append(args, memberID)
	}
	if !c.admin && c.project() != img.owner() {
		query += ` AND member = ?`
		args = append(args, c.project())
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY created_at, member`, args...)
	if err != nil {
		return nil, fmt.Errorf("list image members: %w", err)
	}
	defer rows.Close()
	var out []*member
	for rows.Next() {
		var m member
		var created, updated string
		if err := rows.Scan(&m.ImageID, &m.MemberID, &m.Status, &created, &updated); err != nil {
			return nil, err
		}
		m.CreatedAt, m.UpdatedAt = store.ParseTime(created), store.ParseTime(updated)
		out = append(out, &m)
	}
	return out, rows.Err()
}

// memberImage is ImageMembersController._lookup_image.
func (c *call) memberImage(ctx context.Context, q store.Querier, id string) (*image, error) {
	img, err := c.getImage(ctx, q, id)
	if err != nil {
		if api.AsError(err).Status == http.StatusNotFound {
			return nil, api.NotFound("Image %s not found.", id)
		}
		return nil, err
	}
	return img, nil
}

// enforceMember is MemberAPIPolicy._enforce: the caller must be able to get the image,
// then pass the member rule against the image.
func (c *call) enforceMember(rule string, img *image) error {
	if err := c.enforceImage("get_image", img); err != nil {
		return err
	}
	return c.enforce(rule, img.target(c))
}

// lookupMember is ImageMembersController._lookup_member.
func (c *call) lookupMember(ctx context.Context, q store.Querier, img *image, memberID string) (*member, error) {
	if err := c.enforceMember("get_member", img); err != nil {
		return nil, err
	}
	ms, err := c.listMemberRows(ctx, q, img, memberID)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, api.NotFound("%s not found in the member list of the image %s.", memberID, img.ID)
	}
	return ms[0], nil
}

// errOnlyShared is the Forbidden Glance raises for members of an image that is not shared.
const errOnlyShared = "Only shared images have members."

// listMembers is GET /v2/images/{image_id}/members.
func (s *Service) listMembers(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	ctx := r.Context()
	img, err := c.memberImage(ctx, s.db, r.PathValue("image_id"))
	if err != nil {
		return err
	}
	if img.Visibility != "shared" {
		return api.Forbidden("Not allowed to list members for image %s: %s", img.ID, errOnlyShared)
	}
	if err := c.enforceMember(c.rule, img); err != nil {
		return err
	}
	ms, err := c.listMemberRows(ctx, s.db, img, "")
	if err != nil {
		return err
	}
	views := []map[string]any{}
	if c.allowed("get_member", img.target(c)) {
		for _, m := range ms {
			views = append(views, m.view())
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"members": views, "schema": "/v2/schemas/members"})
	return nil
}

// showMember is GET /v2/images/{image_id}/members/{member_id}; every refusal is a 404, so
// that memberships are not revealed.
func (s *Service) showMember(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	ctx := r.Context()
	img, err := c.memberImage(ctx, s.db, r.PathValue("image_id"))
	if err != nil {
		return err
	}
	if img.Visibility != "shared" {
		return api.NotFound(errOnlyShared)
	}
	m, err := c.lookupMember(ctx, s.db, img, r.PathValue("member_id"))
	if err != nil {
		if e := api.AsError(err); e.Status == http.StatusForbidden {
			return api.NotFound("%s", e.Message)
		}
		return err
	}
	api.WriteJSON(w, http.StatusOK, m.view())
	return nil
}

// createMember is POST /v2/images/{image_id}/members.
func (s *Service) createMember(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := readJSON(r)
	if err != nil {
		return err
	}
	obj, ok := body.(map[string]any)
	if !ok {
		return errorf(http.StatusBadRequest, `Expected a member in the form: {"member": "image_id"}`)
	}
	raw, present := obj["member"]
	if !present {
		return errorf(http.StatusBadRequest, "Member to be added not specified")
	}
	if raw == nil || raw == "" || raw == false {
		return errorf(http.StatusBadRequest, "Member can't be empty")
	}
	memberID, ok := raw.(string)
	if !ok {
		return errorf(http.StatusBadRequest, `Expected a member in the form: {"member": "image_id"}`)
	}
	if len(memberID) > 255 {
		return errorf(http.StatusBadRequest, "Member %s is longer than 255 characters.", truncate(memberID, 64))
	}
	ctx := r.Context()
	var m *member
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		img, err := c.memberImage(ctx, tx, r.PathValue("image_id"))
		if err != nil {
			return err
		}
		if img.Visibility != "shared" {
			return api.Forbidden("Not allowed to create members for image %s.", img.ID)
		}
		if err := c.enforceMember(c.rule, img); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM image_members WHERE image_id = ?`, img.ID).Scan(&n); err != nil {
			return fmt.Errorf("count image members: %w", err)
		}
		var dup int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM image_members WHERE image_id = ? AND member = ?`,
			img.ID, memberID).Scan(&dup); err != nil {
			return fmt.Errorf("find image member: %w", err)
		}
		if dup > 0 {
			return api.Conflict("Member %s is duplicated for image %s", memberID, img.ID)
		}
		if n+1 > s.cfg.MaxMembers {
			return errorf(http.StatusRequestEntityTooLarge, "Image member limit exceeded for image %s: The limit has been "+
				"exceeded on the number of allowed image members for this image. Attempted: %d, Maximum: %d:",
				img.ID, n+1, s.cfg.MaxMembers)
		}
		t := now()
		m = &member{ImageID: img.ID, MemberID: memberID, Status: "pending", CreatedAt: t, UpdatedAt: t}
		_, err = tx.ExecContext(ctx, `INSERT INTO image_members (image_id, member, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?)`, m.ImageID, m.MemberID, m.Status, store.FormatTime(t), store.FormatTime(t))
		if store.IsUniqueViolation(err) {
			return api.Conflict("Member %s is duplicated for image %s", memberID, img.ID)
		}
		if err != nil {
			return fmt.Errorf("add image member: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, m.view())
	return nil
}

// updateMember is PUT /v2/images/{image_id}/members/{member_id}: the member project
// accepts or rejects the image (the owner cannot answer for it).
func (s *Service) updateMember(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := readJSON(r)
	if err != nil {
		return err
	}
	obj, ok := body.(map[string]any)
	if !ok {
		return errorf(http.StatusBadRequest, `Expected a status in the form: {"status": "status"}`)
	}
	raw, present := obj["status"]
	if !present {
		return errorf(http.StatusBadRequest, "Status not specified")
	}
	ctx := r.Context()
	var m *member
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		img, err := c.memberImage(ctx, tx, r.PathValue("image_id"))
		if err != nil {
			return err
		}
		if img.Visibility != "shared" {
			return api.Forbidden("Not allowed to update members for image %s.", img.ID)
		}
		m, err = c.lookupMember(ctx, tx, img, r.PathValue("member_id"))
		if err != nil {
			return err
		}
		if err := c.enforceMember(c.rule, img); err != nil {
			return err
		}
		status, _ := raw.(string)
		switch status {
		case "pending", "accepted", "rejected":
		default:
			return errorf(http.StatusBadRequest, `Incorrect request: Status must be "pending", "accepted" or "rejected".`)
		}
		m.Status, m.UpdatedAt = status, now()
		_, err = tx.ExecContext(ctx, `UPDATE image_members SET status = ?, updated_at = ? WHERE image_id = ? AND member = ?`,
			m.Status, store.FormatTime(m.UpdatedAt), m.ImageID, m.MemberID)
		if err != nil {
			return fmt.Errorf("update image member: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, m.view())
	return nil
}

// deleteMember is DELETE /v2/images/{image_id}/members/{member_id}.
func (s *Service) deleteMember(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	ctx := r.Context()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		img, err := c.memberImage(ctx, tx, r.PathValue("image_id"))
		if err != nil {
			return err
		}
		if img.Visibility != "shared" {
			return api.Forbidden("Not allowed to delete members for image %s.", img.ID)
		}
		m, err := c.lookupMember(ctx, tx, img, r.PathValue("member_id"))
		if err != nil {
			return err
		}
		if err := c.enforceMember(c.rule, img); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM image_members WHERE image_id = ? AND member = ?`, m.ImageID, m.MemberID); err != nil {
			return fmt.Errorf("delete image member: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
