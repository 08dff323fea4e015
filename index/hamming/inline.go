package hamming

import (
	"cmp"
	"encoding/binary"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"unsafe"
)

// inlineSeg is a segment of 64-bit hashes whose multi-index tables hold
// hash bits themselves rather than positions into an array of hashes. A
// bucket of a table is a sorted run of bits of its hashes beside the
// bucket's key, so verifying a bucket is a sequential read, not one
// random read per candidate: a probe costs two cache misses (its offsets,
// its run) where the classic layout costs two and one per entry in the
// bucket. At 10 million hashes and radius 10 that is some 6,800 misses
// instead of 23,000. And it takes no more memory than the classic layout,
// since the hashes are stored nowhere else:
//
//   - table 0 holds every entry, with all its bits beside the key (its
//     rest); an entry's position is its place in table 0, and refs and
//     frames are stored by position;
//   - each other table j holds, once per distinct value, substring 0 and
//     one more substring of its hashes (its partial): all the bits with 3
//     tables; with more, enough to reject almost every candidate on the
//     bits known, and to find the hashes in table 0 (substring 0 is table
//     0's key) for the few that pass;
//   - byRef lists the positions in ref order, for remove.
//
// Values are packed bit to bit, so that a short run is one or two cache
// lines; the loop that compares a run with the query (near) has faster
// forms for values of 32 and 48 bits, whole bytes. At 10 million
// hashes and 4 tables of 16 bits that is a 48-bit rest, 3×32 bits of
// partials, 4 bytes of ref and 4 of byRef: 26 bytes a hash.
type inlineSeg struct {
	n              int
	tabs           []itable
	widths         []int    // of the tables' substrings
	refLo, refHi   []uint32 // by position; refHi nil if every ref < 2^32
	frLo, frHi     []uint16 // by position; nil as in segment
	byRef          []uint32 // positions sorted by ref
	minRef, maxRef uint64
}

// itable is one substring's table of an inlineSeg.
type itable struct {
	shift, width   int       // the substring is bits [shift, shift+width) from the most significant
	lowBits        int       // bits after the substring: 64-shift-width
	nshift, nwidth int       // tables j > 0: the other substring in the partial
	restBits       uint64    // bits stored an entry: a rest (table 0) or a partial; at most 48
	dir            bucketDir // bucket b holds values dir.bound(b) to dir.bound(b+1)-1
	rest           []byte    // values packed little-endian, restBits each, ascending within a bucket, 8 bytes of padding

	avg float64 // expected entries in a probed bucket
}

func (t *itable) key(h uint64) uint32 { return uint32(h << t.shift >> (64 - t.width)) }

func (t *itable) restOf(h uint64) uint64 {
	// h>>64 is 0 in Go, so shift 0 needs no special case.
	return h>>(64-t.shift)<<t.lowBits | h&(1<<t.lowBits-1)
}

func (t *itable) hashOf(b uint32, rest uint64) uint64 {
	return rest>>t.lowBits<<(64-t.shift) | uint64(b)<<t.lowBits | rest&(1<<t.lowBits-1)
}

// bitsAt returns bits [shift, shift+width) of h (0 if width is 0).
func bitsAt(h uint64, shift, width int) uint64 { return h << shift >> (64 - width) }

// value returns what table j stores for hash h: its rest in table 0, its
// partial (substring 0, then substring nshift) in the others.
func (s *inlineSeg) value(j int, h uint64) uint64 {
	if j == 0 {
		return s.tabs[0].restOf(h)
	}
	t := &s.tabs[j]
	return uint64(s.tabs[0].key(h))<<t.nwidth | bitsAt(h, t.nshift, t.nwidth)
}

// get returns the k-th value. restBits is at most 48, so one unaligned
// 8-byte read holds it.
func (t *itable) get(k uint32) uint64 {
	bit := uint64(k) * t.restBits
	return binary.LittleEndian.Uint64(t.rest[bit>>3:bit>>3+8]) >> (bit & 7) & (1<<t.restBits - 1)
}

// inlineMinWidth keeps rests within 48 bits.
const inlineMinWidth = 16

// inlineValueBits returns the bits table j of an inline layout of the
// given widths stores an entry.
func inlineValueBits(widths []int, j int) int {
	if j == 0 {
		return 64 - widths[0]
	}
	return widths[0] + widths[inlineNext(len(widths), j)]
}

// inlineNext returns the other substring whose bits table j > 0 keeps, or
// 0 (none beyond substring 0) if there are only two tables. Every table
// j > 0 then knows substring 1 (as its key or in its partial), which
// leads the rests of table 0: so resolve can find a partial's hashes by
// their place in a run rather than by reading the whole run.
func inlineNext(m, j int) int {
	switch {
	case m <= 2:
		return 0
	case j == 1:
		return 2
	}
	return 1
}

func inlineValueBytes(n, valueBits int) float64 { return float64(n)*float64(valueBits)/8 + 8 }

// Costs of the inline layout's probes, in nanoseconds as in mih.go: a
// run is read whole, a cache line after another, and compared with the
// query a value at a time.
const (
	costLine  = 15.0 // read one more cache line of a run
	costEntry = 1.5  // compare one value
)

// inlineCosts estimates the cost of probing one bucket of table j of an
// inline layout of the given widths over n hashes, at tr from the query's
// key, and of each value read there, at radius r: a partial within reach
// of the query costs a look-up in table 0.
func inlineCosts(n int, widths []int, j, r, tr int) (probe, ent float64) {
	w, vb := widths[j], inlineValueBits(widths, j)
	probe = 2 + missCost(dirBytes(n, w)) + missCost(inlineValueBytes(n, vb))
	ent = costEntry + float64(vb)/512*costLine
	if j > 0 {
		// Most keys probed are tr from the query's: the partial has r-tr.
		pass := binomialTail(vb, r-max(tr, 0))
		ent += pass * (missCost(inlineValueBytes(n, 64-widths[0])) + costKey)
	}
	return probe, ent
}

// binomialTail returns P(X <= r) for X ~ Binomial(n, 1/2): the chance that
// n bits of an unrelated hash are within r of the query's.
func binomialTail(n, r int) float64 {
	if r >= n {
		return 1
	}
	c, sum := 1.0, 1.0
	for k := 1; k <= r; k++ {
		c = c * float64(n-k+1) / float64(k)
		sum += c
	}
	return sum * math.Ldexp(1, -n)
}

// newInlineSeg packs e (64-bit hashes, sorted by ref) into tables of the
// given widths, laid out from the most significant bit.
func newInlineSeg(e Entries, widths []int) *inlineSeg {
	n := e.len()
	s := &inlineSeg{n: n, tabs: make([]itable, len(widths)), widths: widths}
	starts := make([]int, len(widths))
	for j := 1; j < len(widths); j++ {
		starts[j] = starts[j-1] + widths[j-1]
	}
	for j, w := range widths {
		t := itable{shift: starts[j], width: w, lowBits: 64 - starts[j] - w, restBits: uint64(inlineValueBits(widths, j))}
		if j > 0 {
			if nx := inlineNext(len(widths), j); nx > 0 {
				t.nshift, t.nwidth = starts[nx], widths[nx]
			}
		}
		s.tabs[j] = t
	}
	if n > 0 {
		s.minRef, s.maxRef = e.Refs[0], e.Refs[n-1]
	}
	// Table 0 fixes the positions.
	perm := s.build(0, e.Hashes)
	pos := make([]uint32, n) // input index -> position
	for k, i := range perm {
		pos[i] = uint32(k)
	}
	s.byRef = pos // input is in ref order
	refs := make([]uint64, n)
	frames := make([]uint32, n)
	for k, i := range perm {
		refs[k], frames[k] = e.Refs[i], e.Frames[i]
	}
	split := segment{}
	splitRefsFrames(&split, refs, frames)
	s.refLo, s.refHi, s.frLo, s.frHi = split.refLo, split.refHi, split.frLo, split.frHi
	var wg sync.WaitGroup
	for j := 1; j < len(s.tabs); j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.build(j, e.Hashes)
		}()
	}
	wg.Wait()
	return s
}

// build fills table j from hashes (every one in table 0, each distinct
// value once in the others) and returns the input index of each value
// stored in table 0.
func (s *inlineSeg) build(j int, hashes []uint64) []uint32 {
	t := &s.tabs[j]
	distinct := j > 0
	n := len(hashes)
	nb := 1 << t.width
	off := make([]uint32, nb+1)
	for _, h := range hashes {
		off[t.key(h)+1]++
	}
	for b := 1; b <= nb; b++ {
		off[b] += off[b-1]
	}
	perm := make([]uint32, n)
	cur := slices.Clone(off[:nb])
	for i, h := range hashes {
		b := t.key(h)
		perm[cur[b]] = uint32(i)
		cur[b]++
	}
	// Sort each bucket by rest, stably (equal hashes stay in ref order).
	rests := make([]uint64, n)
	for k, i := range perm {
		rests[k] = s.value(j, hashes[i])
	}
	var buf []restPos
	for b := range nb {
		lo, hi := off[b], off[b+1]
		if hi-lo > 1 {
			buf = sortRun(rests[lo:hi], perm[lo:hi], buf)
		}
	}
	if distinct {
		w := uint32(0)
		for b := range nb {
			lo, hi := off[b], off[b+1]
			off[b] = w
			for k := lo; k < hi; k++ {
				if k == lo || rests[k] != rests[k-1] {
					rests[w] = rests[k]
					w++
				}
			}
		}
		off[nb] = w
		rests = rests[:w]
		perm = nil
	}
	t.dir = newBucketDir(off, t.width)
	t.dir.backHuge()
	t.rest = make([]byte, int(inlineValueBytes(len(rests), int(t.restBits))))
	for k, r := range rests {
		bit := uint64(k) * t.restBits
		b := t.rest[bit>>3:]
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)|r<<(bit&7))
	}
	backHuge(t.rest)
	var sumsq float64
	for b := range nb {
		c := float64(off[b+1] - off[b])
		sumsq += c * c
	}
	lambda := math.Ldexp(float64(len(rests)), -t.width)
	t.avg = lambda
	if len(rests) > 0 {
		t.avg = max(lambda, sumsq/float64(len(rests))-1)
	}
	return perm
}

// sortRun sorts rests ascending, moving perm alike; equal rests keep
// their order, since perm is ascending on entry. buf is scratch space,
// returned for reuse.
func sortRun(rests []uint64, perm []uint32, buf []restPos) []restPos {
	if len(rests) <= 16 {
		for i := 1; i < len(rests); i++ {
			for j := i; j > 0 && rests[j] < rests[j-1]; j-- {
				rests[j], rests[j-1] = rests[j-1], rests[j]
				perm[j], perm[j-1] = perm[j-1], perm[j]
			}
		}
		return buf
	}
	buf = buf[:0]
	for i, r := range rests {
		buf = append(buf, restPos{r, perm[i]})
	}
	slices.SortFunc(buf, func(a, b restPos) int {
		if c := cmp.Compare(a.rest, b.rest); c != 0 {
			return c
		}
		return cmp.Compare(a.pos, b.pos)
	})
	for i, x := range buf {
		rests[i], perm[i] = x.rest, x.pos
	}
	return buf
}

type restPos struct {
	rest uint64
	pos  uint32
}

func (s *inlineSeg) size() int { return s.n }

func (s *inlineSeg) ref(k uint32) uint64 {
	r := uint64(s.refLo[k])
	if s.refHi != nil {
		r |= uint64(s.refHi[k]) << 32
	}
	return r
}

func (s *inlineSeg) frame(k uint32) uint32 {
	if s.frLo == nil {
		return 0
	}
	f := uint32(s.frLo[k])
	if s.frHi != nil {
		f |= uint32(s.frHi[k]) << 16
	}
	return f
}

func (s *inlineSeg) positions(ref uint64, buf []uint32) []uint32 {
	if s.n == 0 || ref < s.minRef || ref > s.maxRef {
		return buf
	}
	lo, _ := slices.BinarySearchFunc(s.byRef, ref, func(k uint32, ref uint64) int {
		if r := s.ref(k); r < ref {
			return -1
		} else if r > ref {
			return 1
		}
		return 0
	})
	for _, k := range s.byRef[lo:] {
		if s.ref(k) != ref {
			break
		}
		buf = append(buf, k)
	}
	return buf
}

func (s *inlineSeg) bytes() int {
	b := 4*len(s.refLo) + 4*len(s.refHi) + 2*len(s.frLo) + 2*len(s.frHi) + 4*len(s.byRef)
	for i := range s.tabs {
		b += s.tabs[i].dir.bytes() + len(s.tabs[i].rest)
	}
	return b
}

func (s *inlineSeg) gather(dead deadSet, e *Entries) {
	t := &s.tabs[0]
	byPos := make([]uint64, s.n)
	for b := range uint32(1 << t.width) {
		for k := t.dir.bound(b); k < t.dir.bound(b+1); k++ {
			byPos[k] = t.hashOf(b, t.get(k))
		}
	}
	for _, k := range s.byRef {
		if !dead.has(k) {
			e.Hashes = append(e.Hashes, byPos[k])
			e.Refs = append(e.Refs, s.ref(k))
			e.Frames = append(e.Frames, s.frame(k))
		}
	}
}

// mihCost estimates the nanoseconds of a multi-index search at radius r.
func (s *inlineSeg) mihCost(r int) float64 {
	m := len(s.tabs)
	cost := float64(m) * costKey
	for i := range s.tabs {
		tr := subRadius(r, m, i)
		probe, ent := inlineCosts(s.n, s.widths, i, r, tr)
		cost += ballSize(s.widths[i], tr) * (probe + s.tabs[i].avg*ent)
	}
	return cost
}

// nearCost estimates the nanoseconds of a search that probes only the
// query's own bucket in each table (View.SearchNear).
func (s *inlineSeg) nearCost(r int) float64 {
	cost := float64(len(s.tabs)) * costKey
	for i := range s.tabs {
		probe, ent := inlineCosts(s.n, s.widths, i, r, 0)
		cost += probe + s.tabs[i].avg*ent
	}
	return cost
}

func (s *inlineSeg) search(q []uint64, radius int, dead deadSet, mode searchMode, sc *searchScratch, fn func(ref uint64, frame uint32, dist int)) {
	cost := s.mihCost(radius)
	if mode == modeMIH || cost < scanCost(s.n, 1) {
		s.searchMIH(q[0], radius, false, dead, &sc.mih, cost >= splitCost && runtime.GOMAXPROCS(0) > 1, fn)
		return
	}
	s.scan(q[0], radius, dead, sc, fn)
}

// searchNear probes the own buckets of one query at a time: inline tables
// hold 64-bit hashes (pHash, dHash), whose secondary signals are few, so
// batching them is not worth a second probe loop.
func (s *inlineSeg) searchNear(qs [][]uint64, radius int, dead deadSet, mode searchMode, sc *searchScratch, fn func(qi int, ref uint64, frame uint32, dist int)) {
	probe := mode == modeMIH || s.nearCost(radius) < scanCost(s.n, 1)
	for qi, q := range qs {
		each := func(ref uint64, frame uint32, dist int) { fn(qi, ref, frame, dist) }
		if probe {
			s.searchMIH(q[0], radius, true, dead, &sc.mih, false, each)
		} else {
			s.scan(q[0], radius, dead, sc, each)
		}
	}
}

// splitCost is the estimated cost of a multi-index search, in
// nanoseconds, from which searchMIH probes its first table on a second
// goroutine, as the scan splits across cores: at 10 million hashes, radius
// 10 (some 250 µs) and not 8 (some 60 µs). Starting and joining the
// goroutine costs a few microseconds; the two halves share memory
// bandwidth, so the gain is 15-25% (in-process, 10M hashes, r=10: p99
// 355 -> 292 µs random, 487 -> 366 µs clustered), not half. When every
// core is busy with other searches, the runtime runs the second goroutine
// on the caller's own P once it waits, so the split costs little.
const splitCost = 150e3

// scan compares q with every entry of table 0, bucket by bucket: a bucket
// whose key alone is beyond the radius is skipped.
func (s *inlineSeg) scan(q uint64, radius int, dead deadSet, sc *searchScratch, fn func(ref uint64, frame uint32, dist int)) {
	t := &s.tabs[0]
	nb := 1 << t.width
	parts := 1
	if s.n >= parallelScanMin {
		parts = min(runtime.GOMAXPROCS(0), s.n/(parallelScanMin/2))
	}
	for len(sc.bufs) < parts {
		sc.bufs = append(sc.bufs, nil)
	}
	chunk := (nb + parts - 1) / parts
	run := func(p int) {
		out := sc.bufs[p][:0]
		qk, qr := t.key(q), t.restOf(q)
		for b := p * chunk; b < min(nb, (p+1)*chunk); b++ {
			lo, hi := t.dir.bound(uint32(b)), t.dir.bound(uint32(b)+1)
			if w := bits.OnesCount32(uint32(b) ^ qk); lo != hi && w <= radius {
				out = t.near(lo, hi, qr, radius-w, out)
			}
		}
		sc.bufs[p] = out
	}
	if parts > 1 {
		var wg sync.WaitGroup
		for p := 1; p < parts; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run(p)
			}()
		}
		run(0)
		wg.Wait()
	} else {
		run(0)
	}
	qk, qr := t.key(q), t.restOf(q)
	for p := range parts {
		for _, k := range sc.bufs[p] {
			if dead.has(k) {
				continue
			}
			b := t.dir.bucketOf(k)
			fn(s.ref(k), s.frame(k), bits.OnesCount32(b^qk)+bits.OnesCount64(t.get(k)^qr))
		}
	}
}

// searchMIH is segment.searchMIH for inline tables, or if near
// segment.nearProbe for one query. Hits are collected and reported once
// every table is probed, so that fn does not run inside the probe loops.
func (s *inlineSeg) searchMIH(q uint64, radius int, near bool, dead deadSet, sc *mihScratch, split bool, fn func(ref uint64, frame uint32, dist int)) {
	m := len(s.tabs)
	for j := range s.tabs {
		t := &s.tabs[j]
		k := t.key(q)
		sc.keys[j] = k
		sc.rests[j] = s.value(j, q)
		sc.own[j] = t.dir.bound(k+1) - t.dir.bound(k)
	}
	sc.planProbes(len(s.tabs), m, radius, near, func(j int) int { return s.tabs[j].width })
	sc.hits = sc.hits[:0]
	// With split, a second goroutine probes the first table (the one
	// with the largest radius, some half of the probes) into scratch
	// space of its own: hits found through a table are reported only if
	// no earlier table owns them (report), which needs the plan alone, so
	// the halves share nothing they write.
	first := 0
	var (
		wg sync.WaitGroup
		h  *mihScratch
	)
	if split && m > 1 {
		if sc.split == nil {
			sc.split = &mihScratch{batch: make([]uint32, 0, cap(sc.batch))}
		}
		h = sc.split
		h.keys, h.rests, h.own, h.order, h.radii = sc.keys, sc.rests, sc.own, sc.order, sc.radii
		h.hits = h.hits[:0]
		first = 1
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.probeTable(0, q, radius, dead, h)
		}()
	}
	for p := first; p < m; p++ {
		s.probeTable(p, q, radius, dead, sc)
	}
	if h != nil {
		wg.Wait()
		for _, x := range h.hits {
			fn(s.ref(x.k), s.frame(x.k), x.d)
		}
	}
	for _, x := range sc.hits {
		fn(s.ref(x.k), s.frame(x.k), x.d)
	}
}

// probeTable probes table order[p] at its radius.
func (s *inlineSeg) probeTable(p int, q uint64, radius int, dead deadSet, sc *mihScratch) {
	j := sc.order[p]
	t := &s.tabs[j]
	if tr := sc.radii[j]; tr >= 0 {
		probeNeighbours(sc.keys[j], t.width, tr, sc.batch, func(batch []uint32) {
			s.probe(j, p, batch, q, radius, dead, sc)
		})
	}
}

// probe verifies the buckets keys of table j, which is order[p]. Buckets
// lie at random in memory, and each costs two cache misses, one after the
// other: its bounds in the directory, then its run. So probe runs as a
// pipeline over chunks of probeChunk keys: while it compares the runs of
// one chunk, the runs of the next and the directory lines of the one
// after are on their way, asked for with prefetches (which, unlike loads,
// do not stall the compares behind them). A search then costs about its
// compares, not its compares plus its misses.
func (s *inlineSeg) probe(j, p int, keys []uint32, q uint64, radius int, dead deadSet, sc *mihScratch) {
	t := &s.tabs[j]
	n := len(keys)
	los, his := sc.los[:n], sc.his[:n]
	t.dir.prefetch(keys[:min(n, 2*probeChunk)], sc)
	m := min(n, probeChunk)
	t.boundsAhead(keys[:m], los[:m], his[:m], sc)
	for c := 0; c < n; c += probeChunk {
		if a := c + 2*probeChunk; a < n {
			t.dir.prefetch(keys[a:min(n, a+probeChunk)], sc)
		}
		if a := c + probeChunk; a < n {
			e := min(n, a+probeChunk)
			t.boundsAhead(keys[a:e], los[a:e], his[a:e], sc)
		}
		e := min(n, c+probeChunk)
		if j == 0 {
			s.scan0(keys[c:e], los[c:e], his[c:e], q, radius, p, dead, sc)
		} else {
			s.scanPartials(j, keys[c:e], los[c:e], his[c:e], radius, sc)
		}
	}
	if j > 0 {
		s.resolve(j, p, q, radius, dead, sc)
	}
}

// probeChunk is the keys a step of probe's pipeline takes: enough compares
// to cover a miss, and few enough prefetches (some 30 a step, with a 21-bit
// table's runs) for the CPU to keep in flight rather than drop. At 10
// million hashes and radius 10, chunks of 8 to 16 keys took 205-209 µs a
// search, 32 took 273, 256 took 361; the former layout (every bound of a
// batch of 256 read, then every run touched, then compared) took 273.
const probeChunk = 12

// runAhead is the most lines of one run that boundsAhead prefetches.
const runAhead = 4

// boundsAhead sets los[i], his[i] to the bounds of bucket keys[i] and
// prefetches the cache lines of those runs, up to runAhead lines a run:
// the long runs of narrow tables are read in order, and the CPU's own
// prefetcher follows them.
func (t *itable) boundsAhead(keys, los, his []uint32, sc *mihScratch) {
	t.dir.bounds(keys, los, his)
	addrs := sc.addrs[:0]
	base := uintptr(unsafe.Pointer(unsafe.SliceData(t.rest)))
	for i, lo := range los {
		if lo == his[i] {
			continue
		}
		first, last := uint64(lo)*t.restBits>>3, (uint64(his[i])*t.restBits-1)>>3
		a := (base + uintptr(first)) &^ 63
		for z := min(base+uintptr(last), a+64*(runAhead-1)); a <= z; a += 64 {
			addrs = append(addrs, a)
		}
	}
	prefetch(addrs)
	sc.addrs = addrs
}

// scan0 compares the query with the runs of table 0's buckets keys, and
// reports the entries within radius.
func (s *inlineSeg) scan0(keys, los, his []uint32, q uint64, radius, p int, dead deadSet, sc *mihScratch) {
	t := &s.tabs[0]
	qk, qr := sc.keys[0], sc.rests[0]
	for i, b := range keys {
		lim := radius - bits.OnesCount32(b^qk)
		sc.near = t.near(los[i], his[i], qr, lim, sc.near[:0])
		for _, k := range sc.near {
			x := t.get(k)
			s.report(p, t.hashOf(b, x), k, radius-lim+bits.OnesCount64(x^qr), dead, sc)
		}
	}
}

// scanPartials compares the query with the partials in the runs of table
// j's buckets keys, and queues each within reach (whose hashes could be
// within radius) for resolve.
func (s *inlineSeg) scanPartials(j int, keys, los, his []uint32, radius int, sc *mihScratch) {
	t := &s.tabs[j]
	qk, qr := sc.keys[j], sc.rests[j]
	for i, b := range keys {
		sc.near = t.near(los[i], his[i], qr, radius-bits.OnesCount32(b^qk), sc.near[:0])
		for _, k := range sc.near {
			sc.pend = append(sc.pend, t.hashOf(b, 0)|s.partialBits(t, t.get(k)))
		}
	}
}

// near appends to out the positions k in [lo, hi) whose values are within
// lim of v. It is the inner loop of every probe: four values a round,
// with one branch on whether any of the four is near (see scan1).
func (t *itable) near(lo, hi uint32, v uint64, lim int, out []uint32) []uint32 {
	l := lim + 1
	n := int(hi - lo)
	i := 0
	switch t.restBits {
	case 32:
		run := t.rest[uint64(lo)*4 : uint64(hi)*4]
		v := uint32(v)
		for ; i+4 <= n; i += 4 {
			x := (*[16]byte)(run[4*i : 4*i+16])
			d0 := bits.OnesCount32(binary.LittleEndian.Uint32(x[0:]) ^ v)
			d1 := bits.OnesCount32(binary.LittleEndian.Uint32(x[4:]) ^ v)
			d2 := bits.OnesCount32(binary.LittleEndian.Uint32(x[8:]) ^ v)
			d3 := bits.OnesCount32(binary.LittleEndian.Uint32(x[12:]) ^ v)
			if (d0-l)|(d1-l)|(d2-l)|(d3-l) < 0 {
				out = appendNear(out, lo+uint32(i), l, d0, d1, d2, d3)
			}
		}
	case 48:
		// An 8-byte read takes 2 bytes of the next value, or of the
		// padding, which the mask drops.
		const mask = 1<<48 - 1
		run := t.rest[uint64(lo)*6 : uint64(hi)*6+2]
		for ; i+4 <= n; i += 4 {
			x := (*[26]byte)(run[6*i : 6*i+26])
			d0 := bits.OnesCount64((binary.LittleEndian.Uint64(x[0:]) ^ v) & mask)
			d1 := bits.OnesCount64((binary.LittleEndian.Uint64(x[6:]) ^ v) & mask)
			d2 := bits.OnesCount64((binary.LittleEndian.Uint64(x[12:]) ^ v) & mask)
			d3 := bits.OnesCount64((binary.LittleEndian.Uint64(x[18:]) ^ v) & mask)
			if (d0-l)|(d1-l)|(d2-l)|(d3-l) < 0 {
				out = appendNear(out, lo+uint32(i), l, d0, d1, d2, d3)
			}
		}
	}
	// The rest one at a time, at any width.
	rb, mask, rest := t.restBits, uint64(1)<<t.restBits-1, t.rest
	for bit := uint64(lo+uint32(i)) * rb; i < n; i, bit = i+1, bit+rb {
		if bits.OnesCount64((binary.LittleEndian.Uint64(rest[bit>>3:bit>>3+8])>>(bit&7)^v)&mask) < l {
			out = append(out, lo+uint32(i))
		}
	}
	return out
}

// appendNear appends to out the positions k+i whose distances di are
// below l.
func appendNear(out []uint32, k uint32, l, d0, d1, d2, d3 int) []uint32 {
	for i, d := range [4]int{d0, d1, d2, d3} {
		if d < l {
			out = append(out, k+uint32(i))
		}
	}
	return out
}

// partialBits returns the bits of a hash that partial x of table t holds,
// in place: substring 0 and substring nshift.
func (s *inlineSeg) partialBits(t *itable, x uint64) uint64 {
	t0 := &s.tabs[0]
	return x>>t.nwidth<<t0.lowBits | (x&(1<<t.nwidth-1))<<(64-t.nshift-t.nwidth)
}

// resolve finds in table 0 the hashes with the partials queued by table j
// (the known bits of each, the others 0), and reports those within radius.
// Table 0's runs are sorted by the bits after substring 0, and the known
// bits begin with those of substring 1 (see inlineNext), so the hashes
// sought lie together in their run, near the place interpolation gives.
// As in probe, every such place is read before any run is searched.
func (s *inlineSeg) resolve(j, p int, q uint64, radius int, dead deadSet, sc *mihScratch) {
	t0 := &s.tabs[0]
	known := s.knownMask(j)
	// The known bits that lead table 0's values: a prefix of plen bits.
	plen := uint64(bits.LeadingZeros64(^(known << t0.width)))
	ibits := min(plen, 24) // prefix bits used to interpolate
	rb := t0.restBits
	for len(sc.pend) > 0 {
		pend := sc.pend[:min(len(sc.pend), len(sc.los))]
		sc.pend = sc.pend[len(pend):]
		guess := sc.los[:len(pend)]
		var touch uint64
		for i, h := range pend {
			b0 := t0.key(h)
			lo, hi := t0.dir.bound(b0), t0.dir.bound(b0+1)
			k := lo + uint32(uint64(hi-lo)*(t0.restOf(h)>>(rb-ibits))>>ibits)
			guess[i] = k
			if k < hi {
				touch += t0.get(k)
			}
		}
		sc.touch += touch
		for i, h := range pend {
			b0 := t0.key(h)
			lo, k, hi := t0.dir.bound(b0), guess[i], t0.dir.bound(b0+1)
			want := t0.restOf(h) >> (rb - plen)
			for k > lo && t0.get(k-1)>>(rb-plen) >= want {
				k--
			}
			for k < hi && t0.get(k)>>(rb-plen) < want {
				k++
			}
			for ; k < hi; k++ {
				v := t0.get(k)
				if v>>(rb-plen) != want {
					break
				}
				x := t0.hashOf(b0, v)
				if d := bits.OnesCount64(x ^ q); x&known == h && d <= radius {
					s.report(p, x, k, d, dead, sc)
				}
			}
		}
	}
}

// knownMask returns the bits of a hash that table j > 0 holds: its key and
// its partial.
func (s *inlineSeg) knownMask(j int) uint64 {
	t := &s.tabs[j]
	return s.tabs[0].hashOf(1<<s.tabs[0].width-1, 0) | t.hashOf(1<<t.width-1, 0) | s.partialBits(t, 1<<t.restBits-1)
}

// report records the entry at position k with hash h, at distance d,
// found through table order[p], unless it is deleted or an earlier table
// owns h.
func (s *inlineSeg) report(p int, h uint64, k uint32, d int, dead deadSet, sc *mihScratch) {
	for _, i := range sc.order[:p] {
		if tr := sc.radii[i]; tr >= 0 && bits.OnesCount32(s.tabs[i].key(h)^sc.keys[i]) <= tr {
			return
		}
	}
	if !dead.has(k) {
		sc.hits = append(sc.hits, inlineHit{k, d})
	}
}

// inlineHit is an entry found by a search: its position and distance.
type inlineHit struct {
	k uint32
	d int
}
