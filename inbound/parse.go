package inbound

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"

	"github.com/emersion/go-message/textproto"
)

// ErrMessage is returned by Parse for mail that cannot be read at all: no
// header, no blank line between the header and the body, or a multipart
// body whose structure does not parse. The error Parse returns wraps it.
var ErrMessage = errors.New("inbound: not a readable message")

// MaxText bounds Event.Text: a reply's text is kept whole up to this many
// bytes, which holds any answer a person writes along with its quoted
// history.
const MaxText = 64 << 10

// maxSubject bounds Event.Subject; RFC 5322 limits a header line to 998
// characters, and a decoded subject longer than that is noise.
const maxSubject = 998

// maxEvents bounds the events of one report: a DSN names one block per
// recipient, and a message of the engine goes to one recipient, so a
// longer report is not one we caused and is read no further.
const maxEvents = 100

// Parse reads one whole message as received over SMTP (header and body,
// CRLF or LF line endings) and returns what it reports:
//
//   - a delivery status notification (RFC 3464, and RFC 6533 for
//     internationalised mail): a Bounce or Delayed event per recipient that
//     failed or is delayed; recipients delivered, relayed or expanded give
//     none;
//   - a feedback report (RFC 5965, and the providers' reports in its
//     shape): one Complaint;
//   - a bounce in the providers' own words, without a report: one Bounce;
//   - an automatic answer (RFC 3834, or one of the common out-of-office
//     shapes): one AutoReply;
//   - anything else: one Reply with its subject and text.
//
// Parse leaves Event.Address to the caller, which knows the address the
// message came to. A report that parses but names nothing to act on gives
// no events and a nil error. The error wraps ErrMessage for a message that
// cannot be read. Parse bounds its work by the nesting depth and the number
// of MIME parts, and reads only the parts it needs; it is safe for
// concurrent use.
func Parse(raw []byte) ([]Event, error) {
	// RFC 5322 section 2.1: an empty line ends the header, also when the
	// body is empty; mail without one was cut short or is not mail.
	if !bytes.Contains(raw, []byte("\n\n")) && !bytes.Contains(raw, []byte("\n\r\n")) {
		return nil, fmt.Errorf("%w: no empty line after the header", ErrMessage)
	}
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMessage, err)
	}
	if h.Len() == 0 {
		return nil, fmt.Errorf("%w: no header", ErrMessage)
	}
	m := &message{header: h}
	if err := m.walk(br, h, 0); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMessage, err)
	}
	switch {
	case len(m.statuses) > 0:
		return m.dsnEvents(), nil
	case m.feedback != nil:
		return m.arfEvents(), nil
	}
	if ev, ok := m.plainBounce(); ok {
		return []Event{ev}, nil
	}
	if ev, ok := m.autoReply(); ok {
		return []Event{ev}, nil
	}
	return []Event{m.reply()}, nil
}
