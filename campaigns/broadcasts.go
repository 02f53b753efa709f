package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/subscribers"
)

// Broadcast statuses, as stored. A broadcast is written as a draft, may be
// scheduled, is sending from the moment its recipients are queued, may be
// paused and resumed, and ends sent (nothing left to send) or cancelled.
const (
	BroadcastDraft     = "draft"
	BroadcastScheduled = "scheduled"
	BroadcastSending   = "sending"
	BroadcastPaused    = "paused"
	BroadcastSent      = "sent"
	BroadcastCancelled = "cancelled"
)

// Limits of a broadcast, and how its stats are worked out.
const (
	maxPreheaderLen   = 500 // runes
	maxTagFilter      = 50  // tags in tags_include or tags_exclude
	maxListed         = 1000
	rateWindow        = time.Minute
	broadcastNotFound = "Broadcast %d not found."
)

// Broadcast is a one-off send to a list: to its subscribers who may be
// mailed, who have any of TagsInclude (when there are any) and none of
// TagsExclude. Its recipients are fixed when it starts sending.
type Broadcast struct {
	ID          int64      `json:"id"`
	ListID      int64      `json:"-"`
	List        string     `json:"list"` // the list's slug
	Subject     string     `json:"subject"`
	Body        string     `json:"body"` // Markdown, a template like Subject
	Preheader   string     `json:"preheader"`
	TagsInclude []string   `json:"tags_include"`
	TagsExclude []string   `json:"tags_exclude"`
	Status      string     `json:"status"`
	SendAt      *time.Time `json:"send_at"`
	StartedAt   *time.Time `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	Recipients  int        `json:"recipients"` // outbox rows made when it started
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`

	// Stats is set by BroadcastByID; its fields appear in the broadcast's JSON.
	*BroadcastStats
}

// BroadcastStats is how far a broadcast has got.
type BroadcastStats struct {
	Queued    int `json:"queued"` // not sent yet, including those being sent right now
	Sent      int `json:"sent"`
	Failed    int `json:"failed"`
	Retryable int `json:"retryable"` // failed only because their retries ran out: RetryFailed queues them again
	Skipped   int `json:"skipped"`   // not sent: unsubscribed, suppressed or cancelled first

	// Rate is the messages per second: while sending, over the last minute
	// (or since the start, if that is sooner); once done, from the first
	// message sent to the last.
	Rate float64 `json:"rate"`
	// EstimatedFinish is when a sending broadcast should be done at Rate; nil
	// when it is not sending or nothing has been sent in the last minute.
	EstimatedFinish *time.Time `json:"estimated_finish"`
	// Unsubscribes counts the unsubscribes from its list, by its recipients,
	// whose last message before unsubscribing was this broadcast.
	Unsubscribes int `json:"unsubscribes"`
}

// BroadcastUpdate names the fields of a broadcast to change; nil fields are
// left alone. List is a list's slug.
type BroadcastUpdate struct {
	List        *string
	Subject     *string
	Body        *string
	Preheader   *string
	TagsInclude *[]string
	TagsExclude *[]string
}

// BroadcastFilter selects broadcasts; the zero value selects all.
type BroadcastFilter struct {
	List string // a list's slug; "" for every list
}

// broadcastRow is a broadcast as stored.
type broadcastRow struct {
	ID          int64          `db:"id"`
	ListID      int64          `db:"list_id"`
	List        string         `db:"list"`
	Subject     string         `db:"subject"`
	Body        string         `db:"body"`
	Preheader   string         `db:"preheader"`
	TagsInclude pq.StringArray `db:"tags_include"`
	TagsExclude pq.StringArray `db:"tags_exclude"`
	Status      string         `db:"status"`
	SendAt      *time.Time     `db:"send_at"`
	StartedAt   *time.Time     `db:"started_at"`
	FinishedAt  *time.Time     `db:"finished_at"`
	Recipients  int            `db:"recipients"`
	CreatedAt   time.Time      `db:"created_at"`
	UpdatedAt   time.Time      `db:"updated_at"`
}

const broadcastColumns = `b.id, b.list_id, l.slug AS list, b.subject, b.body, b.preheader, b.tags_include, b.tags_exclude,
	b.status, b.send_at, b.started_at, b.finished_at, b.recipients, b.created_at, b.updated_at`

func (r *broadcastRow) broadcast() *Broadcast {
	utc := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		u := t.UTC()
		return &u
	}
	return &Broadcast{
		ID: r.ID, ListID: r.ListID, List: r.List, Subject: r.Subject, Body: r.Body, Preheader: r.Preheader,
		TagsInclude: nonNil(r.TagsInclude), TagsExclude: nonNil(r.TagsExclude), Status: r.Status,
		SendAt: utc(r.SendAt), StartedAt: utc(r.StartedAt), FinishedAt: utc(r.FinishedAt), Recipients: r.Recipients,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// CreateBroadcast stores b as a draft, for the list whose slug is b.List,
// normalises its tags, and sets its ID, ListID, Status and times. Returns
// EINVALID for bad input (a template that does not parse, a bad tag...) and
// ENOTFOUND for an unknown list; nothing is stored then.
func (s *Store) CreateBroadcast(ctx context.Context, b *Broadcast) error {
	in := *b
	if err := validateBroadcast(&in); err != nil {
		return err
	}
	const q = `
		WITH b AS (
			INSERT INTO broadcasts (list_id, subject, body, preheader, tags_include, tags_exclude, status, created_at, updated_at)
			SELECT l.id, $2, $3, $4, $5, $6, 'draft', $7, $7
			FROM lists l
			WHERE l.slug = $1
			RETURNING id, list_id, subject, body, preheader, tags_include, tags_exclude, status, send_at,
			          started_at, finished_at, recipients, created_at, updated_at
		)
		SELECT ` + broadcastColumns + `
		FROM b
		JOIN lists l ON l.id = b.list_id`
	var row broadcastRow
	err := s.DB.GetContext(ctx, &row, q, in.List, in.Subject, in.Body, in.Preheader,
		pq.Array(in.TagsInclude), pq.Array(in.TagsExclude), s.now())
	if errors.Is(err, sql.ErrNoRows) {
		return tidings.Errorf(tidings.ENOTFOUND, "List %q not found.", in.List)
	} else if err != nil {
		return fmt.Errorf("campaigns: create broadcast: %w", err)
	}
	*b = *row.broadcast()
	return nil
}

// UpdateBroadcast changes the fields of broadcast id named in u and returns
// it. Only a draft or a scheduled broadcast can be changed: once it is
// sending, what its recipients get is fixed. Returns ENOTFOUND for an unknown
// broadcast or list, ECONFLICT when the broadcast is past scheduled, and
// EINVALID for bad input; nothing is changed then.
func (s *Store) UpdateBroadcast(ctx context.Context, id int64, u BroadcastUpdate) (*Broadcast, error) {
	return s.transition(ctx, id, "changed", []string{BroadcastDraft, BroadcastScheduled},
		func(ctx context.Context, tx *sqlx.Tx, b *broadcastRow, now time.Time) error {
			next := *b.broadcast()
			if u.List != nil {
				next.List = *u.List
			}
			if u.Subject != nil {
				next.Subject = *u.Subject
			}
			if u.Body != nil {
				next.Body = *u.Body
			}
			if u.Preheader != nil {
				next.Preheader = *u.Preheader
			}
			if u.TagsInclude != nil {
				next.TagsInclude = *u.TagsInclude
			}
			if u.TagsExclude != nil {
				next.TagsExclude = *u.TagsExclude
			}
			if err := validateBroadcast(&next); err != nil {
				return err
			}
			const q = `
				UPDATE broadcasts b
				SET list_id = l.id,
				    subject = $3,
				    body = $4,
				    preheader = $5,
				    tags_include = $6,
				    tags_exclude = $7,
				    updated_at = $8
				FROM lists l
				WHERE b.id = $1
				  AND l.slug = $2`
			res, err := tx.ExecContext(ctx, q, id, next.List, next.Subject, next.Body, next.Preheader,
				pq.Array(next.TagsInclude), pq.Array(next.TagsExclude), now)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return tidings.Errorf(tidings.ENOTFOUND, "List %q not found.", next.List)
			}
			return nil
		})
}

// BroadcastByID returns broadcast id with its Stats. Returns ENOTFOUND for an
// unknown broadcast.
func (s *Store) BroadcastByID(ctx context.Context, id int64) (*Broadcast, error) {
	var res *Broadcast
	if err := s.inTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}, func(tx *sqlx.Tx, now time.Time) error {
		row, err := broadcastByID(ctx, tx, id, false)
		if err != nil {
			return err
		}
		b := row.broadcast()
		if b.BroadcastStats, err = broadcastStats(ctx, tx, b, now); err != nil {
			return err
		}
		res = b
		return nil
	}); err != nil {
		return nil, err
	}
	return res, nil
}

// Broadcasts returns the broadcasts (of one list, with f.List), newest first,
// at most 1000, without Stats. Returns ENOTFOUND for an unknown list.
func (s *Store) Broadcasts(ctx context.Context, f BroadcastFilter) ([]*Broadcast, error) {
	var res []*Broadcast
	if err := s.inTx(ctx, &sql.TxOptions{ReadOnly: true}, func(tx *sqlx.Tx, now time.Time) error {
		if f.List != "" {
			var ok bool
			if err := tx.GetContext(ctx, &ok, `SELECT EXISTS (SELECT 1 FROM lists WHERE slug = $1)`, f.List); err != nil {
				return fmt.Errorf("campaigns: broadcasts: %w", err)
			} else if !ok {
				return tidings.Errorf(tidings.ENOTFOUND, "List %q not found.", f.List)
			}
		}
		const q = `
			SELECT ` + broadcastColumns + `
			FROM broadcasts b
			JOIN lists l ON l.id = b.list_id
			WHERE ($1 = '' OR l.slug = $1)
			ORDER BY b.created_at DESC, b.id DESC
			LIMIT $2`
		var rows []broadcastRow
		if err := tx.SelectContext(ctx, &rows, q, f.List, maxListed); err != nil {
			return fmt.Errorf("campaigns: broadcasts: %w", err)
		}
		out := make([]*Broadcast, 0, len(rows))
		for i := range rows {
			out = append(out, rows[i].broadcast())
		}
		res = out
		return nil
	}); err != nil {
		return nil, err
	}
	return res, nil
}

// Schedule sets broadcast id to start sending at sendAt, which must be in the
// future. A draft becomes scheduled; a scheduled broadcast moves. Returns
// EINVALID for a time not in the future, ENOTFOUND for an unknown broadcast
// and ECONFLICT when it is past scheduled; nothing is changed then.
func (s *Store) Schedule(ctx context.Context, id int64, sendAt time.Time) (*Broadcast, error) {
	return s.transition(ctx, id, "scheduled", []string{BroadcastDraft, BroadcastScheduled},
		func(ctx context.Context, tx *sqlx.Tx, b *broadcastRow, now time.Time) error {
			if sendAt.IsZero() {
				return tidings.Errorf(tidings.EINVALID, "send_at is required.")
			}
			if !sendAt.After(now) {
				return tidings.Errorf(tidings.EINVALID, "send_at %s is in the past; it is now %s.",
					sendAt.UTC().Format(time.RFC3339), now.Format(time.RFC3339))
			}
			const q = `
				UPDATE broadcasts
				SET status = 'scheduled',
				    send_at = $2,
				    updated_at = $3
				WHERE id = $1`
			_, err := tx.ExecContext(ctx, q, id, sendAt.UTC(), now)
			return err
		})
}

// SendNow starts broadcast id at once: its recipients are queued and it is
// sending. Returns ENOTFOUND for an unknown broadcast and ECONFLICT when it is
// past scheduled (so it is never queued twice); nothing is changed then.
func (s *Store) SendNow(ctx context.Context, id int64) (*Broadcast, error) {
	return s.transition(ctx, id, "sent", []string{BroadcastDraft, BroadcastScheduled},
		func(ctx context.Context, tx *sqlx.Tx, b *broadcastRow, now time.Time) error {
			_, err := startBroadcast(ctx, tx, b, now)
			return err
		})
}

// Pause stops the sending of broadcast id: dispatchers claim none of its
// messages until Resume (those already claimed are sent). Returns ENOTFOUND
// for an unknown broadcast and ECONFLICT when it is not sending.
func (s *Store) Pause(ctx context.Context, id int64) (*Broadcast, error) {
	return s.setStatus(ctx, id, "paused", BroadcastSending, BroadcastPaused)
}

// Resume continues the sending of paused broadcast id. Returns ENOTFOUND for
// an unknown broadcast and ECONFLICT when it is not paused.
func (s *Store) Resume(ctx context.Context, id int64) (*Broadcast, error) {
	return s.setStatus(ctx, id, "resumed", BroadcastPaused, BroadcastSending)
}

func (s *Store) setStatus(ctx context.Context, id int64, verb, from, to string) (*Broadcast, error) {
	return s.transition(ctx, id, verb, []string{from},
		func(ctx context.Context, tx *sqlx.Tx, b *broadcastRow, now time.Time) error {
			_, err := tx.ExecContext(ctx, `UPDATE broadcasts SET status = $2, updated_at = $3 WHERE id = $1`, id, to, now)
			return err
		})
}

// Cancel stops broadcast id for good: a draft or scheduled one is never sent,
// and what a sending or paused one still has queued is skipped (messages
// already claimed by a dispatcher are sent). Returns ENOTFOUND for an unknown
// broadcast and ECONFLICT when it is sent or cancelled already.
func (s *Store) Cancel(ctx context.Context, id int64) (*Broadcast, error) {
	return s.transition(ctx, id, "cancelled", []string{BroadcastDraft, BroadcastScheduled, BroadcastSending, BroadcastPaused},
		func(ctx context.Context, tx *sqlx.Tx, b *broadcastRow, now time.Time) error {
			const q = `
				UPDATE broadcasts
				SET status = 'cancelled',
				    finished_at = $2,
				    updated_at = $2
				WHERE id = $1`
			if _, err := tx.ExecContext(ctx, q, id, now); err != nil {
				return err
			}
			const skip = `
				UPDATE outbox
				SET status = 'skipped',
				    last_error = 'broadcast cancelled',
				    updated_at = $2
				WHERE broadcast_id = $1
				  AND status = 'queued'`
			_, err := tx.ExecContext(ctx, skip, id, now)
			return err
		})
}

// RetryFailed queues again the messages of broadcast id that failed only
// because their retries ran out (temporary failures; permanent ones are
// not retried), with their attempts counted afresh, and sets a broadcast that
// had any back to sending. Returns ENOTFOUND for an unknown broadcast and
// ECONFLICT when it is neither sending nor sent.
func (s *Store) RetryFailed(ctx context.Context, id int64) (*Broadcast, error) {
	return s.transition(ctx, id, "retried", []string{BroadcastSending, BroadcastSent},
		func(ctx context.Context, tx *sqlx.Tx, b *broadcastRow, now time.Time) error {
			const q = `
				UPDATE outbox
				SET status = 'queued',
				    due_at = $2,
				    attempts = 0,
				    temporary = false,
				    updated_at = $2
				WHERE broadcast_id = $1
				  AND status = 'failed'
				  AND temporary`
			res, err := tx.ExecContext(ctx, q, id, now)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil
			}
			const resend = `
				UPDATE broadcasts
				SET status = 'sending',
				    finished_at = NULL,
				    updated_at = $2
				WHERE id = $1`
			_, err = tx.ExecContext(ctx, resend, id, now)
			return err
		})
}

// transition runs change on broadcast id, locked, when its status is one of
// from, and returns the broadcast as it is then. Otherwise it returns
// ECONFLICT naming the status, and nothing is changed.
func (s *Store) transition(ctx context.Context, id int64, verb string, from []string,
	change func(ctx context.Context, tx *sqlx.Tx, b *broadcastRow, now time.Time) error) (*Broadcast, error) {
	var b *broadcastRow
	if err := s.inTx(ctx, nil, func(tx *sqlx.Tx, now time.Time) error {
		var err error
		b, err = broadcastByID(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if !slices.Contains(from, b.Status) {
			return tidings.Errorf(tidings.ECONFLICT, "Broadcast %d is %s; only a broadcast that is %s can be %s.",
				id, b.Status, orList(from), verb)
		}
		if err := change(ctx, tx, b, now); err != nil {
			var te *tidings.Error
			if errors.As(err, &te) {
				return err
			}
			return fmt.Errorf("campaigns: broadcast %d %s: %w", id, verb, err)
		}
		b, err = broadcastByID(ctx, tx, id, false)
		if err != nil {
			return err
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return b.broadcast(), nil
}

// orList writes "draft or scheduled", "draft, scheduled or sending".
func orList(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// broadcastByID reads broadcast id, locking it FOR UPDATE when lock is set.
func broadcastByID(ctx context.Context, tx *sqlx.Tx, id int64, lock bool) (*broadcastRow, error) {
	q := `
		SELECT ` + broadcastColumns + `
		FROM broadcasts b
		JOIN lists l ON l.id = b.list_id
		WHERE b.id = $1`
	if lock {
		q += `
		FOR UPDATE OF b`
	}
	var row broadcastRow
	if err := tx.GetContext(ctx, &row, q, id); errors.Is(err, sql.ErrNoRows) {
		return nil, tidings.Errorf(tidings.ENOTFOUND, broadcastNotFound, id)
	} else if err != nil {
		return nil, fmt.Errorf("campaigns: broadcast %d: %w", id, err)
	}
	return &row, nil
}

// validateBroadcast checks b's content, list and tags, and normalises its
// tags as subscribers stores them (subscribers.NormalizeTags: trimmed,
// lower-case, sorted, each once). Returns EINVALID naming the first bad field.
func validateBroadcast(b *Broadcast) error {
	if strings.TrimSpace(b.List) == "" {
		return tidings.Errorf(tidings.EINVALID, "list is required: the slug of the list to send to.")
	}
	if err := validateContent(b.Subject, b.Body); err != nil {
		return err
	}
	switch {
	case strings.ContainsAny(b.Preheader, "\r\n"):
		return tidings.Errorf(tidings.EINVALID, "preheader must be one line")
	case !utf8.ValidString(b.Preheader):
		return tidings.Errorf(tidings.EINVALID, "preheader must be UTF-8 text")
	case utf8.RuneCountInString(b.Preheader) > maxPreheaderLen:
		return tidings.Errorf(tidings.EINVALID, "preheader is longer than %d characters", maxPreheaderLen)
	}
	var err error
	if b.TagsInclude, err = normalizeTagFilter("tags_include", b.TagsInclude); err != nil {
		return err
	}
	if b.TagsExclude, err = normalizeTagFilter("tags_exclude", b.TagsExclude); err != nil {
		return err
	}
	for _, t := range b.TagsInclude {
		if slices.Contains(b.TagsExclude, t) {
			return tidings.Errorf(tidings.EINVALID, "The tag %q is both in tags_include and tags_exclude.", t)
		}
	}
	return nil
}

// normalizeTagFilter normalises tags as subscribers stores them, so a filter
// names tags that can exist. Returns EINVALID naming the field.
func normalizeTagFilter(field string, tags []string) ([]string, error) {
	if len(tags) > maxTagFilter {
		return nil, tidings.Errorf(tidings.EINVALID, "%s: at most %d tags, not %d.", field, maxTagFilter, len(tags))
	}
	out, err := subscribers.NormalizeTags(tags)
	if err != nil {
		return nil, tidings.Errorf(tidings.EINVALID, "%s: %s", field, tidings.ErrorMessage(err))
	}
	return out, nil
}

// ParseSendAt reads the time a broadcast should start: sendAt in RFC 3339
// with an offset ("2026-03-10T09:00:00+01:00"), or, with timezone (an IANA
// name such as "Europe/Berlin"), the local wall-clock time in that zone
// ("2026-03-10T09:00" or with seconds). It returns the time in UTC, or
// EINVALID saying what is wrong.
func ParseSendAt(sendAt, timezone string) (time.Time, error) {
	t, err := parseSendAt(sendAt, timezone)
	if err != nil {
		return time.Time{}, err
	}
	// RFC 3339 (and so every answer that shows the time) writes years 0 to
	// 9999 alone; 9999-12-31T23:00:00-05:00 is in the year 10000 in UTC.
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}, tidings.Errorf(tidings.EINVALID, "send_at %q is outside the years 0 to 9999 in UTC.", strings.TrimSpace(sendAt))
	}
	return t, nil
}

func parseSendAt(sendAt, timezone string) (time.Time, error) {
	sendAt = strings.TrimSpace(sendAt)
	if sendAt == "" {
		return time.Time{}, tidings.Errorf(tidings.EINVALID, "send_at is required, e.g. \"2026-03-10T09:00:00+01:00\", or a local time with \"timezone\".")
	}
	if timezone == "" {
		t, err := time.Parse(time.RFC3339, sendAt)
		if err != nil {
			return time.Time{}, tidings.Errorf(tidings.EINVALID, "send_at %q is not an RFC 3339 time with an offset such as \"2026-03-10T09:00:00+01:00\"; for a local time, also give \"timezone\".", sendAt)
		}
		return t.UTC(), nil
	}
	if subscribers.ValidateTimezone(timezone) != nil {
		return time.Time{}, tidings.Errorf(tidings.EINVALID, "timezone %q is not a known time zone; use a name such as \"Europe/Berlin\".", timezone)
	}
	loc, _ := time.LoadLocation(timezone)
	if _, err := time.Parse(time.RFC3339, sendAt); err == nil {
		return time.Time{}, tidings.Errorf(tidings.EINVALID, "send_at %q has an offset and a timezone is given too; give one of them.", sendAt)
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, sendAt, loc); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, tidings.Errorf(tidings.EINVALID, "send_at %q is not a local time such as \"2026-03-10T09:00\".", sendAt)
}
