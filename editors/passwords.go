package editors

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"
	"golang.org/x/crypto/bcrypt"

	"github.com/tidings/tidings"
)

const (
	// MinPasswordLen is the fewest characters a password may have.
	MinPasswordLen = 10
	// maxPasswordBytes is bcrypt's limit: it ignores what comes after.
	maxPasswordBytes = 72
	// maxFailedLogins failures in a row lock an account for lockoutDuration.
	maxFailedLogins = 5
	lockoutDuration = 15 * time.Minute
)

// Create adds an editor who signs in with email and password. Returns
// EINVALID for a bad address or a password shorter than 10 characters (or
// longer than bcrypt's 72 bytes), ECONFLICT when the address is taken.
func (s *Store) Create(ctx context.Context, email, password string) (*Editor, error) {
	email, err := normalEmail(email)
	if err != nil {
		return nil, err
	}
	if len([]rune(password)) < MinPasswordLen {
		return nil, tidings.Errorf(tidings.EINVALID, "The password must have at least %d characters.", MinPasswordLen)
	}
	if len(password) > maxPasswordBytes {
		return nil, tidings.Errorf(tidings.EINVALID, "The password must be at most %d bytes.", maxPasswordBytes)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return nil, fmt.Errorf("editors: hash password: %w", err)
	}
	const q = `
		INSERT INTO editors (email, password_hash, created_at)
		VALUES ($1, $2, $3)
		RETURNING id, email`
	e := &Editor{}
	err = s.DB.GetContext(ctx, e, q, email, hash, s.now())
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "23505" && pqErr.Constraint == "editors_email_key" {
		return nil, tidings.Errorf(tidings.ECONFLICT, "An editor with the address %s exists already.", email)
	} else if err != nil {
		return nil, fmt.Errorf("editors: create: %w", err)
	}
	return e, nil
}

// dummyHash makes a failed look-up cost as much as a wrong password, so the
// time taken does not tell whether an address has an account.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("tidings-dummy-password"), bcrypt.DefaultCost)

// Authenticate checks an email and password. Returns ERATELIMITED while the
// account is locked and EUNAUTHORIZED for a wrong address or password; five
// failures in a row lock the account for 15 minutes.
func (s *Store) Authenticate(ctx context.Context, email, password string) (*Editor, error) {
	wrong := tidings.Errorf(tidings.EUNAUTHORIZED, "Wrong email or password.")
	email, err := normalEmail(email)
	if err != nil || password == "" || len(password) > 200 {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return nil, wrong
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var row struct {
		Editor
		Hash        []byte     `db:"password_hash"`
		Failed      int        `db:"failed_logins"`
		LockedUntil *time.Time `db:"locked_until"`
	}
	const sel = `
		SELECT id, email, password_hash, failed_logins, locked_until
		FROM editors
		WHERE email = $1
		FOR UPDATE`
	err = tx.GetContext(ctx, &row, sel, email)
	if errors.Is(err, sql.ErrNoRows) {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return nil, wrong
	} else if err != nil {
		return nil, fmt.Errorf("editors: authenticate: %w", err)
	}
	if row.LockedUntil != nil && row.LockedUntil.After(tx.now) {
		mins := int(row.LockedUntil.Sub(tx.now).Minutes()) + 1
		return nil, tidings.Errorf(tidings.ERATELIMITED, "Too many failed sign-ins: this account is locked for %d more minutes.", mins)
	}
	if bcrypt.CompareHashAndPassword(row.Hash, []byte(password)) != nil {
		failed, locked := row.Failed+1, (*time.Time)(nil)
		if failed >= maxFailedLogins {
			until := tx.now.Add(lockoutDuration)
			failed, locked = 0, &until
		}
		const upd = `
			UPDATE editors
			SET failed_logins = $2, locked_until = $3
			WHERE id = $1`
		if _, err := tx.ExecContext(ctx, upd, row.ID, failed, locked); err != nil {
			return nil, fmt.Errorf("editors: authenticate: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return nil, fmt.Errorf("editors: authenticate: %w", err)
		}
		if locked != nil {
			return nil, tidings.Errorf(tidings.ERATELIMITED, "Too many failed sign-ins: this account is locked for %d minutes.", int(lockoutDuration.Minutes()))
		}
		return nil, wrong
	}
	const ok = `
		UPDATE editors
		SET failed_logins = 0, locked_until = NULL, last_login_at = $2
		WHERE id = $1`
	if _, err := tx.ExecContext(ctx, ok, row.ID, tx.now); err != nil {
		return nil, fmt.Errorf("editors: authenticate: %w", err)
	}
	return &row.Editor, tx.Commit()
}
