package hamming

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

type hammingVariant struct {
	name string
	cfg  func(words int) Config
}

// hammingVariants are the configurations of the hamming searcher that the
// conformance suite runs: the tuned scan, multi-index hashing forced for
// every segment, and the adaptive choice. Tails are tiny so that the
// suite's few thousand entries make many segments, merges and
// compactions. forcedMIH is one more: substrings of 11 bits, which
// straddle words, with Elias-Fano positions.
func hammingVariants() []hammingVariant {
	return []hammingVariant{
		{"scan", func(w int) Config {
			return Config{Words: w, Radius: 8 * w, mode: modeScan, tail: 16, sync: true}
		}},
		{"mih", func(w int) Config {
			return Config{Words: w, Radius: 8 * w, mode: modeMIH, tail: 16, sync: true}
		}},
		{"auto", func(w int) Config { return Config{Words: w, Radius: 8 * w, tail: 16, sync: true} }},
		forcedMIH(11, codingEF),
		{"mih/inline", func(w int) Config {
			return Config{Words: w, Radius: 8 * w, mode: modeMIH, tail: 16, sync: true, layout: layoutInline}
		}},
		{"auto/inline", func(w int) Config {
			return Config{Words: w, Radius: 8 * w, tail: 16, sync: true, layout: layoutInline}
		}},
		// Four inline tables of 16 bits, whose partials hold only some
		// of a hash's bits, so that hashes are looked up in table 0 (see
		// also TestInlineLayouts). Not forced to probe: at the suite's
		// largest radii that would probe every key.
		{"auto/inline/subs=4", func(w int) Config {
			cfg := Config{Words: w, Radius: 8 * w, tail: 16, sync: true, layout: layoutInline}
			if w == 1 {
				cfg.subs = 4 // wider hashes have no inline layout
			}
			return cfg
		}},
	}
}

// forcedMIH is forced multi-index hashing with substrings of width bits
// (narrow, so that probing every key at the suite's full-width radius
// stays quick) and the given position coding.
func forcedMIH(width int, coding int8) hammingVariant {
	name := fmt.Sprintf("mih/width=%d/%s", width, map[int8]string{codingPlain: "plain", codingEF: "ef"}[coding])
	return hammingVariant{name, func(w int) Config {
		subs := min(maxSubs, (64*w+width-1)/width)
		return Config{Words: w, Radius: 8 * w, mode: modeMIH, tail: 16, sync: true, subs: subs, coding: coding}
	}}
}

func TestHamming(t *testing.T) {
	for _, v := range hammingVariants() {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			testSearcher(t, func(words int) searcher { return New(v.cfg(words)) })
		})
	}
}

func TestHammingSmallSets(t *testing.T) {
	vs := append(hammingVariants(),
		forcedMIH(6, codingPlain),
		hammingVariant{"auto/background", func(w int) Config { return Config{Words: w, Radius: 8 * w, tail: 4} }},
		hammingVariant{"auto/default", func(w int) Config { return Config{Words: w, Radius: 8 * w} }})
	for _, v := range vs {
		t.Run(v.name, func(t *testing.T) {
			testSmallSets(t, func(words int) searcher { return New(v.cfg(words)) })
		})
	}
}

func TestChoosePlan(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		o         planOptions
		tables    bool // want tables at all
		inline    bool
		maxTables int
	}{
		{"pHash 10M", 10_000_000, planOptions{words: 1, radius: 8, budget: 16}, true, true, 4},
		{"pHash 1M", 1_000_000, planOptions{words: 1, radius: 8, budget: 16}, true, true, 4},
		{"PDQ 10M", 10_000_000, planOptions{words: 4, radius: 31, budget: 40}, true, false, 32},
		{"PDQ 100k", 100_000, planOptions{words: 4, radius: 31, budget: 40}, true, false, 32},
		{"PDQ radius 128", 100_000, planOptions{words: 4, radius: 128, budget: 40}, false, false, 0},
		{"classic forced", 1_000_000, planOptions{words: 1, radius: 8, budget: 16, layout: layoutClassic}, true, false, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := choosePlan(tt.n, tt.o)
			if got := p.widths != nil; got != tt.tables {
				t.Fatalf("choosePlan(%d, %+v) = %v, want tables: %v", tt.n, tt.o, p.widths, tt.tables)
			}
			if !tt.tables {
				return
			}
			if p.inline != tt.inline {
				t.Errorf("choosePlan(%d, %+v).inline = %v, want %v", tt.n, tt.o, p.inline, tt.inline)
			}
			if len(p.widths) > tt.maxTables {
				t.Errorf("choosePlan(%d, %+v) = %d tables %v, want at most %d", tt.n, tt.o, len(p.widths), p.widths, tt.maxTables)
			}
			sum := 0
			for _, w := range p.widths {
				sum += w
			}
			if sum > 64*tt.o.words || slices.Max(p.widths) > maxWidth {
				t.Errorf("choosePlan(%d, %+v) = widths %v: more bits than the hash, or a table too wide", tt.n, tt.o, p.widths)
			}
			var cost, bytes float64
			if p.inline {
				cost, bytes = p.evaluateInline(tt.n, tt.o.radius)
			} else {
				cost, bytes = p.evaluate(tt.n, tt.o.words, tt.o.radius, tt.o.coding)
			}
			if limit := tt.o.budget*float64(tt.n) + min(tt.o.budget*float64(tt.n), tableAllowance); bytes > limit {
				t.Errorf("choosePlan(%d, %+v): tables of %.0f bytes, over the budget of %.0f", tt.n, tt.o, bytes, limit)
			}
			if cost >= scanCost(tt.n, tt.o.words) {
				t.Errorf("choosePlan(%d, %+v): estimated %.0f ns, no cheaper than a scan (%.0f)", tt.n, tt.o, cost, scanCost(tt.n, tt.o.words))
			}
		})
	}
}

// TestHammingMerges checks the shape the merges keep: few segments after
// many adds, and deleted entries reclaimed after many removes.
func TestHammingMerges(t *testing.T) {
	for _, words := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d-bit", 64*words), func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, uint64(words)))
			gen := newGenerator(r, words, false)
			h := New(Config{Words: words, Radius: 8 * words, tail: 32})
			const n = 20_000
			for ref := range uint64(n) {
				h.Add(ref, 0, gen.hash())
			}
			h.Wait()
			v := h.cur.Load()
			// Live sizes shrink at least mergeRatio+1-fold from oldest to newest.
			if max := 2 + int(math.Log(n/32)/math.Log(mergeRatio+1)); len(v.segs) > max {
				t.Errorf("%d segments after %d adds with a tail of 32, want at most %d", len(v.segs), n, max)
			}
			full := 0
			for _, st := range v.segs {
				full += st.seg.bytes()
			}
			for ref := range uint64(n) {
				if ref%10 != 0 {
					h.Remove(ref)
				}
			}
			h.Wait()
			v = h.cur.Load()
			stored, bytes := len(v.tail.refs), 0
			for _, st := range v.segs {
				stored += st.seg.size()
				bytes += st.seg.bytes()
				if st.ndead*compactFrac >= st.seg.size() {
					t.Errorf("segment of %d entries with %d deleted after merges settled", st.seg.size(), st.ndead)
				}
			}
			if h.len() != n/10 || stored > 2*n/10 {
				t.Errorf("after removing 90%%: len() = %d, %d entries stored; want %d, at most %d", h.len(), stored, n/10, 2*n/10)
			}
			if bytes > full/3 {
				t.Errorf("after removing 90%%: segments hold %d bytes, %d before; want at most a third", bytes, full)
			}
		})
	}
}

func TestDeadSet(t *testing.T) {
	const n = 100_000
	var d deadSet
	d1, k := d.kill(n, []uint32{5, 70_000, 5})
	if k != 2 || !d1.has(5) || !d1.has(70_000) || d1.has(6) || d.has(5) {
		t.Fatalf("kill {5, 70000, 5} from empty: killed %d, has(5)=%v has(70000)=%v has(6)=%v, old has(5)=%v; want 2 true true false false",
			k, d1.has(5), d1.has(70_000), d1.has(6), d.has(5))
	}
	d2, k := d1.kill(n, []uint32{5, 6})
	if k != 1 || !d2.has(6) || d1.has(6) {
		t.Errorf("kill {5, 6}: killed %d, has(6)=%v, old has(6)=%v; want 1 true false", k, d2.has(6), d1.has(6))
	}
	if &d2[2][0] != &d1[2][0] {
		t.Errorf("kill copied a page it did not touch")
	}
}

func TestSortedOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for trial := range 200 {
		var refs []uint64
		var starts []int
		for range r.IntN(6) {
			starts = append(starts, len(refs))
			run := make([]uint64, r.IntN(20))
			for i := range run {
				run[i] = uint64(r.IntN(30))
			}
			slices.Sort(run)
			refs = append(refs, run...)
		}
		perm := sortedOrder(refs, starts)
		want := make([]int, len(refs))
		for i := range want {
			want[i] = i
		}
		slices.SortStableFunc(want, func(a, b int) int { return cmp.Compare(refs[a], refs[b]) })
		got := make([]int, len(refs))
		for i := range got {
			got[i] = i
			if perm != nil {
				got[i] = int(perm[i])
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d: sortedOrder(%v, %v) = %v, want %v", trial, refs, starts, got, want)
		}
	}
}

// TestHammingBatch runs the conformance suite on searchers loaded with
// AddBatch: the suite's first adds are held back, shuffled and added as
// one batch before the first other call.
func TestHammingBatch(t *testing.T) {
	for _, v := range []hammingVariant{
		{"auto", func(w int) Config { return Config{Words: w, Radius: 8 * w, tail: 16, sync: true} }},
		{"mih", func(w int) Config {
			return Config{Words: w, Radius: 8 * w, tail: 16, sync: true, mode: modeMIH}
		}},
	} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			testSearcher(t, func(words int) searcher {
				return &batchLoader{Searcher: New(v.cfg(words)), r: rand.New(rand.NewPCG(9, 9))}
			})
		})
	}
}

type batchLoader struct {
	*Searcher
	r       *rand.Rand
	pending Entries
	flushed bool
}

func (b *batchLoader) Add(ref uint64, frame uint32, hash []uint64) {
	if b.flushed {
		b.Searcher.Add(ref, frame, hash)
		return
	}
	b.pending.Hashes = append(b.pending.Hashes, hash...)
	b.pending.Refs = append(b.pending.Refs, ref)
	b.pending.Frames = append(b.pending.Frames, frame)
}

func (b *batchLoader) flush() {
	if b.flushed {
		return
	}
	b.flushed = true
	e, w := b.pending, b.cfg.Words
	b.r.Shuffle(e.len(), func(i, j int) {
		e.Refs[i], e.Refs[j] = e.Refs[j], e.Refs[i]
		e.Frames[i], e.Frames[j] = e.Frames[j], e.Frames[i]
		for k := range w {
			e.Hashes[i*w+k], e.Hashes[j*w+k] = e.Hashes[j*w+k], e.Hashes[i*w+k]
		}
	})
	b.Searcher.AddBatch(e)
}

func (b *batchLoader) Remove(ref uint64) {
	b.flush()
	b.Searcher.Remove(ref)
}

func (b *batchLoader) search(q []uint64, radius int, fn func(ref uint64, frame uint32, dist int)) {
	b.flush()
	b.Searcher.search(q, radius, fn)
}

func (b *batchLoader) len() int {
	b.flush()
	return b.Searcher.len()
}

// TestHammingWideIDs covers refs past 2^32 and frames past 2^16, which
// segments store in split halves.
func TestHammingWideIDs(t *testing.T) {
	for _, v := range append(hammingVariants(), hammingVariant{"mih/classic", func(w int) Config {
		return Config{Words: w, Radius: 8 * w, mode: modeMIH, tail: 16, sync: true, layout: layoutClassic}
	}}) {
		t.Run(v.name, func(t *testing.T) {
			for _, words := range []int{1, 4} {
				r := rand.New(rand.NewPCG(17, uint64(words)))
				gen := newGenerator(r, words, true)
				s := New(v.cfg(words))
				var o oracle
				for i := range uint64(500) {
					ref := i<<33 | i
					frame := uint32(i * 997)
					h := gen.hash()
					s.Add(ref, frame, h)
					o.Add(ref, frame, h)
				}
				for _, ref := range o.refs()[:100] {
					s.Remove(ref)
					o.Remove(ref)
				}
				for i := range 20 {
					q := gen.query(o, i)
					for _, radius := range []int{4, 16 * words} {
						if got, want := collect(s, q, radius), o.search(q, radius); !slices.Equal(got, want) {
							t.Fatalf("%d-bit: search(query %d, radius %d) = %d hits %v, want %d hits %v",
								64*words, i, radius, len(got), head(got), len(want), head(want))
						}
					}
				}
			}
		})
	}
}

// TestIdleCompact checks that a Searcher left without writes seals its
// tail and merges its segments into one, searching as before and as the
// brute force does, with removed entries gone and the Merged callback
// called and its cost kept; that a few adds after that are compacted
// too; and that Wait cancels a compaction not yet started.
func TestIdleCompact(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	gen := newGenerator(r, 4, true)
	const idle = 50 * time.Millisecond
	var merged atomic.Int32
	h := New(Config{Words: 4, Radius: 32, tail: 64, idle: idle, Merged: func() { merged.Add(1) }})
	bf := newBruteForce(4)
	// Two batches the merge policy leaves apart (the older holds more
	// than 8 times the newer), single adds that stay in the tail, a few
	// removes.
	ref := uint64(0)
	var hashes [][]uint64
	for _, n := range []int{2000, 100} {
		var e Entries
		for range n {
			hs := gen.hash()
			e.Hashes = append(e.Hashes, hs...)
			e.Refs = append(e.Refs, ref)
			e.Frames = append(e.Frames, 0)
			bf.Add(ref, 0, hs)
			hashes = append(hashes, hs)
			ref++
		}
		h.AddBatch(e)
	}
	for range 20 {
		hs := gen.hash()
		h.Add(ref, 1, hs)
		bf.Add(ref, 1, hs)
		hashes = append(hashes, hs)
		ref++
	}
	for _, dead := range []uint64{3, 500, 2050, 2110} {
		h.Remove(dead)
		bf.Remove(dead)
	}
	h.Wait()
	if v := h.View(); len(v.segs) < 2 || len(v.tail.refs) == 0 {
		t.Fatalf("%d segments and %d tail entries, want several and some (the test needs them)", len(v.segs), len(v.tail.refs))
	}
	// Wait came after the last write: no compaction until the next.
	time.Sleep(4 * idle)
	h.Wait()
	if v := h.View(); len(v.segs) < 2 || len(v.tail.refs) == 0 {
		t.Fatalf("%d segments, %d tail entries after Wait and no write, want them left as they were", len(v.segs), len(v.tail.refs))
	}
	hs := gen.hash()
	h.Add(ref, 2, hs) // a write, which sets the compaction again
	bf.Add(ref, 2, hs)
	hashes = append(hashes, hs)
	deadline := time.Now().Add(time.Minute)
	for v := h.View(); (len(v.segs) > 1 || len(v.tail.refs) > 0) && time.Now().Before(deadline); v = h.View() {
		time.Sleep(idle)
	}
	h.Wait()
	v := h.View()
	if len(v.segs) != 1 || len(v.tail.refs) != 0 {
		t.Fatalf("%d segments and %d tail entries a minute after the last write, want 1 and 0", len(v.segs), len(v.tail.refs))
	}
	if merged.Load() == 0 {
		t.Error("Merged was not called after the compaction")
	}
	check := func(when string) {
		t.Helper()
		if h.len() != bf.len() {
			t.Errorf("%s: len() = %d, want %d", when, h.len(), bf.len())
		}
		for i := range 60 {
			q := gen.near(hashes[r.IntN(len(hashes))], r.IntN(20))
			if i%3 == 0 {
				q = gen.hash()
			}
			got, want := collect(h, q, 32), collect(bf, q, 32)
			if !slices.Equal(got, want) {
				t.Errorf("%s: query %d: %v, want %v", when, i, head(got), head(want))
			}
		}
	}
	check("after compaction")

	// What it took is kept, for the wait before the next (idleCost).
	h.mu.Lock()
	cost := h.idler.cost
	h.mu.Unlock()
	if cost <= 0 {
		t.Errorf("the compaction's cost = %v, want it measured", cost)
	}
	// A few adds after a quiet spell: compacted again.
	for range 5 {
		hs := gen.hash()
		h.Add(ref, 3, hs)
		bf.Add(ref, 3, hs)
		hashes = append(hashes, hs)
		ref++
	}
	for v := h.View(); (len(v.segs) > 1 || len(v.tail.refs) > 0) && time.Now().Before(deadline); v = h.View() {
		time.Sleep(idle)
	}
	h.Wait()
	if v := h.View(); len(v.segs) != 1 || len(v.tail.refs) != 0 {
		t.Fatalf("after 5 adds: %d segments and %d tail entries a minute later, want 1 and 0", len(v.segs), len(v.tail.refs))
	}
	check("after 5 adds")
}

// TestIdleCost checks that the quiet time before a compaction is at
// least idleCost times what the last one took.
func TestIdleCost(t *testing.T) {
	fired := 0
	d := idler{after: 50 * time.Millisecond}
	d.touch(func() { fired++ })
	d.timer.Stop()
	d.lastWrite = time.Now().Add(-time.Second)
	d.cost = time.Minute // the last compaction took a minute: wait 10
	if d.due() {
		t.Error("due a second after the last write, after a compaction of a minute; want a wait of 10")
	}
	d.timer.Stop()
	if !d.armed {
		t.Error("not armed again after due said no")
	}
	d.cost = 10 * time.Millisecond // 100 ms: past
	if !d.due() {
		t.Error("not due a second after the last write, after a compaction of 10 ms")
	}
}
