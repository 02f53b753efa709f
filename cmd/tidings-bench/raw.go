package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/tidings/tidings/templates"
)

// waitFor polls the sink until n distinct recipients were accepted and the
// count has stopped moving (so late duplicates are counted too).
func waitFor(ctx context.Context, sinkHTTP string, n int) (sinkStats, error) {
	var st sinkStats
	for {
		resp, err := http.Get(sinkHTTP + "/stats")
		if err != nil {
			return st, err
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			return st, err
		}
		if st.Unique >= n {
			time.Sleep(500 * time.Millisecond)
			resp, err := http.Get(sinkHTTP + "/stats")
			if err == nil {
				json.NewDecoder(resp.Body).Decode(&st)
				resp.Body.Close()
			}
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("timed out with %d of %d recipients at the sink", st.Unique, n)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// resetSink clears the sink's counts.
func resetSink(sinkHTTP string) error {
	resp, err := http.Post(sinkHTTP+"/reset", "text/plain", nil)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// rawSender is sendRaw, sendRawBytes or sendRawPipelined.
type rawSender func(ctx context.Context, sinkAddr string, n, conns int) error

// measureRaw sends n messages with send and returns the messages per
// second accepted at the sink, which it clears before and after.
func measureRaw(ctx context.Context, send rawSender, sinkSMTP, sinkHTTP string, n, conns int) (float64, error) {
	reset := func() error { return resetSink(sinkHTTP) }
	if err := reset(); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := send(ctx, sinkSMTP, n, conns); err != nil {
		return 0, err
	}
	st, err := waitFor(ctx, sinkHTTP, n)
	if err != nil {
		return 0, err
	}
	return float64(st.Unique) / time.Unix(0, st.LastNanos).Sub(start).Seconds(), reset()
}

// sendRawBytes is the strictest raw limit: one message rendered to bytes
// once, and those bytes sent n times with go-mail's SMTP client (MAIL, RCPT,
// DATA) over conns persistent connections, so that nothing is built per
// message at all.
func sendRawBytes(ctx context.Context, sinkAddr string, n, conns int) error {
	html, text, err := benchParts()
	if err != nil {
		return err
	}
	m := benchMsg("reader1@bench.localhost", html, text)
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		return err
	}
	data := buf.Bytes()
	return onConns(ctx, sinkAddr, n, conns, eachMessage(func(_ *mail.Client, sc *smtp.Client, i int64) error {
		// As go-mail's own send does: the deadline set when connecting would
		// otherwise end a long run.
		if err := sc.UpdateDeadline(mail.DefaultTimeout); err != nil {
			return err
		}
		if err := sc.Mail("bench@tidings.localhost"); err != nil {
			return err
		}
		if err := sc.Rcpt(fmt.Sprintf("reader%d@bench.localhost", i)); err != nil {
			return err
		}
		w, err := sc.Data()
		if err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
		return w.Close()
	}))
}

// sendRawPipelined is sendRawBytes with the engine's use of SMTP: the
// message bytes (dot-stuffed once) go out in one write with their ending dot
// and the next message's MAIL, RCPT and DATA (RFC 2920), and the replies are
// read after, so a message costs one round trip. go-mail's client only
// connects; the commands are written raw.
func sendRawPipelined(ctx context.Context, sinkAddr string, n, conns int) error {
	html, text, err := benchParts()
	if err != nil {
		return err
	}
	var msg, stuffed bytes.Buffer
	if _, err := benchMsg("reader1@bench.localhost", html, text).WriteTo(&msg); err != nil {
		return err
	}
	dw := textproto.NewWriter(bufio.NewWriter(&stuffed)).DotWriter()
	if _, err := dw.Write(msg.Bytes()); err != nil {
		return err
	}
	if err := dw.Close(); err != nil { // writes the ending dot
		return err
	}
	data := stuffed.Bytes()
	envelope := func(dst []byte, i int64) []byte {
		return fmt.Appendf(dst, "MAIL FROM:<bench@tidings.localhost>\r\nRCPT TO:<reader%d@bench.localhost>\r\nDATA\r\n", i)
	}
	return onConns(ctx, sinkAddr, n, conns, func(_ *mail.Client, sc *smtp.Client, next func() (int64, bool)) error {
		t := sc.Text
		write := func(p []byte) error {
			if err := sc.UpdateDeadline(mail.DefaultTimeout); err != nil {
				return err
			}
			if _, err := t.W.Write(p); err != nil {
				return err
			}
			return t.W.Flush()
		}
		replies := func(codes ...int) error {
			for _, code := range codes {
				if _, _, err := t.ReadResponse(code); err != nil {
					return err
				}
			}
			return nil
		}
		i, ok := next()
		if !ok {
			return nil
		}
		if err := write(envelope(nil, i)); err != nil {
			return err
		}
		if err := replies(250, 250, 354); err != nil {
			return err
		}
		buf := make([]byte, 0, len(data)+200)
		for {
			j, more := next()
			buf = append(buf[:0], data...)
			if more {
				buf = envelope(buf, j)
			}
			if err := write(buf); err != nil {
				return err
			}
			if err := replies(250); err != nil {
				return err
			}
			if !more {
				return nil
			}
			if err := replies(250, 250, 354); err != nil {
				return err
			}
		}
	})
}

// sendRaw is the raw limit: n messages, rendered once, sent with go-mail over
// conns persistent connections with no database.
func sendRaw(ctx context.Context, sinkAddr string, n, conns int) error {
	html, text, err := benchParts()
	if err != nil {
		return err
	}
	return onConns(ctx, sinkAddr, n, conns, eachMessage(func(c *mail.Client, sc *smtp.Client, i int64) error {
		return c.SendWithSMTPClient(sc, benchMsg(fmt.Sprintf("reader%d@bench.localhost", i), html, text))
	}))
}

// eachMessage makes a sender for onConns that calls send for each message
// in turn.
func eachMessage(send func(c *mail.Client, sc *smtp.Client, i int64) error) func(*mail.Client, *smtp.Client, func() (int64, bool)) error {
	return func(c *mail.Client, sc *smtp.Client, next func() (int64, bool)) error {
		for i, ok := next(); ok; i, ok = next() {
			if err := send(c, sc, i); err != nil {
				return err
			}
		}
		return nil
	}
}

// benchParts is the email the engine sends, rendered once.
func benchParts() (html, text string, err error) {
	r, err := templates.NewRenderer()
	if err != nil {
		return "", "", err
	}
	msg, err := r.Render(templates.Content{Subject: "Notes for you", Preheader: "Three ideas for this week", Body: benchBody},
		templates.List{Name: "Bench", FromName: "Bench", PostalAddress: "1 Bench Road"},
		templates.Recipient{Email: "reader1@bench.localhost", Name: "Reader 1", UnsubscribeURL: "http://127.0.0.1:8080/unsubscribe/token"})
	if err != nil {
		return "", "", err
	}
	return msg.HTML, msg.Text, nil
}

// benchMsg is a go-mail message of html and text to one recipient.
func benchMsg(to, html, text string) *mail.Msg {
	m := mail.NewMsg()
	m.From("Bench <bench@tidings.localhost>")
	m.To(to)
	m.Subject("Notes for you: the week in leadership")
	m.SetMessageID()
	m.SetGenHeader("List-Unsubscribe", "<http://127.0.0.1:8080/unsubscribe/token>")
	m.SetGenHeader("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
	m.SetBodyString(mail.TypeTextPlain, text)
	m.AddAlternativeString(mail.TypeTextHTML, html)
	return m
}

// onConns opens conns persistent connections to sinkAddr, each with a
// go-mail client of its own, and calls send on each; send takes the
// messages 1..n, spread over the connections, from next until it says there
// are no more. It returns the first error.
func onConns(ctx context.Context, sinkAddr string, n, conns int, send func(c *mail.Client, sc *smtp.Client, next func() (int64, bool)) error) error {
	host, portS, _ := strings.Cut(sinkAddr, ":")
	port, err := strconv.Atoi(portS)
	if err != nil {
		return fmt.Errorf("sink address %q: %w", sinkAddr, err)
	}
	var counter atomic.Int64
	next := func() (int64, bool) {
		i := counter.Add(1)
		return i, i <= int64(n)
	}
	errc := make(chan error, conns)
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			client, err := mail.NewClient(host, mail.WithPort(port), mail.WithTLSPolicy(mail.NoTLS), mail.WithoutNoop(), mail.WithoutRset(), mail.WithHELO("bench.localhost"))
			if err != nil {
				errc <- err
				return
			}
			sc, err := client.DialToSMTPClientWithContext(ctx)
			if err != nil {
				errc <- err
				return
			}
			defer client.CloseWithSMTPClient(sc)
			if err := send(client, sc, next); err != nil {
				errc <- err
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}
