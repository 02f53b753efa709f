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
	DefaultDispatchSize = 100 // a claim; what a crash may send twice (make bench went as fast with 100, 200 and 400)
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
	// ConfirmGeneration is the link of the confirmation request of that
	// generation (Item.ConfirmGeneration).
	ConfirmGeneration(subscriptionID int64, generation int) string
}

// Dispatcher sends the outbox: it claims due items in batches, renders each
// at send time (so an edited step sends its new text), sends it through a
// persistent SMTP connection per worker, and records the outcomes in one
// statement per batch.
//
// Any number of dispatchers, in one process or many, may share a database.
// A claim is a transaction that locks its rows with FOR UPDATE SKIP LOCKED
// and holds them until it writes their outcomes and commits, so each row is
// written once, when it has been sent. A dispatcher that dies loses nothing:
// Postgres ends its transaction, and its rows are queued and claimable again
// at once (those in flight when it died may then be sent twice; nothing else
// is). While a claim holds a row, anything else that writes the row (an
// unsubscribe skipping what is queued for it, a cancelled broadcast) waits
// for the claim's outcome; for a batch that is well under a second.
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

	// Wake, when not nil, ends Run's wait when nothing was due, before
	// PollInterval is up: ListenQueue makes one that Postgres sets off when
	// mail is queued. Mail that falls due later (a step, a retry) is found
	// by polling.
	Wake <-chan struct{}

	mu      sync.Mutex
	conns   []*delivery.Conn // idle persistent connections
	limOnce sync.Once
	limiter *rate.Limiter // nil: no limit

	pmu      sync.Mutex
	prepared map[preparedKey]*preparedEntry // rendered once, filled in per recipient

	hostOnce sync.Once
	host     string // of BaseURL; see listDomain

	smu        sync.Mutex
	claimStmts map[int]*sqlx.Stmt // the claim of up to n, prepared once; see claim
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
	b, _, err := d.claim(ctx, n)
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
func (d *Dispatcher) claim(ctx context.Context, n int) (b *Batch, skipped int, err error) {
	b = &Batch{}
	if n <= 0 {
		return b, 0, nil
	}
	d.smu.Lock()
	stmt := d.claimStmts[n]
	if stmt == nil {
		if stmt, err = d.DB.PreparexContext(ctx, claimQuery(n)); err != nil {
			d.smu.Unlock()
			return b, 0, fmt.Errorf("campaigns: claim: %w", err)
		}
		if d.claimStmts == nil {
			d.claimStmts = map[int]*sqlx.Stmt{}
		}
		d.claimStmts[n] = stmt
	}
	d.smu.Unlock()

	// The transaction outlives ctx: what is sent under it must be recorded
	// even when ctx ends, and database/sql rolls back a transaction whose
	// context ends.
	tx, err := d.DB.BeginTxx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return b, 0, fmt.Errorf("campaigns: claim: %w", err)
	}
	rows := make([]Item, 0, n) // sqlx appends to it; grown one by one, it was a tenth of what a sender allocates
	_, err = tx.ExecContext(ctx, `SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL jit = off`)
	if err == nil {
		err = tx.StmtxContext(ctx, stmt).SelectContext(ctx, &rows, d.now())
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
	b, skipped, err := d.claim(ctx, cmp.Or(d.BatchSize, DefaultDispatchSize))
	if err != nil || len(b.Items) == 0 {
		return skipped, err
	}
	outcomes := d.sendAll(ctx, b.Items)
	// Record even when ctx has ended: what was sent must not be sent again.
	bg := context.WithoutCancel(ctx)
	if err := d.record(bg, b, outcomes); err != nil {
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

// sendAll sends items in order through up to Workers connections, in the
// groups of d.groups.
func (d *Dispatcher) sendAll(ctx context.Context, items []Item) []outcome {
	outcomes := make([]outcome, len(items))
	workers := min(cmp.Or(d.Workers, DefaultWorkers), len(items))
	type job struct {
		lo    int // the index of the group's first item
		group []*Item
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			conn := d.takeConn()
			defer d.putConn(conn)
			for j := range jobs {
				copy(outcomes[j.lo:], d.sendGroup(ctx, conn, j.group))
			}
		})
	}
	lo := 0
	for _, group := range d.groups(items, workers) {
		jobs <- job{lo, group}
		lo += len(group)
	}
	close(jobs)
	wg.Wait()
	return outcomes
}

// maxGroup is the most messages a worker hands its connection at once (see
// sendGroup), but for one subscriber's. The gain of one more falls as 1/n²,
// and a group's last message waits for all the others.
const maxGroup = 16

// groups splits items, in order, into the groups that workers connections
// send (see sendGroup): an equal share each, of at most maxGroup (one under
// Rate, so that the limiter spaces the sends themselves). Items of one
// subscriber that follow each other, as the welcome email and the bonuses
// queued with it do in claim order, stay in one group, so that they go out
// one after another over one connection, in order.
func (d *Dispatcher) groups(items []Item, workers int) [][]*Item {
	size := maxGroup
	if d.Rate > 0 {
		size = 1
	}
	size = max(1, min(size, (len(items)+workers-1)/max(workers, 1)))
	ptrs := make([]*Item, len(items))
	for i := range items {
		ptrs[i] = &items[i]
	}
	var groups [][]*Item
	for lo := 0; lo < len(ptrs); {
		hi := min(lo+size, len(ptrs))
		for hi < len(ptrs) && ptrs[hi].SubscriberID == ptrs[hi-1].SubscriberID {
			hi++
		}
		groups = append(groups, ptrs[lo:hi:hi])
		lo = hi
	}
	return groups
}

// sendGroup sends items, in order, through conn, and says what became of
// each. An item is released untouched when ctx has ended before its turn
// (or while it waited for Rate). The send under way is finished even when
// ctx ends; delivery's own timeout bounds it. The messages go to
// conn.SendAll together, so that each goes out in one write with the end of
// the one before.
func (d *Dispatcher) sendGroup(ctx context.Context, conn *delivery.Conn, items []*Item) []outcome {
	outcomes := make([]outcome, len(items))
	msgs := make([]*delivery.Message, 0, len(items))
	sending := make([]int, 0, len(items)) // indexes of msgs in items
	for i, it := range items {
		if ctx.Err() != nil || d.wait(ctx) != nil {
			outcomes[i] = released(it)
			continue
		}
		o, msg := d.prepareSend(ctx, it)
		outcomes[i] = o
		if msg != nil {
			msgs = append(msgs, msg)
			sending = append(sending, i)
		}
	}
	if len(msgs) == 0 {
		return outcomes
	}
	for j, res := range conn.SendAll(context.WithoutCancel(ctx), ctx.Done(), msgs) {
		i := sending[j]
		if errors.Is(res.Err, delivery.ErrNotSent) {
			outcomes[i] = released(items[i])
			continue
		}
		outcomes[i] = d.sent(outcomes[i], items[i], res)
	}
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

// prepareSend renders the message of it. When there is one to send it
// returns it, with the outcome that sent fills in; otherwise the outcome is
// final and the message nil.
func (d *Dispatcher) prepareSend(ctx context.Context, it *Item) (outcome, *delivery.Message) {
	o := outcome{item: it, tried: 1, messageID: it.MessageID}
	if o.messageID == "" {
		o.messageID = delivery.NewMessageID(domainOf(it.FromEmail))
	}
	msg, err := d.render(ctx, it)
	if errors.Is(err, errContent) {
		// Released untouched, for another try.
		d.logger().Error("render failed", slog.Int64("outbox_id", it.ID), slog.String("kind", it.Kind), slog.Any("err", err))
		return released(it), nil
	}
	if err != nil {
		o.status, o.lastError = StatusFailed, truncate("render: "+err.Error())
		d.logger().Error("render failed", slog.Int64("outbox_id", it.ID), slog.String("kind", it.Kind), slog.Any("err", err))
		return o, nil
	}
	if msg == nil {
		o.status, o.tried, o.lastError = StatusSkipped, 0, "nothing to send: the welcome email was removed"
		return o, nil
	}
	msg.MessageID = o.messageID
	return o, msg
}

// sent fills in o, the outcome of it, from the result of its send.
func (d *Dispatcher) sent(o outcome, it *Item, res delivery.Result) outcome {
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
	msg := &delivery.Message{
		FromName: it.FromName, FromEmail: it.FromEmail, ReplyTo: it.ReplyTo,
		To: it.Email, ToName: it.Name,
	}
	switch it.Kind {
	case KindConfirm:
		m, err := d.Renderer.Confirmation(l, to, d.Links.ConfirmGeneration(it.SubscriptionID, it.ConfirmGeneration))
		if err != nil {
			return nil, err
		}
		msg.Subject, msg.HTML, msg.Text = m.Subject, m.HTML, m.Text
	case KindWelcome, KindBonus, KindStep, KindBroadcast:
		if it.Kind == KindWelcome && strings.TrimSpace(it.Subject) == "" {
			return nil, nil
		}
		p, err := d.prepare(ctx, it, l)
		if err != nil {
			return nil, err
		}
		// In pieces: what every recipient of the content shares is encoded
		// once, by the Sender.
		m, err := p.SplicedFor(to)
		if err != nil {
			return nil, err
		}
		html, text := delivery.Spliced(m.HTML), delivery.Spliced(m.Text)
		msg.Subject, msg.HTMLSpliced, msg.TextSpliced = m.Subject, &html, &text
	default:
		return nil, fmt.Errorf("cannot render a %q item", it.Kind)
	}
	msg.Headers = map[string]string{
		"List-Unsubscribe":      "<" + unsubscribe + ">",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		"List-Id":               "<" + it.ListSlug + "." + d.listDomain(it.FromEmail) + ">",
		"X-Tidings-Outbox":      strconv.FormatInt(it.ID, 10),
	}
	return msg, nil
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

// record writes the outcomes of b's items in one statement and commits b,
// which releases its rows. Items released unsent are left as they were. When
// it fails, b is rolled back, and its items are queued again as they were
// before the claim.
func (d *Dispatcher) record(ctx context.Context, b *Batch, outcomes []outcome) error {
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
		if _, err := b.tx.ExecContext(ctx, q, d.now(), pq.Array(ids), pq.Array(statuses), pq.Array(tried), pq.Array(dues),
			pq.Array(messageIDs), pq.Array(codes), pq.Array(errs), pq.Array(temporary), pq.Array(sentAts)); err != nil {
			return fmt.Errorf("campaigns: record %d outcomes: %w", len(ids), err)
		}
	}
	if err := b.tx.Commit(); err != nil {
		return fmt.Errorf("campaigns: record %d outcomes: %w", len(ids), err)
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
// (at most about two ahead of the workers, waiting PollInterval or for Wake
// when nothing is due), Workers goroutines send the items through their own
// persistent connections as soon as they are claimed, a group at a time
// (see groups), and one goroutine records each batch once its last item is
// done, in one statement, and commits it. OnBounce is called after that,
// apart from the pipeline: it may have to wait for another batch that holds
// a row of the same subscriber. On the way out Run finishes the sends under
// way, releases the rest of its claims, records everything, closes its
// connections and returns nil. A failed claim or record is logged; the rows
// of a failed record are queued again as they were.
func (d *Dispatcher) Run(ctx context.Context) error {
	defer d.Close()
	size := cmp.Or(d.BatchSize, DefaultDispatchSize)
	if d.Rate > 0 {
		// Claim no more than goes out in claimHold at this rate, so that a
		// claim does not hold its rows (and keep an unsubscribe waiting)
		// for long.
		size = max(1, min(size, int(d.Rate*claimHold.Seconds())))
	}
	workers := cmp.Or(d.Workers, DefaultWorkers)
	claimed := make(chan []*Item, workers) // waiting for a worker: about a batch
	finished := make(chan *Batch, 4)       // waiting to be recorded

	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		d.recordLoop(finished)
	}()

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			conn := d.takeConn()
			defer d.putConn(conn)
			for group := range claimed {
				for _, o := range d.sendGroup(ctx, conn, group) {
					if o.item.batch.add(o) {
						finished <- o.item.batch
					}
				}
			}
		})
	}

	poll := cmp.Or(d.PollInterval, DefaultPollInterval)
	for ctx.Err() == nil {
		b, skipped, err := d.claim(ctx, size)
		if err != nil && ctx.Err() == nil {
			d.logger().Error("claim failed", slog.Any("err", err))
		}
		for _, group := range d.groups(b.Items, workers) {
			select {
			case claimed <- group:
			case <-ctx.Done():
				for _, it := range group {
					if b.add(released(it)) {
						finished <- b
					}
				}
			}
		}
		if err == nil && len(b.Items)+skipped > 0 {
			continue
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-d.Wake:
		}
		t.Stop()
	}
	close(claimed)
	wg.Wait()
	close(finished)
	<-recorded
	return nil
}

// claimHold is about the longest a claim of Run holds its rows when Rate
// limits the sending.
const claimHold = 2 * time.Second

// released is the outcome of an item claimed but not sent: it is left
// queued, untouched, for this or another dispatcher.
func released(it *Item) outcome {
	return outcome{item: it, status: StatusQueued, dueAt: it.DueAt, messageID: it.MessageID}
}

// recordLoop records each finished batch until the channel is closed, then
// waits for the bounces it started.
func (d *Dispatcher) recordLoop(finished <-chan *Batch) {
	// Record even when the Run's ctx has ended: what was sent must not be
	// sent again.
	ctx := context.Background()
	var bounces sync.WaitGroup
	defer bounces.Wait()
	for b := range finished {
		if err := d.record(ctx, b, b.outcomes); err != nil {
			d.logger().Error("record failed", slog.Int("outcomes", len(b.outcomes)), slog.Any("err", err))
			continue
		}
		if slices.ContainsFunc(b.outcomes, func(o outcome) bool { return o.bounce != "" }) {
			bounces.Go(func() { d.bounce(ctx, b.outcomes) })
		}
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
	for _, stmt := range d.claimStmts {
		errs = append(errs, stmt.Close())
	}
	d.claimStmts = nil
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

// listDomain is the right-hand side of List-Id: the host of BaseURL (read
// once), else the domain of the from address.
func (d *Dispatcher) listDomain(fromEmail string) string {
	d.hostOnce.Do(func() {
		if u, err := url.Parse(d.BaseURL); err == nil && u.Hostname() != "" && !strings.Contains(u.Hostname(), ":") {
			d.host = u.Hostname()
		}
	})
	if d.host != "" {
		return d.host
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
