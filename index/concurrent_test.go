package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mediamatch/mediamatch/fingerprint"
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
				if _, err := ix.AddItem(ctx, Item{Bank: it.bank, ID: it.id, Media: still(phash(it.hash))}); err != nil {
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
						if _, err := ix.UpdateItem(ctx, it.bank, it.id, ItemUpdate{SetDisabled: true, Disabled: d}); err != nil {
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
			if _, err := ix.CreateBank(ctx, Bank{Name: name}); err != nil {
				report(err)
				return
			}
			var its []*tracked
			for i := range 3 {
				it := &tracked{bank: name, id: fmt.Sprint(i), hash: newHash()}
				if _, err := ix.AddItem(ctx, Item{Bank: name, ID: it.id, Media: still(phash(it.hash))}); err != nil {
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
				found := slices.ContainsFunc(ms, func(m Match) bool { return m.Bank == it.bank && m.ItemID == it.id })
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
		found := len(matchIDs(t, ix, Query{Media: still(phash(it.hash)), Signals: phashOnly(), Thresholds: map[fingerprint.SignalType]int{fingerprint.PHash: 0}})) > 0
		if found == it.gone.Load() {
			t.Errorf("%s/%s at the end: matches %v, want %v", it.bank, it.id, found, !it.gone.Load())
		}
	}
}
