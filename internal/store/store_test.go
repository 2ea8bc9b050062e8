package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openEngines opens a fresh database on SQLite and, when GOSTACK_TEST_POSTGRES is set to
// a PostgreSQL URL, on PostgreSQL too, so the same assertions run on both engines.
func openEngines(t *testing.T) map[string]*DB {
	t.Helper()
	ctx := context.Background()
	out := map[string]*DB{}
	db, err := Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	out["sqlite"] = db
	if url := os.Getenv("GOSTACK_TEST_POSTGRES"); url != "" {
		// Each run gets a schema of its own, so no list of tables needs maintaining and
		// runs never see each other's leftovers.
		admin, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		schema := fmt.Sprintf("store_test_%d", time.Now().UnixNano())
		if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
			t.Fatalf("postgres: %v", err)
		}
		t.Cleanup(func() {
			_, _ = admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			admin.Close()
		})
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		pg, err := Open(ctx, url+sep+"search_path="+schema)
		if err != nil {
			t.Fatalf("postgres: %v", err)
		}
		t.Cleanup(func() { pg.Close() })
		out["postgres"] = pg
	}
	return out
}

func TestMigrationsApplyAndAreIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	ms, _ := loadMigrations()
	if n != len(ms) {
		t.Fatalf("applied %d migrations, have %d", n, len(ms))
	}
	db.Close()
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(ms) {
		t.Fatalf("after reopen: %d migrations, err %v", n, err)
	}
}

func TestSQLitePragmas(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	var sync, fk int
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v", mode, err)
	}
	if err := db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
		t.Errorf("synchronous = %d, %v; want 2 (FULL)", sync, err)
	}
	if err := db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v", fk, err)
	}
}

func TestPortableSQL(t *testing.T) {
	for name, db := range openEngines(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			err := db.InTx(ctx, func(tx *Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO roles (id, name, domain_id) VALUES (?, ?, ?)`, "r1", "admin", "<<null>>")
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = db.ExecContext(ctx, `INSERT INTO roles (id, name, domain_id) VALUES (?, ?, ?)`, "r2", "admin", "<<null>>")
			if !IsUniqueViolation(err) {
				t.Fatalf("duplicate insert: %v, want a unique violation", err)
			}
			// A failing transaction leaves nothing behind.
			_ = db.InTx(ctx, func(tx *Tx) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO roles (id, name, domain_id) VALUES (?, ?, ?)`, "r3", "x", "<<null>>"); err != nil {
					return err
				}
				return context.Canceled
			})
			var n int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM roles WHERE id = ?`, "r3").Scan(&n); err != nil || n != 0 {
				t.Fatalf("rolled back row present: %d %v", n, err)
			}
			// Booleans round-trip on both engines.
			if _, err := db.ExecContext(ctx, `INSERT INTO projects (id, name, domain_id, is_domain, enabled) VALUES (?, ?, ?, ?, ?)`,
				"p1", "p", "d", true, false); err != nil {
				t.Fatal(err)
			}
			var isDomain, enabled bool
			if err := db.QueryRowContext(ctx, `SELECT is_domain, enabled FROM projects WHERE id = ?`, "p1").Scan(&isDomain, &enabled); err != nil {
				t.Fatal(err)
			}
			if !isDomain || enabled {
				t.Fatalf("booleans: is_domain=%v enabled=%v", isDomain, enabled)
			}
			// ON CONFLICT DO NOTHING is accepted by both.
			for i := 0; i < 2; i++ {
				if _, err := db.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING`, "k", "v"); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestTimeFormatSortsLikeTime(t *testing.T) {
	a := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	b := a.Add(time.Microsecond)
	if !(FormatTime(a) < FormatTime(b)) {
		t.Fatalf("%s !< %s", FormatTime(a), FormatTime(b))
	}
	if got := ParseTime(FormatTime(a)); !got.Equal(a) {
		t.Fatalf("round trip %v != %v", got, a)
	}
	if FormatTime(time.Time{}) != "" || !ParseTime("").IsZero() {
		t.Fatal("zero time must map to the empty string")
	}
}

func TestRebind(t *testing.T) {
	db := &DB{engine: Postgres}
	got := db.rebind(`SELECT * FROM t WHERE a = ? AND b = '?' AND c = ?`)
	want := `SELECT * FROM t WHERE a = $1 AND b = '?' AND c = $2`
	if got != want {
		t.Fatalf("rebind = %q, want %q", got, want)
	}
}

func TestStatementsSplit(t *testing.T) {
	got := statements("-- comment\nCREATE TABLE a (x INTEGER);\n\nCREATE INDEX i ON a (x);\n")
	if len(got) != 2 {
		t.Fatalf("got %d statements: %q", len(got), got)
	}
}
