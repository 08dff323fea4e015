package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"iter"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

// Defaults of the client's options.
const (
	// DefaultUnaryLimit is the largest file sent in one message; larger
	// files are streamed. It matches the server's default unary limit.
	DefaultUnaryLimit = 4 << 20
	// DefaultChunkSize is the size of the chunks of a streamed upload, the
	// API's maximum.
	DefaultChunkSize = 1 << 20
	// DefaultPageSize is the page size of ListBanks and ListItems. Items
	// carry their fingerprints, so pages are kept small enough to fit
	// gRPC's default 4 MiB receive limit for typical videos.
	DefaultPageSize = 50
)

// Client calls a mediamatch server. It is safe for concurrent use.
type Client struct {
	match pb.MatchServiceClient
	hash  pb.HashServiceClient
	bank  pb.BankServiceClient
	admin pb.AdminServiceClient
	xchg  pb.ExchangeServiceClient

	unaryLimit int
	chunkSize  int
	pageSize   int
}

// Option configures a Client.
type Option func(*Client)

// WithUnaryLimit sets the largest file that is sent in one message (default
// DefaultUnaryLimit); set it to the server's --max-unary-bytes.
func WithUnaryLimit(n int) Option { return func(c *Client) { c.unaryLimit = n } }

// WithChunkSize sets the chunk size of streamed uploads (default and
// maximum 1 MiB).
func WithChunkSize(n int) Option {
	return func(c *Client) {
		if n > 0 && n <= DefaultChunkSize {
			c.chunkSize = n
		}
	}
}

// WithPageSize sets how many banks or items ListBanks and ListItems fetch
// per call (1..1000; default DefaultPageSize).
func WithPageSize(n int) Option { return func(c *Client) { c.pageSize = n } }

// New returns a Client that calls the server over conn.
func New(conn grpc.ClientConnInterface, opts ...Option) *Client {
	c := &Client{
		match:      pb.NewMatchServiceClient(conn),
		hash:       pb.NewHashServiceClient(conn),
		bank:       pb.NewBankServiceClient(conn),
		admin:      pb.NewAdminServiceClient(conn),
		xchg:       pb.NewExchangeServiceClient(conn),
		unaryLimit: DefaultUnaryLimit,
		chunkSize:  DefaultChunkSize,
		pageSize:   DefaultPageSize,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// MatchOptions say where and how strictly to look. The zero value searches
// every bank with the server's default thresholds.
type MatchOptions struct {
	// Banks to search; empty means every bank.
	Banks []string
	// Thresholds overrides the largest matching Hamming distance per
	// perceptual signal type. Callers below curator may ask at most the
	// server's ceiling (by default the default thresholds).
	Thresholds map[mediamatch.SignalType]int
	// Signals limits matching to these types; empty means the server's
	// defaults: PDQ and the exact types (MD5, SHA-256). Name pHash or
	// dHash to match with those too.
	Signals []mediamatch.SignalType
	// MaxResults caps the matches returned (0 means 100, at most 1000;
	// callers below curator at most the server's cap, default 100).
	MaxResults int
	// Upright matches the upload only as it is. By default the rotated
	// and mirrored PDQ variants of the upload are looked up too, so that
	// turned copies match; Match.Transform says how the upload is turned.
	// Match and MatchReader have the server hash the variants; for
	// MatchSignals hash them yourself with
	// fingerprint.Hasher.HashWith(ctx, data, fingerprint.HashOptions{Dihedral: true}).
	// With Upright, transformed signals are ignored.
	Upright bool
}

// MatchResult is the answer to a match of a file.
type MatchResult struct {
	// Matches, best first; empty when nothing matched.
	Matches []mediamatch.Match
	// Query is the fingerprint the server computed for the file.
	Query mediamatch.Media
}

// ItemSpec names a new item: its bank (which must exist), its id (unique
// in the bank) and its labels.
type ItemSpec struct {
	Bank, ID string
	Labels   map[string]string
}

// Hash returns the fingerprint of a file without matching or storing it.
// Files over the unary limit are streamed. Errors are *Error values
// wrapping the sentinels (ErrInvalidArgument for a file that cannot be
// hashed), or the client's own errors.
func (c *Client) Hash(ctx context.Context, content []byte) (mediamatch.Media, error) {
	if len(content) > c.unaryLimit {
		return c.HashReader(ctx, bytes.NewReader(content))
	}
	resp, err := c.hash.HashMedia(ctx, &pb.HashMediaRequest{Content: content})
	if err != nil {
		return mediamatch.Media{}, fromRPC(err)
	}
	return pb.MediaFromProto(resp.GetMedia()), nil
}

// HashReader is Hash for a file read from r, always streamed.
func (c *Client) HashReader(ctx context.Context, r io.Reader) (mediamatch.Media, error) {
	ctx, cancel := context.WithCancel(ctx) // ends the stream on a read error
	defer cancel()
	stream, err := c.hash.HashMediaStream(ctx)
	if err != nil {
		return mediamatch.Media{}, fromRPC(err)
	}
	err = c.send(r, func(chunk []byte, first bool) error {
		return stream.Send(&pb.HashMediaStreamRequest{Chunk: chunk})
	})
	if err != nil {
		return mediamatch.Media{}, err
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return mediamatch.Media{}, fromRPC(err)
	}
	return pb.MediaFromProto(resp.GetMedia()), nil
}

// Match hashes a file on the server and matches it. Files over the unary
// limit are streamed. A file that matches nothing is a success with no
// Matches.
func (c *Client) Match(ctx context.Context, content []byte, opts MatchOptions) (MatchResult, error) {
	if len(content) > c.unaryLimit {
		return c.MatchReader(ctx, bytes.NewReader(content), opts)
	}
	resp, err := c.match.MatchMedia(ctx, &pb.MatchMediaRequest{Content: content, Options: optionsToProto(opts)})
	if err != nil {
		return MatchResult{}, fromRPC(err)
	}
	return MatchResult{Matches: pb.MatchesFromProto(resp.GetMatches()), Query: pb.MediaFromProto(resp.GetQuery())}, nil
}

// MatchReader is Match for a file read from r, always streamed: use it for
// videos and other large files so that they are never held whole in the
// client's memory.
func (c *Client) MatchReader(ctx context.Context, r io.Reader, opts MatchOptions) (MatchResult, error) {
	ctx, cancel := context.WithCancel(ctx) // ends the stream on a read error
	defer cancel()
	stream, err := c.match.MatchMediaStream(ctx)
	if err != nil {
		return MatchResult{}, fromRPC(err)
	}
	o := optionsToProto(opts)
	err = c.send(r, func(chunk []byte, first bool) error {
		m := &pb.MatchMediaStreamRequest{Chunk: chunk}
		if first {
			m.Options = o
		}
		return stream.Send(m)
	})
	if err != nil {
		return MatchResult{}, err
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return MatchResult{}, fromRPC(err)
	}
	return MatchResult{Matches: pb.MatchesFromProto(resp.GetMatches()), Query: pb.MediaFromProto(resp.GetQuery())}, nil
}

// MatchSignals matches a fingerprint computed on the client (for example
// with fingerprint.Hasher), so that no media leaves the caller.
func (c *Client) MatchSignals(ctx context.Context, m mediamatch.Media, opts MatchOptions) ([]mediamatch.Match, error) {
	resp, err := c.match.MatchSignals(ctx, &pb.MatchSignalsRequest{Media: pb.MediaToProto(m), Options: optionsToProto(opts)})
	if err != nil {
		return nil, fromRPC(err)
	}
	return pb.MatchesFromProto(resp.GetMatches()), nil
}

// CreateBank creates an empty bank. It fails with ErrAlreadyExists if the
// name is taken and ErrInvalidArgument if it is not a valid name.
func (c *Client) CreateBank(ctx context.Context, name, description string) (mediamatch.Bank, error) {
	resp, err := c.bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: name, Description: description}})
	if err != nil {
		return mediamatch.Bank{}, fromRPC(err)
	}
	return pb.BankFromProto(resp.GetBank()), nil
}

// GetBank returns one bank, or ErrNotFound.
func (c *Client) GetBank(ctx context.Context, name string) (mediamatch.Bank, error) {
	resp, err := c.bank.GetBank(ctx, &pb.GetBankRequest{Name: name})
	if err != nil {
		return mediamatch.Bank{}, fromRPC(err)
	}
	return pb.BankFromProto(resp.GetBank()), nil
}

// ListBanks iterates over every bank in name order, fetching pages as it
// goes. An error ends the iteration.
func (c *Client) ListBanks(ctx context.Context) iter.Seq2[mediamatch.Bank, error] {
	return func(yield func(mediamatch.Bank, error) bool) {
		token := ""
		for {
			resp, err := c.bank.ListBanks(ctx, &pb.ListBanksRequest{PageSize: int32(c.pageSize), PageToken: token})
			if err != nil {
				yield(mediamatch.Bank{}, fromRPC(err))
				return
			}
			for _, b := range resp.GetBanks() {
				if !yield(pb.BankFromProto(b), nil) {
					return
				}
			}
			if token = resp.GetNextPageToken(); token == "" {
				return
			}
		}
	}
}

// DeleteBank deletes a bank and all its items, or fails with ErrNotFound.
func (c *Client) DeleteBank(ctx context.Context, name string) error {
	_, err := c.bank.DeleteBank(ctx, &pb.DeleteBankRequest{Name: name})
	return fromRPC(err)
}

// AddItem adds a known item hashed from a file by the server. Files over
// the unary limit are streamed. It fails with ErrNotFound if the bank does
// not exist and ErrAlreadyExists if the id is taken.
func (c *Client) AddItem(ctx context.Context, spec ItemSpec, content []byte) (mediamatch.Item, error) {
	if len(content) > c.unaryLimit {
		return c.AddItemReader(ctx, spec, bytes.NewReader(content))
	}
	resp, err := c.bank.AddItem(ctx, &pb.AddItemRequest{
		Item: specToProto(spec), Source: &pb.AddItemRequest_Content{Content: content}})
	if err != nil {
		return mediamatch.Item{}, fromRPC(err)
	}
	return pb.ItemFromProto(resp.GetItem()), nil
}

// AddItemReader is AddItem for a file read from r, always streamed.
func (c *Client) AddItemReader(ctx context.Context, spec ItemSpec, r io.Reader) (mediamatch.Item, error) {
	ctx, cancel := context.WithCancel(ctx) // ends the stream on a read error
	defer cancel()
	stream, err := c.bank.AddItemStream(ctx)
	if err != nil {
		return mediamatch.Item{}, fromRPC(err)
	}
	s := specToProto(spec)
	err = c.send(r, func(chunk []byte, first bool) error {
		m := &pb.AddItemStreamRequest{Chunk: chunk}
		if first {
			m.Item = s
		}
		return stream.Send(m)
	})
	if err != nil {
		return mediamatch.Item{}, err
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return mediamatch.Item{}, fromRPC(err)
	}
	return pb.ItemFromProto(resp.GetItem()), nil
}

// AddItemSignals adds a known item from a fingerprint computed elsewhere.
func (c *Client) AddItemSignals(ctx context.Context, spec ItemSpec, m mediamatch.Media) (mediamatch.Item, error) {
	resp, err := c.bank.AddItem(ctx, &pb.AddItemRequest{
		Item: specToProto(spec), Source: &pb.AddItemRequest_Media{Media: pb.MediaToProto(m)}})
	if err != nil {
		return mediamatch.Item{}, fromRPC(err)
	}
	return pb.ItemFromProto(resp.GetItem()), nil
}

// GetItem returns one item with its fingerprint, or ErrNotFound.
func (c *Client) GetItem(ctx context.Context, bank, id string) (mediamatch.Item, error) {
	resp, err := c.bank.GetItem(ctx, &pb.GetItemRequest{Bank: bank, Id: id})
	if err != nil {
		return mediamatch.Item{}, fromRPC(err)
	}
	return pb.ItemFromProto(resp.GetItem()), nil
}

// ListItems iterates over a bank's items in id order, fetching pages as it
// goes. An error (ErrNotFound for a missing bank) ends the iteration.
func (c *Client) ListItems(ctx context.Context, bank string) iter.Seq2[mediamatch.Item, error] {
	return func(yield func(mediamatch.Item, error) bool) {
		token := ""
		for {
			resp, err := c.bank.ListItems(ctx, &pb.ListItemsRequest{Bank: bank, PageSize: int32(c.pageSize), PageToken: token})
			if err != nil {
				yield(mediamatch.Item{}, fromRPC(err))
				return
			}
			for _, it := range resp.GetItems() {
				if !yield(pb.ItemFromProto(it), nil) {
					return
				}
			}
			if token = resp.GetNextPageToken(); token == "" {
				return
			}
		}
	}
}

// UpdateItem changes an item's labels and/or disabled flag and returns the
// item as stored. The change applies to the next match.
func (c *Client) UpdateItem(ctx context.Context, bank, id string, u mediamatch.ItemUpdate) (mediamatch.Item, error) {
	req := &pb.UpdateItemRequest{
		Item:       &pb.Item{Bank: bank, Id: id, Labels: u.Labels, Disabled: u.Disabled},
		UpdateMask: &fieldmaskpb.FieldMask{},
	}
	if u.SetLabels {
		req.UpdateMask.Paths = append(req.UpdateMask.Paths, "labels")
	}
	if u.SetDisabled {
		req.UpdateMask.Paths = append(req.UpdateMask.Paths, "disabled")
	}
	resp, err := c.bank.UpdateItem(ctx, req)
	if err != nil {
		return mediamatch.Item{}, fromRPC(err)
	}
	return pb.ItemFromProto(resp.GetItem()), nil
}

// Disable stops an item from matching; it is kept and can be enabled again.
func (c *Client) Disable(ctx context.Context, bank, id string) (mediamatch.Item, error) {
	return c.UpdateItem(ctx, bank, id, mediamatch.ItemUpdate{Disabled: true, SetDisabled: true})
}

// Enable lets a disabled item match again.
func (c *Client) Enable(ctx context.Context, bank, id string) (mediamatch.Item, error) {
	return c.UpdateItem(ctx, bank, id, mediamatch.ItemUpdate{Disabled: false, SetDisabled: true})
}

// DeleteItem deletes an item, or fails with ErrNotFound.
func (c *Client) DeleteItem(ctx context.Context, bank, id string) error {
	_, err := c.bank.DeleteItem(ctx, &pb.DeleteItemRequest{Bank: bank, Id: id})
	return fromRPC(err)
}

// send reads r to the end and hands it to sendChunk in chunks of at most
// chunkSize bytes; first is true for the first chunk, which is sent even
// when r is empty so that the first message's fields always arrive. When
// the server ends the stream early (sendChunk returns io.EOF) it returns
// nil so that the caller's CloseAndRecv reports the server's status.
func (c *Client) send(r io.Reader, sendChunk func(chunk []byte, first bool) error) error {
	for first := true; ; first = false {
		// A fresh buffer per message: the stream may still hold the last one.
		buf := make([]byte, c.chunkSize)
		n, rerr := io.ReadFull(r, buf)
		if n > 0 || first {
			if err := sendChunk(buf[:n], first); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return fromRPC(err)
			}
		}
		switch {
		case rerr == nil:
			continue
		case errors.Is(rerr, io.EOF), errors.Is(rerr, io.ErrUnexpectedEOF):
			return nil
		default:
			return rerr
		}
	}
}
