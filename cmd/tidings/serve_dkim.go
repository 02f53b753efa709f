package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// dkimRefresh is how often a running instance reloads the DKIM keys, so
// that a key made or removed with `tidings dkim` while it serves takes
// effect without a restart.
const dkimRefresh = 30 * time.Second

// loadDKIM loads the DKIM keys that open under the instance's secret into
// every sender. A key that does not open is logged and left out, so the
// others still sign; its domain's mail goes unsigned, as it would without
// a key. The log says what changed since the last load, once.
func (a *app) loadDKIM(ctx context.Context) error {
	if len(a.senders) == 0 {
		return nil
	}
	keys, unreadable, err := a.dkim.Signers(ctx)
	if err != nil {
		return err
	}
	for _, s := range a.senders {
		if err := s.SetDKIMKeys(keys); err != nil {
			return err
		}
	}
	var loaded []string
	for _, k := range keys {
		loaded = append(loaded, k.Selector+"._domainkey."+k.Domain)
	}
	var bad []string
	for _, u := range unreadable {
		bad = append(bad, fmt.Sprintf("%s._domainkey.%s (%v)", u.Key.Selector, u.Key.Domain, u.Err))
	}
	summary := strings.Join(loaded, " ") + "|" + strings.Join(bad, " ")
	if summary != a.dkimLoaded {
		a.dkimLoaded = summary
		if len(loaded) == 0 {
			a.logger.Info("no dkim keys: mail is sent unsigned; make one with `tidings dkim keygen --domain D`")
		} else {
			a.logger.Info("dkim keys loaded", "keys", strings.Join(loaded, " "))
		}
		if len(bad) > 0 {
			a.logger.Warn("dkim keys that do not open are not used: their domains' mail goes unsigned", "keys", strings.Join(bad, "; "))
		}
	}
	return nil
}

// refreshDKIM reloads the DKIM keys every dkimRefresh until ctx ends. A
// failed load keeps the keys in force and is logged.
func (a *app) refreshDKIM(ctx context.Context) {
	t := time.NewTicker(dkimRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.loadDKIM(ctx); err != nil && ctx.Err() == nil {
				a.logger.Error("dkim keys: reload failed; the keys loaded before stay", "err", err)
			}
		}
	}
}
