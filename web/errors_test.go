package web_test

import (
	"github.com/tidings/tidings/web"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// successStatuses are the statuses a handler may name: those of answers that
// are not errors. Every error status comes from web/errors.go.
var successStatuses = map[string]bool{
	"StatusOK": true, "StatusCreated": true, "StatusAccepted": true, "StatusNoContent": true,
	"StatusSeeOther": true, "StatusFound": true, "StatusNotModified": true,
}

// TestNoErrorStatusOutsideErrorsGo: no file of package web but errors.go
// names an error status or writes one with http.Error or http.NotFound, so
// that the map from error code to status is the only one.
func TestNoErrorStatusOutsideErrorsGo(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || name == "errors.go" {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "http" {
				return true
			}
			switch name := sel.Sel.Name; {
			case strings.HasPrefix(name, "Status") && !successStatuses[name]:
				t.Errorf("%s: http.%s: error statuses come from web/errors.go", fset.Position(sel.Pos()), name)
			case name == "Error" || name == "NotFound":
				t.Errorf("%s: http.%s: answer errors through web/errors.go", fset.Position(sel.Pos()), name)
			}
			return true
		})
	}
}

// TestEditor_NotFoundSaysWhat: a not-found in the editor names what was not
// found, inside the editor, with a way back.
func TestEditor_NotFoundSaysWhat(t *testing.T) {
	t.Parallel()
	e := MustStart(t, web.DefaultLimits)
	c := e.MustEditor("ed@example.com")
	for path, want := range map[string]string{
		"/editor/broadcasts/999":           "Broadcast 999",
		"/editor/subscribers/999":          "subscriber 999",
		"/editor/lists/nope/settings":      "There is no list &#34;nope&#34;",
		"/editor/lists/weekly/steps/999":   "Step 999",
		"/editor/lists/weekly/bonuses/999": "Bonus email 999",
	} {
		resp, body := get(t, c, e.srv.URL+path)
		if resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
		if !strings.Contains(body, want) {
			t.Errorf("GET %s: the page does not say %q\n%.600s", path, want, body)
		}
		if !strings.Contains(body, "/editor/logout") {
			t.Errorf("GET %s: the page is not inside the editor", path)
		}
	}
}
