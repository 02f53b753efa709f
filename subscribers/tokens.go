package subscribers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidings/tidings"
)

// Token purposes. A token signed for one purpose is refused for every other.
const (
	PurposeConfirm     = "confirm"
	PurposeUnsubscribe = "unsubscribe"
	PurposePreferences = "preferences"
)

// tokenVersion is the first field of every payload, so the format can change
// later without old links being read the wrong way. Version 1 has four
// fields; version 2 adds a fifth, the generation of a confirmation (at least
// 1: generation 0 is written as version 1, so each token has one spelling).
const (
	tokenVersion    = "1"
	tokenVersionGen = "2"
)

// tokenDomain separates the MACs of link tokens from anything else the same
// secret signs (session cookies, for example).
const tokenDomain = "tidings/subscribers/token\x00"

// maxTokenLen bounds the work done on a token from a URL before it is refused.
const maxTokenLen = 256

// Tokens signs and verifies the credentials in emailed links.
//
// A token is base64url(payload) "." base64url(HMAC-SHA256(secret, payload)),
// where the payload names the format version, the purpose, the subscription id
// and the expiry (Unix seconds, 0 for never), and for a confirmation after the
// first, its generation. The MAC covers all of them, so a
// token cannot be turned into one for another subscription, another purpose or
// a later expiry without the secret. Tokens is safe for concurrent use.
type Tokens struct {
	// Secret is the HMAC key. It must not be empty; cmd/tidings requires at
	// least 32 characters. It must not change once Tokens is in use.
	Secret []byte

	macs sync.Pool // HMACs keyed with Secret, for reuse: a sender signs two links per message
}

// Sign returns a token for purpose on the subscription, valid until expires
// (the zero time: never). It panics if the secret is empty, because a token
// signed with an empty key could be forged by anyone.
func (t *Tokens) Sign(purpose string, subscriptionID int64, expires time.Time) string {
	return t.sign(purpose, subscriptionID, 0, expires)
}

// SignConfirm returns a confirmation token for the subscription's
// confirmation request of the given generation (see Store.Confirm), valid
// until expires. It panics as Sign does.
func (t *Tokens) SignConfirm(subscriptionID int64, generation int, expires time.Time) string {
	return t.sign(PurposeConfirm, subscriptionID, generation, expires)
}

func (t *Tokens) sign(purpose string, subscriptionID int64, generation int, expires time.Time) string {
	if t == nil || len(t.Secret) == 0 {
		panic("subscribers: Tokens.Secret is empty")
	}
	var exp int64
	if !expires.IsZero() {
		exp = expires.Unix()
		if exp == 0 {
			exp = -1 // 0 means never; the epoch itself is long past anyway
		}
	}
	payload := tokenVersion + "|" + purpose + "|" + strconv.FormatInt(subscriptionID, 10) + "|" + strconv.FormatInt(exp, 10)
	if generation > 0 {
		payload = tokenVersionGen + "|" + purpose + "|" + strconv.FormatInt(subscriptionID, 10) + "|" + strconv.FormatInt(exp, 10) + "|" + strconv.Itoa(generation)
	}
	p := base64.RawURLEncoding.EncodeToString([]byte(payload))
	return p + "." + base64.RawURLEncoding.EncodeToString(t.mac(p))
}

// Verify checks token for purpose at time now and returns the subscription id
// it was signed for. It returns EINVALID for a malformed or forged token or one
// signed for another purpose, and EEXPIRED for a genuine token past its expiry.
func (t *Tokens) Verify(purpose, token string, now time.Time) (int64, error) {
	id, _, err := t.verify(purpose, token, now)
	return id, err
}

// VerifyConfirm is Verify for a confirmation token; it also returns the
// generation of the confirmation request the token was signed for.
func (t *Tokens) VerifyConfirm(token string, now time.Time) (id int64, generation int, err error) {
	return t.verify(PurposeConfirm, token, now)
}

func (t *Tokens) verify(purpose, token string, now time.Time) (int64, int, error) {
	if t == nil || len(t.Secret) == 0 {
		return 0, 0, errors.New("subscribers: Tokens.Secret is empty")
	}
	invalid := tidings.Errorf(tidings.EINVALID, "This link is not valid.")
	if token == "" || len(token) > maxTokenLen || !tokenAlphabet(token) {
		return 0, 0, invalid
	}
	p, m, ok := strings.Cut(token, ".")
	if !ok {
		return 0, 0, invalid
	}
	// Strict decoding refuses non-canonical trailing bits; with the alphabet
	// checked above (the decoder itself skips CR and LF), each token has
	// exactly one spelling.
	got, err := base64.RawURLEncoding.Strict().DecodeString(m)
	if err != nil {
		return 0, 0, invalid
	}
	// hmac.Equal compares in constant time: the time taken does not tell an
	// attacker how many leading bytes of a guess were right.
	if !hmac.Equal(got, t.mac(p)) {
		return 0, 0, invalid
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(p)
	if err != nil {
		return 0, 0, invalid
	}
	f := strings.Split(string(raw), "|")
	generation := 0
	switch {
	case len(f) == 4 && f[0] == tokenVersion:
	case len(f) == 5 && f[0] == tokenVersionGen:
		g, err := strconv.Atoi(f[4])
		if err != nil || g <= 0 || strconv.Itoa(g) != f[4] {
			return 0, 0, invalid
		}
		generation = g
	default:
		return 0, 0, invalid
	}
	if f[1] != purpose {
		return 0, 0, invalid
	}
	// Each number in the one spelling Sign writes ("42", not "+42" or
	// "042"), so a payload has one form as the token has.
	id, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != f[2] {
		return 0, 0, invalid
	}
	exp, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil || strconv.FormatInt(exp, 10) != f[3] {
		return 0, 0, invalid
	}
	if exp != 0 && now.Unix() >= exp {
		return 0, 0, tidings.Errorf(tidings.EEXPIRED, "This link has expired.")
	}
	return id, generation, nil
}

// tokenAlphabet reports whether s holds only the characters of a token: the
// base64url alphabet (RFC 4648 section 5, without padding) and the one dot
// between payload and MAC. Go's decoders ignore CR and LF, so without this a
// token would verify with line breaks inside.
func tokenAlphabet(s string) bool {
	dots := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return dots == 1
}

// mac is the HMAC of the encoded payload, under the token domain.
func (t *Tokens) mac(encodedPayload string) []byte {
	h, ok := t.macs.Get().(hash.Hash)
	if ok {
		h.Reset()
	} else {
		h = hmac.New(sha256.New, t.Secret)
	}
	h.Write([]byte(tokenDomain))
	h.Write([]byte(encodedPayload))
	sum := h.Sum(nil)
	t.macs.Put(h)
	return sum
}

// DefaultConfirmTTL is how long a confirmation link works when Links.ConfirmTTL is zero.
const DefaultConfirmTTL = 7 * 24 * time.Hour

// LinkPaths are the path templates of the pages that emailed links open,
// each holding "{token}" where the token goes, for example "/confirm/{token}".
// They come from the web's route table (cmd/tidings wires them), so a path is
// written in one place only.
type LinkPaths struct {
	Confirm     string // the double opt-in page
	Unsubscribe string // the unsubscribe page and RFC 8058 one-click POST
	Preferences string // the preferences page; its links carry an unsubscribe token
}

// Links builds the absolute URLs put in emails: BaseURL followed by a page's
// path with a token bound to one subscription.
type Links struct {
	BaseURL    string        // e.g. "https://news.example.com"; a trailing slash is ignored
	Paths      LinkPaths     // where each link leads; every one must be set
	Tokens     *Tokens       // signs the tokens
	ConfirmTTL time.Duration // lifetime of a confirmation link; 0 means DefaultConfirmTTL (7 days)
	Now        func() time.Time
}

// Confirm returns BASE/confirm/TOKEN for the first confirmation request of
// a subscription (generation 0); it expires after ConfirmTTL. It is
// ConfirmGeneration(subscriptionID, 0).
func (l *Links) Confirm(subscriptionID int64) string {
	return l.ConfirmGeneration(subscriptionID, 0)
}

// ConfirmGeneration returns BASE/confirm/TOKEN for the confirmation request
// of the given generation (the subscription's confirm_generation when the
// email is sent); it expires after ConfirmTTL. Each new confirmation request
// makes the links of earlier generations stale (Store.Confirm refuses them).
func (l *Links) ConfirmGeneration(subscriptionID int64, generation int) string {
	ttl := l.ConfirmTTL
	if ttl <= 0 {
		ttl = DefaultConfirmTTL
	}
	return l.url(l.Paths.Confirm, "Confirm", l.Tokens.SignConfirm(subscriptionID, generation, l.now().Add(ttl)))
}

// Unsubscribe returns the unsubscribe link (BASE/unsubscribe/TOKEN), for the
// footer and the List-Unsubscribe header (RFC 8058). It never expires: an
// unsubscribe link in an old email must keep working.
func (l *Links) Unsubscribe(subscriptionID int64) string {
	return l.url(l.Paths.Unsubscribe, "Unsubscribe", l.Tokens.Sign(PurposeUnsubscribe, subscriptionID, time.Time{}))
}

// Preferences returns the link to the subscriber's preferences. Until there is
// a preferences page, Paths.Preferences is the unsubscribe page (with its one
// button), so the link carries an unsubscribe token that never expires.
func (l *Links) Preferences(subscriptionID int64) string {
	return l.url(l.Paths.Preferences, "Preferences", l.Tokens.Sign(PurposeUnsubscribe, subscriptionID, time.Time{}))
}

// url fills path's "{token}". It panics when the path is not set, because a
// message with a link that leads nowhere must not be sent.
func (l *Links) url(path, field, token string) string {
	if !strings.Contains(path, "{token}") {
		panic("subscribers: Links.Paths." + field + " has no {token}: " + strconv.Quote(path))
	}
	return strings.TrimRight(l.BaseURL, "/") + strings.Replace(path, "{token}", token, 1)
}

func (l *Links) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}
