package delivery

import (
	"errors"
	"fmt"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
)

// Status is the outcome of one send.
type Status int

// The outcomes of a send.
const (
	// Sent: the relay accepted the message (250 after DATA).
	Sent Status = iota
	// TempFailure: try again later. A 4xx reply (RFC 5321 section 4.2.1), or
	// no reply at all: the connection failed, dropped or timed out, or the
	// relay could not be reached or refused the login.
	TempFailure
	// PermFailure: sending this message again will fail again. A 5xx reply,
	// or a message that cannot be written (a bad address or header).
	PermFailure
)

// String returns "sent", "temporary failure" or "permanent failure".
func (s Status) String() string {
	switch s {
	case Sent:
		return "sent"
	case TempFailure:
		return "temporary failure"
	case PermFailure:
		return "permanent failure"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Result is what happened to one send: the delivery result.
type Result struct {
	Status Status
	// Code is the SMTP reply code of the failure (RFC 5321 section 4.2), 0
	// when sent or when there was no reply.
	Code int
	// Enhanced is the enhanced status code of the failure (RFC 3463), such as
	// "5.1.1"; "" when the relay gave none or does not announce
	// ENHANCEDSTATUSCODES (RFC 2034).
	Enhanced string
	// AddressFailure is true for a permanent failure that says the recipient
	// address itself is bad, so it should be suppressed: the relay answered
	// RCPT TO or the end of DATA with enhanced code 5.1.x about the
	// destination (not 5.1.7, 5.1.8 or 5.1.11, which are about the sender) or
	// 5.2.1 (RFC 3463). Without an enhanced code it is false, whatever the
	// reply code and text. Also true when Message.To is not an address at all.
	AddressFailure bool
	// Err describes the failure; nil when sent. A relay's reply can be found
	// with errors.As(err, **textproto.Error).
	Err error
}

// stage is the step of a mail transaction that a failure happened at.
type stage int

const (
	stageConn  stage = iota // before MAIL FROM: the connection is gone
	stageMail               // MAIL FROM
	stageRcpt               // RCPT TO
	stageData               // the DATA command
	stageWrite              // writing the message
	stageEnd                // the reply to the end of the message
)

func (s stage) String() string {
	switch s {
	case stageConn:
		return "connection"
	case stageMail:
		return "MAIL FROM"
	case stageRcpt:
		return "RCPT TO"
	case stageData:
		return "DATA"
	case stageWrite:
		return "message"
	case stageEnd:
		return "end of DATA"
	}
	return fmt.Sprintf("stage(%d)", int(s))
}

// enhancedRE finds an enhanced status code (RFC 3463) in a reply.
var enhancedRE = regexp.MustCompile(`\b[245]\.\d{1,3}\.\d{1,3}\b`)

// classify turns the error of a send that failed at st into a Result, and
// says whether the connection can carry another message. esc says whether
// the relay announced ENHANCEDSTATUSCODES (RFC 2034); only then is an
// enhanced code read from its replies.
func classify(st stage, err error, esc bool) (r Result, reusable bool) {
	r = Result{Status: TempFailure, Err: fmt.Errorf("delivery: %s: %w", st, err)}
	var reply *textproto.Error
	if !errors.As(err, &reply) {
		// No SMTP reply: EOF, reset, timeout, a garbled reply. Nothing says
		// the message is bad: try again on a new connection.
		return r, false
	}
	r.Code = reply.Code
	if esc && strings.HasPrefix(reply.Msg, strconv.Itoa(r.Code/100)+".") {
		r.Enhanced = enhancedRE.FindString(reply.Msg)
	}
	switch {
	case r.Code == 421:
		// "Service not available, closing transmission channel" (RFC 5321
		// section 3.8): the relay is about to hang up.
		return r, false
	case r.Code >= 400 && r.Code < 500:
		return r, true
	case r.Code >= 500 && r.Code < 600:
		r.Status = PermFailure
		r.AddressFailure = addressFailure(st, r.Enhanced)
		return r, true
	}
	return r, false // a 2xx or 3xx where another reply was due: protocol confusion
}

// addressFailure reports whether a permanent failure, given at stage st
// with the enhanced code enhanced, says the recipient address is bad.
//
// Only enhanced codes count (RFC 3463): X.1.x "addressing status" for the
// destination, and X.2.1 "mailbox disabled". A bare 550 is also used for
// policy refusals (a blocked sending IP, spam), and 551/553 without an
// enhanced code are rare and ambiguous, so without an enhanced code the
// answer is false, whatever the text says: wrongly suppressing a good
// subscriber is worse than one more failed message. Replies to MAIL FROM are
// about our sender address, and X.1.7, X.1.8 and X.1.11 (RFC 7505) are the
// sender's codes, so they never count.
func addressFailure(st stage, enhanced string) bool {
	if st == stageMail {
		return false
	}
	switch enhanced {
	case "5.1.0", // other address status
		"5.1.1",  // bad destination mailbox address
		"5.1.2",  // bad destination system address
		"5.1.3",  // bad destination mailbox address syntax
		"5.1.4",  // destination mailbox address ambiguous
		"5.1.6",  // destination mailbox has moved, no forwarding address
		"5.1.10", // recipient address has null MX (RFC 7505)
		"5.2.1":  // mailbox disabled, not accepting messages
		return true
	}
	return false
}
