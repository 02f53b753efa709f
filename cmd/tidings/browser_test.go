package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings/editors"
	"github.com/tidings/tidings/internal/devmail"
	"github.com/tidings/tidings/internal/pgtest"
)

// program is the real program, started on port 0 with a throwaway database
// and an SMTP catcher, for browser tests.
type program struct {
	base string
	db   *sqlx.DB
	smtp *devmail.Server
}

const testEditor, testPassword = "editor@example.com", "a long test password"

// startProgram runs `serve` in-process with a real clock and an editor
// account, once the test has its turn (see browsers).
func startProgram(t *testing.T) *program {
	t.Helper()
	return startProgramWith(t, false)
}

// startProgramWith is startProgram; with dev, it is `serve --dev`, with its
// demo list and its own dev inbox in place of the test's SMTP catcher
// (program.smtp is nil).
func startProgramWith(t *testing.T, dev bool) *program {
	t.Helper()
	browsers <- struct{}{}
	t.Cleanup(func() { <-browsers })
	var smtp *devmail.Server
	smtpURL := ""
	if !dev {
		var err error
		smtp, err = devmail.StartWith("127.0.0.1:0", devmail.Options{MaxMessages: 10000})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { smtp.Close() })
		smtpURL = "smtp://" + smtp.Addr() + "?tls=none"
	}
	dsn := pgtest.MustCreateDB(t)
	db, err := sqlx.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := (&editors.Store{DB: db}).Create(context.Background(), testEditor, testPassword); err != nil {
		t.Fatal(err)
	}
	cfg := config{
		DatabaseURL: dsn, SMTPURL: smtpURL, Listen: "127.0.0.1:0",
		Secret: strings.Repeat("b", 32), SMTPConnections: 4, Role: "all", Dev: dev,
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, time.Now, pw, slog.New(slog.NewTextHandler(io.Discard, nil)))
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	re := regexp.MustCompile(`Listening on\s+(http://\S+)`)
	buf := make([]byte, 16<<10)
	var out string
	for !strings.Contains(out, "/healthz") {
		n, err := pr.Read(buf)
		if err != nil {
			t.Fatalf("serve exited: %q", out)
		}
		out += string(buf[:n])
	}
	go io.Copy(io.Discard, pr)
	return &program{base: re.FindStringSubmatch(out)[1], db: db, smtp: smtp}
}

// chromium finds Debian's chromium, which `make test` installs.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH: run `make test`, which installs Debian's chromium")
	return ""
}

// browsers is how many browser tests run at once. Each chromium and the
// program it drives take a good share of a core while a page loads, so many
// at once on a small machine starve one another: every wait of every test
// then takes as long as all of them together, and a test's deadline
// measures the machine rather than the test. A test holds a slot from the
// start of its program (startProgram) to its end, and its browser's
// deadline starts after that.
var browsers = make(chan struct{}, max(2, runtime.NumCPU()))

// newBrowser starts a headless chromium for one test, for up to 90 s; its
// last page is saved as a screenshot when the test ends.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	return newBrowserFor(t, 90*time.Second)
}

// newBrowserFor is newBrowser for a test that visits many pages and needs
// longer than 90 s in all.
func newBrowserFor(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	dataDir, err := os.MkdirTemp("", "tidings-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(dataDir),
		chromedp.WindowSize(1280, 900),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, tcancel := context.WithTimeout(ctx, limit)
	t.Cleanup(func() {
		saveScreenshot(t, ctx)
		tcancel()
		cancel()
		acancel()
		os.RemoveAll(dataDir)
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// saveScreenshot writes the last page to testdata/screenshots/TEST.png, the
// test's artifact.
func saveScreenshot(t *testing.T, ctx context.Context) {
	var png []byte
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Run(sctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	dir := filepath.Join("testdata", "screenshots")
	os.MkdirAll(dir, 0o755)
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + ".png"
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Logf("screenshot: %v", err)
	}
}

// signIn signs the browser in as the test editor.
func signIn(p *program) chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Navigate(p.base + "/editor/"),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, testEditor, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, testPassword, chromedp.ByQuery),
		chromedp.Submit(`#password`, chromedp.ByQuery),
		chromedp.WaitVisible(`svg.chart`, chromedp.ByQuery),
	}
}

func TestBrowser_SignIn(t *testing.T) {
	t.Parallel()
	p := startProgram(t)
	ctx := newBrowser(t)
	var body string
	err := chromedp.Run(ctx,
		chromedp.Navigate(p.base+"/editor/"),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, testEditor, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, "not the password", chromedp.ByQuery),
		chromedp.Submit(`#password`, chromedp.ByQuery),
		chromedp.WaitVisible(`.error`, chromedp.ByQuery),
		chromedp.Text(`.error`, &body, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, "Wrong email or password") {
		t.Fatalf("wrong password: the page says %q", body)
	}
	var h1 string
	err = chromedp.Run(ctx,
		chromedp.WaitVisible(`#password`, chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById("password").value = ""`, nil),
		chromedp.SendKeys(`#password`, testPassword, chromedp.ByQuery),
		chromedp.Submit(`#password`, chromedp.ByQuery),
		chromedp.WaitVisible(`svg.chart`, chromedp.ByQuery),
		chromedp.Text(`h1`, &h1, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if h1 != "Dashboard" {
		t.Fatalf("after signing in the page says %q", h1)
	}
}
