package identity

import (
	"context"
	"fmt"

	"github.com/gostack/gostack/internal/api"
	"github.com/gostack/gostack/internal/store"
)

// BootstrapAccount is one user bootstrap creates with its project.
type BootstrapAccount struct {
	// UserName and ProjectName name the user and its project in the Default domain.
	UserName, ProjectName string
	// Password is the user's password; it is set on first creation and, when Reset is
	// true, again on every start.
	Password string
	Reset    bool
	// Role is granted to the user on its project.
	Role string
}

// BootstrapConfig is what Bootstrap creates: keystone-manage bootstrap plus DevStack's
// demo accounts and the service catalog.
type BootstrapConfig struct {
	// Region is the region of every endpoint (RegionOne).
	Region string
	// Admin, Demo and AltDemo are the admin and the two DevStack demo accounts.
	Admin, Demo, AltDemo BootstrapAccount
	// Catalog lists every service gostack serves with its endpoint URLs.
	Catalog []CatalogEntryConfig
}

// CatalogEntryConfig is one service of the bootstrap catalog with its endpoint URLs.
type CatalogEntryConfig = catalogEntry

// CatalogEntry builds a catalog entry for BootstrapConfig.Catalog.
func CatalogEntry(typ, name, description, region string, urls map[string]string) CatalogEntryConfig {
	return catalogEntry{Type: typ, Name: name, Description: description, Region: region, URLs: urls}
}

// bootstrapRoles are created on first start with Keystone's (2023.2+) implications:
// admin implies manager, manager implies member, member implies reader.
var bootstrapRoles = []struct {
	name    string
	implies []string
}{
	{"reader", nil}, {"member", []string{"reader"}}, {"manager", []string{"member"}},
	{"admin", []string{"manager"}}, {"service", nil},
}

// Bootstrap makes sure the initial domain, roles, projects, users, grants, region and
// catalog exist. It is idempotent and runs at every start; it never removes anything.
func (s *Service) Bootstrap(ctx context.Context, cfg BootstrapConfig) error {
	return s.write(ctx, func(tx *store.Tx) error {
		if _, err := s.getDomain(ctx, tx, DefaultDomainID); err != nil {
			if api.AsError(err).Status != 404 {
				return err
			}
			d := &project{ID: DefaultDomainID, Name: "Default", DomainID: RootDomainID, IsDomain: true,
				Enabled: true, Description: "The default domain", Extra: map[string]any{}, Options: map[string]any{}}
			if err := insertProject(ctx, tx, d); err != nil {
				return fmt.Errorf("create default domain: %w", err)
			}
		}
		roleIDs := map[string]string{}
		for _, br := range bootstrapRoles {
			id, err := ensureRole(ctx, tx, br.name)
			if err != nil {
				return err
			}
			roleIDs[br.name] = id
		}
		for _, br := range bootstrapRoles {
			for _, imp := range br.implies {
				if _, err := tx.ExecContext(ctx, `INSERT INTO implied_roles (prior_role_id, implied_role_id) VALUES (?, ?)
					ON CONFLICT DO NOTHING`, roleIDs[br.name], roleIDs[imp]); err != nil {
					return fmt.Errorf("imply role %s: %w", imp, err)
				}
			}
		}
		if _, err := ensureProject(ctx, tx, "service", "Project for the cloud's own services"); err != nil {
			return err
		}
		projectIDs := map[string]string{}
		userIDs := map[string]string{}
		for _, acct := range []BootstrapAccount{cfg.Admin, cfg.Demo, cfg.AltDemo} {
			if acct.UserName == "" {
				continue
			}
			pid, err := ensureProject(ctx, tx, acct.ProjectName, "")
			if err != nil {
				return err
			}
			uid, err := s.ensureUser(ctx, tx, acct, pid)
			if err != nil {
				return err
			}
			projectIDs[acct.ProjectName], userIDs[acct.UserName] = pid, uid
			if err := grant(ctx, tx, "UserProject", uid, pid, roleIDs[acct.Role]); err != nil {
				return err
			}
		}
		if admin := userIDs[cfg.Admin.UserName]; admin != "" {
			// keystone-manage bootstrap also makes the admin a system administrator, and
			// DevStack gives it admin on the demo projects.
			if err := grant(ctx, tx, "UserSystem", admin, "system", roleIDs["admin"]); err != nil {
				return err
			}
			if err := grant(ctx, tx, "UserDomain", admin, DefaultDomainID, roleIDs["admin"]); err != nil {
				return err
			}
			for _, p := range []string{cfg.Demo.ProjectName, cfg.AltDemo.ProjectName} {
				if pid := projectIDs[p]; pid != "" {
					if err := grant(ctx, tx, "UserProject", admin, pid, roleIDs["admin"]); err != nil {
						return err
					}
				}
			}
		}
		for _, e := range cfg.Catalog {
			if err := s.ensureCatalogEntry(ctx, tx, e); err != nil {
				return fmt.Errorf("catalog entry %s: %w", e.Type, err)
			}
		}
		return nil
	})
}

// ensureRole returns the id of the global role with this name, creating it if needed.
func ensureRole(ctx context.Context, tx *store.Tx, name string) (string, error) {
	var id string
	err := tx.QueryRowContext(ctx, `SELECT id FROM roles WHERE name = ? AND domain_id = ?`, name, NullDomainID).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !store.IsNoRows(err) {
		return "", err
	}
	id = api.NewID()
	_, err = tx.ExecContext(ctx, `INSERT INTO roles (id, name, domain_id) VALUES (?, ?, ?)`, id, name, NullDomainID)
	if err != nil {
		return "", fmt.Errorf("create role %s: %w", name, err)
	}
	return id, nil
}

// ensureProject returns the id of the Default-domain project with this name, creating it
// if needed.
func ensureProject(ctx context.Context, tx *store.Tx, name, description string) (string, error) {
	var id string
	err := tx.QueryRowContext(ctx, `SELECT id FROM projects WHERE name = ? AND domain_id = ?`, name, DefaultDomainID).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !store.IsNoRows(err) {
		return "", err
	}
	p := &project{ID: api.NewID(), Name: name, DomainID: DefaultDomainID, ParentID: DefaultDomainID,
		Enabled: true, Description: description, Extra: map[string]any{}, Options: map[string]any{}}
	if err := insertProject(ctx, tx, p); err != nil {
		return "", fmt.Errorf("create project %s: %w", name, err)
	}
	return p.ID, nil
}

// ensureUser returns the id of the Default-domain user, creating it with its password, or
// resetting the password when the account asks for it.
func (s *Service) ensureUser(ctx context.Context, tx *store.Tx, acct BootstrapAccount, projectID string) (string, error) {
	u, err := s.findUserByName(ctx, tx, DefaultDomainID, acct.UserName)
	if err == nil {
		if !acct.Reset || acct.Password == "" {
			return u.ID, nil
		}
		// Compare first: a reset revokes the user's tokens, which an unchanged password
		// must not do at every start.
		if ok, err := s.userPasswordIs(ctx, tx, u.ID, acct.Password); err != nil {
			return "", err
		} else if !ok {
			if err := s.setPasswordTx(ctx, tx, u.ID, acct.Password); err != nil {
				return "", err
			}
		}
		return u.ID, nil
	}
	if api.AsError(err).Status != 404 {
		return "", err
	}
	nu := &user{ID: api.NewID(), DomainID: DefaultDomainID, Name: acct.UserName, Enabled: true,
		DefaultProjectID: projectID, Extra: map[string]any{}, Options: map[string]any{}}
	if err := s.createUserTx(ctx, tx, nu, acct.Password); err != nil {
		return "", fmt.Errorf("create user %s: %w", acct.UserName, err)
	}
	return nu.ID, nil
}

// grant adds one role assignment if it is not there yet.
func grant(ctx context.Context, tx *store.Tx, typ, actor, target, roleID string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO assignments (type, actor_id, target_id, role_id, inherited)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, typ, actor, target, roleID, false)
	return err
}
