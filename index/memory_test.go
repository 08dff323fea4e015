package index

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// TestItemTable checks the persistent item table against a map, and that
// a table published (its edit ended) never changes when later edits
// change the tables made from it.
func TestItemTable(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var tab itemTable
	want := map[uint64]*itemMeta{}
	type frozen struct {
		tab  itemTable
		want map[uint64]*itemMeta
	}
	var snaps []frozen
	refs := func() uint64 {
		switch r.IntN(3) {
		case 0:
			return uint64(r.IntN(70)) // within one leaf and its neighbour
		case 1:
			return uint64(r.IntN(300_000)) // four levels
		}
		return r.Uint64() >> r.IntN(64) // any depth, up to the top bits
	}
	edit := new(tableEdit)
	for step := range 20000 {
		ref := refs()
		if r.IntN(4) == 0 {
			tab = tab.set(edit, ref, nil)
			delete(want, ref)
		} else {
			m := &itemMeta{id: "x"}
			tab = tab.set(edit, ref, m)
			want[ref] = m
		}
		if step%500 == 0 { // publish: freeze what we have
			snaps = append(snaps, frozen{tab, clone(want)})
			edit = new(tableEdit)
		}
	}
	check := func(name string, tab itemTable, want map[uint64]*itemMeta) {
		t.Helper()
		for ref, m := range want {
			if got := tab.get(ref); got != m {
				t.Fatalf("%s: get(%d) = %p, want %p", name, ref, got, m)
			}
		}
		n := 0
		last := uint64(0)
		tab.each(func(ref uint64, m *itemMeta) {
			if n > 0 && ref <= last {
				t.Fatalf("%s: each visits %d after %d", name, ref, last)
			}
			if want[ref] != m {
				t.Fatalf("%s: each visits %d -> %p, want %p", name, ref, m, want[ref])
			}
			last = ref
			n++
		})
		if n != len(want) {
			t.Fatalf("%s: each visits %d items, want %d", name, n, len(want))
		}
		for range 1000 {
			if ref := refs(); want[ref] == nil && tab.get(ref) != nil {
				t.Fatalf("%s: get(%d) = %p, want nil", name, ref, tab.get(ref))
			}
		}
	}
	check("final", tab, want)
	for i, s := range snaps {
		check("snapshot "+string(rune('A'+i%26)), s.tab, s.want)
	}
}

func clone(m map[uint64]*itemMeta) map[uint64]*itemMeta {
	out := make(map[uint64]*itemMeta, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TestExactSearch checks that the searchers of the exact types find
// exactly the refs with an equal hash, across adds and removes.
func TestExactSearch(t *testing.T) {
	for _, typ := range []mediamatch.SignalType{mediamatch.MD5, mediamatch.SHA256} {
		t.Run(string(typ), func(t *testing.T) {
			h := newTypeSearcher(typ, nil)
			r := rand.New(rand.NewPCG(3, 4))
			words := typ.Bits() / 64
			var hashes [][]uint64
			for range 50 {
				w := make([]uint64, words)
				for i := range w {
					w[i] = r.Uint64()
				}
				hashes = append(hashes, w)
			}
			owners := map[int][]uint64{} // hash index -> refs
			for ref := uint64(1); ref <= 3000; ref++ {
				i := r.IntN(len(hashes))
				h.Add(ref, fileFrame, hashes[i])
				owners[i] = append(owners[i], ref)
			}
			for ref := uint64(1); ref <= 3000; ref += 7 {
				h.Remove(ref)
				for i, rs := range owners {
					owners[i] = slices.DeleteFunc(rs, func(x uint64) bool { return x == ref })
				}
			}
			h.Wait()
			for i, q := range hashes {
				var got []uint64
				h.View().Search(q, 0, func(ref uint64, frame uint32, dist int) {
					if dist != 0 || frame != fileFrame {
						t.Errorf("hit %d at distance %d, frame %d", ref, dist, frame)
					}
					got = append(got, ref)
				})
				slices.Sort(got)
				if !slices.Equal(got, owners[i]) {
					t.Fatalf("hash %d: refs %v, want %v", i, got, owners[i])
				}
			}
			near := slices.Clone(hashes[0])
			near[0] ^= 1
			h.View().Search(near, 0, func(ref uint64, _ uint32, _ int) { t.Errorf("hash one bit away found %d", ref) })
		})
	}
}

// TestMemorySnapshot checks that a state loaded before a write is not
// changed by it: a reader holding it keeps seeing the items, banks and
// signals as they were.
func TestMemorySnapshot(t *testing.T) {
	m := newMemory()
	b := &bankState{ref: 1, bank: mediamatch.Bank{Name: "b"}}
	hash := make([]byte, 32)
	hash[0] = 0xf0
	sigs := []sigEntry{{typ: mediamatch.PDQ, frame: 0, hash: hash}}
	m.write(func() {
		m.addBank(b)
		m.addItem(1, &itemMeta{bank: 1, id: "one"}, sigs)
	})
	before := m.state()
	m.write(func() {
		m.removeItem(1, sigs)
		m.dropBank(b)
		m.addItem(2, &itemMeta{bank: 1, id: "two"}, sigs)
	})
	after := m.state()

	hits := func(s *state) []uint64 {
		var refs []uint64
		s.views[searchKey{typ: mediamatch.PDQ}].Search(hashWords(hash), 0, func(ref uint64, _ uint32, _ int) { refs = append(refs, ref) })
		return refs
	}
	if got := hits(before); !slices.Equal(got, []uint64{1}) {
		t.Errorf("old state: hits %v, want [1]", got)
	}
	if before.items.get(1) == nil || before.items.get(2) != nil || before.banks["b"] == nil || before.nitems != 1 {
		t.Errorf("old state changed: item 1 %v, item 2 %v, bank %v, nitems %d", before.items.get(1), before.items.get(2), before.banks["b"], before.nitems)
	}
	if got := hits(after); !slices.Equal(got, []uint64{2}) {
		t.Errorf("new state: hits %v, want [2]", got)
	}
	if after.items.get(1) != nil || after.items.get(2) == nil || after.banks["b"] != nil || after.nitems != 1 {
		t.Errorf("new state: item 1 %v, item 2 %v, bank %v, nitems %d", after.items.get(1), after.items.get(2), after.banks["b"], after.nitems)
	}
}

// TestMemoryReclaim checks that after deletes the published state drops
// the deleted entries: background merges rebuild the segments and
// republish, without waiting for another write.
func TestMemoryReclaim(t *testing.T) {
	m := newMemory()
	r := rand.New(rand.NewPCG(9, 9))
	const n = 40_000 // more than a tail holds (8192 64-bit entries)
	sigs := make([][]sigEntry, n)
	m.write(func() {
		m.addBank(&bankState{ref: 1, bank: mediamatch.Bank{Name: "b"}})
		for i := range n {
			sigs[i] = []sigEntry{{typ: mediamatch.PHash, hash: h64(r.Uint64())}}
			m.addItem(uint64(i+1), &itemMeta{bank: 1, id: fmt.Sprint(i)}, sigs[i])
		}
	})
	m.wait()
	stored := func() int { return m.state().views[searchKey{typ: mediamatch.PHash}].Stored() }
	if k := stored(); k != n {
		t.Fatalf("%d entries stored, want %d", k, n)
	}
	m.write(func() { // delete 90%, spread over every segment
		for i := range n {
			if i%10 != 0 {
				m.removeItem(uint64(i+1), sigs[i])
			}
		}
	})
	m.wait() // the merges that the deletes started, and their republish
	// Segments keep at most a quarter dead; the tail (up to 8192 entries)
	// drops its dead when it is sealed.
	if live, k := m.state().entries(mediamatch.PHash), stored(); live != n/10 || k > 2*n/10+8192 {
		t.Errorf("after deleting 90%%: %d live entries, %d stored in the published state; want %d, at most %d", live, k, n/10, 2*n/10+8192)
	}
	if got := m.state().nitems; got != n/10 {
		t.Errorf("nitems = %d, want %d", got, n/10)
	}
}

// TestItemMetaSize keeps the per-item memory in check: 48 bytes is a Go
// size class, and ten million items take 480 MB of them.
func TestItemMetaSize(t *testing.T) {
	if s := unsafe.Sizeof(itemMeta{}); s > 48 {
		t.Errorf("itemMeta is %d bytes, want at most 48", s)
	}
}
