package main

import (
	"bufio"
	"context"
	"embed"
	"fmt"
	"io"
	"strings"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/subscribers"
)

//go:embed demo/*.md
var demoFiles embed.FS

// demoSlug is the list `make run` sets up.
const demoSlug = "effective-leadership"

// demoMail reads a demo file: "Subject: ..." on the first line, a blank line,
// then the Markdown body.
func demoMail(name string) (subject, body string, err error) {
	b, err := demoFiles.ReadFile("demo/" + name)
	if err != nil {
		return "", "", err
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Scan()
	subject, ok := strings.CutPrefix(sc.Text(), "Subject: ")
	if !ok {
		return "", "", fmt.Errorf("demo/%s: first line must be \"Subject: ...\"", name)
	}
	_, body, _ = strings.Cut(string(b), "\n")
	return subject, strings.TrimSpace(body) + "\n", nil
}

// seedDemo creates the demo list "Effective Leadership" with its six-week
// series and two bonus emails, once, and prints a development API token.
func (a *app) seedDemo(ctx context.Context, w io.Writer) error {
	if _, err := a.subscribers.ListBySlug(ctx, demoSlug); err == nil {
		return a.printDevToken(ctx, w)
	} else if tidings.ErrorCode(err) != tidings.ENOTFOUND {
		return err
	}
	wsub, wbody, err := demoMail("welcome.md")
	if err != nil {
		return err
	}
	list := &subscribers.List{
		Slug:           demoSlug,
		Name:           "Effective Leadership",
		FromName:       "Effective Leadership",
		FromEmail:      "coach@tidings.localhost",
		Timezone:       "Europe/London",
		PostalAddress:  "Tidings Demo, 1 Example Street, London EC1A 1AA, United Kingdom",
		ConsentText:    "Yes, send me the six-week Effective Leadership series and the occasional newsletter. I can unsubscribe at any time with one click.",
		WelcomeSubject: wsub,
		WelcomeBody:    wbody,
	}
	if err := a.subscribers.CreateList(ctx, list); err != nil {
		return fmt.Errorf("demo list: %w", err)
	}
	for i := 1; i <= 2; i++ {
		subject, body, err := demoMail(fmt.Sprintf("bonus-%d.md", i))
		if err != nil {
			return err
		}
		if err := a.campaigns.CreateBonus(ctx, list.ID, &campaigns.Bonus{Position: i, Subject: subject, Body: body}); err != nil {
			return fmt.Errorf("demo bonus %d: %w", i, err)
		}
	}
	for i := 1; i <= 6; i++ {
		subject, body, err := demoMail(fmt.Sprintf("step-%d.md", i))
		if err != nil {
			return err
		}
		// The first step comes the morning after confirmation, then weekly.
		delay := 7
		if i == 1 {
			delay = 1
		}
		st := &campaigns.Step{Subject: subject, Body: body, DelayDays: delay, SendTime: "08:00"}
		if err := a.campaigns.CreateStep(ctx, list.ID, st); err != nil {
			return fmt.Errorf("demo step %d: %w", i, err)
		}
	}
	fmt.Fprintf(w, "Seeded the demo list %q with a six-week series and two bonus emails.\n", list.Name)
	return a.printDevToken(ctx, w)
}

// printDevToken prints the API token for trying the API in development: the
// same one on every start, made on the first.
func (a *app) printDevToken(ctx context.Context, w io.Writer) error {
	token, err := a.editors.DevToken(ctx, "dev (tidings serve --dev)")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Development API token: %s\n", token)
	return nil
}
