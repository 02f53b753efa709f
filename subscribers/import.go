package subscribers

import (
	"cmp"
	"context"
	"encoding/csv"
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

// MaxImportRejections is the most rejections an ImportReport lists; Rejected
// counts them all.
const MaxImportRejections = 1000

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
}

// ImportRejection is one row Import refused.
type ImportRejection struct {
	Line   int    `json:"line"`  // the physical line of the CSV where the row starts; the header is line 1
	Email  string `json:"email"` // as given, at most 254 characters
	Reason string `json:"reason"`
}

// importColumns are the columns an import's header may name.
var importColumns = []string{"email", "name", "timezone", "tags"}

// importRow is a valid row, normalised, ready for the staging table.
type importRow struct {
	line     int
	email    string
	key      string // EmailKey(email)
	name     string
	timezone string
	tags     []string
}

// Import reads a CSV of subscribers and subscribes them to the list with
// listSlug as confirmed: it is for people who consented elsewhere, and each
// subscription it makes or confirms is recorded as an EventImported (reason
// "imported from CSV", form m.Form or "import"), on which OnEvent is called.
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
// The report lists the first MaxImportRejections rejections.
//
// A file that is not well-formed CSV (bad quoting, a row with more or fewer
// fields than the header) or whose header is missing, lacks email or names an
// unknown column is refused whole with EINVALID naming the line or columns;
// nothing is stored. It returns ENOTFOUND for an unknown list. An error
// reading r is returned wrapped, so the caller can recognise it.
//
// Everything happens in one transaction, set-based: the rows are checked in
// Go, copied into a temporary table with COPY, and merged with a handful of
// INSERT ... SELECT and UPDATE ... FROM statements, so 100,000 rows take
// seconds. Existing subscribers are locked first, in id order, as every
// other change of a subscriber does. Should someone sign up an address of the
// file between the planning and the writing, the transaction is run again
// (three times at most; then ECONFLICT, and nothing is imported).
func (s *Store) Import(ctx context.Context, listSlug string, r io.Reader, m Meta) (*ImportReport, error) {
	if _, err := listBySlug(ctx, s.DB, listSlug); err != nil {
		return nil, wrap("import", err)
	}
	rows, rep, err := parseImport(r)
	if err != nil {
		return nil, wrap("import", err)
	}
	m = cleanMeta(m)
	if m.Form == "" {
		m.Form = "import"
	}
	if len(rows) == 0 {
		return rep, nil
	}

	if err := s.importTx(ctx, listSlug, rows, rep, m); err != nil {
		return nil, wrap("import", err)
	}
	return rep, nil
}

// parseImport reads and checks the whole CSV before anything is stored. It
// returns the valid rows and a report holding the rejected ones.
func parseImport(r io.Reader) ([]importRow, *ImportReport, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, tidings.Errorf(tidings.EINVALID, "The file is empty. Its first line must be a header row naming the columns: email, and optionally name, timezone and tags.")
	} else if err != nil {
		return nil, nil, malformedCSV(err)
	}
	headerLine, _ := cr.FieldPos(0) // 1, unless blank lines come first
	col, err := importHeader(header, headerLine)
	if err != nil {
		return nil, nil, err
	}
	width := len(header)

	rep := &ImportReport{Rejections: []ImportRejection{}}
	reject := func(line int, email, reason string) {
		rep.Rejected++
		if len(rep.Rejections) < MaxImportRejections {
			email = truncateRunes(strings.ToValidUTF8(strings.TrimSpace(email), "\ufffd"), maxEmailLen)
			rep.Rejections = append(rep.Rejections, ImportRejection{Line: line, Email: email, Reason: reason})
		} else {
			rep.RejectionsTruncated = true
		}
	}
	var rows []importRow
	seen := make(map[string]int)    // EmailKey -> line of its row
	zones := make(map[string]error) // time zones checked already
	cell := func(rec []string, name string) string {
		if i, ok := col[name]; ok {
			return rec[i]
		}
		return ""
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
				return nil, nil, tidings.Errorf(tidings.EINVALID, "The CSV is malformed at line %d: the row has %s, the header has %d. Nothing was imported.", pe.StartLine, fieldCount(len(rec)), width)
			}
			return nil, nil, malformedCSV(err)
		}
		line, _ := cr.FieldPos(0)
		if blankRecord(rec) {
			continue
		}
		raw := cell(rec, "email")
		email, err := NormalizeEmail(raw)
		if err != nil {
			reject(line, raw, tidings.ErrorMessage(err))
			continue
		}
		name, err := ValidateName(cell(rec, "name"))
		if err != nil {
			reject(line, raw, tidings.ErrorMessage(err))
			continue
		}
		tz := strings.TrimSpace(cell(rec, "timezone"))
		if tz != "" {
			zerr, ok := zones[tz]
			if !ok {
				zerr = ValidateTimezone(tz)
				zones[tz] = zerr
			}
			if zerr != nil {
				reject(line, raw, tidings.ErrorMessage(zerr))
				continue
			}
		}
		tags, err := NormalizeTags(splitTagCell(cell(rec, "tags")))
		if err != nil {
			reject(line, raw, tidings.ErrorMessage(err))
			continue
		}
		key := EmailKey(email)
		if first, ok := seen[key]; ok {
			reject(line, raw, fmt.Sprintf("This address is already on line %d.", first))
			continue
		}
		seen[key] = line
		rows = append(rows, importRow{line: line, email: email, key: key, name: name, timezone: tz, tags: tags})
	}
	return rows, rep, nil
}

// importHeader maps each column name of the header (trimmed, any case) to
// its index. It returns EINVALID for an unknown or repeated column and for a
// header without email.
func importHeader(header []string, line int) (map[string]int, error) {
	col := make(map[string]int, len(header))
	var unknown []string
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff") // the byte order mark spreadsheets write
		}
		name := strings.ToLower(strings.TrimSpace(h))
		switch {
		case !slices.Contains(importColumns, name):
			unknown = append(unknown, fmt.Sprintf("%q", truncateRunes(strings.ToValidUTF8(h, "\ufffd"), 40)))
		case hasKey(col, name):
			return nil, tidings.Errorf(tidings.EINVALID, "The header names the column %q twice.", name)
		default:
			col[name] = i
		}
	}
	if len(unknown) > 0 {
		if len(unknown) > 10 {
			unknown = append(unknown[:10], "...")
		}
		return nil, tidings.Errorf(tidings.EINVALID, "The header row (line %d) has unknown columns: %s. The columns are email, name, timezone and tags. Nothing was imported.", line, strings.Join(unknown, ", "))
	}
	if !hasKey(col, "email") {
		return nil, tidings.Errorf(tidings.EINVALID, "The header row (line %d) has no email column. The first line must name the columns: email, and optionally name, timezone and tags. Nothing was imported.", line)
	}
	return col, nil
}

func hasKey(m map[string]int, k string) bool {
	_, ok := m[k]
	return ok
}

// malformedCSV turns a CSV syntax error into EINVALID naming the line; any
// other error (reading the input failed) is returned as it is.
func malformedCSV(err error) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("read CSV: %w", err)
	}
	why := pe.Err.Error()
	switch {
	case errors.Is(pe.Err, csv.ErrQuote):
		why = `a quoted field is not closed properly (a " is missing, or a stray one follows the closing quote)`
	case errors.Is(pe.Err, csv.ErrBareQuote):
		why = `a " appears in a field that is not quoted; quote the whole field and double each " inside it`
	}
	where := fmt.Sprintf("line %d", pe.Line)
	if pe.StartLine != pe.Line {
		where += fmt.Sprintf(" (in the row that starts on line %d)", pe.StartLine)
	}
	return tidings.Errorf(tidings.EINVALID, "The CSV is malformed at %s: %s. Nothing was imported.", where, why)
}

func fieldCount(n int) string {
	if n == 1 {
		return "1 field"
	}
	return fmt.Sprintf("%d fields", n)
}

// blankRecord reports whether every cell of rec is blank, as in the trailing
// ",,," rows spreadsheets write.
func blankRecord(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// splitTagCell splits a tags cell at ";" and "|", dropping blank pieces.
func splitTagCell(s string) []string {
	tags := strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == '|' })
	return slices.DeleteFunc(tags, func(t string) bool { return strings.TrimSpace(t) == "" })
}

// errImportRace reports that an address of the file was signed up by
// someone else between the planning and the writing of an import; the
// transaction is then tried again from the start.
var errImportRace = errors.New("a subscriber changed during the import")

// maxImportAttempts bounds the attempts of Import when it meets errImportRace.
const maxImportAttempts = 3

// importTx runs importRows in a transaction, again if it meets errImportRace.
func (s *Store) importTx(ctx context.Context, slug string, rows []importRow, rep *ImportReport, m Meta) error {
	for attempt := 1; ; attempt++ {
		r := *rep
		r.Rejections = slices.Clone(rep.Rejections)
		err := s.importOnce(ctx, slug, rows, &r, m)
		if err == nil {
			*rep = r
			return nil
		}
		if !errors.Is(err, errImportRace) {
			return err
		}
		if attempt == maxImportAttempts {
			return tidings.Errorf(tidings.ECONFLICT, "Some addresses in the file were changed by someone else during the import; nothing was imported. Please try again.")
		}
	}
}

func (s *Store) importOnce(ctx context.Context, slug string, rows []importRow, rep *ImportReport, m Meta) error {
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := s.now()
	if err := s.importRows(ctx, tx, slug, rows, rep, m, now); err != nil {
		return err
	}
	return tx.Commit()
}

// importRows merges the valid rows into the list, filling in rep.
//
// The rows are copied into import_rows; one statement then plans every row
// into import_plan: its outcome (added, updated, skipped, rejected), its
// subscriber and subscription, new ids drawn from their sequences, and
// whether it gets an event. The writes are then one statement per table.
func (s *Store) importRows(ctx context.Context, tx *sqlx.Tx, slug string, rows []importRow, rep *ImportReport, m Meta, now time.Time) error {
	list, err := listBySlug(ctx, tx, slug)
	if err != nil {
		return err
	}
	// Room for the sorts and hashes over the whole file in memory, for
	// this transaction only.
	if _, err := tx.ExecContext(ctx, `SET LOCAL work_mem = '64MB'`); err != nil {
		return err
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
		return fmt.Errorf("staging table: %w", err)
	}
	if err := copyImportRows(ctx, tx, rows); err != nil {
		return err
	}
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
		if err := s.importEvents(ctx, tx, list, m, now); err != nil {
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
func (s *Store) importEvents(ctx context.Context, tx *sqlx.Tx, list *List, m Meta, now time.Time) error {
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
		SELECT a.id, a.subscription_id, p.subscriber_id, COALESCE(NULLIF(p.timezone, ''), p.old_timezone) AS timezone
		FROM appended a
		JOIN import_plan p ON p.subscription_id = a.subscription_id
		ORDER BY a.id`
	const reason = "imported from CSV"
	rows, err := tx.QueryContext(ctx, q, list.ID, EventImported, now, m.IP, m.UserAgent, m.Form, reason)
	if err != nil {
		return fmt.Errorf("append imported events: %w", err)
	}
	defer rows.Close()
	var events []Event
	for rows.Next() {
		e := Event{
			ListID: list.ID, Kind: EventImported, At: now,
			IP: m.IP, UserAgent: m.UserAgent, Form: m.Form, Reason: reason,
		}
		if err := rows.Scan(&e.ID, &e.SubscriptionID, &e.SubscriberID, &e.Timezone); err != nil {
			return fmt.Errorf("append imported events: %w", err)
		}
		if e.Timezone == "" {
			e.Timezone = list.Timezone
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("append imported events: %w", err)
	}
	rows.Close()
	if s.OnEvent == nil {
		return nil
	}
	// The rows are read to the end first: OnEvent may run statements of its
	// own on tx, which a connection cannot do while a result is open.
	for _, e := range events {
		if err := s.OnEvent(ctx, tx, e); err != nil {
			return fmt.Errorf("on %s event: %w", e.Kind, err)
		}
	}
	return nil
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
