package campaigns

// Outbox kinds and statuses, as stored.
const (
	KindConfirm   = "confirm"
	KindWelcome   = "welcome"
	KindBonus     = "bonus"
	KindStep      = "step"
	KindBroadcast = "broadcast"

	StatusQueued  = "queued"
	StatusSending = "sending" // not stored: an item a claim returned to be sent
	StatusSent    = "sent"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
)
