package inbound

import (
	"regexp"
	"strconv"
	"strings"
)

// enhancedPattern is an enhanced status code of a failure (RFC 3463
// section 2: class.subject.detail, class 4 or 5; class 2 is success and
// gives no event) standing alone, not part of an IP address or a version
// number.
var enhancedPattern = regexp.MustCompile(`(?:^|[^0-9.])([45]\.[0-9]{1,3}\.[0-9]{1,3})(?:[^0-9.]|\.(?:[^0-9]|$)|$)`)

// basicPattern is a basic SMTP reply code (RFC 5321 section 4.2) of a
// failure, as a reply line starts it: "550 ...", "550-...", "554: ...".
var basicPattern = regexp.MustCompile(`(?:^|[\s(\[:;"'])([45][0-5][0-9])(?:[ \t:)\]-]|$)`)

// enhancedStatus returns the first enhanced status code in s, or "".
func enhancedStatus(s string) string {
	if m := enhancedPattern.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

// basicStatus returns the enhanced class of the first basic reply code of
// a failure in s, or "". RFC 3463 section 3.2 leaves the detail to the
// server; only 552, exceeded storage (RFC 5321 section 4.2.3), names one.
// A 553 is often a relay refusal rather than a bad mailbox name, so it is
// not taken as 5.1.3.
func basicStatus(s string) string {
	m := basicPattern.FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	switch {
	case m[1] == "552":
		return "5.2.2"
	case m[1][0] == '5':
		return "5.0.0"
	}
	return "4.0.0"
}

// cleanStatus returns s if it is an RFC 3463 enhanced status code
// (class "." subject "." detail: a class of 2, 4 or 5, a subject and a
// detail of one to three digits), else "".
func cleanStatus(s string) string {
	s = strings.TrimSpace(s)
	if class, _, _, ok := splitStatus(s); ok && (class == 2 || class == 4 || class == 5) {
		return s
	}
	return ""
}

// statusIn returns the status a text of a failure gives: its enhanced
// code, else the class of its basic reply code, else "".
func statusIn(s string) string {
	if st := enhancedStatus(s); st != "" {
		return st
	}
	return basicStatus(s)
}

// addressGone are the words with which servers say that the mailbox does
// not exist, lower-case. Many servers answer every refusal with 550 or
// 5.0.0 and say what they mean only in words.
var addressGone = []string{
	"user unknown",
	"unknown user",
	"no such user",
	"no such mailbox",
	"no such recipient",
	"unknown recipient",
	"invalid recipient",
	"recipient unknown",
	"does not exist",
	"doesn't exist",
	"doesn't have a",
	"mailbox unavailable",
	"mailbox not found",
	"recipient rejected",
	"recipient address rejected",
	"recipnotfound",
	"recipientnotfound",
	"address unknown",
}

// classify says whether a failure with the enhanced status code status and
// the diagnostic text is hard: whether the address itself is bad, so that
// it is suppressed at once. The reasons, by RFC 3463:
//
//   - Class 4 is transient by definition, and no code at all says nothing:
//     soft.
//   - X.1.1 (bad mailbox), X.1.2 (bad domain), X.1.3 (bad address syntax),
//     X.1.6 (mailbox moved, no forwarding) and X.1.10 (null MX, RFC 7505)
//     say the address is bad: hard.
//   - X.2.2 (mailbox full) and X.3.4 (message too big) are about this
//     mailbox's state or this message, not the address: soft.
//   - X.7.x are policy refusals (spam filters, block lists, DMARC,
//     authentication): the address is good, the sender or the message is
//     refused, and suppressing the reader would punish them for a filter;
//     soft, and a run of soft bounces suppresses by a threshold elsewhere.
//   - Everything else in class 5 (X.0.0, X.5.x protocol, X.4.x routing,
//     the rest of X.1 and X.2) is ambiguous: servers answer any refusal
//     with 550 5.0.0 or 5.5.x, and Exchange Online's directory check is
//     5.4.1. Those are hard only when the diagnostic says the mailbox does
//     not exist (addressGone).
func classify(status, diagnostic string) bool {
	class, subject, detail, ok := splitStatus(status)
	if !ok || class != 5 {
		return false
	}
	switch {
	case subject == 1 && (detail == 1 || detail == 2 || detail == 3 || detail == 6 || detail == 10):
		return true
	case subject == 2 && detail == 2, subject == 3 && detail == 4, subject == 7:
		return false
	}
	d := strings.ToLower(diagnostic)
	for _, words := range addressGone {
		if strings.Contains(d, words) {
			return true
		}
	}
	return false
}

// splitStatus returns the numbers of an enhanced status code.
func splitStatus(status string) (class, subject, detail int, ok bool) {
	parts := strings.Split(status, ".")
	if len(parts) != 3 {
		return 0, 0, 0, false
	}
	var n [3]int
	for i, p := range parts {
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return 0, 0, 0, false
		}
		n[i], _ = strconv.Atoi(p)
	}
	return n[0], n[1], n[2], true
}
