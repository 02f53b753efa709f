package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/templates"
)

// Limits on what an editor may save.
const (
	MaxDelayDays   = 3650
	maxSubjectLen  = 500     // runes
	maxBodyLen     = 200_000 // bytes
	maxListedSteps = 10_000
)

// Step is one email of a list's sequence. DelayDays counts calendar days after
// the previous step (the first step: after confirmation); SendTime is the local
// wall-clock time "HH:MM" in the subscriber's zone ("" = as soon as the delay
// has passed); Weekdays restricts the day ("mon".."sun"; empty = any day).
type Step struct {
	ID        int64     `json:"id"`
	ListID    int64     `json:"-"`
	Position  int       `json:"position"`
	Subject   string    `json:"subject"`
	Body      string    `json:"body"`
	DelayDays int       `json:"delay_days"`
	SendTime  string    `json:"send_time"`
	Weekdays  []string  `json:"weekdays"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// StepUpdate names the fields of a step to change; nil fields are left alone.
type StepUpdate struct {
	Position  *int
	Subject   *string
	Body      *string
	DelayDays *int
	SendTime  *string
	Weekdays  *[]string
}

// Store keeps the sequence steps and bonus emails of each list.
//
// Changing the steps also moves the enrollments of the list so the change
// takes effect for everyone already in the sequence: a step inserted ahead of
// a subscriber's place reaches them, one inserted behind it does not, a step
// appended at the end reaches those who had finished at their next slot, and a
// deleted step is skipped. An enrollment's place is its last_position: the
// subscriber has passed every step at or before it.
type Store struct {
	DB  *sqlx.DB
	Now func() time.Time
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// stepRow is a step as stored: send_time as "HH:MM" or "", weekdays ISO numbers.
type stepRow struct {
	ID        int64         `db:"id"`
	ListID    int64         `db:"list_id"`
	Position  int           `db:"position"`
	Subject   string        `db:"subject"`
	Body      string        `db:"body"`
	DelayDays int           `db:"delay_days"`
	SendTime  string        `db:"send_time"`
	Weekdays  pq.Int64Array `db:"weekdays"`
	CreatedAt time.Time     `db:"created_at"`
	UpdatedAt time.Time     `db:"updated_at"`
}

func (r *stepRow) step() *Step {
	return &Step{
		ID: r.ID, ListID: r.ListID, Position: r.Position, Subject: r.Subject, Body: r.Body,
		DelayDays: r.DelayDays, SendTime: r.SendTime, Weekdays: weekdayNames(r.Weekdays),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

const stepColumns = `id, list_id, position, subject, body, delay_days,
	COALESCE(to_char(send_time, 'HH24:MI'), '') AS send_time, weekdays, created_at, updated_at`

// CreateStep adds st to the list's sequence at st.Position (0, or a position
// past the end, appends), moving later steps down, and sets st's ID, Position
// and times. Enrollments of the list are moved so the new step reaches everyone
// who has not passed its place, including those who had finished the sequence:
// they get it at max(its due time after their last step, their next slot from
// now). Returns EINVALID for bad input (nothing is stored) and ENOTFOUND for an
// unknown list.
func (s *Store) CreateStep(ctx context.Context, listID int64, st *Step) error {
	in, err := validateStep(st)
	if err != nil {
		return err
	}
	if st.Position < 0 {
		return tidings.Errorf(tidings.EINVALID, "position must be 0 (append) or more, not %d", st.Position)
	}
	var row stepRow
	if err := s.inTx(ctx, nil, func(tx *sqlx.Tx, now time.Time) error {
		if err := lockSequence(ctx, tx, listID); err != nil {
			return err
		}
		// Make room: later steps move down, and so do the places of the
		// enrollments that had passed them, so no one's place changes meaning.
		pos, err := stepOrder.makeRoom(ctx, tx, listID, st.Position)
		if err != nil {
			return err
		}
		const shiftEnrollments = `
			UPDATE enrollments
			SET last_position = last_position + 1
			WHERE list_id = $1
			  AND last_position >= $2`
		if _, err := tx.ExecContext(ctx, shiftEnrollments, listID, pos); err != nil {
			return fmt.Errorf("campaigns: create step: %w", err)
		}
		const insert = `
			INSERT INTO steps (list_id, position, subject, body, delay_days, send_time, weekdays, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6::time, $7, $8, $8)
			RETURNING ` + stepColumns
		if err := tx.GetContext(ctx, &row, insert, listID, pos, in.Subject, in.Body, in.DelayDays,
			nullTime(in.SendTime), pq.Array(in.weekdays), now); err != nil {
			return fmt.Errorf("campaigns: create step: %w", err)
		}
		if err := moveEnrollments(ctx, tx, now, listID, 0); err != nil {
			return err
		}
		return nil
	}); err != nil {
		return err
	}
	*st = *row.step()
	return nil
}

// UpdateStep changes the fields of step id named in u and returns the step.
// A new subject or body is sent from now on, also for messages already queued
// (they are rendered when sent). New timing moves the due time of everyone
// waiting for this step; a new position moves the step and renumbers the
// others. Returns EINVALID for bad input (nothing is changed) and ENOTFOUND
// for an unknown or deleted step.
func (s *Store) UpdateStep(ctx context.Context, listID, id int64, u StepUpdate) (*Step, error) {
	var row stepRow
	if err := s.inTx(ctx, nil, func(tx *sqlx.Tx, now time.Time) error {
		if err := lockSequence(ctx, tx, listID); err != nil {
			return err
		}
		cur, err := stepByID(ctx, tx, listID, id)
		if err != nil {
			return err
		}
		next := *cur
		if u.Subject != nil {
			next.Subject = *u.Subject
		}
		if u.Body != nil {
			next.Body = *u.Body
		}
		if u.DelayDays != nil {
			next.DelayDays = *u.DelayDays
		}
		if u.SendTime != nil {
			next.SendTime = *u.SendTime
		}
		if u.Weekdays != nil {
			next.Weekdays = *u.Weekdays
		}
		in, err := validateStep(&next)
		if err != nil {
			return err
		}
		if u.Position != nil {
			n, err := stepOrder.count(ctx, tx, listID)
			if err != nil {
				return err
			}
			to := *u.Position
			if to < 1 {
				return tidings.Errorf(tidings.EINVALID, "position must be 1 or more, not %d", to)
			}
			if to > n {
				to = n
			}
			if err := moveStep(ctx, tx, listID, cur.Position, to); err != nil {
				return err
			}
			next.Position = to
		}
		const update = `
			UPDATE steps
			SET position = $3,
			    subject = $4,
			    body = $5,
			    delay_days = $6,
			    send_time = $7::time,
			    weekdays = $8,
			    updated_at = $9
			WHERE list_id = $1
			  AND id = $2
			RETURNING ` + stepColumns
		if err := tx.GetContext(ctx, &row, update, listID, id, next.Position, in.Subject, in.Body, in.DelayDays,
			nullTime(in.SendTime), pq.Array(in.weekdays), now); err != nil {
			return fmt.Errorf("campaigns: update step %d: %w", id, err)
		}
		var retimed int64
		if in.DelayDays != cur.DelayDays || in.SendTime != cur.SendTime || !slices.Equal(in.Weekdays, cur.Weekdays) {
			retimed = id
		}
		if err := moveEnrollments(ctx, tx, now, listID, retimed); err != nil {
			return err
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return row.step(), nil
}

// skipStepSQL is DeleteStep's statement on the outbox: it skips the mail
// queued for step $1, at $2, found in the outbox_step index
// (TestOutboxPlans).
const skipStepSQL = `
	UPDATE outbox
	SET status = 'skipped',
	    last_error = 'step deleted',
	    updated_at = $2
	WHERE step_id = $1
	  AND status = 'queued'`

// DeleteStep removes step id from the list's sequence. The row is kept (its
// outbox history stays whole), later steps move up, messages of it still
// queued are skipped, and those waiting for it wait for the step after it
// instead. Returns ENOTFOUND for an unknown or already deleted step.
func (s *Store) DeleteStep(ctx context.Context, listID, id int64) error {
	if err := s.inTx(ctx, nil, func(tx *sqlx.Tx, now time.Time) error {
		if err := lockSequence(ctx, tx, listID); err != nil {
			return err
		}
		cur, err := stepByID(ctx, tx, listID, id)
		if err != nil {
			return err
		}
		const del = `
			UPDATE steps
			SET deleted_at = $3,
			    updated_at = $3
			WHERE list_id = $1
			  AND id = $2`
		if _, err := tx.ExecContext(ctx, del, listID, id, now); err != nil {
			return fmt.Errorf("campaigns: delete step %d: %w", id, err)
		}
		if err := stepOrder.closeGap(ctx, tx, listID, cur.Position); err != nil {
			return err
		}
		const shiftEnrollments = `
			UPDATE enrollments
			SET last_position = last_position - 1
			WHERE list_id = $1
			  AND last_position >= $2`
		if _, err := tx.ExecContext(ctx, shiftEnrollments, listID, cur.Position); err != nil {
			return fmt.Errorf("campaigns: delete step %d: %w", id, err)
		}
		if err := moveEnrollments(ctx, tx, now, listID, 0); err != nil {
			return err
		}
		// Outbox rows after enrollments, the order Queue.OnEvent locks them in.
		if _, err := tx.ExecContext(ctx, skipStepSQL, id, now); err != nil {
			return fmt.Errorf("campaigns: delete step %d: %w", id, err)
		}
		return nil
	}); err != nil {
		return err
	}
	return nil
}

// Steps returns the list's sequence in order. Returns ENOTFOUND for an unknown list.
func (s *Store) Steps(ctx context.Context, listID int64) ([]*Step, error) {
	var res []*Step
	if err := s.inTx(ctx, &sql.TxOptions{ReadOnly: true}, func(tx *sqlx.Tx, now time.Time) error {
		if err := listExists(ctx, tx, listID); err != nil {
			return err
		}
		const q = `
			SELECT ` + stepColumns + `
			FROM steps
			WHERE list_id = $1
			  AND deleted_at IS NULL
			ORDER BY position, id
			LIMIT $2`
		var rows []stepRow
		if err := tx.SelectContext(ctx, &rows, q, listID, maxListedSteps); err != nil {
			return fmt.Errorf("campaigns: steps: %w", err)
		}
		steps := make([]*Step, 0, len(rows))
		for i := range rows {
			steps = append(steps, rows[i].step())
		}
		res = steps
		return nil
	}); err != nil {
		return nil, err
	}
	return res, nil
}

// StepByID returns step id of the list. Returns ENOTFOUND when there is no
// such step in the list, or it was deleted.
func (s *Store) StepByID(ctx context.Context, listID, id int64) (*Step, error) {
	return stepByID(ctx, s.DB, listID, id)
}

func stepByID(ctx context.Context, q sqlx.QueryerContext, listID, id int64) (*Step, error) {
	const get = `
		SELECT ` + stepColumns + `
		FROM steps
		WHERE list_id = $1
		  AND id = $2
		  AND deleted_at IS NULL`
	var row stepRow
	if err := sqlx.GetContext(ctx, q, &row, get, listID, id); errors.Is(err, sql.ErrNoRows) {
		return nil, tidings.Errorf(tidings.ENOTFOUND, "Step %d not found.", id)
	} else if err != nil {
		return nil, fmt.Errorf("campaigns: step %d: %w", id, err)
	}
	return row.step(), nil
}

// lockSequence serialises changes to a list's sequence with each other, with
// confirmations enrolling into it (they hold the list row FOR SHARE), and with
// scheduler ticks (the advisory lock), so the renumbering of steps and the
// moving of enrollments see a stable picture. Returns ENOTFOUND for an unknown list.
func lockSequence(ctx context.Context, tx *sqlx.Tx, listID int64) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, schedulerLock); err != nil {
		return fmt.Errorf("campaigns: lock sequence: %w", err)
	}
	return lockList(ctx, tx, listID)
}

// lockList locks the list row against other editors. FOR NO KEY UPDATE leaves
// the foreign-key checks of new subscriptions unblocked.
func lockList(ctx context.Context, tx *sqlx.Tx, listID int64) error {
	var id int64
	err := tx.GetContext(ctx, &id, `SELECT id FROM lists WHERE id = $1 FOR NO KEY UPDATE`, listID)
	if errors.Is(err, sql.ErrNoRows) {
		return tidings.Errorf(tidings.ENOTFOUND, "List %d not found.", listID)
	} else if err != nil {
		return fmt.Errorf("campaigns: lock list %d: %w", listID, err)
	}
	return nil
}

func listExists(ctx context.Context, tx *sqlx.Tx, listID int64) error {
	var ok bool
	if err := tx.GetContext(ctx, &ok, `SELECT EXISTS (SELECT 1 FROM lists WHERE id = $1)`, listID); err != nil {
		return fmt.Errorf("campaigns: list %d: %w", listID, err)
	} else if !ok {
		return tidings.Errorf(tidings.ENOTFOUND, "List %d not found.", listID)
	}
	return nil
}

// moveStep moves the step at position from to position to, renumbering the
// steps between. Enrollment places move as if the step were deleted at from
// and inserted at to: someone whose place was between sees the steps they had
// passed keep their meaning.
func moveStep(ctx context.Context, tx *sqlx.Tx, listID int64, from, to int) error {
	if from == to {
		return nil
	}
	var steps, places string
	if from < to {
		steps = `
			UPDATE steps
			SET position = position - 1
			WHERE list_id = $1
			  AND deleted_at IS NULL
			  AND position > $2
			  AND position <= $3`
		places = `
			UPDATE enrollments
			SET last_position = last_position - 1
			WHERE list_id = $1
			  AND last_position >= $2
			  AND last_position <= $3`
	} else {
		steps = `
			UPDATE steps
			SET position = position + 1
			WHERE list_id = $1
			  AND deleted_at IS NULL
			  AND position >= $3
			  AND position < $2`
		places = `
			UPDATE enrollments
			SET last_position = last_position + 1
			WHERE list_id = $1
			  AND last_position >= $3
			  AND last_position < $2`
	}
	if _, err := tx.ExecContext(ctx, steps, listID, from, to); err != nil {
		return fmt.Errorf("campaigns: move step: %w", err)
	}
	if _, err := tx.ExecContext(ctx, places, listID, from, to); err != nil {
		return fmt.Errorf("campaigns: move step: %w", err)
	}
	return nil
}

// moveEnrollments points every active enrollment of the list at the first
// step after its place, where that changed (or where it waits for step
// retimed, whose timing changed), and recomputes its due time: the step's
// delay after the enrollment's anchor, but never before the subscriber's next
// slot from now, so a step that would be overdue is sent at its next allowed
// local time rather than at once. Set-based: one statement for the whole list.
func moveEnrollments(ctx context.Context, tx *sqlx.Tx, now time.Time, listID, retimed int64) error {
	const q = `
		WITH moved AS (
			SELECT e.subscription_id, n.id AS step_id, n.delay_days, n.send_time, n.weekdays
			FROM enrollments e
			LEFT JOIN LATERAL tidings_step_after(e.list_id, e.last_position) n ON true
			WHERE e.list_id = $1
			  AND e.stopped_at IS NULL
			  AND (e.next_step_id IS DISTINCT FROM n.id OR e.next_step_id = $3)
		)
		UPDATE enrollments e
		SET next_step_id = m.step_id,
		    next_due_at = CASE WHEN m.step_id IS NULL THEN NULL ELSE GREATEST(
		        tidings_next_due(e.anchor_at, e.timezone, m.delay_days, m.send_time, m.weekdays),
		        tidings_next_due($2, e.timezone, 0, m.send_time, m.weekdays)) END,
		    updated_at = $2
		FROM moved m
		WHERE e.subscription_id = m.subscription_id`
	if _, err := tx.ExecContext(ctx, q, listID, now, retimed); err != nil {
		return fmt.Errorf("campaigns: move enrollments of list %d: %w", listID, err)
	}
	return nil
}

// validStep is a step's input once checked, in storage form.
type validStep struct {
	Step
	weekdays []int64
}

var sendTimeRE = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

var weekdayNumbers = map[string]int64{"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}

var weekdayOrder = []string{"", "mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// validateStep checks st and returns it normalised: weekdays lower-case, in
// order, once each. Returns EINVALID naming the first bad field.
func validateStep(st *Step) (*validStep, error) {
	if err := validateContent(st.Subject, st.Body); err != nil {
		return nil, err
	}
	if st.DelayDays < 0 || st.DelayDays > MaxDelayDays {
		return nil, tidings.Errorf(tidings.EINVALID, "delay_days must be between 0 and %d, not %d", MaxDelayDays, st.DelayDays)
	}
	st2 := *st
	st2.SendTime = strings.TrimSpace(st.SendTime)
	if st2.SendTime != "" && !sendTimeRE.MatchString(st2.SendTime) {
		return nil, tidings.Errorf(tidings.EINVALID, "send_time must be HH:MM (00:00 to 23:59) or empty, not %q", st.SendTime)
	}
	seen := map[int64]bool{}
	var days []int64
	for _, d := range st.Weekdays {
		n, ok := weekdayNumbers[strings.ToLower(strings.TrimSpace(d))]
		if !ok {
			return nil, tidings.Errorf(tidings.EINVALID, "weekdays: %q is not one of mon, tue, wed, thu, fri, sat, sun", d)
		}
		if !seen[n] {
			seen[n] = true
			days = append(days, n)
		}
	}
	slices.Sort(days)
	if days == nil {
		days = []int64{}
	}
	st2.Weekdays = weekdayNames(days)
	return &validStep{Step: st2, weekdays: days}, nil
}

// validateContent checks a subject and Markdown body: present, not too long, a
// one-line subject, and templates that parse with known fields.
func validateContent(subject, body string) error {
	switch {
	case strings.TrimSpace(subject) == "":
		return tidings.Errorf(tidings.EINVALID, "subject is required")
	case strings.ContainsAny(subject, "\r\n"):
		return tidings.Errorf(tidings.EINVALID, "subject must be one line")
	case utf8.RuneCountInString(subject) > maxSubjectLen:
		return tidings.Errorf(tidings.EINVALID, "subject is longer than %d characters", maxSubjectLen)
	case strings.TrimSpace(body) == "":
		return tidings.Errorf(tidings.EINVALID, "body is required")
	case len(body) > maxBodyLen:
		return tidings.Errorf(tidings.EINVALID, "body is longer than %d bytes", maxBodyLen)
	case !utf8.ValidString(subject) || !utf8.ValidString(body):
		return tidings.Errorf(tidings.EINVALID, "subject and body must be UTF-8 text")
	}
	return templates.Check(subject, body)
}

func weekdayNames(days []int64) []string {
	names := make([]string, 0, len(days))
	for _, d := range days {
		if d >= 1 && d <= 7 {
			names = append(names, weekdayOrder[d])
		}
	}
	return names
}

func nullTime(hhmm string) any {
	if hhmm == "" {
		return nil
	}
	return hhmm
}
