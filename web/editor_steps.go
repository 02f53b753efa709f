package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/campaigns"
	"github.com/tidings/tidings/subscribers"
)

// The series editor: the steps of a list's sequence in order, and one page to
// write a step (or a bonus email) with its preview beside it. Everything works
// with plain forms; editor.js only makes the preview follow the typing.

// stepRow is a line of the series page.
type stepRow struct {
	*campaigns.Step
	Waiting int
	First   bool
	Last    bool
}

// Delay says when the step comes, in words.
func (r stepRow) Delay() string {
	after := "after the previous step"
	if r.First {
		after = "after confirmation"
	}
	switch r.DelayDays {
	case 0:
		if r.First {
			return "right after confirmation"
		}
		return "the same day as the previous step"
	case 1:
		return "1 day " + after
	}
	return fmt.Sprintf("%d days %s", r.DelayDays, after)
}

// Days lists the step's weekdays, or "any day".
func (r stepRow) Days() string { return weekdaysText(r.Weekdays) }

func weekdaysText(days []string) string {
	if len(days) == 0 {
		return "any day"
	}
	names := make([]string, len(days))
	for i, d := range days {
		names[i] = weekdayLabels[d]
	}
	return strings.Join(names, ", ")
}

var weekdayLabels = map[string]string{"mon": "Mon", "tue": "Tue", "wed": "Wed", "thu": "Thu", "fri": "Fri", "sat": "Sat", "sun": "Sun"}

var weekdayValues = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// handleEditorStepIndex shows the series of a list in order.
func (s *Server) handleEditorStepIndex(w http.ResponseWriter, r *http.Request) {
	l, ok := s.editorList(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	steps, err := s.campaigns.Steps(ctx, l.ID)
	if err != nil {
		s.editorFail(w, r, err)
		return
	}
	waiting, err := s.campaigns.Waiting(ctx, l.ID)
	if err != nil {
		s.editorFail(w, r, err)
		return
	}
	rows := make([]stepRow, len(steps))
	total := 0
	for i, st := range steps {
		rows[i] = stepRow{Step: st, Waiting: waiting[st.ID], First: i == 0, Last: i == len(steps)-1}
		total += waiting[st.ID]
	}
	p := s.editorPage(r, l.Name+" · Series", map[string]any{
		"List": l, "Steps": rows, "Waiting": total, "Notice": notice(r),
	})
	s.render(w, r, http.StatusOK, "editor_steps", p)
}

// contentForm is the step or bonus form as typed.
type contentForm struct {
	Subject, Body string
	// Steps only.
	DelayDays, SendTime, Position string
	Weekdays                      []string
	// As picks the sample recipient of the preview: "" (Alex Example) or "anonymous".
	As string
}

func readContentForm(r *http.Request) contentForm {
	return contentForm{
		Subject:   r.PostFormValue("subject"),
		Body:      r.PostFormValue("body"),
		DelayDays: strings.TrimSpace(r.PostFormValue("delay_days")),
		SendTime:  strings.TrimSpace(r.PostFormValue("send_time")),
		Position:  strings.TrimSpace(r.PostFormValue("position")),
		Weekdays:  r.PostForm["weekdays"],
		As:        r.PostFormValue("as"),
	}
}

func stepFormOf(st *campaigns.Step) contentForm {
	return contentForm{
		Subject: st.Subject, Body: st.Body, DelayDays: strconv.Itoa(st.DelayDays), SendTime: st.SendTime,
		Position: strconv.Itoa(st.Position), Weekdays: st.Weekdays,
	}
}

// step turns the form into a step, or EINVALID naming the field.
func (f contentForm) step() (campaigns.Step, error) {
	st := campaigns.Step{Subject: f.Subject, Body: f.Body, Weekdays: f.Weekdays}
	if st.Weekdays == nil {
		st.Weekdays = []string{}
	}
	days, err := strconv.Atoi(f.DelayDays)
	if err != nil {
		return st, tidings.Errorf(tidings.EINVALID, "The delay must be a whole number of days, from 0 to %d; %q is not.", campaigns.MaxDelayDays, truncate(f.DelayDays, 20))
	}
	st.DelayDays = days
	// Browsers send an <input type=time> as HH:MM, or HH:MM:SS when seconds are allowed.
	st.SendTime = f.SendTime
	if len(f.SendTime) == len("15:04:05") && strings.HasSuffix(f.SendTime, ":00") {
		st.SendTime = f.SendTime[:5]
	}
	if f.Position != "" {
		if st.Position, err = strconv.Atoi(f.Position); err != nil || st.Position < 1 {
			return st, tidings.Errorf(tidings.EINVALID, "The position must be a step number.")
		}
	}
	return st, nil
}

// weekdayBox is a weekday checkbox.
type weekdayBox struct {
	Value, Label string
	Checked      bool
}

// composePage is the page that writes a step or a bonus email.
type composePage struct {
	Kind     string // "step" or "bonus"
	New      bool
	List     *subscribers.List
	ID       int64
	Position int
	Form     contentForm
	Error    string
	Notice   string
	Reach    string
	Preview  *preview

	Weekdays   []weekdayBox
	Positions  []int // choices for a new step
	Action     string
	PreviewURL string
	TestURL    string
	DeleteURL  string
	BackURL    string
	Editor     string
}

// renderCompose fills in what every compose page shows and renders it. A
// preview is rendered server-side from the form, so the page is whole without
// JavaScript.
func (s *Server) renderCompose(w http.ResponseWriter, r *http.Request, status int, d composePage) {
	d.Editor = editorFrom(r.Context()).Email
	d.PreviewURL = s.url("editor-preview", "list", d.List.Slug)
	d.TestURL = s.url("editor-test", "list", d.List.Slug)
	if d.Preview == nil {
		d.Preview = s.previewOf(r, d.List, d.Form)
	}
	var title string
	switch {
	case d.Kind == "bonus" && d.New:
		title = "New bonus email"
		d.Action = s.url("editor-bonuses", "list", d.List.Slug)
		d.BackURL = s.url("editor-list", "list", d.List.Slug) + "#bonuses"
	case d.Kind == "bonus":
		title = fmt.Sprintf("Bonus email %d", d.Position)
		d.Action = s.url("editor-bonus", "list", d.List.Slug, "id", itoa(d.ID))
		d.DeleteURL = s.url("editor-bonus-delete", "list", d.List.Slug, "id", itoa(d.ID))
		d.BackURL = s.url("editor-list", "list", d.List.Slug) + "#bonuses"
	case d.New:
		title = "New step"
		d.Action = s.url("editor-steps", "list", d.List.Slug)
		d.BackURL = s.url("editor-steps", "list", d.List.Slug)
	default:
		title = fmt.Sprintf("Step %d", d.Position)
		d.Action = s.url("editor-step", "list", d.List.Slug, "id", itoa(d.ID))
		d.DeleteURL = s.url("editor-step-delete", "list", d.List.Slug, "id", itoa(d.ID))
		d.BackURL = s.url("editor-steps", "list", d.List.Slug)
	}
	if d.Kind == "step" {
		for _, v := range weekdayValues {
			checked := false
			for _, c := range d.Form.Weekdays {
				checked = checked || strings.EqualFold(strings.TrimSpace(c), v)
			}
			d.Weekdays = append(d.Weekdays, weekdayBox{Value: v, Label: weekdayLabels[v], Checked: checked})
		}
	}
	if d.Kind == "step" && d.New {
		steps, err := s.campaigns.Steps(r.Context(), d.List.ID)
		if err != nil {
			s.editorFail(w, r, err)
			return
		}
		for i := range len(steps) + 1 {
			d.Positions = append(d.Positions, i+1)
		}
		if d.Form.Position == "" {
			d.Form.Position = strconv.Itoa(len(steps) + 1)
		}
		d.Position, _ = strconv.Atoi(d.Form.Position)
	}
	s.render(w, r, status, "editor_step", s.editorPage(r, title+" · "+d.List.Name, d))
}

// handleEditorStepNew shows an empty step form.
func (s *Server) handleEditorStepNew(w http.ResponseWriter, r *http.Request) {
	l, ok := s.editorList(w, r)
	if !ok {
		return
	}
	f := contentForm{DelayDays: "7"}
	if steps, err := s.campaigns.Steps(r.Context(), l.ID); err == nil {
		f.SendTime = usualSendTime(steps)
	}
	s.renderCompose(w, r, http.StatusOK, composePage{Kind: "step", New: true, List: l, Form: f})
}

// usualSendTime is the send time most of a list's steps have (the latest
// step's, when it is a tie), the default of a new step: a series is
// usually sent at one hour of the week. "" when the steps have none.
func usualSendTime(steps []*campaigns.Step) string {
	seen := map[string]int{}
	best := ""
	for _, st := range steps {
		if st.SendTime == "" {
			continue
		}
		seen[st.SendTime]++
		if seen[st.SendTime] >= seen[best] {
			best = st.SendTime
		}
	}
	return best
}

// handleEditorStepCreate adds a step; the form's Preview and test buttons
// post here too and store nothing.
func (s *Server) handleEditorStepCreate(w http.ResponseWriter, r *http.Request) {
	l, ok := s.editorList(w, r)
	if !ok {
		return
	}
	d := composePage{Kind: "step", New: true, List: l}
	if err := s.parseForm(w, r); err != nil {
		d.Error = tidings.ErrorMessage(err)
		s.renderCompose(w, r, errorStatus(err), d)
		return
	}
	d.Form = readContentForm(r)
	if s.composeAction(w, r, &d) {
		return
	}
	st, err := d.Form.step()
	if err == nil {
		err = s.campaigns.CreateStep(r.Context(), l.ID, &st)
	}
	if err != nil {
		s.logError(r, err)
		d.Error = tidings.ErrorMessage(err)
		s.renderCompose(w, r, errorStatus(err), d)
		return
	}
	http.Redirect(w, r, s.url("editor-steps", "list", l.Slug)+"?done=step-added#step-"+itoa(st.ID), http.StatusSeeOther)
}

// composeAction handles the Preview and test buttons of a compose form and
// reports whether it did; otherwise the form is to be saved.
func (s *Server) composeAction(w http.ResponseWriter, r *http.Request, d *composePage) bool {
	switch r.PostFormValue("action") {
	case "preview":
		s.renderCompose(w, r, http.StatusOK, *d)
		return true
	case "test":
		status := http.StatusOK
		to := editorFrom(r.Context()).Email
		if err := s.sendDraft(r, d.List, d.Form, to); err != nil {
			s.logError(r, err)
			status, d.Error = errorStatus(err), testNotSent+tidings.ErrorMessage(err)
		} else {
			d.Notice = testSent(to)
		}
		s.renderCompose(w, r, status, *d)
		return true
	}
	return false
}

// editorStep finds the list and step named in the path, or shows the
// not-found page.
func (s *Server) editorStep(w http.ResponseWriter, r *http.Request) (*subscribers.List, *campaigns.Step, bool) {
	l, ok := s.editorList(w, r)
	if !ok {
		return nil, nil, false
	}
	id, err := pathID(mux.Vars(r)["id"])
	if err == nil {
		var st *campaigns.Step
		if st, err = s.campaigns.StepByID(r.Context(), l.ID, id); err == nil {
			return l, st, true
		}
	}
	s.editorFail(w, r, err)
	return nil, nil, false
}

// handleEditorStepEdit shows a step with its preview, and what saving a
// change to it would reach.
func (s *Server) handleEditorStepEdit(w http.ResponseWriter, r *http.Request) {
	l, st, ok := s.editorStep(w, r)
	if !ok {
		return
	}
	d := composePage{Kind: "step", List: l, ID: st.ID, Position: st.Position, Form: stepFormOf(st), Notice: notice(r)}
	if err := s.stepReach(r, &d); err != nil {
		s.editorFail(w, r, err)
		return
	}
	s.renderCompose(w, r, http.StatusOK, d)
}

// stepReach says, before a save, how many subscribers the change reaches and
// when the next of them gets the step.
func (s *Server) stepReach(r *http.Request, d *composePage) error {
	reach, err := s.campaigns.StepReach(r.Context(), d.List.ID, d.ID)
	if err != nil {
		return err
	}
	d.Reach = reachText(d.Position, reach)
	return nil
}

func reachText(position int, r *campaigns.Reach) string {
	if r.Subscribers == 0 {
		return fmt.Sprintf("No subscriber is waiting for step %d now: saving changes it for those who reach it later.", position)
	}
	who := fmt.Sprintf("%d subscribers who have not received it yet", r.Subscribers)
	if r.Subscribers == 1 {
		who = "1 subscriber who has not received it yet"
	}
	line := fmt.Sprintf("Saving this changes step %d for %s", position, who)
	if r.NextAt == nil {
		return line + "; they get it when they reach it in the series."
	}
	loc, err := time.LoadLocation(r.NextTimezone)
	if err != nil {
		loc, r.NextTimezone = time.UTC, "UTC"
	}
	return line + fmt.Sprintf("; the next of them gets it on %s (their time, %s).",
		r.NextAt.In(loc).Format("Mon 2 Jan at 15:04"), r.NextTimezone)
}

// handleEditorStepUpdate saves a step; the Preview and test buttons post
// here too and store nothing.
func (s *Server) handleEditorStepUpdate(w http.ResponseWriter, r *http.Request) {
	l, cur, ok := s.editorStep(w, r)
	if !ok {
		return
	}
	d := composePage{Kind: "step", List: l, ID: cur.ID, Position: cur.Position}
	if err := s.parseForm(w, r); err != nil {
		d.Form, d.Error = stepFormOf(cur), tidings.ErrorMessage(err)
		s.renderCompose(w, r, errorStatus(err), d)
		return
	}
	d.Form = readContentForm(r)
	d.Form.Position = ""
	if err := s.stepReach(r, &d); err != nil {
		s.editorFail(w, r, err)
		return
	}
	if s.composeAction(w, r, &d) {
		return
	}
	st, err := d.Form.step()
	if err == nil {
		_, err = s.campaigns.UpdateStep(r.Context(), l.ID, cur.ID, campaigns.StepUpdate{
			Subject: &st.Subject, Body: &st.Body, DelayDays: &st.DelayDays, SendTime: &st.SendTime, Weekdays: &st.Weekdays,
		})
	}
	if err != nil {
		s.logError(r, err)
		d.Error = tidings.ErrorMessage(err)
		s.renderCompose(w, r, errorStatus(err), d)
		return
	}
	http.Redirect(w, r, s.url("editor-steps", "list", l.Slug)+"?done=step-saved#step-"+itoa(cur.ID), http.StatusSeeOther)
}

// handleEditorStepMove moves a step one place up or down.
func (s *Server) handleEditorStepMove(w http.ResponseWriter, r *http.Request) {
	l, st, ok := s.editorStep(w, r)
	if !ok {
		return
	}
	if err := s.parseForm(w, r); err != nil {
		s.editorFail(w, r, err)
		return
	}
	to := st.Position
	switch r.PostFormValue("dir") {
	case "up":
		to--
	case "down":
		to++
	default:
		s.editorFail(w, r, tidings.Errorf(tidings.EINVALID, "Say whether to move the step up or down."))
		return
	}
	if to >= 1 {
		// Past the end, UpdateStep keeps the step last.
		if _, err := s.campaigns.UpdateStep(r.Context(), l.ID, st.ID, campaigns.StepUpdate{Position: &to}); err != nil {
			s.editorFail(w, r, err)
			return
		}
	}
	http.Redirect(w, r, s.url("editor-steps", "list", l.Slug)+"?done=step-moved#step-"+itoa(st.ID), http.StatusSeeOther)
}

// confirmPage asks before something is deleted.
type confirmPage struct {
	List   *subscribers.List
	Crumb  *pageLink // the page between the list and this one, if any
	Lines  []string
	Action string
	Button string
	Cancel string
}

// handleEditorStepDeleteForm asks before a step is deleted, saying whom it affects.
func (s *Server) handleEditorStepDeleteForm(w http.ResponseWriter, r *http.Request) {
	l, st, ok := s.editorStep(w, r)
	if !ok {
		return
	}
	reach, err := s.campaigns.StepReach(r.Context(), l.ID, st.ID)
	if err != nil {
		s.editorFail(w, r, err)
		return
	}
	lines := []string{fmt.Sprintf("Step %d, “%s”, leaves the series and the steps after it move up.", st.Position, st.Subject)}
	switch reach.Subscribers {
	case 0:
		lines = append(lines, "No subscriber is waiting for it now.")
	case 1:
		lines = append(lines, "1 subscriber who has not received it yet will skip it.")
	default:
		lines = append(lines, fmt.Sprintf("%d subscribers who have not received it yet will skip it.", reach.Subscribers))
	}
	lines = append(lines, "Those who got it keep it in their history.")
	s.render(w, r, http.StatusOK, "editor_list_confirm", s.editorPage(r, fmt.Sprintf("Delete step %d?", st.Position), confirmPage{
		List: l, Crumb: &pageLink{URL: s.url("editor-steps", "list", l.Slug), Text: "Series"},
		Lines: lines, Action: s.url("editor-step-delete", "list", l.Slug, "id", itoa(st.ID)),
		Button: "Delete step", Cancel: s.url("editor-step", "list", l.Slug, "id", itoa(st.ID)),
	}))
}

// handleEditorStepDelete deletes a step.
func (s *Server) handleEditorStepDelete(w http.ResponseWriter, r *http.Request) {
	l, st, ok := s.editorStep(w, r)
	if !ok {
		return
	}
	if err := s.campaigns.DeleteStep(r.Context(), l.ID, st.ID); err != nil {
		s.editorFail(w, r, err)
		return
	}
	http.Redirect(w, r, s.url("editor-steps", "list", l.Slug)+"?done=step-deleted", http.StatusSeeOther)
}
