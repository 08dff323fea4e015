// Package server is the gRPC face of mediamatch: a thin adapter that
// validates requests at the edge, converts them to fingerprint and index
// types, calls the hasher and the index, and maps their errors to gRPC
// statuses. It holds no state of its own.
//
// New builds the three services (MatchService, HashService, BankService)
// over any Index and Hasher; Run is the whole process behind
// `mediamatch serve`: it opens the index, listens, serves with health
// checking and reflection, and shuts down gracefully.
package server

import (
	"context"
	"io"
	"log/slog"

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
	DeleteBank(ctx context.Context, name string) error
	AddItem(ctx context.Context, it index.Item) (index.Item, error)
	GetItem(ctx context.Context, bank, id string) (index.Item, error)
	ListItems(ctx context.Context, bank string, pageSize int, pageToken string) ([]index.Item, string, error)
	UpdateItem(ctx context.Context, bank, id string, u index.ItemUpdate) (index.Item, error)
	DeleteItem(ctx context.Context, bank, id string) error
	Match(ctx context.Context, q index.Query) ([]index.Match, error)
	BeginImport(ctx context.Context, bank string) (*index.Import, error)
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
}

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

// Server implements MatchService, HashService and BankService over an
// Index and a Hasher. It is safe for concurrent use.
type Server struct {
	ix   Index
	hash Hasher
	opts Options
	log  *slog.Logger
}

// New returns a Server over ix and h.
func New(ix Index, h Hasher, opts Options) *Server {
	opts = opts.withDefaults()
	return &Server{ix: ix, hash: h, opts: opts, log: opts.Logger}
}

// Register registers the three services on gs. Interceptors, credentials
// and limits belong to gs and are set when it is built.
func (s *Server) Register(gs grpc.ServiceRegistrar) {
	pb.RegisterMatchServiceServer(gs, &matchService{s: s})
	pb.RegisterHashServiceServer(gs, &hashService{s: s})
	pb.RegisterBankServiceServer(gs, &bankService{s: s})
}

// ServiceNames returns the full names of the services Register registers,
// e.g. "mediamatch.v1.MatchService", as used by health checking.
func ServiceNames() []string {
	return []string{
		pb.MatchService_ServiceDesc.ServiceName,
		pb.HashService_ServiceDesc.ServiceName,
		pb.BankService_ServiceDesc.ServiceName,
	}
}
