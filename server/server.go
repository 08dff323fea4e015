// Package server is the gRPC face of mediamatch: a thin adapter that
// validates requests at the edge, converts them to fingerprint and index
// types, calls the hasher and the index, and maps their errors to gRPC
// statuses. It holds no state of its own.
//
// New builds the four services (MatchService, HashService, BankService,
// AdminService) over any Index and Hasher, and ServerOptions the
// grpc.Server options that guard them: one unary and one stream
// interceptor authenticate every call (auth.go), authorise it by role from
// one table, rate-limit it, bound its deadline, recover from panics, count
// it and audit curator and admin actions (guard.go). Run is the whole
// process behind `mediamatch serve`: it opens the index, listens (TLS from
// Config.Credentials), serves with health checking and reflection, and
// shuts down gracefully.
package server

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"time"

	"google.golang.org/grpc"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/index"
)

// Default limits on uploads.
const (
	// DefaultMaxUnaryBytes is the largest file sent whole in one message
	// (MatchMedia, HashMedia, AddItem): 4 MiB, gRPC's usual message size.
	DefaultMaxUnaryBytes = 4 << 20
	// DefaultMaxStreamBytes is the largest file sent in chunks: 512 MiB.
	DefaultMaxStreamBytes = 512 << 20
)

// Index is what the server needs of the index: *index.Index satisfies it.
type Index interface {
	CreateBank(ctx context.Context, b index.Bank) (index.Bank, error)
	GetBank(ctx context.Context, name string) (index.Bank, error)
	ListBanks(ctx context.Context, pageSize int, pageToken string) ([]index.Bank, string, error)
	ListBanksWithin(ctx context.Context, pageSize int, pageToken string, scope []string) ([]index.Bank, string, error)
	DeleteBank(ctx context.Context, name string) error
	AddItem(ctx context.Context, it index.Item) (index.Item, error)
	GetItem(ctx context.Context, bank, id string) (index.Item, error)
	ListItems(ctx context.Context, bank string, pageSize int, pageToken string) ([]index.Item, string, error)
	UpdateItem(ctx context.Context, bank, id string, u index.ItemUpdate) (index.Item, error)
	DeleteItem(ctx context.Context, bank, id string) error
	Match(ctx context.Context, q index.Query) ([]index.Match, error)
	BeginImport(ctx context.Context, bank string) (*index.Import, error)

	// Tokens and the audit log (AdminService and the interceptors).
	CreateToken(ctx context.Context, t index.Token) (index.Token, string, error)
	ListTokens(ctx context.Context) ([]index.Token, error)
	ListTokensWithin(ctx context.Context, scope []string) ([]index.Token, error)
	RevokeToken(ctx context.Context, id string) (index.Token, error)
	RevokeTokenWithin(ctx context.Context, id string, scope []string) (index.Token, error)
	Authenticate(secret string) (index.Token, error)
	HasTokens() bool
	AppendAudit(ctx context.Context, e index.AuditEntry) error
	ListAudit(ctx context.Context, pageSize int, pageToken string) ([]index.AuditEntry, string, error)
	ListAuditWhere(ctx context.Context, pageSize int, pageToken string, keep func(index.AuditEntry) bool) ([]index.AuditEntry, string, error)
}

// Hasher computes the fingerprint of a file held in memory, with the PDQ
// dihedral variants when o.Dihedral: *fingerprint.Hasher satisfies it.
type Hasher interface {
	HashWith(ctx context.Context, data []byte, o fingerprint.HashOptions) (fingerprint.Media, error)
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
	ClientRoles map[string]index.Role
	// RateLimit is how many calls per second each authenticated caller
	// (a token, or a client certificate's CN) may make on average, with
	// bursts of RateBurst; over it calls get ResourceExhausted with
	// errdetails.RetryInfo. Default DefaultRateLimit and DefaultRateBurst;
	// negative means no limit. Anonymous callers (authentication off) are
	// not limited.
	RateLimit float64
	RateBurst int
	// MaxUploads bounds the calls that hold an upload in memory and hash
	// it (MatchMedia, MatchMediaStream, HashMedia, HashMediaStream,
	// AddItem, AddItemStream) at once; more wait for a slot within their
	// deadline. Default DefaultMaxUploads.
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
}

// Defaults of the guard's limits (see Options).
const (
	DefaultRateLimit            = 100 // calls per second per caller
	DefaultRateBurst            = 200
	DefaultCallTimeout          = 10 * time.Minute
	DefaultMaxCallTimeout       = time.Hour
	DefaultMaxConcurrentStreams = 128
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
	return o
}

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
	ix   Index
	hash Hasher
	opts Options
	log  *slog.Logger

	access  map[string]access // by full method name; never changed after New
	limit   *limiter          // per-caller rate limits
	uploads chan struct{}     // a slot per running upload
	counts  *counters         // calls by method and code
}

// New returns a Server over ix and h.
func New(ix Index, h Hasher, opts Options) *Server {
	opts = opts.withDefaults()
	return &Server{ix: ix, hash: h, opts: opts, log: opts.Logger,
		access:  accessTable(),
		limit:   newLimiter(opts.RateLimit, opts.RateBurst, opts.Now),
		uploads: make(chan struct{}, opts.MaxUploads),
		counts:  newCounters(),
	}
}

// Register registers the four services on gs. Interceptors, credentials
// and limits belong to gs and are set when it is built: build it with
// ServerOptions, or every call is open to anyone who can connect.
func (s *Server) Register(gs grpc.ServiceRegistrar) {
	pb.RegisterMatchServiceServer(gs, &matchService{s: s})
	pb.RegisterHashServiceServer(gs, &hashService{s: s})
	pb.RegisterBankServiceServer(gs, &bankService{s: s})
	pb.RegisterAdminServiceServer(gs, &adminService{s: s})
}

// ServiceNames returns the full names of the services Register registers,
// e.g. "mediamatch.v1.MatchService", as used by health checking.
func ServiceNames() []string {
	return []string{
		pb.MatchService_ServiceDesc.ServiceName,
		pb.HashService_ServiceDesc.ServiceName,
		pb.BankService_ServiceDesc.ServiceName,
		pb.AdminService_ServiceDesc.ServiceName,
	}
}
