package campaigns

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// claimer runs the outbox's claim, check and record statements for a
// Dispatcher. Each is a short transaction of its own, so that nothing that
// writes an outbox row (an unsubscribe skipping what is queued for it, a
// cancelled broadcast) waits for a send:
//
//   - claim marks up to n due rows as claimed, by a name of its own
//     (claimed_by) until a lapse (claimed_until), and commits at once;
//   - check, just before a group is sent, says which of its rows the claim
//     still holds (not skipped or claimed again meanwhile) and may still be
//     mailed;
//   - record writes the outcomes of the rows the claim still holds, and
//     gives back the rows it did not send.
//
// A row stays 'queued' while it is claimed. A dispatcher that dies leaves
// its claims to lapse; their rows are claimed again after that, never
// before, and those it had handed to the relay without recording them are
// then sent again: a crash resends what was in flight and nothing else,
// and loses nothing.
type claimer struct {
	db    *sqlx.DB
	name  string        // this claimer's part of claimed_by
	lease time.Duration // how long a claim holds its rows
	seq   atomic.Int64  // the number of the last claim

	mu    sync.Mutex
	stmts map[int]*sqlx.Stmt // the claim of up to n; see claim
	check *sqlx.Stmt         // see mailable
}

// newClaimer returns a claimer on db whose claims hold for lease. Its name
// says which process claimed a row, for the operator who wonders.
func newClaimer(db *sqlx.DB, lease time.Duration) *claimer {
	host, _ := os.Hostname()
	var r [4]byte
	_, _ = rand.Read(r[:])
	return &claimer{db: db, lease: lease, name: fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(r[:]))}
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
	if c.check != nil {
		errs = append(errs, c.check.Close())
		c.check = nil
	}
	return errors.Join(errs...)
}

// prepared returns the statement of q, prepared once and kept in *slot.
func (c *claimer) prepared(ctx context.Context, slot **sqlx.Stmt, q string) (*sqlx.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if *slot != nil {
		return *slot, nil
	}
	stmt, err := c.db.PreparexContext(ctx, q)
	if err != nil {
		return nil, err
	}
	*slot = stmt
	return stmt, nil
}

// Item is one claimed outbox row with what it takes to render and send it.
type Item struct {
	ID             int64     `db:"id"`
	Kind           string    `db:"kind"`
	Status         string    `db:"status"` // sending: claimed to be sent
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

// Batch is one claim: items whose rows it holds, under its name, until what
// became of them is recorded, Release gives them back, or the claim lapses.
type Batch struct {
	Items []Item
	claim string    // claimed_by of its rows
	until time.Time // when the claim lapses
	c     *claimer

	mu       sync.Mutex
	outcomes []outcome
}

// Release gives the items back untouched: they are claimable again at once.
// A batch that is neither recorded nor released holds its items until its
// claim lapses, as when its dispatcher dies. Errors are internal.
func (b *Batch) Release() error {
	if len(b.Items) == 0 {
		return nil
	}
	ids := make([]int64, len(b.Items))
	for i := range b.Items {
		ids[i] = b.Items[i].ID
	}
	return b.c.release(context.Background(), b.claim, ids)
}

// add keeps the outcome of one item and reports whether it was the last.
func (b *Batch) add(o outcome) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.outcomes = append(b.outcomes, o)
	return len(b.outcomes) == len(b.Items)
}

// Claim claims up to n outbox items that are due, confirmations first, then
// by priority and due time, for ClaimTimeout. A broadcast's items are only
// claimed while it is sending (not when paused). Whether each may still be
// mailed is checked just before it is sent. The items stay claimed until
// the Batch is released or its outcomes are recorded (RunOnce and Run
// record them), or until the claim lapses. Errors are internal.
func (d *Dispatcher) Claim(ctx context.Context, n int) (*Batch, error) {
	return d.outbox().claim(ctx, d.now(), n)
}

// claimQuery is the claim of up to n items, run by claim with the time
// ($1), the lapse of the claim ($2) and its name ($3). Its parts:
//   - lapsed: rows whose claim has lapsed (their dispatcher died), in the
//     outbox_claim_lapse index; normally none.
//   - due: due queued rows that no one claims, but broadcasts' (priority
//     2, bulk, is theirs alone), in the order of the outbox_claim index,
//     which the scan leaves at the first bulk row however many are queued.
//   - bulk: due queued unclaimed rows of the sending broadcasts, in the same
//     index's order. It holds queued rows only, so a claim never reads what
//     was sent or is in flight; it does read past the queued rows of a
//     paused broadcast that come before a sending one's.
//   - claimable: the first n of them, lapsed claims first.
//   - claimed: marks them claimed.
//
// The rows are locked (FOR UPDATE SKIP LOCKED) only until the claim's
// transaction commits, which it does at once; two claims at the same time
// take different rows.
//
// n is written into the statement, not passed as a parameter, so that the
// planner knows that at most n rows are read. With the count as a
// parameter, the generic plan guessed a third of the outbox.
func claimQuery(n int) string {
	return strings.ReplaceAll(claimSQL, "$n", strconv.Itoa(n))
}

const claimSQL = `
		WITH lapsed AS (
			SELECT o.id, o.kind, o.priority, o.due_at, o.subscriber_id, o.subscription_id, o.list_id, o.step_id, o.bonus_id, o.broadcast_id, o.attempts, o.message_id
			FROM outbox o
			WHERE o.status = 'queued'
			  AND o.claimed_until IS NOT NULL
			  AND o.claimed_until <= $1
			  AND o.due_at <= $1
			  AND (o.priority < 2 OR o.broadcast_id = ANY (ARRAY(SELECT b.id FROM broadcasts b WHERE b.status = 'sending')))
			ORDER BY o.claimed_until
			LIMIT $n
			FOR UPDATE SKIP LOCKED
		),
		due AS (
			SELECT o.id, o.kind, o.priority, o.due_at, o.subscriber_id, o.subscription_id, o.list_id, o.step_id, o.bonus_id, o.broadcast_id, o.attempts, o.message_id
			FROM outbox o
			WHERE o.status = 'queued'
			  AND o.claimed_until IS NULL
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
			  AND o.claimed_until IS NULL
			  AND o.priority = 2
			  AND o.due_at <= $1
			  AND o.broadcast_id = ANY (ARRAY(SELECT b.id FROM broadcasts b WHERE b.status = 'sending'))
			ORDER BY o.priority, o.due_at, o.id
			LIMIT $n
			FOR UPDATE SKIP LOCKED
		),
		claimable AS (
			SELECT *
			FROM (SELECT * FROM lapsed UNION ALL SELECT * FROM due UNION ALL SELECT * FROM bulk) c
			LIMIT $n
		),
		claimed AS (
			UPDATE outbox o
			SET claimed_until = $2,
			    claimed_by = $3
			FROM claimable c
			WHERE o.id = c.id
		)
		SELECT o.id, o.kind, 'sending' AS status, o.priority, o.due_at, o.subscriber_id, o.subscription_id, o.list_id, o.attempts, o.message_id,
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
		LEFT JOIN broadcasts bc ON bc.id = o.broadcast_id`

// genericPlans makes the prepared statements of tx run with their generic
// plans, and without jit, for tx alone, so that no other statement on the
// connection is planned that way. The claim and the check join a dozen
// tables through the views of who may be mailed, and planning them again
// for each batch took longer than running them; their parameters (times,
// a name, row ids) do not change which plan is best, and a generic plan is
// made again whenever ANALYZE changes the tables' statistics. Compiling
// them with jit took longer than running them too.
func genericPlans(ctx context.Context, tx *sqlx.Tx) error {
	_, err := tx.ExecContext(ctx, `SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL jit = off`)
	return err
}

// claim runs claimQuery in a transaction of its own, and commits it at
// once. It is prepared once and run with its generic plan (genericPlans).
func (c *claimer) claim(ctx context.Context, now time.Time, n int) (*Batch, error) {
	b := &Batch{c: c}
	if n <= 0 {
		return b, nil
	}
	c.mu.Lock()
	stmt := c.stmts[n]
	c.mu.Unlock()
	if stmt == nil {
		var err error
		if stmt, err = c.db.PreparexContext(ctx, claimQuery(n)); err != nil {
			return b, fmt.Errorf("campaigns: claim: %w", err)
		}
		c.mu.Lock()
		if c.stmts == nil {
			c.stmts = map[int]*sqlx.Stmt{}
		}
		if kept := c.stmts[n]; kept != nil {
			_ = stmt.Close()
			stmt = kept
		} else {
			c.stmts[n] = stmt
		}
		c.mu.Unlock()
	}

	b.claim = c.name + "/" + strconv.FormatInt(c.seq.Add(1), 10)
	b.until = now.Add(c.lease)
	rows := make([]Item, 0, n) // sqlx appends to it; grown one by one, it was a tenth of what a sender allocates
	err := runTx(ctx, c.db, nil, now, func(tx *sqlx.Tx, now time.Time) error {
		err := genericPlans(ctx, tx)
		if err == nil {
			err = tx.StmtxContext(ctx, stmt).SelectContext(ctx, &rows, now, b.until, b.claim)
		}
		if err != nil {
			return fmt.Errorf("campaigns: claim: %w", err)
		}
		return nil
	})
	if err != nil {
		return b, err
	}
	b.Items = rows
	b.outcomes = make([]outcome, 0, len(b.Items))
	for i := range b.Items {
		it := &b.Items[i]
		it.DueAt, it.ContentAt = it.DueAt.UTC(), it.ContentAt.UTC()
	}
	// The rows come in no particular order; send in claim order.
	slices.SortFunc(b.Items, func(x, y Item) int {
		return cmp.Or(cmp.Compare(x.Priority, y.Priority), x.DueAt.Compare(y.DueAt), cmp.Compare(x.ID, y.ID))
	})
	for i := range b.Items {
		b.Items[i].batch = b
	}
	return b, nil
}

// checkSQL is the last check before items are sent: of the outbox rows $1,
// those the claim $2 still holds until at least $3, with whether each may
// still be mailed. A confirmation needs its subscription still pending and
// reachable (reachable_subscriptions: the address not suppressed); anything
// else needs its subscription in mailable_subscriptions, and a step not
// deleted. A row that an
// unsubscribe, a cancelled broadcast or a deleted step skipped after the
// claim is no longer 'queued', and so not returned. The OFFSET 0 in each
// check keeps Postgres from turning it into a hash of every mailable
// subscription (TestCheckPlan_LooksUpEachRow); with it, each row is looked up.
const checkSQL = `
		SELECT o.id,
		       CASE WHEN o.kind = 'confirm' THEN EXISTS (
		                SELECT 1
		                FROM reachable_subscriptions c
		                WHERE c.subscription_id = o.subscription_id
		                  AND c.status = 'pending'
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
		       END AS mailable
		FROM outbox o
		WHERE o.id = ANY ($1)
		  AND o.status = 'queued'
		  AND o.claimed_by = $2
		  AND o.claimed_until >= $3`

// mailable runs checkSQL for the items of one batch, and says which the
// claim still holds until at least until (present in the map) and whether
// each may be mailed (its value). An item absent from the map must not be
// sent: it was skipped, claimed again or removed meanwhile, or its claim
// lapses too soon.
func (c *claimer) mailable(ctx context.Context, b *Batch, ids []int64, until time.Time) (map[int64]bool, error) {
	stmt, err := c.prepared(ctx, &c.check, checkSQL)
	if err != nil {
		return nil, fmt.Errorf("campaigns: check %d items: %w", len(ids), err)
	}
	var rows []struct {
		ID       int64 `db:"id"`
		Mailable bool  `db:"mailable"`
	}
	// With its generic plan (genericPlans): planned for each group, the
	// check took longer than running it, and that at every group sent.
	err = runTx(ctx, c.db, &sql.TxOptions{ReadOnly: true}, until, func(tx *sqlx.Tx, _ time.Time) error {
		if err := genericPlans(ctx, tx); err != nil {
			return err
		}
		return tx.StmtxContext(ctx, stmt).SelectContext(ctx, &rows, pq.Array(ids), b.claim, until)
	})
	if err != nil {
		return nil, fmt.Errorf("campaigns: check %d items: %w", len(ids), err)
	}
	ok := make(map[int64]bool, len(rows))
	for _, r := range rows {
		ok[r.ID] = r.Mailable
	}
	return ok, nil
}

// record writes the outcomes of b's items, in one statement, and gives back
// those released unsent, in another. It writes only the rows that b's claim
// still holds. Of a row that was skipped after the claim (an unsubscribe, a
// cancelled broadcast), it writes a send that was tried, since the relay may
// have the message, but never queues it again. When it fails, the rows stay
// claimed until the claim lapses, and are then claimed again.
func (c *claimer) record(ctx context.Context, now time.Time, b *Batch, outcomes []outcome) error {
	var (
		ids, tried, codes          []int64
		statuses, dues, messageIDs []string
		errs, sentAts              []string
		temporary                  []bool
		releases                   []int64
		formatTime                 = func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.Format(time.RFC3339Nano)
		}
	)
	for _, o := range outcomes {
		if o.tried == 0 && o.status == StatusQueued {
			releases = append(releases, o.item.ID)
			continue
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
			    claimed_until = NULL,
			    updated_at = $1
			FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::bool[], $10::text[])
			    AS u(id, status, tried, due_at, message_id, smtp_code, last_error, temporary, sent_at)
			WHERE o.id = u.id
			  AND o.claimed_by = $11
			  AND (o.status = 'queued' OR u.tried > 0 AND u.status IN ('sent', 'failed'))`
		if _, err := c.db.ExecContext(ctx, q, now, pq.Array(ids), pq.Array(statuses), pq.Array(tried), pq.Array(dues),
			pq.Array(messageIDs), pq.Array(codes), pq.Array(errs), pq.Array(temporary), pq.Array(sentAts), b.claim); err != nil {
			return fmt.Errorf("campaigns: record %d outcomes: %w", len(ids), err)
		}
	}
	if len(releases) > 0 {
		return c.release(ctx, b.claim, releases)
	}
	return nil
}

// release gives back the rows ids that claim still holds, untouched.
func (c *claimer) release(ctx context.Context, claim string, ids []int64) error {
	const q = `
		UPDATE outbox
		SET claimed_until = NULL
		WHERE id = ANY ($1)
		  AND claimed_by = $2
		  AND status = 'queued'`
	if _, err := c.db.ExecContext(ctx, q, pq.Array(ids), claim); err != nil {
		return fmt.Errorf("campaigns: release %d items: %w", len(ids), err)
	}
	return nil
}
