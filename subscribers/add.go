package subscribers

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/tidings/tidings"
)

// AddRequest is a subscriber added by an editor through the API.
type AddRequest struct {
	Email    string
	Name     string
	Timezone string
	Lists    []string // slugs of the lists to subscribe to
	// Tags are added to the subscriber's (see NormalizeTags); none is removed.
	Tags []string
	// Status is StatusPending (the default: a confirmation email is sent)
	// or StatusConfirmed, for people who already consented elsewhere; that
	// is recorded as an EventImported.
	Status string
	Meta   Meta
}

// Add creates or updates a subscriber and subscribes it to the given lists,
// all or nothing. For an existing subscriber, a non-empty name or time zone
// replaces the stored one (an editor is trusted) and the tags are added to
// its own. For each list, a new
// subscription is pending (EventSubscribed and EventConfirmationRequested) or
// confirmed (EventImported, reason "added via API as confirmed"); a pending
// one asked to be confirmed becomes confirmed the same way; a pending one asked
// to be pending has its confirmation requested again after the cool-down; a
// confirmed one is left alone.
//
// Add never re-subscribes someone who left: it returns ECONFLICT for a
// suppressed address and for an unsubscribed, bounced or complained
// subscription. It returns EINVALID for bad input (including tags that would
// make more than 50) and ENOTFOUND for an unknown list.
func (s *Store) Add(ctx context.Context, req AddRequest) (*Subscriber, error) {
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return nil, err
	}
	name, err := ValidateName(req.Name)
	if err != nil {
		return nil, err
	}
	if req.Timezone != "" {
		if err := ValidateTimezone(req.Timezone); err != nil {
			return nil, err
		}
	}
	tags, err := NormalizeTags(req.Tags)
	if err != nil {
		return nil, err
	}
	status := req.Status
	if status == "" {
		status = StatusPending
	}
	if status != StatusPending && status != StatusConfirmed {
		return nil, tidings.Errorf(tidings.EINVALID, "The status must be %q or %q, not %q.", StatusPending, StatusConfirmed, truncateRunes(status, 40))
	}
	if len(req.Lists) > maxAddLists {
		return nil, tidings.Errorf(tidings.EINVALID, "At most %d lists at once.", maxAddLists)
	}
	slugs := make([]string, 0, len(req.Lists))
	seen := make(map[string]bool, len(req.Lists))
	for _, slug := range req.Lists {
		if !seen[slug] {
			seen[slug] = true
			slugs = append(slugs, slug)
		}
	}
	m := cleanMeta(req.Meta)

	var sub *Subscriber
	err = s.inTx(ctx, nil, func(tx *sqlx.Tx, now time.Time) error {
		var err error
		sub, err = s.add(ctx, tx, email, name, req.Timezone, tags, slugs, status, m, now)
		return err
	})
	if err != nil {
		return nil, wrap("add", err)
	}
	return sub, nil
}

func (s *Store) add(ctx context.Context, tx *sqlx.Tx, email, name, tz string, tags, slugs []string, status string, m Meta, now time.Time) (*Subscriber, error) {
	lists := make([]*List, len(slugs))
	for i, slug := range slugs {
		l, err := listBySlug(ctx, tx, slug)
		if err != nil {
			return nil, err
		}
		lists[i] = l
	}
	if sup, err := isSuppressed(ctx, tx, email); err != nil {
		return nil, err
	} else if sup {
		return nil, tidings.Errorf(tidings.ECONFLICT, "%s is suppressed (it bounced, complained or was blocked); it cannot be added again.", email)
	}
	r, created, err := upsertSubscriber(ctx, tx, email, name, tz, tags, now)
	if err != nil {
		return nil, err
	}
	if merged := mergeTags(r.Tags, tags); !created && len(merged) != len(r.Tags) {
		if len(merged) > MaxTags {
			return nil, tidings.Errorf(tidings.EINVALID, "%s would have %d tags; a subscriber can have at most %d.", email, len(merged), MaxTags)
		}
		if err := setTags(ctx, tx, r.ID, merged, now); err != nil {
			return nil, err
		}
	}
	if !created && (name != "" && name != r.Name || tz != "" && tz != r.Timezone) {
		const q = `
			UPDATE subscribers
			SET name = CASE WHEN $2 = '' THEN name ELSE $2 END,
			    timezone = CASE WHEN $3 = '' THEN timezone ELSE $3 END,
			    updated_at = $4
			WHERE id = $1`
		if _, err := tx.ExecContext(ctx, q, r.ID, name, tz, now); err != nil {
			return nil, err
		}
	}
	for _, l := range lists {
		if err := s.addTo(ctx, tx, r.ID, l, status, m, now); err != nil {
			return nil, err
		}
	}
	out, err := subscriberByID(ctx, tx, r.ID)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// addTo subscribes one subscriber to one list for Add.
func (s *Store) addTo(ctx context.Context, tx *sqlx.Tx, subscriberID int64, l *List, status string, m Meta, now time.Time) error {
	sub, created, err := upsertSubscription(ctx, tx, subscriberID, l.ID, status, now)
	if err != nil {
		return err
	}
	if !created {
		switch sub.Status {
		case StatusConfirmed:
			return nil
		case StatusPending:
		case StatusUnsubscribed:
			return tidings.Errorf(tidings.ECONFLICT, "%s unsubscribed from %q; only they can sign up again.", sub.Email, l.Slug)
		default:
			return tidings.Errorf(tidings.ECONFLICT, "Mail to %s for %q bounced or was reported as spam; it cannot be added again.", sub.Email, l.Slug)
		}
	}
	if status == StatusConfirmed {
		if !created {
			const q = `
				UPDATE subscriptions
				SET status = 'confirmed', confirmed_at = $2, updated_at = $2
				WHERE id = $1`
			if _, err := tx.ExecContext(ctx, q, sub.ID, now); err != nil {
				return err
			}
		}
		e := newEvent(EventImported, sub, now, m)
		e.Reason = "added via API as confirmed"
		return s.appendEvent(ctx, tx, e)
	}
	if created {
		e := newEvent(EventSubscribed, sub, now, m)
		e.Reason = "added via API"
		if err := s.appendEvent(ctx, tx, e); err != nil {
			return err
		}
		return s.confirmationRequested(ctx, tx, sub, now, m)
	}
	return s.requestConfirmation(ctx, tx, sub, now, m)
}
