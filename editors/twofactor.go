package editors

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/lib/pq"

	"github.com/tidings/tidings"
)

// Issuer names Tidings in authenticator apps.
const Issuer = "Tidings"

// recoveryCodes is how many one-time recovery codes an editor gets.
const recoveryCodes = 10

// recoveryAlphabet is 32 letters and digits without those read one for
// another (i, l, o, 0), so each character carries 5 bits and a code 50.
const recoveryAlphabet = "abcdefghjkmnpqrstuvwxyz123456789"

// Account is what an editor's account page shows.
type Account struct {
	Editor
	TwoFactor bool // two-factor sign-in is on
	// Pending is the secret being enrolled, until it is confirmed with a code.
	Pending *Enrolment
	// RecoveryLeft is the number of unused recovery codes.
	RecoveryLeft int
}

// Enrolment is a TOTP secret being set up, in the two forms an
// authenticator app takes: the otpauth:// URI (as a QR code) and the secret.
type Enrolment struct {
	URI    string
	Secret string // base32, in groups of four
}

// Account returns an editor's account. Returns ENOTFOUND for an unknown id.
func (s *Store) Account(ctx context.Context, editorID int64) (*Account, error) {
	var row struct {
		Editor
		Secret   []byte `db:"totp_secret"`
		Pending  []byte `db:"totp_pending_secret"`
		Recovery int    `db:"recovery_left"`
	}
	const q = `
		SELECT e.id, e.email, e.totp_secret, e.totp_pending_secret,
			(SELECT count(*) FROM editor_recovery_codes r WHERE r.editor_id = e.id AND r.used_at IS NULL) AS recovery_left
		FROM editors e
		WHERE e.id = $1`
	err := s.DB.GetContext(ctx, &row, q, editorID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tidings.Errorf(tidings.ENOTFOUND, "There is no editor %d.", editorID)
	} else if err != nil {
		return nil, fmt.Errorf("editors: account %d: %w", editorID, err)
	}
	a := &Account{Editor: row.Editor, TwoFactor: row.Secret != nil, RecoveryLeft: row.Recovery}
	if row.Secret == nil && row.Pending != nil {
		a.Pending = enrolment(row.Email, row.Pending)
	}
	return a, nil
}

// enrolment is the Enrolment of a secret.
func enrolment(email string, secret []byte) *Enrolment {
	enc := b32.EncodeToString(secret)
	var groups []string
	for len(enc) > 4 {
		groups, enc = append(groups, enc[:4]), enc[4:]
	}
	return &Enrolment{URI: otpauthURI(Issuer, email, secret), Secret: strings.Join(append(groups, enc), " ")}
}

// BeginTOTP makes a new secret for an editor to enrol in two-factor sign-in,
// replacing one not yet confirmed. Returns ECONFLICT when two-factor sign-in
// is on already, ENOTFOUND for an unknown editor.
func (s *Store) BeginTOTP(ctx context.Context, editorID int64) (*Enrolment, error) {
	secret, err := newTOTPSecret()
	if err != nil {
		return nil, err
	}
	const q = `
		UPDATE editors
		SET totp_pending_secret = $2
		WHERE id = $1
		AND totp_secret IS NULL
		RETURNING email`
	var email string
	err = s.DB.GetContext(ctx, &email, q, editorID, secret)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := s.Account(ctx, editorID); err != nil {
			return nil, err
		}
		return nil, tidings.Errorf(tidings.ECONFLICT, "Two-factor sign-in is on already.")
	} else if err != nil {
		return nil, fmt.Errorf("editors: begin totp %d: %w", editorID, err)
	}
	return enrolment(email, secret), nil
}

// ConfirmTOTP turns two-factor sign-in on with a code of the secret being
// enrolled, and returns the editor's ten recovery codes, which are kept only
// as hashes. Returns EINVALID for a wrong code, ECONFLICT when there is no
// enrolment to confirm.
func (s *Store) ConfirmTOTP(ctx context.Context, editorID int64, code string) ([]string, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var pending []byte
	const sel = `
		SELECT totp_pending_secret
		FROM editors
		WHERE id = $1
		AND totp_secret IS NULL
		FOR UPDATE`
	err = tx.GetContext(ctx, &pending, sel, editorID)
	if errors.Is(err, sql.ErrNoRows) || err == nil && pending == nil {
		return nil, tidings.Errorf(tidings.ECONFLICT, "There is no two-factor set-up to confirm: start it again.")
	} else if err != nil {
		return nil, fmt.Errorf("editors: confirm totp %d: %w", editorID, err)
	}
	step, ok := matchTOTP(pending, normalCode(code), tx.now, 0)
	if !ok {
		return nil, tidings.Errorf(tidings.EINVALID, "That code is not right. Type the 6 digits your app shows now.")
	}
	const upd = `
		UPDATE editors
		SET totp_secret = totp_pending_secret, totp_pending_secret = NULL, totp_last_step = $2
		WHERE id = $1`
	if _, err := tx.ExecContext(ctx, upd, editorID, step); err != nil {
		return nil, fmt.Errorf("editors: confirm totp %d: %w", editorID, err)
	}
	codes, err := newRecoveryCodes(ctx, tx, editorID)
	if err != nil {
		return nil, err
	}
	return codes, tx.Commit()
}

// DisableTOTP turns two-factor sign-in off, given a current code. Returns
// EINVALID for a wrong or replayed code, ECONFLICT when it is off already.
func (s *Store) DisableTOTP(ctx context.Context, editorID int64, code string) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var row struct {
		Secret   []byte `db:"totp_secret"`
		LastStep int64  `db:"totp_last_step"`
	}
	const sel = `
		SELECT totp_secret, totp_last_step
		FROM editors
		WHERE id = $1
		FOR UPDATE`
	err = tx.GetContext(ctx, &row, sel, editorID)
	if errors.Is(err, sql.ErrNoRows) || err == nil && row.Secret == nil {
		return tidings.Errorf(tidings.ECONFLICT, "Two-factor sign-in is off already.")
	} else if err != nil {
		return fmt.Errorf("editors: disable totp %d: %w", editorID, err)
	}
	if _, ok := matchTOTP(row.Secret, normalCode(code), tx.now, row.LastStep); !ok {
		return tidings.Errorf(tidings.EINVALID, "That code is not right. Type the 6 digits your app shows now.")
	}
	const upd = `
		UPDATE editors
		SET totp_secret = NULL, totp_pending_secret = NULL, totp_last_step = 0
		WHERE id = $1`
	if _, err := tx.ExecContext(ctx, upd, editorID); err != nil {
		return fmt.Errorf("editors: disable totp %d: %w", editorID, err)
	}
	const del = `
		DELETE FROM editor_recovery_codes
		WHERE editor_id = $1`
	if _, err := tx.ExecContext(ctx, del, editorID); err != nil {
		return fmt.Errorf("editors: disable totp %d: %w", editorID, err)
	}
	return tx.Commit()
}

// useCode checks a second-factor code: a TOTP code newer than lastStep,
// which becomes the last step, or an unused recovery code, which is used up.
func useCode(ctx context.Context, tx *Tx, editorID int64, secret []byte, lastStep int64, code string) (bool, error) {
	code = normalCode(code)
	if step, ok := matchTOTP(secret, code, tx.now, lastStep); ok {
		const q = `
			UPDATE editors
			SET totp_last_step = $2
			WHERE id = $1`
		if _, err := tx.ExecContext(ctx, q, editorID, step); err != nil {
			return false, fmt.Errorf("editors: use code: %w", err)
		}
		return true, nil
	}
	if len(code) != 10 {
		return false, nil
	}
	sum := sha256.Sum256([]byte(code))
	const q = `
		UPDATE editor_recovery_codes
		SET used_at = $3
		WHERE editor_id = $1
		AND code_hash = $2
		AND used_at IS NULL`
	res, err := tx.ExecContext(ctx, q, editorID, sum[:], tx.now)
	if err != nil {
		return false, fmt.Errorf("editors: use recovery code: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// newRecoveryCodes replaces an editor's recovery codes with new ones and
// returns them as printed: "abcde-fghjk".
func newRecoveryCodes(ctx context.Context, tx *Tx, editorID int64) ([]string, error) {
	const del = `
		DELETE FROM editor_recovery_codes
		WHERE editor_id = $1`
	if _, err := tx.ExecContext(ctx, del, editorID); err != nil {
		return nil, fmt.Errorf("editors: recovery codes: %w", err)
	}
	codes := make([]string, recoveryCodes)
	hashes := make([][]byte, recoveryCodes)
	for i := range codes {
		b := make([]byte, 10)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("editors: recovery codes: %w", err)
		}
		for j := range b {
			b[j] = recoveryAlphabet[b[j]&31]
		}
		sum := sha256.Sum256(b)
		codes[i], hashes[i] = string(b[:5])+"-"+string(b[5:]), sum[:]
	}
	const ins = `
		INSERT INTO editor_recovery_codes (editor_id, code_hash)
		SELECT $1, h
		FROM unnest($2::bytea[]) AS h`
	if _, err := tx.ExecContext(ctx, ins, editorID, pq.ByteaArray(hashes)); err != nil {
		return nil, fmt.Errorf("editors: recovery codes: %w", err)
	}
	return codes, nil
}
