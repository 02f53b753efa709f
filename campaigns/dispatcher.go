package campaigns

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"golang.org/x/time/rate"

	"github.com/tidings/tidings/delivery"
	"github.com/tidings/tidings/templates"
)

// Dispatcher defaults.
const (
	DefaultWorkers      = 10
	DefaultDispatchSize = 400 // against 100: a broadcast went out about 10 % faster (make bench N=40000, two runs each)
	DefaultLease        = 5 * time.Minute
	DefaultMaxAttempts  = 8
	DefaultPollInterval = time.Second
	maxErrorLen         = 500
)

// DefaultBackoff waits 1 minute after the first temporary failure, then twice
// as long after each one more, at most 6 hours.
func DefaultBackoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 10 {
		return 6 * time.Hour
	}
	return min(time.Minute<<(attempt-1), 6*time.Hour)
}

// Links makes the signed links of a subscription; subscribers.Links is one.
type Links interface {
	Unsubscribe(subscriptionID int64) string
	Preferences(subscriptionID int64) string
	Confirm(subscriptionID int64) string
}

// Dispatcher sends the outbox: it claims due items in batches, renders each
// at send time (so an edited step sends its new text), sends it through a
// persistent SMTP connection per worker, and records the outcomes in one
// statement per batch.
//
// Any number of dispatchers, in one process or many, may share a database.
// A claim locks rows with FOR UPDATE SKIP LOCKED and marks them sending with
// a lease; a process that dies mid-batch loses nothing, because its rows are
// claimable again once the lease has run out (those in flight when it died
// may then be sent twice; nothing else is). An outcome is only recorded while
// the lease it was sent under still holds, so a row re-claimed by another
// dispatcher is never overwritten by the first.
//
// Every message carries List-Unsubscribe and List-Unsubscribe-Post (RFC 2369,
// RFC 8058), List-Id (RFC 2919), a unique Message-ID (RFC 5322) kept in the
// outbox row and reused on retries, and X-Tidings-Outbox with the row's id.
type Dispatcher struct {
	DB       *sqlx.DB
	Now      func() time.Time
	Sender   *delivery.Sender
	Renderer *templates.Renderer
	Links    Links
	// BaseURL is the public URL of this Tidings; its host names the lists in
	// List-Id. Empty: the domain of the list's from address.
	BaseURL string

	Workers     int                             // parallel SMTP connections; default DefaultWorkers
	BatchSize   int                             // items claimed at once; default DefaultDispatchSize
	Lease       time.Duration                   // how long a claim holds; default DefaultLease
	MaxAttempts int                             // sends tried before a temporary failure is final; default DefaultMaxAttempts
	Backoff     func(attempt int) time.Duration // wait after the attempt-th temporary failure; default DefaultBackoff

	// OnBounce is called, after the outcome is recorded, for each permanent
	// failure that says the address itself is bad (RFC 3463 X.1.x, X.2.1).
	// cmd/tidings wires it to subscribers.Store.Bounce.
	OnBounce func(ctx context.Context, email, reason string) error

	// Rate caps the messages per second this Dispatcher sends, across its
	// workers (TIDINGS_SEND_RATE); 0 means no limit.
	Rate float64

	Logger       *slog.Logger
	PollInterval time.Duration // wait when nothing is due; default DefaultPollInterval

	mu      sync.Mutex
	conns   []*delivery.Conn // idle persistent connections
	limOnce sync.Once
	limiter *rate.Limiter // nil: no limit

	pmu      sync.Mutex
	prepared map[preparedKey]*preparedEntry // rendered once, filled in per recipient

	smu       sync.Mutex
	claimStmt *sqlx.Stmt // the claim, prepared once; see claim
}

// maxPrepared bounds the prepared contents a Dispatcher keeps.
const maxPrepared = 256

// preparedKey names one version of a content as sent for one list: the kind
// and id of what holds it (step, bonus, broadcast, or the list for its
// welcome email) and when that was last changed.
type preparedKey struct {
	kind string
	id   int64
	at   time.Time
	list templates.List
}

type preparedEntry struct {
	once sync.Once
	p    *templates.Prepared
	err  error
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
	Attempts       int       `db:"attempts"`    // sends tried before this claim
	MessageID      string    `db:"message_id"`  // "" until the first send
	LeaseUntil     time.Time `db:"lease_until"` // the claim; outcomes are recorded only while it holds

	Email string `db:"email"`
	Name  string `db:"name"`

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
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

func (d *Dispatcher) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Claim claims up to n outbox items that are due, or whose claim by another
// dispatcher has expired, confirmations first, then by priority and due
// time. A broadcast's items are only claimed while it is sending (not when
// paused). In the same statement it re-checks that each may still be mailed:
// a confirmation needs its subscription still pending and the address not
// suppressed, anything else its subscription in mailable_subscriptions (and a
// step not deleted). Those that fail are marked skipped and not returned. The
// items returned are marked sending with a lease of Lease. RunOnce claims,
// sends and records; an item claimed with Claim alone is claimable again once
// its lease has run out, as if its dispatcher had died. Errors are internal.
func (d *Dispatcher) Claim(ctx context.Context, n int) ([]Item, error) {
	items, _, err := d.claim(ctx, n)
	return items, err
}

// claimQuery is the claim, run by runClaim with the time ($1), the most to
// claim ($2) and the end of the lease ($3). Its parts:
//   - due: due queued rows but broadcasts' (priority 2, bulk, is theirs
//     alone), in the order of the outbox_claim index, which the scan leaves
//     at the first bulk row however many are queued.
//   - bulk: due queued rows of the sending broadcasts, in the same index's
//     order. It holds queued rows only, so a claim never reads what was
//     sent; it does read past the queued rows of a paused broadcast that
//     come before a sending one's.
//   - expired: rows whose claim expired (a dispatcher died), but not those
//     of a broadcast that is not sending.
//   - claimable: the first n of them all by priority, then due time, so
//     confirmations go first, then series mail, then broadcasts.
//   - checked: whether each may be mailed, and its content. MATERIALIZED,
//     or Postgres would inline it and run the check once for each column
//     of the UPDATE that reads it.
const claimQuery = `
		WITH due AS (
			SELECT o.id, o.priority, o.due_at
			FROM outbox o
			WHERE o.status = 'queued'
			  AND o.due_at <= $1
			  AND o.priority < 2
			ORDER BY o.priority, o.due_at, o.id
			LIMIT $2
			FOR UPDATE SKIP LOCKED
		),
		bulk AS (
			SELECT o.id, o.priority, o.due_at
			FROM outbox o
			WHERE o.status = 'queued'
			  AND o.priority = 2
			  AND o.due_at <= $1
			  AND o.broadcast_id = ANY (ARRAY(SELECT b.id FROM broadcasts b WHERE b.status = 'sending'))
			ORDER BY o.priority, o.due_at, o.id
			LIMIT $2
			FOR UPDATE SKIP LOCKED
		),
		expired AS (
			SELECT o.id, o.priority, o.due_at
			FROM outbox o
			WHERE o.status = 'sending'
			  AND o.lease_until <= $1
			  AND (o.broadcast_id IS NULL OR EXISTS (
			      SELECT 1
			      FROM broadcasts b
			      WHERE b.id = o.broadcast_id
			        AND b.status = 'sending'))
			ORDER BY o.lease_until
			LIMIT $2
			FOR UPDATE SKIP LOCKED
		),
		candidates AS (
			SELECT id, priority, due_at FROM due
			UNION ALL
			SELECT id, priority, due_at FROM bulk
			UNION ALL
			SELECT id, priority, due_at FROM expired
		),
		claimable AS (
			SELECT id
			FROM candidates
			ORDER BY priority, due_at, id
			LIMIT $2
		),
		checked AS MATERIALIZED (
			SELECT c.id,
			       CASE WHEN o.kind = 'confirm' THEN EXISTS (
			                SELECT 1
			                FROM subscriptions s
			                JOIN subscribers r ON r.id = s.subscriber_id
			                WHERE s.id = o.subscription_id
			                  AND s.status = 'pending'
			                  AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email = r.email))
			            ELSE EXISTS (
			                SELECT 1
			                FROM mailable_subscriptions m
			                WHERE m.subscription_id = o.subscription_id)
			            AND NOT EXISTS (
			                SELECT 1
			                FROM steps st
			                WHERE st.id = o.step_id
			                  AND st.deleted_at IS NOT NULL)
			       END AS mailable,
			       COALESCE(st.subject, bo.subject, CASE WHEN o.kind = 'welcome' THEN l.welcome_subject END, '') AS subject,
			       COALESCE(st.body, bo.body, CASE WHEN o.kind = 'welcome' THEN l.welcome_body END, '') AS body,
			       COALESCE(o.step_id, o.bonus_id, o.broadcast_id, o.list_id) AS content_id,
			       COALESCE(st.updated_at, bo.updated_at, bc.updated_at, l.updated_at) AS content_at
			FROM claimable c
			JOIN outbox o ON o.id = c.id
			JOIN lists l ON l.id = o.list_id
			LEFT JOIN steps st ON st.id = o.step_id
			LEFT JOIN bonuses bo ON bo.id = o.bonus_id
			LEFT JOIN broadcasts bc ON bc.id = o.broadcast_id
		)
		UPDATE outbox o
		SET status = CASE WHEN k.mailable THEN 'sending' ELSE 'skipped' END,
		    lease_until = CASE WHEN k.mailable THEN $3::timestamptz END,
		    last_error = CASE WHEN k.mailable THEN o.last_error ELSE 'not mailable when sending' END,
		    updated_at = $1
		FROM checked k, subscribers r, lists l
		WHERE o.id = k.id
		  AND r.id = o.subscriber_id
		  AND l.id = o.list_id
		RETURNING o.id, o.kind, o.status, o.priority, o.due_at, o.subscriber_id, o.subscription_id, o.list_id,
		          o.attempts, o.message_id, COALESCE(o.lease_until, $1) AS lease_until, r.email, r.name,
		          k.subject, k.body, COALESCE(o.broadcast_id, 0) AS broadcast_id, k.content_id, k.content_at,
		          l.slug AS list_slug, l.name AS list_name, l.from_name, l.from_email, l.reply_to, l.postal_address`

func (d *Dispatcher) claim(ctx context.Context, n int) (items []Item, skipped int, err error) {
	if n <= 0 {
		return nil, 0, nil
	}
	now := d.now()
	lease := cmp.Or(d.Lease, DefaultLease)
	rows, err := d.runClaim(ctx, now, n, now.Add(lease))
	if err != nil {
		return nil, 0, fmt.Errorf("campaigns: claim: %w", err)
	}
	for _, it := range rows {
		if it.Status != StatusSending {
			skipped++
			continue
		}
		it.DueAt, it.LeaseUntil, it.ContentAt = it.DueAt.UTC(), it.LeaseUntil.UTC(), it.ContentAt.UTC()
		items = append(items, it)
	}
	// RETURNING has no order; send in claim order.
	slices.SortFunc(items, func(a, b Item) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), a.DueAt.Compare(b.DueAt), cmp.Compare(a.ID, b.ID))
	})
	return items, skipped, nil
}

// runClaim runs claimQuery with args. The statement joins a dozen tables, and
// planning it again for each batch took longer than running it (about 10 ms
// against 4 for 100 rows, which made the planner Postgres's largest cost per
// message). So it is prepared once and run with its generic plan: the
// parameters (times and a count) do not change which plan is best, and the
// plan is made again whenever ANALYZE changes the tables' statistics.
// plan_cache_mode is set for this transaction alone, so that no other
// statement on the connection is planned that way.
func (d *Dispatcher) runClaim(ctx context.Context, args ...any) ([]Item, error) {
	d.smu.Lock()
	if d.claimStmt == nil {
		stmt, err := d.DB.PreparexContext(ctx, claimQuery)
		if err != nil {
			d.smu.Unlock()
			return nil, err
		}
		d.claimStmt = stmt
	}
	stmt := d.claimStmt
	d.smu.Unlock()

	tx, err := d.DB.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SET LOCAL plan_cache_mode = force_generic_plan`); err != nil {
		return nil, err
	}
	var rows []Item
	if err := tx.StmtxContext(ctx, stmt).SelectContext(ctx, &rows, args...); err != nil {
		return nil, err
	}
	return rows, tx.Commit()
}

// outcome is what became of one claimed item.
type outcome struct {
	item      *Item
	status    string // sent, queued (retry later or released), failed, skipped
	tried     int    // 1 when a send was attempted, 0 when released
	dueAt     time.Time
	messageID string
	code      int
	lastError string
	temporary bool
	sentAt    time.Time
	bounce    string // the reason for OnBounce, "" for none
}

// RunOnce claims a batch, renders and sends it with Workers persistent
// connections, records the outcomes in one statement, calls OnBounce for bad
// addresses, and returns how many items it processed (sent, failed, retried
// later or skipped). When ctx ends, sends already under way are finished and
// recorded, and claimed items not yet started are released for another
// dispatcher. Errors are internal.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	if ctx.Err() != nil {
		return 0, nil
	}
	items, skipped, err := d.claim(ctx, cmp.Or(d.BatchSize, DefaultDispatchSize))
	if err != nil || len(items) == 0 {
		return skipped, err
	}
	outcomes := d.sendAll(ctx, items)
	// Record even when ctx has ended: what was sent must not be sent again.
	bg := context.WithoutCancel(ctx)
	if err := d.record(bg, outcomes); err != nil {
		return skipped, err
	}
	processed := skipped
	for _, o := range outcomes {
		if o.tried > 0 || o.status == StatusSkipped {
			processed++
		}
	}
	d.bounce(bg, outcomes)
	return processed, nil
}

// sendAll sends items in order through up to Workers connections.
func (d *Dispatcher) sendAll(ctx context.Context, items []Item) []outcome {
	outcomes := make([]outcome, len(items))
	workers := min(cmp.Or(d.Workers, DefaultWorkers), len(items))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			conn := d.takeConn()
			defer d.putConn(conn)
			for i := range jobs {
				it := &items[i]
				if ctx.Err() != nil || d.wait(ctx) != nil || d.expiring(it) {
					// Not started: released for another dispatcher, untouched.
					outcomes[i] = released(it)
					continue
				}
				// A send under way is finished even when ctx ends; delivery's
				// own timeout bounds it.
				outcomes[i] = d.send(context.WithoutCancel(ctx), conn, it)
			}
		})
	}
	for i := range items {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return outcomes
}

// wait blocks until Rate allows one more message, or ctx ends.
func (d *Dispatcher) wait(ctx context.Context) error {
	d.limOnce.Do(func() {
		if d.Rate > 0 {
			d.limiter = rate.NewLimiter(rate.Limit(d.Rate), 1)
		}
	})
	if d.limiter == nil {
		return nil
	}
	return d.limiter.Wait(ctx)
}

// send renders and sends one item and says what became of it.
func (d *Dispatcher) send(ctx context.Context, conn *delivery.Conn, it *Item) outcome {
	o := outcome{item: it, tried: 1, messageID: it.MessageID}
	if o.messageID == "" {
		o.messageID = delivery.NewMessageID(domainOf(it.FromEmail))
	}
	msg, err := d.render(ctx, it)
	if errors.Is(err, errContent) {
		// Released untouched, for another try.
		d.logger().Error("render failed", slog.Int64("outbox_id", it.ID), slog.String("kind", it.Kind), slog.Any("err", err))
		return released(it)
	}
	if err != nil {
		o.status, o.lastError = StatusFailed, truncate("render: "+err.Error())
		d.logger().Error("render failed", slog.Int64("outbox_id", it.ID), slog.String("kind", it.Kind), slog.Any("err", err))
		return o
	}
	if msg == nil {
		o.status, o.tried, o.lastError = StatusSkipped, 0, "nothing to send: the welcome email was removed"
		return o
	}
	msg.MessageID = o.messageID
	res := conn.Send(ctx, msg)
	now := d.now()
	o.code = res.Code
	if res.Err != nil {
		o.lastError = truncate(res.Err.Error())
	}
	switch res.Status {
	case delivery.Sent:
		o.status, o.sentAt = StatusSent, now
	case delivery.TempFailure:
		attempts := it.Attempts + 1
		if attempts >= cmp.Or(d.MaxAttempts, DefaultMaxAttempts) {
			o.status, o.temporary = StatusFailed, true
		} else {
			backoff := d.Backoff
			if backoff == nil {
				backoff = DefaultBackoff
			}
			o.status, o.dueAt = StatusQueued, now.Add(backoff(attempts))
		}
		d.logger().Warn("send failed, temporarily", slog.Int64("outbox_id", it.ID), slog.Int("attempts", attempts),
			slog.Int("smtp_code", res.Code), slog.String("status", o.status), slog.Any("err", res.Err))
	default:
		o.status = StatusFailed
		if res.AddressFailure {
			o.bounce = truncate(strings.TrimSpace(fmt.Sprintf("smtp %d %s %s", res.Code, res.Enhanced, o.lastError)))
		}
		d.logger().Warn("send failed", slog.Int64("outbox_id", it.ID), slog.Int("smtp_code", res.Code),
			slog.String("enhanced", res.Enhanced), slog.Bool("address_failure", res.AddressFailure), slog.Any("err", res.Err))
	}
	return o
}

// render makes the message of it; nil (and no error) when there is nothing
// to send.
func (d *Dispatcher) render(ctx context.Context, it *Item) (*delivery.Message, error) {
	if d.Renderer == nil || d.Links == nil {
		return nil, errors.New("dispatcher has no Renderer or Links")
	}
	l := templates.List{Name: it.ListName, FromName: it.FromName, PostalAddress: it.PostalAddress}
	unsubscribe := d.Links.Unsubscribe(it.SubscriptionID)
	to := templates.Recipient{Email: it.Email, Name: it.Name, UnsubscribeURL: unsubscribe, PreferencesURL: d.Links.Preferences(it.SubscriptionID)}
	var (
		m   *templates.Message
		err error
	)
	switch it.Kind {
	case KindConfirm:
		m, err = d.Renderer.Confirmation(l, to, d.Links.Confirm(it.SubscriptionID))
	case KindWelcome, KindBonus, KindStep, KindBroadcast:
		if it.Kind == KindWelcome && strings.TrimSpace(it.Subject) == "" {
			return nil, nil
		}
		var p *templates.Prepared
		if p, err = d.prepare(ctx, it, l); err == nil {
			m, err = p.For(to)
		}
	default:
		return nil, fmt.Errorf("cannot render a %q item", it.Kind)
	}
	if err != nil {
		return nil, err
	}
	return &delivery.Message{
		FromName: it.FromName, FromEmail: it.FromEmail, ReplyTo: it.ReplyTo,
		To: it.Email, ToName: it.Name,
		Subject: m.Subject, HTML: m.HTML, Text: m.Text,
		Headers: map[string]string{
			"List-Unsubscribe":      "<" + unsubscribe + ">",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
			"List-Id":               "<" + it.ListSlug + "." + d.listDomain(it.FromEmail) + ">",
			"X-Tidings-Outbox":      strconv.FormatInt(it.ID, 10),
		},
	}, nil
}

// errContent marks a failure to read a broadcast's content: the database's
// fault, not the message's, so the item is released rather than failed.
var errContent = errors.New("read content")

// prepare returns the content of it prepared for list l, from the cache when
// this version was prepared before, so that a broadcast (or a step) is laid
// out once and only filled in per recipient. Workers that miss at once wait
// for one of them to prepare it.
func (d *Dispatcher) prepare(ctx context.Context, it *Item, l templates.List) (*templates.Prepared, error) {
	key := preparedKey{kind: it.Kind, id: it.ContentID, at: it.ContentAt.UTC(), list: l}
	d.pmu.Lock()
	if d.prepared == nil {
		d.prepared = map[preparedKey]*preparedEntry{}
	}
	e, ok := d.prepared[key]
	if !ok {
		if len(d.prepared) >= maxPrepared {
			clear(d.prepared)
		}
		e = &preparedEntry{}
		d.prepared[key] = e
	}
	d.pmu.Unlock()
	e.once.Do(func() {
		c := templates.Content{Subject: it.Subject, Body: it.Body}
		if it.Kind == KindBroadcast {
			const q = `
				SELECT subject, body, preheader
				FROM broadcasts
				WHERE id = $1`
			row := d.DB.QueryRowxContext(ctx, q, it.BroadcastID)
			if err := row.Scan(&c.Subject, &c.Body, &c.Preheader); err != nil {
				e.err = fmt.Errorf("%w of broadcast %d: %w", errContent, it.BroadcastID, err)
				return
			}
		}
		e.p, e.err = d.Renderer.Prepare(c, l)
	})
	if errors.Is(e.err, errContent) {
		d.pmu.Lock()
		if d.prepared[key] == e {
			delete(d.prepared, key) // try again next time
		}
		d.pmu.Unlock()
	}
	return e.p, e.err
}

// record writes outcomes in one statement. Each row is only written while
// it is still under the claim it was sent under.
func (d *Dispatcher) record(ctx context.Context, outcomes []outcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	n := len(outcomes)
	var (
		ids, leases                = make([]int64, n), make([]string, n)
		statuses, dues, messageIDs = make([]string, n), make([]string, n), make([]string, n)
		errs, sentAts              = make([]string, n), make([]string, n)
		tried, codes               = make([]int64, n), make([]int64, n)
		temporary                  = make([]bool, n)
	)
	for i, o := range outcomes {
		ids[i], leases[i] = o.item.ID, o.item.LeaseUntil.Format(time.RFC3339Nano)
		statuses[i], messageIDs[i], errs[i] = o.status, o.messageID, o.lastError
		tried[i], codes[i], temporary[i] = int64(o.tried), int64(o.code), o.temporary
		if !o.dueAt.IsZero() {
			dues[i] = o.dueAt.Format(time.RFC3339Nano)
		}
		if !o.sentAt.IsZero() {
			sentAts[i] = o.sentAt.Format(time.RFC3339Nano)
		}
	}
	const q = `
		UPDATE outbox o
		SET status = u.status,
		    attempts = o.attempts + u.tried,
		    due_at = COALESCE(NULLIF(u.due_at, '')::timestamptz, o.due_at),
		    lease_until = NULL,
		    message_id = u.message_id,
		    smtp_code = CASE WHEN u.tried > 0 THEN u.smtp_code ELSE o.smtp_code END,
		    last_error = CASE WHEN u.tried > 0 OR u.status = 'skipped' THEN u.last_error ELSE o.last_error END,
		    temporary = u.temporary,
		    sent_at = NULLIF(u.sent_at, '')::timestamptz,
		    updated_at = $1
		FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::bigint[], $9::text[], $10::bool[], $11::text[])
		    AS u(id, lease, status, tried, due_at, message_id, smtp_code, last_error, temporary, sent_at)
		WHERE o.id = u.id
		  AND o.status = 'sending'
		  AND o.lease_until = u.lease::timestamptz`
	res, err := d.DB.ExecContext(ctx, q, d.now(), pq.Array(ids), pq.Array(leases), pq.Array(statuses), pq.Array(tried),
		pq.Array(dues), pq.Array(messageIDs), pq.Array(codes), pq.Array(errs), pq.Array(temporary), pq.Array(sentAts))
	if err != nil {
		return fmt.Errorf("campaigns: record %d outcomes: %w", n, err)
	}
	if got, _ := res.RowsAffected(); got != int64(n) {
		// Another dispatcher re-claimed them after our lease ran out.
		d.logger().Warn("outcomes not recorded: lease lost", slog.Int64("lost", int64(n)-got))
	}
	return nil
}

// bounce calls OnBounce once per bad address.
func (d *Dispatcher) bounce(ctx context.Context, outcomes []outcome) {
	if d.OnBounce == nil {
		return
	}
	done := map[string]bool{}
	for _, o := range outcomes {
		if o.bounce == "" || done[o.item.Email] {
			continue
		}
		done[o.item.Email] = true
		if err := d.OnBounce(ctx, o.item.Email, o.bounce); err != nil {
			d.logger().Error("bounce failed", slog.Int64("outbox_id", o.item.ID), slog.Any("err", err))
		}
	}
}

// Run dispatches until ctx is done. It works as a pipeline, so the SMTP
// connections are never idle for the database: one goroutine claims batches
// (at most about two ahead of the workers, waiting PollInterval when nothing
// is due), Workers goroutines send each through its own persistent
// connection as soon as it is claimed, and one goroutine records the
// outcomes, as many in one statement as have arrived while it recorded the
// last ones. On the way out it finishes the sends under way, releases the
// rest of its claim, records everything, closes its connections and returns
// nil. A failed claim or record is logged; the rows of a failed record are
// claimed again when their lease runs out.
func (d *Dispatcher) Run(ctx context.Context) error {
	defer d.Close()
	size := cmp.Or(d.BatchSize, DefaultDispatchSize)
	if d.Rate > 0 {
		// Claim no more than goes out in a quarter of the lease at this rate,
		// so that what waits in the pipeline is sent long before its lease
		// runs out (see expiring).
		size = max(1, min(size, int(d.Rate*cmp.Or(d.Lease, DefaultLease).Seconds()/4)))
	}
	claimed := make(chan *Item, size)    // waiting for a worker
	outcomes := make(chan outcome, size) // waiting to be recorded

	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		d.recordLoop(outcomes, size)
	}()

	var wg sync.WaitGroup
	for range cmp.Or(d.Workers, DefaultWorkers) {
		wg.Go(func() {
			conn := d.takeConn()
			defer d.putConn(conn)
			for it := range claimed {
				if ctx.Err() != nil || d.wait(ctx) != nil || d.expiring(it) {
					outcomes <- released(it)
					continue
				}
				// A send under way is finished even when ctx ends; delivery's
				// own timeout bounds it.
				outcomes <- d.send(context.WithoutCancel(ctx), conn, it)
			}
		})
	}

	poll := cmp.Or(d.PollInterval, DefaultPollInterval)
	for ctx.Err() == nil {
		items, skipped, err := d.claim(ctx, size)
		if err != nil && ctx.Err() == nil {
			d.logger().Error("claim failed", slog.Any("err", err))
		}
		for i := range items {
			select {
			case claimed <- &items[i]:
			case <-ctx.Done():
				outcomes <- released(&items[i])
			}
		}
		if err == nil && len(items)+skipped > 0 {
			continue
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	close(claimed)
	wg.Wait()
	close(outcomes)
	<-recorded
	return nil
}

// expiring reports whether it has waited so long since its claim that less
// than a quarter of its lease is left: too little to send it and record the
// outcome before another dispatcher may claim it again. Such an item is
// released rather than sent, so that it is never sent under two claims.
func (d *Dispatcher) expiring(it *Item) bool {
	return !d.now().Before(it.LeaseUntil.Add(-cmp.Or(d.Lease, DefaultLease) / 4))
}

// released is the outcome of an item claimed but not sent: it is queued
// again untouched, for this or another dispatcher.
func released(it *Item) outcome {
	return outcome{item: it, status: StatusQueued, dueAt: it.DueAt, messageID: it.MessageID}
}

// recordGather is how long recordLoop waits for more outcomes to record
// with the first one.
const recordGather = 20 * time.Millisecond

// recordLoop records outcomes until the channel is closed: each time, those
// that arrive within recordGather of the first (up to size) in one statement,
// then their bounces.
func (d *Dispatcher) recordLoop(outcomes <-chan outcome, size int) {
	// Record even when the Run's ctx has ended: what was sent must not be
	// sent again.
	ctx := context.Background()
	batch := make([]outcome, 0, size)
	for o := range outcomes {
		batch = append(batch[:0], o)
		// Wait a little for more: a statement costs Postgres about as much
		// as a dozen rows, so many small ones would cost more than the rows.
		gather := time.NewTimer(recordGather)
	more:
		for len(batch) < size {
			select {
			case o, ok := <-outcomes:
				if !ok {
					break more
				}
				batch = append(batch, o)
			case <-gather.C:
				break more
			}
		}
		gather.Stop()
		if err := d.record(ctx, batch); err != nil {
			d.logger().Error("record failed", slog.Int("outcomes", len(batch)), slog.Any("err", err))
			continue
		}
		d.bounce(ctx, batch)
	}
}

// Close closes the idle connections. The Dispatcher may still be used: it
// connects again when it next sends.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	conns := d.conns
	d.conns = nil
	d.mu.Unlock()
	var errs []error
	for _, c := range conns {
		errs = append(errs, c.Close())
	}
	d.smu.Lock()
	if d.claimStmt != nil {
		errs = append(errs, d.claimStmt.Close())
		d.claimStmt = nil
	}
	d.smu.Unlock()
	return errors.Join(errs...)
}

// takeConn returns an idle connection, or a new one that connects on its
// first send (so an unreachable relay is a temporary failure of that send).
func (d *Dispatcher) takeConn() *delivery.Conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n := len(d.conns); n > 0 {
		c := d.conns[n-1]
		d.conns = d.conns[:n-1]
		return c
	}
	return d.Sender.NewConn()
}

// putConn keeps c for the next batch.
func (d *Dispatcher) putConn(c *delivery.Conn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.conns = append(d.conns, c)
}

// listDomain is the right-hand side of List-Id.
func (d *Dispatcher) listDomain(fromEmail string) string {
	if u, err := url.Parse(d.BaseURL); err == nil && u.Hostname() != "" && !strings.Contains(u.Hostname(), ":") {
		return u.Hostname()
	}
	return domainOf(fromEmail)
}

func domainOf(email string) string {
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		return email[i+1:]
	}
	return ""
}

func truncate(s string) string {
	if len(s) <= maxErrorLen {
		return s
	}
	s = s[:maxErrorLen]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
