package hamming

import (
	"math/bits"
	"slices"
)

// searcher is what the conformance suite runs on: every search structure
// of this package (Searcher in each mode and layout, and bruteForce) finds
// the stored hashes within a Hamming radius of a query. Hashes are packed
// as for Searcher. Callers serialise Add and Remove against search (a
// Searcher does not need it); search may run concurrently with other
// searches.
//
// Every implementation must pass testSearcher (search_test.go), which checks
// it against a naive oracle on random and clustered data.
type searcher interface {
	// Add stores one entry. hash has the searcher's word count and is copied.
	Add(ref uint64, frame uint32, hash []uint64)
	// Remove drops every entry of ref; it is a no-op for an unknown ref.
	Remove(ref uint64)
	// search calls fn for every entry within radius of q (Hamming distance
	// <= radius), in no particular order. fn must not call back into the
	// searcher.
	search(q []uint64, radius int, fn func(ref uint64, frame uint32, dist int))
	// len returns the number of entries.
	len() int
}

// bruteForce is the reference searcher: a linear scan over packed words.
// Entries live in parallel arrays; remove fills holes by moving the last
// entry down, so the arrays stay dense. It is the oracle of the tests and
// the baseline of the benchmarks.
type bruteForce struct {
	words  int
	hashes []uint64 // entry i is hashes[i*words : (i+1)*words]
	refs   []uint64
	frames []uint32
	slots  map[uint64][]int32 // ref -> its entries' positions
}

func newBruteForce(words int) *bruteForce {
	return &bruteForce{words: words, slots: make(map[uint64][]int32)}
}

func (s *bruteForce) len() int { return len(s.refs) }

func (s *bruteForce) Add(ref uint64, frame uint32, hash []uint64) {
	if len(hash) != s.words {
		panic("hamming: bruteForce.Add: wrong hash length")
	}
	s.slots[ref] = append(s.slots[ref], int32(len(s.refs)))
	s.hashes = append(s.hashes, hash...)
	s.refs = append(s.refs, ref)
	s.frames = append(s.frames, frame)
}

func (s *bruteForce) Remove(ref uint64) {
	pos := s.slots[ref]
	if pos == nil {
		return
	}
	delete(s.slots, ref)
	// Highest first, so a moved entry never lands in a hole still to be filled.
	slices.Sort(pos)
	for i := len(pos) - 1; i >= 0; i-- {
		p, last := int(pos[i]), len(s.refs)-1
		if p != last {
			moved := s.refs[last]
			s.refs[p], s.frames[p] = moved, s.frames[last]
			copy(s.hashes[p*s.words:(p+1)*s.words], s.hashes[last*s.words:])
			ms := s.slots[moved]
			ms[slices.Index(ms, int32(last))] = int32(p)
		}
		s.refs, s.frames = s.refs[:last], s.frames[:last]
		s.hashes = s.hashes[:last*s.words]
	}
	if cap(s.refs) > 64 && len(s.refs) < cap(s.refs)/4 {
		s.refs, s.frames, s.hashes = slices.Clone(s.refs), slices.Clone(s.frames), slices.Clone(s.hashes)
	}
}

func (s *bruteForce) search(q []uint64, radius int, fn func(ref uint64, frame uint32, dist int)) {
	if len(q) != s.words {
		panic("hamming: bruteForce.search: wrong query length")
	}
	switch s.words {
	case 1:
		s.search1(q[0], radius, fn)
	case 4:
		s.search4(q, radius, fn)
	default:
		for i := range s.refs {
			d := 0
			for j, w := range s.hashes[i*s.words : (i+1)*s.words] {
				d += bits.OnesCount64(w ^ q[j])
			}
			if d <= radius {
				fn(s.refs[i], s.frames[i], d)
			}
		}
	}
}

func (s *bruteForce) search1(q uint64, radius int, fn func(ref uint64, frame uint32, dist int)) {
	h := s.hashes
	i := 0
	for ; i+4 <= len(h); i += 4 {
		d0 := bits.OnesCount64(h[i] ^ q)
		d1 := bits.OnesCount64(h[i+1] ^ q)
		d2 := bits.OnesCount64(h[i+2] ^ q)
		d3 := bits.OnesCount64(h[i+3] ^ q)
		if min(d0, d1, d2, d3) > radius {
			continue
		}
		for j, d := range [4]int{d0, d1, d2, d3} {
			if d <= radius {
				fn(s.refs[i+j], s.frames[i+j], d)
			}
		}
	}
	for ; i < len(h); i++ {
		if d := bits.OnesCount64(h[i] ^ q); d <= radius {
			fn(s.refs[i], s.frames[i], d)
		}
	}
}

func (s *bruteForce) search4(q []uint64, radius int, fn func(ref uint64, frame uint32, dist int)) {
	q0, q1, q2, q3 := q[0], q[1], q[2], q[3]
	h := s.hashes
	for i := 0; i+4 <= len(h); i += 4 {
		d := bits.OnesCount64(h[i]^q0) + bits.OnesCount64(h[i+1]^q1) +
			bits.OnesCount64(h[i+2]^q2) + bits.OnesCount64(h[i+3]^q3)
		if d <= radius {
			fn(s.refs[i/4], s.frames[i/4], d)
		}
	}
}

// len and search make a Searcher a searcher for the conformance suite.
func (h *Searcher) len() int { return h.cur.Load().n }

// search is View().Search.
func (h *Searcher) search(q []uint64, radius int, fn func(ref uint64, frame uint32, dist int)) {
	h.View().Search(q, radius, fn)
}
