package delivery_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	netmail "net/mail"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/tidings/tidings/delivery"
	"github.com/tidings/tidings/internal/devmail"
)

// testRSAKey and testEd25519Key are made once: an RSA key takes a while.
var (
	testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		return k
	})
	testEd25519Key = sync.OnceValue(func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

// testKeys are an RSA and an Ed25519 key for example.com, and the TXT
// records that publish them, by name.
func testKeys(tb testing.TB) ([]delivery.DKIMKey, map[string]string) {
	tb.Helper()
	keys := []delivery.DKIMKey{
		{Domain: "example.com", Selector: "r1", Signer: testRSAKey()},
		{Domain: "example.com", Selector: "e1", Signer: testEd25519Key()},
	}
	return keys, records(tb, keys)
}

// records returns the DNS TXT records of keys (RFC 6376 section 3.6.1, RFC
// 8463 section 4), by name.
func records(tb testing.TB, keys []delivery.DKIMKey) map[string]string {
	tb.Helper()
	rs := map[string]string{}
	for _, k := range keys {
		name := k.Selector + "._domainkey." + k.Domain
		switch pub := k.Signer.Public().(type) {
		case *rsa.PublicKey:
			der, err := x509.MarshalPKIXPublicKey(pub)
			if err != nil {
				tb.Fatal(err)
			}
			rs[name] = "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
		case ed25519.PublicKey:
			rs[name] = "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
		}
	}
	return rs
}

// verified is a signature of a message and what go-msgauth said of it.
type verified struct {
	algorithm, domain, selector string
	headerKeys                  []string
	err                         error
}

// verifyDKIM checks raw's signatures against the records, and the lines of
// its header against RFC 5322 (CRLF, at most 998 octets, 7-bit, no leading
// dot), and returns each signature in the order of the header.
func verifyDKIM(tb testing.TB, raw []byte, records map[string]string) []verified {
	tb.Helper()
	header, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for i, line := range bytes.Split(header, []byte("\r\n")) {
		if len(line) > 998 || bytes.ContainsAny(line, "\r\n") || bytes.HasPrefix(line, []byte(".")) || !isASCII(line) {
			tb.Fatalf("header line %d breaks RFC 5322 (%d octets): %q", i, len(line), line)
		}
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if r, ok := records[name]; ok {
				return []string{r}, nil
			}
			return nil, fmt.Errorf("no TXT record at %s", name)
		},
	})
	if err != nil {
		tb.Fatalf("verify: %v", err)
	}
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		tb.Fatal(err)
	}
	fields := m.Header["Dkim-Signature"]
	if len(fields) != len(vs) {
		tb.Fatalf("%d DKIM-Signature fields, %d verifications", len(fields), len(vs))
	}
	out := make([]verified, len(vs))
	for i, v := range vs {
		tags := map[string]string{}
		for _, tag := range strings.Split(fields[i], ";") {
			k, val, _ := strings.Cut(tag, "=")
			tags[strings.TrimSpace(k)] = strings.Join(strings.Fields(val), "")
		}
		out[i] = verified{algorithm: tags["a"], domain: v.Domain, selector: tags["s"], headerKeys: v.HeaderKeys, err: v.Err}
	}
	return out
}

func isASCII(b []byte) bool {
	return !slices.ContainsFunc(b, func(c byte) bool { return c >= 0x80 })
}

// mustBeSigned fails unless got holds a passing rsa-sha256 signature and
// then a passing ed25519-sha256 one, both for example.com.
func mustBeSigned(tb testing.TB, got []verified) {
	tb.Helper()
	if len(got) != 2 {
		tb.Fatalf("%d signatures, want 2: %+v", len(got), got)
	}
	for i, want := range []string{"rsa-sha256", "ed25519-sha256"} {
		if got[i].algorithm != want || got[i].domain != "example.com" || got[i].err != nil {
			tb.Errorf("signature %d: %s d=%s: %v; want a passing %s for example.com", i, got[i].algorithm, got[i].domain, got[i].err, want)
		}
	}
}

// signingSender returns a Sender with the test keys and the server it sends to.
func signingSender(tb testing.TB) (*delivery.Sender, *devmail.Server, map[string]string) {
	tb.Helper()
	srv := MustStart(tb, devmail.Options{})
	s := MustSender(tb, plainURL(srv))
	keys, recs := testKeys(tb)
	if err := s.SetDKIMKeys(keys); err != nil {
		tb.Fatal(err)
	}
	return s, srv, recs
}

// sendAll sends msgs in one SendAll through s and returns what srv caught,
// in the order sent.
func sendAll(tb testing.TB, s *delivery.Sender, srv *devmail.Server, msgs ...*delivery.Message) []devmail.Message {
	tb.Helper()
	srv.Clear()
	c := MustDial(tb, s)
	for i, r := range c.SendAll(context.Background(), nil, msgs) {
		if r.Status != delivery.Sent {
			tb.Fatalf("message %d: %+v", i, r)
		}
	}
	return srv.Messages()
}

// TestSender_SetDKIMKeys_Sign: every kind of message that compose writes is
// signed twice for its From domain, rsa-sha256 and ed25519-sha256, and both
// signatures verify against the published records; h= oversigns From and
// names the list fields the message has.
func TestSender_SetDKIMKeys_Sign(t *testing.T) {
	t.Parallel()
	s, srv, recs := signingSender(t)
	fixed := []string{"Hello ", ",\n.a line that starts with a dot\nFrom the start\n", ""}
	cases := []struct {
		name string
		edit func(m *delivery.Message)
	}{
		{"HTMLAndText", func(*delivery.Message) {}},
		{"PlainText", func(m *delivery.Message) { m.HTML, m.Headers = "", nil; m.ReplyTo = "" }},
		{"HTMLOnly", func(m *delivery.Message) { m.Text = "" }},
		{"Spliced", func(m *delivery.Message) {
			m.TextSpliced = &delivery.Spliced{Fixed: fixed, Values: []string{"Zoë", "ünd"}}
			m.HTMLSpliced = &delivery.Spliced{Fixed: fixed, Values: []string{"<b>Zoë</b>", "=3D"}}
		}},
		{"NonASCII", func(m *delivery.Message) {
			m.Subject = "Grüße, Zoë — “quotes” 🙂 " + strings.Repeat("ü", 60)
			m.ToName, m.FromName = "Zoë Ünal", "Tidings Wöchentlich"
			m.Headers["List-Id"] = "Tidings Wöchentlich <weekly.example.com>"
		}},
		{"LongHeaders", func(m *delivery.Message) {
			m.Headers["List-Unsubscribe"] = "<https://example.com/unsubscribe/" + strings.Repeat("t", 400) + ">, <mailto:u-" + strings.Repeat("x", 60) + "@bounce.example.com>"
			m.Subject = strings.Repeat("a long subject ", 30)
		}},
		{"UpperCaseDomain", func(m *delivery.Message) { m.FromEmail = "News@Example.COM" }},
	}
	for _, tt := range cases {
		m := newMessage("ann@example.org")
		tt.edit(m)
		caught := sendAll(t, s, srv, m)
		if len(caught) != 1 {
			t.Fatalf("%s: caught %d", tt.name, len(caught))
		}
		got := verifyDKIM(t, caught[0].Raw, recs)
		mustBeSigned(t, got)
		keys := strings.ToLower(strings.Join(got[0].headerKeys, ":"))
		want := "from:from:to:subject:date:message-id"
		if m.ReplyTo != "" {
			want += ":reply-to"
		}
		want += ":mime-version:content-type"
		if m.HTML == "" || m.Text == "" {
			want += ":content-transfer-encoding"
		}
		for _, f := range []string{"List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "Feedback-ID"} {
			if _, ok := m.Headers[f]; ok {
				want += ":" + strings.ToLower(f)
			}
		}
		if keys != want {
			t.Errorf("%s: h=%s, want %s", tt.name, keys, want)
		}
		if caught[0].Text == "" && m.Text != "" && m.TextSpliced == nil {
			t.Errorf("%s: the text part did not read back", tt.name)
		}
	}
}

// TestSender_SetDKIMKeys_AddedFrom: a From field added below the signed
// one breaks the signature, because From is oversigned.
func TestSender_SetDKIMKeys_AddedFrom(t *testing.T) {
	t.Parallel()
	s, srv, recs := signingSender(t)
	raw := sendAll(t, s, srv, newMessage("ann@example.org"))[0].Raw
	mustBeSigned(t, verifyDKIM(t, raw, recs))
	header, body, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	forged := slices.Concat(header, []byte("\r\nFrom: <ceo@example.com>\r\n\r\n"), body)
	for i, v := range verifyDKIM(t, forged, recs) {
		if v.err == nil {
			t.Errorf("signature %d (%s) still verifies with a second From", i, v.algorithm)
		}
	}
}

// TestSender_SetDKIMKeys_Unsigned: a message from a domain without a key
// goes out unsigned, as it was composed.
func TestSender_SetDKIMKeys_Unsigned(t *testing.T) {
	t.Parallel()
	s, srv, _ := signingSender(t)
	m := newMessage("ann@example.org")
	m.FromEmail = "news@example.net"
	m2 := newMessage("bob@example.org")
	m2.FromEmail = "news@sub.example.com" // a subdomain is another domain
	for _, c := range sendAll(t, s, srv, m, m2) {
		if f := c.Header.Get("DKIM-Signature"); f != "" {
			t.Errorf("from %s: signed: %s", c.Header.Get("From"), f)
		}
	}
}

// TestSender_SetDKIMKeys_Swap: keys set while the Sender is in use apply
// from the next SendAll: a new key signs, and none turns signing off.
func TestSender_SetDKIMKeys_Swap(t *testing.T) {
	t.Parallel()
	s, srv, recs := signingSender(t)
	mustBeSigned(t, verifyDKIM(t, sendAll(t, s, srv, newMessage("a@example.org"))[0].Raw, recs))

	// Only an Ed25519 key, under another selector.
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other := []delivery.DKIMKey{{Domain: "EXAMPLE.com", Selector: "e2", Signer: k}}
	if err := s.SetDKIMKeys(other); err != nil {
		t.Fatal(err)
	}
	got := verifyDKIM(t, sendAll(t, s, srv, newMessage("b@example.org"))[0].Raw, records(t, []delivery.DKIMKey{{Domain: "example.com", Selector: "e2", Signer: k}}))
	if len(got) != 1 || got[0].algorithm != "ed25519-sha256" || got[0].selector != "e2" || got[0].err != nil {
		t.Errorf("after the swap: %+v, want one passing ed25519-sha256 signature by e2", got)
	}

	if err := s.SetDKIMKeys(nil); err != nil {
		t.Fatal(err)
	}
	if f := sendAll(t, s, srv, newMessage("c@example.org"))[0].Header.Get("DKIM-Signature"); f != "" {
		t.Errorf("with no keys: signed: %s", f)
	}
}

// TestSender_SetDKIMKeys_First: of two keys of one algorithm for a domain,
// the first given signs.
func TestSender_SetDKIMKeys_First(t *testing.T) {
	t.Parallel()
	srv := MustStart(t, devmail.Options{})
	s := MustSender(t, plainURL(srv))
	_, second, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys := []delivery.DKIMKey{
		{Domain: "example.com", Selector: "old", Signer: testEd25519Key()},
		{Domain: "example.com", Selector: "new", Signer: second},
	}
	if err := s.SetDKIMKeys(keys); err != nil {
		t.Fatal(err)
	}
	got := verifyDKIM(t, sendAll(t, s, srv, newMessage("a@example.org"))[0].Raw, records(t, keys))
	if len(got) != 1 || got[0].selector != "old" || got[0].err != nil {
		t.Errorf("got %+v, want one passing signature by the first key", got)
	}
}

// TestSender_SetDKIMKeys_Parallel: a group is signed on several goroutines,
// and every message in it gets its own valid signatures.
func TestSender_SetDKIMKeys_Parallel(t *testing.T) {
	t.Parallel()
	s, srv, recs := signingSender(t)
	msgs := make([]*delivery.Message, 24)
	for i := range msgs {
		msgs[i] = newMessage(fmt.Sprintf("r%d@example.org", i))
		msgs[i].Subject = fmt.Sprintf("Message %d", i)
		if i%3 == 0 {
			msgs[i].FromEmail = "news@example.net" // unsigned, between signed ones
		}
	}
	caught := sendAll(t, s, srv, msgs...)
	if len(caught) != len(msgs) {
		t.Fatalf("caught %d of %d", len(caught), len(msgs))
	}
	for i, c := range caught {
		if c.Subject != msgs[i].Subject {
			t.Fatalf("message %d: subject %q, want %q", i, c.Subject, msgs[i].Subject)
		}
		if i%3 == 0 {
			if c.Header.Get("DKIM-Signature") != "" {
				t.Errorf("message %d from example.net is signed", i)
			}
			continue
		}
		mustBeSigned(t, verifyDKIM(t, c.Raw, recs))
	}
}

// failingSigner is an Ed25519 public key whose private half always fails.
type failingSigner struct{ pub crypto.PublicKey }

func (f failingSigner) Public() crypto.PublicKey { return f.pub }
func (failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) (sig []byte, err error) {
	return nil, errors.New("the key is unavailable")
}

// TestSender_SetDKIMKeys_SignFailure: a message whose signature fails is a
// temporary failure and is not sent unsigned; the others in its group go.
func TestSender_SetDKIMKeys_SignFailure(t *testing.T) {
	t.Parallel()
	srv := MustStart(t, devmail.Options{})
	s := MustSender(t, plainURL(srv))
	keys := []delivery.DKIMKey{{Domain: "example.com", Selector: "bad", Signer: failingSigner{testEd25519Key().Public()}}}
	if err := s.SetDKIMKeys(keys); err != nil {
		t.Fatal(err)
	}
	other := newMessage("b@example.org")
	other.FromEmail = "news@example.net"
	rs := MustDial(t, s).SendAll(context.Background(), nil, []*delivery.Message{newMessage("a@example.org"), other})
	if rs[0].Status != delivery.TempFailure || rs[0].Err == nil || !strings.Contains(rs[0].Err.Error(), "unavailable") {
		t.Errorf("signed message: %+v, want a TempFailure saying why", rs[0])
	}
	if rs[1].Status != delivery.Sent {
		t.Errorf("unsigned message: %+v, want Sent", rs[1])
	}
	if got := caughtTo(srv); !slices.Equal(got, []string{"b@example.org"}) {
		t.Errorf("caught %q, want only b@example.org", got)
	}
}

// smallRSA is a 512-bit RSA public key, too short to sign with (RFC 8301).
type smallRSA struct{ failingSigner }

func (smallRSA) Public() crypto.PublicKey {
	return &rsa.PublicKey{N: new(big.Int).Lsh(big.NewInt(1), 511), E: 65537}
}

// TestSender_SetDKIMKeys_Refused: a key that cannot sign is refused with an
// error that names it, and the keys in force stay.
func TestSender_SetDKIMKeys_Refused(t *testing.T) {
	t.Parallel()
	s, srv, recs := signingSender(t)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []delivery.DKIMKey{
		{Domain: "", Selector: "s1", Signer: testEd25519Key()},
		{Domain: "example.com", Selector: "", Signer: testEd25519Key()},
		{Domain: "exa mple.com", Selector: "s1", Signer: testEd25519Key()},
		{Domain: "example.com", Selector: "s;1", Signer: testEd25519Key()},
		{Domain: "example.com", Selector: "s1"},
		{Domain: "example.com", Selector: "ecdsa", Signer: ec},
		{Domain: "example.com", Selector: "small", Signer: smallRSA{}},
	} {
		err := s.SetDKIMKeys([]delivery.DKIMKey{k})
		if err == nil {
			t.Errorf("SetDKIMKeys(%q, %q, %T) = nil, want an error", k.Domain, k.Selector, k.Signer)
		} else if !strings.Contains(err.Error(), k.Selector) {
			t.Errorf("SetDKIMKeys(%q, %q, %T) = %v, want it to name the selector", k.Domain, k.Selector, k.Signer, err)
		}
	}
	mustBeSigned(t, verifyDKIM(t, sendAll(t, s, srv, newMessage("a@example.org"))[0].Raw, recs))
}
