package server

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/index"
)

// The guard: one unary and one stream interceptor that every call passes
// through. In order, for each call: look the method up in the access
// table (auth.go), authenticate the caller and check its role, take one
// token from the caller's rate-limit bucket, give the call a deadline
// (Options.CallTimeout if it has none, capped at Options.MaxCallTimeout),
// wait for an upload slot (upload RPCs), then run the handler with the
// caller in its context, turning a panic into Internal. After it: count
// the call by method and code, and append an audit entry for curator and
// admin RPCs.

// Connection limits set by ServerOptions.
const (
	// keepaliveMinTime is how often a client may ping; more often and the
	// server closes the connection (ENHANCE_YOUR_CALM).
	keepaliveMinTime = 10 * time.Second
	// maxConnectionIdle closes connections without calls for this long.
	maxConnectionIdle = 15 * time.Minute
	// keepaliveTime and keepaliveTimeout: the server pings a connection
	// quiet for keepaliveTime and closes it if the ping is not answered
	// within keepaliveTimeout, so dead peers do not hold streams.
	keepaliveTime    = 2 * time.Minute
	keepaliveTimeout = 20 * time.Second
	// handshakeTimeout bounds a new connection's TLS and HTTP/2 handshake.
	handshakeTimeout = 10 * time.Second
)

// ServerOptions returns the grpc.Server options that s needs: the receive
// limit (see Options.MaxRecvMsgSize), the guard's unary and stream
// interceptors, the per-connection stream limit, keepalive enforcement and
// parameters, and a handshake timeout. Transport credentials (TLS) are the
// caller's to add.
func (s *Server) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.opts.MaxRecvMsgSize()),
		grpc.ChainUnaryInterceptor(s.unaryGuard),
		grpc.ChainStreamInterceptor(s.streamGuard),
		grpc.MaxConcurrentStreams(s.opts.MaxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveMinTime, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: maxConnectionIdle, Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.ConnectionTimeout(handshakeTimeout),
	}
}

// call is one call admitted (or refused) by the guard.
type call struct {
	method  string
	access  access
	caller  *caller // nil until authenticated, and for open RPCs
	limited bool    // refused by the rate limit: not audited
	cancel  context.CancelFunc
	slot    bool // holds an upload slot
}

func (s *Server) unaryGuard(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	c, ctx, err := s.admit(ctx, info.FullMethod)
	if err == nil {
		func() {
			defer func() {
				if v := recover(); v != nil {
					resp, err = nil, s.toStatus(ctx, &panicError{value: v, stack: debug.Stack()})
				}
			}()
			resp, err = handler(ctx, req)
		}()
	}
	s.finish(ctx, c, req, resp, err)
	return resp, err
}

func (s *Server) streamGuard(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	c, ctx, err := s.admit(ss.Context(), info.FullMethod)
	gs := &guardedStream{ServerStream: ss, ctx: ctx, keepFirst: c.access.audited()}
	if err == nil {
		func() {
			defer func() {
				if v := recover(); v != nil {
					err = s.toStatus(ctx, &panicError{value: v, stack: debug.Stack()})
				}
			}()
			err = handler(srv, gs)
		}()
	}
	s.finish(ctx, c, gs.first, gs.last, err)
	return err
}

// admit decides whether the call may run, and returns it with the context
// the handler gets (the caller in it, and the deadline); an error is a
// status. finish must be called in every case.
func (s *Server) admit(ctx context.Context, method string) (*call, context.Context, error) {
	c := &call{method: method}
	a, ok := s.access[method]
	if !ok {
		s.log.ErrorContext(ctx, "method missing from the access table: refused", slog.String("method", method))
		return c, ctx, s.toStatus(ctx, &deniedError{fmt.Sprintf("%s is not open to any role", shortMethod(method))})
	}
	c.access = a
	if a.role == "" {
		return c, ctx, nil // open: health checking
	}
	who, err := s.authenticate(ctx)
	if err != nil {
		return c, ctx, s.toStatus(ctx, err)
	}
	c.caller = who
	if err := authorize(who, method, a); err != nil {
		return c, ctx, s.toStatus(ctx, err)
	}
	if who.key != "" {
		if wait, ok := s.limit.allow(who.key); !ok {
			c.limited = true
			return c, ctx, s.toStatus(ctx, &rateError{who: who.actor, rate: s.opts.RateLimit, burst: s.opts.RateBurst, retry: wait})
		}
	}
	ctx, c.cancel = s.withDeadline(ctx)
	if a.upload {
		select {
		case s.uploads <- struct{}{}:
			c.slot = true
		case <-ctx.Done():
			return c, ctx, s.toStatus(ctx, fmt.Errorf("waiting for one of %d upload slots: %w", cap(s.uploads), ctx.Err()))
		}
	}
	return c, withCaller(ctx, who), nil
}

// withDeadline gives ctx Options.CallTimeout if it has no deadline, and
// caps a later one at Options.MaxCallTimeout.
func (s *Server) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	switch {
	case !ok:
		return context.WithTimeout(ctx, s.opts.CallTimeout)
	case time.Until(d) > s.opts.MaxCallTimeout:
		return context.WithTimeout(ctx, s.opts.MaxCallTimeout)
	}
	return ctx, func() {}
}

// finish releases what admit took, counts the call and audits it. req is
// the request (of a stream: its first message), resp the response (of a
// stream: its last message); either may be nil.
func (s *Server) finish(ctx context.Context, c *call, req, resp any, err error) {
	if c.slot {
		<-s.uploads
	}
	if c.cancel != nil {
		c.cancel()
	}
	code := status.Code(err)
	s.counts.add(shortMethod(c.method), code, err == nil && matched(resp))
	if c.caller == nil || !c.access.audited() || c.limited {
		return
	}
	e := index.AuditEntry{
		Actor:  c.caller.actor,
		Role:   c.caller.role,
		Action: shortMethod(c.method),
		Target: auditTarget(req),
		Detail: auditDetail(resp, err),
	}
	if aerr := s.ix.AppendAudit(context.WithoutCancel(ctx), e); aerr != nil {
		s.log.ErrorContext(ctx, "audit entry lost", slog.String("method", c.method),
			slog.String("actor", e.Actor), slog.String("target", e.Target), slog.Any("err", aerr))
	}
}

// guardedStream is a stream with the guard's context, which keeps its
// first received message (of audited RPCs, for the target) and its last
// sent message (for the outcome and the match counter).
type guardedStream struct {
	grpc.ServerStream
	ctx       context.Context
	keepFirst bool
	first     any // the first message received, if keepFirst
	last      any // the last message sent
}

func (g *guardedStream) Context() context.Context { return g.ctx }

func (g *guardedStream) RecvMsg(m any) error {
	err := g.ServerStream.RecvMsg(m)
	if err == nil && g.keepFirst && g.first == nil {
		g.first = m
	}
	return err
}

func (g *guardedStream) SendMsg(m any) error {
	g.last = m
	return g.ServerStream.SendMsg(m)
}

// matched reports whether resp is a match response with a match.
func matched(resp any) bool {
	r, ok := resp.(interface{ GetMatches() []*pb.Match })
	return ok && len(r.GetMatches()) > 0
}

// auditTarget returns what a request acts on: a bank, "bank/item", a
// token's id or name. Never media, hashes or secrets.
func auditTarget(req any) string {
	switch r := req.(type) {
	case *pb.CreateBankRequest:
		return r.GetBank().GetName()
	case *pb.DeleteBankRequest:
		return r.GetName()
	case *pb.AddItemRequest:
		return r.GetItem().GetBank() + "/" + r.GetItem().GetId()
	case *pb.AddItemStreamRequest:
		return r.GetItem().GetBank() + "/" + r.GetItem().GetId()
	case *pb.UpdateItemRequest:
		return r.GetItem().GetBank() + "/" + r.GetItem().GetId()
	case *pb.DeleteItemRequest:
		return r.GetBank() + "/" + r.GetId()
	case *pb.ImportSignalsRequest:
		return r.GetBank()
	case *pb.ExportSignalsRequest:
		return r.GetBank()
	case *pb.CreateTokenRequest:
		return "name " + r.GetName()
	case *pb.RevokeTokenRequest:
		return r.GetId()
	}
	return ""
}

// auditDetail returns the outcome of a call: "ok", with what the
// response counts, or the status code and message of the error.
func auditDetail(resp any, err error) string {
	if err != nil {
		st := status.Convert(err)
		return st.Code().String() + ": " + st.Message()
	}
	switch r := resp.(type) {
	case *pb.ImportSignalsResponse:
		return fmt.Sprintf("ok format=%s added=%d updated=%d deleted=%d unchanged=%d rejected=%d",
			r.GetFormat(), r.GetAdded(), r.GetUpdated(), r.GetDeleted(), r.GetUnchanged(), r.GetRejected())
	case *pb.ExportSignalsResponse:
		return fmt.Sprintf("ok items=%d", r.GetItems())
	case *pb.UpdateItemResponse:
		return fmt.Sprintf("ok disabled=%t labels=%d", r.GetItem().GetDisabled(), len(r.GetItem().GetLabels()))
	case *pb.CreateTokenResponse:
		t := r.GetToken()
		banks := "all"
		if len(t.GetBanks()) > 0 {
			banks = strings.Join(t.GetBanks(), ",")
		}
		return fmt.Sprintf("ok id=%s role=%s banks=%s", t.GetId(), roleFromProto(t.GetRole()), banks)
	case *pb.RevokeTokenResponse:
		return "ok revoked " + r.GetToken().GetName()
	}
	return "ok"
}

// limiter is a token bucket per caller: each holds up to burst tokens and
// gains rate a second; a call takes one. Safe for concurrent use.
type limiter struct {
	rate, burst float64 // rate < 0: no limit
	now         func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets is how many buckets the limiter holds before it drops the
// full ones (callers idle long enough to have refilled).
const maxBuckets = 10000

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), now: now, buckets: make(map[string]*bucket)}
}

// allow takes a token from key's bucket and reports true, or reports
// false and how long until a token is there.
func (l *limiter) allow(key string) (time.Duration, bool) {
	if l.rate < 0 {
		return 0, true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.dropFull(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), false
}

func (l *limiter) dropFull(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// counters count calls by method and status code, and match calls that
// found something. Safe for concurrent use.
type counters struct {
	mu sync.Mutex
	n  map[string]int64
}

func newCounters() *counters { return &counters{n: make(map[string]int64)} }

func (c *counters) add(method string, code codes.Code, matched bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[method+" "+code.String()]++
	if matched {
		c.n[method+" matched"]++
	}
}

// Counts returns how many calls the guard has seen since New, by method
// and status code ("MatchService/MatchMedia OK": 12), and, for the match
// RPCs, how many found a match ("MatchService/MatchMedia matched": 3).
// Only counts: never who called or what was sent. Safe for concurrent use.
func (s *Server) Counts() map[string]int64 {
	s.counts.mu.Lock()
	defer s.counts.mu.Unlock()
	return maps.Clone(s.counts.n)
}
