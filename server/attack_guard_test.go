package server

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/mediamatch/mediamatch/api/mediamatch"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

// Attacks on the guard and the transport (idle and slow streams, memory
// and call floods, audit floods, forged and huge strings, failed
// authentication), each against a real guarded grpc.Server (newGRPCServer,
// as Run builds it) on loopback TCP over a real Badger index, or against
// Run itself.

// guardEnv is a real guarded server on loopback that also counts the
// stream handlers running (past the guard's admission).
type guardEnv struct {
	*authEnv
	handlers *atomic.Int64
}

// newGuardEnv is newAuthEnv with opts, counting the stream handlers.
func newGuardEnv(t *testing.T, opts Options) *guardEnv {
	t.Helper()
	handlers := &atomic.Int64{}
	e := newAuthEnv(t, authConfig{opts: opts, serverOpts: []grpc.ServerOption{grpc.ChainStreamInterceptor(
		func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			handlers.Add(1)
			defer handlers.Add(-1)
			return h(srv, ss)
		})}})
	return &guardEnv{authEnv: e, handlers: handlers}
}

// waitHandlers waits until at least n stream handlers run.
func (e *guardEnv) waitHandlers(t *testing.T, n int64) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); e.handlers.Load() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d stream handlers running after 30s, want %d", e.handlers.Load(), n)
		}
	}
}

// guardPNG returns a small real PNG, different for each seed.
func guardPNG(t testing.TB, seed int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 96, 96))
	for y := range 96 {
		for x := range 96 {
			img.Set(x, y, color.RGBA{uint8(x*3 + seed), uint8(y * 2), uint8((x ^ y) + seed*7), 255})
		}
	}
	return pngBytes(t, img)
}

// TestAttackGuardIdleUploadsHoldNoSlots: four streams opened by
// one bank-limited matcher that send nothing do not keep another caller's
// upload from running, nor do four that sent one chunk each and went
// quiet (one caller holds at most its share of the slots).
func TestAttackGuardIdleUploadsHoldNoSlots(t *testing.T) {
	for _, firstChunk := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunk=%t", firstChunk), func(t *testing.T) {
			ctx := t.Context()
			e := newGuardEnv(t, Options{MaxUploads: 4})
			if _, err := e.ix.CreateBank(ctx, mediamatch.Bank{Name: "tve"}); err != nil {
				t.Fatal(err)
			}
			gw := e.token(t, "gw", mediamatch.RoleMatcher, "tve")
			other := e.token(t, "other", mediamatch.RoleMatcher)
			conn := e.conn(t, nil)
			match, hash := pb.NewMatchServiceClient(conn), pb.NewHashServiceClient(conn)

			sctx, cancel := context.WithCancel(as(ctx, gw))
			defer cancel()
			for range 4 {
				stream, err := match.MatchMediaStream(sctx)
				if err != nil {
					t.Fatal(err)
				}
				m := &pb.MatchMediaStreamRequest{Options: &pb.MatchOptions{Banks: []string{"tve"}}}
				if firstChunk {
					m.Chunk = []byte("the first bytes of a file that never comes")
				}
				if err := stream.Send(m); err != nil {
					t.Fatal(err)
				}
			}
			e.waitHandlers(t, 4)
			hctx, hcancel := context.WithTimeout(as(ctx, other), 20*time.Second)
			defer hcancel()
			resp, err := hash.HashMedia(hctx, &pb.HashMediaRequest{Content: guardPNG(t, 1)})
			if err != nil {
				t.Fatalf("HashMedia by another caller while gw holds four streams: %v", err)
			}
			if len(resp.GetMedia().GetKeyframes()) == 0 {
				t.Errorf("HashMedia returned no signals")
			}
			if n := e.s.uploads.inUse(); n != 0 {
				t.Errorf("%d upload slots held by the quiet streams, want 0 (a stream takes one when its upload is whole)", n)
			}
		})
	}
}

// TestAttackGuardQuietAndSlowStreamsCut: a stream that goes
// quiet past UploadIdleTimeout is ended by the server with
// DeadlineExceeded naming the limit, and one that trickles slower than
// MinUploadRate with ResourceExhausted naming it; both free their slot.
func TestAttackGuardQuietAndSlowStreamsCut(t *testing.T) {
	ctx := t.Context()
	e := newGuardEnv(t, Options{MaxUploads: 2, UploadIdleTimeout: 500 * time.Millisecond,
		MinUploadRate: 1 << 20, UploadRateGrace: 2 * time.Second})
	match := pb.NewMatchServiceClient(e.conn(t, nil))
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()

	quiet, err := match.MatchMediaStream(cctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := quiet.Send(&pb.MatchMediaStreamRequest{Chunk: []byte("some bytes, then nothing")}); err != nil {
		t.Fatal(err)
	}
	err = quiet.RecvMsg(new(pb.MatchMediaStreamResponse)) // no half-close: the client just goes quiet
	wantStatus(t, err, codes.DeadlineExceeded, "no message for 500ms", "upload-idle-timeout")

	slow, err := match.MatchMediaStream(cctx)
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	for i := 0; i < 10000 && serr == nil; i++ { // a byte every 50ms: far under 1 MiB/s
		serr = slow.Send(&pb.MatchMediaStreamRequest{Chunk: []byte{byte(i)}})
		time.Sleep(50 * time.Millisecond)
	}
	_, err = slow.CloseAndRecv()
	wantStatus(t, err, codes.ResourceExhausted, "upload too slow", "min-upload-rate")
	e.waitHandlers(t, 0)
	if n := e.s.uploads.inUse(); n != 0 {
		t.Errorf("%d upload slots held after the streams were cut, want 0", n)
	}
}

// TestAttackGuardMemoryBound: floods that make the server hold
// data cannot make its live heap grow past Options.MemoryBound: health
// Watch streams without credentials, each holding a large request for as
// long as it is open, over several connections; and a matcher's upload
// streams that send while no upload slot is free, so that their data is
// not read.
func TestAttackGuardMemoryBound(t *testing.T) {
	opts := Options{MaxCalls: 32, MaxUploads: 1, MaxUploadMemory: 8 << 20, MaxStreamBytes: 8 << 20}
	const conns = 8
	bound := opts.MemoryBound(conns)

	t.Run("health watch", func(t *testing.T) {
		const (
			perConn = 128
			request = 1 << 20 // bytes of each Watch request (its service name)
		)
		e := newGuardEnv(t, opts)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		before := liveHeap()
		service := strings.Repeat("s", request)
		var (
			open, refused atomic.Int64
			wg            sync.WaitGroup
		)
		for range conns {
			health := healthpb.NewHealthClient(e.conn(t, nil))
			for range perConn {
				wg.Add(1)
				go func() {
					defer wg.Done()
					w, err := health.Watch(ctx, &healthpb.HealthCheckRequest{Service: service})
					if err == nil {
						_, err = w.Recv() // the server has the request and watches
					}
					if err != nil {
						refused.Add(1)
						return
					}
					open.Add(1)
				}()
			}
		}
		wg.Wait()
		grew := liveHeap() - before
		t.Logf("%d conns x %d Watch streams of %d bytes: %d open, %d refused; live heap grew %d MiB; bound %d MiB",
			conns, perConn, request, open.Load(), refused.Load(), grew>>20, bound>>20)
		if grew > bound {
			t.Errorf("live heap grew by %d bytes under the flood, over the bound of %d bytes (MemoryBound(%d))", grew, bound, conns)
		}
	})

	t.Run("unread uploads", func(t *testing.T) {
		const (
			perConn   = 64
			perStream = 2 << 20 // bytes each stream tries to send
			chunk     = 256 << 10
		)
		e := newGuardEnv(t, opts)
		gw := e.token(t, "gw", mediamatch.RoleMatcher)
		ctx, cancel := context.WithCancel(as(t.Context(), gw))
		defer cancel()
		// One upload holds the only slot.
		holder, err := pb.NewMatchServiceClient(e.conn(t, nil)).MatchMediaStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := holder.Send(&pb.MatchMediaStreamRequest{Chunk: []byte("held")}); err != nil {
			t.Fatal(err)
		}
		before := liveHeap()
		var (
			sent atomic.Int64
			wg   sync.WaitGroup
		)
		data := make([]byte, chunk)
		for range conns {
			match := pb.NewMatchServiceClient(e.conn(t, nil))
			for range perConn {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, err := match.MatchMediaStream(ctx)
					if err != nil {
						return
					}
					for n := 0; n < perStream; n += chunk {
						if s.Send(&pb.MatchMediaStreamRequest{Chunk: data}) != nil {
							return
						}
						sent.Add(chunk)
					}
				}()
			}
		}
		// Wait until the flood has sent all it can: nothing more for a second.
		last := int64(-1)
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
			n := sent.Load()
			if n == last {
				break
			}
			last = n
		}
		grew := liveHeap() - before
		t.Logf("%d conns x %d upload streams x %d bytes: %d bytes sent; live heap grew %d MiB; bound %d MiB",
			conns, perConn, perStream, sent.Load(), grew>>20, bound>>20)
		if grew > bound {
			t.Errorf("live heap grew by %d bytes under the flood, over the bound of %d bytes (MemoryBound(%d))", grew, bound, conns)
		}
		cancel()
		wg.Wait()
	})
}

// liveHeap returns the live heap after two collections (the second
// empties the sync.Pools that grpc keeps its buffers in), in bytes.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// TestAttackGuardHealthWatchDeadline: an open health Watch
// stream gets the server's call deadline: it does not stay open forever.
func TestAttackGuardHealthWatchDeadline(t *testing.T) {
	e := newGuardEnv(t, Options{CallTimeout: time.Second})
	ctx, cancel := context.WithCancel(t.Context()) // no deadline of its own
	defer cancel()
	w, err := healthpb.NewHealthClient(e.conn(t, nil)).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() {
		var err error
		for err == nil {
			_, err = w.Recv()
		}
		ended <- err
	}()
	select {
	case err := <-ended:
		t.Logf("Watch ended by the server: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Watch without a deadline still open after 30s with a server call timeout of 1s")
	}
}

// TestAttackGuardCallCap: past Options.MaxCalls, or
// MaxCallsPerIP from one address, new calls are refused with
// ResourceExhausted naming the limit, and the count falls back when the
// calls end.
func TestAttackGuardCallCap(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		// holder holds the three streams and then calls once more; other,
		// if set, is another caller whose call must still succeed.
		holder, other string
		want          []string
	}{
		{"total", Options{MaxCalls: 3, MaxCallsPerIP: 3}, "", "", []string{"3 calls open at once", "max-calls"}},
		{"per address", Options{MaxCalls: 10, MaxCallsPerIP: 3}, "", "", []string{"3 calls open at once from 127.0.0.1", "max-calls-per-ip"}},
		// One token cannot hold more than its share, and another token's
		// calls go on.
		{"per caller", Options{MaxCalls: 10, MaxCallsPerCaller: 3}, "flooder", "gateway",
			[]string{"3 calls open at once by this token", "max-calls-per-caller"}},
		// Without credentials, calls share a quarter of MaxCalls once
		// authentication is required: a health Watch flood from anyone
		// cannot crowd out a caller with a token.
		{"without credentials", Options{MaxCalls: 12, MaxCallsPerIP: 12, RequireAuth: true}, "", "gateway",
			[]string{"3 calls without credentials open at once", "max-calls"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newGuardEnv(t, tt.opts)
			var holder, other string
			if tt.holder != "" {
				holder = e.token(t, tt.holder, mediamatch.RoleMatcher)
			}
			if tt.other != "" {
				other = e.token(t, tt.other, mediamatch.RoleMatcher)
			}
			health := healthpb.NewHealthClient(e.conn(t, nil))
			ctx, cancel := context.WithCancel(as(t.Context(), holder))
			for range 3 {
				w, err := health.Watch(ctx, &healthpb.HealthCheckRequest{})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.Recv(); err != nil {
					t.Fatal(err)
				}
			}
			_, err := health.Check(as(t.Context(), holder), &healthpb.HealthCheckRequest{})
			wantStatus(t, err, codes.ResourceExhausted, tt.want...)
			if tt.other != "" {
				if _, err := health.Check(as(t.Context(), other), &healthpb.HealthCheckRequest{}); err != nil {
					t.Errorf("Check by %s while the three streams are open: %v, want OK", tt.other, err)
				}
			}
			cancel()
			for deadline := time.Now().Add(30 * time.Second); e.s.calls.open() != 0; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d calls counted after every call ended, want 0", e.s.calls.open())
				}
			}
			if _, err := health.Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
				t.Fatalf("Check after the streams ended: %v", err)
			}
		})
	}
}

// TestAttackGuardConnectionCap: Run closes connections past
// Config.MaxConnectionsPerIP from one address.
func TestAttackGuardConnectionCap(t *testing.T) {
	conn, _, stop := startRunWith(t, Config{DataDir: t.TempDir(), MaxConnectionsPerIP: 2},
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer stop()
	addr := conn.Target()
	var codesSeen []codes.Code
	for range 3 {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		_, err = healthpb.NewHealthClient(c).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(false))
		cancel()
		codesSeen = append(codesSeen, status.Code(err))
	}
	want := []codes.Code{codes.OK, codes.OK, codes.Unavailable}
	if fmt.Sprint(codesSeen) != fmt.Sprint(want) {
		t.Errorf("three connections from one address with MaxConnectionsPerIP 2: %v, want %v", codesSeen, want)
	}
}

// TestAttackGuardAuditFlood: a matcher calling a curator RPC
// over and over is rate-limited like any caller, and its refusals make
// one audit entry and one summary, not one entry each.
func TestAttackGuardAuditFlood(t *testing.T) {
	ctx := t.Context()
	e := newGuardEnv(t, Options{RateLimit: 1, RateBurst: 50})
	gw := e.token(t, "gw", mediamatch.RoleMatcher)
	bank := pb.NewBankServiceClient(e.conn(t, nil))
	got := map[codes.Code]int{}
	for i := range 120 {
		_, err := bank.DeleteBank(as(ctx, gw), &pb.DeleteBankRequest{Name: fmt.Sprintf("b%d", i)})
		got[status.Code(err)]++
	}
	if got[codes.PermissionDenied] != 50 || got[codes.ResourceExhausted] != 70 {
		t.Errorf("120 refused calls with a burst of 50 and the clock stopped: %v, want 50 PermissionDenied and 70 ResourceExhausted", got)
	}
	e.s.FlushAudit(ctx, true)
	entries, _, err := e.ix.ListAudit(ctx, 1000, "")
	if err != nil {
		t.Fatal(err)
	}
	var mine []mediamatch.AuditEntry
	for _, a := range entries {
		if strings.Contains(a.Actor, "(gw)") {
			mine = append(mine, a)
		}
	}
	if len(mine) != 2 || !strings.Contains(mine[0].Detail+mine[1].Detail, "refused 49 more times") {
		t.Errorf("audit entries of the flood: %d, want 2 (the first, and \"refused 49 more times\"):", len(mine))
		for _, a := range mine[:min(len(mine), 5)] {
			t.Logf("  %+v", a)
		}
	}
}

// TestAttackGuardForgedAuditTarget: the target of a refused
// call is stored without control characters and clipped.
func TestAttackGuardForgedAuditTarget(t *testing.T) {
	ctx := t.Context()
	e := newGuardEnv(t, Options{})
	gw := e.token(t, "gw", mediamatch.RoleMatcher)
	bank := pb.NewBankServiceClient(e.conn(t, nil))
	forged := "x\n2026-03-01T12:00:00Z tok_0000 (ops) admin AdminService/RevokeToken ok\x1b[2K\r\u202e" +
		strings.Repeat("y", 5000)
	_, err := bank.DeleteBank(as(ctx, gw), &pb.DeleteBankRequest{Name: forged})
	wantStatus(t, err, codes.PermissionDenied)
	entries, _, err := e.ix.ListAudit(ctx, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range entries {
		if a.Action != "BankService/DeleteBank" {
			continue
		}
		found = true
		if i := strings.IndexFunc(a.Target, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }); i >= 0 {
			t.Errorf("audit target %q holds a control character at %d", a.Target, i)
		}
		if len(a.Target) > maxAuditTarget+40 {
			t.Errorf("audit target is %d bytes, want about %d at most", len(a.Target), maxAuditTarget)
		}
		if !strings.Contains(a.Target, `x\n2026`) {
			t.Errorf("audit target %q, want the newline escaped", a.Target)
		}
	}
	if !found {
		t.Fatal("no audit entry for the refused DeleteBank")
	}
}

// TestAttackGuardHugeEcho: a 3 MB bank name, label key and page
// token get a bounded error, and the connection keeps working.
func TestAttackGuardHugeEcho(t *testing.T) {
	ctx := t.Context()
	e := newGuardEnv(t, Options{})
	if _, err := e.ix.CreateBank(ctx, mediamatch.Bank{Name: "tve"}); err != nil {
		t.Fatal(err)
	}
	bank := pb.NewBankServiceClient(e.conn(t, nil))
	huge := strings.Repeat("A", 3<<20)
	calls := map[string]func() error{
		"bank name": func() error {
			_, err := bank.GetBank(ctx, &pb.GetBankRequest{Name: huge})
			return err
		},
		"label key": func() error {
			_, err := bank.AddItem(ctx, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: "tve", Id: "i1",
				Labels: map[string]string{huge: "v"}}, Source: &pb.AddItemRequest_Content{Content: guardPNG(t, 2)}})
			return err
		},
		"page token": func() error {
			_, err := bank.ListItems(ctx, &pb.ListItemsRequest{Bank: "tve", PageToken: huge})
			return err
		},
		"item id": func() error {
			_, err := bank.GetItem(ctx, &pb.GetItemRequest{Bank: "tve", Id: huge})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			st, ok := status.FromError(err)
			if !ok || st.Code() == codes.OK || st.Code() == codes.Unavailable || st.Code() == codes.Internal {
				t.Fatalf("error = %v, want a refusal of the input", err)
			}
			// The value is echoed clipped, once or a few times: a few KiB.
			if n := proto.Size(st.Proto()); n > 4<<10 {
				t.Errorf("status is %d bytes, want at most 4 KiB: %.300q", n, st.Message())
			}
			t.Logf("%v, %d bytes: %.200q", st.Code(), proto.Size(st.Proto()), st.Message())
			if _, err := bank.GetBank(ctx, &pb.GetBankRequest{Name: "tve"}); err != nil {
				t.Fatalf("GetBank on the same connection afterwards: %v", err)
			}
		})
	}
}

// TestAttackGuardFailedAuth: failed authentications are logged
// with the peer, never the secret, and limited per peer IP.
func TestAttackGuardFailedAuth(t *testing.T) {
	ctx := t.Context()
	e := newGuardEnv(t, Options{AuthFailureBurst: 10})
	ops := e.token(t, "ops", mediamatch.RoleAdmin)
	bank := pb.NewBankServiceClient(e.conn(t, nil))
	got := map[codes.Code]int{}
	const guess = "mmt_notarealtokenbutaguess0123456789"
	for range 25 {
		_, err := bank.ListBanks(as(ctx, guess), &pb.ListBanksRequest{})
		got[status.Code(err)]++
	}
	if got[codes.Unauthenticated] != 10 || got[codes.ResourceExhausted] != 15 {
		t.Errorf("25 calls with a wrong token, 10 failures allowed: %v, want 10 Unauthenticated, 15 ResourceExhausted", got)
	}
	logs := e.logs.String()
	if n := strings.Count(logs, "authentication failed"); n != 10 {
		t.Errorf("%d failed authentications logged, want 10:\n%s", n, logs)
	}
	if !strings.Contains(logs, "peer=127.0.0.1:") || strings.Contains(logs, guess) {
		t.Errorf("log should name the peer and never the secret:\n%s", logs)
	}
	// The guesser's address is over its allowance, but a valid token from
	// the same address still gets through.
	if _, err := bank.ListBanks(as(ctx, ops), &pb.ListBanksRequest{}); err != nil {
		t.Errorf("ListBanks with a valid token from the guesser's address: %v, want OK", err)
	}
}

// TestAttackGuardUnparsable: a request that cannot be parsed
// (invalid UTF-8 in a string) is InvalidArgument naming the message, not
// Internal, unary and streamed.
func TestAttackGuardUnparsable(t *testing.T) {
	ctx := t.Context()
	e := newGuardEnv(t, Options{})
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Field 1 (name), a string of invalid UTF-8.
	bad := []byte{0x0a, 0x02, 0xff, 0xfe}
	var out []byte
	err = conn.Invoke(ctx, pb.BankService_GetBank_FullMethodName, &bad, &out)
	wantStatus(t, err, codes.InvalidArgument, "GetBankRequest", "cannot be parsed")

	s, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, pb.BankService_AddItemStream_FullMethodName)
	if err != nil {
		t.Fatal(err)
	}
	// Field 1 (item), a message whose field 1 (bank) is invalid UTF-8.
	badStream := []byte{0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe}
	if err := s.SendMsg(&badStream); err != nil {
		t.Fatal(err)
	}
	s.CloseSend()
	err = s.RecvMsg(&out)
	wantStatus(t, err, codes.InvalidArgument, "AddItemStreamRequest", "cannot be parsed")

	// Health checking too.
	err = conn.Invoke(ctx, healthpb.Health_Check_FullMethodName, &bad, &out)
	wantStatus(t, err, codes.InvalidArgument, "HealthCheckRequest", "cannot be parsed")
}

// TestAttackGuardUploadBudget: streamed uploads hold their
// chunks within Options.MaxUploadMemory; an upload whose chunk would pass
// it is refused with ResourceExhausted naming the budget, and the budget
// is free again once the uploads end.
func TestAttackGuardUploadBudget(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	e := newGuardEnv(t, Options{MaxUploads: 2, MaxUploadsPerCaller: 2, MaxStreamBytes: 8 << 20, MaxUploadMemory: 8 << 20})
	match := pb.NewMatchServiceClient(e.conn(t, nil))
	chunk := make([]byte, 1<<20)
	first, err := match.MatchMediaStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if err := first.Send(&pb.MatchMediaStreamRequest{Chunk: chunk}); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); e.s.memory.used.Load() < 6<<20; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes of uploads held, want the first upload's 6 MiB", e.s.memory.used.Load())
		}
	}
	_, err = streamMatch(ctx, match, make([]byte, 6<<20), 1<<20, nil)
	wantStatus(t, err, codes.ResourceExhausted, "8388608 bytes of uploads at once", "max-upload-memory")
	_, err = first.CloseAndRecv()
	wantStatus(t, err, codes.InvalidArgument) // it ran: six MiB of zeros are no image
	for deadline := time.Now().Add(30 * time.Second); e.s.memory.used.Load() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes of uploads held after every upload ended, want 0", e.s.memory.used.Load())
		}
	}
}

// TestAttackGuardSlotsFair: a caller that keeps many uploads
// waiting cannot crowd out one that sends few: a freed slot goes to the
// waiter whose caller holds the fewest, whoever came first.
func TestAttackGuardSlotsFair(t *testing.T) {
	ctx := t.Context()
	sl := newSlots(2, 2)
	for range 2 {
		if err := sl.take(ctx, "flooder"); err != nil {
			t.Fatal(err)
		}
	}
	granted := make(chan string, 4)
	wait := func(key string) {
		if err := sl.take(ctx, key); err == nil {
			granted <- key
		}
	}
	for range 3 {
		go wait("flooder")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		sl.mu.Lock()
		n := len(sl.waiting)
		sl.mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters after 10s, want 3", n)
		}
	}
	go wait("gateway") // arrives last
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		sl.mu.Lock()
		n := len(sl.waiting)
		sl.mu.Unlock()
		if n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters after 10s, want 4", n)
		}
	}
	sl.release("flooder")
	if got := <-granted; got != "gateway" {
		t.Errorf("the freed slot went to %s, want gateway (it holds none; flooder holds one)", got)
	}
	sl.release("flooder")
	sl.release("gateway")
	for range 2 {
		if got := <-granted; got != "flooder" {
			t.Errorf("then %s, want flooder", got)
		}
	}
	if n := sl.inUse(); n != 2 {
		t.Errorf("%d slots held, want 2", n)
	}
}

// TestAttackGuardLimiterBounded: failures from ever new
// addresses cannot grow the failure limiter without bound: past
// maxBuckets busy keys it drops some, whatever their state.
func TestAttackGuardLimiterBounded(t *testing.T) {
	clock := newTestClock()
	l := newLimiter(1, 100, clock.Now)
	for i := range 3 * maxBuckets {
		if _, ok := l.allow(fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255)); !ok {
			t.Fatalf("key %d refused on its first failure", i)
		}
	}
	if n := len(l.buckets); n > maxBuckets {
		t.Errorf("%d buckets after %d keys, want at most %d", n, 3*maxBuckets, maxBuckets)
	}
}
