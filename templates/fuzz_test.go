package templates_test

// A fuzz target for the merge-field templates. `go test` runs its seeds
// (testdata/fuzz/FuzzRender and the f.Add calls); `make fuzz` runs it for
// FUZZTIME.

import (
	"strings"
	"testing"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/templates"
)

// fuzzMarker is put in every fuzzed recipient's name: it must never reach the
// HTML part as markup, whatever the templates do with the name.
const fuzzMarker = "<tdg-x>"

// FuzzRender checks that a subject and body that Check accepts render for
// any recipient without a panic; that a failure is EINVALID (a template may
// fail for some values, as {{slice .Name 3}} does for a short name); and that
// a rendered message has a one-line subject and never carries the
// recipient's name into the HTML as markup.
func FuzzRender(f *testing.F) {
	f.Add(content.Subject, content.Body, "Ada Lovelace", "ada@example.com")
	f.Add(`{{.Name}}`, "Hi {{.Name}}\n\n[x]({{.Email}})", "<script>alert(1)</script>", "a@b.com")
	f.Add(`{{slice .Name 3}}`, `{{if eq .FirstName "Ada"}}**hi**{{else}}{{.Email}}{{end}}`, "Al", "a@b.com")
	f.Add("{{\"a\\r\\nBcc: x@y.com\"}}", "{{printf \"%s\" .Name}}", "Zoë\u202e", "x@y.com")
	f.Add("{{.Foo}}", "{{template \"x\"}}", "", "")
	f.Add("TDGq41qTDG", "TDGq3c62723eqTDG {{.Name}}", "TDGq41qTDG", "a@b.com")
	r := MustNewRenderer(f)
	f.Fuzz(func(t *testing.T, subject, body, name, email string) {
		if templates.Check(subject, body) != nil {
			return
		}
		to := recipient
		to.Name, to.Email = name+fuzzMarker, email
		m, err := r.Render(templates.Content{Subject: subject, Body: body}, list, to)
		if err != nil {
			if tidings.ErrorCode(err) != tidings.EINVALID {
				t.Fatalf("Render(%q, %q) for %q: %v, not EINVALID", subject, body, name, err)
			}
			return
		}
		if strings.ContainsAny(m.Subject, "\r\n") {
			t.Fatalf("Render(%q, %q) for %q: subject %q is not one line", subject, body, name, m.Subject)
		}
		if !strings.Contains(subject+body, "tdg-x") && strings.Contains(strings.ToLower(m.HTML), fuzzMarker) {
			t.Fatalf("Render(%q, %q) for %q: the name reached the HTML as markup:\n%s", subject, body, name, m.HTML)
		}
	})
}
