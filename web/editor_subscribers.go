package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/subscribers"
)

// subscribersPageSize is how many subscribers one page of the index shows.
const subscribersPageSize = 50

// subscriberNotices are the notices the subscriber pages show after a
// redirect (?done=CODE); only these texts can appear, whatever the query says.
var subscriberNotices = map[string]string{
	"unsubscribed": "The subscription was stopped. Messages queued for it will not be sent.",
	"already":      "Nothing changed: this subscription was stopped already.",
	"resubscribed": "A confirmation request is on its way. The subscription stays pending until they follow its link.",
	"tags-saved":   "The tags were saved.",
	"erased":       "The subscriber was erased. Their address stays on the suppression list, so it is never mailed again.",
}

// subscriberStatuses are the statuses the index can filter by, in the order
// offered.
var subscriberStatuses = []string{
	subscribers.StatusConfirmed, subscribers.StatusPending, subscribers.StatusUnsubscribed,
	subscribers.StatusBounced, subscribers.StatusComplained,
}

// subscriberFilter is the index's filter form as typed.
type subscriberFilter struct {
	Q, List, Status, Tag string
	After                int64
}

// readSubscriberFilter reads the filter from the query string. A cursor
// that is not a number is EINVALID.
func readSubscriberFilter(r *http.Request) (subscriberFilter, error) {
	q := r.URL.Query()
	f := subscriberFilter{
		Q: strings.TrimSpace(q.Get("q")), List: q.Get("list"), Status: q.Get("status"), Tag: strings.TrimSpace(q.Get("tag")),
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return f, tidings.Errorf(tidings.EINVALID, "The page link is broken: %q is not a subscriber number.", truncate(v, 40))
		}
		f.After = n
	}
	return f, nil
}

// values is the filter as a query string, without the cursor.
func (f subscriberFilter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"q": f.Q, "list": f.List, "status": f.Status, "tag": f.Tag} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// Any says whether any filter is set.
func (f subscriberFilter) Any() bool {
	return f.Q != "" || f.List != "" || f.Status != "" || f.Tag != ""
}

// subscriberIndex is what the subscribers index shows.
type subscriberIndex struct {
	Filter    subscriberFilter
	Lists     []*subscribers.List
	ListNames map[string]string // slug -> name
	Statuses  []string
	Rows      []*subscribers.Subscriber
	FirstURL  string // the first page, when this is a later one
	NextURL   string // the next page, when there is one
	ExportURL string
	Error     string
	Notice    string
}

// handleEditorSubscriberIndex lists subscribers a page at a time, searched by
// address or name and filtered by list, status and tag. Pages are keyset
// pages (?after=ID), so the hundredth is as quick as the first.
func (s *Server) handleEditorSubscriberIndex(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	lists, err := s.subscribers.Lists(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := subscriberIndex{Lists: lists, ListNames: listNames(lists), Statuses: subscriberStatuses, Notice: subscriberNotices[r.URL.Query().Get("done")]}
	status := http.StatusOK
	f, err := readSubscriberFilter(r)
	d.Filter = f
	if err == nil {
		// One more than a page tells whether there is a next one.
		d.Rows, err = s.subscribers.Subscribers(ctx, subscribers.Filter{
			List: f.List, Status: f.Status, Query: f.Q, Tag: f.Tag, AfterID: f.After, Limit: subscribersPageSize + 1,
		})
	}
	if err != nil {
		s.logError(r, err)
		status, d.Error = errorStatus(err), tidings.ErrorMessage(err)
		d.Rows = nil
	}
	base := s.url("editor-subscribers")
	v := f.values()
	if len(d.Rows) > subscribersPageSize {
		d.Rows = d.Rows[:subscribersPageSize]
		next := f.values()
		next.Set("after", strconv.FormatInt(d.Rows[len(d.Rows)-1].ID, 10))
		d.NextURL = base + "?" + next.Encode()
	}
	if f.After > 0 {
		d.FirstURL = withQuery(base, v)
	}
	d.ExportURL = withQuery(s.url("editor-subscribers-export"), v)
	s.render(w, r, status, "editor_subscribers", s.editorPage(r, "Subscribers", d))
}

// listNames maps each list's slug to its name.
func listNames(lists []*subscribers.List) map[string]string {
	m := make(map[string]string, len(lists))
	for _, l := range lists {
		m[l.Slug] = l.Name
	}
	return m
}

// subscriberEvent is an event with the name of its list.
type subscriberEvent struct {
	subscribers.Event
	List string
}

// eventLabels name the event kinds for people.
var eventLabels = map[string]string{
	subscribers.EventSubscribed:            "Signed up",
	subscribers.EventConfirmationRequested: "Confirmation requested",
	subscribers.EventConfirmed:             "Confirmed",
	subscribers.EventUnsubscribed:          "Unsubscribed",
	subscribers.EventBounced:               "Bounced",
	subscribers.EventComplained:            "Complained",
	subscribers.EventImported:              "Imported",
	subscribers.EventErased:                "Erased",
}

// Label is the event's kind for people.
func (e subscriberEvent) Label() string {
	if l, ok := eventLabels[e.Kind]; ok {
		return l
	}
	return e.Kind
}

// subscriberPage is what a subscriber's page shows.
type subscriberPage struct {
	Sub       *subscribers.Subscriber
	ListNames map[string]string
	Events    []subscriberEvent
	Messages  []campaigns.Message
	Notice    string
	Error     string
	TagInput  string
}

// renderSubscriber shows a subscriber's page with a status and an error (or
// none); an unknown subscriber gets the not-found page.
func (s *Server) renderSubscriber(w http.ResponseWriter, r *http.Request, id int64, status int, d subscriberPage) {
	ctx := r.Context()
	sub, err := s.subscribers.SubscriberByID(ctx, id)
	if err != nil {
		s.subscriberFail(w, r, err)
		return
	}
	lists, err := s.subscribers.Lists(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	events, err := s.subscribers.Events(ctx, id)
	if err != nil {
		s.subscriberFail(w, r, err)
		return
	}
	msgs, err := s.campaigns.MessagesTo(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	byID := make(map[int64]string, len(lists))
	for _, l := range lists {
		byID[l.ID] = l.Name
	}
	d.Sub, d.ListNames, d.Messages = sub, listNames(lists), msgs
	// Newest first: what happened last is what an editor looks for.
	d.Events = make([]subscriberEvent, len(events))
	for i, e := range events {
		d.Events[len(events)-1-i] = subscriberEvent{Event: e, List: byID[e.ListID]}
	}
	s.render(w, r, status, "editor_subscriber", s.editorPage(r, sub.Email, d))
}

// subscriberFail answers an error of a subscriber page (fail), with a link
// back to the subscribers.
func (s *Server) subscriberFail(w http.ResponseWriter, r *http.Request, err error) {
	s.fail(w, r, err, pageLink{URL: s.url("editor-subscribers"), Text: "Back to the subscribers"})
}

// handleEditorSubscriberShow shows a subscriber: subscriptions, tags, time
// zone, every event (the consent proof) and every message.
func (s *Server) handleEditorSubscriberShow(w http.ResponseWriter, r *http.Request) {
	s.renderSubscriber(w, r, subscriberID(r), http.StatusOK, subscriberPage{Notice: subscriberNotices[r.URL.Query().Get("done")]})
}

// subscriberActionFailed shows the subscriber's page again with the error
// of an action; nothing was changed.
func (s *Server) subscriberActionFailed(w http.ResponseWriter, r *http.Request, id int64, err error, d subscriberPage) {
	s.logError(r, err)
	d.Error = tidings.ErrorMessage(err)
	s.renderSubscriber(w, r, id, errorStatus(err), d)
}

// editorChange is the change an action form asks for, made by the signed-in editor.
func (s *Server) editorChange(r *http.Request, id int64) subscribers.EditorChange {
	return subscribers.EditorChange{
		SubscriberID: id,
		List:         r.PostFormValue("list"),
		Editor:       editorFrom(r.Context()).Email,
		Meta:         subscribers.Meta{IP: clientIP(r), UserAgent: userAgent(r)},
	}
}

// handleEditorSubscriberUnsubscribe stops one subscription, as the
// subscriber's own unsubscribe link would, recording the editor.
func (s *Server) handleEditorSubscriberUnsubscribe(w http.ResponseWriter, r *http.Request) {
	id := subscriberID(r)
	if err := s.parseForm(w, r); err != nil {
		s.renderSubscriber(w, r, id, errorStatus(err), subscriberPage{Error: tidings.ErrorMessage(err)})
		return
	}
	res, err := s.subscribers.UnsubscribeByEditor(r.Context(), s.editorChange(r, id))
	if err != nil {
		s.subscriberActionFailed(w, r, id, err, subscriberPage{})
		return
	}
	done := "unsubscribed"
	if res.Already {
		done = "already"
	}
	http.Redirect(w, r, s.url("editor-subscriber", "id", itoa(id))+"?done="+done, http.StatusSeeOther)
}

// handleEditorSubscriberResubscribe sends a new confirmation request for a
// stopped (or still pending) subscription; it never confirms one itself.
func (s *Server) handleEditorSubscriberResubscribe(w http.ResponseWriter, r *http.Request) {
	id := subscriberID(r)
	if err := s.parseForm(w, r); err != nil {
		s.renderSubscriber(w, r, id, errorStatus(err), subscriberPage{Error: tidings.ErrorMessage(err)})
		return
	}
	if err := s.subscribers.Resubscribe(r.Context(), s.editorChange(r, id)); err != nil {
		s.subscriberActionFailed(w, r, id, err, subscriberPage{})
		return
	}
	http.Redirect(w, r, s.url("editor-subscriber", "id", itoa(id))+"?done=resubscribed", http.StatusSeeOther)
}

// handleEditorSubscriberTags adds the tags typed in "add" (several
// separated by commas) and removes those named in "remove".
func (s *Server) handleEditorSubscriberTags(w http.ResponseWriter, r *http.Request) {
	id := subscriberID(r)
	if err := s.parseForm(w, r); err != nil {
		s.renderSubscriber(w, r, id, errorStatus(err), subscriberPage{Error: tidings.ErrorMessage(err)})
		return
	}
	typed := r.PostFormValue("add")
	var add []string
	for _, t := range strings.Split(typed, ",") {
		if strings.TrimSpace(t) != "" {
			add = append(add, t)
		}
	}
	remove := r.PostForm["remove"]
	if len(add) == 0 && len(remove) == 0 {
		s.subscriberActionFailed(w, r, id, tidings.Errorf(tidings.EINVALID, "Type a tag to add."), subscriberPage{})
		return
	}
	if _, err := s.subscribers.Tag(r.Context(), id, add, remove); err != nil {
		s.subscriberActionFailed(w, r, id, err, subscriberPage{TagInput: typed})
		return
	}
	http.Redirect(w, r, s.url("editor-subscriber", "id", itoa(id))+"?done=tags-saved", http.StatusSeeOther)
}

// handleEditorSubscriberDeleteForm asks before erasing a subscriber.
func (s *Server) handleEditorSubscriberDeleteForm(w http.ResponseWriter, r *http.Request) {
	sub, err := s.subscribers.SubscriberByID(r.Context(), subscriberID(r))
	if err != nil {
		s.subscriberFail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "editor_subscriber_delete", s.editorPage(r, "Erase "+sub.Email+"?", map[string]any{"Sub": sub}))
}

// handleEditorSubscriberDelete erases a subscriber's personal data and keeps
// the address suppressed (see subscribers.Store.Erase).
func (s *Server) handleEditorSubscriberDelete(w http.ResponseWriter, r *http.Request) {
	if _, err := s.subscribers.Erase(r.Context(), subscriberID(r), editorFrom(r.Context()).Email); err != nil {
		s.subscriberFail(w, r, err)
		return
	}
	http.Redirect(w, r, s.url("editor-subscribers")+"?done=erased", http.StatusSeeOther)
}
