package hamming

import (
	"cmp"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// KeyIndex is an inverted index of uint32 keys for locality-sensitive
// hashing: each entry (an item ref and a keyframe) holds a set of keys
// and an opaque payload, and a vote counts, for a query's keys, how many
// of them each entry holds. Local features are found this way: each
// descriptor gives a few keys (bits sampled from it), and an entry that
// shares enough keys with the query is a candidate, whose payload (its
// features) the caller then verifies.
//
// It follows the design of Searcher (hamming.go):
//
//   - Live: Add appends to a small tail, which is sealed into a segment
//     once it holds cfg.tail postings; Remove marks entries deleted
//     (copy-on-write); both take effect for every vote that starts after
//     they return.
//   - Log-structured: segments are immutable and merged in the
//     background by the same policy as Searcher's (pickKeyMerge), by one
//     goroutine that builds the merged segment without holding a lock.
//   - Readers never wait: a vote reads one immutable KeyView.
//   - Compacted when idle: once no write has come for idleCompact, the
//     tail is sealed and the segments are merged into one (idleCompact,
//     idleCost).
//
// A segment keeps its postings sorted by a bijective mix of the key
// (mixKey), in buckets on the mixed key's top bits: a directory of
// bucket starts, then per posting the rest of the mixed key (8, 16 or 32
// bits, whichever costs least; see choosePostings) beside a 32-bit entry
// number. At 400 million postings that is 5.2 bytes a posting. Mixing
// spreads keys that carry a table number in their top bits over every
// bucket, and since it is a bijection the bucket and the rest are the
// whole key, so a lookup finds no false postings.
//
// Payloads live in big arenas, not one allocation each. A merge keeps an
// input's arena as it is when it is big and mostly live, and copies the
// live payloads of the others into a new one, so merging never copies
// the bulk of the payloads and removed payloads are reclaimed once a
// quarter of an arena is dead.
//
// It is safe for concurrent use: writes are serialised inside, votes run
// concurrently with them and with each other.
type KeyIndex struct {
	cfg KeyConfig
	cur atomic.Pointer[KeyView]

	mu      sync.Mutex // serialises writers and the merger's publishing
	merging bool       // guarded by mu
	idle    sync.Cond  // broadcast when merging ends; uses mu
	deleted []uint64   // refs removed during the running merge; guarded by mu
	chunk   []byte     // where the tail's payloads are appended; guarded by mu

	idler idler // compaction when idle (see idleCompact); guarded by mu

	scratch sync.Pool // *keyScratch
}

// KeyConfig sets up a KeyIndex. The zero value is valid.
type KeyConfig struct {
	// Merged is called after a run of background merges, without locks
	// held, so that callers that publish views of their own can republish
	// and let the old segments go (see Searcher.mergeLoop). May be nil.
	Merged func()

	tail   int           // tail postings before a seal; 0: defaultKeyTail
	idle   time.Duration // idleCompact if 0; < 0: never (tests)
	sync   bool          // merge in the writer, not in the background (tests)
	layout keyLayout     // forced postings layout (tests); zero: choosePostings
}

// keyLayout is a postings layout: the directory's bits and the rest's
// width in bytes (1 needs dirBits >= 24, 2 needs dirBits >= 16).
// parts > 0 forces the number of goroutines a build places with.
type keyLayout struct{ dirBits, width, parts int }

// defaultKeyTail is the tail's size in postings: every vote checks each
// tail posting against a filter of the query's keys (~1 ns each), so the
// tail costs a vote ~10 us at most; 20 pictures of 400 keys.
const defaultKeyTail = 8192

// maxTailEntries seals a tail of entries with few keys all the same.
const maxTailEntries = 256

// KeyView is one published state of a KeyIndex: votes on it see the
// entries as they were when it was published, however many writes and
// merges follow. It is safe for concurrent use.
type KeyView struct {
	x    *KeyIndex
	segs []*keySegState // oldest (and largest) first
	tail keyTail
	n    int // live entries
}

// keyTail is the tail as one view sees it: entries in the order added.
// The writer appends past these lengths; views never see that.
type keyTail struct {
	refs   []uint64
	frames []uint32
	ends   []uint32 // entry i's keys are keys[ends[i-1]:ends[i]] (ends[-1] = 0)
	keys   []uint32 // mixed, sorted and distinct per entry
	pays   [][]byte
	dead   []uint64 // bitset, copied on write; nil: none
	ndead  int
}

func (t *keyTail) isDead(i int) bool {
	w := i >> 6
	return w < len(t.dead) && t.dead[w]>>(i&63)&1 != 0
}

func (t *keyTail) entryKeys(i int) []uint32 {
	lo := uint32(0)
	if i > 0 {
		lo = t.ends[i-1]
	}
	return t.keys[lo:t.ends[i]]
}

// mixKey is a bijection of uint32 (the finaliser of MurmurHash3:
// xor-shifts and multiplications by odd constants, each invertible): it
// spreads keys over a segment's buckets whatever bits they vary in.
func mixKey(k uint32) uint32 {
	k ^= k >> 16
	k *= 0x85ebca6b
	k ^= k >> 13
	k *= 0xc2b2ae35
	k ^= k >> 16
	return k
}

// mixKeys appends to dst the mixed keys, sorted and distinct.
func mixKeys(dst, keys []uint32) []uint32 {
	n := len(dst)
	for _, k := range keys {
		dst = append(dst, mixKey(k))
	}
	s := dst[n:]
	slices.Sort(s)
	return dst[:n+len(slices.Compact(s))]
}

// NewKeyIndex returns an empty KeyIndex.
func NewKeyIndex(cfg KeyConfig) *KeyIndex {
	if cfg.tail <= 0 {
		cfg.tail = defaultKeyTail
	}
	if cfg.idle == 0 {
		cfg.idle = idleCompact
	}
	x := &KeyIndex{cfg: cfg}
	if !cfg.sync {
		x.idler.after = cfg.idle
	}
	x.idle.L = &x.mu
	x.scratch.New = func() any { return new(keyScratch) }
	x.cur.Store(&KeyView{x: x})
	return x
}

// tailChunk is the least capacity of a chunk the tail's payloads are
// appended to.
const tailChunk = 1 << 20

// Add stores one entry: ref's keyframe frame, holding keys (duplicates
// are ignored) and payload (copied). A ref may have several entries. It
// takes effect for every vote that starts after it returns.
func (x *KeyIndex) Add(ref uint64, frame uint32, keys []uint32, payload []byte) {
	x.mu.Lock()
	defer x.mu.Unlock()
	v := x.cur.Load()
	nv := &KeyView{x: x, segs: v.segs, tail: v.tail, n: v.n + 1}
	t := &nv.tail
	// Appending writes past the lengths every older view holds; so does
	// appending to the chunk, which older views' payloads point into
	// below its length.
	t.refs = append(t.refs, ref)
	t.frames = append(t.frames, frame)
	t.keys = mixKeys(t.keys, keys)
	t.ends = append(t.ends, uint32(len(t.keys)))
	if cap(x.chunk)-len(x.chunk) < len(payload) {
		x.chunk = make([]byte, 0, max(tailChunk, len(payload)))
	}
	at := len(x.chunk)
	x.chunk = append(x.chunk, payload...)
	t.pays = append(t.pays, x.chunk[at:len(x.chunk):len(x.chunk)])
	if len(t.keys) >= x.cfg.tail || len(t.refs) >= maxTailEntries {
		x.seal(nv)
	}
	x.cur.Store(nv)
	x.kick()
}

// seal turns the live entries of nv's tail into a new segment.
func (x *KeyIndex) seal(nv *KeyView) {
	t := &nv.tail
	var e KeyEntries
	size := 0
	for i := range t.refs {
		if !t.isDead(i) {
			size += len(t.pays[i])
		}
	}
	e.arenas = [][]byte{make([]byte, 0, size)}
	for i, r := range t.refs {
		if !t.isDead(i) {
			e.add(r, t.frames[i], t.entryKeys(i), t.pays[i])
		}
	}
	nv.tail = keyTail{}
	if len(e.refs) == 0 {
		return
	}
	nv.segs = append(slices.Clip(nv.segs), &keySegState{seg: newKeySeg(&e, x.cfg.layout)})
}

// KeyEntries is a batch of entries for AddBatch, built by its Add method.
// Its payloads are packed into arenas as they come, which the segment
// built from it takes over without a copy. The zero value is an empty
// batch. It is not safe for concurrent use.
type KeyEntries struct {
	refs   []uint64
	frames []uint32
	ends   []int    // entry i's keys are keys[ends[i-1]:ends[i]]
	keys   []uint32 // mixed, sorted and distinct per entry
	pays   []payRef
	arenas [][]byte
	fill   int // the arena being filled
}

// payRef places a payload in a segment's arenas.
type payRef struct{ arena, off, len uint32 }

// arenaChunk is the size at which a batch starts a new arena (offsets
// are 32-bit).
const arenaChunk = 1 << 28

// Add appends one entry, as KeyIndex.Add would store it: keys are
// deduplicated and payload is copied.
func (e *KeyEntries) Add(ref uint64, frame uint32, keys []uint32, payload []byte) {
	e.keys = mixKeys(e.keys, keys)
	e.push(ref, frame, payload)
}

// add appends an entry whose keys are mixed, sorted and distinct.
func (e *KeyEntries) add(ref uint64, frame uint32, mixed []uint32, payload []byte) {
	e.keys = append(e.keys, mixed...)
	e.push(ref, frame, payload)
}

func (e *KeyEntries) push(ref uint64, frame uint32, payload []byte) {
	e.refs = append(e.refs, ref)
	e.frames = append(e.frames, frame)
	e.ends = append(e.ends, len(e.keys))
	if len(payload) > arenaChunk {
		panic("hamming: KeyEntries.Add: payload over 256 MiB")
	}
	// Fill the arenas Grow made in turn; the last grows as needed.
	for e.fill+1 < len(e.arenas) && len(e.arenas[e.fill])+len(payload) > cap(e.arenas[e.fill]) {
		e.fill++
	}
	if len(e.arenas) == 0 || len(e.arenas[e.fill])+len(payload) > arenaChunk {
		e.arenas = append(e.arenas, nil)
		e.fill = len(e.arenas) - 1
	}
	k := e.fill
	e.pays = append(e.pays, payRef{uint32(k), uint32(len(e.arenas[k])), uint32(len(payload))})
	e.arenas[k] = append(e.arenas[k], payload...)
}

// Grow makes room for entries more entries holding keys more keys and
// payloadBytes more bytes of payload in all, so that a big batch is not
// copied as it grows.
func (e *KeyEntries) Grow(entries, keys, payloadBytes int) {
	e.refs = slices.Grow(e.refs, entries)
	e.frames = slices.Grow(e.frames, entries)
	e.ends = slices.Grow(e.ends, entries)
	e.pays = slices.Grow(e.pays, entries)
	e.keys = slices.Grow(e.keys, keys)
	if k := len(e.arenas) - 1; k >= 0 && payloadBytes > 0 {
		room := min(payloadBytes, max(0, arenaChunk-cap(e.arenas[k])))
		e.arenas[k] = slices.Grow(e.arenas[k], cap(e.arenas[k])-len(e.arenas[k])+room)
		payloadBytes -= room
	}
	for payloadBytes > 0 {
		room := min(payloadBytes, arenaChunk)
		e.arenas = append(e.arenas, make([]byte, 0, room))
		payloadBytes -= room
	}
}

// Len returns the number of entries in e.
func (e *KeyEntries) Len() int { return len(e.refs) }

func (e *KeyEntries) entryKeys(i int) []uint32 {
	lo := 0
	if i > 0 {
		lo = e.ends[i-1]
	}
	return e.keys[lo:e.ends[i]]
}

// AddBatch adds the entries of e as one new segment, built before any
// lock is taken: for start-up, where adding a million entries one at a
// time would seal and merge thousands of small segments. It is
// equivalent to calling Add for each entry. It takes over e's memory: e
// must not be used again.
func (x *KeyIndex) AddBatch(e *KeyEntries) {
	if e.Len() == 0 {
		return
	}
	seg := newKeySeg(e, x.cfg.layout)
	*e = KeyEntries{}
	x.mu.Lock()
	defer x.mu.Unlock()
	v := x.cur.Load()
	x.cur.Store(&KeyView{x: x, segs: append(slices.Clip(v.segs), &keySegState{seg: seg}), tail: v.tail, n: v.n + seg.n})
	x.kick()
}

// Remove drops every entry of ref; it is a no-op for an unknown ref. It
// takes effect for every vote that starts after it returns.
func (x *KeyIndex) Remove(ref uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	v := x.cur.Load()
	nv := &KeyView{x: x, segs: v.segs, tail: v.tail, n: v.n}
	t := &nv.tail
	killed := killTail(t.refs, &t.dead, ref)
	t.ndead += killed
	nv.n -= killed
	changed := killed > 0
	if t.ndead == len(t.refs) {
		nv.tail = keyTail{}
	}
	copied := false
	var pos []uint32
	for i := 0; i < len(nv.segs); i++ {
		st := nv.segs[i]
		pos = st.seg.positions(ref, pos[:0])
		if len(pos) == 0 {
			continue
		}
		dead, killed := st.dead.kill(st.seg.n, pos)
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
		nv.segs[i] = &keySegState{seg: st.seg, dead: dead, ndead: st.ndead + killed}
	}
	if !changed {
		return
	}
	if x.merging {
		x.deleted = append(x.deleted, ref)
	}
	x.cur.Store(nv)
	x.kick()
}

// pickKeyMerge is pickMerge (hamming.go) for a KeyView: the segments to
// merge into one, [lo, hi), if any.
func pickKeyMerge(v *KeyView) (lo, hi int, ok bool) { return pickMergeOf(v.segs) }

func (s *keySegState) deadCount() int   { return s.ndead }
func (s *keySegState) storedCount() int { return s.seg.n }

// kick starts merging if the policy wants a merge and none is running,
// and sets the compaction when idle to fire. x.mu is held.
func (x *KeyIndex) kick() {
	x.idler.touch(x.idleFire)
	if x.merging {
		return
	}
	if _, _, ok := pickKeyMerge(x.cur.Load()); !ok {
		return
	}
	if x.cfg.sync {
		for {
			v := x.cur.Load()
			lo, hi, ok := pickKeyMerge(v)
			if !ok {
				return
			}
			in := v.segs[lo:hi]
			x.install(in, mergeKeySegs(in, x.cfg.layout))
		}
	}
	x.startMerge()
}

// idleFire is the timer's function of the compaction when idle.
func (x *KeyIndex) idleFire() { x.idler.fire(&x.mu, x) }

// sealTail seals the tail of the current view (compactable). x.mu is held.
func (x *KeyIndex) sealTail() bool {
	v := x.cur.Load()
	if len(v.tail.refs) == 0 {
		return false
	}
	nv := &KeyView{x: x, segs: v.segs, tail: v.tail, n: v.n}
	x.seal(nv)
	x.cur.Store(nv)
	return true
}

// mergeWanted reports whether the current view has segments to merge
// (compactable). x.mu is held.
func (x *KeyIndex) mergeWanted() bool { return x.wantsMerge(x.cur.Load()) }

// startMerge starts the merging goroutine unless it runs (compactable).
// x.mu is held.
func (x *KeyIndex) startMerge() {
	if !x.merging {
		x.merging = true
		x.deleted = x.deleted[:0]
		go x.mergeLoop()
	}
}

// merged calls cfg.Merged, if set (compactable).
func (x *KeyIndex) merged() {
	if x.cfg.Merged != nil {
		x.cfg.Merged()
	}
}

// pick returns the segments to merge, [lo, hi): the policy's
// (pickKeyMerge), or else all of them if a compaction is due. x.mu is held.
func (x *KeyIndex) pick(v *KeyView) (lo, hi int, ok bool) {
	lo, hi, ok = pickKeyMerge(v)
	return take(&x.idler, v.segs, lo, hi, ok)
}

// wantsMerge reports whether pick would pick segments of v, without
// taking the compaction due. x.mu is held.
func (x *KeyIndex) wantsMerge(v *KeyView) bool {
	_, _, ok := pickKeyMerge(v)
	return wants(&x.idler, v.segs, ok)
}

// mergeLoop is Searcher.mergeLoop for a KeyIndex.
func (x *KeyIndex) mergeLoop() {
	x.mu.Lock()
	for {
		merged := false
		for {
			v := x.cur.Load()
			lo, hi, ok := x.pick(v)
			if !ok {
				break
			}
			in := slices.Clone(v.segs[lo:hi])
			x.deleted = x.deleted[:0]
			x.mu.Unlock()
			seg := mergeKeySegs(in, x.cfg.layout)
			x.mu.Lock()
			x.install(in, seg)
			merged = true
		}
		if !merged || x.cfg.Merged == nil {
			break
		}
		x.mu.Unlock()
		x.cfg.Merged()
		x.mu.Lock()
		if !x.wantsMerge(x.cur.Load()) {
			break
		}
	}
	x.idler.ended()
	x.merging = false
	x.idle.Broadcast()
	x.mu.Unlock()
}

// install replaces the segments in (as they were when the merge started)
// with seg, deleting from seg the refs removed since. x.mu is held.
func (x *KeyIndex) install(in []*keySegState, seg *keySeg) {
	st := &keySegState{seg: seg}
	var pos []uint32
	for _, ref := range x.deleted {
		if pos = seg.positions(ref, pos[:0]); len(pos) > 0 {
			var k int
			st.dead, k = st.dead.kill(seg.n, pos)
			st.ndead += k
		}
	}
	x.deleted = x.deleted[:0]
	v := x.cur.Load()
	nv := &KeyView{x: x, tail: v.tail, n: v.n}
	placed := st.live() == 0
	for _, cur := range v.segs {
		if slices.ContainsFunc(in, func(s *keySegState) bool { return s.seg == cur.seg }) {
			if !placed {
				nv.segs = append(nv.segs, st)
				placed = true
			}
			continue
		}
		nv.segs = append(nv.segs, cur)
	}
	x.cur.Store(nv)
}

// Wait blocks until no background merge is running, a compaction when
// idle that is due included. One not yet due does not start until the
// next write, so that none outlives the index's owner.
func (x *KeyIndex) Wait() {
	x.mu.Lock()
	x.idler.disarm()
	for x.merging {
		x.idle.Wait()
	}
	x.mu.Unlock()
}

// View returns the current view.
func (x *KeyIndex) View() *KeyView { return x.cur.Load() }

// Len returns the number of live entries in v.
func (v *KeyView) Len() int { return v.n }

// Bytes returns the memory v holds in bytes: postings, directories,
// entries, payload arenas (with the dead payloads no merge has dropped
// yet) and the tail.
func (v *KeyView) Bytes() int {
	t := &v.tail
	b := 8*len(t.refs) + 4*len(t.frames) + 4*len(t.ends) + 4*len(t.keys) + 24*len(t.pays) + 8*len(t.dead)
	for _, p := range t.pays {
		b += len(p)
	}
	for _, st := range v.segs {
		b += st.seg.bytes() + 8*len(st.dead)
		for _, pg := range st.dead {
			if pg != nil {
				b += 8 * len(pg)
			}
		}
	}
	return b
}

// keySeg is an immutable run of entries sorted by ref, with their
// postings.
type keySeg struct {
	n      int
	refs   []uint64
	frames []uint32
	pays   []payRef
	arenas [][]byte
	post   postingList
}

// keySegState is a segment as one published view sees it.
type keySegState struct {
	seg   *keySeg
	dead  deadSet
	ndead int
}

func (s *keySegState) live() int { return s.seg.n - s.ndead }

func (s *keySeg) payload(id uint32) []byte {
	p := s.pays[id]
	return s.arenas[p.arena][p.off : p.off+p.len : p.off+p.len]
}

func (s *keySeg) positions(ref uint64, buf []uint32) []uint32 {
	lo, _ := slices.BinarySearch(s.refs, ref)
	for i := lo; i < s.n && s.refs[i] == ref; i++ {
		buf = append(buf, uint32(i))
	}
	return buf
}

func (s *keySeg) bytes() int {
	b := 8*len(s.refs) + 4*len(s.frames) + 12*len(s.pays) + s.post.bytes()
	for _, a := range s.arenas {
		b += cap(a)
	}
	return b
}

// newKeySeg builds a segment from e, taking over its arenas.
func newKeySeg(e *KeyEntries, lay keyLayout) *keySeg {
	n := e.Len()
	if uint64(n) >= 1<<32-1 || uint64(len(e.keys)) >= 1<<32 {
		panic("hamming: KeyIndex: a segment over 2^32 entries or postings")
	}
	// Stable: a ref's frames stay in the order they came.
	var perm []int
	if !slices.IsSorted(e.refs) {
		perm = make([]int, n)
		for i := range perm {
			perm[i] = i
		}
		slices.SortStableFunc(perm, func(a, b int) int { return cmp.Compare(e.refs[a], e.refs[b]) })
	}
	at := func(i int) int {
		if perm == nil {
			return i
		}
		return perm[i]
	}
	s := &keySeg{n: n, refs: make([]uint64, n), frames: make([]uint32, n), pays: make([]payRef, n), arenas: e.arenas}
	for i := range n {
		j := at(i)
		s.refs[i], s.frames[i], s.pays[i] = e.refs[j], e.frames[j], e.pays[j]
	}
	s.post = buildPostings(len(e.keys), lay, func(emit func(m, id uint32)) {
		for i := range n {
			for _, m := range e.entryKeys(at(i)) {
				emit(m, uint32(i))
			}
		}
	})
	return s
}

// Arena policy of merges: an input arena is kept as it is if it holds at
// least keepArena bytes of which at least 3/4 are live; the live payloads
// of the others are copied into new arenas.
const keepArena = 4 << 20

// mergeKeySegs builds one segment from the live entries of in.
func mergeKeySegs(in []*keySegState, lay keyLayout) *keySeg {
	// The live entries, in order, and the start of each input's run.
	var refs []uint64
	var starts []int
	remap := make([][]uint32, len(in)) // input position -> merged position; none: dead
	const none = ^uint32(0)
	for k, st := range in {
		starts = append(starts, len(refs))
		rm := make([]uint32, st.seg.n)
		for i := range st.seg.n {
			if st.dead.has(uint32(i)) {
				rm[i] = none
				continue
			}
			rm[i] = uint32(len(refs))
			refs = append(refs, st.seg.refs[i])
		}
		remap[k] = rm
	}
	n := len(refs)
	// src[i] is the (input, position) of the i-th entry before sorting.
	src := make([][2]uint32, 0, n)
	for k, rm := range remap {
		for i, r := range rm {
			if r != none {
				src = append(src, [2]uint32{uint32(k), uint32(i)})
			}
		}
	}
	perm := sortedOrder(refs, starts)
	if perm != nil {
		for i, p := range perm {
			k, j := src[p][0], src[p][1]
			remap[k][j] = uint32(i)
		}
	}
	s := &keySeg{n: n, refs: make([]uint64, n), frames: make([]uint32, n), pays: make([]payRef, n)}

	// Arenas: which to keep, and the bytes to copy.
	type arenaUse struct{ live int }
	use := make([][]arenaUse, len(in))
	for k, st := range in {
		use[k] = make([]arenaUse, len(st.seg.arenas))
		for i, r := range remap[k] {
			if r != none {
				use[k][st.seg.pays[i].arena].live += int(st.seg.pays[i].len)
			}
		}
	}
	newIdx := make([][]int, len(in)) // kept arena's index in s, or -1
	copyBytes := 0
	for k, st := range in {
		newIdx[k] = make([]int, len(st.seg.arenas))
		for a, buf := range st.seg.arenas {
			if len(buf) >= keepArena && 4*use[k][a].live >= 3*len(buf) {
				newIdx[k][a] = len(s.arenas)
				s.arenas = append(s.arenas, buf)
			} else {
				newIdx[k][a] = -1
				copyBytes += use[k][a].live
			}
		}
	}
	fresh := -1 // index in s.arenas of the arena being filled
	for i := range n {
		var k, j uint32
		if perm != nil {
			k, j = src[perm[i]][0], src[perm[i]][1]
		} else {
			k, j = src[i][0], src[i][1]
		}
		seg := in[k].seg
		s.refs[i], s.frames[i] = seg.refs[j], seg.frames[j]
		p := seg.pays[j]
		if a := newIdx[k][p.arena]; a >= 0 {
			s.pays[i] = payRef{uint32(a), p.off, p.len}
			continue
		}
		if fresh < 0 || len(s.arenas[fresh])+int(p.len) > cap(s.arenas[fresh]) {
			fresh = len(s.arenas)
			s.arenas = append(s.arenas, make([]byte, 0, max(int(p.len), min(copyBytes, arenaChunk))))
		}
		buf := s.arenas[fresh]
		s.pays[i] = payRef{uint32(fresh), uint32(len(buf)), p.len}
		s.arenas[fresh] = append(buf, seg.payload(j)...)
		copyBytes -= int(p.len)
	}

	total := 0
	for k, st := range in {
		if st.ndead == 0 {
			total += st.seg.post.len()
			continue
		}
		rm := remap[k]
		for _, id := range st.seg.post.entryIDs() {
			if rm[id] != none {
				total++
			}
		}
	}
	if uint64(total) >= 1<<32 {
		panic("hamming: KeyIndex: a segment over 2^32 postings")
	}
	s.post = buildPostings(total, lay, func(emit func(m, id uint32)) {
		for k, st := range in {
			rm := remap[k]
			st.seg.post.each(func(m, id uint32) {
				if r := rm[id]; r != none {
					emit(m, r)
				}
			})
		}
	})
	return s
}

// postingList is a segment's postings: (mixed key, entry) pairs sorted
// by key, then entry.
type postingList interface {
	// find returns the positions [lo, hi) of mixed key m's postings.
	find(m uint32) (lo, hi uint32)
	// findAll is find for every key of q: key j's positions go to
	// r[2*j], r[2*j+1]. addrs is scratch; it returns it.
	findAll(q, r []uint32, addrs []uintptr) []uintptr
	// entryIDs returns the entry of each position.
	entryIDs() []uint32
	// each calls fn for every posting, in order.
	each(fn func(m, id uint32))
	len() int
	bytes() int
}

// postings stores a posting's mixed key m as its bucket, m>>shift (the
// directory gives each bucket's positions), and its rest, the low shift
// bits, in R.
type postings[R uint8 | uint16 | uint32] struct {
	shift uint
	dir   []uint32 // bucket b is positions [dir[b], dir[b+1])
	rest  []R
	ids   []uint32
}

func (p *postings[R]) len() int           { return len(p.ids) }
func (p *postings[R]) entryIDs() []uint32 { return p.ids }
func (p *postings[R]) bytes() int {
	restBytes := bits.Len64(uint64(^R(0))) / 8
	return 4*len(p.dir) + (4+restBytes)*len(p.ids)
}

func (p *postings[R]) mask() uint32 { return uint32(uint64(1)<<p.shift - 1) }

// linearFind is the bucket size under which find scans rather than
// bisects: a few cache lines.
const linearFind = 32

func (p *postings[R]) find(m uint32) (lo, hi uint32) {
	b := m >> p.shift
	return p.search(m, p.dir[b], p.dir[b+1])
}

// search returns the positions of m's postings in its bucket, [lo, hi).
func (p *postings[R]) search(m, lo, hi uint32) (uint32, uint32) {
	r := R(m & p.mask())
	rs := p.rest[lo:hi]
	var i, j int
	if len(rs) <= linearFind {
		for i < len(rs) && rs[i] < r {
			i++
		}
		j = i
		for j < len(rs) && rs[j] == r {
			j++
		}
	} else {
		i, _ = slices.BinarySearch(rs, r)
		j = i
		if j < len(rs) && rs[j] == r {
			j, _ = slices.BinarySearch(rs[i:], r+1)
			j += i
			if r == ^R(0) {
				j = len(rs)
			}
		}
	}
	return lo + uint32(i), lo + uint32(j)
}

// findAll looks up the keys in a pipeline of three stages, each a chunk
// of keys ahead of the next: prefetch the directory entries; read them
// and prefetch the buckets' rests and entries; search the buckets. A
// lookup is a few reads at random in arrays of gigabytes, each a cache
// miss and often a TLB miss: one key after another, the CPU would wait
// for each in turn, while prefetched a chunk ahead they overlap. A chunk
// at a time, not all keys at once: the CPU tracks only so many misses,
// and drops prefetches beyond.
func (p *postings[R]) findAll(q, r []uint32, addrs []uintptr) []uintptr {
	const chunk = 16
	n := len(q)
	prefetchDir := func(c int) {
		addrs = addrs[:0]
		for _, m := range q[c*chunk : min(n, (c+1)*chunk)] {
			addrs = append(addrs, uintptr(unsafe.Pointer(&p.dir[m>>p.shift])))
		}
		prefetch(addrs)
	}
	readDir := func(c int) {
		addrs = addrs[:0]
		for j := c * chunk; j < min(n, (c+1)*chunk); j++ {
			b := q[j] >> p.shift
			lo, hi := p.dir[b], p.dir[b+1]
			r[2*j], r[2*j+1] = lo, hi
			if lo < hi {
				addrs = append(addrs, uintptr(unsafe.Pointer(&p.rest[lo])), uintptr(unsafe.Pointer(&p.ids[lo])))
			}
		}
		prefetch(addrs)
	}
	chunks := (n + chunk - 1) / chunk
	for c := range min(chunks, 2) {
		prefetchDir(c)
	}
	if chunks > 0 {
		readDir(0)
	}
	for c := range chunks {
		if c+2 < chunks {
			prefetchDir(c + 2)
		}
		if c+1 < chunks {
			readDir(c + 1)
		}
		for j := c * chunk; j < min(n, (c+1)*chunk); j++ {
			r[2*j], r[2*j+1] = p.search(q[j], r[2*j], r[2*j+1])
		}
	}
	runtime.KeepAlive(p)
	return addrs
}

func (p *postings[R]) each(fn func(m, id uint32)) {
	for b := 0; b+1 < len(p.dir); b++ {
		base := uint32(uint64(b) << p.shift)
		for i := p.dir[b]; i < p.dir[b+1]; i++ {
			fn(base|uint32(p.rest[i]), p.ids[i])
		}
	}
}

// choosePostings returns the layout that holds npost postings in the
// fewest bytes with buckets of at most ~64 postings on average: the
// directory's bits, and the rest's width in bytes.
func choosePostings(npost int) (dirBits, width int) {
	ceilLog := func(x int) int { return bits.Len(uint(max(x, 1) - 1)) }
	best := -1
	try := func(d, w int) {
		b := w*npost + 4<<d
		if best < 0 || b < best {
			best, dirBits, width = b, d, w
		}
	}
	// 8-bit rests need a 24-bit directory.
	if npost <= 64<<24 {
		try(24, 1)
	}
	try(min(24, max(16, ceilLog(npost/64))), 2)
	try(min(24, ceilLog(npost/16)), 4)
	return dirBits, width
}

// buildPostings builds the postings that src emits (npost of them, keys
// mixed), in the layout choosePostings picks. src must emit the same
// postings each time it is called (twice).
func buildPostings(npost int, lay keyLayout, src func(emit func(m, id uint32))) postingList {
	d, w := lay.dirBits, lay.width
	if w == 0 {
		d, w = choosePostings(npost)
	}
	parts := lay.parts
	if parts == 0 {
		parts = 1
		if npost >= parallelBuild {
			parts = runtime.GOMAXPROCS(0)
		}
	}
	parts = max(1, min(parts, 1<<d))
	switch w {
	case 1:
		return build[uint8](d, npost, parts, src)
	case 2:
		return build[uint16](d, npost, parts, src)
	}
	return build[uint32](d, npost, parts, src)
}

// parallelBuild is the number of postings from which a build splits its
// placing and sorting across the CPUs.
const parallelBuild = 1 << 22

// build places the postings by a counting sort on the bucket, then sorts
// each bucket by rest and entry. Placing writes at random over arrays of
// gigabytes, a cache miss a posting: parts goroutines each place the
// postings of one range of buckets, reading all of src (sequential, and
// cheap beside the misses) and writing only their own range. src must be
// safe to call concurrently.
func build[R uint8 | uint16 | uint32](d, npost, parts int, src func(emit func(m, id uint32))) *postings[R] {
	p := &postings[R]{shift: uint(32 - d), dir: make([]uint32, 1<<d+1)}
	shift := p.shift
	mask := p.mask()
	src(func(m, _ uint32) { p.dir[(m>>shift)+1]++ })
	for b := 1; b < len(p.dir); b++ {
		p.dir[b] += p.dir[b-1]
	}
	next := slices.Clone(p.dir[:1<<d])
	p.rest = make([]R, npost)
	p.ids = make([]uint32, npost)
	// Placing writes at random all over them, and lookups read them at
	// random (see backHuge); asked before placing, the kernel backs them
	// with huge pages at once, which takes a TLB miss off most writes.
	backHuge(next)
	backHuge(p.dir)
	backHuge(p.rest)
	backHuge(p.ids)
	var wg sync.WaitGroup
	nb := uint32(1) << d
	for w := range uint32(parts) {
		blo := uint32(uint64(nb) * uint64(w) / uint64(parts))
		bhi := uint32(uint64(nb) * uint64(w+1) / uint64(parts))
		wg.Add(1)
		go func() {
			defer wg.Done()
			src(func(m, id uint32) {
				b := m >> shift
				if b < blo || b >= bhi {
					return
				}
				i := next[b]
				next[b]++
				p.rest[i], p.ids[i] = R(m&mask), id
			})
			p.sortBuckets(blo, bhi)
		}()
	}
	wg.Wait()
	return p
}

// sortBuckets sorts each bucket of [blo, bhi) by rest and entry.
func (p *postings[R]) sortBuckets(blo, bhi uint32) {
	var buf []uint64
	for b := blo; b < bhi; b++ {
		lo, hi := p.dir[b], p.dir[b+1]
		if hi-lo < 2 {
			continue
		}
		buf = buf[:0]
		sorted := true
		var last uint64
		for i := lo; i < hi; i++ {
			v := uint64(p.rest[i])<<32 | uint64(p.ids[i])
			sorted = sorted && v >= last
			last = v
			buf = append(buf, v)
		}
		if sorted {
			continue
		}
		if len(buf) <= 32 {
			for i := 1; i < len(buf); i++ {
				for j := i; j > 0 && buf[j] < buf[j-1]; j-- {
					buf[j], buf[j-1] = buf[j-1], buf[j]
				}
			}
		} else {
			slices.Sort(buf)
		}
		for k, v := range buf {
			p.rest[int(lo)+k], p.ids[int(lo)+k] = R(v>>32), uint32(v)
		}
	}
}

// keyScratch is the reusable state of a vote.
type keyScratch struct {
	q       []uint32 // the query's mixed keys, distinct
	set     []uint64 // open addressing: j<<32 | q[j], j+1 > 0; 0: empty
	ranges  []uint32 // per segment s and key j: positions [2*(s*len(q)+j)], [+1]
	total   []int    // per key: stored postings
	skip    []bool   // per key: over maxPostings
	tab     []uint64 // open addressing: (entry+1)<<32 | votes; 0: empty
	slots   []uint32 // the slots of tab in use
	bloom   [64]uint64
	tailHit []uint64 // tail entry<<32 | key index
	tailCnt []int    // per key: live tail postings
	tailVot []uint64 // per tail entry: keys held << voteShift | weighed votes
	weight  []uint64 // per key: its vote's weight (1 unless weighted)
	addrs   []uintptr
}

// distinct sets sc.q to the distinct mixed keys of keys, and sc.set to
// their index, and returns sc.q. A hash set, not a sort: a sort of 400
// keys costs a tenth of a vote.
func (sc *keyScratch) distinct(keys []uint32) []uint32 {
	size := 1 << bits.Len(uint(2*len(keys)))
	sc.set = slices.Grow(sc.set[:0], size)[:size]
	clear(sc.set)
	mask := uint32(size - 1)
	q := sc.q[:0]
	for _, k := range keys {
		m := mixKey(k)
		for h := m & mask; ; h = (h + 1) & mask {
			e := sc.set[h]
			if e == 0 {
				sc.set[h] = uint64(len(q)+1)<<32 | uint64(m)
				q = append(q, m)
				break
			}
			if uint32(e) == m {
				break
			}
		}
	}
	sc.q = q
	return q
}

// index returns the index in sc.q of mixed key m, if there.
func (sc *keyScratch) index(m uint32) (int, bool) {
	mask := uint32(len(sc.set) - 1)
	for h := m & mask; ; h = (h + 1) & mask {
		e := sc.set[h]
		if e == 0 {
			return 0, false
		}
		if uint32(e) == m {
			return int(e>>32) - 1, true
		}
	}
}

// Vote counts, for every live entry of v, how many of keys (distinct
// values; duplicates count once) it holds, and calls fn for each entry
// holding at least minVotes of them (minVotes < 1 counts as 1), in no
// particular order. payload is read-only and stays valid as long as the
// caller holds v. Keys held by more than maxPostings live entries are
// skipped (0: no limit): stop words that every picture has. fn must not
// retain payload past v, nor modify it; it may call into the index. At
// most 4,095 distinct keys (a query of local features has at most 1,024).
func (v *KeyView) Vote(keys []uint32, minVotes, maxPostings int, fn func(ref uint64, frame uint32, votes int, payload []byte)) {
	v.vote(keys, minVotes, maxPostings, false, fn)
}

// voteShift places an entry's count of keys held above its weighed
// votes in a 32-bit tally: up to 4,095 keys and weighed votes below 2^20
// (a query of 1,024 keys weighs at most 33 each).
const voteShift = 20

// VoteWeighted is Vote with each key's vote weighed by how rare the key
// is (the inverse document frequency of text retrieval): a key held by
// df of the view's n entries (counted as Vote counts for maxPostings,
// entries removed since the last merge included) weighs
// 1 + floor(log2(n/df)), at least 1. Descriptors are not uniform: a few
// keys come from patterns that many pictures share (a plain edge, a
// gradient), and an unrelated picture can gather as many of those as a
// true copy gathers of its own rare ones; weighed, the copy ranks first.
// votes is the weighed sum; minVotes still counts the keys held, so
// that one rare key in common does not make a candidate.
func (v *KeyView) VoteWeighted(keys []uint32, minVotes, maxPostings int, fn func(ref uint64, frame uint32, votes int, payload []byte)) {
	v.vote(keys, minVotes, maxPostings, true, fn)
}

func (v *KeyView) vote(keys []uint32, minVotes, maxPostings int, weighted bool, fn func(ref uint64, frame uint32, votes int, payload []byte)) {
	minVotes = max(minVotes, 1)
	sc := v.x.scratch.Get().(*keyScratch)
	defer v.x.scratch.Put(sc)
	q := sc.distinct(keys)
	nk := len(q)
	if nk == 0 || v.n == 0 {
		return
	}
	if nk >= 1<<(32-voteShift) {
		panic("hamming: Vote of more than 4095 distinct keys")
	}
	sc.total = slices.Grow(sc.total[:0], nk)[:nk]
	clear(sc.total)
	sc.skip = slices.Grow(sc.skip[:0], nk)[:nk]
	clear(sc.skip)
	sc.ranges = slices.Grow(sc.ranges[:0], 2*nk*len(v.segs))[:2*nk*len(v.segs)]

	// Pass 1: every key's positions in every segment.
	for s, st := range v.segs {
		r := sc.ranges[2*s*nk : 2*(s+1)*nk]
		sc.addrs = st.seg.post.findAll(q, r, sc.addrs)
		for j := range q {
			sc.total[j] += int(r[2*j+1] - r[2*j])
		}
	}
	// The tail, through a one-bit-per-slot filter of the query's keys.
	t := &v.tail
	sc.tailHit = sc.tailHit[:0]
	sc.tailCnt = slices.Grow(sc.tailCnt[:0], nk)[:nk]
	clear(sc.tailCnt)
	if len(t.refs) > 0 {
		clear(sc.bloom[:])
		for _, m := range q {
			sc.bloom[m>>6&63] |= 1 << (m & 63)
		}
		for i := range t.refs {
			if t.isDead(i) {
				continue
			}
			for _, m := range t.entryKeys(i) {
				if sc.bloom[m>>6&63]>>(m&63)&1 == 0 {
					continue
				}
				if j, ok := sc.index(m); ok {
					sc.tailHit = append(sc.tailHit, uint64(i)<<32|uint64(j))
					sc.tailCnt[j]++
				}
			}
		}
	}
	// Stop words. A segment's count includes entries removed since its
	// last merge; count those keys again exactly, stopping once over.
	if maxPostings > 0 {
		for j := range q {
			total := sc.total[j] + sc.tailCnt[j]
			if total <= maxPostings {
				continue
			}
			live := sc.tailCnt[j]
			for s, st := range v.segs {
				lo, hi := sc.ranges[2*(s*nk+j)], sc.ranges[2*(s*nk+j)+1]
				if st.ndead == 0 {
					live += int(hi - lo)
				} else {
					ids := st.seg.post.entryIDs()
					for p := lo; p < hi && live <= maxPostings; p++ {
						if !st.dead.has(ids[p]) {
							live++
						}
					}
				}
				if live > maxPostings {
					break
				}
			}
			sc.skip[j] = live > maxPostings
		}
	}

	// Each key's weight.
	sc.weight = slices.Grow(sc.weight[:0], nk)[:nk]
	for j := range q {
		w := uint64(1)
		if weighted {
			if df := sc.total[j] + sc.tailCnt[j]; df > 0 && v.n > df {
				w = uint64(bits.Len(uint(v.n / df))) // 1 + floor(log2(n/df))
			}
		}
		sc.weight[j] = w
	}

	// Pass 2: per segment (an entry lives in one), count each entry's
	// votes in an open-addressing table.
	for s, st := range v.segs {
		r := sc.ranges[2*s*nk : 2*(s+1)*nk]
		np := 0
		for j := range q {
			if !sc.skip[j] {
				np += int(r[2*j+1] - r[2*j])
			}
		}
		if np < minVotes {
			continue
		}
		lg := bits.Len(uint(2*np - 1))
		size := 1 << lg
		sc.tab = slices.Grow(sc.tab[:0], size)[:size]
		clear(sc.tab)
		sc.slots = sc.slots[:0]
		tab, mask, hshift := sc.tab, uint32(size-1), uint(32-lg)
		ids := st.seg.post.entryIDs()
		for j := range q {
			if sc.skip[j] {
				continue
			}
			w := sc.weight[j]
			for _, id := range ids[r[2*j]:r[2*j+1]] {
				key := uint64(id+1) << 32
				h := (id * 0x9e3779b1) >> hshift & mask
				for {
					e := tab[h]
					if e == 0 {
						tab[h] = key | 1<<voteShift | w
						sc.slots = append(sc.slots, h)
						break
					}
					if e&^0xffffffff == key {
						tab[h] = e + (1<<voteShift | w)
						break
					}
					h = (h + 1) & mask
				}
			}
		}
		seg := st.seg
		for _, h := range sc.slots {
			e := tab[h]
			votes := int(uint32(e) & (1<<voteShift - 1))
			if int(uint32(e)>>voteShift) < minVotes {
				continue
			}
			id := uint32(e>>32) - 1
			if st.dead.has(id) {
				continue
			}
			fn(seg.refs[id], seg.frames[id], votes, seg.payload(id))
		}
	}
	if len(sc.tailHit) > 0 {
		sc.tailVot = slices.Grow(sc.tailVot[:0], len(t.refs))[:len(t.refs)]
		clear(sc.tailVot)
		for _, h := range sc.tailHit {
			if !sc.skip[uint32(h)] {
				sc.tailVot[h>>32] += 1<<voteShift | sc.weight[uint32(h)]
			}
		}
		for i, v := range sc.tailVot {
			if int(v>>voteShift) >= minVotes {
				fn(t.refs[i], t.frames[i], int(v&(1<<voteShift-1)), t.pays[i])
			}
		}
	}
}
