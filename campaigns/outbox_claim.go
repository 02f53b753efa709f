package campaigns

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// claimer runs the outbox's claim and record statements for a Dispatcher:
// it claims batches of due items and writes what became of them. It keeps
// the claim statement prepared, once per size.
type claimer struct {
	db *sqlx.DB

	mu    sync.Mutex
	stmts map[int]*sqlx.Stmt // the claim of up to n; see claim
}

// close closes the prepared statements.
func (c *claimer) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, stmt := range c.stmts {
		errs = append(errs, stmt.Close())
	}
	c.stmts = nil
	return errors.Join(errs...)
}

// Item is one claimed outbox row with what it takes to render and send it.
type Item struct {
	ID             int64     `db:"id"`
	Kind           string    `db:"kind"`
	Status         string    `db:"status"` // sending, or skipped when the re-check failed
	Priority       int       `db:"priority"`
	DueAt          time.Time `db:"due_at"`
	SubscriberID   int64     `db:"subscriber_id"`
	SubscriptionID int64     `db:"subscription_id"`
	ListID         int64     `db:"list_id"`
	Attempts       int       `db:"attempts"`   // sends tried before this claim
	MessageID      string    `db:"message_id"` // "" until the first send

	Email string `db:"email"`
	Name  string `db:"name"`

	// ConfirmGeneration is, for a confirmation, the generation of the
	// subscription's latest confirmation request, which its link carries.
	ConfirmGeneration int `db:"confirm_generation"`

	// Subject and Body are the templates of the step, bonus or welcome email
	// as they stand at claim time; empty for a confirmation, and for a
	// broadcast, whose content the dispatcher reads once per version
	// (BroadcastID, ContentAt) rather than once per recipient.
	Subject string `db:"subject"`
	Body    string `db:"body"`

	// BroadcastID is the broadcast of a broadcast item, else 0.
	BroadcastID int64 `db:"broadcast_id"`
	// ContentID and ContentAt name the version of the content: the id of the
	// step, bonus, broadcast or (for a welcome email) list that holds it, and
	// when that was last changed.
	ContentID int64     `db:"content_id"`
	ContentAt time.Time `db:"content_at"`

	ListSlug      string `db:"list_slug"`
	ListName      string `db:"list_name"`
	FromName      string `db:"from_name"`
	FromEmail     string `db:"from_email"`
	ReplyTo       string `db:"reply_to"`
	PostalAddress string `db:"postal_address"`

	batch *Batch // the claim that holds it
}

// Batch is one claim: items whose rows its transaction holds locked until
// what became of them is written, or until Release gives them back.
type Batch struct {
	Items []Item
	tx    *sqlx.Tx // nil when there are no items

	mu       sync.Mutex
	outcomes []outcome
}

// Release gives the items back untouched, as happens when a dispatcher dies:
// they are claimable again at once. Errors are internal.
func (b *Batch) Release() error {
	if b.tx == nil {
		return nil
	}
	return b.tx.Rollback()
}

// add keeps the outcome of one item and reports whether it was the last.
func (b *Batch) add(o outcome) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.outcomes = append(b.outcomes, o)
	return len(b.outcomes) == len(b.Items)
}

// Claim claims up to n outbox items that are due, confirmations first, then
// by priority and due time. A broadcast's items are only claimed while it is
// sending (not when paused). In the same statement it re-checks that each
// may still be mailed: a confirmation needs its subscription still pending
// and the address not suppressed, anything else its subscription in
// mailable_subscriptions (and a step not deleted). Those that fail are
// marked skipped and not returned. The rows of the items returned stay
// locked by the Batch until it is released; RunOnce and Run release a batch
// by writing its outcomes. Errors are internal.
func (d *Dispatcher) Claim(ctx context.Context, n int) (*Batch, error) {
	b, _, err := d.outbox().claim(ctx, d.now(), n)
	return b, err
}

// claimQuery is the claim of up to n items, run by claim with the time ($1).
// Its parts:
//   - due: due queued rows but broadcasts' (priority 2, bulk, is theirs
//     alone), in the order of the outbox_claim index, which the scan leaves
//     at the first bulk row however many are queued.
//   - bulk: due queued rows of the sending broadcasts, in the same index's
//     order. It holds queued rows only, so a claim never reads what was
//     sent; it does read past the queued rows of a paused broadcast that
//     come before a sending one's.
//   - claimable: the first n of them, confirmations and series mail first,
//     with the columns the rest needs (as locked: the latest version).
//   - checked: whether each may be mailed, and its content. MATERIALIZED,
//     so that the check runs once per row. The OFFSET 0 in each check keeps
//     Postgres from turning it into a hash of every mailable subscription
//     (built for each claim: 20,000 rows read to check 100, in
//     TestClaimPlan_LooksUpEachRow); with it, each row is looked up.
//   - skipped: marks those that may not be mailed.
//
// The rows of due and bulk stay locked until the claim's transaction ends
// (those of bulk that did not fit are only held back until then).
//
// n is written into the statement, not passed as a parameter, so that the
// planner knows that at most n rows are checked. With the count as a
// parameter, the generic plan guessed a third of the outbox and checked the
// mailability of every subscription on the list at once, in a hash: 145 ms
// for a claim of 100 out of 100,000 (EXPLAIN ANALYZE), against 1 ms.
func claimQuery(n int) string {
	return strings.ReplaceAll(claimSQL, "$n", strconv.Itoa(n))
}

const claimSQL = `
		WITH due AS (
			SELECT o.id, o.kind, o.priority, o.due_at, o.subscriber_id, o.subscription_id, o.list_id, o.step_id, o.bonus_id, o.broadcast_id, o.attempts, o.message_id
			FROM outbox o
			WHERE o.status = 'queued'
			  AND o.due_at <= $1
			  AND o.priority < 2
			ORDER BY o.priority, o.due_at, o.id
			LIMIT $n
			FOR UPDATE SKIP LOCKED
		),
		bulk AS (
			SELECT o.id, o.kind, o.priority, o.due_at, o.subscriber_id, o.subscription_id, o.list_id, o.step_id, o.bonus_id, o.broadcast_id, o.attempts, o.message_id
			FROM outbox o
			WHERE o.status = 'queued'
			  AND o.priority = 2
			  AND o.due_at <= $1
			  AND o.broadcast_id = ANY (ARRAY(SELECT b.id FROM broadcasts b WHERE b.status = 'sending'))
			ORDER BY o.priority, o.due_at, o.id
			LIMIT $n
			FOR UPDATE SKIP LOCKED
		),
		claimable AS (
			SELECT *
			FROM (SELECT * FROM due UNION ALL SELECT * FROM bulk) c
			LIMIT $n
		),
		checked AS MATERIALIZED (
			SELECT o.id,
			       CASE WHEN o.kind = 'confirm' THEN EXISTS (
			                SELECT 1
			                FROM subscriptions s
			                JOIN subscribers r ON r.id = s.subscriber_id
			                WHERE s.id = o.subscription_id
			                  AND s.status = 'pending'
			                  AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email = r.email_key)
			                OFFSET 0)
			            ELSE EXISTS (
			                SELECT 1
			                FROM mailable_subscriptions m
			                WHERE m.subscription_id = o.subscription_id
			                OFFSET 0)
			            AND NOT EXISTS (
			                SELECT 1
			                FROM steps st
			                WHERE st.id = o.step_id
			                  AND st.deleted_at IS NOT NULL)
			       END AS mailable,
			       o.kind, o.priority, o.due_at, o.subscriber_id, o.subscription_id, o.list_id, o.attempts, o.message_id,
			       r.email, r.name,
			       CASE WHEN o.kind = 'confirm' THEN (SELECT s.confirm_generation FROM subscriptions s WHERE s.id = o.subscription_id) ELSE 0 END AS confirm_generation,
			       COALESCE(st.subject, bo.subject, CASE WHEN o.kind = 'welcome' THEN l.welcome_subject END, '') AS subject,
			       COALESCE(st.body, bo.body, CASE WHEN o.kind = 'welcome' THEN l.welcome_body END, '') AS body,
			       COALESCE(o.broadcast_id, 0) AS broadcast_id,
			       COALESCE(o.step_id, o.bonus_id, o.broadcast_id, o.list_id) AS content_id,
			       COALESCE(st.updated_at, bo.updated_at, bc.updated_at, l.updated_at) AS content_at,
			       l.slug AS list_slug, l.name AS list_name, l.from_name, l.from_email, l.reply_to, l.postal_address
			FROM claimable o
			JOIN subscribers r ON r.id = o.subscriber_id
			JOIN lists l ON l.id = o.list_id
			LEFT JOIN steps st ON st.id = o.step_id
			LEFT JOIN bonuses bo ON bo.id = o.bonus_id
			LEFT JOIN broadcasts bc ON bc.id = o.broadcast_id
		),
		skipped AS (
			UPDATE outbox o
			SET status = 'skipped',
			    last_error = 'not mailable when sending',
			    updated_at = $1
			FROM checked k
			WHERE o.id = k.id
			  AND NOT k.mailable
		)
		SELECT id, kind, CASE WHEN mailable THEN 'sending' ELSE 'skipped' END AS status, priority, due_at,
		       subscriber_id, subscription_id, list_id, attempts, message_id, email, name, confirm_generation, subject, body,
		       broadcast_id, content_id, content_at, list_slug, list_name, from_name, from_email, reply_to, postal_address
		FROM checked`

// claim runs claimQuery in a transaction of its own, which it commits at
// once when nothing may be sent (to write the skips) and otherwise leaves
// open in the Batch. The statement joins a dozen tables, and planning it
// again for each batch took longer than running it (about 10 ms against 4
// for 100 rows, which made the planner Postgres's largest cost per message).
// So it is prepared once and run with its generic plan: the parameter (a
// time) does not change which plan is best, and the plan is made again
// whenever ANALYZE changes the tables' statistics. plan_cache_mode is set for
// this transaction alone, so that no other statement on the connection is
// planned that way; so is jit, off: compiling the statement took longer
// than running it.
func (c *claimer) claim(ctx context.Context, now time.Time, n int) (b *Batch, skipped int, err error) {
	b = &Batch{}
	if n <= 0 {
		return b, 0, nil
	}
	c.mu.Lock()
	stmt := c.stmts[n]
	if stmt == nil {
		if stmt, err = c.db.PreparexContext(ctx, claimQuery(n)); err != nil {
			c.mu.Unlock()
			return b, 0, fmt.Errorf("campaigns: claim: %w", err)
		}
		if c.stmts == nil {
			c.stmts = map[int]*sqlx.Stmt{}
		}
		c.stmts[n] = stmt
	}
	c.mu.Unlock()

	// The transaction outlives ctx: what is sent under it must be recorded
	// even when ctx ends, and database/sql rolls back a transaction whose
	// context ends.
	tx, err := c.db.BeginTxx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return b, 0, fmt.Errorf("campaigns: claim: %w", err)
	}
	rows := make([]Item, 0, n) // sqlx appends to it; grown one by one, it was a tenth of what a sender allocates
	_, err = tx.ExecContext(ctx, `SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL jit = off`)
	if err == nil {
		err = tx.StmtxContext(ctx, stmt).SelectContext(ctx, &rows, now)
	}
	if err != nil {
		_ = tx.Rollback()
		return b, 0, fmt.Errorf("campaigns: claim: %w", err)
	}
	b.Items = rows[:0] // the items to send, kept in place
	for _, it := range rows {
		if it.Status != StatusSending {
			skipped++
			continue
		}
		it.DueAt, it.ContentAt = it.DueAt.UTC(), it.ContentAt.UTC()
		b.Items = append(b.Items, it)
	}
	if len(b.Items) == 0 {
		if err := tx.Commit(); err != nil {
			return b, 0, fmt.Errorf("campaigns: claim: %w", err)
		}
		return b, skipped, nil
	}
	b.tx, b.outcomes = tx, make([]outcome, 0, len(b.Items))
	// The rows come in no particular order; send in claim order.
	slices.SortFunc(b.Items, func(x, y Item) int {
		return cmp.Or(cmp.Compare(x.Priority, y.Priority), x.DueAt.Compare(y.DueAt), cmp.Compare(x.ID, y.ID))
	})
	for i := range b.Items {
		b.Items[i].batch = b
	}
	return b, skipped, nil
}

// record writes the outcomes of b's items in one statement and commits b,
// which releases its rows. Items released unsent are left as they were. When
// it fails, b is rolled back, and its items are queued again as they were
// before the claim.
func (c *claimer) record(ctx context.Context, now time.Time, b *Batch, outcomes []outcome) error {
	if b.tx == nil {
		return nil
	}
	defer b.tx.Rollback() // after Commit, a no-op
	var (
		ids, tried, codes          []int64
		statuses, dues, messageIDs []string
		errs, sentAts              []string
		temporary                  []bool
		formatTime                 = func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.Format(time.RFC3339Nano)
		}
	)
	for _, o := range outcomes {
		if o.tried == 0 && o.status == StatusQueued {
			continue // released: nothing to write
		}
		ids, tried, codes = append(ids, o.item.ID), append(tried, int64(o.tried)), append(codes, int64(o.code))
		statuses, messageIDs, errs = append(statuses, o.status), append(messageIDs, o.messageID), append(errs, o.lastError)
		dues, sentAts, temporary = append(dues, formatTime(o.dueAt)), append(sentAts, formatTime(o.sentAt)), append(temporary, o.temporary)
	}
	if len(ids) > 0 {
		const q = `
			UPDATE outbox o
			SET status = u.status,
			    attempts = o.attempts + u.tried,
			    due_at = COALESCE(NULLIF(u.due_at, '')::timestamptz, o.due_at),
			    message_id = u.message_id,
			    smtp_code = CASE WHEN u.tried > 0 THEN u.smtp_code ELSE o.smtp_code END,
			    last_error = u.last_error,
			    temporary = u.temporary,
			    sent_at = NULLIF(u.sent_at, '')::timestamptz,
			    updated_at = $1
			FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::bool[], $10::text[])
			    AS u(id, status, tried, due_at, message_id, smtp_code, last_error, temporary, sent_at)
			WHERE o.id = u.id`
		if _, err := b.tx.ExecContext(ctx, q, now, pq.Array(ids), pq.Array(statuses), pq.Array(tried), pq.Array(dues),
			pq.Array(messageIDs), pq.Array(codes), pq.Array(errs), pq.Array(temporary), pq.Array(sentAts)); err != nil {
			return fmt.Errorf("campaigns: record %d outcomes: %w", len(ids), err)
		}
	}
	if err := b.tx.Commit(); err != nil {
		return fmt.Errorf("campaigns: record %d outcomes: %w", len(ids), err)
	}
	return nil
}
