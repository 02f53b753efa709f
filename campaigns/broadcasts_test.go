package campaigns_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/internal/pgtest"
	"github.com/tidings/tidings/subscribers"
	"github.com/tidings/tidings/templates"
)

// MustBroadcast creates a draft broadcast.
func MustBroadcast(tb testing.TB, s *campaigns.Store, b campaigns.Broadcast) *campaigns.Broadcast {
	tb.Helper()
	if b.Subject == "" {
		b.Subject = "News for {{or .FirstName \"you\"}}"
	}
	if b.Body == "" {
		b.Body = "Hello {{.Name}}.\n\n[Leave]({{.UnsubscribeURL}})"
	}
	if err := s.CreateBroadcast(context.Background(), &b); err != nil {
		tb.Fatal(err)
	}
	return &b
}

// MustTag sets the tags of a subscriber.
func MustTag(tb testing.TB, db *sqlx.DB, s sub, tags ...string) {
	tb.Helper()
	if _, err := db.Exec(`UPDATE subscribers SET tags = $2 WHERE id = $1`, s.subscriberID, pq.Array(tags)); err != nil {
		tb.Fatal(err)
	}
}

// mustSubscribers adds n confirmed subscriptions to the list, named
// prefix1..prefixN, without enrolling them in its sequence.
func mustSubscribers(tb testing.TB, db *sqlx.DB, list int64, prefix string, n int) []sub {
	tb.Helper()
	var subs []sub
	for i := 1; i <= n; i++ {
		subs = append(subs, MustSubscription(tb, db, list, fmt.Sprintf("%s%d@example.com", prefix, i), "UTC", subscribers.StatusConfirmed))
	}
	return subs
}

// broadcastRows counts the outbox rows of a broadcast by status.
func broadcastRows(tb testing.TB, db *sqlx.DB, id int64) map[string]int {
	tb.Helper()
	var rows []struct {
		Status string `db:"status"`
		N      int    `db:"n"`
	}
	if err := db.Select(&rows, `SELECT status, count(*) AS n FROM outbox WHERE broadcast_id = $1 GROUP BY status`, id); err != nil {
		tb.Fatal(err)
	}
	m := map[string]int{}
	for _, r := range rows {
		m[r.Status] = r.N
	}
	return m
}

// snapshot is everything about a broadcast that an action may change.
func snapshot(tb testing.TB, db *sqlx.DB, id int64) string {
	tb.Helper()
	var s string
	err := db.Get(&s, `
		SELECT row(b.*)::text || ' ' || COALESCE((
			SELECT string_agg(row(o.id, o.status, o.due_at, o.attempts, o.temporary)::text, ',' ORDER BY o.id)
			FROM outbox o WHERE o.broadcast_id = b.id), '')
		FROM broadcasts b WHERE b.id = $1`, id)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func wantCode(tb testing.TB, what string, err error, code string) {
	tb.Helper()
	if got := tidings.ErrorCode(err); got != code {
		tb.Fatalf("%s: error %v, want code %s", what, err, code)
	}
}

// TestStore_BroadcastTransitions tries every action on a broadcast in every
// status: the legal ones move it as the table says, the illegal ones fail
// with ECONFLICT naming the status and change nothing.
func TestStore_BroadcastTransitions(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	ctx := context.Background()
	list := MustList(t, e.db, listOpts{slug: "coach"})
	MustList(t, e.db, listOpts{slug: "empty"})
	mustSubscribers(t, e.db, list, "reader", 3)

	actions := map[string]func(id int64) (*campaigns.Broadcast, error){
		"update": func(id int64) (*campaigns.Broadcast, error) {
			return e.store.UpdateBroadcast(ctx, id, campaigns.BroadcastUpdate{Subject: ptr("Changed")})
		},
		"schedule": func(id int64) (*campaigns.Broadcast, error) {
			return e.store.Schedule(ctx, id, e.clock.Now().Add(time.Hour))
		},
		"send":   func(id int64) (*campaigns.Broadcast, error) { return e.store.SendNow(ctx, id) },
		"pause":  func(id int64) (*campaigns.Broadcast, error) { return e.store.Pause(ctx, id) },
		"resume": func(id int64) (*campaigns.Broadcast, error) { return e.store.Resume(ctx, id) },
		"cancel": func(id int64) (*campaigns.Broadcast, error) { return e.store.Cancel(ctx, id) },
		"retry":  func(id int64) (*campaigns.Broadcast, error) { return e.store.RetryFailed(ctx, id) },
	}
	// into makes a broadcast in the given status.
	into := func(status string) int64 {
		t.Helper()
		slug := "coach"
		if status == campaigns.BroadcastSent {
			slug = "empty" // nothing to send: the next tick finishes it
		}
		b := MustBroadcast(t, e.store, campaigns.Broadcast{List: slug})
		var err error
		switch status {
		case campaigns.BroadcastScheduled:
			_, err = e.store.Schedule(ctx, b.ID, e.clock.Now().Add(time.Hour))
		case campaigns.BroadcastSending:
			_, err = e.store.SendNow(ctx, b.ID)
		case campaigns.BroadcastPaused:
			if _, err = e.store.SendNow(ctx, b.ID); err == nil {
				_, err = e.store.Pause(ctx, b.ID)
			}
		case campaigns.BroadcastSent:
			if _, err = e.store.SendNow(ctx, b.ID); err == nil {
				mustTick(t, e.sched)
			}
		case campaigns.BroadcastCancelled:
			_, err = e.store.Cancel(ctx, b.ID)
		}
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := e.store.BroadcastByID(ctx, b.ID); got.Status != status {
			t.Fatalf("set up %s: got %s", status, got.Status)
		}
		return b.ID
	}

	const no = "" // illegal
	for _, tt := range []struct {
		from string
		want map[string]string // action: status after, or no
	}{
		{"draft", map[string]string{"update": "draft", "schedule": "scheduled", "send": "sending", "pause": no, "resume": no, "cancel": "cancelled", "retry": no}},
		{"scheduled", map[string]string{"update": "scheduled", "schedule": "scheduled", "send": "sending", "pause": no, "resume": no, "cancel": "cancelled", "retry": no}},
		{"sending", map[string]string{"update": no, "schedule": no, "send": no, "pause": "paused", "resume": no, "cancel": "cancelled", "retry": "sending"}},
		{"paused", map[string]string{"update": no, "schedule": no, "send": no, "pause": no, "resume": "sending", "cancel": "cancelled", "retry": no}},
		{"sent", map[string]string{"update": no, "schedule": no, "send": no, "pause": no, "resume": no, "cancel": no, "retry": "sent"}},
		{"cancelled", map[string]string{"update": no, "schedule": no, "send": no, "pause": no, "resume": no, "cancel": no, "retry": no}},
	} {
		for action, want := range tt.want {
			id := into(tt.from)
			before := snapshot(t, e.db, id)
			got, err := actions[action](id)
			if want == no {
				if tidings.ErrorCode(err) != tidings.ECONFLICT || !strings.Contains(tidings.ErrorMessage(err), "is "+tt.from) {
					t.Errorf("%s on %s: error %v, want %s naming the status", action, tt.from, err, tidings.ECONFLICT)
				}
				if after := snapshot(t, e.db, id); after != before {
					t.Errorf("%s on %s changed the broadcast:\n%s\n%s", action, tt.from, before, after)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s on %s: %v", action, tt.from, err)
				continue
			}
			if got.Status != want {
				t.Errorf("%s on %s: status %s, want %s", action, tt.from, got.Status, want)
			}
		}
	}
}

// TestStore_Broadcast covers creating, reading, listing and changing drafts.
func TestStore_Broadcast(t *testing.T) {
	t.Parallel()
	e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T10:00:00Z")
	ctx := context.Background()
	MustList(t, e.db, listOpts{slug: "coach"})
	MustList(t, e.db, listOpts{slug: "other"})

	b := &campaigns.Broadcast{List: "coach", Subject: "Spring news", Body: "Hi", Preheader: "What's new",
		TagsInclude: []string{" VIP ", "early  Birds", "vip"}, TagsExclude: []string{"Churned"}}
	if err := e.store.CreateBroadcast(ctx, b); err != nil {
		t.Fatal(err)
	}
	if b.ID == 0 || b.Status != "draft" || b.List != "coach" || b.SendAt != nil ||
		fmt.Sprint(b.TagsInclude) != "[early birds vip]" || fmt.Sprint(b.TagsExclude) != "[churned]" {
		t.Fatalf("created %+v", b)
	}
	e.clock.Add(time.Minute)
	other := MustBroadcast(t, e.store, campaigns.Broadcast{List: "other"})

	got, err := e.store.UpdateBroadcast(ctx, b.ID, campaigns.BroadcastUpdate{Body: ptr("New body"), TagsInclude: &[]string{}, List: ptr("other")})
	if err != nil {
		t.Fatal(err)
	}
	if got.Body != "New body" || got.Subject != "Spring news" || len(got.TagsInclude) != 0 || got.List != "other" || got.Preheader != "What's new" {
		t.Fatalf("updated %+v", got)
	}
	sendAt := mustTime("2026-03-03T08:00:00Z")
	if got, err = e.store.Schedule(ctx, b.ID, sendAt.In(time.FixedZone("CET", 3600))); err != nil || !got.SendAt.Equal(sendAt) || got.Status != "scheduled" {
		t.Fatalf("scheduled %+v, %v", got, err)
	}

	all, err := e.store.Broadcasts(ctx, campaigns.BroadcastFilter{})
	if err != nil || len(all) != 2 || all[0].ID != other.ID || all[1].ID != b.ID {
		t.Fatalf("Broadcasts = %v, %v; want newest first", all, err)
	}
	mine, err := e.store.Broadcasts(ctx, campaigns.BroadcastFilter{List: "coach"})
	if err != nil || len(mine) != 0 {
		t.Fatalf("Broadcasts of coach = %v, %v", mine, err)
	}
	_, err = e.store.Broadcasts(ctx, campaigns.BroadcastFilter{List: "nope"})
	wantCode(t, "Broadcasts of an unknown list", err, tidings.ENOTFOUND)

	byID, err := e.store.BroadcastByID(ctx, b.ID)
	if err != nil || byID.BroadcastStats == nil || byID.Recipients != 0 || byID.Status != "scheduled" {
		t.Fatalf("BroadcastByID = %+v, %v", byID, err)
	}
	_, err = e.store.BroadcastByID(ctx, 999999)
	wantCode(t, "BroadcastByID(999999)", err, tidings.ENOTFOUND)
	for name, f := range map[string]func() error{
		"update": func() error { _, err := e.store.UpdateBroadcast(ctx, 999999, campaigns.BroadcastUpdate{}); return err },
		"send":   func() error { _, err := e.store.SendNow(ctx, 999999); return err },
		"cancel": func() error { _, err := e.store.Cancel(ctx, 999999); return err },
	} {
		wantCode(t, name+" of an unknown broadcast", f(), tidings.ENOTFOUND)
	}
}

// TestStore_Broadcast_ErrInvalid: bad input is refused with a message and
// stores or changes nothing.
func TestStore_Broadcast_ErrInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T10:00:00Z")
	ctx := context.Background()
	MustList(t, e.db, listOpts{slug: "coach"})
	b := MustBroadcast(t, e.store, campaigns.Broadcast{List: "coach"})
	before := snapshot(t, e.db, b.ID)
	for _, tt := range []struct {
		name string
		b    campaigns.Broadcast
		code string
		want string
	}{
		{"unknown list", campaigns.Broadcast{List: "nope", Subject: "s", Body: "b"}, tidings.ENOTFOUND, `List "nope" not found`},
		{"no list", campaigns.Broadcast{Subject: "s", Body: "b"}, tidings.EINVALID, "list is required"},
		{"bad subject", campaigns.Broadcast{List: "coach", Subject: "Hi {{.Foo}}", Body: "b"}, tidings.EINVALID, "subject line 1: unknown field .Foo"},
		{"bad body", campaigns.Broadcast{List: "coach", Subject: "s", Body: "a\n{{if .Name}}"}, tidings.EINVALID, "body line 2"},
		{"no body", campaigns.Broadcast{List: "coach", Subject: "s", Body: " "}, tidings.EINVALID, "body is required"},
		{"two-line subject", campaigns.Broadcast{List: "coach", Subject: "a\nBcc: x@example.com", Body: "b"}, tidings.EINVALID, "one line"},
		{"two-line preheader", campaigns.Broadcast{List: "coach", Subject: "s", Body: "b", Preheader: "a\nb"}, tidings.EINVALID, "preheader"},
		{"empty tag", campaigns.Broadcast{List: "coach", Subject: "s", Body: "b", TagsInclude: []string{" "}}, tidings.EINVALID, "tags_include"},
		{"long tag", campaigns.Broadcast{List: "coach", Subject: "s", Body: "b", TagsExclude: []string{strings.Repeat("x", 51)}}, tidings.EINVALID, "tags_exclude"},
		{"both ways", campaigns.Broadcast{List: "coach", Subject: "s", Body: "b", TagsInclude: []string{"vip"}, TagsExclude: []string{"VIP"}}, tidings.EINVALID, "both"},
	} {
		in := tt.b
		err := e.store.CreateBroadcast(ctx, &in)
		if tidings.ErrorCode(err) != tt.code || !strings.Contains(tidings.ErrorMessage(err), tt.want) {
			t.Errorf("create with %s: %v, want %s containing %q", tt.name, err, tt.code, tt.want)
		}
		_, err = e.store.UpdateBroadcast(ctx, b.ID, campaigns.BroadcastUpdate{List: &tt.b.List, Subject: &tt.b.Subject,
			Body: &tt.b.Body, Preheader: &tt.b.Preheader, TagsInclude: &tt.b.TagsInclude, TagsExclude: &tt.b.TagsExclude})
		if tidings.ErrorCode(err) != tt.code {
			t.Errorf("update with %s: %v, want %s", tt.name, err, tt.code)
		}
	}
	for _, at := range []time.Time{e.clock.Now(), e.clock.Now().Add(-time.Minute), {}} {
		_, err := e.store.Schedule(ctx, b.ID, at)
		wantCode(t, fmt.Sprintf("Schedule(%s)", at), err, tidings.EINVALID)
		if at.IsZero() || strings.Contains(tidings.ErrorMessage(err), "in the past") {
			continue
		}
		t.Errorf("Schedule(%s): message %q does not say it is in the past", at, tidings.ErrorMessage(err))
	}
	if after := snapshot(t, e.db, b.ID); after != before {
		t.Fatalf("bad input changed the broadcast:\n%s\n%s", before, after)
	}
	var n int
	e.db.Get(&n, `SELECT count(*) FROM broadcasts`)
	if n != 1 {
		t.Fatalf("%d broadcasts stored, want 1", n)
	}
}

func TestParseSendAt(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ sendAt, tz, want string }{
		{"2026-03-10T09:00:00+01:00", "", "2026-03-10T08:00:00Z"},
		{"2026-03-10T09:00:00Z", "", "2026-03-10T09:00:00Z"},
		{"2026-03-10T09:00", "Europe/Berlin", "2026-03-10T08:00:00Z"},
		{"2026-07-10T09:00:30", "Europe/Berlin", "2026-07-10T07:00:30Z"},
		{"2026-07-10 09:00", "America/New_York", "2026-07-10T13:00:00Z"},
		{"9999-12-31T23:59:59Z", "", "9999-12-31T23:59:59Z"},
	} {
		got, err := campaigns.ParseSendAt(tt.sendAt, tt.tz)
		if err != nil || got.Format(time.RFC3339) != tt.want {
			t.Errorf("ParseSendAt(%q, %q) = %s, %v; want %s", tt.sendAt, tt.tz, got.Format(time.RFC3339), err, tt.want)
		}
	}
	for _, tt := range []struct{ sendAt, tz string }{
		{"", ""},
		{"2026-03-10T09:00", ""},
		{"tomorrow", ""},
		{"2026-03-10T09:00", "Mars/Olympus"},
		{"2026-03-10T09:00", "Local"},
		{"2026-03-10T09:00:00+01:00", "Europe/Berlin"},
		{"10/03/2026 09:00", "Europe/Berlin"},
		// In the year 10000 in UTC, which no answer could show.
		{"9999-12-31T23:00:00-05:00", ""},
		{"9999-12-31T23:30", "America/New_York"},
		{"0000-01-01T00:30:00+01:00", ""},
	} {
		if _, err := campaigns.ParseSendAt(tt.sendAt, tt.tz); tidings.ErrorCode(err) != tidings.EINVALID {
			t.Errorf("ParseSendAt(%q, %q): %v, want %s", tt.sendAt, tt.tz, err, tidings.EINVALID)
		}
	}
}

// TestStore_SendNow_Recipients: who gets a broadcast. Only mailable
// subscriptions of the list, with any of the included tags and none of the
// excluded ones.
func TestStore_SendNow_Recipients(t *testing.T) {
	t.Parallel()
	e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T10:00:00Z")
	ctx := context.Background()
	list := MustList(t, e.db, listOpts{slug: "coach"})
	other := MustList(t, e.db, listOpts{slug: "other"})
	vip := MustSubscription(t, e.db, list, "vip@example.com", "UTC", subscribers.StatusConfirmed)
	MustTag(t, e.db, vip, "vip")
	early := MustSubscription(t, e.db, list, "early@example.com", "UTC", subscribers.StatusConfirmed)
	MustTag(t, e.db, early, "early", "churned")
	both := MustSubscription(t, e.db, list, "both@example.com", "UTC", subscribers.StatusConfirmed)
	MustTag(t, e.db, both, "vip", "early")
	MustSubscription(t, e.db, list, "plain@example.com", "UTC", subscribers.StatusConfirmed)
	for _, st := range []string{subscribers.StatusPending, subscribers.StatusUnsubscribed, subscribers.StatusBounced} {
		s := MustSubscription(t, e.db, list, st+"@example.com", "UTC", st)
		MustTag(t, e.db, s, "vip")
	}
	suppressed := MustSubscription(t, e.db, list, "suppressed@example.com", "UTC", subscribers.StatusConfirmed)
	MustTag(t, e.db, suppressed, "vip")
	e.db.MustExec(`INSERT INTO suppressions (email, reason, created_at) VALUES ('suppressed@example.com', 'complaint', now())`)
	elsewhere := MustSubscription(t, e.db, other, "elsewhere@example.com", "UTC", subscribers.StatusConfirmed)
	MustTag(t, e.db, elsewhere, "vip")

	for _, tt := range []struct {
		include, exclude []string
		want             []string
	}{
		{nil, nil, []string{"both", "early", "plain", "vip"}},
		{[]string{"vip"}, nil, []string{"both", "vip"}},
		{[]string{"vip", "early"}, nil, []string{"both", "early", "vip"}},
		{[]string{"vip", "early"}, []string{"churned"}, []string{"both", "vip"}},
		{nil, []string{"vip"}, []string{"early", "plain"}},
		{[]string{"nobody"}, nil, nil},
	} {
		b := MustBroadcast(t, e.store, campaigns.Broadcast{List: "coach", TagsInclude: tt.include, TagsExclude: tt.exclude})
		got, err := e.store.SendNow(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		var to []string
		e.db.Select(&to, `
			SELECT split_part(r.email, '@', 1) FROM outbox o JOIN subscribers r ON r.id = o.subscriber_id
			WHERE o.broadcast_id = $1 AND o.kind = 'broadcast' AND o.priority = 2 AND o.status = 'queued'
			ORDER BY 1`, b.ID)
		if fmt.Sprint(to) != fmt.Sprint(tt.want) || got.Recipients != len(tt.want) || got.Status != "sending" || got.StartedAt == nil {
			t.Errorf("include %v exclude %v: queued %v (recipients %d, %s), want %v", tt.include, tt.exclude, to, got.Recipients, got.Status, tt.want)
		}
	}
}

// TestStore_SendNow_Once: starting a broadcast twice, or from two places at
// once, queues each recipient once.
func TestStore_SendNow_Once(t *testing.T) {
	t.Parallel()
	e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T10:00:00Z")
	ctx := context.Background()
	list := MustList(t, e.db, listOpts{slug: "coach"})
	mustConfirmMany(t, e, list, 200, "UTC")

	t.Run("Twice", func(t *testing.T) {
		b := MustBroadcast(t, e.store, campaigns.Broadcast{List: "coach"})
		if _, err := e.store.SendNow(ctx, b.ID); err != nil {
			t.Fatal(err)
		}
		_, err := e.store.SendNow(ctx, b.ID)
		wantCode(t, "second SendNow", err, tidings.ECONFLICT)
		mustTick(t, e.sched)
		if got := broadcastRows(t, e.db, b.ID); got["queued"] != 200 || len(got) != 1 {
			t.Fatalf("rows %v, want 200 queued", got)
		}
	})
	t.Run("Concurrently", func(t *testing.T) {
		for round := range 5 {
			b := MustBroadcast(t, e.store, campaigns.Broadcast{List: "coach"})
			if _, err := e.store.Schedule(ctx, b.ID, e.clock.Now().Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			e.clock.Add(time.Second)
			// Two SendNows and two schedulers of other instances, at once.
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range 4 {
				wg.Go(func() {
					if i < 2 {
						_, errs[i] = e.store.SendNow(ctx, b.ID)
					} else {
						_, errs[i] = (&campaigns.Scheduler{DB: e.db, Now: e.clock.Now}).Tick(ctx)
					}
				})
			}
			wg.Wait()
			ok := 0
			for i, err := range errs[:2] {
				if err == nil {
					ok++
				} else if tidings.ErrorCode(err) != tidings.ECONFLICT {
					t.Fatalf("round %d, SendNow %d: %v", round, i, err)
				}
			}
			for _, err := range errs[2:] {
				if err != nil {
					t.Fatal(err)
				}
			}
			got, _ := e.store.BroadcastByID(ctx, b.ID)
			if rows := broadcastRows(t, e.db, b.ID); rows["queued"] != 200 || len(rows) != 1 || got.Recipients != 200 || ok > 1 {
				t.Fatalf("round %d: rows %v, recipients %d, %d SendNow succeeded", round, rows, got.Recipients, ok)
			}
		}
	})
}

// TestScheduler_Broadcasts: a scheduled broadcast starts at its time, and a
// sending one with nothing left is marked sent.
func TestScheduler_Broadcasts(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	ctx := context.Background()
	list := MustList(t, e.db, listOpts{slug: "coach"})
	mustSubscribers(t, e.db, list, "reader", 5)
	b := MustBroadcast(t, e.store, campaigns.Broadcast{List: "coach"})
	if _, err := e.store.Schedule(ctx, b.ID, mustTime("2026-03-02T12:00:00Z")); err != nil {
		t.Fatal(err)
	}
	tickAt(t, e.env, "2026-03-02T11:59:59Z", 0)
	tickAt(t, e.env, "2026-03-02T12:00:00Z", 5)
	tickAt(t, e.env, "2026-03-02T12:00:01Z", 0)
	got, _ := e.store.BroadcastByID(ctx, b.ID)
	if got.Status != "sending" || !got.StartedAt.Equal(mustTime("2026-03-02T12:00:00Z")) || got.Queued != 5 {
		t.Fatalf("after its time: %+v %+v", got, got.BroadcastStats)
	}
	// It is sent when its last message is, not at the next tick.
	drain(t, e.dispatcher(t))
	got, _ = e.store.BroadcastByID(ctx, b.ID)
	if got.Status != "sent" || got.FinishedAt == nil || !got.FinishedAt.Equal(mustTime("2026-03-02T12:00:01Z")) || got.Sent != 5 {
		t.Fatalf("after sending: %+v %+v", got, got.BroadcastStats)
	}
}

// TestDispatcher_Broadcast sends a broadcast: each recipient gets it once,
// with their own name and links, and what they get is what Render makes.
func TestDispatcher_Broadcast(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	ctx := context.Background()
	list := MustList(t, e.db, listOpts{slug: "coach"})
	subs := mustSubscribers(t, e.db, list, "reader", 25)
	e.db.MustExec(`UPDATE subscribers SET name = 'Reader ' || id WHERE email LIKE 'reader%'`)
	e.db.MustExec(`UPDATE subscribers SET name = '' WHERE email = 'reader3@example.com'`)
	e.db.MustExec(`UPDATE subscribers SET name = '<b>Bold</b> & "Co"' WHERE email = 'reader4@example.com'`)
	content := templates.Content{
		Subject:   "{{or .FirstName \"Friend\"}}, spring news",
		Preheader: "Three things",
		Body:      "# Hi {{or .Name \"there\"}}\n\nYour address is {{.Email}}.\n\n[Leave]({{.UnsubscribeURL}}) or see {{.PreferencesURL}}",
	}
	b := MustBroadcast(t, e.store, campaigns.Broadcast{List: "coach", Subject: content.Subject, Body: content.Body, Preheader: content.Preheader})
	if _, err := e.store.SendNow(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	d := e.dispatcher(t)
	d.Workers, d.BatchSize = 3, 7
	if n := drain(t, d); n != 25 {
		t.Fatalf("processed %d, want 25", n)
	}
	msgs := e.catch.Messages()
	if len(msgs) != 25 {
		t.Fatalf("caught %d", len(msgs))
	}
	byTo := map[string]int{}
	for _, m := range msgs {
		byTo[m.To[0]]++
	}
	l := templates.List{Name: "List coach", FromName: "The Coach", PostalAddress: "1 Main St, Springfield"}
	for _, s := range subs {
		if byTo[s.email] != 1 {
			t.Fatalf("%s got %d messages", s.email, byTo[s.email])
		}
	}
	for _, m := range msgs {
		var s sub
		for _, x := range subs {
			if x.email == m.To[0] {
				s = x
			}
		}
		var name string
		e.db.Get(&name, `SELECT name FROM subscribers WHERE id = $1`, s.subscriberID)
		want, err := e.renderer.Render(content, l, templates.Recipient{Email: s.email, Name: name,
			UnsubscribeURL: e.links.Unsubscribe(s.subscriptionID), PreferencesURL: e.links.Preferences(s.subscriptionID)})
		if err != nil {
			t.Fatal(err)
		}
		// On the wire, lines end in CRLF (RFC 5322).
		html, text := strings.ReplaceAll(m.HTML, "\r\n", "\n"), strings.ReplaceAll(m.Text, "\r\n", "\n")
		if m.Subject != want.Subject || html != want.HTML || text != want.Text {
			t.Fatalf("message to %s (%q) is not what Render makes:\nsubject %q, want %q\nhtml %v, text %v\n%q\n%q", s.email, name,
				m.Subject, want.Subject, html == want.HTML, text == want.Text, text, want.Text)
		}
		if got := m.Header.Get("List-Unsubscribe"); got != "<"+e.links.Unsubscribe(s.subscriptionID)+">" {
			t.Fatalf("List-Unsubscribe of %s: %q", s.email, got)
		}
	}
	if rows := broadcastRows(t, e.db, b.ID); rows["sent"] != 25 || len(rows) != 1 {
		t.Fatalf("rows %v", rows)
	}
	// The subscriber's history shows it, with the subject as written.
	hist, err := e.store.MessagesTo(ctx, subs[0].subscriberID)
	if err != nil || len(hist) != 1 || hist[0].Kind != "broadcast" || hist[0].BroadcastID == nil || *hist[0].BroadcastID != b.ID ||
		hist[0].Subject != content.Subject || hist[0].Status != "sent" {
		t.Fatalf("history %+v, %v", hist, err)
	}
}

// TestDispatcher_BroadcastPause: a paused broadcast is not claimed, and
// resumes where it was; cancelling skips what is left.
func TestDispatcher_BroadcastPause(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	ctx := context.Background()
	list := MustList(t, e.db, listOpts{slug: "coach"})
	mustSubscribers(t, e.db, list, "reader", 10)
	b := MustBroadcast(t, e.store, campaigns.Broadcast{List: "coach"})
	if _, err := e.store.SendNow(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	d := e.dispatcher(t)
	d.BatchSize = 3
	if n := mustRunOnce(t, d); n != 3 {
		t.Fatalf("first batch %d", n)
	}
	if _, err := e.store.Pause(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Hour) // leases and due times are no reason either
	if n := drain(t, d); n != 0 {
		t.Fatalf("sent %d while paused", n)
	}
	mustTick(t, e.sched)
	if got, _ := e.store.BroadcastByID(ctx, b.ID); got.Status != "paused" || got.Queued != 7 || got.Sent != 3 {
		t.Fatalf("paused: %s %+v", got.Status, got.BroadcastStats)
	}
	if _, err := e.store.Resume(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if n := mustRunOnce(t, d); n != 3 {
		t.Fatalf("after resume %d", n)
	}
	if _, err := e.store.Cancel(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if n := drain(t, d); n != 0 {
		t.Fatalf("sent %d after cancel", n)
	}
	if rows := broadcastRows(t, e.db, b.ID); rows["sent"] != 6 || rows["skipped"] != 4 {
		t.Fatalf("rows %v", rows)
	}
	if got := e.catch.Caught(); got != 6 {
		t.Fatalf("caught %d", got)
	}
	var why string
	e.db.Get(&why, `SELECT DISTINCT last_error FROM outbox WHERE status = 'skipped'`)
	if why != "broadcast cancelled" {
		t.Fatalf("skipped because %q", why)
	}
}

// TestDispatcher_BroadcastDied: rows claimed by a dispatcher that died
// are not claimed again while the broadcast is paused.
func TestDispatcher_BroadcastDied(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	ctx := context.Background()
	list := MustList(t, e.db, listOpts{slug: "coach"})
	mustSubscribers(t, e.db, list, "reader", 4)
	b := MustBroadcast(t, e.store, campaigns.Broadcast{List: "coach"})
	if _, err := e.store.SendNow(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	dead := e.dispatcher(t)
	claim, err := dead.Claim(ctx, 4)
	if err != nil || len(claim.Items) != 4 || claim.Items[0].BroadcastID != b.ID {
		t.Fatalf("claimed %v, %v", claim, err)
	}
	if _, err := e.store.Pause(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if err := claim.Release(); err != nil {
		t.Fatal(err)
	}
	d := e.dispatcher(t)
	if n := drain(t, d); n != 0 {
		t.Fatalf("sent %d of a paused broadcast", n)
	}
	if _, err := e.store.Resume(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if n := drain(t, d); n != 4 {
		t.Fatalf("sent %d after resume", n)
	}
}

// TestDispatcher_BroadcastRetryFailed: messages that ran out of retries are
// queued again by RetryFailed; permanent failures are not.
func TestDispatcher_BroadcastRetryFailed(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	ctx := context.Background()
	list := MustList(t, e.db, listOpts{slug: "coach"})
	mustSubscribers(t, e.db, list, "reader", 4)
	e.reply("reader1@example.com", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"})
	e.reply("reader2@example.com", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "policy"})
	b := MustBroadcast(t, e.store, campaigns.Broadcast{List: "coach"})
	if _, err := e.store.SendNow(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	d := e.dispatcher(t)
	d.MaxAttempts = 1
	drain(t, d)
	mustTick(t, e.sched)
	got, _ := e.store.BroadcastByID(ctx, b.ID)
	if got.Status != "sent" || got.Sent != 2 || got.Failed != 2 || got.Retryable != 1 {
		t.Fatalf("after sending: %s %+v", got.Status, got.BroadcastStats)
	}
	e.reply("reader1@example.com", nil)
	got, err := e.store.RetryFailed(ctx, b.ID)
	if err != nil || got.Status != "sending" || got.FinishedAt != nil {
		t.Fatalf("RetryFailed: %+v, %v", got, err)
	}
	if rows := broadcastRows(t, e.db, b.ID); rows["queued"] != 1 || rows["failed"] != 1 {
		t.Fatalf("rows after retry %v", rows)
	}
	if n := drain(t, d); n != 1 {
		t.Fatalf("retried %d", n)
	}
	e.clock.Add(time.Second)
	mustTick(t, e.sched)
	got, _ = e.store.BroadcastByID(ctx, b.ID)
	if got.Status != "sent" || got.Sent != 3 || got.Failed != 1 || got.Retryable != 0 {
		t.Fatalf("after retry: %s %+v", got.Status, got.BroadcastStats)
	}
	// Nothing left to retry: nothing changes.
	before := snapshot(t, e.db, b.ID)
	if got, err := e.store.RetryFailed(ctx, b.ID); err != nil || got.Status != "sent" || snapshot(t, e.db, b.ID) != before {
		t.Fatalf("second RetryFailed: %+v, %v", got, err)
	}
}

// TestDispatcher_BroadcastUnsubscribe: who unsubscribes mid-send gets
// nothing more, and the unsubscribe is counted against the broadcast.
func TestDispatcher_BroadcastUnsubscribe(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	ctx := context.Background()
	list := MustList(t, e.db, listOpts{slug: "coach"})
	subs := mustSubscribers(t, e.db, list, "reader", 6)
	b := MustBroadcast(t, e.store, campaigns.Broadcast{List: "coach"})
	if _, err := e.store.SendNow(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	d := e.dispatcher(t)
	d.Workers, d.BatchSize = 1, 2
	mustRunOnce(t, d) // reader1 and reader2
	leaver := subs[4]
	e.clock.Add(time.Minute)
	MustEvent(t, e.db, e.queue, leaver, subscribers.EventUnsubscribed, e.clock.Now())
	drain(t, d)
	for _, m := range e.catch.Messages() {
		if m.To[0] == leaver.email {
			t.Fatalf("%s was sent the broadcast after unsubscribing", leaver.email)
		}
	}
	if rows := broadcastRows(t, e.db, b.ID); rows["sent"] != 5 || rows["skipped"] != 1 {
		t.Fatalf("rows %v", rows)
	}
}

// TestDispatcher_BroadcastPriority: confirmations go first while a large
// broadcast is queued, and so do series emails.
func TestDispatcher_BroadcastPriority(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	ctx := context.Background()
	list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
	e.db.MustExec(`
		WITH r AS (
			INSERT INTO subscribers (email, name, created_at, updated_at)
			SELECT 'bulk' || i || '@example.com', 'Bulk ' || i, now(), now() FROM generate_series(1, 2000) i
			RETURNING id)
		INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
		SELECT id, $1, 'confirmed', now(), now() FROM r`, list)
	b := MustBroadcast(t, e.store, campaigns.Broadcast{List: "coach"})
	if _, err := e.store.SendNow(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	d := e.dispatcher(t)
	d.Workers, d.BatchSize = 1, 5
	mustRunOnce(t, d)
	e.clock.Add(time.Minute)
	p := MustSubscription(t, e.db, list, "new@example.com", "", subscribers.StatusPending)
	MustEvent(t, e.db, e.queue, p, subscribers.EventConfirmationRequested, e.clock.Now())
	w := MustSubscription(t, e.db, list, "joined@example.com", "", subscribers.StatusPending)
	MustEvent(t, e.db, e.queue, w, subscribers.EventConfirmed, e.clock.Now())
	if n := mustRunOnce(t, d); n != 5 {
		t.Fatalf("second batch %d", n)
	}
	msgs := e.catch.Messages()
	if len(msgs) != 10 || msgs[5].To[0] != "new@example.com" || msgs[6].To[0] != "joined@example.com" || !strings.HasPrefix(msgs[7].To[0], "bulk") {
		var to []string
		for _, m := range msgs {
			to = append(to, m.To[0])
		}
		t.Fatalf("sent to %v: the confirmation, then the welcome, should have gone first", to)
	}
}

// TestStore_BroadcastStats: counts, rate, estimated finish and the
// unsubscribes a broadcast caused.
func TestStore_BroadcastStats(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	ctx := context.Background()
	list := MustList(t, e.db, listOpts{slug: "coach"})
	subs := mustSubscribers(t, e.db, list, "reader", 10)
	e.reply("reader10@example.com", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "no"})
	step := MustStep(t, e.store, list, campaigns.Step{Subject: "Step", Body: "s", DelayDays: 0})
	b := MustBroadcast(t, e.store, campaigns.Broadcast{List: "coach"})
	if _, err := e.store.SendNow(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	MustEvent(t, e.db, e.queue, subs[8], subscribers.EventUnsubscribed, e.clock.Now()) // skipped

	// Six sent 30 seconds after the start, one failed.
	e.clock.Add(30 * time.Second)
	d := e.dispatcher(t)
	d.BatchSize = 7
	e.db.MustExec(`UPDATE outbox SET due_at = due_at + interval '1 hour' WHERE subscriber_id IN ($1, $2)`, subs[6].subscriberID, subs[7].subscriberID)
	mustRunOnce(t, d)
	got, err := e.store.BroadcastByID(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	st := got.BroadcastStats
	if got.Recipients != 10 || st.Queued != 2 || st.Sent != 6 || st.Failed != 1 || st.Skipped != 1 {
		t.Fatalf("counts: recipients %d, %+v", got.Recipients, st)
	}
	if st.Rate != 0.2 { // 6 in the 30 s since the start
		t.Fatalf("rate %v, want 0.2", st.Rate)
	}
	if want := mustTime("2026-03-02T10:00:40Z"); st.EstimatedFinish == nil || !st.EstimatedFinish.Equal(want) {
		t.Fatalf("estimated finish %v, want %s", st.EstimatedFinish, want)
	}
	// Two minutes later nothing was sent in the last minute.
	e.clock.Add(2 * time.Minute)
	if got, _ = e.store.BroadcastByID(ctx, b.ID); got.Rate != 0 || got.EstimatedFinish != nil {
		t.Fatalf("idle: rate %v, finish %v", got.Rate, got.EstimatedFinish)
	}

	// Unsubscribes: reader1 after the broadcast (counted), reader2 after a
	// step that came after it (not counted), reader3 from another list (not
	// counted), reader9 before it was sent anything (not counted).
	unsub := func(s sub, listID int64, at time.Time) {
		e.db.MustExec(`INSERT INTO events (subscription_id, subscriber_id, list_id, kind, at) VALUES ($1, $2, $3, 'unsubscribed', $4)`,
			s.subscriptionID, s.subscriberID, listID, at)
	}
	unsub(subs[0], list, e.clock.Now())
	e.db.MustExec(`INSERT INTO outbox (kind, subscriber_id, subscription_id, list_id, step_id, priority, status, due_at, sent_at, created_at, updated_at)
		VALUES ('step', $1, $2, $3, $4, 1, 'sent', $5, $5, $5, $5)`, subs[1].subscriberID, subs[1].subscriptionID, list, step.ID, e.clock.Now())
	e.clock.Add(time.Second)
	unsub(subs[1], list, e.clock.Now())
	other := MustList(t, e.db, listOpts{slug: "other"})
	unsub(subs[2], other, e.clock.Now())
	unsub(subs[8], list, e.clock.Now())
	if got, _ = e.store.BroadcastByID(ctx, b.ID); got.Unsubscribes != 1 {
		t.Fatalf("unsubscribes %d, want 1", got.Unsubscribes)
	}
}

// TestTester_Test: a test copy goes out at once, outside the outbox.
func TestTester_Test(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	ctx := context.Background()
	list := MustList(t, e.db, listOpts{slug: "coach"})
	mustSubscribers(t, e.db, list, "reader", 2)
	b := MustBroadcast(t, e.store, campaigns.Broadcast{List: "coach", Subject: "Hi {{.FirstName}}", Body: "For {{.Email}}."})
	tester := &campaigns.Tester{DB: e.db, Sender: e.sender, Renderer: e.renderer, BaseURL: "https://news.example.com"}
	e.reply("refused@example.com", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
	before := snapshot(t, e.db, b.ID)
	res, err := tester.Test(ctx, b.ID, []string{"editor@example.com", " editor@Example.COM", "refused@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Status != "sent" || res[1].Status != "failed" || res[1].SMTPCode != 550 || res[1].Error == "" {
		t.Fatalf("results %+v", res)
	}
	msgs := e.catch.Messages()
	if len(msgs) != 1 || msgs[0].Subject != "[Test] Hi Ada" || !strings.Contains(msgs[0].Text, "For editor@example.com.") {
		t.Fatalf("caught %+v", msgs)
	}
	if after := snapshot(t, e.db, b.ID); after != before {
		t.Fatalf("a test changed the broadcast")
	}
	var n int
	e.db.Get(&n, `SELECT count(*) FROM outbox`)
	if n != 0 {
		t.Fatalf("a test queued %d messages", n)
	}

	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = fmt.Sprintf("e%d@example.com", i)
	}
	for _, tt := range []struct {
		id     int64
		emails []string
		code   string
	}{
		{b.ID, nil, tidings.EINVALID},
		{b.ID, eleven, tidings.EINVALID},
		{b.ID, []string{"ok@example.com", "not an address"}, tidings.EINVALID},
		{b.ID, []string{"Name <a@example.com>"}, tidings.EINVALID},
		{999999, []string{"ok@example.com"}, tidings.ENOTFOUND},
	} {
		_, err := tester.Test(ctx, tt.id, tt.emails)
		wantCode(t, fmt.Sprintf("Test(%d, %q)", tt.id, tt.emails), err, tt.code)
	}
	if got := e.catch.Caught(); got != 1 {
		t.Fatalf("bad tests sent %d", got-1)
	}
}

func TestStore_ListPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T10:00:00Z")
	ctx := context.Background()
	list := MustList(t, e.db, listOpts{slug: "coach"})
	if p, err := e.store.ListPolicy(ctx, list); err != nil || *p != (campaigns.ListPolicy{StepBroadcastPolicy: "both"}) {
		t.Fatalf("default policy %+v, %v", p, err)
	}
	if p, err := e.store.SetListPolicy(ctx, list, "defer", 24); err != nil || *p != (campaigns.ListPolicy{StepBroadcastPolicy: "defer", BroadcastGapHours: 24}) {
		t.Fatalf("set policy %+v, %v", p, err)
	}
	for _, tt := range []struct {
		policy string
		gap    int
	}{{"later", 1}, {"", 0}, {"defer", -1}, {"defer", 169}} {
		_, err := e.store.SetListPolicy(ctx, list, tt.policy, tt.gap)
		wantCode(t, fmt.Sprintf("SetListPolicy(%q, %d)", tt.policy, tt.gap), err, tidings.EINVALID)
	}
	_, err := e.store.SetListPolicy(ctx, 999999, "both", 0)
	wantCode(t, "SetListPolicy of an unknown list", err, tidings.ENOTFOUND)
	_, err = e.store.ListPolicy(ctx, 999999)
	wantCode(t, "ListPolicy of an unknown list", err, tidings.ENOTFOUND)
	if p, _ := e.store.ListPolicy(ctx, list); p.StepBroadcastPolicy != "defer" || p.BroadcastGapHours != 24 {
		t.Fatalf("bad input changed the policy: %+v", p)
	}
}

// TestScheduler_SameDay: a step falling due within the gap after a
// broadcast the subscriber was sent waits for its next slot after the gap
// under "defer", and goes as usual under "both".
func TestScheduler_SameDay(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		policy   string
		gap      int
		wantDue  string // of the step, after the tick at its due time
		wantSent bool   // queued at its due time
	}{
		{"defer", 24, "2026-03-04T09:00:00Z", false}, // the broadcast at 08:00 Tuesday: next 09:00 after 08:00 Wednesday
		{"defer", 30, "2026-03-05T09:00:00Z", false}, // gap to 14:00 Wednesday: Thursday 09:00
		{"defer", 1, "", true},                       // the gap ended at 09:00: due as it was
		{"both", 24, "", true},
	} {
		t.Run(fmt.Sprintf("%s%d", tt.policy, tt.gap), func(t *testing.T) {
			t.Parallel()
			e := newMailEnv(t, "2026-03-02T12:00:00Z") // a Monday
			ctx := context.Background()
			list := MustList(t, e.db, listOpts{slug: "coach"})
			step := MustStep(t, e.store, list, campaigns.Step{Subject: "Step 1", Body: "one", DelayDays: 1, SendTime: "09:00"})
			next := MustStep(t, e.store, list, campaigns.Step{Subject: "Step 2", Body: "two", DelayDays: 1, SendTime: "09:00"})
			if _, err := e.store.SetListPolicy(ctx, list, tt.policy, tt.gap); err != nil {
				t.Fatal(err)
			}
			s := MustSubscription(t, e.db, list, "ada@example.com", "UTC", subscribers.StatusPending)
			MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
			calm := MustSubscription(t, e.db, list, "calm@example.com", "UTC", subscribers.StatusPending)
			MustEvent(t, e.db, e.queue, calm, subscribers.EventConfirmed, e.clock.Now())
			MustTag(t, e.db, calm, "calm")
			wantDue(t, e.env, s, step.ID, "2026-03-03T09:00:00Z")

			// A broadcast goes to ada (not calm) at 08:00 Tuesday.
			e.clock.Set("2026-03-03T08:00:00Z")
			b := MustBroadcast(t, e.store, campaigns.Broadcast{List: "coach", TagsExclude: []string{"calm"}})
			if _, err := e.store.SendNow(ctx, b.ID); err != nil {
				t.Fatal(err)
			}
			drain(t, e.dispatcher(t))

			tickAt(t, e.env, "2026-03-03T09:00:00Z", map[bool]int{true: 2, false: 1}[tt.wantSent])
			if tt.wantSent {
				wantDue(t, e.env, s, next.ID, "2026-03-04T09:00:00Z")
				return
			}
			if got := stepRows(t, e.env, s.subscriptionID); len(got) != 0 {
				t.Fatalf("step queued at once: %v", got)
			}
			wantDue(t, e.env, s, step.ID, tt.wantDue)
			wantDue(t, e.env, calm, next.ID, "2026-03-04T09:00:00Z")
			e.clock.Set(tt.wantDue)
			e.clock.Add(-time.Second)
			mustTick(t, e.sched)
			if got := stepRows(t, e.env, s.subscriptionID); len(got) != 0 {
				t.Fatalf("step queued before its new time: %v", got)
			}
			e.clock.Set(tt.wantDue)
			mustTick(t, e.sched)
			if got := stepRows(t, e.env, s.subscriptionID); len(got) != 1 || got[0] != step.ID {
				t.Fatalf("step rows %v", got)
			}
		})
	}
}
