package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
)

// BenchmarkMatchViewsCost measures, in one process, what the views and the
// default rotated and mirrored variants cost an index of image items
// against what the same items cost without them (issue 13's bounds: a
// default match at most 2x the p99 of before, at most 16 KB of memory per
// image item):
//
//   - before: MEDIAMATCH_BENCH_N items (default 1,000,000; skipped under
//     -short) hashed as before views: PDQ, pHash and dHash of the whole
//     frame; queries as the service sent them: one PDQ, upright.
//   - after: the same number of items, each also carrying
//     MEDIAMATCH_BENCH_VIEWS PDQ views (default 12: the trimmed picture
//     and regions); queries as the service sends them now: the whole
//     PDQ, its 7 rotated and mirrored variants, and MEDIAMATCH_BENCH_QVIEWS
//     views (default 6); and MEDIAMATCH_BENCH_FEATURES local features
//     (default 256) on both sides, searched by default.
//
// Hashes are random: the search cost depends on the number of probes and
// entries, not on how the hashes were made (index may not import
// fingerprint). Half the queries are near copies (0..20 bits from a
// stored item's whole frame; after, half of those hit one of its views
// instead, and view-hit-recall is the share of those found: the views are
// searched approximately), half unrelated. The two modes alternate query by query. It
// reports p50 and p99 latency per mode and their ratios (after-p90-us,
// and after-crop-p50-us for the queries only local features find, which
// verify a candidate), the thread CPU time per match (mean, p50, p99:
// other processes on a shared machine do not inflate it), the heap bytes
// per item of each index (after a GC, over the empty index) and the
// bytes each item writes to the store (keys and values, before Badger's
// compression and compaction).
//
//	nice go test -run '^$' -bench BenchmarkMatchViewsCost -benchtime 1x -timeout 60m ./index/
//	MEDIAMATCH_BENCH_N=100000 nice go test -run '^$' -bench BenchmarkMatchViewsCost -benchtime 1x ./index/
func BenchmarkMatchViewsCost(b *testing.B) {
	n := benchSignals(b)
	views := benchEnv(b, "MEDIAMATCH_BENCH_VIEWS", 12)
	qviews := benchEnv(b, "MEDIAMATCH_BENCH_QVIEWS", 6)
	nfeat := min(benchEnv(b, "MEDIAMATCH_BENCH_FEATURES", 256), mediamatch.MaxFeaturesPerKeyframe)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(17, 17))

	view := func(i int) mediamatch.View {
		// Distinct valid regions; what they are does not change the cost.
		return mediamatch.View{Region: mediamatch.Region{X0: i, Y0: 0, X1: 1000, Y1: 1000 - i}, Trimmed: i%2 == 0}
	}
	pdqV := func(h []byte, v mediamatch.View) mediamatch.Signal { s := pdq(h); s.View = v; return s }

	heapNow := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	type bank struct {
		ix         *Index
		whole      [][]byte   // item i's whole-frame PDQ
		viewHashes [][][]byte // item i's view hashes (after only)
		heap       uint64     // bytes per item
		store      float64    // bytes written per item
	}
	load := func(withViews bool) *bank {
		// The hashes are made first, so that the heap measured is the
		// index's alone.
		bk := &bank{whole: make([][]byte, n)}
		if withViews {
			bk.viewHashes = make([][][]byte, n)
		}
		for i := range n {
			bk.whole[i] = h256(r)
			if withViews {
				for range views {
					bk.viewHashes[i] = append(bk.viewHashes[i], h256(r))
				}
			}
		}
		ix := openTest(b, "", Options{})
		mustBank(b, ix, "bench")
		bk.ix = ix
		base := heapNow() // the empty index's own buffers are not per item
		var stored int64
		batch := 2000
		if withViews && nfeat > 0 {
			batch = 100 // a Badger transaction holds some MB
		}
		start := time.Now()
		for lo := 0; lo < n; lo += batch {
			var items []mediamatch.Item
			for i := lo; i < min(lo+batch, n); i++ {
				h := bk.whole[i]
				sigs := []mediamatch.Signal{pdq(h), phash(h[:8]), dhash(h[8:16])}
				if withViews {
					for k, x := range bk.viewHashes[i] {
						sigs = append(sigs, pdqV(x, view(k)))
					}
				}
				it := mediamatch.Item{Bank: "bench", ID: fmt.Sprintf("item-%08d", i), Media: still(sigs...)}
				if withViews {
					it.Media.Keyframes[0].Features = itemFeatures(i, nfeat)
				}
				it.Media.FileSignals = []mediamatch.Signal{md5sig(h[16:32]), {Type: mediamatch.SHA256, Hash: h}}
				a := newItemAdd(0, 1, it, time.Now())
				stored += int64(len(a.media) + len(encodeItem(a.rec)) + 2*(9+len(a.id)))
				for _, e := range a.sigs {
					stored += int64(len(e.key(0)) + len(e.value()))
				}
				items = append(items, it)
			}
			if err := ix.addItems(ctx, "bench", items); err != nil {
				b.Fatal(err)
			}
		}
		// As the service is once the adds stop, both indexes: the
		// searchers and the key index of local features seal their
		// tails and merge their segments into one after 2 s without
		// writes (hamming's idleCompact), which mem.wait then waits for.
		time.Sleep(3 * time.Second)
		ix.mem.wait()
		now := heapNow()
		bk.heap = (now - min(now, base)) / uint64(n)
		bk.store = float64(stored) / float64(n)
		b.Logf("loaded %d items (views %v) in %v: %d heap bytes an item, %.0f store bytes", n, withViews, time.Since(start), bk.heap, bk.store)
		return bk
	}
	before := load(false)
	after := load(true)

	type query struct {
		plain, full mediamatch.Media
		want        string
		viaView     bool // after, the item is near only through a view: found by an approximate search
		viaLocal    bool // after, the item is near only through its local features
	}
	queries := make([]query, 1000)
	for i := range queries {
		var q query
		whole := []byte(nil)
		var hitView []byte
		if i%2 == 0 {
			j := r.IntN(n)
			q.want = fmt.Sprintf("item-%08d", j)
			q.plain = still(pdq(flip(r, before.whole[j], r.IntN(21))))
			switch {
			case i%8 == 2 && nfeat > 0: // a crop: only local features meet
				q.viaLocal = true
			case i%4 == 0 && views > 0 && qviews > 0: // one of the query's views meets one of the item's
				hitView = flip(r, after.viewHashes[j][r.IntN(views)], r.IntN(21))
				q.viaView = true
			default:
				whole = flip(r, after.whole[j], r.IntN(21))
			}
		} else {
			q.plain = still(pdq(h256(r)))
		}
		if whole == nil {
			whole = h256(r)
		}
		full := []mediamatch.Signal{pdq(whole)}
		for t := mediamatch.TransformNone + 1; t <= mediamatch.FlipMinus1; t++ {
			full = append(full, pdqT(h256(r), t))
		}
		for v := range qviews {
			vh := h256(r)
			if v == 0 && hitView != nil {
				vh = hitView
			}
			full = append(full, pdqV(vh, view(v)))
		}
		q.full = still(full...)
		q.full.Width, q.full.Height = 1000, 750
		if q.viaLocal {
			j := 0
			fmt.Sscanf(q.want, "item-%d", &j)
			q.full.Keyframes[0].Features = cropFeatures(r, itemFeatures(j, nfeat), nfeat)
		} else {
			q.full.Keyframes[0].Features = benchFeatures(r, nfeat)
		}
		queries[i] = q
	}
	// A near copy found through its primary (whole-frame) signal must be
	// found: that search is exact. One found only through a view may be
	// missed beyond the approximate search's guarantee (about 11 bits);
	// those are counted.
	var viewQueries, viewMissed, localQueries, localMissed int
	// The CPU time of each match is the thread's (Match runs on the
	// calling goroutine, locked to its thread below), apart from what
	// else the machine and the process (Badger's compactions) run.
	var oldCPU, curCPU time.Duration
	var oldCPUs, curCPUs []time.Duration // per match
	match := func(ix *Index, m mediamatch.Media, upright bool, want string, viaView, viaLocal bool) time.Duration {
		c0 := mmtest.ThreadCPU()
		t0 := time.Now()
		ms, err := ix.Match(ctx, Query{Media: m, Upright: upright})
		d := time.Since(t0)
		if c := mmtest.ThreadCPU() - c0; ix == before.ix {
			oldCPU += c
			oldCPUs = append(oldCPUs, c)
		} else {
			curCPU += c
			curCPUs = append(curCPUs, c)
		}
		if err != nil {
			b.Fatalf("Match = %v", err)
		}
		found := len(ms) > 0 && ms[0].ItemID == want
		switch {
		case viaLocal:
			localQueries++
			if !found {
				localMissed++
			}
		case viaView:
			viewQueries++
			if !found {
				viewMissed++
			}
		case want != "" && !found:
			b.Fatalf("Match of a near copy of %s = %+v, want it first", want, ms)
		}
		if want == "" && len(ms) != 0 {
			b.Fatalf("Match of an unrelated hash = %d matches, want none", len(ms))
		}
		return d
	}
	for _, q := range queries { // warm up
		match(before.ix, q.plain, true, q.want, false, false)
		match(after.ix, q.full, false, q.want, q.viaView, q.viaLocal)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	oldCPU, curCPU, oldCPUs, curCPUs = 0, 0, nil, nil
	var old, cur, crops []time.Duration // crops: after, of the queries found by local features only
	for b.Loop() {
		for i, q := range queries {
			if i%2 == 0 {
				old = append(old, match(before.ix, q.plain, true, q.want, false, false))
				cur = append(cur, match(after.ix, q.full, false, q.want, q.viaView, q.viaLocal))
				if q.viaLocal {
					crops = append(crops, cur[len(cur)-1])
				}
			} else {
				cur = append(cur, match(after.ix, q.full, false, q.want, q.viaView, q.viaLocal))
				if q.viaLocal {
					crops = append(crops, cur[len(cur)-1])
				}
				old = append(old, match(before.ix, q.plain, true, q.want, false, false))
			}
		}
	}
	o50, o99 := quantile(old, 0.5), quantile(old, 0.99)
	c50, c99 := quantile(cur, 0.5), quantile(cur, 0.99)
	b.ReportMetric(float64(n), "items")
	b.ReportMetric(float64(o50)/1e3, "before-p50-us")
	b.ReportMetric(float64(o99)/1e3, "before-p99-us")
	b.ReportMetric(float64(c50)/1e3, "after-p50-us")
	b.ReportMetric(float64(c99)/1e3, "after-p99-us")
	b.ReportMetric(float64(c50)/float64(o50), "p50-ratio")
	b.ReportMetric(float64(quantile(cur, 0.9))/1e3, "after-p90-us")
	if len(crops) > 0 {
		// The queries that verify a candidate: a share of the tail.
		b.ReportMetric(float64(quantile(crops, 0.5))/1e3, "after-crop-p50-us")
	}
	b.ReportMetric(float64(oldCPU)/float64(len(old))/1e3, "before-cpu-us/match")
	b.ReportMetric(float64(curCPU)/float64(len(cur))/1e3, "after-cpu-us/match")
	b.ReportMetric(float64(curCPU)/float64(max(1, oldCPU)), "cpu-ratio")
	// The mean takes in what the garbage collector makes a match do
	// (assists, over a heap of gigabytes); the quantiles show a typical
	// match and the tail of its own work.
	b.ReportMetric(float64(quantile(oldCPUs, 0.5))/1e3, "before-cpu-p50-us")
	b.ReportMetric(float64(quantile(curCPUs, 0.5))/1e3, "after-cpu-p50-us")
	b.ReportMetric(float64(quantile(oldCPUs, 0.99))/1e3, "before-cpu-p99-us")
	b.ReportMetric(float64(quantile(curCPUs, 0.99))/1e3, "after-cpu-p99-us")
	b.ReportMetric(float64(c99)/float64(o99), "p99-ratio")
	b.ReportMetric(float64(before.heap), "before-heap-bytes/item")
	b.ReportMetric(float64(after.heap), "after-heap-bytes/item")
	b.ReportMetric(before.store, "before-store-bytes/item")
	if viewQueries > 0 {
		b.ReportMetric(1-float64(viewMissed)/float64(viewQueries), "view-hit-recall")
	}
	if localQueries > 0 {
		b.ReportMetric(1-float64(localMissed)/float64(localQueries), "local-hit-recall")
	}
	b.ReportMetric(after.store, "after-store-bytes/item")
	runtime.KeepAlive(before)
	runtime.KeepAlive(after)
}

// itemFeatures returns the n local features of bench item i, made again
// from its number each time rather than held, so that the benchmark's own
// memory does not limit the index it can build.
func itemFeatures(i, n int) []mediamatch.Feature {
	return benchFeatures(rand.New(rand.NewPCG(0x66656174, uint64(i))), n)
}

// benchFeatures returns n random local features of a 4:3 frame. Real
// descriptors are less uniform (textures and edges repeat), which
// localMaxPostings and the weighed votes bound.
func benchFeatures(r *rand.Rand, n int) []mediamatch.Feature { return randFeatures(r, n, 4, 3) }

// cropFeatures returns n features of a copy of an item whose features
// are item, cropped and rescaled: the features of the part kept (the
// left 80%), moved and scaled as the crop moves them, with their
// descriptors a few bits off, and new ones in the rest.
func cropFeatures(r *rand.Rand, item []mediamatch.Feature, n int) []mediamatch.Feature {
	var fs []mediamatch.Feature
	for _, f := range item {
		if int(f.X) >= mediamatch.FeatureUnit*8/10 || r.IntN(3) == 0 {
			continue // cut away, or not found again
		}
		g := f
		g.X, g.Y = uint16(int(f.X)*10/8), uint16(int(f.Y)*10/8)
		for range r.IntN(25) {
			p := r.IntN(256)
			g.Desc[p/8] ^= 1 << (p % 8)
		}
		fs = append(fs, g)
	}
	return append(fs, benchFeatures(r, max(0, n-len(fs)))...)
}

// benchEnv returns the positive integer in the environment variable name,
// or def.
func benchEnv(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		b.Fatalf("%s=%q, want a non-negative integer", name, s)
	}
	return v
}
