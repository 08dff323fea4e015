package hamming

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBruteForce(t *testing.T) {
	testSearcher(t, func(words int) searcher { return newBruteForce(words) })
}

// testSmallSets checks every size below a few words of unrolling: every
// entry is found at exactly its distance and not one below.
func testSmallSets(t *testing.T, newSearcher func(words int) searcher) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, words := range []int{1, 4} {
		gen := newGenerator(r, words, false)
		for size := range 10 {
			s := newSearcher(words)
			var o oracle
			for ref := range uint64(size) {
				h := gen.hash()
				s.Add(ref, 0, h)
				o.Add(ref, 0, h)
			}
			for _, e := range o.entries {
				q := gen.query(o, 0)
				d := byteDistance(wordsToBytes(q), e.hash)
				for _, radius := range []int{d, d - 1} {
					if got, want := collect(s, q, radius), o.search(q, radius); !slices.Equal(got, want) {
						t.Fatalf("%d-bit, %d entries: search(radius %d) = %v, want %v", 64*words, size, radius, got, want)
					}
				}
			}
		}
	}
}

func TestBruteForceSmallSets(t *testing.T) {
	testSmallSets(t, func(words int) searcher { return newBruteForce(words) })
}

// testSearcher is the conformance suite for searcher implementations: on
// random and on clustered data, with adds and removes, every search must
// return exactly what a naive scan over byteDistance returns.
func testSearcher(t *testing.T, newSearcher func(words int) searcher) {
	n := 3000
	if testing.Short() {
		n = 800
	}
	for _, words := range []int{1, 4} {
		for _, data := range []string{"random", "clustered"} {
			t.Run(fmt.Sprintf("%d-bit/%s", words*64, data), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(words), uint64(len(data))))
				gen := newGenerator(r, words, data == "clustered")
				s := newSearcher(words)
				var o oracle
				// Items of 1..3 frames, so remove must drop every entry of a ref.
				for ref := uint64(1); o.len() < n; ref++ {
					for frame := range uint32(1 + r.IntN(3)) {
						h := gen.hash()
						s.Add(ref, frame, h)
						o.Add(ref, frame, h)
					}
				}
				check := func(stage string) {
					t.Helper()
					if got, want := s.len(), o.len(); got != want {
						t.Errorf("%s: len() = %d, want %d", stage, got, want)
					}
					radii := []int{0, 1, 4, 8, 12, 16, 64 * words}
					if words == 4 {
						radii = append(radii, 31, 48)
					}
					for i := range 40 {
						q := gen.query(o, i)
						rs := radii
						if o.len() > 0 {
							// The boundary: exactly the distance to some entry, and one less.
							d := byteDistance(wordsToBytes(q), o.entries[r.IntN(o.len())].hash)
							rs = append(slices.Clone(radii), d, max(d-1, 0))
						}
						for _, radius := range rs {
							got := collect(s, q, radius)
							want := o.search(q, radius)
							if !slices.Equal(got, want) {
								t.Fatalf("%s: search(query %d, radius %d) = %d hits %v, want %d hits %v",
									stage, i, radius, len(got), head(got), len(want), head(want))
							}
						}
					}
				}
				check("after adds")
				// Remove a third of the refs, some twice, and an unknown ref.
				refs := o.refs()
				r.Shuffle(len(refs), func(i, j int) { refs[i], refs[j] = refs[j], refs[i] })
				for _, ref := range refs[:len(refs)/3] {
					s.Remove(ref)
					s.Remove(ref)
					o.Remove(ref)
				}
				s.Remove(1 << 62)
				check("after removes")
				// Re-add some removed refs with new hashes.
				for _, ref := range refs[:len(refs)/6] {
					h := gen.hash()
					s.Add(ref, 7, h)
					o.Add(ref, 7, h)
				}
				check("after re-adds")
				for _, ref := range o.refs() {
					s.Remove(ref)
					o.Remove(ref)
				}
				check("after removing all")
			})
		}
	}
}

type hitRec struct {
	ref   uint64
	frame uint32
	dist  int
}

func (h hitRec) String() string { return fmt.Sprintf("%d/%d@%d", h.ref, h.frame, h.dist) }

func compareHits(a, b hitRec) int {
	return cmp.Or(cmp.Compare(a.ref, b.ref), cmp.Compare(a.frame, b.frame), cmp.Compare(a.dist, b.dist))
}

func collect(s searcher, q []uint64, radius int) []hitRec {
	var out []hitRec
	s.search(q, radius, func(ref uint64, frame uint32, dist int) { out = append(out, hitRec{ref, frame, dist}) })
	slices.SortFunc(out, compareHits)
	return out
}

func head(h []hitRec) []hitRec { return h[:min(len(h), 5)] }

// oracle is the naive reference: a list of byte hashes compared with
// byteDistance.
type oracle struct {
	entries []oracleEntry
}

type oracleEntry struct {
	ref   uint64
	frame uint32
	hash  []byte
}

// byteDistance is the Hamming distance of two byte hashes of one length,
// bit by bit: the oracle shares no code with the searchers.
func byteDistance(a, b []byte) int {
	if len(a) != len(b) {
		panic("byteDistance of hashes of different lengths")
	}
	d := 0
	for i := range a {
		d += bits.OnesCount8(a[i] ^ b[i])
	}
	return d
}

func wordsToBytes(w []uint64) []byte {
	b := make([]byte, 0, 8*len(w))
	for _, x := range w {
		b = binary.BigEndian.AppendUint64(b, x)
	}
	return b
}

func (o *oracle) len() int { return len(o.entries) }

func (o *oracle) Add(ref uint64, frame uint32, h []uint64) {
	o.entries = append(o.entries, oracleEntry{ref, frame, wordsToBytes(h)})
}

func (o *oracle) Remove(ref uint64) {
	o.entries = slices.DeleteFunc(o.entries, func(e oracleEntry) bool { return e.ref == ref })
}

func (o *oracle) refs() []uint64 {
	var out []uint64
	for _, e := range o.entries {
		out = append(out, e.ref)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (o *oracle) search(q []uint64, radius int) []hitRec {
	qb := wordsToBytes(q)
	var out []hitRec
	for _, e := range o.entries {
		if d := byteDistance(qb, e.hash); d <= radius {
			out = append(out, hitRec{e.ref, e.frame, d})
		}
	}
	slices.SortFunc(out, compareHits)
	return out
}

// generator makes hashes: uniform random, or clustered in families of
// near-duplicates around centres with skewed bits (real hashes are not
// uniform).
type generator struct {
	r         *rand.Rand
	words     int
	clustered bool
	centres   [][]uint64
}

func newGenerator(r *rand.Rand, words int, clustered bool) *generator {
	g := &generator{r: r, words: words, clustered: clustered}
	for range 40 {
		c := make([]uint64, words)
		for i := range c {
			// Each bit set with probability 1/4.
			c[i] = r.Uint64() & r.Uint64()
		}
		g.centres = append(g.centres, c)
	}
	return g
}

func (g *generator) hash() []uint64 {
	if !g.clustered {
		h := make([]uint64, g.words)
		for i := range h {
			h[i] = g.r.Uint64()
		}
		return h
	}
	c := g.centres[g.r.IntN(len(g.centres))]
	return g.near(c, g.r.IntN(4*g.words+1))
}

// near returns h with n random bits flipped (some may flip back).
func (g *generator) near(h []uint64, n int) []uint64 {
	out := slices.Clone(h)
	for range n {
		b := g.r.IntN(64 * g.words)
		out[b/64] ^= 1 << (b % 64)
	}
	return out
}

// query returns the i-th query: near a stored hash, a centre, or random.
func (g *generator) query(o oracle, i int) []uint64 {
	switch {
	case i%3 == 0 && o.len() > 0:
		e := o.entries[g.r.IntN(o.len())]
		w := make([]uint64, g.words)
		for j := range w {
			w[j] = binary.BigEndian.Uint64(e.hash[8*j:])
		}
		return g.near(w, g.r.IntN(6))
	case i%3 == 1:
		return g.near(g.centres[g.r.IntN(len(g.centres))], g.r.IntN(8))
	}
	h := make([]uint64, g.words)
	for j := range h {
		h[j] = g.r.Uint64()
	}
	return h
}
