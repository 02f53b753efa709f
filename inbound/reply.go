package inbound

import (
	"github.com/emersion/go-message/textproto"
)

// reply returns the Reply of a person's message: its subject, its text
// (the plain-text part, else the text of the HTML part; quoted history
// left in for a later step to trim), the address it is from, and the
// message it answers.
func (m *message) reply() Event {
	text := m.plain
	if text == "" && m.html != "" {
		text = htmlText(m.html)
	}
	return Event{
		Kind:      Reply,
		Subject:   truncate(headerText(m.header, "Subject"), maxSubject),
		Text:      truncate(text, MaxText),
		Recipient: headerAddress(m.header, "From"),
		MessageID: answered(m.header),
		At:        reportDate(m.header),
	}
}

// answered returns the Message-ID of the message h answers: In-Reply-To
// (RFC 5322 section 3.6.4), else the last of References.
func answered(h textproto.Header) string {
	if id := msgID(h.Get("In-Reply-To")); id != "" {
		return id
	}
	return lastMsgID(h.Get("References"))
}
