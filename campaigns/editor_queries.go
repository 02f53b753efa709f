package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/delivery"
	"github.com/tidings/tidings/subscribers"
	"github.com/tidings/tidings/templates"
)

// This file holds what the editor UI needs beyond the API: the figures that
// tell an editor what a change to a live series will do.

// StepCounts returns the number of steps in each list's sequence, by list id.
// Lists without steps are absent.
func (s *Store) StepCounts(ctx context.Context) (map[int64]int, error) {
	const q = `
		SELECT list_id, count(*) AS n
		FROM steps
		WHERE deleted_at IS NULL
		GROUP BY list_id`
	var rows []struct {
		ListID int64 `db:"list_id"`
		N      int   `db:"n"`
	}
	if err := s.DB.SelectContext(ctx, &rows, q); err != nil {
		return nil, fmt.Errorf("campaigns: step counts: %w", err)
	}
	out := make(map[int64]int, len(rows))
	for _, r := range rows {
		out[r.ListID] = r.N
	}
	return out, nil
}

// Waiting returns, for each step of the list that someone waits for, how many
// subscribers who may be mailed have it as their next step, by step id.
func (s *Store) Waiting(ctx context.Context, listID int64) (map[int64]int, error) {
	const q = `
		SELECT e.next_step_id AS step_id, count(*) AS n
		FROM enrollments e
		JOIN mailable_subscriptions m ON m.subscription_id = e.subscription_id
		WHERE e.list_id = $1
		  AND e.stopped_at IS NULL
		  AND e.next_step_id IS NOT NULL
		GROUP BY e.next_step_id`
	var rows []struct {
		StepID int64 `db:"step_id"`
		N      int   `db:"n"`
	}
	if err := s.DB.SelectContext(ctx, &rows, q, listID); err != nil {
		return nil, fmt.Errorf("campaigns: waiting of list %d: %w", listID, err)
	}
	out := make(map[int64]int, len(rows))
	for _, r := range rows {
		out[r.StepID] = r.N
	}
	return out, nil
}

// Reach is who a change to a step reaches: the subscribers who have not
// received it yet and still will.
type Reach struct {
	// Subscribers counts those who may be mailed and have not been sent the
	// step: its messages still queued (rendered when sent, so they take the
	// change too), and the enrollments that have not passed it.
	Subscribers int
	// Queued is how many of them already have it in the outbox.
	Queued int
	// NextAt is when the first of them is due to get it, and NextTimezone
	// their time zone; NextAt is nil when no one has it queued or as their
	// next step (those further back reach it later).
	NextAt       *time.Time
	NextTimezone string
}

// stepReachSQL counts, for step $2 at position $3 of list $1, the mail
// queued and the enrollments still before it. The queued mail is looked up
// in the outbox_step index (TestOutboxPlans).
const stepReachSQL = `
	SELECT
	    (SELECT count(*)
	     FROM outbox o
	     JOIN mailable_subscriptions m ON m.subscription_id = o.subscription_id
	     WHERE o.step_id = $2
	       AND o.status = 'queued') AS queued,
	    (SELECT count(*)
	     FROM enrollments e
	     JOIN mailable_subscriptions m ON m.subscription_id = e.subscription_id
	     WHERE e.list_id = $1
	       AND e.stopped_at IS NULL
	       AND e.last_position < $3) AS waiting`

// StepReach returns who a change to step id would reach now. Returns
// ENOTFOUND for an unknown or deleted step.
func (s *Store) StepReach(ctx context.Context, listID, id int64) (*Reach, error) {
	var res *Reach
	if err := s.inTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}, func(tx *sqlx.Tx, now time.Time) error {
		st, err := stepByID(ctx, tx, listID, id)
		if err != nil {
			return err
		}
		// The queued rows and the enrollments behind the step are disjoint: the
		// scheduler advances an enrollment past a step in the transaction that
		// queues it.
		var n struct {
			Queued  int `db:"queued"`
			Waiting int `db:"waiting"`
		}
		if err := tx.GetContext(ctx, &n, stepReachSQL, listID, id, st.Position); err != nil {
			return fmt.Errorf("campaigns: reach of step %d: %w", id, err)
		}
		r := &Reach{Subscribers: n.Queued + n.Waiting, Queued: n.Queued}
		const next = `
			SELECT due_at, timezone
			FROM (
				SELECT o.due_at, COALESCE(NULLIF(m.timezone, ''), l.timezone) AS timezone
				FROM outbox o
				JOIN mailable_subscriptions m ON m.subscription_id = o.subscription_id
				JOIN lists l ON l.id = o.list_id
				WHERE o.step_id = $2
				  AND o.status = 'queued'
				UNION ALL
				SELECT e.next_due_at, e.timezone
				FROM enrollments e
				JOIN mailable_subscriptions m ON m.subscription_id = e.subscription_id
				WHERE e.list_id = $1
				  AND e.stopped_at IS NULL
				  AND e.next_step_id = $2
				  AND e.next_due_at IS NOT NULL
			) due
			ORDER BY due_at
			LIMIT 1`
		var first struct {
			DueAt    time.Time `db:"due_at"`
			Timezone string    `db:"timezone"`
		}
		err = tx.GetContext(ctx, &first, next, listID, id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("campaigns: reach of step %d: %w", id, err)
		default:
			at := first.DueAt.UTC()
			r.NextAt, r.NextTimezone = &at, first.Timezone
		}
		res = r
		return nil
	}); err != nil {
		return nil, err
	}
	return res, nil
}

// SendDraft sends msg, a step or bonus email being written and rendered for
// a sample recipient, to an editor at address to, at once and outside the
// outbox: nothing is queued or counted. It goes from the list's sender with
// "[Test] " before the subject, over a connection of its own. It carries no
// List-Unsubscribe header: the editor is not a subscriber. Returns EINVALID
// for a bad address and EINTERNAL, with the relay's answer as the message,
// when the relay does not take it.
func SendDraft(ctx context.Context, sender *delivery.Sender, to string, msg *templates.Message, l *subscribers.List) error {
	addr, err := subscribers.NormalizeEmail(to)
	if err != nil {
		return err
	}
	conn := sender.NewConn()
	defer conn.Close()
	res := conn.Send(ctx, &delivery.Message{
		FromName: l.FromName, FromEmail: l.FromEmail, ReplyTo: l.ReplyTo, To: addr,
		Subject: "[Test] " + msg.Subject, HTML: msg.HTML, Text: msg.Text,
		MessageID: delivery.NewMessageID(domainOf(l.FromEmail)),
		Headers:   map[string]string{"X-Tidings-Test": "draft of " + l.Slug},
	})
	if res.Status != delivery.Sent {
		reason := "no answer"
		if res.Err != nil {
			reason = truncate(res.Err.Error())
		}
		return tidings.Errorf(tidings.EINTERNAL, "The mail relay did not take the test (%s): %s", res.Status, reason)
	}
	return nil
}
