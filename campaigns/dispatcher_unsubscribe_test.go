package campaigns_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/subscribers"
)

// TestDispatcher_UnsubscribeWhileSending: a one-click unsubscribe commits at
// once while a claim's send to the same subscriber is stuck in the relay,
// and what was queued for that subscriber and not yet handed to the relay
// is skipped, whether claimed already or not, and whether in the group of
// messages being sent with it or not. Only the message in the relay goes
// out.
func TestDispatcher_UnsubscribeWhileSending(t *testing.T) {
	t.Parallel()
	t.Run("AcrossClaims", func(t *testing.T) { testUnsubscribeWhileSending(t, 1) })
	// The welcome email and the bonuses go in one group, over one
	// connection; the relay holds the welcome longer than recheckAfter.
	t.Run("WithinGroup", func(t *testing.T) { testUnsubscribeWhileSending(t, 0) })
}

func testUnsubscribeWhileSending(t *testing.T, batchSize int) {
	t.Parallel()
	e := newMailEnv(t, "2026-03-02T10:00:00Z")
	subs := &subscribers.Store{DB: e.db, Now: e.clock.Now, Tokens: e.links.Tokens, OnEvent: e.queue.OnEvent}
	list := MustList(t, e.db, listOpts{slug: "coach", welcomeSubject: "Welcome", welcomeBody: "Hi"})
	for _, subject := range []string{"Bonus 1", "Bonus 2", "Bonus 3"} {
		if err := e.store.CreateBonus(context.Background(), list, &campaigns.Bonus{Subject: subject, Body: "b"}); err != nil {
			t.Fatal(err)
		}
	}
	// The leaver is queued first: the welcome email and three bonuses.
	leave := MustSubscription(t, e.db, list, "leave@example.com", "UTC", subscribers.StatusPending)
	MustEvent(t, e.db, e.queue, leave, subscribers.EventConfirmed, e.clock.Now())
	stay := MustSubscription(t, e.db, list, "stay@example.com", "UTC", subscribers.StatusPending)
	MustEvent(t, e.db, e.queue, stay, subscribers.EventConfirmed, e.clock.Now())

	e.mu.Lock()
	e.hold, e.holding = make(chan struct{}), make(chan struct{})
	hold, holding := e.hold, e.holding
	e.mu.Unlock()
	d := e.dispatcher(t)
	d.Workers, d.BatchSize = 1, batchSize
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select { // the leaver's welcome email is in DATA, and stays there
	case <-holding:
	case <-time.After(30 * time.Second):
		t.Fatal("nothing sent")
	}
	// The next claim is made beside the stuck send, not before it: wait
	// for it rather than expect it at once.
	want := 2
	if batchSize == 0 {
		want = 8
	}
	var claimed int
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if err := e.db.Get(&claimed, `SELECT count(*) FROM outbox WHERE claimed_until IS NOT NULL`); err != nil {
			t.Fatal(err)
		}
		if claimed >= want || time.Now().After(deadline) {
			break
		}
	}
	if claimed < want || batchSize == 0 && claimed != want {
		t.Fatalf("%d claimed while the send is stuck; want %d: the one in the relay and the next", claimed, want)
	}

	uctx, ucancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ucancel()
	link := e.links.Unsubscribe(leave.subscriptionID)
	token := link[strings.LastIndexByte(link, '/')+1:]
	if _, err := subs.Unsubscribe(uctx, token, "one-click", subscribers.Meta{}); err != nil {
		t.Fatalf("unsubscribe while a send is stuck: %v", err)
	}
	var queued int
	if err := e.db.Get(&queued, `SELECT count(*) FROM outbox WHERE subscription_id = $1 AND status = 'queued'`, leave.subscriptionID); err != nil || queued != 0 {
		t.Fatalf("%d still queued for the leaver, %v", queued, err)
	}

	e.clock.Add(time.Second)
	close(hold)
	if err := e.catch.WaitFor(uctx, 5); err != nil { // the welcome in the relay, and the stayer's 4
		t.Fatalf("caught %d: %v", e.catch.Caught(), err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, m := range e.catch.Messages() {
		got[m.To[0]] = append(got[m.To[0]], m.Subject)
	}
	if len(got["leave@example.com"]) != 1 || got["leave@example.com"][0] != "Welcome" || len(got["stay@example.com"]) != 4 {
		t.Fatalf("sent %v", got)
	}
	for _, r := range outbox(t, e.db) {
		want := "sent"
		if r.SubscriptionID == leave.subscriptionID && r.Kind != campaigns.KindWelcome {
			want = "skipped"
		}
		if r.Status != want {
			t.Errorf("%s row of %d: %s, want %s", r.Kind, r.SubscriptionID, r.Status, want)
		}
	}
}
