package identity

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// project is a Keystone project row; domains are projects with IsDomain set.
type project struct {
	ID, Name, DomainID, ParentID, Description string
	IsDomain, Enabled                         bool
	Tags                                      []string
	Extra, Options                            map[string]any
}

// projectColumns is the column list scanProject reads.
const projectColumns = `id, name, domain_id, COALESCE(parent_id, ''), is_domain, enabled, description, extra, options`

// scanProject reads one row selected with projectColumns.
func scanProject(row interface{ Scan(...any) error }) (*project, error) {
	var p project
	var extra, options string
	if err := row.Scan(&p.ID, &p.Name, &p.DomainID, &p.ParentID, &p.IsDomain, &p.Enabled,
		&p.Description, &extra, &options); err != nil {
		return nil, err
	}
	p.Extra, p.Options = jsonMap(extra), jsonMap(options)
	return &p, nil
}

// loadTags fills the tags of the given projects.
func loadTags(ctx context.Context, q store.Querier, ps []*project) error {
	if len(ps) == 0 {
		return nil
	}
	byID := make(map[string]*project, len(ps))
	for _, p := range ps {
		byID[p.ID] = p
		p.Tags = []string{}
	}
	var rows *sql.Rows
	var err error
	if len(ps) == 1 {
		rows, err = q.QueryContext(ctx, `SELECT project_id, name FROM project_tags WHERE project_id = ? ORDER BY name`, ps[0].ID)
	} else {
		rows, err = q.QueryContext(ctx, `SELECT project_id, name FROM project_tags ORDER BY name`)
	}
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var pid, name string
		if err := rows.Scan(&pid, &name); err != nil {
			return err
		}
		if p := byID[pid]; p != nil {
			p.Tags = append(p.Tags, name)
		}
	}
	return rows.Err()
}

// getProject loads a project (domains included, since Keystone accepts a domain's id as a
// project id) or returns Keystone's 404.
func (s *Service) getProject(ctx context.Context, q store.Querier, id string) (*project, error) {
	p, err := scanProject(q.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = ?`, id))
	if store.IsNoRows(err) {
		return nil, api.NotFound("Could not find project: %s.", id)
	}
	if err != nil {
		return nil, err
	}
	if err := loadTags(ctx, q, []*project{p}); err != nil {
		return nil, err
	}
	return p, nil
}

// getDomain loads a domain or returns Keystone's 404.
func (s *Service) getDomain(ctx context.Context, q store.Querier, id string) (*project, error) {
	p, err := scanProject(q.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = ? AND is_domain = ?`, id, true))
	if store.IsNoRows(err) {
		return nil, api.NotFound("Could not find domain: %s.", id)
	}
	if err != nil {
		return nil, err
	}
	if err := loadTags(ctx, q, []*project{p}); err != nil {
		return nil, err
	}
	return p, nil
}

// findDomainByName loads a domain by name or returns Keystone's 404.
func (s *Service) findDomainByName(ctx context.Context, q store.Querier, name string) (*project, error) {
	p, err := scanProject(q.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE domain_id = ? AND name = ?`, RootDomainID, name))
	if store.IsNoRows(err) {
		return nil, api.NotFound("Could not find domain: %s.", name)
	}
	return p, err
}

// findProjectByName loads a project by name within a domain or returns Keystone's 404.
func (s *Service) findProjectByName(ctx context.Context, q store.Querier, domainID, name string) (*project, error) {
	p, err := scanProject(q.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE domain_id = ? AND name = ? AND is_domain = ?`, domainID, name, false))
	if store.IsNoRows(err) {
		return nil, api.NotFound("Could not find project: %s.", name)
	}
	return p, err
}

// projectAncestorIDs returns the project's parents, nearest first, stopping below the
// domain row. Cycles, which the API never creates, are cut off rather than looped on.
func (s *Service) projectAncestorIDs(ctx context.Context, q store.Querier, id string) ([]string, error) {
	var out []string
	seen := map[string]bool{id: true}
	cur := id
	for i := 0; i < 1000; i++ {
		var parent string
		var isDomain bool
		err := q.QueryRowContext(ctx, `SELECT COALESCE(parent_id, ''), is_domain FROM projects WHERE id = ?`, cur).Scan(&parent, &isDomain)
		if store.IsNoRows(err) || isDomain {
			break
		}
		if err != nil {
			return nil, err
		}
		if parent == "" || seen[parent] {
			break
		}
		var parentIsDomain bool
		if err := q.QueryRowContext(ctx, `SELECT is_domain FROM projects WHERE id = ?`, parent).Scan(&parentIsDomain); err != nil {
			if store.IsNoRows(err) {
				break
			}
			return nil, err
		}
		if parentIsDomain {
			break
		}
		out = append(out, parent)
		seen[parent] = true
		cur = parent
	}
	return out, nil
}

// projectSubtreeIDs returns every descendant of the project, breadth first.
func (s *Service) projectSubtreeIDs(ctx context.Context, q store.Querier, id string) ([]string, error) {
	var out []string
	seen := map[string]bool{id: true}
	frontier := []string{id}
	for len(frontier) > 0 && len(out) < 100000 {
		next := []string{}
		for _, pid := range frontier {
			rows, err := q.QueryContext(ctx, `SELECT id FROM projects WHERE parent_id = ? AND is_domain = ? ORDER BY id`, pid, false)
			if err != nil {
				return nil, err
			}
			for rows.Next() {
				var c string
				if err := rows.Scan(&c); err != nil {
					rows.Close()
					return nil, err
				}
				if !seen[c] {
					seen[c] = true
					out = append(out, c)
					next = append(next, c)
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, err
			}
		}
		frontier = next
	}
	return out, nil
}

// projectDepth returns how many project levels lie above id (0 for a top-level project).
func (s *Service) projectDepth(ctx context.Context, q store.Querier, id string) (int, error) {
	a, err := s.projectAncestorIDs(ctx, q, id)
	return len(a), err
}

// maxProjectTreeDepth is Keystone's [DEFAULT] max_project_tree_depth.
const maxProjectTreeDepth = 5

// validTag checks one project tag as Keystone does: 1-255 characters without '/' or ','.
func validTag(t string) error {
	if t == "" || utf8.RuneCountInString(t) > 255 || strings.ContainsAny(t, "/,") {
		return api.BadRequest("Invalid input for field 'tags': %q is not a valid tag (1 to 255 characters, no '/' or ',').", truncateRunes(t, 64))
	}
	return nil
}

// validTags checks a tag list: at most 80 valid tags; duplicates are folded.
func validTags(tags []string) ([]string, error) {
	if len(tags) > 80 {
		return nil, api.BadRequest("Invalid input for field 'tags': a project can have at most 80 tags.")
	}
	seen := map[string]bool{}
	out := []string{}
	for _, t := range tags {
		if err := validTag(t); err != nil {
			return nil, err
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out, nil
}

// truncateRunes shortens s to n runes for messages.
func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "..."
}

// setTags replaces a project's tags.
func setTags(ctx context.Context, tx *store.Tx, projectID string, tags []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM project_tags WHERE project_id = ?`, projectID); err != nil {
		return err
	}
	for _, t := range tags {
		if _, err := tx.ExecContext(ctx, `INSERT INTO project_tags (project_id, name) VALUES (?, ?)`, projectID, t); err != nil {
			return err
		}
	}
	return nil
}

// insertProject stores a new project or domain row with its tags.
func insertProject(ctx context.Context, tx *store.Tx, p *project) error {
	parent := sql.NullString{String: p.ParentID, Valid: p.ParentID != ""}
	_, err := tx.ExecContext(ctx, `INSERT INTO projects (id, name, domain_id, parent_id, is_domain, enabled, description, extra, options, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ID, p.Name, p.DomainID, parent, p.IsDomain, p.Enabled, p.Description, jsonText(p.Extra), jsonText(p.Options), store.FormatTime(now()))
	if err != nil {
		return mapStoreError(err)
	}
	return setTags(ctx, tx, p.ID, p.Tags)
}

// updateProjectRow writes a project's mutable columns.
func updateProjectRow(ctx context.Context, tx *store.Tx, p *project) error {
	_, err := tx.ExecContext(ctx, `UPDATE projects SET name = ?, enabled = ?, description = ?, extra = ?, options = ? WHERE id = ?`,
		p.Name, p.Enabled, p.Description, jsonText(p.Extra), jsonText(p.Options), p.ID)
	return mapStoreError(err)
}

// deleteProjectTx removes a project and everything that hangs off it: its assignments,
// its tags, and the tokens scoped to it.
func (s *Service) deleteProjectTx(ctx context.Context, tx *store.Tx, id string) error {
	if err := s.deleteTrustsForProjectTx(ctx, tx, id); err != nil {
		return err
	}
	for _, stmt := range []string{
		`DELETE FROM assignments WHERE target_id = ?`,
		`DELETE FROM limits WHERE project_id = ?`,
		`DELETE FROM application_credentials WHERE project_id = ?`,
		`DELETE FROM credentials WHERE project_id = ?`,
		`DELETE FROM projects WHERE id = ?`,
	} {
		if _, err := tx.ExecContext(ctx, stmt, id); err != nil {
			return fmt.Errorf("delete project %s: %w", id, err)
		}
	}
	return s.revoke(ctx, tx, revocationEvent{ProjectID: id})
}

// projectOptionsKnown are the resource options Keystone accepts on projects and domains.
var projectOptionsKnown = map[string]bool{"immutable": true}

// readOptions validates an options object: only known options, boolean values or null
// (null removes the option).
func readOptions(o api.Object, known map[string]bool, current map[string]any) (map[string]any, error) {
	opts, present, err := o.Obj("options")
	if err != nil || !present {
		return current, err
	}
	out := map[string]any{}
	for k, v := range current {
		out[k] = v
	}
	for k, v := range opts {
		if !known[k] {
			return nil, api.BadRequest("Invalid input for field 'options': %q is not a valid option.", truncateRunes(k, 64))
		}
		if v == nil {
			delete(out, k)
			continue
		}
		b, ok := v.(bool)
		if !ok {
			return nil, api.BadRequest("Invalid input for field 'options.%s': expected a boolean.", k)
		}
		out[k] = b
	}
	return out, nil
}

// immutable reports whether an entity's options mark it immutable.
func immutable(opts map[string]any) bool {
	b, _ := opts["immutable"].(bool)
	return b
}
