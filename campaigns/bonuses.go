package campaigns

import (
	"context"
	"database/sql"
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
	var row struct {
		ID        int64     `db:"id"`
		ListID    int64     `db:"list_id"`
		Position  int       `db:"position"`
		Subject   string    `db:"subject"`
		Body      string    `db:"body"`
		CreatedAt time.Time `db:"created_at"`
		UpdatedAt time.Time `db:"updated_at"`
	}
	if err := s.inTx(ctx, nil, func(tx *sqlx.Tx, now time.Time) error {
		if err := lockList(ctx, tx, listID); err != nil {
			return err
		}
		var n int
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM bonuses WHERE list_id = $1`, listID); err != nil {
			return fmt.Errorf("campaigns: create bonus: %w", err)
		}
		pos := b.Position
		if pos == 0 || pos > n+1 {
			pos = n + 1
		}
		const shift = `
			UPDATE bonuses
			SET position = position + 1
			WHERE list_id = $1
			  AND position >= $2`
		if _, err := tx.ExecContext(ctx, shift, listID, pos); err != nil {
			return fmt.Errorf("campaigns: create bonus: %w", err)
		}
		const insert = `
			INSERT INTO bonuses (list_id, position, subject, body, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5)
			RETURNING id, list_id, position, subject, body, created_at, updated_at`
		if err := tx.GetContext(ctx, &row, insert, listID, pos, b.Subject, b.Body, now); err != nil {
			return fmt.Errorf("campaigns: create bonus: %w", err)
		}
		return nil
	}); err != nil {
		return err
	}
	*b = Bonus{ID: row.ID, ListID: row.ListID, Position: row.Position, Subject: row.Subject, Body: row.Body,
		CreatedAt: row.CreatedAt.UTC(), UpdatedAt: row.UpdatedAt.UTC()}
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
			SELECT id, list_id, position, subject, body, created_at, updated_at
			FROM bonuses
			WHERE list_id = $1
			ORDER BY position, id`
		var rows []struct {
			ID        int64     `db:"id"`
			ListID    int64     `db:"list_id"`
			Position  int       `db:"position"`
			Subject   string    `db:"subject"`
			Body      string    `db:"body"`
			CreatedAt time.Time `db:"created_at"`
			UpdatedAt time.Time `db:"updated_at"`
		}
		if err := tx.SelectContext(ctx, &rows, q, listID); err != nil {
			return fmt.Errorf("campaigns: bonuses: %w", err)
		}
		out := make([]*Bonus, 0, len(rows))
		for _, r := range rows {
			out = append(out, &Bonus{ID: r.ID, ListID: r.ListID, Position: r.Position, Subject: r.Subject, Body: r.Body,
				CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()})
		}
		res = out
		return nil
	}); err != nil {
		return nil, err
	}
	return res, nil
}
