package subscribers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/subscribers"
)

func TestNormalizeTags(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			in   []string
			want string
		}{
			{nil, ""},
			{[]string{"VIP"}, "vip"},
			{[]string{"  Early   Bird "}, "early bird"},
			{[]string{"b", "a", "B", "a"}, "a,b"},
			{[]string{"spring-2026", "x.y_z", "Café", "日本"}, "café,spring-2026,x.y_z,日本"},
			{[]string{strings.Repeat("é", 50)}, strings.Repeat("é", 50)},
			{strings.Split(manyTags(50, ","), ","), ""}, // 50 is allowed; checked by length below
		} {
			got, err := subscribers.NormalizeTags(tt.in)
			if err != nil || got == nil {
				t.Errorf("NormalizeTags(%q) = %q, %v", tt.in, got, err)
				continue
			}
			if tt.want != "" && strings.Join(got, ",") != tt.want {
				t.Errorf("NormalizeTags(%q) = %q, want %q", tt.in, got, tt.want)
			}
			// Normalising is idempotent.
			if again, err := subscribers.NormalizeTags(got); err != nil || strings.Join(again, ",") != strings.Join(got, ",") {
				t.Errorf("NormalizeTags(%q) = %q, %v; want it unchanged", got, again, err)
			}
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		t.Parallel()
		for _, in := range [][]string{
			{""},
			{"   "},
			{"a/b"},
			{"a,b"},
			{"a;b"},
			{"a|b"},
			{"<script>"},
			{"tab\there"},
			{"line\nbreak"},
			{"nul\x00"},
			{"bidi\u202e"},
			{"emoji🙂"},
			{"\xff"},
			{strings.Repeat("x", 51)},
			{"ok", "not ok!"},
			strings.Split(manyTags(51, ","), ","),
		} {
			got, err := subscribers.NormalizeTags(in)
			if tidings.ErrorCode(err) != tidings.EINVALID {
				t.Errorf("NormalizeTags(%q) = %q, %v; want EINVALID", in, got, err)
			}
		}
	})
}

func TestStore_Tag(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	e.MustCreateList(t, "news")
	e.MustConfirm(t, "news", "a@b.com")
	id := e.SubscriberID(t, "a@b.com")

	sub, err := e.store.Tag(ctx, id, []string{"VIP", "early bird"}, nil)
	if err != nil || strings.Join(sub.Tags, ",") != "early bird,vip" || len(sub.Subscriptions) != 1 {
		t.Fatalf("Tag = %+v, %v", sub, err)
	}
	e.clock.Add(time.Minute)
	sub, err = e.store.Tag(ctx, id, []string{"webinar", "vip"}, []string{"Early Bird", "never"})
	if err != nil || strings.Join(sub.Tags, ",") != "vip,webinar" || !sub.UpdatedAt.Equal(e.clock.Now()) {
		t.Fatalf("Tag = %+v, %v", sub, err)
	}
	// Nothing to change: nothing is written.
	e.clock.Add(time.Minute)
	sub, err = e.store.Tag(ctx, id, []string{"vip"}, []string{"gone"})
	if err != nil || strings.Join(sub.Tags, ",") != "vip,webinar" || sub.UpdatedAt.Equal(e.clock.Now()) {
		t.Fatalf("no-op Tag = %+v, %v", sub, err)
	}
	if got := e.rec.kinds(); len(got) != 3 {
		t.Errorf("events %v: tagging appends none", got)
	}

	t.Run("Err", func(t *testing.T) {
		full := strings.Split(manyTags(49, ","), ",")
		for _, tt := range []struct {
			id          int64
			add, remove []string
			code        string
		}{
			{id, []string{"a/b"}, nil, tidings.EINVALID},
			{id, nil, []string{""}, tidings.EINVALID},
			{id, []string{"x"}, []string{"X "}, tidings.EINVALID},
			{id, full, nil, tidings.EINVALID}, // 49 + 2 = 51
			{id + 1, []string{"x"}, nil, tidings.ENOTFOUND},
		} {
			before := e.Counts(t)
			_, err := e.store.Tag(ctx, tt.id, tt.add, tt.remove)
			if code := tidings.ErrorCode(err); code != tt.code {
				t.Errorf("Tag(%d, %q, %q) = %v, want %s", tt.id, tt.add, tt.remove, err, tt.code)
			}
			if got := e.Subscriber(t, "a@b.com").Tags; got != "vip,webinar" || e.Counts(t) != before {
				t.Errorf("Tag(%d, %q, %q) changed the tags to %q", tt.id, tt.add, tt.remove, got)
			}
		}
	})
}

func TestStore_SubscribeTags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	e.MustCreateList(t, "news")
	e.MustCreateList(t, "tips")
	sub := func(list, email string, tags ...string) {
		t.Helper()
		if _, err := e.store.Subscribe(ctx, subscribers.SubscribeRequest{List: list, Email: email, Tags: tags, Meta: testMeta}); err != nil {
			t.Fatalf("Subscribe(%s, %s, %q): %v", list, email, tags, err)
		}
	}
	for _, tt := range []struct {
		list, email string
		tags        []string
		want        string
	}{
		{"news", "new@b.com", []string{"Webinar", "blog"}, "blog,webinar"},
		{"news", "new@b.com", []string{"again"}, "again,blog,webinar"}, // still pending
		{"tips", "new@b.com", []string{"tips"}, "again,blog,tips,webinar"},
		{"news", "plain@b.com", nil, ""},
	} {
		sub(tt.list, tt.email, tt.tags...)
		if got := e.Subscriber(t, tt.email).Tags; got != tt.want {
			t.Errorf("Subscribe(%s, %s, %q): tags %q, want %q", tt.list, tt.email, tt.tags, got, tt.want)
		}
	}

	// Once confirmed on any list, a sign-up (by anyone) adds no tags.
	e.MustConfirm(t, "news", "conf@b.com")
	e.MustCreateList(t, "more")
	sub("more", "conf@b.com", "stranger")
	sub("news", "conf@b.com", "stranger")
	if got := e.Subscriber(t, "conf@b.com").Tags; got != "" {
		t.Errorf("a confirmed subscriber was tagged %q by a sign-up", got)
	}

	// Tags that would pass 50 are dropped without a word.
	if _, err := e.store.Add(ctx, subscribers.AddRequest{Email: "full@b.com", Tags: strings.Split(manyTags(50, ","), ",")}); err != nil {
		t.Fatal(err)
	}
	sub("news", "full@b.com", "one-more")
	if got := e.Subscriber(t, "full@b.com").Tags; strings.Contains(got, "one-more") {
		t.Errorf("tags %q: went past 50", got)
	}
	if got := e.Status(t, e.SubscriptionID(t, "news", "full@b.com")); got != subscribers.StatusPending {
		t.Errorf("the sign-up itself was not taken: %s", got)
	}

	// Bad tags: EINVALID, and nothing is stored.
	before := e.Counts(t)
	for _, tags := range [][]string{{"a/b"}, {""}, {"ok", strings.Repeat("x", 51)}, strings.Split(manyTags(51, ","), ",")} {
		_, err := e.store.Subscribe(ctx, subscribers.SubscribeRequest{List: "news", Email: "bad@b.com", Tags: tags, Meta: testMeta})
		wantCode(t, fmt.Sprintf("Subscribe(tags %q)", tags), err, tidings.EINVALID)
	}
	if c := e.Counts(t); c != before {
		t.Errorf("bad tags stored %+v -> %+v", before, c)
	}
}

func TestStore_AddTags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	e.MustCreateList(t, "news")
	sub, err := e.store.Add(ctx, subscribers.AddRequest{Email: "a@b.com", Lists: []string{"news"}, Tags: []string{"VIP", "vip", "b"}, Status: "confirmed"})
	if err != nil || strings.Join(sub.Tags, ",") != "b,vip" {
		t.Fatalf("Add = %+v, %v", sub, err)
	}
	// Adding again merges; none is removed.
	sub, err = e.store.Add(ctx, subscribers.AddRequest{Email: "a@b.com", Lists: []string{"news"}, Tags: []string{"c"}, Status: "confirmed"})
	if err != nil || strings.Join(sub.Tags, ",") != "b,c,vip" {
		t.Fatalf("second Add = %+v, %v", sub, err)
	}
	before := e.Counts(t)
	for _, tags := range [][]string{{"no/slash"}, strings.Split(manyTags(48, ","), ",")} {
		_, err := e.store.Add(ctx, subscribers.AddRequest{Email: "a@b.com", Lists: []string{"news"}, Tags: tags})
		wantCode(t, fmt.Sprintf("Add(tags %q)", tags), err, tidings.EINVALID)
		if got := e.Subscriber(t, "a@b.com").Tags; got != "b,c,vip" || e.Counts(t) != before {
			t.Errorf("Add(tags %q) changed the tags to %q", tags, got)
		}
	}
}

func TestStore_SubscribersByTag(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	e.MustCreateList(t, "news")
	for _, a := range []subscribers.AddRequest{
		{Email: "a@b.com", Lists: []string{"news"}, Tags: []string{"vip", "blog"}, Status: "confirmed"},
		{Email: "b@b.com", Lists: []string{"news"}, Tags: []string{"blog"}},
		{Email: "c@b.com", Tags: []string{"vip"}},
	} {
		if _, err := e.store.Add(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		f    subscribers.Filter
		want string
	}{
		{subscribers.Filter{Tag: "vip"}, "a@b.com,c@b.com"},
		{subscribers.Filter{Tag: " VIP "}, "a@b.com,c@b.com"},
		{subscribers.Filter{Tag: "blog", Status: "pending"}, "b@b.com"},
		{subscribers.Filter{Tag: "vip", List: "news"}, "a@b.com"},
		{subscribers.Filter{Tag: "vi"}, ""},
	} {
		got, err := e.store.Subscribers(ctx, tt.f)
		if err != nil {
			t.Fatalf("Subscribers(%+v): %v", tt.f, err)
		}
		var emails []string
		for _, s := range got {
			emails = append(emails, s.Email)
		}
		if strings.Join(emails, ",") != tt.want {
			t.Errorf("Subscribers(%+v) = %v, want %s", tt.f, emails, tt.want)
		}
	}
	for _, tag := range []string{"a/b", strings.Repeat("x", 51), "\x00"} {
		_, err := e.store.Subscribers(ctx, subscribers.Filter{Tag: tag})
		wantCode(t, fmt.Sprintf("Subscribers(tag %q)", tag), err, tidings.EINVALID)
	}
}
