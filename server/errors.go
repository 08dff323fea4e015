package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/index/hashlist"
)

// violation is one bad field of a request: the field's path from the
// request message ("MatchMediaRequest.options.max_results") and what is
// wrong with it, with the value and what was wanted.
type violation struct {
	field, desc string
}

// invalidError is a request that failed validation at the edge. It maps to
// InvalidArgument with an errdetails.BadRequest listing every violation.
type invalidError struct {
	violations []violation
}

func (e *invalidError) Error() string {
	parts := make([]string, len(e.violations))
	for i, v := range e.violations {
		parts[i] = v.field + ": " + v.desc
	}
	return strings.Join(parts, "; ")
}

// limitError is an upload over a size limit. It maps to ResourceExhausted
// with the field, the size and the limit in the message, and a
// BadRequest naming the field.
type limitError struct {
	field string
	msg   string
}

func (e *limitError) Error() string { return e.field + ": " + e.msg }

// mediaError is an upload that could not be hashed: empty, of an
// unsupported format, corrupt or too large (a fingerprint sentinel). It
// maps to InvalidArgument with the upload's field in the message and a
// BadRequest naming it.
type mediaError struct {
	field string // the field that carried the upload: "MatchMediaRequest.content"
	err   error
}

func (e *mediaError) Error() string { return e.field + ": " + e.err.Error() }
func (e *mediaError) Unwrap() error { return e.err }

// isMediaError reports whether err is a fingerprint sentinel: a fault of
// the uploaded file.
func isMediaError(err error) bool {
	return errors.Is(err, fingerprint.ErrEmpty) || errors.Is(err, fingerprint.ErrUnsupported) ||
		errors.Is(err, fingerprint.ErrCorrupt) || errors.Is(err, fingerprint.ErrTooLarge)
}

// authError is a call without valid credentials: missing, malformed,
// unknown, expired or revoked, or a token sent over plaintext from off
// the host. It maps to Unauthenticated with its message, which never
// holds a secret.
type authError struct{ msg string }

func (e *authError) Error() string { return e.msg }

// deniedError is a call its caller may not make: a role too low, a bank
// outside the caller's banks. It maps to PermissionDenied.
type deniedError struct{ msg string }

func (e *deniedError) Error() string { return e.msg }

// rateError is a call over its caller's rate limit. It maps to
// ResourceExhausted with an errdetails.RetryInfo saying when a call will
// be let through.
type rateError struct {
	who   string
	what  string // "calls", "failed authentications"
	rate  float64
	burst int
	retry time.Duration
	flag  string // the setting of the limit: "serve --rate-limit"
}

func (e *rateError) Error() string {
	return fmt.Sprintf("rate limit: %s may make %g %s a second (bursts of %d; %s); retry in %v",
		e.who, e.rate, e.what, e.burst, e.flag, e.retry.Round(time.Millisecond))
}

// panicError is a handler's panic, recovered by the guard. It is logged
// with its stack and maps to Internal "internal error".
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// violations collects the problems found while validating one request.
type violations []violation

func (vs *violations) add(field, format string, args ...any) {
	*vs = append(*vs, violation{field: field, desc: fmt.Sprintf(format, args...)})
}

// addErr adds err, a validator's *mediamatch.Error, as a violation of its
// own field (field when it names none) with its message, clipped
// (cleanText) to maxReason bytes as it may quote the caller's input. A nil
// err adds nothing.
func (vs *violations) addErr(field string, err error) {
	if err == nil {
		return
	}
	if es, ok := errors.AsType[mediamatch.Errors](err); ok {
		for _, e := range es {
			vs.addErr(field, e)
		}
		return
	}
	desc := err.Error()
	if e, ok := errors.AsType[*mediamatch.Error](err); ok {
		desc = e.Msg
		if e.Field != "" {
			field = e.Field
		}
	}
	*vs = append(*vs, violation{field: field, desc: cleanText(desc, maxReason)})
}

// err returns nil when nothing was added, else an *invalidError.
func (vs violations) err() error {
	if len(vs) == 0 {
		return nil
	}
	return &invalidError{violations: vs}
}

// invalid returns an *invalidError with one violation.
func invalid(field, format string, args ...any) error {
	var vs violations
	vs.add(field, format, args...)
	return vs.err()
}

// toStatus is the one place where errors become gRPC statuses. Edge
// validation and limit errors, an import's bad records, the fingerprint
// sentinels, domain errors (*mediamatch.Error, by code: codeOf) and
// context errors map to their codes with their messages (the caller's own
// input is all they describe), never rewritten: a domain error's text is
// its own (Error), with the field it names, if any, in an
// errdetails.BadRequest. Anything else is logged with its detail and
// returned as Internal "internal error".
//
// fingerprint.ErrTooLarge (an image over the pixel budget, a video over the
// frame or duration cap) maps to InvalidArgument, not ResourceExhausted:
// it is a property of the file, and resending it will never succeed.
// ResourceExhausted is kept for uploads over the byte limits, which the
// caller can fix by streaming or by sending less, and for calls over the
// rate limit, which can be retried (errdetails.RetryInfo says when).
//
// The guard's refusals map here too: Unauthenticated for missing or bad
// credentials, PermissionDenied for a role too low or a bank outside the
// caller's, and a recovered panic is logged with its stack and returned as
// Internal.
//
// Whatever the error, the status is bounded (boundStatus): an error never
// echoes the caller's input at length, so that a huge name cannot make a
// status too large for the client's header limit.
func (s *Server) toStatus(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	return boundStatus(s.statusOf(ctx, err))
}

// Bounds of a status, in bytes (see boundStatus).
const (
	maxStatusMessage  = 16 << 10
	maxViolationField = 200
	maxViolationDesc  = 400
	maxViolations     = 100
	maxStatusBytes    = 32 << 10
)

// boundStatus returns the status err with its message clipped to
// maxStatusMessage bytes, at most maxViolations BadRequest violations
// with clipped fields and descriptions, and no more details than fit in
// maxStatusBytes with the message. Other errors pass unchanged.
func boundStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok || st == nil || st.Code() == codes.OK {
		return err
	}
	p := st.Proto()
	if len(p.Message) > maxStatusMessage {
		p.Message = fmt.Sprintf("%s... (%d bytes)", clipUTF8(p.Message, maxStatusMessage), len(p.Message))
	}
	size := len(p.Message)
	var details []*anypb.Any
	for _, d := range p.Details {
		if br := new(errdetails.BadRequest); d.MessageIs(br) && d.UnmarshalTo(br) == nil {
			br.FieldViolations = br.FieldViolations[:min(len(br.FieldViolations), maxViolations)]
			for _, v := range br.FieldViolations {
				v.Field = cleanText(v.Field, maxViolationField)
				v.Description = cleanText(v.Description, maxViolationDesc)
			}
			if a, err := anypb.New(br); err == nil {
				d = a
			}
		}
		if size += proto.Size(d); size > maxStatusBytes {
			break
		}
		details = append(details, d)
	}
	p.Details = details
	return status.FromProto(p).Err()
}

// statusOf maps err to a status (see toStatus).
func (s *Server) statusOf(ctx context.Context, err error) error {
	var (
		inv    *invalidError
		lim    *limitError
		bad    *badRecordsError
		auth   *authError
		denied *deniedError
		rate   *rateError
		pan    *panicError
		media  *mediaError
	)
	switch {
	case errors.As(err, &auth):
		return status.Error(codes.Unauthenticated, auth.msg)
	case errors.As(err, &denied):
		return status.Error(codes.PermissionDenied, denied.msg)
	case errors.As(err, &rate):
		return withDetails(codes.ResourceExhausted, rate.Error(), &errdetails.RetryInfo{RetryDelay: durationpb.New(rate.retry)})
	case errors.As(err, &pan):
		method, _ := grpc.Method(ctx)
		s.log.ErrorContext(ctx, "panic in handler: recovered, serving on", slog.String("method", method),
			slog.String("panic", fmt.Sprint(pan.value)), slog.String("stack", string(pan.stack)))
		return status.Error(codes.Internal, "internal error")
	case errors.As(err, &inv):
		br := &errdetails.BadRequest{}
		for _, v := range inv.violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field: v.field, Description: v.desc,
			})
		}
		return withDetails(codes.InvalidArgument, inv.Error(), br)
	case errors.As(err, &bad):
		br := &errdetails.BadRequest{}
		for _, l := range bad.lines {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field: "ImportSignalsRequest.chunk", Description: l,
			})
		}
		return withDetails(codes.InvalidArgument, bad.Error(), br)
	case errors.As(err, &lim):
		br := &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: lim.field, Description: lim.msg},
		}}
		return withDetails(codes.ResourceExhausted, lim.Error(), br)
	case errors.As(err, &media):
		msg := cleanText(media.err.Error(), maxDomainMessage)
		return withDetails(codes.InvalidArgument, media.field+": "+msg, &errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: media.field, Description: msg}}})
	case isMediaError(err):
		return status.Error(codes.InvalidArgument, cleanText(err.Error(), maxDomainMessage))
	}
	if e, ok := errors.AsType[*mediamatch.Error](err); ok {
		if e.Code == mediamatch.Closed {
			return status.Error(codes.Unavailable, "server is shutting down")
		}
		if c, ok := codeOf[e.Code]; ok {
			msg := cleanText(e.Error(), maxDomainMessage)
			if e.Field == "" {
				return status.Error(c, msg)
			}
			br := &errdetails.BadRequest{}
			for _, e := range domainErrors(err) {
				if e.Field != "" {
					br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
						Field: e.Field, Description: cleanText(e.Msg, maxDomainMessage)})
				}
			}
			return withDetails(c, msg, br)
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	}
	// A status made by grpc itself (a stream's Recv after the client went
	// away, say) passes through unchanged.
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return st.Err()
	}
	method, _ := grpc.Method(ctx)
	s.log.ErrorContext(ctx, "internal error", slog.String("method", method), slog.Any("err", err))
	return status.Error(codes.Internal, "internal error")
}

func withDetails(c codes.Code, msg string, details ...protoadapt.MessageV1) error {
	st := status.New(c, msg)
	for _, d := range details {
		if ds, err := st.WithDetails(d); err == nil {
			st = ds
		}
	}
	return st.Err()
}

// codeOf maps the domain's codes to gRPC codes. Closed is mapped apart,
// to Unavailable with a message of its own. OverBudget is an upload's
// (match's) limit: the handler makes it a limitError naming its field,
// and it maps here to ResourceExhausted otherwise, as NoSpace does: both
// can succeed later or smaller.
var codeOf = map[mediamatch.Code]codes.Code{
	mediamatch.Invalid:         codes.InvalidArgument,
	mediamatch.Syntax:          codes.InvalidArgument,
	mediamatch.NotFound:        codes.NotFound,
	mediamatch.AlreadyExists:   codes.AlreadyExists,
	mediamatch.OverBudget:      codes.ResourceExhausted,
	mediamatch.NoSpace:         codes.ResourceExhausted,
	mediamatch.Closed:          codes.Unavailable,
	mediamatch.Unauthenticated: codes.Unauthenticated,
}

// maxDomainMessage is the most of a domain error's text a status carries,
// in bytes: it may quote the caller's input.
const maxDomainMessage = 1024

// hashlistReason returns what a list's refusal says was seen and wanted,
// for a message that gives its own context ("the list's format cannot be
// detected (%s)"): the Reason of a *hashlist.Error, else err's text.
func hashlistReason(err error) string {
	if e, ok := errors.AsType[*hashlist.Error](err); ok {
		return cleanText(e.Reason, maxReason)
	}
	return cleanText(err.Error(), maxReason)
}

// domainErrors returns the domain errors in err: each of a
// mediamatch.Errors, or the first *mediamatch.Error.
func domainErrors(err error) []*mediamatch.Error {
	if es, ok := errors.AsType[mediamatch.Errors](err); ok {
		return es
	}
	if e, ok := errors.AsType[*mediamatch.Error](err); ok {
		return []*mediamatch.Error{e}
	}
	return nil
}
