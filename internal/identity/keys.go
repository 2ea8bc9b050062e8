package identity

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gostack/gostack/internal/identity/fernet"
)

// maxActiveKeys returns how many Fernet keys to keep so that every token that can still
// validate (its life plus the allow_expired window) was signed by a key still present:
// one staged, one primary, and enough secondaries to cover that span at the rotation
// interval — Keystone's sizing rule for max_active_keys.
func (s *Service) maxActiveKeys() int {
	interval := s.cfg.KeyRotationInterval
	if interval <= 0 {
		return fernet.DefaultMaxActiveKeys
	}
	span := s.cfg.TokenExpiration + s.cfg.AllowExpiredWindow
	n := int(math.Ceil(float64(span)/float64(interval))) + 2
	return max(n, fernet.DefaultMaxActiveKeys)
}

// RotateKeys rotates the Fernet key repository once (the staged key becomes primary) and
// reloads the keys in use. Tokens signed by the keys that remain keep validating.
func (s *Service) RotateKeys() error {
	if err := fernet.Rotate(s.cfg.KeyDir, s.maxActiveKeys()); err != nil {
		return err
	}
	return s.reloadKeys()
}

// reloadKeys re-reads the key repository and drops cached validations, which may have
// been made with a key that is now gone.
func (s *Service) reloadKeys() error {
	if err := s.keys.Reload(); err != nil {
		return err
	}
	s.generation.Add(1)
	return nil
}

// RotateKeyRepository rotates a key repository without a running service, for the
// `gostack keys rotate` command; a running gostack picks the change up within a minute.
func RotateKeyRepository(dir string, cfg Config) error {
	s := &Service{cfg: cfg}
	s.cfg.KeyDir = dir
	if s.cfg.TokenExpiration == 0 {
		s.cfg.TokenExpiration = time.Hour
	}
	if s.cfg.AllowExpiredWindow == 0 {
		s.cfg.AllowExpiredWindow = 48 * time.Hour
	}
	if err := fernet.Setup(dir); err != nil {
		return err
	}
	return fernet.Rotate(dir, s.maxActiveKeys())
}

// primaryKeyAge returns how long ago the primary (highest-numbered) key was written.
func primaryKeyAge(dir string) (time.Duration, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	best := -1
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil && n > best {
			best = n
		}
	}
	if best < 0 {
		return 0, os.ErrNotExist
	}
	fi, err := os.Stat(filepath.Join(dir, strconv.Itoa(best)))
	if err != nil {
		return 0, err
	}
	return time.Since(fi.ModTime()), nil
}

// maintainKeys reloads keys rotated by another process (`gostack keys rotate`, or another
// replica sharing the repository) and rotates when the primary key is older than the
// configured interval.
func (s *Service) maintainKeys(ctx context.Context) {
	if s.cfg.KeyRotationInterval > 0 {
		if age, err := primaryKeyAge(s.cfg.KeyDir); err == nil && age >= s.cfg.KeyRotationInterval {
			if err := s.RotateKeys(); err != nil {
				s.log.ErrorContext(ctx, "rotate fernet keys", "err", err)
			} else {
				s.log.InfoContext(ctx, "rotated fernet keys", "max_active_keys", s.maxActiveKeys())
			}
			return
		}
	}
	if err := s.reloadKeys(); err != nil {
		s.log.WarnContext(ctx, "reload fernet keys", "err", err)
	}
}
