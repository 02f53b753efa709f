// Package editors keeps the people who sign in to the editor UI and the
// credentials that act for them: accounts with bcrypt password hashes, the
// sessions behind the editor's cookie, and the bearer tokens (RFC 6750) of
// the JSON API. It knows nothing of HTTP; web calls it.
//
// Secrets (session cookies, API tokens) are kept only as SHA-256 hashes, so a
// copy of the database does not hand out working credentials.
package editors

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings/subscribers"
)

// Store keeps editors, their sessions and the API tokens in Postgres. It is
// safe for concurrent use, also by several processes on one database.
type Store struct {
	DB  *sqlx.DB
	Now func() time.Time // the clock; read once per transaction; nil means time.Now

	// PasswordCost is the bcrypt cost of new password hashes; 0 means
	// bcrypt.DefaultCost. Tests lower it to bcrypt.MinCost: a hash's cost is
	// stored in it, so hashes of any cost keep working.
	PasswordCost int

	dummyOnce sync.Once
	dummy     []byte
}

// Editor is a person who signs in to the editor UI.
type Editor struct {
	ID    int64  `db:"id"`
	Email string `db:"email"`
}

// Tx is a transaction of the store with the time it began, read once so that
// every row it writes agrees on "now".
type Tx struct {
	*sqlx.Tx
	now time.Time
}

// begin starts a transaction and reads the clock for it.
func (s *Store) begin(ctx context.Context) (*Tx, error) {
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("editors: begin: %w", err)
	}
	return &Tx{Tx: tx, now: s.now()}, nil
}

// now reads the store's clock.
func (s *Store) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// Ping checks that the database answers, for health checks.
func (s *Store) Ping(ctx context.Context) error {
	return s.DB.PingContext(ctx)
}

// normalEmail normalises a sign-in address. Unlike a subscriber's, the local
// part is compared without case too: people type their own address both ways.
func normalEmail(email string) (string, error) {
	email, err := subscribers.NormalizeEmail(email)
	return strings.ToLower(email), err
}

// utf8Clean reports whether s is valid UTF-8 without control characters,
// which Postgres (NUL) or a terminal listing (escapes) would choke on.
func utf8Clean(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
