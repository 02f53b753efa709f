package pqstmt_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/tidings/tidings/internal/pgtest"
	"github.com/tidings/tidings/internal/pqstmt"
)

// mustOpen opens a new database through Connector, on one connection, so
// that every statement meets the ones prepared before it.
func mustOpen(tb testing.TB) *sql.DB {
	tb.Helper()
	c, err := pqstmt.Connector(pgtest.MustCreateDB(tb))
	if err != nil {
		tb.Fatal(err)
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	tb.Cleanup(func() { db.Close() })
	return db
}

// prepared counts the statements prepared on the connection.
func prepared(tb testing.TB, db *sql.DB) int {
	tb.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM pg_prepared_statements`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestConnector(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("PreparedOnce", func(t *testing.T) {
		t.Parallel()
		db := mustOpen(t)
		for i := range 3 {
			var got int
			if err := db.QueryRowContext(ctx, `SELECT $1::int + 1`, i).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != i+1 {
				t.Fatalf("got %d, want %d", got, i+1)
			}
			if _, err := db.ExecContext(ctx, `SELECT $1::text`, "x"); err != nil {
				t.Fatal(err)
			}
		}
		if got := prepared(t, db); got != 2 {
			t.Fatalf("%d statements prepared, want 2 (one per SQL text)", got)
		}
	})
	t.Run("InTransaction", func(t *testing.T) {
		t.Parallel()
		db := mustOpen(t)
		if _, err := db.ExecContext(ctx, `CREATE TABLE t (a int PRIMARY KEY)`); err != nil {
			t.Fatal(err)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO t (a) VALUES ($1)`, i); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM t WHERE a >= $1`, 0).Scan(&n); err != nil || n != 0 {
			t.Fatalf("got %d rows, %v; want 0 after the rollback", n, err)
		}
	})
	t.Run("ErrNotKept", func(t *testing.T) {
		t.Parallel()
		// A statement that does not prepare is not kept, and the
		// connection goes on.
		db := mustOpen(t)
		if _, err := db.ExecContext(ctx, `SELECT FROM nowhere WHERE x = $1`, 1); err == nil {
			t.Fatal("no error for an unknown table")
		}
		if got := prepared(t, db); got != 0 {
			t.Fatalf("%d statements prepared, want 0", got)
		}
	})
	t.Run("TableChanged", func(t *testing.T) {
		t.Parallel()
		// A kept plan that no longer fits its table is prepared again.
		db := mustOpen(t)
		const q = `SELECT * FROM t WHERE a = $1`
		if _, err := db.ExecContext(ctx, `CREATE TABLE t (a int)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, q, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `ALTER TABLE t ADD COLUMN b int`); err != nil {
			t.Fatal(err)
		}
		db.ExecContext(ctx, q, 1) // may fail once: the plan was made for one column
		rows, err := db.QueryContext(ctx, q, 1)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		rows.Close()
		if len(cols) != 2 {
			t.Fatalf("got columns %v, want a and b", cols)
		}
	})
}
