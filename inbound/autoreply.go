package inbound

import (
	"strings"
)

// autoReplySubjects begin the subjects of out-of-office and other automatic
// answers, lower-case, in the languages of the common mail programs
// (Outlook's "Automatic reply:", Exchange's and Thunderbird's "Out of
// Office", German, French, Spanish, Italian, Dutch, Portuguese).
var autoReplySubjects = []string{
	"out of office", "out of the office", "automatic reply", "auto reply", "auto-reply",
	"autoreply", "auto response", "auto-response", "autoresponse", "automatic response",
	"abwesenheitsnotiz", "automatische antwort", "réponse automatique", "reponse automatique",
	"absence du bureau", "respuesta automática", "respuesta automatica",
	"risposta automatica", "automatisch antwoord", "afwezig", "resposta automática",
	"[auto-reply]", "[autoreply]",
}

// autoReply returns the AutoReply of an automatic answer. RFC 3834 marks
// one with Auto-Submitted (any value but "no"; a bounce, also marked, has
// been told apart before); older programs with X-Autoreply, X-Autorespond
// or Precedence: auto_reply; Outlook's out-of-office with
// X-Auto-Response-Suppress and its subject. A subject that begins as an
// automatic answer's is taken alone, as many vacation responders set no
// header at all.
func (m *message) autoReply() (Event, bool) {
	h := m.header
	subject := truncate(headerText(h, "Subject"), maxSubject)
	auto := false
	if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); v != "" && !strings.HasPrefix(v, "no") {
		auto = true
	}
	if h.Has("X-Autoreply") || h.Has("X-Autorespond") || h.Has("X-Autoresponder") {
		auto = true
	}
	for _, key := range []string{"Precedence", "X-Precedence"} {
		if strings.EqualFold(strings.TrimSpace(h.Get(key)), "auto_reply") {
			auto = true
		}
	}
	if autoReplySubject(subject) {
		auto = true
	}
	if !auto {
		return Event{}, false
	}
	return Event{
		Kind:      AutoReply,
		Subject:   subject,
		Recipient: headerAddress(h, "From"),
		MessageID: answered(h),
		At:        reportDate(h),
	}, true
}

// autoReplySubject reports whether subject begins as an automatic
// answer's. A reply's "Re:" in front is not looked past: a person answering
// a message titled so is a person.
func autoReplySubject(subject string) bool {
	s := strings.ToLower(strings.TrimSpace(subject))
	for _, start := range autoReplySubjects {
		if strings.HasPrefix(s, start) {
			return true
		}
	}
	return false
}
