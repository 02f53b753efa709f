package campaigns

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// A list's steps and its bonuses are both ordered emails of the list: each
// holds a position, numbered from 1 with no gaps; a new one asked for at
// position 0, or past the end, goes last, and the ones at and after its
// place move down; when one is removed, the ones after it move up. ordered
// is that numbering, written once for both tables. The caller holds the
// lock that orders changes to the list (lockSequence, lockList).
type ordered struct {
	what  string // in errors
	table string
	live  string // the condition of a row that holds a position
}

var (
	stepOrder  = ordered{what: "steps", table: "steps", live: "deleted_at IS NULL"}
	bonusOrder = ordered{what: "bonus emails", table: "bonuses", live: "true"}
)

// count is how many positions the list's emails hold.
func (o ordered) count(ctx context.Context, tx *sqlx.Tx, listID int64) (int, error) {
	var n int
	q := `SELECT count(*) FROM ` + o.table + ` WHERE list_id = $1 AND ` + o.live
	if err := tx.GetContext(ctx, &n, q, listID); err != nil {
		return 0, fmt.Errorf("campaigns: count %s: %w", o.what, err)
	}
	return n, nil
}

// makeRoom returns the position a new email asked for at want goes to, and
// moves the emails at and after it down one.
func (o ordered) makeRoom(ctx context.Context, tx *sqlx.Tx, listID int64, want int) (int, error) {
	n, err := o.count(ctx, tx, listID)
	if err != nil {
		return 0, err
	}
	pos := want
	if pos <= 0 || pos > n+1 {
		pos = n + 1
	}
	q := `UPDATE ` + o.table + ` SET position = position + 1 WHERE list_id = $1 AND ` + o.live + ` AND position >= $2`
	if _, err := tx.ExecContext(ctx, q, listID, pos); err != nil {
		return 0, fmt.Errorf("campaigns: make room for %s: %w", o.what, err)
	}
	return pos, nil
}

// closeGap moves the emails after position pos up one, once the email that
// held it no longer does.
func (o ordered) closeGap(ctx context.Context, tx *sqlx.Tx, listID int64, pos int) error {
	q := `UPDATE ` + o.table + ` SET position = position - 1 WHERE list_id = $1 AND ` + o.live + ` AND position > $2`
	if _, err := tx.ExecContext(ctx, q, listID, pos); err != nil {
		return fmt.Errorf("campaigns: renumber %s: %w", o.what, err)
	}
	return nil
}
