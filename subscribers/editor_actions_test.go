package subscribers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/subscribers"
)

var editorMeta = subscribers.Meta{IP: "198.51.100.9", UserAgent: "EditorBrowser/1.0", Form: "ignored"}

// lastEvent is the newest event of a subscription.
func (e *env) lastEvent(tb testing.TB, subscriptionID int64) subscribers.Event {
	tb.Helper()
	var ev subscribers.Event
	err := e.db.Get(&ev, `
		SELECT id, subscription_id, subscriber_id, list_id, kind, at, ip, user_agent, form, consent_text, reason
		FROM events
		WHERE subscription_id = $1
		ORDER BY id DESC
		LIMIT 1`, subscriptionID)
	if err != nil {
		tb.Fatal(err)
	}
	return ev
}

func TestStore_UnsubscribeByEditor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	e.MustCreateList(t, "news")
	e.MustCreateList(t, "tips")
	subID := e.MustConfirm(t, "news", "ada@example.com")
	id := e.SubscriberID(t, "ada@example.com")

	t.Run("OK", func(t *testing.T) {
		e.rec.reset()
		e.clock.Add(time.Minute)
		res, err := e.store.UnsubscribeByEditor(ctx, subscribers.EditorChange{SubscriberID: id, List: "news", Editor: "ed@example.com", Meta: editorMeta})
		if err != nil {
			t.Fatal(err)
		}
		if res.Already || res.Email != "ada@example.com" || res.List.Slug != "news" {
			t.Fatalf("result %+v", res)
		}
		if got := e.Status(t, subID); got != subscribers.StatusUnsubscribed {
			t.Fatalf("status %q", got)
		}
		ev := e.lastEvent(t, subID)
		if ev.Kind != subscribers.EventUnsubscribed || ev.Reason != "unsubscribed by editor ed@example.com" ||
			ev.Form != "editor" || ev.IP != editorMeta.IP || ev.UserAgent != editorMeta.UserAgent || !ev.At.Equal(e.clock.Now()) {
			t.Fatalf("event %+v", ev)
		}
		// OnEvent ran in the transaction and saw the change.
		if got := e.rec.kinds(); !equal(got, []string{subscribers.EventUnsubscribed}) || e.rec.seen[0] != subscribers.StatusUnsubscribed || e.rec.last().ID != ev.ID {
			t.Fatalf("hook calls %v, saw %v", got, e.rec.seen)
		}
	})

	t.Run("Already", func(t *testing.T) {
		e.rec.reset()
		before := e.Counts(t)
		res, err := e.store.UnsubscribeByEditor(ctx, subscribers.EditorChange{SubscriberID: id, List: "news", Editor: "ed@example.com"})
		if err != nil || !res.Already {
			t.Fatalf("again: %+v, %v", res, err)
		}
		if after := e.Counts(t); after != before || len(e.rec.kinds()) != 0 {
			t.Fatalf("a repeat changed something: %+v -> %+v, hook %v", before, after, e.rec.kinds())
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		before := e.Counts(t)
		for _, c := range []subscribers.EditorChange{
			{SubscriberID: id + 100, List: "news"},
			{SubscriberID: id, List: "nope"},
			{SubscriberID: id, List: "Bad Slug!"},
			{SubscriberID: id, List: "tips"}, // no subscription there
		} {
			c.Editor = "ed@example.com"
			_, err := e.store.UnsubscribeByEditor(ctx, c)
			wantCode(t, "UnsubscribeByEditor("+itoa(c.SubscriberID)+", "+c.List+")", err, tidings.ENOTFOUND)
		}
		if after := e.Counts(t); after != before {
			t.Fatalf("a refused change changed something: %+v -> %+v", before, after)
		}
	})

	t.Run("ErrHook", func(t *testing.T) {
		other := e.MustConfirm(t, "tips", "bo@example.com")
		e.rec.failOn = subscribers.EventUnsubscribed
		defer func() { e.rec.failOn = "" }()
		_, err := e.store.UnsubscribeByEditor(ctx, subscribers.EditorChange{SubscriberID: e.SubscriberID(t, "bo@example.com"), List: "tips", Editor: "ed@example.com"})
		if err == nil {
			t.Fatal("no error from a failing hook")
		}
		if got := e.Status(t, other); got != subscribers.StatusConfirmed {
			t.Fatalf("status %q after a failed hook, want it rolled back", got)
		}
	})
}

func TestStore_Resubscribe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	e.MustCreateList(t, "news")
	e.MustCreateList(t, "tips")
	subID := e.MustConfirm(t, "news", "ada@example.com")
	id := e.SubscriberID(t, "ada@example.com")
	if _, err := e.store.UnsubscribeByEditor(ctx, subscribers.EditorChange{SubscriberID: id, List: "news", Editor: "ed@example.com"}); err != nil {
		t.Fatal(err)
	}
	change := subscribers.EditorChange{SubscriberID: id, List: "news", Editor: "ed@example.com", Meta: editorMeta}

	t.Run("OK", func(t *testing.T) {
		e.rec.reset()
		e.clock.Add(10 * time.Minute)
		if err := e.store.Resubscribe(ctx, change); err != nil {
			t.Fatal(err)
		}
		// Never straight back to confirmed: pending, with a new confirmation request.
		var row struct {
			Status         string     `db:"status"`
			ConfirmedAt    *time.Time `db:"confirmed_at"`
			UnsubscribedAt *time.Time `db:"unsubscribed_at"`
			ConfirmSentAt  *time.Time `db:"confirm_sent_at"`
		}
		e.db.Get(&row, `SELECT status, confirmed_at, unsubscribed_at, confirm_sent_at FROM subscriptions WHERE id = $1`, subID)
		if row.Status != subscribers.StatusPending || row.ConfirmedAt != nil || row.UnsubscribedAt != nil || row.ConfirmSentAt == nil || !row.ConfirmSentAt.Equal(e.clock.Now()) {
			t.Fatalf("subscription %+v", row)
		}
		ev := e.lastEvent(t, subID)
		if ev.Kind != subscribers.EventConfirmationRequested || ev.Reason != "resubscribed by editor ed@example.com" || ev.Form != "editor" || ev.IP != editorMeta.IP {
			t.Fatalf("event %+v", ev)
		}
		if got := e.rec.kinds(); !equal(got, []string{subscribers.EventConfirmationRequested}) || e.rec.seen[0] != subscribers.StatusPending {
			t.Fatalf("hook calls %v, saw %v", got, e.rec.seen)
		}
		// The subscriber confirms with the link of the new email, the
		// second confirmation request of the subscription (generation 1).
		if _, err := e.store.Confirm(ctx, token(e.links.ConfirmGeneration(subID, 1)), testMeta); err != nil {
			t.Fatal(err)
		}
		if got := e.Status(t, subID); got != subscribers.StatusConfirmed {
			t.Fatalf("after confirming: %q", got)
		}
	})

	t.Run("PendingAgainAfterCooldown", func(t *testing.T) {
		e.MustSubscribe(t, "tips", "bo@example.com")
		tipsID := e.SubscriptionID(t, "tips", "bo@example.com")
		c := subscribers.EditorChange{SubscriberID: e.SubscriberID(t, "bo@example.com"), List: "tips", Editor: "ed@example.com"}
		before := e.Counts(t)
		err := e.store.Resubscribe(ctx, c)
		wantCode(t, "Resubscribe(pending, within the cool-down)", err, tidings.ECONFLICT)
		if !strings.Contains(tidings.ErrorMessage(err), "another can be sent from") {
			t.Errorf("message %q", tidings.ErrorMessage(err))
		}
		if after := e.Counts(t); after != before {
			t.Fatalf("a refused change changed something: %+v -> %+v", before, after)
		}
		e.clock.Add(2 * time.Hour)
		e.rec.reset()
		if err := e.store.Resubscribe(ctx, c); err != nil {
			t.Fatal(err)
		}
		if ev := e.lastEvent(t, tipsID); ev.Kind != subscribers.EventConfirmationRequested || ev.Reason != "confirmation requested again by editor ed@example.com" {
			t.Fatalf("event %+v", ev)
		}
		if got := e.Status(t, tipsID); got != subscribers.StatusPending {
			t.Fatalf("status %q", got)
		}
	})

	t.Run("ErrConflict", func(t *testing.T) {
		// Confirmed already (ada confirmed above).
		err := e.store.Resubscribe(ctx, change)
		wantCode(t, "Resubscribe(confirmed)", err, tidings.ECONFLICT)
		// Bounced.
		e.MustConfirm(t, "news", "cy@example.com")
		if err := e.store.Bounce(ctx, "cy@example.com", "550 no such user"); err != nil {
			t.Fatal(err)
		}
		err = e.store.Resubscribe(ctx, subscribers.EditorChange{SubscriberID: e.SubscriberID(t, "cy@example.com"), List: "news", Editor: "ed@example.com"})
		wantCode(t, "Resubscribe(bounced)", err, tidings.ECONFLICT)
		// Unsubscribed, but the address is suppressed since.
		e.MustConfirm(t, "news", "di@example.com")
		di := e.SubscriberID(t, "di@example.com")
		if _, err := e.store.UnsubscribeByEditor(ctx, subscribers.EditorChange{SubscriberID: di, List: "news", Editor: "ed@example.com"}); err != nil {
			t.Fatal(err)
		}
		if err := e.store.Suppress(ctx, "di@example.com", "blocked"); err != nil {
			t.Fatal(err)
		}
		before := e.Counts(t)
		err = e.store.Resubscribe(ctx, subscribers.EditorChange{SubscriberID: di, List: "news", Editor: "ed@example.com"})
		wantCode(t, "Resubscribe(suppressed)", err, tidings.ECONFLICT)
		if after := e.Counts(t); after != before || e.Status(t, e.SubscriptionID(t, "news", "di@example.com")) != subscribers.StatusUnsubscribed {
			t.Fatalf("a refused change changed something: %+v -> %+v", before, after)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		for _, c := range []subscribers.EditorChange{
			{SubscriberID: id + 100, List: "news"},
			{SubscriberID: id, List: "nope"},
			{SubscriberID: id, List: "tips"},
		} {
			wantCode(t, "Resubscribe("+itoa(c.SubscriberID)+", "+c.List+")", e.store.Resubscribe(ctx, c), tidings.ENOTFOUND)
		}
	})
}

func TestStore_Erase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	e.MustCreateList(t, "news")
	e.MustCreateList(t, "tips")
	e.MustConfirm(t, "news", "Ada.L@example.com")
	e.MustSubscribe(t, "tips", "Ada.L@Example.COM")
	tipsID := e.SubscriptionID(t, "tips", "Ada.L@example.com")
	// A reason that quotes the address, as a bounce message may.
	if _, err := e.store.Unsubscribe(ctx, token(e.links.Unsubscribe(tipsID)), "Stop mailing ada.l@EXAMPLE.com please", testMeta); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Tag(ctx, e.SubscriberID(t, "Ada.L@example.com"), []string{"vip"}, nil); err != nil {
		t.Fatal(err)
	}
	otherID := e.MustConfirm(t, "news", "bo@example.com")
	id := e.SubscriberID(t, "Ada.L@example.com")
	var eventIDs []int64
	e.db.Select(&eventIDs, `SELECT id FROM events WHERE subscriber_id = $1 ORDER BY id`, id)

	t.Run("ErrHook", func(t *testing.T) {
		before := e.Counts(t)
		e.rec.failOn = subscribers.EventErased
		_, err := e.store.Erase(ctx, id, "ed@example.com")
		e.rec.failOn = ""
		if err == nil {
			t.Fatal("no error from a failing hook")
		}
		if after := e.Counts(t); after != before {
			t.Fatalf("a failed erasure changed something: %+v -> %+v", before, after)
		}
	})

	t.Run("OK", func(t *testing.T) {
		e.rec.reset()
		e.clock.Add(time.Hour)
		before := e.Counts(t)
		email, err := e.store.Erase(ctx, id, "ed@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if email != "Ada.L@example.com" {
			t.Errorf("erased %q", email)
		}
		after := e.Counts(t)
		want := counts{Subscribers: before.Subscribers - 1, Subscriptions: before.Subscriptions - 2, Events: before.Events + 2, Suppressions: before.Suppressions + 1}
		if after != want {
			t.Fatalf("counts %+v -> %+v, want %+v", before, after, want)
		}
		var reason string
		e.db.Get(&reason, `SELECT reason FROM suppressions WHERE email = 'ada.l@example.com'`)
		if reason != subscribers.SuppressionErased {
			t.Errorf("suppression reason %q", reason)
		}
		// The hook saw one erased event per subscription, before the rows went.
		if got := e.rec.kinds(); !equal(got, []string{subscribers.EventErased, subscribers.EventErased}) {
			t.Errorf("hook calls %v", got)
		}
		// Every event of the subscriber stays, anonymised, with the two new ones.
		var events []subscribers.Event
		e.db.Select(&events, `
			SELECT id, COALESCE(subscription_id, 0) AS subscription_id, COALESCE(subscriber_id, 0) AS subscriber_id,
			       COALESCE(list_id, 0) AS list_id, kind, at, ip, user_agent, form, consent_text, reason
			FROM events
			WHERE id = ANY($1) OR kind = 'erased'
			ORDER BY id`, eventIDs)
		if len(events) != len(eventIDs)+2 {
			t.Fatalf("%d events left, want %d", len(events), len(eventIDs)+2)
		}
		for _, ev := range events {
			if ev.SubscriberID != 0 || ev.SubscriptionID != 0 || ev.IP != "" || ev.UserAgent != "" || ev.ListID == 0 ||
				strings.Contains(strings.ToLower(ev.Reason), "ada.l@example.com") {
				t.Errorf("event not anonymised: %+v", ev)
			}
		}
		if last := events[len(events)-1]; last.Kind != subscribers.EventErased || last.Reason != "erased by editor ed@example.com" || !last.At.Equal(e.clock.Now()) {
			t.Errorf("erased event %+v", last)
		}
		var quoted string
		e.db.Get(&quoted, `SELECT reason FROM events WHERE id = ANY($1) AND kind = 'unsubscribed'`, eventIDs)
		if quoted != "Stop mailing [erased] please" {
			t.Errorf("reason %q", quoted)
		}
		// The other subscriber keeps everything.
		if ev := e.lastEvent(t, otherID); ev.IP != testMeta.IP || ev.UserAgent != testMeta.UserAgent {
			t.Errorf("another subscriber's event changed: %+v", ev)
		}
		// The address stays suppressed: signing up again stores nothing.
		mid := e.Counts(t)
		if _, err := e.store.Subscribe(ctx, subscribers.SubscribeRequest{List: "news", Email: "Ada.L@example.com", Meta: testMeta}); err != nil {
			t.Fatal(err)
		}
		if got := e.Counts(t); got != mid {
			t.Errorf("a sign-up of an erased address stored something: %+v -> %+v", mid, got)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := e.store.Erase(ctx, id, "ed@example.com")
		wantCode(t, "Erase(erased already)", err, tidings.ENOTFOUND)
		_, err = e.store.Erase(ctx, 0, "ed@example.com")
		wantCode(t, "Erase(0)", err, tidings.ENOTFOUND)
	})
}
