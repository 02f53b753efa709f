package subscribers

// Fuzz targets for every parser of outside input in this package. `go test`
// runs their seeds (testdata/fuzz/FuzzXxx and the f.Add calls); `make fuzz`
// runs each for FUZZTIME.

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// FuzzNormalizeEmail checks that an accepted address is canonical (normalising
// it again changes nothing), fits RFC 5321's limits, and can never carry a
// header break, a NUL or white space into a message.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"ada@example.com", " Ada@Example.COM ", "a@b", "a\r\nBcc: x@y.com@example.com", "a@ex\x00ample.com", "用户@例子.广告", "ada@bücher.de"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := NormalizeEmail(raw)
		if err != nil {
			if got != "" {
				t.Fatalf("NormalizeEmail(%q) = %q with error %v", raw, got, err)
			}
			return
		}
		if strings.ContainsAny(got, "\r\n\x00 \t<>\"") || !utf8.ValidString(got) {
			t.Fatalf("NormalizeEmail(%q) accepted %q", raw, got)
		}
		if strings.IndexFunc(got, func(r rune) bool { return r >= utf8.RuneSelf || unicode.IsControl(r) }) >= 0 {
			t.Fatalf("NormalizeEmail(%q) = %q: not ASCII", raw, got)
		}
		if len(got) > maxEmailLen || strings.Count(got, "@") != 1 {
			t.Fatalf("NormalizeEmail(%q) = %q: over the limits or not one @", raw, got)
		}
		again, err := NormalizeEmail(got)
		if err != nil || again != got {
			t.Fatalf("NormalizeEmail(%q) = %q, but NormalizeEmail(%q) = %q, %v", raw, got, got, again, err)
		}
		key := EmailKey(got)
		if k, err := NormalizeEmail(key); err != nil || EmailKey(k) != key {
			t.Fatalf("EmailKey(%q) = %q does not normalise to itself: %q, %v", got, key, k, err)
		}
	})
}

// FuzzValidateName checks that an accepted name is trimmed, one line of at
// most MaxNameLen runes of valid UTF-8 with no control or invisible
// character, and that validating it again changes nothing.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"Ada Lovelace", "  Ada  ", "Ada\r\nBcc: x@y.com", "A\x00da", "\u202eecalevoL adA", "Zoë ‍👩‍💻", "=?utf-8?b?QWRh?="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := ValidateName(raw)
		if err != nil {
			return
		}
		if !utf8.ValidString(got) || got != strings.TrimSpace(got) || utf8.RuneCountInString(got) > MaxNameLen {
			t.Fatalf("ValidateName(%q) accepted %q", raw, got)
		}
		if strings.IndexFunc(got, func(r rune) bool { return unicode.IsControl(r) || isLineBreak(r) || isInvisible(r) }) >= 0 {
			t.Fatalf("ValidateName(%q) = %q holds a control or invisible character", raw, got)
		}
		if again, err := ValidateName(got); err != nil || again != got {
			t.Fatalf("ValidateName(%q) = %q, but ValidateName(%q) = %q, %v", raw, got, got, again, err)
		}
	})
}

// FuzzValidateTimezone checks that an accepted zone is one that
// time.LoadLocation knows, of the characters IANA names use, and never the
// machine-dependent "Local".
func FuzzValidateTimezone(f *testing.F) {
	for _, s := range []string{"Europe/Berlin", "UTC", "Local", "../../etc/passwd", "Europe/Berlin\x00", "America/Argentina/Buenos_Aires", "Etc/GMT+5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tz string) {
		if ValidateTimezone(tz) != nil {
			return
		}
		if tz == "" || tz == "Local" || strings.Contains(tz, "..") || strings.HasPrefix(tz, "/") {
			t.Fatalf("ValidateTimezone accepted %q", tz)
		}
		if _, err := time.LoadLocation(tz); err != nil {
			t.Fatalf("ValidateTimezone accepted %q, which LoadLocation refuses: %v", tz, err)
		}
	})
}

// FuzzNormalizeTags checks that accepted tags come out sorted, unique and
// each canonical, and that normalising them again changes nothing. The input
// is a tags cell of an import, split as the import splits it.
func FuzzNormalizeTags(f *testing.F) {
	for _, s := range []string{"vip;founders", "VIP | Vip ;  vip  ", "a/b", "x\x00", "Früh Bucher", "\u202evip", strings.Repeat("t;", 60)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cell string) {
		got, err := NormalizeTags(splitTagCell(cell))
		if err != nil {
			return
		}
		if got == nil || len(got) > MaxTags || !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("NormalizeTags(%q) = %q: not a sorted set of at most %d", cell, got, MaxTags)
		}
		for _, tag := range got {
			if n, err := NormalizeTag(tag); err != nil || n != tag {
				t.Fatalf("NormalizeTags(%q) holds %q, which normalises to %q, %v", cell, tag, n, err)
			}
		}
		if again, err := NormalizeTags(got); err != nil || !slices.Equal(again, got) {
			t.Fatalf("NormalizeTags(%q) = %q, again %q, %v", cell, got, again, err)
		}
	})
}

var fuzzTokens = &Tokens{Secret: []byte("0123456789abcdef0123456789abcdef")}

var fuzzNow = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// FuzzTokensVerify feeds Verify arbitrary strings, and arbitrary payloads
// signed with the secret: none may panic, and one that verifies must be
// exactly the token Sign makes for what it carries (one spelling per token:
// no CR, LF, padding, leading zero or plus sign verifies).
func FuzzTokensVerify(f *testing.F) {
	good := fuzzTokens.Sign(PurposeUnsubscribe, 42, time.Time{})
	f.Add(PurposeUnsubscribe, good, "")
	f.Add(PurposeConfirm, fuzzTokens.SignConfirm(7, 3, fuzzNow.Add(time.Hour)), "")
	f.Add(PurposeUnsubscribe, good[:10]+"\r\n"+good[10:], "")
	f.Add(PurposeUnsubscribe, good+"=", "")
	f.Add(PurposeUnsubscribe, "", "1|unsubscribe|+42|0")
	f.Add(PurposeConfirm, "", "2|confirm|7|0|01")
	f.Fuzz(func(t *testing.T, purpose, token, payload string) {
		if payload != "" {
			// A payload signed with the secret, as only Tidings can: its
			// fields must still have one spelling each.
			p := base64.RawURLEncoding.EncodeToString([]byte(payload))
			token = p + "." + base64.RawURLEncoding.EncodeToString(fuzzTokens.mac(p))
		}
		id, gen, err := fuzzTokens.verify(purpose, token, fuzzNow)
		if err != nil {
			return
		}
		p, _, _ := strings.Cut(token, ".")
		raw, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			t.Fatalf("%q verified, but its payload does not decode: %v", token, err)
		}
		f := strings.Split(string(raw), "|")
		exp, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			t.Fatalf("%q verified with expiry %q", token, f[3])
		}
		var expires time.Time
		if exp != 0 {
			expires = time.Unix(exp, 0)
		}
		if want := fuzzTokens.sign(purpose, id, gen, expires); want != token {
			t.Fatalf("%q verified (%s %d generation %d), but Sign makes %q", token, purpose, id, gen, want)
		}
	})
}

// FuzzTokensSignVerify signs a token and changes one byte of it: the token
// itself verifies for what it was signed, and the changed one never does.
func FuzzTokensSignVerify(f *testing.F) {
	f.Add(PurposeConfirm, int64(1), 0, int64(3600), 0, byte('A'))
	f.Add(PurposeUnsubscribe, int64(9223372036854775807), 5, int64(0), 40, byte('\n'))
	f.Add("pre|ferences", int64(12), 1, int64(-1), 200, byte('.'))
	f.Fuzz(func(t *testing.T, purpose string, id int64, gen int, ttl int64, at int, b byte) {
		if id <= 0 || gen < 0 || strings.Contains(purpose, "|") {
			return // not what a caller signs
		}
		var expires time.Time
		if ttl > 0 {
			expires = fuzzNow.Add(time.Duration(ttl%(1<<40)) * time.Second)
		}
		tok := fuzzTokens.sign(purpose, id, gen, expires)
		if len(tok) > maxTokenLen {
			return // refused as too long, whatever it holds
		}
		gotID, gotGen, err := fuzzTokens.verify(purpose, tok, fuzzNow)
		if err != nil || gotID != id || gotGen != gen {
			t.Fatalf("verify(sign(%q, %d, %d, %v)) = %d, %d, %v", purpose, id, gen, expires, gotID, gotGen, err)
		}
		if at < 0 {
			at = -at
		}
		i := at % len(tok)
		if tok[i] == b {
			return
		}
		bad := []byte(tok)
		bad[i] = b
		if _, _, err := fuzzTokens.verify(purpose, string(bad), fuzzNow); err == nil {
			t.Fatalf("%q verifies with byte %d changed to %q: %q", tok, i, b, bad)
		}
	})
}

// readImport reads every row of file as Import does, at most maxRows.
func readImport(file []byte, maxRows int) ([]importRow, *ImportReport, error) {
	ir, err := newImportReader(bytes.NewReader(file), maxRows)
	if err != nil {
		return nil, nil, err
	}
	var rows []importRow
	for {
		row, err := ir.next()
		if errors.Is(err, io.EOF) {
			return rows, ir.rep, nil
		} else if err != nil {
			return nil, nil, err
		}
		rows = append(rows, row)
	}
}

// FuzzParseImport feeds the CSV reader of an import arbitrary files: it never
// panics, every row it accepts is canonical (its address, name, zone and tags
// normalise to themselves) and unique by address, lines only go forward, it
// reads no more rows than it may and says where it stopped, and the report
// keeps at most MaxImportRejections rejections, each of valid UTF-8.
func FuzzParseImport(f *testing.F) {
	f.Add([]byte("email,name,timezone,tags\nada@example.com,Ada,Europe/Paris,vip;founders\n"))
	f.Add([]byte("\ufeffEmail\r\nADA@example.com\r\nada@EXAMPLE.com\r\n"))
	f.Add([]byte("email,name\n\"a@b.com\",\"Ada\nLovelace\"\n"))
	f.Fuzz(func(t *testing.T, file []byte) {
		rows, rep, err := readImport(file, 50)
		if err != nil {
			return
		}
		if len(rows)+rep.Rejected > 50 || rep.Stopped != nil && (rep.Stopped.Line < 2 || len(rows)+rep.Rejected != 50) {
			t.Fatalf("readImport(%q): %d rows and %d rejected, stopped %+v, with at most 50 rows to read", file, len(rows), rep.Rejected, rep.Stopped)
		}
		if len(rep.Rejections) > MaxImportRejections || rep.Rejected < len(rep.Rejections) {
			t.Fatalf("readImport(%q): %d rejections kept of %d", file, len(rep.Rejections), rep.Rejected)
		}
		for _, r := range rep.Rejections {
			if !utf8.ValidString(r.Email) || !utf8.ValidString(r.Reason) || utf8.RuneCountInString(r.Email) > maxEmailLen || r.Line < 1 {
				t.Fatalf("readImport(%q): rejection %+v", file, r)
			}
		}
		keys := map[string]bool{}
		last := 0
		for _, r := range rows {
			if e, err := NormalizeEmail(r.email); err != nil || e != r.email || EmailKey(e) != r.key || keys[r.key] {
				t.Fatalf("readImport(%q): row %+v is not canonical or not unique (%v)", file, r, err)
			}
			keys[r.key] = true
			if n, err := ValidateName(r.name); err != nil || n != r.name {
				t.Fatalf("readImport(%q): row %+v: name normalises to %q, %v", file, r, n, err)
			}
			if r.timezone != "" && ValidateTimezone(r.timezone) != nil {
				t.Fatalf("readImport(%q): row %+v: bad zone", file, r)
			}
			if tags, err := NormalizeTags(r.tags); err != nil || !slices.Equal(tags, r.tags) {
				t.Fatalf("readImport(%q): row %+v: tags normalise to %q, %v", file, r, tags, err)
			}
			if r.line <= last {
				t.Fatalf("readImport(%q): line %d after %d", file, r.line, last)
			}
			last = r.line
		}
	})
}
