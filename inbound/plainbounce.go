package inbound

import (
	"regexp"
	"strings"
)

// bounceSenders are the local parts and display names, lower-case, that
// MTAs send their bounces from (RFC 5321 section 4.5.1 postmaster; the
// MAILER-DAEMON of sendmail, qmail and most others; Google's and Exim's
// display names).
var bounceSenders = []string{
	"mailer-daemon@", "mailerdaemon@", "mail-daemon@", "postmaster@",
	"mail delivery subsystem", "mail delivery system", "mail delivery service",
}

// bounceSubjects are the words, lower-case, of the subjects of bounces in
// the providers' own formats.
var bounceSubjects = []string{
	"undeliverable", "undelivered mail", "undelivered", "returned mail",
	"mail delivery failed", "delivery status notification", "failure notice",
	"delivery failure", "delivery failed", "delivery has failed",
	"non-delivery", "nondeliverable", "could not be delivered",
	"returned to sender", "message not delivered", "delivery problem",
	"mail system error", "delivery notification", "delayed mail",
}

// bouncePhrases are the words, lower-case, with which bounces in running
// text say that a message was not delivered.
var bouncePhrases = []string{
	"could not be delivered", "couldn't be delivered", "wasn't able to deliver",
	"was not delivered", "wasn't delivered", "unable to deliver", "could not deliver",
	"delivery has failed", "delivery to the following recipient",
	"following address(es) failed", "following addresses had permanent",
	"permanent error", "permanent fatal error", "failed permanently",
	"undeliverable", "delivery failed", "has been delayed", "not yet been delivered",
	"message you sent", "returned to sender",
}

// delayPhrases say that delivery is still being tried.
var delayPhrases = []string{
	"delayed", "will be retried", "will retry", "still trying", "not yet been delivered",
	"will continue", "temporary failure", "delivery has not been completed",
}

// quotedStarts begin the copy of the original message that a bounce quotes
// under its own text, lower-case: what follows is the sender's message, and
// the addresses and codes in it say nothing about the failure.
var quotedStarts = []string{
	"--- below this line is a copy of the message",
	"------ this is a copy of the message",
	"----- original message",
	"original message follows",
	"--- the header of the original message",
	"----- transcript of session follows", // not quoted, but a transcript's addresses are the sender's too
	"received:", "return-path:", "message-id:", "dkim-signature:",
}

// plainBounce returns the Bounce of a bounce in an MTA's or provider's own
// words, which has no delivery-status part to read: Exim, qmail (and
// Yahoo, whose bounces are qmail's), and the HTML-only or multipart/mixed
// notices of others. It needs two of: a bounce's sender, a bounce's subject,
// a bounce's words in the text; or Exim's X-Failed-Recipients.
func (m *message) plainBounce() (Event, bool) {
	text := m.plain
	if strings.TrimSpace(text) == "" && m.html != "" {
		text = htmlText(m.html)
	}
	from := strings.ToLower(m.header.Get("From"))
	subject := strings.ToLower(headerText(m.header, "Subject"))
	lower := strings.ToLower(text)
	failed := m.header.Get("X-Failed-Recipients")
	signals := 0
	if containsAny(from, bounceSenders) {
		signals++
	}
	if containsAny(subject, bounceSubjects) {
		signals++
	}
	if containsAny(lower, bouncePhrases) {
		signals++
	}
	if signals < 2 && failed == "" {
		return Event{}, false
	}

	report, quoted := splitQuoted(text)
	exclude := []string{headerAddress(m.header, "From"), headerAddress(m.header, "To")}
	ev := Event{Kind: Bounce, At: reportDate(m.header)}
	ev.Recipient = cleanAddress(addressPattern.FindString(failed))
	if ev.Recipient == "" {
		ev.Recipient = failedAddress(report, exclude)
	}
	diagnostic := diagnosticLine(report, ev.Recipient)
	ev.Diagnostic = truncate(diagnostic, MaxDiagnostic)
	ev.Status = statusIn(diagnostic)
	ev.Hard = classify(ev.Status, diagnostic)
	if strings.HasPrefix(ev.Status, "4.") && (strings.Contains(subject, "delay") || containsAny(strings.ToLower(report), delayPhrases)) {
		ev.Kind, ev.Hard = Delayed, false
	}
	ev.MessageID = m.originalID()
	if ev.MessageID == "" {
		if match := quotedMsgID.FindStringSubmatch(quoted); match != nil {
			ev.MessageID = msgID(match[1])
		}
	}
	return ev, true
}

// quotedMsgID is the Message-ID line of a quoted header.
var quotedMsgID = regexp.MustCompile(`(?im)^[ \t>]*message-id:[ \t]*(<[^<>\s]+>)`)

// containsAny reports whether s holds one of words.
func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// splitQuoted splits a bounce's text into its own words and the copy of
// the original message it quotes (see quotedStarts).
func splitQuoted(text string) (report, quoted string) {
	pos := 0
	for line := range strings.SplitAfterSeq(text, "\n") {
		l := strings.ToLower(strings.TrimSpace(line))
		for _, start := range quotedStarts {
			if strings.HasPrefix(l, start) {
				return text[:pos], text[pos:]
			}
		}
		pos += len(line)
	}
	return text, ""
}

// aloneAddress is a line holding only an address, as Exim and qmail list
// the failed recipients: "  reader@example.net" or "<reader@example.net>:".
var aloneAddress = regexp.MustCompile(`^\s*<?(` + addressPattern.String() + `)>?:?\s*$`)

// failedAddress returns the address a bounce's own text says failed: the
// first line that holds an address alone, else the first address in the
// text that is not the bounce's sender or its envelope (the VERP address),
// nor a postmaster's.
func failedAddress(report string, exclude []string) string {
	usable := func(a string) bool {
		if a == "" || strings.HasPrefix(a, "mailer-daemon@") || strings.HasPrefix(a, "postmaster@") {
			return false
		}
		for _, x := range exclude {
			if a == x {
				return false
			}
		}
		return true
	}
	for line := range strings.SplitSeq(report, "\n") {
		if match := aloneAddress.FindStringSubmatch(line); match != nil {
			if a := cleanAddress(match[1]); usable(a) {
				return a
			}
		}
	}
	for _, found := range addressPattern.FindAllString(report, 20) {
		if a := cleanAddress(found); usable(a) {
			return a
		}
	}
	return ""
}

// diagnosticLine returns the line of a bounce's text that gives the
// remote server's answer: the first with an enhanced status code, else the
// first with a basic reply code, else the first line after the failed
// recipient's that is not empty; as one line.
func diagnosticLine(report, recipient string) string {
	lines := strings.Split(report, "\n")
	for _, find := range []func(string) string{enhancedStatus, basicStatus} {
		for _, line := range lines {
			if find(line) != "" {
				return cleanText(line, len(line))
			}
		}
	}
	if recipient == "" {
		return ""
	}
	for i, line := range lines {
		if strings.Contains(strings.ToLower(line), recipient) {
			for _, next := range lines[i+1:] {
				if l := cleanText(next, len(next)); l != "" {
					return l
				}
			}
			break
		}
	}
	return ""
}
