package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/index"
)

// loadEnv returns the integer in environment variable name, or def.
func loadEnv(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// BenchmarkLoad is the load test, run by hand (it takes a minute; CI
// runs no benchmarks, and -short skips it):
//
//	go test -run '^$' -bench BenchmarkLoad -benchtime 1x ./server/
//	MEDIAMATCH_LOAD_SECONDS=10 MEDIAMATCH_LOAD_IMPORT=50000 go test -run '^$' -bench BenchmarkLoad -benchtime 1x ./server/
//
// A real server as Run builds it (newGRPCServer: the guard, keepalive,
// limits) on loopback TCP, authentication required, over Badger in a temp
// dir and the real hasher. 64 clients (MEDIAMATCH_LOAD_CLIENTS), each
// with a connection and a matcher token of its own, call MatchMedia with a
// photo and MatchSignals with its fingerprint in turn for
// MEDIAMATCH_LOAD_SECONDS (default 60), while a curator imports a
// generated PDQ list of MEDIAMATCH_LOAD_IMPORT lines (default 200,000)
// into another bank, and one more client with a token of its own calls
// MatchSignals at five times the rate limit, to be refused by it: MEDIAMATCH_LOAD_RATE calls a second per token (default 20,
// bursts of twice that), lower than the default 100 so that the greedy
// client exceeds it even on a slow machine, and far above what each of
// the 64 others makes (their refusals are reported too, and should be 0).
//
// It reports: matches/s (the 64 clients' successful calls), the p50 and
// p99 latency of each RPC (a MatchMedia includes its wait for one of the
// upload slots), rate-limit refusals (ResourceExhausted) of the greedy
// client and of the others, the import's duration, the peak heap
// (runtime.MemStats sampled every 100ms) and the heap at the end after a
// GC, and the goroutines before the clients connect and after they have
// gone (a settle loop of up to 10 s). It fails on any error other than
// ResourceExhausted, on a failed import, and on goroutine growth.
//
// Each run of the function is a whole load test, whatever b.N: run it
// once with -benchtime 1x (ns/op is then the test's duration). The
// default -benchtime runs it once too; -benchtime Nx with N > 1 (make
// bench) runs it twice, with b.N 1 then N.
func BenchmarkLoad(b *testing.B) {
	if testing.Short() {
		b.Skip("load test: minutes of CPU; run by hand")
	}
	var (
		seconds = loadEnv(b, "MEDIAMATCH_LOAD_SECONDS", 60)
		lines   = loadEnv(b, "MEDIAMATCH_LOAD_IMPORT", 200_000)
		clients = loadEnv(b, "MEDIAMATCH_LOAD_CLIENTS", 64)
		rate    = loadEnv(b, "MEDIAMATCH_LOAD_RATE", 20)
	)
	ctx := context.Background()

	ix, err := index.Open(b.TempDir(), index.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	h := fingerprint.New(fingerprint.Options{FFmpeg: ffmpegPath()})
	s := New(ix, h, Options{RequireAuth: true, RateLimit: float64(rate), RateBurst: 2 * rate})
	gs, _ := newGRPCServer(s)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go gs.Serve(lis)
	defer gs.Stop()

	// The photo is an item of bank "load": every MatchMedia finds it.
	photo := probeImage(b)
	media, err := h.Hash(ctx, photo)
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"load", "import"} {
		if _, err := ix.CreateBank(ctx, mediamatch.Bank{Name: name}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := ix.AddItem(ctx, mediamatch.Item{Bank: "load", ID: "photo", Media: media}); err != nil {
		b.Fatal(err)
	}
	signals := &pb.MatchSignalsRequest{Media: pb.MediaToProto(media)}
	token := func(name string, role mediamatch.Role) string {
		_, secret, err := ix.CreateToken(ctx, mediamatch.Token{Name: name, Role: role})
		if err != nil {
			b.Fatal(err)
		}
		return secret
	}
	list := pdqList(pdqHex(b, lines))

	goroutinesBefore := runtime.NumGoroutine()
	dial := func() *grpc.ClientConn {
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
		if err != nil {
			b.Fatal(err)
		}
		return conn
	}

	// The heap, sampled every 100ms until the end.
	var peakHeap atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peakHeap.Load() {
				peakHeap.Store(ms.HeapAlloc)
			}
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
		}
	}()

	// The tallies: calls by RPC and outcome, and the latencies of
	// successful calls.
	type tally struct {
		ok, limited, failed atomic.Int64
		mu                  sync.Mutex
		latencies           []time.Duration
		errs                []string
	}
	var mediaT, signalsT, greedyT tally
	record := func(t *tally, start time.Time, err error) {
		d := time.Since(start)
		switch status.Code(err) {
		case codes.OK:
			t.ok.Add(1)
			t.mu.Lock()
			t.latencies = append(t.latencies, d)
			t.mu.Unlock()
		case codes.ResourceExhausted:
			t.limited.Add(1)
		default:
			t.failed.Add(1)
			t.mu.Lock()
			if len(t.errs) < 5 {
				t.errs = append(t.errs, err.Error())
			}
			t.mu.Unlock()
		}
	}
	call := func(secret string) (context.Context, context.CancelFunc) {
		c, cancel := context.WithTimeout(ctx, time.Minute)
		return as(c, secret), cancel
	}

	// Every token and connection is made before the start: tokens are
	// synced writes, slow under the import's load.
	var (
		conns   []*grpc.ClientConn
		secrets []string
	)
	for i := range clients {
		conns = append(conns, dial())
		secrets = append(secrets, token(fmt.Sprintf("client-%02d", i), mediamatch.RoleMatcher))
	}
	importer, greedy := dial(), dial()
	conns = append(conns, importer, greedy)
	importSecret := token("importer", mediamatch.RoleCurator)
	greedySecret := token("greedy", mediamatch.RoleMatcher)

	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	end := start.Add(time.Duration(seconds) * time.Second)

	// The import.
	var (
		importErr  error
		importResp *pb.ImportSignalsResponse
		importTook time.Duration
	)
	wg.Go(func() {
		// The import may outlast the clients: its own deadline.
		c, cancel := context.WithTimeout(as(ctx, importSecret), 30*time.Minute)
		defer cancel()
		t0 := time.Now()
		importResp, importErr = importList(c, pb.NewBankServiceClient(importer),
			&pb.ImportSignalsRequest{Bank: "import", Format: "pdq", Partner: "load"}, list, MaxImportChunkBytes)
		importTook = time.Since(t0)
	})

	// The clients.
	for i := range clients {
		secret := secrets[i]
		mc := pb.NewMatchServiceClient(conns[i])
		wg.Go(func() {
			for time.Now().Before(end) {
				c, cancel := call(secret)
				t0 := time.Now()
				_, err := mc.MatchMedia(c, &pb.MatchMediaRequest{Content: photo})
				record(&mediaT, t0, err)
				t0 = time.Now()
				_, err = mc.MatchSignals(c, signals)
				record(&signalsT, t0, err)
				cancel()
			}
		})
	}
	// The greedy client: calls at five times the rate limit, without
	// waiting for answers (up to 256 at once), so that it exceeds the
	// limit however slow the server is.
	gc := pb.NewMatchServiceClient(greedy)
	inflight := make(chan struct{}, 256)
	wg.Go(func() {
		tick := time.NewTicker(time.Second / time.Duration(5*rate))
		defer tick.Stop()
		for now := range tick.C {
			if now.After(end) {
				return
			}
			select {
			case inflight <- struct{}{}:
			default:
				continue // 256 calls in flight: skip a tick
			}
			wg.Go(func() {
				defer func() { <-inflight }()
				c, cancel := call(greedySecret)
				defer cancel()
				t0 := time.Now()
				_, err := gc.MatchSignals(c, signals)
				record(&greedyT, t0, err)
			})
		}
	})
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()

	close(stopSampling)
	<-sampled
	for _, c := range conns {
		c.Close()
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	goroutinesAfter := settledGoroutines(goroutinesBefore)
	if goroutinesAfter > goroutinesBefore {
		// Allow a little longer for connections to wind down.
		time.Sleep(5 * time.Second)
		goroutinesAfter = settledGoroutines(goroutinesBefore)
	}

	window := time.Duration(seconds) * time.Second
	ms2 := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(float64(mediaT.ok.Load()+signalsT.ok.Load())/window.Seconds(), "matches/s")
	b.ReportMetric(float64(mediaT.ok.Load())/window.Seconds(), "media/s")
	b.ReportMetric(float64(signalsT.ok.Load())/window.Seconds(), "signals/s")
	for _, t := range []struct {
		name string
		t    *tally
	}{{"media", &mediaT}, {"signals", &signalsT}} {
		slices.Sort(t.t.latencies)
		b.ReportMetric(ms2(percentile(t.t.latencies, 50)), "p50-"+t.name+"-ms")
		b.ReportMetric(ms2(percentile(t.t.latencies, 99)), "p99-"+t.name+"-ms")
	}
	b.ReportMetric(float64(greedyT.limited.Load()), "greedy-refused")
	b.ReportMetric(float64(greedyT.ok.Load())/window.Seconds(), "greedy-ok/s")
	b.ReportMetric(float64(mediaT.limited.Load()+signalsT.limited.Load()), "others-refused")
	b.ReportMetric(float64(mediaT.failed.Load()+signalsT.failed.Load()+greedyT.failed.Load()), "errors")
	b.ReportMetric(importTook.Seconds(), "import-s")
	b.ReportMetric(float64(peakHeap.Load())/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "end-heap-MB")
	b.ReportMetric(float64(goroutinesBefore), "goroutines-before")
	b.ReportMetric(float64(goroutinesAfter), "goroutines-after")
	b.Logf("%d clients for %v (all done after %v): %d MatchMedia, %d MatchSignals ok; greedy client %d ok, %d refused; "+
		"import of %d lines: %v in %v", clients, window, elapsed.Round(time.Millisecond), mediaT.ok.Load(), signalsT.ok.Load(),
		greedyT.ok.Load(), greedyT.limited.Load(), lines, importResp, importTook.Round(time.Millisecond))

	for _, t := range []*tally{&mediaT, &signalsT, &greedyT} {
		if len(t.errs) > 0 {
			b.Errorf("%d errors other than ResourceExhausted, first: %q", t.failed.Load(), t.errs)
		}
	}
	if importErr != nil {
		b.Errorf("ImportSignals: %v", importErr)
	} else if importResp.GetAdded() != int64(lines) {
		b.Errorf("ImportSignals added %d, want %d", importResp.GetAdded(), lines)
	}
	if greedyT.limited.Load() == 0 {
		b.Errorf("the greedy client was never refused by the rate limit")
	}
	if goroutinesAfter > goroutinesBefore {
		buf := make([]byte, 1<<20)
		b.Errorf("%d goroutines after the load, %d before:\n%s", goroutinesAfter, goroutinesBefore, buf[:runtime.Stack(buf, true)])
	}
	if b.Failed() {
		b.FailNow()
	}
}

// percentile returns the p-th percentile of sorted durations; 0 if none.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}
