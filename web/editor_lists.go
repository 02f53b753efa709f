package web

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/subscribers"
	"github.com/tidings/tidings/templates"
)

// commonZones are offered as suggestions in the time zone field; any IANA
// name is accepted.
var commonZones = []string{
	"UTC",
	"Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Berlin", "Europe/Amsterdam",
	"Europe/Madrid", "Europe/Rome", "Europe/Zurich", "Europe/Stockholm", "Europe/Warsaw", "Europe/Athens",
	"Europe/Helsinki", "Europe/Istanbul", "Europe/Moscow",
	"America/New_York", "America/Toronto", "America/Chicago", "America/Denver", "America/Phoenix",
	"America/Los_Angeles", "America/Anchorage", "America/Mexico_City", "America/Bogota", "America/Lima",
	"America/Sao_Paulo", "America/Argentina/Buenos_Aires", "America/Santiago", "Pacific/Honolulu",
	"Africa/Lagos", "Africa/Cairo", "Africa/Nairobi", "Africa/Johannesburg",
	"Asia/Dubai", "Asia/Karachi", "Asia/Kolkata", "Asia/Dhaka", "Asia/Bangkok", "Asia/Jakarta",
	"Asia/Singapore", "Asia/Hong_Kong", "Asia/Shanghai", "Asia/Manila", "Asia/Seoul", "Asia/Tokyo",
	"Australia/Perth", "Australia/Adelaide", "Australia/Brisbane", "Australia/Sydney", "Pacific/Auckland",
}

// doneNotices are the notices a page shows after a redirect (?done=CODE);
// only these texts can appear, whatever the query says.
var doneNotices = map[string]string{
	"list-created":  "The list was created. Add the steps of its series next, or copy its sign-up form.",
	"list-saved":    "The list settings were saved.",
	"bonus-added":   "The bonus email was added. It goes to everyone who confirms from now on.",
	"bonus-saved":   "The bonus email was saved.",
	"bonus-deleted": "The bonus email was deleted.",
	"step-added":    "The step was added to the series.",
	"step-saved":    "The step was saved.",
	"step-moved":    "The step was moved.",
	"step-deleted":  "The step was deleted.",
}

// notice is the text for ?done=CODE, or "".
func notice(r *http.Request) string { return doneNotices[r.URL.Query().Get("done")] }

// listForm is the list settings form as typed.
type listForm struct {
	Slug, Name, FromName, FromEmail, ReplyTo, Timezone      string
	PostalAddress, ConsentText, WelcomeSubject, WelcomeBody string
}

func listFormOf(l *subscribers.List) listForm {
	return listForm{
		Slug: l.Slug, Name: l.Name, FromName: l.FromName, FromEmail: l.FromEmail, ReplyTo: l.ReplyTo,
		Timezone: l.Timezone, PostalAddress: l.PostalAddress, ConsentText: l.ConsentText,
		WelcomeSubject: l.WelcomeSubject, WelcomeBody: l.WelcomeBody,
	}
}

func readListForm(r *http.Request) listForm {
	v := func(k string) string { return r.PostFormValue(k) }
	return listForm{
		Slug: strings.TrimSpace(v("slug")), Name: v("name"), FromName: v("from_name"),
		FromEmail: strings.TrimSpace(v("from_email")), ReplyTo: strings.TrimSpace(v("reply_to")),
		Timezone: strings.TrimSpace(v("timezone")), PostalAddress: v("postal_address"), ConsentText: v("consent_text"),
		WelcomeSubject: v("welcome_subject"), WelcomeBody: v("welcome_body"),
	}
}

// checkWelcome refuses a welcome email that is half there or whose templates
// do not parse, naming the line.
func (f listForm) checkWelcome() error {
	subject, body := strings.TrimSpace(f.WelcomeSubject), strings.TrimSpace(f.WelcomeBody)
	if (subject == "") != (body == "") {
		return tidings.Errorf(tidings.EINVALID, "The welcome email needs both a subject and a body, or neither (then no welcome email is sent).")
	}
	if err := templates.Check(f.WelcomeSubject, f.WelcomeBody); err != nil {
		return tidings.Errorf(tidings.EINVALID, "Welcome email: %s", tidings.ErrorMessage(err))
	}
	return nil
}

// listRow is a line of the lists index.
type listRow struct {
	List   *subscribers.List
	Counts subscribers.ListCounts
	Steps  int
}

// handleEditorListIndex shows every list with its figures.
func (s *Server) handleEditorListIndex(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	lists, err := s.subscribers.Lists(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	counts, err := s.subscribers.CountsByList(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	steps, err := s.campaigns.StepCounts(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	bySlug := make(map[string]subscribers.ListCounts, len(counts))
	for _, c := range counts {
		bySlug[c.Slug] = c
	}
	rows := make([]listRow, 0, len(lists))
	for _, l := range lists {
		rows = append(rows, listRow{List: l, Counts: bySlug[l.Slug], Steps: steps[l.ID]})
	}
	p := s.editorPage(r, "Lists", map[string]any{"Rows": rows, "Notice": notice(r)})
	s.render(w, r, http.StatusOK, "editor_lists", p)
}

// listPage is what the list settings page shows.
type listPage struct {
	New     bool
	Form    listForm
	Error   string
	Notice  string
	List    *subscribers.List
	Bonuses []*campaigns.Bonus
	Steps   int
	Embed   *embedForm
	Zones   []string
	DKIM    *dkimStatus
}

// renderListPage shows the new-list or list settings page.
func (s *Server) renderListPage(w http.ResponseWriter, r *http.Request, status int, d listPage) {
	d.Zones = commonZones
	title := "New list"
	if !d.New {
		title = d.List.Name
		ctx := r.Context()
		var err error
		if d.Bonuses, err = s.campaigns.Bonuses(ctx, d.List.ID); err != nil {
			s.fail(w, r, err)
			return
		}
		steps, err := s.campaigns.StepCounts(ctx)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		d.Steps = steps[d.List.ID]
		if d.Embed, err = s.embedFormOf(r, d.List); err != nil {
			s.fail(w, r, err)
			return
		}
		if d.DKIM, err = s.dkimStatusOf(ctx, d.List); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.render(w, r, status, "editor_list", s.editorPage(r, title, d))
}

// handleEditorListNew shows an empty list form.
func (s *Server) handleEditorListNew(w http.ResponseWriter, r *http.Request) {
	s.renderListPage(w, r, http.StatusOK, listPage{New: true, Form: listForm{Timezone: "UTC"}})
}

// handleEditorListCreate creates a list from the form; bad input shows the
// form again with the message and what was typed.
func (s *Server) handleEditorListCreate(w http.ResponseWriter, r *http.Request) {
	if err := s.parseForm(w, r); err != nil {
		s.renderListPage(w, r, errorStatus(err), listPage{New: true, Error: tidings.ErrorMessage(err)})
		return
	}
	f := readListForm(r)
	fail := func(err error) {
		s.logError(r, err)
		s.renderListPage(w, r, errorStatus(err), listPage{New: true, Form: f, Error: tidings.ErrorMessage(err)})
	}
	if err := f.checkWelcome(); err != nil {
		fail(err)
		return
	}
	l := &subscribers.List{
		Slug: f.Slug, Name: f.Name, FromName: f.FromName, FromEmail: f.FromEmail, ReplyTo: f.ReplyTo,
		Timezone: f.Timezone, PostalAddress: f.PostalAddress, ConsentText: f.ConsentText,
		WelcomeSubject: f.WelcomeSubject, WelcomeBody: f.WelcomeBody,
	}
	if err := s.subscribers.CreateList(r.Context(), l); err != nil {
		fail(err)
		return
	}
	http.Redirect(w, r, s.url("editor-list", "list", l.Slug)+"?done=list-created", http.StatusSeeOther)
}

// editorList finds the list named in the path, or shows the not-found page.
func (s *Server) editorList(w http.ResponseWriter, r *http.Request) (*subscribers.List, bool) {
	l, err := s.subscribers.ListBySlug(r.Context(), mux.Vars(r)["list"])
	if err != nil {
		s.editorFail(w, r, err)
		return nil, false
	}
	return l, true
}

// editorFail answers an error of the lists' pages (fail), with a link back
// to the lists.
func (s *Server) editorFail(w http.ResponseWriter, r *http.Request, err error) {
	s.fail(w, r, err, pageLink{URL: s.url("editor-lists"), Text: "Back to the lists"})
}

// handleEditorListEdit shows a list's settings, bonus emails and sign-up form.
func (s *Server) handleEditorListEdit(w http.ResponseWriter, r *http.Request) {
	l, ok := s.editorList(w, r)
	if !ok {
		return
	}
	s.renderListPage(w, r, http.StatusOK, listPage{List: l, Form: listFormOf(l), Notice: notice(r)})
}

// handleEditorListUpdate saves a list's settings. The slug never changes.
func (s *Server) handleEditorListUpdate(w http.ResponseWriter, r *http.Request) {
	l, ok := s.editorList(w, r)
	if !ok {
		return
	}
	if err := s.parseForm(w, r); err != nil {
		s.renderListPage(w, r, errorStatus(err), listPage{List: l, Form: listFormOf(l), Error: tidings.ErrorMessage(err)})
		return
	}
	f := readListForm(r)
	f.Slug = l.Slug
	fail := func(err error) {
		s.logError(r, err)
		s.renderListPage(w, r, errorStatus(err), listPage{List: l, Form: f, Error: tidings.ErrorMessage(err)})
	}
	if err := f.checkWelcome(); err != nil {
		fail(err)
		return
	}
	_, err := s.subscribers.UpdateList(r.Context(), l.Slug, subscribers.ListUpdate{
		Name: &f.Name, FromName: &f.FromName, FromEmail: &f.FromEmail, ReplyTo: &f.ReplyTo, Timezone: &f.Timezone,
		PostalAddress: &f.PostalAddress, ConsentText: &f.ConsentText, WelcomeSubject: &f.WelcomeSubject, WelcomeBody: &f.WelcomeBody,
	})
	if err != nil {
		fail(err)
		return
	}
	http.Redirect(w, r, s.url("editor-list", "list", l.Slug)+"?done=list-saved", http.StatusSeeOther)
}

// embedForm is the HTML a list's owner pastes into another site, and a
// document that shows it, for the preview.
type embedForm struct {
	Hosted  string // the hosted sign-up page
	Snippet string
	Doc     string
}

// embedSnippet is the sign-up form for other sites: plain HTML that posts to
// the public sign-up endpoint (which accepts cross-site posts), with the
// honeypot hidden by inline CSS and a one-line script for the time zone.
var embedSnippet = template.Must(template.New("embed").Parse(`<form method="post" action="{{.Action}}" accept-charset="utf-8" class="tidings-signup">
  <label for="tidings-email-{{.Slug}}">Email address</label>
  <input id="tidings-email-{{.Slug}}" type="email" name="email" required maxlength="254" autocomplete="email">
  <label for="tidings-name-{{.Slug}}">First name (optional)</label>
  <input id="tidings-name-{{.Slug}}" type="text" name="name" maxlength="200" autocomplete="given-name">
  <input type="hidden" name="timezone" value="">
  <input type="hidden" name="form" value="embed">
  <div style="position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden" aria-hidden="true">
    <label>Leave this empty <input type="text" name="website" value="" tabindex="-1" autocomplete="off"></label>
  </div>
  <button type="submit">Subscribe to {{.Name}}</button>
{{- with .Consent}}
  <p class="tidings-consent">{{.}}</p>
{{- end}}
</form>
<script>
(function (f) {
  try { f.elements.timezone.value = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) {}
})(document.currentScript.previousElementSibling);
</script>
`))

// embedPreviewStyle gives the preview the plain look of a page that has not
// styled the form yet.
const embedPreviewStyle = `<!doctype html><html lang="en"><head><meta charset="utf-8"><style>
body{margin:0;padding:16px;font:15px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f2937}
.tidings-signup label{display:block;margin:.6rem 0 .25rem;font-weight:600}
.tidings-signup input[type=email],.tidings-signup input[type=text]{width:100%;max-width:24rem;box-sizing:border-box;padding:.5rem .6rem;border:1px solid #9ca3af;border-radius:6px;font:inherit}
.tidings-signup button{margin-top:.9rem;padding:.55rem 1rem;font:inherit}
.tidings-consent{font-size:.85rem;color:#6b7280}
</style></head><body>
`

// embedFormOf makes the snippet of list l. It posts to the public URL, or, when
// none is configured, to the host the editor is using.
func (s *Server) embedFormOf(r *http.Request, l *subscribers.List) (*embedForm, error) {
	action := s.publicBase(r) + s.url("subscribe", "list", l.Slug)
	var b bytes.Buffer
	err := embedSnippet.Execute(&b, map[string]string{"Action": action, "Slug": l.Slug, "Name": l.Name, "Consent": l.ConsentText})
	if err != nil {
		return nil, fmt.Errorf("web: embed form of %s: %w", l.Slug, err)
	}
	return &embedForm{Hosted: action, Snippet: b.String(), Doc: embedPreviewStyle + b.String() + "</body></html>"}, nil
}
