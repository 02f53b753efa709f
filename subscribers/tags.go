package subscribers

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/tidings/tidings"
)

// Limits of tags.
const (
	MaxTagLen  = 50 // runes in one tag
	MaxTags    = 50 // tags on one subscriber
	maxRawTags = 1000
)

// NormalizeTag returns tag as Tidings stores it: trimmed, lower-case, with
// runs of spaces made one. A tag is 1 to 50 letters, digits, spaces and the
// characters - _ . ; anything else is EINVALID, with a message naming it.
func NormalizeTag(tag string) (string, error) {
	if !utf8.ValidString(tag) {
		return "", tidings.Errorf(tidings.EINVALID, "The tag %q is not valid text.", truncateRunes(strings.ToValidUTF8(tag, "\ufffd"), 60))
	}
	t := strings.Join(strings.FieldsFunc(strings.ToLower(tag), func(r rune) bool { return r == ' ' }), " ")
	if t == "" {
		return "", tidings.Errorf(tidings.EINVALID, "A tag must not be empty.")
	}
	for _, r := range t {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(" -_.", r)) {
			return "", tidings.Errorf(tidings.EINVALID, "The tag %q may only use letters, digits, spaces and - _ . characters.", truncateRunes(tag, 60))
		}
	}
	if n := utf8.RuneCountInString(t); n > MaxTagLen {
		return "", tidings.Errorf(tidings.EINVALID, "The tag %q is too long: %d characters, at most %d.", truncateRunes(tag, 60), n, MaxTagLen)
	}
	return t, nil
}

// NormalizeTags normalises each tag (see NormalizeTag) and returns them
// without duplicates, sorted by byte order (as Postgres' "C" collation). The
// result is never nil. It returns EINVALID for a bad tag or more than 50
// distinct ones.
func NormalizeTags(tags []string) ([]string, error) {
	if len(tags) > maxRawTags {
		return nil, tidings.Errorf(tidings.EINVALID, "Too many tags: at most %d.", MaxTags)
	}
	out := make([]string, 0, len(tags))
	for _, tag := range tags {
		t, err := NormalizeTag(tag)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxTags {
		return nil, tidings.Errorf(tidings.EINVALID, "Too many tags: %d, at most %d.", len(out), MaxTags)
	}
	return out, nil
}

// mergeTags returns the sorted union of two sorted tag sets.
func mergeTags(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	out = append(out, a...)
	out = append(out, b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// Tag adds and removes tags of a subscriber and returns it. Both sets are
// normalised first; a tag in both is EINVALID, as is a bad tag or a result of
// more than 50 tags. Adding a tag it has, or removing one it has not, is not
// an error. Tags belong to the subscriber, not to a subscription, so no event
// is appended. It returns ENOTFOUND for an unknown subscriber.
func (s *Store) Tag(ctx context.Context, subscriberID int64, add, remove []string) (*Subscriber, error) {
	add, err := NormalizeTags(add)
	if err != nil {
		return nil, err
	}
	remove, err = NormalizeTags(remove)
	if err != nil {
		return nil, err
	}
	for _, t := range add {
		if _, ok := slices.BinarySearch(remove, t); ok {
			return nil, tidings.Errorf(tidings.EINVALID, "The tag %q is both added and removed.", t)
		}
	}
	var sub *Subscriber
	err = s.inTx(ctx, nil, func(tx *sqlx.Tx, now time.Time) error {
		var err error
		sub, err = s.tag(ctx, tx, subscriberID, add, remove, now)
		return err
	})
	if err != nil {
		return nil, wrap("tag", err)
	}
	return sub, nil
}

func (s *Store) tag(ctx context.Context, tx *sqlx.Tx, id int64, add, remove []string, now time.Time) (*Subscriber, error) {
	// FOR NO KEY UPDATE: two concurrent changes of one subscriber's tags must
	// not undo each other.
	const lock = `
		SELECT tags
		FROM subscribers
		WHERE id = $1
		FOR NO KEY UPDATE`
	var cur pq.StringArray
	if err := tx.GetContext(ctx, &cur, lock, id); errors.Is(err, sql.ErrNoRows) {
		return nil, tidings.Errorf(tidings.ENOTFOUND, "There is no subscriber %d.", id)
	} else if err != nil {
		return nil, err
	}
	tags := slices.DeleteFunc(mergeTags(cur, add), func(t string) bool {
		_, ok := slices.BinarySearch(remove, t)
		return ok
	})
	if len(tags) > MaxTags {
		return nil, tidings.Errorf(tidings.EINVALID, "A subscriber can have at most %d tags; this would make %d.", MaxTags, len(tags))
	}
	if !slices.Equal(tags, cur) {
		if err := setTags(ctx, tx, id, tags, now); err != nil {
			return nil, err
		}
	}
	return subscriberByID(ctx, tx, id)
}

// setTags replaces the tags of a subscriber.
func setTags(ctx context.Context, tx *sqlx.Tx, id int64, tags []string, now time.Time) error {
	const q = `
		UPDATE subscribers
		SET tags = $2, updated_at = $3
		WHERE id = $1`
	_, err := tx.ExecContext(ctx, q, id, pq.StringArray(tags), now)
	return err
}
