package templates

import (
	"github.com/microcosm-cc/bluemonday"
)

// emailPolicy is what an editor's HTML may hold once rendered: the markup
// and inline styles email layouts use (tables, images, links, alignment),
// and nothing that runs. Raw HTML in a Markdown body is the editor's to use,
// but no mail client should be handed a <script>, an on* event handler, a
// javascript: URL, a form, an iframe or an embedded object, whoever wrote
// the body: an editor's account can be taken over, and a body pasted from
// elsewhere can carry them unseen.
func emailPolicy() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	// Email is not a web page: rel=nofollow means nothing to a mail client,
	// and links may open where the editor says.
	p.RequireNoFollowOnLinks(false)
	p.AllowAttrs("target").Matching(bluemonday.Paragraph).OnElements("a")
	p.AllowURLSchemes("http", "https", "mailto", "tel")
	p.AllowAttrs("align", "valign", "width", "height", "bgcolor", "border",
		"cellpadding", "cellspacing", "role", "dir", "lang", "class").Globally()
	p.AllowElements("center", "span", "div", "font")
	p.AllowAttrs("color", "face", "size").OnElements("font")
	// Inline styles are how email is styled; bluemonday checks each value
	// against the property's grammar, so url(javascript:...) and
	// expression(...) do not pass.
	p.AllowStyles(
		"color", "background-color", "font-family", "font-size", "font-style",
		"font-weight", "line-height", "letter-spacing", "text-align",
		"text-decoration", "text-transform", "vertical-align", "white-space",
		"width", "max-width", "min-width", "height", "max-height", "display",
		"margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
		"padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
		"border", "border-top", "border-right", "border-bottom", "border-left",
		"border-color", "border-style", "border-width", "border-radius",
		"border-collapse", "border-spacing",
	).Globally()
	return p
}
