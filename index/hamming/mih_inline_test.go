package hamming

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestInlineLayouts checks inline segments of every shape directly
// against a scan of their entries: 2 tables (partials of substring 0
// alone), 3 (partials that complete the hash), 4 (partials looked up in
// table 0), and bits left out of every substring; on random and clustered
// hashes, with duplicates and deleted entries, probing at every radius up
// to past the pigeonhole bound.
func TestInlineLayouts(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 5000
	}
	for _, widths := range [][]int{{16, 16}, {20, 20, 21}, {16, 16, 16}, {16, 16, 16, 16}} {
		for _, clustered := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/clustered=%v", widths, clustered), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(len(widths)), 7))
				gen := newGenerator(r, 1, clustered)
				e := Entries{}
				for i := range n {
					h := gen.hash()
					if i > 0 && i%50 == 0 {
						h = []uint64{e.Hashes[r.IntN(i)]} // a duplicate
					}
					e.Hashes = append(e.Hashes, h[0])
					e.Refs = append(e.Refs, uint64(i+1))
					e.Frames = append(e.Frames, uint32(i%3))
				}
				hashes := slices.Clone(e.Hashes)
				s := newInlineSeg(e, widths)
				var pos []uint32
				for ref := uint64(1); ref <= uint64(n); ref += 7 {
					pos = s.positions(ref, pos)
				}
				dead, _ := deadSet(nil).kill(n, pos)
				sc := &searchScratch{}
				sc.mih.batch = make([]uint32, 0, probeBatch)
				for i := range 30 {
					q := gen.hash()
					if i%2 == 0 {
						q = []uint64{hashes[r.IntN(n)]}
					}
					for radius := range 17 {
						var want []hitRec
						for k, h := range hashes {
							ref := uint64(k + 1)
							if d := bits.OnesCount64(h ^ q[0]); d <= radius && ref%7 != 1 {
								want = append(want, hitRec{ref, uint32(k % 3), d})
							}
						}
						// Probing in one goroutine, and split across two.
						for _, split := range []bool{false, true} {
							var got []hitRec
							s.searchMIH(q[0], radius, false, dead, &sc.mih, split, func(ref uint64, frame uint32, dist int) {
								got = append(got, hitRec{ref, frame, dist})
							})
							slices.SortFunc(got, compareHits)
							if !slices.Equal(got, want) {
								t.Fatalf("query %d radius %d split %v: got %d hits %v, want %d hits %v", i, radius, split, len(got), head(got), len(want), head(want))
							}
						}
					}
				}
			})
		}
	}
}
