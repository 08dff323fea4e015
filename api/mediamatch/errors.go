package mediamatch

import (
	"errors"
	"fmt"
)

// Code is the kind of a domain error: what was wrong with the caller's
// input, or what state refused the call. The transports translate it (the
// server to a gRPC code, the client back from one); the domain never
// imports them.
type Code string

// The codes. Each reads as the text of its error.
const (
	// Invalid is a value that breaks a rule: a name, an id, a label, a
	// signal, a page token. The error names the field.
	Invalid Code = "invalid argument"
	// Syntax is text not in the form wanted (a PDQ hash, a hash line, a
	// vPDQ file); the message says where and what was wanted.
	Syntax Code = "syntax error"
	// NotFound is a bank, item or token that does not exist.
	NotFound Code = "not found"
	// AlreadyExists is a bank or item whose name or id is taken.
	AlreadyExists Code = "already exists"
	// OverBudget is a match whose work would exceed its budget.
	OverBudget Code = "over budget"
	// NoSpace is a write refused for want of disk space.
	NoSpace Code = "no space"
	// Closed is a call on a store that is closed or closing.
	Closed Code = "closed"
	// Unauthenticated is a secret that is malformed, unknown, expired or
	// revoked.
	Unauthenticated Code = "unauthenticated"
)

// Error is a domain error: its code, the path of the field it is about
// (if any) and a message for the caller that says the value and what was
// wanted. Its text is "field: message", never prefixed with a package
// name, so that every edge can show it as it is.
type Error struct {
	Code Code
	// Field is the path of the offending value from what the caller sent:
	// "item.id" from the index, "AddItemRequest.spec.id" from the server.
	// Empty when the error is about no one field.
	Field string
	// Msg says what is wrong, quoting the value (shortened) and saying
	// what was wanted: `"a/b" contains '/' at byte 1, want ...`.
	Msg string
	// Err is the cause, if any: errors.Is and errors.As see it.
	Err error
}

// Error returns "field: message", or the message alone without a field; a
// cause's text follows after ": ". An error of a code alone (a sentinel
// such as ErrNotFound) reads as its code.
func (e *Error) Error() string {
	s := e.Msg
	if s == "" && e.Err == nil {
		s = string(e.Code)
	}
	if e.Err != nil {
		if s == "" {
			s = e.Err.Error()
		} else {
			s += ": " + e.Err.Error()
		}
	}
	if e.Field != "" {
		s = e.Field + ": " + s
	}
	return s
}

// Unwrap returns the cause, or nil.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's code (an *Error with a
// code and nothing else, such as ErrNotFound), so that
// errors.Is(err, ErrNotFound) holds for every not-found error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Field == "" && t.Msg == "" && t.Err == nil && t.Code == e.Code
}

// Sentinels, one per code, to test with errors.Is: errors.Is(err,
// ErrNotFound) holds for any *Error of code NotFound in err's chain.
var (
	ErrInvalid         = &Error{Code: Invalid}
	ErrSyntax          = &Error{Code: Syntax}
	ErrNotFound        = &Error{Code: NotFound}
	ErrAlreadyExists   = &Error{Code: AlreadyExists}
	ErrOverBudget      = &Error{Code: OverBudget}
	ErrNoSpace         = &Error{Code: NoSpace}
	ErrClosed          = &Error{Code: Closed}
	ErrUnauthenticated = &Error{Code: Unauthenticated}
)

// Errorf returns an *Error of code c about field (may be empty) with the
// message format and args make. Use %v, not %w: a cause goes in Err.
func Errorf(c Code, field, format string, args ...any) *Error {
	return &Error{Code: c, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Errors is several problems found at once (ValidateMedia), in the order
// found. errors.Is and errors.As see each; its text is the first's with a
// count of the others.
type Errors []*Error

func (es Errors) Error() string {
	if len(es) == 1 {
		return es[0].Error()
	}
	return fmt.Sprintf("%s (and %d more)", es[0].Error(), len(es)-1)
}

// Unwrap returns each error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// CodeOf returns the code of the first *Error in err's chain, or "" if
// there is none (a storage fault, a context error).
func CodeOf(err error) Code {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return ""
}
