package web_test

import (
	"context"
	"html"
	"strings"
	"testing"

	"github.com/tidings/tidings/dkimkeys"
	"github.com/tidings/tidings/web"
)

// TestEditorLists_DKIM: the list settings page says that the list's mail
// goes unsigned and how to make a key while its From domain has none, and
// shows the record to publish for each key once it has them; keys of other
// domains are not shown.
func TestEditorLists_DKIM(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	c := e.MustEditor("ed@example.com")
	u := e.srv.URL + "/editor/lists/weekly/settings"
	ctx := context.Background()

	t.Run("Unsigned", func(t *testing.T) {
		if _, err := e.dkim.Generate(ctx, dkimkeys.GenerateRequest{Domain: "example.org", Selector: "other", Algorithm: "ed25519"}); err != nil {
			t.Fatal(err)
		}
		_, body := get(t, c, u)
		for _, want := range []string{`id="dkim"`, "Messages of this list are sent unsigned", "tidings dkim keygen --domain example.com"} {
			if !strings.Contains(body, want) {
				t.Errorf("settings page without a key lacks %q", want)
			}
		}
		if strings.Contains(body, "other._domainkey") {
			t.Error("settings page shows the key of another domain")
		}
	})

	t.Run("Signed", func(t *testing.T) {
		var keys []dkimkeys.Key
		for _, alg := range []string{"rsa", "ed25519"} {
			k, err := e.dkim.Generate(ctx, dkimkeys.GenerateRequest{Domain: "Example.COM", Algorithm: alg})
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k)
		}
		_, body := get(t, c, u)
		if strings.Contains(body, "sent unsigned") || !strings.Contains(body, "signed for <strong>example.com</strong>") {
			t.Errorf("settings page with keys does not say the mail is signed:\n%.2000s", body[strings.Index(body, `id="dkim"`):])
		}
		for _, k := range keys {
			r := k.Record()
			for _, want := range []string{`value="` + r.Name + `"`, ">" + r.Value + "</textarea>"} {
				if !strings.Contains(html.UnescapeString(body), want) {
					t.Errorf("settings page lacks the %s record: %q", k.Algorithm, want)
				}
			}
		}
	})
}
