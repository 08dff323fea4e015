package hamming

import (
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Searcher is the production searcher: exact radius search over a
// log-structured set of immutable segments (segment.go), each indexed by
// multi-index hashing (mih.go) or scanned, plus a small mutable tail that
// is always scanned.
//
//   - Live: Add appends to the tail, which is sealed into a segment when it
//     reaches cfg.tail entries; Remove marks entries deleted
//     (copy-on-write); both take effect for every search that starts after
//     they return, without rebuilding anything large.
//   - Adaptive: for each query and segment, the search estimates the cost
//     of probing the tables and of a scan, and does the cheaper; segments
//     too small to gain from tables have none.
//   - Compacted when idle: once no write has come for idleCompact, the
//     tail is sealed and the segments are merged into one (idleCompact,
//     idleCost).
//   - Merged in the background: when newer segments together reach an
//     eighth of the size of an older one they are merged into it, and a
//     segment with a quarter of its entries deleted is rebuilt without
//     them, by one goroutine that builds the new segment without holding
//     any lock, so a writer never waits for a merge. Segments shrink at
//     least ninefold from oldest to newest, so there are O(log n) of them
//     (each costs its own probes), and an entry is rebuilt O(log n) times
//     (each time its segment grows by an eighth at least).
//   - Readers never wait: a search reads one immutable View (an atomic
//     pointer), and writers publish a new view after each change, so
//     callers need not serialise writers with searches.
//
// Entries are hashes packed into words of 64 bits, big-endian (a 64-bit
// hash is one word, a 256-bit hash four), each with the ref of the item
// it came from and its keyframe position; an item may have many entries.
// Hashes of the wrong word count make Add, AddBatch and Search panic.
//
// It is safe for concurrent use: writes (Add, AddBatch, Remove) are
// serialised inside, and searches run concurrently with them and with
// each other.
type Searcher struct {
	cfg Config
	cur atomic.Pointer[View]

	mu      sync.Mutex // serialises writers and the merger's publishing
	merging bool       // a merge goroutine is running; guarded by mu
	idle    sync.Cond  // broadcast when merging ends; uses mu
	deleted []uint64   // refs removed during the running merge; guarded by mu

	idler idler // compaction when idle (see idleCompact); guarded by mu

	scratch sync.Pool // *searchScratch
}

// View is one published state of a Searcher: a search of it finds the
// entries as they were when it was published, however many writes and
// merges follow. Nothing reachable from it is modified after it is
// published, except tail array elements past its lengths. It is safe for
// concurrent use.
type View struct {
	s    *Searcher
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

// Config sets up a Searcher. The zero values of the optional fields select
// defaults; the unexported ones are for tests.
type Config struct {
	Words  int           // uint64 words per hash (1 for 64-bit hashes, 4 for 256-bit)
	Radius int           // the usual query radius, which substrings are chosen for
	mode   searchMode    // modeAuto unless testing one structure alone
	tail   int           // tail entries before a seal; 0: 64 KiB of hashes
	budget float64       // table bytes per entry; 0: 8*words + 8
	subs   int           // forced substring count (tests); 0: by cost
	coding int8          // forced position coding (tests)
	layout int8          // forced layout (tests)
	sync   bool          // merge in the writer, not in the background (tests)
	idle   time.Duration // idleCompact if 0; < 0: never (tests)
	Merged func()        // called after background merges, without locks held (see mergeLoop); may be nil
}

// New returns an empty Searcher for hashes of cfg.Words words, its tables
// chosen for searches within about cfg.Radius. Tables are kept within
// 8*words+8 bytes per entry.
func New(cfg Config) *Searcher {
	if cfg.tail <= 0 {
		cfg.tail = max(64, 8192/cfg.Words)
	}
	if cfg.budget <= 0 {
		cfg.budget = float64(8*cfg.Words + 8)
	}
	if cfg.idle == 0 {
		cfg.idle = idleCompact
	}
	h := &Searcher{cfg: cfg}
	if !cfg.sync {
		h.idler.after = cfg.idle
	}
	h.idle.L = &h.mu
	h.scratch.New = func() any {
		sc := new(searchScratch)
		sc.mih.batch = make([]uint32, 0, probeBatch)
		return sc
	}
	h.cur.Store(&View{s: h})
	return h
}

// Add stores one entry: hash, of cfg.Words words, is copied. It takes
// effect for every search that starts after it returns.
func (h *Searcher) Add(ref uint64, frame uint32, hash []uint64) {
	if len(hash) != h.cfg.Words {
		panic("hamming: Searcher.Add: wrong hash length")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	v := h.cur.Load()
	nv := &View{s: h, segs: v.segs, tail: v.tail, n: v.n + 1}
	t := &nv.tail
	if t.hashes == nil {
		t.hashes = make([]uint64, 0, h.cfg.tail*h.cfg.Words)
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

// AddBatch adds the entries of e (taking ownership of its arrays) as one
// new segment, built before any lock is taken: for start-up, where adding
// ten million entries one at a time would seal and merge thousands of
// small segments. It is equivalent to calling Add for each entry. It
// panics if e's arrays are of different lengths.
func (h *Searcher) AddBatch(e Entries) {
	if e.len() == 0 {
		return
	}
	if len(e.Hashes) != e.len()*h.cfg.Words || len(e.Frames) != e.len() {
		panic("hamming: Searcher.AddBatch: arrays of different lengths")
	}
	if !slices.IsSorted(e.Refs) {
		e = sortEntries(h.cfg.Words, e, nil)
	}
	seg := newSegData(h.cfg.Words, e, h.plan(e.len()))
	h.mu.Lock()
	defer h.mu.Unlock()
	v := h.cur.Load()
	h.cur.Store(&View{s: h, segs: append(slices.Clip(v.segs), &segState{seg: seg}), tail: v.tail, n: v.n + seg.size()})
	h.kick()
}

// seal turns the live entries of nv's tail into a new segment.
func (h *Searcher) seal(nv *View) {
	t := nv.tail
	words := h.cfg.Words
	var e Entries
	for i, r := range t.refs {
		if t.isDead(i) {
			continue
		}
		e.Hashes = append(e.Hashes, t.hashes[i*words:(i+1)*words]...)
		e.Refs = append(e.Refs, r)
		e.Frames = append(e.Frames, t.frames[i])
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
		case e.Refs[a] < e.Refs[b]:
			return -1
		case e.Refs[a] > e.Refs[b]:
			return 1
		}
		return 0
	})
	s := Entries{Hashes: make([]uint64, 0, len(e.Hashes)), Refs: make([]uint64, 0, e.len()), Frames: make([]uint32, 0, e.len())}
	for _, p := range perm {
		s.Hashes = append(s.Hashes, e.Hashes[p*words:(p+1)*words]...)
		s.Refs = append(s.Refs, e.Refs[p])
		s.Frames = append(s.Frames, e.Frames[p])
	}
	seg := newSegData(words, s, h.plan(s.len()))
	nv.segs = append(slices.Clip(nv.segs), &segState{seg: seg})
}

func (h *Searcher) plan(n int) subPlan {
	c := &h.cfg
	switch {
	case c.mode == modeScan:
		return subPlan{}
	case c.mode == modeAuto && n < 256:
		return subPlan{}
	}
	return choosePlan(n, planOptions{words: c.Words, radius: c.Radius, budget: c.budget,
		subs: c.subs, coding: c.coding, layout: c.layout, always: c.mode == modeMIH})
}

// Remove drops every entry of ref; it is a no-op for an unknown ref. It
// takes effect for every search that starts after it returns.
func (h *Searcher) Remove(ref uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v := h.cur.Load()
	nv := &View{s: h, segs: v.segs, tail: v.tail, n: v.n}
	t := &nv.tail
	killed := killTail(t.refs, &t.dead, ref)
	t.ndead += killed
	nv.n -= killed
	changed := killed > 0
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
func pickMerge(v *View) (lo, hi int, ok bool) { return pickMergeOf(v.segs) }

// mergeable is a segment's state as the merge policy sees it: the
// Searcher's and the KeyIndex's segments follow one policy.
type mergeable interface {
	live() int        // entries not removed
	deadCount() int   // entries removed since the segment was built
	storedCount() int // entries it holds, removed or not
}

func (s *segState) deadCount() int   { return s.ndead }
func (s *segState) storedCount() int { return s.seg.size() }

// pickMergeOf returns the segments of segs (oldest first) to merge into
// one, [lo, hi), if any: a segment with all newer ones once they hold
// 1/mergeRatio of its live entries, else one 1/compactFrac removed.
func pickMergeOf[S mergeable](segs []S) (lo, hi int, ok bool) {
	k := len(segs)
	newer := 0
	for j := k - 1; j >= 0; j-- {
		if j < k-1 && segs[j].live() <= mergeRatio*newer {
			lo = j
			ok = true
		}
		newer += segs[j].live()
	}
	if ok {
		return lo, k, true
	}
	for j, st := range segs {
		if n := st.deadCount(); n > 0 && n*compactFrac >= st.storedCount() {
			return j, j + 1, true
		}
	}
	return 0, 0, false
}

// killTail marks every live entry of ref among refs dead in *dead (a
// bit per entry, copied before its first change, since published views
// share it) and returns how many it marked.
func killTail(refs []uint64, dead *[]uint64, ref uint64) int {
	killed := 0
	for i, r := range refs {
		if r != ref || i>>6 < len(*dead) && (*dead)[i>>6]>>(i&63)&1 != 0 {
			continue
		}
		if killed == 0 {
			d := make([]uint64, (len(refs)+63)/64)
			copy(d, *dead)
			*dead = d
		}
		(*dead)[i>>6] |= 1 << (i & 63)
		killed++
	}
	return killed
}

// kick starts merging if the policy wants a merge and none is running,
// and sets the compaction when idle to fire. h.mu is held.
func (h *Searcher) kick() {
	h.idler.touch(h.idleFire)
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
	h.startMerge()
}

// idleFire is the timer's function of the compaction when idle.
func (h *Searcher) idleFire() { h.idler.fire(&h.mu, h) }

// sealTail seals the tail of the current view (compactable). h.mu is held.
func (h *Searcher) sealTail() bool {
	v := h.cur.Load()
	if len(v.tail.refs) == 0 {
		return false
	}
	nv := &View{s: h, segs: v.segs, tail: v.tail, n: v.n}
	h.seal(nv)
	h.cur.Store(nv)
	return true
}

// mergeWanted reports whether the current view has segments to merge
// (compactable). h.mu is held.
func (h *Searcher) mergeWanted() bool { return h.wantsMerge(h.cur.Load()) }

// startMerge starts the merging goroutine unless it runs (compactable).
// h.mu is held.
func (h *Searcher) startMerge() {
	if !h.merging {
		h.merging = true
		h.deleted = h.deleted[:0]
		go h.mergeLoop()
	}
}

// merged calls cfg.Merged, if set (compactable).
func (h *Searcher) merged() {
	if h.cfg.Merged != nil {
		h.cfg.Merged()
	}
}

// pick returns the segments to merge, [lo, hi): the policy's
// (pickMerge), or else all of them if a compaction is due. h.mu is held.
func (h *Searcher) pick(v *View) (lo, hi int, ok bool) {
	lo, hi, ok = pickMerge(v)
	return take(&h.idler, v.segs, lo, hi, ok)
}

// wantsMerge reports whether pick would pick segments of v, without
// taking the compaction due. h.mu is held.
func (h *Searcher) wantsMerge(v *View) bool {
	_, _, ok := pickMerge(v)
	return wants(&h.idler, v.segs, ok)
}

// mergeLoop merges until the policy is satisfied. It holds h.mu only to
// pick a merge and to install its result.
//
// After a run of merges it calls cfg.merged, if set, without holding h.mu:
// callers that publish views of their own (the index) republish then, so
// that the merged segments replace the old ones there too and the memory
// of the old ones is reclaimed.
func (h *Searcher) mergeLoop() {
	h.mu.Lock()
	for {
		merged := false
		for {
			v := h.cur.Load()
			lo, hi, ok := h.pick(v)
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
		if !merged || h.cfg.Merged == nil {
			break
		}
		h.mu.Unlock()
		h.cfg.Merged()
		h.mu.Lock()
		if !h.wantsMerge(h.cur.Load()) {
			break
		}
	}
	h.idler.ended()
	h.merging = false
	h.idle.Broadcast()
	h.mu.Unlock()
}

// merge builds one segment from the live entries of in.
func (h *Searcher) merge(in []*segState) segData {
	var e Entries
	n := 0
	for _, st := range in {
		n += st.live()
	}
	e.Hashes = make([]uint64, 0, n*h.cfg.Words)
	e.Refs = make([]uint64, 0, n)
	e.Frames = make([]uint32, 0, n)
	starts := gather(in, &e)
	e = sortEntries(h.cfg.Words, e, starts)
	return newSegData(h.cfg.Words, e, h.plan(e.len()))
}

// install replaces the segments in (as they were when the merge started)
// with seg, deleting from seg the refs removed since. h.mu is held.
func (h *Searcher) install(in []*segState, seg segData) {
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
	nv := &View{s: h, tail: v.tail, n: v.n}
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

// Wait blocks until no background merge is running, a compaction when
// idle that is due included. One not yet due does not start until the
// next write, so that none outlives the searcher's owner.
func (h *Searcher) Wait() {
	h.mu.Lock()
	h.idler.disarm()
	for h.merging {
		h.idle.Wait()
	}
	h.mu.Unlock()
}

// searchScratch is the reusable per-search state.
type searchScratch struct {
	mih  mihScratch
	near nearScratch
	bufs [][]uint32
}

// View returns the current view.
func (h *Searcher) View() *View { return h.cur.Load() }

// Len returns the number of entries in v.
func (v *View) Len() int { return v.n }

// Stored returns the number of entries v holds in memory: Len and the
// deleted entries that no merge has dropped yet.
func (v *View) Stored() int {
	k := len(v.tail.refs)
	for _, st := range v.segs {
		k += st.seg.size()
	}
	return k
}

// Search calls fn for every entry of v within radius of q (Hamming
// distance <= radius), in no particular order, with that distance. q has
// the searcher's word count. fn must not call back into the searcher. A
// negative radius finds nothing.
func (v *View) Search(q []uint64, radius int, fn func(ref uint64, frame uint32, dist int)) {
	h := v.s
	if len(q) != h.cfg.Words {
		panic("hamming: View.Search: wrong query length")
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
	sc.bufs[0] = scanHits(h.cfg.Words, t.hashes, q, radius, 0, sc.bufs[0][:0])
	for _, id := range sc.bufs[0] {
		if i := int(id); !t.isDead(i) {
			fn(t.refs[i], t.frames[i], distance(t.hashes[i*h.cfg.Words:(i+1)*h.cfg.Words], q))
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
