// Package subscribers owns lists, subscribers, their subscriptions and the
// append-only event log that is the consent proof, plus suppressions and the
// signed tokens in emailed links.
//
// It imports no Tidings package but the root one. When a subscription changes,
// the Store appends an Event and calls OnEvent inside the same transaction, so a
// change and its consequences (queued or skipped messages) commit together.
//
// Standards: addresses are checked as RFC 5322 addr-specs within the RFC 5321
// length limits, with internationalised domains converted by IDNA 2008
// (RFC 5891, the UTS #46 lookup profile); link tokens are HMAC-SHA256
// (RFC 2104) over base64url (RFC 4648) payloads; unsubscribing serves the
// one-click POST of RFC 8058.
package subscribers

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
)

// Subscription statuses.
const (
	StatusPending      = "pending"
	StatusConfirmed    = "confirmed"
	StatusUnsubscribed = "unsubscribed"
	StatusBounced      = "bounced"
	StatusComplained   = "complained"
)

// Event kinds. An event is appended for every change of a subscription.
const (
	EventSubscribed            = "subscribed"             // a sign-up: the consent, with IP, user agent, form and text
	EventConfirmationRequested = "confirmation_requested" // a confirmation email is to be sent now
	EventConfirmed             = "confirmed"              // the double opt-in link was followed
	EventUnsubscribed          = "unsubscribed"
	EventBounced               = "bounced"
	EventComplained            = "complained"
	EventImported              = "imported" // added as confirmed by an editor or an import
)

// Event is one appended change of a subscription.
type Event struct {
	ID             int64     `db:"id" json:"id"`
	SubscriptionID int64     `db:"subscription_id" json:"subscription_id"`
	SubscriberID   int64     `db:"subscriber_id" json:"subscriber_id"`
	ListID         int64     `db:"list_id" json:"list_id"`
	Kind           string    `db:"kind" json:"kind"`
	At             time.Time `db:"at" json:"at"`
	IP             string    `db:"ip" json:"ip,omitempty"`
	UserAgent      string    `db:"user_agent" json:"user_agent,omitempty"`
	Form           string    `db:"form" json:"form,omitempty"`
	ConsentText    string    `db:"consent_text" json:"consent_text,omitempty"`
	Reason         string    `db:"reason" json:"reason,omitempty"`

	// Timezone is the subscriber's effective time zone (theirs, else the
	// list's) at the time of the event. Not stored in the events table.
	Timezone string `db:"-" json:"-"`

	// Series, for an EventImported of an import, is what the import chose
	// for the list's series: SeriesWelcome, SeriesJoin or SeriesNone. It is
	// empty for every other event, and for subscribers added as confirmed
	// through Add, who join no series. Not stored in the events table.
	Series string `db:"-" json:"-"`
}

// EventFunc is called inside the transaction that appended the event.
type EventFunc func(ctx context.Context, tx *sqlx.Tx, e Event) error

// EventsFunc is called inside the transaction that appended the events
// together, in the order they were appended.
type EventsFunc func(ctx context.Context, tx *sqlx.Tx, events []Event) error
