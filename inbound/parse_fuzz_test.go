package inbound

import (
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse feeds Parse the corpus and what the fuzzer makes of it, and
// checks that it never panics and that every event keeps the invariants the
// callers rely on.
func FuzzParse(f *testing.F) {
	for _, path := range corpusFiles(f) {
		raw, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		events, err := Parse(raw)
		if err != nil {
			if events != nil {
				t.Fatalf("Parse(%q) = %+v with error %v", raw, events, err)
			}
			return
		}
		if len(events) > maxEvents {
			t.Fatalf("Parse(%q) = %d events, more than %d", raw, len(events), maxEvents)
		}
		for _, ev := range events {
			switch ev.Kind {
			case Bounce, Complaint, Reply, AutoReply, Delayed:
			default:
				t.Fatalf("Parse(%q): Kind %q", raw, ev.Kind)
			}
			if ev.Hard && ev.Kind != Bounce {
				t.Fatalf("Parse(%q): Hard %s", raw, ev.Kind)
			}
			if len(ev.Diagnostic) > MaxDiagnostic || len(ev.Text) > MaxText || len(ev.Subject) > maxSubject {
				t.Fatalf("Parse(%q): Diagnostic %d, Text %d, Subject %d bytes", raw, len(ev.Diagnostic), len(ev.Text), len(ev.Subject))
			}
			for name, s := range map[string]string{
				"Recipient": ev.Recipient, "Diagnostic": ev.Diagnostic, "Subject": ev.Subject,
				"Text": ev.Text, "MessageID": ev.MessageID, "Status": ev.Status, "FeedbackType": ev.FeedbackType,
			} {
				if !utf8.ValidString(s) {
					t.Fatalf("Parse(%q): %s %q is not UTF-8", raw, name, s)
				}
			}
			if ev.Recipient != strings.ToLower(ev.Recipient) || (ev.Recipient != "" && !strings.Contains(ev.Recipient, "@")) {
				t.Fatalf("Parse(%q): Recipient %q", raw, ev.Recipient)
			}
			if ev.MessageID != "" && (!strings.HasPrefix(ev.MessageID, "<") || !strings.HasSuffix(ev.MessageID, ">")) {
				t.Fatalf("Parse(%q): MessageID %q", raw, ev.MessageID)
			}
			if ev.Status != "" {
				if _, _, _, ok := splitStatus(ev.Status); !ok {
					t.Fatalf("Parse(%q): Status %q", raw, ev.Status)
				}
			}
		}
	})
}
