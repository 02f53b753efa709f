package web

import (
	"context"
	"strings"

	"github.com/tidings/tidings/subscribers"
)

// dkimStatus is what the list settings page says of the signing of the
// list's mail: the From domain and the records of its keys, none when its
// mail goes unsigned.
type dkimStatus struct {
	Domain string
	Keys   []dkimRecord
}

// dkimRecord is a key of the domain and the DNS TXT record that publishes it.
type dkimRecord struct {
	Selector, Algorithm string
	Name, Value         string
}

// dkimStatusOf looks up the DKIM keys of l's From domain; nil when the
// server has no key store.
func (s *Server) dkimStatusOf(ctx context.Context, l *subscribers.List) (*dkimStatus, error) {
	if s.dkim == nil {
		return nil, nil
	}
	at := strings.LastIndexByte(l.FromEmail, '@')
	domain := strings.ToLower(l.FromEmail[at+1:])
	keys, err := s.dkim.ByDomain(ctx, domain)
	if err != nil {
		return nil, err
	}
	d := &dkimStatus{Domain: domain}
	for _, k := range keys {
		r := k.Record()
		d.Keys = append(d.Keys, dkimRecord{Selector: k.Selector, Algorithm: k.Algorithm, Name: r.Name, Value: r.Value})
	}
	return d, nil
}
