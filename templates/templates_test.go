package templates_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/templates"
	"golang.org/x/net/html"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// list is the list every test renders for.
var list = templates.List{
	Name:          "Small Steps",
	FromName:      "Maya Okafor",
	PostalAddress: "Small Steps Coaching\n12 Harbour Lane\nBristol BS1 4RN, United Kingdom",
}

// recipient is a typical subscriber. The token carries '_' and '-' like a
// real base64url token, to show they survive Markdown.
var recipient = templates.Recipient{
	Email:          "ada@example.com",
	Name:           "Ada Lovelace",
	UnsubscribeURL: "https://news.example.com/unsubscribe/eyJwIjoxfQ.a_b-c_d",
	PreferencesURL: "https://news.example.com/preferences/eyJwIjoxfQ.e_f-g",
}

// content is a representative sequence step.
var content = templates.Content{
	Subject:   `{{or .FirstName "Hello"}}, week 3: the two-minute rule`,
	Preheader: "Start so small you can't say no.",
	Body: `Hi {{or .FirstName "there"}},

Last week we looked at *why* habits stick. This week is about **starting**.

# The two-minute rule

Any new habit should take less than two minutes to start. Some examples:

- "Read before bed" becomes "read one page"
- "Run three times a week" becomes "put on my running shoes"
  1. lay them out the night before
  2. put them on after breakfast
- ~~Do yoga~~ Roll out the mat

## Why it works

> The secret of getting ahead is getting started.

Read the [full article](https://blog.example.com/two-minute-rule?ref=mail&week=3) or see https://example.com/notes.

| Day | Habit |
|-----|-------|
| Mon | 1 page |
| Tue | 2 pages |

` + "```" + `
habit := "tiny"
` + "```" + `

---

Reply to this email and tell me yours. Your address on file is {{.Email}}.

Changed your mind? [Unsubscribe]({{.UnsubscribeURL}}) at any time.
`,
}

func MustNewRenderer(tb testing.TB) *templates.Renderer {
	tb.Helper()
	r, err := templates.NewRenderer()
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(tb testing.TB, name, got string) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		tb.Errorf("%s differs from the golden file (run go test -update to accept):\n%s", name, diff(string(want), got))
	}
}

// diff shows the first differing line.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\nwant: %s\ngot:  %s", i+1, wl, gl)
		}
	}
	return "(no line differs)"
}

func TestRenderer_Render(t *testing.T) {
	t.Parallel()
	r := MustNewRenderer(t)

	t.Run("Golden", func(t *testing.T) {
		t.Parallel()
		m, err := r.Render(content, list, recipient)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := m.Subject, "Ada, week 3: the two-minute rule"; got != want {
			t.Errorf("Subject = %q, want %q", got, want)
		}
		golden(t, "message.html", m.HTML)
		golden(t, "message.txt", m.Text)
	})
}

func TestRenderer_Confirmation(t *testing.T) {
	t.Parallel()
	r := MustNewRenderer(t)
	to := templates.Recipient{Email: "ada@example.com", Name: "Ada Lovelace"}
	m, err := r.Confirmation(list, to, "https://news.example.com/confirm/eyJwIjoxfQ.x_y-z")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Subject, "Confirm your subscription to Small Steps"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	golden(t, "confirmation.html", m.HTML)
	golden(t, "confirmation.txt", m.Text)
}

func TestRenderer_Render_Injection(t *testing.T) {
	t.Parallel()
	r := MustNewRenderer(t)
	const evil = `<script>alert(1)</script> **bold** [x](http://evil.example)`
	to := recipient
	to.Name = evil
	to.Email = `"><img src=x onerror=alert(1)>@example.com`
	c := templates.Content{
		Subject: `Hi {{.Name}}`,
		Body: "Hello {{.Name}}, _{{.FirstName}}_\n\n" +
			"# {{.Name}}\n\n" +
			"- {{.Name}}\n\n" +
			"[mail]({{.Email}}) `{{.Name}}`\n\n" +
			"<div title=\"{{.Name}}\">{{.Name}}</div>\n\n" +
			"<p title={{.Email}}>raw</p>\n",
	}
	m, err := r.Render(c, list, to)
	if err != nil {
		t.Fatal(err)
	}
	// Parse the HTML as a mail client would and look at what it builds.
	doc, err := html.Parse(strings.NewReader(m.HTML))
	if err != nil {
		t.Fatal(err)
	}
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch n.Data {
		case "script", "strong", "img":
			t.Errorf("HTML has a <%s> element", n.Data)
		}
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") || a.Key == "src" {
				t.Errorf("HTML has an attribute %s=%q on <%s>", a.Key, a.Val, n.Data)
			}
			if a.Key == "href" && strings.Contains(a.Val, "evil.example") {
				t.Errorf("HTML links to %q", a.Val)
			}
		}
	}
	if !strings.Contains(m.HTML, "&lt;script&gt;alert(1)&lt;/script&gt; **bold** [x](http://evil.example)") {
		t.Errorf("HTML does not show the name as escaped text:\n%s", m.HTML)
	}
	if got, want := m.Subject, "Hi "+evil; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	if !strings.Contains(m.Text, "Hello "+evil+", <script>alert(1)</script>") {
		t.Errorf("Text does not show the name literally:\n%s", m.Text)
	}
	if strings.Contains(m.HTML, "TDGq") || strings.Contains(m.Text, "TDGq") || strings.Contains(m.Subject, "TDGq") {
		t.Errorf("a placeholder was left in the message:\n%s\n%s", m.HTML, m.Text)
	}
}

// TestRenderer_Render_PlaceholderLookalike shows that a name that looks like
// an internal placeholder is shown as it is, not decoded.
func TestRenderer_Render_PlaceholderLookalike(t *testing.T) {
	t.Parallel()
	r := MustNewRenderer(t)
	to := recipient
	to.Name = "TDGq3c623eqTDG" // the placeholder of "<b>"
	m, err := r.Render(templates.Content{Subject: "{{.Name}}", Body: "Hi {{.Name}}"}, list, to)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != to.Name || !strings.Contains(m.HTML, ">Hi TDGq3c623eqTDG</p>") || !strings.HasPrefix(m.Text, "Hi TDGq3c623eqTDG\n") {
		t.Errorf("the name was not kept as it is:\nsubject %q\n%s\n%s", m.Subject, m.HTML, m.Text)
	}
}

func TestRenderer_Render_FirstNameFallback(t *testing.T) {
	t.Parallel()
	r := MustNewRenderer(t)
	c := templates.Content{
		Subject: `{{or .FirstName "Friend"}}, your week`,
		Body:    `Hi {{or .FirstName "there"}}!{{if eq .FirstName "Ada"}} Welcome back, Ada.{{end}} ({{len .Name}})`,
	}
	for _, tt := range []struct {
		name, subject, greeting string
	}{
		{"Ada Lovelace", "Ada, your week", "Hi Ada! Welcome back, Ada. (12)"},
		{"  Grace   Hopper ", "Grace, your week", "Hi Grace! (17)"},
		{"", "Friend, your week", "Hi there! (0)"},
	} {
		to := recipient
		to.Name = tt.name
		m, err := r.Render(c, list, to)
		if err != nil {
			t.Fatalf("name %q: %v", tt.name, err)
		}
		if m.Subject != tt.subject {
			t.Errorf("name %q: Subject = %q, want %q", tt.name, m.Subject, tt.subject)
		}
		if !strings.Contains(m.Text, tt.greeting+"\n") {
			t.Errorf("name %q: Text does not start with %q:\n%s", tt.name, tt.greeting, m.Text)
		}
		if !strings.Contains(m.HTML, ">"+tt.greeting+"</p>") {
			t.Errorf("name %q: HTML does not contain %q", tt.name, tt.greeting)
		}
	}
}

func TestRenderer_Render_Footer(t *testing.T) {
	t.Parallel()
	r := MustNewRenderer(t)
	for _, tt := range []struct {
		name        string
		preferences string
	}{
		{"WithPreferences", recipient.PreferencesURL},
		{"WithoutPreferences", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			to := recipient
			to.PreferencesURL = tt.preferences
			m, err := r.Render(templates.Content{Subject: "s", Body: "b"}, list, to)
			if err != nil {
				t.Fatal(err)
			}
			html, text := m.HTML, m.Text
			if !strings.Contains(html, `<a href="`+to.UnsubscribeURL+`"`) || !strings.Contains(html, ">Unsubscribe</a>") {
				t.Errorf("HTML has no unsubscribe link:\n%s", html)
			}
			if !strings.Contains(text, "Unsubscribe: "+to.UnsubscribeURL+"\n") {
				t.Errorf("Text has no unsubscribe URL:\n%s", text)
			}
			if got := strings.Contains(html, ">Preferences</a>"); got != (tt.preferences != "") {
				t.Errorf("HTML has a preferences link: %v, want %v", got, tt.preferences != "")
			}
			if got := strings.Contains(text, "Preferences: "); got != (tt.preferences != "") {
				t.Errorf("Text has a preferences link: %v, want %v", got, tt.preferences != "")
			}
			for _, line := range strings.Split(list.PostalAddress, "\n") {
				if !strings.Contains(html, line) {
					t.Errorf("HTML lacks postal address line %q", line)
				}
				if !strings.Contains(text, "\n"+line+"\n") {
					t.Errorf("Text lacks postal address line %q", line)
				}
			}
			if !strings.Contains(html, "Small Steps<br/>Small Steps Coaching<br/>12 Harbour Lane") {
				t.Errorf("HTML footer does not show the list name and address lines")
			}
		})
	}
}

func TestRenderer_Render_InlinesCSS(t *testing.T) {
	t.Parallel()
	r := MustNewRenderer(t)
	m, err := r.Render(content, list, recipient)
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{
		`<body style="[^"]*background-color:#f2f3f5`,
		`<table role="presentation" class="wrapper"[^>]* style="[^"]*width:100%`,
		`<table role="presentation" class="container"[^>]* style="[^"]*width:600px`,
		`<td class="card" style="[^"]*font-size:16px`,
		`<p style="margin:0 0 18px 0">Hi Ada,</p>`,
		`<span class="preheader" style="display:none;[^"]*">Start so small you can&#39;t say no.`,
	} {
		if !regexp.MustCompile(re).MatchString(m.HTML) {
			t.Errorf("HTML does not match %q", re)
		}
	}
	// Only the media query is left in a <style> element.
	styles := regexp.MustCompile(`(?s)<style[^>]*>(.*?)</style>`).FindAllStringSubmatch(m.HTML, -1)
	for _, s := range styles {
		if !strings.HasPrefix(strings.TrimSpace(s[1]), "@media") {
			t.Errorf("a <style> element holds more than media queries:\n%s", s[1])
		}
	}
}

func TestRenderer_Render_Links(t *testing.T) {
	t.Parallel()
	r := MustNewRenderer(t)
	c := templates.Content{
		Subject: "s",
		Body: "[Unsubscribe]({{.UnsubscribeURL}}) and {{.PreferencesURL}}\n\n" +
			"[Write to me](mailto:coach@example.com) or <coach@example.com>\n\n" +
			"[https://example.com/a](https://example.com/a) and [Top](#top)\n\n" +
			"![A chart](https://example.com/chart.png)\n\n" +
			"<p>Raw <a href=\"https://example.com/raw\">HTML link</a><br>next line</p>\n",
	}
	m, err := r.Render(c, list, recipient)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Unsubscribe (" + recipient.UnsubscribeURL + ") and " + recipient.PreferencesURL + "\n",
		"Write to me (mailto:coach@example.com) or coach@example.com\n",
		"https://example.com/a and Top\n",
		"A chart\n",
		"Raw HTML link (https://example.com/raw)\nnext line\n",
	} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("Text lacks %q:\n%s", want, m.Text)
		}
	}
	if !strings.Contains(m.HTML, `<a href="`+recipient.PreferencesURL+`"`) {
		t.Errorf("HTML does not link the bare preferences URL:\n%s", m.HTML)
	}
}

func TestRenderer_Render_ErrInvalid(t *testing.T) {
	t.Parallel()
	r := MustNewRenderer(t)
	for _, tt := range []struct {
		content templates.Content
		to      templates.Recipient
		want    string
	}{
		{templates.Content{Subject: "Hi {{.Foo}}", Body: "b"}, recipient, "subject line 1: unknown field .Foo"},
		{templates.Content{Subject: "s", Body: "a\n{{.Name"}, recipient, "body line 2: "},
		{templates.Content{Subject: "s", Body: "{{slice .FirstName 0 1}}"}, templates.Recipient{Email: "a@example.com", UnsubscribeURL: "u"}, "body line 1: {{slice .FirstName 0 1}}: error calling slice"},
		{templates.Content{Subject: "s", Body: "b"}, templates.Recipient{Email: "a@example.com"}, "no unsubscribe link"},
	} {
		_, err := r.Render(tt.content, list, tt.to)
		if code := tidings.ErrorCode(err); code != tidings.EINVALID {
			t.Errorf("Render(%q, %q) error = %v, want code %s", tt.content.Subject, tt.content.Body, err, tidings.EINVALID)
		} else if msg := tidings.ErrorMessage(err); !strings.Contains(msg, tt.want) {
			t.Errorf("Render(%q, %q) message = %q, want it to contain %q", tt.content.Subject, tt.content.Body, msg, tt.want)
		}
	}
}

// TestRenderer_Render_Concurrent renders from many goroutines for the race
// detector, each recipient seeing only their own name.
func TestRenderer_Render_Concurrent(t *testing.T) {
	t.Parallel()
	r := MustNewRenderer(t)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			to := recipient
			to.Name = fmt.Sprintf("Reader%d Smith", i)
			m, err := r.Render(content, list, to)
			if err != nil {
				t.Error(err)
				return
			}
			if want := fmt.Sprintf("Hi Reader%d,", i); !strings.Contains(m.HTML, want) || !strings.Contains(m.Text, want) {
				t.Errorf("message for %q lacks %q", to.Name, want)
			}
		})
	}
	wg.Wait()
}

func TestRenderer_Confirmation_Injection(t *testing.T) {
	t.Parallel()
	r := MustNewRenderer(t)
	to := templates.Recipient{Email: "a@example.com", Name: `<script>alert(1)</script>`}
	m, err := r.Confirmation(list, to, "https://news.example.com/confirm/t")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<script") {
		t.Errorf("HTML contains <script:\n%s", m.HTML)
	}
	if !strings.Contains(m.HTML, "Hi &lt;script&gt;alert(1)&lt;/script&gt;,") {
		t.Errorf("HTML does not greet with the escaped name")
	}
	if !strings.Contains(m.Text, "Hi <script>alert(1)</script>,") {
		t.Errorf("Text does not greet with the literal name:\n%s", m.Text)
	}
	if _, err := r.Confirmation(list, to, ""); tidings.ErrorCode(err) != tidings.EINVALID {
		t.Errorf("Confirmation without a link: error = %v, want code %s", err, tidings.EINVALID)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct{ subject, body string }{
			{content.Subject, content.Body},
			{"plain", ""},
			{`{{if .Name}}{{.Name}}{{else}}Hello{{end}}`, `{{with .FirstName}}Hi {{.}}{{end}} {{$.Email}} {{.PreferencesURL}}`},
			{`{{$n := .Name}}{{$n}}`, `{{range $i := 3}}{{$i}}{{end}}{{/* a comment */}}{{slice .Email 0 1}}`},
			{`{{printf "%s <%s>" .Name .Email}}`, `{{.Email | urlquery}} {{html .Name}}`},
		} {
			if err := templates.Check(tt.subject, tt.body); err != nil {
				t.Errorf("Check(%q, %q) = %v, want nil", tt.subject, tt.body, err)
			}
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			subject, body string
			want          string
		}{
			{"Hi {{.FirstName", "b", "subject line 1: unclosed action"},
			{"s", "one\ntwo\nthree {{.Name", "body line 3: unclosed action"},
			{"s", "one\n\n{{.Foo}}", "body line 3: unknown field .Foo"},
			{"Hi {{.foo}}", "b", "subject line 1: unknown field .foo"},
			{"s", "{{if .Name}}\n{{.Nmae}}\n{{end}}", "body line 2: unknown field .Nmae"},
			{"s", "{{.Name.First}}", "body line 1: unknown field .Name.First"},
			{"s", "{{$.Phone}}", "body line 1: unknown field .Phone"},
			{"s", "{{(.Name).Length}}", "body line 1: unknown field .Length"},
			{"s", "a\n{{upper .Name}}", `body line 2: function "upper" not defined`},
			{"s", "{{if .Name}}open", "body line 1: unexpected end of template: an {{if}}, {{range}} or {{with}} is missing its {{end}}"},
			{"s", "{{end}}", `body line 1: unexpected {{end}}`},
			{"s", "x\n{{template \"other\"}}", `body line 2: {{template "other"}}: template "other" not defined`},
			{"s", "{{slice .FirstName 0 1}}", "body line 1: {{slice .FirstName 0 1}}: error calling slice: "},
			{"s", "{{index .Name 1 2}}", "body line 1: {{index .Name 1 2}}: error calling index: "},
			// Templates that would run for ever or write without end.
			{"s", "{{range 1000000000000}}{{end}}", "body line 1: {{range}} takes a number from 0 to 100"},
			{"s", "{{range len .Name}}x{{end}}", "body line 1: {{range}} takes a number from 0 to 100"},
			{"s", "{{$n := 5}}{{range $n}}x{{end}}", "body line 1: {{range}} takes a number from 0 to 100"},
			{"s", "{{range 100}}\n{{range 100}}x{{end}}{{end}}", "body line 2: a {{range}} inside a {{range}}"},
			{"s", `{{define "x"}}{{range 9}}{{template "x"}}{{end}}{{end}}{{template "x"}}`, "body line 1: {{define}} and {{block}} are not available"},
			{"s", `{{block "x" .}}hi{{end}}`, "body line 1: {{define}} and {{block}} are not available"},
			{`{{range 100}}{{printf "%01000000d" 1}}{{end}}`, "b", "subject: the template writes more than 1 MiB"},
		} {
			err := templates.Check(tt.subject, tt.body)
			if code := tidings.ErrorCode(err); code != tidings.EINVALID {
				t.Errorf("Check(%q, %q) = %v, want code %s", tt.subject, tt.body, err, tidings.EINVALID)
				continue
			}
			if msg := tidings.ErrorMessage(err); !strings.HasPrefix(msg, tt.want) {
				t.Errorf("Check(%q, %q) message = %q, want it to start with %q", tt.subject, tt.body, msg, tt.want)
			}
		}
	})
}

// BenchmarkRenderer_Render measures one full render: template, Markdown,
// layout, CSS inlining and splicing.
func BenchmarkRenderer_Render(b *testing.B) {
	r := MustNewRenderer(b)
	for b.Loop() {
		if _, err := r.Render(content, list, recipient); err != nil {
			b.Fatal(err)
		}
	}
}
