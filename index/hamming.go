package index

import (
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mediamatch/mediamatch/fingerprint"
)

// hamming is the production searcher: exact radius search over a
// log-structured set of immutable segments (segment.go), each indexed by
// multi-index hashing (mih.go) or scanned, plus a small mutable tail that
// is always scanned.
//
//   - Live: add appends to the tail, which is sealed into a segment when it
//     reaches cfg.tail entries; remove marks entries deleted
//     (copy-on-write); both take effect for every search that starts after
//     they return, without rebuilding anything large.
//   - Adaptive: for each query and segment, the search estimates the cost
//     of probing the tables and of a scan, and does the cheaper; segments
//     too small to gain from tables have none.
//   - Merged in the background: when newer segments together reach an
//     eighth of the size of an older one they are merged into it, and a
//     segment with a quarter of its entries deleted is rebuilt without
//     them, by one goroutine that builds the new segment without holding
//     any lock, so a writer never waits for a merge. Segments shrink at
//     least ninefold from oldest to newest, so there are O(log n) of them
//     (each costs its own probes), and an entry is rebuilt O(log n) times
//     (each time its segment grows by an eighth at least).
//   - Readers never wait: a search reads one immutable view (an atomic
//     pointer), and writers publish a new view after each change. The
//     searcher interface still has callers serialise writers with
//     searches; hamming does not need it.
//
// It is safe for concurrent use.
type hamming struct {
	cfg hammingConfig
	cur atomic.Pointer[hview]

	mu      sync.Mutex // serialises writers and the merger's publishing
	merging bool       // a merge goroutine is running; guarded by mu
	idle    sync.Cond  // broadcast when merging ends; uses mu
	deleted []uint64   // refs removed during the running merge; guarded by mu

	scratch sync.Pool // *searchScratch
}

// hview is one published state. Nothing reachable from it is modified
// after it is published, except tail array elements past its lengths.
type hview struct {
	segs []*segState // oldest (and largest) first
	tail tailView
	n    int // live entries
}

// tailView is the tail as one view sees it. The writer appends to the
// arrays beyond these lengths; views never see that.
type tailView struct {
	hashes []uint64
	refs   []uint64
	frames []uint32
	dead   []uint64 // bitset of deleted positions, copied on write; nil: none
	ndead  int
}

func (t *tailView) isDead(i int) bool {
	w := i >> 6
	return w < len(t.dead) && t.dead[w]>>(i&63)&1 != 0
}

type searchMode int8

const (
	modeAuto searchMode = iota // per query and segment, the cheaper
	modeMIH                    // always probe tables; every segment has them (tests)
	modeScan                   // never build tables: a tuned linear scan
)

// hammingConfig sets up a hamming searcher. The zero values of the optional
// fields select defaults.
type hammingConfig struct {
	words  int        // uint64 words per hash
	radius int        // the usual query radius, which substrings are chosen for
	mode   searchMode // modeAuto unless testing one structure alone
	tail   int        // tail entries before a seal; 0: 64 KiB of hashes
	budget float64    // table bytes per entry; 0: 8*words + 8 (see newSearcherFor)
	subs   int        // forced substring count (tests); 0: by cost
	coding int8       // forced position coding (tests)
	layout int8       // forced layout (tests)
	sync   bool       // merge in the writer, not in the background (tests)
	merged func()     // called after background merges (see mergeLoop); may be nil
}

// newSearcherFor returns the searcher for signals of type t, tuned to t's
// default threshold. Tables are kept within 8*words+8 bytes per signal, so
// that with the hash itself and a 4-byte ref an index takes at most twice
// the raw signal bytes plus the item id.
func newSearcherFor(t fingerprint.SignalType) searcher {
	words := t.Bits() / 64
	r := t.DefaultThreshold()
	if r == 0 {
		r = 8 * words
	}
	return newHamming(hammingConfig{words: words, radius: r})
}

func newHamming(cfg hammingConfig) *hamming {
	if cfg.tail <= 0 {
		cfg.tail = max(64, 8192/cfg.words)
	}
	if cfg.budget <= 0 {
		cfg.budget = float64(8*cfg.words + 8)
	}
	h := &hamming{cfg: cfg}
	h.idle.L = &h.mu
	h.scratch.New = func() any {
		sc := new(searchScratch)
		sc.mih.batch = make([]uint32, 0, probeBatch)
		return sc
	}
	h.cur.Store(&hview{})
	return h
}

func (h *hamming) len() int { return h.cur.Load().n }

func (h *hamming) add(ref uint64, frame uint32, hash []uint64) {
	if len(hash) != h.cfg.words {
		panic("index: hamming.add: wrong hash length")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	v := h.cur.Load()
	nv := &hview{segs: v.segs, tail: v.tail, n: v.n + 1}
	t := &nv.tail
	if t.hashes == nil {
		t.hashes = make([]uint64, 0, h.cfg.tail*h.cfg.words)
		t.refs = make([]uint64, 0, h.cfg.tail)
		t.frames = make([]uint32, 0, h.cfg.tail)
	}
	// Appending writes past the lengths every older view holds.
	t.hashes = append(t.hashes, hash...)
	t.refs = append(t.refs, ref)
	t.frames = append(t.frames, frame)
	if len(t.refs) >= h.cfg.tail {
		h.seal(nv)
	}
	h.cur.Store(nv)
	h.kick()
}

// addBatch adds the entries of e (taking ownership of its arrays) as one
// new segment, built before any lock is taken: for start-up, where adding
// ten million entries one at a time would seal and merge thousands of
// small segments. It is equivalent to calling add for each entry.
func (h *hamming) addBatch(e entries) {
	if e.len() == 0 {
		return
	}
	if len(e.hashes) != e.len()*h.cfg.words || len(e.frames) != e.len() {
		panic("index: hamming.addBatch: arrays of different lengths")
	}
	if !slices.IsSorted(e.refs) {
		e = sortEntries(h.cfg.words, e, nil)
	}
	seg := newSegData(h.cfg.words, e, h.plan(e.len()))
	h.mu.Lock()
	defer h.mu.Unlock()
	v := h.cur.Load()
	h.cur.Store(&hview{segs: append(slices.Clip(v.segs), &segState{seg: seg}), tail: v.tail, n: v.n + seg.size()})
	h.kick()
}

// seal turns the live entries of nv's tail into a new segment.
func (h *hamming) seal(nv *hview) {
	t := nv.tail
	words := h.cfg.words
	var e entries
	for i, r := range t.refs {
		if t.isDead(i) {
			continue
		}
		e.hashes = append(e.hashes, t.hashes[i*words:(i+1)*words]...)
		e.refs = append(e.refs, r)
		e.frames = append(e.frames, t.frames[i])
	}
	nv.tail = tailView{}
	if e.len() == 0 {
		return
	}
	// Stable: an item's frames stay in the order they came.
	perm := make([]int, e.len())
	for i := range perm {
		perm[i] = i
	}
	slices.SortStableFunc(perm, func(a, b int) int {
		switch {
		case e.refs[a] < e.refs[b]:
			return -1
		case e.refs[a] > e.refs[b]:
			return 1
		}
		return 0
	})
	s := entries{hashes: make([]uint64, 0, len(e.hashes)), refs: make([]uint64, 0, e.len()), frames: make([]uint32, 0, e.len())}
	for _, p := range perm {
		s.hashes = append(s.hashes, e.hashes[p*words:(p+1)*words]...)
		s.refs = append(s.refs, e.refs[p])
		s.frames = append(s.frames, e.frames[p])
	}
	seg := newSegData(words, s, h.plan(s.len()))
	nv.segs = append(slices.Clip(nv.segs), &segState{seg: seg})
}

func (h *hamming) plan(n int) subPlan {
	c := &h.cfg
	switch {
	case c.mode == modeScan:
		return subPlan{}
	case c.mode == modeAuto && n < 256:
		return subPlan{}
	}
	return choosePlan(n, planOptions{words: c.words, radius: c.radius, budget: c.budget,
		subs: c.subs, coding: c.coding, layout: c.layout, always: c.mode == modeMIH})
}

func (h *hamming) remove(ref uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v := h.cur.Load()
	nv := &hview{segs: v.segs, tail: v.tail, n: v.n}
	changed := false
	t := &nv.tail
	for i, r := range t.refs {
		if r != ref || t.isDead(i) {
			continue
		}
		if !changed {
			d := make([]uint64, (len(t.refs)+63)/64)
			copy(d, t.dead)
			t.dead = d
			changed = true
		}
		t.dead[i>>6] |= 1 << (i & 63)
		t.ndead++
		nv.n--
	}
	if t.ndead == len(t.refs) {
		nv.tail = tailView{}
	}
	copied := false
	var pos []uint32
	for i := 0; i < len(nv.segs); i++ {
		st := nv.segs[i]
		pos = st.seg.positions(ref, pos[:0])
		if len(pos) == 0 {
			continue
		}
		dead, killed := st.dead.kill(st.seg.size(), pos)
		if killed == 0 {
			continue
		}
		if !copied {
			nv.segs = slices.Clone(nv.segs)
			copied = true
		}
		changed = true
		nv.n -= killed
		if killed == st.live() {
			nv.segs = slices.Delete(nv.segs, i, i+1)
			i--
			continue
		}
		nv.segs[i] = &segState{seg: st.seg, dead: dead, ndead: st.ndead + killed}
	}
	if !changed {
		return
	}
	if h.merging {
		h.deleted = append(h.deleted, ref)
	}
	h.cur.Store(nv)
	h.kick()
}

// Merge policy.
const (
	mergeRatio  = 8 // merge a segment with all newer ones once they hold 1/mergeRatio of its live entries
	compactFrac = 4 // rebuild a segment once 1/compactFrac of it is deleted
)

// pickMerge returns the segments of v to merge into one, [lo, hi), if any.
func pickMerge(v *hview) (lo, hi int, ok bool) {
	k := len(v.segs)
	newer := 0
	for j := k - 1; j >= 0; j-- {
		if j < k-1 && v.segs[j].live() <= mergeRatio*newer {
			lo = j
			ok = true
		}
		newer += v.segs[j].live()
	}
	if ok {
		return lo, k, true
	}
	for j, st := range v.segs {
		if st.ndead > 0 && st.ndead*compactFrac >= st.seg.size() {
			return j, j + 1, true
		}
	}
	return 0, 0, false
}

// kick starts merging if the policy wants a merge and none is running.
// h.mu is held.
func (h *hamming) kick() {
	if h.merging {
		return
	}
	if _, _, ok := pickMerge(h.cur.Load()); !ok {
		return
	}
	if h.cfg.sync {
		for {
			v := h.cur.Load()
			lo, hi, ok := pickMerge(v)
			if !ok {
				return
			}
			in := v.segs[lo:hi]
			h.install(in, h.merge(in))
		}
	}
	h.merging = true
	h.deleted = h.deleted[:0]
	go h.mergeLoop()
}

// mergeLoop merges until the policy is satisfied. It holds h.mu only to
// pick a merge and to install its result.
//
// After a run of merges it calls cfg.merged, if set, without holding h.mu:
// callers that publish views of their own (memory) republish then, so
// that the merged segments replace the old ones there too and the memory
// of the old ones is reclaimed.
func (h *hamming) mergeLoop() {
	h.mu.Lock()
	for {
		merged := false
		for {
			v := h.cur.Load()
			lo, hi, ok := pickMerge(v)
			if !ok {
				break
			}
			in := slices.Clone(v.segs[lo:hi])
			h.deleted = h.deleted[:0]
			h.mu.Unlock()
			seg := h.merge(in)
			h.mu.Lock()
			h.install(in, seg)
			merged = true
		}
		if !merged || h.cfg.merged == nil {
			break
		}
		h.mu.Unlock()
		h.cfg.merged()
		h.mu.Lock()
		if _, _, ok := pickMerge(h.cur.Load()); !ok {
			break
		}
	}
	h.merging = false
	h.idle.Broadcast()
	h.mu.Unlock()
}

// merge builds one segment from the live entries of in.
func (h *hamming) merge(in []*segState) segData {
	var e entries
	n := 0
	for _, st := range in {
		n += st.live()
	}
	e.hashes = make([]uint64, 0, n*h.cfg.words)
	e.refs = make([]uint64, 0, n)
	e.frames = make([]uint32, 0, n)
	starts := gather(in, &e)
	e = sortEntries(h.cfg.words, e, starts)
	return newSegData(h.cfg.words, e, h.plan(e.len()))
}

// install replaces the segments in (as they were when the merge started)
// with seg, deleting from seg the refs removed since. h.mu is held.
func (h *hamming) install(in []*segState, seg segData) {
	st := &segState{seg: seg}
	var pos []uint32
	for _, ref := range h.deleted {
		if pos = seg.positions(ref, pos[:0]); len(pos) > 0 {
			var k int
			st.dead, k = st.dead.kill(seg.size(), pos)
			st.ndead += k
		}
	}
	h.deleted = h.deleted[:0]
	v := h.cur.Load()
	nv := &hview{tail: v.tail, n: v.n}
	placed := st.live() == 0 // nothing left to place
	for _, cur := range v.segs {
		if slices.ContainsFunc(in, func(x *segState) bool { return x.seg == cur.seg }) {
			if !placed {
				nv.segs = append(nv.segs, st)
				placed = true
			}
			continue
		}
		nv.segs = append(nv.segs, cur)
	}
	h.cur.Store(nv)
}

// wait blocks until no merge is running.
func (h *hamming) wait() {
	h.mu.Lock()
	for h.merging {
		h.idle.Wait()
	}
	h.mu.Unlock()
}

// searchScratch is the reusable per-search state.
type searchScratch struct {
	mih  mihScratch
	bufs [][]uint32
}

func (h *hamming) search(q []uint64, radius int, fn func(ref uint64, frame uint32, dist int)) {
	h.searchView(h.cur.Load(), q, radius, fn)
}

// view returns the current view, for searchView. A view is immutable: a
// caller holding one searches the entries as they were when it was
// published, however many writes and merges follow.
func (h *hamming) view() *hview { return h.cur.Load() }

// searchView is search over v, a view returned by h.view.
func (h *hamming) searchView(v *hview, q []uint64, radius int, fn func(ref uint64, frame uint32, dist int)) {
	if len(q) != h.cfg.words {
		panic("index: hamming.search: wrong query length")
	}
	if radius < 0 {
		return
	}
	sc := h.scratch.Get().(*searchScratch)
	for _, st := range v.segs {
		st.seg.search(q, radius, st.dead, h.cfg.mode, sc, fn)
	}
	t := &v.tail
	if len(sc.bufs) == 0 {
		sc.bufs = append(sc.bufs, nil)
	}
	sc.bufs[0] = scanHits(h.cfg.words, t.hashes, q, radius, 0, sc.bufs[0][:0])
	for _, id := range sc.bufs[0] {
		if i := int(id); !t.isDead(i) {
			fn(t.refs[i], t.frames[i], distance(t.hashes[i*h.cfg.words:(i+1)*h.cfg.words], q))
		}
	}
	h.scratch.Put(sc)
}

func distance(a, b []uint64) int {
	d := 0
	for i, w := range a {
		d += bits.OnesCount64(w ^ b[i])
	}
	return d
}
