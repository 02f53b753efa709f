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
	"net/url"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"golang.org/x/crypto/bcrypt"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/subscribers"
)

const (
	sessionCookie   = "tidings_session"
	sessionLifetime = 14 * 24 * time.Hour
	// maxFailedLogins failures in a row lock an account for lockoutDuration.
	maxFailedLogins = 5
	lockoutDuration = 15 * time.Minute
	minPasswordLen  = 10
)

// Editor is a person who signs in to the editor UI.
type Editor struct {
	ID    int64  `db:"id"`
	Email string `db:"email"`
}

type editorKey struct{}

// editorFrom returns the signed-in editor of a request that passed requireEditor.
func editorFrom(ctx context.Context) *Editor {
	e, _ := ctx.Value(editorKey{}).(*Editor)
	return e
}

// CreateEditor adds an editor who signs in with email and password. Returns
// EINVALID for a bad address or a password shorter than 10 characters (or
// longer than bcrypt's 72 bytes), ECONFLICT when the address is taken.
func CreateEditor(ctx context.Context, db *sqlx.DB, email, password string, now time.Time) error {
	email, err := editorEmail(email)
	if err != nil {
		return err
	}
	if len([]rune(password)) < minPasswordLen {
		return tidings.Errorf(tidings.EINVALID, "The password must have at least %d characters.", minPasswordLen)
	}
	if len(password) > 72 {
		return tidings.Errorf(tidings.EINVALID, "The password must be at most 72 bytes.")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("web: hash password: %w", err)
	}
	const q = `
		INSERT INTO editors (email, password_hash, created_at)
		VALUES ($1, $2, $3)`
	_, err = db.ExecContext(ctx, q, email, hash, now)
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "23505" && pqErr.Constraint == "editors_email_key" {
		return tidings.Errorf(tidings.ECONFLICT, "An editor with the address %s exists already.", email)
	} else if err != nil {
		return fmt.Errorf("web: create editor: %w", err)
	}
	return nil
}

// editorEmail normalises a sign-in address. Unlike a subscriber's, the local
// part is compared without case too: people type their own address both ways.
func editorEmail(email string) (string, error) {
	email, err := subscribers.NormalizeEmail(email)
	return strings.ToLower(email), err
}

// dummyHash makes a failed look-up cost as much as a wrong password, so the
// time taken does not tell whether an address has an account.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("tidings-dummy-password"), bcrypt.DefaultCost)

// authenticate checks an email and password. Returns ERATELIMITED while the
// account is locked and EUNAUTHORIZED for a wrong address or password; five
// failures in a row lock the account for 15 minutes.
func (s *Server) authenticate(ctx context.Context, email, password string) (*Editor, error) {
	wrong := tidings.Errorf(tidings.EUNAUTHORIZED, "Wrong email or password.")
	email, err := editorEmail(email)
	if err != nil || password == "" || len(password) > 200 {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return nil, wrong
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("web: authenticate: %w", err)
	}
	defer tx.Rollback()
	now := s.now()
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
		return nil, fmt.Errorf("web: authenticate: %w", err)
	}
	if row.LockedUntil != nil && row.LockedUntil.After(now) {
		mins := int(row.LockedUntil.Sub(now).Minutes()) + 1
		return nil, tidings.Errorf(tidings.ERATELIMITED, "Too many failed sign-ins: this account is locked for %d more minutes.", mins)
	}
	if bcrypt.CompareHashAndPassword(row.Hash, []byte(password)) != nil {
		failed, locked := row.Failed+1, (*time.Time)(nil)
		if failed >= maxFailedLogins {
			until := now.Add(lockoutDuration)
			failed, locked = 0, &until
		}
		const upd = `
			UPDATE editors
			SET failed_logins = $2, locked_until = $3
			WHERE id = $1`
		if _, err := tx.ExecContext(ctx, upd, row.ID, failed, locked); err != nil {
			return nil, fmt.Errorf("web: authenticate: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return nil, fmt.Errorf("web: authenticate: %w", err)
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
	if _, err := tx.ExecContext(ctx, ok, row.ID, now); err != nil {
		return nil, fmt.Errorf("web: authenticate: %w", err)
	}
	return &row.Editor, tx.Commit()
}

// startSession stores a new session and sets its cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, e *Editor) error {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("web: session: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(token))
	now := s.now()
	const q = `
		INSERT INTO editor_sessions (token_hash, editor_id, created_at, expires_at, ip, user_agent)
		VALUES ($1, $2, $3, $4, $5, $6)`
	if _, err := s.db.ExecContext(r.Context(), q, sum[:], e.ID, now, now.Add(sessionLifetime), clientIP(r), userAgent(r)); err != nil {
		return fmt.Errorf("web: session: %w", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/editor", MaxAge: int(sessionLifetime.Seconds()),
		HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// secureCookies is true when the public URL is https.
func (s *Server) secureCookies() bool { return strings.HasPrefix(s.baseURL, "https://") }

// sessionEditor returns the editor of the request's session cookie, or nil.
func (s *Server) sessionEditor(r *http.Request) (*Editor, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil, nil
	}
	sum := sha256.Sum256([]byte(c.Value))
	const q = `
		SELECT e.id, e.email
		FROM editor_sessions s
		JOIN editors e ON e.id = s.editor_id
		WHERE s.token_hash = $1 AND s.expires_at > $2`
	var e Editor
	err = s.db.GetContext(r.Context(), &e, q, sum[:], s.now())
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("web: session: %w", err)
	}
	return &e, nil
}

// requireEditor sends a request without a session to the sign-in page.
func (s *Server) requireEditor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := s.sessionEditor(r)
		if err != nil {
			s.logError(r, err)
			s.message(w, r, http.StatusInternalServerError, "Something went wrong", "Please try again in a moment.")
			return
		}
		if e == nil {
			target := s.url("editor-login")
			if r.Method == http.MethodGet {
				target += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), editorKey{}, e)))
	})
}

// handleEditorLoginForm shows the sign-in form.
func (s *Server) handleEditorLoginForm(w http.ResponseWriter, r *http.Request) {
	if e, _ := s.sessionEditor(r); e != nil {
		http.Redirect(w, r, s.url("editor-dashboard"), http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "editor_login", s.newPage("Sign in", map[string]any{"Next": safeNext(r.URL.Query().Get("next"))}))
}

// handleEditorLogin signs an editor in.
func (s *Server) handleEditorLogin(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg, email string) {
		s.render(w, r, status, "editor_login", s.newPage("Sign in", map[string]any{
			"Error": msg, "Email": email, "Next": safeNext(r.PostFormValue("next")),
		}))
	}
	if err := s.parseForm(w, r); err != nil {
		fail(errorStatus(err), tidings.ErrorMessage(err), "")
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	if !s.loginLimit.allow(clientIP(r)) {
		fail(http.StatusTooManyRequests, "Too many sign-in attempts from your network. Try again in a few minutes.", email)
		return
	}
	e, err := s.authenticate(r.Context(), email, r.PostFormValue("password"))
	if err != nil {
		s.logError(r, err)
		fail(errorStatus(err), tidings.ErrorMessage(err), email)
		return
	}
	if err := s.startSession(w, r, e); err != nil {
		s.logError(r, err)
		fail(http.StatusInternalServerError, "Something went wrong.", email)
		return
	}
	next := safeNext(r.PostFormValue("next"))
	if next == "" {
		next = s.url("editor-dashboard")
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// handleEditorLogout ends the session.
func (s *Server) handleEditorLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		sum := sha256.Sum256([]byte(c.Value))
		if _, err := s.db.ExecContext(r.Context(), `DELETE FROM editor_sessions WHERE token_hash = $1`, sum[:]); err != nil {
			s.logError(r, fmt.Errorf("web: logout: %w", err))
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/editor", MaxAge: -1, HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, s.url("editor-login"), http.StatusSeeOther)
}

// safeNext keeps a post-sign-in redirect on this site's editor pages.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/editor/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return ""
	}
	return next
}
