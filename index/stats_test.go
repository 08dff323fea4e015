package index

import (
	"context"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// TestStatsBankSignals counts signals per bank and type through adds, a
// disable, a delete and a reopen, and checks that they add up to the
// per-type totals.
func TestStatsBankSignals(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	ix, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustBank(t, ix, "a")
	mustBank(t, ix, "b")
	mustBank(t, ix, "empty")
	mustAdd(t, ix, mediamatch.Item{Bank: "a", ID: "img", Media: still(phash(h64(r.Uint64())), pdq(h256(r)))})
	mustAdd(t, ix, mediamatch.Item{Bank: "a", ID: "vid", Media: video(h64(1), h64(2), h64(3))})
	mustAdd(t, ix, mediamatch.Item{Bank: "b", ID: "off", Media: still(dhash(h64(4)))})
	mustAdd(t, ix, mediamatch.Item{Bank: "b", ID: "gone", Media: still(dhash(h64(5)), phash(h64(6)))})
	mustAdd(t, ix, mediamatch.Item{Bank: "b", ID: "on", Media: still(dhash(h64(7)))})
	if _, err := ix.UpdateItem(ctx, "b", "off", mediamatch.ItemUpdate{SetDisabled: true, Disabled: true}); err != nil {
		t.Fatalf("UpdateItem(disable) = %v", err)
	}
	if err := ix.DeleteItem(ctx, "b", "gone"); err != nil {
		t.Fatalf("DeleteItem = %v", err)
	}
	want := map[string]map[mediamatch.SignalType]int64{
		"a":     {mediamatch.PHash: 4, mediamatch.PDQ: 1},
		"b":     {mediamatch.DHash: 1},
		"empty": {},
	}
	check := func(when string, ix *Index) {
		t.Helper()
		st := ix.Stats()
		for bank, w := range want {
			if got := st.BankSignals[bank]; !maps.Equal(got, w) {
				t.Errorf("%s: BankSignals[%s] = %v, want %v", when, bank, got, w)
			}
		}
		sum := map[mediamatch.SignalType]int{}
		for _, m := range st.BankSignals {
			for typ, n := range m {
				sum[typ] += int(n)
			}
		}
		for typ, n := range st.Signals {
			if sum[typ] != n {
				t.Errorf("%s: BankSignals sum to %d %s signals, Signals = %d", when, sum[typ], typ, n)
			}
		}
	}
	check("after writes", ix)
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	check("after reopen", openTest(t, dir, Options{}))
}
