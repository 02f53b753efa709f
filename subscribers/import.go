package subscribers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/tidings/tidings"
)

// ImportReport is what Import did, row by row of the CSV.
type ImportReport struct {
	// Added counts rows that subscribed someone to the list: a new address,
	// or a known one without a subscription on it.
	Added int `json:"added"`
	// Updated counts rows that matched a pending subscription (now
	// confirmed) or a confirmed one, whether or not a field changed.
	Updated int `json:"updated"`
	// Skipped counts rows of people who left: a suppressed address, or an
	// unsubscribed, bounced or complained subscription. Nothing changed.
	Skipped int `json:"skipped"`
	// Rejected counts invalid rows; nothing of them was stored.
	Rejected   int               `json:"rejected"`
	Rejections []ImportRejection `json:"rejections"` // the first MaxImportRejections, by line
	// RejectionsTruncated says Rejections lists only some of them.
	RejectionsTruncated bool `json:"rejections_truncated,omitempty"`
	// Stopped, when set, says where the import stopped reading the file
	// and why: the rows after it were not read (see MaxImportRows).
	Stopped *ImportStop `json:"stopped,omitempty"`
	// Series is what the import did with the list's series for the
	// subscriptions it confirmed: SeriesWelcome, SeriesJoin or SeriesNone.
	Series string `json:"series"`
}

// What an import does with the list's series for each subscription it
// confirms (ImportRequest.Series).
const (
	// SeriesWelcome starts the series from step 1 and queues the welcome
	// email and the bonuses, as a confirmation of a sign-up does.
	SeriesWelcome = "welcome"
	// SeriesJoin starts the series from step 1 without the welcome email
	// and the bonuses: the default, for people who had them elsewhere.
	SeriesJoin = "join"
	// SeriesNone leaves the series alone: they receive broadcasts only.
	SeriesNone = "none"
)

// ImportRequest says what Import does with a file.
type ImportRequest struct {
	List   string // the slug of the list to import into
	Series string // SeriesWelcome, SeriesJoin or SeriesNone; empty means SeriesJoin
	Meta   Meta   // the request's facts, kept in each event
}

// ImportRejection is one row Import refused.
type ImportRejection struct {
	Line   int    `json:"line"`  // the physical line of the CSV where the row starts; the header is line 1
	Email  string `json:"email"` // as given, at most 254 characters
	Reason string `json:"reason"`
}

// Import reads a CSV of subscribers and subscribes them to the list req.List
// as confirmed: it is for people who consented elsewhere, and each
// subscription it makes or confirms is recorded as an EventImported (reason
// "imported from CSV", form req.Meta.Form or "import"), on which OnEvent is
// called with the event's Series set to req.Series, so that the hook starts
// the list's series from step 1 with the welcome email and bonuses
// (SeriesWelcome), without them (SeriesJoin, the default) or not at all
// (SeriesNone), in the import's transaction. A subscription that was
// confirmed already gets no event, so importing a file again starts nothing.
// Any other Series is EINVALID, and nothing is read.
//
// The first line is a header naming the columns, in any order and any case:
// email (required), name, timezone and tags (separated by ";" or "|" within
// the cell). Per row:
//   - a new address becomes a subscriber with a confirmed subscription (added);
//   - a known address without a subscription on the list gets a confirmed one
//     (added), its name and time zone replaced when given and its tags merged;
//   - a pending subscription becomes confirmed (updated), a confirmed one is
//     left confirmed with no new event (updated), the subscriber's fields
//     changed as above, so importing a file twice appends no second event;
//   - a suppressed address, or an unsubscribed, bounced or complained
//     subscription, is skipped: an import never re-subscribes someone who left.
//
// A row with a bad address, name, time zone or tags, a second row of one
// address, or one that would give a subscriber more than 50 tags is rejected
// and reported with its line, and the other rows are imported. Rows whose
// cells are all blank are ignored.
//
// The work is bounded whatever the file: the report lists the first
// MaxImportRejections rejections (and counts them all), and the import reads
// at most MaxImportRows rows; at the next one it stops, imports the rows
// before it and says in the report's Stopped where and why.
//
// A file that is not well-formed CSV (bad quoting, a row with more or fewer
// fields than the header, a row over 64 KiB) or whose header is missing,
// lacks email or names an unknown column is refused whole with EINVALID
// naming the line or columns; nothing is stored. It returns ENOTFOUND for an
// unknown list. An error reading r is returned wrapped, so the caller can
// recognise it; nothing is stored then either.
//
// Everything happens in one transaction, set-based: r is read as a stream,
// each row checked in Go, and the valid ones copied with COPY a batch at a
// time into a temporary table, which a handful of INSERT ... SELECT and
// UPDATE ... FROM statements then merges, so 100,000 rows take seconds and
// memory does not grow with the file. Existing subscribers are locked first,
// in id order, as every other change of a subscriber does. Should someone
// sign up an address of the file between the planning and the writing, the
// merge is run again from a savepoint (three times at most; then ECONFLICT,
// and nothing is imported).
func (s *Store) Import(ctx context.Context, req ImportRequest, r io.Reader) (*ImportReport, error) {
	switch req.Series {
	case "":
		req.Series = SeriesJoin
	case SeriesWelcome, SeriesJoin, SeriesNone:
	default:
		return nil, tidings.Errorf(tidings.EINVALID, "series must be %s, %s or %s, not %q.",
			SeriesWelcome, SeriesJoin, SeriesNone, truncateRunes(strings.ToValidUTF8(req.Series, "\ufffd"), 40))
	}
	req.Meta = cleanMeta(req.Meta)
	if req.Meta.Form == "" {
		req.Meta.Form = "import"
	}
	rep, err := s.importTx(ctx, req, r, MaxImportRows)
	if err != nil {
		return nil, wrap("import", err)
	}
	return rep, nil
}

// errImportRace reports that an address of the file was signed up by
// someone else between the planning and the writing of an import; the
// merge is then tried again from its savepoint.
var errImportRace = errors.New("a subscriber changed during the import")

// maxImportAttempts bounds the attempts of Import when it meets errImportRace.
const maxImportAttempts = 3

// importTx reads the file into the staging table and merges it, in one
// transaction: a file that turns out malformed at its last line has stored
// nothing. The merge alone is tried again when it meets errImportRace, from
// a savepoint taken after the staging, since the file cannot be read twice.
func (s *Store) importTx(ctx context.Context, req ImportRequest, r io.Reader, maxRows int) (*ImportReport, error) {
	var rep *ImportReport
	err := s.inTx(ctx, nil, func(tx *sqlx.Tx, now time.Time) error {
		var err error
		rep, err = s.importIn(ctx, tx, req, r, maxRows, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// importIn is importTx inside its transaction.
func (s *Store) importIn(ctx context.Context, tx *sqlx.Tx, req ImportRequest, r io.Reader, maxRows int, now time.Time) (*ImportReport, error) {
	list, err := listBySlug(ctx, tx, req.List)
	if err != nil {
		return nil, err
	}
	ir, err := newImportReader(r, maxRows)
	if err != nil {
		return nil, err
	}
	n, err := stageImport(ctx, tx, ir)
	if err != nil {
		return nil, err
	}
	rep := ir.rep
	rep.Series = req.Series
	if n == 0 {
		return rep, nil
	}
	for attempt := 1; ; attempt++ {
		if _, err := tx.ExecContext(ctx, `SAVEPOINT import_merge`); err != nil {
			return nil, err
		}
		try := *rep
		try.Rejections = slices.Clone(rep.Rejections)
		err := s.importRows(ctx, tx, list, &try, req, now)
		if err == nil {
			*rep = try
			return rep, nil
		}
		if !errors.Is(err, errImportRace) {
			return nil, err
		}
		if attempt == maxImportAttempts {
			return nil, tidings.Errorf(tidings.ECONFLICT, "Some addresses in the file were changed by someone else during the import; nothing was imported. Please try again.")
		}
		if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT import_merge`); err != nil {
			return nil, err
		}
	}
}

// stageImport reads the valid rows of ir into the temporary table
// import_rows, a batch at a time, and returns how many there were.
func stageImport(ctx context.Context, tx *sqlx.Tx, ir *importReader) (int, error) {
	// Room for the sorts and hashes of the merge in memory, for this
	// transaction only.
	if _, err := tx.ExecContext(ctx, `SET LOCAL work_mem = '64MB'`); err != nil {
		return 0, err
	}
	const stage = `
		CREATE TEMPORARY TABLE import_rows (
		    line      int NOT NULL,
		    email     text NOT NULL,
		    email_key text NOT NULL,
		    name      text NOT NULL,
		    timezone  text NOT NULL,
		    tags      text[] NOT NULL
		) ON COMMIT DROP`
	if _, err := tx.ExecContext(ctx, stage); err != nil {
		return 0, fmt.Errorf("staging table: %w", err)
	}
	batch := make([]importRow, 0, importBatch)
	n := 0
	for {
		row, err := ir.next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return 0, err
		}
		if batch = append(batch, row); len(batch) == importBatch {
			if err := copyImportRows(ctx, tx, batch); err != nil {
				return 0, err
			}
			n += len(batch)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		if err := copyImportRows(ctx, tx, batch); err != nil {
			return 0, err
		}
		n += len(batch)
	}
	return n, nil
}

// importRows merges the staged rows of import_rows into the list, filling
// in rep.
//
// One statement plans every row
// into import_plan: its outcome (added, updated, skipped, rejected), its
// subscriber and subscription, new ids drawn from their sequences, and
// whether it gets an event. The writes are then one statement per table.
func (s *Store) importRows(ctx context.Context, tx *sqlx.Tx, list *List, rep *ImportReport, req ImportRequest, now time.Time) error {
	if err := runSteps(ctx, tx, []sqlStep{
		// Every change of a subscriber's subscriptions locks the subscriber
		// first, so the plan below reads statuses no one else can change
		// until this commits. In id order, so two imports cannot deadlock.
		{"lock subscribers", `
			SELECT count(*)
			FROM (
			    SELECT r.id
			    FROM subscribers r
			    JOIN import_rows i ON i.email_key = r.email_key
			    ORDER BY r.id
			    FOR NO KEY UPDATE OF r
			) AS locked`, nil},
		// The outcome of each row. An address not yet known gets its
		// subscriber id now (nextval), so no later statement has to read
		// back what it inserted; CASE evaluates nextval only for the rows
		// that need one.
		{"plan", `
			CREATE TEMPORARY TABLE import_plan ON COMMIT DROP AS
			SELECT c.line, c.email, c.name, c.timezone, c.tags, c.outcome, c.pending, c.old_timezone,
			       c.subscriber_id IS NULL AND c.outcome = 'added' AS created,
			       CASE WHEN c.subscriber_id IS NULL AND c.outcome = 'added' THEN nextval('subscribers_id_seq')
			            ELSE c.subscriber_id END AS subscriber_id,
			       CASE WHEN c.subscription_id IS NULL AND c.outcome = 'added' THEN nextval('subscriptions_id_seq')
			            ELSE c.subscription_id END AS subscription_id,
			       c.outcome = 'added' OR c.outcome = 'updated' AND c.pending AS event
			FROM (
			    SELECT i.line, i.email, i.name, i.timezone, i.tags,
			           r.id AS subscriber_id, COALESCE(r.timezone, '') AS old_timezone,
			           s.id AS subscription_id, COALESCE(s.status = 'pending', false) AS pending,
			           CASE
			               WHEN x.email IS NOT NULL OR s.status IN ('unsubscribed', 'bounced', 'complained') THEN 'skipped'
			               WHEN cardinality(r.tags) + cardinality(i.tags) > $2
			                    AND (SELECT count(DISTINCT t) FROM unnest(r.tags || i.tags) AS u (t)) > $2 THEN 'rejected'
			               WHEN s.id IS NULL THEN 'added'
			               ELSE 'updated'
			           END AS outcome
			    FROM import_rows i
			    LEFT JOIN suppressions x ON x.email = i.email_key
			    LEFT JOIN subscribers r ON r.email_key = i.email_key
			    LEFT JOIN subscriptions s ON s.subscriber_id = r.id AND s.list_id = $1
			) AS c`, []any{list.ID, MaxTags}},
	}); err != nil {
		return err
	}
	var want struct {
		Pending int `db:"pending"`
		Events  int `db:"events"`
	}
	const planned = `
		SELECT count(*) FILTER (WHERE outcome = 'updated' AND pending) AS pending,
		       count(*) FILTER (WHERE event) AS events
		FROM import_plan`
	if err := tx.GetContext(ctx, &want, planned); err != nil {
		return fmt.Errorf("plan: %w", err)
	}

	// New addresses. A sign-up of one of them that committed since the plan
	// breaks the unique key on email_key: then the whole import starts again.
	const addSubscribers = `
		INSERT INTO subscribers (id, email, name, timezone, tags, created_at, updated_at)
		SELECT subscriber_id, email, name, timezone, tags, $1, $1
		FROM import_plan
		WHERE created
		ORDER BY email`
	if _, err := tx.ExecContext(ctx, addSubscribers, now); isUniqueViolation(err, "subscribers_email_key_unique") {
		return errImportRace
	} else if err != nil {
		return fmt.Errorf("add subscribers: %w", err)
	}
	const addSubscriptions = `
		INSERT INTO subscriptions (id, subscriber_id, list_id, status, confirmed_at, created_at, updated_at)
		SELECT subscription_id, subscriber_id, $1, 'confirmed', $2, $2, $2
		FROM import_plan
		WHERE outcome = 'added'
		ORDER BY subscription_id`
	if _, err := tx.ExecContext(ctx, addSubscriptions, list.ID, now); isUniqueViolation(err, "subscriptions_subscriber_id_list_id_key") {
		return errImportRace
	} else if err != nil {
		return fmt.Errorf("add subscriptions: %w", err)
	}
	const confirmPending = `
		UPDATE subscriptions s
		SET status = 'confirmed', confirmed_at = $1, updated_at = $1
		FROM import_plan p
		WHERE s.id = p.subscription_id
		  AND p.outcome = 'updated'
		  AND p.pending
		  AND s.status = 'pending'`
	res, err := tx.ExecContext(ctx, confirmPending, now)
	if err != nil {
		return fmt.Errorf("confirm pending: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if int(n) != want.Pending {
		return errImportRace
	}
	// A known subscriber's name and time zone are replaced when given, its
	// tags merged. Only rows that change anything are written, so a second
	// import of the same file rewrites nothing.
	const updateSubscribers = `
		UPDATE subscribers r
		SET name = CASE WHEN p.name <> '' THEN p.name ELSE r.name END,
		    timezone = CASE WHEN p.timezone <> '' THEN p.timezone ELSE r.timezone END,
		    tags = ARRAY(
		        SELECT t
		        FROM unnest(r.tags || p.tags) AS u (t)
		        GROUP BY t
		        ORDER BY t COLLATE "C"),
		    updated_at = $1
		FROM import_plan p
		WHERE r.id = p.subscriber_id
		  AND NOT p.created
		  AND p.outcome IN ('added', 'updated')
		  AND (p.name <> '' AND p.name <> r.name
		       OR p.timezone <> '' AND p.timezone <> r.timezone
		       OR NOT r.tags @> p.tags)`
	if _, err := tx.ExecContext(ctx, updateSubscribers, now); err != nil {
		return fmt.Errorf("update subscribers: %w", err)
	}
	if want.Events > 0 {
		if err := s.importEvents(ctx, tx, list, req, now); err != nil {
			return err
		}
	}
	return importTally(ctx, tx, rep)
}

// sqlStep is one statement of a set-based change.
type sqlStep struct {
	what string // for the error
	q    string
	args []any
}

// runSteps runs the statements in order on tx.
func runSteps(ctx context.Context, tx *sqlx.Tx, steps []sqlStep) error {
	for _, st := range steps {
		if _, err := tx.ExecContext(ctx, st.q, st.args...); err != nil {
			return fmt.Errorf("%s: %w", st.what, err)
		}
	}
	return nil
}

// copyImportRows streams the rows into the staging table with COPY FROM
// STDIN: one round trip for the lot.
func copyImportRows(ctx context.Context, tx *sqlx.Tx, rows []importRow) error {
	stmt, err := tx.PrepareContext(ctx, `COPY import_rows (line, email, email_key, name, timezone, tags) FROM STDIN`)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	defer stmt.Close()
	for _, r := range rows {
		if _, err := stmt.ExecContext(ctx, r.line, r.email, r.key, r.name, r.timezone, pq.StringArray(r.tags)); err != nil {
			return fmt.Errorf("copy line %d: %w", r.line, err)
		}
	}
	// An Exec without arguments ends the COPY and reports its errors.
	if _, err := stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	return stmt.Close()
}

// importEvents appends an EventImported for each row that subscribed or
// confirmed someone, in one INSERT ... SELECT in the order of the file, then
// calls OnEvent for each, inside the transaction as for every other change.
// The events are read back a batch at a time, so a large file's events are
// never all in memory.
func (s *Store) importEvents(ctx context.Context, tx *sqlx.Tx, list *List, req ImportRequest, now time.Time) error {
	m := req.Meta
	const stage = `
		CREATE TEMPORARY TABLE import_events (
		    id              bigint PRIMARY KEY,
		    subscription_id bigint NOT NULL,
		    subscriber_id   bigint NOT NULL,
		    timezone        text NOT NULL
		) ON COMMIT DROP`
	if _, err := tx.ExecContext(ctx, stage); err != nil {
		return fmt.Errorf("imported events table: %w", err)
	}
	// The time zone of the event is the subscriber's (as just imported, else
	// as it was), else the list's.
	const q = `
		WITH appended AS (
		    INSERT INTO events (subscription_id, subscriber_id, list_id, kind, at, ip, user_agent, form, consent_text, reason)
		    SELECT subscription_id, subscriber_id, $1, $2, $3, $4, $5, $6, '', $7
		    FROM import_plan
		    WHERE event
		    ORDER BY line
		    RETURNING id, subscription_id
		)
		INSERT INTO import_events (id, subscription_id, subscriber_id, timezone)
		SELECT a.id, a.subscription_id, p.subscriber_id, COALESCE(NULLIF(p.timezone, ''), p.old_timezone)
		FROM appended a
		JOIN import_plan p ON p.subscription_id = a.subscription_id`
	const reason = "imported from CSV"
	if _, err := tx.ExecContext(ctx, q, list.ID, EventImported, now, m.IP, m.UserAgent, m.Form, reason); err != nil {
		return fmt.Errorf("append imported events: %w", err)
	}
	if s.OnEvent == nil {
		return nil
	}
	const batch = `
		SELECT id, subscription_id, subscriber_id, timezone
		FROM import_events
		WHERE id > $1
		ORDER BY id
		LIMIT $2`
	var rows []struct {
		ID             int64  `db:"id"`
		SubscriptionID int64  `db:"subscription_id"`
		SubscriberID   int64  `db:"subscriber_id"`
		Timezone       string `db:"timezone"`
	}
	for after := int64(0); ; {
		// Each batch is read to the end first: OnEvent may run statements
		// of its own on tx, which a connection cannot do while a result is
		// open.
		rows = rows[:0] // SelectContext appends
		if err := tx.SelectContext(ctx, &rows, batch, after, importBatch); err != nil {
			return fmt.Errorf("read imported events: %w", err)
		}
		for _, r := range rows {
			e := Event{
				ID: r.ID, SubscriptionID: r.SubscriptionID, SubscriberID: r.SubscriberID, ListID: list.ID,
				Kind: EventImported, At: now, IP: m.IP, UserAgent: m.UserAgent, Form: m.Form, Reason: reason,
				Timezone: r.Timezone, Series: req.Series,
			}
			if e.Timezone == "" {
				e.Timezone = list.Timezone
			}
			if err := s.OnEvent(ctx, tx, e); err != nil {
				return fmt.Errorf("on %s event: %w", e.Kind, err)
			}
		}
		if len(rows) < importBatch {
			return nil
		}
		after = rows[len(rows)-1].ID
	}
}

// importTally counts the outcomes into rep and adds the rows rejected for
// too many tags to its rejections, in line order.
func importTally(ctx context.Context, tx *sqlx.Tx, rep *ImportReport) error {
	const tally = `
		SELECT count(*) FILTER (WHERE outcome = 'added') AS added,
		       count(*) FILTER (WHERE outcome = 'updated') AS updated,
		       count(*) FILTER (WHERE outcome = 'skipped') AS skipped,
		       count(*) FILTER (WHERE outcome = 'rejected') AS rejected
		FROM import_plan`
	var n struct {
		Added    int `db:"added"`
		Updated  int `db:"updated"`
		Skipped  int `db:"skipped"`
		Rejected int `db:"rejected"`
	}
	if err := tx.GetContext(ctx, &n, tally); err != nil {
		return fmt.Errorf("tally: %w", err)
	}
	rep.Added, rep.Updated, rep.Skipped = n.Added, n.Updated, n.Skipped
	if n.Rejected == 0 {
		return nil
	}
	rep.Rejected += n.Rejected
	const rejected = `
		SELECT p.line, p.email, (SELECT count(DISTINCT t) FROM unnest(r.tags || p.tags) AS u (t)) AS tags
		FROM import_plan p
		JOIN subscribers r ON r.id = p.subscriber_id
		WHERE p.outcome = 'rejected'
		ORDER BY p.line
		LIMIT $1`
	var rows []struct {
		Line  int    `db:"line"`
		Email string `db:"email"`
		Tags  int    `db:"tags"`
	}
	if err := tx.SelectContext(ctx, &rows, rejected, MaxImportRejections); err != nil {
		return fmt.Errorf("rejections: %w", err)
	}
	for _, r := range rows {
		rep.Rejections = append(rep.Rejections, ImportRejection{
			Line: r.Line, Email: r.Email,
			Reason: fmt.Sprintf("The subscriber would have %d tags; at most %d are allowed.", r.Tags, MaxTags),
		})
	}
	slices.SortFunc(rep.Rejections, func(a, b ImportRejection) int { return cmp.Compare(a.Line, b.Line) })
	if len(rep.Rejections) > MaxImportRejections {
		rep.Rejections = rep.Rejections[:MaxImportRejections]
		rep.RejectionsTruncated = true
	}
	return nil
}
