package hamming

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// hammingOp is one write: an add of (ref, frame, hash), or a remove of ref
// when hash is nil.
type hammingOp struct {
	ref   uint64
	frame uint32
	hash  []uint64
}

// TestHammingConcurrent runs one writer and several readers on a hamming
// searcher with no lock around it, merges running in the background. Each
// reader notes how many writes had returned before (lo) and after (hi) its
// search; its result must be exactly what a naive scan finds after some
// number of writes from lo to hi+1 (the write in flight when hi was read
// may have been published already). So every search sees a prefix of the writes, and a
// removed ref never matches once its remove has returned. Run it under
// -race too.
func TestHammingConcurrent(t *testing.T) {
	nops := 3000
	if testing.Short() {
		nops = 1000
	}
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"64-bit/auto", Config{Words: 1, Radius: 8}},
		{"64-bit/mih", Config{Words: 1, Radius: 8, mode: modeMIH}},
		{"64-bit/mih/inline", Config{Words: 1, Radius: 8, mode: modeMIH, layout: layoutInline}},
		{"256-bit/auto", Config{Words: 4, Radius: 31}},
		{"256-bit/mih", Config{Words: 4, Radius: 31, mode: modeMIH}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.tail = 8
			testHammingConcurrent(t, c.cfg, nops)
		})
	}
}

func testHammingConcurrent(t *testing.T, cfg Config, nops int) {
	words := cfg.Words
	r := rand.New(rand.NewPCG(uint64(words), uint64(cfg.mode)))
	gen := newGenerator(r, words, true)
	// The writes: adds of 1-3 frames per new ref, and removes of live refs
	// (some twice, some unknown).
	var ops []hammingOp
	var live []uint64
	for ref := uint64(1); len(ops) < nops; ref++ {
		if len(live) > 0 && r.IntN(3) == 0 {
			i := r.IntN(len(live))
			ops = append(ops, hammingOp{ref: live[i]})
			if r.IntN(4) == 0 {
				ops = append(ops, hammingOp{ref: live[i]}) // again: a no-op
			}
			live = slices.Delete(live, i, i+1)
			continue
		}
		for frame := range uint32(1 + r.IntN(3)) {
			ops = append(ops, hammingOp{ref: ref, frame: frame, hash: gen.hash()})
		}
		live = append(live, ref)
	}

	h := New(cfg)
	var done atomic.Int64 // writes returned
	type read struct {
		lo, hi int64
		q      []uint64
		radius int
		got    []hitRec
	}
	var (
		mu    sync.Mutex
		reads []read
		wg    sync.WaitGroup
	)
	for i := range 3 {
		wg.Add(1)
		rr := rand.New(rand.NewPCG(uint64(i), 7))
		qgen := newGenerator(rr, words, true)
		qgen.centres = gen.centres
		go func() {
			defer wg.Done()
			for done.Load() < int64(len(ops)) {
				q := qgen.near(qgen.centres[rr.IntN(len(qgen.centres))], rr.IntN(8))
				radius := []int{4, 8, 16 * words}[rr.IntN(3)]
				lo := done.Load()
				got := collect(h, q, radius)
				hi := done.Load()
				mu.Lock()
				reads = append(reads, read{lo, hi, q, radius, got})
				mu.Unlock()
			}
		}()
	}
	for i, op := range ops {
		if op.hash != nil {
			h.Add(op.ref, op.frame, op.hash)
		} else {
			h.Remove(op.ref)
		}
		done.Store(int64(i + 1))
	}
	wg.Wait()
	h.Wait()

	// Replay the writes into a naive oracle, checking each read against
	// every state in its range.
	slices.SortFunc(reads, func(a, b read) int { return int(a.lo - b.lo) })
	var o oracle
	matched := make([]bool, len(reads))
	next := 0
	var open []int
	for k := 0; k <= len(ops); k++ {
		if k > 0 {
			op := ops[k-1]
			if op.hash != nil {
				o.Add(op.ref, op.frame, op.hash)
			} else {
				o.Remove(op.ref)
			}
		}
		for next < len(reads) && reads[next].lo == int64(k) {
			open = append(open, next)
			next++
		}
		open = slices.DeleteFunc(open, func(i int) bool {
			rd := reads[i]
			if !matched[i] && slices.Equal(rd.got, o.search(rd.q, rd.radius)) {
				matched[i] = true
			}
			// The write after hi may have been published before the
			// reader read hi.
			return matched[i] || rd.hi+1 <= int64(k)
		})
	}
	bad := 0
	for i, rd := range reads {
		if !matched[i] {
			if bad < 3 {
				t.Errorf("search(radius %d) while writes %d..%d returned = %d hits %v: matches no state in that range",
					rd.radius, rd.lo, rd.hi, len(rd.got), head(rd.got))
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d reads inconsistent", bad, len(reads))
	}
	if len(reads) < 10 {
		t.Logf("only %d reads overlapped the writes", len(reads))
	}
	if got, want := h.len(), o.len(); got != want {
		t.Errorf("len() = %d after the writes, want %d", got, want)
	}
}
