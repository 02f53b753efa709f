package campaigns

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tidings/tidings/delivery"
	"github.com/tidings/tidings/templates"
)

// render makes the message of it; nil (and no error) when there is nothing
// to send.
func (d *Dispatcher) render(ctx context.Context, it *Item) (*delivery.Message, error) {
	if d.Renderer == nil || d.Links == nil {
		return nil, errors.New("dispatcher has no Renderer or Links")
	}
	l := templates.List{Name: it.ListName, FromName: it.FromName, PostalAddress: it.PostalAddress}
	unsubscribe := d.Links.Unsubscribe(it.SubscriptionID)
	to := templates.Recipient{Email: it.Email, Name: it.Name, UnsubscribeURL: unsubscribe, PreferencesURL: d.Links.Preferences(it.SubscriptionID)}
	msg := &delivery.Message{
		FromName: it.FromName, FromEmail: it.FromEmail, ReplyTo: it.ReplyTo,
		To: it.Email, ToName: it.Name,
	}
	switch it.Kind {
	case KindConfirm:
		// The same for every reader of the list but their name and links:
		// laid out once per list, spliced per reader, as broadcasts are.
		m, err := d.confirmations.get(d.Renderer, l).SplicedFor(to, d.Links.ConfirmGeneration(it.SubscriptionID, it.ConfirmGeneration))
		if err != nil {
			return nil, err
		}
		html, text := delivery.Spliced(m.HTML), delivery.Spliced(m.Text)
		msg.Subject, msg.HTMLSpliced, msg.TextSpliced = m.Subject, &html, &text
	case KindWelcome, KindBonus, KindStep, KindBroadcast:
		if it.Kind == KindWelcome && strings.TrimSpace(it.Subject) == "" {
			return nil, nil
		}
		p, err := d.prepare(ctx, it, l)
		if err != nil {
			return nil, err
		}
		// In pieces: what every recipient of the content shares is encoded
		// once, by the Sender.
		m, err := p.SplicedFor(to)
		if err != nil {
			return nil, err
		}
		html, text := delivery.Spliced(m.HTML), delivery.Spliced(m.Text)
		msg.Subject, msg.HTMLSpliced, msg.TextSpliced = m.Subject, &html, &text
	default:
		return nil, fmt.Errorf("cannot render a %q item", it.Kind)
	}
	domain := d.listDomain(it.FromEmail)
	msg.Headers = listHeaders(unsubscribe, it.ListSlug, domain)
	msg.Headers["Feedback-ID"] = feedbackID(it, domain)
	if it.Kind == KindConfirm {
		// Sent because someone filled in a form, not by a person: RFC 3834
		// asks auto-responders not to answer it.
		msg.Headers["Auto-Submitted"] = "auto-generated"
	}
	return msg, nil
}
