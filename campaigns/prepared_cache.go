package campaigns

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tidings/tidings/templates"
)

// maxPrepared bounds the prepared contents a Dispatcher keeps.
const maxPrepared = 256

// preparedKey names one version of a content as sent for one list: the kind
// and id of what holds it (step, bonus, broadcast, or the list for its
// welcome email) and when that was last changed.
type preparedKey struct {
	kind string
	id   int64
	at   time.Time
	list templates.List
}

type preparedEntry struct {
	once sync.Once
	p    *templates.Prepared
	err  error
}

// preparedCache keeps contents laid out once (templates.Prepared), so that a
// broadcast or a step is rendered once per version and only filled in per
// recipient. It holds at most maxPrepared; when full it starts again empty,
// which costs one more preparation per version in use. The zero value is
// ready to use.
type preparedCache struct {
	mu sync.Mutex
	m  map[preparedKey]*preparedEntry
}

// get returns the content of key, calling make once to prepare it when it is
// not kept. Callers that miss at once wait for the one that prepares it. An
// error wrapping errContent is not kept: the next get tries again.
func (c *preparedCache) get(key preparedKey, make func() (*templates.Prepared, error)) (*templates.Prepared, error) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[preparedKey]*preparedEntry{}
	}
	e, ok := c.m[key]
	if !ok {
		if len(c.m) >= maxPrepared {
			clear(c.m)
		}
		e = &preparedEntry{}
		c.m[key] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.p, e.err = make() })
	if errors.Is(e.err, errContent) {
		c.mu.Lock()
		if c.m[key] == e {
			delete(c.m, key) // try again next time
		}
		c.mu.Unlock()
	}
	return e.p, e.err
}

// errContent marks a failure to read a broadcast's content: the database's
// fault, not the message's, so the item is released rather than failed.
var errContent = errors.New("read content")

// prepare returns the content of it prepared for list l, from the cache when
// this version was prepared before. A broadcast's content is read here, once
// per version, rather than claimed with each recipient.
func (d *Dispatcher) prepare(ctx context.Context, it *Item, l templates.List) (*templates.Prepared, error) {
	key := preparedKey{kind: it.Kind, id: it.ContentID, at: it.ContentAt.UTC(), list: l}
	return d.prepared.get(key, func() (*templates.Prepared, error) {
		c := templates.Content{Subject: it.Subject, Body: it.Body}
		if it.Kind == KindBroadcast {
			const q = `
				SELECT subject, body, preheader
				FROM broadcasts
				WHERE id = $1`
			row := d.DB.QueryRowxContext(ctx, q, it.BroadcastID)
			if err := row.Scan(&c.Subject, &c.Body, &c.Preheader); err != nil {
				return nil, fmt.Errorf("%w of broadcast %d: %w", errContent, it.BroadcastID, err)
			}
		}
		return d.Renderer.Prepare(c, l)
	})
}

// confirmationCache keeps the confirmation email of each list laid out
// (templates.PreparedConfirmation), by what the email shows of the list, so
// that a renamed list gets a new one. It holds at most maxPrepared; when
// full it starts again empty. The zero value is ready to use.
type confirmationCache struct {
	mu sync.Mutex
	m  map[templates.List]*templates.PreparedConfirmation
}

// get returns the confirmation of l, prepared by r when it is not kept.
func (c *confirmationCache) get(r *templates.Renderer, l templates.List) *templates.PreparedConfirmation {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.m[l]; ok {
		return p
	}
	if c.m == nil || len(c.m) >= maxPrepared {
		c.m = map[templates.List]*templates.PreparedConfirmation{}
	}
	p := r.PrepareConfirmation(l)
	c.m[l] = p
	return p
}
