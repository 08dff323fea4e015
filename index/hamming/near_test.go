package hamming

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// nearTables returns the fewest tables of any segment of v that a
// SearchNear probes (math.MaxInt if none has tables): SearchNear finds
// every entry within that many bits less one.
func nearTables(v *View) int {
	m := math.MaxInt
	for _, st := range v.segs {
		switch s := st.seg.(type) {
		case *segment:
			if s.tabs != nil {
				m = min(m, len(s.tabs))
			}
		case *inlineSeg:
			m = min(m, len(s.tabs))
		}
	}
	return m
}

// flipExactly returns h with exactly d distinct bits flipped.
func flipExactly(r *rand.Rand, h []uint64, d int) []uint64 {
	out := slices.Clone(h)
	for _, b := range r.Perm(64 * len(h))[:d] {
		out[b/64] ^= 1 << (b % 64)
	}
	return out
}

// TestSearchNear checks SearchNear's contract on a searcher whose segments
// came from single adds, seals, merges, a batch and removes, with a live
// tail: it reports only entries within the radius, at their true
// distance, each once (what it reports is part of what brute force
// finds), and it finds every entry within m-1 bits of the query, m the
// tables of the segment that holds it (the least of every segment's, for
// the test).
func TestSearchNear(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	type variant struct {
		name string
		cfg  Config
	}
	variants := []variant{
		// Forced plans, every segment probed: the guarantee is exactly m-1.
		{"256-bit/mih/subs=16", Config{Words: 4, Radius: 31, mode: modeMIH, subs: 16}},
		{"256-bit/mih/subs=20", Config{Words: 4, Radius: 31, mode: modeMIH, subs: 20, coding: codingPlain}},
		{"64-bit/mih/subs=4", Config{Words: 1, Radius: 8, mode: modeMIH, subs: 4, layout: layoutClassic}},
		{"64-bit/mih/inline/subs=4", Config{Words: 1, Radius: 8, mode: modeMIH, subs: 4, layout: layoutInline}},
		{"64-bit/mih/subs=5", Config{Words: 1, Radius: 8, mode: modeMIH, subs: 5}},
		// The plans and scans the cost model picks.
		{"256-bit/auto", Config{Words: 4, Radius: 31}},
		{"64-bit/auto", Config{Words: 1, Radius: 8}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			words := v.cfg.Words
			cfg := v.cfg
			cfg.tail, cfg.sync = 1024, true
			r := rand.New(rand.NewPCG(uint64(words), uint64(len(v.name))))
			s := New(cfg)
			base := newBruteForce(words)
			hash := func() []uint64 {
				h := make([]uint64, words)
				for i := range h {
					h[i] = r.Uint64()
				}
				return h
			}
			// A batch of a third, then single adds (seals and merges),
			// items of 1..3 frames.
			var batch Entries
			ref := uint64(1)
			for ; batch.len() < n/3; ref++ {
				for f := range uint32(1 + r.IntN(3)) {
					h := hash()
					batch.Hashes = append(batch.Hashes, h...)
					batch.Refs = append(batch.Refs, ref)
					batch.Frames = append(batch.Frames, f)
					base.Add(ref, f, h)
				}
			}
			s.AddBatch(Entries{Hashes: slices.Clone(batch.Hashes), Refs: slices.Clone(batch.Refs), Frames: slices.Clone(batch.Frames)})
			for ; base.len() < n; ref++ {
				for f := range uint32(1 + r.IntN(3)) {
					h := hash()
					s.Add(ref, f, h)
					base.Add(ref, f, h)
				}
			}
			// Remove a tenth of the refs, which marks entries deleted in
			// segments and in the tail, and compacts some segments.
			for range int(ref) / 10 {
				x := 1 + uint64(r.IntN(int(ref)))
				s.Remove(x)
				base.Remove(x)
			}
			// Two small segments and a tail of fresh entries.
			for range 2*cfg.tail + cfg.tail/2 {
				h := hash()
				s.Add(ref, 0, h)
				base.Add(ref, 0, h)
				ref++
			}
			view := s.View()
			m := nearTables(view)
			if m == math.MaxInt {
				m = v.cfg.Radius + 1 // everything scanned: exact
			}
			if f := v.cfg.subs; f > 0 && m != f {
				t.Fatalf("nearTables = %d, want the forced %d", m, f)
			}
			guaranteed := min(v.cfg.Radius, m-1)
			t.Logf("%d entries, %d segments, %d in the tail, fewest tables %d: everything within %d bits found",
				view.Len(), len(view.segs), len(view.tail.refs), m, guaranteed)
			queries := 600
			if testing.Short() {
				queries = 200
			}
			var farFound, far int
			var all [][]uint64   // the queries
			var alone [][]hitRec // what SearchNear found of each at cfg.Radius
			for i := range queries {
				// A live entry with exactly d bits flipped, d from 0 to
				// the radius, the guarantee's edge most often.
				e := r.IntN(base.len())
				d := r.IntN(v.cfg.Radius + 1)
				if i%2 == 0 {
					d = min(guaranteed, max(0, guaranteed-r.IntN(3)))
				}
				q := flipExactly(r, base.hashes[e*words:(e+1)*words], d)
				for _, radius := range []int{v.cfg.Radius, d, max(0, d-1)} {
					var got []hitRec
					view.SearchNear(q, radius, func(ref uint64, frame uint32, dist int) {
						got = append(got, hitRec{ref, frame, dist})
					})
					slices.SortFunc(got, compareHits)
					if radius == v.cfg.Radius {
						all = append(all, q)
						alone = append(alone, got)
					}
					want := collect(base, q, radius)
					// got must be a sub-multiset of want.
					j := 0
					for _, g := range got {
						for j < len(want) && compareHits(want[j], g) < 0 {
							j++
						}
						if j == len(want) || compareHits(want[j], g) != 0 {
							t.Fatalf("query %d (%d bits from entry %d/%d), radius %d: reported %v, which brute force does not find (it finds %v)",
								i, d, base.refs[e], base.frames[e], radius, g, head(want))
						}
						j++
					}
					target := hitRec{base.refs[e], base.frames[e], d}
					_, found := slices.BinarySearchFunc(got, target, compareHits)
					switch {
					case d > radius:
						if found {
							t.Fatalf("query %d: found %v beyond radius %d", i, target, radius)
						}
					case d <= guaranteed && !found:
						t.Fatalf("query %d, radius %d: did not find %v, %d bits away, within the guaranteed %d; found %v",
							i, radius, target, d, guaranteed, head(got))
					case radius == v.cfg.Radius && d > guaranteed:
						far++
						if found {
							farFound++
						}
					}
				}
			}
			if far > 0 {
				t.Logf("beyond the guarantee: %d of %d found", farFound, far)
			}
			// SearchNearMany finds for each query what SearchNear finds
			// alone, in batches of every size up to 20.
			for start, size := 0, 1; start < len(all); start, size = start+size, size%20+1 {
				batch := all[start:min(len(all), start+size)]
				got := make([][]hitRec, len(batch))
				view.SearchNearMany(batch, v.cfg.Radius, func(qi int, ref uint64, frame uint32, dist int) {
					got[qi] = append(got[qi], hitRec{ref, frame, dist})
				})
				for qi := range batch {
					slices.SortFunc(got[qi], compareHits)
					if want := alone[start+qi]; !slices.Equal(got[qi], want) {
						t.Fatalf("SearchNearMany of %d queries: query %d found %v, SearchNear alone %v", len(batch), qi, head(got[qi]), head(want))
					}
				}
			}
		})
	}
}

// nearRecall returns the chance that SearchNear finds an entry d random
// bits from the query through tables of the given widths over a hash of b
// bits: that some substring has none of the d bits, by inclusion and
// exclusion over the sets of tables that are clean.
func nearRecall(b int, widths []int, d int) float64 {
	// choose(n, d)/choose(b, d), the chance that d random bits of b all
	// fall outside a set of b-n bits.
	outside := func(n int) float64 {
		if n < d {
			return 0
		}
		p := 1.0
		for i := range d {
			p *= float64(n-i) / float64(b-i)
		}
		return p
	}
	m := len(widths)
	// The widths differ by one bit at most; sum over subsets by size and
	// number of wide tables.
	wide := 0
	narrow := slices.Min(widths)
	for _, w := range widths {
		if w > narrow {
			wide++
		}
	}
	binom := func(n, k int) float64 {
		if k < 0 || k > n {
			return 0
		}
		c := 1.0
		for i := range k {
			c = c * float64(n-i) / float64(i+1)
		}
		return c
	}
	p := 0.0
	for k := 1; k <= m; k++ {
		sign := 1.0
		if k%2 == 0 {
			sign = -1
		}
		for a := 0; a <= min(k, wide); a++ {
			ways := binom(wide, a) * binom(m-wide, k-a)
			if ways == 0 {
				continue
			}
			p += sign * ways * outside(b-a*(narrow+1)-(k-a)*narrow)
		}
	}
	return p
}

// TestSearchNearRecall measures the recall of SearchNear by distance at
// 1,000,000 random 256-bit entries (or MEDIAMATCH_BENCH_N) searched at radius
// 31 with the default plan, and checks it against the chance computed
// from the plan (nearRecall): entries within the guarantee are always
// found, farther ones as often as some substring is clean. It logs the
// table:
//
//	go test -run TestSearchNearRecall -v ./index/hamming/
func TestSearchNearRecall(t *testing.T) {
	if testing.Short() {
		t.Skip("1M entries; not under -short")
	}
	n := envInt(t, "MEDIAMATCH_BENCH_N", 1_000_000)
	const words, radius, perDistance = 4, 31, 400
	set := newBenchSet(words, n, false, 31)
	s := New(Config{Words: words, Radius: radius})
	s.AddBatch(Entries{Hashes: slices.Clone(set.hashes), Refs: slices.Clone(set.refs), Frames: slices.Clone(set.frames)})
	view := s.View()
	if len(view.segs) != 1 {
		t.Fatalf("%d segments after one batch, want 1", len(view.segs))
	}
	seg, ok := view.segs[0].seg.(*segment)
	if !ok || seg.tabs == nil {
		t.Fatalf("the segment has no tables")
	}
	var widths []int
	for _, tb := range seg.tabs {
		widths = append(widths, tb.width)
	}
	t.Logf("%d entries: %d tables of widths %v", n, len(widths), widths)
	r := rand.New(rand.NewPCG(3, 1))
	t.Logf("%8s %8s %8s", "distance", "recall", "expected")
	for d := 0; d <= radius; d++ {
		found := 0
		for range perDistance {
			e := r.IntN(n)
			q := flipExactly(r, set.hashes[e*words:(e+1)*words], d)
			view.SearchNear(q, radius, func(ref uint64, frame uint32, dist int) {
				if ref == set.refs[e] && dist == d {
					found++
				}
			})
		}
		got, want := float64(found)/perDistance, nearRecall(64*words, widths, d)
		t.Logf("%8d %8.3f %8.3f", d, got, want)
		// Binomial noise: 5 standard deviations, and a little more.
		if tol := 5*math.Sqrt(want*(1-want)/perDistance) + 0.01; math.Abs(got-want) > tol {
			t.Errorf("distance %d: recall %.3f, want %.3f ± %.3f", d, got, want, tol)
		}
		if d < len(widths) && found != perDistance {
			t.Errorf("distance %d, within the guarantee of %d tables: found %d of %d", d, len(widths), found, perDistance)
		}
	}
}

// TestNearRecallFormula checks nearRecall against counts over every set
// of d bits of small hashes.
func TestNearRecallFormula(t *testing.T) {
	tests := []struct {
		b      int
		widths []int
		d      int
		want   float64
	}{
		{256, []int{19, 19}, 0, 1},
		{256, []int{19, 19}, 1, 1},
		// Both dirty takes one bit in each: 2*19*19 of the 256*255 ordered pairs.
		{256, []int{19, 19}, 2, 1 - 2*19.0*19.0/(256*255)},
		{64, []int{32, 32}, 64, 0},
	}
	for _, tt := range tests {
		if got := nearRecall(tt.b, tt.widths, tt.d); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("nearRecall(%d, %v, %d) = %v, want %v", tt.b, tt.widths, tt.d, got, tt.want)
		}
	}
	// Brute force over every set of d bits of a small hash.
	for _, widths := range [][]int{{4, 3}, {3, 3, 2}, {2, 2, 2, 1}} {
		const b = 10
		for d := range 6 {
			clean, all := 0, 0
			for set := range 1 << b {
				if popcount(set) != d {
					continue
				}
				all++
				start := 0
				for _, w := range widths {
					if set>>(b-start-w)&(1<<w-1) == 0 {
						clean++
						break
					}
					start += w
				}
			}
			want := float64(clean) / float64(all)
			if got := nearRecall(b, widths, d); math.Abs(got-want) > 1e-9 {
				t.Errorf("nearRecall(%d, %v, %d) = %v, want %v", b, widths, d, got, want)
			}
		}
	}
}

func popcount(x int) int {
	c := 0
	for ; x != 0; x &= x - 1 {
		c++
	}
	return c
}

// envInt returns the positive integer in the environment variable name, or
// def if it is unset.
func envInt(t testing.TB, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		t.Fatalf("%s=%q, want a positive integer", name, s)
	}
	return v
}

// TestSearchNearConcurrent searches views with SearchNear and
// SearchNearMany while a writer adds and removes and merges run in the
// background: what they find of a view is what they found of it alone,
// and part of what Search finds in it. Run it under -race too.
func TestSearchNearConcurrent(t *testing.T) {
	nops := 3000
	if testing.Short() {
		nops = 1000
	}
	for _, cfg := range []Config{
		{Words: 4, Radius: 31, tail: 8},
		{Words: 4, Radius: 31, tail: 8, mode: modeMIH},
		{Words: 1, Radius: 8, tail: 8, mode: modeMIH, layout: layoutInline},
	} {
		t.Run(fmt.Sprintf("%d-bit/mode=%d", 64*cfg.Words, cfg.mode), func(t *testing.T) {
			words := cfg.Words
			r := rand.New(rand.NewPCG(uint64(words), 99))
			gen := newGenerator(r, words, true)
			h := New(cfg)
			var stop atomic.Bool
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Add(1)
				rr := rand.New(rand.NewPCG(uint64(i), 8))
				qgen := newGenerator(rr, words, true)
				qgen.centres = gen.centres
				go func() {
					defer wg.Done()
					for !stop.Load() {
						qs := make([][]uint64, 1+rr.IntN(5))
						for k := range qs {
							qs[k] = qgen.near(qgen.centres[rr.IntN(len(qgen.centres))], rr.IntN(8))
						}
						v := h.View()
						many := make([][]hitRec, len(qs))
						v.SearchNearMany(qs, cfg.Radius, func(qi int, ref uint64, frame uint32, dist int) {
							many[qi] = append(many[qi], hitRec{ref, frame, dist})
						})
						for qi, q := range qs {
							var near, exact []hitRec
							v.SearchNear(q, cfg.Radius, func(ref uint64, frame uint32, dist int) { near = append(near, hitRec{ref, frame, dist}) })
							v.Search(q, cfg.Radius, func(ref uint64, frame uint32, dist int) { exact = append(exact, hitRec{ref, frame, dist}) })
							slices.SortFunc(near, compareHits)
							slices.SortFunc(many[qi], compareHits)
							slices.SortFunc(exact, compareHits)
							if !slices.Equal(near, many[qi]) {
								t.Errorf("SearchNear found %v, SearchNearMany %v", head(near), head(many[qi]))
								return
							}
							for _, x := range near {
								if _, ok := slices.BinarySearchFunc(exact, x, compareHits); !ok {
									t.Errorf("SearchNear found %v, which Search does not (%v)", x, head(exact))
									return
								}
							}
						}
					}
				}()
			}
			var live []uint64
			for ref := uint64(1); ref < uint64(nops); ref++ {
				if len(live) > 0 && r.IntN(3) == 0 {
					i := r.IntN(len(live))
					h.Remove(live[i])
					live = slices.Delete(live, i, i+1)
					continue
				}
				for frame := range uint32(1 + r.IntN(3)) {
					h.Add(ref, frame, gen.hash())
				}
				live = append(live, ref)
			}
			stop.Store(true)
			wg.Wait()
			h.Wait()
		})
	}
}
