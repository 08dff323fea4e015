package index

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/fingerprint"
)

// BenchmarkMatch measures Match of an image query (one pHash) against 100k
// stored 64-bit signals (100k images, one pHash each) at the default
// threshold, and reports speedup-vs-naive: the time of a plain loop calling
// fingerprint.Distance over the same hashes, run in the same process,
// divided by the time of Match.
//
//	go test -run '^$' -bench BenchmarkMatch -benchtime 2000x ./index/
func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{100_000} {
		b.Run(fmt.Sprintf("signals=%d", n), func(b *testing.B) { benchmarkMatch(b, n) })
	}
}

func benchmarkMatch(b *testing.B, n int) {
	ctx := context.Background()
	ix := openTest(b, "", Options{})
	mustBank(b, ix, "bench")
	r := rand.New(rand.NewPCG(1, 1))
	hashes := make([][]byte, n)
	const batch = 2000
	start := time.Now()
	for lo := 0; lo < n; lo += batch {
		var items []Item
		for i := lo; i < min(lo+batch, n); i++ {
			hashes[i] = h64(r.Uint64())
			items = append(items, Item{Bank: "bench", ID: fmt.Sprintf("item-%07d", i), Media: still(phash(hashes[i]))})
		}
		if err := ix.addItems(ctx, "bench", items); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("loaded %d items in %v", n, time.Since(start))

	// Queries: near copies of stored hashes, so every query has a match.
	queries := make([]Query, 256)
	qhashes := make([][]byte, len(queries))
	for i := range queries {
		qhashes[i] = flip(r, hashes[r.IntN(n)], r.IntN(6))
		queries[i] = Query{Media: still(phash(qhashes[i])), Signals: phashOnly()}
	}
	radius := fingerprint.PHash.DefaultThreshold()

	// Baseline: a plain loop over fingerprint.Distance. Rounds of the
	// baseline and of Match alternate, and the ratio is of the median
	// rounds, so load from other processes hits both alike.
	var sink int
	naiveRound := func() {
		for _, q := range qhashes[:32] {
			for _, h := range hashes {
				if fingerprint.Distance(q, h) <= radius {
					sink++
				}
			}
		}
	}
	matchRound := func() {
		for _, q := range queries[:32] {
			if ms, err := ix.Match(ctx, q); err != nil || len(ms) == 0 {
				b.Fatalf("Match = %v, %v; want a match", ms, err)
			}
		}
	}
	var naiveT, matchT []time.Duration
	for range 15 {
		t0 := time.Now()
		naiveRound()
		t1 := time.Now()
		matchRound()
		naiveT = append(naiveT, t1.Sub(t0))
		matchT = append(matchT, time.Since(t1))
	}
	slices.Sort(naiveT)
	slices.Sort(matchT)
	naive := naiveT[len(naiveT)/2] / 32
	speedup := float64(naiveT[len(naiveT)/2]) / float64(matchT[len(matchT)/2])

	matched := 0
	b.ResetTimer()
	i := 0
	for b.Loop() {
		ms, err := ix.Match(ctx, queries[i%len(queries)])
		if err != nil {
			b.Fatal(err)
		}
		matched += len(ms)
		i++
	}
	if matched < b.N {
		b.Fatalf("%d matches in %d queries, want at least one each", matched, b.N)
	}
	b.ReportMetric(float64(naive.Nanoseconds()), "naive-ns/op")
	b.ReportMetric(speedup, "speedup-vs-naive")
	_ = sink
}

// BenchmarkOpen measures start-up with 100k items (200k signals) in the
// store and reports it against a bare key-only scan of the same signal
// keys (open-vs-keyscan), the figure issue 4 bounds.
func BenchmarkOpen(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	ix, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	mustBank(b, ix, "bench")
	r := rand.New(rand.NewPCG(2, 2))
	const n, batch = 100_000, 2000
	for lo := 0; lo < n; lo += batch {
		var items []Item
		for i := lo; i < lo+batch; i++ {
			items = append(items, Item{Bank: "bench", ID: fmt.Sprintf("item-%07d", i),
				Media: still(phash(h64(r.Uint64())), dhash(h64(r.Uint64())))})
		}
		if err := ix.addItems(ctx, "bench", items); err != nil {
			b.Fatal(err)
		}
	}
	if err := ix.Close(); err != nil {
		b.Fatal(err)
	}
	// Baseline: a key-only scan of the signal keys of a freshly opened
	// store, nothing built; the best of three.
	scan := time.Duration(1 << 62)
	for range 3 {
		st, err := openStore(dir, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		keys := 0
		start := time.Now()
		err = st.view(func(tx *readTx) error {
			return tx.scan([]byte{keySignal}, nil, true, func(_, _ []byte) (bool, error) { keys++; return true, nil })
		})
		scan = min(scan, time.Since(start))
		st.close()
		if err != nil || keys != 2*n {
			b.Fatalf("scan: %d signal keys, %v; want %d", keys, err, 2*n)
		}
	}

	b.ResetTimer()
	for b.Loop() {
		ix, err := Open(dir, Options{noPurge: true})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if got := ix.mem.state().entries(fingerprint.PHash); got != n {
			b.Fatalf("%d pHash entries after Open, want %d", got, n)
		}
		ix.Close()
		b.StartTimer()
	}
	perOp := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(scan.Nanoseconds()), "keyscan-ns")
	b.ReportMetric(float64(perOp)/float64(scan), "open-vs-keyscan")
}
