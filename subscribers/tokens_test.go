package subscribers_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/subscribers"
)

var testTokens = &subscribers.Tokens{Secret: []byte("0123456789abcdef0123456789abcdef")}

var t0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

func TestTokens_Verify(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			purpose string
			id      int64
			expires time.Time
			at      time.Time
		}{
			{subscribers.PurposeConfirm, 1, t0.Add(time.Hour), t0},
			{subscribers.PurposeConfirm, 42, t0.Add(time.Hour), t0.Add(time.Hour - time.Second)},
			{subscribers.PurposeUnsubscribe, 9223372036854775807, time.Time{}, t0.AddDate(50, 0, 0)},
			{subscribers.PurposePreferences, 7, time.Time{}, t0},
		} {
			tok := testTokens.Sign(tt.purpose, tt.id, tt.expires)
			got, err := testTokens.Verify(tt.purpose, tok, tt.at)
			if err != nil || got != tt.id {
				t.Errorf("Verify(%s, Sign(%s, %d, %v)) at %v = %d, %v; want %d", tt.purpose, tt.purpose, tt.id, tt.expires, tt.at, got, err, tt.id)
			}
			if strings.ContainsAny(tok, "+/=") {
				t.Errorf("token %q is not URL-safe", tok)
			}
		}
	})
	t.Run("ErrExpired", func(t *testing.T) {
		t.Parallel()
		tok := testTokens.Sign(subscribers.PurposeConfirm, 1, t0.Add(time.Hour))
		for _, at := range []time.Time{t0.Add(time.Hour), t0.Add(8 * 24 * time.Hour)} {
			_, err := testTokens.Verify(subscribers.PurposeConfirm, tok, at)
			if code := tidings.ErrorCode(err); code != tidings.EEXPIRED {
				t.Errorf("at %v: error %v, want EEXPIRED", at, err)
			}
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		t.Parallel()
		good := testTokens.Sign(subscribers.PurposeConfirm, 1, t0.Add(time.Hour))
		payload, mac, _ := strings.Cut(good, ".")
		other := &subscribers.Tokens{Secret: []byte("another secret, just as long as the first")}
		for _, tt := range []struct {
			name, purpose, token string
		}{
			{"empty", subscribers.PurposeConfirm, ""},
			{"no dot", subscribers.PurposeConfirm, payload + mac},
			{"only dot", subscribers.PurposeConfirm, "."},
			{"two dots", subscribers.PurposeConfirm, good + ".x"},
			{"padding", subscribers.PurposeConfirm, good + "="},
			{"too long", subscribers.PurposeConfirm, strings.Repeat("A", 300) + "." + mac},
			{"mac of another payload", subscribers.PurposeConfirm, payload + "." + token2mac(testTokens.Sign(subscribers.PurposeConfirm, 2, t0.Add(time.Hour)))},
			{"wrong purpose", subscribers.PurposeUnsubscribe, good},
			{"another secret", subscribers.PurposeConfirm, other.Sign(subscribers.PurposeConfirm, 1, t0.Add(time.Hour))},
			{"unknown purpose", "", good},
			{"payload for another id", subscribers.PurposeConfirm, editPayload(good, func(f []string) { f[2] = "2" })},
			{"payload with later expiry", subscribers.PurposeConfirm, editPayload(good, func(f []string) { f[3] = "0" })},
			{"payload with another purpose", subscribers.PurposeUnsubscribe, editPayload(good, func(f []string) { f[1] = subscribers.PurposeUnsubscribe })},
			{"CR LF in the MAC", subscribers.PurposeConfirm, payload + "." + mac[:10] + "\r\n" + mac[10:]},
			{"LF in the MAC", subscribers.PurposeConfirm, payload + "." + mac[:10] + "\n" + mac[10:]},
			{"CR at the end", subscribers.PurposeConfirm, good + "\r"},
			{"LF in the payload", subscribers.PurposeConfirm, payload[:4] + "\n" + payload[4:] + "." + mac},
			{"space", subscribers.PurposeConfirm, good[:5] + " " + good[5:]},
			{"tab", subscribers.PurposeConfirm, good + "\t"},
			{"NUL", subscribers.PurposeConfirm, good + "\x00"},
			{"standard alphabet +", subscribers.PurposeConfirm, payload + "." + strings.ReplaceAll(strings.ReplaceAll(mac, "-", "+"), "_", "/") + "+"},
			{"percent-encoded", subscribers.PurposeConfirm, payload + "." + mac[:3] + "%41" + mac[3:]},
			{"non-ASCII", subscribers.PurposeConfirm, good + "é"},
			{"non-canonical trailing bits", subscribers.PurposeConfirm, payload + "." + nonCanonical(mac)},
		} {
			id, err := testTokens.Verify(tt.purpose, tt.token, t0)
			if code := tidings.ErrorCode(err); code != tidings.EINVALID || id != 0 {
				t.Errorf("%s: Verify(%q, %q) = %d, %v; want 0, EINVALID", tt.name, tt.purpose, tt.token, id, err)
			}
		}
		// Flip every character of the token in turn: none of the results verifies.
		for i := range len(good) {
			b := []byte(good)
			b[i] = flip(b[i])
			if id, err := testTokens.Verify(subscribers.PurposeConfirm, string(b), t0); err == nil {
				t.Errorf("flipped byte %d: %q verified as %d", i, b, id)
			} else if code := tidings.ErrorCode(err); code != tidings.EINVALID {
				t.Errorf("flipped byte %d: code %q, want EINVALID", i, code)
			}
		}
	})
	t.Run("ErrNoSecret", func(t *testing.T) {
		t.Parallel()
		var empty subscribers.Tokens
		if _, err := empty.Verify(subscribers.PurposeConfirm, testTokens.Sign(subscribers.PurposeConfirm, 1, time.Time{}), t0); err == nil {
			t.Fatal("Verify with no secret succeeded")
		}
		defer func() {
			if recover() == nil {
				t.Fatal("Sign with no secret did not panic")
			}
		}()
		empty.Sign(subscribers.PurposeConfirm, 1, time.Time{})
	})
}

// flip changes one base64url character to another (keeping it in the alphabet,
// so the change is caught by the MAC, not only by the decoder).
func flip(c byte) byte {
	if c == 'A' {
		return 'B'
	}
	if c == '.' {
		return '-'
	}
	return 'A'
}

// nonCanonical spells the same bytes as the base64url text s with unused
// trailing bits set: a lax decoder reads both spellings as one value.
func nonCanonical(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(s)%4 == 0 {
		panic("no trailing bits in " + s)
	}
	last := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[last|1])
}

func token2mac(tok string) string {
	_, mac, _ := strings.Cut(tok, ".")
	return mac
}

// editPayload decodes a token's payload, lets edit change its fields
// (version|purpose|id|expiry) and puts it back with the original MAC: what an
// attacker who has one token can do.
func editPayload(tok string, edit func([]string)) string {
	p, mac, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		panic(err)
	}
	f := strings.Split(string(raw), "|")
	edit(f)
	return base64.RawURLEncoding.EncodeToString([]byte(strings.Join(f, "|"))) + "." + mac
}

func TestLinks(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := &subscribers.Links{BaseURL: baseURL + "/", Paths: testPaths, Tokens: testTokens, Now: c.Now}

	confirm := l.Confirm(5)
	if !strings.HasPrefix(confirm, baseURL+"/confirm/") {
		t.Errorf("Confirm(5) = %q, want prefix %s/confirm/", confirm, baseURL)
	}
	if id, err := testTokens.Verify(subscribers.PurposeConfirm, token(confirm), c.Now().Add(7*24*time.Hour-time.Second)); err != nil || id != 5 {
		t.Errorf("confirm token just before 7 days: %d, %v", id, err)
	}
	if _, err := testTokens.Verify(subscribers.PurposeConfirm, token(confirm), c.Now().Add(7*24*time.Hour)); tidings.ErrorCode(err) != tidings.EEXPIRED {
		t.Errorf("confirm token at 7 days: %v, want EEXPIRED", err)
	}

	for name, link := range map[string]string{"/unsubscribe/": l.Unsubscribe(5), "/preferences/": l.Preferences(5)} {
		if !strings.HasPrefix(link, baseURL+name) {
			t.Errorf("link %q, want prefix %s%s", link, baseURL, name)
		}
		if id, err := testTokens.Verify(subscribers.PurposeUnsubscribe, token(link), c.Now().AddDate(30, 0, 0)); err != nil || id != 5 {
			t.Errorf("%s token after 30 years: %d, %v; want 5, nil", name, id, err)
		}
		if _, err := testTokens.Verify(subscribers.PurposeConfirm, token(link), c.Now()); tidings.ErrorCode(err) != tidings.EINVALID {
			t.Errorf("%s token used to confirm: %v, want EINVALID", name, err)
		}
	}

	short := &subscribers.Links{BaseURL: baseURL, Paths: testPaths, Tokens: testTokens, Now: c.Now, ConfirmTTL: time.Hour}
	if _, err := testTokens.Verify(subscribers.PurposeConfirm, token(short.Confirm(5)), c.Now().Add(time.Hour)); tidings.ErrorCode(err) != tidings.EEXPIRED {
		t.Errorf("ConfirmTTL 1h, at 1h: %v, want EEXPIRED", err)
	}

	// The paths are the route table's; a link is never built from a missing one.
	elsewhere := &subscribers.Links{BaseURL: baseURL, Tokens: testTokens, Now: c.Now,
		Paths: subscribers.LinkPaths{Confirm: "/c/{token}/go", Unsubscribe: "/u/{token}", Preferences: "/p/{token}"}}
	if got := elsewhere.Confirm(5); !strings.HasPrefix(got, baseURL+"/c/") || !strings.HasSuffix(got, "/go") {
		t.Errorf("Confirm with path /c/{token}/go = %q", got)
	}
	for name, link := range map[string]func(int64) string{
		"Confirm":     (&subscribers.Links{BaseURL: baseURL, Tokens: testTokens}).Confirm,
		"Unsubscribe": (&subscribers.Links{BaseURL: baseURL, Tokens: testTokens}).Unsubscribe,
		"Preferences": (&subscribers.Links{BaseURL: baseURL, Tokens: testTokens}).Preferences,
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with no path: no panic", name)
				}
			}()
			link(5)
		}()
	}
}
