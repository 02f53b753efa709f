package subscribers

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tidings/tidings/internal/pgtest"
)

// TestImport_Stopped: an import reads at most its number of rows; at the
// next one it stops, imports the rows before it, and says where and why.
// (Import itself reads MaxImportRows; web's TestAPI_ImportLarge goes there.)
func TestImport_Stopped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := &Store{DB: pgtest.MustOpenDB(t)}
	if err := s.CreateList(ctx, &List{Slug: "news", Name: "News", FromEmail: "e@example.com"}); err != nil {
		t.Fatal(err)
	}
	// Line 1 the header, 2-4 three rows (a blank row between does not
	// count), line 6 the fourth row, where it stops.
	csv := "email,name\na@b.com,\nnot-an-address,\n,\nc@b.com,\nd@b.com,\ne@b.com,\n"
	rep, err := s.importTx(ctx, ImportRequest{List: "news", Series: SeriesJoin, Meta: Meta{Form: "import"}}, strings.NewReader(csv), 3)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Added != 2 || rep.Rejected != 1 || rep.Stopped == nil || rep.Stopped.Line != 6 ||
		!strings.Contains(rep.Stopped.Reason, "at most 3 rows, so it stopped at line 6") {
		t.Fatalf("report %+v, stopped %+v; want 2 added, 1 rejected, stopped at line 6", *rep, rep.Stopped)
	}
	var got []string
	if err := s.DB.Select(&got, `SELECT email FROM subscribers ORDER BY email`); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[a@b.com c@b.com]" {
		t.Errorf("subscribers %v, want the two valid rows before the stop", got)
	}

	// Exactly as many rows as it may read: no stop.
	rep, err = s.importTx(ctx, ImportRequest{List: "news", Series: SeriesJoin, Meta: Meta{Form: "import"}}, strings.NewReader("email\na@b.com\nc@b.com\nf@b.com\n"), 3)
	if err != nil || rep.Stopped != nil || rep.Added != 1 || rep.Updated != 2 {
		t.Fatalf("import of 3 rows = %+v, %v", rep, err)
	}
}
