package index

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// importBenchItems is MEDIAMATCH_BENCH_IMPORT (default 100,000): the lines
// of the generated PDQ list. The target figure is for 1,000,000:
//
//	MEDIAMATCH_BENCH_IMPORT=1000000 go test -run '^$' -bench 'BenchmarkImport$' -benchtime 1x -timeout 60m ./index/
func importBenchItems(b *testing.B) int {
	if testing.Short() {
		b.Skip("large benchmark; not under -short")
	}
	n := 100_000
	if s := os.Getenv("MEDIAMATCH_BENCH_IMPORT"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("MEDIAMATCH_BENCH_IMPORT=%q, want a positive integer", s)
		}
		n = v
	}
	return n
}

// partnerItem is line i of a generated partner PDQ list: a random PDQ
// hash of quality 90, two labels and a source, as a te-csv line carries.
func partnerItem(r *rand.Rand, i int) mediamatch.Item {
	h := make([]byte, 32)
	for j := 0; j < 32; j += 8 {
		binary.BigEndian.PutUint64(h[j:], r.Uint64())
	}
	return mediamatch.Item{
		ID:     fmt.Sprintf("te-%09d", i),
		Labels: map[string]string{"category": "terrorism", "collab": "gifct"},
		Media:  still(pdqQ(h, 90)),
		Source: &mediamatch.Source{Format: "te-csv", Partner: "gifct", UpstreamID: strconv.Itoa(i), Tags: []string{"terrorism"}},
	}
}

// heapPeak samples the live heap (as marked by the latest GC, which is
// what the import retains, not garbage awaiting collection) until stopped,
// and returns the peak.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			peak.Store(max(peak.Load(), liveHeap()))
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// settledHeap returns the live heap once it has stopped falling for 5 s
// (at most a minute). Right after a long write Badger still holds
// memtables waiting to be flushed and table builders' buffers in its pool,
// which it frees one every 2 s once no table is being built; counting them
// as kept would hide them from the transient.
func settledHeap() uint64 {
	runtime.GC()
	low, lowAt := liveHeap(), time.Now()
	for deadline := time.Now().Add(time.Minute); time.Since(lowAt) < 5*time.Second && time.Now().Before(deadline); {
		time.Sleep(time.Second)
		runtime.GC()
		if h := liveHeap(); h+1<<20 < low {
			low, lowAt = h, time.Now()
		}
	}
	return low
}

// liveHeap returns the heap bytes the latest GC found live.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// BenchmarkImport imports a generated PDQ list (each line an item with one
// PDQ, labels and a source) into an empty bank, and, in the same process,
// writes the same keys and values as the import leaves in the store with a
// bare Badger WriteBatch into an empty store. It reports
// rate-vs-writebatch (import lines/s over WriteBatch lines/s; the target
// is at least 0.5), lines/s, and the live heap (what GC finds reachable):
// peak-live-MB during the import (and the background deletion of its
// staging keys), final-live-MB once it is done and the store has settled
// (the index's own growth), and transient-MB, the difference: what the
// import holds while it runs, which must not grow with the list.
// writebatch-peak-live-MB is the peak during the WriteBatch: Badger's own
// share of the transient for the same writes (memtables, table builders,
// block cache), which depends on the store's options, not on the import.
func BenchmarkImport(b *testing.B) {
	n := importBenchItems(b)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		r := rand.New(rand.NewPCG(5, 5))
		// Baseline: the same records' keys and values, one WriteBatch,
		// its heap sampled as the import's is.
		st, err := openStore(b.TempDir(), slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now().UTC()
		runtime.GC()
		stopRaw := heapPeak()
		start := time.Now()
		wb := st.newBatch()
		for i := range n {
			a := newItemAdd(uint64(i+1), 1, partnerItem(r, i), now)
			if err := writeBatchItem(wb, a); err != nil {
				b.Fatal(err)
			}
		}
		if err := wb.flush(); err != nil {
			b.Fatal(err)
		}
		raw := time.Since(start)
		rawPeak := stopRaw()
		st.close()

		ix := openTest(b, "", Options{})
		mustBank(b, ix, "list")
		runtime.GC()
		stop := heapPeak()
		r = rand.New(rand.NewPCG(5, 5))
		b.StartTimer()
		start = time.Now()
		im, err := ix.BeginImport(ctx, "list")
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			if err := im.Add(ctx, ImportRecord{Item: partnerItem(r, i)}); err != nil {
				b.Fatal(err)
			}
		}
		stats, err := im.Commit(ctx)
		took := time.Since(start)
		b.StopTimer()
		// The peak covers the deletion of the staging keys too, which
		// Commit leaves to the background.
		ix.cleaning.Wait()
		peak := stop()
		if err != nil || stats.Added != int64(n) {
			b.Fatalf("Commit = %+v, %v; want %d added", stats, err, n)
		}
		ix.mem.wait()
		after := settledHeap()
		b.ReportMetric(raw.Seconds()/took.Seconds(), "rate-vs-writebatch")
		b.ReportMetric(float64(n)/took.Seconds(), "lines/s")
		b.ReportMetric(float64(n)/raw.Seconds(), "writebatch-lines/s")
		b.ReportMetric(float64(peak)/(1<<20), "peak-live-MB")
		b.ReportMetric(float64(after)/(1<<20), "final-live-MB")
		b.ReportMetric(float64(peak-min(peak, after))/(1<<20), "transient-MB")
		b.ReportMetric(float64(rawPeak)/(1<<20), "writebatch-peak-live-MB")
		ix.Close()
		b.StartTimer()
	}
}

// writeBatchItem queues every key of an item, as the import leaves them.
func writeBatchItem(wb *batch, a *itemAdd) error {
	if err := wb.set(itemIDKey(a.bank, a.id), refValue(a.ref)); err != nil {
		return err
	}
	if err := wb.set(metaKey(a.ref), encodeItem(a.rec)); err != nil {
		return err
	}
	if err := wb.set(mediaKey(a.ref), a.media); err != nil {
		return err
	}
	for _, e := range a.sigs {
		if err := wb.set(signalKey(e.typ, a.ref, e.frame, e.hash), nil); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkImportWhileMatching serves matches against a bank of
// MEDIAMATCH_BENCH_IMPORT/2 items, first idle and then while an import of
// MEDIAMATCH_BENCH_IMPORT lines runs into another bank, and reports the
// p99 match latency of both and their ratio (the target: p99-vs-idle at
// most 2).
func BenchmarkImportWhileMatching(b *testing.B) {
	n := importBenchItems(b)
	ctx := context.Background()
	ix := openTest(b, "", Options{})
	mustBank(b, ix, "served")
	mustBank(b, ix, "list")
	r := rand.New(rand.NewPCG(6, 6))
	var stored [][]byte
	im, err := ix.BeginImport(ctx, "served")
	if err != nil {
		b.Fatal(err)
	}
	for i := range n / 2 {
		it := partnerItem(r, i)
		stored = append(stored, it.Media.Keyframes[0].Signals[0].Hash)
		if err := im.Add(ctx, ImportRecord{Item: it}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := im.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	ix.mem.wait()
	queries := make([]Query, 512)
	for i := range queries {
		queries[i] = Query{Media: still(pdqQ(flip(r, stored[r.IntN(len(stored))], r.IntN(20)), 90))}
	}
	measure := func(until func() bool) []time.Duration {
		var lat []time.Duration
		for i := 0; !until() || len(lat) < 200; i++ {
			start := time.Now()
			ms, err := ix.Match(ctx, queries[i%len(queries)])
			lat = append(lat, time.Since(start))
			if err != nil || len(ms) == 0 {
				b.Fatalf("Match = %d matches, %v; want one", len(ms), err)
			}
		}
		return lat
	}
	for b.Loop() {
		idleEnd := time.Now().Add(3 * time.Second)
		idle := measure(func() bool { return time.Now().After(idleEnd) })
		var done atomic.Bool
		var stats mediamatch.ImportStats
		var ierr error
		go func() {
			defer done.Store(true)
			r := rand.New(rand.NewPCG(7, 7))
			im, err := ix.BeginImport(ctx, "list")
			if err != nil {
				ierr = err
				return
			}
			for i := range n {
				if err := im.Add(ctx, ImportRecord{Item: partnerItem(r, n+i)}); err != nil {
					ierr = err
					return
				}
			}
			stats, ierr = im.Commit(ctx)
		}()
		busy := measure(done.Load)
		if ierr != nil || stats.Added != int64(n) {
			b.Fatalf("import = %+v, %v", stats, ierr)
		}
		pi, pb := quantile(idle, 0.99), quantile(busy, 0.99)
		b.ReportMetric(float64(pi.Nanoseconds()), "idle-p99-ns")
		b.ReportMetric(float64(pb.Nanoseconds()), "import-p99-ns")
		b.ReportMetric(float64(pb)/float64(pi), "p99-vs-idle")
		b.ReportMetric(float64(len(busy)), "matches-during-import")
		// Next round imports into a fresh bank.
		if err := ix.DeleteBank(ctx, "list"); err != nil {
			b.Fatal(err)
		}
		mustBank(b, ix, "list")
	}
}

// quantile returns the q-quantile of ds, sorting ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(q*float64(len(ds))))]
}
