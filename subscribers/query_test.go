package subscribers_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/subscribers"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestStore_Subscribers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	e.MustCreateList(t, "news")
	e.MustCreateList(t, "tips")
	add := func(email, name string, lists ...string) {
		t.Helper()
		if _, err := e.store.Add(ctx, subscribers.AddRequest{Email: email, Name: name, Lists: lists, Status: "confirmed"}); err != nil {
			t.Fatal(err)
		}
	}
	add("alice@example.com", "Alice Smith", "news")    // 1
	e.MustSubscribe(t, "news", "bob@example.com")      // 2 pending on news
	add("carol@example.org", "Carol ALICEson", "tips") // 3
	add("100%real@example.com", "", "news", "tips")    // 4
	add("under_score@example.com", "", "tips")         // 5
	add("nolist@example.com", "Nobody")                // 6, no subscription
	add("dave@example.com", "Dave", "news")            // 7
	if _, err := e.store.Unsubscribe(ctx, token(e.links.Unsubscribe(e.SubscriptionID(t, "news", "dave@example.com"))), "", testMeta); err != nil {
		t.Fatal(err)
	}

	emails := func(subs []*subscribers.Subscriber) []string {
		out := []string{}
		for _, s := range subs {
			out = append(out, s.Email)
		}
		return out
	}
	for _, tt := range []struct {
		f    subscribers.Filter
		want []string
	}{
		{subscribers.Filter{}, []string{"alice@example.com", "bob@example.com", "carol@example.org", "100%real@example.com", "under_score@example.com", "nolist@example.com", "dave@example.com"}},
		{subscribers.Filter{List: "news"}, []string{"alice@example.com", "bob@example.com", "100%real@example.com", "dave@example.com"}},
		{subscribers.Filter{Status: "confirmed"}, []string{"alice@example.com", "carol@example.org", "100%real@example.com", "under_score@example.com"}},
		{subscribers.Filter{List: "news", Status: "confirmed"}, []string{"alice@example.com", "100%real@example.com"}},
		{subscribers.Filter{List: "news", Status: "pending"}, []string{"bob@example.com"}},
		{subscribers.Filter{Status: "unsubscribed"}, []string{"dave@example.com"}},
		{subscribers.Filter{List: "tips", Status: "unsubscribed"}, []string{}},
		{subscribers.Filter{Query: "alice"}, []string{"alice@example.com", "carol@example.org"}},
		{subscribers.Filter{Query: "ALICE", List: "tips"}, []string{"carol@example.org"}},
		{subscribers.Filter{Query: "example.org"}, []string{"carol@example.org"}},
		{subscribers.Filter{Query: "%"}, []string{"100%real@example.com"}},
		{subscribers.Filter{Query: "_"}, []string{"under_score@example.com"}},
		{subscribers.Filter{Query: `\`}, []string{}},
		{subscribers.Filter{Query: "nobody"}, []string{"nolist@example.com"}},
		{subscribers.Filter{Limit: 2}, []string{"alice@example.com", "bob@example.com"}},
		{subscribers.Filter{List: "news", Status: "confirmed", Query: "real"}, []string{"100%real@example.com"}},
		{subscribers.Filter{Status: "confirmed", Query: "example.com", AfterID: 1, Limit: 2}, []string{"100%real@example.com", "under_score@example.com"}},
	} {
		got, err := e.store.Subscribers(ctx, tt.f)
		if err != nil {
			t.Fatalf("Subscribers(%+v): %v", tt.f, err)
		}
		if !equal(emails(got), tt.want) {
			t.Errorf("Subscribers(%+v) = %v, want %v", tt.f, emails(got), tt.want)
		}
	}

	// Keyset pagination: each page starts after the last id of the one before.
	var all []string
	f := subscribers.Filter{Limit: 3}
	for range 5 {
		page, err := e.store.Subscribers(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, emails(page)...)
		if len(page) < f.Limit {
			break
		}
		f.AfterID = page[len(page)-1].ID
	}
	if len(all) != 7 || all[0] != "alice@example.com" || all[6] != "dave@example.com" {
		t.Errorf("paged through %v", all)
	}

	// Each subscriber comes with its subscriptions.
	got, _ := e.store.Subscribers(ctx, subscribers.Filter{Query: "100%"})
	if len(got) != 1 || len(got[0].Subscriptions) != 2 || got[0].Subscriptions[0].List != "news" || got[0].Subscriptions[1].List != "tips" {
		t.Errorf("subscriptions of 100%%real: %+v", got)
	}
	got, _ = e.store.Subscribers(ctx, subscribers.Filter{Query: "nolist"})
	if len(got) != 1 || got[0].Subscriptions == nil || len(got[0].Subscriptions) != 0 {
		t.Errorf("subscriptions of nolist: %+v, want an empty slice", got)
	}

	for _, tt := range []struct {
		f    subscribers.Filter
		code string
	}{
		{subscribers.Filter{Status: "active"}, tidings.EINVALID},
		{subscribers.Filter{Limit: -1}, tidings.EINVALID},
		{subscribers.Filter{Limit: 501}, tidings.EINVALID},
		{subscribers.Filter{AfterID: -1}, tidings.EINVALID},
		{subscribers.Filter{Query: string(make([]byte, 300))}, tidings.EINVALID},
		{subscribers.Filter{List: "nope"}, tidings.ENOTFOUND},
	} {
		_, err := e.store.Subscribers(ctx, tt.f)
		if code := tidings.ErrorCode(err); code != tt.code {
			t.Errorf("Subscribers(%+v) = %v, want %s", tt.f, err, tt.code)
		}
	}
}

func TestStore_SubscriberByID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	e.MustCreateList(t, "news")
	e.MustCreateList(t, "tips")
	newsID := e.MustConfirm(t, "news", "a@b.com")
	e.clock.Add(time.Hour)
	if _, err := e.store.Unsubscribe(ctx, token(e.links.Unsubscribe(newsID)), "bye", testMeta); err != nil {
		t.Fatal(err)
	}
	e.MustSubscribe(t, "tips", "a@b.com")
	var id int64
	e.db.Get(&id, `SELECT id FROM subscribers WHERE email = 'a@b.com'`)

	sub, err := e.store.SubscriberByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if sub.Email != "a@b.com" || len(sub.Subscriptions) != 2 {
		t.Fatalf("SubscriberByID = %+v", sub)
	}
	news, tips := sub.Subscriptions[0], sub.Subscriptions[1]
	if news.List != "news" || news.Status != "unsubscribed" || news.ConfirmedAt == nil || news.UnsubscribedAt == nil || !news.UnsubscribedAt.Equal(e.clock.Now()) {
		t.Errorf("news: %+v", news)
	}
	if tips.List != "tips" || tips.Status != "pending" || tips.ConfirmedAt != nil || tips.UnsubscribedAt != nil {
		t.Errorf("tips: %+v", tips)
	}
	_, err = e.store.SubscriberByID(ctx, id+1)
	wantCode(t, "SubscriberByID(unknown)", err, tidings.ENOTFOUND)
}

func TestStore_Events(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	list := e.MustCreateList(t, "news")
	id := e.MustConfirm(t, "news", "a@b.com")
	e.clock.Add(time.Hour)
	if _, err := e.store.Unsubscribe(ctx, token(e.links.Unsubscribe(id)), "bye", testMeta); err != nil {
		t.Fatal(err)
	}
	e.MustConfirm(t, "news", "other@b.com")
	var subscriberID int64
	e.db.Get(&subscriberID, `SELECT id FROM subscribers WHERE email = 'a@b.com'`)

	events, err := e.store.Events(ctx, subscriberID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range events {
		kinds = append(kinds, ev.Kind)
		if ev.SubscriberID != subscriberID || ev.SubscriptionID != id || ev.ListID != list.ID || ev.ID == 0 {
			t.Errorf("event %+v", ev)
		}
	}
	if want := []string{"subscribed", "confirmation_requested", "confirmed", "unsubscribed"}; !equal(kinds, want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
	if ev := events[0]; ev.ConsentText != list.ConsentText || ev.IP != testMeta.IP || ev.UserAgent != testMeta.UserAgent || ev.Form != testMeta.Form {
		t.Errorf("consent event %+v", ev)
	}
	if ev := events[3]; ev.Reason != "bye" || !ev.At.Equal(e.clock.Now()) {
		t.Errorf("unsubscribe event %+v", ev)
	}

	// A deleted subscription leaves its events in the log.
	if _, err := e.db.Exec(`DELETE FROM subscriptions WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	events, err = e.store.Events(ctx, subscriberID)
	if err != nil || len(events) != 4 || events[0].SubscriptionID != 0 {
		t.Errorf("after deleting the subscription: %+v, %v", events, err)
	}
	_, err = e.store.Events(ctx, subscriberID+100)
	wantCode(t, "Events(unknown)", err, tidings.ENOTFOUND)
}
