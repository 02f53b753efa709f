// Package tidings holds the error vocabulary shared by every Tidings package.
//
// Domain packages return *Error values with one of the codes below and a message
// meant for people; the web package maps each code to an HTTP status in one place.
package tidings

import (
	"errors"
	"fmt"
)

// Error codes. They say what kind of failure happened, not where.
const (
	ECONFLICT     = "conflict"     // the action conflicts with the current state
	EINTERNAL     = "internal"     // a bug or an outage; details are logged, not shown
	EINVALID      = "invalid"      // the input is malformed or breaks a rule
	ENOTFOUND     = "not_found"    // the thing does not exist (or must look as if it did not)
	EFORBIDDEN    = "forbidden"    // the caller may not do this
	EUNAUTHORIZED = "unauthorized" // the caller did not say who they are
	ERATELIMITED  = "rate_limited" // too many attempts; try again later
	EEXPIRED      = "expired"      // a token or link is past its lifetime
	EMALFORMED    = "malformed"    // the request itself cannot be read (not JSON, a broken form)
	ETOOLARGE     = "too_large"    // the request is over a size limit
	EUNAVAILABLE  = "unavailable"  // a service Tidings depends on (the database, the SMTP relay) did not answer
)

// Error is an application error: a code from the list above and a message for people.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("tidings error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any
// other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, and a generic
// message for any other non-nil error, so internal details never reach a user.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Something went wrong."
}
