package editors

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/tidings/tidings"
)

// TokenPrefix marks Tidings API tokens, so a leaked one is easy to recognise.
const TokenPrefix = "tdg_"

// CreateToken stores a new API token under name and returns its secret. Only
// its SHA-256 is kept, so it is shown once. Returns EINVALID for an empty name.
func (s *Store) CreateToken(ctx context.Context, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", tidings.Errorf(tidings.EINVALID, "A token needs a name of 1 to 100 characters.")
	}
	token, err := newSecret(TokenPrefix)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(token))
	const q = `
		INSERT INTO api_tokens (name, token_hash, created_at)
		VALUES ($1, $2, $3)`
	if _, err := s.DB.ExecContext(ctx, q, name, sum[:], s.now()); err != nil {
		return "", fmt.Errorf("editors: create token: %w", err)
	}
	return token, nil
}

// AuthenticateToken checks an API token's secret. Returns EUNAUTHORIZED for
// an unknown one.
func (s *Store) AuthenticateToken(ctx context.Context, secret string) error {
	if secret == "" || len(secret) > maxSecretLen {
		return tidings.Errorf(tidings.EUNAUTHORIZED, "This API token is not valid.")
	}
	// The lookup is by hash, so comparing the secret itself never happens in
	// variable time.
	sum := sha256.Sum256([]byte(secret))
	const q = `
		UPDATE api_tokens
		SET last_used_at = $2
		WHERE token_hash = $1
		RETURNING id`
	var id int64
	err := s.DB.GetContext(ctx, &id, q, sum[:], s.now())
	if errors.Is(err, sql.ErrNoRows) {
		return tidings.Errorf(tidings.EUNAUTHORIZED, "This API token is not valid.")
	} else if err != nil {
		return fmt.Errorf("editors: authenticate token: %w", err)
	}
	return nil
}
