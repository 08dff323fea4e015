package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/index"
)

// benchItems is the size of the index that BenchmarkMatchSignals searches;
// MEDIAMATCH_BENCH_ITEMS overrides it (e.g. for a quick run).
func benchItems(b *testing.B) int {
	if s := os.Getenv("MEDIAMATCH_BENCH_ITEMS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("MEDIAMATCH_BENCH_ITEMS=%q: want a positive integer", s)
		}
		return n
	}
	return 100_000
}

// randomImage returns an image fingerprint with random pHash and dHash, as
// the index would hold for an unrelated photo.
func randomImage(r *rand.Rand) mediamatch.Media {
	h := func() []byte { return binary.BigEndian.AppendUint64(nil, r.Uint64()) }
	return mediamatch.Media{Kind: mediamatch.KindImage, Format: "jpeg", Width: 640, Height: 480,
		Keyframes: []mediamatch.Keyframe{{Signals: []mediamatch.Signal{
			{Type: mediamatch.PHash, Hash: h()}, {Type: mediamatch.DHash, Hash: h()}}}}}
}

// BenchmarkMatchSignals measures a MatchSignals round trip over a real
// gRPC connection on loopback TCP, against an index of 100k image items,
// and compares it with index.Match called in process on the same query:
// overhead-ratio is round-trip time / in-process time (1.0 would mean the
// server and the network cost nothing). Loading the items (one synced write
// each) takes a minute or two and is done once, outside the timing.
func BenchmarkMatchSignals(b *testing.B) {
	n := benchItems(b)
	e := newEnvOn(b, Options{}, true)
	ctx := context.Background()
	if _, err := e.ix.CreateBank(ctx, mediamatch.Bank{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Now()
	for i := range n - 1 {
		if _, err := e.ix.AddItem(ctx, mediamatch.Item{Bank: "bench", ID: fmt.Sprintf("item-%07d", i),
			Media: randomImage(r)}); err != nil {
			b.Fatal(err)
		}
	}
	// The query is a near copy (3 bits off) of one stored item's hashes.
	target := randomImage(r)
	if _, err := e.ix.AddItem(ctx, mediamatch.Item{Bank: "bench", ID: "target", Media: target}); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d items in %v", n, time.Since(start).Round(time.Millisecond))
	query := randomImage(r)
	for i, s := range target.Keyframes[0].Signals {
		h := append([]byte(nil), s.Hash...)
		h[0] ^= 0b111
		query.Keyframes[0].Signals[i].Hash = h
	}
	req := &pb.MatchSignalsRequest{Media: pb.MediaToProto(query)}
	q := index.Query{Media: query}

	resp, err := e.match.MatchSignals(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	if len(resp.GetMatches()) == 0 || resp.GetMatches()[0].GetItemId() != "target" {
		b.Fatalf("MatchSignals = %v, want the target first", matchIDs(resp.GetMatches()))
	}

	b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
		for b.Loop() {
			if _, err := e.match.MatchSignals(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
		rpc := b.Elapsed() / time.Duration(b.N)

		// The baseline, the same number of times, outside the timer.
		t0 := time.Now()
		for range b.N {
			if _, err := e.ix.Match(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
		local := time.Since(t0) / time.Duration(b.N)
		b.ReportMetric(float64(local.Nanoseconds()), "inprocess-ns/op")
		b.ReportMetric(float64((rpc - local).Nanoseconds()), "grpc-extra-ns/op")
		b.ReportMetric(float64(rpc)/float64(local), "overhead-ratio")
	})
}
