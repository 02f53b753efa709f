package web

import "github.com/gorilla/mux"

// Route is a route of the table, for tests that visit every route.
type Route struct {
	Path    string // the path template, e.g. /lists/{list}
	Methods []string
}

// Routes lists every route that has a path and methods.
func (s *Server) Routes() []Route {
	var rs []Route
	s.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		path, err1 := route.GetPathTemplate()
		methods, err2 := route.GetMethods()
		if err1 == nil && err2 == nil {
			rs = append(rs, Route{Path: path, Methods: methods})
		}
		return nil
	})
	return rs
}
