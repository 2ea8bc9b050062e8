package image

import (
	"net/http"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/policy"
)

// Glance's check strings (glance/policies/base.py), as current Glance ships them with
// enforce_new_defaults: admin, member and reader personas, owner checks on the image's
// project ("project_id" of an image target is its owner) and the caller's membership
// ("member_id" is the caller's project when it reaches a shared image it does not own).
const (
	ruleAdmin             = "rule:context_is_admin"
	checkProjectMember    = "role:member and project_id:%(project_id)s"
	checkProjectReader    = "role:reader and project_id:%(project_id)s"
	checkImageMember      = "project_id:%(member_id)s"
	checkVisibleToOthers  = "'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s"
	adminOrProjectMember  = ruleAdmin + " or (" + checkProjectMember + ")"
	adminOrProjectReader  = ruleAdmin + " or (" + checkProjectReader + ")"
	adminOrReaderGetImage = ruleAdmin + " or (role:reader and (project_id:%(project_id)s or " + checkImageMember +
		" or " + checkVisibleToOthers + "))"
	adminOrMemberDownload = ruleAdmin + " or (role:member and (project_id:%(project_id)s or " + checkImageMember +
		" or " + checkVisibleToOthers + "))"
	adminOrMemberCreate   = ruleAdmin + " or (" + checkProjectMember + " and project_id:%(owner)s)"
	adminOrSharedMember   = ruleAdmin + " or (role:member and " + checkImageMember + ")"
	adminOrReaderOrMember = ruleAdmin + " or role:reader and (project_id:%(project_id)s or " + checkImageMember + ")"
)

// defaultPolicies are Glance's default rules for the image API (glance/policies/base.py,
// image.py, discovery.py, tasks.py). The rule namespace is shared by every service, so two
// of Glance's base rules are left out: "default" (an empty check, which would allow any
// action of any service that has no rule of its own) and "service_api", which Nova
// defines differently; no image rule here refers to either.
func defaultPolicies() map[string]string {
	return withMetadefPolicies(map[string]string{
		"context_is_admin":  "role:admin",
		"add_image":         adminOrMemberCreate,
		"delete_image":      adminOrProjectMember,
		"get_image":         adminOrReaderGetImage,
		"get_images":        adminOrProjectReader,
		"modify_image":      adminOrProjectMember,
		"publicize_image":   ruleAdmin,
		"communitize_image": adminOrProjectMember,
		"download_image":    adminOrMemberDownload,
		"upload_image":      adminOrProjectMember,
		"add_member":        adminOrProjectMember,
		"delete_member":     adminOrProjectMember,
		"get_member":        adminOrReaderOrMember,
		"get_members":       adminOrReaderOrMember,
		"modify_member":     adminOrSharedMember,
		"deactivate":        adminOrProjectMember,
		"reactivate":        adminOrProjectMember,
		"copy_image":        ruleAdmin,
		// Image locations are never shown (show_multiple_locations is off), but the rules
		// exist so that policy files naming them load.
		"delete_image_location": ruleAdmin,
		"get_image_location":    adminOrProjectReader,
		"set_image_location":    adminOrProjectMember,
		"stores_info_detail":    ruleAdmin,
		// glance/policies/tasks.py: the tasks API is for admins; the per-task rules are
		// Glance's "rule:default", an empty check.
		"tasks_api_access": ruleAdmin,
		"get_task":         "",
		"get_tasks":        "",
		"add_task":         "",
		"modify_task":      "",
	})
}

// call is what a handler knows about the request it serves: the caller, its policy
// credentials and whether it is Glance's admin (context_is_admin).
type call struct {
	s      *Service
	r      *http.Request
	caller *api.Caller
	creds  policy.Credentials
	admin  bool
	// rule is the policy rule the route table names for this request.
	rule string
}

// newCall builds the call for an authenticated request.
func (s *Service) newCall(r *http.Request) *call {
	c := api.CallerFrom(r.Context())
	if c == nil {
		c = &api.Caller{}
	}
	cl := &call{s: s, r: r, caller: c, creds: c.PolicyCredentials()}
	cl.admin = cl.allowed("context_is_admin", policy.Target{})
	return cl
}

// project is the caller's project (Glance's context.owner), "" without project scope.
func (c *call) project() string { return c.caller.ProjectID }

// allowed reports whether rule allows the caller on target. Every image rule has
// scope_types ['project'] and Glance enforces scope, so a token without project scope
// is refused whatever its roles.
func (c *call) allowed(rule string, target policy.Target) bool {
	if c.caller.ProjectID == "" {
		return false
	}
	if c.s.enforcer == nil {
		return true
	}
	return c.s.enforcer.Enforce(rule, c.creds, target)
}

// enforce returns Glance's 403 when rule does not allow the caller on target.
func (c *call) enforce(rule string, target policy.Target) error {
	if c.allowed(rule, target) {
		return nil
	}
	return errForbiddenAction(rule)
}

// errForbiddenAction is glance.common.exception.Forbidden(action=rule).
func errForbiddenAction(rule string) *api.Error {
	return errorf(http.StatusForbidden, "You are not authorized to complete %s action.", rule)
}

// projectTarget is the target Glance uses for checks that concern the caller's project
// rather than an image ({"project_id": context.project_id}).
func (c *call) projectTarget() policy.Target {
	return policy.Target{"project_id": c.project()}
}

// enforceImage is Glance's ImageAPIPolicy._enforce: a denial becomes a bare 404 when the
// caller may not even see the image (or the rule is get_image), so that the existence of
// images is not revealed, and a 403 otherwise.
func (c *call) enforceImage(rule string, img *image) error {
	t := img.target(c)
	if c.allowed(rule, t) {
		return nil
	}
	if rule == "get_image" || !c.allowed("get_image", t) {
		return notFound()
	}
	return errForbiddenAction(rule)
}

// enforceVisibility is glance.api.policy._enforce_image_visibility: making an image
// public needs publicize_image, community needs communitize_image.
func (c *call) enforceVisibility(visibility string, target policy.Target) error {
	switch visibility {
	case "public":
		return c.enforce("publicize_image", target)
	case "community":
		return c.enforce("communitize_image", target)
	}
	return nil
}
