package dkimkeys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
)

// sealInfo is the HKDF info of the key that seals private keys: a purpose of
// its own, so the key is unrelated to every other key Tidings derives from
// TIDINGS_SECRET (RFC 5869 section 3.2).
const sealInfo = "tidings dkim private keys v1"

// errSecret is returned when the Store has no usable secret.
var errSecret = errors.New("dkimkeys: the secret (TIDINGS_SECRET) must be at least 32 bytes")

// aead returns the AES-256-GCM cipher of the store's secret.
func (s *Store) aead() (cipher.AEAD, error) {
	if len(s.Secret) < 32 {
		return nil, errSecret
	}
	key, err := hkdf.Key(sha256.New, s.Secret, nil, sealInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// additionalData binds a sealed key to its row: the NUL cannot occur in a
// domain or a selector, so no two rows share it.
func additionalData(domain, selector string) []byte {
	return []byte(domain + "\x00" + selector)
}

// seal encrypts a private key for the row of domain and selector: a random
// nonce, then the ciphertext and its tag. A random 96-bit nonce is safe for
// far more keys than a store will ever hold (NIST SP 800-38D section 8.3).
func (s *Store) seal(plain []byte, domain, selector string) ([]byte, error) {
	aead, err := s.aead()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	_, _ = rand.Read(nonce) // never fails: crypto/rand crashes the program instead
	return aead.Seal(nonce, nonce, plain, additionalData(domain, selector)), nil
}

// open decrypts what seal made for the same row under the same secret.
func (s *Store) open(sealed []byte, domain, selector string) ([]byte, error) {
	aead, err := s.aead()
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("dkimkeys: sealed key too short")
	}
	nonce, box := sealed[:aead.NonceSize()], sealed[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, box, additionalData(domain, selector))
	if err != nil {
		return nil, errors.New("dkimkeys: the private key does not open with this secret (was TIDINGS_SECRET changed?)")
	}
	return plain, nil
}
