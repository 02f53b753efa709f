package editors

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tidings/tidings"
)

// TokenPrefix marks Tidings API tokens, so a leaked one is easy to recognise.
const TokenPrefix = "tdg_"

// Token scopes: a read token may only look; a write token may also change.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// lastUsedEvery is how stale a token's last-used time may get: it is written
// at most this often, so that authenticating a busy script's requests stays a
// read of one row instead of a write each.
const lastUsedEvery = time.Minute

// maxTokenLifetime bounds an expiry, so a typo does not make a token that
// outlives everyone who knows of it. No expiry at all is still possible.
const maxTokenLifetime = 10 * 366 * 24 * time.Hour

// Token is an API token as listed: everything but its secret.
type Token struct {
	ID         int64      `db:"id"`
	Name       string     `db:"name"`
	Scope      string     `db:"scope"`
	CreatedAt  time.Time  `db:"created_at"`
	LastUsedAt *time.Time `db:"last_used_at"`
	ExpiresAt  *time.Time `db:"expires_at"` // nil: never
}

// CanWrite reports whether the token may change state.
func (t *Token) CanWrite() bool { return t.Scope == ScopeWrite }

// TokenRequest is what a new token is made from.
type TokenRequest struct {
	Name     string
	Scope    string        // ScopeRead or ScopeWrite; empty means ScopeWrite
	Lifetime time.Duration // how long it works from now; 0 means until revoked
}

// ParseLifetime reads a token lifetime as typed: a Go duration ("720h",
// "90m") or a number of days ("30d"); empty means no expiry. Returns EINVALID
// for anything else, for zero or less, and for more than ten years.
func ParseLifetime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	bad := tidings.Errorf(tidings.EINVALID, "The expiry %q is not a duration such as 30d, 720h or 90m.", clip(s, 40))
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n > 10*366 {
			return 0, bad
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, bad
		}
	}
	if d <= 0 {
		return 0, tidings.Errorf(tidings.EINVALID, "The expiry must be in the future.")
	}
	if d > maxTokenLifetime {
		return 0, tidings.Errorf(tidings.EINVALID, "The expiry must be within ten years.")
	}
	return d, nil
}

// CreateToken stores a new API token and returns it with its secret. Only the
// secret's SHA-256 is kept, so it is shown once. Returns EINVALID for an empty
// or overlong name, an unknown scope or a lifetime out of range.
func (s *Store) CreateToken(ctx context.Context, req TokenRequest) (*Token, string, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, "", err
	}
	defer tx.Rollback()
	t, secret, err := createToken(ctx, tx, req)
	if err != nil {
		return nil, "", err
	}
	return t, secret, tx.Commit()
}

// createToken is CreateToken inside tx.
func createToken(ctx context.Context, tx *Tx, req TokenRequest) (*Token, string, error) {
	name := strings.TrimSpace(req.Name)
	if name == "" || len([]rune(name)) > 100 || !utf8Clean(name) {
		return nil, "", tidings.Errorf(tidings.EINVALID, "A token needs a name of 1 to 100 characters.")
	}
	scope := req.Scope
	if scope == "" {
		scope = ScopeWrite
	}
	if scope != ScopeRead && scope != ScopeWrite {
		return nil, "", tidings.Errorf(tidings.EINVALID, "A token's scope is %q or %q, not %q.", ScopeRead, ScopeWrite, clip(scope, 40))
	}
	if req.Lifetime < 0 || req.Lifetime > maxTokenLifetime {
		return nil, "", tidings.Errorf(tidings.EINVALID, "The expiry must be in the future and within ten years.")
	}
	var expires *time.Time
	if req.Lifetime > 0 {
		at := tx.now.Add(req.Lifetime)
		expires = &at
	}
	secret, err := newSecret(TokenPrefix)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256([]byte(secret))
	const q = `
		INSERT INTO api_tokens (name, token_hash, scope, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)
		RETURNING id, name, scope, created_at, last_used_at, expires_at`
	t := &Token{}
	if err := tx.GetContext(ctx, t, q, name, sum[:], scope, tx.now, expires); err != nil {
		return nil, "", fmt.Errorf("editors: create token: %w", err)
	}
	return t, secret, nil
}

// Tokens returns every API token, newest first.
func (s *Store) Tokens(ctx context.Context) ([]Token, error) {
	const q = `
		SELECT id, name, scope, created_at, last_used_at, expires_at
		FROM api_tokens
		ORDER BY created_at DESC, id DESC`
	ts := []Token{}
	if err := s.DB.SelectContext(ctx, &ts, q); err != nil {
		return nil, fmt.Errorf("editors: tokens: %w", err)
	}
	return ts, nil
}

// RevokeToken deletes an API token: from then on it is refused. Returns
// ENOTFOUND for an unknown id.
func (s *Store) RevokeToken(ctx context.Context, id int64) error {
	const q = `
		DELETE FROM api_tokens
		WHERE id = $1`
	res, err := s.DB.ExecContext(ctx, q, id)
	if err != nil {
		return fmt.Errorf("editors: revoke token %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return tidings.Errorf(tidings.ENOTFOUND, "There is no API token %d.", id)
	}
	return nil
}

// AuthenticateToken returns the token whose secret this is. Returns
// EUNAUTHORIZED for an unknown, revoked or expired one.
func (s *Store) AuthenticateToken(ctx context.Context, secret string) (*Token, error) {
	invalid := tidings.Errorf(tidings.EUNAUTHORIZED, "This API token is not valid.")
	if secret == "" || len(secret) > maxSecretLen {
		return nil, invalid
	}
	now := s.now()
	// The lookup is by hash, so comparing the secret itself never happens in
	// variable time.
	sum := sha256.Sum256([]byte(secret))
	const q = `
		SELECT id, name, scope, created_at, last_used_at, expires_at
		FROM api_tokens
		WHERE token_hash = $1`
	t := &Token{}
	err := s.DB.GetContext(ctx, t, q, sum[:])
	if errors.Is(err, sql.ErrNoRows) {
		return nil, invalid
	} else if err != nil {
		return nil, fmt.Errorf("editors: authenticate token: %w", err)
	}
	if t.ExpiresAt != nil && !now.Before(*t.ExpiresAt) {
		return nil, tidings.Errorf(tidings.EUNAUTHORIZED, "This API token expired on %s.", t.ExpiresAt.UTC().Format("2006-01-02 15:04 MST"))
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= lastUsedEvery {
		// The condition repeats the check in SQL, so that of several
		// requests arriving together only one writes.
		const upd = `
			UPDATE api_tokens
			SET last_used_at = $2
			WHERE id = $1
			AND (last_used_at IS NULL OR last_used_at <= $3)`
		if _, err := s.DB.ExecContext(ctx, upd, t.ID, now, now.Add(-lastUsedEvery)); err != nil {
			return nil, fmt.Errorf("editors: authenticate token: %w", err)
		}
		t.LastUsedAt = &now
	}
	return t, nil
}

// DevToken returns the development API token called name, making it the
// first time: its secret is kept in the clear (dev_tokens), so every start of
// `tidings serve --dev` prints the same one until it is revoked or expires.
// Never call it outside development.
func (s *Store) DevToken(ctx context.Context, name string) (string, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	// Two dev instances starting together on one database make one token.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('tidings dev_tokens'))`); err != nil {
		return "", fmt.Errorf("editors: dev token: %w", err)
	}
	const sel = `
		SELECT d.secret
		FROM dev_tokens d
		JOIN api_tokens t ON t.id = d.token_id
		WHERE d.name = $1
		AND (t.expires_at IS NULL OR t.expires_at > $2)`
	var secret string
	err = tx.GetContext(ctx, &secret, sel, name, tx.now)
	if err == nil {
		return secret, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("editors: dev token: %w", err)
	}
	t, secret, err := createToken(ctx, tx, TokenRequest{Name: name, Scope: ScopeWrite})
	if err != nil {
		return "", err
	}
	const ins = `
		INSERT INTO dev_tokens (name, token_id, secret)
		VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE
		SET token_id = EXCLUDED.token_id, secret = EXCLUDED.secret`
	if _, err := tx.ExecContext(ctx, ins, name, t.ID, secret); err != nil {
		return "", fmt.Errorf("editors: dev token: %w", err)
	}
	return secret, tx.Commit()
}
