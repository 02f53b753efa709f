package migrations_test

import (
	"context"
	"database/sql"
	"io/fs"
	"sync"
	"testing"

	_ "github.com/lib/pq"

	"github.com/tidings/tidings/internal/pgtest"
	"github.com/tidings/tidings/migrations"
)

// TestUp_Concurrent starts several instances against one empty database at
// once: the advisory lock lets each migration run once and all of them succeed.
func TestUp_Concurrent(t *testing.T) {
	t.Parallel()
	dsn := pgtest.MustCreateEmptyDB(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := sql.Open("postgres", dsn)
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			errs[i] = migrations.Up(context.Background(), db)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var applied int
	if err := db.QueryRow(`SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(migrations.FS(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if applied != len(files) {
		t.Fatalf("applied %d migrations, want each of the %d files once", applied, len(files))
	}
	// A second run is a no-op.
	if err := migrations.Up(context.Background(), db); err != nil {
		t.Fatal(err)
	}
}
