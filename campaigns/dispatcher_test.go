package campaigns_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/delivery"
	"github.com/tidings/tidings/internal/devmail"
	"github.com/tidings/tidings/internal/pgtest"
	"github.com/tidings/tidings/subscribers"
	"github.com/tidings/tidings/templates"
)

// mailEnv is an env with a catching SMTP server whose replies the test sets
// per recipient, and what a Dispatcher needs.
type mailEnv struct {
	*env
	catch    *devmail.Server
	sender   *delivery.Sender
	renderer *templates.Renderer
	links    *subscribers.Links

	mu      sync.Mutex
	replies map[string]*smtp.SMTPError // by recipient
	hold    chan struct{}              // when set, DATA waits on it
	holding chan struct{}              // told when DATA starts waiting

	bmu     sync.Mutex
	bounced []string // OnBounce calls: "email: reason"
}

func newMailEnv(tb testing.TB, start string) *mailEnv {
	tb.Helper()
	return newMailEnvDB(tb, pgtest.MustOpenDB(tb), start)
}

// newMailEnvDB is newMailEnv on db.
func newMailEnvDB(tb testing.TB, db *sqlx.DB, start string) *mailEnv {
	tb.Helper()
	e := &mailEnv{env: newEnv(tb, db, start), replies: map[string]*smtp.SMTPError{}}
	var err error
	e.catch, err = devmail.StartWith("127.0.0.1:0", devmail.Options{
		Reply: func(from, to string) *smtp.SMTPError {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.replies[to]
		},
		DataReply: func(from string, to []string) *smtp.SMTPError {
			e.mu.Lock()
			hold, holding := e.hold, e.holding
			e.hold = nil
			e.mu.Unlock()
			if hold != nil {
				holding <- struct{}{}
				<-hold
			}
			return nil
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.catch.Close() })
	if e.sender, err = delivery.NewSender(delivery.Config{URL: "smtp://" + e.catch.Addr(), HeloName: "tidings.test", Timeout: 10 * time.Second}); err != nil {
		tb.Fatal(err)
	}
	if e.renderer, err = templates.NewRenderer(); err != nil {
		tb.Fatal(err)
	}
	e.links = &subscribers.Links{BaseURL: "https://news.example.com", Paths: subscribers.LinkPaths{Confirm: "/confirm/{token}", Unsubscribe: "/unsubscribe/{token}", Preferences: "/unsubscribe/{token}"}, Tokens: &subscribers.Tokens{Secret: []byte("0123456789abcdef0123456789abcdef")}, Now: e.clock.Now}
	return e
}

func (e *mailEnv) reply(to string, r *smtp.SMTPError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.replies[to] = r
}

// dispatcher returns a new Dispatcher on e, as another process would have.
func (e *mailEnv) dispatcher(tb testing.TB) *campaigns.Dispatcher {
	d := &campaigns.Dispatcher{
		DB: e.db, Now: e.clock.Now, Pool: &delivery.Pool{Sender: e.sender}, Renderer: e.renderer, Links: e.links,
		BaseURL: "https://news.example.com", Workers: 2, BatchSize: 20,
		OnBounce: func(ctx context.Context, email, reason string) error {
			e.bmu.Lock()
			defer e.bmu.Unlock()
			e.bounced = append(e.bounced, email+": "+reason)
			return nil
		},
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

func mustRunOnce(tb testing.TB, d *campaigns.Dispatcher) int {
	tb.Helper()
	n, err := d.RunOnce(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// drain runs d until nothing is left to do now.
func drain(tb testing.TB, d *campaigns.Dispatcher) int {
	tb.Helper()
	total := 0
	for {
		n := mustRunOnce(tb, d)
		if n == 0 {
			return total
		}
		total += n
	}
}

var _ campaigns.Links = (*subscribers.Links)(nil)

func TestDispatcher_Send(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome, {{or .FirstName \"friend\"}}", welcomeBody: "Glad you're here."})
	step := MustStep(t, e.store, list, campaigns.Step{Subject: "Week 1 for {{.FirstName}}", Body: "Old text", DelayDays: 0})
	s := MustSubscription(t, e.db, list, "ada@example.com", "UTC", subscribers.StatusPending)
	MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
	tickAt(t, e.env, "2026-03-02T10:00:00Z", 1)

	// Edited after it was queued: the new text is sent.
	if _, err := e.store.UpdateStep(ctx, list, step.ID, campaigns.StepUpdate{Body: ptr("New text, [read more](https://example.com/more).")}); err != nil {
		t.Fatal(err)
	}
	d := e.dispatcher(t)
	if n := mustRunOnce(t, d); n != 2 {
		t.Fatalf("processed %d, want 2", n)
	}
	rows := outbox(t, e.db)
	msgs := e.catch.Messages()
	if len(msgs) != 2 {
		t.Fatalf("caught %d messages, want 2", len(msgs))
	}
	byID := map[string]devmail.Message{} // by Message-ID, which the outbox row keeps
	for _, m := range msgs {
		byID[m.Header.Get("Message-Id")] = m
		if got := m.Header.Get("X-Tidings-Outbox"); got != "" {
			t.Errorf("X-Tidings-Outbox %q: the row's id tells how much was sent", got)
		}
		if got := m.Header.Get("Auto-Submitted"); got != "" {
			t.Errorf("Auto-Submitted %q on a welcome or step email", got)
		}
	}
	for _, r := range rows {
		if r.Status != "sent" || r.Attempts != 1 || r.MessageID == "" {
			t.Fatalf("row %+v", r)
		}
		m, ok := byID[r.MessageID]
		if !ok {
			t.Fatalf("row %d not caught", r.ID)
		}
		content := list // a welcome email's content is its list's
		if r.Kind == "step" {
			content = step.ID
		}
		for k, want := range map[string]string{
			"Feedback-ID":           fmt.Sprintf("%d:coach:%s:news.example.com", content, r.Kind),
			"List-Unsubscribe":      "<" + e.links.Unsubscribe(s.subscriptionID) + ">",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
			"Message-Id":            r.MessageID,
			"List-Id":               "<coach.news.example.com>",
			"Reply-To":              "<replies@example.com>",
		} {
			if got := m.Header.Get(k); got != want {
				t.Errorf("%s of %s: %q, want %q", k, r.Kind, got, want)
			}
		}
		if from := m.Header.Get("From"); !strings.Contains(from, "The Coach") || !strings.Contains(from, "<coach@example.com>") {
			t.Errorf("From %q", from)
		}
		if !strings.HasSuffix(r.MessageID, "@example.com>") {
			t.Errorf("Message-ID %q", r.MessageID)
		}
		if len(m.To) != 1 || m.To[0] != "ada@example.com" || m.HTML == "" || m.Text == "" {
			t.Errorf("message %+v", m)
		}
	}
	if rows[0].MessageID == rows[1].MessageID {
		t.Fatal("the same Message-ID twice")
	}
	w, st := byID[rows[0].MessageID], byID[rows[1].MessageID]
	if w.Subject != "Welcome, Ada" {
		t.Errorf("welcome subject %q", w.Subject)
	}
	if st.Subject != "Week 1 for Ada" || !strings.Contains(st.Text, "New text") || strings.Contains(st.Text, "Old text") {
		t.Errorf("step message: %q\n%s", st.Subject, st.Text)
	}
	if n := mustRunOnce(t, d); n != 0 {
		t.Fatalf("again: processed %d", n)
	}

	// The subscriber's history, newest first.
	hist, err := e.store.MessagesTo(ctx, s.subscriberID)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Kind != "step" || hist[0].Status != "sent" || hist[0].SentAt == nil ||
		hist[0].Subject != "Week 1 for {{.FirstName}}" || hist[1].Kind != "welcome" || hist[0].MessageID != rows[1].MessageID {
		t.Fatalf("history %+v", hist)
	}
}

// TestDispatcher_Priority: a confirmation queued after a pile of series mail
// is sent first.
func TestDispatcher_Priority(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
	mustConfirmMany(t, e.env, list, 30, "UTC")
	e.clock.Add(time.Minute)
	p := MustSubscription(t, e.db, list, "new@example.com", "", subscribers.StatusPending)
	MustEvent(t, e.db, e.queue, p, subscribers.EventConfirmationRequested, e.clock.Now())
	d := e.dispatcher(t)
	d.Workers, d.BatchSize = 1, 10
	if n := drain(t, d); n != 31 {
		t.Fatalf("processed %d, want 31", n)
	}
	msgs := e.catch.Messages()
	if len(msgs) != 31 || msgs[0].To[0] != "new@example.com" {
		t.Fatalf("first of %d messages went to %v", len(msgs), msgs[0].To)
	}
	// It carries the confirmation link of that subscription, and says it
	// was sent by a machine (RFC 3834), so that auto-responders keep quiet.
	if !strings.Contains(msgs[0].Text, e.links.Confirm(p.subscriptionID)) {
		t.Fatalf("no confirm link in\n%s", msgs[0].Text)
	}
	if got := msgs[0].Header.Get("Auto-Submitted"); got != "auto-generated" {
		t.Errorf("confirmation's Auto-Submitted %q, want auto-generated", got)
	}
	if got, want := msgs[0].Header.Get("Feedback-ID"), fmt.Sprintf("%d:coach:confirm:", list); !strings.HasPrefix(got, want) {
		t.Errorf("confirmation's Feedback-ID %q, want %s<sender>", got, want)
	}
}

func TestDispatcher_Failures(t *testing.T) {
	t.Parallel()

	// 450 (mailbox busy): retried on the default schedule, then delivered
	// with the same Message-ID.
	t.Run("TempThenSent", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
		s := MustSubscription(t, e.db, list, "busy@example.com", "UTC", subscribers.StatusPending)
		MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
		e.reply("busy@example.com", &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "mailbox busy"})
		d := e.dispatcher(t)
		mustRunOnce(t, d)
		r := outbox(t, e.db)[0]
		if r.Status != "queued" || r.Attempts != 1 || r.SMTPCode != 450 || r.LastError == "" || !r.DueAt.Equal(e.clock.Now().Add(5*time.Second)) {
			t.Fatalf("after 450: %+v", r)
		}
		first := r.MessageID
		if n := mustRunOnce(t, d); n != 0 {
			t.Fatalf("retried before the wait: %d", n)
		}
		e.clock.Add(5 * time.Second)
		mustRunOnce(t, d) // 450 again: 15 seconds now
		if r := outbox(t, e.db)[0]; r.Attempts != 2 || !r.DueAt.Equal(e.clock.Now().Add(15*time.Second)) || r.MessageID != first {
			t.Fatalf("after second 450: %+v", r)
		}
		e.reply("busy@example.com", nil)
		e.clock.Add(15 * time.Second)
		if n := mustRunOnce(t, d); n != 1 {
			t.Fatalf("processed %d", n)
		}
		r = outbox(t, e.db)[0]
		if r.Status != "sent" || r.Attempts != 3 || r.MessageID != first {
			t.Fatalf("after delivery: %+v", r)
		}
		if msgs := e.catch.Messages(); len(msgs) != 1 || msgs[0].Header.Get("Message-Id") != first {
			t.Fatalf("caught %d", len(msgs))
		}
	})

	// 550 5.1.1: failed for good, and the address is reported as bounced.
	t.Run("Perm", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
		s := MustSubscription(t, e.db, list, "nobody@example.com", "UTC", subscribers.StatusPending)
		MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
		e.reply("nobody@example.com", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
		d := e.dispatcher(t)
		mustRunOnce(t, d)
		r := outbox(t, e.db)[0]
		if r.Status != "failed" || r.Temporary || r.SMTPCode != 550 || r.Attempts != 1 || !strings.Contains(r.LastError, "no such user") {
			t.Fatalf("after 550: %+v", r)
		}
		if len(e.bounced) != 1 || !strings.HasPrefix(e.bounced[0], "nobody@example.com: smtp 550 5.1.1") {
			t.Fatalf("OnBounce calls %q", e.bounced)
		}
		e.clock.Add(24 * time.Hour)
		if n := mustRunOnce(t, d); n != 0 {
			t.Fatalf("failed row processed again: %d", n)
		}

		// 552 (mailbox full, 5.2.2) is permanent but not the address's fault.
		s2 := MustSubscription(t, e.db, list, "full@example.com", "UTC", subscribers.StatusPending)
		MustEvent(t, e.db, e.queue, s2, subscribers.EventConfirmed, e.clock.Now())
		e.reply("full@example.com", &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: "mailbox full"})
		mustRunOnce(t, d)
		if r := outbox(t, e.db)[1]; r.Status != "failed" || r.SMTPCode != 552 || len(e.bounced) != 1 {
			t.Fatalf("after 552: %+v, bounces %q", r, e.bounced)
		}
	})

	// 450 until MaxAttempts: failed, temporary.
	t.Run("Exhausted", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
		s := MustSubscription(t, e.db, list, "busy@example.com", "UTC", subscribers.StatusPending)
		MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
		e.reply("busy@example.com", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"})
		d := e.dispatcher(t)
		d.MaxAttempts = 3
		for range 5 {
			mustRunOnce(t, d)
			e.clock.Add(6 * time.Hour)
		}
		r := outbox(t, e.db)[0]
		if r.Status != "failed" || !r.Temporary || r.Attempts != 3 || r.SMTPCode != 451 {
			t.Fatalf("after retries: %+v", r)
		}
		if len(e.bounced) != 0 {
			t.Fatalf("OnBounce calls %q", e.bounced)
		}
	})

	// The relay drops the connection: temporary, and the next send redials.
	t.Run("Dropped", func(t *testing.T) {
		t.Parallel()
		e := newMailEnv(t, "2026-03-02T10:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
		s := MustSubscription(t, e.db, list, "drop@example.com", "UTC", subscribers.StatusPending)
		MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
		e.reply("drop@example.com", devmail.Drop)
		d := e.dispatcher(t)
		mustRunOnce(t, d)
		if r := outbox(t, e.db)[0]; r.Status != "queued" || r.Attempts != 1 {
			t.Fatalf("after drop: %+v", r)
		}
		e.reply("drop@example.com", nil)
		e.clock.Add(time.Minute)
		mustRunOnce(t, d)
		if r := outbox(t, e.db)[0]; r.Status != "sent" {
			t.Fatalf("after redial: %+v", r)
		}
	})
}

// One connection carries a group of messages with different fates; each
// row gets its own.
func TestDispatcher_Group(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
	emails := []string{"a@example.com", "nobody@example.com", "b@example.com", "busy@example.com", "drop@example.com", "c@example.com"}
	for _, email := range emails {
		s := MustSubscription(t, e.db, list, email, "UTC", subscribers.StatusPending)
		MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
	}
	e.reply("nobody@example.com", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
	e.reply("busy@example.com", &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "mailbox busy"})
	e.reply("drop@example.com", devmail.Drop)
	d := e.dispatcher(t)
	d.Workers = 1
	if n := mustRunOnce(t, d); n != len(emails) {
		t.Fatalf("processed %d", n)
	}
	var got []string
	if err := e.db.Select(&got, `
		SELECT s.email || ' ' || o.status || ' ' || o.attempts || ' ' || coalesce(o.smtp_code, 0)
		FROM outbox o JOIN subscriptions sn ON sn.id = o.subscription_id JOIN subscribers s ON s.id = sn.subscriber_id
		ORDER BY o.id`); err != nil {
		t.Fatal(err)
	}
	want := []string{"a@example.com sent 1 0", "nobody@example.com failed 1 550", "b@example.com sent 1 0",
		"busy@example.com queued 1 450", "drop@example.com queued 1 0", "c@example.com sent 1 0"}
	if !slices.Equal(got, want) {
		t.Fatalf("outbox\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(e.bounced) != 1 || !strings.HasPrefix(e.bounced[0], "nobody@example.com:") {
		t.Fatalf("OnBounce calls %q", e.bounced)
	}
	if got := e.catch.Caught(); got != 3 {
		t.Fatalf("caught %d", got)
	}
	if got := e.catch.Connections(); got != 2 {
		t.Fatalf("%d connections, want 2: one group, one redial after the drop", got)
	}
}

// TestDispatcher_Order: a subscriber's welcome email and the bonuses queued
// with it go out in that order, one after another over one connection,
// while other subscribers' mail goes out over the other connections.
func TestDispatcher_Order(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
	for _, subject := range []string{"Bonus A", "Bonus B"} {
		if err := e.store.CreateBonus(ctx, list, &campaigns.Bonus{Subject: subject, Body: "b"}); err != nil {
			t.Fatal(err)
		}
	}
	const n = 12
	for i := range n {
		s := MustSubscription(t, e.db, list, fmt.Sprintf("reader%d@example.com", i), "UTC", subscribers.StatusPending)
		MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
		e.clock.Add(time.Second)
	}
	d := e.dispatcher(t)
	// Groups of 8 (36 items over 5 connections): most of them would
	// split a subscriber's three.
	d.Workers, d.BatchSize = 5, 100
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	waitCtx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	err := e.catch.WaitFor(waitCtx, 3*n)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, m := range e.catch.Messages() {
		got[m.To[0]] = append(got[m.To[0]], m.Subject)
	}
	for i := range n {
		to := fmt.Sprintf("reader%d@example.com", i)
		if want := []string{"Welcome", "Bonus A", "Bonus B"}; !slices.Equal(got[to], want) {
			t.Errorf("%s got %q, want %q", to, got[to], want)
		}
	}
}

// mustBouncing makes a subscriber whose address the relay refuses (550
// 5.1.1), confirmed with a welcome and a bonus queued, and a dispatcher whose
// OnBounce is subscribers.Store.Bounce, as cmd/tidings wires it.
func mustBouncing(t *testing.T) (*mailEnv, sub, *campaigns.Dispatcher) {
	t.Helper()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	subs := &subscribers.Store{DB: e.db, Now: e.clock.Now, Tokens: e.links.Tokens, OnEvent: e.queue.OnEvent}
	list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
	if err := e.store.CreateBonus(context.Background(), list, &campaigns.Bonus{Subject: "Bonus", Body: "b"}); err != nil {
		t.Fatal(err)
	}
	s := MustSubscription(t, e.db, list, "nobody@example.com", "UTC", subscribers.StatusPending)
	MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
	e.reply("nobody@example.com", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
	d := e.dispatcher(t)
	d.OnBounce = subs.Bounce
	return e, s, d
}

// TestDispatcher_Bounce wires OnBounce to subscribers.Store.Bounce, as
// cmd/tidings does: the address is suppressed and its other queued mail skipped.
func TestDispatcher_Bounce(t *testing.T) {
	t.Parallel()
	e, s, d := mustBouncing(t)
	d.BatchSize = 1
	mustRunOnce(t, d)
	var status string
	if err := e.db.Get(&status, `SELECT status FROM subscriptions WHERE id = $1`, s.subscriptionID); err != nil || status != "bounced" {
		t.Fatalf("subscription %q, %v", status, err)
	}
	rows := outbox(t, e.db)
	if rows[0].Status != "failed" || rows[1].Status != "skipped" {
		t.Fatalf("rows %+v", rows)
	}
	if en := mustEnrollment(t, e.db, s.subscriptionID); !en.Stopped {
		t.Fatal("enrollment not stopped")
	}
}

// TestDispatcher_BounceWhileRunning: in Run, the next batch already holds
// the bounced subscriber's other message when the bounce skips what is
// queued for them. The bounce waits for that batch, which is sent and
// recorded meanwhile; nothing waits for the bounce.
func TestDispatcher_BounceWhileRunning(t *testing.T) {
	t.Parallel()
	e, s, d := mustBouncing(t)
	d.BatchSize, d.Workers = 1, 1
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	deadline := time.Now().Add(30 * time.Second)
	var (
		status string
		queued int
	)
	for time.Now().Before(deadline) {
		const q = `
			SELECT s.status, (SELECT count(*) FROM outbox WHERE status = 'queued')
			FROM subscriptions s
			WHERE s.id = $1`
		if err := e.db.QueryRow(q, s.subscriptionID).Scan(&status, &queued); err != nil {
			t.Fatal(err)
		}
		if status == "bounced" && queued == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop: stuck behind the bounce")
	}
	rows := outbox(t, e.db)
	if status != "bounced" || len(rows) != 2 || rows[0].Status != "failed" || (rows[1].Status != "failed" && rows[1].Status != "skipped") {
		t.Fatalf("subscription %q, rows %+v", status, rows)
	}
}

// TestDispatcher_NotMailable: mail queued before the subscriber left (or was
// suppressed, or confirmed already) is not sent.
func TestDispatcher_NotMailable(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
	MustStep(t, e.store, list, campaigns.Step{Subject: "A", Body: "a", DelayDays: 0})
	stay := MustSubscription(t, e.db, list, "stay@example.com", "UTC", subscribers.StatusPending)
	leave := MustSubscription(t, e.db, list, "leave@example.com", "UTC", subscribers.StatusPending)
	supp := MustSubscription(t, e.db, list, "supp@example.com", "UTC", subscribers.StatusPending)
	for _, s := range []sub{stay, leave, supp} {
		MustEvent(t, e.db, e.queue, s, subscribers.EventConfirmed, e.clock.Now())
	}
	pend := MustSubscription(t, e.db, list, "pend@example.com", "UTC", subscribers.StatusPending)
	MustEvent(t, e.db, e.queue, pend, subscribers.EventConfirmationRequested, e.clock.Now())
	tickAt(t, e.env, "2026-03-02T10:00:00Z", 3)
	// Behind the Queue's back, so the rows stay queued: only the
	// dispatcher's own check stands between them and the relay.
	for _, q := range []string{
		`UPDATE subscriptions SET status = 'unsubscribed' WHERE id = ` + fmt.Sprint(leave.subscriptionID),
		`UPDATE subscriptions SET status = 'confirmed' WHERE id = ` + fmt.Sprint(pend.subscriptionID),
		`INSERT INTO suppressions (email, reason, created_at) VALUES ('supp@example.com', 'complaint', now())`,
	} {
		if _, err := e.db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if n := drain(t, e.dispatcher(t)); n != 7 {
		t.Fatalf("processed %d, want 7", n)
	}
	for _, m := range e.catch.Messages() {
		if m.To[0] != "stay@example.com" {
			t.Errorf("sent %q to %v", m.Subject, m.To)
		}
	}
	if got := len(e.catch.Messages()); got != 2 {
		t.Fatalf("caught %d, want 2", got)
	}
	for _, r := range outbox(t, e.db) {
		if want := map[bool]string{true: "sent", false: "skipped"}[r.SubscriptionID == stay.subscriptionID]; r.Status != want {
			t.Errorf("%s row of %d: %s, want %s", r.Kind, r.SubscriptionID, r.Status, want)
		}
	}
}

// TestDispatcher_Concurrent: two dispatchers (as two processes would) on a
// few hundred rows never send one message twice.
func TestDispatcher_Concurrent(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach"})
	MustStep(t, e.store, list, campaigns.Step{Subject: "A for {{.Email}}", Body: "a", DelayDays: 0})
	const n = 300
	mustConfirmMany(t, e.env, list, n, "UTC")
	if got := mustTick(t, e.sched); got != n {
		t.Fatalf("queued %d", got)
	}
	var wg sync.WaitGroup
	for range 2 {
		d := e.dispatcher(t)
		d.Workers, d.BatchSize = 4, 25
		wg.Go(func() {
			for {
				k, err := d.RunOnce(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if k == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	seen := map[string]int{}
	for _, m := range e.catch.Messages() {
		seen["msgid "+m.Header.Get("Message-Id")]++
	}
	if got := e.catch.Caught(); got != n {
		t.Errorf("caught %d, want %d", got, n)
	}
	for k, c := range seen {
		if c != 1 {
			t.Errorf("%s sent %d times", k, c)
		}
	}
	var sent int
	if err := e.db.Get(&sent, `SELECT count(*) FROM outbox WHERE status = 'sent'`); err != nil || sent != n {
		t.Fatalf("%d sent, %v", sent, err)
	}
}

// TestDispatcher_Killed: a process claims a batch and dies. While its claim
// holds, no other dispatcher sends those items; once it has lapsed, another
// sends all of them; nothing is lost.
func TestDispatcher_Killed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
	mustConfirmMany(t, e.env, list, 40, "UTC")
	dead := e.dispatcher(t)
	b, err := dead.Claim(ctx, 30)
	if err != nil || len(b.Items) != 30 {
		t.Fatalf("claimed %v, %v", b, err)
	}
	for _, it := range b.Items {
		if it.Email == "" || it.Subject != "Welcome" || it.FromEmail != "coach@example.com" || it.Status != campaigns.StatusSending {
			t.Fatalf("item %+v", it)
		}
	}
	other := e.dispatcher(t)
	if got := drain(t, other); got != 10 {
		t.Fatalf("sent %d while the claim holds, want 10", got)
	}
	e.clock.Add(campaigns.DefaultClaimTimeout - time.Second)
	if got := drain(t, other); got != 0 {
		t.Fatalf("sent %d of a claim that still holds", got)
	}
	e.clock.Add(time.Second)
	if got := drain(t, other); got != 30 {
		t.Fatalf("sent %d after the claim lapsed, want 30", got)
	}
	var sent int
	if err := e.db.Get(&sent, `SELECT count(*) FROM outbox WHERE status = 'sent' AND attempts = 1 AND claimed_until IS NULL`); err != nil || sent != 40 {
		t.Fatalf("%d sent, %v", sent, err)
	}
	if got := e.catch.Caught(); got != 40 {
		t.Fatalf("caught %d", got)
	}
}

// TestDispatcher_Run: stopping finishes the send under way and releases the
// rest of the claim.
func TestDispatcher_Run(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
	mustConfirmMany(t, e.env, list, 10, "UTC")
	e.mu.Lock()
	e.hold, e.holding = make(chan struct{}), make(chan struct{})
	hold, holding := e.hold, e.holding
	e.mu.Unlock()

	d := e.dispatcher(t)
	d.Workers, d.BatchSize = 1, 10
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select { // the first message is in DATA
	case <-holding:
	case <-time.After(30 * time.Second):
		t.Fatal("nothing sent")
	}
	cancel()
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var counts []struct {
		Status string `db:"status"`
		N      int    `db:"n"`
		Tried  int    `db:"tried"`
	}
	if err := e.db.Select(&counts, `SELECT status, count(*) AS n, sum(attempts) AS tried FROM outbox GROUP BY status ORDER BY status`); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(counts); got != "[{queued 9 0} {sent 1 1}]" {
		t.Fatalf("outbox after stop: %s", got)
	}
	if got := e.catch.Caught(); got != 1 {
		t.Fatalf("caught %d", got)
	}
	// Another dispatcher picks the rest up at once.
	if got := drain(t, e.dispatcher(t)); got != 9 {
		t.Fatalf("sent %d", got)
	}
}

// TestDispatcher_EndToEnd: sign up, the confirmation email, its link, the
// welcome email and the first step, through subscribers.Store.
func TestDispatcher_EndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newMailEnv(t, "2026-03-02T20:00:00Z")
	subs := &subscribers.Store{DB: e.db, Now: e.clock.Now, Tokens: e.links.Tokens, OnEvent: e.queue.OnEvent}
	l := &subscribers.List{Slug: "coach", Name: "The Coaching Letter", FromName: "The Coach", FromEmail: "coach@example.com",
		Timezone: "UTC", PostalAddress: "1 Main St", WelcomeSubject: "Welcome, {{or .FirstName \"there\"}}", WelcomeBody: "Hello."}
	if err := subs.CreateList(ctx, l); err != nil {
		t.Fatal(err)
	}
	MustStep(t, e.store, l.ID, campaigns.Step{Subject: "Step 1", Body: "One", DelayDays: 1, SendTime: "09:00"})
	if _, err := subs.Subscribe(ctx, subscribers.SubscribeRequest{List: "coach", Email: "grace@example.com", Name: "Grace Hopper",
		Timezone: "America/New_York", Meta: subscribers.Meta{IP: "192.0.2.1", Form: "hosted"}}); err != nil {
		t.Fatal(err)
	}
	d := e.dispatcher(t)
	if n := drain(t, d); n != 1 {
		t.Fatalf("processed %d, want the confirmation", n)
	}
	m, _ := e.catch.Message(1)
	token := regexp.MustCompile(`https://news\.example\.com/confirm/([A-Za-z0-9_.-]+)`).FindStringSubmatch(m.Text)
	if token == nil {
		t.Fatalf("no confirm link in\n%s", m.Text)
	}
	if _, err := subs.Confirm(ctx, token[1], subscribers.Meta{}); err != nil {
		t.Fatal(err)
	}
	drain(t, d)
	if m, ok := e.catch.Message(2); !ok || m.Subject != "Welcome, Grace" {
		t.Fatalf("second message %q", m.Subject)
	}
	tickAt(t, e.env, "2026-03-03T14:00:00Z", 1) // 09:00 in New York
	drain(t, d)
	if m, ok := e.catch.Message(3); !ok || m.Subject != "Step 1" {
		t.Fatalf("third message %q", m.Subject)
	}
}

// TestDispatcher_Rate: Rate spaces the sends out, across workers.
func TestDispatcher_Rate(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
	mustConfirmMany(t, e.env, list, 6, "UTC")
	d := e.dispatcher(t)
	d.Workers, d.Pool.Rate = 3, 20 // one every 50ms
	start := time.Now()
	if n := drain(t, d); n != 6 {
		t.Fatalf("processed %d", n)
	}
	if took := time.Since(start); took < 250*time.Millisecond {
		t.Fatalf("6 messages at 20/s took %s", took)
	}
}
