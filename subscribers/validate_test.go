package subscribers_test

import (
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/subscribers"
)

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct{ in, want string }{
			{"a@b.com", "a@b.com"},
			{"  a@b.com \t", "a@b.com"},
			{"First.Last+tag@Example.COM", "First.Last+tag@example.com"},
			{"user@bücher.de", "user@xn--bcher-kva.de"},
			{"user@BÜCHER.de", "user@xn--bcher-kva.de"},
			{"user@xn--bcher-kva.de", "user@xn--bcher-kva.de"},
			{"o'brien@mail.example.co.uk", "o'brien@mail.example.co.uk"},
			{"100%real_x@sub-1.example.org", "100%real_x@sub-1.example.org"},
			{strings.Repeat("l", 64) + "@example.com", strings.Repeat("l", 64) + "@example.com"},
		} {
			got, err := subscribers.NormalizeEmail(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			// Normalising is idempotent: what is stored normalises to itself.
			if again, err := subscribers.NormalizeEmail(got); err != nil || again != got {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want it unchanged", got, again, err)
			}
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		t.Parallel()
		long := strings.Repeat("a", 63) + "."
		for _, in := range []string{
			"",
			"   ",
			"Name <a@b.com>",
			`"Name" <a@b.com>`,
			"<a@b.com>",
			"a@b.com (comment)",
			"a@b",
			"a@@b.com",
			"@b.com",
			"a@",
			"a",
			"a b@c.com",
			"a@b .com",
			"a@b.com\r\nBcc: x@y.com",
			"a@b.com\nBcc: x@y.com",
			"a\x00@b.com",
			"a@b.com\x00",
			"a\u202e@b.com",
			`"quoted"@b.com`,
			`"a b"@c.com`,
			"é@b.com",
			"a..b@c.com",
			".a@b.com",
			"a.@b.com",
			"a@b..com",
			"a@.b.com",
			"a@b.com.",
			"a@-b.com",
			"a@b-.com",
			"a@b_c.com",
			"a@[127.0.0.1]",
			"a@127.0.0.1",
			"a@b.c@d.com",
			"a@b.com, c@d.com",
			strings.Repeat("l", 65) + "@example.com",
			strings.Repeat("a", 300) + "@example.com",
			"a@" + strings.Repeat(long, 4) + "com",
			"a@" + strings.Repeat("b", 64) + ".com",
			strings.Repeat("x", 300),
			"a@b.com\xff",
		} {
			got, err := subscribers.NormalizeEmail(in)
			if code := tidings.ErrorCode(err); code != tidings.EINVALID {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want EINVALID", in, got, err)
			} else if msg := tidings.ErrorMessage(err); msg == "" {
				t.Errorf("NormalizeEmail(%q): empty message", in)
			}
		}
	})
}

func TestValidateName(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"  Ada Lovelace ", "Ada Lovelace"},
		{"Zoë Çelik-O'Brien", "Zoë Çelik-O'Brien"},
		{"<script>alert(1)</script>", "<script>alert(1)</script>"}, // escaping is the renderer's job
		{strings.Repeat("é", 200), strings.Repeat("é", 200)},
	} {
		got, err := subscribers.ValidateName(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ValidateName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{
		"Ada\nLovelace",
		"Ada\rLovelace",
		"Ada\x00",
		"Ada\tLovelace",
		"Ada\u2028Lovelace",
		"Ada\u202eecalevoL",
		"Ada\u200bLovelace", // zero-width space
		"Ada\u200cLovelace", // zero-width non-joiner
		"Ada\u200dLovelace", // zero-width joiner
		"Ada\u200eLovelace", // left-to-right mark
		"Ada\u200fLovelace", // right-to-left mark
		"Ada\u2060Lovelace", // word joiner
		"Ada\u2061Lovelace", // function application
		"Ada\u2064Lovelace", // invisible plus
		"\ufeffAda",         // byte order mark
		"Ada\u00adLovelace", // soft hyphen
		"Ada\u180eLovelace", // Mongolian vowel separator
		"Ada\u061cLovelace", // Arabic letter mark
		"Ada\U000e0041",     // tag letter A
		"Ada\u3164Lovelace", // Hangul filler
		"Ada\xff",
		strings.Repeat("é", 201),
	} {
		if _, err := subscribers.ValidateName(in); tidings.ErrorCode(err) != tidings.EINVALID {
			t.Errorf("ValidateName(%q) = %v, want EINVALID", in, err)
		}
	}
}

func TestValidateTimezone(t *testing.T) {
	t.Parallel()
	for _, tz := range []string{"UTC", "Europe/Berlin", "America/New_York", "America/Argentina/Buenos_Aires", "Etc/GMT+5"} {
		if err := subscribers.ValidateTimezone(tz); err != nil {
			t.Errorf("ValidateTimezone(%q) = %v, want nil", tz, err)
		}
	}
	for _, tz := range []string{"", "Local", "Mars/Base", "europe/nowhere", "../../etc/passwd", "/etc/localtime", "Europe/Berlin\n", strings.Repeat("A", 100)} {
		if err := subscribers.ValidateTimezone(tz); tidings.ErrorCode(err) != tidings.EINVALID {
			t.Errorf("ValidateTimezone(%q) = %v, want EINVALID", tz, err)
		}
	}
}

// TestValidateTimezone_OneDefinition: ValidateTimezone is the one check of a
// zone name. No other function in the module asks time.LoadLocation whether
// a name is valid (one that answers only a bool or an error): each such copy
// drifts from the others in what it lets through.
func TestValidateTimezone_OneDefinition(t *testing.T) {
	t.Parallel()
	fset := gotoken.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil || fn.Type.Results == nil || len(fn.Type.Results.List) != 1 || len(fn.Type.Results.List[0].Names) > 1 {
				continue
			}
			if res, ok := fn.Type.Results.List[0].Type.(*ast.Ident); !ok || res.Name != "bool" && res.Name != "error" {
				continue
			}
			if filepath.Base(path) == "validate.go" && fn.Name.Name == "ValidateTimezone" {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "LoadLocation" {
					if x, ok := sel.X.(*ast.Ident); ok && x.Name == "time" {
						t.Errorf("%s: %s validates a time zone itself; call subscribers.ValidateTimezone", fset.Position(fn.Pos()), fn.Name.Name)
					}
				}
				return true
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
