package index

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// The budget of one Match call: probes, hits and the
// detail returned.

// attackStill returns an image of one keyframe per hash, each with one PDQ
// signal of quality 100.
func attackStill(hashes ...[]byte) mediamatch.Media {
	m := mediamatch.Media{Kind: mediamatch.KindImage, Format: "png", Width: 64, Height: 64}
	for i, h := range hashes {
		m.Keyframes = append(m.Keyframes, mediamatch.Keyframe{Index: i, Signals: []mediamatch.Signal{pdq(h)}})
	}
	return m
}

// attackBank adds n items of random PDQ hashes to a new bank.
func attackBank(t testing.TB, ix *Index, bank string, n int, r *rand.Rand) {
	t.Helper()
	mustBank(t, ix, bank)
	const batch = 2000
	for lo := 0; lo < n; lo += batch {
		var items []mediamatch.Item
		for i := lo; i < min(lo+batch, n); i++ {
			items = append(items, mediamatch.Item{Bank: bank, ID: fmt.Sprintf("item-%06d", i), Media: attackStill(h256(r))})
		}
		if err := ix.addItems(context.Background(), bank, items); err != nil {
			t.Fatal(err)
		}
	}
}

// attackQuery is a query of k random PDQ keyframes at threshold 256.
func attackQuery(r *rand.Rand, k int) Query {
	hs := make([][]byte, k)
	for i := range hs {
		hs[i] = h256(r)
	}
	return Query{Media: attackStill(hs...), MaxResults: 1000,
		Thresholds: map[mediamatch.SignalType]int{mediamatch.PDQ: 256}}
}

func TestAttackMatchBudget(t *testing.T) {
	ix := openTest(t, "", Options{})
	r := rand.New(rand.NewPCG(6, 1))
	attackBank(t, ix, "big", 50, r)
	attackBank(t, ix, "small", 1, r)
	ctx := context.Background()

	for _, tc := range []struct {
		name                   string
		keyframes              int
		banks                  []string
		probes, hits, frames   int
		wantErr                bool
		wantMatches, wantPairs int
	}{
		// 10 keyframes x 51 items = 510 pairs.
		{name: "hits over", keyframes: 10, hits: 509, wantErr: true},
		{name: "hits at", keyframes: 10, hits: 510, wantMatches: 51, wantPairs: 510},
		{name: "hits unlimited", keyframes: 10, hits: -1, wantMatches: 51, wantPairs: 510},
		{name: "probes over", keyframes: 10, probes: 9, wantErr: true},
		{name: "probes at", keyframes: 10, probes: 10, wantMatches: 51, wantPairs: 510},
		{name: "frames capped", keyframes: 10, frames: 25, wantMatches: 51, wantPairs: 25},
		// Hits in banks not searched do not count: a caller limited to a
		// bank learns nothing of the others from the budget.
		{name: "other banks", keyframes: 10, banks: []string{"small"}, hits: 10, wantMatches: 1, wantPairs: 10},
		// The defaults apply to a zero Query: 2,000 x 51 = 102,000 pairs, over 100,000.
		{name: "default hits", keyframes: 2000, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := attackQuery(r, tc.keyframes)
			q.Banks, q.MaxProbes, q.MaxHits, q.MaxFrameMatches = tc.banks, tc.probes, tc.hits, tc.frames
			ms, err := ix.Match(ctx, q)
			if tc.wantErr {
				if !errors.Is(err, mediamatch.ErrOverBudget) {
					t.Fatalf("Match = %d matches, %v; want mediamatch.ErrOverBudget", len(ms), err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Match = %v", err)
			}
			pairs := 0
			for _, m := range ms {
				pairs += len(m.Frames)
				if m.QueryCoverage != 1 {
					t.Errorf("%s: QueryCoverage = %v, want 1", m.ItemID, m.QueryCoverage)
				}
			}
			if len(ms) != tc.wantMatches || pairs != tc.wantPairs {
				t.Errorf("Match = %d matches, %d frame matches; want %d, %d", len(ms), pairs, tc.wantMatches, tc.wantPairs)
			}
		})
	}
}

// TestAttackMatchBudgetMessage: the refusal names the limit.
func TestAttackMatchBudgetMessage(t *testing.T) {
	ix := openTest(t, "", Options{})
	r := rand.New(rand.NewPCG(6, 2))
	attackBank(t, ix, "big", 20, r)
	q := attackQuery(r, 10)
	q.MaxHits = 100
	if _, err := ix.Match(context.Background(), q); !errors.Is(err, mediamatch.ErrOverBudget) ||
		err.Error() != "more than 100 keyframe pairs within the thresholds (the match budget); "+
			"narrow the thresholds, name fewer signal types or send fewer keyframes" {
		t.Errorf("Match = %v, want the hit budget named", err)
	}
	q.MaxProbes = 3
	if _, err := ix.Match(context.Background(), q); !errors.Is(err, mediamatch.ErrOverBudget) ||
		err.Error() != "10 signals to search (informative keyframes times their searched signals and "+
			"variants), want at most 3 (the match budget)" {
		t.Errorf("Match = %v, want the probe budget named", err)
	}
}

// BenchmarkAttackMatch is the most costly call a curator can make: 1,000
// random PDQ keyframes at threshold 256 against a bank of 10,000 items,
// run without a budget (every one of the 10 million pairs is gathered) and
// with the default budget (the call stops at 100,000 pairs with
// mediamatch.ErrOverBudget). It reports each run's time and bytes allocated
// (unbudgeted-*, budgeted-*) and the ratios unbudgeted/budgeted.
//
//	go test -run '^$' -bench BenchmarkAttackMatch -benchtime 1x ./index/
func BenchmarkAttackMatch(b *testing.B) {
	ix := openTest(b, "", Options{})
	r := rand.New(rand.NewPCG(6, 3))
	attackBank(b, ix, "bank", 10_000, r)
	q := attackQuery(r, 1000)
	run := func(hits int) (time.Duration, float64, error) {
		q := q
		q.MaxHits = hits
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		_, err := ix.Match(context.Background(), q)
		d := time.Since(start)
		runtime.ReadMemStats(&after)
		return d, float64(after.TotalAlloc-before.TotalAlloc) / (1 << 20), err
	}
	b.ResetTimer()
	var freeT, budT time.Duration
	var freeMB, budMB float64
	for range b.N {
		d, mb, err := run(-1)
		if err != nil {
			b.Fatalf("unbudgeted Match = %v", err)
		}
		freeT, freeMB = freeT+d, freeMB+mb
		d, mb, err = run(0)
		if !errors.Is(err, mediamatch.ErrOverBudget) {
			b.Fatalf("budgeted Match = %v, want mediamatch.ErrOverBudget", err)
		}
		budT, budMB = budT+d, budMB+mb
	}
	n := float64(b.N)
	b.ReportMetric(freeT.Seconds()*1000/n, "unbudgeted-ms")
	b.ReportMetric(budT.Seconds()*1000/n, "budgeted-ms")
	b.ReportMetric(freeMB/n, "unbudgeted-alloc-mb")
	b.ReportMetric(budMB/n, "budgeted-alloc-mb")
	b.ReportMetric(float64(freeT)/float64(budT), "time-ratio")
	b.ReportMetric(freeMB/budMB, "alloc-ratio")
}
