package hamming

import (
	"cmp"
	"math"
	"runtime"
	"slices"
	"sync"
)

// segData is an immutable run of entries with the tables to search it:
// a segment, or an inlineSeg (64-bit hashes kept in the tables).
type segData interface {
	// size returns the number of entries, deleted ones included.
	size() int
	// positions appends the positions of ref's entries to buf.
	positions(ref uint64, buf []uint32) []uint32
	// search calls fn for every entry within radius of q that dead does not
	// hold, probing the tables or scanning as mode and the costs say.
	search(q []uint64, radius int, dead deadSet, mode searchMode, sc *searchScratch, fn func(ref uint64, frame uint32, dist int))
	// searchNear is search for each query of qs (fn gets its index), but a
	// probe reads only the query's own bucket of each table, so it finds
	// only some of the entries within radius (see View.SearchNear); a
	// scan finds them all.
	searchNear(qs [][]uint64, radius int, dead deadSet, mode searchMode, sc *searchScratch, fn func(qi int, ref uint64, frame uint32, dist int))
	// gather appends the entries dead does not hold to e, in ref order.
	gather(dead deadSet, e *Entries)
	// bytes returns the memory held.
	bytes() int
}

// A segment is an immutable run of entries, sorted by ref, packed into
// parallel arrays with no pointer per entry, and optionally indexed by
// multi-index hashing tables (mih.go). Segments never change once built:
// deletes are recorded beside them in a deadSet, and a merge builds a new
// segment. So a reader holding a segment never needs a lock.
type segment struct {
	words  int
	n      int
	hashes []uint64 // entry i is hashes[i*words : (i+1)*words]

	// Refs and frames are stored split: the low halves always, the high
	// halves only if some value needs them (refs are counters from 1, so
	// refHi is nil in practice; images have frame 0, so frLo is often nil
	// too).
	refLo          []uint32
	refHi          []uint32 // nil: every ref < 2^32
	frLo           []uint16 // nil: every frame is 0
	frHi           []uint16 // nil: every frame < 2^16
	minRef, maxRef uint64

	tabs []table // nil: the segment is only ever scanned
}

func (s *segment) ref(i uint32) uint64 {
	r := uint64(s.refLo[i])
	if s.refHi != nil {
		r |= uint64(s.refHi[i]) << 32
	}
	return r
}

func (s *segment) frame(i uint32) uint32 {
	if s.frLo == nil {
		return 0
	}
	f := uint32(s.frLo[i])
	if s.frHi != nil {
		f |= uint32(s.frHi[i]) << 16
	}
	return f
}

func (s *segment) hash(i uint32) []uint64 {
	return s.hashes[int(i)*s.words : (int(i)+1)*s.words]
}

func (s *segment) size() int { return s.n }

func (s *segment) positions(ref uint64, buf []uint32) []uint32 {
	lo, hi := s.refRange(ref)
	for i := lo; i < hi; i++ {
		buf = append(buf, i)
	}
	return buf
}

func (s *segment) gather(dead deadSet, e *Entries) {
	for i := range uint32(s.n) {
		if !dead.has(i) {
			e.Hashes = append(e.Hashes, s.hash(i)...)
			e.Refs = append(e.Refs, s.ref(i))
			e.Frames = append(e.Frames, s.frame(i))
		}
	}
}

func (s *segment) search(q []uint64, radius int, dead deadSet, mode searchMode, sc *searchScratch, fn func(ref uint64, frame uint32, dist int)) {
	if s.tabs != nil && (mode == modeMIH || s.mihCost(radius) < scanCost(s.n, s.words)) {
		s.searchMIH(q, radius, dead, &sc.mih, fn)
		return
	}
	s.scan(q, radius, dead, sc, fn)
}

// scan calls fn for every entry of s within radius of q that dead does not
// hold, comparing q with every hash.
func (s *segment) scan(q []uint64, radius int, dead deadSet, sc *searchScratch, fn func(ref uint64, frame uint32, dist int)) {
	var hits []uint32
	if s.n >= parallelScanMin {
		hits, sc.bufs = scanParallel(s.words, s.n, s.hashes, q, radius, sc.bufs)
	} else {
		if len(sc.bufs) == 0 {
			sc.bufs = append(sc.bufs, nil)
		}
		sc.bufs[0] = scanHits(s.words, s.hashes, q, radius, 0, sc.bufs[0][:0])
		hits = sc.bufs[0]
	}
	for _, id := range hits {
		if !dead.has(id) {
			fn(s.ref(id), s.frame(id), distance(s.hash(id), q))
		}
	}
}

// refRange returns the positions [lo, hi) of ref's entries.
func (s *segment) refRange(ref uint64) (lo, hi uint32) {
	if s.n == 0 || ref < s.minRef || ref > s.maxRef {
		return 0, 0
	}
	find := func(after bool) uint32 {
		a, b := 0, s.n
		for a < b {
			m := int(uint(a+b) >> 1)
			r := s.ref(uint32(m))
			if r < ref || (after && r == ref) {
				a = m + 1
			} else {
				b = m
			}
		}
		return uint32(a)
	}
	return find(false), find(true)
}

// bytes returns the memory the segment holds, in bytes.
func (s *segment) bytes() int {
	b := 8*len(s.hashes) + 4*len(s.refLo) + 4*len(s.refHi) + 2*len(s.frLo) + 2*len(s.frHi)
	for i := range s.tabs {
		b += s.tabs[i].bytes()
	}
	return b
}

// Entries is a batch of entries in parallel arrays, the input of AddBatch:
// entry i is Hashes[i*words : (i+1)*words], Refs[i] and Frames[i].
type Entries struct {
	Hashes []uint64
	Refs   []uint64
	Frames []uint32
}

func (e *Entries) len() int { return len(e.Refs) }

// newSegData packs e, which must be sorted by ref, with the tables of plan
// p. It takes ownership of e.hashes.
func newSegData(words int, e Entries, p subPlan) segData {
	if p.inline {
		return newInlineSeg(e, p.widths)
	}
	return newSegment(words, e, p)
}

// newSegment packs e, which must be sorted by ref, and builds the tables of
// plan p (none if p has no substrings). It takes ownership of e.hashes.
func newSegment(words int, e Entries, p subPlan) *segment {
	n := e.len()
	s := &segment{words: words, n: n, hashes: slices.Clip(e.Hashes[:n*words])}
	if n > 0 {
		s.minRef, s.maxRef = e.Refs[0], e.Refs[n-1]
	}
	splitRefsFrames(s, e.Refs, e.Frames)
	if len(p.widths) > 0 {
		// Candidates' hashes are read at random.
		backHuge(s.hashes)
	}
	s.tabs = make([]table, len(p.widths))
	start := 0
	for i, w := range p.widths {
		s.tabs[i] = table{word: start / 64, shift: uint(start % 64), width: w, ef: p.ef[i]}
		start += w
	}
	if len(s.tabs) == 0 {
		s.tabs = nil
		return s
	}
	// One goroutine per CPU, each building whole tables.
	var wg sync.WaitGroup
	next := make(chan int, len(s.tabs))
	for i := range s.tabs {
		next <- i
	}
	close(next)
	for range min(runtime.GOMAXPROCS(0), len(s.tabs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				s.tabs[i].build(s)
			}
		}()
	}
	wg.Wait()
	return s
}

// splitRefsFrames stores refs and frames into s, split into halves (see
// segment).
func splitRefsFrames(s *segment, refs []uint64, frames []uint32) {
	n := len(refs)
	var maxRef uint64
	s.refLo = make([]uint32, n)
	for i, r := range refs {
		s.refLo[i] = uint32(r)
		maxRef = max(maxRef, r)
	}
	if maxRef > math.MaxUint32 {
		s.refHi = make([]uint32, n)
		for i, r := range refs {
			s.refHi[i] = uint32(r >> 32)
		}
	}
	var maxFrame uint32
	for _, f := range frames {
		maxFrame = max(maxFrame, f)
	}
	if maxFrame > 0 {
		s.frLo = make([]uint16, n)
		for i, f := range frames {
			s.frLo[i] = uint16(f)
		}
	}
	if maxFrame > math.MaxUint16 {
		s.frHi = make([]uint16, n)
		for i, f := range frames {
			s.frHi[i] = uint16(f >> 16)
		}
	}
}

// sortedOrder returns the permutation that sorts refs stably, given that
// refs is a concatenation of runs, each sorted, beginning at starts; nil if
// refs is sorted already. Runs already in order with their neighbour are
// joined first, so concatenating segments of ascending refs costs one pass.
func sortedOrder(refs []uint64, starts []int) []uint32 {
	var runs []int // starts of the runs that remain after joining
	for i, st := range starts {
		if st >= len(refs) {
			break
		}
		if i == 0 || st == 0 || refs[st-1] > refs[st] {
			runs = append(runs, st)
		}
	}
	if len(runs) <= 1 {
		return nil
	}
	runs = append(runs, len(refs))
	a := make([]uint32, len(refs))
	for i := range a {
		a[i] = uint32(i)
	}
	b := make([]uint32, len(refs))
	// Merge neighbouring runs pairwise until one is left.
	for len(runs) > 2 {
		var next []int
		for i := 0; i+1 < len(runs); i += 2 {
			lo := runs[i]
			if i+2 >= len(runs) {
				copy(b[lo:runs[i+1]], a[lo:runs[i+1]])
				next = append(next, lo)
				continue
			}
			mid, hi := runs[i+1], runs[i+2]
			x, y, k := lo, mid, lo
			for x < mid && y < hi {
				if refs[a[y]] < refs[a[x]] {
					b[k] = a[y]
					y++
				} else {
					b[k] = a[x]
					x++
				}
				k++
			}
			k += copy(b[k:], a[x:mid])
			copy(b[k:], a[y:hi])
			next = append(next, lo)
		}
		runs = append(next, len(refs))
		a, b = b, a
	}
	return a
}

// deadSet marks deleted positions of a segment, copy-on-write in pages of
// 32768 positions (4 KiB): a delete copies the page table and one page,
// and shares everything else with the set it came from, which readers may
// still be using. A nil set, or a nil page, has nothing deleted.
type deadSet []*deadPage

const deadPageShift = 15

type deadPage [1 << (deadPageShift - 6)]uint64

func (d deadSet) has(i uint32) bool {
	if d == nil {
		return false
	}
	p := d[i>>deadPageShift]
	return p != nil && p[(i>>6)&(uint32(len(p))-1)]>>(i&63)&1 != 0
}

// kill returns a set with positions pos of a segment of n entries
// deleted, and how many of them were not deleted already. d is unchanged.
func (d deadSet) kill(n int, pos []uint32) (deadSet, int) {
	out := make(deadSet, (n+1<<deadPageShift-1)>>deadPageShift)
	copy(out, d)
	killed := 0
	for _, i := range pos {
		pi := i >> deadPageShift
		p := out[pi]
		if p == nil || (d != nil && p == d[pi]) {
			np := new(deadPage)
			if p != nil {
				*np = *p
			}
			out[pi], p = np, np
		}
		w, bit := (i>>6)&(uint32(len(p))-1), uint64(1)<<(i&63)
		if p[w]&bit == 0 {
			p[w] |= bit
			killed++
		}
	}
	return out, killed
}

// segState is a segment as one published view sees it: the segment and
// its deletes. It is never modified once published.
type segState struct {
	seg   segData
	dead  deadSet
	ndead int
}

func (s *segState) live() int { return s.seg.size() - s.ndead }

// gather appends the live entries of the states, in order, and returns the
// start of each state's run (each sorted by ref).
func gather(states []*segState, e *Entries) []int {
	var starts []int
	for _, st := range states {
		starts = append(starts, e.len())
		st.seg.gather(st.dead, e)
	}
	return starts
}

// sortEntries sorts e stably by ref, given the starts of its sorted runs
// (nil: not known to have any).
func sortEntries(words int, e Entries, starts []int) Entries {
	var perm []uint32
	if starts == nil {
		perm = make([]uint32, e.len())
		for i := range perm {
			perm[i] = uint32(i)
		}
		slices.SortStableFunc(perm, func(a, b uint32) int { return cmp.Compare(e.Refs[a], e.Refs[b]) })
	} else if perm = sortedOrder(e.Refs, starts); perm == nil {
		return e
	}
	out := Entries{
		Hashes: make([]uint64, 0, len(e.Hashes)),
		Refs:   make([]uint64, 0, len(e.Refs)),
		Frames: make([]uint32, 0, len(e.Frames)),
	}
	for _, p := range perm {
		out.Hashes = append(out.Hashes, e.Hashes[int(p)*words:(int(p)+1)*words]...)
		out.Refs = append(out.Refs, e.Refs[p])
		out.Frames = append(out.Frames, e.Frames[p])
	}
	return out
}
