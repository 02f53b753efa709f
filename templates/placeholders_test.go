package templates

import (
	"encoding/hex"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestSplice: splice finds what the expression of the placeholders finds, in strings made to hold near misses: odd and
// upper-case hex, ends without starts, overlapping starts.
func TestSplice(t *testing.T) {
	re := regexp.MustCompile(placeholderStart + `((?:[0-9a-f]{2})*)` + placeholderEnd)
	want := func(s string) string {
		return re.ReplaceAllStringFunc(s, func(p string) string {
			return "<" + p[len(placeholderStart):len(p)-len(placeholderEnd)] + ">"
		})
	}
	got := func(s string) string {
		return splice(s, func(v string) string { return "<" + hex.EncodeToString([]byte(v)) + ">" })
	}
	for _, s := range []string{
		"", "plain", value("x").String(), "TDGqqTDG", "TDGq6qTDG", "TDGq6AqTDG", "TDGqTDGq61qTDG",
		"a " + value("Grace").String() + " b " + value("").String() + value("é").String() + " c",
		"TDGq61", "61qTDG", "TDGq6161qTDGqTDG", "TDGTDGq61qTDG",
	} {
		if g, w := got(s), want(s); g != w {
			t.Errorf("%q: got %q, want %q", s, g, w)
		}
	}
	pieces := []string{placeholderStart, placeholderEnd, "6", "1", "a", "f", "A", "g", "q", "T", "DG", " ", "é", value("v").String()}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b strings.Builder
		for range r.IntN(12) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		s := b.String()
		if g, w := got(s), want(s); g != w {
			t.Fatalf("%q: got %q, want %q", s, g, w)
		}
	}
}
