package server

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"time"

	"google.golang.org/grpc"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/index/hashlist"
)

// Default limits on uploads.
const (
	// DefaultMaxUnaryBytes is the largest file sent whole in one message
	// (MatchMedia, HashMedia, AddItem): 4 MiB, gRPC's usual message size.
	DefaultMaxUnaryBytes = 4 << 20
	// DefaultMaxStreamBytes is the largest file sent in chunks: 512 MiB.
	DefaultMaxStreamBytes = 512 << 20
)

// What the server needs of the index, one small interface per part of
// the server that needs it; *index.Index satisfies them all.

// Banks is what BankService's bank calls need, and the guard to find the
// banks a caller limited to banks may search.
type Banks interface {
	CreateBank(ctx context.Context, b mediamatch.Bank) (mediamatch.Bank, error)
	GetBank(ctx context.Context, name string) (mediamatch.Bank, error)
	ListBanksWithin(ctx context.Context, pageSize int, pageToken string, scope []string) ([]mediamatch.Bank, string, error)
	DeleteBank(ctx context.Context, name string) error
}

// Items is what BankService's item calls need.
type Items interface {
	AddItem(ctx context.Context, it mediamatch.Item) (mediamatch.Item, error)
	GetItem(ctx context.Context, bank, id string) (mediamatch.Item, error)
	ListItems(ctx context.Context, bank string, pageSize int, pageToken string) ([]mediamatch.Item, string, error)
	UpdateItem(ctx context.Context, bank, id string, u mediamatch.ItemUpdate) (mediamatch.Item, error)
	DeleteItem(ctx context.Context, bank, id string) error
}

// Matcher is what MatchService needs.
type Matcher interface {
	Match(ctx context.Context, q index.Query) ([]mediamatch.Match, error)
}

// Lists is what ImportSignals and ExportSignals need: hashlist.Import's
// destination and hashlist.Export's source.
type Lists interface {
	hashlist.Importer
	hashlist.BankReader
}

// Tokens is what AdminService's token calls need.
type Tokens interface {
	CreateToken(ctx context.Context, t mediamatch.Token) (mediamatch.Token, string, error)
	ListTokensWithin(ctx context.Context, scope []string) ([]mediamatch.Token, error)
	RevokeTokenWithin(ctx context.Context, id string, scope []string) (mediamatch.Token, error)
}

// Authenticator is what the guard needs to establish who makes a call:
// the token of a secret, and whether any token exists (then every call
// must authenticate).
type Authenticator interface {
	Authenticate(secret string) (mediamatch.Token, error)
	HasTokens() bool
}

// AuditLog is the audit log: the guard appends to it, and
// ListAuditEntries reads it.
type AuditLog interface {
	AppendAudit(ctx context.Context, e mediamatch.AuditEntry) error
	ListAuditWhere(ctx context.Context, pageSize int, pageToken string, keep func(mediamatch.AuditEntry) bool) ([]mediamatch.AuditEntry, string, error)
}

// Index is all of the above, what New takes: *index.Index satisfies it.
type Index interface {
	Banks
	Items
	Matcher
	Lists
	Tokens
	Authenticator
	AuditLog
}

// Hasher computes the fingerprint of a file held in memory, with the PDQ
// dihedral variants when o.Dihedral: *fingerprint.Hasher satisfies it.
type Hasher interface {
	HashWith(ctx context.Context, data []byte, o fingerprint.HashOptions) (mediamatch.Media, error)
}

// Options configure a Server. The zero value of each field means its default.
type Options struct {
	// MaxUnaryBytes is the largest file accepted in one message; default
	// DefaultMaxUnaryBytes. The grpc.Server must accept messages somewhat
	// larger than this (see MaxRecvMsgSize) so that an oversize upload gets
	// the server's own ResourceExhausted message rather than gRPC's.
	MaxUnaryBytes int64
	// MaxStreamBytes caps the total of a streamed upload; default
	// DefaultMaxStreamBytes.
	MaxStreamBytes int64
	// Logger receives internal errors; default discards. Media bytes are
	// never logged.
	Logger *slog.Logger

	// RequireAuth refuses calls without valid credentials even while the
	// index holds no token. Whatever it says, once the index holds a token
	// (revoked ones count) every call but health checking must
	// authenticate. Run sets it when TLS is configured or Config.Auth.
	RequireAuth bool
	// ClientRoles maps the subject common name of a verified client
	// certificate (mutual TLS) to its role; a certificate whose CN is not
	// here is no credential.
	ClientRoles map[string]mediamatch.Role
	// RateLimit is how many calls per second each authenticated caller
	// (a token, or a client certificate's CN) may make on average, with
	// bursts of RateBurst; over it calls get ResourceExhausted with
	// errdetails.RetryInfo. Default DefaultRateLimit and DefaultRateBurst;
	// negative means no limit. Anonymous callers (authentication off) are
	// not limited.
	RateLimit float64
	RateBurst int
	// MaxUploads bounds the calls that hash an upload (MatchMedia,
	// MatchMediaStream, HashMedia, HashMediaStream, AddItem,
	// AddItemStream) or match a client's signals (MatchSignals, whose
	// search holds up to MaxMatchHits pairs) at once; more wait for a slot
	// within their deadline. Default DefaultMaxUploads.
	MaxUploads int
	// CallTimeout is the deadline given to a call that has none, and
	// MaxCallTimeout caps the deadline of any call. Defaults
	// DefaultCallTimeout and DefaultMaxCallTimeout.
	CallTimeout, MaxCallTimeout time.Duration
	// MaxConcurrentStreams bounds the calls at once on one connection;
	// default DefaultMaxConcurrentStreams.
	MaxConcurrentStreams uint32
	// Now is the clock of rate limiting; default time.Now. (Token expiry
	// follows the index's clock, index.Options.Now.)
	Now func() time.Time

	// The limits below bound what one caller, or anyone who can connect,
	// can make the server hold (see MemoryBound).

	// MaxUploadsPerCaller bounds the upload slots one caller (a token, a
	// client certificate's CN, or for anonymous callers the peer's IP
	// address) holds at once; its further uploads wait within their
	// deadline. Default max(1, MaxUploads/2).
	MaxUploadsPerCaller int
	// UploadIdleTimeout is the longest a streamed call may leave the
	// server waiting for its next message; a stream quiet for longer is
	// ended with DeadlineExceeded naming the limit. Default
	// DefaultUploadIdleTimeout.
	UploadIdleTimeout time.Duration
	// MinUploadRate is the least average rate, in bytes a second, at
	// which a streamed upload must arrive once UploadRateGrace has passed
	// since its first message; a slower one is ended with
	// ResourceExhausted naming the limit. Default DefaultMinUploadRate;
	// negative means no minimum. UploadRateGrace defaults to
	// DefaultUploadRateGrace.
	MinUploadRate   int64
	UploadRateGrace time.Duration
	// MaxUploadMemory bounds the bytes of streamed uploads held at once
	// by all calls together, in bytes; a chunk that would pass it ends
	// its call with ResourceExhausted naming the budget. Default
	// DefaultMaxUploadMemory, and never less than MaxStreamBytes.
	MaxUploadMemory int64
	// MaxCalls bounds the calls (streams) open at once on the whole
	// server, over every connection, authenticated or not (health
	// checking too); more are refused with ResourceExhausted before
	// anything is read. Default DefaultMaxCalls.
	MaxCalls int
	// MaxCallsPerIP bounds the calls without credentials open at once
	// from one peer IP address; more are refused like those over MaxCalls.
	// While authentication is required, calls without credentials (health
	// checking, failed authentications) also share at most a quarter of
	// MaxCalls. Default max(1, MaxCalls/4).
	MaxCallsPerIP int
	// MaxCallsPerCaller bounds the calls open at once by one credential (a
	// token, or a client certificate with a role), like those over
	// MaxCalls. Default max(1, MaxCalls/16), so that sixteen callers
	// cannot fill the server.
	MaxCallsPerCaller int
	// StreamWindow and ConnWindow are the HTTP/2 flow-control windows, in
	// bytes, of each stream and each connection: a stream buffers at most
	// StreamWindow bytes its handler has not read. Fixed sizes (dynamic
	// windows, which grow to 16 MiB per stream, are off). Defaults
	// DefaultStreamWindow and DefaultConnWindow; at least 64 KiB.
	StreamWindow, ConnWindow int32
	// AuthFailureRate is how many failed authentications a second one
	// peer IP address may make on average, with bursts of
	// AuthFailureBurst; once over it, its failures are refused with
	// ResourceExhausted and not logged, while valid credentials from
	// the same address still pass. Each failure within it is logged with the peer (never the secret). Defaults
	// DefaultAuthFailureRate and DefaultAuthFailureBurst; negative means
	// no limit.
	AuthFailureRate  float64
	AuthFailureBurst int
	// RefusalWindow is how long repeated refusals of the same caller,
	// method and code (PermissionDenied) are gathered into one audit entry
	// ("refused N more times") instead of one entry each. Default
	// DefaultRefusalWindow.
	RefusalWindow time.Duration
	// MatcherThresholds caps, per perceptual signal type, the threshold
	// (Hamming bits) a caller below curator may ask for in MatchOptions;
	// over it the call gets PermissionDenied. A type missing from the map
	// is capped at its default threshold (PDQ 31, pHash and dHash 8), and
	// a value above the type's bits allows every threshold. Curators and
	// admins may ask for any threshold.
	MatcherThresholds map[mediamatch.SignalType]int
	// MaxMatcherResults caps MatchOptions.max_results for a caller below
	// curator (over it: PermissionDenied); default
	// DefaultMaxMatcherResults. Curators may ask for up to 1000.
	MaxMatcherResults int
	// MaxMatchProbes caps the signals one match call searches: informative
	// keyframes times their searchable signals (with dihedral variants, up
	// to 8 PDQ signals a keyframe). Over it the call gets
	// ResourceExhausted before any search. Default
	// index.DefaultMaxMatchProbes; negative means no limit.
	MaxMatchProbes int
	// MaxMatchHits caps the (query keyframe, item keyframe) pairs within
	// the threshold that one match call gathers, whatever the caller's
	// role: the search stops at the limit and the call gets
	// ResourceExhausted. Default index.DefaultMaxMatchHits; negative means
	// no limit.
	MaxMatchHits int
	// MaxFrameMatches caps the keyframe pairs (Match.frames) returned by
	// one match call, across all its matches, and separately the time
	// ranges (query_ranges and item_ranges); coverage still counts every
	// pair. Default index.DefaultMaxFrameMatches; negative means no limit.
	MaxFrameMatches int

	// Status, if set, is what AdminService.GetServerStatus reports (status.go).
	Status func() Status
	// Backup, if set, writes a backup of the store (index.Index.Backup)
	// for AdminService.BackupStore (backup.go).
	Backup func(ctx context.Context, w io.Writer, since uint64) (index.BackupInfo, error)
	// Exchanges, if set, is the scheduler of the partner exchanges that
	// ExchangeService configures and fetches (exchanges.go); without it
	// ExchangeService's calls are NotFound.
	Exchanges *Scheduler
}

// Defaults of the guard's limits (see Options).
const (
	DefaultRateLimit            = 100 // calls per second per caller
	DefaultRateBurst            = 200
	DefaultCallTimeout          = 10 * time.Minute
	DefaultMaxCallTimeout       = time.Hour
	DefaultMaxConcurrentStreams = 128

	DefaultUploadIdleTimeout = 30 * time.Second
	DefaultMinUploadRate     = 64 << 10 // bytes a second
	DefaultUploadRateGrace   = 10 * time.Second
	DefaultMaxUploadMemory   = 512 << 20 // bytes
	DefaultMaxCalls          = 256
	DefaultStreamWindow      = 64 << 10 // bytes, the least HTTP/2 allows gRPC to set
	DefaultConnWindow        = 1 << 20  // bytes
	DefaultAuthFailureRate   = 1        // failures a second per peer IP
	DefaultAuthFailureBurst  = 100
	DefaultRefusalWindow     = time.Minute
)

// DefaultMaxUploads is the default of Options.MaxUploads: twice the CPUs,
// at least 4. Each upload may hold up to MaxStreamBytes in memory.
func DefaultMaxUploads() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

func (o Options) withDefaults() Options {
	if o.MaxUnaryBytes <= 0 {
		o.MaxUnaryBytes = DefaultMaxUnaryBytes
	}
	if o.MaxStreamBytes <= 0 {
		o.MaxStreamBytes = DefaultMaxStreamBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.RateLimit == 0 {
		o.RateLimit = DefaultRateLimit
	}
	if o.RateBurst <= 0 {
		o.RateBurst = DefaultRateBurst
	}
	if o.MaxUploads <= 0 {
		o.MaxUploads = DefaultMaxUploads()
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.MaxCallTimeout <= 0 {
		o.MaxCallTimeout = DefaultMaxCallTimeout
	}
	o.CallTimeout = min(o.CallTimeout, o.MaxCallTimeout)
	if o.MaxConcurrentStreams == 0 {
		o.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxUploadsPerCaller <= 0 {
		o.MaxUploadsPerCaller = max(1, o.MaxUploads/2)
	}
	o.MaxUploadsPerCaller = min(o.MaxUploadsPerCaller, o.MaxUploads)
	if o.UploadIdleTimeout <= 0 {
		o.UploadIdleTimeout = DefaultUploadIdleTimeout
	}
	if o.MinUploadRate == 0 {
		o.MinUploadRate = DefaultMinUploadRate
	}
	if o.UploadRateGrace <= 0 {
		o.UploadRateGrace = DefaultUploadRateGrace
	}
	if o.MaxUploadMemory <= 0 {
		o.MaxUploadMemory = DefaultMaxUploadMemory
	}
	o.MaxUploadMemory = max(o.MaxUploadMemory, o.MaxStreamBytes)
	if o.MaxCalls <= 0 {
		o.MaxCalls = DefaultMaxCalls
	}
	if o.MaxCallsPerIP <= 0 {
		o.MaxCallsPerIP = max(1, o.MaxCalls/4)
	}
	o.MaxCallsPerIP = min(o.MaxCallsPerIP, o.MaxCalls)
	if o.MaxCallsPerCaller <= 0 {
		o.MaxCallsPerCaller = max(1, o.MaxCalls/16)
	}
	o.MaxCallsPerCaller = min(o.MaxCallsPerCaller, o.MaxCalls)
	if o.StreamWindow <= 0 {
		o.StreamWindow = DefaultStreamWindow
	}
	if o.ConnWindow <= 0 {
		o.ConnWindow = DefaultConnWindow
	}
	o.StreamWindow, o.ConnWindow = max(o.StreamWindow, 64<<10), max(o.ConnWindow, 64<<10)
	if o.AuthFailureRate == 0 {
		o.AuthFailureRate = DefaultAuthFailureRate
	}
	if o.AuthFailureBurst <= 0 {
		o.AuthFailureBurst = DefaultAuthFailureBurst
	}
	if o.RefusalWindow <= 0 {
		o.RefusalWindow = DefaultRefusalWindow
	}
	ceilings := make(map[mediamatch.SignalType]int)
	for _, t := range mediamatch.SignalTypes() {
		if t.Exact() {
			continue
		}
		ceilings[t] = t.DefaultThreshold()
		if c, ok := o.MatcherThresholds[t]; ok {
			ceilings[t] = max(0, min(c, t.Bits()))
		}
	}
	o.MatcherThresholds = ceilings
	if o.MaxMatcherResults <= 0 {
		o.MaxMatcherResults = DefaultMaxMatcherResults
	}
	o.MaxMatcherResults = min(o.MaxMatcherResults, maxResults)
	if o.MaxMatchProbes == 0 {
		o.MaxMatchProbes = index.DefaultMaxMatchProbes
	}
	if o.MaxMatchHits == 0 {
		o.MaxMatchHits = index.DefaultMaxMatchHits
	}
	if o.MaxFrameMatches == 0 {
		o.MaxFrameMatches = index.DefaultMaxFrameMatches
	}
	return o
}

// connOverhead is what one connection costs the server besides its
// streams' buffered data, in bytes: the HTTP/2 read and write buffers and
// framer (32 KiB each by default), with slack.
const connOverhead = 256 << 10

// MemoryBound returns the most memory, in bytes, that calls can make the
// server hold in buffers for conns connections at once (Config's
// MaxConnections), whoever sends them:
//
//	conns × connOverhead
//	  + MaxCalls × (StreamWindow + MaxRecvMsgSize)
//	  + 2 × MaxUploadMemory
//
// A call holds at most StreamWindow bytes its handler has not read, plus
// the one message being decoded (at most MaxRecvMsgSize; a unary upload's
// content is that message); the streamed uploads' chunks are held within
// MaxUploadMemory, twice while a finished upload is assembled. Calls past
// MaxCalls are refused before anything is read. Image and video decoding
// (the fingerprint package's budget) and the index's caches come on top.
func (o Options) MemoryBound(conns int) int64 {
	o = o.withDefaults()
	return int64(conns)*connOverhead +
		int64(o.MaxCalls)*(int64(o.StreamWindow)+int64(o.MaxRecvMsgSize())) +
		2*o.MaxUploadMemory
}

// DefaultMaxMatcherResults is the default of Options.MaxMatcherResults:
// the results a call gets when it asks for none.
const DefaultMaxMatcherResults = index.DefaultMaxMatchResults

// MaxRecvMsgSize returns the receive limit to give grpc.MaxRecvMsgSize for
// these options: the largest of the unary limit, a stream chunk and an
// import chunk, plus 1 MiB of slack for the rest of the message.
func (o Options) MaxRecvMsgSize() int {
	o = o.withDefaults()
	n := max(o.MaxUnaryBytes, MaxChunkBytes, MaxImportChunkBytes) + 1<<20
	return int(n)
}

// Server implements MatchService, HashService, BankService and
// AdminService over an Index and a Hasher. It is safe for concurrent use.
type Server struct {
	// What each part needs of the index (see Index): the same value,
	// seen by each part through its own interface.
	banks   Banks         // BankService's bank calls, AddItem, the banks a limited caller matches
	items   Items         // BankService's item calls
	lists   Lists         // ImportSignals, ExportSignals
	matcher Matcher       // MatchService
	tokens  Tokens        // AdminService's token calls
	auth    Authenticator // the guard: authentication, and counting calls by credential
	audit   AuditLog      // the guard appends, ListAuditEntries reads

	hash Hasher
	opts Options
	log  *slog.Logger

	access   map[string]access // by full method name; never changed after New
	limit    *limiter          // per-caller rate limits
	authFail *limiter          // failed authentications per peer IP
	uploads  *slots            // a slot per running upload
	memory   *budget           // bytes of streamed uploads held
	calls    *callCap          // calls open at once
	refusals *refusals         // repeated refusals gathered for the audit log
	counts   *counters         // calls by method and code
	codec    *parseCodec       // notes the requests that cannot be parsed
}

// New returns a Server over ix and h.
func New(ix Index, h Hasher, opts Options) *Server {
	opts = opts.withDefaults()
	return &Server{banks: ix, items: ix, lists: ix, matcher: ix, tokens: ix, auth: ix, audit: ix,
		hash: h, opts: opts, log: opts.Logger,
		access:   accessTable(),
		limit:    newLimiter(opts.RateLimit, opts.RateBurst, opts.Now),
		authFail: newLimiter(opts.AuthFailureRate, opts.AuthFailureBurst, opts.Now),
		uploads:  newSlots(opts.MaxUploads, opts.MaxUploadsPerCaller),
		memory:   &budget{max: opts.MaxUploadMemory},
		calls:    newCallCap(opts.MaxCalls, opts.MaxCallsPerCaller, opts.MaxCallsPerIP),
		refusals: newRefusals(),
		counts:   newCounters(),
		codec:    newParseCodec(),
	}
}

// Register registers the five services on gs. Interceptors, credentials
// and limits belong to gs and are set when it is built: build it with
// ServerOptions, or every call is open to anyone who can connect.
func (s *Server) Register(gs grpc.ServiceRegistrar) {
	gs.RegisterService(s.parseErrorsInvalid(&pb.MatchService_ServiceDesc), &matchService{s: s})
	gs.RegisterService(s.parseErrorsInvalid(&pb.HashService_ServiceDesc), &hashService{s: s})
	gs.RegisterService(s.parseErrorsInvalid(&pb.BankService_ServiceDesc), &bankService{s: s})
	gs.RegisterService(s.parseErrorsInvalid(&pb.AdminService_ServiceDesc), &adminService{s: s})
	gs.RegisterService(s.parseErrorsInvalid(&pb.ExchangeService_ServiceDesc), &exchangeService{s: s})
}

// ServiceNames returns the full names of the services Register registers,
// e.g. "mediamatch.v1.MatchService", as used by health checking.
func ServiceNames() []string {
	return []string{
		pb.MatchService_ServiceDesc.ServiceName,
		pb.HashService_ServiceDesc.ServiceName,
		pb.BankService_ServiceDesc.ServiceName,
		pb.AdminService_ServiceDesc.ServiceName,
		pb.ExchangeService_ServiceDesc.ServiceName,
	}
}
