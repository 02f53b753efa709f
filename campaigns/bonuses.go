package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings"
)

// Bonus is an email a sign-up form promises, sent once right after confirmation.
type Bonus struct {
	ID        int64     `json:"id"`
	ListID    int64     `json:"-"`
	Position  int       `json:"position"`
	Subject   string    `json:"subject"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CreateBonus adds a bonus email to the list at b.Position (0, or a position
// past the end, appends) and sets b's ID, Position and times. Bonuses are sent
// to those who confirm from now on. Returns EINVALID for bad input and
// ENOTFOUND for an unknown list.
func (s *Store) CreateBonus(ctx context.Context, listID int64, b *Bonus) error {
	if err := validateContent(b.Subject, b.Body); err != nil {
		return err
	}
	if b.Position < 0 {
		return tidings.Errorf(tidings.EINVALID, "position must be 0 (append) or more, not %d", b.Position)
	}
	var row bonusRow
	if err := s.inTx(ctx, nil, func(tx *sqlx.Tx, now time.Time) error {
		if err := lockList(ctx, tx, listID); err != nil {
			return err
		}
		pos, err := bonusOrder.makeRoom(ctx, tx, listID, b.Position)
		if err != nil {
			return err
		}
		const insert = `
			INSERT INTO bonuses (list_id, position, subject, body, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5)
			RETURNING ` + bonusColumns
		if err := tx.GetContext(ctx, &row, insert, listID, pos, b.Subject, b.Body, now); err != nil {
			return fmt.Errorf("campaigns: create bonus: %w", err)
		}
		return nil
	}); err != nil {
		return err
	}
	*b = *row.bonus()
	return nil
}

// Bonuses returns the list's bonus emails in order. Returns ENOTFOUND for an unknown list.
func (s *Store) Bonuses(ctx context.Context, listID int64) ([]*Bonus, error) {
	var res []*Bonus
	if err := s.inTx(ctx, &sql.TxOptions{ReadOnly: true}, func(tx *sqlx.Tx, now time.Time) error {
		if err := listExists(ctx, tx, listID); err != nil {
			return err
		}
		const q = `
			SELECT ` + bonusColumns + `
			FROM bonuses
			WHERE list_id = $1
			ORDER BY position, id`
		var rows []bonusRow
		if err := tx.SelectContext(ctx, &rows, q, listID); err != nil {
			return fmt.Errorf("campaigns: bonuses: %w", err)
		}
		out := make([]*Bonus, 0, len(rows))
		for i := range rows {
			out = append(out, rows[i].bonus())
		}
		res = out
		return nil
	}); err != nil {
		return nil, err
	}
	return res, nil
}

// BonusUpdate names the fields of a bonus email to change; nil fields are left alone.
type BonusUpdate struct {
	Subject *string
	Body    *string
}

// bonusRow is a bonus as stored.
type bonusRow struct {
	ID        int64     `db:"id"`
	ListID    int64     `db:"list_id"`
	Position  int       `db:"position"`
	Subject   string    `db:"subject"`
	Body      string    `db:"body"`
	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
}

func (r *bonusRow) bonus() *Bonus {
	return &Bonus{ID: r.ID, ListID: r.ListID, Position: r.Position, Subject: r.Subject, Body: r.Body,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

const bonusColumns = `id, list_id, position, subject, body, created_at, updated_at`

// BonusByID returns bonus email id of the list. Returns ENOTFOUND when the
// list has no such bonus.
func (s *Store) BonusByID(ctx context.Context, listID, id int64) (*Bonus, error) {
	return bonusByID(ctx, s.DB, listID, id)
}

func bonusByID(ctx context.Context, q sqlx.QueryerContext, listID, id int64) (*Bonus, error) {
	const get = `
		SELECT ` + bonusColumns + `
		FROM bonuses
		WHERE list_id = $1
		  AND id = $2`
	var row bonusRow
	if err := sqlx.GetContext(ctx, q, &row, get, listID, id); errors.Is(err, sql.ErrNoRows) {
		return nil, tidings.Errorf(tidings.ENOTFOUND, "Bonus email %d not found.", id)
	} else if err != nil {
		return nil, fmt.Errorf("campaigns: bonus %d: %w", id, err)
	}
	return row.bonus(), nil
}

// UpdateBonus changes the subject or body of bonus email id and returns it.
// Bonus messages still queued are rendered when sent, so they go out with the
// new text. Returns EINVALID for bad input (nothing is changed) and ENOTFOUND
// for an unknown list or bonus.
func (s *Store) UpdateBonus(ctx context.Context, listID, id int64, u BonusUpdate) (*Bonus, error) {
	var row bonusRow
	if err := s.inTx(ctx, nil, func(tx *sqlx.Tx, now time.Time) error {
		if err := lockList(ctx, tx, listID); err != nil {
			return err
		}
		cur, err := bonusByID(ctx, tx, listID, id)
		if err != nil {
			return err
		}
		if u.Subject != nil {
			cur.Subject = *u.Subject
		}
		if u.Body != nil {
			cur.Body = *u.Body
		}
		if err := validateContent(cur.Subject, cur.Body); err != nil {
			return err
		}
		const update = `
			UPDATE bonuses
			SET subject = $3,
			    body = $4,
			    updated_at = $5
			WHERE list_id = $1
			  AND id = $2
			RETURNING ` + bonusColumns
		if err := tx.GetContext(ctx, &row, update, listID, id, cur.Subject, cur.Body, now); err != nil {
			return fmt.Errorf("campaigns: update bonus %d: %w", id, err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return row.bonus(), nil
}

// skipBonusSQL and detachBonusSQL are DeleteBonus's statements on the
// outbox, for bonus $1 at $2. They look the rows up in the outbox_bonus
// index (TestOutboxPlans).
const (
	skipBonusSQL = `
		UPDATE outbox
		SET status = 'skipped',
		    last_error = 'bonus deleted',
		    updated_at = $2
		WHERE bonus_id = $1
		  AND status = 'queued'`
	detachBonusSQL = `
		UPDATE outbox
		SET bonus_id = NULL
		WHERE bonus_id = $1`
)

// DeleteBonus removes bonus email id from the list; later bonuses move up.
// Messages of it still queued are skipped. The outbox rows of messages already
// sent are kept, detached from the bonus, because they are the subscriber's
// history (the outbox's ON DELETE CASCADE trigger would otherwise delete them
// with it).
// Returns ENOTFOUND for an unknown list or bonus.
func (s *Store) DeleteBonus(ctx context.Context, listID, id int64) error {
	if err := s.inTx(ctx, nil, func(tx *sqlx.Tx, now time.Time) error {
		// The list lock also keeps out confirmations, which queue bonuses while
		// holding the list row FOR SHARE.
		if err := lockList(ctx, tx, listID); err != nil {
			return err
		}
		cur, err := bonusByID(ctx, tx, listID, id)
		if err != nil {
			return err
		}
		// Skip first, then detach: a queued row without its bonus would be sent
		// with an empty subject.
		if _, err := tx.ExecContext(ctx, skipBonusSQL, id, now); err != nil {
			return fmt.Errorf("campaigns: delete bonus %d: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, detachBonusSQL, id); err != nil {
			return fmt.Errorf("campaigns: delete bonus %d: %w", id, err)
		}
		const del = `
			DELETE FROM bonuses
			WHERE list_id = $1
			  AND id = $2`
		if _, err := tx.ExecContext(ctx, del, listID, id); err != nil {
			return fmt.Errorf("campaigns: delete bonus %d: %w", id, err)
		}
		return bonusOrder.closeGap(ctx, tx, listID, cur.Position)
	}); err != nil {
		return err
	}
	return nil
}
