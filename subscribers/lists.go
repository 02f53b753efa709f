package subscribers

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings"
)

// List is a newsletter people sign up to.
//
// WelcomeSubject and WelcomeBody are templates; this package only checks
// their length, so callers check them with templates.Check before saving.
type List struct {
	ID             int64  `db:"id" json:"id"`
	Slug           string `db:"slug" json:"slug"`
	Name           string `db:"name" json:"name"`
	FromName       string `db:"from_name" json:"from_name"`
	FromEmail      string `db:"from_email" json:"from_email"`
	ReplyTo        string `db:"reply_to" json:"reply_to"`
	Timezone       string `db:"timezone" json:"timezone"`
	PostalAddress  string `db:"postal_address" json:"postal_address"`
	ConsentText    string `db:"consent_text" json:"consent_text"`
	WelcomeSubject string `db:"welcome_subject" json:"welcome_subject"`
	WelcomeBody    string `db:"welcome_body" json:"welcome_body"`

	CreatedAt time.Time `db:"created_at" json:"created_at"`
	UpdatedAt time.Time `db:"updated_at" json:"updated_at"`
}

// ListUpdate holds the fields to change in a list; nil leaves a field alone.
// A list's slug never changes: it is in every form and link.
type ListUpdate struct {
	Name, FromName, FromEmail, ReplyTo, Timezone, PostalAddress, ConsentText, WelcomeSubject, WelcomeBody *string
}

// Field limits of a list, in runes.
const (
	maxListNameLen      = 200
	maxPostalAddressLen = 1000
	maxConsentTextLen   = 2000
	maxSubjectLen       = 500
	maxWelcomeBodyLen   = 100000
)

// validate checks and normalises every field of l: names and subject trimmed
// to one line, addresses normalised, an empty time zone made UTC.
func (l *List) validate() error {
	if !validSlug(l.Slug) {
		return tidings.Errorf(tidings.EINVALID, "The slug %q is not valid: use 1 to 63 lower-case letters, digits and hyphens, starting with a letter or digit.", truncateRunes(l.Slug, 80))
	}
	var err error
	if l.Name, err = validateLine("list name", l.Name, maxListNameLen); err != nil {
		return err
	} else if l.Name == "" {
		return tidings.Errorf(tidings.EINVALID, "The list needs a name.")
	}
	if l.FromName, err = validateLine("sender name", l.FromName, MaxNameLen); err != nil {
		return err
	}
	if l.FromEmail == "" {
		return tidings.Errorf(tidings.EINVALID, "The list needs a sender address (from_email).")
	}
	if l.FromEmail, err = NormalizeEmail(l.FromEmail); err != nil {
		return tidings.Errorf(tidings.EINVALID, "from_email: %s", tidings.ErrorMessage(err))
	}
	if l.ReplyTo != "" {
		if l.ReplyTo, err = NormalizeEmail(l.ReplyTo); err != nil {
			return tidings.Errorf(tidings.EINVALID, "reply_to: %s", tidings.ErrorMessage(err))
		}
	}
	if l.Timezone == "" {
		l.Timezone = "UTC"
	} else if err := ValidateTimezone(l.Timezone); err != nil {
		return err
	}
	if l.PostalAddress, err = validateText("postal address", l.PostalAddress, maxPostalAddressLen); err != nil {
		return err
	}
	if l.ConsentText, err = validateText("consent text", l.ConsentText, maxConsentTextLen); err != nil {
		return err
	}
	if l.WelcomeSubject, err = validateLine("welcome subject", l.WelcomeSubject, maxSubjectLen); err != nil {
		return err
	}
	if l.WelcomeBody, err = validateText("welcome body", l.WelcomeBody, maxWelcomeBodyLen); err != nil {
		return err
	}
	return nil
}

// CreateList validates l, normalises its fields in place and stores it,
// filling in ID, CreatedAt and UpdatedAt. An empty time zone becomes UTC.
// It returns EINVALID for a bad field and ECONFLICT when the slug is taken.
func (s *Store) CreateList(ctx context.Context, l *List) error {
	if err := l.validate(); err != nil {
		return err
	}
	now := s.now()
	const q = `
		INSERT INTO lists (slug, name, from_name, from_email, reply_to, timezone, postal_address,
		                   consent_text, welcome_subject, welcome_body, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
		RETURNING id`
	err := s.DB.GetContext(ctx, &l.ID, q, l.Slug, l.Name, l.FromName, l.FromEmail, l.ReplyTo, l.Timezone,
		l.PostalAddress, l.ConsentText, l.WelcomeSubject, l.WelcomeBody, now)
	if isUniqueViolation(err, "lists_slug_key") {
		return tidings.Errorf(tidings.ECONFLICT, "There is already a list with the slug %q.", l.Slug)
	} else if err != nil {
		return wrap("create list "+l.Slug, err)
	}
	l.CreatedAt, l.UpdatedAt = now, now
	return nil
}

// UpdateList changes the given fields of the list with slug and returns it.
// It returns ENOTFOUND for an unknown list and EINVALID for a bad field.
func (s *Store) UpdateList(ctx context.Context, slug string, u ListUpdate) (*List, error) {
	if !validSlug(slug) {
		return nil, tidings.Errorf(tidings.ENOTFOUND, "There is no list %q.", truncateRunes(slug, 80))
	}
	l := new(List)
	err := s.inTx(ctx, nil, func(tx *sqlx.Tx, now time.Time) error {
		return updateList(ctx, tx, l, slug, u, now)
	})
	if err != nil {
		return nil, wrap("update list "+slug, err)
	}
	return l, nil
}

// updateList locks the list with slug, reads it into l, changes the fields u
// names and writes it back.
func updateList(ctx context.Context, tx *sqlx.Tx, l *List, slug string, u ListUpdate, now time.Time) error {
	// FOR UPDATE: two concurrent partial updates must not undo each other.
	const lock = `
		SELECT ` + listColumns + `
		FROM lists
		WHERE slug = $1
		FOR UPDATE`
	if err := tx.GetContext(ctx, l, lock, slug); errors.Is(err, sql.ErrNoRows) {
		return tidings.Errorf(tidings.ENOTFOUND, "There is no list %q.", slug)
	} else if err != nil {
		return err
	}
	for _, f := range []struct {
		dst *string
		src *string
	}{
		{&l.Name, u.Name}, {&l.FromName, u.FromName}, {&l.FromEmail, u.FromEmail}, {&l.ReplyTo, u.ReplyTo},
		{&l.Timezone, u.Timezone}, {&l.PostalAddress, u.PostalAddress}, {&l.ConsentText, u.ConsentText},
		{&l.WelcomeSubject, u.WelcomeSubject}, {&l.WelcomeBody, u.WelcomeBody},
	} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if err := l.validate(); err != nil {
		return err
	}
	const q = `
		UPDATE lists
		SET name = $2, from_name = $3, from_email = $4, reply_to = $5, timezone = $6, postal_address = $7,
		    consent_text = $8, welcome_subject = $9, welcome_body = $10, updated_at = $11
		WHERE id = $1`
	if _, err := tx.ExecContext(ctx, q, l.ID, l.Name, l.FromName, l.FromEmail, l.ReplyTo, l.Timezone,
		l.PostalAddress, l.ConsentText, l.WelcomeSubject, l.WelcomeBody, now); err != nil {
		return err
	}
	l.UpdatedAt = now
	return nil
}

// ListBySlug returns the list with slug, or ENOTFOUND.
func (s *Store) ListBySlug(ctx context.Context, slug string) (*List, error) {
	l, err := listBySlug(ctx, s.DB, slug)
	return l, wrap("list "+slug, err)
}

// ListByID returns the list with id, or ENOTFOUND.
func (s *Store) ListByID(ctx context.Context, id int64) (*List, error) {
	l, err := listByID(ctx, s.DB, id)
	return l, wrap("list", err)
}

// Lists returns every list, by slug.
func (s *Store) Lists(ctx context.Context) ([]*List, error) {
	const q = `
		SELECT ` + listColumns + `
		FROM lists
		ORDER BY slug`
	lists := []*List{}
	if err := s.DB.SelectContext(ctx, &lists, q); err != nil {
		return nil, wrap("lists", err)
	}
	return lists, nil
}

// listColumns are the columns of lists that make a List.
const listColumns = `id, slug, name, from_name, from_email, reply_to, timezone, postal_address,
		       consent_text, welcome_subject, welcome_body, created_at, updated_at`

// listBySlug reads a list; ENOTFOUND if there is none.
func listBySlug(ctx context.Context, q sqlx.QueryerContext, slug string) (*List, error) {
	if !validSlug(slug) {
		return nil, errNoList(slug)
	}
	const query = `
		SELECT ` + listColumns + `
		FROM lists
		WHERE slug = $1`
	var l List
	if err := sqlx.GetContext(ctx, q, &l, query, slug); errors.Is(err, sql.ErrNoRows) {
		return nil, errNoList(slug)
	} else if err != nil {
		return nil, err
	}
	return &l, nil
}

// errNoList is the answer for a slug of no list.
func errNoList(slug string) error {
	return tidings.Errorf(tidings.ENOTFOUND, "There is no list %q.", truncateRunes(slug, 80))
}

func listByID(ctx context.Context, q sqlx.QueryerContext, id int64) (*List, error) {
	const query = `
		SELECT ` + listColumns + `
		FROM lists
		WHERE id = $1`
	var l List
	if err := sqlx.GetContext(ctx, q, &l, query, id); errors.Is(err, sql.ErrNoRows) {
		return nil, tidings.Errorf(tidings.ENOTFOUND, "There is no list with id %d.", id)
	} else if err != nil {
		return nil, err
	}
	return &l, nil
}
