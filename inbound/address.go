package inbound

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"strings"
)

// AddressKind is what an address of the bounce domain is for; it is the
// first letter of the address.
type AddressKind byte

// The kinds of address.
const (
	// BounceAddress is a message's envelope sender (VERP): it names the
	// outbox item, so a bounce says which message to whom failed.
	BounceAddress AddressKind = 'b'
	// UnsubscribeAddress is the mailto of List-Unsubscribe (RFC 2369): it
	// names the subscription.
	UnsubscribeAddress AddressKind = 'u'
	// ReplyAddress is a message's Reply-To when a list collects replies: it
	// names the outbox item answered.
	ReplyAddress AddressKind = 'r'
)

// Address is a verified address of the bounce domain: its kind and the id it
// names (an outbox item, or for UnsubscribeAddress a subscription).
type Address struct {
	Kind AddressKind
	ID   int64
}

// ErrAddress is returned for an address that is not one Addresses made: of
// another domain, of no known kind, or with a token that does not verify.
var ErrAddress = errors.New("inbound: not an address of the bounce domain")

// Addresses makes and verifies the addresses of the bounce domain,
// "<kind>-<token>@<domain>". The token is the kind, the id and a 56-bit MAC
// of both, in one AES block (16 bytes) in lower-case base32 (26
// characters). So the local part is 28 characters (RFC 5321 allows 64), it
// survives a server that lower-cases addresses, it cannot be forged or
// turned into another kind or id without the secret, and, being encrypted,
// it does not tell how many messages were sent. Addresses is safe for
// concurrent use.
type Addresses struct {
	domain string
	block  cipher.Block
	mac    []byte
}

// addressKeyInfo separates the keys derived here from anything else the same
// secret keys.
const addressKeyInfo = "tidings/inbound/address"

// b32 is lower-case base32 without padding: letters and digits only.
var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewAddresses returns the Addresses of domain keyed from secret (at least
// 32 bytes; TIDINGS_SECRET).
func NewAddresses(secret []byte, domain string) (*Addresses, error) {
	domain = strings.ToLower(strings.TrimSpace(domain))
	if domain == "" || strings.ContainsAny(domain, "@ <>") {
		return nil, errors.New("inbound: a bounce domain like bounces.example.com is needed")
	}
	if len(secret) < 32 {
		return nil, errors.New("inbound: the secret must be at least 32 bytes")
	}
	keys, err := hkdf.Key(sha256.New, secret, nil, addressKeyInfo, 16+32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(keys[:16])
	if err != nil {
		return nil, err
	}
	return &Addresses{domain: domain, block: block, mac: keys[16:]}, nil
}

// Domain returns the bounce domain, lower-cased.
func (a *Addresses) Domain() string { return a.domain }

// Bounce returns the envelope sender of outbox item id.
func (a *Addresses) Bounce(id int64) string { return a.make(BounceAddress, id) }

// Unsubscribe returns the mailto unsubscribe address of subscription id.
func (a *Addresses) Unsubscribe(id int64) string { return a.make(UnsubscribeAddress, id) }

// Reply returns the reply address of outbox item id.
func (a *Addresses) Reply(id int64) string { return a.make(ReplyAddress, id) }

func (a *Addresses) make(kind AddressKind, id int64) string {
	var plain, sealed [aes.BlockSize]byte
	plain[0] = byte(kind)
	binary.BigEndian.PutUint64(plain[1:9], uint64(id))
	copy(plain[9:], a.tag(plain[:9]))
	a.block.Encrypt(sealed[:], plain[:])
	return string(kind) + "-" + b32.EncodeToString(sealed[:]) + "@" + a.domain
}

// tag is the MAC of the kind and id, truncated to the rest of the block.
func (a *Addresses) tag(kindAndID []byte) []byte {
	m := hmac.New(sha256.New, a.mac)
	m.Write(kindAndID)
	return m.Sum(nil)[:aes.BlockSize-9]
}

// tokenLen is the length of the base32 of one AES block.
var tokenLen = b32.EncodedLen(aes.BlockSize)

// Parse verifies addr, an address of the bounce domain in any case, and
// returns what it names. Its error is ErrAddress for any address Addresses
// did not make.
func (a *Addresses) Parse(addr string) (Address, error) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || addr[at+1:] != a.domain {
		return Address{}, ErrAddress
	}
	local := addr[:at]
	if len(local) != 2+tokenLen || local[1] != '-' {
		return Address{}, ErrAddress
	}
	kind := AddressKind(local[0])
	switch kind {
	case BounceAddress, UnsubscribeAddress, ReplyAddress:
	default:
		return Address{}, ErrAddress
	}
	var sealed, plain [aes.BlockSize]byte
	// The last character holds two bits past the block; only the spelling
	// make writes, with them zero, is taken, so each address has one.
	if n, err := b32.Decode(sealed[:], []byte(local[2:])); err != nil || n != aes.BlockSize || b32.EncodeToString(sealed[:]) != local[2:] {
		return Address{}, ErrAddress
	}
	a.block.Decrypt(plain[:], sealed[:])
	if AddressKind(plain[0]) != kind || !hmac.Equal(plain[9:], a.tag(plain[:9])) {
		return Address{}, ErrAddress
	}
	id := int64(binary.BigEndian.Uint64(plain[1:9]))
	if id <= 0 {
		return Address{}, ErrAddress
	}
	return Address{Kind: kind, ID: id}, nil
}
