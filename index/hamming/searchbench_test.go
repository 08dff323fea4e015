package hamming

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
)

// Benchmarks of the hamming searcher at scale, against the brute-force
// scan (bruteForce.search, the reference searcher) over the same packed
// hashes, run in the same process. Each sub-benchmark reports:
//
//	scan-ns          median wall time of one brute-force scan
//	p50-ns, p99-ns   wall latency of one hamming search, over every query
//	p99-cpu-ns       99th percentile of the CPU time of one search
//	p99-vs-scan      scan-ns / p99-ns (target: >= 30 at r=10, >= 100 at r<=6, 64-bit)
//	p99-vs-scan-cpu  the same in CPU time, which other processes on a shared
//	                 machine do not inflate
//	speedup-vs-scan  median scan CPU time / mean search CPU time: the
//	                 throughput ratio per core (target: >= 50 for 256-bit
//	                 PDQ-like at r=31, >= 1 at 16 and 48)
//	recall           fraction of the scan's hits found, on sampled queries (must be 1)
//	bytes/signal     heap held by the loaded searcher, per signal
//	thp-MB           memory of the process in transparent huge pages (see
//	                 backHuge; 0 where the system gives none)
//	build-s          seconds to build it from arrays of signals (AddBatch)
//
// The number of signals is MEDIAMATCH_BENCH_N (default 1,000,000); for the
// issue's figures:
//
//	MEDIAMATCH_BENCH_N=10000000 go test -run '^$' -bench 'BenchmarkHamming(64|256)$' -benchtime 1000x -timeout 60m ./index/hamming/
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

// benchSet is a generated set of signals, packed as the searchers pack
// them, with refs 1..n and frame 0 (one still image per item).
type benchSet struct {
	words  int
	hashes []uint64
	refs   []uint64
	frames []uint32
	gen    *benchGen
}

// benchGen draws hashes. Uniform, or PDQ-like: bit positions skewed (a
// quarter set with probability 3/8, a quarter 5/8), and signals in
// families of near-duplicates (mean size 4) within a few bits of a family
// centre, as re-encodings of one image are.
type benchGen struct {
	r         *rand.Rand
	words     int
	clustered bool
	lo, hi    []uint64 // per word: positions with probability 3/8, 5/8
}

func newBenchGen(words int, clustered bool, seed uint64) *benchGen {
	g := &benchGen{r: rand.New(rand.NewPCG(seed, 0x9e3779b9)), words: words, clustered: clustered}
	for range words {
		a, c := g.r.Uint64(), g.r.Uint64()
		g.lo = append(g.lo, a&c)
		g.hi = append(g.hi, a&^c)
	}
	return g
}

// centre draws one hash from the skewed (or uniform) distribution.
func (g *benchGen) centre(out []uint64) {
	for i := range out {
		x := g.r.Uint64()
		if g.clustered {
			y, z := g.r.Uint64(), g.r.Uint64()
			x = x&^(g.lo[i]|g.hi[i]) | x&(y|z)&g.lo[i] | (x|(y&z))&g.hi[i]
		}
		out[i] = x
	}
}

// flip flips k random bits of h (some may flip back).
func (g *benchGen) flip(h []uint64, k int) {
	for range k {
		bit := g.r.IntN(64 * g.words)
		h[bit/64] ^= 1 << (63 - bit%64)
	}
}

// spread is the most bits a family member differs from its centre.
func (g *benchGen) spread() int { return 2 + 2*g.words }

func newBenchSet(words, n int, clustered bool, seed uint64) *benchSet {
	g := newBenchGen(words, clustered, seed)
	s := &benchSet{words: words, hashes: make([]uint64, n*words), refs: make([]uint64, n), frames: make([]uint32, n), gen: g}
	c := make([]uint64, words)
	left := 0
	for i := range n {
		h := s.hashes[i*words : (i+1)*words]
		s.refs[i] = uint64(i + 1)
		if !clustered {
			g.centre(h)
			continue
		}
		if left == 0 {
			g.centre(c)
			left = 1 + g.r.IntN(7)
		}
		left--
		copy(h, c)
		g.flip(h, g.r.IntN(g.spread()+1))
	}
	return s
}

// queries returns k queries for radius r: half near-duplicates of stored
// signals (within r of one), half fresh signals from the same distribution.
func (s *benchSet) queries(k, r int) [][]uint64 {
	g := s.gen
	out := make([][]uint64, k)
	n := len(s.refs)
	for i := range out {
		q := make([]uint64, s.words)
		if i%2 == 0 {
			j := g.r.IntN(n)
			copy(q, s.hashes[j*s.words:(j+1)*s.words])
			g.flip(q, g.r.IntN(r+1))
		} else {
			g.centre(q)
		}
		out[i] = q
	}
	return out
}

// baseline is the brute-force reference searcher over the set's arrays.
func (s *benchSet) baseline() *bruteForce {
	return &bruteForce{words: s.words, hashes: s.hashes, refs: s.refs, frames: s.frames}
}

// load adds every signal to a new hamming searcher, one by one if single
// (else in one AddBatch, as at start-up), waits for its merges, and
// returns it with the seconds that took and the heap it holds.
func (s *benchSet) load(b *testing.B, cfg Config, single bool) (h *Searcher, seconds float64, bytes uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	h = New(cfg)
	if single {
		for i, ref := range s.refs {
			h.Add(ref, s.frames[i], s.hashes[i*s.words:(i+1)*s.words])
		}
	} else {
		h.AddBatch(Entries{Hashes: slices.Clone(s.hashes), Refs: slices.Clone(s.refs), Frames: slices.Clone(s.frames)})
	}
	h.Wait()
	seconds = time.Since(start).Seconds()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if h.len() != len(s.refs) {
		b.Fatalf("len() = %d after loading %d signals", h.len(), len(s.refs))
	}
	return h, seconds, after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
}

// recall checks that h finds exactly what base finds for every query of
// qs, and returns the fraction of base's hits it found.
func recall(b *testing.B, h, base searcher, qs [][]uint64, r int) float64 {
	found, want := 0, 0
	for i, q := range qs {
		got, exp := collect(h, q, r), collect(base, q, r)
		want += len(exp)
		for _, x := range got {
			if _, ok := slices.BinarySearchFunc(exp, x, compareHits); ok {
				found++
			}
		}
		if !slices.Equal(got, exp) {
			b.Errorf("query %d radius %d: hamming found %d hits %v, scan %d hits %v", i, r, len(got), head(got), len(exp), head(exp))
		}
	}
	if want == 0 {
		return 1
	}
	return float64(found) / float64(want)
}

// timing is the wall and CPU time of calls.
type timing struct{ wall, cpu []time.Duration }

func (t *timing) run(f func()) {
	c0, w0 := mmtest.ThreadCPU(), time.Now()
	f()
	t.wall = append(t.wall, time.Since(w0))
	t.cpu = append(t.cpu, mmtest.ThreadCPU()-c0)
}

// quantile returns the q-quantile of ds, sorting ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(q*float64(len(ds))))]
}

func mean(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t / time.Duration(len(ds))
}

// benchRadii runs one sub-benchmark per radius over set, for a hamming
// searcher loaded with cfg. Brute-force scans are interleaved with the
// searches (one every b.N/scans searches, outside the timer), so that load
// from other processes on a shared machine weighs on both alike; both are
// timed in wall and in process CPU time.
func benchRadii(b *testing.B, set *benchSet, cfg Config, radii []int) {
	n := len(set.refs)
	h, buildSec, heap := set.load(b, cfg, false)
	base := set.baseline()
	thp := hugePagesInUse()
	b.Logf("%d signals: built in %.1fs, %d segments, %.1f bytes/signal, %d MiB in huge pages",
		n, buildSec, len(h.cur.Load().segs), float64(heap)/float64(n), thp>>20)
	scans := max(5, min(31, 100_000_000/(n*set.words)))
	for _, r := range radii {
		qs := set.queries(1000, r)
		// Sample for recall: the scan is slow at 10M.
		sample := qs[:max(16, min(len(qs), 200_000_000/(n*set.words)))]
		rec := recall(b, h, base, sample, r)
		b.Run(fmt.Sprintf("r=%d", r), func(b *testing.B) {
			var scan, srch timing
			// A counted loop, not b.Loop: inside b.Loop b.N is 0, which
			// made every search follow a scan.
			every := max(1, b.N/scans)
			hits, i := 0, 0
			count := func(uint64, uint32, int) { hits++ }
			b.ResetTimer()
			for range b.N {
				if i%every == 0 {
					b.StopTimer()
					scan.run(func() { base.search(qs[i%len(qs)], r, func(uint64, uint32, int) {}) })
					// The scan has just streamed the whole set through the
					// cache, evicting everything a search keeps hot (table
					// directories, the caller's own state). That is the
					// benchmark's doing, not a server's: one untimed search
					// of another query warms up again, so that the timed
					// searches after each of the ~1% scans do not make up
					// the p99.
					h.search(qs[(i+len(qs)/2)%len(qs)], r, func(uint64, uint32, int) {})
					b.StartTimer()
				}
				srch.run(func() { h.search(qs[i%len(qs)], r, count) })
				i++
			}
			scanWall, scanCPU := quantile(scan.wall, 0.5), quantile(scan.cpu, 0.5)
			p99, p99CPU := quantile(srch.wall, 0.99), quantile(srch.cpu, 0.99)
			b.ReportMetric(float64(scanWall.Nanoseconds()), "scan-ns")
			b.ReportMetric(float64(quantile(srch.wall, 0.5).Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(p99.Nanoseconds()), "p99-ns")
			b.ReportMetric(float64(p99CPU.Nanoseconds()), "p99-cpu-ns")
			b.ReportMetric(float64(scanWall)/float64(p99), "p99-vs-scan")
			if p99CPU > 0 {
				b.ReportMetric(float64(scanCPU)/float64(p99CPU), "p99-vs-scan-cpu")
				b.ReportMetric(float64(scanCPU)/float64(mean(srch.cpu)), "speedup-vs-scan")
			}
			b.ReportMetric(rec, "recall")
			b.ReportMetric(float64(heap)/float64(n), "bytes/signal")
			b.ReportMetric(float64(thp)/(1<<20), "thp-MB")
			b.ReportMetric(buildSec, "build-s")
			b.ReportMetric(float64(hits)/float64(i), "hits/op")
		})
	}
}

// BenchmarkHamming64 is pHash/dHash-like: 64-bit signals, uniform or in
// skewed families, searched at radius 4 to 10 (the default threshold is 8).
func BenchmarkHamming64(b *testing.B) {
	n := benchSignals(b)
	for _, data := range []string{"random", "clustered"} {
		b.Run(data, func(b *testing.B) {
			set := newBenchSet(1, n, data == "clustered", 64)
			benchRadii(b, set, Config{Words: 1, Radius: 8}, []int{4, 6, 8, 10})
		})
	}
}

// BenchmarkHamming256 is PDQ-like: 256-bit signals in skewed families,
// searched at radius 16, 31 (the default threshold) and 48.
//
// budget=40 is the default (tables within 8*words+8 bytes a signal, for the
// issue's memory target); budget=64 trades memory for fewer candidates.
func BenchmarkHamming256(b *testing.B) {
	n := benchSignals(b)
	set := newBenchSet(4, n, true, 256)
	for _, budget := range []float64{40, 64} {
		b.Run(fmt.Sprintf("budget=%g", budget), func(b *testing.B) {
			benchRadii(b, set, Config{Words: 4, Radius: 31, budget: budget}, []int{16, 31, 48})
		})
	}
}

// BenchmarkHammingLoad adds every signal one by one, as live adds arrive,
// and reports the seconds to the last add (adds-s) and to the end of the
// background merges (load-s), against the seconds of one AddBatch of the
// same signals (build-s), with the segments left and the heap held. Each
// iteration loads everything twice: run it with -benchtime 1x.
//
//	MEDIAMATCH_BENCH_N=10000000 go test -run '^$' -bench BenchmarkHammingLoad -benchtime 1x ./index/hamming/
func BenchmarkHammingLoad(b *testing.B) {
	n := benchSignals(b)
	for _, words := range []int{1, 4} {
		b.Run(fmt.Sprintf("%d-bit", 64*words), func(b *testing.B) {
			set := newBenchSet(words, n, words == 4, 11)
			cfg := Config{Words: words, Radius: []int{0, 8, 0, 0, 31}[words]}
			for b.Loop() {
				_, build, _ := set.load(b, cfg, false)
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				start := time.Now()
				h := New(cfg)
				for i, ref := range set.refs {
					h.Add(ref, set.frames[i], set.hashes[i*words:(i+1)*words])
				}
				adds := time.Since(start)
				h.Wait()
				load := time.Since(start)
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(adds.Seconds(), "adds-s")
				b.ReportMetric(load.Seconds(), "load-s")
				b.ReportMetric(build, "build-s")
				b.ReportMetric(float64(len(h.cur.Load().segs)), "segments")
				b.ReportMetric(float64(after.HeapAlloc-min(after.HeapAlloc, before.HeapAlloc))/float64(n), "bytes/signal")
			}
		})
	}
}

// BenchmarkScan compares the tuned scan (every segment scanned, split
// across cores when large) with the brute-force scan.
func BenchmarkScan(b *testing.B) {
	n := benchSignals(b)
	for _, words := range []int{1, 4} {
		b.Run(fmt.Sprintf("%d-bit", 64*words), func(b *testing.B) {
			set := newBenchSet(words, n, false, 7)
			benchRadii(b, set, Config{Words: words, Radius: 8 * words, mode: modeScan}, []int{8 * words})
		})
	}
}

// hugePagesInUse returns the bytes of the process's memory in transparent
// huge pages, from /proc/self/smaps_rollup (0 where there is none).
func hugePagesInUse() uint64 {
	data, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "AnonHugePages:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
