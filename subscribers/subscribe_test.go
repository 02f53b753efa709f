package subscribers_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/subscribers"
)

func TestStore_Subscribe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		list := e.MustCreateList(t, "news")
		_, err := e.store.Subscribe(ctx, subscribers.SubscribeRequest{
			List: "news", Email: "Ada@Example.COM", Name: " Ada Lovelace ", Meta: testMeta,
		})
		if err != nil {
			t.Fatal(err)
		}
		id := e.SubscriptionID(t, "news", "Ada@example.com")
		if got := e.Status(t, id); got != subscribers.StatusPending {
			t.Errorf("status %q, want pending", got)
		}
		var r struct {
			Name, Timezone string
		}
		if err := e.db.Get(&r, `SELECT name, timezone FROM subscribers WHERE email = 'Ada@example.com'`); err != nil {
			t.Fatal(err)
		}
		if r.Name != "Ada Lovelace" || r.Timezone != "" {
			t.Errorf("subscriber name %q timezone %q", r.Name, r.Timezone)
		}
		var confirmSent time.Time
		if err := e.db.Get(&confirmSent, `SELECT confirm_sent_at FROM subscriptions WHERE id = $1`, id); err != nil || !confirmSent.Equal(e.clock.Now()) {
			t.Errorf("confirm_sent_at %v, %v; want %v", confirmSent, err, e.clock.Now())
		}

		var events []subscribers.Event
		if err := e.db.Select(&events, `SELECT id, subscription_id, subscriber_id, list_id, kind, at, ip, user_agent, form, consent_text, reason
			FROM events ORDER BY id`); err != nil {
			t.Fatal(err)
		}
		if len(events) != 2 {
			t.Fatalf("%d events, want 2", len(events))
		}
		consent := events[0]
		if consent.Kind != subscribers.EventSubscribed || consent.SubscriptionID != id || consent.ListID != list.ID ||
			consent.IP != testMeta.IP || consent.UserAgent != testMeta.UserAgent || consent.Form != testMeta.Form ||
			consent.ConsentText != list.ConsentText || !consent.At.Equal(e.clock.Now()) {
			t.Errorf("consent event %+v", consent)
		}
		if events[1].Kind != subscribers.EventConfirmationRequested {
			t.Errorf("second event %q, want confirmation_requested", events[1].Kind)
		}

		// The hook saw both events, with their ids, inside the transaction
		// (it read the subscription and the event row through its tx).
		if got, want := e.rec.kinds(), []string{subscribers.EventSubscribed, subscribers.EventConfirmationRequested}; !equal(got, want) {
			t.Fatalf("hook got %v, want %v", got, want)
		}
		for i, ev := range e.rec.events {
			if ev.ID != events[i].ID || ev.Timezone != "America/New_York" || ev.SubscriberID == 0 {
				t.Errorf("hook event %d: %+v (stored id %d)", i, ev, events[i].ID)
			}
		}
	})

	t.Run("Timezone", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		if _, err := e.store.Subscribe(ctx, subscribers.SubscribeRequest{List: "news", Email: "a@b.com", Timezone: "Europe/Berlin"}); err != nil {
			t.Fatal(err)
		}
		if tz := e.rec.last().Timezone; tz != "Europe/Berlin" {
			t.Errorf("event timezone %q, want the subscriber's Europe/Berlin", tz)
		}
	})

	t.Run("ErrHook", func(t *testing.T) {
		t.Parallel()
		// The hook fails on the second event of the sign-up: the
		// subscriber, the subscription and the first event, all written
		// before, must be gone too, as they were in the same transaction.
		for _, failOn := range []string{subscribers.EventSubscribed, subscribers.EventConfirmationRequested} {
			e := newEnv(t)
			e.MustCreateList(t, "news")
			e.rec.failOn = failOn
			_, err := e.store.Subscribe(ctx, subscribers.SubscribeRequest{List: "news", Email: "a@b.com", Meta: testMeta})
			if !errors.Is(err, errHook) {
				t.Fatalf("hook failing on %s: Subscribe = %v, want the hook's error", failOn, err)
			}
			if c := e.Counts(t); c != (counts{}) {
				t.Errorf("hook failing on %s: %+v rows stored, want none", failOn, c)
			}
		}
	})

	t.Run("Cooldown", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		e.MustSubscribe(t, "news", "a@b.com")
		id := e.SubscriptionID(t, "news", "a@b.com")

		e.clock.Add(59 * time.Minute)
		e.MustSubscribe(t, "news", "a@b.com")
		want := []string{"subscribed", "confirmation_requested", "subscribed"}
		if got := e.Kinds(t, id); !equal(got, want) {
			t.Fatalf("inside the cool-down: events %v, want %v", got, want)
		}

		e.clock.Add(time.Minute)
		e.MustSubscribe(t, "news", "a@b.com")
		want = append(want, "subscribed", "confirmation_requested")
		if got := e.Kinds(t, id); !equal(got, want) {
			t.Fatalf("after the cool-down: events %v, want %v", got, want)
		}
		if c := e.Counts(t); c.Subscribers != 1 || c.Subscriptions != 1 {
			t.Errorf("counts %+v, want one subscriber and one subscription", c)
		}
	})

	t.Run("Confirmed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		id := e.MustConfirm(t, "news", "a@b.com")
		before := e.Counts(t)
		e.rec.reset()
		e.clock.Add(24 * time.Hour)
		// Same answer as for a new address, and nothing changes: not the
		// status, not the name, no event, no confirmation email.
		_, err := e.store.Subscribe(ctx, subscribers.SubscribeRequest{List: "news", Email: "a@b.com", Name: "Mallory", Timezone: "Asia/Tokyo"})
		if err != nil {
			t.Fatalf("Subscribe of a confirmed address = %v, want nil", err)
		}
		if c := e.Counts(t); c != before {
			t.Errorf("counts %+v, want %+v", c, before)
		}
		if got := e.Status(t, id); got != subscribers.StatusConfirmed {
			t.Errorf("status %q, want confirmed", got)
		}
		var name string
		e.db.Get(&name, `SELECT name FROM subscribers WHERE email = 'a@b.com'`)
		if name != "" {
			t.Errorf("name changed to %q", name)
		}
		if k := e.rec.kinds(); len(k) != 0 {
			t.Errorf("hook called with %v", k)
		}
	})

	t.Run("Unsubscribed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		id := e.MustConfirm(t, "news", "a@b.com")
		if _, err := e.store.Unsubscribe(ctx, token(e.links.Unsubscribe(id)), "", testMeta); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(2 * time.Hour)
		e.MustSubscribe(t, "news", "a@b.com")
		if got := e.Status(t, id); got != subscribers.StatusPending {
			t.Errorf("signing up again after unsubscribing: status %q, want pending", got)
		}
		want := []string{"subscribed", "confirmation_requested", "confirmed", "unsubscribed", "subscribed", "confirmation_requested"}
		if got := e.Kinds(t, id); !equal(got, want) {
			t.Errorf("events %v, want %v", got, want)
		}
	})

	t.Run("Suppressed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		if err := e.store.Suppress(ctx, "a@b.com", "blocked by the editor"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Subscribe(ctx, subscribers.SubscribeRequest{List: "news", Email: "a@B.com", Meta: testMeta}); err != nil {
			t.Fatalf("Subscribe of a suppressed address = %v, want nil", err)
		}
		if c := e.Counts(t); c != (counts{Suppressions: 1}) {
			t.Errorf("counts %+v, want only the suppression", c)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		e.MustCreateList(t, "other")
		const n = 12
		var wg sync.WaitGroup
		errs := make(chan error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				list := "news"
				if i%4 == 3 {
					list = "other"
				}
				_, err := e.store.Subscribe(ctx, subscribers.SubscribeRequest{List: list, Email: "same@example.com", Meta: testMeta})
				errs <- err
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent Subscribe: %v", err)
			}
		}
		c := e.Counts(t)
		if c.Subscribers != 1 || c.Subscriptions != 2 {
			t.Fatalf("counts %+v, want 1 subscriber and 2 subscriptions", c)
		}
		var requested int
		e.db.Get(&requested, `SELECT count(*) FROM events WHERE kind = 'confirmation_requested'`)
		if requested != 2 {
			t.Errorf("%d confirmation requests, want 2 (one per list)", requested)
		}
		if c.Events != n+2 {
			t.Errorf("%d events, want %d", c.Events, n+2)
		}
	})

	t.Run("Serialised", func(t *testing.T) {
		t.Parallel()
		// A sign-up of a known address holds the subscriber's lock until it
		// commits: a second sign-up of the same address cannot finish while
		// the first is in the middle of its transaction (here: held inside
		// the hook), so it cannot also see "no confirmation requested yet".
		e := newEnv(t)
		e.MustCreateList(t, "news")
		e.MustSubscribe(t, "news", "a@b.com")
		id := e.SubscriptionID(t, "news", "a@b.com")
		e.clock.Add(2 * time.Hour) // past the cool-down: one more request is due

		inHook := make(chan struct{})
		secondDone := make(chan struct{})
		var once sync.Once
		var overlapped bool
		hook := e.store.OnEvent
		e.store.OnEvent = func(ctx context.Context, tx *sqlx.Tx, ev subscribers.Event) error {
			first := false
			once.Do(func() { first = true })
			if first {
				close(inHook)
				select {
				case <-secondDone:
					overlapped = true
				case <-time.After(300 * time.Millisecond):
				}
			}
			return hook(ctx, tx, ev)
		}
		firstErr := make(chan error, 1)
		go func() {
			_, err := e.store.Subscribe(ctx, subscribers.SubscribeRequest{List: "news", Email: "a@b.com"})
			firstErr <- err
		}()
		<-inHook
		secondErr := make(chan error, 1)
		go func() {
			_, err := e.store.Subscribe(ctx, subscribers.SubscribeRequest{List: "news", Email: "a@b.com"})
			secondErr <- err
			close(secondDone)
		}()
		if err := <-firstErr; err != nil {
			t.Fatal(err)
		}
		if err := <-secondErr; err != nil {
			t.Fatal(err)
		}
		if overlapped {
			t.Error("the second sign-up committed while the first held its transaction open")
		}
		want := []string{"subscribed", "confirmation_requested", "subscribed", "confirmation_requested", "subscribed"}
		if got := e.Kinds(t, id); !equal(got, want) {
			t.Errorf("events %v, want %v", got, want)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		for _, tt := range []struct {
			req  subscribers.SubscribeRequest
			code string
		}{
			{subscribers.SubscribeRequest{List: "news", Email: "Name <a@b.com>"}, tidings.EINVALID},
			{subscribers.SubscribeRequest{List: "news", Email: "a@b"}, tidings.EINVALID},
			{subscribers.SubscribeRequest{List: "news", Email: "a@@b.com"}, tidings.EINVALID},
			{subscribers.SubscribeRequest{List: "news", Email: "a b@c.com"}, tidings.EINVALID},
			{subscribers.SubscribeRequest{List: "news", Email: "a@b.com\r\nBcc: x@y.com"}, tidings.EINVALID},
			{subscribers.SubscribeRequest{List: "news", Email: strings.Repeat("a", 288) + "@example.com"}, tidings.EINVALID},
			{subscribers.SubscribeRequest{List: "news", Email: ""}, tidings.EINVALID},
			{subscribers.SubscribeRequest{List: "news", Email: "a@b.com", Name: "Ada\nBcc: x@y.com"}, tidings.EINVALID},
			{subscribers.SubscribeRequest{List: "news", Email: "a@b.com", Name: "Ada\rLovelace"}, tidings.EINVALID},
			{subscribers.SubscribeRequest{List: "news", Email: "a@b.com", Name: "Ada\x00"}, tidings.EINVALID},
			{subscribers.SubscribeRequest{List: "news", Email: "a@b.com", Name: strings.Repeat("n", 201)}, tidings.EINVALID},
			{subscribers.SubscribeRequest{List: "news", Email: "a@b.com", Timezone: "Mars/Base"}, tidings.EINVALID},
			{subscribers.SubscribeRequest{List: "nope", Email: "a@b.com"}, tidings.ENOTFOUND},
			{subscribers.SubscribeRequest{List: "", Email: "a@b.com"}, tidings.ENOTFOUND},
		} {
			_, err := e.store.Subscribe(ctx, tt.req)
			if code := tidings.ErrorCode(err); code != tt.code {
				t.Errorf("Subscribe(list %q, email %q, name %q, tz %q) = %v, want %s", tt.req.List, tt.req.Email, tt.req.Name, tt.req.Timezone, err, tt.code)
			}
			if c := e.Counts(t); c != (counts{}) {
				t.Fatalf("Subscribe(list %q, email %q, name %q, tz %q) stored %+v", tt.req.List, tt.req.Email, tt.req.Name, tt.req.Timezone, c)
			}
		}
		if k := e.rec.kinds(); len(k) != 0 {
			t.Errorf("hook called with %v", k)
		}
	})

	t.Run("NormalizedAddress", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		for _, in := range []string{"user@bücher.de", "user@BÜCHER.DE", " user@xn--bcher-kva.de "} {
			if _, err := e.store.Subscribe(ctx, subscribers.SubscribeRequest{List: "news", Email: in}); err != nil {
				t.Fatalf("Subscribe(%q) = %v", in, err)
			}
		}
		var emails []string
		e.db.Select(&emails, `SELECT email FROM subscribers`)
		if !equal(emails, []string{"user@xn--bcher-kva.de"}) {
			t.Errorf("stored %v, want one user@xn--bcher-kva.de", emails)
		}
	})
}

func TestStore_Confirm(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		e.MustSubscribe(t, "news", "a@b.com")
		id := e.SubscriptionID(t, "news", "a@b.com")
		link := e.links.Confirm(id)
		e.clock.Add(7*24*time.Hour - time.Second)
		e.rec.reset()
		m := subscribers.Meta{IP: "198.51.100.1", UserAgent: "Mail app", Form: "confirm-link"}
		res, err := e.store.Confirm(ctx, token(link), m)
		if err != nil {
			t.Fatal(err)
		}
		if res.AlreadyConfirmed || res.List.Slug != "news" || res.Subscription.ID != id ||
			res.Subscription.Status != subscribers.StatusConfirmed || res.Subscription.ConfirmedAt == nil || !res.Subscription.ConfirmedAt.Equal(e.clock.Now()) {
			t.Errorf("Confirm = %+v (subscription %+v)", res, res.Subscription)
		}
		if got := e.Status(t, id); got != subscribers.StatusConfirmed {
			t.Errorf("status %q, want confirmed", got)
		}
		ev := e.rec.last()
		if got := e.rec.kinds(); !equal(got, []string{subscribers.EventConfirmed}) || e.rec.seen[0] != subscribers.StatusConfirmed {
			t.Fatalf("hook got %v (status seen %v), want [confirmed] seeing confirmed", got, e.rec.seen)
		}
		if ev.SubscriptionID != id || ev.IP != m.IP || ev.UserAgent != m.UserAgent || ev.Form != m.Form ||
			ev.Timezone != "America/New_York" || !ev.At.Equal(e.clock.Now()) || ev.ID == 0 {
			t.Errorf("confirmed event %+v", ev)
		}
	})

	t.Run("AlreadyConfirmed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		id := e.MustConfirm(t, "news", "a@b.com")
		e.rec.reset()
		res, err := e.store.Confirm(ctx, token(e.links.Confirm(id)), testMeta)
		if err != nil || !res.AlreadyConfirmed || res.List.Slug != "news" {
			t.Fatalf("second Confirm = %+v, %v; want AlreadyConfirmed", res, err)
		}
		if got := e.Kinds(t, id); !equal(got, []string{"subscribed", "confirmation_requested", "confirmed"}) {
			t.Errorf("events %v", got)
		}
		if k := e.rec.kinds(); len(k) != 0 {
			t.Errorf("hook called with %v", k)
		}
	})

	t.Run("Err", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		e.MustSubscribe(t, "news", "a@b.com")
		e.MustSubscribe(t, "news", "victim@b.com")
		e.MustSubscribe(t, "news", "gone@b.com")
		e.MustSubscribe(t, "news", "left@b.com")
		a := e.SubscriptionID(t, "news", "a@b.com")
		victim := e.SubscriptionID(t, "news", "victim@b.com")
		gone := e.SubscriptionID(t, "news", "gone@b.com")
		left := e.SubscriptionID(t, "news", "left@b.com")

		good := token(e.links.Confirm(a))
		expired := token((&subscribers.Links{BaseURL: baseURL, Paths: testPaths, Tokens: e.store.Tokens, Now: e.clock.Now, ConfirmTTL: time.Minute}).Confirm(a))
		goneTok := token(e.links.Confirm(gone))
		leftTok := token(e.links.Confirm(left))
		if _, err := e.db.Exec(`DELETE FROM subscriptions WHERE id = $1`, gone); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Unsubscribe(ctx, token(e.links.Unsubscribe(left)), "", testMeta); err != nil {
			t.Fatal(err)
		}
		b := []byte(good)
		b[len(b)/3] = flip(b[len(b)/3])
		e.clock.Add(2 * time.Minute)
		before := e.Counts(t)
		e.rec.reset()

		for _, tt := range []struct {
			name, token, code string
		}{
			{"expired", expired, tidings.EEXPIRED},
			{"forged", string(b), tidings.EINVALID},
			{"empty", "", tidings.EINVALID},
			{"garbage", "not-a-token", tidings.EINVALID},
			{"unsubscribe token", token(e.links.Unsubscribe(a)), tidings.EINVALID},
			{"preferences token", token(e.links.Preferences(a)), tidings.EINVALID},
			{"payload edited to another subscription", editPayload(good, func(f []string) { f[2] = itoa(victim) }), tidings.EINVALID},
			{"subscription gone", goneTok, tidings.ENOTFOUND},
			{"unsubscribed since", leftTok, tidings.ECONFLICT},
		} {
			res, err := e.store.Confirm(ctx, tt.token, testMeta)
			if code := tidings.ErrorCode(err); code != tt.code || res != nil {
				t.Errorf("%s: Confirm(%q) = %v, %v; want %s", tt.name, tt.token, res, err, tt.code)
			}
		}
		if c := e.Counts(t); c != before {
			t.Errorf("counts %+v, want %+v", c, before)
		}
		for _, id := range []int64{a, victim} {
			if got := e.Status(t, id); got != subscribers.StatusPending {
				t.Errorf("subscription %d is %s, want pending", id, got)
			}
		}
		if k := e.rec.kinds(); len(k) != 0 {
			t.Errorf("hook called with %v", k)
		}
	})

	t.Run("ErrExpired", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		e.MustSubscribe(t, "news", "a@b.com")
		id := e.SubscriptionID(t, "news", "a@b.com")
		link := e.links.Confirm(id)
		e.clock.Add(7 * 24 * time.Hour)
		_, err := e.store.Confirm(ctx, token(link), testMeta)
		wantCode(t, "Confirm after 7 days", err, tidings.EEXPIRED)
		if got := e.Status(t, id); got != subscribers.StatusPending {
			t.Errorf("status %q, want pending", got)
		}
		// Signing up again sends a fresh link (generation 1), which works.
		e.MustSubscribe(t, "news", "a@b.com")
		if _, err := e.store.Confirm(ctx, token(e.links.ConfirmGeneration(id, 1)), testMeta); err != nil {
			t.Fatalf("fresh link: %v", err)
		}
	})

	t.Run("ErrHook", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		e.MustSubscribe(t, "news", "a@b.com")
		id := e.SubscriptionID(t, "news", "a@b.com")
		before := e.Counts(t)
		e.rec.failOn = subscribers.EventConfirmed
		if _, err := e.store.Confirm(ctx, token(e.links.Confirm(id)), testMeta); !errors.Is(err, errHook) {
			t.Fatalf("Confirm = %v, want the hook's error", err)
		}
		if got := e.Status(t, id); got != subscribers.StatusPending || e.Counts(t) != before {
			t.Errorf("after a failed hook: status %q, counts %+v; want pending, %+v", got, e.Counts(t), before)
		}
	})
}

func TestStore_Unsubscribe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		id := e.MustConfirm(t, "news", "a@b.com")
		link := e.links.Unsubscribe(id)
		e.clock.Add(400 * 24 * time.Hour) // unsubscribe links never expire
		e.rec.reset()
		m := subscribers.Meta{IP: "2001:db8::1", UserAgent: "Gmail one-click", Form: "unsubscribe"}
		res, err := e.store.Unsubscribe(ctx, token(link), "  too many emails\x00 ", m)
		if err != nil {
			t.Fatal(err)
		}
		if res.Already || res.Email != "a@b.com" || res.List.Slug != "news" {
			t.Errorf("Unsubscribe = %+v", res)
		}
		var row struct {
			Status         string
			UnsubscribedAt time.Time `db:"unsubscribed_at"`
		}
		e.db.Get(&row, `SELECT status, unsubscribed_at FROM subscriptions WHERE id = $1`, id)
		if row.Status != subscribers.StatusUnsubscribed || !row.UnsubscribedAt.Equal(e.clock.Now()) {
			t.Errorf("stored %+v", row)
		}
		var ev subscribers.Event
		e.db.Get(&ev, `SELECT id, kind, reason, ip, user_agent, form FROM events WHERE subscription_id = $1 ORDER BY id DESC LIMIT 1`, id)
		if ev.Kind != subscribers.EventUnsubscribed || ev.Reason != "too many emails" || ev.IP != m.IP || ev.UserAgent != m.UserAgent || ev.Form != m.Form {
			t.Errorf("event %+v", ev)
		}
		if got := e.rec.kinds(); !equal(got, []string{subscribers.EventUnsubscribed}) || e.rec.last().ID != ev.ID || e.rec.seen[0] != subscribers.StatusUnsubscribed {
			t.Errorf("hook got %v %+v", got, e.rec.last())
		}
	})

	t.Run("Repeated", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		e.MustSubscribe(t, "news", "a@b.com") // pending can leave too
		id := e.SubscriptionID(t, "news", "a@b.com")
		tok := token(e.links.Unsubscribe(id))
		if res, err := e.store.Unsubscribe(ctx, tok, "", testMeta); err != nil || res.Already {
			t.Fatalf("first Unsubscribe = %+v, %v", res, err)
		}
		before := e.Counts(t)
		e.rec.reset()
		for range 2 {
			res, err := e.store.Unsubscribe(ctx, tok, "again", testMeta)
			if err != nil || !res.Already || res.Email != "a@b.com" {
				t.Fatalf("repeated Unsubscribe = %+v, %v; want Already", res, err)
			}
		}
		if c := e.Counts(t); c != before {
			t.Errorf("counts %+v, want %+v", c, before)
		}
		if k := e.rec.kinds(); len(k) != 0 {
			t.Errorf("hook called with %v", k)
		}
	})

	t.Run("ReasonCapped", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		id := e.MustConfirm(t, "news", "a@b.com")
		if _, err := e.store.Unsubscribe(ctx, token(e.links.Unsubscribe(id)), strings.Repeat("ü", 600), testMeta); err != nil {
			t.Fatal(err)
		}
		var reason string
		e.db.Get(&reason, `SELECT reason FROM events WHERE kind = 'unsubscribed'`)
		if reason != strings.Repeat("ü", 500) {
			t.Errorf("reason of %d runes stored, want 500", len([]rune(reason)))
		}
	})

	t.Run("Err", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		a := e.MustConfirm(t, "news", "a@b.com")
		victim := e.MustConfirm(t, "news", "victim@b.com")
		good := token(e.links.Unsubscribe(a))
		b := []byte(good)
		b[len(b)-5] = flip(b[len(b)-5])
		before := e.Counts(t)
		for _, tt := range []struct{ name, token, code string }{
			{"forged", string(b), tidings.EINVALID},
			{"confirm token", token(e.links.Confirm(a)), tidings.EINVALID},
			{"payload edited to another subscription", editPayload(good, func(f []string) { f[2] = itoa(victim) }), tidings.EINVALID},
			{"unknown subscription", token(e.links.Unsubscribe(victim + 100)), tidings.ENOTFOUND},
		} {
			res, err := e.store.Unsubscribe(ctx, tt.token, "", testMeta)
			if code := tidings.ErrorCode(err); code != tt.code || res != nil {
				t.Errorf("%s: Unsubscribe(%q) = %v, %v; want %s", tt.name, tt.token, res, err, tt.code)
			}
		}
		if c := e.Counts(t); c != before {
			t.Errorf("counts %+v, want %+v", c, before)
		}
		for _, id := range []int64{a, victim} {
			if got := e.Status(t, id); got != subscribers.StatusConfirmed {
				t.Errorf("subscription %d is %s, want confirmed", id, got)
			}
		}
	})
}

func TestStore_SubscriptionByToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	e.MustCreateList(t, "news")
	id := e.MustConfirm(t, "news", "a@b.com")
	before := e.Counts(t)

	sub, list, email, err := e.store.SubscriptionByToken(ctx, subscribers.PurposeUnsubscribe, token(e.links.Unsubscribe(id)))
	if err != nil {
		t.Fatal(err)
	}
	if sub.ID != id || sub.Status != subscribers.StatusConfirmed || sub.ConfirmedAt == nil || list.Slug != "news" || list.ID != sub.ListID || list.Name != "The news" || email != "a@b.com" {
		t.Errorf("SubscriptionByToken = %+v, %+v, %q", sub, list, email)
	}
	if e.Counts(t) != before {
		t.Error("SubscriptionByToken changed something")
	}
	_, _, _, err = e.store.SubscriptionByToken(ctx, subscribers.PurposeConfirm, token(e.links.Unsubscribe(id)))
	wantCode(t, "unsubscribe token as confirm", err, tidings.EINVALID)
	_, _, _, err = e.store.SubscriptionByToken(ctx, subscribers.PurposeUnsubscribe, token(e.links.Unsubscribe(id+1)))
	wantCode(t, "token of no subscription", err, tidings.ENOTFOUND)
	link := e.links.Confirm(id)
	e.clock.Add(8 * 24 * time.Hour)
	_, _, _, err = e.store.SubscriptionByToken(ctx, subscribers.PurposeConfirm, token(link))
	wantCode(t, "expired confirm token", err, tidings.EEXPIRED)
}

func TestStore_Bounce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	e.MustCreateList(t, "news")
	e.MustCreateList(t, "tips")
	e.MustCreateList(t, "old")
	news := e.MustConfirm(t, "news", "a@b.com")
	e.MustSubscribe(t, "tips", "a@b.com")
	tips := e.SubscriptionID(t, "tips", "a@b.com")
	old := e.MustConfirm(t, "old", "a@b.com")
	if _, err := e.store.Unsubscribe(ctx, token(e.links.Unsubscribe(old)), "", testMeta); err != nil {
		t.Fatal(err)
	}
	other := e.MustConfirm(t, "news", "other@b.com")
	e.rec.reset()
	e.clock.Add(time.Hour)

	if err := e.store.Bounce(ctx, "a@B.com", "smtp 550 5.1.1 user unknown"); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[int64]string{news: "bounced", tips: "bounced", old: "unsubscribed", other: "confirmed"} {
		if got := e.Status(t, id); got != want {
			t.Errorf("subscription %d is %s, want %s", id, got, want)
		}
	}
	var reasons []string
	e.db.Select(&reasons, `SELECT reason FROM events WHERE kind = 'bounced' ORDER BY id`)
	if !equal(reasons, []string{"smtp 550 5.1.1 user unknown", "smtp 550 5.1.1 user unknown"}) {
		t.Errorf("bounced events %v", reasons)
	}
	if got := e.rec.kinds(); !equal(got, []string{"bounced", "bounced"}) {
		t.Errorf("hook got %v", got)
	}
	for i, ev := range e.rec.events {
		if ev.Timezone != "America/New_York" || !ev.At.Equal(e.clock.Now()) || e.rec.seen[i] != subscribers.StatusBounced {
			t.Errorf("hook event %+v saw %s", ev, e.rec.seen[i])
		}
	}
	var sup struct {
		Email, Reason string
	}
	e.db.Get(&sup, `SELECT email, reason FROM suppressions`)
	if sup.Email != "a@b.com" || sup.Reason != "smtp 550 5.1.1 user unknown" {
		t.Errorf("suppression %+v", sup)
	}

	// Idempotent, and later sign-ups are ignored.
	before := e.Counts(t)
	if err := e.store.Bounce(ctx, "a@b.com", "again"); err != nil {
		t.Fatal(err)
	}
	e.MustSubscribe(t, "old", "a@b.com")
	e.MustSubscribe(t, "news", "a@b.com")
	if c := e.Counts(t); c != before {
		t.Errorf("counts %+v, want %+v", c, before)
	}
	_, err := e.store.Confirm(ctx, token(e.links.Confirm(tips)), testMeta)
	wantCode(t, "Confirm a bounced subscription", err, tidings.ECONFLICT)
	if res, err := e.store.Unsubscribe(ctx, token(e.links.Unsubscribe(news)), "", testMeta); err != nil || !res.Already {
		t.Errorf("Unsubscribe a bounced subscription = %+v, %v; want Already", res, err)
	}

	// An address Tidings never saw is suppressed all the same.
	if err := e.store.Bounce(ctx, "stranger@b.com", "550"); err != nil {
		t.Fatal(err)
	}
	if c := e.Counts(t); c.Suppressions != 2 || c.Subscribers != before.Subscribers {
		t.Errorf("counts %+v", c)
	}
	wantCode(t, "Bounce(bad address)", e.store.Bounce(ctx, "not an address", ""), tidings.EINVALID)
}

func TestStore_Add(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("Confirmed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		e.MustCreateList(t, "tips")
		sub, err := e.store.Add(ctx, subscribers.AddRequest{
			Email: "Imported@Example.com", Name: "Grace", Timezone: "Europe/Paris", Lists: []string{"news", "tips", "news"},
			Tags: []string{"vip"}, Status: subscribers.StatusConfirmed, Meta: subscribers.Meta{IP: "192.0.2.1", Form: "api"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if sub.ID == 0 || sub.Email != "Imported@example.com" || sub.Name != "Grace" || sub.Timezone != "Europe/Paris" || len(sub.Subscriptions) != 2 {
			t.Fatalf("Add = %+v", sub)
		}
		for i, s := range sub.Subscriptions {
			if s.List != []string{"news", "tips"}[i] || s.Status != subscribers.StatusConfirmed || s.ConfirmedAt == nil || !s.ConfirmedAt.Equal(e.clock.Now()) {
				t.Errorf("subscription %d: %+v", i, s)
			}
		}
		var events []subscribers.Event
		e.db.Select(&events, `SELECT id, kind, reason, ip, form FROM events ORDER BY id`)
		if len(events) != 2 {
			t.Fatalf("%d events, want 2", len(events))
		}
		for _, ev := range events {
			if ev.Kind != subscribers.EventImported || ev.Reason != "added via API as confirmed" || ev.IP != "192.0.2.1" || ev.Form != "api" {
				t.Errorf("event %+v", ev)
			}
		}
		if got := e.rec.kinds(); !equal(got, []string{"imported", "imported"}) || e.rec.last().Timezone != "Europe/Paris" {
			t.Errorf("hook got %v, %+v", got, e.rec.last())
		}
	})

	t.Run("Pending", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		sub, err := e.store.Add(ctx, subscribers.AddRequest{Email: "p@b.com", Lists: []string{"news"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(sub.Subscriptions) != 1 || sub.Subscriptions[0].Status != subscribers.StatusPending {
			t.Fatalf("Add = %+v", sub)
		}
		if got := e.rec.kinds(); !equal(got, []string{"subscribed", "confirmation_requested"}) {
			t.Errorf("hook got %v", got)
		}
		// Added again as confirmed: the pending subscription is confirmed.
		sub, err = e.store.Add(ctx, subscribers.AddRequest{Email: "p@b.com", Name: "Pat", Lists: []string{"news"}, Status: "confirmed"})
		if err != nil {
			t.Fatal(err)
		}
		if sub.Name != "Pat" || sub.Subscriptions[0].Status != subscribers.StatusConfirmed {
			t.Errorf("second Add = %+v", sub)
		}
		if got := e.rec.kinds(); !equal(got, []string{"subscribed", "confirmation_requested", "imported"}) {
			t.Errorf("hook got %v", got)
		}
		// And again: nothing more happens.
		before := e.Counts(t)
		if _, err := e.store.Add(ctx, subscribers.AddRequest{Email: "p@b.com", Lists: []string{"news"}, Status: "confirmed"}); err != nil {
			t.Fatal(err)
		}
		if e.Counts(t) != before {
			t.Error("adding a confirmed subscriber again changed something")
		}
	})

	t.Run("ErrConflict", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		e.MustCreateList(t, "tips")
		left := e.MustConfirm(t, "news", "left@b.com")
		if _, err := e.store.Unsubscribe(ctx, token(e.links.Unsubscribe(left)), "", testMeta); err != nil {
			t.Fatal(err)
		}
		if err := e.store.Suppress(ctx, "blocked@b.com", "editor"); err != nil {
			t.Fatal(err)
		}
		e.MustConfirm(t, "news", "bounced@b.com")
		if err := e.store.Bounce(ctx, "bounced@b.com", "550 5.1.1"); err != nil {
			t.Fatal(err)
		}
		before := e.Counts(t)
		for _, req := range []subscribers.AddRequest{
			{Email: "left@b.com", Lists: []string{"tips", "news"}, Status: "confirmed"},
			{Email: "left@b.com", Lists: []string{"news"}},
			{Email: "blocked@b.com", Lists: []string{"news"}, Status: "confirmed"},
			{Email: "bounced@b.com", Lists: []string{"tips"}},
		} {
			_, err := e.store.Add(ctx, req)
			wantCode(t, "Add("+req.Email+", "+strings.Join(req.Lists, ",")+")", err, tidings.ECONFLICT)
		}
		if c := e.Counts(t); c != before {
			t.Errorf("counts %+v, want %+v", c, before)
		}
		if got := e.Status(t, left); got != subscribers.StatusUnsubscribed {
			t.Errorf("unsubscribed subscription is %s", got)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		for _, tt := range []struct {
			req  subscribers.AddRequest
			code string
		}{
			{subscribers.AddRequest{Email: "Name <a@b.com>", Lists: []string{"news"}}, tidings.EINVALID},
			{subscribers.AddRequest{Email: "a@b.com", Name: "x\ny", Lists: []string{"news"}}, tidings.EINVALID},
			{subscribers.AddRequest{Email: "a@b.com", Timezone: "Mars/Base", Lists: []string{"news"}}, tidings.EINVALID},
			{subscribers.AddRequest{Email: "a@b.com", Status: "unsubscribed", Lists: []string{"news"}}, tidings.EINVALID},
			{subscribers.AddRequest{Email: "a@b.com", Status: "bounced", Lists: []string{"news"}}, tidings.EINVALID},
			{subscribers.AddRequest{Email: "a@b.com", Lists: []string{"news", "nope"}}, tidings.ENOTFOUND},
		} {
			_, err := e.store.Add(ctx, tt.req)
			if code := tidings.ErrorCode(err); code != tt.code {
				t.Errorf("Add(%+v) = %v, want %s", tt.req, err, tt.code)
			}
			if c := e.Counts(t); c != (counts{}) {
				t.Fatalf("Add(%+v) stored %+v", tt.req, c)
			}
		}
	})
}
