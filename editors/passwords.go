package editors

import (
	"context"
	"errors"
	"fmt"

	"github.com/lib/pq"
	"golang.org/x/crypto/bcrypt"

	"github.com/tidings/tidings"
)

const (
	// MinPasswordLen is the fewest characters a password may have.
	MinPasswordLen = 10
	// maxPasswordBytes is bcrypt's limit: it ignores what comes after.
	maxPasswordBytes = 72
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
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.passwordCost())
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

// passwordCost is the bcrypt cost of new hashes.
func (s *Store) passwordCost() int {
	if s.PasswordCost == 0 {
		return bcrypt.DefaultCost
	}
	return s.PasswordCost
}
