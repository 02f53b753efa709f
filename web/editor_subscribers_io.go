package web

import (
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidings/tidings"
	"github.com/tidings/tidings/subscribers"
)

// importPage is what the import page shows: the form, and after an import
// its report.
type importPage struct {
	Lists     []*subscribers.List
	ListNames map[string]string // slug -> name
	List      string            // the list picked
	Series    string            // the series choice picked: subscribers.SeriesWelcome, SeriesJoin or SeriesNone
	Report    *subscribers.ImportReport
	Error     string
	MaxBytes  int64
	MaxMiB    int64
	MaxRows   string // subscribers.MaxImportRows, written as 200,000
}

// renderImport shows the import form, or the report of an import.
func (s *Server) renderImport(w http.ResponseWriter, r *http.Request, status int, d importPage) {
	lists, err := s.subscribers.Lists(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d.Lists, d.ListNames, d.MaxBytes, d.MaxMiB = lists, listNames(lists), maxImportBody, maxImportBody>>20
	d.MaxRows = thousands(subscribers.MaxImportRows)
	if d.Series == "" {
		d.Series = subscribers.SeriesJoin
	}
	title := "Import subscribers"
	if d.Report != nil {
		title = "Import report"
	}
	s.render(w, r, status, "editor_subscribers_import", s.editorPage(r, title, d))
}

// handleEditorSubscriberImportForm shows the import form.
func (s *Server) handleEditorSubscriberImportForm(w http.ResponseWriter, r *http.Request) {
	s.renderImport(w, r, http.StatusOK, importPage{List: r.URL.Query().Get("list")})
}

// handleEditorSubscriberImport imports the uploaded CSV into the chosen list
// (see subscribers.Store.Import), those it confirms starting the list's
// series as the form's series field says (join when it is missing; another
// value is a 422), and shows the report: added, updated,
// skipped and rejected rows, each rejection with its line and reason. The
// form is multipart, read as a stream: the file goes straight to the CSV
// reader, never to memory or a temporary file, so the list must come before
// it (422 otherwise). A file over 64 MiB is refused with 413, a malformed one
// with 422; either way nothing is imported.
func (s *Server) handleEditorSubscriberImport(w http.ResponseWriter, r *http.Request) {
	var series string
	fail := func(list string, err error) {
		s.renderImport(w, r, errorStatus(err), importPage{List: list, Series: series, Error: tidings.ErrorMessage(err)})
	}
	// Hundreds of thousands of rows take longer to upload than the
	// server's timeouts allow.
	extendDeadlines(w, importReadTime)
	up := &uploadReader{r: http.MaxBytesReader(w, r.Body, maxImportBody)}
	if r.ContentLength > maxImportBody {
		// Said too large before a byte is read: reading it could only end so.
		s.importFailed(w, r, "", "", up, up.broke(&http.MaxBytesError{Limit: maxImportBody}))
		return
	}
	r.Body = io.NopCloser(up)
	mr, err := r.MultipartReader()
	if err != nil {
		fail("", tidings.Errorf(tidings.EMALFORMED, "The upload could not be read: send the form with its file."))
		return
	}
	var (
		list     string
		rep      *subscribers.ImportReport
		sawList  bool
		imported bool
	)
	meta := subscribers.Meta{IP: clientIP(r), UserAgent: userAgent(r), Form: "import by " + editorFrom(r.Context()).Email}
	for !imported {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			s.importFailed(w, r, list, series, up, up.broke(err))
			return
		}
		switch part.FormName() {
		case "list":
			b, err := io.ReadAll(io.LimitReader(part, 200))
			if err != nil {
				s.importFailed(w, r, list, series, up, up.broke(err))
				return
			}
			list, sawList = strings.TrimSpace(string(b)), true
		case "series":
			// Before the file, as the form has it; Import checks the value.
			b, err := io.ReadAll(io.LimitReader(part, 40))
			if err != nil {
				s.importFailed(w, r, list, series, up, up.broke(err))
				return
			}
			series = strings.TrimSpace(string(b))
		case "file":
			if part.FileName() == "" {
				continue // no file chosen
			}
			if list == "" {
				// A browser sends the fields in the order of the form, the
				// list first. The file is read as it arrives, never held,
				// so a client that sends it first is told so.
				msg := "Send the list field before the file (as the form does)."
				if sawList {
					msg = "Choose the list to import into."
				}
				fail("", tidings.Errorf(tidings.EINVALID, "%s", msg))
				return
			}
			rep, err = s.subscribers.Import(r.Context(), subscribers.ImportRequest{List: list, Series: series, Meta: meta}, part)
			if err != nil {
				s.importFailed(w, r, list, series, up, err)
				return
			}
			imported = true
		}
	}
	switch {
	case imported:
		if rep.Stopped != nil {
			// As the API does: take the rest of the upload, so the browser
			// shows the report rather than a reset connection.
			_, _ = io.Copy(io.Discard, up)
		}
	case list == "":
		fail(list, tidings.Errorf(tidings.EINVALID, "Choose the list to import into."))
		return
	default:
		fail(list, tidings.Errorf(tidings.EINVALID, "Choose a CSV file to import."))
		return
	}
	s.renderImport(w, r, http.StatusOK, importPage{List: list, Series: rep.Series, Report: rep})
}

// importFailed shows the form again with why the import failed: the
// upload broke off (413 when it was too large), or the import refused it.
func (s *Server) importFailed(w http.ResponseWriter, r *http.Request, list, series string, up *uploadReader, err error) {
	if up.err != nil {
		err = up.err
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		err = importTooLarge()
	case up.err != nil:
		err = tidings.Errorf(tidings.EMALFORMED, "The upload broke off; nothing was imported. Please try again.")
	case tidings.ErrorCode(err) == tidings.EINTERNAL:
		s.logError(r, err)
		err = tidings.Errorf(tidings.EINTERNAL, "Something went wrong; nothing was imported. Please try again in a moment.")
	}
	s.renderImport(w, r, errorStatus(err), importPage{List: list, Series: series, Error: tidings.ErrorMessage(err)})
}

// importTooLarge is the error of an import over maxImportBody.
func importTooLarge() error {
	return tidings.Errorf(tidings.ETOOLARGE, "The file is too large: at most %d MiB. Split it and import the parts; nothing was imported.", maxImportBody>>20)
}

// uploadReader remembers an error reading the request body, so that a
// broken upload is told apart from a failure of the import itself.
type uploadReader struct {
	r   io.Reader
	err error
}

// broke records err as the upload's failure (a malformed form is one too)
// and returns it.
func (u *uploadReader) broke(err error) error {
	if u.err == nil {
		u.err = err
	}
	return err
}

func (u *uploadReader) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && u.err == nil {
		u.err = err
	}
	return n, err
}

// exportBatch is how many subscribers an export reads per query.
const exportBatch = subscribers.MaxLimit

// handleEditorSubscriberExport streams the subscribers matching the index's
// filter as CSV (email, name, timezone, tags, lists, created_at), reading
// them in keyset batches, so a million rows never sit in memory. A cell that
// a spreadsheet would take for a formula is prefixed with an apostrophe.
func (s *Server) handleEditorSubscriberExport(w http.ResponseWriter, r *http.Request) {
	f, err := readSubscriberFilter(r)
	if err != nil {
		s.exportFailed(w, r, err)
		return
	}
	filter := subscribers.Filter{List: f.List, Status: f.Status, Query: f.Q, Tag: f.Tag, AfterID: f.After, Limit: exportBatch}
	// The first batch is read before anything is written, so a bad filter
	// still gets its status code.
	batch, err := s.subscribers.Subscribers(r.Context(), filter)
	if err != nil {
		s.exportFailed(w, r, err)
		return
	}
	name := "subscribers"
	if f.List != "" {
		name += "-" + f.List // a valid slug: letters, digits and hyphens only
	}
	name += "-" + s.now().UTC().Format("2006-01-02") + ".csv"
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	if r.Method == http.MethodHead {
		return
	}
	cw := csv.NewWriter(w)
	cw.Write([]string{"email", "name", "timezone", "tags", "lists", "created_at"})
	rc := http.NewResponseController(w)
	for {
		for _, sub := range batch {
			lists := make([]string, len(sub.Subscriptions))
			for i, ss := range sub.Subscriptions {
				lists[i] = ss.List + ":" + ss.Status
			}
			cw.Write([]string{
				csvCell(sub.Email), csvCell(sub.Name), csvCell(sub.Timezone),
				csvCell(strings.Join(sub.Tags, ";")), csvCell(strings.Join(lists, ";")),
				sub.CreatedAt.UTC().Format(time.RFC3339),
			})
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return // the client went away
		}
		rc.Flush()
		// A big export takes longer than the server's write timeout: each
		// batch the client takes earns it the time for the next.
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if len(batch) < exportBatch {
			return
		}
		filter.AfterID = batch[len(batch)-1].ID
		if batch, err = s.subscribers.Subscribers(r.Context(), filter); err != nil {
			// The status is sent already: the file ends short, and the
			// operator learns why.
			s.logger.Error("export failed", "err", err, "after_id", filter.AfterID)
			return
		}
	}
}

// exportFailed shows why an export could not start.
func (s *Server) exportFailed(w http.ResponseWriter, r *http.Request, err error) {
	s.logError(r, err)
	msg := tidings.ErrorMessage(err)
	if tidings.ErrorCode(err) == tidings.EINTERNAL {
		msg = "Please try again in a moment."
	}
	p := s.editorPage(r, "The export could not start", nil)
	p.Lines = []string{msg}
	p.Link = &pageLink{URL: s.url("editor-subscribers"), Text: "Back to the subscribers"}
	s.render(w, r, errorStatus(err), "message", p)
}

// csvCell guards a cell against formula injection: a spreadsheet runs a
// cell that starts with = + - or @ (or a tab or carriage return before one)
// as a formula, so such a cell gets a leading apostrophe, which spreadsheets
// take as "this is text".
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// thousands writes n with a comma between each group of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
