package campaigns

// Outbox kinds and statuses, as stored.
const (
	KindConfirm   = "confirm"
	KindWelcome   = "welcome"
	KindBonus     = "bonus"
	KindStep      = "step"
	KindBroadcast = "broadcast"

	StatusQueued  = "queued"
	StatusSending = "sending"
	StatusSent    = "sent"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
)
