package index

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// listItem is item i of a generated partner list: a PDQ within a few bits
// of a shared centre (so one query matches them all), labels and source.
func listItem(i int, label string) mediamatch.Item {
	h := make([]byte, 32)
	binary.BigEndian.PutUint64(h, 0x0123_4567_89ab_cdef)
	binary.BigEndian.PutUint64(h[8:], 0xfedc_ba98_7654_3210)
	binary.BigEndian.PutUint64(h[16:], 0x0f0f_0f0f_f0f0_f0f0)
	binary.BigEndian.PutUint64(h[24:], uint64(i)) // up to 24 bits from the centre... kept small below
	h[24] = 0
	return mediamatch.Item{
		ID:     fmt.Sprintf("up-%06d", i),
		Labels: map[string]string{"category": label},
		Media:  still(pdq(h)),
		Source: &mediamatch.Source{Format: "te-csv", Partner: "gifct", UpstreamID: fmt.Sprint(i), Tags: []string{"t1", label}},
	}
}

// centreQuery matches every listItem at radius 31 (they differ from the
// centre only in the last 24 bits, and by popcount(i) <= 24 bits).
func centreQuery(max int) Query {
	it := listItem(0, "")
	return Query{Media: it.Media, MaxResults: max, Thresholds: map[mediamatch.SignalType]int{mediamatch.PDQ: 24}}
}

func runImport(t testing.TB, ix *Index, bank string, recs []ImportRecord) mediamatch.ImportStats {
	t.Helper()
	ctx := context.Background()
	im, err := ix.BeginImport(ctx, bank)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := im.Add(ctx, r); err != nil {
			t.Fatalf("Add(%s) = %v", r.Item.ID, err)
		}
	}
	st, err := im.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit = %v", err)
	}
	ix.cleaning.Wait()
	return st
}

func adds(n int, label string) []ImportRecord {
	out := make([]ImportRecord, n)
	for i := range out {
		out[i] = ImportRecord{Item: listItem(i, label)}
	}
	return out
}

// bankState returns the bank's items as "id:label" strings, in id order.
func bankContents(t testing.TB, ix *Index, bank string) []string {
	t.Helper()
	var out []string
	tok := ""
	for {
		items, next, err := ix.ListItems(context.Background(), bank, 1000, tok)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			out = append(out, it.ID+":"+it.Labels["category"])
		}
		if next == "" {
			return out
		}
		tok = next
	}
}

func TestImport(t *testing.T) {
	ctx := context.Background()
	ix := openTest(t, "", Options{})
	mustBank(t, ix, "p")
	now := ix.timestamp()

	st := runImport(t, ix, "p", adds(50, "a"))
	if want := (mediamatch.ImportStats{Added: 50}); st != want {
		t.Errorf("first import: %+v, want %+v", st, want)
	}
	ms, err := ix.Match(ctx, centreQuery(1000))
	if err != nil || len(ms) != 50 {
		t.Fatalf("Match after import: %d matches, %v; want 50", len(ms), err)
	}
	src := ms[0].Source
	if src == nil || src.Partner != "gifct" || src.Format != "te-csv" || src.FirstSeen.Before(now) || src.Updated.IsZero() {
		t.Errorf("match source = %+v, want partner gifct, format te-csv, first seen now", src)
	}

	// The same list again changes nothing.
	if st := runImport(t, ix, "p", adds(50, "a")); st != (mediamatch.ImportStats{Unchanged: 50}) {
		t.Errorf("repeat import: %+v, want 50 unchanged", st)
	}
	if n := countKeys(t, ix, keyStage); n != 0 {
		t.Errorf("%d staging keys left", n)
	}

	// Changed labels update; deletes remove, or count as unchanged when
	// the item is absent; new ids add. A curator's disabling survives.
	if _, err := ix.UpdateItem(ctx, "p", "up-000001", mediamatch.ItemUpdate{SetDisabled: true, Disabled: true}); err != nil {
		t.Fatal(err)
	}
	old, err := ix.GetItem(ctx, "p", "up-000001")
	if err != nil {
		t.Fatal(err)
	}
	recs := adds(3, "b") // 0..2 relabelled
	recs = append(recs,
		ImportRecord{Item: mediamatch.Item{ID: "up-000010"}, Delete: true},
		ImportRecord{Item: mediamatch.Item{ID: "never-there"}, Delete: true},
		ImportRecord{Item: listItem(60, "a")})
	st = runImport(t, ix, "p", recs)
	if want := (mediamatch.ImportStats{Added: 1, Updated: 3, Deleted: 1, Unchanged: 1}); st != want {
		t.Errorf("update import: %+v, want %+v", st, want)
	}
	it, err := ix.GetItem(ctx, "p", "up-000001")
	if err != nil {
		t.Fatal(err)
	}
	if it.Labels["category"] != "b" || !it.Disabled || !it.CreateTime.Equal(old.CreateTime) || !it.Source.FirstSeen.Equal(old.Source.FirstSeen) {
		t.Errorf("updated item = labels %v disabled %v created %v first seen %v; want b, true, %v, %v",
			it.Labels, it.Disabled, it.CreateTime, it.Source.FirstSeen, old.CreateTime, old.Source.FirstSeen)
	}
	if _, err := ix.GetItem(ctx, "p", "up-000010"); !errors.Is(err, mediamatch.ErrNotFound) {
		t.Errorf("deleted item: GetItem = %v, want mediamatch.ErrNotFound", err)
	}
	if ms, _ := ix.Match(ctx, centreQuery(1000)); len(ms) != 49 { // 50 - 1 deleted - 1 disabled + 1 added
		t.Errorf("after update import: %d matches, want 49", len(ms))
	}
	if b, _ := ix.GetBank(ctx, "p"); b.ItemCount != 50 {
		t.Errorf("item count %d, want 50", b.ItemCount)
	}

	// Invalid records are refused one by one; the import goes on.
	im, err := ix.BeginImport(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	bad := listItem(70, "a")
	bad.Media.Keyframes[0].Signals[0].Hash = bad.Media.Keyframes[0].Signals[0].Hash[:31]
	if err := im.Add(ctx, ImportRecord{Item: bad}); !errors.Is(err, mediamatch.ErrInvalid) {
		t.Errorf("Add(short hash) = %v, want mediamatch.ErrInvalid", err)
	}
	if err := im.Add(ctx, ImportRecord{Item: listItem(71, "a")}); err != nil {
		t.Fatal(err)
	}
	if err := im.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.GetItem(ctx, "p", "up-000071"); !errors.Is(err, mediamatch.ErrNotFound) {
		t.Errorf("aborted import's item: GetItem = %v, want mediamatch.ErrNotFound", err)
	}
	if n := countKeys(t, ix, keyStage); n != 0 {
		t.Errorf("%d staging keys left after Abort", n)
	}
	if _, err := ix.BeginImport(ctx, "nope"); !errors.Is(err, mediamatch.ErrNotFound) {
		t.Errorf("BeginImport(absent bank) = %v, want mediamatch.ErrNotFound", err)
	}
}

// TestImportAllOrNothing checks that matches running during an import see
// the bank without any of the list or with all of it.
func TestImportAllOrNothing(t *testing.T) {
	ctx := context.Background()
	ix := openTest(t, "", Options{})
	mustBank(t, ix, "p")
	n := 3000
	if testing.Short() {
		n = 1000
	}
	// Readers match while the import runs; each stops after its first
	// match that began once Import returned, which must see every item.
	var (
		imported atomic.Bool
		wg       sync.WaitGroup
		seen     sync.Map
		matches  atomic.Int64
		started  = make(chan struct{}, 2)
	)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for {
				after := imported.Load()
				ms, err := ix.Match(ctx, centreQuery(n+10))
				if err != nil {
					t.Error(err)
					return
				}
				if first {
					started <- struct{}{}
					first = false
				}
				seen.Store(len(ms), true)
				matches.Add(1)
				if after {
					if len(ms) != n {
						t.Errorf("a match begun after Import returned saw %d of the %d imported items", len(ms), n)
					}
					return
				}
			}
		}()
	}
	<-started
	<-started
	runImport(t, ix, "p", adds(n, "a"))
	imported.Store(true)
	wg.Wait()
	var sizes []int
	seen.Range(func(k, _ any) bool { sizes = append(sizes, k.(int)); return true })
	slices.Sort(sizes)
	for _, s := range sizes {
		if s != 0 && s != n {
			t.Errorf("a match saw %d of the %d imported items (all sizes seen: %v)", s, n, sizes)
			break
		}
	}
	if !slices.Contains(sizes, n) {
		t.Errorf("no match saw the import (sizes %v, %d matches)", sizes, matches.Load())
	}
}

// TestImportRecovery interrupts imports where a crash could and checks
// that the next Open leaves the bank exactly old or exactly new.
func TestImportRecovery(t *testing.T) {
	ctx := context.Background()
	const n = 400
	oldList := adds(n, "old")
	newList := append(adds(n/2, "new"), ImportRecord{Item: mediamatch.Item{ID: "up-000399"}, Delete: true})
	for i := n; i < n+100; i++ {
		newList = append(newList, ImportRecord{Item: listItem(i, "new")})
	}
	// What the bank holds after the old list, and after both.
	ref := openTest(t, "", Options{})
	mustBank(t, ref, "p")
	runImport(t, ref, "p", oldList)
	wantOld := bankContents(t, ref, "p")
	runImport(t, ref, "p", newList)
	wantNew := bankContents(t, ref, "p")

	fail := errors.New("simulated crash")
	for _, c := range []struct {
		name   string
		commit bool // reach the commit point
		after  int  // apply transactions that commit before the crash
		want   []string
	}{
		{"staged only", false, 0, wantOld},
		{"committed, nothing applied", true, 0, wantNew},
		{"committed, partly applied", true, 1, wantNew},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			ix := openTest(t, dir, Options{})
			mustBank(t, ix, "p")
			runImport(t, ix, "p", oldList)
			ix.Close()

			ix = openTest(t, dir, Options{importTxn: 4096, importFault: func(txn int) error {
				if txn >= c.after {
					return fail
				}
				return nil
			}})
			im, err := ix.BeginImport(ctx, "p")
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range newList {
				if err := im.Add(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			if c.commit {
				if _, err := im.Commit(ctx); !errors.Is(err, fail) {
					t.Fatalf("Commit = %v, want the simulated crash", err)
				}
			} else if err := im.b.flush(); err != nil { // staged and durable, never committed
				t.Fatal(err)
			}
			ix.Close()

			ix = openTest(t, dir, Options{})
			if got := bankContents(t, ix, "p"); !slices.Equal(got, c.want) {
				t.Errorf("after restart: %d items %v..., want %d items %v...", len(got), got[:min(5, len(got))], len(c.want), c.want[:min(5, len(c.want))])
			}
			if ms, _ := ix.Match(ctx, centreQuery(1000)); len(ms) != len(c.want) {
				t.Errorf("after restart: %d matches, want %d", len(ms), len(c.want))
			}
			if n := countKeys(t, ix, keyStage) + countKeys(t, ix, keyImport); n != 0 {
				t.Errorf("%d staging or marker keys left", n)
			}
			// A repeat of the import completes and yields the new bank.
			runImport(t, ix, "p", newList)
			if got := bankContents(t, ix, "p"); !slices.Equal(got, wantNew) {
				t.Errorf("after repeat: %d items, want %d", len(got), len(wantNew))
			}
		})
	}
}

// TestImportAddThenDelete checks a list that adds an item and later
// retracts it (te-updates pages do): the item is gone and none of its
// signals stay indexed.
func TestImportAddThenDelete(t *testing.T) {
	ctx := context.Background()
	ix := openTest(t, "", Options{})
	mustBank(t, ix, "p")
	recs := adds(5, "a")
	recs = append(recs, ImportRecord{Item: mediamatch.Item{ID: "up-000002"}, Delete: true}, ImportRecord{Item: listItem(2, "b")},
		ImportRecord{Item: mediamatch.Item{ID: "up-000003"}, Delete: true})
	st := runImport(t, ix, "p", recs)
	if want := (mediamatch.ImportStats{Added: 5, Updated: 0, Deleted: 2}); st.Added+st.Updated != 6 || st.Deleted != want.Deleted {
		t.Errorf("stats %+v, want 6 puts (adds or updates) and 2 deletes", st)
	}
	ix.mem.wait()
	if got := bankContents(t, ix, "p"); !slices.Equal(got, []string{"up-000000:a", "up-000001:a", "up-000002:b", "up-000004:a"}) {
		t.Errorf("bank = %v", got)
	}
	if n := ix.mem.state().entries(mediamatch.PDQ); n != 4 {
		t.Errorf("%d PDQ entries indexed, want 4", n)
	}
	if ms, _ := ix.Match(ctx, centreQuery(100)); len(ms) != 4 {
		t.Errorf("%d matches, want 4", len(ms))
	}
}
