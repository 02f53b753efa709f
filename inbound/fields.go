package inbound

import (
	"bytes"
	"strings"
)

// field is one "Name: value" of a report body (RFC 3464 section 2.1, RFC
// 5965 section 3), its name lower-cased and its value unfolded.
type field struct{ name, value string }

// maxFieldValue bounds a field's unfolded value: the longest kept from one
// is a Diagnostic of MaxDiagnostic bytes.
const maxFieldValue = 4 * MaxDiagnostic

// fields is one block of a report body.
type fields []field

// get returns the value of the first field named name (lower-case), or "".
func (fs fields) get(name string) string {
	for _, f := range fs {
		if f.name == name {
			return f.value
		}
	}
	return ""
}

// has reports whether a field named name (lower-case) is in fs.
func (fs fields) has(name string) bool {
	for _, f := range fs {
		if f.name == name {
			return true
		}
	}
	return false
}

// fieldBlocks splits a report body into its blocks of fields, which blank
// lines separate (RFC 3464 section 2.1: the per-message fields, then one
// block per recipient). It is lenient as the reports in the wild ask: a
// line that is no field is skipped, continuation lines (RFC 5322 folding)
// are joined with one space, CRLF and LF both end a line.
func fieldBlocks(b []byte) []fields {
	var blocks []fields
	var cur fields
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		line = bytes.TrimRight(line, "\r")
		switch {
		case len(bytes.TrimSpace(line)) == 0:
			if len(cur) > 0 {
				blocks = append(blocks, cur)
				cur = nil
			}
		case line[0] == ' ' || line[0] == '\t':
			// A value is bounded as it grows, so that a body of many short
			// continuation lines costs no more than its size.
			if len(cur) > 0 && len(cur[len(cur)-1].value) < maxFieldValue {
				last := &cur[len(cur)-1]
				last.value = strings.TrimSpace(last.value + " " + string(bytes.TrimSpace(line)))
			}
		default:
			name, value, ok := bytes.Cut(line, []byte(":"))
			if !ok || !isToken(name) {
				continue
			}
			cur = append(cur, field{
				name:  strings.ToLower(string(name)),
				value: strings.TrimSpace(string(value)),
			})
		}
	}
	if len(cur) > 0 {
		blocks = append(blocks, cur)
	}
	return blocks
}

// isToken reports whether name is a field name (RFC 5322 section 3.6.8:
// printable ASCII but the colon, and not empty).
func isToken(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}
