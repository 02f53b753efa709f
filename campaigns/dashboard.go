package campaigns

import (
	"context"
	"fmt"
	"time"
)

// SendCounts is how many messages were sent and failed in a period.
type SendCounts struct {
	Sent   int `db:"sent" json:"sent"`
	Failed int `db:"failed" json:"failed"`
}

// SendCountsSince counts the messages sent and failed since a time.
func (s *Store) SendCountsSince(ctx context.Context, since time.Time) (SendCounts, error) {
	const q = `
		SELECT count(*) FILTER (WHERE status = 'sent' AND sent_at >= $1) AS sent,
		       count(*) FILTER (WHERE status = 'failed' AND updated_at >= $1) AS failed
		FROM outbox
		WHERE updated_at >= $1`
	var c SendCounts
	if err := s.DB.GetContext(ctx, &c, q, since); err != nil {
		return c, fmt.Errorf("campaigns: send counts: %w", err)
	}
	return c, nil
}
