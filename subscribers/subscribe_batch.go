package subscribers

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Sign-ups that arrive together are written together: a launch spike is
// many sign-ups of new addresses at once, and Postgres spent most of each
// one on the statements themselves (planning, triggers, locks on the list's
// row), not on its rows. A sign-up that finds no batch being written starts
// one; those that arrive while batches are being written wait, and the next
// batch takes them all. At most signupWriters batches are written at once,
// so a single sign-up never waits for more than the batch before it.
const (
	signupWriters = 2   // batches written at once
	signupBatch   = 100 // sign-ups in one batch, at most
)

// signupQueue holds the sign-ups waiting for a batch.
type signupQueue struct {
	mu      sync.Mutex
	waiting []*queuedSignup
	writing int // batches being written
}

// queuedSignup is one sign-up, checked and normalised, waiting for its batch.
type queuedSignup struct {
	slug, email, name, tz string
	tags                  []string
	meta                  Meta
	done                  chan struct{} // closed when id and err are set
	id                    int64
	err                   error
}

// subscribeQueued writes q with the sign-ups that arrive with it, and
// returns what Subscribe returns for it.
func (s *Store) subscribeQueued(ctx context.Context, q *queuedSignup) (int64, error) {
	sq := &s.signups
	sq.mu.Lock()
	sq.waiting = append(sq.waiting, q)
	lead := sq.writing < signupWriters
	if lead {
		sq.writing++
	}
	sq.mu.Unlock()
	if lead {
		// The batch outlives a sign-up whose client goes away: it holds
		// others' sign-ups too.
		s.writeSignups(context.WithoutCancel(ctx), q)
	}
	<-q.done
	return q.id, q.err
}

// writeSignups writes batches of the waiting sign-ups until mine is answered
// (a sign-up of another batch may have taken it), and leaves the rest to a
// goroutine that goes on until none wait, so that mine waits for no batch
// but its own and the ones before. With mine nil it goes on until none wait.
// The caller has counted it in writing.
func (s *Store) writeSignups(ctx context.Context, mine *queuedSignup) {
	sq := &s.signups
	for {
		sq.mu.Lock()
		n := min(len(sq.waiting), signupBatch)
		if n == 0 {
			sq.writing--
			sq.mu.Unlock()
			return
		}
		batch := sq.waiting[:n:n]
		sq.waiting = sq.waiting[n:]
		sq.mu.Unlock()
		s.writeBatch(ctx, batch)
		if mine == nil {
			continue
		}
		select {
		case <-mine.done:
			go s.writeSignups(ctx, nil)
			return
		default:
		}
	}
}

// writeBatch writes batch in one transaction and answers each sign-up. When
// the transaction fails, each sign-up is written again in a transaction of
// its own, so that one that cannot be written fails alone.
func (s *Store) writeBatch(ctx context.Context, batch []*queuedSignup) {
	defer func() {
		for _, q := range batch {
			close(q.done)
		}
	}()
	if len(batch) > 1 {
		err := s.inTx(ctx, nil, func(tx *sqlx.Tx, now time.Time) error {
			return s.subscribeMany(ctx, tx, batch, now)
		})
		if err == nil {
			return
		}
	}
	for _, q := range batch {
		q.err = s.inTx(ctx, nil, func(tx *sqlx.Tx, now time.Time) error {
			var err error
			q.id, err = s.subscribe(ctx, tx, q.slug, q.email, q.name, q.tz, q.tags, q.meta, now)
			return err
		})
		if q.err != nil {
			q.id = 0
		}
	}
}

// subscribeMany does in tx what subscribe does, for every sign-up of batch,
// and sets each one's id or error. The sign-ups of new addresses are written
// a statement for all of them at each step; the others (an address known
// already, or twice in the batch) go through subscribe one by one.
func (s *Store) subscribeMany(ctx context.Context, tx *sqlx.Tx, batch []*queuedSignup, now time.Time) error {
	lists, suppressed, err := signupFacts(ctx, tx, batch)
	if err != nil {
		return err
	}
	// In the order of their addresses, as every batch takes them, so that
	// two batches that share addresses lock them in the same order.
	batch = slices.Clone(batch)
	slices.SortStableFunc(batch, func(a, b *queuedSignup) int { return strings.Compare(EmailKey(a.email), EmailKey(b.email)) })
	var fresh, known []*queuedSignup
	seen := map[string]bool{}
	for _, q := range batch {
		key := EmailKey(q.email)
		switch {
		case lists[q.slug] == nil:
			q.err = errNoList(q.slug)
		case suppressed[key]:
			// As subscribe: nothing stored, nothing to tell.
		case seen[key]:
			known = append(known, q)
		default:
			seen[key] = true
			fresh = append(fresh, q)
		}
	}

	// The new addresses. ON CONFLICT DO NOTHING returns none of those that
	// exist already: they are known, and take the long way.
	emails, names, zones, tags := make([]string, len(fresh)), make([]string, len(fresh)), make([]string, len(fresh)), make([]string, len(fresh))
	for i, q := range fresh {
		t, err := pq.StringArray(q.tags).Value()
		if err != nil {
			return err
		}
		if t == nil {
			t = "{}"
		}
		emails[i], names[i], zones[i], tags[i] = q.email, q.name, q.tz, t.(string)
	}
	const insertSubscribers = `
		INSERT INTO subscribers (email, name, timezone, tags, created_at, updated_at)
		SELECT e, n, z, t::text[], $5, $5
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u (e, n, z, t)
		ON CONFLICT (email_key) DO NOTHING
		RETURNING id, email_key`
	var created []struct {
		ID  int64  `db:"id"`
		Key string `db:"email_key"`
	}
	if err := tx.SelectContext(ctx, &created, insertSubscribers,
		pq.StringArray(emails), pq.StringArray(names), pq.StringArray(zones), pq.StringArray(tags), now); err != nil {
		return err
	}
	subscriberOf := make(map[string]int64, len(created))
	for _, c := range created {
		subscriberOf[c.Key] = c.ID
	}

	// Their subscriptions, pending with the confirmation request recorded,
	// as upsertSubscription makes a new one.
	var made []*queuedSignup
	var subscriberIDs, listIDs []int64
	for _, q := range fresh {
		id, ok := subscriberOf[EmailKey(q.email)]
		if !ok {
			known = append(known, q)
			continue
		}
		made = append(made, q)
		subscriberIDs = append(subscriberIDs, id)
		listIDs = append(listIDs, lists[q.slug].ID)
	}
	const insertSubscriptions = `
		WITH s AS (
		    INSERT INTO subscriptions (subscriber_id, list_id, status, confirm_sent_at, created_at, updated_at)
		    SELECT r, l, 'pending', $3, $3, $3
		    FROM unnest($1::bigint[], $2::bigint[]) AS u (r, l)
		    RETURNING ` + subscriptionReturning + `
		)` + subscriptionReadBack
	var subs []*subscriptionRow
	if len(made) > 0 {
		if err := tx.SelectContext(ctx, &subs, insertSubscriptions, pq.Array(subscriberIDs), pq.Array(listIDs), now); err != nil {
			return err
		}
	}
	bySubscriber := make(map[int64]*subscriptionRow, len(subs))
	for _, sub := range subs {
		bySubscriber[sub.SubscriberID] = sub
	}
	events := make([]*Event, 0, 2*len(made))
	for i, q := range made {
		sub := bySubscriber[subscriberIDs[i]]
		if sub == nil {
			return errors.New("subscribe many: a subscription was not made")
		}
		q.id = sub.ID
		e := newEvent(EventSubscribed, sub, now, q.meta)
		e.ConsentText = lists[q.slug].ConsentText
		events = append(events, e, newEvent(EventConfirmationRequested, sub, now, q.meta))
	}
	if err := s.appendEvents(ctx, tx, events); err != nil {
		return err
	}

	for _, q := range known {
		if q.id, err = s.subscribe(ctx, tx, q.slug, q.email, q.name, q.tz, q.tags, q.meta, now); err != nil {
			return err
		}
	}
	return nil
}

// signupFacts reads the lists the sign-ups of batch name, by slug, and which
// of their addresses are suppressed, by EmailKey.
func signupFacts(ctx context.Context, tx *sqlx.Tx, batch []*queuedSignup) (map[string]*List, map[string]bool, error) {
	var slugs, keys []string
	for _, q := range batch {
		if validSlug(q.slug) {
			slugs = append(slugs, q.slug)
		}
		keys = append(keys, EmailKey(q.email))
	}
	var ls []*List
	if err := tx.SelectContext(ctx, &ls, `SELECT `+listColumns+` FROM lists WHERE slug = ANY ($1)`, pq.StringArray(slugs)); err != nil {
		return nil, nil, err
	}
	lists := make(map[string]*List, len(ls))
	for _, l := range ls {
		lists[l.Slug] = l
	}
	var sup []string
	if err := tx.SelectContext(ctx, &sup, `SELECT email FROM suppressions WHERE email = ANY ($1)`, pq.StringArray(keys)); err != nil {
		return nil, nil, err
	}
	suppressed := make(map[string]bool, len(sup))
	for _, k := range sup {
		suppressed[k] = true
	}
	return lists, suppressed, nil
}
