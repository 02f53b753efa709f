package subscribers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/subscribers"
)

func TestStore_CreateList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		l := &subscribers.List{Slug: "weekly-1", Name: " Weekly ", FromEmail: "Editor@Example.COM", ReplyTo: "reply@bücher.de",
			PostalAddress: "1 Main St\r\nSpringfield", ConsentText: "Yes, please."}
		if err := e.store.CreateList(ctx, l); err != nil {
			t.Fatal(err)
		}
		if l.ID == 0 || !l.CreatedAt.Equal(e.clock.Now()) || !l.UpdatedAt.Equal(e.clock.Now()) {
			t.Errorf("after CreateList: id %d, created %v, updated %v", l.ID, l.CreatedAt, l.UpdatedAt)
		}
		want := subscribers.List{ID: l.ID, Slug: "weekly-1", Name: "Weekly", FromEmail: "Editor@example.com", ReplyTo: "reply@xn--bcher-kva.de",
			Timezone: "UTC", PostalAddress: "1 Main St\nSpringfield", ConsentText: "Yes, please."}
		got, err := e.store.ListBySlug(ctx, "weekly-1")
		if err != nil {
			t.Fatal(err)
		}
		got.CreatedAt, got.UpdatedAt = want.CreatedAt, want.UpdatedAt
		if *got != want {
			t.Errorf("ListBySlug = %+v\nwant %+v", *got, want)
		}
		byID, err := e.store.ListByID(ctx, l.ID)
		if err != nil || byID.Slug != "weekly-1" {
			t.Errorf("ListByID(%d) = %+v, %v", l.ID, byID, err)
		}
	})

	t.Run("ErrConflict", func(t *testing.T) {
		e.MustCreateList(t, "taken")
		err := e.store.CreateList(ctx, &subscribers.List{Slug: "taken", Name: "Again", FromEmail: "a@b.com"})
		wantCode(t, "CreateList(taken) again", err, tidings.ECONFLICT)
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		ok := subscribers.List{Slug: "ok", Name: "OK", FromEmail: "a@b.com"}
		for _, tt := range []struct {
			name string
			edit func(*subscribers.List)
		}{
			{"empty slug", func(l *subscribers.List) { l.Slug = "" }},
			{"upper-case slug", func(l *subscribers.List) { l.Slug = "News" }},
			{"slug with leading hyphen", func(l *subscribers.List) { l.Slug = "-news" }},
			{"slug with space", func(l *subscribers.List) { l.Slug = "my news" }},
			{"slug too long", func(l *subscribers.List) { l.Slug = strings.Repeat("a", 64) }},
			{"empty name", func(l *subscribers.List) { l.Name = "  " }},
			{"name with newline", func(l *subscribers.List) { l.Name = "a\nb" }},
			{"from name with CR", func(l *subscribers.List) { l.FromName = "a\rBcc: x" }},
			{"no from email", func(l *subscribers.List) { l.FromEmail = "" }},
			{"bad from email", func(l *subscribers.List) { l.FromEmail = "Editor <a@b.com>" }},
			{"bad reply-to", func(l *subscribers.List) { l.ReplyTo = "a@b" }},
			{"bad time zone", func(l *subscribers.List) { l.Timezone = "Mars/Base" }},
			{"postal address with NUL", func(l *subscribers.List) { l.PostalAddress = "a\x00b" }},
			{"welcome subject with newline", func(l *subscribers.List) { l.WelcomeSubject = "Hi\nthere" }},
		} {
			l := ok
			tt.edit(&l)
			err := e.store.CreateList(ctx, &l)
			wantCode(t, tt.name+": CreateList("+l.Slug+")", err, tidings.EINVALID)
		}
		if _, err := e.store.ListBySlug(ctx, "ok"); tidings.ErrorCode(err) != tidings.ENOTFOUND {
			t.Errorf("a list was stored by an invalid CreateList: %v", err)
		}
	})
}

func TestStore_UpdateList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.MustCreateList(t, "news")
	e.clock.Add(time.Hour)

	name, tz := "Renamed", "Europe/Berlin"
	l, err := e.store.UpdateList(ctx, "news", subscribers.ListUpdate{Name: &name, Timezone: &tz})
	if err != nil {
		t.Fatal(err)
	}
	if l.Name != name || l.Timezone != tz || l.FromEmail != "editor@example.com" || !l.UpdatedAt.Equal(e.clock.Now()) {
		t.Errorf("UpdateList = %+v", l)
	}
	got, _ := e.store.ListBySlug(ctx, "news")
	if got.Name != name || got.Timezone != tz || got.ConsentText == "" {
		t.Errorf("stored %+v", got)
	}

	bad := "a@b"
	_, err = e.store.UpdateList(ctx, "news", subscribers.ListUpdate{Name: &tz, FromEmail: &bad})
	wantCode(t, "UpdateList(bad from_email)", err, tidings.EINVALID)
	if got, _ := e.store.ListBySlug(ctx, "news"); got.Name != name {
		t.Errorf("a failed update changed the name to %q", got.Name)
	}
	_, err = e.store.UpdateList(ctx, "nope", subscribers.ListUpdate{Name: &name})
	wantCode(t, "UpdateList(nope)", err, tidings.ENOTFOUND)
}

func TestStore_Lists(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	lists, err := e.store.Lists(ctx)
	if err != nil || lists == nil || len(lists) != 0 {
		t.Fatalf("Lists on an empty database = %v, %v; want an empty slice", lists, err)
	}
	e.MustCreateList(t, "zeta")
	e.MustCreateList(t, "alpha")
	lists, err = e.store.Lists(ctx)
	if err != nil || len(lists) != 2 || lists[0].Slug != "alpha" || lists[1].Slug != "zeta" {
		t.Fatalf("Lists = %v, %v; want alpha, zeta", lists, err)
	}
	for _, slug := range []string{"missing", "", "Bad Slug", "x'; DROP TABLE lists; --"} {
		_, err := e.store.ListBySlug(ctx, slug)
		wantCode(t, "ListBySlug("+slug+")", err, tidings.ENOTFOUND)
	}
	_, err = e.store.ListByID(ctx, 999)
	wantCode(t, "ListByID(999)", err, tidings.ENOTFOUND)
}
