package templates

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/yuin/goldmark/ast"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/util"
	"golang.org/x/net/html"
)

// plainText renders a parsed Markdown document as readable plain text:
// headings underlined, lists with "-" or numbers, quotes with "> ", code
// indented, links as "text (url)", raw HTML reduced to its text.
func plainText(doc ast.Node, src []byte) string {
	t := textRenderer{src: src}
	s := t.blocks(doc, "\n\n")
	// Tidy up: no trailing blanks, at most one empty line in a row.
	var out []string
	for line := range strings.Lines(s) {
		out = append(out, strings.TrimRight(line, " \t\r\n"))
	}
	s = strings.Join(out, "\n")
	s = blankLinesRE.ReplaceAllString(s, "\n\n")
	return strings.Trim(s, "\n") + "\n"
}

var blankLinesRE = regexp.MustCompile(`\n{3,}`)

type textRenderer struct {
	src []byte
}

// blocks renders the block children of n, separated by sep.
func (t textRenderer) blocks(n ast.Node, sep string) string {
	var parts []string
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		if s := t.block(c); strings.TrimSpace(s) != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, sep)
}

func (t textRenderer) block(n ast.Node) string {
	switch n := n.(type) {
	case *ast.Heading:
		s := strings.TrimSpace(t.inlines(n))
		var c byte
		switch n.Level {
		case 1:
			c = '='
		case 2:
			c = '-'
		default:
			return s
		}
		if hasSlot(s) {
			// The width depends on the recipient: Prepared.For fills it in.
			return s + "\n" + underlineMarker(s, c)
		}
		// Width as the reader sees it, with subscriber values spliced in.
		return s + "\n" + strings.Repeat(string(c), utf8.RuneCountInString(splice(s, verbatim)))
	case *ast.Paragraph, *ast.TextBlock:
		return t.inlines(n)
	case *ast.ThematicBreak:
		return strings.Repeat("-", 20)
	case *ast.CodeBlock, *ast.FencedCodeBlock:
		var b strings.Builder
		for i := 0; i < n.Lines().Len(); i++ {
			seg := n.Lines().At(i)
			b.WriteString("    " + string(seg.Value(t.src)))
		}
		return strings.TrimRight(b.String(), "\n")
	case *ast.HTMLBlock:
		var b strings.Builder
		for i := 0; i < n.Lines().Len(); i++ {
			seg := n.Lines().At(i)
			b.Write(seg.Value(t.src))
		}
		if n.HasClosure() {
			b.Write(n.ClosureLine.Value(t.src))
		}
		return htmlText(b.String())
	case *ast.Blockquote:
		return indent(t.blocks(n, "\n\n"), "> ", "> ")
	case *ast.List:
		sep := "\n\n"
		if n.IsTight {
			sep = "\n"
		}
		var items []string
		num := n.Start
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			marker := "- "
			if n.IsOrdered() {
				marker = fmt.Sprintf("%d. ", num)
				num++
			}
			body := t.blocks(c, sep)
			items = append(items, indent(body, marker, strings.Repeat(" ", len(marker))))
		}
		return strings.Join(items, sep)
	case *east.Table:
		var rows []string
		for r := n.FirstChild(); r != nil; r = r.NextSibling() {
			var cells []string
			for c := r.FirstChild(); c != nil; c = c.NextSibling() {
				cells = append(cells, strings.TrimSpace(t.inlines(c)))
			}
			rows = append(rows, strings.Join(cells, " | "))
		}
		return strings.Join(rows, "\n")
	}
	return t.blocks(n, "\n\n")
}

// indent prefixes the first line of s with first and the others with rest
// (empty lines get the prefix without its trailing spaces).
func indent(s, first, rest string) string {
	var b strings.Builder
	for i, line := range strings.Split(s, "\n") {
		p := rest
		if i == 0 {
			p = first
		} else {
			b.WriteByte('\n')
		}
		if line == "" {
			p = strings.TrimRight(p, " ")
		}
		b.WriteString(p + line)
	}
	return b.String()
}

// inlines renders the inline children of n.
func (t textRenderer) inlines(n ast.Node) string {
	var b strings.Builder
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		t.inline(&b, c)
	}
	return b.String()
}

func (t textRenderer) inline(b *strings.Builder, n ast.Node) {
	switch n := n.(type) {
	case *ast.Text:
		v := n.Value(t.src)
		if n.IsRaw() {
			b.Write(v)
		} else {
			b.Write(unescape(v))
		}
		if n.SoftLineBreak() || n.HardLineBreak() {
			b.WriteByte('\n')
		}
	case *ast.String:
		b.Write(n.Value)
	case *ast.CodeSpan:
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			if s, ok := c.(*ast.Text); ok {
				b.Write(s.Value(t.src))
			} else {
				t.inline(b, c)
			}
		}
	case *ast.Link:
		text := strings.TrimSpace(t.inlines(n))
		b.WriteString(link(text, string(unescape(n.Destination))))
	case *ast.AutoLink:
		if n.AutoLinkType == ast.AutoLinkEmail {
			b.Write(n.Label(t.src))
		} else {
			b.Write(n.URL(t.src))
		}
	case *east.Strikethrough:
		b.WriteString("~~" + t.inlines(n) + "~~")
	case *ast.Image:
		b.WriteString(strings.TrimSpace(t.inlines(n)))
	case *ast.RawHTML:
		for i := 0; i < n.Segments.Len(); i++ {
			seg := n.Segments.At(i)
			if brRE.Match(seg.Value(t.src)) {
				b.WriteByte('\n')
			}
		}
	default: // emphasis, strikethrough and anything else: their text
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			t.inline(b, c)
		}
	}
}

var brRE = regexp.MustCompile(`(?i)^<br\s*/?>$`)

// link writes a link as "text (url)", or just one of them when they say the
// same thing.
func link(text, url string) string {
	switch {
	case url == "" || strings.HasPrefix(url, "#"):
		return text
	case text == "" || text == url || "mailto:"+text == url:
		return strings.TrimPrefix(url, "mailto:")
	}
	return text + " (" + url + ")"
}

// unescape resolves backslash escapes and character references, as goldmark's
// HTML writer does.
func unescape(v []byte) []byte {
	return util.ResolveEntityNames(util.ResolveNumericReferences(util.UnescapePunctuations(v)))
}

// htmlText reduces editor-written raw HTML to its text: block elements become
// line breaks, links "text (url)", scripts and styles vanish.
func htmlText(s string) string {
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(s))
	var hrefs []string // open <a> elements
	var linkText []*strings.Builder
	skip := 0
	write := func(s string) {
		if n := len(linkText); n > 0 {
			linkText[n-1].WriteString(s)
		} else {
			b.WriteString(s)
		}
	}
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		tok := z.Token()
		switch tt {
		case html.TextToken:
			if skip == 0 {
				write(spaceRE.ReplaceAllString(tok.Data, " "))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			switch tok.Data {
			case "script", "style", "head", "title":
				if tt == html.StartTagToken {
					skip++
				}
			case "br":
				write("\n")
			case "a":
				if tt == html.StartTagToken {
					var href string
					for _, a := range tok.Attr {
						if a.Key == "href" {
							href = a.Val
						}
					}
					hrefs = append(hrefs, href)
					linkText = append(linkText, &strings.Builder{})
				}
			case "li":
				write("\n- ")
			case "img":
				for _, a := range tok.Attr {
					if a.Key == "alt" {
						write(a.Val)
					}
				}
			}
		case html.EndTagToken:
			switch tok.Data {
			case "script", "style", "head", "title":
				if skip > 0 {
					skip--
				}
			case "a":
				if n := len(linkText); n > 0 {
					text := strings.TrimSpace(linkText[n-1].String())
					href := hrefs[n-1]
					linkText, hrefs = linkText[:n-1], hrefs[:n-1]
					write(link(text, href))
				}
			case "p", "div", "table", "tr", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote":
				write("\n\n")
			case "td", "th":
				write(" ")
			}
		}
	}
	for _, l := range linkText { // unclosed links
		b.WriteString(l.String())
	}
	var out []string
	for line := range strings.Lines(b.String()) {
		out = append(out, strings.TrimSpace(line))
	}
	return strings.TrimSpace(blankLinesRE.ReplaceAllString(strings.Join(out, "\n"), "\n\n"))
}

var spaceRE = regexp.MustCompile(`\s+`)
