package server

import (
	"encoding/hex"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

// BenchmarkMetricsCost measures what metrics cost a match: two real
// servers (Run, Badger in temp dirs) hold the same bank of
// MEDIAMATCH_BENCH_ITEMS PDQ items (default 20,000), one with
// --metrics-listen and one without; MatchSignals calls alternate between
// them over loopback, and it reports each side's p50 and p99 and
// p99-ratio (on/off; issue 14's bound: at most 1.05).
//
//	nice go test -run '^$' -bench BenchmarkMetricsCost -benchtime 2000x ./server/
func BenchmarkMetricsCost(b *testing.B) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("MEDIAMATCH_BENCH_ITEMS")); err == nil && v > 0 {
		n = v
	}
	hashes := pdqHex(b, n)
	list := pdqList(hashes)
	start := func(metrics bool) (pb.MatchServiceClient, func()) {
		cfg := Config{DataDir: b.TempDir(), FFmpeg: ffmpegPath(), RateLimit: -1}
		if metrics {
			cfg.MetricsListen = "127.0.0.1:0"
		}
		r := startOps(b, cfg)
		if _, err := pb.NewBankServiceClient(r.conn).CreateBank(b.Context(), &pb.CreateBankRequest{Bank: &pb.Bank{Name: "bench"}}); err != nil {
			b.Fatal(err)
		}
		if _, err := importList(b.Context(), pb.NewBankServiceClient(r.conn), &pb.ImportSignalsRequest{Bank: "bench", Format: "pdq"}, list, 1<<20); err != nil {
			b.Fatal(err)
		}
		return pb.NewMatchServiceClient(r.conn), func() { r.conn.Close(); r.stop() }
	}
	on, stopOn := start(true)
	defer stopOn()
	off, stopOff := start(false)
	defer stopOff()

	query := func(i int) *pb.MatchSignalsRequest {
		h, _ := hex.DecodeString(hashes[i%len(hashes)])
		h[0] ^= 0x0f // 4 bits off: a near copy
		return &pb.MatchSignalsRequest{Media: &pb.Media{Kind: pb.MediaKind_MEDIA_KIND_IMAGE,
			Keyframes: []*pb.Keyframe{{Signals: []*pb.Signal{{Type: pb.SignalType_SIGNAL_TYPE_PDQ, Hash: h, Quality: 100}}}}}}
	}
	var tOn, tOff []time.Duration
	call := func(c pb.MatchServiceClient, i int, into *[]time.Duration) {
		t0 := time.Now()
		resp, err := c.MatchSignals(b.Context(), query(i))
		*into = append(*into, time.Since(t0))
		if err != nil || len(resp.GetMatches()) == 0 {
			b.Fatalf("MatchSignals = %v, %v; want a match", resp, err)
		}
	}
	for i := range 200 { // warm both up
		call(on, i, new([]time.Duration))
		call(off, i, new([]time.Duration))
	}
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 { // alternate which goes first
			call(on, i, &tOn)
			call(off, i, &tOff)
		} else {
			call(off, i, &tOff)
			call(on, i, &tOn)
		}
	}
	b.StopTimer()
	pct := func(d []time.Duration, p float64) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[min(len(s)-1, int(float64(len(s))*p))]
	}
	b.ReportMetric(float64(pct(tOn, .5).Microseconds()), "on-p50-µs")
	b.ReportMetric(float64(pct(tOff, .5).Microseconds()), "off-p50-µs")
	b.ReportMetric(float64(pct(tOn, .99).Microseconds()), "on-p99-µs")
	b.ReportMetric(float64(pct(tOff, .99).Microseconds()), "off-p99-µs")
	b.ReportMetric(float64(pct(tOn, .99))/float64(pct(tOff, .99)), "p99-ratio")
	b.ReportMetric(float64(pct(tOn, .5))/float64(pct(tOff, .5)), "p50-ratio")
}
