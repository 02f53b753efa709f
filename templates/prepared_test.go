package templates_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/templates"
)

// spliceContents exercise what could tell a slot from a value: links whose
// text is their address, headings whose underline depends on a name,
// comparisons of fields, raw HTML, code, and the links in the footer.
var spliceContents = []templates.Content{
	content,
	{
		Subject:   `{{.Name}} <{{.Email}}> {{if eq .FirstName .Name}}(one name){{end}}`,
		Preheader: "News for you",
		Body: "# Hello {{.Name}}\n\n## {{or .FirstName \"Friend\"}} & co\n\nSetext {{.FirstName}}\n===\n\n" +
			"[{{.Email}}](mailto:{{.Email}}) and {{.Email}}\n\n" +
			"[{{.UnsubscribeURL}}]({{.UnsubscribeURL}}) · <{{.PreferencesURL}}> · {{.UnsubscribeURL}}.\n\n" +
			"`{{.Name}}` _{{.FirstName}}_ **{{.Name}}**\n\n" +
			"<div title=\"{{.Name}}\"><a href=\"{{.UnsubscribeURL}}\">{{.Name}}</a></div>\n\n" +
			"| who | mail |\n|---|---|\n| {{.Name}} | {{.Email}} |\n\n" +
			"{{if .Name}}Dear {{.Name}}{{else}}Dear reader{{end}}, {{len .Name}} {{slice .UnsubscribeURL 0 1}}\n",
	},
	{Subject: "s", Body: "b"},
}

var spliceRecipients = func() []templates.Recipient {
	var out []templates.Recipient
	for _, name := range []string{
		"Ada Lovelace", "", "Ada", "  Grace   Hopper ", "Zoë Ünïcode-Łukasz 山田",
		`<script>alert(1)</script> **bold** [x](http://evil.example) & "q" 'a'`,
		"TDGq3c623eqTDG", "TDGs0sTDG Mallory", "TDGue3c623euTDG", "_under_ *star*",
	} {
		for i, email := range []string{"ada@example.com", `"><img src=x onerror=alert(1)>@example.com`} {
			to := recipient
			to.Name, to.Email = name, email
			to.UnsubscribeURL = fmt.Sprintf("https://news.example.com/unsubscribe/eyJwIjoxfQ.a_b-c_d%d%s", i, strings.Repeat("x", len(name)%5))
			out = append(out, to)
		}
	}
	odd := recipient
	odd.UnsubscribeURL = "u" // not a token: used as it is
	odd.PreferencesURL = ""
	same := recipient
	same.PreferencesURL = same.UnsubscribeURL
	return append(out, odd, same)
}()

// TestPrepared_For holds For to the direct rendering (no slots, links as they
// are) for many recipients through one Prepared, so most are spliced into a
// kept layout.
func TestPrepared_For(t *testing.T) {
	t.Parallel()
	r := MustNewRenderer(t)
	for i, c := range spliceContents {
		p, err := r.Prepare(c, list)
		if err != nil {
			t.Fatal(err)
		}
		for _, to := range spliceRecipients {
			got, err := p.For(to)
			if err != nil {
				t.Fatalf("content %d, %q: %v", i, to.Name, err)
			}
			want, err := r.RenderDirect(c, list, to)
			if err != nil {
				t.Fatal(err)
			}
			if got.Subject != want.Subject {
				t.Errorf("content %d, name %q: Subject = %q, want %q", i, to.Name, got.Subject, want.Subject)
			}
			if got.HTML != want.HTML {
				t.Errorf("content %d, name %q: HTML differs from Render's:\n%s", i, to.Name, diff(want.HTML, got.HTML))
			}
			if got.Text != want.Text {
				t.Errorf("content %d, name %q: Text differs from Render's:\n%s", i, to.Name, diff(want.Text, got.Text))
			}
			if r, err := r.Render(c, list, to); err != nil || r.HTML != got.HTML || r.Text != got.Text || r.Subject != got.Subject {
				t.Errorf("content %d, name %q: Render differs from For (%v)", i, to.Name, err)
			}
		}
	}
}

// TestPrepared_For_Tokens shows a link token stands in a slot: a second
// recipient's message carries their own links and none of the first's.
func TestPrepared_For_Tokens(t *testing.T) {
	t.Parallel()
	r := MustNewRenderer(t)
	p, err := r.Prepare(templates.Content{Subject: "s", Body: "Leave: {{.UnsubscribeURL}}"}, list)
	if err != nil {
		t.Fatal(err)
	}
	a, b := recipient, recipient
	b.UnsubscribeURL = "https://news.example.com/unsubscribe/eyJwIjoyfQ.other_token-2"
	b.PreferencesURL = "https://news.example.com/preferences/eyJwIjoyfQ.prefs_token-2"
	ma, _ := p.For(a)
	mb, err := p.For(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{mb.HTML, mb.Text} {
		if strings.Contains(s, "a_b-c_d") || strings.Contains(s, "e_f-g") || !strings.Contains(s, "other_token-2") || !strings.Contains(s, "prefs_token-2") {
			t.Errorf("second message does not carry only its own links:\n%s", s)
		}
		if strings.Contains(s, "TDG") {
			t.Errorf("a slot was left in:\n%s", s)
		}
	}
	if !strings.Contains(mb.HTML, `<a href="https://news.example.com/unsubscribe/eyJwIjoyfQ.other_token-2"`) || !strings.Contains(ma.HTML, `<a href="`+a.UnsubscribeURL+`"`) {
		t.Errorf("the footer links are not each recipient's own")
	}
}

func TestPrepared_ErrInvalid(t *testing.T) {
	t.Parallel()
	r := MustNewRenderer(t)
	if _, err := r.Prepare(templates.Content{Subject: "{{.Foo}}", Body: "b"}, list); tidings.ErrorCode(err) != tidings.EINVALID {
		t.Errorf("Prepare with a bad subject: %v, want %s", err, tidings.EINVALID)
	}
	p, err := r.Prepare(templates.Content{Subject: "s", Body: "{{slice .FirstName 0 1}}"}, list)
	if err != nil {
		t.Fatal(err)
	}
	to := recipient
	to.Name = ""
	if _, err := p.For(to); tidings.ErrorCode(err) != tidings.EINVALID || !strings.Contains(tidings.ErrorMessage(err), "body line 1") {
		t.Errorf("For failing to execute: %v, want %s naming the line", err, tidings.EINVALID)
	}
	to.Name, to.UnsubscribeURL = "Ada", ""
	if _, err := p.For(to); tidings.ErrorCode(err) != tidings.EINVALID {
		t.Errorf("For without an unsubscribe link: %v, want %s", err, tidings.EINVALID)
	}
}

// TestPrepared_Concurrent fills one Prepared from many goroutines for the race
// detector, each recipient seeing only their own name and link.
func TestPrepared_Concurrent(t *testing.T) {
	t.Parallel()
	r := MustNewRenderer(t)
	p, err := r.Prepare(content, list)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			to := recipient
			to.Name = fmt.Sprintf("Reader%d Smith", i)
			to.UnsubscribeURL = fmt.Sprintf("https://news.example.com/unsubscribe/eyJwIjoxfQ.tok_%d-x", i)
			m, err := p.For(to)
			if err != nil {
				t.Error(err)
				return
			}
			if want := fmt.Sprintf("Hi Reader%d,", i); !strings.Contains(m.HTML, want) || !strings.Contains(m.Text, want) || !strings.Contains(m.HTML, to.UnsubscribeURL) {
				t.Errorf("message for %q lacks %q or its link", to.Name, want)
			}
		})
	}
	wg.Wait()
}

// BenchmarkPrepared_For measures one recipient of a prepared broadcast: two
// template executions and the splice (compare BenchmarkRenderer_Render).
func BenchmarkPrepared_For(b *testing.B) {
	r := MustNewRenderer(b)
	p, err := r.Prepare(content, list)
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		to := recipient
		to.UnsubscribeURL = fmt.Sprintf("https://news.example.com/unsubscribe/eyJwIjoxfQ.tok_%d-x", i)
		i++
		if _, err := p.For(to); err != nil {
			b.Fatal(err)
		}
	}
}
