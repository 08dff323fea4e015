package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// BenchmarkMatchDihedral measures what Query.Dihedral costs a default image
// match: MEDIAMATCH_BENCH_N PDQ-hashed images (default 1,000,000; skipped
// under -short) with random hashes, and the same queries matched with
// Dihedral false (1 PDQ probe) and true (8 probes), alternating query by
// query in the same process. Half the queries are near copies of banked
// items (0..20 bits flipped), half unrelated random hashes; every query
// carries 8 PDQ signals, its own hash and 7 with Transform 1..7. The 7
// variants are random too: index may not import fingerprint/pdq, and the
// search cost depends on the number of probes, not on how the hashes were
// made. It reports per-query latency p50 and p99 of each mode and
// p99-ratio, p99(dihedral)/p99(default) (issue 13's bound: at most 2 at
// 1M items).
//
//	nice go test -run '^$' -bench BenchmarkMatchDihedral -benchtime 1x -timeout 30m ./index/
//	MEDIAMATCH_BENCH_N=100000 nice go test -run '^$' -bench BenchmarkMatchDihedral -benchtime 1x ./index/
func BenchmarkMatchDihedral(b *testing.B) {
	n := benchSignals(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(13, 13))
	ix, hashes := loadBench(b, n, func() mediamatch.Signal { return pdq(h256(r)) })

	type query struct {
		media mediamatch.Media
		want  string // the item a near copy must match; "" for an unrelated hash
	}
	queries := make([]query, 1000)
	for i := range queries {
		var h []byte
		var want string
		if i%2 == 0 {
			j := r.IntN(n)
			h, want = flip(r, hashes[j], r.IntN(21)), fmt.Sprintf("item-%08d", j)
		} else {
			h = h256(r)
		}
		sigs := []mediamatch.Signal{pdq(h)}
		for t := mediamatch.TransformNone + 1; t <= mediamatch.FlipMinus1; t++ {
			sigs = append(sigs, pdqT(h256(r), t))
		}
		queries[i] = query{media: still(sigs...), want: want}
	}
	match := func(q query, dihedral bool) time.Duration {
		t0 := time.Now()
		ms, err := ix.Match(ctx, Query{Media: q.media, Upright: !dihedral})
		d := time.Since(t0)
		if err != nil {
			b.Fatalf("Match(dihedral=%v) = %v", dihedral, err)
		}
		switch {
		case q.want != "" && (len(ms) == 0 || ms[0].ItemID != q.want):
			b.Fatalf("Match(dihedral=%v) of a near copy of %s = %d matches, want it first", dihedral, q.want, len(ms))
		case q.want == "" && len(ms) != 0:
			b.Fatalf("Match(dihedral=%v) of an unrelated hash = %d matches, want none", dihedral, len(ms))
		}
		return d
	}
	// One unmeasured pass, then per round every query in both modes, the
	// mode run first alternating so that caches warmed by one favour
	// neither.
	for _, q := range queries {
		match(q, false)
		match(q, true)
	}
	var plain, dih []time.Duration
	for b.Loop() {
		for i, q := range queries {
			if i%2 == 0 {
				plain = append(plain, match(q, false))
				dih = append(dih, match(q, true))
			} else {
				dih = append(dih, match(q, true))
				plain = append(plain, match(q, false))
			}
		}
	}
	p50, p99 := quantile(plain, 0.5), quantile(plain, 0.99)
	d50, d99 := quantile(dih, 0.5), quantile(dih, 0.99)
	b.ReportMetric(float64(n), "items")
	b.ReportMetric(float64(p50)/1e3, "default-p50-us")
	b.ReportMetric(float64(p99)/1e3, "default-p99-us")
	b.ReportMetric(float64(d50)/1e3, "dihedral-p50-us")
	b.ReportMetric(float64(d99)/1e3, "dihedral-p99-us")
	b.ReportMetric(float64(d50)/float64(p50), "p50-ratio")
	b.ReportMetric(float64(d99)/float64(p99), "p99-ratio")
}
