package hamming

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// BenchmarkSearchNearCost prices the secondary signals of a query, searched
// with SearchNear, against today's default match, one exact Search of the
// primary PDQ signal at radius 31, all in the same process. Per query, in
// turn (the order rotating, so that the cache state each leaves behind
// weighs on all alike):
//
//	(a) exact:      1 Search on the N-entry index (today's default)
//	(b) dihedral:   (a) and 7 SearchNear on it (flips and rotations)
//	(c) views:      (a) and 13 SearchNear on it (dihedral and 6 views)
//	(d) viewindex:  (c) and 6 SearchNear on a second index of V*N entries,
//	                as if every item stored V PDQ views
//
// Half the queries are near copies, every signal 0-20 bits from a stored
// entry (of the N index, and for (d)'s last 6 of the V*N index); half are
// random. It reports p50 and p99 wall time of each (p50-ns-a, p99-ns-a,
// ...), p99-ratio-dihedral, p99-ratio-views and p99-ratio-viewindex (each
// p99 over (a)'s; the target for views is <= 2), and the bytes a stored
// entry costs in each index.
//
// N is MEDIAMATCH_BENCH_N (default 1,000,000) and V MEDIAMATCH_BENCH_VIEWS
// (default 10); the V*N index takes some 80 bytes an entry.
//
//	nice go test -run '^$' -bench BenchmarkSearchNearCost -benchtime 2000x -timeout 30m ./index/hamming/
func BenchmarkSearchNearCost(b *testing.B) {
	n := benchSignals(b)
	views := envInt(b, "MEDIAMATCH_BENCH_VIEWS", 10)
	const words, radius, near = 4, 31, 20
	cfg := Config{Words: words, Radius: radius}

	items := newBenchSet(words, n, false, 41)
	hItems, buildItems, heapItems := items.load(b, cfg, false)
	b.Logf("%d entries: built in %.1fs, %.1f bytes an entry, plan %s", n, buildItems, float64(heapItems)/float64(n), planOf(hItems))
	var hViews *Searcher
	viewSet := newBenchSet(words, views*n, false, 43)
	if views > 0 {
		// V entries an item: refs 1..n, each V times.
		for i := range viewSet.refs {
			viewSet.refs[i] = uint64(i/views + 1)
		}
		var buildViews float64
		var heapViews uint64
		hViews, buildViews, heapViews = viewSet.load(b, cfg, false)
		b.Logf("%d entries (%d an item): built in %.1fs, %.1f bytes an entry, plan %s",
			views*n, views, buildViews, float64(heapViews)/float64(views*n), planOf(hViews))
		b.ReportMetric(float64(heapViews)/float64(views*n), "bytes/entry-viewindex")
	}
	b.ReportMetric(float64(heapItems)/float64(n), "bytes/entry")

	// A query: 1 primary, 7 dihedral, 6 views on the N index, and 6 views
	// on the V*N index.
	type query struct{ primary, dihedral, views, secondary, viewIndex [][]uint64 }
	r := rand.New(rand.NewPCG(5, 5))
	signal := func(set *benchSet, nearCopy bool) []uint64 {
		q := make([]uint64, words)
		if nearCopy && len(set.refs) > 0 {
			j := r.IntN(len(set.refs))
			copy(q, set.hashes[j*words:(j+1)*words])
			set.gen.flip(q, r.IntN(near+1))
			return q
		}
		for i := range q {
			q[i] = r.Uint64()
		}
		return q
	}
	qs := make([]query, 1000)
	for i := range qs {
		nc := i%2 == 0
		q := &qs[i]
		q.primary = [][]uint64{signal(items, nc)}
		for range 7 {
			q.dihedral = append(q.dihedral, signal(items, nc))
		}
		for range 6 {
			q.views = append(q.views, signal(items, nc))
			q.viewIndex = append(q.viewIndex, signal(viewSet, nc))
		}
		q.secondary = slices.Concat(q.dihedral, q.views)
	}
	hits := 0
	count := func(uint64, uint32, int) { hits++ }
	countMany := func(int, uint64, uint32, int) { hits++ }
	vItems := hItems.View()
	var vViews *View
	if hViews != nil {
		vViews = hViews.View()
	}
	cases := []struct {
		name string
		run  func(q *query)
	}{
		{"a", func(q *query) { vItems.Search(q.primary[0], radius, count) }},
		{"b", func(q *query) {
			vItems.Search(q.primary[0], radius, count)
			for _, x := range q.dihedral {
				vItems.SearchNear(x, radius, count)
			}
		}},
		{"c", func(q *query) {
			vItems.Search(q.primary[0], radius, count)
			for _, x := range q.dihedral {
				vItems.SearchNear(x, radius, count)
			}
			for _, x := range q.views {
				vItems.SearchNear(x, radius, count)
			}
		}},
		{"d", func(q *query) {
			vItems.Search(q.primary[0], radius, count)
			for _, x := range q.dihedral {
				vItems.SearchNear(x, radius, count)
			}
			for _, x := range q.views {
				vItems.SearchNear(x, radius, count)
			}
			if vViews != nil {
				for _, x := range q.viewIndex {
					vViews.SearchNear(x, radius, count)
				}
			}
		}},
		// (c) and (d) with the secondary signals of an index searched in
		// one SearchNearMany.
		{"c-many", func(q *query) {
			vItems.Search(q.primary[0], radius, count)
			vItems.SearchNearMany(q.secondary, radius, countMany)
		}},
		{"d-many", func(q *query) {
			vItems.Search(q.primary[0], radius, count)
			vItems.SearchNearMany(q.secondary, radius, countMany)
			if vViews != nil {
				vViews.SearchNearMany(q.viewIndex, radius, countMany)
			}
		}},
	}
	b.Run(fmt.Sprintf("n=%d/views=%d", n, views), func(b *testing.B) {
		// Warm up: the first searches after a build find cold caches.
		for i := range 200 {
			for _, c := range cases {
				c.run(&qs[i%len(qs)])
			}
		}
		times := make([]timing, len(cases))
		b.ResetTimer()
		for i := range b.N {
			q := &qs[i%len(qs)]
			for k := range cases {
				c := (i + k) % len(cases)
				times[c].run(func() { cases[c].run(q) })
			}
		}
		b.StopTimer()
		p50, p99, p99CPU := make([]time.Duration, len(cases)), make([]time.Duration, len(cases)), make([]time.Duration, len(cases))
		for c := range cases {
			p50[c] = quantile(times[c].wall, 0.5)
			p99[c] = quantile(times[c].wall, 0.99)
			p99CPU[c] = quantile(times[c].cpu, 0.99)
			b.ReportMetric(float64(p50[c].Nanoseconds()), "p50-ns-"+cases[c].name)
			b.ReportMetric(float64(p99[c].Nanoseconds()), "p99-ns-"+cases[c].name)
			b.ReportMetric(float64(p99CPU[c].Nanoseconds()), "p99-cpu-ns-"+cases[c].name)
		}
		// Wall time is what a caller waits; CPU time is what other
		// processes on a shared machine do not inflate.
		for c, name := range []string{"", "dihedral", "views", "viewindex", "views-many", "viewindex-many"} {
			if c == 0 {
				continue
			}
			b.ReportMetric(float64(p99[c])/float64(p99[0]), "p99-ratio-"+name)
			if p99CPU[0] > 0 {
				b.ReportMetric(float64(p99CPU[c])/float64(p99CPU[0]), "p99-cpu-ratio-"+name)
			}
		}
		// The median cost of one SearchNear on each index.
		b.ReportMetric(float64(p50[2]-p50[0])/13, "p50-ns-near")
		b.ReportMetric(float64(p50[3]-p50[2])/6, "p50-ns-near-viewindex")
		b.ReportMetric(float64(p50[4]-p50[0])/13, "p50-ns-near-many")
		b.ReportMetric(float64(hits)/float64(b.N), "hits/op")
	})
}

// planOf describes the tables of h's segments.
func planOf(h *Searcher) string {
	var out []string
	for _, st := range h.View().segs {
		switch s := st.seg.(type) {
		case *segment:
			var widths []int
			for _, t := range s.tabs {
				widths = append(widths, t.width)
			}
			out = append(out, fmt.Sprintf("%d entries: tables %v", s.n, widths))
		case *inlineSeg:
			out = append(out, fmt.Sprintf("%d entries: inline tables %v", s.n, slices.Clone(s.widths)))
		}
	}
	return fmt.Sprint(out)
}
