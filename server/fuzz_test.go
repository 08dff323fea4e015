package server

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/index"
)

// FuzzValidateRequests decodes arbitrary bytes as a request of each RPC
// (the first byte picks which, the rest is the message, proto.Unmarshal
// as the server would) and gives it to the RPC's handler, in process, on a
// server over a real index (Badger in a temp dir). The handler's
// validation must never panic; its answer must never be Internal or
// Unknown; and a request the edge accepted must be accepted by the
// index's validators too: an InvalidArgument without a BadRequest naming
// a field is the index refusing what the edge let through, and for each
// accepted request the index's own Validate functions are run on what it
// carries. Uploaded files are replaced by a small PNG: hashing has its own
// fuzz target (fingerprint.FuzzHash); the list of ImportSignals is kept,
// since its parsing is validation too.
//
// The corpus under testdata/fuzz/FuzzValidateRequests replays in every
// `go test`. To search for more, for ten minutes:
//
//	go test -run '^$' -fuzz FuzzValidateRequests -fuzztime 10m -parallel 1 ./server/
func FuzzValidateRequests(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	// On tmpfs when there is one: the index syncs every write, and the
	// fuzzer's minimizer runs an accepted request (a write) thousands of
	// times.
	dir := f.TempDir()
	if d, err := os.MkdirTemp("/dev/shm", "mediamatch-fuzz-"); err == nil {
		dir = d
		f.Cleanup(func() { os.RemoveAll(d) })
	}
	ix, err := index.Open(dir, index.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ix.Close() })
	s := New(ix, fingerprint.New(fingerprint.Options{FFmpeg: ffmpegPath()}), Options{})
	if _, err := ix.CreateBank(context.Background(), mediamatch.Bank{Name: "fuzz"}); err != nil {
		f.Fatal(err)
	}
	r := &fuzzRunner{s: s, png: tinyPNG()}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		call := fuzzCalls[int(data[0])%len(fuzzCalls)]
		msg := call.msg()
		if err := proto.Unmarshal(data[1:], msg); err != nil {
			return // gRPC would refuse it before any handler
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := call.run(ctx, r, msg)
		st := status.Convert(err)
		switch st.Code() {
		case codes.Internal, codes.Unknown:
			t.Fatalf("%T %v: %v: %s", msg, msg, st.Code(), st.Message())
		case codes.InvalidArgument:
			if len(badFields(st)) == 0 {
				t.Fatalf("%T %v: the edge accepted it and the index refused it: InvalidArgument without a "+
					"BadRequest: %s", msg, msg, st.Message())
			}
			return
		}
		if err := indexAccepts(msg); err != nil {
			t.Fatalf("%T %v: accepted (%v), but the index's validators refuse it: %v", msg, msg, st.Code(), err)
		}
	})
}

// fuzzRunner holds what the handlers run on.
type fuzzRunner struct {
	s   *Server
	png []byte // replaces every uploaded file
}

// upload replaces a non-empty upload with the runner's PNG, keeping an
// empty one empty.
func (r *fuzzRunner) upload(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	return r.png
}

// fuzzCall is one RPC: a new request message, and how to call its handler.
type fuzzCall struct {
	msg func() proto.Message
	run func(ctx context.Context, r *fuzzRunner, m proto.Message) error
}

func unaryCall[Req any, PReq interface {
	*Req
	proto.Message
}, Resp any](h func(*fuzzRunner, context.Context, PReq) (Resp, error)) fuzzCall {
	return fuzzCall{
		msg: func() proto.Message { return PReq(new(Req)) },
		run: func(ctx context.Context, r *fuzzRunner, m proto.Message) error {
			_, err := h(r, ctx, m.(PReq))
			return err
		},
	}
}

// streamCall is a client-streaming RPC whose one message is the fuzzed
// request, with prep applied to it.
func streamCall[Req, Resp any, PReq interface {
	*Req
	proto.Message
}](h func(*fuzzRunner, grpc.ClientStreamingServer[Req, Resp]) error, prep func(*fuzzRunner, PReq)) fuzzCall {
	return fuzzCall{
		msg: func() proto.Message { return PReq(new(Req)) },
		run: func(ctx context.Context, r *fuzzRunner, m proto.Message) error {
			if prep != nil {
				prep(r, m.(PReq))
			}
			return h(r, &fakeStream[Req, Resp]{ctx: ctx, msgs: []*Req{(*Req)(m.(PReq))}})
		},
	}
}

// fuzzCalls are the RPCs fuzzed: every one of the four services.
var fuzzCalls = []fuzzCall{
	unaryCall(func(r *fuzzRunner, ctx context.Context, m *pb.MatchMediaRequest) (*pb.MatchMediaResponse, error) {
		m.Content = r.upload(m.GetContent())
		return (&matchService{s: r.s}).MatchMedia(ctx, m)
	}),
	streamCall(func(r *fuzzRunner, st grpc.ClientStreamingServer[pb.MatchMediaStreamRequest, pb.MatchMediaStreamResponse]) error {
		return (&matchService{s: r.s}).MatchMediaStream(st)
	}, func(r *fuzzRunner, m *pb.MatchMediaStreamRequest) { m.Chunk = r.upload(m.GetChunk()) }),
	unaryCall(func(r *fuzzRunner, ctx context.Context, m *pb.MatchSignalsRequest) (*pb.MatchSignalsResponse, error) {
		return (&matchService{s: r.s}).MatchSignals(ctx, m)
	}),
	unaryCall(func(r *fuzzRunner, ctx context.Context, m *pb.HashMediaRequest) (*pb.HashMediaResponse, error) {
		m.Content = r.upload(m.GetContent())
		return (&hashService{s: r.s}).HashMedia(ctx, m)
	}),
	streamCall(func(r *fuzzRunner, st grpc.ClientStreamingServer[pb.HashMediaStreamRequest, pb.HashMediaStreamResponse]) error {
		return (&hashService{s: r.s}).HashMediaStream(st)
	}, func(r *fuzzRunner, m *pb.HashMediaStreamRequest) { m.Chunk = r.upload(m.GetChunk()) }),
	unaryCall(func(r *fuzzRunner, ctx context.Context, m *pb.CreateBankRequest) (*pb.CreateBankResponse, error) {
		return (&bankService{s: r.s}).CreateBank(ctx, m)
	}),
	unaryCall(func(r *fuzzRunner, ctx context.Context, m *pb.GetBankRequest) (*pb.GetBankResponse, error) {
		return (&bankService{s: r.s}).GetBank(ctx, m)
	}),
	unaryCall(func(r *fuzzRunner, ctx context.Context, m *pb.ListBanksRequest) (*pb.ListBanksResponse, error) {
		return (&bankService{s: r.s}).ListBanks(ctx, m)
	}),
	unaryCall(func(r *fuzzRunner, ctx context.Context, m *pb.DeleteBankRequest) (*pb.DeleteBankResponse, error) {
		if m.GetName() == "fuzz" {
			m.Name = "fuzz-deleted" // keep the bank the other calls use
		}
		return (&bankService{s: r.s}).DeleteBank(ctx, m)
	}),
	unaryCall(func(r *fuzzRunner, ctx context.Context, m *pb.AddItemRequest) (*pb.AddItemResponse, error) {
		if c, ok := m.GetSource().(*pb.AddItemRequest_Content); ok {
			c.Content = r.upload(c.Content)
		}
		return (&bankService{s: r.s}).AddItem(ctx, m)
	}),
	streamCall(func(r *fuzzRunner, st grpc.ClientStreamingServer[pb.AddItemStreamRequest, pb.AddItemStreamResponse]) error {
		return (&bankService{s: r.s}).AddItemStream(st)
	}, func(r *fuzzRunner, m *pb.AddItemStreamRequest) { m.Chunk = r.upload(m.GetChunk()) }),
	unaryCall(func(r *fuzzRunner, ctx context.Context, m *pb.GetItemRequest) (*pb.GetItemResponse, error) {
		return (&bankService{s: r.s}).GetItem(ctx, m)
	}),
	unaryCall(func(r *fuzzRunner, ctx context.Context, m *pb.ListItemsRequest) (*pb.ListItemsResponse, error) {
		return (&bankService{s: r.s}).ListItems(ctx, m)
	}),
	unaryCall(func(r *fuzzRunner, ctx context.Context, m *pb.UpdateItemRequest) (*pb.UpdateItemResponse, error) {
		return (&bankService{s: r.s}).UpdateItem(ctx, m)
	}),
	unaryCall(func(r *fuzzRunner, ctx context.Context, m *pb.DeleteItemRequest) (*pb.DeleteItemResponse, error) {
		return (&bankService{s: r.s}).DeleteItem(ctx, m)
	}),
	streamCall(func(r *fuzzRunner, st grpc.ClientStreamingServer[pb.ImportSignalsRequest, pb.ImportSignalsResponse]) error {
		return (&bankService{s: r.s}).ImportSignals(st)
	}, nil),
	{
		msg: func() proto.Message { return &pb.ExportSignalsRequest{} },
		run: func(ctx context.Context, r *fuzzRunner, m proto.Message) error {
			return (&bankService{s: r.s}).ExportSignals(m.(*pb.ExportSignalsRequest),
				&fakeStream[struct{}, pb.ExportSignalsResponse]{ctx: ctx})
		},
	},
	unaryCall(func(r *fuzzRunner, ctx context.Context, m *pb.CreateTokenRequest) (*pb.CreateTokenResponse, error) {
		return (&adminService{s: r.s}).CreateToken(ctx, m)
	}),
	unaryCall(func(r *fuzzRunner, ctx context.Context, m *pb.ListTokensRequest) (*pb.ListTokensResponse, error) {
		return (&adminService{s: r.s}).ListTokens(ctx, m)
	}),
	unaryCall(func(r *fuzzRunner, ctx context.Context, m *pb.RevokeTokenRequest) (*pb.RevokeTokenResponse, error) {
		return (&adminService{s: r.s}).RevokeToken(ctx, m)
	}),
	unaryCall(func(r *fuzzRunner, ctx context.Context, m *pb.ListAuditEntriesRequest) (*pb.ListAuditEntriesResponse, error) {
		return (&adminService{s: r.s}).ListAuditEntries(ctx, m)
	}),
}

// fakeStream is a gRPC stream in process: Recv gives msgs then io.EOF,
// Send and SendAndClose drop what they are given. The embedded
// ServerStream is nil: the handlers call no other method.
type fakeStream[Req, Resp any] struct {
	grpc.ServerStream
	ctx  context.Context
	msgs []*Req
}

func (f *fakeStream[Req, Resp]) Context() context.Context { return f.ctx }

func (f *fakeStream[Req, Resp]) Recv() (*Req, error) {
	if len(f.msgs) == 0 {
		return nil, io.EOF
	}
	m := f.msgs[0]
	f.msgs = f.msgs[1:]
	return m, nil
}

func (f *fakeStream[Req, Resp]) Send(*Resp) error         { return nil }
func (f *fakeStream[Req, Resp]) SendAndClose(*Resp) error { return nil }

// indexAccepts runs the index's validators on what an accepted request
// hands the index: names, ids, labels, sources, fingerprints.
func indexAccepts(m proto.Message) error {
	var errs []error
	bank := func(name string) { errs = append(errs, mediamatch.ValidateBankName("bank", name)) }
	id := func(s string) { errs = append(errs, mediamatch.ValidateItemID("id", s)) }
	labels := func(l map[string]string) { errs = append(errs, mediamatch.ValidateLabels("labels", l)) }
	media := func(p *pb.Media) { errs = append(errs, mediamatch.ValidateMedia("media", pb.MediaFromProto(p))) }
	options := func(o *pb.MatchOptions) {
		for _, b := range o.GetBanks() {
			bank(b)
		}
	}
	spec := func(s *pb.ItemSpec) { bank(s.GetBank()); id(s.GetId()); labels(s.GetLabels()) }
	switch m := m.(type) {
	case *pb.MatchMediaRequest:
		options(m.GetOptions())
	case *pb.MatchMediaStreamRequest:
		options(m.GetOptions())
	case *pb.MatchSignalsRequest:
		options(m.GetOptions())
		media(m.GetMedia())
	case *pb.CreateBankRequest:
		bank(m.GetBank().GetName())
	case *pb.GetBankRequest:
		bank(m.GetName())
	case *pb.DeleteBankRequest:
		bank(m.GetName())
	case *pb.AddItemRequest:
		spec(m.GetItem())
		if p := m.GetMedia(); p != nil {
			media(p)
		}
	case *pb.AddItemStreamRequest:
		spec(m.GetItem())
	case *pb.GetItemRequest:
		bank(m.GetBank())
		id(m.GetId())
	case *pb.ListItemsRequest:
		bank(m.GetBank())
	case *pb.UpdateItemRequest:
		bank(m.GetItem().GetBank())
		id(m.GetItem().GetId())
		for _, p := range m.GetUpdateMask().GetPaths() {
			if p == "labels" {
				labels(m.GetItem().GetLabels())
			}
		}
	case *pb.DeleteItemRequest:
		bank(m.GetBank())
		id(m.GetId())
	case *pb.ImportSignalsRequest:
		bank(m.GetBank())
		errs = append(errs, mediamatch.ValidateSource("source", &mediamatch.Source{Partner: m.GetPartner()}))
		if m.GetItemId() != "" {
			id(m.GetItemId())
		}
	case *pb.ExportSignalsRequest:
		bank(m.GetBank())
	case *pb.CreateTokenRequest:
		for _, b := range m.GetBanks() {
			bank(b)
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// fuzzSeeds returns one well-formed request of each RPC, and a few
// near misses, each prefixed with the byte that picks its RPC.
func fuzzSeeds() [][]byte {
	img := &pb.Media{Kind: pb.MediaKind_MEDIA_KIND_IMAGE, Keyframes: []*pb.Keyframe{{Signals: []*pb.Signal{
		{Type: pb.SignalType_SIGNAL_TYPE_PHASH, Hash: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Quality: 100},
		{Type: pb.SignalType_SIGNAL_TYPE_PDQ, Hash: make([]byte, 32), Quality: 90}}}},
		FileSignals: []*pb.Signal{{Type: pb.SignalType_SIGNAL_TYPE_MD5, Hash: make([]byte, 16)}}}
	opts := &pb.MatchOptions{Banks: []string{"fuzz"}, MaxResults: 10, Upright: true,
		Thresholds: []*pb.Threshold{{Signal: pb.SignalType_SIGNAL_TYPE_PDQ, MaxDistance: 31}}}
	spec := &pb.ItemSpec{Bank: "fuzz", Id: "item-1", Labels: map[string]string{"entity": "x"}}
	list := []byte("0000000000000000000000000000000000000000000000000000000000000000\n")
	msgs := []proto.Message{
		&pb.MatchMediaRequest{Content: []byte{1}, Options: opts},
		&pb.MatchMediaStreamRequest{Chunk: []byte{1}, Options: opts},
		&pb.MatchSignalsRequest{Media: img, Options: opts},
		&pb.HashMediaRequest{Content: []byte{1}},
		&pb.HashMediaStreamRequest{Chunk: []byte{1}},
		&pb.CreateBankRequest{Bank: &pb.Bank{Name: "tve", Description: "terrorist propaganda"}},
		&pb.GetBankRequest{Name: "fuzz"},
		&pb.ListBanksRequest{PageSize: 10, PageToken: "x"},
		&pb.DeleteBankRequest{Name: "tve"},
		&pb.AddItemRequest{Item: spec, Source: &pb.AddItemRequest_Media{Media: img}},
		&pb.AddItemStreamRequest{Item: spec, Chunk: []byte{1}},
		&pb.GetItemRequest{Bank: "fuzz", Id: "item-1"},
		&pb.ListItemsRequest{Bank: "fuzz", PageSize: 1000},
		&pb.UpdateItemRequest{Item: &pb.Item{Bank: "fuzz", Id: "item-1", Labels: map[string]string{"a": "b"}, Disabled: true},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels", "disabled"}}},
		&pb.DeleteItemRequest{Bank: "fuzz", Id: "item-1"},
		&pb.ImportSignalsRequest{Bank: "fuzz", Format: "pdq", Partner: "gifct", Chunk: list},
		&pb.ExportSignalsRequest{Bank: "fuzz", Format: "jsonl"},
		&pb.CreateTokenRequest{Name: "ci", Role: pb.Role_ROLE_MATCHER, Banks: []string{"fuzz"},
			ExpireTime: timestamppb.New(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))},
		&pb.ListTokensRequest{},
		&pb.RevokeTokenRequest{Id: "tok_0000000000000000"},
		&pb.ListAuditEntriesRequest{PageSize: 5},
	}
	// Near misses: well-formed requests that validation at the edge
	// refuses (an expiry in the past, page tokens that are not ours).
	msgs = append(msgs,
		&pb.CreateTokenRequest{Name: "past", Role: pb.Role_ROLE_MATCHER, ExpireTime: timestamppb.New(time.Unix(1, 0))},
		&pb.ListItemsRequest{Bank: "fuzz", PageToken: "not a token"},
		&pb.ListAuditEntriesRequest{PageToken: "not a token"},
	)
	var seeds [][]byte
	for _, m := range msgs {
		call := slices.IndexFunc(fuzzCalls, func(c fuzzCall) bool {
			return c.msg().ProtoReflect().Descriptor() == m.ProtoReflect().Descriptor()
		})
		if call < 0 {
			panic(fmt.Sprintf("no call takes %T", m))
		}
		b, err := proto.Marshal(m)
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, append([]byte{byte(call)}, b...))
	}
	return seeds
}

// tinyPNG returns a 32x32 gradient PNG: an upload that hashes in well
// under a millisecond.
func tinyPNG() []byte {
	img := image.NewGray(image.Rect(0, 0, 32, 32))
	for y := range 32 {
		for x := range 32 {
			img.SetGray(x, y, color.Gray{uint8(x*8 ^ y*8)})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}
