package web_test

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/editors"
	"github.com/tidings/tidings/subscribers"
	"github.com/tidings/tidings/web"
)

// TestAPIDoc keeps docs/api.md true to the route table: every route of the
// JSON API, and every public route a script or a mail client calls, is
// documented as "METHOD PATH", and every route the page documents exists.
func TestAPIDoc(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	s, err := web.NewServer(web.Config{
		Subscribers: &subscribers.Store{}, Campaigns: &campaigns.Store{}, Editors: &editors.Store{},
		Secret: []byte("0123456789abcdef0123456789abcdef"),
	})
	if err != nil {
		t.Fatal(err)
	}
	routes := s.Routes()

	// Variables as the page writes them: {id}, not {id:[0-9]+}.
	plain := regexp.MustCompile(`\{([a-z]+):[^}]*\}`)
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("`(GET|POST|PUT|PATCH|DELETE|HEAD) (/[^`?\\s]*)").FindAllStringSubmatch(doc, -1) {
		documented[m[1]+" "+m[2]] = true
	}

	for _, rt := range routes {
		path := plain.ReplaceAllString(rt.Path, "{$1}")
		public := slices.ContainsFunc([]string{"/subscribe/", "/confirm/", "/unsubscribe/", "/healthz"}, func(p string) bool {
			return strings.HasPrefix(path, p)
		})
		if !strings.HasPrefix(path, "/api/v1/") && !public {
			continue
		}
		for _, method := range rt.Methods {
			if method == "HEAD" {
				continue
			}
			if strings.HasSuffix(path, "/{action}") {
				// Each action is documented under its own path.
				prefix := method + " " + strings.TrimSuffix(path, "{action}")
				if !slices.ContainsFunc(slices.Collect(maps.Keys(documented)), func(d string) bool { return strings.HasPrefix(d, prefix) }) {
					t.Errorf("docs/api.md documents no action of %s", method+" "+path)
				}
				continue
			}
			if !documented[method+" "+path] {
				t.Errorf("docs/api.md does not document %s %s", method, path)
			}
		}
	}

	for d := range documented {
		method, path, _ := strings.Cut(d, " ")
		if !slices.ContainsFunc(routes, func(rt web.Route) bool {
			return slices.Contains(rt.Methods, method) && samePath(plain.ReplaceAllString(rt.Path, "{$1}"), path)
		}) {
			t.Errorf("docs/api.md documents %s, which is not a route", d)
		}
	}
}

// samePath reports whether a documented path fits a route's path template:
// the same segments, where a variable of the template fits any segment.
func samePath(template, path string) bool {
	ts, ps := strings.Split(template, "/"), strings.Split(path, "/")
	if len(ts) != len(ps) {
		return false
	}
	for i := range ts {
		if ts[i] != ps[i] && !strings.HasPrefix(ts[i], "{") {
			return false
		}
	}
	return true
}
