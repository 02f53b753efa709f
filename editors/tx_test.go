package editors_test

import (
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestStore_OneBeginSite: transactions begin in Store.begin alone, which
// reads the clock once into the Tx, so every row a transaction writes
// agrees on now.
func TestStore_OneBeginSite(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := gotoken.NewFileSet()
	found := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				switch sel.Sel.Name {
				case "Begin", "Beginx", "BeginTx", "BeginTxx", "MustBegin", "MustBeginTx":
					found++
					if fd.Recv == nil || fd.Name.Name != "begin" {
						p := fset.Position(call.Pos())
						t.Errorf("%s:%s: %s called in %s; begin through Store.begin",
							p.Filename, strconv.Itoa(p.Line), sel.Sel.Name, fd.Name.Name)
					}
				}
				return true
			})
		}
	}
	if found == 0 {
		t.Fatal("no begin site found: the scan is broken")
	}
}
