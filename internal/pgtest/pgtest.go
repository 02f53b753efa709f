// Package pgtest gives each test its own throwaway Postgres database, created
// from a template that is migrated once per schema version.
//
// It connects with TIDINGS_TEST_DATABASE_URL, by default
// postgres://tidings:tidings@127.0.0.1:5432/postgres?sslmode=disable; the role
// needs CREATEDB. `make test` sets that up.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the Postgres driver

	"github.com/tidings/tidings/migrations"
)

// DefaultURL is the admin connection used when TIDINGS_TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://tidings:tidings@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL returns the URL of the maintenance database tests connect to.
func AdminURL() string {
	if u := os.Getenv("TIDINGS_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// MustOpenDB returns a connection to a new, migrated, empty database that is
// dropped when the test ends.
func MustOpenDB(tb testing.TB) *sqlx.DB {
	tb.Helper()
	db, _ := MustOpenDBURL(tb)
	return db
}

// MustOpenDBURL is MustOpenDB that also returns the database's URL, for
// tests that make connections of their own.
func MustOpenDBURL(tb testing.TB) (*sqlx.DB, string) {
	tb.Helper()
	u := MustCreateDB(tb)
	db, err := sqlx.Open("postgres", u)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db, u
}

// MustCreateDB creates a new, migrated database, drops it when the test ends,
// and returns its URL, for tests that start the whole program.
func MustCreateDB(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	admin, err := sql.Open("postgres", AdminURL())
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	tpl, err := ensureTemplate(ctx, admin)
	if err != nil {
		tb.Fatalf("pgtest: template: %v (is Postgres running? run `make test`)", err)
	}
	name := "tidings_t_" + randomHex(8)
	if _, err := admin.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, tpl)); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() { dropDB(tb, name) })
	return withDatabase(AdminURL(), name)
}

// MustCreateEmptyDB creates a database with no schema at all, dropped when the
// test ends, and returns its URL: for testing migrations themselves.
func MustCreateEmptyDB(tb testing.TB) string {
	tb.Helper()
	admin, err := sql.Open("postgres", AdminURL())
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	name := "tidings_t_" + randomHex(8)
	if _, err := admin.Exec(fmt.Sprintf(`CREATE DATABASE %s`, name)); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() { dropDB(tb, name) })
	return withDatabase(AdminURL(), name)
}

func dropDB(tb testing.TB, name string) {
	admin, err := sql.Open("postgres", AdminURL())
	if err != nil {
		tb.Error(err)
		return
	}
	defer admin.Close()
	// A background worker connected to the database can make a drop fail
	// once; try again briefly before calling it a failure.
	var err2 error
	for i := 0; i < 5; i++ {
		if _, err2 = admin.ExecContext(context.Background(), fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err2 == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	tb.Errorf("pgtest: drop database: %v", err2)
}

// ensureTemplate creates and migrates the template database for the current
// schema, once across all test processes (an advisory lock serialises them).
func ensureTemplate(ctx context.Context, admin *sql.DB) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS(), path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	if err != nil {
		return "", err
	}
	name := "tidings_tpl_" + hex.EncodeToString(h.Sum(nil))[:12]

	conn, err := admin.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7202611)`); err != nil {
		return "", err
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(7202611)`)

	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
		return "", err
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s`, name)); err != nil {
		return "", err
	}
	db, err := sql.Open("postgres", withDatabase(AdminURL(), name))
	if err != nil {
		return "", err
	}
	err = migrations.Up(ctx, db)
	db.Close()
	if err != nil {
		return "", err
	}
	// Marking it a template last means a half-made one is never used.
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`ALTER DATABASE %s WITH is_template true`, name)); err != nil {
		return "", err
	}
	return name, nil
}

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
