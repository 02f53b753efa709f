package inbound

import "testing"

// TestParse_AutoReply shows each mark of an automatic answer, and that a
// person's reply with such words later in the subject stays a reply.
func TestParse_AutoReply(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   Kind
	}{
		{"Auto-Submitted: auto-generated\n", AutoReply},
		{"Auto-Submitted: auto-replied; owner-email=\"x@example.net\"\n", AutoReply},
		{"Auto-Submitted: no\n", Reply},
		{"X-Autoreply: yes\n", AutoReply},
		{"X-Autorespond: Thanks for your mail\n", AutoReply},
		{"Precedence: auto_reply\n", AutoReply},
		{"Precedence: bulk\n", Reply},
		{"Subject: Automatic reply: Week 3\nX-Auto-Response-Suppress: All\n", AutoReply},
		{"Subject: =?iso-8859-1?q?R=E9ponse_automatique?=\n", AutoReply},
		{"Subject: Autoreply: Week 3\n", AutoReply},
		{"Subject: Re: Out of office tips\n", Reply},
		{"Subject: Re: Week 3\nX-Auto-Response-Suppress: All\n", Reply},
	} {
		raw := "From: Someone <Someone@Example.net>\nIn-Reply-To: <w3@news.example.com>\n" + tc.header + "\nHello.\n"
		got, err := Parse([]byte(raw))
		if err != nil || len(got) != 1 || got[0].Kind != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want one %s", raw, got, err, tc.want)
			continue
		}
		if got[0].Recipient != "someone@example.net" || got[0].MessageID != "<w3@news.example.com>" {
			t.Errorf("Parse(%q) = %+v; want the From address and the In-Reply-To", raw, got[0])
		}
	}
}
