package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings"
)

// tokenPrefix marks Tidings API tokens, so a leaked one is easy to recognise.
const tokenPrefix = "tdg_"

// CreateAPIToken stores a new API token under name and returns it. Only its
// SHA-256 is kept, so it is shown once. Returns EINVALID for an empty name.
func CreateAPIToken(ctx context.Context, db *sqlx.DB, name string, now time.Time) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", tidings.Errorf(tidings.EINVALID, "A token needs a name of 1 to 100 characters.")
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("web: token: %w", err)
	}
	token := tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(token))
	const q = `
		INSERT INTO api_tokens (name, token_hash, created_at)
		VALUES ($1, $2, $3)`
	if _, err := db.ExecContext(ctx, q, name, sum[:], now); err != nil {
		return "", fmt.Errorf("web: create token: %w", err)
	}
	return token, nil
}

// authenticateToken checks a bearer token against the stored hashes.
// Returns EUNAUTHORIZED for a missing or unknown token.
func (s *Server) authenticateToken(r *http.Request) error {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return tidings.Errorf(tidings.EUNAUTHORIZED, "Send an API token as `Authorization: Bearer TOKEN` (make one with `tidings token create`).")
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	// The lookup is by hash, so comparing the secret itself never happens in
	// variable time.
	const q = `
		UPDATE api_tokens
		SET last_used_at = $2
		WHERE token_hash = $1
		RETURNING id`
	var id int64
	err := s.db.GetContext(r.Context(), &id, q, sum[:], s.now())
	if errors.Is(err, sql.ErrNoRows) {
		return tidings.Errorf(tidings.EUNAUTHORIZED, "This API token is not valid.")
	} else if err != nil {
		return fmt.Errorf("web: authenticate: %w", err)
	}
	return nil
}
