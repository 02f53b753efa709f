package campaigns

import (
	"net/url"
	"strconv"
	"strings"
)

// listHeaders are the list headers of a message of the list slug whose
// unsubscribe link is unsubscribe: List-Unsubscribe with its one-click
// List-Unsubscribe-Post (RFC 2369, RFC 8058), and List-Id (RFC 2919), whose
// right-hand side is domain.
func listHeaders(unsubscribe, slug, domain string) map[string]string {
	return map[string]string{
		"List-Unsubscribe":      "<" + unsubscribe + ">",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		"List-Id":               "<" + slug + "." + domain + ">",
	}
}

// feedbackID is the Feedback-ID of it's message, as Gmail's feedback loop
// reads it: campaign, list, kind and sender, each free of colons. The
// campaign is the id of the content (the broadcast, step or bonus; the list
// for its confirmation and welcome emails), which names the mailing without
// telling how many messages were sent; the sender is domain, the List-Id's.
func feedbackID(it *Item, domain string) string {
	return strconv.FormatInt(it.ContentID, 10) + ":" + it.ListSlug + ":" + it.Kind + ":" + strings.ReplaceAll(domain, ":", "")
}

// listDomain is the right-hand side of List-Id: the host of BaseURL (read
// once), else the domain of the from address.
func (d *Dispatcher) listDomain(fromEmail string) string {
	d.hostOnce.Do(func() {
		if u, err := url.Parse(d.BaseURL); err == nil && u.Hostname() != "" && !strings.Contains(u.Hostname(), ":") {
			d.host = u.Hostname()
		}
	})
	if d.host != "" {
		return d.host
	}
	return domainOf(fromEmail)
}

func domainOf(email string) string {
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		return email[i+1:]
	}
	return ""
}
