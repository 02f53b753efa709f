package campaigns_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/templates"
)

func TestPreparedCache(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	t.Run("Once", func(t *testing.T) {
		// Workers that miss at once wait for one preparation.
		var c campaigns.PreparedCache
		var made atomic.Int32
		p := &templates.Prepared{}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				got, err := c.Get(campaigns.PreparedKey("broadcast", 1, at), func() (*templates.Prepared, error) {
					made.Add(1)
					time.Sleep(10 * time.Millisecond)
					return p, nil
				})
				if err != nil || got != p {
					t.Errorf("got %p, %v", got, err)
				}
			})
		}
		wg.Wait()
		if made.Load() != 1 {
			t.Fatalf("prepared %d times, want 1", made.Load())
		}
	})
	t.Run("Versions", func(t *testing.T) {
		// An edit is a new version: prepared again.
		var c campaigns.PreparedCache
		made := 0
		make := func() (*templates.Prepared, error) { made++; return &templates.Prepared{}, nil }
		for _, k := range []struct {
			id int64
			at time.Time
		}{{1, at}, {1, at}, {1, at.Add(time.Second)}, {2, at}} {
			if _, err := c.Get(campaigns.PreparedKey("step", k.id, k.at), make); err != nil {
				t.Fatal(err)
			}
		}
		if made != 3 {
			t.Fatalf("prepared %d times, want 3", made)
		}
	})
	t.Run("ErrContent", func(t *testing.T) {
		// A failure to read the content is tried again; a failure of the
		// content itself is kept.
		var c campaigns.PreparedCache
		made := 0
		read := func() (*templates.Prepared, error) {
			made++
			return nil, fmt.Errorf("%w: connection reset", campaigns.ErrContent)
		}
		bad := func() (*templates.Prepared, error) { made++; return nil, errors.New("template: bad") }
		for range 2 {
			if _, err := c.Get(campaigns.PreparedKey("broadcast", 1, at), read); !errors.Is(err, campaigns.ErrContent) {
				t.Fatalf("err %v", err)
			}
		}
		for range 2 {
			if _, err := c.Get(campaigns.PreparedKey("step", 1, at), bad); err == nil {
				t.Fatal("no error")
			}
		}
		if made != 3 {
			t.Fatalf("made %d times, want 3", made)
		}
	})
	t.Run("Bounded", func(t *testing.T) {
		var c campaigns.PreparedCache
		made := 0
		make := func() (*templates.Prepared, error) { made++; return &templates.Prepared{}, nil }
		for i := range 1000 {
			_, _ = c.Get(campaigns.PreparedKey("step", int64(i), at), make)
		}
		_, _ = c.Get(campaigns.PreparedKey("step", 999, at), make)
		if made != 1000 {
			t.Fatalf("made %d, want 1000 (the newest kept)", made)
		}
	})
}

func TestListHeaders(t *testing.T) {
	got := campaigns.ListHeaders("https://news.example.com/unsubscribe/T", "coach", "news.example.com")
	want := map[string]string{
		"List-Unsubscribe":      "<https://news.example.com/unsubscribe/T>",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		"List-Id":               "<coach.news.example.com>",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}
