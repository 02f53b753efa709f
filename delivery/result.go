package delivery

import (
	"errors"
	"fmt"

	"github.com/wneessen/go-mail"
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
	// with errors.As(err, **mail.SendError).
	Err error
}

// classify turns the error of go-mail's SendWithSMTPClient into a Result, and
// says whether the connection can carry another message.
func classify(err error) (r Result, reusable bool) {
	r = Result{Status: TempFailure, Err: fmt.Errorf("delivery: %w", err)}
	var se *mail.SendError
	if !errors.As(err, &se) {
		return r, false
	}
	switch se.Reason {
	case mail.ErrGetSender, mail.ErrGetRcpts, mail.ErrNoUnencoded:
		// Nothing went to the relay: the message itself is at fault.
		r.Status = PermFailure
		return r, true
	}
	r.Code = se.ErrorCode()
	r.Enhanced = se.EnhancedStatusCode()
	switch {
	case r.Code == 0:
		// No SMTP reply: EOF, reset, timeout, a garbled reply. go-mail's
		// IsTemp() is false for these (it only looks for a leading "4"), but
		// nothing says the message is bad: try again on a new connection.
		r.Enhanced = ""
		return r, false
	case r.Code == 421:
		// "Service not available, closing transmission channel" (RFC 5321
		// section 3.8): the relay is about to hang up.
		return r, false
	case r.Code >= 400 && r.Code < 500:
		return r, true
	case r.Code >= 500 && r.Code < 600:
		r.Status = PermFailure
		r.AddressFailure = addressFailure(se.Reason, r.Enhanced)
		return r, true
	}
	return r, false // a 2xx or 3xx where another reply was due: protocol confusion
}

// addressFailure reports whether a permanent failure, given at the stage
// reason with the enhanced code enhanced, says the recipient address is bad.
//
// Only enhanced codes count (RFC 3463): X.1.x "addressing status" for the
// destination, and X.2.1 "mailbox disabled". A bare 550 is also used for
// policy refusals (a blocked sending IP, spam), and 551/553 without an
// enhanced code are rare and ambiguous, so without an enhanced code the
// answer is false, whatever the text says: wrongly suppressing a good
// subscriber is worse than one more failed message. Replies to MAIL FROM are
// about our sender address, and X.1.7, X.1.8 and X.1.11 (RFC 7505) are the
// sender's codes, so they never count.
func addressFailure(reason mail.SendErrReason, enhanced string) bool {
	if reason == mail.ErrSMTPMailFrom {
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
