package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"

	"github.com/tidings/tidings/editors"
)

// page is the data every page gets; Data holds what is particular to it.
type page struct {
	Title string
	Lines []string
	Link  *pageLink
	Wide  bool
	Data  any

	// Editor is the signed-in editor on editor pages, nil elsewhere.
	Editor   *editors.Editor
	DevInbox bool
	Path     string

	server *Server
}

type pageLink struct{ URL, Text string }

// URL builds a path from a route name, for templates.
func (p page) URL(name string, pairs ...string) string { return p.server.url(name, pairs...) }

// Here reports whether the page is in the section of the editor whose index
// is the named route, for the navigation's aria-current: the dashboard only
// at its own path, the others at theirs and below.
func (p page) Here(name string) bool {
	u := p.server.url(name)
	if name == "editor-dashboard" {
		return p.Path == u
	}
	return p.Path == u || strings.HasPrefix(p.Path, u+"/")
}

// newPage is the one helper that builds the data every page needs.
func (s *Server) newPage(title string, data any) page {
	return page{Title: title, Data: data, server: s}
}

// pageFuncs are the functions pages may call beyond the builtins.
var pageFuncs = template.FuncMap{
	"shortUA": shortUserAgent,
}

// parsePages parses each page together with the layout.
func (s *Server) parsePages() error {
	s.pages = make(map[string]*template.Template)
	names, err := fs.Glob(pageFiles, "pages/*.html")
	if err != nil {
		return err
	}
	for _, name := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(name, "pages/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(pageFuncs).ParseFS(pageFiles, "pages/layout.html", name)
		if err != nil {
			return fmt.Errorf("web: parse %s: %w", name, err)
		}
		s.pages[base] = t
	}
	return nil
}

// render writes a page with a status. Rendering goes to a buffer first, so a
// template error never leaves half a page behind.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t, ok := s.pages[name]
	if !ok {
		panic("web: no page " + name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		s.renderFailed(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// message renders the plain message page.
func (s *Server) message(w http.ResponseWriter, r *http.Request, status int, title string, lines ...string) {
	p := s.newPage(title, nil)
	p.Lines = lines
	s.render(w, r, status, "message", p)
}

// editorPage is newPage for the signed-in pages: wide, with the navigation.
func (s *Server) editorPage(r *http.Request, title string, data any) page {
	p := s.newPage(title, data)
	p.Wide = true
	p.Editor = editorFrom(r.Context())
	p.DevInbox = s.inbox != nil
	p.Path = r.URL.Path
	return p
}
