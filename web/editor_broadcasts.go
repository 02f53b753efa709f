package web

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/subscribers"
	"github.com/tidings/tidings/templates"
)

// Broadcasts in the editor: the index with each broadcast's state and
// figures, and the page that writes one, with its preview at desktop and
// phone width beside the form. The broadcast's own page, where it is tested,
// scheduled, sent and watched, is in editor_broadcasts_send.go. Everything
// works with plain forms; broadcasts.js only makes the preview follow the
// typing and the progress bar move.

// broadcastNotices are the notices the broadcast pages show after a redirect
// (?done=CODE); only these texts can appear, whatever the query says.
var broadcastNotices = map[string]string{
	"created":   "The broadcast was saved as a draft. Send yourself a test, then schedule it or send it now.",
	"saved":     "The broadcast was saved.",
	"scheduled": "The broadcast was scheduled.",
	"sending":   "The broadcast is sending.",
	"paused":    "The broadcast was paused: no more of its messages go out until you resume it.",
	"resumed":   "The broadcast was resumed.",
	"cancelled": "The broadcast was cancelled.",
	"retried":   "The messages that failed for a temporary reason were queued again.",
	"no-retry":  "No message of this broadcast failed for a temporary reason, so there was nothing to retry.",
}

// statusLabels name the statuses of a broadcast for people.
var statusLabels = map[string]string{
	campaigns.BroadcastDraft:     "Draft",
	campaigns.BroadcastScheduled: "Scheduled",
	campaigns.BroadcastSending:   "Sending",
	campaigns.BroadcastPaused:    "Paused",
	campaigns.BroadcastSent:      "Sent",
	campaigns.BroadcastCancelled: "Cancelled",
}

// editable reports whether a broadcast in status can still be changed.
func editable(status string) bool {
	return status == campaigns.BroadcastDraft || status == campaigns.BroadcastScheduled
}

// broadcastIndexRow is a line of the broadcasts index.
type broadcastIndexRow struct {
	B        *campaigns.Broadcast
	ListName string
	Label    string
	When     string // what happens or happened when, in the list's time zone
	Stats    *campaigns.BroadcastStats
	Progress *broadcastProgress // while sending or paused
}

// handleEditorBroadcastIndex lists the broadcasts, newest first, with their
// state and figures.
func (s *Server) handleEditorBroadcastIndex(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	bs, err := s.campaigns.Broadcasts(ctx, campaigns.BroadcastFilter{})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	lists, err := s.listsBySlug(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var ids []int64
	for _, b := range bs {
		if b.StartedAt != nil {
			ids = append(ids, b.ID)
		}
	}
	figures, err := s.campaigns.BroadcastFigures(ctx, ids)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rows := make([]broadcastIndexRow, 0, len(bs))
	for _, b := range bs {
		l := lists[b.List]
		row := broadcastIndexRow{B: b, ListName: b.List, Label: statusLabels[b.Status], Stats: figures[b.ID]}
		loc := time.UTC
		if l != nil {
			row.ListName, loc = l.Name, zoneOf(l)
		}
		row.When = broadcastWhen(b, loc)
		if row.Stats != nil && (b.Status == campaigns.BroadcastSending || b.Status == campaigns.BroadcastPaused) {
			withStats := *b
			withStats.BroadcastStats = row.Stats
			row.Progress = progressOf(&withStats, loc, s.now(), s.url("editor-broadcast-progress", "id", itoa(b.ID)))
		}
		rows = append(rows, row)
	}
	p := s.editorPage(r, "Broadcasts", map[string]any{
		"Rows": rows, "Lists": len(lists), "Notice": broadcastNotices[r.URL.Query().Get("done")],
	})
	s.render(w, r, http.StatusOK, "editor_broadcasts", p)
}

// broadcastWhen says when a broadcast goes or went out.
func broadcastWhen(b *campaigns.Broadcast, loc *time.Location) string {
	switch {
	case b.Status == campaigns.BroadcastScheduled && b.SendAt != nil:
		return "for " + localTime(*b.SendAt, loc)
	case b.FinishedAt != nil && b.StartedAt != nil:
		return "finished " + localTime(*b.FinishedAt, loc)
	case b.StartedAt != nil:
		return "started " + localTime(*b.StartedAt, loc)
	case b.FinishedAt != nil:
		return "cancelled " + localTime(*b.FinishedAt, loc)
	}
	return "edited " + localTime(b.UpdatedAt, loc)
}

// localTime formats t in loc for the editor's pages.
func localTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("Mon 2 Jan 2006, 15:04 MST")
}

// zoneOf is the time zone of list l, UTC if it cannot be loaded.
func zoneOf(l *subscribers.List) *time.Location {
	if loc, err := time.LoadLocation(l.Timezone); err == nil && l.Timezone != "" {
		return loc
	}
	return time.UTC
}

// listsBySlug returns every list by its slug.
func (s *Server) listsBySlug(ctx context.Context) (map[string]*subscribers.List, error) {
	lists, err := s.subscribers.Lists(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*subscribers.List, len(lists))
	for _, l := range lists {
		out[l.Slug] = l
	}
	return out, nil
}

// broadcastForm is the compose form as typed; tags are comma-separated.
type broadcastForm struct {
	List, Subject, Preheader, Body string
	TagsInclude, TagsExclude       string
	// As picks the sample recipient of the preview: "" (Alex Example) or "anonymous".
	As string
}

func readBroadcastForm(r *http.Request) broadcastForm {
	return broadcastForm{
		List:        strings.TrimSpace(r.PostFormValue("list")),
		Subject:     r.PostFormValue("subject"),
		Preheader:   r.PostFormValue("preheader"),
		Body:        r.PostFormValue("body"),
		TagsInclude: r.PostFormValue("tags_include"),
		TagsExclude: r.PostFormValue("tags_exclude"),
		As:          r.PostFormValue("as"),
	}
}

func broadcastFormOf(b *campaigns.Broadcast) broadcastForm {
	return broadcastForm{
		List: b.List, Subject: b.Subject, Preheader: b.Preheader, Body: b.Body,
		TagsInclude: strings.Join(b.TagsInclude, ", "), TagsExclude: strings.Join(b.TagsExclude, ", "),
	}
}

// tags splits a comma-separated tag field; never nil, so an emptied field
// clears the filter.
func tagsOf(field string) []string {
	if t := formTags([]string{field}); t != nil {
		return t
	}
	return []string{}
}

// formList finds the list the form names. A missing or unknown list is a
// mistake in the form (EINVALID), not a missing page.
func (s *Server) formList(ctx context.Context, slug string) (*subscribers.List, error) {
	if slug == "" {
		return nil, tidings.Errorf(tidings.EINVALID, "Pick the list to send the broadcast to.")
	}
	l, err := s.subscribers.ListBySlug(ctx, slug)
	if tidings.ErrorCode(err) == tidings.ENOTFOUND {
		return nil, tidings.Errorf(tidings.EINVALID, "There is no list %q: pick one of your lists.", truncate(slug, 60))
	}
	return l, err
}

// broadcastCompose is the page that writes a broadcast.
type broadcastCompose struct {
	New        bool
	B          *campaigns.Broadcast // nil when new
	Label      string
	Form       broadcastForm
	Lists      []*subscribers.List
	Error      string
	Preview    *preview
	Preheader  string
	Action     string
	PreviewURL string
	BackURL    string
}

// renderBroadcastCompose fills in what the compose page shows and renders
// it. The preview is rendered server-side from the form, so the page is
// whole without JavaScript.
func (s *Server) renderBroadcastCompose(w http.ResponseWriter, r *http.Request, status int, d broadcastCompose) {
	ctx := r.Context()
	lists, err := s.subscribers.Lists(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Lists = lists
	if d.Form.List == "" && len(lists) > 0 {
		d.Form.List = lists[0].Slug
	}
	d.PreviewURL = s.url("editor-broadcast-preview")
	title := "New broadcast"
	if d.New {
		d.Action = s.url("editor-broadcasts")
		d.BackURL = s.url("editor-broadcasts")
	} else {
		title = "Edit broadcast"
		d.Label = statusLabels[d.B.Status]
		d.Action = s.url("editor-broadcast-edit", "id", itoa(d.B.ID))
		d.BackURL = s.url("editor-broadcast", "id", itoa(d.B.ID))
	}
	if d.Preview == nil {
		d.Preview = &preview{As: d.Form.As, HTML: emptyPreview}
		for _, l := range lists {
			if l.Slug == d.Form.List {
				d.Preview = s.broadcastPreviewOf(r, l, d.Form)
			}
		}
	}
	d.Preheader = d.Form.Preheader
	s.render(w, r, status, "editor_broadcast_edit", s.editorPage(r, title, d))
}

// renderBroadcastSample renders a broadcast's content for the sample
// recipient of previews, as subscribers of list l get it. Errors are
// EINVALID, naming the line, for templates that do not parse or run.
func (s *Server) renderBroadcastSample(r *http.Request, l *subscribers.List, f broadcastForm) (*templates.Message, error) {
	// A Renderer costs a parse of the embedded layouts; previews are
	// debounced and few, so one per request keeps Server free of it.
	rd, err := templates.NewRenderer()
	if err != nil {
		return nil, err
	}
	return rd.Render(templates.Content{Subject: f.Subject, Body: f.Body, Preheader: f.Preheader},
		templateList(l), s.sampleRecipient(r, f.As, ""))
}

// broadcastPreviewOf renders the form for a page. An empty form has nothing
// to show yet.
func (s *Server) broadcastPreviewOf(r *http.Request, l *subscribers.List, f broadcastForm) *preview {
	p := &preview{As: f.As}
	if strings.TrimSpace(f.Body) == "" && strings.TrimSpace(f.Subject) == "" {
		p.HTML = emptyPreview
		return p
	}
	msg, err := s.renderBroadcastSample(r, l, f)
	if err != nil {
		s.logError(r, err)
		p.Error = tidings.ErrorMessage(err)
		return p
	}
	p.Subject, p.HTML = msg.Subject, msg.HTML
	return p
}

// handleEditorBroadcastNew shows an empty compose form.
func (s *Server) handleEditorBroadcastNew(w http.ResponseWriter, r *http.Request) {
	s.renderBroadcastCompose(w, r, http.StatusOK, broadcastCompose{New: true, Form: broadcastForm{List: r.URL.Query().Get("list")}})
}

// handleEditorBroadcastCreate saves a new broadcast as a draft and leads to
// its page; the form's Preview button posts here too and stores nothing.
func (s *Server) handleEditorBroadcastCreate(w http.ResponseWriter, r *http.Request) {
	d := broadcastCompose{New: true}
	if err := s.parseForm(w, r); err != nil {
		d.Error = tidings.ErrorMessage(err)
		s.renderBroadcastCompose(w, r, errorStatus(err), d)
		return
	}
	d.Form = readBroadcastForm(r)
	if r.PostFormValue("action") == "preview" {
		s.renderBroadcastCompose(w, r, http.StatusOK, d)
		return
	}
	ctx := r.Context()
	_, err := s.formList(ctx, d.Form.List)
	b := &campaigns.Broadcast{
		List: d.Form.List, Subject: d.Form.Subject, Body: d.Form.Body, Preheader: d.Form.Preheader,
		TagsInclude: tagsOf(d.Form.TagsInclude), TagsExclude: tagsOf(d.Form.TagsExclude),
	}
	if err == nil {
		err = s.campaigns.CreateBroadcast(ctx, b)
	}
	if err != nil {
		s.logError(r, err)
		d.Error = tidings.ErrorMessage(err)
		s.renderBroadcastCompose(w, r, errorStatus(err), d)
		return
	}
	http.Redirect(w, r, s.url("editor-broadcast", "id", itoa(b.ID))+"?done=created", http.StatusSeeOther)
}

// editorBroadcast finds the broadcast named in the path, with its stats, or
// shows the not-found page.
func (s *Server) editorBroadcast(w http.ResponseWriter, r *http.Request) (*campaigns.Broadcast, bool) {
	id, err := pathID(mux.Vars(r)["id"])
	if err == nil {
		var b *campaigns.Broadcast
		if b, err = s.campaigns.BroadcastByID(r.Context(), id); err == nil {
			return b, true
		}
	}
	s.fail(w, r, err, pageLink{URL: s.url("editor-broadcasts"), Text: "Back to the broadcasts"})
	return nil, false
}

// notEditable is the conflict of changing a broadcast that has started, in
// the words the store uses.
func notEditable(b *campaigns.Broadcast) error {
	return tidings.Errorf(tidings.ECONFLICT, "Broadcast %d is %s; only a broadcast that is draft or scheduled can be changed.", b.ID, b.Status)
}

// handleEditorBroadcastEdit shows the compose form of a draft or scheduled
// broadcast; one that has started can no longer be changed (409).
func (s *Server) handleEditorBroadcastEdit(w http.ResponseWriter, r *http.Request) {
	b, ok := s.editorBroadcast(w, r)
	if !ok {
		return
	}
	if !editable(b.Status) {
		err := notEditable(b)
		s.renderBroadcast(w, r, errorStatus(err), b, broadcastPage{Error: tidings.ErrorMessage(err)})
		return
	}
	s.renderBroadcastCompose(w, r, http.StatusOK, broadcastCompose{B: b, Form: broadcastFormOf(b)})
}

// handleEditorBroadcastUpdate saves a draft or scheduled broadcast; the
// Preview button posts here too and stores nothing.
func (s *Server) handleEditorBroadcastUpdate(w http.ResponseWriter, r *http.Request) {
	b, ok := s.editorBroadcast(w, r)
	if !ok {
		return
	}
	if !editable(b.Status) {
		err := notEditable(b)
		s.renderBroadcast(w, r, errorStatus(err), b, broadcastPage{Error: tidings.ErrorMessage(err)})
		return
	}
	d := broadcastCompose{B: b}
	if err := s.parseForm(w, r); err != nil {
		d.Form, d.Error = broadcastFormOf(b), tidings.ErrorMessage(err)
		s.renderBroadcastCompose(w, r, errorStatus(err), d)
		return
	}
	d.Form = readBroadcastForm(r)
	if r.PostFormValue("action") == "preview" {
		s.renderBroadcastCompose(w, r, http.StatusOK, d)
		return
	}
	ctx := r.Context()
	_, err := s.formList(ctx, d.Form.List)
	if err == nil {
		include, exclude := tagsOf(d.Form.TagsInclude), tagsOf(d.Form.TagsExclude)
		_, err = s.campaigns.UpdateBroadcast(ctx, b.ID, campaigns.BroadcastUpdate{
			List: &d.Form.List, Subject: &d.Form.Subject, Body: &d.Form.Body, Preheader: &d.Form.Preheader,
			TagsInclude: &include, TagsExclude: &exclude,
		})
	}
	if tidings.ErrorCode(err) == tidings.ECONFLICT {
		// It started while the editor was writing: show where it is now.
		if now, lerr := s.campaigns.BroadcastByID(ctx, b.ID); lerr == nil {
			s.renderBroadcast(w, r, errorStatus(err), now, broadcastPage{Error: tidings.ErrorMessage(err)})
			return
		}
	}
	if err != nil {
		s.logError(r, err)
		d.Error = tidings.ErrorMessage(err)
		s.renderBroadcastCompose(w, r, errorStatus(err), d)
		return
	}
	http.Redirect(w, r, s.url("editor-broadcast", "id", itoa(b.ID))+"?done=saved", http.StatusSeeOther)
}

// handleEditorBroadcastPreview renders the compose form posted by
// broadcasts.js (list, subject, preheader, body, as): 200 with the email's
// HTML document, or 422 with the reason as plain text (for example "body
// line 3: unexpected end of template...").
func (s *Server) handleEditorBroadcastPreview(w http.ResponseWriter, r *http.Request) {
	if err := s.parseForm(w, r); err != nil {
		s.previewError(w, r, err)
		return
	}
	f := readBroadcastForm(r)
	l, err := s.formList(r.Context(), f.List)
	if err != nil {
		s.previewError(w, r, err)
		return
	}
	html := emptyPreview
	if strings.TrimSpace(f.Body) != "" || strings.TrimSpace(f.Subject) != "" {
		msg, err := s.renderBroadcastSample(r, l, f)
		if err != nil {
			s.previewError(w, r, err)
			return
		}
		html = msg.HTML
	}
	// Should the document ever be opened on its own, it runs sandboxed, like
	// the iframe it is meant for.
	writeSandboxed(w, html)
}
