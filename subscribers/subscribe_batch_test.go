package subscribers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/internal/pgtest"
)

// TestSubscribe_Together: sign-ups that arrive while others are being
// written wait and are written together, in one transaction, with their
// events in one statement handed to OnEvents; and each gets what it would
// have got alone: a new address its subscription and confirmation request,
// a second sign-up of one address (in another case) the first one's
// subscription and no second request within the cool-down, an unknown list
// ENOTFOUND, a suppressed address nothing.
func TestSubscribe_Together(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := &Store{DB: pgtest.MustOpenDB(t)}
	for _, slug := range []string{"news", "other"} {
		if err := s.CreateList(ctx, &List{Slug: slug, Name: slug, FromEmail: "e@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	s.DB.MustExec(`INSERT INTO suppressions (email, reason, created_at) VALUES ('gone@example.com', 'bounced', now())`)

	// The first sign-ups' transactions wait in OnEvent until the rest are
	// queued behind them; the rest then go in batches.
	const together = 10
	var mu sync.Mutex
	var batches [][]Event
	var released atomic.Bool
	s.OnEvent = func(ctx context.Context, tx *sqlx.Tx, e Event) error {
		deadline := time.Now().Add(time.Minute)
		for !released.Load() {
			s.signups.mu.Lock()
			n := len(s.signups.waiting)
			s.signups.mu.Unlock()
			if n >= together || time.Now().After(deadline) {
				released.Store(true)
			}
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	}
	s.OnEvents = func(ctx context.Context, tx *sqlx.Tx, events []Event) error {
		mu.Lock()
		defer mu.Unlock()
		batches = append(batches, events)
		return nil
	}

	type signup struct{ list, email string }
	signups := []signup{{"news", "first@example.com"}, {"news", "second@example.com"}}
	for i := range 6 {
		signups = append(signups, signup{"news", fmt.Sprintf("reader%d@example.com", i)})
	}
	signups = append(signups,
		signup{"news", "Reader0@Example.com"}, // the same inbox as reader0
		signup{"other", "reader1@example.com"},
		signup{"nowhere", "reader2@example.com"},
		signup{"news", "GONE@example.com"},
	)
	ids := make([]int64, len(signups))
	errs := make([]error, len(signups))
	var wg sync.WaitGroup
	for i, su := range signups {
		if i == 2 {
			// The first two lead the first batches; the rest queue.
			waitFor(t, func() bool {
				s.signups.mu.Lock()
				defer s.signups.mu.Unlock()
				return s.signups.writing == signupWriters && len(s.signups.waiting) == 0
			})
		}
		wg.Go(func() {
			ids[i], errs[i] = s.Subscribe(ctx, SubscribeRequest{List: su.list, Email: su.email, Meta: Meta{Form: "hosted"}})
		})
	}
	wg.Wait()

	for i, su := range signups {
		switch {
		case su.list == "nowhere":
			if tidings.ErrorCode(errs[i]) != tidings.ENOTFOUND || ids[i] != 0 {
				t.Errorf("%v: %d, %v; want ENOTFOUND", su, ids[i], errs[i])
			}
		case strings.HasPrefix(su.email, "GONE"):
			if errs[i] != nil || ids[i] != 0 {
				t.Errorf("%v: %d, %v; want nothing stored", su, ids[i], errs[i])
			}
		case errs[i] != nil || ids[i] == 0:
			t.Errorf("%v: %d, %v", su, ids[i], errs[i])
		}
	}
	if ids[2] != ids[8] {
		t.Errorf("reader0 and Reader0 made two subscriptions: %d and %d", ids[2], ids[8])
	}

	// What each subscription holds, as the sign-ups one by one would have left it.
	var rows []struct {
		Email  string `db:"email"`
		List   string `db:"slug"`
		Status string `db:"status"`
		Kinds  string `db:"kinds"`
		SentAt bool   `db:"sent_at"`
		Txn    string `db:"txn"`
	}
	err := s.DB.Select(&rows, `
		SELECT r.email, l.slug, s.status, s.confirm_sent_at IS NOT NULL AS sent_at, s.xmin::text AS txn,
		       (SELECT string_agg(e.kind, ',' ORDER BY e.id) FROM events e WHERE e.subscription_id = s.id) AS kinds
		FROM subscriptions s
		JOIN subscribers r ON r.id = s.subscriber_id
		JOIN lists l ON l.id = s.list_id
		ORDER BY r.email, l.slug`)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 9 {
		t.Fatalf("%d subscriptions, want 9: %+v", len(rows), rows)
	}
	txns := map[string]int{}
	for _, r := range rows {
		want := "subscribed,confirmation_requested"
		// reader0 in either case: whichever of the two came first is kept
		// as typed, as one by one.
		if strings.EqualFold(r.Email, "reader0@example.com") && r.List == "news" {
			want = "subscribed,confirmation_requested,subscribed"
		}
		if r.Status != StatusPending || r.Kinds != want || !r.SentAt {
			t.Errorf("%s on %s: %s, events %s, requested %v; want pending, %s, true",
				r.Email, r.List, r.Status, r.Kinds, r.SentAt, want)
		}
		txns[r.Txn]++
	}
	most := 0
	for _, n := range txns {
		most = max(most, n)
	}
	if most < 2 {
		t.Errorf("no two sign-ups were written in one transaction: %v", txns)
	}
	mu.Lock()
	defer mu.Unlock()
	biggest := 0
	for _, b := range batches {
		biggest = max(biggest, len(b))
	}
	if biggest < 4 {
		t.Errorf("OnEvents got at most %d events at once (%d calls); want the events of two sign-ups or more", biggest, len(batches))
	}
}

// waitFor polls cond until it holds; a minute without is a failure.
func waitFor(tb testing.TB, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatal("waited a minute in vain")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
