package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/subscribers"
)

// A broadcast's page: before it starts, its audience, a test send, the
// schedule picker and "Send now"; while it sends, a progress bar with the
// rate and the estimated finish; afterwards its figures. Each action is a
// plain form POST that redirects back here; a transition the broadcast's
// state does not allow shows the store's ECONFLICT message with 409 and
// changes nothing, and bad input shows the form again with 422.

// broadcastPage is what a broadcast's page shows.
type broadcastPage struct {
	B        *campaigns.Broadcast
	List     *subscribers.List
	Label    string
	Audience int // for a draft or scheduled broadcast: who would get it now
	Progress *broadcastProgress
	Preview  *preview
	When     string // the schedule, the start and the finish, in words
	// SendAtText is when a scheduled broadcast goes out, in its list's time zone.
	SendAtText string

	Zones    []string
	Schedule scheduleForm
	Emails   string // the test form's addresses

	Error, Notice string

	Editable, CanPause, CanResume, CanCancel, CanRetry bool
	// Watch is set while the page should follow the broadcast: it is
	// scheduled to start within the hour, sending or paused.
	Watch  bool
	WaitMS int64 // until a scheduled broadcast is due
}

// scheduleForm is the date, time and time zone picker as typed.
type scheduleForm struct {
	Date, Time, Zone string
}

// handleEditorBroadcastShow shows a broadcast where it is.
func (s *Server) handleEditorBroadcastShow(w http.ResponseWriter, r *http.Request) {
	b, ok := s.editorBroadcast(w, r)
	if !ok {
		return
	}
	f := s.takeFlash(w, r)
	d := broadcastPage{Notice: broadcastNotices[r.URL.Query().Get("done")], Emails: f.Emails}
	if f.Notice != "" {
		d.Notice = f.Notice
	}
	d.Error = f.Error
	s.renderBroadcast(w, r, http.StatusOK, b, d)
}

// renderBroadcast fills in what b's page shows and renders it with status.
func (s *Server) renderBroadcast(w http.ResponseWriter, r *http.Request, status int, b *campaigns.Broadcast, d broadcastPage) {
	ctx := r.Context()
	l, err := s.subscribers.ListBySlug(ctx, b.List)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	loc := zoneOf(l)
	now := s.now()
	d.B, d.List, d.Label = b, l, statusLabels[b.Status]
	d.Editable = editable(b.Status)
	d.CanPause = b.Status == campaigns.BroadcastSending
	d.CanResume = b.Status == campaigns.BroadcastPaused
	d.CanCancel = b.Status != campaigns.BroadcastSent && b.Status != campaigns.BroadcastCancelled
	if b.StartedAt != nil {
		d.Progress = progressOf(b, loc, now, s.url("editor-broadcast-progress", "id", itoa(b.ID)))
		d.CanRetry = d.Progress.Retryable > 0 && (b.Status == campaigns.BroadcastSending || b.Status == campaigns.BroadcastSent)
	}
	if d.Editable {
		if d.Audience, err = s.campaigns.BroadcastAudience(ctx, b.ID); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	switch b.Status {
	case campaigns.BroadcastSending, campaigns.BroadcastPaused:
		d.Watch = true
	case campaigns.BroadcastScheduled:
		if b.SendAt != nil {
			d.WaitMS = max(0, b.SendAt.Sub(now).Milliseconds())
			d.Watch = d.WaitMS < time.Hour.Milliseconds()
		}
	}
	d.When = s.broadcastTimes(b, loc)
	if b.Status == campaigns.BroadcastScheduled && b.SendAt != nil {
		d.SendAtText = b.SendAt.In(loc).Format("Mon 2 Jan 2006 at 15:04") + ", " + l.Timezone + " time"
	}
	if d.Schedule == (scheduleForm{}) {
		d.Schedule = defaultSchedule(b, l, now)
	}
	d.Zones = zoneChoices(l.Timezone, d.Schedule.Zone)
	if d.Emails == "" {
		d.Emails = editorFrom(ctx).Email
	}
	d.Preview = s.broadcastPreviewOf(r, l, broadcastFormOf(b))
	title := b.Subject
	if title == "" {
		title = fmt.Sprintf("Broadcast %d", b.ID)
	}
	s.render(w, r, status, "editor_broadcast", s.editorPage(r, title, d))
}

// broadcastFail shows b's page again with err's message and status, after a
// refused action; what is shown is read afresh, as nothing was changed.
func (s *Server) broadcastFail(w http.ResponseWriter, r *http.Request, b *campaigns.Broadcast, d broadcastPage, err error) {
	s.logError(r, err)
	if now, lerr := s.campaigns.BroadcastByID(r.Context(), b.ID); lerr == nil {
		b = now
	}
	d.Error = tidings.ErrorMessage(err)
	s.renderBroadcast(w, r, errorStatus(err), b, d)
}

// broadcastAction runs a state change on the broadcast in the path and
// redirects to its page with the notice done; a refused change shows the
// page with the reason.
func (s *Server) broadcastAction(w http.ResponseWriter, r *http.Request, done string,
	do func(ctx context.Context, id int64) (*campaigns.Broadcast, error)) {
	b, ok := s.editorBroadcast(w, r)
	if !ok {
		return
	}
	if _, err := do(r.Context(), b.ID); err != nil {
		s.broadcastFail(w, r, b, broadcastPage{}, err)
		return
	}
	http.Redirect(w, r, s.url("editor-broadcast", "id", itoa(b.ID))+"?done="+done, http.StatusSeeOther)
}

// handleEditorBroadcastSchedule schedules a draft, or moves a scheduled
// broadcast, to a date and time in a time zone.
func (s *Server) handleEditorBroadcastSchedule(w http.ResponseWriter, r *http.Request) {
	b, ok := s.editorBroadcast(w, r)
	if !ok {
		return
	}
	if err := s.parseForm(w, r); err != nil {
		s.broadcastFail(w, r, b, broadcastPage{}, err)
		return
	}
	f := scheduleForm{
		Date: strings.TrimSpace(r.PostFormValue("date")),
		Time: strings.TrimSpace(r.PostFormValue("time")),
		Zone: strings.TrimSpace(r.PostFormValue("timezone")),
	}
	d := broadcastPage{Schedule: f}
	if !editable(b.Status) {
		// The store would say the same; say it before reading the time.
		s.broadcastFail(w, r, b, d, tidings.Errorf(tidings.ECONFLICT,
			"Broadcast %d is %s; only a broadcast that is draft or scheduled can be scheduled.", b.ID, b.Status))
		return
	}
	at, err := s.sendAt(f)
	if err == nil {
		_, err = s.campaigns.Schedule(r.Context(), b.ID, at)
	}
	if err != nil {
		s.broadcastFail(w, r, b, d, err)
		return
	}
	http.Redirect(w, r, s.url("editor-broadcast", "id", itoa(b.ID))+"?done=scheduled#send", http.StatusSeeOther)
}

// sendAt reads the picker: a date, a time (HH:MM, or HH:MM:SS as some
// browsers send it) and an IANA time zone, through campaigns.ParseSendAt.
// Returns EINVALID saying what is wrong, including a time that has passed.
func (s *Server) sendAt(f scheduleForm) (time.Time, error) {
	if f.Date == "" {
		return time.Time{}, tidings.Errorf(tidings.EINVALID, "Pick the day to send the broadcast on.")
	}
	if _, err := time.Parse("2006-01-02", f.Date); err != nil {
		return time.Time{}, tidings.Errorf(tidings.EINVALID, "The date %q is not a date such as 2026-03-10.", truncate(f.Date, 30))
	}
	if f.Time == "" {
		return time.Time{}, tidings.Errorf(tidings.EINVALID, "Pick the time of day to send the broadcast at.")
	}
	_, err1 := time.Parse("15:04", f.Time)
	_, err2 := time.Parse("15:04:05", f.Time)
	if err1 != nil && err2 != nil {
		return time.Time{}, tidings.Errorf(tidings.EINVALID, "The time %q is not a time of day such as 09:00.", truncate(f.Time, 30))
	}
	if f.Zone == "" {
		return time.Time{}, tidings.Errorf(tidings.EINVALID, "Pick the time zone of the date and time.")
	}
	at, err := campaigns.ParseSendAt(f.Date+"T"+f.Time, f.Zone)
	if err != nil {
		return time.Time{}, err
	}
	if now := s.now(); !at.After(now) {
		loc, _ := time.LoadLocation(f.Zone)
		return time.Time{}, tidings.Errorf(tidings.EINVALID, "%s has passed: it is %s there now. Pick a later time.",
			at.In(loc).Format("Mon 2 Jan 2006 at 15:04"), now.In(loc).Format("Mon 2 Jan 2006 at 15:04")+" in "+f.Zone)
	}
	return at, nil
}

// confirmBroadcast is the page that asks before a broadcast is sent now or
// cancelled.
type confirmBroadcast struct {
	B      *campaigns.Broadcast
	Lines  []string
	Action string
	Button string
	Danger bool
	Cancel string
}

// handleEditorBroadcastSendForm asks "Send to N recipients now?", N counted
// as the start would queue them.
func (s *Server) handleEditorBroadcastSendForm(w http.ResponseWriter, r *http.Request) {
	b, ok := s.editorBroadcast(w, r)
	if !ok {
		return
	}
	if !editable(b.Status) {
		s.broadcastFail(w, r, b, broadcastPage{}, tidings.Errorf(tidings.ECONFLICT,
			"Broadcast %d is %s; only a broadcast that is draft or scheduled can be sent.", b.ID, b.Status))
		return
	}
	ctx := r.Context()
	n, err := s.campaigns.BroadcastAudience(ctx, b.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	l, err := s.subscribers.ListBySlug(ctx, b.List)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	lines := []string{fmt.Sprintf("“%s” goes to %s %s of %s%s, starting at once.",
		b.Subject, count(n), plural(n, "subscriber", "subscribers"), l.Name, audienceFilter(b))}
	if n == 0 {
		lines = append(lines, "No subscriber matches right now, so nothing would be sent: check the list and the tags.")
	}
	if b.Status == campaigns.BroadcastScheduled && b.SendAt != nil {
		lines = append(lines, "It is scheduled for "+localTime(*b.SendAt, zoneOf(l))+"; sending it now replaces the schedule.")
	}
	lines = append(lines, "You can pause or cancel it while it sends; messages already sent cannot be called back.")
	title := fmt.Sprintf("Send to %s %s now?", count(n), plural(n, "recipient", "recipients"))
	s.render(w, r, http.StatusOK, "editor_broadcast_confirm", s.editorPage(r, title, confirmBroadcast{
		B: b, Lines: lines, Action: s.url("editor-broadcast-send", "id", itoa(b.ID)),
		Button: fmt.Sprintf("Send to %s now", count(n)), Cancel: s.url("editor-broadcast", "id", itoa(b.ID)),
	}))
}

// handleEditorBroadcastSend starts a draft or scheduled broadcast at once.
func (s *Server) handleEditorBroadcastSend(w http.ResponseWriter, r *http.Request) {
	s.broadcastAction(w, r, "sending", s.campaigns.SendNow)
}

// handleEditorBroadcastCancelForm asks before a broadcast is cancelled.
func (s *Server) handleEditorBroadcastCancelForm(w http.ResponseWriter, r *http.Request) {
	b, ok := s.editorBroadcast(w, r)
	if !ok {
		return
	}
	if b.Status == campaigns.BroadcastSent || b.Status == campaigns.BroadcastCancelled {
		s.broadcastFail(w, r, b, broadcastPage{}, tidings.Errorf(tidings.ECONFLICT,
			"Broadcast %d is %s; only a broadcast that is draft, scheduled, sending or paused can be cancelled.", b.ID, b.Status))
		return
	}
	var lines []string
	title, button := "Cancel this broadcast?", "Cancel broadcast"
	switch b.Status {
	case campaigns.BroadcastDraft:
		title, button = "Discard this draft?", "Discard draft"
		lines = []string{"The draft is discarded: it can no longer be sent or changed. It stays in the list of broadcasts, marked cancelled."}
	case campaigns.BroadcastScheduled:
		lines = []string{"It will not go out at its scheduled time, and can no longer be sent or changed."}
	default:
		left := 0
		if b.BroadcastStats != nil {
			left = b.Queued
		}
		lines = []string{
			fmt.Sprintf("The %s %s not sent yet will be skipped.", count(left), plural(left, "message", "messages")),
			"Messages already sent stay sent; those being handed to the mail relay right now still go out.",
		}
	}
	lines = append(lines, "This cannot be undone.")
	s.render(w, r, http.StatusOK, "editor_broadcast_confirm", s.editorPage(r, title, confirmBroadcast{
		B: b, Lines: lines, Action: s.url("editor-broadcast-cancel", "id", itoa(b.ID)),
		Button: button, Danger: true, Cancel: s.url("editor-broadcast", "id", itoa(b.ID)),
	}))
}

// handleEditorBroadcastCancel cancels a broadcast.
func (s *Server) handleEditorBroadcastCancel(w http.ResponseWriter, r *http.Request) {
	s.broadcastAction(w, r, "cancelled", s.campaigns.Cancel)
}

// handleEditorBroadcastPause pauses a sending broadcast.
func (s *Server) handleEditorBroadcastPause(w http.ResponseWriter, r *http.Request) {
	s.broadcastAction(w, r, "paused", s.campaigns.Pause)
}

// handleEditorBroadcastResume resumes a paused broadcast.
func (s *Server) handleEditorBroadcastResume(w http.ResponseWriter, r *http.Request) {
	s.broadcastAction(w, r, "resumed", s.campaigns.Resume)
}

// handleEditorBroadcastRetry queues again the messages that failed for a
// temporary reason.
func (s *Server) handleEditorBroadcastRetry(w http.ResponseWriter, r *http.Request) {
	b, ok := s.editorBroadcast(w, r)
	if !ok {
		return
	}
	done := "retried"
	if b.BroadcastStats != nil && b.Retryable == 0 {
		done = "no-retry"
	}
	if _, err := s.campaigns.RetryFailed(r.Context(), b.ID); err != nil {
		s.broadcastFail(w, r, b, broadcastPage{}, err)
		return
	}
	http.Redirect(w, r, s.url("editor-broadcast", "id", itoa(b.ID))+"?done="+done, http.StatusSeeOther)
}

// handleEditorBroadcastTest sends test copies of the broadcast as saved to
// the addresses typed (the editor's own by default) through the Tester, and
// shows what happened to each.
func (s *Server) handleEditorBroadcastTest(w http.ResponseWriter, r *http.Request) {
	b, ok := s.editorBroadcast(w, r)
	if !ok {
		return
	}
	if err := s.parseForm(w, r); err != nil {
		s.broadcastFail(w, r, b, broadcastPage{}, err)
		return
	}
	// Once the test went to the relay, the browser is sent back to the
	// broadcast's page (post, redirect, get), which says what happened
	// once: a reload sends nothing again.
	f := flash{Emails: strings.TrimSpace(r.PostFormValue("emails"))}
	back := s.url("editor-broadcast", "id", itoa(b.ID)) + "#test"
	emails := strings.FieldsFunc(f.Emails, func(c rune) bool { return c == ',' || c == ';' || c == ' ' || c == '\n' || c == '\r' || c == '\t' })
	results, err := s.tester.Test(r.Context(), b.ID, emails)
	if err != nil {
		// Nothing was sent: the form again, with the reason.
		if tidings.ErrorCode(err) == tidings.EINVALID && len(emails) == 0 {
			err = tidings.Errorf(tidings.EINVALID, "Type the addresses to send the test to.")
		}
		s.broadcastFail(w, r, b, broadcastPage{Emails: f.Emails}, err)
		return
	}
	var sent, failed []string
	for _, res := range results {
		if res.Status == "sent" {
			sent = append(sent, res.Email)
		} else {
			line := res.Email
			if res.Error != "" {
				line += ": " + res.Error
			}
			failed = append(failed, line)
		}
	}
	if len(sent) > 0 {
		f.Notice = "A test copy was sent to " + strings.Join(sent, ", ") + ", with “[Test]” before its subject."
	}
	if len(failed) > 0 {
		f.Error = "The mail relay did not take the test for " + strings.Join(failed, "; ")
	}
	s.setFlash(w, f)
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// handleEditorBroadcastProgress answers with the broadcast's progress as
// JSON, for broadcasts.js to move the bar.
func (s *Server) handleEditorBroadcastProgress(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(mux.Vars(r)["id"])
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	ctx := r.Context()
	b, err := s.campaigns.BroadcastByID(ctx, id)
	if err != nil {
		s.jsonError(w, r, err)
		return
	}
	loc := time.UTC
	if l, err := s.subscribers.ListBySlug(ctx, b.List); err == nil {
		loc = zoneOf(l)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, progressOf(b, loc, s.now(), ""))
}

// sendingBroadcast is a line of the dashboard's "Sending now".
type sendingBroadcast struct {
	B        *campaigns.Broadcast
	ListName string
	Progress *broadcastProgress
}

// sendingNow returns the broadcasts sending or paused, with their progress,
// for the dashboard.
func (s *Server) sendingNow(r *http.Request) ([]sendingBroadcast, error) {
	ctx := r.Context()
	bs, err := s.campaigns.ActiveBroadcasts(ctx)
	if err != nil || len(bs) == 0 {
		return nil, err
	}
	lists, err := s.listsBySlug(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]sendingBroadcast, 0, len(bs))
	for _, b := range bs {
		row := sendingBroadcast{B: b, ListName: b.List}
		loc := time.UTC
		if l := lists[b.List]; l != nil {
			row.ListName, loc = l.Name, zoneOf(l)
		}
		row.Progress = progressOf(b, loc, now, s.url("editor-broadcast-progress", "id", itoa(b.ID)))
		out = append(out, row)
	}
	return out, nil
}
