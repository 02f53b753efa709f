package templates_test

import (
	"strings"
	"testing"

	"github.com/tidings/tidings/templates"
	"golang.org/x/net/html"
)

// TestRenderer_Render_Sanitized: whatever raw HTML an editor's body holds,
// nothing that runs reaches the email, while the markup emails are made of
// stays.
func TestRenderer_Render_Sanitized(t *testing.T) {
	t.Parallel()
	r := MustNewRenderer(t)
	bad := []string{
		`<script>alert(1)</script>`,
		`<SCRIPT SRC=//evil.example/x.js></SCRIPT>`,
		`<img src="x" onerror="alert(1)">`,
		`<a href="javascript:alert(1)">click</a>`,
		`<a href="JaVaScRiPt:alert(1)">click</a>`,
		`<a href="  javascript:alert(1)">click</a>`,
		`<a href="&#106;avascript:alert(1)">click</a>`,
		`<a href="vbscript:msgbox(1)">click</a>`,
		`<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">click</a>`,
		`<div onclick="alert(1)" onmouseover="alert(2)">hover</div>`,
		`<body onload="alert(1)">`,
		`<svg onload="alert(1)"><circle r="1"/></svg>`,
		`<iframe src="https://evil.example"></iframe>`,
		`<object data="x.swf"></object><embed src="x.swf">`,
		`<form action="https://evil.example"><input name="p"></form>`,
		`<meta http-equiv="refresh" content="0;url=https://evil.example">`,
		`<style>body{background:url(javascript:alert(1))}</style>`,
		`<p style="background-image:url(javascript:alert(1))">x</p>`,
		`<p style="width:expression(alert(1))">x</p>`,
		`<base href="https://evil.example/">`,
		`<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>`,
	}
	for _, in := range bad {
		c := templates.Content{Subject: "S", Body: "Before\n\n" + in + "\n\nAfter"}
		m, err := r.Render(c, list, recipient)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		doc, err := html.Parse(strings.NewReader(m.HTML))
		if err != nil {
			t.Fatal(err)
		}
		for n := range doc.Descendants() {
			if n.Type != html.ElementNode {
				continue
			}
			switch n.Data {
			case "script", "iframe", "object", "embed", "form", "input", "base", "svg", "math":
				t.Errorf("%q: the email has a <%s>", in, n.Data)
			case "meta":
				for _, a := range n.Attr {
					if a.Key == "http-equiv" && strings.EqualFold(a.Val, "refresh") {
						t.Errorf("%q: the email has a meta refresh", in)
					}
				}
			}
			for _, a := range n.Attr {
				v := strings.ToLower(strings.TrimSpace(a.Val))
				if strings.HasPrefix(a.Key, "on") {
					t.Errorf("%q: the email has %s=%q on <%s>", in, a.Key, a.Val, n.Data)
				}
				if (a.Key == "href" || a.Key == "src") && (strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "vbscript:") || strings.HasPrefix(v, "data:")) {
					t.Errorf("%q: the email has %s=%q", in, a.Key, a.Val)
				}
				if a.Key == "style" && (strings.Contains(v, "javascript") || strings.Contains(v, "expression")) {
					t.Errorf("%q: the email has style=%q", in, a.Val)
				}
			}
		}
		if !strings.Contains(m.HTML, "Before") {
			t.Errorf("%q: the text before it was lost", in)
		}
	}

	// What email layouts are made of stays.
	good := `<table width="100%" cellpadding="4" style="border-collapse:collapse"><tr><td align="center" bgcolor="#eeeeee" style="color:#333333;padding:8px">Cell</td></tr></table>

<p style="text-align:center;font-size:18px"><a href="https://example.com/book" target="_blank" style="color:#0a5">Book a call</a> or <a href="mailto:coach@example.com">write</a></p>

<img src="https://example.com/logo.png" alt="Logo" width="120">`
	m, err := r.Render(templates.Content{Subject: "S", Body: good}, list, recipient)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`cellpadding="4"`, `bgcolor="#eeeeee"`, `href="https://example.com/book"`, `target="_blank"`, `href="mailto:coach@example.com"`, `src="https://example.com/logo.png"`, "padding:8px", "text-align:center", "Cell"} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("the email lost %s:\n%s", want, m.HTML)
		}
	}
	if strings.Contains(m.HTML, "nofollow") {
		t.Errorf("links got rel=nofollow:\n%s", m.HTML)
	}
}
