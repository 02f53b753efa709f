package subscribers_test

import (
	"context"
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidings/tidings/subscribers"
)

// TestStore_OneBeginSite: transactions begin in Store.inTx alone, so every
// one of them reads the clock once and hands that time to its hooks.
func TestStore_OneBeginSite(t *testing.T) {
	t.Parallel()
	for _, site := range beginSites(t, ".") {
		if site.fn != "inTx" {
			t.Errorf("%s: %s called in %s; begin through Store.inTx", site.pos, site.call, site.fn)
		}
	}
}

// beginSite is a call that begins a transaction.
type beginSite struct {
	pos  string // file:line
	call string // the method called
	fn   string // the function declaration it sits in
}

// beginSites lists the calls of Begin, Beginx, BeginTx and BeginTxx in the
// package's non-test files of dir.
func beginSites(tb testing.TB, dir string) []beginSite {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		tb.Fatal(err)
	}
	fset := gotoken.NewFileSet()
	var sites []beginSite
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			tb.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				switch sel.Sel.Name {
				case "Begin", "Beginx", "BeginTx", "BeginTxx", "MustBegin", "MustBeginTx":
					p := fset.Position(call.Pos())
					sites = append(sites, beginSite{
						pos:  filepath.Base(p.Filename) + ":" + strconv.Itoa(p.Line),
						call: sel.Sel.Name,
						fn:   fd.Name.Name,
					})
				}
				return true
			})
		}
	}
	if len(sites) == 0 {
		tb.Fatalf("no begin site found in %s: the scan is broken", dir)
	}
	return sites
}

// tickingClock moves on by a second at every reading, so two readings in one
// transaction would show as two times.
type tickingClock struct {
	mu    sync.Mutex
	now   time.Time
	reads int
}

func (c *tickingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
	c.now = c.now.Add(time.Second)
	return c.now
}

// TestStore_OneNowPerTransaction: every event one operation appends, and
// every OnEvent call it makes, carries the one time its transaction read,
// and so do the rows it writes.
func TestStore_OneNowPerTransaction(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	c := &tickingClock{now: time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)}
	e.store.Now = c.Now
	e.MustCreateList(t, "news")
	e.MustCreateList(t, "deals")

	// eventTimes returns the distinct times of the events appended since
	// event id after, and of the hook calls recorded since the last reset.
	eventTimes := func(t *testing.T, after int64) (table, hooks []time.Time) {
		t.Helper()
		if err := e.db.Select(&table, `SELECT DISTINCT at FROM events WHERE id > $1 ORDER BY at`, after); err != nil {
			t.Fatal(err)
		}
		seen := map[time.Time]bool{}
		e.rec.mu.Lock()
		for _, ev := range e.rec.events {
			if !seen[ev.At] {
				seen[ev.At] = true
				hooks = append(hooks, ev.At)
			}
		}
		e.rec.mu.Unlock()
		return table, hooks
	}
	lastEvent := func(t *testing.T) int64 {
		t.Helper()
		var id int64
		if err := e.db.Get(&id, `SELECT COALESCE(max(id), 0) FROM events`); err != nil {
			t.Fatal(err)
		}
		return id
	}
	check := func(t *testing.T, what string, after int64, wantEvents int, op func() error) {
		t.Helper()
		e.rec.reset()
		if err := op(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if n := len(e.rec.kinds()); n != wantEvents {
			t.Fatalf("%s: %d hook calls, want %d", what, n, wantEvents)
		}
		table, hooks := eventTimes(t, after)
		if len(table) != 1 || len(hooks) != 1 || !table[0].Equal(hooks[0]) {
			t.Errorf("%s: events at %v, hooks called with %v; want one time", what, table, hooks)
		}
		var rows []time.Time
		if err := e.db.Select(&rows, `SELECT DISTINCT updated_at FROM subscriptions s JOIN events ev ON ev.subscription_id = s.id WHERE ev.id > $1`, after); err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || len(table) == 1 && !rows[0].Equal(table[0]) {
			t.Errorf("%s: subscriptions updated at %v, events at %v; want one time", what, rows, table)
		}
	}

	t.Run("Add", func(t *testing.T) {
		after := lastEvent(t)
		check(t, "Add to two lists", after, 2, func() error {
			_, err := e.store.Add(ctx, subscribers.AddRequest{
				Email: "two@example.com", Lists: []string{"news", "deals"},
				Status: subscribers.StatusConfirmed, Meta: testMeta,
			})
			return err
		})
	})
	t.Run("Import", func(t *testing.T) {
		after := lastEvent(t)
		check(t, "Import of three rows", after, 3, func() error {
			_, err := e.store.Import(ctx, subscribers.ImportRequest{List: "news", Meta: testMeta},
				strings.NewReader("email\na@example.com\nb@example.com\nc@example.com\n"))
			return err
		})
	})
	t.Run("Confirm", func(t *testing.T) {
		e.MustSubscribe(t, "deals", "reader@example.com")
		id := e.SubscriptionID(t, "deals", "reader@example.com")
		after := lastEvent(t)
		before := c.reads
		check(t, "Confirm", after, 1, func() error {
			_, err := e.store.Confirm(ctx, token(e.links.Confirm(id)), testMeta)
			return err
		})
		if got := c.reads - before; got != 1 {
			t.Errorf("Confirm read the clock %d times, want 1", got)
		}
	})
}
