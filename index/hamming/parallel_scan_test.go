package hamming

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// TestParallelScan covers the scans that split across goroutines, which
// run only on segments of parallelScanMin entries or more: every search of
// a large bank that does not probe tables takes this path. Every query must
// find exactly what the oracle finds, including the hits in the chunks that
// the other goroutines scan.
func TestParallelScan(t *testing.T) {
	// At least two chunks even on a machine with one core.
	if runtime.GOMAXPROCS(0) < 4 {
		prev := runtime.GOMAXPROCS(4)
		t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	}
	n := parallelScanMin + parallelScanMin/16
	cases := []struct {
		name   string
		cfg    Config
		radius int
	}{
		{"64-bit/scan", Config{Words: 1, Radius: 8, mode: modeScan}, 8},
		{"256-bit/scan", Config{Words: 4, Radius: 32, mode: modeScan}, 40},
		// Inline tables, searched at a radius where scanning table 0
		// costs less than probing (inlineSeg.scan).
		{"64-bit/inline", Config{Words: 1, Radius: 8, layout: layoutInline}, 24},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(c.cfg.Words), uint64(c.radius)))
			gen := newGenerator(r, c.cfg.Words, true)
			var o oracle
			e := Entries{}
			for ref := range uint64(n) {
				h := gen.hash()
				o.Add(ref, 0, h)
				e.Hashes = append(e.Hashes, h...)
				e.Refs = append(e.Refs, ref)
				e.Frames = append(e.Frames, 0)
			}
			s := New(c.cfg)
			s.AddBatch(e)
			if got := s.len(); got != n {
				t.Fatalf("len() = %d, want %d", got, n)
			}
			// Some hits must lie past the first chunk, or the test
			// could not see a chunk's hits go missing.
			late := 0
			for i := range 12 {
				q := gen.query(o, i)
				got, want := collect(s, q, c.radius), o.search(q, c.radius)
				if !slices.Equal(got, want) {
					t.Fatalf("query %d, radius %d: %d hits %v, want %d hits %v", i, c.radius, len(got), head(got), len(want), head(want))
				}
				for _, h := range want {
					if h.ref >= uint64(n/2) {
						late++
					}
				}
			}
			if late == 0 {
				t.Fatalf("no query hit the second half of %d entries: the test cannot see lost chunks", n)
			}
			t.Logf("%d hits in the second half", late)
		})
	}
}
