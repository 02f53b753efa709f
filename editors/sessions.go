package editors

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidings/tidings"
)

// SessionLifetime is how long a session lasts from sign-in.
const SessionLifetime = 14 * 24 * time.Hour

// maxSecretLen bounds a presented session or token secret before it is
// hashed: real ones are far shorter.
const maxSecretLen = 100

// Session is a signed-in editor's session. Token is the secret for the
// cookie; only its hash is stored.
type Session struct {
	Token     string
	EditorID  int64
	ExpiresAt time.Time
}

// SessionMeta is what is kept of the request that started a session, so an
// editor can tell their sessions apart.
type SessionMeta struct {
	IP        string
	UserAgent string
}

// StartSession stores a new session for an editor and returns its secret.
func (s *Store) StartSession(ctx context.Context, editorID int64, m SessionMeta) (*Session, error) {
	token, err := newSecret("")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(token))
	now := s.now()
	sess := &Session{Token: token, EditorID: editorID, ExpiresAt: now.Add(SessionLifetime)}
	const q = `
		INSERT INTO editor_sessions (token_hash, editor_id, created_at, expires_at, ip, user_agent)
		VALUES ($1, $2, $3, $4, $5, $6)`
	if _, err := s.DB.ExecContext(ctx, q, sum[:], editorID, now, sess.ExpiresAt, clip(strings.ToValidUTF8(m.IP, "?"), 100), clip(strings.ToValidUTF8(m.UserAgent, "\uFFFD"), 500)); err != nil {
		return nil, fmt.Errorf("editors: start session: %w", err)
	}
	return sess, nil
}

// EditorBySession returns the editor of an unexpired session. Returns
// EUNAUTHORIZED for an unknown, ended or expired one.
func (s *Store) EditorBySession(ctx context.Context, token string) (*Editor, error) {
	if token == "" || len(token) > maxSecretLen {
		return nil, tidings.Errorf(tidings.EUNAUTHORIZED, "Please sign in.")
	}
	sum := sha256.Sum256([]byte(token))
	const q = `
		SELECT e.id, e.email
		FROM editor_sessions s
		JOIN editors e ON e.id = s.editor_id
		WHERE s.token_hash = $1
		AND s.expires_at > $2`
	var e Editor
	err := s.DB.GetContext(ctx, &e, q, sum[:], s.now())
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tidings.Errorf(tidings.EUNAUTHORIZED, "Please sign in.")
	} else if err != nil {
		return nil, fmt.Errorf("editors: session: %w", err)
	}
	return &e, nil
}

// EndSession deletes a session; ending one that does not exist is no error.
func (s *Store) EndSession(ctx context.Context, token string) error {
	sum := sha256.Sum256([]byte(token))
	const q = `
		DELETE FROM editor_sessions
		WHERE token_hash = $1`
	if _, err := s.DB.ExecContext(ctx, q, sum[:]); err != nil {
		return fmt.Errorf("editors: end session: %w", err)
	}
	return nil
}

// newSecret returns prefix and 32 random bytes in base64url.
func newSecret(prefix string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("editors: random: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// clip cuts s to at most n bytes without splitting a character.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
