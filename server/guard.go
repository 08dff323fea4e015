package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/proto"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

// The guard: one unary and one stream interceptor that every call passes
// through, behind a cap on the calls open at once (Options.MaxCalls, and
// MaxCallsPerIP from one address, checked before anything of a call is
// read). In order, for each call:
// look the method up in the access table (auth.go), give the call a
// deadline (Options.CallTimeout if it has none, capped at
// Options.MaxCallTimeout; open calls such as health Watch too),
// authenticate the caller (failures are logged and limited per peer IP),
// take one token from the caller's rate-limit bucket (before its role is
// checked, so that refused calls count against it too), check its role,
// then run the handler with the caller in its context, turning a panic
// into Internal. An upload takes its slot when its data is there: a unary
// one at once, a streamed one when its last chunk has come; slots go to
// the waiting caller that holds the fewest. A streamed call that
// goes quiet (Options.UploadIdleTimeout) or an upload that arrives too
// slowly (Options.MinUploadRate) is ended, and streamed uploads hold their
// chunks within one budget (Options.MaxUploadMemory). After it: count the
// call by method and code, and append an audit entry for curator and
// admin RPCs, repeated refusals gathered into one.

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
// limit (see Options.MaxRecvMsgSize), a codec that lets the guard refuse
// unparsable requests with InvalidArgument, the cap on calls open at once
// (Options.MaxCalls and MaxCallsPerIP, a tap handle), fixed flow-control windows
// (Options.StreamWindow and ConnWindow), the guard's unary and stream
// interceptors, the per-connection stream limit, keepalive enforcement and
// parameters, and a handshake timeout. Transport credentials (TLS) are the
// caller's to add, and so is a cap on connections (Run has one).
func (s *Server) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.opts.MaxRecvMsgSize()),
		grpc.ForceServerCodecV2(s.codec),
		grpc.InTapHandle(s.tapCalls),
		grpc.StaticStreamWindowSize(s.opts.StreamWindow),
		grpc.StaticConnWindowSize(s.opts.ConnWindow),
		grpc.ChainUnaryInterceptor(s.unaryGuard),
		grpc.ChainStreamInterceptor(s.streamGuard),
		grpc.MaxConcurrentStreams(s.opts.MaxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveMinTime, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: maxConnectionIdle, Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.ConnectionTimeout(handshakeTimeout),
	}
}

// tapCalls counts a new stream against the caps on calls open at once,
// or refuses it with ResourceExhausted before anything of it is read: in
// all Options.MaxCalls; for one credential (a valid token, or a client
// certificate with a role) Options.MaxCallsPerCaller; for calls without
// one, Options.MaxCallsPerIP from one address and, while authentication
// is required, a quarter of MaxCalls together, so that a flood without
// credentials (health Watch streams, bad tokens) cannot crowd out callers
// with them, nor one credential the others. The count drops when the
// stream's context ends, which grpc does for every stream.
func (s *Server) tapCalls(ctx context.Context, info *tap.Info) (context.Context, error) {
	key, anon, tok := s.callKey(ctx, info.Header)
	if tok != nil {
		ctx = context.WithValue(ctx, tappedTokenKey{}, *tok) // authenticate need not look it up again
	}
	open := s.opts.RequireAuth || s.auth.HasTokens()
	switch s.calls.take(key, anon, open) {
	case overTotal:
		return ctx, status.Errorf(codes.ResourceExhausted,
			"server busy: %d calls open at once, the limit (serve --max-calls); retry later", s.calls.max)
	case overAnon:
		return ctx, status.Errorf(codes.ResourceExhausted,
			"server busy: %d calls without credentials open at once, the limit (a quarter of serve --max-calls); retry later",
			s.calls.anonMax)
	case overIP:
		return ctx, status.Errorf(codes.ResourceExhausted,
			"server busy: %d calls open at once from %s, the limit per address for calls without credentials "+
				"(serve --max-calls-per-ip); retry later", s.calls.perIP, strings.TrimPrefix(key, "ip "))
	case overCaller:
		return ctx, status.Errorf(codes.ResourceExhausted,
			"server busy: %d calls open at once by this token or certificate, the limit per caller "+
				"(serve --max-calls-per-caller); retry later", s.calls.perCaller)
	}
	context.AfterFunc(ctx, func() { s.calls.release(key, anon) })
	return ctx, nil
}

// callKey returns what a new call is counted under: "tok ID" for a valid
// token sent where tokens are accepted, "cert CN=..." for a verified client
// certificate with a role, else "ip ADDR" (anon), and the valid token if
// there is one. Authentication proper, with its errors, logging and
// limits, is the guard's; this only decides whose share the call takes.
func (s *Server) callKey(ctx context.Context, md metadata.MD) (key string, anon bool, tok *mediamatch.Token) {
	p, _ := peer.FromContext(ctx)
	tlsInfo, isTLS := tlsInfoOf(p)
	if v := md.Get("authorization"); len(v) == 1 && (isTLS || onLoopback(p)) {
		if secret, ok := strings.CutPrefix(v[0], "Bearer "); ok {
			if t, err := s.auth.Authenticate(strings.TrimSpace(secret)); err == nil {
				return "tok " + t.ID, false, &t
			}
		}
	}
	if isTLS && len(tlsInfo.State.VerifiedChains) > 0 && len(tlsInfo.State.VerifiedChains[0]) > 0 {
		cn := tlsInfo.State.VerifiedChains[0][0].Subject.CommonName
		if _, ok := s.opts.ClientRoles[cn]; ok {
			return "cert CN=" + cn, false, nil
		}
	}
	return "ip " + peerIP(ctx), true, nil
}

// tappedTokenKey is the context key of the token tapCalls found valid for
// a call.
type tappedTokenKey struct{}

// callCap counts the calls open at once: in all, by caller (credential or,
// without one, peer IP), and those without credentials together. Safe for
// concurrent use.
type callCap struct {
	max, perCaller, perIP, anonMax int

	mu    sync.Mutex
	n     int
	anonN int
	byKey map[string]int
}

func newCallCap(total, perCaller, perIP int) *callCap {
	return &callCap{max: total, perCaller: perCaller, perIP: perIP, anonMax: max(1, total/4), byKey: make(map[string]int)}
}

const (
	taken = iota
	overTotal
	overAnon
	overIP
	overCaller
)

// take counts a call under key, or says which cap it would pass. anon:
// the call has no credential; pooled: such calls share anonMax.
func (c *callCap) take(key string, anon, pooled bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.n >= c.max:
		return overTotal
	case anon && pooled && c.anonN >= c.anonMax:
		return overAnon
	case anon && c.byKey[key] >= c.perIP:
		return overIP
	case !anon && c.byKey[key] >= c.perCaller:
		return overCaller
	}
	c.n++
	if anon {
		c.anonN++
	}
	c.byKey[key]++
	return taken
}

func (c *callCap) release(key string, anon bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n--
	if anon {
		c.anonN--
	}
	if c.byKey[key]--; c.byKey[key] <= 0 {
		delete(c.byKey, key)
	}
}

// call is one call admitted (or refused) by the guard.
type call struct {
	method  string
	access  access
	caller  *caller // nil until authenticated, and for open RPCs
	slotKey string  // whose upload slots it counts against: the caller's key, or its peer IP
	limited bool    // refused by a rate limit: not audited
	cancel  context.CancelFunc
	slot    bool  // holds an upload slot
	memory  int64 // bytes of Options.MaxUploadMemory it holds
}

func (s *Server) unaryGuard(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	c, ctx, err := s.admit(ctx, info.FullMethod)
	if err == nil && c.access.upload {
		err = s.takeSlot(ctx, c) // the upload is here already: its content is req
	}
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
	gs := &guardedStream{ServerStream: ss, s: s, c: c, ctx: ctx, keepFirst: c.access.audited()}
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
	ctx, c.cancel = s.withDeadline(ctx)
	if a.role == "" {
		return c, ctx, nil // open: health checking
	}
	who, err := s.authenticateLimited(ctx, method)
	if err != nil {
		c.limited = true
		return c, ctx, s.toStatus(ctx, err)
	}
	c.caller, c.slotKey = who, who.key
	if who.key == "" {
		c.slotKey = "peer " + peerIP(ctx)
	}
	if who.key != "" {
		if wait, ok := s.limit.allow(who.key); !ok {
			c.limited = true
			return c, ctx, s.toStatus(ctx, &rateError{who: who.actor, what: "calls", rate: s.opts.RateLimit,
				burst: s.opts.RateBurst, retry: wait, flag: "serve --rate-limit"})
		}
	}
	if err := authorize(who, method, a); err != nil {
		return c, ctx, s.toStatus(ctx, err)
	}
	return c, withCaller(ctx, who), nil
}

// authenticateLimited is authenticate behind the limit on failed
// authentications per peer IP (Options.AuthFailureRate): each failure is
// logged with the peer, the method and the reason (which never holds a
// secret) and takes from the peer's allowance; once it is spent, failures
// are refused with a *rateError and not logged. Valid credentials pass
// whatever the allowance, so that a neighbour behind the same address
// (a NAT, another local process) cannot lock a gateway out by guessing.
func (s *Server) authenticateLimited(ctx context.Context, method string) (*caller, error) {
	who, err := s.authenticate(ctx)
	if err == nil {
		return who, nil
	}
	ip := peerNet(ctx)
	if wait, ok := s.authFail.allow(ip); !ok {
		return nil, &rateError{who: "peer " + ip, what: "failed authentications", rate: s.opts.AuthFailureRate,
			burst: s.opts.AuthFailureBurst, retry: wait, flag: "Options.AuthFailureRate"}
	}
	p, _ := peer.FromContext(ctx)
	s.log.WarnContext(ctx, "authentication failed", slog.String("peer", peerAddr(p)),
		slog.String("method", shortMethod(method)), slog.String("reason", cleanText(err.Error(), 300)))
	return nil, err
}

// takeSlot waits within ctx for an upload slot for c (Options.MaxUploads
// in all, Options.MaxUploadsPerCaller for c's caller).
func (s *Server) takeSlot(ctx context.Context, c *call) error {
	if c.slot {
		return nil
	}
	if err := s.uploads.take(ctx, c.slotKey); err != nil {
		return s.toStatus(ctx, fmt.Errorf("waiting for one of %d upload slots (%d per caller): %w",
			s.opts.MaxUploads, s.opts.MaxUploadsPerCaller, err))
	}
	c.slot = true
	return nil
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
	return context.WithCancel(ctx)
}

// finish releases what admit took, counts the call and audits it. req is
// the request (of a stream: its first message), resp the response (of a
// stream: its last message); either may be nil.
func (s *Server) finish(ctx context.Context, c *call, req, resp any, err error) {
	if c.slot {
		s.uploads.release(c.slotKey)
	}
	if c.memory > 0 {
		s.memory.release(c.memory)
	}
	if c.cancel != nil {
		c.cancel()
	}
	code := status.Code(err)
	s.counts.add(shortMethod(c.method), code, err == nil && matched(resp))
	if c.caller == nil || !c.access.audited() || c.limited {
		return
	}
	e := mediamatch.AuditEntry{
		Actor:  c.caller.actor,
		Role:   c.caller.role,
		Action: shortMethod(c.method),
		Target: cleanText(auditTarget(req), maxAuditTarget),
		Detail: cleanText(auditDetail(resp, err), maxAuditDetail),
	}
	var entries []mediamatch.AuditEntry
	if code == codes.PermissionDenied {
		entries = s.refusals.note(e, code, s.opts.Now(), s.opts.RefusalWindow)
	} else {
		entries = append(s.refusals.flush(s.opts.Now(), 0), e)
	}
	s.appendAudit(ctx, entries)
}

func (s *Server) appendAudit(ctx context.Context, entries []mediamatch.AuditEntry) {
	for _, e := range entries {
		if aerr := s.audit.AppendAudit(context.WithoutCancel(ctx), e); aerr != nil {
			s.log.ErrorContext(ctx, "audit entry lost", slog.String("action", e.Action),
				slog.String("actor", e.Actor), slog.String("target", e.Target), slog.Any("err", aerr))
		}
	}
}

// FlushAudit writes the audit entries of refusals gathered for longer than
// Options.RefusalWindow ("refused N more times"), or all of them when all
// is set (at shutdown). Run calls it periodically and when it stops. Safe
// for concurrent use.
func (s *Server) FlushAudit(ctx context.Context, all bool) {
	older := s.opts.RefusalWindow
	if all {
		older = 0
	}
	s.appendAudit(ctx, s.refusals.flush(s.opts.Now(), older))
}

// Limits of the audit entry fields the guard writes, in bytes.
const (
	maxAuditTarget = 200
	maxAuditDetail = 500
)

// refusals gathers repeated refusals for the audit log: the first refusal
// of a caller, method and code is written at once; the same again within
// the window only counted, and written as one entry ("refused N more
// times") when the window has passed, when another audited call finishes,
// or by FlushAudit. Safe for concurrent use.
type refusals struct {
	mu      sync.Mutex
	pending map[refusalKey]*refusal
}

type refusalKey struct {
	actor, action string
	code          codes.Code
}

type refusal struct {
	entry mediamatch.AuditEntry // the last one refused
	n     int                   // refusals since the entry last written
	since time.Time             // when the first of them was written
}

// maxPendingRefusals bounds the refusals gathered; past it, all are
// written.
const maxPendingRefusals = 1000

func newRefusals() *refusals { return &refusals{pending: make(map[refusalKey]*refusal)} }

// note counts e, refused with code at now, and returns the entries to
// write: e itself if it is the first of its kind within window, and the
// summaries of those whose window has passed.
func (r *refusals) note(e mediamatch.AuditEntry, code codes.Code, now time.Time, window time.Duration) []mediamatch.AuditEntry {
	k := refusalKey{e.Actor, e.Action, code}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []mediamatch.AuditEntry
	if p := r.pending[k]; p != nil {
		if now.Sub(p.since) < window {
			p.n++
			p.entry = e
			return nil
		}
		if p.n > 0 {
			out = append(out, p.summary(now))
		}
		delete(r.pending, k)
	}
	if len(r.pending) >= maxPendingRefusals {
		out = append(out, r.flushLocked(now, 0)...)
	}
	r.pending[k] = &refusal{entry: e, since: now}
	return append(out, e)
}

// flush returns the summaries of the refusals gathered for at least
// older, and forgets them.
func (r *refusals) flush(now time.Time, older time.Duration) []mediamatch.AuditEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.flushLocked(now, older)
}

func (r *refusals) flushLocked(now time.Time, older time.Duration) []mediamatch.AuditEntry {
	var out []mediamatch.AuditEntry
	for k, p := range r.pending {
		if now.Sub(p.since) < older {
			continue
		}
		if p.n > 0 {
			out = append(out, p.summary(now))
		}
		delete(r.pending, k)
	}
	return out
}

func (p *refusal) summary(now time.Time) mediamatch.AuditEntry {
	e := p.entry
	e.Detail = cleanText(fmt.Sprintf("refused %d more times in %v (last: %s)",
		p.n, now.Sub(p.since).Round(time.Second), e.Detail), maxAuditDetail)
	return e
}

// guardedStream is a stream with the guard's context, which keeps its
// first received message (of audited RPCs, for the target) and its last
// sent message (for the outcome and the match counter). Of an upload it
// holds the chunks within Options.MaxUploadMemory and takes the slot once
// the last has come (the client's end of the stream); of any stream it ends a receive that waits
// longer than Options.UploadIdleTimeout, and of an upload one that arrives
// slower than Options.MinUploadRate. Messages that cannot be parsed are
// InvalidArgument.
type guardedStream struct {
	grpc.ServerStream
	s         *Server
	c         *call
	ctx       context.Context
	keepFirst bool
	first     any // the first message received, if keepFirst
	last      any // the last message sent

	started time.Time // of an upload: when its first chunk came
	bytes   int64     // upload bytes received
	dead    error     // once set, every receive fails with it
}

func (g *guardedStream) Context() context.Context { return g.ctx }

func (g *guardedStream) RecvMsg(m any) error {
	if g.dead != nil {
		return g.dead
	}
	if err := g.recv(m); err != nil {
		if errors.Is(err, io.EOF) && g.c.access.upload && g.bytes > 0 {
			// The whole upload is here: it may now be hashed, within a
			// slot. Receiving takes none, so that slow or stalled
			// senders hold memory within the upload budget, never the
			// slots that hashing needs.
			if serr := g.s.takeSlot(g.ctx, g.c); serr != nil {
				g.dead = serr
				return serr
			}
		}
		return err
	}
	if err := g.s.codec.parsed(m); err != nil {
		g.dead = err
		return err
	}
	if g.keepFirst && g.first == nil {
		g.first = m
	}
	if !g.c.access.upload {
		return nil
	}
	ch, ok := m.(chunked)
	if !ok || len(ch.GetChunk()) == 0 {
		return nil
	}
	now := time.Now()
	if g.started.IsZero() {
		g.started = now // the rate is measured from the first chunk
	}
	n := int64(len(ch.GetChunk()))
	if !g.s.memory.reserve(n) {
		g.dead = g.s.toStatus(g.ctx, &limitError{field: msgName(m) + ".chunk", msg: fmt.Sprintf(
			"the server holds %d bytes of uploads at once (serve --max-upload-memory), and this chunk would pass it; retry later",
			g.s.opts.MaxUploadMemory)})
		return g.dead
	}
	g.c.memory += n
	g.bytes += n
	if want := g.wantBytes(now); g.bytes < want {
		g.dead = g.tooSlow(m, now)
		return g.dead
	}
	return nil
}

// wantBytes returns how many bytes an upload must have sent by t to keep
// Options.MinUploadRate; 0 when there is no minimum yet.
func (g *guardedStream) wantBytes(t time.Time) int64 {
	o := g.s.opts
	if !g.c.access.upload || o.MinUploadRate <= 0 || g.started.IsZero() {
		return 0
	}
	d := t.Sub(g.started) - o.UploadRateGrace
	if d <= 0 {
		return 0
	}
	return int64(d.Seconds() * float64(o.MinUploadRate))
}

func (g *guardedStream) tooSlow(m any, now time.Time) error {
	o := g.s.opts
	return status.Errorf(codes.ResourceExhausted,
		"%s: upload too slow: %d bytes in %v, under the minimum of %d bytes a second after the first %v "+
			"(serve --min-upload-rate)", msgName(m), g.bytes, now.Sub(g.started).Round(time.Millisecond),
		o.MinUploadRate, o.UploadRateGrace)
}

// recv receives the next message, waiting at most Options.UploadIdleTimeout
// and, for an upload, no later than its minimum rate allows. When it gives
// up the receive goes on in its goroutine until the stream ends, and the
// stream is dead.
func (g *guardedStream) recv(m any) error {
	o := g.s.opts
	now := time.Now()
	wait, slow := o.UploadIdleTimeout, false
	if g.c.access.upload && o.MinUploadRate > 0 && !g.started.IsZero() {
		// The time at which the bytes so far fall under the minimum rate.
		by := g.started.Add(o.UploadRateGrace + time.Duration(float64(g.bytes)/float64(o.MinUploadRate)*float64(time.Second)))
		if d := by.Sub(now); d < wait {
			wait, slow = max(d, 0), true
		}
	}
	done := make(chan error, 1)
	go func() { done <- g.ServerStream.RecvMsg(m) }()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		if slow {
			g.dead = g.tooSlow(m, time.Now())
		} else {
			g.dead = status.Errorf(codes.DeadlineExceeded,
				"%s: no message for %v, the idle limit of a stream (serve --upload-idle-timeout)",
				msgName(m), o.UploadIdleTimeout)
		}
	case <-g.ctx.Done():
		g.dead = g.s.toStatus(g.ctx, g.ctx.Err())
	}
	return g.dead
}

func (g *guardedStream) SendMsg(m any) error {
	g.last = m
	return g.ServerStream.SendMsg(m)
}

// parseCodec is grpc's protobuf codec, except that a message it cannot
// parse (invalid UTF-8 in a string, malformed bytes) is no error to grpc,
// which would answer Internal at once, but is noted and left empty for
// the guard to refuse with InvalidArgument (parsed). Safe for concurrent
// use.
type parseCodec struct {
	encoding.CodecV2
	failed sync.Map // the message (a pointer) -> its parse error
}

func newParseCodec() *parseCodec {
	return &parseCodec{CodecV2: encoding.GetCodecV2(grpcproto.Name)}
}

func (c *parseCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	if pm, ok := v.(proto.Message); ok && err != nil {
		proto.Reset(pm)
		c.failed.Store(v, err)
		return nil
	}
	return err
}

// parsed returns an InvalidArgument status naming m's message type if m
// could not be parsed, else nil.
func (c *parseCodec) parsed(m any) error {
	err, failed := c.failed.LoadAndDelete(m)
	if !failed {
		return nil
	}
	return status.Errorf(codes.InvalidArgument, "%s: cannot be parsed: %s (strings must be valid UTF-8)",
		msgName(m), cleanText(fmt.Sprint(err), 200))
}

// parseErrorsInvalid returns a copy of sd whose unary handlers refuse a
// request that cannot be parsed with InvalidArgument (parseCodec). grpc
// decodes a unary request before the interceptors run; streams are
// checked by guardedStream.
func (s *Server) parseErrorsInvalid(sd *grpc.ServiceDesc) *grpc.ServiceDesc {
	c := *sd
	c.Methods = slices.Clone(sd.Methods)
	for i := range c.Methods {
		h := c.Methods[i].Handler
		c.Methods[i].Handler = func(srv any, ctx context.Context, dec func(any) error, in grpc.UnaryServerInterceptor) (any, error) {
			return h(srv, ctx, func(m any) error {
				if err := dec(m); err != nil {
					return err
				}
				return s.codec.parsed(m)
			}, in)
		}
	}
	return &c
}

// msgName returns the name of m's message type ("MatchMediaStreamRequest").
func msgName(m any) string {
	if pm, ok := m.(proto.Message); ok {
		return string(pm.ProtoReflect().Descriptor().Name())
	}
	return fmt.Sprintf("%T", m)
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
	case *pb.AddExchangeRequest: // the name and bank, never the credentials
		return "exchange " + r.GetName() + " bank " + r.GetBank()
	case *pb.GetExchangeStatusRequest:
		return "exchange " + r.GetName()
	case *pb.FetchExchangeRequest:
		return "exchange " + r.GetName()
	case *pb.PauseExchangeRequest:
		return "exchange " + r.GetName()
	case *pb.ResumeExchangeRequest:
		return "exchange " + r.GetName()
	case *pb.DeleteExchangeRequest:
		return "exchange " + r.GetName()
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
		role, _ := pb.RoleFromProto(t.GetRole())
		return fmt.Sprintf("ok id=%s role=%s banks=%s", t.GetId(), role, banks)
	case *pb.RevokeTokenResponse:
		return "ok revoked " + r.GetToken().GetName()
	case *pb.FetchExchangeResponse:
		c := r.GetCounts()
		out := fmt.Sprintf("ok pages=%d added=%d updated=%d deleted=%d rejected=%d", r.GetPages(), c.GetAdded(), c.GetUpdated(), c.GetDeleted(), r.GetRejected())
		if r.GetError() != "" {
			out += " error: " + r.GetError()
		}
		return out
	}
	return "ok"
}

// limiter is a token bucket per key (golang.org/x/time/rate): each holds
// up to burst tokens and gains rate a second; a call takes one. Safe for
// concurrent use.
type limiter struct {
	rate  float64 // < 0: no limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// maxBuckets is how many buckets the limiter holds before it drops the
// full ones (callers idle long enough to have refilled).
const maxBuckets = 10000

func newLimiter(r float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: r, burst: burst, now: now, buckets: make(map[string]*rate.Limiter)}
}

// allow takes a token from key's bucket and reports true, or reports
// false and how long until a token is there.
func (l *limiter) allow(key string) (time.Duration, bool) {
	if l.rate < 0 {
		return 0, true
	}
	now := l.now()
	r := l.bucket(key, now).ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// bucket returns key's bucket, made full if it is new.
func (l *limiter) bucket(key string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			for k, b := range l.buckets {
				if b.TokensAt(now) >= float64(l.burst) {
					delete(l.buckets, k)
				}
			}
			// Still full (many keys busy at once, e.g. failures from
			// many addresses): drop half, whichever the map yields, so
			// that memory and this scan stay bounded; a dropped key
			// starts again with a full bucket.
			for k := range l.buckets {
				if len(l.buckets) < maxBuckets/2 {
					break
				}
				delete(l.buckets, k)
			}
		}
		b = rate.NewLimiter(rate.Limit(l.rate), l.burst)
		l.buckets[key] = b
	}
	return b
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
