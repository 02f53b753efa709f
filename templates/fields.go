package templates

import (
	"encoding/hex"
	"errors"
	"html"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/tidings/tidings"
)

// data is what subject and body templates see as ".".
type data struct {
	FirstName value // first word of Name, "" if none
	Name      value
	Email     value

	UnsubscribeURL string
	PreferencesURL string
}

// fieldNames are the fields of data, as a template names them.
var fieldNames = []string{"FirstName", "Name", "Email", "UnsubscribeURL", "PreferencesURL"}

func newData(to Recipient) data {
	var first string
	if f := strings.Fields(to.Name); len(f) > 0 {
		first = f[0]
	}
	return data{
		FirstName:      value(first),
		Name:           value(to.Name),
		Email:          value(to.Email),
		UnsubscribeURL: to.UnsubscribeURL,
		PreferencesURL: to.PreferencesURL,
	}
}

// value is a subscriber-supplied string. Template builtins that look at the
// value (or, and, not, if, eq, len, index, slice) see the real string, because
// the kind is string; printing it, which goes through fmt, yields the
// placeholder from String, so the value itself never reaches goldmark or
// premailer. splice replaces the placeholders at the very end.
type value string

// Placeholders are "TDGq" + lower-case hex of the value + "qTDG": letters and
// digits only, so Markdown, linkify, URL escaping and HTML serialisation all
// leave them alone, and self-contained, so splicing needs no lookup table.
const (
	placeholderStart = "TDGq"
	placeholderEnd   = "qTDG"
)

// String returns the placeholder for v, or "" for an empty v.
func (v value) String() string {
	if v == "" {
		return ""
	}
	return placeholderStart + hex.EncodeToString([]byte(v)) + placeholderEnd
}

// splice replaces every placeholder in s, from left to right, by esc of its
// value. The result is not scanned again, so a value that looks like a
// placeholder stays text. It finds what the expression
// TDGq((?:[0-9a-f]{2})*)qTDG would find (TestSplice), by hand rather than
// with the regexp package because it runs once per message on the send path.
func splice(s string, esc func(v string) string) string {
	var b strings.Builder
	last := 0
	for from := 0; ; {
		k := strings.Index(s[from:], placeholderStart)
		if k < 0 {
			break
		}
		i := from + k
		j := i + len(placeholderStart)
		for j+1 < len(s) && isLowerHex(s[j]) && isLowerHex(s[j+1]) {
			j += 2
		}
		if !strings.HasPrefix(s[j:], placeholderEnd) {
			from = i + 1
			continue
		}
		v, _ := hex.DecodeString(s[i+len(placeholderStart) : j]) // pairs of hex digits: cannot fail
		if last == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:i])
		b.WriteString(esc(string(v)))
		last = j + len(placeholderEnd)
		from = last
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isLowerHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

// escapeHTML escapes a value for element text and for a quoted attribute value.
func escapeHTML(s string) string { return html.EscapeString(s) }

func verbatim(s string) string { return s }

// prepared holds the parsed templates of a Content, ready to execute for any
// number of recipients.
type prepared struct {
	subject, body *compiled
	preheader     string
}

// prepare parses and checks the templates of c. Errors are EINVALID.
func prepare(c Content) (*prepared, error) {
	subject, err := compile("subject", c.Subject)
	if err != nil {
		return nil, err
	}
	body, err := compile("body", c.Body)
	if err != nil {
		return nil, err
	}
	return &prepared{subject: subject, body: body, preheader: c.Preheader}, nil
}

// compiled is one parsed and checked template: "subject" or "body".
type compiled struct {
	name string
	t    *template.Template
}

// compile parses src and refuses any field but those of data, wherever it
// appears, including branches a given recipient would not reach.
func compile(name, src string) (*compiled, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, templateError(name, err)
	}
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		if err := checkFields(tt.Tree, tt.Root); err != nil {
			return nil, templateError(name, err)
		}
	}
	return &compiled{name: name, t: t}, nil
}

// execute runs the template for d. Errors are EINVALID.
func (c *compiled) execute(d data) (string, error) {
	var b strings.Builder
	if err := c.t.Execute(&b, d); err != nil {
		return "", templateError(c.name, err)
	}
	return b.String(), nil
}

// Check reports whether subject and body are templates Render can execute:
// they parse, use only the fields .FirstName, .Name, .Email, .UnsubscribeURL
// and .PreferencesURL and the builtin functions, and execute both for a
// subscriber with a name and for one without. It returns EINVALID with a
// message such as "body line 3: unknown field .Foo; ..." otherwise.
func Check(subject, body string) error {
	p, err := prepare(Content{Subject: subject, Body: body})
	if err != nil {
		return err
	}
	samples := []struct {
		to   Recipient
		note string
	}{
		{Recipient{Email: "ada@example.com", Name: "Ada Lovelace", UnsubscribeURL: "https://example.com/unsubscribe/t", PreferencesURL: "https://example.com/preferences/t"}, ""},
		{Recipient{Email: "reader@example.com", UnsubscribeURL: "https://example.com/unsubscribe/t"}, " (for a subscriber without a name)"},
	}
	for _, s := range samples {
		for _, c := range []*compiled{p.subject, p.body} {
			if err := c.t.Execute(io.Discard, newData(s.to)); err != nil {
				e := templateError(c.name, err)
				e.Message += s.note
				return e
			}
		}
	}
	return nil
}

// checkFields walks a parse tree and returns an error, located by
// tree.ErrorContext, at the first field access that is not one of data's
// fields. Every valid access is exactly one known field of ".", "$" or a
// variable holding "."; anything else (.Foo, .Name.Foo, (.Name).Foo) would
// fail at execution, but maybe only for some recipients.
func checkFields(tree *parse.Tree, n parse.Node) error {
	check := func(n parse.Node, idents []string) error {
		if len(idents) == 1 && known(idents[0]) {
			return nil
		}
		loc, _ := tree.ErrorContext(n)
		return errors.New("template: " + loc + ": unknown field ." + strings.Join(idents, ".") +
			"; use .FirstName, .Name, .Email, .UnsubscribeURL or .PreferencesURL")
	}
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkFields(tree, c); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		return checkFields(tree, n.Pipe)
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Cmds {
			if err := checkFields(tree, c); err != nil {
				return err
			}
		}
	case *parse.CommandNode:
		for _, c := range n.Args {
			if err := checkFields(tree, c); err != nil {
				return err
			}
		}
	case *parse.FieldNode:
		return check(n, n.Ident)
	case *parse.VariableNode:
		if len(n.Ident) > 1 {
			return check(n, n.Ident[1:])
		}
	case *parse.ChainNode:
		if err := checkFields(tree, n.Node); err != nil {
			return err
		}
		return check(n, n.Field)
	case *parse.IfNode:
		return checkBranch(tree, &n.BranchNode)
	case *parse.RangeNode:
		return checkBranch(tree, &n.BranchNode)
	case *parse.WithNode:
		return checkBranch(tree, &n.BranchNode)
	case *parse.TemplateNode:
		return checkFields(tree, n.Pipe)
	}
	return nil
}

func checkBranch(tree *parse.Tree, b *parse.BranchNode) error {
	for _, c := range []parse.Node{b.Pipe, b.List, b.ElseList} {
		if err := checkFields(tree, c); err != nil {
			return err
		}
	}
	return nil
}

func known(field string) bool { return slices.Contains(fieldNames, field) }

// templateErrorRE takes apart the errors of text/template:
//
//	template: body:3: function "upper" not defined
//	template: body:3:7: executing "body" at <slice .Name 9>: error calling slice: ...
var templateErrorRE = regexp.MustCompile(`^template: [^:]*:(\d+)(?::\d+)?: (?:executing "[^"]*" at <(.*?)>: )?((?s).*)$`)

// templateError turns a parse, check or execution error of template name into
// EINVALID "name line N: reason".
func templateError(name string, err error) *tidings.Error {
	m := templateErrorRE.FindStringSubmatch(err.Error())
	if m == nil {
		return tidings.Errorf(tidings.EINVALID, "%s: %s", name, strings.TrimPrefix(err.Error(), "template: "))
	}
	line, _ := strconv.Atoi(m[1])
	// An execution error may quote a value: show it, not its placeholder.
	reason := splice(m[3], verbatim)
	if reason == "unexpected EOF" {
		reason = "unexpected end of template: an {{if}}, {{range}} or {{with}} is missing its {{end}}"
	}
	if action := m[2]; action != "" {
		if !strings.HasPrefix(action, "{{") {
			action = "{{" + action + "}}"
		}
		reason = action + ": " + reason
	}
	return tidings.Errorf(tidings.EINVALID, "%s line %d: %s", name, line, reason)
}
