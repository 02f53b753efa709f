package inbound

import (
	"encoding/json"
	"strings"
)

// sesNotification is the part Tidings reads of an Amazon SES notification
// or published event, the Message of an SNS notification
// (https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html;
// event publishing names the kind eventType instead of notificationType).
type sesNotification struct {
	NotificationType string `json:"notificationType"`
	EventType        string `json:"eventType"`
	Bounce           struct {
		BounceType        string `json:"bounceType"`
		BouncedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
		Timestamp string `json:"timestamp"`
	} `json:"bounce"`
	Complaint struct {
		ComplainedRecipients []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"complainedRecipients"`
		ComplaintFeedbackType string `json:"complaintFeedbackType"`
		Timestamp             string `json:"timestamp"`
	} `json:"complaint"`
	Mail struct {
		Headers []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
		CommonHeaders struct {
			MessageID string `json:"messageId"`
		} `json:"commonHeaders"`
	} `json:"mail"`
}

// decodeSES reads the SES message of the SNS notification snsID: a Bounce
// gives an Event per bounced recipient, a Complaint one per complained
// recipient; a Delivery and any other kind give none. Each Event's ID is
// snsID and its recipient, so a redelivered notification has the same ids.
func decodeSES(snsID, message string) ([]Event, error) {
	trimmed := strings.TrimSpace(message)
	if !strings.HasPrefix(trimmed, "{") {
		// SES checks a new destination with a notification in plain words;
		// it reports nothing.
		return nil, nil
	}
	var n sesNotification
	if err := json.Unmarshal([]byte(trimmed), &n); err != nil {
		return nil, malformed(ProviderSES, "the notification is not the JSON of an SES notification")
	}
	messageID := n.Mail.CommonHeaders.MessageID
	if messageID == "" {
		for _, h := range n.Mail.Headers {
			if strings.EqualFold(h.Name, "Message-ID") {
				messageID = h.Value
				break
			}
		}
	}
	kind := n.NotificationType
	if kind == "" {
		kind = n.EventType
	}
	es := eventList{provider: ProviderSES}
	switch kind {
	case "Bounce":
		// Permanent is a hard bounce; Transient and Undetermined may pass.
		hard := n.Bounce.BounceType == "Permanent"
		at := parseTime(n.Bounce.Timestamp)
		for _, r := range n.Bounce.BouncedRecipients {
			err := es.add(Event{
				Kind: Bounce, Hard: hard, Recipient: r.EmailAddress, MessageID: messageID,
				Status: r.Status, Diagnostic: r.DiagnosticCode,
				ID: sesEventID(snsID, r.EmailAddress), At: at,
			})
			if err != nil {
				return nil, err
			}
		}
	case "Complaint":
		at := parseTime(n.Complaint.Timestamp)
		for _, r := range n.Complaint.ComplainedRecipients {
			err := es.add(Event{
				Kind: Complaint, Recipient: r.EmailAddress, MessageID: messageID,
				FeedbackType: n.Complaint.ComplaintFeedbackType,
				ID:           sesEventID(snsID, r.EmailAddress), At: at,
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return es.list, nil
}

// sesEventID names the event of one recipient of an SNS notification.
func sesEventID(snsID, recipient string) string {
	return snsID + ":" + strings.ToLower(strings.TrimSpace(recipient))
}
