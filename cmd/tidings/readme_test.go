package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// repoRoot is the repository's root, seen from this package's directory.
const repoRoot = "../.."

// docPages are the pages a user reads: the README and docs/*.md.
func docPages(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{filepath.Join(repoRoot, "README.md")}, pages...)
}

// TestReadme keeps the README and docs/*.md true: their commands name real
// make targets and tidings subcommands, their links stay inside the
// repository and lead to files that exist, and no command holds a fixed date,
// which would be in the past for the next reader.
func TestReadme(t *testing.T) {
	t.Parallel()
	targets := makeTargets(t, filepath.Join(repoRoot, "Makefile"))
	for _, page := range docPages(t) {
		name, _ := filepath.Rel(repoRoot, page)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(page)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pageProblems(name, filepath.Dir(page), string(b), targets) {
				t.Error(p)
			}
		})
	}
}

// TestReadme_Checks: each kind of mistake TestReadme looks for is found.
func TestReadme_Checks(t *testing.T) {
	t.Parallel()
	targets := map[string]bool{"run": true, "test": true}
	for _, tt := range []struct{ name, text string }{
		{"UnknownTarget", "```sh\nmake run && make user EMAIL=a@example.com\n```\n"},
		{"UnknownTargetInSubstitution", "```sh\nTOKEN=$(make -s token NAME=me)\n```\n"},
		{"UnknownSubcommand", "```sh\n./bin/tidings frobnicate --now\n```\n"},
		{"UnknownSubSubcommand", "```sh\n./bin/tidings token mint --name me\n```\n"},
		{"FixedDate", "```sh\ncurl -d '{\"send_at\":\"2026-12-01T09:00\"}' \\\n  http://127.0.0.1:8080/\n```\n"},
		{"LinkOutside", "See [the design](../shared/DESIGN.md).\n"},
		{"CodeSpanOutside", "See `../shared/DESIGN.md`.\n"},
		{"AbsolutePath", "See [the design](/work/shared/DESIGN.md).\n"},
		{"MissingFile", "![Dashboard](docs/screenshots/nothing-here.png)\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := pageProblems("README.md", repoRoot, tt.text, targets); len(got) != 1 {
				t.Errorf("%q: got problems %q, want one", tt.text, got)
			}
		})
	}
	ok := "```sh\nmake run   # serve\n./bin/tidings user add --email a@example.com\n" +
		"curl -d '{\"send_at\":\"'\"$(date -d tomorrow +%F)\"'T09:00\"}' http://127.0.0.1:8080/\n```\n" +
		"[the Makefile](Makefile) ![Dashboard](docs/screenshots/dashboard.png) <http://127.0.0.1:8080/> [x](https://example.com/a/../b) [top](#tidings)\n"
	if got := pageProblems("README.md", repoRoot, ok, targets); len(got) != 0 {
		t.Errorf("%q: got problems %q, want none", ok, got)
	}
}

// pageProblems lists what is wrong with the Markdown page name, held in dir,
// given the Makefile's targets.
func pageProblems(name, dir, text string, targets map[string]bool) []string {
	var problems []string
	for _, line := range shellLines(text) {
		for _, target := range makeCommandTargets(line) {
			if !targets[target] {
				problems = append(problems, fmt.Sprintf("%s: %q: the Makefile has no target %q", name, line, target))
			}
		}
		if args := tidingsSubcommand(line); args != nil {
			err := run(context.Background(), append(args, "--help"), func(string) string { return "" }, nil, io.Discard, io.Discard)
			if err != nil && !errors.Is(err, flag.ErrHelp) {
				problems = append(problems, fmt.Sprintf("%s: %q: tidings %s --help: %v", name, line, strings.Join(args, " "), err))
			}
		}
		if m := isoDate.FindStringSubmatch(line); m != nil {
			problems = append(problems, fmt.Sprintf("%s: %q: the command holds the date %s; make it relative (e.g. $(date -d tomorrow +%%F))", name, line, m[1]))
		}
	}
	for _, target := range references(text) {
		if p := referenceProblem(name, dir, target); p != "" {
			problems = append(problems, p)
		}
	}
	return problems
}

// TestReadme_DatabaseURL: the README gives, for running commands outside
// make, the very database URL that make run uses.
func TestReadme_DatabaseURL(t *testing.T) {
	t.Parallel()
	mk, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^DATABASE_URL\s*\?=\s*(\S+)`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile sets no DATABASE_URL")
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := "export TIDINGS_DATABASE_URL='" + string(m[1]) + "'"
	if !strings.Contains(string(readme), want) {
		t.Errorf("README.md does not say %s", want)
	}
}

// isoDate is a calendar date such as 2026-12-01.
var isoDate = regexp.MustCompile(`(?:^|[^0-9])([0-9]{4}-[0-9]{2}-[0-9]{2})(?:[^0-9]|$)`)

// makeTargets reads the names of the rules of a Makefile.
func makeTargets(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rule := regexp.MustCompile(`^([A-Za-z0-9_./-]+(?:[ \t]+[A-Za-z0-9_./-]+)*)[ \t]*:([^=]|$)`)
	targets := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := rule.FindStringSubmatch(sc.Text()); m != nil {
			for _, name := range strings.Fields(m[1]) {
				if !strings.HasPrefix(name, ".") {
					targets[name] = true
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(targets) == 0 {
		t.Fatalf("%s: no targets found", path)
	}
	return targets
}

// shellLines returns the lines of the ```sh blocks of a Markdown text, with
// continuation lines joined and comments dropped.
func shellLines(text string) []string {
	var lines []string
	in, cont := false, ""
	for line := range strings.SplitSeq(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && (trimmed == "```sh" || trimmed == "```bash" || trimmed == "```shell"):
			in = true
			continue
		case in && strings.HasPrefix(trimmed, "```"):
			in = false
			continue
		case !in:
			continue
		}
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		if strings.HasPrefix(trimmed, "#") {
			line = ""
		}
		line = cont + strings.TrimSpace(line)
		if strings.HasSuffix(line, `\`) {
			cont = strings.TrimSuffix(line, `\`) + " "
			continue
		}
		cont = ""
		if line != "" {
			lines = append(lines, line)
		}
	}
	return lines
}

// commands splits a shell line into its simple commands, those inside
// $(...) included.
func commands(line string) [][]string {
	var out [][]string
	for _, c := range regexp.MustCompile(`&&|\|\||;|\||\$\(|\)`).Split(line, -1) {
		if words := strings.Fields(c); len(words) > 0 {
			out = append(out, words)
		}
	}
	return out
}

// makeCommandTargets returns the targets of every make command in line.
func makeCommandTargets(line string) []string {
	var targets []string
	for _, words := range commands(line) {
		if words[0] != "make" {
			continue
		}
		for _, w := range words[1:] {
			if !strings.HasPrefix(w, "-") && !strings.Contains(w, "=") {
				targets = append(targets, w)
			}
		}
	}
	return targets
}

// tidingsSubcommand returns the subcommand words (at most two, such as
// "user add") of a ./bin/tidings command in line, or nil.
func tidingsSubcommand(line string) []string {
	for _, words := range commands(line) {
		if words[0] != "./bin/tidings" && words[0] != "bin/tidings" {
			continue
		}
		var sub []string
		for _, w := range words[1:] {
			if len(sub) == 2 || !regexp.MustCompile(`^[a-z]+$`).MatchString(w) {
				break
			}
			sub = append(sub, w)
		}
		if sub == nil {
			sub = []string{}
		}
		return sub
	}
	return nil
}

// references returns what a Markdown text points at: link and image targets,
// and paths in code spans that climb out of their directory.
func references(text string) []string {
	var refs []string
	seen := map[string]bool{}
	add := func(ref string) {
		if !seen[ref] {
			seen[ref] = true
			refs = append(refs, ref)
		}
	}
	for _, m := range regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`).FindAllStringSubmatch(text, -1) {
		add(m[1])
	}
	for _, m := range regexp.MustCompile("(?:^|[\\s`(\"'])((?:\\.\\./)+[^\\s`)\"']*)").FindAllStringSubmatch(text, -1) {
		add(m[1])
	}
	return refs
}

// referenceProblem says what is wrong with target, read from a page in dir,
// or "" when it is a web address or a file inside the repository that exists.
func referenceProblem(page, dir, target string) string {
	if regexp.MustCompile(`^[a-z][a-z0-9+.-]*:`).MatchString(target) || strings.HasPrefix(target, "#") {
		return ""
	}
	path, _, _ := strings.Cut(target, "#")
	if strings.HasPrefix(path, "/") {
		return fmt.Sprintf("%s: %s is an absolute path; link to files inside the repository by relative paths", page, target)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		return err.Error()
	}
	abs, err := filepath.Abs(filepath.Join(dir, path))
	if err != nil {
		return err.Error()
	}
	if rel, err := filepath.Rel(root, abs); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Sprintf("%s: %s points outside the repository", page, target)
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Sprintf("%s: %s does not exist", page, target)
	}
	return ""
}
