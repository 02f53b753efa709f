package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tidings/tidings"
)

// What a list does with a sequence step that falls due soon after a
// broadcast its subscriber received.
const (
	PolicyBoth  = "both"  // send the step as usual
	PolicyDefer = "defer" // move the step to its next allowed slot after the gap
)

// MaxBroadcastGapHours is the longest gap a list may keep between a
// broadcast and a step.
const MaxBroadcastGapHours = 168

// ListPolicy is how a list's sequence makes way for its broadcasts: under
// PolicyDefer, a step that falls due within BroadcastGapHours after the
// subscriber was sent a broadcast waits until the gap has passed.
type ListPolicy struct {
	StepBroadcastPolicy string `db:"step_broadcast_policy" json:"step_broadcast_policy"`
	BroadcastGapHours   int    `db:"broadcast_gap_hours" json:"broadcast_gap_hours"`
}

// ListPolicy returns the policy of list listID. Returns ENOTFOUND for an
// unknown list.
func (s *Store) ListPolicy(ctx context.Context, listID int64) (*ListPolicy, error) {
	const q = `
		SELECT step_broadcast_policy, broadcast_gap_hours
		FROM lists
		WHERE id = $1`
	var p ListPolicy
	if err := s.DB.GetContext(ctx, &p, q, listID); errors.Is(err, sql.ErrNoRows) {
		return nil, tidings.Errorf(tidings.ENOTFOUND, "List %d not found.", listID)
	} else if err != nil {
		return nil, fmt.Errorf("campaigns: policy of list %d: %w", listID, err)
	}
	return &p, nil
}

// SetListPolicy sets the policy of list listID and returns it. It applies
// from the next scheduler tick. Returns EINVALID for a policy other than
// "both" or "defer" or a gap outside 0 to 168 hours, and ENOTFOUND for an
// unknown list; nothing is changed then.
func (s *Store) SetListPolicy(ctx context.Context, listID int64, policy string, gapHours int) (*ListPolicy, error) {
	if policy != PolicyBoth && policy != PolicyDefer {
		return nil, tidings.Errorf(tidings.EINVALID, "step_broadcast_policy must be %q or %q, not %q.", PolicyBoth, PolicyDefer, policy)
	}
	if gapHours < 0 || gapHours > MaxBroadcastGapHours {
		return nil, tidings.Errorf(tidings.EINVALID, "broadcast_gap_hours must be between 0 and %d, not %d.", MaxBroadcastGapHours, gapHours)
	}
	const q = `
		UPDATE lists
		SET step_broadcast_policy = $2,
		    broadcast_gap_hours = $3,
		    updated_at = $4
		WHERE id = $1
		RETURNING step_broadcast_policy, broadcast_gap_hours`
	var p ListPolicy
	if err := s.DB.GetContext(ctx, &p, q, listID, policy, gapHours, s.now()); errors.Is(err, sql.ErrNoRows) {
		return nil, tidings.Errorf(tidings.ENOTFOUND, "List %d not found.", listID)
	} else if err != nil {
		return nil, fmt.Errorf("campaigns: set policy of list %d: %w", listID, err)
	}
	return &p, nil
}
