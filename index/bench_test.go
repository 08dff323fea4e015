package index

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/index/hamming"
)

// benchSignals returns MEDIAMATCH_BENCH_N (default 1,000,000), the number
// of signals of the large benchmarks, and skips them under -short.
func benchSignals(b *testing.B) int {
	if testing.Short() {
		b.Skip("large benchmark; not under -short")
	}
	n := 1_000_000
	if s := os.Getenv("MEDIAMATCH_BENCH_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("MEDIAMATCH_BENCH_N=%q, want a positive integer", s)
		}
		n = v
	}
	return n
}

// BenchmarkMatch measures Match of an image query (one pHash) against 100k
// stored 64-bit signals (100k images, one pHash each) at the default
// threshold, and reports speedup-vs-naive: the time of a plain loop calling
// mediamatch.Distance over the same hashes, run in the same process,
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
	r := rand.New(rand.NewPCG(1, 1))
	ix, hashes := loadBench(b, n, func() mediamatch.Signal { return phash(h64(r.Uint64())) })

	// Queries: near copies of stored hashes, so every query has a match.
	queries := make([]Query, 256)
	qhashes := make([][]byte, len(queries))
	for i := range queries {
		qhashes[i] = flip(r, hashes[r.IntN(n)], r.IntN(6))
		queries[i] = Query{Media: still(phash(qhashes[i])), Signals: phashOnly()}
	}
	radius := mediamatch.PHash.DefaultThreshold()

	// Baseline: a plain loop over mediamatch.Distance. Rounds of the
	// baseline and of Match alternate, and the ratio is of the median
	// rounds, so load from other processes hits both alike.
	var sink int
	naiveRound := func() {
		for _, q := range qhashes[:32] {
			for _, h := range hashes {
				if mediamatch.Distance(q, h) <= radius {
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

// BenchmarkOpen measures start-up from a store of PDQ-hashed images (one
// 256-bit PDQ signal and one pHash each; MEDIAMATCH_BENCH_N items, default
// 100,000) against its baseline, measured in the same process: a bare
// key-only Badger iteration over the same signal keys plus building the
// searchers from arrays of the same signals (open-vs-baseline; the
// target is at most 2). It also reports the heap that Open leaves allocated, per
// signal (heap-bytes/signal: searchers, item metadata and Badger's own
// caches) and the heap of the searchers alone built from the arrays
// (index-bytes/signal).
//
//	MEDIAMATCH_BENCH_N=5000000 go test -run '^$' -bench BenchmarkOpen -benchtime 2x -timeout 60m ./index/
func BenchmarkOpen(b *testing.B) {
	ctx := context.Background()
	n := 100_000
	if testing.Short() {
		b.Skip("large benchmark; not under -short")
	}
	if s := os.Getenv("MEDIAMATCH_BENCH_N"); s != "" {
		n = benchSignals(b)
	}
	// The store: one bank, its items written with a WriteBatch (the keys
	// and values AddItem writes, faster). MEDIAMATCH_BENCH_DIR keeps it
	// between runs: filled once, reused while it holds n items.
	dir := os.Getenv("MEDIAMATCH_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	ix, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if bk, err := ix.GetBank(ctx, "bench"); err != nil || bk.ItemCount != int64(n) {
		if err == nil {
			if err := ix.DeleteBank(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
		}
		mustBank(b, ix, "bench")
		bank, _ := ix.bank("bench")
		r := rand.New(rand.NewPCG(2, 2))
		start := time.Now()
		wb := ix.st.newBatch()
		now := ix.timestamp()
		for i := range n {
			p := make([]byte, 32)
			for j := 0; j < 32; j += 8 {
				binary.BigEndian.PutUint64(p[j:], r.Uint64())
			}
			it := mediamatch.Item{Bank: "bench", ID: fmt.Sprintf("item-%08d", i), Media: still(pdq(p), phash(h64(r.Uint64())))}
			if err := writeBatchItem(wb, newItemAdd(ix.nextRef, bank.ref, it, now)); err != nil {
				b.Fatal(err)
			}
			ix.nextRef++
		}
		if err := wb.flush(); err != nil {
			b.Fatal(err)
		}
		b.Logf("wrote %d items in %v", n, time.Since(start))
	}
	if err := ix.Close(); err != nil {
		b.Fatal(err)
	}

	// Baseline: a key-only scan of the signal keys of a freshly opened
	// store (the best of three), plus building the searchers from arrays
	// of the signals it read.
	scan := time.Duration(1 << 62)
	var batches signalBatches
	// The index takes over the batches' arrays: its heap is what is left
	// after the build, over what was there before they were collected.
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
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
		if err == nil && batches == nil {
			batches = make(signalBatches)
			err = st.view(func(tx *readTx) error {
				return tx.scan([]byte{keySignal}, nil, true, func(key, _ []byte) (bool, error) {
					t, ref, frame, hash, err := parseSignalKey(key)
					batches.add(searchKey{typ: t}, ref, frame, hash)
					return true, err
				})
			})
		}
		st.close()
		if err != nil || keys != 2*n {
			b.Fatalf("scan: %d signal keys, %v; want %d", keys, err, 2*n)
		}
	}
	start := time.Now()
	var built []*hamming.Searcher
	batches.build(func(k searchKey) *hamming.Searcher {
		h := newTypeSearcher(k.typ, nil)
		built = append(built, h)
		return h
	})
	for _, h := range built {
		h.Wait()
	}
	build := time.Since(start)
	batches = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	indexBytes := after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
	runtime.KeepAlive(built)
	built = nil

	var heap uint64
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		ix, err := Open(dir, Options{noPurge: true})
		if err != nil {
			b.Fatal(err)
		}
		ix.mem.wait()
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
		if got := ix.mem.state().entries(mediamatch.PDQ); got != n {
			b.Fatalf("%d PDQ entries after Open, want %d", got, n)
		}
		ix.Close()
		b.StartTimer()
	}
	perOp := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(scan.Seconds(), "keyscan-s")
	b.ReportMetric(build.Seconds(), "build-s")
	b.ReportMetric(perOp.Seconds(), "open-s")
	b.ReportMetric(float64(perOp)/float64(scan+build), "open-vs-baseline")
	b.ReportMetric(float64(heap)/float64(2*n), "heap-bytes/signal")
	b.ReportMetric(float64(indexBytes)/float64(2*n), "index-bytes/signal")
	b.ReportMetric(float64(heap)/float64(n), "heap-bytes/item")
}

// loadBench opens an index with a bank "bench" of n still images, item i
// ("item-%08d") holding the one signal that sig makes, and returns it with
// each item's hash, once the index serves them all.
func loadBench(b *testing.B, n int, sig func() mediamatch.Signal) (*Index, [][]byte) {
	ctx := context.Background()
	ix := openTest(b, "", Options{})
	mustBank(b, ix, "bench")
	hashes := make([][]byte, n)
	const batch = 2000
	start := time.Now()
	for lo := 0; lo < n; lo += batch {
		var items []mediamatch.Item
		for i := lo; i < min(lo+batch, n); i++ {
			s := sig()
			hashes[i] = s.Hash
			items = append(items, mediamatch.Item{Bank: "bench", ID: fmt.Sprintf("item-%08d", i), Media: still(s)})
		}
		if err := ix.addItems(ctx, "bench", items); err != nil {
			b.Fatal(err)
		}
	}
	ix.mem.wait()
	b.Logf("loaded %d items in %v", n, time.Since(start))
	return ix, hashes
}
