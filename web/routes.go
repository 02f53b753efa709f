package web

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/tidings/tidings/subscribers"
)

// routes builds the router: one table per audience. Pages build URLs by route name.
func (s *Server) routes() {
	r := mux.NewRouter()
	r.StrictSlash(true)
	r.NotFoundHandler = http.HandlerFunc(s.handleNotFound)
	r.MethodNotAllowedHandler = http.HandlerFunc(s.handleMethodNotAllowed)

	// Operators.
	r.HandleFunc("/healthz", s.handleHealth).Methods("GET", "HEAD").Name("health")
	r.PathPrefix("/static/").Handler(http.StripPrefix("/static/", staticHandler(s.staticFS, r.NotFoundHandler))).Methods("GET", "HEAD").Name("static")

	// Readers and subscribers (public, no sign-in).
	r.HandleFunc("/", s.handleHome).Methods("GET", "HEAD").Name("home")
	r.HandleFunc("/subscribe/{list}", s.handleSubscribeForm).Methods("GET", "HEAD").Name("subscribe")
	r.HandleFunc("/subscribe/{list}", s.handleSubscribe).Methods("POST")
	r.HandleFunc("/confirm/{token}", s.handleConfirmForm).Methods("GET", "HEAD").Name("confirm")
	r.HandleFunc("/confirm/{token}", s.handleConfirm).Methods("POST")
	r.HandleFunc("/unsubscribe/{token}", s.handleUnsubscribeForm).Methods("GET", "HEAD").Name("unsubscribe")
	r.HandleFunc("/unsubscribe/{token}", s.handleUnsubscribe).Methods("POST")

	// Development: the caught-mail inbox, only when a mail catcher is wired.
	if s.inbox != nil {
		r.HandleFunc("/dev/inbox", s.handleInboxIndex).Methods("GET", "HEAD").Name("inbox")
		r.HandleFunc("/dev/inbox/{id:[0-9]+}", s.handleInboxMessage).Methods("GET", "HEAD").Name("inbox-message")
		r.HandleFunc("/dev/inbox/{id:[0-9]+}/html", s.handleInboxHTML).Methods("GET", "HEAD").Name("inbox-html")
	}

	// Editors: sign-in, then everything under /editor/ needs a session.
	r.HandleFunc("/editor/login", s.handleEditorLoginForm).Methods("GET", "HEAD").Name("editor-login")
	r.HandleFunc("/editor/login", s.handleEditorLogin).Methods("POST")
	r.HandleFunc("/editor/login/code", s.handleEditorLoginCodeForm).Methods("GET", "HEAD").Name("editor-login-code")
	r.HandleFunc("/editor/login/code", s.handleEditorLoginCode).Methods("POST")
	ed := r.PathPrefix("/editor").Subrouter()
	ed.Use(s.requireEditor)
	ed.HandleFunc("/", s.handleEditorDashboard).Methods("GET", "HEAD").Name("editor-dashboard")
	ed.HandleFunc("/logout", s.handleEditorLogout).Methods("POST").Name("editor-logout")
	ed.HandleFunc("/account", s.handleEditorAccount).Methods("GET", "HEAD").Name("editor-account")
	ed.HandleFunc("/account/totp", s.handleEditorTOTPBegin).Methods("POST").Name("editor-totp-begin")
	ed.HandleFunc("/account/totp/confirm", s.handleEditorTOTPConfirm).Methods("POST").Name("editor-totp-confirm")
	ed.HandleFunc("/account/totp/disable", s.handleEditorTOTPDisable).Methods("POST").Name("editor-totp-disable")
	ed.HandleFunc("/tokens", s.handleEditorTokenIndex).Methods("GET", "HEAD").Name("editor-tokens")
	ed.HandleFunc("/tokens", s.handleEditorTokenCreate).Methods("POST")
	ed.HandleFunc("/tokens/{id:[0-9]+}/revoke", s.handleEditorTokenRevoke).Methods("POST").Name("editor-token-revoke")
	ed.HandleFunc("/lists", s.handleEditorListIndex).Methods("GET", "HEAD").Name("editor-lists")
	ed.HandleFunc("/lists", s.handleEditorListCreate).Methods("POST")
	ed.HandleFunc("/lists/new", s.handleEditorListNew).Methods("GET", "HEAD").Name("editor-list-new")
	ed.HandleFunc("/lists/{list}/settings", s.handleEditorListEdit).Methods("GET", "HEAD").Name("editor-list")
	ed.HandleFunc("/lists/{list}/settings", s.handleEditorListUpdate).Methods("POST")
	ed.HandleFunc("/lists/{list}/preview", s.handleEditorPreview).Methods("POST").Name("editor-preview")
	ed.HandleFunc("/lists/{list}/test", s.handleEditorTest).Methods("POST").Name("editor-test")
	ed.HandleFunc("/lists/{list}/bonuses", s.handleEditorBonusCreate).Methods("POST").Name("editor-bonuses")
	ed.HandleFunc("/lists/{list}/bonuses/new", s.handleEditorBonusNew).Methods("GET", "HEAD").Name("editor-bonus-new")
	ed.HandleFunc("/lists/{list}/bonuses/{id:[0-9]+}", s.handleEditorBonusEdit).Methods("GET", "HEAD").Name("editor-bonus")
	ed.HandleFunc("/lists/{list}/bonuses/{id:[0-9]+}", s.handleEditorBonusUpdate).Methods("POST")
	ed.HandleFunc("/lists/{list}/bonuses/{id:[0-9]+}/delete", s.handleEditorBonusDeleteForm).Methods("GET", "HEAD").Name("editor-bonus-delete")
	ed.HandleFunc("/lists/{list}/bonuses/{id:[0-9]+}/delete", s.handleEditorBonusDelete).Methods("POST")
	ed.HandleFunc("/lists/{list}/steps", s.handleEditorStepIndex).Methods("GET", "HEAD").Name("editor-steps")
	ed.HandleFunc("/lists/{list}/steps", s.handleEditorStepCreate).Methods("POST")
	ed.HandleFunc("/lists/{list}/steps/new", s.handleEditorStepNew).Methods("GET", "HEAD").Name("editor-step-new")
	ed.HandleFunc("/lists/{list}/steps/{id:[0-9]+}", s.handleEditorStepEdit).Methods("GET", "HEAD").Name("editor-step")
	ed.HandleFunc("/lists/{list}/steps/{id:[0-9]+}", s.handleEditorStepUpdate).Methods("POST")
	ed.HandleFunc("/lists/{list}/steps/{id:[0-9]+}/move", s.handleEditorStepMove).Methods("POST").Name("editor-step-move")
	ed.HandleFunc("/lists/{list}/steps/{id:[0-9]+}/delete", s.handleEditorStepDeleteForm).Methods("GET", "HEAD").Name("editor-step-delete")
	ed.HandleFunc("/lists/{list}/steps/{id:[0-9]+}/delete", s.handleEditorStepDelete).Methods("POST")
	ed.HandleFunc("/broadcasts", s.handleEditorBroadcastIndex).Methods("GET", "HEAD").Name("editor-broadcasts")
	ed.HandleFunc("/broadcasts", s.handleEditorBroadcastCreate).Methods("POST")
	ed.HandleFunc("/broadcasts/new", s.handleEditorBroadcastNew).Methods("GET", "HEAD").Name("editor-broadcast-new")
	ed.HandleFunc("/broadcasts/preview", s.handleEditorBroadcastPreview).Methods("POST").Name("editor-broadcast-preview")
	ed.HandleFunc("/broadcasts/{id:[0-9]+}", s.handleEditorBroadcastShow).Methods("GET", "HEAD").Name("editor-broadcast")
	ed.HandleFunc("/broadcasts/{id:[0-9]+}/edit", s.handleEditorBroadcastEdit).Methods("GET", "HEAD").Name("editor-broadcast-edit")
	ed.HandleFunc("/broadcasts/{id:[0-9]+}/edit", s.handleEditorBroadcastUpdate).Methods("POST")
	ed.HandleFunc("/broadcasts/{id:[0-9]+}/progress", s.handleEditorBroadcastProgress).Methods("GET", "HEAD").Name("editor-broadcast-progress")
	ed.HandleFunc("/broadcasts/{id:[0-9]+}/test", s.handleEditorBroadcastTest).Methods("POST").Name("editor-broadcast-test")
	ed.HandleFunc("/broadcasts/{id:[0-9]+}/schedule", s.handleEditorBroadcastSchedule).Methods("POST").Name("editor-broadcast-schedule")
	ed.HandleFunc("/broadcasts/{id:[0-9]+}/send", s.handleEditorBroadcastSendForm).Methods("GET", "HEAD").Name("editor-broadcast-send")
	ed.HandleFunc("/broadcasts/{id:[0-9]+}/send", s.handleEditorBroadcastSend).Methods("POST")
	ed.HandleFunc("/broadcasts/{id:[0-9]+}/pause", s.handleEditorBroadcastPause).Methods("POST").Name("editor-broadcast-pause")
	ed.HandleFunc("/broadcasts/{id:[0-9]+}/resume", s.handleEditorBroadcastResume).Methods("POST").Name("editor-broadcast-resume")
	ed.HandleFunc("/broadcasts/{id:[0-9]+}/cancel", s.handleEditorBroadcastCancelForm).Methods("GET", "HEAD").Name("editor-broadcast-cancel")
	ed.HandleFunc("/broadcasts/{id:[0-9]+}/cancel", s.handleEditorBroadcastCancel).Methods("POST")
	ed.HandleFunc("/broadcasts/{id:[0-9]+}/retry-failed", s.handleEditorBroadcastRetry).Methods("POST").Name("editor-broadcast-retry")
	ed.HandleFunc("/subscribers", s.handleEditorSubscriberIndex).Methods("GET", "HEAD").Name("editor-subscribers")
	ed.HandleFunc("/subscribers/export", s.handleEditorSubscriberExport).Methods("GET", "HEAD").Name("editor-subscribers-export")
	ed.HandleFunc("/subscribers/import", s.handleEditorSubscriberImportForm).Methods("GET", "HEAD").Name("editor-subscribers-import")
	ed.HandleFunc("/subscribers/import", s.handleEditorSubscriberImport).Methods("POST")
	ed.HandleFunc("/subscribers/{id:[0-9]+}", s.handleEditorSubscriberShow).Methods("GET", "HEAD").Name("editor-subscriber")
	ed.HandleFunc("/subscribers/{id:[0-9]+}/unsubscribe", s.handleEditorSubscriberUnsubscribe).Methods("POST").Name("editor-subscriber-unsubscribe")
	ed.HandleFunc("/subscribers/{id:[0-9]+}/resubscribe", s.handleEditorSubscriberResubscribe).Methods("POST").Name("editor-subscriber-resubscribe")
	ed.HandleFunc("/subscribers/{id:[0-9]+}/tags", s.handleEditorSubscriberTags).Methods("POST").Name("editor-subscriber-tags")
	ed.HandleFunc("/subscribers/{id:[0-9]+}/delete", s.handleEditorSubscriberDeleteForm).Methods("GET", "HEAD").Name("editor-subscriber-delete")
	ed.HandleFunc("/subscribers/{id:[0-9]+}/delete", s.handleEditorSubscriberDelete).Methods("POST")

	// Scripts: the JSON API, with bearer tokens.
	api := r.PathPrefix("/api/v1").Subrouter()
	api.Use(s.requireToken)
	api.HandleFunc("/lists", s.handleAPIListIndex).Methods("GET").Name("api-lists")
	api.HandleFunc("/lists", s.handleAPIListCreate).Methods("POST")
	api.HandleFunc("/lists/{list}", s.handleAPIListShow).Methods("GET").Name("api-list")
	api.HandleFunc("/lists/{list}", s.handleAPIListUpdate).Methods("PATCH")
	api.HandleFunc("/lists/{list}/steps", s.handleAPIStepIndex).Methods("GET").Name("api-steps")
	api.HandleFunc("/lists/{list}/steps", s.handleAPIStepCreate).Methods("POST")
	api.HandleFunc("/lists/{list}/steps/{id:[0-9]+}", s.handleAPIStepShow).Methods("GET").Name("api-step")
	api.HandleFunc("/lists/{list}/steps/{id:[0-9]+}", s.handleAPIStepUpdate).Methods("PATCH")
	api.HandleFunc("/lists/{list}/steps/{id:[0-9]+}", s.handleAPIStepDelete).Methods("DELETE")
	api.HandleFunc("/lists/{list}/policy", s.handleAPIListPolicyShow).Methods("GET").Name("api-list-policy")
	api.HandleFunc("/lists/{list}/policy", s.handleAPIListPolicyUpdate).Methods("PUT")
	api.HandleFunc("/broadcasts", s.handleAPIBroadcastIndex).Methods("GET").Name("api-broadcasts")
	api.HandleFunc("/broadcasts", s.handleAPIBroadcastCreate).Methods("POST")
	api.HandleFunc("/broadcasts/{id:[0-9]+}", s.handleAPIBroadcastShow).Methods("GET").Name("api-broadcast")
	api.HandleFunc("/broadcasts/{id:[0-9]+}", s.handleAPIBroadcastUpdate).Methods("PATCH")
	api.HandleFunc("/broadcasts/{id:[0-9]+}/{action}", s.handleAPIBroadcastAction).Methods("POST").Name("api-broadcast-action")
	api.HandleFunc("/subscribers", s.handleAPISubscriberIndex).Methods("GET").Name("api-subscribers")
	api.HandleFunc("/subscribers", s.handleAPISubscriberCreate).Methods("POST")
	api.HandleFunc("/subscribers/{id:[0-9]+}", s.handleAPISubscriberShow).Methods("GET").Name("api-subscriber")
	api.HandleFunc("/subscribers/{id:[0-9]+}/tags", s.handleAPISubscriberTags).Methods("POST").Name("api-subscriber-tags")
	api.HandleFunc("/subscribers/import", s.handleAPISubscriberImport).Methods("POST").Name("api-subscribers-import")

	s.router = r
}

// url builds the path of a named route.
func (s *Server) url(name string, pairs ...string) string {
	u, err := s.router.Get(name).URL(pairs...)
	if err != nil {
		panic("web: url " + name + ": " + err.Error())
	}
	return u.String()
}

// LinkPaths are the paths of the pages that emailed links open, from the
// route table, for subscribers.Links. There is no preferences page yet, so
// the preferences link opens the unsubscribe page.
func (s *Server) LinkPaths() subscribers.LinkPaths {
	return subscribers.LinkPaths{
		Confirm:     s.pathTemplate("confirm"),
		Unsubscribe: s.pathTemplate("unsubscribe"),
		Preferences: s.pathTemplate("unsubscribe"),
	}
}

// pathTemplate is the path of a named route with its variables in braces.
func (s *Server) pathTemplate(name string) string {
	t, err := s.router.Get(name).GetPathTemplate()
	if err != nil {
		panic("web: path template " + name + ": " + err.Error())
	}
	return t
}
