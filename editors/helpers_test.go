package editors_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/editors"
	"github.com/tidings/tidings/internal/pgtest"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

const password = "correct horse battery"

// MustOpenStore returns a store on a new database and its clock.
func MustOpenStore(tb testing.TB) (*editors.Store, *clock) {
	tb.Helper()
	clk := &clock{t: time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)}
	return &editors.Store{DB: pgtest.MustOpenDB(tb), Now: clk.Now, PasswordCost: bcrypt.MinCost}, clk
}

// MustCreate creates an editor with the test password.
func MustCreate(tb testing.TB, s *editors.Store, email string) *editors.Editor {
	tb.Helper()
	e, err := s.Create(tb.Context(), email, password)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// wantCode fails unless err has the code.
func wantCode(tb testing.TB, what string, err error, code string) {
	tb.Helper()
	if got := tidings.ErrorCode(err); got != code {
		tb.Fatalf("%s: code %q (%v), want %q", what, got, err, code)
	}
}

// editorsMeta is the request meta of a test session.
func editorsMeta() editors.SessionMeta {
	return editors.SessionMeta{IP: "203.0.113.7", UserAgent: "test"}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
