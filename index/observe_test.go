package index

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// TestSearchObserved checks that Options.SearchObserved hears of each
// perceptual type a Match searched, once per Match whatever the number of
// keyframes, and of no other.
func TestSearchObserved(t *testing.T) {
	var mu sync.Mutex
	calls := map[mediamatch.SignalType]int{}
	ix := openTest(t, "", Options{SearchObserved: func(typ mediamatch.SignalType, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if d < 0 {
			t.Errorf("SearchObserved(%s, %v): negative time", typ, d)
		}
		calls[typ]++
	}})
	r := rand.New(rand.NewPCG(3, 4))
	h1, h2, h3, h4 := h64(r.Uint64()), h64(r.Uint64()), h64(r.Uint64()), h64(r.Uint64())
	mustBank(t, ix, "b")
	mustAdd(t, ix, mediamatch.Item{Bank: "b", ID: "v", Media: video(h1, h2, h3)})
	for _, c := range []struct {
		name  string
		query mediamatch.Media
		want  map[mediamatch.SignalType]int
	}{
		{"three pHash keyframes", video(h1, h2, h3), map[mediamatch.SignalType]int{mediamatch.PHash: 1}},
		{"pHash and dHash", still(phash(h1), dhash(h4)), map[mediamatch.SignalType]int{mediamatch.PHash: 1, mediamatch.DHash: 1}},
		{"MD5 only", mediamatch.Media{Kind: mediamatch.KindImage, FileSignals: []mediamatch.Signal{md5sig(make([]byte, 16))}},
			map[mediamatch.SignalType]int{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			mu.Lock()
			clear(calls)
			mu.Unlock()
			if _, err := ix.Match(context.Background(), Query{Media: c.query,
				Signals: []mediamatch.SignalType{mediamatch.PHash, mediamatch.DHash, mediamatch.MD5}}); err != nil {
				t.Fatalf("Match = %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(calls) != len(c.want) {
				t.Errorf("SearchObserved calls = %v, want %v", calls, c.want)
			}
			for typ, n := range c.want {
				if calls[typ] != n {
					t.Errorf("SearchObserved(%s) called %d times, want %d", typ, calls[typ], n)
				}
			}
		})
	}
}
