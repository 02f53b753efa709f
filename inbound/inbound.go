// Package inbound is what the mail system says back: the SMTP receiver of the
// bounce domain (RFC 5321), the parsers of what arrives there (delivery
// status notifications, RFC 3464 and RFC 3463 codes; feedback reports, RFC
// 5965; mailto unsubscribes, RFC 2369; replies), and the decoders of
// providers' webhooks. It knows nothing of subscribers or campaigns: it takes
// mail and webhook bodies in and hands out Events, each naming the verified
// address token, Message-ID or recipient it is about; cmd/tidings wires them
// to the packages that act on them.
package inbound

import "time"

// Kind is what an Event says happened.
type Kind string

// The kinds of Event.
const (
	// Bounce: a message could not be delivered. Hard says whether the failure
	// is permanent (RFC 3463 class 5) or may pass (class 4, or no code).
	Bounce Kind = "bounce"
	// Complaint: the recipient marked a message as spam (an ARF report, RFC
	// 5965, or a provider's complaint event).
	Complaint Kind = "complaint"
	// Unsubscribe: a message to a mailto unsubscribe address (RFC 2369).
	Unsubscribe Kind = "unsubscribe"
	// Reply: a person's answer to a message.
	Reply Kind = "reply"
	// AutoReply: an automatic answer (out of office, RFC 3834), which is
	// neither a bounce nor a person's reply.
	AutoReply Kind = "auto_reply"
	// Delayed: a report that delivery is delayed and still being tried (a
	// DSN with Action: delayed); nothing to act on.
	Delayed Kind = "delayed"
)

// Event is one thing the mail system reported.
type Event struct {
	Kind Kind
	Hard bool // for a Bounce: permanent

	// Address is the verified address of the bounce domain the report came
	// to, when it came by SMTP (see Addresses); zero for a webhook.
	Address Address

	// Recipient is the address the report is about (a DSN's Final-Recipient,
	// an ARF report's Original-Rcpt-To, the failed address a bounce's text
	// names, a webhook's recipient), or for a Reply or an AutoReply the
	// address it is from; lower-cased; empty when the report does not say.
	Recipient string
	// MessageID is the Message-ID of the message the report is about, with
	// its angle brackets, when the report quotes it (for a Reply or an
	// AutoReply: the message it answers, by In-Reply-To or References);
	// else empty.
	MessageID string

	Status     string // RFC 3463 enhanced status code, such as "5.1.1"; may be empty
	Diagnostic string // the remote server's words, at most MaxDiagnostic bytes
	// FeedbackType is an ARF report's Feedback-Type (abuse, fraud, ...).
	FeedbackType string

	// ID names the event at its source (a provider's event or message id),
	// so that the same event delivered twice is acted on once; empty for
	// mail, which the receiver deduplicates by its own Message-ID.
	ID string
	// At is when the source says it happened: a DSN's Last-Attempt-Date or
	// Arrival-Date, an ARF report's Arrival-Date, else the report's own
	// Date; in UTC, zero when none is given.
	At time.Time

	// Subject and Text are a Reply's subject (an AutoReply's too), decoded,
	// and its plain text (quoted history left in, lines ended with LF),
	// at most MaxText bytes.
	Subject, Text string
}

// MaxDiagnostic bounds Event.Diagnostic: the diagnostic text is for people,
// and a remote server's words are kept to a readable line.
const MaxDiagnostic = 1000
