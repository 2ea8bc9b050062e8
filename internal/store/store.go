// Package store opens gostack's database (embedded SQLite by default, PostgreSQL for
// scale-out), applies the embedded schema migrations and hides the few differences between
// the two engines behind a small dialect, so service packages write one portable SQL.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver, registered as "pgx".
	_ "modernc.org/sqlite"             // Pure-Go SQLite driver, registered as "sqlite".
)

// Engine names the database engine behind a DB.
type Engine string

// The engines gostack supports.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// DB is a handle on the gostack database. Queries are written with `?` placeholders and
// portable SQL; DB rewrites them for the engine in use.
type DB struct {
	sql    *sql.DB
	engine Engine
}

// Open opens the database named by dsn and applies every pending migration. A dsn starting
// with "postgres://" or "postgresql://" selects PostgreSQL; anything else is a path to a
// SQLite file (created if missing).
func Open(ctx context.Context, dsn string) (*DB, error) {
	var db *DB
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		sdb, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sdb.SetMaxOpenConns(16)
		db = &DB{sql: sdb, engine: Postgres}
	default:
		if err := os.MkdirAll(filepath.Dir(dsn), 0o700); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
		// WAL lets readers proceed while one writer commits; synchronous=FULL makes every
		// commit durable across power loss, which the kill -9 guarantees rely on.
		q := "file:" + dsn + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
			"&_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_txlock=immediate"
		sdb, err := sql.Open("sqlite", q)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		sdb.SetMaxOpenConns(8)
		sdb.SetConnMaxIdleTime(0)
		db = &DB{sql: sdb, engine: SQLite}
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := db.sql.PingContext(pctx); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if err := db.migrate(ctx); err != nil {
		db.sql.Close()
		return nil, err
	}
	return db, nil
}

// Engine reports which database engine the DB runs on.
func (db *DB) Engine() Engine { return db.engine }

// Close closes the database.
func (db *DB) Close() error { return db.sql.Close() }

// Querier is what both a DB and a Tx offer for running statements.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// ExecContext runs a statement that returns no rows.
func (db *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return db.sql.ExecContext(ctx, db.rebind(query), args...)
}

// QueryContext runs a query returning rows.
func (db *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.sql.QueryContext(ctx, db.rebind(query), args...)
}

// QueryRowContext runs a query returning at most one row.
func (db *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return db.sql.QueryRowContext(ctx, db.rebind(query), args...)
}

// Tx is a transaction; its statements use the same portable SQL as DB.
type Tx struct {
	tx *sql.Tx
	db *DB
}

// ExecContext runs a statement inside the transaction.
func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.db.rebind(query), args...)
}

// QueryContext runs a query inside the transaction.
func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.db.rebind(query), args...)
}

// QueryRowContext runs a single-row query inside the transaction.
func (t *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.db.rebind(query), args...)
}

// InTx runs fn in a transaction, committing when it returns nil and rolling back otherwise.
// SQLite transactions start IMMEDIATE so that two writers never deadlock on lock upgrade.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	stx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(&Tx{tx: stx, db: db}); err != nil {
		_ = stx.Rollback()
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// rebind rewrites `?` placeholders to `$n` for PostgreSQL. Question marks inside single
// quoted literals are left alone.
func (db *DB) rebind(q string) string {
	if db.engine != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n, inQuote := 0, false
	for _, r := range q {
		switch {
		case r == '\'':
			inQuote = !inQuote
			b.WriteRune(r)
		case r == '?' && !inQuote:
			n++
			fmt.Fprintf(&b, "$%d", n)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ErrNoRows is returned by single-row lookups that find nothing.
var ErrNoRows = sql.ErrNoRows

// IsUniqueViolation reports whether err is a unique-constraint violation on either engine,
// so callers can turn it into a 409 Conflict.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || // SQLite
		strings.Contains(s, "SQLSTATE 23505") // PostgreSQL unique_violation
}

// IsForeignKeyViolation reports whether err is a foreign-key violation on either engine.
func IsForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "FOREIGN KEY constraint failed") || strings.Contains(s, "SQLSTATE 23503")
}

// IsNoRows reports whether err means a lookup found nothing.
func IsNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// TimeFormat is how timestamps are stored: fixed-width UTC text, so that string order is
// time order on both engines.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// FormatTime renders t for storage; the zero time becomes the empty string.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeFormat)
}

// ParseTime reads a stored timestamp; the empty string becomes the zero time.
func ParseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(TimeFormat, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
