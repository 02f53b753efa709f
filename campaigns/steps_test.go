package campaigns_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/internal/pgtest"
)

func ptr[T any](v T) *T { return &v }

func stepSubjects(tb testing.TB, s *campaigns.Store, listID int64) []string {
	tb.Helper()
	steps, err := s.Steps(context.Background(), listID)
	if err != nil {
		tb.Fatal(err)
	}
	var got []string
	for i, st := range steps {
		if st.Position != i+1 {
			tb.Fatalf("step %q at position %d, want %d", st.Subject, st.Position, i+1)
		}
		got = append(got, st.Subject)
	}
	return got
}

func TestStore_CreateStep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T12:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach"})
		st := &campaigns.Step{Subject: "Week 1, {{or .FirstName \"there\"}}", Body: "Hello **you**.", DelayDays: 7,
			SendTime: "09:00", Weekdays: []string{"Tue", "mon", "tue"}}
		if err := e.store.CreateStep(ctx, list, st); err != nil {
			t.Fatal(err)
		}
		if st.ID == 0 || st.Position != 1 || st.ListID != list {
			t.Fatalf("got id %d position %d list %d", st.ID, st.Position, st.ListID)
		}
		if want := []string{"mon", "tue"}; !reflect.DeepEqual(st.Weekdays, want) {
			t.Fatalf("weekdays %q, want %q", st.Weekdays, want)
		}
		if !st.CreatedAt.Equal(e.clock.Now()) {
			t.Fatalf("created_at %v, want %v", st.CreatedAt, e.clock.Now())
		}
		got, err := e.store.StepByID(ctx, list, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, st) {
			t.Fatalf("StepByID = %+v, want %+v", got, st)
		}
		b, _ := json.Marshal(got)
		for _, k := range []string{`"id":`, `"position":1`, `"subject":`, `"body":`, `"delay_days":7`, `"send_time":"09:00"`, `"weekdays":["mon","tue"]`} {
			if !strings.Contains(string(b), k) {
				t.Errorf("json %s lacks %s", b, k)
			}
		}

		// No send time, any day: stored as NULL and {}, shown as "" and [].
		st2 := MustStep(t, e.store, list, campaigns.Step{Subject: "Week 2", Body: "Two", DelayDays: 0})
		if st2.SendTime != "" || st2.Weekdays == nil || len(st2.Weekdays) != 0 || st2.Position != 2 {
			t.Fatalf("got %+v", st2)
		}
		b, _ = json.Marshal(st2)
		if !strings.Contains(string(b), `"weekdays":[]`) {
			t.Fatalf("json %s", b)
		}
	})

	t.Run("Positions", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T12:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach"})
		a := MustStep(t, e.store, list, campaigns.Step{Subject: "A", Body: "a", DelayDays: 1})
		MustStep(t, e.store, list, campaigns.Step{Subject: "B", Body: "b", DelayDays: 1})
		c := MustStep(t, e.store, list, campaigns.Step{Subject: "C", Body: "c", DelayDays: 1})
		MustStep(t, e.store, list, campaigns.Step{Subject: "D", Body: "d", DelayDays: 1, Position: 2})
		MustStep(t, e.store, list, campaigns.Step{Subject: "E", Body: "e", DelayDays: 1, Position: 99})
		if got, want := stepSubjects(t, e.store, list), []string{"A", "D", "B", "C", "E"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("after inserts: %q, want %q", got, want)
		}
		if _, err := e.store.UpdateStep(ctx, list, c.ID, campaigns.StepUpdate{Position: ptr(1)}); err != nil {
			t.Fatal(err)
		}
		if got, want := stepSubjects(t, e.store, list), []string{"C", "A", "D", "B", "E"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("after move up: %q, want %q", got, want)
		}
		if _, err := e.store.UpdateStep(ctx, list, c.ID, campaigns.StepUpdate{Position: ptr(50)}); err != nil {
			t.Fatal(err)
		}
		if got, want := stepSubjects(t, e.store, list), []string{"A", "D", "B", "E", "C"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("after move down: %q, want %q", got, want)
		}
		if err := e.store.DeleteStep(ctx, list, a.ID); err != nil {
			t.Fatal(err)
		}
		if got, want := stepSubjects(t, e.store, list), []string{"D", "B", "E", "C"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("after delete: %q, want %q", got, want)
		}
		if _, err := e.store.StepByID(ctx, list, a.ID); tidings.ErrorCode(err) != tidings.ENOTFOUND {
			t.Fatalf("deleted step: err %v, want ENOTFOUND", err)
		}
		if err := e.store.DeleteStep(ctx, list, a.ID); tidings.ErrorCode(err) != tidings.ENOTFOUND {
			t.Fatalf("delete twice: err %v, want ENOTFOUND", err)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T12:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach"})
		other := MustList(t, e.db, listOpts{slug: "other"})
		st := MustStep(t, e.store, list, campaigns.Step{Subject: "A", Body: "a", DelayDays: 1})
		if err := e.store.CreateStep(ctx, 9999, &campaigns.Step{Subject: "A", Body: "a"}); tidings.ErrorCode(err) != tidings.ENOTFOUND {
			t.Errorf("CreateStep unknown list: %v", err)
		}
		if _, err := e.store.Steps(ctx, 9999); tidings.ErrorCode(err) != tidings.ENOTFOUND {
			t.Errorf("Steps unknown list: %v", err)
		}
		if _, err := e.store.StepByID(ctx, other, st.ID); tidings.ErrorCode(err) != tidings.ENOTFOUND {
			t.Errorf("StepByID of another list: %v", err)
		}
		if _, err := e.store.UpdateStep(ctx, other, st.ID, campaigns.StepUpdate{Subject: ptr("x")}); tidings.ErrorCode(err) != tidings.ENOTFOUND {
			t.Errorf("UpdateStep of another list: %v", err)
		}
		if err := e.store.DeleteStep(ctx, other, st.ID); tidings.ErrorCode(err) != tidings.ENOTFOUND {
			t.Errorf("DeleteStep of another list: %v", err)
		}
		if steps, err := e.store.Steps(ctx, other); err != nil || len(steps) != 0 {
			t.Errorf("Steps of empty list: %v, %v", steps, err)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T12:00:00Z")
		list := MustList(t, e.db, listOpts{slug: "coach"})
		orig := MustStep(t, e.store, list, campaigns.Step{Subject: "Keep", Body: "Kept", DelayDays: 3, SendTime: "08:30", Weekdays: []string{"wed"}})
		ok := campaigns.Step{Subject: "Hi {{.FirstName}}", Body: "Body", DelayDays: 7, SendTime: "09:00"}
		for _, tt := range []struct {
			name string
			edit func(st *campaigns.Step, u *campaigns.StepUpdate)
		}{
			{"send_time 25:00", func(st *campaigns.Step, u *campaigns.StepUpdate) { st.SendTime = "25:00"; u.SendTime = ptr("25:00") }},
			{"send_time 9am", func(st *campaigns.Step, u *campaigns.StepUpdate) { st.SendTime = "9am"; u.SendTime = ptr("9am") }},
			{"send_time 09:60", func(st *campaigns.Step, u *campaigns.StepUpdate) { st.SendTime = "09:60"; u.SendTime = ptr("09:60") }},
			{"weekday funday", func(st *campaigns.Step, u *campaigns.StepUpdate) {
				st.Weekdays = []string{"mon", "funday"}
				u.Weekdays = &st.Weekdays
			}},
			{"delay -1", func(st *campaigns.Step, u *campaigns.StepUpdate) { st.DelayDays = -1; u.DelayDays = ptr(-1) }},
			{"delay 3651", func(st *campaigns.Step, u *campaigns.StepUpdate) { st.DelayDays = 3651; u.DelayDays = ptr(3651) }},
			{"empty subject", func(st *campaigns.Step, u *campaigns.StepUpdate) { st.Subject = " "; u.Subject = ptr(" ") }},
			{"two-line subject", func(st *campaigns.Step, u *campaigns.StepUpdate) {
				st.Subject = "a\r\nBcc: x@y"
				u.Subject = &st.Subject
			}},
			{"empty body", func(st *campaigns.Step, u *campaigns.StepUpdate) { st.Body = ""; u.Body = ptr("") }},
			{"subject does not parse", func(st *campaigns.Step, u *campaigns.StepUpdate) {
				st.Subject = "Hi {{.FirstName"
				u.Subject = &st.Subject
			}},
			{"body does not parse", func(st *campaigns.Step, u *campaigns.StepUpdate) {
				st.Body = "line\n{{if .Name}}no end"
				u.Body = &st.Body
			}},
			{"unknown field", func(st *campaigns.Step, u *campaigns.StepUpdate) { st.Body = "Hi {{.Nmae}}"; u.Body = &st.Body }},
			{"position -1", func(st *campaigns.Step, u *campaigns.StepUpdate) { st.Position = -1; u.Position = ptr(0) }},
		} {
			st := ok
			var u campaigns.StepUpdate
			tt.edit(&st, &u)
			if err := e.store.CreateStep(ctx, list, &st); tidings.ErrorCode(err) != tidings.EINVALID {
				t.Errorf("CreateStep with %s: err %v, want EINVALID", tt.name, err)
			} else if tidings.ErrorMessage(err) == "" {
				t.Errorf("CreateStep with %s: no message", tt.name)
			}
			if _, err := e.store.UpdateStep(ctx, list, orig.ID, u); tidings.ErrorCode(err) != tidings.EINVALID {
				t.Errorf("UpdateStep with %s: err %v, want EINVALID", tt.name, err)
			}
		}
		steps, err := e.store.Steps(ctx, list)
		if err != nil {
			t.Fatal(err)
		}
		if len(steps) != 1 || !reflect.DeepEqual(steps[0], orig) {
			t.Fatalf("steps changed: %+v, want only %+v", steps, orig)
		}
	})
}

func TestStore_UpdateStep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T12:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach"})
	st := MustStep(t, e.store, list, campaigns.Step{Subject: "Old", Body: "Old body", DelayDays: 3, SendTime: "08:30", Weekdays: []string{"wed"}})
	e.clock.Add(time.Hour)
	got, err := e.store.UpdateStep(ctx, list, st.ID, campaigns.StepUpdate{Subject: ptr("New"), SendTime: ptr(""), Weekdays: &[]string{}})
	if err != nil {
		t.Fatal(err)
	}
	want := *st
	want.Subject, want.SendTime, want.Weekdays, want.UpdatedAt = "New", "", []string{}, e.clock.Now()
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("got %+v, want %+v", got, &want)
	}
}

func TestStore_Bonuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, pgtest.MustOpenDB(t), "2026-03-02T12:00:00Z")
	list := MustList(t, e.db, listOpts{slug: "coach"})
	for _, s := range []string{"Checklist", "Workbook"} {
		if err := e.store.CreateBonus(ctx, list, &campaigns.Bonus{Subject: s, Body: "Here it is: [link](https://example.com/" + s + ")"}); err != nil {
			t.Fatal(err)
		}
	}
	first := &campaigns.Bonus{Subject: "Intro", Body: "First", Position: 1}
	if err := e.store.CreateBonus(ctx, list, first); err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateBonus(ctx, list, &campaigns.Bonus{Subject: "Bad {{", Body: "x"}); tidings.ErrorCode(err) != tidings.EINVALID {
		t.Fatalf("bad subject: %v", err)
	}
	if err := e.store.CreateBonus(ctx, 999, &campaigns.Bonus{Subject: "x", Body: "x"}); tidings.ErrorCode(err) != tidings.ENOTFOUND {
		t.Fatalf("unknown list: %v", err)
	}
	bs, err := e.store.Bonuses(ctx, list)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, b := range bs {
		if b.Position != i+1 {
			t.Fatalf("%q at %d", b.Subject, b.Position)
		}
		got = append(got, b.Subject)
	}
	if want := []string{"Intro", "Checklist", "Workbook"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("bonuses %q, want %q", got, want)
	}
	if !reflect.DeepEqual(bs[0], first) {
		t.Fatalf("got %+v, want %+v", bs[0], first)
	}
}
