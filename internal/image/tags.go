package image

import (
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// tagRoutes are the image tag routes (glance/api/v2/image_tags.py).
func (s *Service) tagRoutes() []route {
	return []route{
		{method: "PUT", path: "/v2/images/{image_id}/tags/{tag_value}", rule: "modify_image", handle: s.addTag},
		{method: "DELETE", path: "/v2/images/{image_id}/tags/{tag_value}", rule: "modify_image", handle: s.deleteTag},
	}
}

// addTag is PUT /v2/images/{image_id}/tags/{tag_value}; adding a tag the image has is
// a no-op.
func (s *Service) addTag(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	id, tag := r.PathValue("image_id"), r.PathValue("tag_value")
	if utf8.RuneCountInString(tag) > 255 {
		return schemaError("image", fmt.Sprintf("%s is too long\n\nFailed validating 'maxLength' in schema['properties']['tags']['items']", pyRepr(tag)))
	}
	err := s.db.InTx(r.Context(), func(tx *store.Tx) error {
		img, err := c.getImage(r.Context(), tx, id)
		if err != nil {
			if api.AsError(err).Status == http.StatusNotFound {
				return api.NotFound("Image %s not found.", id)
			}
			return err
		}
		if err := c.enforceImage(c.rule, img); err != nil {
			return err
		}
		if contains(img.Tags, tag) {
			return nil
		}
		if len(img.Tags)+1 > s.cfg.MaxTags {
			return errorf(http.StatusRequestEntityTooLarge, "Image tag limit exceeded for image %s: The limit has been "+
				"exceeded on the number of allowed image tags. Attempted: %d, Maximum: %d:", id, len(img.Tags)+1, s.cfg.MaxTags)
		}
		if _, err := tx.ExecContext(r.Context(), `INSERT INTO image_tags (image_id, value) VALUES (?, ?)`, img.ID, tag); err != nil {
			return fmt.Errorf("add image tag: %w", err)
		}
		return touch(r, tx, img.ID)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteTag is DELETE /v2/images/{image_id}/tags/{tag_value}.
func (s *Service) deleteTag(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := rejectBody(r); err != nil {
		return err
	}
	id, tag := r.PathValue("image_id"), r.PathValue("tag_value")
	err := s.db.InTx(r.Context(), func(tx *store.Tx) error {
		img, err := c.getImage(r.Context(), tx, id)
		if err != nil {
			if api.AsError(err).Status == http.StatusNotFound {
				return api.NotFound("Image %s not found.", id)
			}
			return err
		}
		if err := c.enforceImage(c.rule, img); err != nil {
			return err
		}
		if !contains(img.Tags, tag) {
			return notFound()
		}
		if _, err := tx.ExecContext(r.Context(), `DELETE FROM image_tags WHERE image_id = ? AND value = ?`, img.ID, tag); err != nil {
			return fmt.Errorf("delete image tag: %w", err)
		}
		return touch(r, tx, img.ID)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// touch bumps an image's updated_at.
func touch(r *http.Request, tx *store.Tx, id string) error {
	_, err := tx.ExecContext(r.Context(), `UPDATE images SET updated_at = ? WHERE id = ?`, store.FormatTime(now()), id)
	return err
}
