package inbound

import "testing"

// TestParse_PlainBounce shows bounces without a delivery-status part: in
// HTML only, in a multipart/mixed with the original attached, without a
// code, delayed, and a person's message that merely mentions a failure.
func TestParse_PlainBounce(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		want      want
	}{
		{"html only",
			"From: postmaster@mail.example.org\nSubject: Undeliverable: Week 3\nContent-Type: text/html\n\n" +
				"<html><body><p>Delivery has failed to these recipients:</p><p><b>Gone@Example.org</b></p>" +
				"<p>Remote server returned '550 5.1.1 User unknown'</p>" +
				"<p>Original message headers:</p><pre>Message-ID: &lt;w3@news.example.com&gt;</pre></body></html>\n",
			want{Kind: Bounce, Hard: true, Recipient: "gone@example.org", Status: "5.1.1", Diagnostic: "Remote server returned '550 5.1.1 User unknown'", MessageID: "<w3@news.example.com>"}},
		{"mixed with the original attached",
			"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\nTo: b-x@bounces.example.com\nSubject: Returned mail: see transcript for details\n" +
				"Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: text/plain\n\n" +
				"The original message was received from news.example.com\n\n   ----- The following addresses had permanent fatal errors -----\n<nobody@example.net>\n    (reason: 550 Requested action not taken: mailbox unavailable)\n" +
				"--m\nContent-Type: message/rfc822\n\nMessage-ID: <w4@news.example.com>\nTo: nobody@example.net\n\nbody\n--m--\n",
			want{Kind: Bounce, Hard: true, Recipient: "nobody@example.net", Status: "5.0.0", Diagnostic: "(reason: 550 Requested action not taken: mailbox unavailable)", MessageID: "<w4@news.example.com>"}},
		{"no code",
			"From: MAILER-DAEMON@mx.example.net\nTo: b-x@bounces.example.com\nSubject: failure notice\n\n" +
				"Hi. This is the qmail-send program at mx.example.net.\nI'm afraid I wasn't able to deliver your message to the following addresses.\n\n<far.away@example.net>:\nSorry, I couldn't find any host named example.net.\n",
			want{Kind: Bounce, Recipient: "far.away@example.net", Diagnostic: "Sorry, I couldn't find any host named example.net."}},
		{"delayed",
			"From: Mail Delivery Subsystem <mailer-daemon@mx.example.net>\nSubject: Warning: message delayed\n\n" +
				"Your message has not yet been delivered to slow@example.net.\n451 4.4.1 connection timed out; will retry\n",
			want{Kind: Delayed, Recipient: "slow@example.net", Status: "4.4.1", Diagnostic: "451 4.4.1 connection timed out"}},
		{"a person mentions a failure",
			"From: Jo <jo@example.net>\nSubject: Re: Week 3\n\nMy last message could not be delivered, so here it is again.\n",
			want{Kind: Reply, Recipient: "jo@example.net", Subject: "Re: Week 3", Text: "My last message could not be delivered"}},
	} {
		got, err := Parse([]byte(tc.raw))
		if err != nil {
			t.Errorf("%s: Parse(%q): %v", tc.name, tc.raw, err)
			continue
		}
		if d := check(got, []want{tc.want}); d != "" {
			t.Errorf("%s: Parse(%q): %s", tc.name, tc.raw, d)
		}
	}
}
