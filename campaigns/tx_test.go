package campaigns_test

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

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/internal/pgtest"
	"github.com/tidings/tidings/subscribers"
)

// TestOneBeginSite: transactions begin in runTx alone (through Store.inTx,
// or with the Scheduler's and the claim's time), so each reads its time once.
func TestOneBeginSite(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := gotoken.NewFileSet()
	found := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
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
					found++
					if fd.Recv != nil || fd.Name.Name != "runTx" {
						p := fset.Position(call.Pos())
						t.Errorf("%s:%s: %s called in %s; begin through runTx (Store.inTx)",
							p.Filename, strconv.Itoa(p.Line), sel.Sel.Name, fd.Name.Name)
					}
				}
				return true
			})
		}
	}
	if found == 0 {
		t.Fatal("no begin site found: the scan is broken")
	}
}

// tickingClock moves on by a second at every reading, so two readings in one
// transaction would show as two times.
type tickingClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *tickingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

// TestQueue_OneNowPerTransaction: a sign-up and a confirmation, with
// Queue.OnEvent wired as cmd/tidings wires it, write their events, outbox
// rows and enrollment at the one time their transaction read, however often
// the clock moves; so does a change to the sequence that moves enrollments.
func TestQueue_OneNowPerTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.MustOpenDB(t)
	c := &tickingClock{now: mustTime("2026-03-02T10:00:00Z")}
	queue := &campaigns.Queue{}
	store := &campaigns.Store{DB: db, Now: c.Now}
	tokens := &subscribers.Tokens{Secret: []byte("0123456789abcdef0123456789abcdef")}
	subs := &subscribers.Store{DB: db, Now: c.Now, Tokens: tokens, OnEvent: queue.OnEvent}
	links := &subscribers.Links{BaseURL: "https://news.example.com", Tokens: tokens, Now: c.Now,
		Paths: subscribers.LinkPaths{Confirm: "/c/{token}", Unsubscribe: "/u/{token}", Preferences: "/p/{token}"}}

	list := MustList(t, db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
	if err := store.CreateBonus(ctx, list, &campaigns.Bonus{Subject: "Bonus", Body: "b"}); err != nil {
		t.Fatal(err)
	}
	MustStep(t, store, list, campaigns.Step{Subject: "One", Body: "1", DelayDays: 1})

	// times returns the distinct times in the rows q selects.
	times := func(t *testing.T, q string, args ...any) []time.Time {
		t.Helper()
		var ts []time.Time
		if err := db.Select(&ts, q, args...); err != nil {
			t.Fatal(err)
		}
		return ts
	}
	oneTime := func(t *testing.T, what string, ts []time.Time) time.Time {
		t.Helper()
		if len(ts) != 1 {
			t.Fatalf("%s at %v; want one time", what, ts)
		}
		return ts[0]
	}

	if _, err := subs.Subscribe(ctx, subscribers.SubscribeRequest{List: "coach", Email: "ada@example.com"}); err != nil {
		t.Fatal(err)
	}
	signup := oneTime(t, "the sign-up's event, subscription and confirmation email", times(t, `
		SELECT at FROM events WHERE kind = 'confirmation_requested'
		UNION
		SELECT created_at FROM subscriptions
		UNION
		SELECT unnest(ARRAY[due_at, created_at, updated_at]) FROM outbox WHERE kind = 'confirm'`))

	var subID int64
	if err := db.Get(&subID, `SELECT id FROM subscriptions`); err != nil {
		t.Fatal(err)
	}
	if _, err := subs.Confirm(ctx, token(links.Confirm(subID)), subscribers.Meta{}); err != nil {
		t.Fatal(err)
	}
	confirmed := oneTime(t, "the confirmation's event, subscription, welcome, bonus and enrollment", times(t, `
		SELECT at FROM events WHERE kind = 'confirmed'
		UNION
		SELECT confirmed_at FROM subscriptions
		UNION
		SELECT unnest(ARRAY[due_at, created_at, updated_at]) FROM outbox WHERE kind IN ('welcome', 'bonus')
		UNION
		SELECT unnest(ARRAY[anchor_at, created_at, updated_at]) FROM enrollments`))
	if !confirmed.After(signup) {
		t.Errorf("confirmed at %v, not after the sign-up at %v", confirmed, signup)
	}

	// A new step moves the enrollment, in the transaction that inserts it.
	st := MustStep(t, store, list, campaigns.Step{Subject: "Two", Body: "2", DelayDays: 2, Position: 1})
	oneTime(t, "the new step and the enrollment it moved", times(t, `
		SELECT unnest(ARRAY[created_at, updated_at]) FROM steps WHERE id = $1
		UNION
		SELECT updated_at FROM enrollments`, st.ID))
}

// token is the last path element of a link.
func token(link string) string { return link[strings.LastIndexByte(link, '/')+1:] }
