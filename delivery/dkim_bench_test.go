package delivery

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"strings"
	"testing"
	"time"
)

// benchSigners returns what signs for example.com with key alone, and a
// composed newsletter-sized message from there (BenchmarkCompose's).
func benchSigners(b *testing.B, key crypto.Signer) (*domainSigners, []byte) {
	b.Helper()
	var s Sender
	if err := s.SetDKIMKeys([]DKIMKey{{Domain: "example.com", Selector: "bench", Signer: key}}); err != nil {
		b.Fatal(err)
	}
	html := strings.Repeat(`<p style="margin:0 0 16px">A paragraph of the week's notes, with a <a href="https://example.com/x?a=1&b=2">link</a>.</p>`+"\n", 80)
	text := strings.Repeat("A paragraph of the week's notes, with a link (https://example.com/x?a=1&b=2).\n\n", 60)
	m := &Message{FromName: "Weekly", FromEmail: "news@example.com", To: "ada@example.org", ToName: "Ada", Subject: "Notes for Ada", HTML: html, Text: text,
		Headers: map[string]string{"List-Unsubscribe": "<https://example.com/u/x>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}}
	data, _, _, err := compose(nil, m, time.Now(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	return (*s.dkim.Load())["example.com"], data
}

func benchRSAKey(b *testing.B) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	return k
}

// BenchmarkSign_RSA is the cost of one rsa-sha256 signature (RSA 2048) of
// a newsletter-sized message, on one core.
func BenchmarkSign_RSA(b *testing.B) {
	d, data := benchSigners(b, benchRSAKey(b))
	for b.Loop() {
		if _, err := d.sign(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign_Ed25519 is the cost of one ed25519-sha256 signature.
func BenchmarkSign_Ed25519(b *testing.B) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	d, data := benchSigners(b, k)
	for b.Loop() {
		if _, err := d.sign(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign_Parallel is rsa-sha256 signing on every core at once: the
// most messages a second that signing lets an instance send.
func BenchmarkSign_Parallel(b *testing.B) {
	d, data := benchSigners(b, benchRSAKey(b))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := d.sign(data); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSignAll is the signing of one SendAll group of 32 messages with
// an RSA and an Ed25519 key, as a Conn does it (over GOMAXPROCS
// goroutines); per message.
func BenchmarkSignAll(b *testing.B) {
	_, ek, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	var s Sender
	if err := s.SetDKIMKeys([]DKIMKey{{Domain: "example.com", Selector: "r", Signer: benchRSAKey(b)}, {Domain: "example.com", Selector: "e", Signer: ek}}); err != nil {
		b.Fatal(err)
	}
	_, data := benchSigners(b, ek)
	const group = 32
	msgs := make([]*Message, group)
	out := make([]outgoing, group)
	rs := make([]Result, group)
	for i := range msgs {
		msgs[i] = &Message{FromEmail: fmt.Sprintf("news%d@example.com", i)}
	}
	for b.Loop() {
		for i := range out {
			out[i] = outgoing{data: data, index: i}
		}
		if kept := s.signAll(msgs, out, rs); len(kept) != group {
			b.Fatalf("%d of %d signed", len(kept), group)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*group), "ns/msg")
}
