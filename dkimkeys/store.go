// Package dkimkeys keeps the DKIM signing keys of the From domains (RFC
// 6376; Ed25519 keys per RFC 8463): it makes them, stores their private
// halves sealed with AES-256-GCM under a key derived from TIDINGS_SECRET by
// HKDF-SHA256 (RFC 5869), gives the DNS TXT record to publish for each, and
// hands the keys that open to delivery for signing. It knows nothing of HTTP.
package dkimkeys

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/delivery"
)

// The algorithms of a key.
const (
	RSA     = "rsa"     // RSA 2048, signing rsa-sha256
	Ed25519 = "ed25519" // Ed25519, signing ed25519-sha256 (RFC 8463)
)

// rsaBits is the size of new RSA keys: RFC 8301 section 3.2 asks signers
// for at least 1024 bits and recommends 2048; 2048 still fits a TXT record
// in two strings, and some DNS hosts take no more.
const rsaBits = 2048

// Store keeps the DKIM keys in Postgres. It is safe for concurrent use.
type Store struct {
	DB  *sqlx.DB
	Now func() time.Time // the clock; nil means time.Now
	// Secret is TIDINGS_SECRET, at least 32 bytes. The private keys are
	// sealed under a key derived from it: with another secret they do not
	// open.
	Secret []byte
}

// Key is a stored key without its private half.
type Key struct {
	Domain    string    `db:"domain"`    // lower-case
	Selector  string    `db:"selector"`  // lower-case
	Algorithm string    `db:"algorithm"` // RSA or Ed25519
	PublicKey []byte    `db:"public_key"`
	CreatedAt time.Time `db:"created_at"`
}

// GenerateRequest says what key to make.
type GenerateRequest struct {
	Domain    string // the From domain it signs for, e.g. example.com
	Selector  string // empty: DefaultSelector of now and the algorithm
	Algorithm string // RSA or Ed25519; empty: RSA
}

func (s *Store) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// Generate makes a key, stores it, and returns it; its Record is what to
// publish in DNS before mail signed with it can pass. Returns EINVALID for a
// domain or selector that is not a DNS name, or an unknown algorithm, and
// ECONFLICT when the domain already has a key of that selector.
func (s *Store) Generate(ctx context.Context, req GenerateRequest) (Key, error) {
	domain, err := normalDomain(req.Domain)
	if err != nil {
		return Key{}, err
	}
	algorithm := req.Algorithm
	if algorithm == "" {
		algorithm = RSA
	}
	if algorithm != RSA && algorithm != Ed25519 {
		return Key{}, tidings.Errorf(tidings.EINVALID, "The algorithm %q is not %q or %q.", clip(algorithm), RSA, Ed25519)
	}
	now := s.now()
	selector := req.Selector
	if selector == "" {
		selector = DefaultSelector(now, algorithm)
	}
	if selector, err = normalSelector(selector); err != nil {
		return Key{}, err
	}
	if n := len(selector + "._domainkey." + domain); n > 253 {
		return Key{}, tidings.Errorf(tidings.EINVALID, "The record's name %s._domainkey.%s is %d long; DNS names end at 253.", selector, domain, n)
	}

	var signer crypto.Signer
	var public []byte
	if algorithm == RSA {
		k, err := rsa.GenerateKey(rand.Reader, rsaBits)
		if err != nil {
			return Key{}, fmt.Errorf("dkimkeys: generate: %w", err)
		}
		signer = k
		if public, err = x509.MarshalPKIXPublicKey(&k.PublicKey); err != nil {
			return Key{}, fmt.Errorf("dkimkeys: generate: %w", err)
		}
	} else {
		pub, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return Key{}, fmt.Errorf("dkimkeys: generate: %w", err)
		}
		signer, public = k, pub
	}
	der, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return Key{}, fmt.Errorf("dkimkeys: generate: %w", err)
	}
	sealed, err := s.seal(der, domain, selector)
	if err != nil {
		return Key{}, err
	}

	const q = `
INSERT INTO dkim_keys (domain, selector, algorithm, public_key, private_key, created_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (domain, selector) DO NOTHING
RETURNING domain, selector, algorithm, public_key, created_at`
	var k Key
	err = s.DB.GetContext(ctx, &k, q, domain, selector, algorithm, public, sealed, now)
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, tidings.Errorf(tidings.ECONFLICT, "%s already has a key with the selector %s.", domain, selector)
	}
	if err != nil {
		return Key{}, fmt.Errorf("dkimkeys: generate %s %s: %w", domain, selector, err)
	}
	return k, nil
}

// List returns every key, by domain and then oldest first.
func (s *Store) List(ctx context.Context) ([]Key, error) {
	const q = `
SELECT domain, selector, algorithm, public_key, created_at
FROM dkim_keys
ORDER BY domain, created_at, selector`
	keys := []Key{}
	if err := s.DB.SelectContext(ctx, &keys, q); err != nil {
		return nil, fmt.Errorf("dkimkeys: list: %w", err)
	}
	return keys, nil
}

// ByDomain returns the keys of a domain (compared without case), oldest
// first; none is an empty list, not an error: the domain's mail goes
// unsigned.
func (s *Store) ByDomain(ctx context.Context, domain string) ([]Key, error) {
	const q = `
SELECT domain, selector, algorithm, public_key, created_at
FROM dkim_keys
WHERE domain = lower($1)
ORDER BY created_at, selector`
	keys := []Key{}
	if err := s.DB.SelectContext(ctx, &keys, q, domain); err != nil {
		return nil, fmt.Errorf("dkimkeys: keys of %s: %w", domain, err)
	}
	return keys, nil
}

// Remove deletes a key: mail from its domain is no longer signed with it
// once the senders reload their keys. Its DNS record may then go. Returns
// ENOTFOUND when there is no such key.
func (s *Store) Remove(ctx context.Context, domain, selector string) error {
	const q = `
DELETE FROM dkim_keys
WHERE domain = lower($1)
AND selector = lower($2)`
	res, err := s.DB.ExecContext(ctx, q, domain, selector)
	if err != nil {
		return fmt.Errorf("dkimkeys: remove %s %s: %w", domain, selector, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("dkimkeys: remove %s %s: %w", domain, selector, err)
	} else if n == 0 {
		return tidings.Errorf(tidings.ENOTFOUND, "There is no key %s for %s.", clip(selector), clip(domain))
	}
	return nil
}

// Unreadable is a stored key that cannot sign, and why: most often it was
// sealed under another TIDINGS_SECRET.
type Unreadable struct {
	Key Key
	Err error
}

// Signers returns the keys that sign, oldest first, for
// delivery.Sender.SetDKIMKeys (of two keys of one algorithm for a domain,
// the older one signs, so a new key is not used before the old one is
// removed). A key that does not open is left out and reported in
// unreadable, so one bad row does not stop the others from signing. The
// error is the database's.
func (s *Store) Signers(ctx context.Context) (keys []delivery.DKIMKey, unreadable []Unreadable, err error) {
	const q = `
SELECT domain, selector, algorithm, public_key, private_key, created_at
FROM dkim_keys
ORDER BY created_at, domain, selector`
	var rows []struct {
		Key
		PrivateKey []byte `db:"private_key"`
	}
	if err := s.DB.SelectContext(ctx, &rows, q); err != nil {
		return nil, nil, fmt.Errorf("dkimkeys: signers: %w", err)
	}
	for _, r := range rows {
		signer, err := s.signer(r.Key, r.PrivateKey)
		if err != nil {
			unreadable = append(unreadable, Unreadable{Key: r.Key, Err: err})
			continue
		}
		keys = append(keys, delivery.DKIMKey{Domain: r.Domain, Selector: r.Selector, Signer: signer})
	}
	return keys, unreadable, nil
}

// signer opens the sealed private key of k.
func (s *Store) signer(k Key, sealed []byte) (crypto.Signer, error) {
	der, err := s.open(sealed, k.Domain, k.Selector)
	if err != nil {
		return nil, err
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("dkimkeys: private key of %s %s: %w", k.Domain, k.Selector, err)
	}
	switch priv := priv.(type) {
	case *rsa.PrivateKey:
		if k.Algorithm == RSA {
			return priv, nil
		}
	case ed25519.PrivateKey:
		if k.Algorithm == Ed25519 {
			return priv, nil
		}
	}
	return nil, fmt.Errorf("dkimkeys: private key of %s %s is a %T, not %s", k.Domain, k.Selector, priv, k.Algorithm)
}
