// Package campaigns owns what is sent: the sequence steps of each list and its
// bonus emails, the scheduler that finds what is due, the outbox, and the
// dispatcher that sends outbox items through delivery.
//
// The pieces, in the order a message meets them:
//
//   - Store keeps the steps and bonuses, and moves the enrollments of a list
//     when its sequence changes.
//   - Queue.OnEvent, wired as subscribers.Store.OnEvent, queues the
//     confirmation, welcome and bonus emails, enrolls confirmed subscribers,
//     and skips what is queued for those who leave, inside the transaction
//     that changed the subscription.
//   - Scheduler turns due enrollments into outbox rows, set-based, one
//     instance at a time (a Postgres advisory lock). Due times are kept in
//     UTC and computed from the subscriber's local wall-clock time by the SQL
//     function tidings_next_due, so a daylight-saving change keeps the hour.
//   - Store also keeps the broadcasts: drafts, scheduled, sending, paused,
//     sent or cancelled (see Broadcast). A broadcast starts, by SendNow or
//     when the Scheduler finds it due, with one INSERT ... SELECT that queues
//     a row per recipient at priority 2 (bulk) in the transaction that sets
//     it sending; the broadcast's row lock and the outbox's unique key per
//     subscriber and broadcast make a second start queue nothing. Each
//     list's policy (ListPolicy) says whether a step falling due soon after
//     a broadcast is sent anyway or deferred past a gap. Tester sends test
//     copies outside the outbox.
//   - Dispatcher claims outbox rows (marked claimed in a short transaction,
//     so that an unsubscribe never waits for a send), re-checks just
//     before sending who may be mailed (the mailable_subscriptions view), renders
//     at send time through templates (a broadcast or step is laid out once
//     per version and only filled in per recipient: templates.Prepared),
//     sends through delivery, and records the outcomes. A broadcast's rows
//     are claimed only while it is sending. Temporary failures (RFC 5321
//     4yz replies, dropped connections) are retried with exponential
//     backoff; permanent ones (5yz) fail, and those naming a bad address
//     (RFC 3463 X.1.x, X.2.1) are reported through OnBounce. Messages carry
//     List-Unsubscribe (RFC 2369) with one-click List-Unsubscribe-Post
//     (RFC 8058) and List-Id (RFC 2919).
//
// Every recipient gets a step or a broadcast at most once: the outbox has a
// unique key per subscriber and step and per subscriber and broadcast, and
// every statement that queues is safe to run twice.
package campaigns

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// inTx runs fn in one transaction of the store and commits it when fn
// returns nil. It reads the clock once and hands that time to fn, so every
// row fn writes agrees on now. opts is nil for a read-write transaction at
// the default isolation; the read-only snapshots pass ReadOnly and
// LevelRepeatableRead. An error from fn rolls the transaction back and is
// returned as it is.
func (s *Store) inTx(ctx context.Context, opts *sql.TxOptions, fn func(tx *sqlx.Tx, now time.Time) error) error {
	return runTx(ctx, s.DB, opts, s.now(), fn)
}

// runTx is the one transaction shape of the package: begin, run fn with now,
// commit; rolled back on an error from fn. Store.inTx reads its clock for
// each transaction; the Scheduler reads its clock once per tick and the
// Dispatcher once per claim, and pass that time to each transaction of it.
func runTx(ctx context.Context, db *sqlx.DB, opts *sql.TxOptions, now time.Time, fn func(tx *sqlx.Tx, now time.Time) error) error {
	tx, err := db.BeginTxx(ctx, opts)
	if err != nil {
		return fmt.Errorf("campaigns: begin: %w", err)
	}
	defer tx.Rollback() // after Commit, a no-op
	if err := fn(tx, now); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("campaigns: commit: %w", err)
	}
	return nil
}
