package templates_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/templates"
)

// TestPreparedConfirmation_For holds the spliced confirmation to the one
// Renderer.Confirmation renders whole, byte for byte, for many readers
// through one PreparedConfirmation per list: names and addresses with
// markup, Unicode and text that looks like a slot or a placeholder, links
// that are tokens and links that are not, and lists whose own fields look
// like slots.
func TestPreparedConfirmation_For(t *testing.T) {
	t.Parallel()
	r := MustNewRenderer(t)
	lists := []templates.List{
		list,
		{Name: "Notes & <Letters>", PostalAddress: "1 Road"},
		{Name: "TDGs0sTDG list", FromName: "TDGq41qTDG", PostalAddress: "TDGs1sTDG\nTDGue41uTDG"},
	}
	for li, l := range lists {
		p := r.PrepareConfirmation(l)
		for i, to := range spliceRecipients {
			for j, confirm := range []string{
				fmt.Sprintf("https://news.example.com/confirm/eyJwIjoyfQ.c_d-e%d", i),
				"https://news.example.com/confirm/t", // not a token: used as it is
				to.UnsubscribeURL,                    // one slot for both
			} {
				for _, unsub := range []string{"", to.UnsubscribeURL} {
					to := to
					to.UnsubscribeURL = unsub
					want, err := r.Confirmation(l, to, confirm)
					if err != nil {
						t.Fatal(err)
					}
					got, err := p.For(to, confirm)
					if err != nil {
						t.Fatal(err)
					}
					if *got != *want {
						t.Fatalf("list %d, reader %d %q <%s>, link %d: spliced differs from whole:\n%s", li, i, to.Name, to.Email, j, firstDiff(got, want))
					}
				}
			}
		}
	}
}

func TestPreparedConfirmation_ErrNoLink(t *testing.T) {
	t.Parallel()
	p := MustNewRenderer(t).PrepareConfirmation(list)
	if _, err := p.For(recipient, ""); tidings.ErrorCode(err) != tidings.EINVALID {
		t.Fatalf("got %v, want EINVALID", err)
	}
}

// firstDiff shows where two messages first differ.
func firstDiff(got, want *templates.Message) string {
	for _, f := range []struct{ name, got, want string }{
		{"subject", got.Subject, want.Subject}, {"html", got.HTML, want.HTML}, {"text", got.Text, want.Text},
	} {
		if f.got == f.want {
			continue
		}
		i := 0
		for i < len(f.got) && i < len(f.want) && f.got[i] == f.want[i] {
			i++
		}
		from := max(0, i-80)
		return fmt.Sprintf("%s at %d:\ngot  %q\nwant %q", f.name, i, f.got[from:min(len(f.got), i+80)], f.want[from:min(len(f.want), i+80)])
	}
	return ""
}

// BenchmarkPreparedConfirmation compares one confirmation rendered whole
// with one spliced into a kept layout.
func BenchmarkPreparedConfirmation(b *testing.B) {
	r := MustNewRenderer(b)
	to := recipient
	confirm := "https://news.example.com/confirm/eyJwIjoyfQ.c_d-e" + strings.Repeat("x", 10)
	b.Run("Whole", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.Confirmation(list, to, confirm); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Spliced", func(b *testing.B) {
		p := r.PrepareConfirmation(list)
		for b.Loop() {
			if _, err := p.SplicedFor(to, confirm); err != nil {
				b.Fatal(err)
			}
		}
	})
}
