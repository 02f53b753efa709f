package dkimkeys

import (
	"encoding/base64"
	"strings"
)

// Record is the DNS TXT record that publishes a key (RFC 6376 section
// 3.6.2.1).
type Record struct {
	Name  string // selector._domainkey.domain
	Value string // v=DKIM1; k=rsa|ed25519; p=BASE64
}

// Record returns the TXT record to publish for k: for RSA the
// SubjectPublicKeyInfo in p= (RFC 6376 section 3.6.1), for Ed25519 the 32
// bytes of the key with k=ed25519 (RFC 8463 section 4).
func (k Key) Record() Record {
	return Record{
		Name:  k.Selector + "._domainkey." + k.Domain,
		Value: "v=DKIM1; k=" + k.Algorithm + "; p=" + base64.StdEncoding.EncodeToString(k.PublicKey),
	}
}

// maxString is the longest character-string of a TXT record (RFC 1035
// section 3.3): an RSA 2048 record is longer, so it is given as several,
// which verifiers join (RFC 6376 section 3.6.2.2).
const maxString = 255

// Quoted returns the value as a zone file writes it: quoted strings of at
// most 255 characters, separated by spaces. The value holds no quote or
// backslash, so nothing needs escaping.
func (r Record) Quoted() string {
	var b strings.Builder
	for v := r.Value; v != ""; {
		n := min(len(v), maxString)
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(`"` + v[:n] + `"`)
		v = v[n:]
	}
	return b.String()
}
