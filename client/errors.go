package client

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Errors that the Client's methods wrap, by the server's status code; test
// with errors.Is. Canceled and DeadlineExceeded wrap context.Canceled and
// context.DeadlineExceeded.
var (
	ErrNotFound          = errors.New("client: not found")
	ErrAlreadyExists     = errors.New("client: already exists")
	ErrInvalidArgument   = errors.New("client: invalid argument")
	ErrResourceExhausted = errors.New("client: resource exhausted")
	ErrUnavailable       = errors.New("client: server unavailable")
	ErrUnauthenticated   = errors.New("client: unauthenticated")
	ErrPermissionDenied  = errors.New("client: permission denied")
)

// Error is an error returned by the server. It unwraps to the sentinel of
// its code, so errors.Is(err, ErrNotFound) works; errors.As gives the code,
// the message and any field violations.
type Error struct {
	Code    codes.Code
	Message string
	// Violations lists the request fields the server rejected, with why.
	Violations []FieldViolation
	// RetryDelay, when not zero, is how long the server asks the caller to
	// wait before retrying (a rate limit: ErrResourceExhausted).
	RetryDelay time.Duration

	st *status.Status
}

// FieldViolation is one rejected request field, e.g. Field
// "MatchMediaRequest.options.max_results", Description "2000, want 0..1000".
type FieldViolation struct {
	Field, Description string
}

// Error returns the code in words and the server's message, e.g.
// "not found: bank "x"".
func (e *Error) Error() string {
	return codeText(e.Code) + ": " + e.Message
}

// Unwrap returns the sentinel for the error's code, or nil.
func (e *Error) Unwrap() error {
	switch e.Code {
	case codes.NotFound:
		return ErrNotFound
	case codes.AlreadyExists:
		return ErrAlreadyExists
	case codes.InvalidArgument:
		return ErrInvalidArgument
	case codes.ResourceExhausted:
		return ErrResourceExhausted
	case codes.Unavailable:
		return ErrUnavailable
	case codes.Unauthenticated:
		return ErrUnauthenticated
	case codes.PermissionDenied:
		return ErrPermissionDenied
	case codes.Canceled:
		return context.Canceled
	case codes.DeadlineExceeded:
		return context.DeadlineExceeded
	}
	return nil
}

// Domain returns the error as the domain's: an *mediamatch.Error with the
// code the server's status code stands for, the field of the server's
// first BadRequest violation (empty without one) and that violation's
// description, or else the server's message. It returns nil for a status
// code that stands for no one domain code (ResourceExhausted is a rate
// limit, an upload over a size limit, a match over its budget or a disk
// short of space; Unavailable is a closed server or a broken connection).
//
// errors.Is(err, mediamatch.ErrNotFound) and errors.As with a
// **mediamatch.Error work on an *Error through it.
func (e *Error) Domain() *mediamatch.Error {
	c, ok := domainCodes[e.Code]
	if !ok {
		return nil
	}
	d := &mediamatch.Error{Code: c, Msg: e.Message}
	if len(e.Violations) > 0 {
		d.Field, d.Msg = e.Violations[0].Field, e.Violations[0].Description
	}
	return d
}

// Field returns the field of the server's first BadRequest violation:
// "AddItemRequest.item.id"; empty without one.
func (e *Error) Field() string {
	if len(e.Violations) == 0 {
		return ""
	}
	return e.Violations[0].Field
}

// domainCodes maps the status codes that stand for one domain code.
var domainCodes = map[codes.Code]mediamatch.Code{
	codes.InvalidArgument: mediamatch.Invalid,
	codes.NotFound:        mediamatch.NotFound,
	codes.AlreadyExists:   mediamatch.AlreadyExists,
	codes.Unauthenticated: mediamatch.Unauthenticated,
}

// Is reports whether target is the domain's sentinel of the error's code
// (mediamatch.ErrNotFound for a NotFound status, and so on; see Domain).
func (e *Error) Is(target error) bool {
	d := e.Domain()
	return d != nil && d.Is(target)
}

// As sets *target to Domain() when target is a **mediamatch.Error and the
// error has a domain code.
func (e *Error) As(target any) bool {
	p, ok := target.(**mediamatch.Error)
	if !ok {
		return false
	}
	d := e.Domain()
	if d == nil {
		return false
	}
	*p = d
	return true
}

// GRPCStatus returns the status the error was made from, so that
// status.FromError and status.Code keep working.
func (e *Error) GRPCStatus() *status.Status { return e.st }

// codeText returns "invalid argument" for codes.InvalidArgument, and so on.
func codeText(c codes.Code) string {
	name := c.String()
	var b strings.Builder
	for i, r := range name {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte(' ')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// fromRPC turns an error from a stub call into an *Error; other errors
// (nil, or errors made on the client) are returned as they are.
func fromRPC(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	e := &Error{Code: st.Code(), Message: st.Message(), st: st}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				e.Violations = append(e.Violations, FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		case *errdetails.RetryInfo:
			e.RetryDelay = d.GetRetryDelay().AsDuration()
		}
	}
	return e
}
