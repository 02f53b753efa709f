package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// focusStop is where one press of Tab lands: the element's id (or its tag
// and value or text) and whether its focus can be seen.
type focusStop struct {
	Key  string `json:"key"`
	Ring bool   `json:"ring"`
}

// focusNow describes document.activeElement. A focus is visible when the
// element has an outline or a box shadow while focused.
const focusNow = `(() => {
	const e = document.activeElement;
	if (!e || e === document.body) return {key: "", ring: false};
	const s = getComputedStyle(e);
	const ring = (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== "none";
	return {key: e.id || e.tagName.toLowerCase() + ":" + (e.value || e.textContent.trim()), ring: ring};
})()`

// keyboardForm is one form used with the keyboard alone: the controls Tab
// must reach, in this order and with nothing between them, what to type
// into some of them, and how to tell the submission worked.
type keyboardForm struct {
	name     string
	path     string
	controls []string
	typing   map[string]string
	after    string // a JavaScript condition true once the form is submitted
}

// tabThrough presses Tab from the top of the page until it has reached
// every control of f, typing into them on the way, and then presses Enter
// on the last. At most 30 presses are allowed before the first control (the
// editor's navigation comes first).
func tabThrough(t *testing.T, ctx context.Context, f keyboardForm) {
	t.Helper()
	var stops []focusStop
	next := 0
	reached := func(ctx context.Context, s focusStop) error {
		if s.Key == f.controls[next] {
			if text := f.typing[s.Key]; text != "" {
				if err := chromedp.KeyEvent(text).Do(ctx); err != nil {
					return err
				}
			}
			next++
			// Read the ring again after typing: a field focused by autofocus
			// shows its focus only once the page itself has the keyboard.
			return chromedp.Evaluate(focusNow, &stops[len(stops)-1]).Do(ctx)
		}
		if next > 0 {
			return fmt.Errorf("Tab went to %q between %q and %q", s.Key, f.controls[next-1], f.controls[next])
		}
		return nil
	}
	err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		// A field with autofocus holds the focus when the page opens.
		var s focusStop
		if err := chromedp.Evaluate(focusNow, &s).Do(ctx); err != nil {
			return err
		}
		if s.Key != "" {
			stops = append(stops, s)
			if err := reached(ctx, s); err != nil {
				return err
			}
		}
		for presses := 0; next < len(f.controls); presses++ {
			if presses > 30+len(f.controls) {
				return fmt.Errorf("%d presses of Tab did not reach %q", presses, f.controls[next])
			}
			if err := chromedp.KeyEvent(kb.Tab).Do(ctx); err != nil {
				return err
			}
			if err := chromedp.Evaluate(focusNow, &s).Do(ctx); err != nil {
				return err
			}
			stops = append(stops, s)
			if err := reached(ctx, s); err != nil {
				return err
			}
		}
		return chromedp.KeyEvent(kb.Enter).Do(ctx)
	}), waitUntil(f.after, 30*time.Second))
	if err != nil {
		t.Fatalf("%v\nfocus went to %v", err, stops)
	}
	t.Logf("focus went to %v", stops)
	for _, s := range stops {
		if !s.Ring {
			t.Errorf("%q shows no focus (no outline, no box shadow)", s.Key)
		}
	}
}

// TestBrowser_Keyboard signs up, signs in and writes a broadcast with the
// keyboard alone: Tab reaches every control of each form in reading order,
// each shows its focus, and Enter submits.
func TestBrowser_Keyboard(t *testing.T) {
	t.Parallel()
	p := startProgram(t)
	mustBrowserList(t, p)
	ctx := newBrowserFor(t, 5*time.Minute)
	forms := []keyboardForm{
		{
			name: "sign-up", path: "/subscribe/weekly",
			controls: []string{"email", "name", "button:Subscribe"},
			typing:   map[string]string{"email": "ada@example.com", "name": "Ada"},
			after:    `document.readyState === "complete" && document.querySelector("h1").textContent === "Check your inbox"`,
		},
		{
			name: "sign-in", path: "/editor/login",
			controls: []string{"email", "password", "button:Sign in"},
			typing:   map[string]string{"email": testEditor, "password": testPassword},
			after:    `document.readyState === "complete" && !!document.querySelector("svg.chart")`,
		},
		{
			name: "new broadcast", path: "/editor/broadcasts/new",
			controls: []string{"list", "tags_include", "tags_exclude", "subject", "preheader", "body", "button:save"},
			typing:   map[string]string{"subject": "Typed, not clicked", "body": "Written with the keyboard alone."},
			after:    `document.readyState === "complete" && /^\/editor\/broadcasts\/\d+$/.test(location.pathname) && !!document.getElementById("send-now")`,
		},
	}
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if err := chromedp.Run(ctx, chromedp.Navigate(p.base+f.path), pageIs(f.path, "#"+strings.Split(f.controls[0], ":")[0])); err != nil {
				t.Fatal(err)
			}
			tabThrough(t, ctx, f)
		})
	}
	// On every editor page the first Tab reaches a link past the
	// navigation, which shows itself when focused and moves the focus to
	// the page's content.
	t.Run("skip link", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		var first, after focusStop
		var shown bool
		err := chromedp.Run(ctx,
			chromedp.Navigate(p.base+"/editor/broadcasts"),
			pageIs("/editor/broadcasts", "main"),
			chromedp.KeyEvent(kb.Tab),
			chromedp.Evaluate(focusNow, &first),
			chromedp.Evaluate(`(() => { const r = document.activeElement.getBoundingClientRect(); return r.top >= 0 && r.height > 0; })()`, &shown),
			chromedp.KeyEvent(kb.Enter),
			chromedp.Evaluate(focusNow, &after),
		)
		if err != nil {
			t.Fatal(err)
		}
		if first.Key != "a:Skip to content" || !first.Ring || !shown {
			t.Errorf("the first Tab reached %+v (seen %v), want the skip link, seen with its focus", first, shown)
		}
		if after.Key != "main" {
			t.Errorf("the skip link moved the focus to %q, want main", after.Key)
		}
	})
	var subject, body string
	if err := p.db.QueryRow(`SELECT subject, body FROM broadcasts`).Scan(&subject, &body); err != nil {
		t.Fatal(err)
	}
	if subject != "Typed, not clicked" || body != "Written with the keyboard alone." {
		t.Errorf("the broadcast saved is %q %q", subject, body)
	}
}
