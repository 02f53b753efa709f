package delivery

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIMKey is a private key that signs the messages whose From address is at
// Domain (DKIM, RFC 6376). Its public key is published in DNS as a TXT record
// at Selector._domainkey.Domain.
type DKIMKey struct {
	Domain   string        // the signing domain (d=), compared with the From domain case-insensitively
	Selector string        // the selector (s=)
	Signer   crypto.Signer // an *rsa.PrivateKey (rsa-sha256) or an ed25519.PrivateKey (ed25519-sha256, RFC 8463)
}

// dkimSignedFields are the header fields a signature covers when a message
// has them (RFC 6376 section 5.4.1): those a reader sees, and those that
// act on the message (the MIME fields, List-Unsubscribe of RFC 8058, whose
// section 4 asks that it be signed). Received and other trace fields are
// left out: relays add them.
var dkimSignedFields = []string{
	"From", "To", "Subject", "Date", "Message-ID", "Reply-To",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "Feedback-ID",
}

// dkimSet is the keys in force: per lower-case domain, what signs for it.
type dkimSet map[string]*domainSigners

// domainSigners are the signatures one domain's messages get: rsa-sha256
// first, then ed25519-sha256 (RFC 8463 section 4 recommends both while
// verifiers learn Ed25519).
type domainSigners struct {
	opts []dkim.SignOptions
}

// SetDKIMKeys replaces the keys the Sender signs with. From then on every
// message whose From domain has a key is signed, with relaxed/relaxed
// canonicalisation: with its first RSA key (rsa-sha256) and, when it has
// one, with its first Ed25519 key too (ed25519-sha256), two DKIM-Signature
// fields. Further keys of the same algorithm for a domain are not used, so
// during a rotation the key that comes first (the one already published)
// goes on signing. A domain without a key is sent unsigned. nil or an empty
// list turns signing off.
//
// It may be called while messages are being sent, from any goroutine: a
// SendAll signs its messages with the set that was in force when it
// started. Its error names the first key that cannot sign (an empty domain
// or selector, a key that is neither RSA nor Ed25519, an RSA key shorter
// than 1024 bits, which RFC 8301 forbids); the keys in force are then
// unchanged.
func (s *Sender) SetDKIMKeys(keys []DKIMKey) error {
	set := dkimSet{}
	for _, k := range keys {
		domain := strings.ToLower(strings.TrimSpace(k.Domain))
		if domain == "" || k.Selector == "" || strings.ContainsAny(domain+k.Selector, " \t\r\n;=") {
			return fmt.Errorf("delivery: dkim key %q for %q: want a domain and a selector", k.Selector, k.Domain)
		}
		if k.Signer == nil {
			return fmt.Errorf("delivery: dkim key %s for %s: no signer", k.Selector, domain)
		}
		rsaKey := false
		switch pub := k.Signer.Public().(type) {
		case *rsa.PublicKey:
			if pub.Size()*8 < 1024 {
				return fmt.Errorf("delivery: dkim key %s for %s: %d-bit RSA, want at least 1024 (RFC 8301)", k.Selector, domain, pub.Size()*8)
			}
			rsaKey = true
		case ed25519.PublicKey:
		default:
			return fmt.Errorf("delivery: dkim key %s for %s: %T is neither RSA nor Ed25519", k.Selector, domain, pub)
		}
		d := set[domain]
		if d == nil {
			d = &domainSigners{}
			set[domain] = d
		}
		if d.has(rsaKey) {
			continue
		}
		opt := dkim.SignOptions{
			Domain:                 domain,
			Selector:               k.Selector,
			Signer:                 k.Signer,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		}
		if rsaKey {
			d.opts = append([]dkim.SignOptions{opt}, d.opts...)
		} else {
			d.opts = append(d.opts, opt)
		}
	}
	if len(set) == 0 {
		set = nil
	}
	s.dkim.Store(&set)
	return nil
}

// has reports whether d has a key of the kind (RSA or not).
func (d *domainSigners) has(rsaKey bool) bool {
	for _, o := range d.opts {
		if _, isRSA := o.Signer.Public().(*rsa.PublicKey); isRSA == rsaKey {
			return true
		}
	}
	return false
}

// signersFor returns what signs mail from the address from, or nil.
func (set dkimSet) signersFor(from string) *domainSigners {
	at := strings.LastIndexByte(from, '@')
	if at < 0 || len(set) == 0 {
		return nil
	}
	domain := from[at+1:]
	if d, ok := set[domain]; ok {
		return d
	}
	return set[strings.ToLower(domain)]
}

// signAll signs the composed messages of out whose From domain has keys, in
// place, and returns out without those that could not be signed, whose
// Result becomes a TempFailure (the signer may work later; sending them
// unsigned would tell receivers the domain does not sign). Each signature
// costs an RSA operation, far more than composing the message, so a group
// is signed on up to GOMAXPROCS goroutines: the relay then waits for the
// group about as long as for one message's signature times the group over
// the cores.
func (s *Sender) signAll(msgs []*Message, out []outgoing, rs []Result) []outgoing {
	set := s.dkim.Load()
	if set == nil || *set == nil || len(out) == 0 {
		return out
	}
	errs := make([]error, len(out))
	sign := func(i int) {
		o := &out[i]
		d := set.signersFor(msgs[o.index].FromEmail)
		if d == nil {
			return
		}
		data, err := d.sign(o.data)
		if err != nil {
			errs[i] = err
			return
		}
		o.data = data
	}
	workers := min(runtime.GOMAXPROCS(0), len(out))
	if workers <= 1 {
		for i := range out {
			sign(i)
		}
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for i := int(next.Add(1)) - 1; i < len(out); i = int(next.Add(1)) - 1 {
					sign(i)
				}
			})
		}
		wg.Wait()
	}
	kept := out[:0]
	for i, o := range out {
		if errs[i] != nil {
			rs[o.index] = Result{Status: TempFailure, Err: fmt.Errorf("delivery: dkim signature: %w", errs[i])}
			continue
		}
		kept = append(kept, o)
	}
	clear(out[len(kept):])
	return kept
}

// sign returns data, a message from compose, with d's DKIM-Signature fields
// before it, in a new buffer with compose's room after it for the dot and
// the next envelope. The fields keep compose's promises: CRLF line ends,
// 7-bit, and no line that starts with a dot (each folded line of a field
// starts with a space). go-msgauth folds each tag onto a line of its own
// when it is long; the longest, h=, lists the fields of dkimSignedFields at
// most, so no line comes near RFC 5322's 998 octets.
func (d *domainSigners) sign(data []byte) ([]byte, error) {
	keys := signedHeaderKeys(data)
	signers := make([]*dkim.Signer, 0, len(d.opts))
	writers := make([]io.Writer, 0, len(d.opts))
	defer func() {
		for _, s := range signers {
			_ = s.Close() // after an error: ends its goroutine
		}
	}()
	for _, opt := range d.opts {
		opt.HeaderKeys = keys
		s, err := dkim.NewSigner(&opt)
		if err != nil {
			return nil, err
		}
		signers = append(signers, s)
		writers = append(writers, s)
	}
	if _, err := io.MultiWriter(writers...).Write(data); err != nil {
		return nil, err
	}
	var fields []string
	n := 0
	for _, s := range signers {
		if err := s.Close(); err != nil {
			return nil, err
		}
		f := s.Signature()
		fields = append(fields, f)
		n += len(f)
	}
	signed := make([]byte, 0, n+len(data)+3+maxEnvelope)
	for _, f := range fields {
		signed = append(signed, f...)
	}
	return append(signed, data...), nil
}

// signedHeaderKeys returns the h= list of a message (RFC 6376 section
// 3.5): each field of dkimSignedFields as often as the header has it, and
// From once more than that. Naming a field once more than it occurs signs
// its absence (section 5.4.2), so no From can be added to the message
// without breaking the signature: a second From is how a forger would make
// a reader show another sender than the one signed.
func signedHeaderKeys(data []byte) []string {
	header := data
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		header = data[:i+2]
	}
	count := make([]int, len(dkimSignedFields))
	for len(header) > 0 {
		line := header
		if i := bytes.Index(header, []byte("\r\n")); i >= 0 {
			line, header = header[:i], header[i+2:]
		} else {
			header = nil
		}
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
			continue // a folded line of the field before
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		name = bytes.TrimRight(name, " \t")
		for i, f := range dkimSignedFields {
			if len(name) == len(f) && bytes.EqualFold(name, []byte(f)) {
				count[i]++
				break
			}
		}
	}
	keys := []string{"From"} // the oversigned From
	for i, f := range dkimSignedFields {
		for range count[i] {
			keys = append(keys, f)
		}
	}
	return keys
}
