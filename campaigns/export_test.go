package campaigns

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings/templates"
)

// Claimer is the outbox's claim and record, for tests.
type Claimer struct{ c *claimer }

// NewClaimer returns a claimer on db whose claims hold for lease, as a
// Dispatcher has.
func NewClaimer(db *sqlx.DB, lease time.Duration) *Claimer {
	return &Claimer{newClaimer(db, lease)}
}

// Claim claims up to n items due at now.
func (c *Claimer) Claim(ctx context.Context, now time.Time, n int) (*Batch, error) {
	return c.c.claim(ctx, now, n)
}

// Check is the check before b's items are sent, for a send that ends by
// until: which of them b still holds, and whether each may be mailed.
func (c *Claimer) Check(ctx context.Context, b *Batch, until time.Time) (map[int64]bool, error) {
	ids := make([]int64, len(b.Items))
	for i := range b.Items {
		ids[i] = b.Items[i].ID
	}
	return c.c.mailable(ctx, b, ids, until)
}

// Record records b: the items whose id is in sent as sent at now, those in
// retry as queued again at retry's time, and the rest released.
func (c *Claimer) Record(ctx context.Context, now time.Time, b *Batch, sent map[int64]bool, retry map[int64]time.Time) error {
	outcomes := make([]outcome, 0, len(b.Items))
	for i := range b.Items {
		it := &b.Items[i]
		o := released(it)
		switch {
		case sent[it.ID]:
			o = outcome{item: it, status: StatusSent, tried: 1, messageID: "<m" + it.Email + ">", code: 250, sentAt: now}
		case !retry[it.ID].IsZero():
			o = outcome{item: it, status: StatusQueued, tried: 1, messageID: "<m" + it.Email + ">", code: 451, lastError: "later", dueAt: retry[it.ID]}
		}
		outcomes = append(outcomes, o)
	}
	return c.c.record(ctx, now, b, outcomes)
}

// Close closes the prepared statements.
func (c *Claimer) Close() error { return c.c.close() }

// ListHeaders is listHeaders.
var ListHeaders = listHeaders

// PreparedCache is a preparedCache, for tests.
type PreparedCache = preparedCache

// PreparedKey names a version of content kind id changed at.
func PreparedKey(kind string, id int64, at time.Time) preparedKey {
	return preparedKey{kind: kind, id: id, at: at}
}

// Get is get.
func (c *PreparedCache) Get(key preparedKey, make func() (*templates.Prepared, error)) (*templates.Prepared, error) {
	return c.get(key, make)
}

// ErrContent is errContent.
var ErrContent = errContent
