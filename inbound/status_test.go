package inbound

import "testing"

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		status, diagnostic string
		hard               bool
	}{
		{"5.1.1", "", true},
		{"5.1.2", "host not found", true},
		{"5.1.3", "bad address syntax", true},
		{"5.1.6", "mailbox moved", true},
		{"5.1.10", "RESOLVER.ADR.RecipientNotFound", true},
		{"5.0.0", "550 User unknown", true},
		{"5.0.0", "554 delivery error: dd This user doesn't have a yahoo.example account", true},
		{"5.5.0", "550 5.5.0 Requested action not taken: mailbox unavailable", true},
		{"5.4.1", "550 5.4.1 Recipient address rejected: Access denied", true},
		{"5.2.1", "The email account that you tried to reach does not exist", true},
		{"5.0.0", "550 Message rejected", false},
		{"5.0.0", "", false},
		{"5.2.2", "mailbox full; user unknown is not the reason", false},
		{"5.3.4", "message too big", false},
		{"5.7.1", "550 5.7.1 Recipient address rejected: Access denied", false},
		{"5.7.1", "blocked using dnsbl.example.org", false},
		{"5.4.4", "unable to route", false},
		{"5.1.7", "bad sender's mailbox address syntax", false},
		{"4.1.1", "450 4.1.1 User unknown in virtual mailbox table", false},
		{"4.2.2", "over quota", false},
		{"2.0.0", "OK", false},
		{"", "user unknown", false},
		{"5.1", "user unknown", false},
		{"5.x.1", "user unknown", false},
		{"5.1.1000", "", false},
	} {
		if got := classify(tc.status, tc.diagnostic); got != tc.hard {
			t.Errorf("classify(%q, %q) = %v, want %v", tc.status, tc.diagnostic, got, tc.hard)
		}
	}
}

func TestStatusIn(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"550 5.1.1 <a@example.net>: User unknown", "5.1.1"},
		{"552-5.2.2 over quota", "5.2.2"},
		{"host [192.5.1.1] said: connection refused", ""},
		{"host [192.5.1.1] said: 550 no such user", "5.0.0"},
		{"554: delivery error: dd This user doesn't have an account", "5.0.0"},
		{"552 message size exceeds fixed limit", "5.2.2"},
		{"421 try again later", "4.0.0"},
		{"Exim 4.96 version", ""},
		{"version 5.1.1.2 of the software", ""},
		{"status 5.1.10.", "5.1.10"},
		{"mta1234.mail.example.com", ""},
		{"250 2.0.0 OK", ""},
	} {
		if got := statusIn(tc.text); got != tc.want {
			t.Errorf("statusIn(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}
