package inbound

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// want is what a test checks of an Event: the fields exactly, Diagnostic
// and Text as prefixes.
type want struct {
	Kind         Kind
	Hard         bool
	Recipient    string
	Status       string
	MessageID    string
	FeedbackType string
	Diagnostic   string // prefix
	Subject      string
	Text         string // prefix
	At           time.Time
}

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// corpus maps each file of testdata/mail to the events Parse must return.
var corpus = map[string][]want{
	"gmail-dsn-user-unknown.eml": {{
		Kind: Bounce, Hard: true, Recipient: "reader.one@example.net", Status: "5.1.1",
		MessageID:  "<20250303091506.7f3a@news.example.com>",
		Diagnostic: "550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking",
		At:         date("2025-03-03T09:15:07Z"),
	}},
	"gmail-dsn-mailbox-full.eml": {{
		Kind: Bounce, Hard: false, Recipient: "full.box@example.net", Status: "5.2.2",
		MessageID:  "<20250304095958.0001@news.example.com>",
		Diagnostic: "552-5.2.2 The email account that you tried to reach is over quota and inactive.",
		At:         date("2025-03-04T10:00:00Z"),
	}},
	"gmail-dsn-delayed-over-quota.eml": {{
		Kind: Delayed, Recipient: "full.box@example.net", Status: "4.2.2",
		MessageID:  "<20250305100000.0002@news.example.com>",
		Diagnostic: "452-4.2.2 The recipient's inbox is out of storage space. 452 4.2.2 Please",
		At:         date("2025-03-05T14:00:00Z"),
	}},
	"office365-ndr.eml": {{
		Kind: Bounce, Hard: true, Recipient: "gone.reader@example.org", Status: "5.1.10",
		MessageID:  "<20250306110200.0003@news.example.com>",
		Diagnostic: "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
		At:         date("2025-03-06T11:02:00Z"),
	}},
	"exchange-onprem-ndr.eml": {{
		Kind: Bounce, Hard: true, Recipient: "max.mustermann@corp.example.org", Status: "5.1.1",
		MessageID:  "<20250307073009.0004@news.example.com>",
		Diagnostic: "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found",
		At:         date("2025-03-07T07:30:10Z"),
	}},
	"yahoo-failure-notice.eml": {{
		Kind: Bounce, Hard: true, Recipient: "nobody.here@yahoo.example", Status: "5.0.0",
		MessageID:  "<20250308120000.0005@news.example.com>",
		Diagnostic: "554: delivery error: dd This user doesn't have a yahoo.example account",
		At:         date("2025-03-08T12:00:04Z"),
	}},
	"yahoo-arf.eml": {{
		Kind: Complaint, Recipient: "angry.reader@yahoo.example", FeedbackType: "abuse",
		MessageID: "<20250309151900.0006@news.example.com>",
		At:        date("2025-03-09T15:19:00Z"),
	}},
	"postfix-failed.eml": {{
		Kind: Bounce, Hard: true, Recipient: "left.company@example.net", Status: "5.1.1",
		MessageID:  "<20250310090001.0007@news.example.com>",
		Diagnostic: "550 5.1.1 <left.company@example.net>: Recipient address rejected: User unknown in virtual mailbox table",
		At:         date("2025-03-10T09:00:01Z"),
	}},
	"postfix-delayed.eml": {{
		Kind: Delayed, Recipient: "slow.host@example.org", Status: "4.4.1",
		MessageID:  "<20250311090000.0008@news.example.com>",
		Diagnostic: "connect to mx.example.org[198.51.100.40]:25: Connection timed out",
		At:         date("2025-03-11T09:00:00Z"),
	}},
	"exim-failed.eml": {{
		Kind: Bounce, Hard: true, Recipient: "old.address@example.net", Status: "5.1.1",
		MessageID:  "<20250312164509.0009@news.example.com>",
		Diagnostic: "550 5.1.1 <old.address@example.net>: Recipient address rejected: User unknown",
		At:         date("2025-03-12T16:45:10Z"),
	}},
	"spam-block-5.7.1.eml": {{
		Kind: Bounce, Hard: false, Recipient: "careful.reader@example.org", Status: "5.7.1",
		MessageID:  "<20250313090958.0010@news.example.com>",
		Diagnostic: "554 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using dnsbl.example.org",
		At:         date("2025-03-13T09:09:58Z"),
	}},
	"arf-abuse.eml": {{
		Kind: Complaint, Recipient: "marked.spam@isp.example.net", FeedbackType: "abuse",
		MessageID: "<20250314195800.0011@news.example.com>",
		At:        date("2025-03-14T19:58:00Z"),
	}},
	"jmrp-complaint.eml": {{
		Kind: Complaint, Recipient: "junk.clicker@hotmail.example", FeedbackType: "abuse",
		MessageID: "<20250315140000.0012@news.example.com>",
		At:        date("2025-03-15T14:00:00Z"),
	}},
	"autoreply-rfc3834.eml": {{
		Kind: AutoReply, Recipient: "sam@example.net", Subject: "Out of Office: Week 16",
		MessageID: "<20250317075900.0013@news.example.com>",
		At:        date("2025-03-17T08:00:00Z"),
	}},
	"autoreply-outlook.eml": {{
		Kind: AutoReply, Recipient: "alex.example@example.org", Subject: "Automatic reply: Week 17",
		MessageID: "<20250318092900.0014@news.example.com>",
		At:        date("2025-03-18T09:30:00Z"),
	}},
	"autoreply-german.eml": {{
		Kind: AutoReply, Recipient: "kim@example.de", Subject: "Abwesenheitsnotiz: Woche 18",
		MessageID: "<20250319085900.0015@news.example.com>",
		At:        date("2025-03-19T09:00:00Z"),
	}},
	"reply-plain.eml": {{
		Kind: Reply, Recipient: "jo.reader@example.net", Subject: "Re: Week 19: one question",
		MessageID: "<20250320080000.0016@news.example.com>",
		Text:      "Thanks, this week's exercise helped a lot.\n\nOn Thu, 20 Mar 2025 at 08:00, Weekly Tips <tips@news.example.com> wrote:\n> Week nineteen",
		At:        date("2025-03-20T18:22:00Z"),
	}},
	"reply-html-only.eml": {{
		Kind: Reply, Recipient: "lee@example.org", Subject: "Re: Week 20",
		MessageID: "<20250321080000.0017@news.example.com>",
		Text:      "I tried it & it worked!\n\nLee",
		At:        date("2025-03-21T12:00:00Z"),
	}},
	"reply-latin1-qp.eml": {{
		Kind: Reply, Recipient: "rene@example.fr", Subject: "Re : Semaine 21 à la maison",
		MessageID: "<20250322080000.0018@news.example.com>",
		Text:      "Merci beaucoup, c\u00e9tait tr\u00e8s utile. J'ai d\u00e9j\u00e0 commenc\u00e9 \u00e0 le faire chaque matin.\n\nRen\u00e9",
		At:        date("2025-03-22T08:00:00Z"),
	}},
	"dsn-global-utf8.eml": {{
		Kind: Bounce, Hard: true, Recipient: "読者@例え.example", Status: "5.1.1",
		MessageID:  "<20250323015959.0019@news.example.com>",
		Diagnostic: "550 5.1.1 <読者@例え.example>: unknown user",
		At:         date("2025-03-23T01:59:59Z"),
	}},
	"dsn-three-recipients.eml": {
		{
			Kind: Bounce, Hard: true, Recipient: "one@example.net", Status: "5.1.2",
			MessageID:  "<20250324115900.0020@news.example.com>",
			Diagnostic: "550 5.1.2 Host unknown",
			At:         date("2025-03-24T11:59:00Z"),
		},
		{
			Kind: Delayed, Recipient: "two@example.net", Status: "4.7.0",
			MessageID:  "<20250324115900.0020@news.example.com>",
			Diagnostic: "421 4.7.0 Try again later",
			At:         date("2025-03-24T11:59:00Z"),
		},
	},
}

// corpusFiles returns the paths of testdata/mail.
func corpusFiles(tb testing.TB) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "mail", "*.eml"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no corpus: %v", err)
	}
	return files
}

// check compares got with want and returns what differs, or "".
func check(got []Event, want []want) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d events, want %d: %+v", len(got), len(want), got)
	}
	var diffs []string
	for i, g := range got {
		w := want[i]
		gw := wantOf(g)
		gw.Diagnostic, gw.Text = w.Diagnostic, w.Text
		if !strings.HasPrefix(g.Diagnostic, w.Diagnostic) {
			diffs = append(diffs, fmt.Sprintf("event %d: Diagnostic %q, want prefix %q", i, g.Diagnostic, w.Diagnostic))
		}
		if !strings.HasPrefix(g.Text, w.Text) || (w.Text == "" && g.Text != "") {
			diffs = append(diffs, fmt.Sprintf("event %d: Text %q, want prefix %q", i, g.Text, w.Text))
		}
		if !gw.At.Equal(w.At) {
			diffs = append(diffs, fmt.Sprintf("event %d: At %v, want %v", i, g.At, w.At))
		}
		gw.At = w.At
		if gw != w {
			diffs = append(diffs, fmt.Sprintf("event %d:\n got %+v\nwant %+v", i, gw, w))
		}
	}
	return strings.Join(diffs, "\n")
}

func wantOf(e Event) want {
	return want{
		Kind: e.Kind, Hard: e.Hard, Recipient: e.Recipient, Status: e.Status,
		MessageID: e.MessageID, FeedbackType: e.FeedbackType, Diagnostic: e.Diagnostic,
		Subject: e.Subject, Text: e.Text, At: e.At,
	}
}

func TestParse(t *testing.T) {
	files := corpusFiles(t)
	if len(files) != len(corpus) {
		t.Errorf("%d files in testdata/mail, %d in the table: each file needs its row", len(files), len(corpus))
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			wantEvents, ok := corpus[name]
			if !ok {
				t.Fatalf("%s has no row in the table", name)
			}
			got, err := Parse(raw)
			if err != nil {
				t.Fatalf("Parse(%s): %v", name, err)
			}
			if d := check(got, wantEvents); d != "" {
				t.Errorf("Parse(%s): %s", name, d)
			}
		})
	}
}

// TestParse_LineEndings shows that a message reads the same with LF line
// endings as with the CRLF of the wire.
func TestParse_LineEndings(t *testing.T) {
	for _, path := range corpusFiles(t) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		crlf := bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
		lf := bytes.ReplaceAll(crlf, []byte("\r\n"), []byte("\n"))
		a, errA := Parse(crlf)
		b, errB := Parse(lf)
		if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("%s: CRLF gives %+v, %v; LF gives %+v, %v", path, a, errA, b, errB)
		}
	}
}

// dsn returns a delivery status notification whose delivery-status part
// holds blocks, LF line endings.
func dsn(blocks ...string) []byte {
	return []byte("From: MAILER-DAEMON@mx.example.net\n" +
		"To: b-x@bounces.example.com\n" +
		"Subject: Undelivered Mail Returned to Sender\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n" +
		"\n" +
		"--b\nContent-Type: text/plain\n\nIt failed.\n" +
		"--b\nContent-Type: message/delivery-status\n\n" +
		"Reporting-MTA: dns; mx.example.net\n\n" +
		strings.Join(blocks, "\n") +
		"\n--b\nContent-Type: text/rfc822-headers\n\nMessage-ID: <m1@news.example.com>\n" +
		"--b--\n")
}

// TestParse_HugeDiagnostic shows a diagnostic cut to MaxDiagnostic at a
// rune boundary: the runes are two bytes each and the cut falls inside one.
func TestParse_HugeDiagnostic(t *testing.T) {
	long := "550 5.1.1 " + strings.Repeat("é", 3*MaxDiagnostic)
	got, err := Parse(dsn("Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; " + long + "\n"))
	if err != nil || len(got) != 1 {
		t.Fatalf("Parse = %+v, %v; want one event", got, err)
	}
	d := got[0].Diagnostic
	if len(d) > MaxDiagnostic || len(d) < MaxDiagnostic-1 || !utf8.ValidString(d) || !strings.HasPrefix(long, d) {
		t.Errorf("Diagnostic of %d bytes (valid UTF-8: %v); want a prefix of at most %d bytes cut at a rune", len(d), utf8.ValidString(d), MaxDiagnostic)
	}
}

// TestParse_DeepNesting shows that nesting past maxDepth is not followed:
// a report buried deeper is not read, and the message is a reply.
func TestParse_DeepNesting(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: someone@example.net\nSubject: deep\n")
	const depth = 5000
	for i := range depth {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"n%d\"\n\n--n%d\n", i, i)
	}
	b.WriteString("Content-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1\n")
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "\n--n%d--\n", i)
	}
	start := time.Now()
	got, err := Parse([]byte(b.String()))
	if err != nil || len(got) != 1 || got[0].Kind != Reply {
		t.Fatalf("Parse(%d levels) = %+v, %v; want one reply", depth, got, err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("Parse(%d levels) took %v", depth, time.Since(start))
	}
}

// TestParse_ManyParts shows that the walk stops at maxParts and that one
// report gives at most maxEvents events.
func TestParse_ManyParts(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: MAILER-DAEMON@mx.example.net\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"p\"\n\n")
	for range 10 * maxParts {
		b.WriteString("--p\nContent-Type: message/delivery-status\n\n")
		for range 50 {
			b.WriteString("Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1\n\n")
		}
	}
	b.WriteString("--p--\n")
	got, err := Parse([]byte(b.String()))
	if err != nil || len(got) != maxEvents {
		t.Fatalf("Parse = %d events, %v; want %d", len(got), err, maxEvents)
	}
}

// TestParse_NoEvents shows that a report naming nothing to act on gives no
// events and no error.
func TestParse_NoEvents(t *testing.T) {
	for _, raw := range [][]byte{
		dsn("Final-Recipient: rfc822; a@example.net\nAction: delivered\nStatus: 2.0.0\n"),
		dsn("Final-Recipient: rfc822; a@example.net\nAction: relayed\nStatus: 2.0.0\n",
			"Final-Recipient: rfc822; b@example.net\nAction: expanded\nStatus: 2.0.0\n"),
	} {
		if got, err := Parse(raw); err != nil || got != nil {
			t.Errorf("Parse(%q) = %+v, %v; want nil, nil", raw, got, err)
		}
	}
}

// TestParse_DSNFields shows the fallbacks of a recipient block: the
// Original-Recipient without a Final-Recipient, the status from the
// diagnostic when there is no Status, the class from the action when
// neither says.
func TestParse_DSNFields(t *testing.T) {
	for _, tc := range []struct {
		block string
		want  want
	}{
		{"Original-Recipient: rfc822; <Only.Original@Example.NET>\nAction: failed\nStatus: 5.1.1 (bad mailbox)\n",
			want{Kind: Bounce, Hard: true, Recipient: "only.original@example.net", Status: "5.1.1", MessageID: "<m1@news.example.com>"}},
		{"Final-Recipient: rfc822; a@example.net\nAction: failed\nDiagnostic-Code: smtp; 550 5.1.6 Mailbox moved\n",
			want{Kind: Bounce, Hard: true, Recipient: "a@example.net", Status: "5.1.6", MessageID: "<m1@news.example.com>", Diagnostic: "550 5.1.6 Mailbox moved"}},
		{"Final-Recipient: rfc822; a@example.net\nAction: failed\nDiagnostic-Code: smtp; 550 No such user here\n",
			want{Kind: Bounce, Hard: true, Recipient: "a@example.net", Status: "5.0.0", MessageID: "<m1@news.example.com>", Diagnostic: "550 No such user here"}},
		{"Final-Recipient: a@example.net\nAction: failed\n",
			want{Kind: Bounce, Recipient: "a@example.net", Status: "5.0.0", MessageID: "<m1@news.example.com>"}},
		{"Final-Recipient: rfc822; a@example.net\nAction: Delayed\n",
			want{Kind: Delayed, Recipient: "a@example.net", Status: "4.0.0", MessageID: "<m1@news.example.com>"}},
		{"Final-Recipient: rfc822; not an address\nAction: failed\nStatus: 4.4.7\nDiagnostic-Code: X-Postfix; delivery\n  temporarily suspended\n",
			want{Kind: Bounce, Status: "4.4.7", MessageID: "<m1@news.example.com>", Diagnostic: "delivery temporarily suspended"}},
	} {
		raw := dsn(tc.block)
		got, err := Parse(raw)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.block, err)
			continue
		}
		if d := check(got, []want{tc.want}); d != "" {
			t.Errorf("Parse(%q): %s", tc.block, d)
		}
	}
}

// TestParse_Bad shows that a message that cannot be read is an error that
// wraps ErrMessage.
func TestParse_Bad(t *testing.T) {
	for _, raw := range []string{
		"",
		"\r\n",
		"\r\nbody without a header",
		"Subject: a header and no blank line after it",
		"this is not a header line\r\n\r\nbody",
		" Folded: before any field\r\n\r\nbody",
		"Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\nno boundary parameter\r\n--x--\r\n",
		"Content-Type: multipart/mixed; boundary=x\r\n\r\nthe boundary never comes\r\n",
		"Content-Type: multipart/report; boundary=\"\"\r\n\r\n--\r\n\r\n----\r\n",
	} {
		got, err := Parse([]byte(raw))
		if err == nil || !errors.Is(err, ErrMessage) {
			t.Errorf("Parse(%q) = %+v, %v; want an ErrMessage", raw, got, err)
		}
	}
}

// TestParse_DSNWithoutOriginal shows the Message-ID taken from the
// per-message X-Original-Message-ID when the report encloses no copy.
func TestParse_DSNWithoutOriginal(t *testing.T) {
	raw := "From: mailer-daemon@googlemail.com\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n" +
		"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; googlemail.com\nX-Original-Message-ID: <w9@news.example.com>\n\n" +
		"Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1\n--b--\n"
	got, err := Parse([]byte(raw))
	if err != nil {
		t.Fatalf("Parse(%q): %v", raw, err)
	}
	if d := check(got, []want{{Kind: Bounce, Hard: true, Recipient: "a@example.net", Status: "5.1.1", MessageID: "<w9@news.example.com>"}}); d != "" {
		t.Errorf("Parse(%q): %s", raw, d)
	}
}
