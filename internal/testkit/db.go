package testkit

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gostack/gostack/internal/store"
)

// OpenDB opens a fresh, migrated store for one test: SQLite in dir, or a new schema in
// the PostgreSQL database that GOSTACK_TEST_POSTGRES names (dropped at cleanup), so that
// a package's whole suite runs on either engine.
func OpenDB(t testing.TB, dir string) *store.DB {
	t.Helper()
	ctx := context.Background()
	url := os.Getenv("GOSTACK_TEST_POSTGRES")
	if url == "" {
		db, err := store.Open(ctx, filepath.Join(dir, "test.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	admin, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := fmt.Sprintf("test_%d_%d", time.Now().UnixNano(), rand.IntN(1<<30))
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if a, err := sql.Open("pgx", url); err == nil {
			_, _ = a.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			a.Close()
		}
	})
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	db, err := store.Open(ctx, url+sep+"search_path="+schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
