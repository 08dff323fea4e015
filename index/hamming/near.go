package hamming

import (
	"math/bits"
	"slices"
)

// SearchNear is a cheap, approximate Search, for a query's secondary
// signals (its flips and rotations, the views of a frame with borders
// trimmed or bands cut off), whose true matches are usually far closer
// than radius. It calls fn only for entries within radius of q, with
// their true distance, exactly as Search would; but of a segment indexed
// by m multi-index tables it probes only the query's own bucket in each
// table (a probe radius of 0, where Search probes about radius/m), so it
// finds an entry there only if one of the m substrings of its hash equals
// the query's. By pigeonhole that is certain within distance m-1, so:
//
//   - every entry within min(radius, m-1) of q is found;
//   - an entry farther away is found with the chance that one of its
//     substrings is clean.
//
// For 256-bit hashes and the default plan for radius 31 (choosePlan), m
// is 13 (substrings of 19 bits) at 1 million entries and 12 (20 or 21
// bits) at 3 to 30 million, so every entry within 11 bits is found at any of those
// sizes. Of entries d random bit errors away, at 1 million, it finds
// all up to d = 17, 98% at 20, 92% at 24, 80% at 28 and 70% at 31; at
// 10 million (computed from the plan) 94% at 20, 83% at 24 and 55% at 31
// (TestSearchNearRecall measures the table by distance and checks it
// against the chance computed from the plan). Smaller segments have more,
// narrower tables (16 of 16 bits at 100,000 entries), so their guarantee
// is wider. Segments without tables, segments where a scan is estimated
// cheaper than the probes (the cost model Search uses), and the tail are
// scanned, and there every entry within radius is found.
//
// It costs m bucket probes and one read for each candidate they hold
// (n/2^width a table on average), their cache misses overlapped: at 1
// million entries some 1.3 µs, 2-3% of an exact Search at radius 31 (50
// µs at the median); at 10 million some 6 µs (BenchmarkSearchNearCost).
//
// It is safe for concurrent use, as Search. q has the searcher's word
// count (else it panics); fn must not call back into the searcher; a
// negative radius finds nothing.
func (v *View) SearchNear(q []uint64, radius int, fn func(ref uint64, frame uint32, dist int)) {
	if len(q) != v.s.cfg.Words {
		panic("hamming: View.SearchNear: wrong query length")
	}
	sc := v.s.scratch.Get().(*searchScratch)
	sc.near.one[0] = q
	v.searchNear(sc.near.one[:], radius, sc, func(_ int, ref uint64, frame uint32, dist int) { fn(ref, frame, dist) })
	sc.near.one[0] = nil
	v.s.scratch.Put(sc)
}

// SearchNearMany is SearchNear for each query of qs, with the same
// guarantee for each; fn gets the index in qs of the query an entry is
// near. It probes the buckets of all the queries together, so that their
// cache misses overlap: a query's secondary signals cost less searched at
// once than one by one, the more so the larger the index (at 10 million
// 256-bit entries, 6 queries some 3-4.5 µs each at once, 6-8 µs each
// alone; BenchmarkSearchNearCost). It panics if a query has the wrong
// word count.
func (v *View) SearchNearMany(qs [][]uint64, radius int, fn func(qi int, ref uint64, frame uint32, dist int)) {
	for _, q := range qs {
		if len(q) != v.s.cfg.Words {
			panic("hamming: View.SearchNearMany: wrong query length")
		}
	}
	sc := v.s.scratch.Get().(*searchScratch)
	v.searchNear(qs, radius, sc, fn)
	v.s.scratch.Put(sc)
}

func (v *View) searchNear(qs [][]uint64, radius int, sc *searchScratch, fn func(qi int, ref uint64, frame uint32, dist int)) {
	if radius < 0 || len(qs) == 0 {
		return
	}
	h := v.s
	for _, st := range v.segs {
		st.seg.searchNear(qs, radius, st.dead, h.cfg.mode, sc, fn)
	}
	t := &v.tail
	if len(t.refs) == 0 {
		return
	}
	if len(sc.bufs) == 0 {
		sc.bufs = append(sc.bufs, nil)
	}
	words := h.cfg.Words
	for qi, q := range qs {
		sc.bufs[0] = scanHits(words, t.hashes, q, radius, 0, sc.bufs[0][:0])
		for _, id := range sc.bufs[0] {
			if i := int(id); !t.isDead(i) {
				fn(qi, t.refs[i], t.frames[i], distance(t.hashes[i*words:(i+1)*words], q))
			}
		}
	}
}

// nearScratch is the per-search state of nearProbe. A probe is one
// query's own bucket in one table: probe p is query p/m in table p%m.
type nearScratch struct {
	one      [1][]uint64 // SearchNear's query, as a batch of one
	keys     []uint32    // by probe: the query's key
	los, his []uint32    // by probe: its bucket's bounds
	cands    []uint32    // positions in the probed buckets
	from     []uint32    // by candidate: its probe
	first    [256]uint64 // first words of a chunk of candidates' hashes
	touch    uint64      // sum of values read ahead, so the reads stay
}

// nearCost estimates the nanoseconds of a search of s that probes only
// the query's own bucket of each table.
func (s *segment) nearCost() float64 {
	cost := float64(len(s.tabs)) * costKey
	for i := range s.tabs {
		t := &s.tabs[i]
		cost += t.probeCost + t.avg*t.candCost
	}
	return cost
}

func (s *segment) searchNear(qs [][]uint64, radius int, dead deadSet, mode searchMode, sc *searchScratch, fn func(qi int, ref uint64, frame uint32, dist int)) {
	if s.tabs != nil && (mode == modeMIH || s.nearCost() < scanCost(s.n, s.words)) {
		s.nearProbe(qs, radius, dead, &sc.near, fn)
		return
	}
	for qi, q := range qs {
		s.scan(q, radius, dead, sc, func(ref uint64, frame uint32, dist int) { fn(qi, ref, frame, dist) })
	}
}

// nearProbe calls fn for every live entry of s within radius of a query
// of qs that has the query's substring in some table. An entry found
// through several tables is reported once, by the first (in table order)
// in which its substring is the query's.
//
// The probes are independent, so each step runs over all of them, of
// every query, before the next, and loads what the next step will need:
// bucket bounds, then the first line of each bucket's positions, then the
// positions, then the candidates' hashes. Their cache misses overlap
// instead of following one another, as in segment.probe: a search waits
// for about four misses, not four per table.
func (s *segment) nearProbe(qs [][]uint64, radius int, dead deadSet, sc *nearScratch, fn func(qi int, ref uint64, frame uint32, dist int)) {
	m := len(s.tabs)
	np := len(qs) * m
	sc.keys = slices.Grow(sc.keys[:0], np)[:np]
	sc.los = slices.Grow(sc.los[:0], np)[:np]
	sc.his = slices.Grow(sc.his[:0], np)[:np]
	keys, los, his := sc.keys, sc.los, sc.his
	for qi, q := range qs {
		for j := range s.tabs {
			keys[qi*m+j] = s.tabs[j].key(q)
		}
	}
	for p, k := range keys {
		d := &s.tabs[p%m].dir
		los[p], his[p] = d.bound(k), d.bound(k+1)
	}
	var touch uint64
	for p, k := range keys {
		if lo := los[p]; lo != his[p] {
			t := &s.tabs[p%m]
			if t.ef {
				touch += uint64(t.efBits[t.efStart(k, lo)>>3])
			} else {
				touch += uint64(t.ids[lo])
			}
		}
	}
	sc.touch += touch
	cands, from := sc.cands[:0], sc.from[:0]
	for p, k := range keys {
		if los[p] == his[p] {
			continue
		}
		t := &s.tabs[p%m]
		before := len(cands)
		if t.ef {
			cands = t.decode(k, cands)
		} else {
			cands = append(cands, t.ids[los[p]:his[p]]...)
		}
		for range len(cands) - before {
			from = append(from, uint32(p))
		}
	}
	sc.cands, sc.from = cands, from
	hs, words := s.hashes, s.words
	for start := 0; start < len(cands); start += len(sc.first) {
		ids := cands[start:min(len(cands), start+len(sc.first))]
		first := sc.first[:len(ids)]
		for i, id := range ids {
			first[i] = hs[int(id)*words]
		}
		for i, id := range ids {
			p := int(from[start+i])
			qi := p / m
			q := qs[qi]
			var d int
			if words == 4 {
				x := (*[4]uint64)(hs[4*int(id) : 4*int(id)+4])
				d = bits.OnesCount64(first[i]^q[0]) + bits.OnesCount64(x[1]^q[1]) +
					bits.OnesCount64(x[2]^q[2]) + bits.OnesCount64(x[3]^q[3])
			} else {
				d = distance(s.hash(id), q)
			}
			if d <= radius {
				s.reportNear(id, d, qi, p-qi*m, keys[qi*m:qi*m+m], dead, fn)
			}
		}
	}
}

// reportNear calls fn for entry id at distance d from query qi, found
// through table j, unless it is deleted or an earlier table, where the
// query's keys are qkeys, finds it too.
func (s *segment) reportNear(id uint32, d, qi, j int, qkeys []uint32, dead deadSet, fn func(qi int, ref uint64, frame uint32, dist int)) {
	h := s.hash(id)
	for i := range j {
		if s.tabs[i].key(h) == qkeys[i] {
			return
		}
	}
	if dead.has(id) {
		return
	}
	fn(qi, s.ref(id), s.frame(id), d)
}
