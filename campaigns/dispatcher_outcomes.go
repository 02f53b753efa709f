package campaigns

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidings/tidings/delivery"
)

// maxErrorLen bounds the error text kept with an outbox item.
const maxErrorLen = 500

// outcome is what became of one claimed item.
type outcome struct {
	item      *Item
	status    string // sent, queued (retry later or released), failed, skipped
	tried     int    // 1 when a send was attempted, 0 when released
	dueAt     time.Time
	messageID string
	code      int
	lastError string
	temporary bool
	sentAt    time.Time
	bounce    string // the reason for OnBounce, "" for none
}

// released is the outcome of an item claimed but not sent: it is left
// queued, untouched, for this or another dispatcher.
func released(it *Item) outcome {
	return outcome{item: it, status: StatusQueued, dueAt: it.DueAt, messageID: it.MessageID}
}

// sent fills in o, the outcome of it, from the result of its send.
func (d *Dispatcher) sent(o outcome, it *Item, res delivery.Result) outcome {
	now := d.now()
	o.code = res.Code
	if res.Err != nil {
		o.lastError = truncate(res.Err.Error())
	}
	switch res.Status {
	case delivery.Sent:
		o.status, o.sentAt = StatusSent, now
	case delivery.TempFailure:
		attempts := it.Attempts + 1
		if attempts >= cmp.Or(d.MaxAttempts, DefaultMaxAttempts) {
			o.status, o.temporary = StatusFailed, true
		} else {
			o.status, o.dueAt = StatusQueued, now.Add(d.Retries.Wait(attempts))
		}
		d.logger().Warn("send failed, temporarily", slog.Int64("outbox_id", it.ID), slog.Int("attempts", attempts),
			slog.Int("smtp_code", res.Code), slog.String("status", o.status), slog.Any("err", res.Err))
	default:
		o.status = StatusFailed
		if res.AddressFailure {
			o.bounce = truncate(strings.TrimSpace(fmt.Sprintf("smtp %d %s %s", res.Code, res.Enhanced, o.lastError)))
		}
		d.logger().Warn("send failed", slog.Int64("outbox_id", it.ID), slog.Int("smtp_code", res.Code),
			slog.String("enhanced", res.Enhanced), slog.Bool("address_failure", res.AddressFailure), slog.Any("err", res.Err))
	}
	return o
}

// bounce calls OnBounce once per bad address.
func (d *Dispatcher) bounce(ctx context.Context, outcomes []outcome) {
	if d.OnBounce == nil {
		return
	}
	done := map[string]bool{}
	for _, o := range outcomes {
		if o.bounce == "" || done[o.item.Email] {
			continue
		}
		done[o.item.Email] = true
		if err := d.OnBounce(ctx, o.item.Email, o.bounce); err != nil {
			d.logger().Error("bounce failed", slog.Int64("outbox_id", o.item.ID), slog.Any("err", err))
		}
	}
}

func truncate(s string) string {
	if len(s) <= maxErrorLen {
		return s
	}
	s = s[:maxErrorLen]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
