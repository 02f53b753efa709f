package campaigns

import (
	"context"
	"fmt"
	"time"
)

// Message is one outbox item as an editor sees it in a subscriber's history.
type Message struct {
	ID          int64      `db:"id" json:"id"`
	Kind        string     `db:"kind" json:"kind"`
	List        string     `db:"list" json:"list"`
	StepID      *int64     `db:"step_id" json:"step_id,omitempty"`
	BroadcastID *int64     `db:"broadcast_id" json:"broadcast_id,omitempty"`
	Subject     string     `db:"subject" json:"subject"`
	Status      string     `db:"status" json:"status"`
	Attempts    int        `db:"attempts" json:"attempts"`
	DueAt       time.Time  `db:"due_at" json:"due_at"`
	SentAt      *time.Time `db:"sent_at" json:"sent_at,omitempty"`
	SMTPCode    int        `db:"smtp_code" json:"smtp_code,omitempty"`
	LastError   string     `db:"last_error" json:"last_error,omitempty"`
	MessageID   string     `db:"message_id" json:"message_id,omitempty"`
}

// MessagesTo returns the outbox items of a subscriber, newest first, with the
// subject as written (merge fields not filled in).
func (s *Store) MessagesTo(ctx context.Context, subscriberID int64) ([]Message, error) {
	const q = `
		SELECT o.id, o.kind, l.slug AS list, o.step_id, o.broadcast_id, o.status, o.attempts,
		       o.due_at, o.sent_at, o.smtp_code, o.last_error, o.message_id,
		       COALESCE(st.subject, b.subject, bc.subject, CASE o.kind WHEN 'welcome' THEN l.welcome_subject WHEN 'confirm' THEN 'Confirm your subscription' END, '') AS subject
		FROM outbox o
		JOIN lists l ON l.id = o.list_id
		LEFT JOIN steps st ON st.id = o.step_id
		LEFT JOIN bonuses b ON b.id = o.bonus_id
		LEFT JOIN broadcasts bc ON bc.id = o.broadcast_id
		WHERE o.subscriber_id = $1
		ORDER BY o.id DESC
		LIMIT 500`
	msgs := []Message{}
	if err := s.DB.SelectContext(ctx, &msgs, q, subscriberID); err != nil {
		return nil, fmt.Errorf("campaigns: messages to %d: %w", subscriberID, err)
	}
	return msgs, nil
}
