package editors

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"
	"golang.org/x/crypto/bcrypt"

	"github.com/tidings/tidings"
)

// The sign-in slow-down. Failures of a key within throttleWindow of each
// other add up; from the throttleFree+1st on, each further attempt must wait
// 2^(failures-throttleFree) seconds, at most throttleMaxWait. Attempts made
// while waiting are refused without counting, so a stranger can slow an
// account down but never make its wait grow past throttleMaxWait.
const (
	throttleFree    = 4
	throttleWindow  = time.Hour
	throttleMaxWait = 15 * time.Minute
)

// challengeLifetime is how long the second step of a sign-in (the code) may
// take, and maxCodeAttempts how many codes one password sign-in may try.
const (
	challengeLifetime = 5 * time.Minute
	maxCodeAttempts   = 5
)

// errSignIn is the one answer to a wrong address, a wrong password and a
// sign-in that must wait, so that none tells whether an account exists.
var errSignIn = tidings.Errorf(tidings.EUNAUTHORIZED, "Wrong email or password, or too many attempts. Check them, wait a few minutes if you have tried several times, and try again.")

// dummyHash is compared against where there is no account to compare with,
// so that a failed look-up costs as much as a wrong password and the time
// taken does not tell whether an address has an account. It is made once,
// at the store's cost.
func (s *Store) dummyHash() []byte {
	s.dummyOnce.Do(func() {
		s.dummy, _ = bcrypt.GenerateFromPassword([]byte("tidings-dummy-password"), s.passwordCost())
	})
	return s.dummy
}

// SignInRequest is one sign-in attempt with a password.
type SignInRequest struct {
	Email    string
	Password string
	IP       string // the client's address, which is slowed down as the account is
}

// SignIn is a sign-in whose password was right: either the editor, or, for
// an editor with two-factor sign-in, the Challenge to answer with a code.
type SignIn struct {
	Editor    *Editor // set when the editor is signed in
	Challenge string  // set when a code is needed: the secret for VerifyCode
}

// Authenticate checks an email and password. Returns EUNAUTHORIZED, with one
// message for all three, for an unknown address, a wrong password and an
// attempt made while the address or the client IP must wait.
func (s *Store) Authenticate(ctx context.Context, req SignInRequest) (*SignIn, error) {
	email, err := normalEmail(req.Email)
	if err != nil {
		email = clip(strings.ToLower(strings.TrimSpace(strings.ToValidUTF8(req.Email, "?"))), 300)
	}
	keys := throttleKeys(email, req.IP)
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if waiting, err := throttled(ctx, tx, keys); err != nil {
		return nil, err
	} else if waiting || req.Password == "" || len(req.Password) > 200 {
		bcrypt.CompareHashAndPassword(s.dummyHash(), []byte(req.Password))
		return nil, errSignIn
	}
	var row struct {
		Editor
		Hash []byte `db:"password_hash"`
		TOTP []byte `db:"totp_secret"`
	}
	const sel = `
		SELECT id, email, password_hash, totp_secret
		FROM editors
		WHERE email = $1`
	err = tx.GetContext(ctx, &row, sel, email)
	if errors.Is(err, sql.ErrNoRows) {
		bcrypt.CompareHashAndPassword(s.dummyHash(), []byte(req.Password))
		return nil, failSignIn(ctx, tx, keys)
	} else if err != nil {
		return nil, fmt.Errorf("editors: authenticate: %w", err)
	}
	if bcrypt.CompareHashAndPassword(row.Hash, []byte(req.Password)) != nil {
		return nil, failSignIn(ctx, tx, keys)
	}
	if row.TOTP != nil {
		// The keys are cleared only once the code is right too.
		challenge, err := startChallenge(ctx, tx, row.ID)
		if err != nil {
			return nil, err
		}
		return &SignIn{Challenge: challenge}, tx.Commit()
	}
	if err := succeedSignIn(ctx, tx, row.ID, keys); err != nil {
		return nil, err
	}
	return &SignIn{Editor: &row.Editor}, tx.Commit()
}

// CodeRequest is the second step of a two-factor sign-in.
type CodeRequest struct {
	Challenge string // from SignIn
	Code      string // the authenticator's 6 digits, or a recovery code
	IP        string
}

// VerifyCode completes a two-factor sign-in with a current code or an unused
// recovery code (which is used up). Returns EEXPIRED when the challenge is
// unknown, over five minutes old or has had five wrong codes (sign in
// again), and EUNAUTHORIZED for a wrong, replayed or used code or an attempt
// made while the account or the client IP must wait.
func (s *Store) VerifyCode(ctx context.Context, req CodeRequest) (*Editor, error) {
	expired := tidings.Errorf(tidings.EEXPIRED, "This sign-in has expired. Please sign in again.")
	if req.Challenge == "" || len(req.Challenge) > maxSecretLen {
		return nil, expired
	}
	sum := sha256.Sum256([]byte(req.Challenge))
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var row struct {
		Editor
		Attempts int    `db:"attempts"`
		Secret   []byte `db:"totp_secret"`
		LastStep int64  `db:"totp_last_step"`
	}
	const sel = `
		SELECT e.id, e.email, c.attempts, e.totp_secret, e.totp_last_step
		FROM editor_sign_ins c
		JOIN editors e ON e.id = c.editor_id
		WHERE c.token_hash = $1
		AND c.expires_at > $2
		FOR UPDATE`
	err = tx.GetContext(ctx, &row, sel, sum[:], tx.now)
	if errors.Is(err, sql.ErrNoRows) || err == nil && row.Secret == nil {
		return nil, expired
	} else if err != nil {
		return nil, fmt.Errorf("editors: verify code: %w", err)
	}
	keys := throttleKeys(row.Email, req.IP)
	wrong := tidings.Errorf(tidings.EUNAUTHORIZED, "That code is not right, or there were too many attempts. Type the current code from your app, or a recovery code.")
	if waiting, err := throttled(ctx, tx, keys); err != nil {
		return nil, err
	} else if waiting {
		return nil, wrong
	}
	ok, err := useCode(ctx, tx, row.ID, row.Secret, row.LastStep, req.Code)
	if err != nil {
		return nil, err
	}
	if !ok {
		const upd = `
			UPDATE editor_sign_ins
			SET attempts = attempts + 1
			WHERE token_hash = $1`
		const del = `
			DELETE FROM editor_sign_ins
			WHERE token_hash = $1`
		q := upd
		if row.Attempts+1 >= maxCodeAttempts {
			q = del
		}
		if _, err := tx.ExecContext(ctx, q, sum[:]); err != nil {
			return nil, fmt.Errorf("editors: verify code: %w", err)
		}
		return nil, failSignIn(ctx, tx, keys, wrong)
	}
	const del = `
		DELETE FROM editor_sign_ins
		WHERE editor_id = $1
		AND (token_hash = $2 OR expires_at <= $3)`
	if _, err := tx.ExecContext(ctx, del, row.ID, sum[:], tx.now); err != nil {
		return nil, fmt.Errorf("editors: verify code: %w", err)
	}
	if err := succeedSignIn(ctx, tx, row.ID, keys); err != nil {
		return nil, err
	}
	return &row.Editor, tx.Commit()
}

// startChallenge stores a pending two-factor sign-in and returns its secret.
func startChallenge(ctx context.Context, tx *Tx, editorID int64) (string, error) {
	secret, err := newSecret("")
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(secret))
	const q = `
		INSERT INTO editor_sign_ins (token_hash, editor_id, created_at, expires_at)
		VALUES ($1, $2, $3, $4)`
	if _, err := tx.ExecContext(ctx, q, sum[:], editorID, tx.now, tx.now.Add(challengeLifetime)); err != nil {
		return "", fmt.Errorf("editors: sign-in challenge: %w", err)
	}
	return secret, nil
}

// throttleKeys are the slow-down keys of a sign-in: the address as typed
// (normalised where it parses) and the client IP.
func throttleKeys(email, ip string) []string {
	keys := []string{"account:" + email}
	if ip != "" {
		keys = append(keys, "ip:"+clip(strings.ToValidUTF8(ip, "?"), 100))
	}
	return keys
}

// throttled reports whether any key must still wait, and locks the keys'
// rows so that concurrent attempts count one after the other.
func throttled(ctx context.Context, tx *Tx, keys []string) (bool, error) {
	const q = `
		SELECT count(*)
		FROM (
			SELECT wait_until
			FROM sign_in_throttles
			WHERE key = ANY($1)
			ORDER BY key
			FOR UPDATE
		) t
		WHERE wait_until > $2`
	var n int
	if err := tx.GetContext(ctx, &n, q, pq.Array(keys), tx.now); err != nil {
		return false, fmt.Errorf("editors: sign-in throttle: %w", err)
	}
	return n > 0, nil
}

// failSignIn counts a failure against each key, commits, and returns the
// answer: errSignIn, or answer when given.
func failSignIn(ctx context.Context, tx *Tx, keys []string, answer ...error) error {
	// A failure after a quiet hour starts the count again; from the fifth
	// on, the wait doubles, capped.
	const q = `
		INSERT INTO sign_in_throttles AS t (key, failures, last_failure_at)
		SELECT k, 1, $2
		FROM unnest($1::text[]) AS k
		ON CONFLICT (key) DO UPDATE
		SET failures = CASE WHEN t.last_failure_at <= $3 THEN 1 ELSE t.failures + 1 END,
			last_failure_at = $2
		RETURNING key, failures`
	var rows []struct {
		Key      string `db:"key"`
		Failures int    `db:"failures"`
	}
	if err := tx.SelectContext(ctx, &rows, q, pq.Array(keys), tx.now, tx.now.Add(-throttleWindow)); err != nil {
		return fmt.Errorf("editors: sign-in throttle: %w", err)
	}
	for _, r := range rows {
		wait := throttleWait(r.Failures)
		if wait == 0 {
			continue
		}
		const upd = `
			UPDATE sign_in_throttles
			SET wait_until = $2
			WHERE key = $1`
		if _, err := tx.ExecContext(ctx, upd, r.Key, tx.now.Add(wait)); err != nil {
			return fmt.Errorf("editors: sign-in throttle: %w", err)
		}
	}
	// Keys of addresses tried once long ago are of no use; a few go each
	// time, so the table stays the size of recent attempts.
	const prune = `
		DELETE FROM sign_in_throttles
		WHERE key IN (
			SELECT key
			FROM sign_in_throttles
			WHERE last_failure_at <= $1
			AND (wait_until IS NULL OR wait_until <= $2)
			LIMIT 20
			FOR UPDATE SKIP LOCKED
		)`
	if _, err := tx.ExecContext(ctx, prune, tx.now.Add(-throttleWindow), tx.now); err != nil {
		return fmt.Errorf("editors: sign-in throttle: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("editors: sign-in throttle: %w", err)
	}
	if len(answer) > 0 {
		return answer[0]
	}
	return errSignIn
}

// throttleWait is how long the next attempt must wait after failures.
func throttleWait(failures int) time.Duration {
	if failures <= throttleFree {
		return 0
	}
	k := failures - throttleFree
	if k >= 10 { // 2^10 s is past the cap already
		return throttleMaxWait
	}
	return min(time.Duration(1<<k)*time.Second, throttleMaxWait)
}

// succeedSignIn clears the keys and notes the sign-in.
func succeedSignIn(ctx context.Context, tx *Tx, editorID int64, keys []string) error {
	const clear = `
		DELETE FROM sign_in_throttles
		WHERE key = ANY($1)`
	if _, err := tx.ExecContext(ctx, clear, pq.Array(keys)); err != nil {
		return fmt.Errorf("editors: sign in: %w", err)
	}
	const upd = `
		UPDATE editors
		SET last_login_at = $2
		WHERE id = $1`
	if _, err := tx.ExecContext(ctx, upd, editorID, tx.now); err != nil {
		return fmt.Errorf("editors: sign in: %w", err)
	}
	return nil
}
