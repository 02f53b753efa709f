package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps_NoTestCode keeps the benchmark binary free of test helpers: linking
// internal/pgtest would bring the testing package, and its flags, into a
// program operators run.
func TestDeps_NoTestCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "testing" || strings.HasSuffix(pkg, "/internal/pgtest") {
			t.Errorf("tidings-bench links %s", pkg)
		}
	}
}
