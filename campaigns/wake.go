package campaigns

import (
	"context"
	"log/slog"
	"time"

	"github.com/lib/pq"
)

// QueueChannel is the Postgres notification channel on which the database
// says that mail may have become due now: migration 00012's triggers notify
// on it when rows are queued in the outbox and when a broadcast starts or
// resumes sending.
const QueueChannel = "tidings_outbox"

// ListenQueue listens on QueueChannel over a connection of its own to dsn,
// until ctx ends, and returns a channel that receives a value each time
// mail may have become due (at most one waits). It also receives one when
// it starts listening, and each time the connection was lost and made
// again, since mail may have been queued unheard meanwhile. It is what a
// Dispatcher's Wake is for. It reconnects by itself, and logs to logger
// when it cannot.
func ListenQueue(ctx context.Context, dsn string, logger *slog.Logger) <-chan struct{} {
	wake := make(chan struct{}, 1)
	poke := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	l := pq.NewListener(dsn, time.Second, time.Minute, func(ev pq.ListenerEventType, err error) {
		if err != nil {
			logger.Warn("queue listener", slog.Any("err", err))
		}
	})
	go func() {
		defer l.Close()
		stop := context.AfterFunc(ctx, func() { _ = l.Close() })
		defer stop()
		// Listen waits until it is connected; Close ends the wait.
		if err := l.Listen(QueueChannel); err != nil {
			if ctx.Err() == nil {
				logger.Error("queue listener", slog.Any("err", err))
			}
			return
		}
		poke()
		// A connection can die without a word (a server restart behind a
		// proxy); a ping finds out, and the listener then reconnects.
		ping := time.NewTicker(time.Minute)
		defer ping.Stop()
		for {
			select {
			case _, ok := <-l.Notify:
				if !ok {
					return
				}
				poke() // nil after a reconnect: poke anyway
			case <-ping.C:
				_ = l.Ping()
			}
		}
	}()
	return wake
}
