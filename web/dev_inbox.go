package web

import (
	"github.com/tidings/tidings"

	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
)

// handleInboxIndex lists the messages the development mail catcher caught.
func (s *Server) handleInboxIndex(w http.ResponseWriter, r *http.Request) {
	msgs := s.inbox.Messages()
	slices.Reverse(msgs)
	p := s.newPage("Dev inbox", map[string]any{"Messages": msgs, "Addr": s.inbox.Addr()})
	p.Wide = true
	s.render(w, r, http.StatusOK, "inbox", p)
}

type header struct{ Name, Value string }

// handleInboxMessage shows one caught message: headers, HTML and text.
func (s *Server) handleInboxMessage(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.Atoi(mux.Vars(r)["id"])
	m, ok := s.inbox.Message(id)
	if !ok {
		s.fail(w, r, tidings.Errorf(tidings.ENOTFOUND, "Message not found: the dev inbox keeps the most recent messages only."))
		return
	}
	var hs []header
	for name, values := range m.Header {
		hs = append(hs, header{name, strings.Join(values, ", ")})
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].Name < hs[j].Name })
	p := s.newPage(m.Subject, map[string]any{"Message": m, "Headers": hs})
	p.Wide = true
	s.render(w, r, http.StatusOK, "inbox_message", p)
}

// handleInboxHTML serves the HTML part of a caught message for the sandboxed
// iframe; the CSP keeps any script in it from running.
func (s *Server) handleInboxHTML(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.Atoi(mux.Vars(r)["id"])
	m, ok := s.inbox.Message(id)
	if !ok {
		s.fail(w, r, tidings.Errorf(tidings.ENOTFOUND, "Message not found: the dev inbox keeps the most recent messages only."))
		return
	}
	writeFramed(w, m.HTML, inboxCSP)
}
