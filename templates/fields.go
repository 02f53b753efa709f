package templates

import (
	"encoding/hex"
	"errors"
	"fmt"
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

// Bounds on the work of one template, so that what an editor saves renders in
// bounded time and memory: text/template has no step limit of its own, and
// {{range 1000000000}} or a recursive {{define}} would otherwise run for as
// long as it likes while holding a request or a send.
const (
	maxOutput = 1 << 20 // bytes one execution may write
	maxRange  = 100     // iterations of one {{range N}}
)

// errOutputTooLong is what outputLimit returns once maxOutput is written.
var errOutputTooLong = errors.New("the template writes more than 1 MiB")

// outputLimit is a writer that fails once n bytes would be exceeded.
type outputLimit struct {
	w io.Writer
	n int
}

func (l *outputLimit) Write(p []byte) (int, error) {
	if len(p) > l.n {
		return 0, errOutputTooLong
	}
	l.n -= len(p)
	return l.w.Write(p)
}

// compile parses src and refuses any field but those of data, wherever it
// appears, including branches a given recipient would not reach, as well as
// {{define}} and {{block}} (which allow recursion) and any {{range}} but a
// single, not nested one over a number up to maxRange.
func compile(name, src string) (*compiled, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, templateError(name, err)
	}
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		if tt.Name() != name {
			loc, _ := tt.ErrorContext(tt.Root)
			return nil, templateError(name, errors.New("template: "+loc+": {{define}} and {{block}} are not available in emails"))
		}
		w := fieldWalk{tree: tt.Tree}
		if err := w.check(tt.Root); err != nil {
			return nil, templateError(name, err)
		}
	}
	return &compiled{name: name, t: t}, nil
}

// execute runs the template for d. Errors are EINVALID.
func (c *compiled) execute(d data) (string, error) {
	var b strings.Builder
	if err := c.executeTo(&b, d); err != nil {
		return "", err
	}
	return b.String(), nil
}

// executeTo runs the template for d into w, at most maxOutput bytes of it.
// Errors are EINVALID.
func (c *compiled) executeTo(w io.Writer, d data) error {
	err := c.t.Execute(&outputLimit{w: w, n: maxOutput}, d)
	if errors.Is(err, errOutputTooLong) {
		return tidings.Errorf(tidings.EINVALID, "%s: %s; shorten it.", c.name, errOutputTooLong)
	} else if err != nil {
		return templateError(c.name, err)
	}
	return nil
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
			if err := c.executeTo(io.Discard, newData(s.to)); err != nil {
				e := err.(*tidings.Error)
				e.Message += s.note
				return e
			}
		}
	}
	return nil
}

// fieldWalk walks a parse tree and returns an error, located by
// tree.ErrorContext, at the first field access that is not one of data's
// fields, or the first {{range}} that could run long. Every valid access is
// exactly one known field of ".", "$" or a variable holding "."; anything
// else (.Foo, .Name.Foo, (.Name).Foo) would fail at execution, but maybe only
// for some recipients.
type fieldWalk struct {
	tree    *parse.Tree
	inRange bool
}

func (w *fieldWalk) check(n parse.Node) error {
	field := func(n parse.Node, idents []string) error {
		if len(idents) == 1 && known(idents[0]) {
			return nil
		}
		loc, _ := w.tree.ErrorContext(n)
		return errors.New("template: " + loc + ": unknown field ." + strings.Join(idents, ".") +
			"; use .FirstName, .Name, .Email, .UnsubscribeURL or .PreferencesURL")
	}
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := w.check(c); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		return w.check(n.Pipe)
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Cmds {
			if err := w.check(c); err != nil {
				return err
			}
		}
	case *parse.CommandNode:
		for _, c := range n.Args {
			if err := w.check(c); err != nil {
				return err
			}
		}
	case *parse.FieldNode:
		return field(n, n.Ident)
	case *parse.VariableNode:
		if len(n.Ident) > 1 {
			return field(n, n.Ident[1:])
		}
	case *parse.ChainNode:
		if err := w.check(n.Node); err != nil {
			return err
		}
		return field(n, n.Field)
	case *parse.IfNode:
		return w.branch(&n.BranchNode)
	case *parse.RangeNode:
		if err := w.rangeCount(n); err != nil {
			return err
		}
		w.inRange = true
		defer func() { w.inRange = false }()
		return w.branch(&n.BranchNode)
	case *parse.WithNode:
		return w.branch(&n.BranchNode)
	case *parse.TemplateNode:
		return w.check(n.Pipe)
	}
	return nil
}

// rangeCount allows a {{range}} only over a number from 0 to maxRange, and
// not inside another, so no template loops more than maxRange times.
func (w *fieldWalk) rangeCount(n *parse.RangeNode) error {
	loc, _ := w.tree.ErrorContext(n)
	if w.inRange {
		return errors.New("template: " + loc + ": a {{range}} inside a {{range}} is not available in emails")
	}
	if len(n.Pipe.Cmds) == 1 && len(n.Pipe.Cmds[0].Args) == 1 {
		if num, ok := n.Pipe.Cmds[0].Args[0].(*parse.NumberNode); ok && num.IsInt && num.Int64 >= 0 && num.Int64 <= maxRange {
			return nil
		}
	}
	return fmt.Errorf("template: %s: {{range}} takes a number from 0 to %d, as in {{range 3}}", loc, maxRange)
}

func (w *fieldWalk) branch(b *parse.BranchNode) error {
	for _, c := range []parse.Node{b.Pipe, b.List, b.ElseList} {
		if err := w.check(c); err != nil {
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
