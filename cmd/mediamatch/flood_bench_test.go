package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/fingerprint/hostile"
	mmserver "github.com/mediamatch/mediamatch/server"
)

// The attack sizes of BenchmarkFlood, to tune. Every attacker goroutine
// loops for the whole run: when the server ends one of its streams or
// calls it opens the next (after floodRetryPause if it failed), so the
// sizes are of what is held or in flight at once; the counts reported are
// of the streams and calls that ended.
const (
	// floodAttackTokens matcher tokens are shared by the attackers; the
	// even ones are limited to the bank of the items, the odd ones may use
	// every bank. A curator token limited to a bank of its own opens the
	// AddItemStream floods.
	floodAttackTokens = 6

	// (2) Upload streams (MatchMediaStream, HashMediaStream and
	// AddItemStream in turn) opened and left idle, and streams that send
	// floodSlowBytes a second.
	floodIdleStreams = 64
	floodSlowStreams = 32
	floodSlowBytes   = 4

	// (3) floodPushConns connections of floodPushStreams upload streams
	// each, every stream sending floodPushChunk-byte chunks as fast as
	// flow control lets it; and floodHealthConns connections without
	// credentials of floodHealthStreams health Watch streams each, every
	// one for a service whose name is floodHealthRequest bytes long (the
	// server's receive limit is 5 MiB) and held open. (Sending more
	// messages on a Watch stream does not work: grpc-go ends the stream
	// with a cardinality violation.)
	floodPushConns     = 8
	floodPushStreams   = 96
	floodPushChunk     = 64 << 10
	floodHealthConns   = 6
	floodHealthStreams = 128
	floodHealthRequest = 1 << 20

	// (5) floodBombWorkers concurrent MatchMedia calls of decompression
	// bombs inside the 50 MP pixel budget, in turn: floodBombSide x
	// floodBombSide 16-bit RGBA (8 bytes a pixel: 392 MB for 7000) as a
	// deflated TIFF and as a PNG (hostile.WideTIFF and hostile.WidePNG),
	// both a few hundred KB; and a grey floodJPEGSide x
	// floodJPEGSide progressive JPEG of floodJPEGScans scans
	// (hostile.ScanBomb: about 280 KB; each scan visits all 774,400
	// blocks).
	floodBombWorkers = 4
	floodBombSide    = 7000
	floodJPEGSide    = 7040
	floodJPEGScans   = 2000

	// (6) floodSignalWorkers concurrent MatchSignals of
	// floodSignalKeyframes random keyframes with their 7 dihedral variants
	// each, at PDQ threshold floodSignalThreshold and floodSignalResults
	// results.
	floodSignalWorkers   = 4
	floodSignalKeyframes = 1000
	floodSignalThreshold = 256
	floodSignalResults   = 1000

	// floodBankItems random PDQ items are imported into the bank of the
	// photos, so that wide MatchSignals have something to find.
	floodBankItems = 10_000

	// floodGoodTimeout is the deadline of each of the well-behaved
	// caller's calls, and floodGoodInterval the least time from the start
	// of one to the start of the next (20 a second at most: well under
	// the default rate limit of 100); floodRetryPause the attackers' pause
	// before opening the next stream or call after one failed.
	floodGoodTimeout  = 10 * time.Second
	floodGoodInterval = 50 * time.Millisecond
	floodRetryPause   = 100 * time.Millisecond

	// The defaults of MEDIAMATCH_FLOOD_MAX_RSS_MB (the bound the benchmark
	// enforces; 0: the documented bound, see floodBoundMB) and
	// MEDIAMATCH_FLOOD_KILL_RSS_MB (the server is killed past it, to spare
	// the machine).
	floodDefaultMaxRSSMB  = 0
	floodDefaultKillRSSMB = 6000
)

// floodPhotos are shared photos added to the bank; the well-behaved
// caller matches the first.
var floodPhotos = []string{"images/skimage/chelsea.png", "images/skimage/astronaut.png", "images/skimage/coffee.png"}

// floodNames are the floods that MEDIAMATCH_FLOODS may choose from.
var floodNames = []string{"idle", "slow", "push", "health", "bomb", "signals"}

// BenchmarkFlood floods a real server as an attacker would. It runs by
// hand (CI runs no benchmarks; it takes a minute and can take gigabytes):
//
//	go test -run '^$' -bench BenchmarkFlood -benchtime 1x -timeout 20m ./cmd/mediamatch/
//	MEDIAMATCH_FLOOD_SECONDS=20 MEDIAMATCH_FLOODS=idle,bomb go test -run '^$' -bench BenchmarkFlood -benchtime 1x ./cmd/mediamatch/
//
// It builds this binary and runs `mediamatch serve --auth` as a process on
// loopback, with an admin token made offline. The admin makes a bank of a
// few shared photos and floodBankItems imported random PDQ hashes,
// floodAttackTokens matcher tokens for the attackers (half limited to that
// bank), a bank-limited curator token, and a matcher token for a
// well-behaved caller. Then, for MEDIAMATCH_FLOOD_SECONDS (default 60),
// all at once, each from its own connections (see the constants above
// for the sizes; MEDIAMATCH_FLOODS=idle,slow,... runs only some, and
// MEDIAMATCH_FLOODS=none the well-behaved caller alone):
//
//   - idle, slow: upload streams opened and left idle, or
//     trickling a few bytes a second;
//   - push, health: many connections of many upload streams
//     pushing chunks that no handler reads, and connections without
//     credentials of health Watch streams with large requests, held open;
//   - bomb: 16-bit RGBA TIFF and PNG decompression bombs
//     inside the pixel budget, and a progressive JPEG of 2,000 scans,
//     uploaded concurrently;
//   - signals: MatchSignals of 1,000 keyframes with their
//     dihedral variants at PDQ threshold 256 and 1,000 results.
//
// Meanwhile the well-behaved caller calls MatchMedia with the first photo,
// one call at a time with a deadline of floodGoodTimeout, at most one
// every floodGoodInterval, and records every latency and error. The server's RSS is read from /proc every
// 100 ms, and its VmHWM at the end.
//
// It reports peak-rss-mb (the larger of the peak sampled and VmHWM),
// good-p50-ms and good-p99-ms (over all the good caller's calls, failed
// ones included), good-calls, good-errors, good-errors-non-rate (errors
// other than a refusal by the caller's own rate limit), good-misses
// (successful calls that did not find the photo), and per flood the
// calls or streams it made (<flood>-calls) and those that ended OK
// (<flood>-ok); the log has each flood's outcomes by status code.
// It fails if good-errors-non-rate or good-misses is not 0, or if
// peak-rss-mb exceeds MEDIAMATCH_FLOOD_MAX_RSS_MB (default the
// documented bound, floodBoundMB, reported as bound-mb). If the RSS passes MEDIAMATCH_FLOOD_KILL_RSS_MB
// (default floodDefaultKillRSSMB), it kills the server, stops the floods
// and fails with the figure.
//
// Each run of the function is a whole flood test, whatever b.N: run it
// with -benchtime 1x.
func BenchmarkFlood(b *testing.B) {
	if testing.Short() {
		b.Skip("flood test: a minute of CPU and gigabytes; run by hand")
	}
	var (
		seconds = floodEnv(b, "MEDIAMATCH_FLOOD_SECONDS", 60)
		maxRSS  = floodEnv(b, "MEDIAMATCH_FLOOD_MAX_RSS_MB", floodDefaultMaxRSSMB)
		killRSS = floodEnv(b, "MEDIAMATCH_FLOOD_KILL_RSS_MB", floodDefaultKillRSSMB)
		enabled = floodEnabled(b, os.Getenv("MEDIAMATCH_FLOODS"))
	)
	media := mmtest.Shared(b, "media")
	tmp := b.TempDir()
	bin := buildBinary(b, tmp)
	data := filepath.Join(tmp, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		b.Fatal(err)
	}
	out, err := exec.Command(bin, "token", "create", "--data", data, "--name", "flood-admin", "--role", "admin").Output()
	if err != nil {
		b.Fatalf("token create --data: %v", err)
	}
	admin := strings.TrimSpace(string(out))
	srv := launchServer(b, bin, "--data", data, "--listen", "127.0.0.1:0", "--auth")
	waitServing(b, srv.addr)
	pid := srv.cmd.Process.Pid

	// The bombs and the signals, made before the server is loaded.
	bombs := []floodBomb{
		{"tiff", hostile.Must(b)(hostile.WideTIFF(floodBombSide, floodBombSide))},
		{"png", hostile.Must(b)(hostile.WidePNG(floodBombSide, floodBombSide))},
		{"jpeg", hostile.ScanBomb(floodJPEGSide, floodJPEGSide, floodJPEGScans)},
	}
	for _, bm := range bombs {
		b.Logf("bomb %s: %d bytes", bm.name, len(bm.data))
	}
	wideSignals := floodWideSignals(b)

	// The bank, the tokens.
	ctx := context.Background()
	adminConn := floodDial(b, srv.addr)
	defer adminConn.Close()
	actx, cancel := context.WithTimeout(floodAs(ctx, admin), 5*time.Minute)
	defer cancel()
	bc := pb.NewBankServiceClient(adminConn)
	for _, name := range []string{"flood", "flood-other", "flood-own"} {
		if _, err := bc.CreateBank(actx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: name}}); err != nil {
			b.Fatalf("CreateBank %s: %v", name, err)
		}
	}
	var goodPhoto []byte
	for i, rel := range floodPhotos {
		content, err := os.ReadFile(filepath.Join(media, rel))
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			goodPhoto = content
		}
		id := strings.TrimSuffix(filepath.Base(rel), filepath.Ext(rel))
		if _, err := bc.AddItem(actx, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: "flood", Id: id},
			Source: &pb.AddItemRequest_Content{Content: content}}); err != nil {
			b.Fatalf("AddItem %s: %v", rel, err)
		}
	}
	if resp, err := floodImport(actx, bc, "flood", floodPDQList(b, floodBankItems)); err != nil || resp.GetAdded() != floodBankItems {
		b.Fatalf("ImportSignals of %d PDQ hashes: %v, %v", floodBankItems, resp, err)
	}
	ac := pb.NewAdminServiceClient(adminConn)
	token := func(name string, role pb.Role, banks ...string) string {
		resp, err := ac.CreateToken(actx, &pb.CreateTokenRequest{Name: name, Role: role, Banks: banks})
		if err != nil {
			b.Fatalf("CreateToken %s: %v", name, err)
		}
		return resp.GetSecret()
	}
	var attackers []string
	for i := range floodAttackTokens {
		var banks []string
		if i%2 == 0 {
			banks = []string{"flood"}
		}
		attackers = append(attackers, token(fmt.Sprintf("flood-attacker-%d", i), pb.Role_ROLE_MATCHER, banks...))
	}
	curator := token("flood-curator", pb.Role_ROLE_CURATOR, "flood-own")
	good := token("flood-good", pb.Role_ROLE_MATCHER)

	// The well-behaved caller finds the photo before the floods, or the
	// benchmark would prove nothing.
	goodConn := floodDial(b, srv.addr)
	defer goodConn.Close()
	gc := pb.NewMatchServiceClient(goodConn)
	goodID := strings.TrimSuffix(filepath.Base(floodPhotos[0]), filepath.Ext(floodPhotos[0]))
	found := func(resp *pb.MatchMediaResponse) bool {
		return slices.ContainsFunc(resp.GetMatches(), func(m *pb.Match) bool { return m.GetBank() == "flood" && m.GetItemId() == goodID })
	}
	gctx, cancel := context.WithTimeout(floodAs(ctx, good), floodGoodTimeout)
	defer cancel()
	if resp, err := gc.MatchMedia(gctx, &pb.MatchMediaRequest{Content: goodPhoto}); err != nil || !found(resp) {
		b.Fatalf("MatchMedia of %s before the floods: %v, %v; want flood/%s", floodPhotos[0], resp, err, goodID)
	}
	idleRSS := floodRSS(pid, "VmRSS")

	// The RSS sampler; past killRSS it kills the server and stops the
	// floods.
	fctx, stopFloods := context.WithCancel(ctx)
	defer stopFloods()
	var peakRSS, killedAt atomic.Int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			kb := floodRSS(pid, "VmRSS")
			if kb > peakRSS.Load() {
				peakRSS.Store(kb)
			}
			if kb > int64(killRSS)<<10 {
				killedAt.Store(kb)
				srv.cmd.Process.Kill()
				stopFloods()
				return
			}
			select {
			case <-fctx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	var (
		wg      sync.WaitGroup
		tallies = map[string]*floodTally{}
		conns   []*grpc.ClientConn
	)
	dial := func() *grpc.ClientConn {
		c := floodDial(b, srv.addr)
		conns = append(conns, c)
		return c
	}
	for _, name := range floodNames {
		tallies[name] = &floodTally{codes: map[string]int64{}, first: map[string]string{}}
	}
	// The floods end when runCtx does, seconds after every goroutine has
	// been started, without a deadline of their own: attackers send none,
	// so the server gives their calls its default.
	runCtx, cancelRun := context.WithCancel(fctx)
	defer cancelRun()
	// attack runs f in a loop until the end, from n goroutines; f gets the
	// goroutine's number and returns the outcome of one stream or call.
	attack := func(name string, n int, f func(ctx context.Context, i int) error) {
		if !enabled[name] {
			return
		}
		t := tallies[name]
		for i := range n {
			wg.Go(func() {
				for runCtx.Err() == nil {
					err := f(runCtx, i)
					t.record(runCtx, err)
					if status.Code(err) != codes.OK {
						select {
						case <-runCtx.Done():
						case <-time.After(floodRetryPause):
						}
					}
				}
			})
		}
	}
	attackerCtx := func(ctx context.Context, i int) context.Context { return floodAs(ctx, attackers[i%len(attackers)]) }

	// (2) Idle and slow upload streams.
	upConns := []*grpc.ClientConn{dial(), dial()}
	attack("idle", floodIdleStreams, func(ctx context.Context, i int) error {
		return floodUpload(ctx, upConns[i%2], i, attackers, curator, 0)
	})
	attack("slow", floodSlowStreams, func(ctx context.Context, i int) error {
		return floodUpload(ctx, upConns[i%2], i, attackers, curator, floodSlowBytes)
	})
	// (3) Streams pushing chunks no handler reads; health Watch streams
	// without credentials pushing messages.
	var pushConns, healthConns []*grpc.ClientConn
	for range floodPushConns {
		pushConns = append(pushConns, dial())
	}
	for range floodHealthConns {
		healthConns = append(healthConns, dial())
	}
	chunk := make([]byte, floodPushChunk)
	rand.Read(chunk)
	attack("push", floodPushConns*floodPushStreams, func(ctx context.Context, i int) error {
		return floodPush(attackerCtx(ctx, i), pushConns[i%len(pushConns)], i, chunk)
	})
	healthReq := &healthpb.HealthCheckRequest{Service: strings.Repeat("x", floodHealthRequest)}
	attack("health", floodHealthConns*floodHealthStreams, func(ctx context.Context, i int) error {
		return floodHealth(ctx, healthConns[i%len(healthConns)], healthReq)
	})
	// (5) Decompression bombs.
	bombConn := dial()
	var bombsSent atomic.Int64
	attack("bomb", floodBombWorkers, func(ctx context.Context, i int) error {
		bm := bombs[(bombsSent.Add(1)-1)%int64(len(bombs))]
		_, err := pb.NewMatchServiceClient(bombConn).MatchMedia(attackerCtx(ctx, i), &pb.MatchMediaRequest{Content: bm.data})
		return err
	})
	// (6) Wide MatchSignals.
	sigConn := dial()
	attack("signals", floodSignalWorkers, func(ctx context.Context, i int) error {
		_, err := pb.NewMatchServiceClient(sigConn).MatchSignals(attackerCtx(ctx, i), wideSignals)
		return err
	})

	// The well-behaved caller.
	var (
		goodLat                         []time.Duration
		goodErrs, goodNonRate, goodMiss int
		goodFirstErrs                   []string
	)
	wg.Go(func() {
		for first := true; first || runCtx.Err() == nil; first = false {
			c, cancel := context.WithTimeout(floodAs(fctx, good), floodGoodTimeout)
			t0 := time.Now()
			resp, err := gc.MatchMedia(c, &pb.MatchMediaRequest{Content: goodPhoto})
			d := time.Since(t0)
			cancel()
			if err != nil && fctx.Err() != nil {
				return // the server was killed: counted below
			}
			goodLat = append(goodLat, d)
			next := time.After(floodGoodInterval - d)
			switch {
			case err == nil && !found(resp):
				goodMiss++
			case err != nil:
				goodErrs++
				if status.Code(err) == codes.ResourceExhausted && strings.Contains(status.Convert(err).Message(), "rate limit:") {
					break
				}
				goodNonRate++
				if len(goodFirstErrs) < 5 {
					goodFirstErrs = append(goodFirstErrs, fmt.Sprintf("after %v: %v", d.Round(time.Millisecond), err))
				}
			}
			<-next
		}
	})
	b.ResetTimer()
	start := time.Now()
	time.AfterFunc(time.Duration(seconds)*time.Second, cancelRun)
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	stopFloods()
	<-sampled
	hwm := floodRSS(pid, "VmHWM")
	for _, c := range conns {
		c.Close()
	}
	killed := killedAt.Load()
	if killed == 0 {
		srv.stopWithin(b, time.Minute)
	}

	peak := max(peakRSS.Load(), hwm)
	mb := func(kb int64) float64 { return float64(kb) / 1024 }
	msOf := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	slices.Sort(goodLat)
	b.ReportMetric(mb(peak), "peak-rss-mb")
	b.ReportMetric(mb(idleRSS), "idle-rss-mb")
	b.ReportMetric(msOf(floodPercentile(goodLat, 50)), "good-p50-ms")
	b.ReportMetric(msOf(floodPercentile(goodLat, 99)), "good-p99-ms")
	b.ReportMetric(float64(len(goodLat)), "good-calls")
	b.ReportMetric(float64(goodErrs), "good-errors")
	b.ReportMetric(float64(goodNonRate), "good-errors-non-rate")
	b.ReportMetric(float64(goodMiss), "good-misses")
	for _, name := range floodNames {
		if enabled[name] {
			t := tallies[name]
			b.ReportMetric(float64(t.calls.Load()), name+"-calls")
			b.ReportMetric(float64(t.codes[codes.OK.String()]), name+"-ok")
			b.Logf("flood %s: %d streams or calls ended: %v; first messages: %q", name, t.calls.Load(), t.codes, t.first)
		}
	}
	b.Logf("floods planned for %v, ran %v (with the wind-down), RSS idle %.0f MB, peak %.0f MB (VmHWM %.0f MB); well-behaved caller: %d calls, "+
		"%d errors (%d not its rate limit), %d misses, p50 %v, p99 %v", time.Duration(seconds)*time.Second, elapsed.Round(time.Millisecond),
		mb(idleRSS), mb(peak), mb(hwm), len(goodLat), goodErrs, goodNonRate, goodMiss,
		floodPercentile(goodLat, 50).Round(time.Millisecond), floodPercentile(goodLat, 99).Round(time.Millisecond))

	if killed != 0 {
		b.Errorf("server RSS reached %.0f MB after %v, past MEDIAMATCH_FLOOD_KILL_RSS_MB=%d: server killed, floods stopped",
			mb(killed), time.Since(start).Round(time.Millisecond), killRSS)
	}
	if goodNonRate > 0 {
		b.Errorf("good-errors-non-rate = %d, want 0; first: %q", goodNonRate, goodFirstErrs)
	}
	if goodMiss > 0 {
		b.Errorf("good-misses = %d, want 0: MatchMedia of %s succeeded without flood/%s", goodMiss, floodPhotos[0], goodID)
	}
	if len(goodLat) == 0 {
		b.Errorf("the well-behaved caller made no call")
	}
	if maxRSS == 0 {
		maxRSS = floodBoundMB(idleRSS)
	}
	b.ReportMetric(float64(maxRSS), "bound-mb")
	if peak > int64(maxRSS)<<10 {
		b.Errorf("peak-rss-mb = %.0f, want at most MEDIAMATCH_FLOOD_MAX_RSS_MB=%d", mb(peak), maxRSS)
	}
	if b.Failed() {
		b.Logf("server log (last 4 KB):\n%s", floodTail(srv.logs.String(), 4096))
		b.FailNow()
	}
}

// floodTally counts the outcomes of one flood's streams or calls.
type floodTally struct {
	calls atomic.Int64
	mu    sync.Mutex
	codes map[string]int64  // by status code; "ours" for those we ended at the end of the run
	first map[string]string // the first error message of each code
}

func (t *floodTally) record(run context.Context, err error) {
	t.calls.Add(1)
	c := status.Code(err).String()
	if run.Err() != nil && (status.Code(err) == codes.Canceled || status.Code(err) == codes.DeadlineExceeded) {
		c = "ours"
	}
	t.mu.Lock()
	t.codes[c]++
	if _, ok := t.first[c]; !ok && err != nil {
		t.first[c] = floodTail(status.Convert(err).Message(), 300)
	}
	t.mu.Unlock()
}

type floodBomb struct {
	name string
	data []byte
}

// floodUpload opens upload stream i (MatchMediaStream, HashMediaStream or
// AddItemStream in turn; the first two with an attacker token, the last
// with the curator's) and holds it: idle when rate is 0, else sending
// rate bytes a second. It returns the status the stream ended with.
func floodUpload(ctx context.Context, conn *grpc.ClientConn, i int, attackers []string, curator string, rate int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		stream grpc.ClientStream
		err    error
		first  func(chunk []byte) any
		next   func(chunk []byte) any
		resp   any
	)
	switch i % 3 {
	case 0:
		var s grpc.ClientStreamingClient[pb.MatchMediaStreamRequest, pb.MatchMediaStreamResponse]
		s, err = pb.NewMatchServiceClient(conn).MatchMediaStream(floodAs(ctx, attackers[i%len(attackers)]))
		stream, resp = s, new(pb.MatchMediaStreamResponse)
		first = func(c []byte) any { return &pb.MatchMediaStreamRequest{Options: &pb.MatchOptions{}, Chunk: c} }
		next = func(c []byte) any { return &pb.MatchMediaStreamRequest{Chunk: c} }
	case 1:
		var s grpc.ClientStreamingClient[pb.HashMediaStreamRequest, pb.HashMediaStreamResponse]
		s, err = pb.NewHashServiceClient(conn).HashMediaStream(floodAs(ctx, attackers[i%len(attackers)]))
		stream, resp = s, new(pb.HashMediaStreamResponse)
		first = func(c []byte) any { return &pb.HashMediaStreamRequest{Chunk: c} }
		next = first
	default:
		var s grpc.ClientStreamingClient[pb.AddItemStreamRequest, pb.AddItemStreamResponse]
		s, err = pb.NewBankServiceClient(conn).AddItemStream(floodAs(ctx, curator))
		stream, resp = s, new(pb.AddItemStreamResponse)
		first = func(c []byte) any {
			return &pb.AddItemStreamRequest{Item: &pb.ItemSpec{Bank: "flood-own", Id: fmt.Sprintf("slow-%d", i)}, Chunk: c}
		}
		next = func(c []byte) any { return &pb.AddItemStreamRequest{Chunk: c} }
	}
	if err != nil {
		return err
	}
	if rate > 0 {
		go func() {
			// A PNG signature, then zeros: rate bytes a second.
			sig := []byte("\x89PNG\r\n\x1a\n")
			msg := first(sig[:min(rate, len(sig))])
			for {
				if stream.SendMsg(msg) != nil {
					return // the stream ended: RecvMsg has its status
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
				msg = next(make([]byte, rate))
			}
		}()
	}
	return stream.RecvMsg(resp)
}

// floodPush opens upload stream i on conn (MatchMediaStream or
// HashMediaStream in turn) and sends chunk after chunk as fast as flow
// control allows, until the stream ends; it returns its status.
func floodPush(ctx context.Context, conn *grpc.ClientConn, i int, chunk []byte) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		stream grpc.ClientStream
		msg    any
		resp   any
		err    error
	)
	if i%2 == 0 {
		stream, err = pb.NewMatchServiceClient(conn).MatchMediaStream(ctx)
		msg, resp = &pb.MatchMediaStreamRequest{Chunk: chunk}, new(pb.MatchMediaStreamResponse)
	} else {
		stream, err = pb.NewHashServiceClient(conn).HashMediaStream(ctx)
		msg, resp = &pb.HashMediaStreamRequest{Chunk: chunk}, new(pb.HashMediaStreamResponse)
	}
	if err != nil {
		return err
	}
	for stream.SendMsg(msg) == nil {
	}
	return stream.RecvMsg(resp)
}

// floodHealth opens a health Watch stream on conn without credentials,
// for a service named with floodHealthRequest bytes, and reads its
// updates until the stream ends; it returns its status.
func floodHealth(ctx context.Context, conn *grpc.ClientConn, req *healthpb.HealthCheckRequest) error {
	stream, err := healthpb.NewHealthClient(conn).Watch(ctx, req)
	if err != nil {
		return err
	}
	for {
		if _, err := stream.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// floodWideSignals returns the MatchSignals request of flood (6).
func floodWideSignals(b *testing.B) *pb.MatchSignalsRequest {
	m := &pb.Media{Kind: pb.MediaKind_MEDIA_KIND_VIDEO, Format: "mp4"}
	for k := range floodSignalKeyframes {
		kf := &pb.Keyframe{Index: int32(k), StartMillis: int64(k) * 1000, EndMillis: int64(k+1) * 1000}
		for t := range 8 {
			h := make([]byte, 32)
			rand.Read(h)
			kf.Signals = append(kf.Signals, &pb.Signal{Type: pb.SignalType_SIGNAL_TYPE_PDQ, Hash: h, Quality: 100, Transform: pb.Transform(t)})
		}
		m.Keyframes = append(m.Keyframes, kf)
	}
	return &pb.MatchSignalsRequest{Media: m, Options: &pb.MatchOptions{
		Dihedral:   true,
		MaxResults: floodSignalResults,
		Thresholds: []*pb.Threshold{{Signal: pb.SignalType_SIGNAL_TYPE_PDQ, MaxDistance: floodSignalThreshold}},
	}}
}

// floodPDQList returns n random PDQ hashes as the reference hasher prints them.
func floodPDQList(b *testing.B, n int) []byte {
	var out bytes.Buffer
	h := make([]byte, 32)
	for i := range n {
		rand.Read(h)
		fmt.Fprintf(&out, "%s,100,flood-%d.jpg\n", hex.EncodeToString(h), i)
	}
	return out.Bytes()
}

// floodImport streams list into bank as a PDQ list.
func floodImport(ctx context.Context, c pb.BankServiceClient, bank string, list []byte) (*pb.ImportSignalsResponse, error) {
	stream, err := c.ImportSignals(ctx)
	if err != nil {
		return nil, err
	}
	m := &pb.ImportSignalsRequest{Bank: bank, Format: "pdq", Partner: "flood"}
	for len(list) > 0 {
		n := min(len(list), 1<<20)
		m.Chunk = list[:n]
		if err := stream.Send(m); err != nil {
			break // the server ended the stream: CloseAndRecv has its status
		}
		list = list[n:]
		m = &pb.ImportSignalsRequest{}
	}
	return stream.CloseAndRecv()
}

// floodAs returns ctx with secret as its bearer token.
func floodAs(ctx context.Context, secret string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret)
}

// floodDial returns a new plaintext connection to addr (connected on first use).
func floodDial(b *testing.B, addr string) *grpc.ClientConn {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20), grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		b.Fatal(err)
	}
	return conn
}

// floodRSS returns field ("VmRSS", "VmHWM") of process pid's status, in
// KiB; 0 if the process is gone.
func floodRSS(pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}

// floodPercentile returns the p-th percentile of sorted durations; 0 if none.
func floodPercentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

// floodEnv returns the positive integer in environment variable name, or def.
func floodEnv(b *testing.B, name string, def int) int {
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

// floodEnabled parses MEDIAMATCH_FLOODS, a comma-separated list of
// floodNames; empty means all, "none" none (the well-behaved caller alone).
func floodEnabled(b *testing.B, list string) map[string]bool {
	on := map[string]bool{}
	if list == "none" {
		return on
	}
	if list == "" {
		for _, n := range floodNames {
			on[n] = true
		}
		return on
	}
	for _, n := range strings.Split(list, ",") {
		if !slices.Contains(floodNames, n) {
			b.Fatalf("MEDIAMATCH_FLOODS: %q, want some of %v", n, floodNames)
		}
		on[n] = true
	}
	return on
}

func floodTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// floodBoundMB returns the memory bound the README documents for a server
// with the default limits, in MiB: what it holds at rest (idleKiB, the
// index included) plus what callers can make it hold in buffers
// (the server package's Options.MemoryBound for the default connection cap) plus the
// decode budget (fingerprint.DefaultDecodeMemory).
func floodBoundMB(idleKiB int64) int {
	buffers := mmserver.Options{}.MemoryBound(mmserver.DefaultMaxConnections)
	return int(idleKiB>>10 + (buffers+fingerprint.DefaultDecodeMemory)>>20)
}
