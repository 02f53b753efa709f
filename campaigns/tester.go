package campaigns

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/delivery"
	"github.com/tidings/tidings/subscribers"
	"github.com/tidings/tidings/templates"
)

// MaxTestEmails is how many addresses one test send may go to.
const MaxTestEmails = 10

// Tester sends test copies of a broadcast to editors, at once and outside
// the outbox: nothing is queued or counted, and the broadcast's status does
// not matter. A copy is rendered as the broadcast would be for a sample
// recipient named Ada Lovelace at the test address, with "[Test] " before
// its subject and links that lead nowhere (BaseURL/unsubscribe/test).
type Tester struct {
	DB       *sqlx.DB
	Sender   *delivery.Sender
	Renderer *templates.Renderer
	BaseURL  string // the public URL of this Tidings, for the sample links
}

// TestResult is what happened to the test copy sent to one address.
type TestResult struct {
	Email    string `json:"email"`
	Status   string `json:"status"` // "sent" or "failed"
	SMTPCode int    `json:"smtp_code,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Test sends a test copy of broadcast id to each address in emails (1 to
// MaxTestEmails, each sent once), one after another over one connection, and
// says what happened to each. Returns EINVALID for no addresses, too many or
// a bad one (naming it), ENOTFOUND for an unknown broadcast, and ECONFLICT
// when no SMTP relay is configured; nothing is sent then. A failed send is a
// result, not an error.
func (t *Tester) Test(ctx context.Context, id int64, emails []string) ([]TestResult, error) {
	if len(emails) == 0 {
		return nil, tidings.Errorf(tidings.EINVALID, "emails is required: the addresses to send the test to.")
	}
	if len(emails) > MaxTestEmails {
		return nil, tidings.Errorf(tidings.EINVALID, "A test goes to at most %d addresses, not %d.", MaxTestEmails, len(emails))
	}
	var to []string
	for _, e := range emails {
		addr, err := subscribers.NormalizeEmail(e)
		if err != nil {
			return nil, tidings.Errorf(tidings.EINVALID, "%q: %s", e, tidings.ErrorMessage(err))
		}
		if !slices.Contains(to, addr) {
			to = append(to, addr)
		}
	}
	if t == nil || t.Sender == nil || t.Renderer == nil {
		return nil, tidings.Errorf(tidings.ECONFLICT, "Test emails need an SMTP relay (TIDINGS_SMTP_URL), and this instance has none.")
	}
	const q = `
		SELECT b.subject, b.body, b.preheader, l.slug, l.name, l.from_name, l.from_email, l.reply_to, l.postal_address
		FROM broadcasts b
		JOIN lists l ON l.id = b.list_id
		WHERE b.id = $1`
	var b struct {
		Subject       string `db:"subject"`
		Body          string `db:"body"`
		Preheader     string `db:"preheader"`
		Slug          string `db:"slug"`
		Name          string `db:"name"`
		FromName      string `db:"from_name"`
		FromEmail     string `db:"from_email"`
		ReplyTo       string `db:"reply_to"`
		PostalAddress string `db:"postal_address"`
	}
	if err := t.DB.GetContext(ctx, &b, q, id); errors.Is(err, sql.ErrNoRows) {
		return nil, tidings.Errorf(tidings.ENOTFOUND, broadcastNotFound, id)
	} else if err != nil {
		return nil, fmt.Errorf("campaigns: test broadcast %d: %w", id, err)
	}
	p, err := t.Renderer.Prepare(templates.Content{Subject: b.Subject, Body: b.Body, Preheader: b.Preheader},
		templates.List{Name: b.Name, FromName: b.FromName, PostalAddress: b.PostalAddress})
	if err != nil {
		return nil, err
	}
	link := strings.TrimRight(t.BaseURL, "/") + "/unsubscribe/test"
	conn := t.Sender.NewConn()
	defer conn.Close()
	results := make([]TestResult, 0, len(to))
	headers := listHeaders(link, b.Slug, domainOf(b.FromEmail))
	headers["X-Tidings-Test"] = "broadcast " + strconv.FormatInt(id, 10)
	for _, addr := range to {
		r := TestResult{Email: addr}
		m, err := p.For(templates.Recipient{Email: addr, Name: "Ada Lovelace", UnsubscribeURL: link, PreferencesURL: link})
		if err != nil {
			r.Status, r.Error = "failed", tidings.ErrorMessage(err)
			results = append(results, r)
			continue
		}
		res := conn.Send(ctx, &delivery.Message{
			FromName: b.FromName, FromEmail: b.FromEmail, ReplyTo: b.ReplyTo,
			To: addr, Subject: "[Test] " + m.Subject, HTML: m.HTML, Text: m.Text,
			Headers: headers,
		})
		r.Status, r.SMTPCode = "sent", res.Code
		if res.Status != delivery.Sent {
			r.Status = "failed"
			if res.Err != nil {
				r.Error = truncate(res.Err.Error())
			}
		}
		results = append(results, r)
	}
	return results, nil
}
