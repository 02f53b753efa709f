package subscribers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/subscribers"
)

// TestStore_OneInbox: the spellings of one address that differ only in case
// are one subscriber, one subscription and one confirmation email, in every
// way an address comes in; the address keeps the spelling it was first given.
func TestStore_OneInbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("Subscribe", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		for _, addr := range []string{"CaseA@example.com", "CASEA@example.com", "casea@EXAMPLE.com"} {
			e.MustSubscribe(t, "news", addr)
		}
		if c := e.Counts(t); c.Subscribers != 1 || c.Subscriptions != 1 {
			t.Fatalf("counts %+v, want one subscriber and one subscription", c)
		}
		id := e.SubscriptionID(t, "news", "CaseA@example.com")
		want := []string{"subscribed", "confirmation_requested", "subscribed", "subscribed"}
		if got := e.Kinds(t, id); !equal(got, want) {
			t.Errorf("events %v, want %v (one confirmation email)", got, want)
		}
	})

	t.Run("Suppressed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		if err := e.store.Suppress(ctx, "CaseB@example.com", "blocked"); err != nil {
			t.Fatal(err)
		}
		if err := e.store.Suppress(ctx, "CASEB@example.com", "blocked again"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Subscribe(ctx, subscribers.SubscribeRequest{List: "news", Email: "caseb@EXAMPLE.com"}); err != nil {
			t.Fatal(err)
		}
		if c := e.Counts(t); c != (counts{Suppressions: 1}) {
			t.Errorf("counts %+v, want only the one suppression", c)
		}
		_, err := e.store.Add(ctx, subscribers.AddRequest{Email: "cAsEb@example.com", Lists: []string{"news"}})
		wantCode(t, "Add of a suppressed address in another case", err, tidings.ECONFLICT)
		rep := e.MustImport(t, "news", "email\nCASEB@example.com\n")
		if rep.Skipped != 1 || rep.Added != 0 {
			t.Errorf("import of a suppressed address in another case: %+v, want skipped", rep)
		}
	})

	t.Run("Bounce", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		id := e.MustConfirm(t, "news", "Ada@example.com")
		if err := e.store.Bounce(ctx, "ADA@example.com", "smtp 550"); err != nil {
			t.Fatal(err)
		}
		if got := e.Status(t, id); got != subscribers.StatusBounced {
			t.Errorf("status %q after a bounce of another spelling, want bounced", got)
		}
	})

	t.Run("Add", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		a, err := e.store.Add(ctx, subscribers.AddRequest{Email: "CaseC@example.com", Lists: []string{"news"}})
		if err != nil {
			t.Fatal(err)
		}
		b, err := e.store.Add(ctx, subscribers.AddRequest{Email: "casec@example.com", Name: "Cee", Lists: []string{"news"}})
		if err != nil {
			t.Fatal(err)
		}
		if a.ID != b.ID || b.Email != "CaseC@example.com" || b.Name != "Cee" {
			t.Errorf("Add of two spellings: %+v and %+v, want one subscriber CaseC@example.com named Cee", a, b)
		}
	})

	t.Run("Import", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		e.MustConfirm(t, "news", "Known@example.com")
		rep := e.MustImport(t, "news", "email,name\nd@example.com,D\nD@example.com,Dee\nKNOWN@example.com,Kay\n")
		if rep.Added != 1 || rep.Updated != 1 || rep.Rejected != 1 || len(rep.Rejections) != 1 ||
			rep.Rejections[0].Line != 3 || !strings.Contains(rep.Rejections[0].Reason, "line 2") {
			t.Fatalf("import %+v, want d@ added, D@ rejected as line 2's address, KNOWN@ updated", rep)
		}
		if c := e.Counts(t); c.Subscribers != 2 {
			t.Errorf("%d subscribers, want 2", c.Subscribers)
		}
		if got := e.Subscriber(t, "Known@example.com"); got.Name != "Kay" {
			t.Errorf("known subscriber %+v, want the name from the file", got)
		}
	})

	t.Run("Search", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		e.MustSubscribe(t, "news", "Searchable@example.com")
		got, err := e.store.Subscribers(ctx, subscribers.Filter{Query: "SEARCHABLE@EXAMPLE.COM"})
		if err != nil || len(got) != 1 || got[0].Email != "Searchable@example.com" {
			t.Errorf("search in another case: %+v, %v", got, err)
		}
	})

	t.Run("MergedLinks", func(t *testing.T) {
		t.Parallel()
		// A subscription merged into another by migration 00015: the links
		// in the mail sent to it still work, on the one kept.
		e := newEnv(t)
		e.MustCreateList(t, "news")
		id := e.MustConfirm(t, "news", "kept@example.com")
		const gone = 987654
		e.db.MustExec(`INSERT INTO subscription_merges (from_id, into_id) VALUES ($1, $2)`, gone, id)
		if sub, _, email, err := e.store.SubscriptionByToken(ctx, subscribers.PurposeUnsubscribe, token(e.links.Unsubscribe(gone))); err != nil || sub.ID != id || email != "kept@example.com" {
			t.Fatalf("SubscriptionByToken of a merged subscription: %+v %q %v", sub, email, err)
		}
		res, err := e.store.Unsubscribe(ctx, token(e.links.Unsubscribe(gone)), "", testMeta)
		if err != nil || res.Already {
			t.Fatalf("Unsubscribe of a merged subscription: %+v, %v", res, err)
		}
		if got := e.Status(t, id); got != subscribers.StatusUnsubscribed {
			t.Errorf("status %q, want unsubscribed", got)
		}
	})
}

// TestStore_SubscribeAgain: signing up again after unsubscribing sends a
// fresh confirmation at once, whose link alone confirms; the cool-down still
// holds back a second one, and the answer is the one a new address gets.
func TestStore_SubscribeAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	e.MustCreateList(t, "news")
	e.MustSubscribe(t, "news", "a@b.com")
	id := e.SubscriptionID(t, "news", "a@b.com")
	first := token(e.links.Confirm(id))
	if _, err := e.store.Confirm(ctx, first, testMeta); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)
	if _, err := e.store.Unsubscribe(ctx, token(e.links.Unsubscribe(id)), "", testMeta); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute) // well inside the cool-down of the first request
	e.rec.reset()
	if _, err := e.store.Subscribe(ctx, subscribers.SubscribeRequest{List: "news", Email: "a@b.com", Meta: testMeta}); err != nil {
		t.Fatalf("Subscribe again = %v, want nil as for a new address", err)
	}
	if got, want := e.rec.kinds(), []string{subscribers.EventSubscribed, subscribers.EventConfirmationRequested}; !equal(got, want) {
		t.Fatalf("signing up again: hook got %v, want %v (a new confirmation email)", got, want)
	}

	// The first email's link no longer confirms; the new one does.
	_, err := e.store.Confirm(ctx, first, testMeta)
	wantCode(t, "the link of the first confirmation", err, tidings.EEXPIRED)
	_, _, _, err = e.store.SubscriptionByToken(ctx, subscribers.PurposeConfirm, first)
	wantCode(t, "the page of the first confirmation link", err, tidings.EEXPIRED)
	if got := e.Status(t, id); got != subscribers.StatusPending {
		t.Fatalf("status %q after the old link, want pending", got)
	}

	// Signing up once more, within the cool-down: no third email, and the
	// second link stays good.
	e.clock.Add(10 * time.Minute)
	e.rec.reset()
	e.MustSubscribe(t, "news", "a@b.com")
	if got := e.rec.kinds(); !equal(got, []string{subscribers.EventSubscribed}) {
		t.Errorf("inside the cool-down: hook got %v, want only the consent", got)
	}
	res, err := e.store.Confirm(ctx, token(e.links.ConfirmGeneration(id, 1)), testMeta)
	if err != nil || res.AlreadyConfirmed {
		t.Fatalf("the new link: %+v, %v", res, err)
	}

	// After the cool-down a reminder is a new generation again.
	e.clock.Add(24 * time.Hour)
	if _, err := e.store.Unsubscribe(ctx, token(e.links.Unsubscribe(id)), "", testMeta); err != nil {
		t.Fatal(err)
	}
	e.MustSubscribe(t, "news", "a@b.com")
	e.clock.Add(2 * time.Hour)
	e.MustSubscribe(t, "news", "a@b.com")
	for gen, code := range map[int]string{0: tidings.EEXPIRED, 1: tidings.EEXPIRED, 2: tidings.EEXPIRED} {
		_, err := e.store.Confirm(ctx, token(e.links.ConfirmGeneration(id, gen)), testMeta)
		wantCode(t, "an earlier generation", err, code)
	}
	if _, err := e.store.Confirm(ctx, token(e.links.ConfirmGeneration(id, 3)), testMeta); err != nil {
		t.Fatalf("generation 3: %v", err)
	}
}
