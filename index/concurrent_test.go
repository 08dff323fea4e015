package index

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// TestConcurrent runs writers (add, disable, enable, delete, delete bank)
// against readers (Match, GetItem, ListItems, ListBanks) and checks, on every
// read, that an item deleted or disabled for good before the read started
// never matches, and that an item never touched after its add always does.
// Run it with -race.
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	ix := openTest(t, "", Options{})
	mustBank(t, ix, "c")
	perWriter := 30
	if testing.Short() {
		perWriter = 12
	}

	type tracked struct {
		bank, id string
		hash     []byte
		stable   bool        // never changed after its add
		gone     atomic.Bool // deleted or disabled for good; set after the call returned
	}
	var (
		mu    sync.Mutex
		known []*tracked // added (AddItem returned)
		seq   atomic.Uint64
	)
	publish := func(it *tracked) {
		mu.Lock()
		known = append(known, it)
		mu.Unlock()
	}
	newHash := func() []byte {
		// Well apart: a random 64-bit hash from a per-call seed.
		r := rand.New(rand.NewPCG(seq.Add(1), 99))
		return h64(r.Uint64())
	}

	var writers sync.WaitGroup
	var nerr atomic.Int64
	report := func(err error) { // never blocks; the first 10 errors are enough
		if nerr.Add(1) <= 10 {
			t.Error(err)
		}
	}
	for w := range 3 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range perWriter {
				it := &tracked{bank: "c", id: fmt.Sprintf("w%d-%d", w, i), hash: newHash()}
				if _, err := ix.AddItem(ctx, mediamatch.Item{Bank: it.bank, ID: it.id, Media: still(phash(it.hash))}); err != nil {
					report(err)
					return
				}
				switch r.IntN(3) {
				case 0:
					it.stable = true
					publish(it)
				case 1: // toggle, then disable for good
					publish(it)
					for _, d := range []bool{true, false, true} {
						if _, err := ix.UpdateItem(ctx, it.bank, it.id, mediamatch.ItemUpdate{SetDisabled: true, Disabled: d}); err != nil {
							report(err)
							return
						}
					}
					it.gone.Store(true)
				case 2:
					publish(it)
					if err := ix.DeleteItem(ctx, it.bank, it.id); err != nil {
						report(err)
						return
					}
					it.gone.Store(true)
				}
			}
		}()
	}
	writers.Add(1)
	go func() { // banks come and go
		defer writers.Done()
		for b := range perWriter / 6 {
			name := fmt.Sprintf("tmp-%d", b)
			if _, err := ix.CreateBank(ctx, mediamatch.Bank{Name: name}); err != nil {
				report(err)
				return
			}
			var its []*tracked
			for i := range 3 {
				it := &tracked{bank: name, id: fmt.Sprint(i), hash: newHash()}
				if _, err := ix.AddItem(ctx, mediamatch.Item{Bank: name, ID: it.id, Media: still(phash(it.hash))}); err != nil {
					report(err)
					return
				}
				publish(it)
				its = append(its, it)
			}
			if err := ix.DeleteBank(ctx, name); err != nil {
				report(err)
				return
			}
			for _, it := range its {
				it.gone.Store(true)
			}
		}
	}()

	done := make(chan struct{})
	var readers sync.WaitGroup
	var reads atomic.Int64
	for rd := range 3 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			r := rand.New(rand.NewPCG(uint64(rd), 2))
			for {
				select {
				case <-done:
					return
				default:
				}
				mu.Lock()
				if len(known) == 0 {
					mu.Unlock()
					continue
				}
				it := known[r.IntN(len(known))]
				mu.Unlock()
				goneBefore := it.gone.Load()
				ms, err := ix.Match(ctx, Query{Media: still(phash(flip(r, it.hash, 2))), Signals: phashOnly()})
				if err != nil {
					report(err)
					return
				}
				found := slices.ContainsFunc(ms, func(m mediamatch.Match) bool { return m.Bank == it.bank && m.ItemID == it.id })
				if goneBefore && found {
					report(fmt.Errorf("%s/%s matched after its delete or disable returned", it.bank, it.id))
				}
				if it.stable && !found {
					report(fmt.Errorf("%s/%s, never changed, did not match: got %v", it.bank, it.id, ms))
				}
				if it.stable {
					if _, err := ix.GetItem(ctx, it.bank, it.id); err != nil {
						report(fmt.Errorf("GetItem(%s/%s) = %v", it.bank, it.id, err))
					}
				}
				if _, _, err := ix.ListItems(ctx, "c", 5, ""); err != nil {
					report(err)
				}
				if _, _, err := ix.ListBanks(ctx, 0, ""); err != nil {
					report(err)
				}
				reads.Add(1)
			}
		}()
	}
	writers.Wait()
	close(done)
	readers.Wait()
	if reads.Load() == 0 {
		t.Error("readers never ran")
	}

	// The end state matches the tracked one.
	mu.Lock()
	defer mu.Unlock()
	for _, it := range known {
		found := len(matchIDs(t, ix, Query{Media: still(phash(it.hash)), Signals: phashOnly(), Thresholds: map[mediamatch.SignalType]int{mediamatch.PHash: 0}})) > 0
		if found == it.gone.Load() {
			t.Errorf("%s/%s at the end: matches %v, want %v", it.bank, it.id, found, !it.gone.Load())
		}
	}
}

// TestConsistentPrefix checks that every Match sees a prefix of the
// writes. Two writers each run a scripted sequence of adds (single and in
// all-or-nothing batches), disables, enables and deletes on their own
// items, all within the query's radius, and count the writes that have
// returned. A reader that saw lo writes of a writer returned before its
// Match and hi after it must get, of that writer's items, exactly the set
// alive after some k writes of that writer, lo <= k <= hi+1 (the write in
// flight may be visible). A half-applied batch, or a delete or disable
// visible while an earlier write is not, fails. Run it with -race.
func TestConsistentPrefix(t *testing.T) {
	ctx := context.Background()
	ix := openTest(t, "", Options{})
	mustBank(t, ix, "p")
	ops := 120
	if testing.Short() {
		ops = 50
	}
	centre := uint64(0x5a5a_0f0f_3c3c_9696)
	query := Query{Media: still(phash(h64(centre))), Signals: phashOnly(), MaxResults: 1000}

	type writer struct {
		run    []func() error
		states []string // states[k]: the writer's matching items after k writes, sorted, joined
		done   atomic.Int64
	}
	ws := make([]*writer, 2)
	for w := range ws {
		wr := &writer{}
		ws[w] = wr
		r := rand.New(rand.NewPCG(uint64(w), 7))
		alive := map[string]bool{} // id -> enabled
		next := 0
		newItem := func() mediamatch.Item {
			id := fmt.Sprintf("w%d-%03d", w, next)
			bit := uint(w*32 + next%32) // distinct bits: each item 1..2 bits from the centre
			next++
			return mediamatch.Item{Bank: "p", ID: id, Media: still(phash(h64(centre ^ 1<<bit ^ uint64(r.IntN(2))<<((bit+7)%64))))}
		}
		snapshot := func() {
			var ids []string
			for id, on := range alive {
				if on {
					ids = append(ids, id)
				}
			}
			slices.Sort(ids)
			wr.states = append(wr.states, fmt.Sprint(ids))
		}
		snapshot()
		pick := func() string {
			ids := slices.Sorted(maps.Keys(alive))
			return ids[r.IntN(len(ids))]
		}
		for range ops {
			switch k := r.IntN(6); {
			case len(alive) == 0 || k == 0:
				it := newItem()
				alive[it.ID] = true
				wr.run = append(wr.run, func() error { _, err := ix.AddItem(ctx, it); return err })
			case k == 1:
				batch := make([]mediamatch.Item, 4)
				for i := range batch {
					batch[i] = newItem()
					alive[batch[i].ID] = true
				}
				wr.run = append(wr.run, func() error { return ix.addItems(ctx, "p", batch) })
			case k == 2 || k == 3:
				id := pick()
				on := !alive[id]
				alive[id] = on
				wr.run = append(wr.run, func() error {
					_, err := ix.UpdateItem(ctx, "p", id, mediamatch.ItemUpdate{SetDisabled: true, Disabled: !on})
					return err
				})
			default:
				id := pick()
				delete(alive, id)
				wr.run = append(wr.run, func() error { return ix.DeleteItem(ctx, "p", id) })
			}
			snapshot()
		}
	}

	var writers, readers sync.WaitGroup
	stop := make(chan struct{})
	var checked atomic.Int64
	for _, wr := range ws {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for _, op := range wr.run {
				if err := op(); err != nil {
					t.Error(err)
					return
				}
				wr.done.Add(1)
			}
		}()
	}
	for range 3 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var lo, hi [2]int64
				for w, wr := range ws {
					lo[w] = wr.done.Load()
				}
				ms, err := ix.Match(ctx, query)
				if err != nil {
					t.Error(err)
					return
				}
				for w, wr := range ws {
					hi[w] = wr.done.Load()
				}
				for w, wr := range ws {
					var ids []string
					for _, m := range ms {
						if strings.HasPrefix(m.ItemID, fmt.Sprintf("w%d-", w)) {
							ids = append(ids, m.ItemID)
						}
					}
					slices.Sort(ids)
					got := fmt.Sprint(ids)
					ok := false
					for k := lo[w]; k <= min(hi[w]+1, int64(len(wr.states)-1)); k++ {
						ok = ok || wr.states[k] == got
					}
					if !ok {
						t.Errorf("writer %d: match saw %s, which is no state after %d..%d writes", w, got, lo[w], hi[w]+1)
						return
					}
				}
				checked.Add(1)
			}
		}()
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	if checked.Load() == 0 {
		t.Error("no read was checked")
	}
	t.Logf("%d reads checked against %d writes", checked.Load(), 2*ops)
}
