package campaigns

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings/delivery"
	"github.com/tidings/tidings/templates"
)

// Dispatcher defaults.
const (
	DefaultWorkers      = 10
	DefaultDispatchSize = 100 // a claim; what a crash may send twice (make bench went as fast with 100, 200 and 400)
	DefaultMaxAttempts  = 11  // with DefaultRetrySchedule, about four hours of tries
	DefaultPollInterval = time.Second
	// DefaultClaimTimeout is how long a claim holds its rows: longer than
	// any send of a group may take at the default SMTP timeout (see
	// groups), and what a crash delays the rows it had in flight by.
	DefaultClaimTimeout = 30 * time.Minute
)

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
// A claim marks its rows claimed, by its name and until ClaimTimeout has
// passed, and commits at once; the sending happens outside any transaction,
// and the outcomes are recorded in a second short one (see claimer). So
// anything else that writes the rows (an unsubscribe skipping what is
// queued for it, a cancelled broadcast, an erase) never waits for a send.
// Just before a group of items is sent, it checks that the claim still
// holds them and that each may still be mailed; a message the relay has
// already been handed is the only one a change made after that may not
// stop. A dispatcher that dies loses nothing: its claims lapse, and their
// rows are claimed again then (those in flight when it died may then be
// sent twice; nothing else is).
//
// Every message carries List-Unsubscribe and List-Unsubscribe-Post (RFC 2369,
// RFC 8058), List-Id (RFC 2919), a unique Message-ID (RFC 5322) kept in the
// outbox row and reused on retries, and Feedback-ID (Gmail's feedback loop:
// content, list, kind and sender); a confirmation also carries
// Auto-Submitted: auto-generated (RFC 3834). No header carries the outbox
// row's id, which would tell how much was sent.
type Dispatcher struct {
	DB  *sqlx.DB
	Now func() time.Time
	// Pool hands out the SMTP connections and paces the sends
	// (TIDINGS_SEND_RATE); Run and RunOnce use at most Workers of them at
	// once. Close closes its idle connections.
	Pool     *delivery.Pool
	Renderer *templates.Renderer
	Links    Links
	// BaseURL is the public URL of this Tidings; its host names the lists in
	// List-Id. Empty: the domain of the list's from address.
	BaseURL string

	Workers   int // parallel SMTP connections; default DefaultWorkers
	BatchSize int // items claimed at once; default DefaultDispatchSize
	// ClaimTimeout is how long a claim holds its rows
	// (TIDINGS_CLAIM_TIMEOUT); default DefaultClaimTimeout. A group is sent
	// only while its claim has longer left than the send may take
	// (delivery.Pool.MaxSendTime), so no live dispatcher's message is sent
	// twice.
	ClaimTimeout time.Duration
	MaxAttempts  int           // sends tried before a temporary failure is final; default DefaultMaxAttempts
	Retries      RetrySchedule // waits after temporary failures (TIDINGS_RETRY_SCHEDULE); nil: DefaultRetrySchedule

	// OnBounce is called, after the outcome is recorded, for each permanent
	// failure that says the address itself is bad (RFC 3463 X.1.x, X.2.1).
	// cmd/tidings wires it to subscribers.Store.Bounce.
	OnBounce func(ctx context.Context, email, reason string) error

	Logger       *slog.Logger
	PollInterval time.Duration // wait when nothing is due; default DefaultPollInterval

	// Wake, when not nil, ends Run's wait when nothing was due, before
	// PollInterval is up: ListenQueue makes one that Postgres sets off when
	// mail is queued. Mail that falls due later (a step, a retry) is found
	// by polling.
	Wake <-chan struct{}

	claimOnce sync.Once
	claims    *claimer // see outbox

	prepared      preparedCache     // rendered once, filled in per recipient
	confirmations confirmationCache // the same, for confirmation emails

	hostOnce sync.Once
	host     string // of BaseURL; see listDomain
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

// outbox returns the claimer of d's outbox.
func (d *Dispatcher) outbox() *claimer {
	d.claimOnce.Do(func() { d.claims = newClaimer(d.DB, cmp.Or(d.ClaimTimeout, DefaultClaimTimeout)) })
	return d.claims
}

// rate is the Pool's pace now, 0 for no limit: its Rate, or less while the
// relay is overloaded.
func (d *Dispatcher) rate() float64 {
	if d.Pool == nil {
		return 0
	}
	return d.Pool.Pace()
}

func (d *Dispatcher) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.New(slog.DiscardHandler)
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
	b, err := d.outbox().claim(ctx, d.now(), cmp.Or(d.BatchSize, DefaultDispatchSize))
	if err != nil || len(b.Items) == 0 {
		return 0, err
	}
	outcomes := d.sendAll(ctx, b.Items)
	// Record even when ctx has ended: what was sent must not be sent again.
	bg := context.WithoutCancel(ctx)
	if err := d.outbox().record(bg, d.now(), b, outcomes); err != nil {
		return 0, err
	}
	d.finish(bg, outcomes)
	processed := 0
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
			conn := d.Pool.Take()
			defer d.Pool.Put(conn)
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
// Rate, so that the limiter spaces the sends themselves), and no more than
// can be sent in half the claim's time, so that a group that waited for a
// worker still fits in what is left of its claim. Items of one subscriber
// that follow each other, as the welcome email and the bonuses queued with
// it do in claim order, stay in one group, so that they go out one after
// another over one connection, in order.
func (d *Dispatcher) groups(items []Item, workers int) [][]*Item {
	size := maxGroup
	if d.rate() > 0 {
		size = 1
	}
	size = max(1, min(size, (len(items)+workers-1)/max(workers, 1)))
	for half := d.outbox().lease / 2; size > 1 && d.Pool.MaxSendTime(size) > half; {
		size--
	}
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
// (or while it waited for Rate). Just before the send, the claim's check
// (claimer.mailable) skips the items that may no longer be mailed, and
// leaves out those the claim no longer holds for long enough to send them.
// The messages go to conn.SendAll together, so that each goes out in one
// write with the end of the one before; a group sent through a slow relay
// is checked again, before each message that starts recheckAfter or more
// after the last check (see recheck), so that an unsubscribe stops what is
// not yet in the relay. The send under way is finished even when ctx ends;
// delivery's own timeout bounds it.
func (d *Dispatcher) sendGroup(ctx context.Context, conn *delivery.Conn, items []*Item) []outcome {
	outcomes := make([]outcome, len(items))
	msgs := make([]*delivery.Message, 0, len(items))
	sending := make([]int, 0, len(items)) // indexes of msgs in items
	for i, it := range items {
		if ctx.Err() != nil || d.Pool.Wait(ctx) != nil {
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
	for len(msgs) > 0 {
		if msgs, sending = d.check(ctx, items, outcomes, msgs, sending); len(msgs) == 0 {
			break
		}
		stop := d.recheck(ctx, items, sending)
		kept := 0
		for j, res := range conn.SendAll(context.WithoutCancel(ctx), stop, msgs) {
			i := sending[j]
			switch {
			case errors.Is(res.Err, delivery.ErrNotSent) && ctx.Err() == nil:
				// recheck found one that may no longer go: check them again.
				msgs[kept], sending[kept] = msgs[j], i
				kept++
			case errors.Is(res.Err, delivery.ErrNotSent):
				outcomes[i] = released(items[i])
			default:
				// The Pool slows down for a relay that says it is
				// overloaded, rather than each item retrying on its own.
				d.Pool.Report(res)
				outcomes[i] = d.sent(outcomes[i], items[i], res)
			}
		}
		msgs, sending = msgs[:kept], sending[:kept]
	}
	return outcomes
}

// recheckAfter is how old the last check of a group may be when its next
// message starts. A group through a fast relay is gone long before; one
// through a slow relay, or one that waits on a relay's replies, is checked
// again before each message, at the cost of one short query each.
const recheckAfter = 100 * time.Millisecond

// recheck returns conn.SendAll's stop for the messages of items[sending[j]]:
// it says true when ctx has ended, or when a message is about to start
// recheckAfter or more after the last check and the check says that one of
// it and those after it may no longer be sent. sendGroup then checks the
// rest again, and skips those.
func (d *Dispatcher) recheck(ctx context.Context, items []*Item, sending []int) func(next int) bool {
	checked, stopped := d.now(), false
	return func(next int) bool {
		if stopped || ctx.Err() != nil {
			stopped = true
			return true
		}
		if d.now().Sub(checked) < recheckAfter {
			return false
		}
		ok := d.mailable(ctx, items, sending[next:])
		checked = d.now()
		for _, i := range sending[next:] {
			if !ok[items[i].ID] {
				stopped = true
			}
		}
		return stopped
	}
}

// check runs the last check before msgs, the messages of items[sending[j]],
// are sent: it fills in the outcomes of those that must not be sent, and
// returns the rest. When the check itself fails, nothing is sent.
func (d *Dispatcher) check(ctx context.Context, items []*Item, outcomes []outcome, msgs []*delivery.Message, sending []int) ([]*delivery.Message, []int) {
	ok := d.mailable(ctx, items, sending)
	kept := 0
	for j, i := range sending {
		mailable, held := ok[items[i].ID]
		switch {
		case !held:
			outcomes[i] = released(items[i])
		case !mailable:
			outcomes[i] = outcome{item: items[i], status: StatusSkipped, messageID: items[i].MessageID, lastError: "not mailable when sending"}
		default:
			msgs[kept], sending[kept] = msgs[j], i
			kept++
		}
	}
	return msgs[:kept], sending[:kept]
}

// mailable runs the claim's check (claimer.mailable) for items[sending[j]],
// all of one batch, as of a send that starts now. A failed check is logged
// and holds none of them.
func (d *Dispatcher) mailable(ctx context.Context, items []*Item, sending []int) map[int64]bool {
	ids := make([]int64, len(sending))
	for j, i := range sending {
		ids[j] = items[i].ID
	}
	b := items[sending[0]].batch
	ok, err := d.outbox().mailable(context.WithoutCancel(ctx), b, ids, d.now().Add(d.Pool.MaxSendTime(len(ids))))
	if err != nil {
		d.logger().Error("check failed", slog.Int("items", len(ids)), slog.Any("err", err))
	}
	return ok
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

// Run dispatches until ctx is done. It works as a pipeline, so the SMTP
// connections are never idle for the database: one goroutine claims batches
// (at most about two ahead of the workers, waiting PollInterval or for Wake
// when nothing is due), Workers goroutines send the items through their own
// persistent connections as soon as they are claimed, a group at a time
// (see groups), and one goroutine records each batch once its last item is
// done, in one statement. OnBounce is called after that, apart from the
// pipeline, so that a bounce's own transaction never holds up the recording.
// On the way out Run finishes the sends under way, releases the rest of its
// claims, records everything, closes its connections and returns nil. A
// failed claim or record is logged; the rows of a failed record stay claimed
// until their claim lapses, and are then claimed again.
func (d *Dispatcher) Run(ctx context.Context) error {
	defer d.Close()
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
			conn := d.Pool.Take()
			defer d.Pool.Put(conn)
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
		size := cmp.Or(d.BatchSize, DefaultDispatchSize)
		if r := d.rate(); r > 0 {
			// Claim no more than goes out in claimHold at this pace, so that
			// a claim's rows are sent long before it lapses, and a crash
			// leaves few in flight. The pace falls while the relay is
			// overloaded, so it is read for each claim.
			size = max(1, min(size, int(r*claimHold.Seconds())))
		}
		b, err := d.outbox().claim(ctx, d.now(), size)
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
		if err == nil && len(b.Items) > 0 {
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

// recordLoop records each finished batch until the channel is closed, then
// waits for the bounces it started.
func (d *Dispatcher) recordLoop(finished <-chan *Batch) {
	// Record even when the Run's ctx has ended: what was sent must not be
	// sent again.
	ctx := context.Background()
	var bounces sync.WaitGroup
	defer bounces.Wait()
	for b := range finished {
		if err := d.outbox().record(ctx, d.now(), b, b.outcomes); err != nil {
			d.logger().Error("record failed", slog.Int("outcomes", len(b.outcomes)), slog.Any("err", err))
			continue
		}
		d.finish(ctx, b.outcomes)
		if slices.ContainsFunc(b.outcomes, func(o outcome) bool { return o.bounce != "" }) {
			bounces.Go(func() { d.bounce(ctx, b.outcomes) })
		}
	}
}

// Close closes the Pool's idle connections and the prepared claim
// statements. The Dispatcher may still be used: it connects and prepares
// again when it next sends.
func (d *Dispatcher) Close() error {
	var errs []error
	if d.Pool != nil {
		errs = append(errs, d.Pool.Close())
	}
	errs = append(errs, d.outbox().close())
	return errors.Join(errs...)
}
