package subscribers_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/internal/pgtest"
	"github.com/tidings/tidings/subscribers"
)

var importMeta = subscribers.Meta{IP: "198.51.100.4", UserAgent: "curl/8"}

// MustImport imports csv into list and fails the test on an error.
func (e *env) MustImport(tb testing.TB, list, csv string) *subscribers.ImportReport {
	tb.Helper()
	rep, err := e.store.Import(context.Background(), subscribers.ImportRequest{List: list, Meta: importMeta}, strings.NewReader(csv))
	if err != nil {
		tb.Fatalf("Import(%q):\n%s\n%v", list, csv, err)
	}
	return rep
}

// subscriberFields is what a test reads back of a subscriber.
type subscriberFields struct {
	Name     string `db:"name"`
	Timezone string `db:"timezone"`
	Tags     string `db:"tags"`
}

func (e *env) Subscriber(tb testing.TB, email string) subscriberFields {
	tb.Helper()
	var r subscriberFields
	if err := e.db.Get(&r, `SELECT name, timezone, array_to_string(tags, ',') AS tags FROM subscribers WHERE email = $1`, email); err != nil {
		tb.Fatalf("subscriber %s: %v", email, err)
	}
	return r
}

func TestStore_Import(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		list := e.MustCreateList(t, "news")
		e.MustCreateList(t, "tips")
		// The people the file meets: one on another list only, one pending,
		// one confirmed, one who left, one who bounced, one suppressed.
		e.MustConfirm(t, "tips", "known@b.com")
		if _, err := e.store.Tag(ctx, e.SubscriberID(t, "known@b.com"), []string{"old"}, nil); err != nil {
			t.Fatal(err)
		}
		e.MustSubscribe(t, "news", "pending@b.com")
		e.MustConfirm(t, "news", "confirmed@b.com")
		left := e.MustConfirm(t, "news", "left@b.com")
		if _, err := e.store.Unsubscribe(ctx, token(e.links.Unsubscribe(left)), "", testMeta); err != nil {
			t.Fatal(err)
		}
		e.MustConfirm(t, "news", "bounced@b.com")
		if err := e.store.Bounce(ctx, "bounced@b.com", "550 5.1.1"); err != nil {
			t.Fatal(err)
		}
		if err := e.store.Suppress(ctx, "blocked@b.com", "editor"); err != nil {
			t.Fatal(err)
		}
		pending := e.SubscriptionID(t, "news", "pending@b.com")
		confirmed := e.SubscriptionID(t, "news", "confirmed@b.com")
		e.rec.reset()
		e.clock.Add(time.Hour)

		// Columns in any order and case, a byte order mark, quoted cells,
		// a record over two lines, blank lines and a blank row.
		csv := "\ufeffTags, Email ,NAME,timezone\n" + // 1
			"vip;Early Bird| |vip;,new@Example.COM,\"Lovelace, Ada\",Europe/London\n" + // 2
			"\n" + // 3
			"webinar,known@b.com,Known Person,\n" + // 4
			",pending@b.com,,Asia/Tokyo\n" + // 5
			"x,confirmed@b.com,\"Con\n" + // 6
			"Firmed\",\n" + // 7: a name over two lines is rejected
			"x,confirmed@b.com,Con Firmed,\n" + // 8
			",left@b.com,Left,\n" + // 9
			",bounced@b.com,,\n" + // 10
			",blocked@b.com,,\n" + // 11
			",,,\n" + // 12
			",not-an-address,,\n" + // 13
			",new@example.com,,\n" // 14
		rep := e.MustImport(t, "news", csv)
		want := subscribers.ImportReport{Added: 2, Updated: 2, Skipped: 3, Rejected: 3}
		if rep.Added != want.Added || rep.Updated != want.Updated || rep.Skipped != want.Skipped || rep.Rejected != want.Rejected {
			t.Errorf("report %+v, want %+v", *rep, want)
		}
		wantRej := []struct {
			line   int
			email  string
			reason string
		}{
			{6, "confirmed@b.com", "name must be one line"},
			{13, "not-an-address", "not valid"},
			{14, "new@example.com", "already on line 2"},
		}
		if len(rep.Rejections) != len(wantRej) {
			t.Fatalf("rejections %+v, want %+v", rep.Rejections, wantRej)
		}
		for i, w := range wantRej {
			if r := rep.Rejections[i]; r.Line != w.line || r.Email != w.email || !strings.Contains(r.Reason, w.reason) {
				t.Errorf("rejection %d: %+v, want line %d, %q, a reason with %q", i, r, w.line, w.email, w.reason)
			}
		}

		for _, tt := range []struct {
			email string
			want  subscriberFields
		}{
			{"new@example.com", subscriberFields{"Lovelace, Ada", "Europe/London", "early bird,vip"}},
			{"known@b.com", subscriberFields{"Known Person", "", "old,webinar"}},
			{"pending@b.com", subscriberFields{"", "Asia/Tokyo", ""}},
			{"confirmed@b.com", subscriberFields{"Con Firmed", "", "x"}},
			{"left@b.com", subscriberFields{"", "", ""}},
		} {
			if got := e.Subscriber(t, tt.email); got != tt.want {
				t.Errorf("subscriber %s = %+v, want %+v", tt.email, got, tt.want)
			}
		}
		for email, status := range map[string]string{
			"new@example.com": "confirmed", "known@b.com": "confirmed", "pending@b.com": "confirmed",
			"confirmed@b.com": "confirmed", "left@b.com": "unsubscribed", "bounced@b.com": "bounced",
		} {
			if got := e.Status(t, e.SubscriptionID(t, "news", email)); got != status {
				t.Errorf("%s on news is %s, want %s", email, got, status)
			}
		}
		var n int
		e.db.Get(&n, `SELECT count(*) FROM subscribers WHERE email = 'blocked@b.com'`)
		if n != 0 {
			t.Error("a suppressed address was imported")
		}

		// One imported event for each subscription made or confirmed; none
		// for the one confirmed before.
		var events []subscribers.Event
		e.db.Select(&events, `SELECT id, subscription_id, subscriber_id, list_id, kind, at, ip, user_agent, form, reason
			FROM events WHERE at = $1 ORDER BY id`, e.clock.Now())
		if len(events) != 3 {
			t.Fatalf("%d new events, want 3: %+v", len(events), events)
		}
		for _, ev := range events {
			if ev.Kind != subscribers.EventImported || ev.ListID != list.ID || ev.Reason != "imported from CSV" ||
				ev.Form != "import" || ev.IP != importMeta.IP || ev.UserAgent != importMeta.UserAgent {
				t.Errorf("event %+v", ev)
			}
		}
		if events[2].SubscriptionID != pending {
			t.Errorf("events %+v: the last should be of the pending subscription %d (rows in line order)", events, pending)
		}
		if got := e.Kinds(t, confirmed); !equal(got, []string{"subscribed", "confirmation_requested", "confirmed"}) {
			t.Errorf("events of the confirmed subscription: %v", got)
		}
		// The hook saw each event inside the transaction, with the
		// effective time zone.
		if got := e.rec.kinds(); !equal(got, []string{"imported", "imported", "imported"}) {
			t.Fatalf("hook got %v", got)
		}
		for i, ev := range e.rec.events {
			if ev.ID != events[i].ID || ev.SubscriptionID != events[i].SubscriptionID || e.rec.seen[i] != "confirmed" {
				t.Errorf("hook event %d: %+v, saw %s", i, ev, e.rec.seen[i])
			}
		}
		if tz := []string{e.rec.events[0].Timezone, e.rec.events[1].Timezone, e.rec.events[2].Timezone}; !equal(tz, []string{"Europe/London", "America/New_York", "Asia/Tokyo"}) {
			t.Errorf("hook time zones %v", tz)
		}
	})

	t.Run("Idempotent", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		e.MustSubscribe(t, "news", "pending@b.com")
		csv := "email,name,tags\na@b.com,A,x\nb@b.com,,\npending@b.com,P,y|z\nbad,,\n"
		first := e.MustImport(t, "news", csv)
		if first.Added != 2 || first.Updated != 1 || first.Rejected != 1 {
			t.Fatalf("first import %+v", *first)
		}
		before := e.Counts(t)
		var updated time.Time
		e.db.Get(&updated, `SELECT max(updated_at) FROM subscribers`)
		e.rec.reset()
		e.clock.Add(time.Hour)

		// The same file again: everyone is confirmed now, nothing changes,
		// and no event is appended (no subscription changed).
		second := e.MustImport(t, "news", csv)
		if second.Added != 0 || second.Updated != 3 || second.Skipped != 0 || second.Rejected != 1 {
			t.Errorf("second import %+v", *second)
		}
		if after := e.Counts(t); after != before {
			t.Errorf("second import changed the counts %+v -> %+v", before, after)
		}
		var again time.Time
		e.db.Get(&again, `SELECT max(updated_at) FROM subscribers`)
		if !again.Equal(updated) {
			t.Errorf("second import rewrote subscribers: updated_at %v -> %v", updated, again)
		}
		if got := e.rec.kinds(); len(got) != 0 {
			t.Errorf("hook called with %v", got)
		}

		// A changed field is updated, still without an event.
		e.MustImport(t, "news", "email,name,tags\na@b.com,Anna,w\n")
		if got := e.Subscriber(t, "a@b.com"); got != (subscriberFields{"Anna", "", "w,x"}) {
			t.Errorf("after a changed import: %+v", got)
		}
		if c := e.Counts(t); c != before {
			t.Errorf("changed import: counts %+v -> %+v", before, c)
		}
	})

	t.Run("Rejected", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		// Each bad row sits between two good ones, so its line is known.
		for _, tt := range []struct {
			row, reason string
		}{
			{"Ada <ada@b.com>,,,", "not valid"},
			{"ada@localhost,,,", "not valid"},
			{",Nobody,,", "enter an email address"},
			{"a@b.com\u202e,,,", "not valid"},
			{"ok@b.com,,Mars/Base,", "not a known time zone"},
			{"ok@b.com,,Local,", "not a known time zone"},
			{"ok@b.com," + strings.Repeat("n", 201) + ",,", "name is too long"},
			{"ok@b.com,\"a\rb\",,", "one line"},
			{"ok@b.com,\xff,,", "not valid text"},
			{"ok@b.com,,,a/b", "may only use"},
			{"ok@b.com,,,<script>", "may only use"},
			{"ok@b.com,,,\"a,b\"", "may only use"},
			{"ok@b.com,,," + strings.Repeat("t", 51), "too long"},
			{"ok@b.com,,," + manyTags(51, ";"), "Too many tags"},
			{"ok@b.com,,,a\x00", "may only use"},
		} {
			before := e.Counts(t)
			csv := "email,name,timezone,tags\nfirst@b.com,,,\n" + tt.row + "\nlast@b.com,,,\n"
			rep, err := e.store.Import(ctx, subscribers.ImportRequest{List: "news", Meta: importMeta}, strings.NewReader(csv))
			if err != nil {
				t.Errorf("Import with row %q: %v", tt.row, err)
				continue
			}
			if rep.Rejected != 1 || len(rep.Rejections) != 1 || rep.Rejections[0].Line != 3 || !strings.Contains(rep.Rejections[0].Reason, tt.reason) {
				t.Errorf("row %q: report %+v, want line 3 rejected with %q", tt.row, *rep, tt.reason)
			}
			// first and last imported on the first round, then confirmed.
			if rep.Added+rep.Updated != 2 {
				t.Errorf("row %q: the good rows were not imported: %+v", tt.row, *rep)
			}
			var n int
			e.db.Get(&n, `SELECT count(*) FROM subscribers`)
			if n != 2 {
				t.Errorf("row %q: %d subscribers, want the 2 good ones (before: %+v)", tt.row, n, before)
			}
		}
	})

	t.Run("Series", func(t *testing.T) {
		t.Parallel()
		// Each event of an import carries what it chose for the series, for
		// the hook (campaigns' Queue) to act on; join when nothing is said.
		e := newEnv(t)
		e.MustCreateList(t, "news")
		for i, tt := range []struct{ series, want string }{
			{"", subscribers.SeriesJoin},
			{subscribers.SeriesWelcome, subscribers.SeriesWelcome},
			{subscribers.SeriesJoin, subscribers.SeriesJoin},
			{subscribers.SeriesNone, subscribers.SeriesNone},
		} {
			e.rec.mu.Lock()
			e.rec.events = nil
			e.rec.mu.Unlock()
			csv := fmt.Sprintf("email\na%d@b.com\nb%d@b.com\n", i, i)
			rep, err := e.store.Import(ctx, subscribers.ImportRequest{List: "news", Series: tt.series, Meta: importMeta}, strings.NewReader(csv))
			if err != nil || rep.Series != tt.want || rep.Added != 2 {
				t.Fatalf("Import with series %q = %+v, %v; want series %q", tt.series, rep, err, tt.want)
			}
			e.rec.mu.Lock()
			if len(e.rec.events) != 2 || e.rec.events[0].Series != tt.want || e.rec.events[1].Series != tt.want {
				t.Errorf("series %q: the hook saw %+v, want 2 events with series %q", tt.series, e.rec.events, tt.want)
			}
			e.rec.mu.Unlock()
		}
		before := e.Counts(t)
		for _, bad := range []string{"Welcome", "yes", "join ", "none\x00", "\xff"} {
			_, err := e.store.Import(ctx, subscribers.ImportRequest{List: "news", Series: bad}, strings.NewReader("email\nc@b.com\n"))
			if tidings.ErrorCode(err) != tidings.EINVALID || !strings.HasPrefix(tidings.ErrorMessage(err), "series must be welcome, join or none") {
				t.Errorf("Import with series %q = %v, want EINVALID naming series", bad, err)
			}
		}
		if after := e.Counts(t); after != before {
			t.Errorf("bad series changed %+v -> %+v", before, after)
		}
	})

	t.Run("RejectionsKept", func(t *testing.T) {
		t.Parallel()
		// The report lists the first MaxImportRejections rejections, in
		// line order whichever check refused them, and counts them all.
		e := newEnv(t)
		e.MustCreateList(t, "news")
		var b strings.Builder
		b.WriteString("email,timezone\nfirst@b.com,\n")
		const bad = subscribers.MaxImportRejections + 500
		for i := range bad {
			switch i % 3 {
			case 0:
				fmt.Fprintf(&b, "not-an-address-%d,\n", i)
			case 1:
				fmt.Fprintf(&b, "zone%d@b.com,Mars/Base%d\n", i, i)
			default:
				b.WriteString("FIRST@b.com,\n")
			}
		}
		b.WriteString("last@b.com,\n")
		rep := e.MustImport(t, "news", b.String())
		if rep.Added != 2 || rep.Rejected != bad || len(rep.Rejections) != subscribers.MaxImportRejections || !rep.RejectionsTruncated || rep.Stopped != nil {
			t.Fatalf("added %d, rejected %d, %d listed, truncated %v, stopped %+v; want 2, %d, %d, true, nil",
				rep.Added, rep.Rejected, len(rep.Rejections), rep.RejectionsTruncated, rep.Stopped, bad, subscribers.MaxImportRejections)
		}
		for i, r := range rep.Rejections {
			if r.Line != i+3 {
				t.Fatalf("rejection %d is of line %d, want %d", i, r.Line, i+3)
			}
		}
		if c := e.Counts(t); c.Subscribers != 2 {
			t.Errorf("counts %+v, want the 2 good rows", c)
		}
	})

	t.Run("TooManyTags", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		sub, err := e.store.Add(ctx, subscribers.AddRequest{Email: "full@b.com", Tags: strings.Split(manyTags(49, ";"), ";")})
		if err != nil {
			t.Fatal(err)
		}
		before := e.Counts(t)
		rep := e.MustImport(t, "news", "email,tags\nok@b.com,a;b\nfull@b.com,new1;new2\nfull2@b.com,tag1\n")
		if rep.Added != 2 || rep.Rejected != 1 || rep.Rejections[0].Line != 3 || rep.Rejections[0].Email != "full@b.com" ||
			!strings.Contains(rep.Rejections[0].Reason, "51 tags") {
			t.Errorf("report %+v", *rep)
		}
		got, _ := e.store.SubscriberByID(ctx, sub.ID)
		if len(got.Tags) != 49 || len(got.Subscriptions) != 0 {
			t.Errorf("the rejected subscriber changed: %+v", got)
		}
		if c := e.Counts(t); c.Subscribers != before.Subscribers+2 || c.Subscriptions != 2 {
			t.Errorf("counts %+v", c)
		}
	})

	t.Run("ErrMalformed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		e.MustImport(t, "news", "email\nthere@b.com\n")
		for _, tt := range []struct {
			csv  string
			want string // in the message
		}{
			{"", "empty"},
			{"\n\n", "empty"},
			{"ada@b.com,Ada\nbo@b.com,Bo\n", `unknown columns: "ada@b.com", "Ada"`},
			{"name,timezone\nAda,UTC\n", "no email column"},
			{"\n\nname,timezone\nAda,UTC\n", "line 3) has no email column"},
			{"email,name,phone,Fax\na@b.com,A,1,2\n", `unknown columns: "phone", "Fax"`},
			{"email,name,\na@b.com,A,\n", `unknown columns: ""`},
			{"email,Email\na@b.com,a@b.com\n", "twice"},
			{"email,\"name\nx@b.com,A\n", "line 1"},
			{"email,name\na@b.com,A\nb@b.com,\"Bo\n", "line 3"},
			{"email,name\na@b.com,A\nb@b.com,\"Bo\"x\n", "line 3"},
			{"email,name\na@b.com,A\nb@b.com,B\"o\n", "line 3"},
			{"email,name\na@b.com,\"A\nmulti\"\nb@b.com,B\"o\n", "line 4"},
			{"email,name\na@b.com,A\nb@b.com,B,extra\n", "line 3: the row has 3 fields, the header has 2"},
			{"email,name\na@b.com,A\nb@b.com,B\nc@b.com\n", "line 4: the row has 1 field,"},
			{"email,name\n" + strings.Repeat("z@b.com,Z\n", 3) + "\n\nw@b.com\n", "line 7"},
			{"email,name\r\na@b.com,A\r\nb@b.com\r\n", "line 3: the row has 1 field,"},
			// A row over 64 KiB, on one line or spread over many by a quoted cell.
			{"email,name\na@b.com,A\nb@b.com," + strings.Repeat("n", 65<<10) + "\n", "The row that starts on line 3 is longer than 64 KiB"},
			{"email,name\na@b.com,\"" + strings.Repeat("n\n", 33<<10) + "\"\n", "The row that starts on line 2 is longer than 64 KiB"},
		} {
			before := e.Counts(t)
			rep, err := e.store.Import(ctx, subscribers.ImportRequest{List: "news", Meta: importMeta}, strings.NewReader(tt.csv))
			if tidings.ErrorCode(err) != tidings.EINVALID || !strings.Contains(tidings.ErrorMessage(err), tt.want) {
				t.Errorf("Import(%q) = %+v, %v; want EINVALID with %q", tt.csv, rep, err, tt.want)
			}
			if after := e.Counts(t); after != before {
				t.Errorf("Import(%q) changed the counts %+v -> %+v", tt.csv, before, after)
			}
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		for _, slug := range []string{"nope", "", "Bad Slug"} {
			_, err := e.store.Import(ctx, subscribers.ImportRequest{List: slug, Meta: importMeta}, strings.NewReader("email\na@b.com\n"))
			wantCode(t, fmt.Sprintf("Import(%q)", slug), err, tidings.ENOTFOUND)
		}
	})

	t.Run("ErrRead", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		broken := errors.New("connection reset")
		r := io.MultiReader(strings.NewReader("email\na@b.com\n"), errReader{broken})
		_, err := e.store.Import(ctx, subscribers.ImportRequest{List: "news", Meta: importMeta}, r)
		if !errors.Is(err, broken) || tidings.ErrorCode(err) != tidings.EINTERNAL {
			t.Fatalf("Import(broken reader) = %v, want the read error", err)
		}
		if c := e.Counts(t); c != (counts{}) {
			t.Errorf("stored %+v", c)
		}
	})

	t.Run("ErrHook", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.MustCreateList(t, "news")
		e.rec.failOn = subscribers.EventImported
		_, err := e.store.Import(ctx, subscribers.ImportRequest{List: "news", Meta: importMeta}, strings.NewReader("email\na@b.com\nb@b.com\n"))
		if !errors.Is(err, errHook) {
			t.Fatalf("Import = %v, want the hook's error", err)
		}
		if c := e.Counts(t); c != (counts{}) {
			t.Errorf("stored %+v, want nothing: the hook's failure rolls the import back", c)
		}
	})
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// manyTags returns n distinct tags joined by sep.
func manyTags(n int, sep string) string {
	tags := make([]string, n)
	for i := range tags {
		tags[i] = fmt.Sprintf("tag%d", i)
	}
	return strings.Join(tags, sep)
}

// importCSV generates a CSV of n subscribers, with names, a few time zones
// and tags.
func importCSV(n int) string {
	var b strings.Builder
	b.WriteString("email,name,timezone,tags\n")
	zones := []string{"", "Europe/Berlin", "America/New_York", "Asia/Tokyo"}
	for i := range n {
		fmt.Fprintf(&b, "reader%d@example%d.com,Reader %d,%s,cohort-%d;imported\n", i, i%100, i, zones[i%len(zones)], i%10)
	}
	return b.String()
}

// BenchmarkStore_Import100k imports 100,000 new subscribers into a fresh
// database (Fresh), then the same file again over them (Again: every row
// matches a confirmed subscription). Run it with
//
//	go test -run '^$' -bench Import100k -benchtime 3x ./subscribers/
func BenchmarkStore_Import100k(b *testing.B) {
	const n = 100_000
	csv := importCSV(n)
	ctx := context.Background()
	var events int
	newStore := func(b *testing.B) (*subscribers.Store, *sqlx.DB) {
		db := pgtest.MustOpenDB(b)
		s := &subscribers.Store{DB: db, OnEvent: func(context.Context, *sqlx.Tx, subscribers.Event) error {
			events++
			return nil
		}}
		if err := s.CreateList(ctx, &subscribers.List{Slug: "news", Name: "News", FromEmail: "e@example.com"}); err != nil {
			b.Fatal(err)
		}
		return s, db
	}
	check := func(b *testing.B, rep *subscribers.ImportReport, added, updated int) {
		if rep.Added != added || rep.Updated != updated || rep.Rejected != 0 || rep.Skipped != 0 {
			b.Fatalf("report %+v", *rep)
		}
	}

	b.Run("Fresh", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			s, db := newStore(b)
			events = 0
			b.StartTimer()
			rep, err := s.Import(ctx, subscribers.ImportRequest{List: "news"}, strings.NewReader(csv))
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			check(b, rep, n, 0)
			var c int
			db.Get(&c, `SELECT count(*) FROM events WHERE kind = 'imported'`)
			if events != n || c != n {
				b.Fatalf("hook called %d times, %d events stored; want %d", events, c, n)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/import")
	})

	b.Run("Again", func(b *testing.B) {
		b.StopTimer()
		s, _ := newStore(b)
		if _, err := s.Import(ctx, subscribers.ImportRequest{List: "news"}, strings.NewReader(csv)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for range b.N {
			rep, err := s.Import(ctx, subscribers.ImportRequest{List: "news"}, strings.NewReader(csv))
			if err != nil {
				b.Fatal(err)
			}
			check(b, rep, 0, n)
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/import")
	})
}
