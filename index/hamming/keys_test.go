package hamming

import (
	"cmp"
	"fmt"
	"maps"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// keyModel is the naive reference of KeyIndex: a list of entries, each
// with its keys as a set, voted on by counting. It shares no code with
// the index (no mixing, no postings).
type keyModel struct {
	entries []modelEntry
}

type modelEntry struct {
	ref     uint64
	frame   uint32
	keys    map[uint32]bool
	payload string
}

func (m *keyModel) Add(ref uint64, frame uint32, keys []uint32, payload []byte) {
	set := make(map[uint32]bool, len(keys))
	for _, k := range keys {
		set[k] = true
	}
	m.entries = append(m.entries, modelEntry{ref, frame, set, string(payload)})
}

func (m *keyModel) Remove(ref uint64) {
	m.entries = slices.DeleteFunc(m.entries, func(e modelEntry) bool { return e.ref == ref })
}

func (m *keyModel) vote(keys []uint32, minVotes, maxPostings int) []voteRec {
	q := map[uint32]bool{}
	for _, k := range keys {
		q[k] = true
	}
	for k := range q {
		held := 0
		for _, e := range m.entries {
			if e.keys[k] {
				held++
			}
		}
		if maxPostings > 0 && held > maxPostings {
			delete(q, k)
		}
	}
	var out []voteRec
	for _, e := range m.entries {
		votes := 0
		for k := range q {
			if e.keys[k] {
				votes++
			}
		}
		if votes >= max(minVotes, 1) {
			out = append(out, voteRec{e.ref, e.frame, votes, e.payload})
		}
	}
	slices.SortFunc(out, compareVotes)
	return out
}

type voteRec struct {
	ref     uint64
	frame   uint32
	votes   int
	payload string
}

func (r voteRec) String() string {
	return fmt.Sprintf("%d/%d:%d(%dB)", r.ref, r.frame, r.votes, len(r.payload))
}

func compareVotes(a, b voteRec) int {
	return cmp.Or(cmp.Compare(a.ref, b.ref), cmp.Compare(a.frame, b.frame), cmp.Compare(a.votes, b.votes), cmp.Compare(a.payload, b.payload))
}

func collectVotes(v *KeyView, keys []uint32, minVotes, maxPostings int) []voteRec {
	var out []voteRec
	v.Vote(keys, minVotes, maxPostings, func(ref uint64, frame uint32, votes int, payload []byte) {
		out = append(out, voteRec{ref, frame, votes, string(payload)})
	})
	slices.SortFunc(out, compareVotes)
	return out
}

func headVotes(v []voteRec) []voteRec { return v[:min(len(v), 5)] }

// keyGen draws entries' keys as the lead's LSH does, a table number in
// the top bits, but from a small universe so that entries share keys,
// with a few stop words that most entries hold.
type keyGen struct {
	r        *rand.Rand
	universe int
}

var stopWords = []uint32{0, 1<<24 | 7, 0xffffffff}

func (g *keyGen) keys() []uint32 {
	n := 1 + g.r.IntN(60)
	out := make([]uint32, 0, n+4)
	for range n {
		out = append(out, uint32(g.r.IntN(2))<<24|uint32(g.r.IntN(g.universe)))
	}
	for _, s := range stopWords {
		if g.r.IntN(4) != 0 {
			out = append(out, s)
		}
	}
	if g.r.IntN(3) == 0 {
		out = append(out, out[:3]...) // duplicates
	}
	return out
}

// payload is distinct per (ref, frame, add), of 0 to 300 bytes.
func (g *keyGen) payload(ref uint64, frame uint32) []byte {
	b := make([]byte, g.r.IntN(301))
	for i := range b {
		b[i] = byte(ref*31 + uint64(frame)*7 + uint64(i) + uint64(g.r.IntN(2)))
	}
	return b
}

// query returns keys near a stored entry's (some of them, and others),
// or random ones.
func (g *keyGen) query(m *keyModel) []uint32 {
	var q []uint32
	if len(m.entries) > 0 && g.r.IntN(4) != 0 {
		for k := range m.entries[g.r.IntN(len(m.entries))].keys {
			if g.r.IntN(3) != 0 {
				q = append(q, k)
			}
		}
	}
	for range g.r.IntN(30) {
		q = append(q, uint32(g.r.IntN(2))<<24|uint32(g.r.IntN(g.universe)))
	}
	if len(q) > 2 {
		q = append(q, q[0], q[1]) // duplicates count once
	}
	return q
}

// TestKeyIndexConformance runs random adds, batches, removes (of live
// refs, twice, unknown), re-adds and merges, and checks every vote,
// payloads included, against the model, in each postings layout.
func TestKeyIndexConformance(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  KeyConfig
	}{
		{"auto", KeyConfig{tail: 64}},
		{"auto/sync", KeyConfig{tail: 64, sync: true}},
		{"big-tail", KeyConfig{tail: 4000}},
		{"u32/dir2", KeyConfig{tail: 64, layout: keyLayout{2, 4, 1}}},   // big buckets: bisected
		{"u16/dir16", KeyConfig{tail: 64, layout: keyLayout{16, 2, 2}}}, // 16-bit rests, built by 2 goroutines
	} {
		t.Run(c.name, func(t *testing.T) {
			testKeyConformance(t, c.cfg)
		})
	}
}

func testKeyConformance(t *testing.T, cfg KeyConfig) {
	r := rand.New(rand.NewPCG(3, uint64(cfg.tail+cfg.layout.dirBits)))
	g := &keyGen{r: r, universe: 300}
	x := NewKeyIndex(cfg)
	var m keyModel
	nextRef := uint64(1)
	check := func(stage string) {
		t.Helper()
		if stage != "" {
			x.Wait()
		}
		v := x.View()
		if got, want := v.Len(), len(m.entries); got != want {
			t.Fatalf("%s: Len() = %d, want %d", stage, got, want)
		}
		for i := range 25 {
			q := g.query(&m)
			minVotes := []int{0, 1, 2, 4, 8}[i%5]
			maxPostings := []int{0, 0, 5, 20, 1000}[r.IntN(5)]
			got, want := collectVotes(v, q, minVotes, maxPostings), m.vote(q, minVotes, maxPostings)
			if !slices.EqualFunc(got, want, func(a, b voteRec) bool { return compareVotes(a, b) == 0 }) {
				t.Fatalf("%s: Vote(%d keys, min %d, max %d) = %d hits %v, want %d hits %v",
					stage, len(q), minVotes, maxPostings, len(got), headVotes(got), len(want), headVotes(want))
			}
		}
	}
	add := func() {
		ref := nextRef
		nextRef++
		for frame := range uint32(1 + r.IntN(3)) {
			keys, pay := g.keys(), g.payload(ref, frame)
			x.Add(ref, frame, keys, pay)
			m.Add(ref, frame, keys, pay)
		}
	}
	batch := func(n int) {
		var e KeyEntries
		// Refs out of order, so the batch must sort them.
		base := nextRef
		nextRef += uint64(n)
		for i := range n {
			ref := base + uint64((i*7)%n)
			keys, pay := g.keys(), g.payload(ref, 0)
			e.Add(ref, 0, keys, pay)
			m.Add(ref, 0, keys, pay)
		}
		if e.Len() != n {
			t.Fatalf("KeyEntries.Len() = %d, want %d", e.Len(), n)
		}
		x.AddBatch(&e)
	}
	remove := func() {
		if len(m.entries) == 0 {
			return
		}
		ref := m.entries[r.IntN(len(m.entries))].ref
		x.Remove(ref)
		m.Remove(ref)
		if r.IntN(4) == 0 {
			x.Remove(ref)
		}
	}
	check("")
	batch(300)
	check("after a batch")
	for round := range 6 {
		for range 150 {
			switch k := r.IntN(10); {
			case k < 6:
				add()
			case k < 9:
				remove()
			default:
				// A removed ref added again.
				ref := uint64(1 + r.IntN(int(nextRef-1)))
				keys, pay := g.keys(), g.payload(ref, 9)
				x.Add(ref, 9, keys, pay)
				m.Add(ref, 9, keys, pay)
			}
			if r.IntN(40) == 0 {
				check("") // mid-merge, as it is
			}
		}
		x.Remove(1 << 62) // unknown
		batch(1 + r.IntN(100))
		check(fmt.Sprintf("round %d", round))
	}
	// Remove most, so that segments are compacted and arenas copied.
	for len(m.entries) > 50 {
		remove()
	}
	check("after removing most")
	for len(m.entries) > 0 {
		remove()
	}
	check("after removing all")
	if b := x.View().Bytes(); b != 0 {
		t.Errorf("Bytes() = %d with no entries, want 0", b)
	}
}

// TestKeyVoteMaxPostings checks the stop-word rule alone: a key held by
// more than maxPostings live entries gives no votes, and removed entries
// not yet merged away do not count.
func TestKeyVoteMaxPostings(t *testing.T) {
	x := NewKeyIndex(KeyConfig{tail: 1 << 20})
	var e KeyEntries
	for ref := range uint64(40) {
		keys := []uint32{1000 + uint32(ref)} // its own
		if ref < 10 {
			keys = append(keys, 7) // the stop word: 10 entries hold it
		}
		e.Add(ref, 0, keys, nil)
	}
	x.AddBatch(&e)
	x.Add(100, 0, []uint32{7, 1100}, nil) // the tail: 11 hold it
	votes := func(maxPostings int) int {
		n := 0
		x.View().Vote([]uint32{7, 1000, 1100}, 1, maxPostings, func(ref uint64, _ uint32, votes int, _ []byte) { n += votes })
		return n
	}
	for _, c := range []struct{ max, want int }{{0, 13}, {11, 13}, {10, 2}, {1, 2}} {
		if got := votes(c.max); got != c.want {
			t.Errorf("votes with maxPostings %d = %d, want %d", c.max, got, c.want)
		}
	}
	// Remove one holder from the segment (too few to compact it) and the
	// one in the tail: 9 live entries hold the key, 10 stored.
	x.Remove(3)
	x.Remove(100)
	x.Wait()
	if n := len(x.View().segs); n != 1 || x.View().segs[0].ndead != 1 {
		t.Fatalf("want one segment with one dead entry; have %d segments", n)
	}
	for _, c := range []struct{ max, want int }{{9, 10}, {8, 1}} {
		if got := votes(c.max); got != c.want {
			t.Errorf("after removes: votes with maxPostings %d = %d, want %d", c.max, got, c.want)
		}
	}
}

// TestKeyViewSnapshot checks that a reader holding an old view keeps
// seeing exactly it through later adds, removes and merges.
func TestKeyViewSnapshot(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	g := &keyGen{r: r, universe: 200}
	x := NewKeyIndex(KeyConfig{tail: 100})
	var m keyModel
	for ref := uint64(1); ref <= 400; ref++ {
		keys, pay := g.keys(), g.payload(ref, 0)
		x.Add(ref, 0, keys, pay)
		m.Add(ref, 0, keys, pay)
	}
	old := x.View()
	var qs [][]uint32
	var before [][]voteRec
	for range 30 {
		q := g.query(&m)
		qs = append(qs, q)
		before = append(before, collectVotes(old, q, 2, 0))
	}
	for ref := uint64(1); ref <= 400; ref += 2 {
		x.Remove(ref)
	}
	for ref := uint64(401); ref <= 800; ref++ {
		x.Add(ref, 0, g.keys(), g.payload(ref, 0))
	}
	x.Wait()
	changed := 0
	for i, q := range qs {
		if got := collectVotes(old, q, 2, 0); !slices.EqualFunc(got, before[i], func(a, b voteRec) bool { return compareVotes(a, b) == 0 }) {
			t.Errorf("old view, query %d: %d hits %v, had %d hits %v", i, len(got), headVotes(got), len(before[i]), headVotes(before[i]))
		}
		if !slices.EqualFunc(collectVotes(x.View(), q, 2, 0), before[i], func(a, b voteRec) bool { return compareVotes(a, b) == 0 }) {
			changed++
		}
	}
	if old.Len() != 400 || x.View().Len() != 600 {
		t.Errorf("Len() = %d (old view), %d (new), want 400, 600", old.Len(), x.View().Len())
	}
	if changed == 0 {
		t.Errorf("the new view votes as the old one on every query: the writes changed nothing")
	}
}

// TestKeyPayloadsAfterMerges stores payloads big enough that merges keep
// arenas (keepArena), removes enough that they are copied, and checks
// every payload after each stage, and that removed payloads are freed.
func TestKeyPayloadsAfterMerges(t *testing.T) {
	const size = 8000
	pay := func(ref uint64, frame uint32) []byte {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(ref>>(8*(uint(i)%3)) + uint64(frame)*13 + uint64(i)*7)
		}
		return b
	}
	keyOf := func(ref uint64) []uint32 { return []uint32{uint32(ref), uint32(ref) | 1<<31} }
	x := NewKeyIndex(KeyConfig{tail: 64})
	live := map[uint64]bool{}
	var e KeyEntries
	e.Add(1, 2, keyOf(1), pay(1, 2))
	e.Grow(1499, 2*1499, 1499*size-1000)       // a little short: the last arena grows
	for ref := uint64(2); ref <= 1500; ref++ { // 12 MB in one arena
		e.Add(ref, 2, keyOf(ref), pay(ref, 2))
		live[ref] = true
	}
	live[1] = true
	x.AddBatch(&e)
	big := &x.View().segs[0].seg.arenas[0][0]
	check := func(stage string) {
		t.Helper()
		x.Wait()
		v := x.View()
		if v.Len() != len(live) {
			t.Fatalf("%s: Len() = %d, want %d", stage, v.Len(), len(live))
		}
		for ref := uint64(1); ref <= 2000; ref++ {
			found := 0
			v.Vote(keyOf(ref), 2, 0, func(got uint64, frame uint32, votes int, p []byte) {
				found++
				if got != ref || frame != 2 || votes != 2 || string(p) != string(pay(ref, 2)) {
					t.Fatalf("%s: Vote(keys of %d) = %d/%d with %d votes and a %d-byte payload, want %d/2 with 2 and its own",
						stage, ref, got, frame, votes, len(p), ref)
				}
			})
			if want := map[bool]int{true: 1}[live[ref]]; found != want {
				t.Fatalf("%s: Vote(keys of %d) found %d entries, want %d", stage, ref, found, want)
			}
		}
	}
	for ref := uint64(1501); ref <= 2000; ref++ { // merged in: the big arena is kept
		x.Add(ref, 2, keyOf(ref), pay(ref, 2))
		live[ref] = true
	}
	check("after adds")
	if segs := x.View().segs; !slices.ContainsFunc(segs[0].seg.arenas, func(a []byte) bool { return &a[0] == big }) {
		t.Errorf("the batch's 12 MB arena was copied by a merge, not kept (%d segments)", len(segs))
	}
	if b, want := x.View().Bytes(), 2000*size; b > want*5/4 {
		t.Errorf("Bytes() = %d holding %d bytes of payloads", b, want)
	}
	b0 := x.View().Bytes()
	for ref := uint64(1); ref <= 2000; ref += 2 { // half removed: arenas copied
		x.Remove(ref)
		delete(live, ref)
	}
	check("after removes")
	// Half the payloads are live; merges leave at most a quarter of a
	// segment dead, a third of the live bytes more.
	if b1 := x.View().Bytes(); b1 > b0*7/10 {
		t.Errorf("Bytes() = %d after removing half, had %d: removed payloads kept", b1, b0)
	}
}

// TestKeyBytes checks that Bytes is close to the heap the index holds.
func TestKeyBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	var before, after runtime.MemStats
	// Twice: the first only moves sync.Pool contents of earlier tests to
	// the victim cache.
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	x := NewKeyIndex(KeyConfig{})
	var e KeyEntries
	for ref := range uint64(20000) {
		keys := make([]uint32, 100)
		for i := range keys {
			keys[i] = uint32(i%2)<<24 | uint32(r.IntN(1<<24))
		}
		e.Add(ref, 0, keys, make([]byte, 100))
	}
	x.AddBatch(&e)
	for ref := range uint64(500) {
		x.Add(20000+ref, 0, []uint32{uint32(ref), 5, 9}, make([]byte, 500))
	}
	x.Wait()
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	got := float64(x.View().Bytes())
	if got < 0.75*heap || got > 1.25*heap {
		t.Errorf("Bytes() = %.0f, heap grew by %.0f", got, heap)
	}
	runtime.KeepAlive(x)
}

// TestPostingsFind checks find in each layout against a sorted list of
// the postings, on keys in clusters (big buckets) and spread.
func TestPostingsFind(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	type post struct{ m, id uint32 }
	var ps []post
	for id := range uint32(3000) {
		for range 1 + r.IntN(20) {
			m := r.Uint32()
			if r.IntN(3) == 0 {
				m = uint32(r.IntN(50)) // clustered in bucket 0
			} else if r.IntN(3) == 0 {
				m = 0xffffffff - uint32(r.IntN(3)) // the top rests
			}
			ps = append(ps, post{m, id})
		}
	}
	slices.SortFunc(ps, func(a, b post) int { return cmp.Or(cmp.Compare(a.m, b.m), cmp.Compare(a.id, b.id)) })
	ps = slices.Compact(ps)
	// In no order; src may be called concurrently.
	perm := r.Perm(len(ps))
	src := func(emit func(m, id uint32)) {
		for _, i := range perm {
			emit(ps[i].m, ps[i].id)
		}
	}
	for _, lay := range []keyLayout{{24, 1, 1}, {24, 1, 2}, {16, 2, 3}, {20, 2, 1}, {0, 4, 2}, {4, 4, 5}, {12, 4, 2}} {
		p := buildPostings(len(ps), lay, src)
		var all []post
		p.each(func(m, id uint32) { all = append(all, post{m, id}) })
		if !slices.Equal(all, ps) {
			t.Fatalf("layout %v: each gives %d postings, not the %d sorted ones", lay, len(all), len(ps))
		}
		for _, m := range []uint32{0, 1, 49, 50, 0xffffffff, 0xfffffffe, 0xfffffffc, ps[100].m, ps[2000].m, r.Uint32()} {
			lo, _ := slices.BinarySearchFunc(ps, m, func(a post, m uint32) int { return cmp.Compare(a.m, m) })
			hi, _ := slices.BinarySearchFunc(ps, m+1, func(a post, m uint32) int { return cmp.Compare(a.m, m) })
			if m == 0xffffffff {
				hi = len(ps)
			}
			if glo, ghi := p.find(m); int(glo) != lo || int(ghi) != hi {
				t.Errorf("layout %v: find(%#x) = [%d, %d), want [%d, %d)", lay, m, glo, ghi, lo, hi)
			}
		}
	}
}

// TestKeyIndexConcurrent runs one writer and several readers with no
// lock around the index, merges running in the background, as
// TestHammingConcurrent does: every vote must be exactly the model's
// after some number of writes between those returned before and after
// it. Run it under -race too.
func TestKeyIndexConcurrent(t *testing.T) {
	nops := 3000
	if testing.Short() {
		nops = 1000
	}
	r := rand.New(rand.NewPCG(21, 22))
	g := &keyGen{r: r, universe: 200}
	type op struct {
		ref     uint64
		frame   uint32
		keys    []uint32 // nil: remove
		payload []byte
	}
	var ops []op
	var live []uint64
	for ref := uint64(1); len(ops) < nops; ref++ {
		if len(live) > 0 && r.IntN(3) == 0 {
			i := r.IntN(len(live))
			ops = append(ops, op{ref: live[i]})
			live = slices.Delete(live, i, i+1)
			continue
		}
		for frame := range uint32(1 + r.IntN(3)) {
			ops = append(ops, op{ref, frame, g.keys(), g.payload(ref, frame)})
		}
		live = append(live, ref)
	}
	x := NewKeyIndex(KeyConfig{tail: 32})
	var done atomic.Int64
	type read struct {
		lo, hi      int64
		q           []uint32
		min, maxPst int
		got         []voteRec
	}
	var (
		mu    sync.Mutex
		reads []read
		wg    sync.WaitGroup
	)
	for i := range 3 {
		wg.Add(1)
		rr := rand.New(rand.NewPCG(uint64(i), 99))
		go func() {
			defer wg.Done()
			for done.Load() < int64(len(ops)) {
				q := make([]uint32, 0, 40)
				for range 40 {
					q = append(q, uint32(rr.IntN(2))<<24|uint32(rr.IntN(200)))
				}
				q = append(q, stopWords[rr.IntN(len(stopWords))])
				mn, mx := 1+rr.IntN(3), []int{0, 30}[rr.IntN(2)]
				lo := done.Load()
				got := collectVotes(x.View(), q, mn, mx)
				hi := done.Load()
				mu.Lock()
				reads = append(reads, read{lo, hi, q, mn, mx, got})
				mu.Unlock()
			}
		}()
	}
	for i, o := range ops {
		if o.keys != nil {
			x.Add(o.ref, o.frame, o.keys, o.payload)
		} else {
			x.Remove(o.ref)
		}
		done.Store(int64(i + 1))
	}
	wg.Wait()
	x.Wait()

	slices.SortFunc(reads, func(a, b read) int { return cmp.Compare(a.lo, b.lo) })
	var m keyModel
	matched := make([]bool, len(reads))
	next := 0
	var open []int
	for k := 0; k <= len(ops); k++ {
		if k > 0 {
			if o := ops[k-1]; o.keys != nil {
				m.Add(o.ref, o.frame, o.keys, o.payload)
			} else {
				m.Remove(o.ref)
			}
		}
		for next < len(reads) && reads[next].lo == int64(k) {
			open = append(open, next)
			next++
		}
		open = slices.DeleteFunc(open, func(i int) bool {
			rd := reads[i]
			if !matched[i] && slices.EqualFunc(rd.got, m.vote(rd.q, rd.min, rd.maxPst), func(a, b voteRec) bool { return compareVotes(a, b) == 0 }) {
				matched[i] = true
			}
			return matched[i] || rd.hi+1 <= int64(k)
		})
	}
	bad := 0
	for i, rd := range reads {
		if !matched[i] {
			if bad < 3 {
				t.Errorf("Vote(min %d, max %d) while writes %d..%d returned = %d hits %v: matches no state in that range",
					rd.min, rd.maxPst, rd.lo, rd.hi, len(rd.got), headVotes(rd.got))
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
	if got, want := x.View().Len(), len(m.entries); got != want {
		t.Errorf("Len() = %d after the writes, want %d", got, want)
	}
}

// TestKeyVoteWeighted checks VoteWeighted's weights against the model's
// key counts (no removes: every stored posting is live), in a segment and
// in the tail: a key held by df of n entries weighs 1+floor(log2(n/df)).
func TestKeyVoteWeighted(t *testing.T) {
	for _, tail := range []int{1 << 20, 4} {
		x := NewKeyIndex(KeyConfig{tail: tail, sync: true})
		m := &keyModel{}
		r := rand.New(rand.NewPCG(9, uint64(tail)))
		for ref := range uint64(300) {
			var keys []uint32
			for range 20 {
				// Key k is held by about 300/(k+1) entries: a long tail.
				keys = append(keys, uint32(r.IntN(64)*r.IntN(64)/(1+r.IntN(64))))
			}
			x.Add(ref, 1, keys, nil)
			m.Add(ref, 1, keys, nil)
		}
		x.Wait()
		v := x.View()
		for range 20 {
			q := []uint32{uint32(r.IntN(64)), uint32(r.IntN(64)), uint32(r.IntN(64)), uint32(r.IntN(200))}
			want := map[uint64]int{}
			seen := map[uint32]bool{}
			for _, k := range q {
				if seen[k] {
					continue
				}
				seen[k] = true
				df := 0
				for _, e := range m.entries {
					if e.keys[k] {
						df++
					}
				}
				w := 1
				if df > 0 && len(m.entries) > df {
					w = bits.Len(uint(len(m.entries) / df))
				}
				for _, e := range m.entries {
					if e.keys[k] {
						want[e.ref] += w
					}
				}
			}
			got := map[uint64]int{}
			v.VoteWeighted(q, 1, 0, func(ref uint64, _ uint32, votes int, _ []byte) { got[ref] = votes })
			if !maps.Equal(got, want) {
				t.Fatalf("tail %d: VoteWeighted(%v) differs from the model: %d entries against %d", tail, q, len(got), len(want))
			}
		}
	}
}

// TestKeyVoteWeightedMinVotes checks that VoteWeighted's minVotes counts
// keys held, not weighed votes: one rare key in common, however heavy,
// does not make a candidate.
func TestKeyVoteWeightedMinVotes(t *testing.T) {
	x := NewKeyIndex(KeyConfig{tail: 1 << 20, sync: true})
	for ref := range uint64(1000) {
		x.Add(ref, 0, []uint32{uint32(100000 + ref), uint32(200000 + ref), 7}, nil)
	}
	x.Add(5000, 0, []uint32{1, 2, 3}, nil) // in the tail with the rest
	v := x.View()
	for _, c := range []struct {
		keys     []uint32
		minVotes int
		want     int // entries returned
	}{
		{[]uint32{100001}, 1, 1},                 // one rare key: weighs 10, one key held
		{[]uint32{100001}, 2, 0},                 // minVotes counts keys: none holds 2
		{[]uint32{100001, 200001}, 2, 1},         // two keys held
		{[]uint32{100001, 200001, 7}, 3, 1},      // and the common one
		{[]uint32{1, 2}, 2, 1},                   // the last entry
		{[]uint32{7, 1, 2, 3}, 4, 0},             // nobody holds 4
		{[]uint32{100001, 100002, 100003}, 2, 0}, // three entries, one key each
	} {
		n := 0
		v.VoteWeighted(c.keys, c.minVotes, 0, func(uint64, uint32, int, []byte) { n++ })
		if n != c.want {
			t.Errorf("VoteWeighted(%v, minVotes %d) returned %d entries, want %d", c.keys, c.minVotes, n, c.want)
		}
	}
}

// TestKeyIdleCompact checks that a KeyIndex left without writes seals
// its tail and merges its segments into one, voting as before (payloads included) and as
// the model does, with removed entries gone; and that Wait cancels a
// compaction not yet started.
func TestKeyIdleCompact(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	g := &keyGen{r: r, universe: 300}
	const idle = 50 * time.Millisecond
	x := NewKeyIndex(KeyConfig{tail: 4096, idle: idle})
	var m keyModel
	// Two batches the merge policy leaves apart (the older holds more
	// than 8 times the newer), single adds, a few removes.
	ref := uint64(0)
	for _, n := range []int{500, 30} {
		var e KeyEntries
		for range n {
			ref++
			keys, pay := g.keys(), g.payload(ref, 0)
			e.Add(ref, 0, keys, pay)
			m.Add(ref, 0, keys, pay)
		}
		x.AddBatch(&e)
	}
	for range 10 {
		ref++
		keys, pay := g.keys(), g.payload(ref, 0)
		x.Add(ref, 0, keys, pay)
		m.Add(ref, 0, keys, pay)
	}
	for _, dead := range []uint64{3, 50, 510, 531} {
		x.Remove(dead)
		m.Remove(dead)
	}
	x.Wait()
	if n := len(x.View().segs); n < 2 {
		t.Fatalf("%d segments, want several (the test needs them)", n)
	}
	// Wait came after the last write: no compaction until the next.
	time.Sleep(4 * idle)
	x.Wait()
	if n := len(x.View().segs); n < 2 {
		t.Fatalf("%d segments after Wait and no write, want them left as they were", n)
	}
	var qs [][]uint32
	for range 40 {
		qs = append(qs, g.query(&m))
	}
	keys, pay := g.keys(), g.payload(9999, 0)
	x.Add(9999, 0, keys, pay) // a write, which sets the compaction again
	m.Add(9999, 0, keys, pay)
	deadline := time.Now().Add(time.Minute)
	if len(x.View().tail.refs) == 0 {
		t.Fatal("the last write sealed the tail, want it in the tail (the test needs it)")
	}
	for v := x.View(); (len(v.segs) > 1 || len(v.tail.refs) > 0) && time.Now().Before(deadline); v = x.View() {
		time.Sleep(idle)
	}
	x.Wait()
	v := x.View()
	if len(v.segs) != 1 || len(v.tail.refs) != 0 {
		t.Fatalf("%d segments and %d tail entries a minute after the last write, want 1 and 0", len(v.segs), len(v.tail.refs))
	}
	for i, q := range qs {
		got, want := collectVotes(v, q, 2, 0), m.vote(q, 2, 0)
		if !slices.EqualFunc(got, want, func(a, b voteRec) bool { return compareVotes(a, b) == 0 }) {
			t.Errorf("query %d after compaction: %d hits %v, want %d %v", i, len(got), headVotes(got), len(want), headVotes(want))
		}
	}
}
