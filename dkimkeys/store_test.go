package dkimkeys_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/dkimkeys"
	"github.com/tidings/tidings/internal/pgtest"
)

const secret = "0123456789abcdef0123456789abcdef-test"

var day = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

// MustOpenStore returns a store on a new database whose clock stands at day.
func MustOpenStore(tb testing.TB) *dkimkeys.Store {
	tb.Helper()
	return &dkimkeys.Store{DB: pgtest.MustOpenDB(tb), Now: func() time.Time { return day }, Secret: []byte(secret)}
}

// MustGenerate makes a key or fails the test.
func MustGenerate(tb testing.TB, s *dkimkeys.Store, req dkimkeys.GenerateRequest) dkimkeys.Key {
	tb.Helper()
	k, err := s.Generate(tb.Context(), req)
	if err != nil {
		tb.Fatalf("Generate(%+v): %v", req, err)
	}
	return k
}

// wantCode fails unless err has the code.
func wantCode(tb testing.TB, what string, err error, code string) {
	tb.Helper()
	if got := tidings.ErrorCode(err); got != code {
		tb.Fatalf("%s: code %q (%v), want %q", what, got, err, code)
	}
}

func TestStore_Generate(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t)
	ctx := t.Context()

	t.Run("RSA", func(t *testing.T) {
		k := MustGenerate(t, s, dkimkeys.GenerateRequest{Domain: " News.Example.COM. "})
		if k.Domain != "news.example.com" || k.Selector != "tidings-202612-rsa" || k.Algorithm != "rsa" || !k.CreatedAt.Equal(day) {
			t.Fatalf("generated %+v", k)
		}
		pub, err := x509.ParsePKIXPublicKey(k.PublicKey)
		if rsaPub, ok := pub.(*rsa.PublicKey); err != nil || !ok || rsaPub.Size()*8 != 2048 {
			t.Fatalf("public key %T %v, want RSA 2048", pub, err)
		}
		r := k.Record()
		if r.Name != "tidings-202612-rsa._domainkey.news.example.com" || r.Value != "v=DKIM1; k=rsa; p="+base64.StdEncoding.EncodeToString(k.PublicKey) {
			t.Errorf("record %+v", r)
		}
	})
	t.Run("Ed25519", func(t *testing.T) {
		k := MustGenerate(t, s, dkimkeys.GenerateRequest{Domain: "example.com", Selector: "Mail2", Algorithm: "ed25519"})
		if k.Selector != "mail2" || k.Algorithm != "ed25519" || len(k.PublicKey) != ed25519.PublicKeySize {
			t.Fatalf("generated %+v", k)
		}
		if got, want := k.Record().Value, "v=DKIM1; k=ed25519; p="+base64.StdEncoding.EncodeToString(k.PublicKey); got != want {
			t.Errorf("record value %q, want %q", got, want)
		}
		if d := MustGenerate(t, s, dkimkeys.GenerateRequest{Domain: "example.com", Algorithm: "ed25519"}); d.Selector != "tidings-202612-ed25519" {
			t.Errorf("default selector %q", d.Selector)
		}
	})
	t.Run("ErrConflict", func(t *testing.T) {
		MustGenerate(t, s, dkimkeys.GenerateRequest{Domain: "twice.example", Selector: "s1", Algorithm: "ed25519"})
		_, err := s.Generate(ctx, dkimkeys.GenerateRequest{Domain: "TWICE.example", Selector: "S1", Algorithm: "ed25519"})
		wantCode(t, "Generate twice", err, tidings.ECONFLICT)
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		before, _ := s.List(ctx)
		for _, req := range []dkimkeys.GenerateRequest{
			{Domain: ""},
			{Domain: "localhost"},
			{Domain: "exa mple.com"},
			{Domain: "-example.com"},
			{Domain: "example-.com"},
			{Domain: "ex..ample.com"},
			{Domain: "news@example.com"},
			{Domain: "bücher.example"},
			{Domain: "_dmarc.example.com"},
			{Domain: strings.Repeat("a", 64) + ".com"},
			{Domain: strings.Repeat("abcdefghi.", 26) + "com"},
			{Domain: "example.com", Selector: "two words"},
			{Domain: "example.com", Selector: "sel;ector"},
			{Domain: "example.com", Selector: "-s"},
			{Domain: "example.com", Selector: "a..b"},
			{Domain: "example.com", Selector: strings.Repeat("s", 64)},
			{Domain: "example.com", Selector: "ünï"},
			{Domain: strings.Repeat("abcdefghi.", 20) + "com", Selector: strings.Repeat("s", 63)},
			{Domain: "example.com", Algorithm: "dsa"},
			{Domain: "example.com", Algorithm: "RSA"},
			{Domain: "example.com", Algorithm: "ed448"},
		} {
			_, err := s.Generate(ctx, req)
			wantCode(t, "Generate("+req.Domain+", "+req.Selector+", "+req.Algorithm+")", err, tidings.EINVALID)
			if msg := tidings.ErrorMessage(err); msg == "" || msg == "Something went wrong." {
				t.Errorf("Generate(%q, %q, %q): message %q", req.Domain, req.Selector, req.Algorithm, msg)
			}
		}
		after, _ := s.List(ctx)
		if len(after) != len(before) {
			t.Fatalf("%d keys after refused requests, want %d", len(after), len(before))
		}
	})
}

func TestStore_List(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t)
	ctx := t.Context()
	MustGenerate(t, s, dkimkeys.GenerateRequest{Domain: "b.example", Selector: "x", Algorithm: "ed25519"})
	MustGenerate(t, s, dkimkeys.GenerateRequest{Domain: "a.example", Selector: "y", Algorithm: "ed25519"})
	s.Now = func() time.Time { return day.Add(time.Hour) }
	MustGenerate(t, s, dkimkeys.GenerateRequest{Domain: "a.example", Selector: "a", Algorithm: "ed25519"})
	keys, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range keys {
		got = append(got, k.Domain+"/"+k.Selector)
	}
	if want := "a.example/y a.example/a b.example/x"; strings.Join(got, " ") != want {
		t.Errorf("List = %q, want %q", got, want)
	}
	byDomain, err := s.ByDomain(ctx, "A.Example")
	if err != nil || len(byDomain) != 2 || byDomain[0].Selector != "y" {
		t.Errorf("ByDomain(A.Example) = %+v, %v; want y then a", byDomain, err)
	}
	if none, err := s.ByDomain(ctx, "c.example"); err != nil || len(none) != 0 {
		t.Errorf("ByDomain(c.example) = %+v, %v; want none", none, err)
	}
}

func TestStore_Remove(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t)
	ctx := t.Context()
	MustGenerate(t, s, dkimkeys.GenerateRequest{Domain: "example.com", Selector: "s1", Algorithm: "ed25519"})
	MustGenerate(t, s, dkimkeys.GenerateRequest{Domain: "example.com", Selector: "s2", Algorithm: "ed25519"})
	if err := s.Remove(ctx, "EXAMPLE.com", "S1"); err != nil {
		t.Fatal(err)
	}
	keys, _ := s.List(ctx)
	if len(keys) != 1 || keys[0].Selector != "s2" {
		t.Fatalf("after Remove: %+v", keys)
	}
	for _, k := range [][2]string{{"example.com", "s1"}, {"example.org", "s2"}, {"", ""}} {
		wantCode(t, "Remove("+k[0]+", "+k[1]+")", s.Remove(ctx, k[0], k[1]), tidings.ENOTFOUND)
	}
}

// TestStore_Signers: the stored keys come back as signers whose public
// halves are the published ones; under another secret none opens, and each
// is reported instead.
func TestStore_Signers(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t)
	ctx := t.Context()
	rk := MustGenerate(t, s, dkimkeys.GenerateRequest{Domain: "example.com", Selector: "r"})
	ek := MustGenerate(t, s, dkimkeys.GenerateRequest{Domain: "example.com", Selector: "e", Algorithm: "ed25519"})

	keys, unreadable, err := s.Signers(ctx)
	if err != nil || len(unreadable) != 0 || len(keys) != 2 {
		t.Fatalf("Signers = %d keys, %v unreadable, %v", len(keys), unreadable, err)
	}
	for i, want := range []dkimkeys.Key{ek, rk} { // same time: by selector
		k := keys[i]
		if k.Domain != want.Domain || k.Selector != want.Selector {
			t.Fatalf("signer %d is %s %s, want %s %s", i, k.Domain, k.Selector, want.Domain, want.Selector)
		}
		var pub []byte
		switch p := k.Signer.Public().(type) {
		case *rsa.PublicKey:
			pub, _ = x509.MarshalPKIXPublicKey(p)
		case ed25519.PublicKey:
			pub = p
		}
		if !bytes.Equal(pub, want.PublicKey) {
			t.Errorf("signer %s: its public key is not the published one", k.Selector)
		}
	}

	other := &dkimkeys.Store{DB: s.DB, Now: s.Now, Secret: []byte("another secret of at least 32 bytes!")}
	keys, unreadable, err = other.Signers(ctx)
	if err != nil || len(keys) != 0 || len(unreadable) != 2 {
		t.Fatalf("under another secret: %d keys, %d unreadable, %v; want 0 and 2", len(keys), len(unreadable), err)
	}
	if msg := unreadable[0].Err.Error(); !strings.Contains(msg, "TIDINGS_SECRET") {
		t.Errorf("unreadable: %q, want it to name TIDINGS_SECRET", msg)
	}

	// A sealed key copied to another row does not open there: the row is
	// the additional data.
	if _, err := s.DB.ExecContext(ctx, `UPDATE dkim_keys SET private_key = (SELECT private_key FROM dkim_keys WHERE selector = 'e') WHERE selector = 'r'`); err != nil {
		t.Fatal(err)
	}
	keys, unreadable, err = s.Signers(ctx)
	if err != nil || len(keys) != 1 || keys[0].Selector != "e" || len(unreadable) != 1 || unreadable[0].Key.Selector != "r" {
		t.Fatalf("with r holding e's sealed key: %d keys, %+v unreadable, %v", len(keys), unreadable, err)
	}

	noSecret := &dkimkeys.Store{DB: s.DB}
	if _, err := noSecret.Generate(ctx, dkimkeys.GenerateRequest{Domain: "example.net", Algorithm: "ed25519"}); err == nil {
		t.Error("Generate without a secret: no error")
	}
}

// TestStore_Generate_Sealed: the private key column holds neither the
// PKCS #8 key nor any long run of it.
func TestStore_Generate_Sealed(t *testing.T) {
	t.Parallel()
	s := MustOpenStore(t)
	ctx := t.Context()
	MustGenerate(t, s, dkimkeys.GenerateRequest{Domain: "example.com", Selector: "e", Algorithm: "ed25519"})
	keys, _, err := s.Signers(ctx)
	if err != nil || len(keys) != 1 {
		t.Fatal(keys, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(keys[0].Signer)
	if err != nil {
		t.Fatal(err)
	}
	seed := keys[0].Signer.(ed25519.PrivateKey).Seed()
	var stored []byte
	if err := s.DB.GetContext(ctx, &stored, `SELECT private_key FROM dkim_keys WHERE selector = 'e'`); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored, der) || bytes.Contains(stored, seed[:16]) || bytes.Contains(stored, seed[16:]) {
		t.Fatalf("the stored private key %x holds the key in the clear", stored)
	}
	if len(stored) < len(der)+12+16 {
		t.Fatalf("stored %d bytes, want a nonce, the sealed %d and a tag", len(stored), len(der))
	}
}

func TestRecord_Quoted(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 254, 255, 256, 410, 765} {
		r := dkimkeys.Record{Value: strings.Repeat("p", n)}
		q := r.Quoted()
		parts := strings.Split(q, " ")
		var joined string
		for _, p := range parts {
			inner, ok := strings.CutPrefix(p, `"`)
			if inner, ok = strings.CutSuffix(inner, `"`); !ok || len(inner) > 255 || inner == "" {
				t.Fatalf("value of %d: part %q is not a quoted string of 1 to 255", n, p)
			}
			joined += inner
		}
		if joined != r.Value || len(parts) != (n+254)/255 {
			t.Errorf("value of %d: %d parts joining to %d", n, len(parts), len(joined))
		}
	}
}
