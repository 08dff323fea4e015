package server

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/index"
)

// env is a real server over bufconn: a Badger index in a temp dir, a real
// fingerprint.Hasher (with the real ffmpeg) and the generated stubs.
type env struct {
	dir   string // the index's data dir
	ix    *index.Index
	match pb.MatchServiceClient
	hash  pb.HashServiceClient
	bank  pb.BankServiceClient
	logs  *mmtest.SyncBuffer
	// streams counts the streaming calls whose handler is running.
	streams *atomic.Int64
	// recvs counts the RecvMsg calls that streaming handlers began.
	recvs *recvCounter
}

// recvCounter counts the RecvMsg calls of streaming handlers, as they
// begin: a handler that calls RecvMsg for the (n+1)th time has dealt with
// the n messages before it and is waiting for more.
type recvCounter struct {
	mu   sync.Mutex
	cond sync.Cond
	n    int
}

func newRecvCounter() *recvCounter {
	c := &recvCounter{}
	c.cond.L = &c.mu
	return c
}

func (c *recvCounter) add() {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	c.cond.Broadcast()
}

// wait blocks until RecvMsg calls number at least n.
func (c *recvCounter) wait(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.n < n {
		c.cond.Wait()
	}
}

// countingStream is a grpc.ServerStream whose RecvMsg calls are counted.
type countingStream struct {
	grpc.ServerStream
	c *recvCounter
}

func (s countingStream) RecvMsg(m any) error {
	s.c.add()
	return s.ServerStream.RecvMsg(m)
}

func newEnv(t testing.TB, opts Options) *env { return newEnvOn(t, opts, false) }

// newEnvOn is newEnv over loopback TCP when tcp is set, else over bufconn.
func newEnvOn(t testing.TB, opts Options, tcp bool) *env {
	t.Helper()
	dir := t.TempDir()
	ix, err := index.Open(dir, index.Options{})
	if err != nil {
		t.Fatalf("index.Open: %v", err)
	}
	t.Cleanup(func() { ix.Close() })
	logs := &mmtest.SyncBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := New(ix, fingerprint.New(fingerprint.Options{FFmpeg: ffmpegPath()}), opts)

	dialOpts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20), grpc.MaxCallRecvMsgSize(64<<20)),
	}
	var (
		lis    net.Listener
		target string
	)
	if tcp {
		if lis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		target = lis.Addr().String()
	} else {
		bl := bufconn.Listen(1 << 20)
		lis, target = bl, "passthrough:///bufconn"
		dialOpts = append(dialOpts, grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return bl.DialContext(ctx)
		}))
	}
	streams := &atomic.Int64{}
	recvs := newRecvCounter()
	// The guard runs too (ServerOptions): with no token, authentication
	// is off, as on a loopback development server.
	gs := grpc.NewServer(append(s.ServerOptions(),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			streams.Add(1)
			defer streams.Add(-1)
			return h(srv, countingStream{ss, recvs})
		}))...)
	s.Register(gs)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)

	conn, err := grpc.NewClient(target, dialOpts...)
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &env{
		dir:     dir,
		ix:      ix,
		match:   pb.NewMatchServiceClient(conn),
		hash:    pb.NewHashServiceClient(conn),
		bank:    pb.NewBankServiceClient(conn),
		logs:    logs,
		streams: streams,
		recvs:   recvs,
	}
}

// waitStreams waits until no streaming handler runs: a call the client
// cancelled may still be cleaning up on the server.
func (e *env) waitStreams(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for e.streams.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d streaming handlers still running after a minute", e.streams.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readMedia(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(mmtest.Shared(t, "media", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ffmpegPath() string {
	if p, err := exec.LookPath("ffmpeg"); err == nil {
		return p
	}
	return "/usr/bin/ffmpeg"
}

// wantStatus fails unless err is a status with code c whose message
// contains every part.
func wantStatus(t testing.TB, err error, c codes.Code, parts ...string) *status.Status {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != c {
		t.Fatalf("error = %v, want code %v", err, c)
	}
	for _, p := range parts {
		if !strings.Contains(st.Message(), p) {
			t.Errorf("message %q does not contain %q", st.Message(), p)
		}
	}
	return st
}

// badFields returns the fields of the BadRequest detail of st.
func badFields(st *status.Status) []string {
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}

// streamMatch sends data to MatchMediaStream in chunks of size chunk, with
// opts on the first message.
func streamMatch(ctx context.Context, c pb.MatchServiceClient, data []byte, chunk int, opts *pb.MatchOptions) (*pb.MatchMediaStreamResponse, error) {
	stream, err := c.MatchMediaStream(ctx)
	if err != nil {
		return nil, err
	}
	first := true
	for len(data) > 0 || first {
		n := min(chunk, len(data))
		m := &pb.MatchMediaStreamRequest{Chunk: data[:n]}
		if first {
			m.Options, first = opts, false
		}
		if err := stream.Send(m); err != nil {
			break // the server ended the stream; CloseAndRecv has its status
		}
		data = data[n:]
	}
	return stream.CloseAndRecv()
}

// streamAdd sends data to AddItemStream in 1 MiB chunks.
func streamAdd(ctx context.Context, c pb.BankServiceClient, spec *pb.ItemSpec, data []byte) (*pb.AddItemStreamResponse, error) {
	stream, err := c.AddItemStream(ctx)
	if err != nil {
		return nil, err
	}
	first := true
	for len(data) > 0 || first {
		n := min(1<<20, len(data))
		m := &pb.AddItemStreamRequest{Chunk: data[:n]}
		if first {
			m.Item, first = spec, false
		}
		if err := stream.Send(m); err != nil {
			break
		}
		data = data[n:]
	}
	return stream.CloseAndRecv()
}

func matchIDs(ms []*pb.Match) []string {
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.GetBank()+"/"+m.GetItemId())
	}
	return ids
}

func slogTo(w *mmtest.SyncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
