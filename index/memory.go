package index

import (
	"encoding/binary"
	"maps"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/index/hamming"
)

// memory is the in-memory side of the index: the live banks, the metadata
// of every item, and one search structure per signal type. It is built from
// the store at Open and updated after every committed write, so Match never
// reads the store.
//
// Readers never wait for a writer. Everything a reader needs is in one
// immutable state, published through an atomic pointer: the banks
// (copy-on-write maps), the items (a persistent radix tree, itemTable),
// and one hamming.View per signal type (immutable too).
// A reader loads the state once and sees exactly the writes published
// before it, however long it runs. Writers hold mu, change the next state
// and the searchers, and publish once at the end of each write, so a write
// of many items (an import, the purge of a bank) becomes visible all at
// once.
type memory struct {
	cur atomic.Pointer[state]

	mu sync.Mutex // held by writers while they change next and publish
	// next is the state being written; its maps and table nodes are copied
	// on first change after each publish (owned tracks what is a copy).
	next  state
	owned struct{ banks bool }
	edit  *tableEdit // marks table nodes created since the last publish
	srch  map[searchKey]*hamming.Searcher
	local *hamming.KeyIndex // local features (local.go); nil until one is indexed
	// bulk, between beginBulk and endBulk, gathers the signals to index;
	// bulkGone holds the refs removed meanwhile.
	bulk     signalBatches
	bulkGone map[uint64]bool
	wbuf     []uint64 // scratch for index; searchers copy what they keep
}

// state is one published state of memory. Nothing reachable from it is
// modified after it is published, except bankState.items counts.
type state struct {
	banks     map[string]*bankState // live banks by name
	bankByRef map[uint64]*bankState // live banks by ref
	// items holds every stored item by ref, enabled or not, including the
	// items of deleted banks until the purge reaches them (Match skips
	// those, since their bank ref is no longer live).
	items  itemTable
	nitems int
	views  map[searchKey]*hamming.View // each searcher as of the state
	local  *hamming.KeyView            // local features as of the state; nil: none yet
}

// searchKey names one search structure: the signals of one type, of the
// whole frame or of the other views (mediamatch.View) apart, so that
// items hashed with views leave the whole-frame structure, which partner
// lists fill, the size it would be without them.
type searchKey struct {
	typ   mediamatch.SignalType
	views bool
}

// keyOf returns the search structure of an indexed signal.
func keyOf(e sigEntry) searchKey {
	_, v := splitFrame(e.frame)
	return searchKey{e.typ, v != 0}
}

// bankState is a live bank.
type bankState struct {
	ref   uint64
	bank  mediamatch.Bank // without ItemCount
	items atomic.Int64    // stored items, as of the latest write
	// signals counts the bank's signals in the search structures, by
	// position in mediamatch.SignalTypes (typeOrder), as of the latest
	// write: the signals of its enabled items, all views together.
	signals [8]atomic.Int64
}

// countSignal adds n to the signal count of ref's bank for type t.
func (m *memory) countSignal(ref uint64, t mediamatch.SignalType, n int64) {
	if meta := m.next.items.get(ref); meta != nil {
		m.countSignalOf(meta, t, n)
	}
}

// countSignalOf adds n to the signal count of meta's bank for type t.
func (m *memory) countSignalOf(meta *itemMeta, t mediamatch.SignalType, n int64) {
	if b := m.next.bankByRef[meta.bankRef()]; b != nil {
		b.signals[typeOrder(t)&7].Add(n)
	}
}

// itemMeta is what Match needs to know of an item, compactly (48 bytes
// and the id): ten million items must fit beside their signals. Partner
// lists repeat the same few label sets and sources, so those are interned
// (package unique: shared while in use, freed when no item holds them),
// and still images share their frame tables. It is replaced, never
// modified, once published.
type itemMeta struct {
	id     string
	labels unique.Handle[string] // canonical encoding (encodeLabels); zero: none
	src    *itemSource           // nil: not imported
	shape  *frameShape           // the keyframes; shared by still images
	bank   uint32                // bank refs are allocated from 1, one per bank ever created
	kind   uint8                 // mediamatch.Kind
	// disabled items are kept but never match.
	disabled bool
}

// bankRef returns the item's bank ref.
func (m *itemMeta) bankRef() uint64 { return uint64(m.bank) }

// frameShape is an item's keyframes as Match needs them.
type frameShape struct {
	frames []frameInfo // by keyframe position
	// types holds, by keyframe position, the mask (typeBit) of the
	// perceptual types indexed for the keyframe (itemRecord.frameTypes).
	types []uint8
	// views are the item's views other than the whole frame, by view
	// number - 1 (itemRecord.views); nil for most items.
	views []mediamatch.View
}

// view returns the view of number n (see entryFrame): the whole frame for
// 0 or an unknown number.
func (s *frameShape) view(n uint8) mediamatch.View {
	if n == 0 || int(n) > len(s.views) {
		return mediamatch.View{}
	}
	return s.views[n-1]
}

// stillShapes are the shapes of still images (one keyframe at index 0,
// no times), one per mask of indexed types: shared, never modified.
var stillShapes = func() (t [256]frameShape) {
	for i := range t {
		t[i] = frameShape{frames: []frameInfo{{}}, types: []uint8{uint8(i)}}
	}
	return t
}()

// itemSource is the compact form of a Source: what items of one list
// share, interned, and what is the item's own.
type itemSource struct {
	shared             unique.Handle[sourceShared]
	upstream           string
	firstSeen, updated int64 // Unix nanoseconds
}

type sourceShared struct {
	format, partner string
	tags            string // encodeStrings of the tags
}

// meta returns the compact in-memory form of r.
func (r *itemRecord) meta() *itemMeta {
	m := &itemMeta{
		id:       r.id,
		bank:     uint32(r.bank),
		kind:     uint8(r.kind),
		disabled: r.disabled,
	}
	if len(r.frames) == 1 && r.frames[0] == (frameInfo{}) && len(r.frameTypes) == 1 && len(r.views) == 0 {
		m.shape = &stillShapes[r.frameTypes[0]]
	} else {
		m.shape = &frameShape{frames: r.frames, types: r.frameTypes, views: r.views}
	}
	if len(r.labels) > 0 {
		m.labels = unique.Make(encodeLabels(r.labels))
	}
	if src := r.source; src != nil {
		m.src = &itemSource{
			shared:    unique.Make(sourceShared{src.Format, src.Partner, encodeStrings(src.Tags)}),
			upstream:  src.UpstreamID,
			firstSeen: src.FirstSeen.UnixNano(),
			updated:   src.Updated.UnixNano(),
		}
	}
	return m
}

// addFrameType adds type bit b to keyframe i's mask. Only for a meta not
// yet published (loading).
func (m *itemMeta) addFrameType(i int, b uint8) {
	if s := m.shape; len(s.types) == 1 && s == &stillShapes[s.types[0]] { // shared: move to another
		m.shape = &stillShapes[s.types[0]|b]
		return
	}
	m.shape.types[i] |= b
}

// labelMap returns a new map of the item's labels, or nil.
func (m *itemMeta) labelMap() map[string]string {
	if m.labels == (unique.Handle[string]{}) {
		return nil
	}
	return decodeLabels(m.labels.Value())
}

// source returns a new Source, or nil.
func (s *itemSource) source() *mediamatch.Source {
	if s == nil {
		return nil
	}
	sh := s.shared.Value()
	return &mediamatch.Source{
		Format:     sh.format,
		Partner:    sh.partner,
		UpstreamID: s.upstream,
		Tags:       decodeStrings(sh.tags),
		FirstSeen:  time.Unix(0, s.firstSeen).UTC(),
		Updated:    time.Unix(0, s.updated).UTC(),
	}
}

// frameInfo is one keyframe of an item as Match reports it.
type frameInfo struct {
	index      int
	start, end time.Duration
}

func newMemory() *memory {
	m := &memory{srch: make(map[searchKey]*hamming.Searcher)}
	m.next = state{
		banks:     make(map[string]*bankState),
		bankByRef: make(map[uint64]*bankState),
		views:     make(map[searchKey]*hamming.View),
	}
	m.edit = new(tableEdit)
	m.publish()
	return m
}

// state returns the latest published state. It never blocks.
func (m *memory) state() *state { return m.cur.Load() }

// write runs f, which changes memory through the methods below, and then
// publishes the result: readers see all of f's changes or none.
func (m *memory) write(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f()
	m.publish()
}

// publish makes next the current state. m.mu is held (or m is new).
func (m *memory) publish() {
	s := m.next // a copy: later changes to next's fields do not reach s
	s.views = make(map[searchKey]*hamming.View, len(m.srch))
	for t, h := range m.srch {
		s.views[t] = h.View()
	}
	if m.local != nil {
		s.local = m.local.View()
	}
	m.cur.Store(&s)
	m.owned.banks = false
	m.edit = new(tableEdit) // nodes reachable from s are frozen
}

// republish publishes the searchers' latest views after a background
// merge, so the merged segments replace the old ones and the old ones'
// memory is reclaimed. Writers publish anyway; this is for quiet times.
func (m *memory) republish() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.publish()
}

func (m *memory) ownBanks() {
	if !m.owned.banks {
		m.next.banks = maps.Clone(m.next.banks)
		m.next.bankByRef = maps.Clone(m.next.bankByRef)
		m.owned.banks = true
	}
}

func (m *memory) addBank(b *bankState) {
	m.ownBanks()
	m.next.banks[b.bank.Name] = b
	m.next.bankByRef[b.ref] = b
}

// dropBank makes a bank invisible at once; its items stay until purged.
func (m *memory) dropBank(b *bankState) {
	m.ownBanks()
	delete(m.next.banks, b.bank.Name)
	delete(m.next.bankByRef, b.ref)
}

// searcherFor returns the searcher of type t, creating it.
func (m *memory) searcherFor(k searchKey) *hamming.Searcher {
	h := m.srch[k]
	if h == nil {
		h = newTypeSearcher(k.typ, m.republish)
		m.srch[k] = h
	}
	return h
}

// newTypeSearcher returns the searcher for signals of type t: perceptual
// types tuned to their default threshold, exact types searched at
// distance 0 (which multi-index hashing turns into table lookups). Tables
// are kept within 8*words+8 bytes per signal, so that with the hash itself
// and its ref an index takes at most twice the raw signal bytes plus the
// item id.
func newTypeSearcher(t mediamatch.SignalType, merged func()) *hamming.Searcher {
	words := t.Bits() / 64
	return hamming.New(hamming.Config{Words: words, Radius: t.DefaultThreshold(), Merged: merged})
}

// index adds one signal of ref to the search structures.
func (m *memory) index(ref uint64, e sigEntry) {
	m.countSignal(ref, e.typ, 1)
	if e.typ == mediamatch.Local {
		m.indexLocal(ref, e)
		return
	}
	if m.bulk != nil {
		m.bulk.add(keyOf(e), ref, e.frame, e.hash)
		return
	}
	m.wbuf = appendWords(m.wbuf[:0], e.hash)
	m.searcherFor(keyOf(e)).Add(ref, e.frame, m.wbuf)
}

// indexLocal adds the local features of one item frame (a Local entry:
// its hash is the payload, encodeFeatures) to the KeyIndex.
func (m *memory) indexLocal(ref uint64, e sigEntry) {
	_, _, fs, err := decodeFeatures(e.hash)
	if err != nil {
		return // not written by this version: kept in the store, not searched
	}
	m.localIndex().Add(ref, e.frame, featureKeys(nil, fs), e.hash)
}

// localIndex returns the KeyIndex of local features, creating it.
func (m *memory) localIndex() *hamming.KeyIndex {
	if m.local == nil {
		m.local = hamming.NewKeyIndex(hamming.KeyConfig{Merged: m.republish})
	}
	return m.local
}

// beginBulk makes index gather signals instead of adding them one by one,
// until endBulk adds each type's as one batch: one new segment per type
// instead of a cascade of small segments and merges, for writes of many
// items (imports). Only for refs newer than any indexed before (new
// items). m.mu is held from beginBulk to endBulk.
func (m *memory) beginBulk() {
	m.bulk = make(signalBatches)
	m.bulkGone = make(map[uint64]bool)
}

// endBulk adds the gathered signals, without those of items removed
// meanwhile.
func (m *memory) endBulk() {
	b, gone := m.bulk, m.bulkGone
	m.bulk, m.bulkGone = nil, nil
	if len(gone) > 0 {
		for _, e := range b {
			dropRefs(e, gone)
		}
	}
	b.build(m.searcherFor)
}

// hashWords packs a hash of whole 64-bit words into a fresh slice, as the
// searchers take it: big-endian words.
func hashWords(h []byte) []uint64 {
	w := make([]uint64, len(h)/8)
	for i := range w {
		w[i] = binary.BigEndian.Uint64(h[8*i:])
	}
	return w
}

// appendWords appends hash packed as hashWords packs it to dst.
func appendWords(dst []uint64, hash []byte) []uint64 {
	for i := 0; i+8 <= len(hash); i += 8 {
		dst = append(dst, binary.BigEndian.Uint64(hash[i:]))
	}
	return dst
}

// unindex removes ref's signals (as listed in sigs) from the search structures.
func (m *memory) unindex(ref uint64, sigs []sigEntry) {
	if m.bulk != nil {
		m.bulkGone[ref] = true // gathered in this bulk, or not: either way, gone
	}
	var done [2]uint8 // by searchKey.views
	local := false
	for _, e := range sigs {
		m.countSignal(ref, e.typ, -1)
		if e.typ == mediamatch.Local {
			if !local && m.local != nil {
				m.local.Remove(ref)
			}
			local = true
			continue
		}
		k := keyOf(e)
		i := 0
		if k.views {
			i = 1
		}
		if b := typeBit(e.typ); done[i]&b == 0 {
			if h := m.srch[k]; h != nil {
				h.Remove(ref)
			}
			done[i] |= b
		}
	}
}

// item returns the metadata of ref as of the next state.
func (m *memory) item(ref uint64) *itemMeta { return m.next.items.get(ref) }

func (m *memory) setItem(ref uint64, meta *itemMeta) {
	old := m.next.items.get(ref)
	m.next.items = m.next.items.set(m.edit, ref, meta)
	switch {
	case old == nil && meta != nil:
		m.next.nitems++
	case old != nil && meta == nil:
		m.next.nitems--
	}
}

// addItem adds a new item and, unless it is disabled, its signals.
func (m *memory) addItem(ref uint64, meta *itemMeta, sigs []sigEntry) {
	m.setItem(ref, meta)
	if b := m.next.bankByRef[meta.bankRef()]; b != nil {
		b.items.Add(1)
	}
	if !meta.disabled {
		for _, e := range sigs {
			m.index(ref, e)
		}
	}
}

// updateItem replaces an item's metadata, indexing or unindexing its
// signals when it is enabled or disabled.
func (m *memory) updateItem(ref uint64, meta *itemMeta, sigs []sigEntry) {
	old := m.item(ref)
	m.setItem(ref, meta)
	switch {
	case old != nil && !old.disabled && meta.disabled:
		m.unindex(ref, sigs)
	case (old == nil || old.disabled) && !meta.disabled:
		for _, e := range sigs {
			m.index(ref, e)
		}
	}
}

// removeItem drops an item and its signals.
func (m *memory) removeItem(ref uint64, sigs []sigEntry) {
	meta := m.item(ref)
	if meta == nil {
		return
	}
	if !meta.disabled {
		m.unindex(ref, sigs)
	}
	m.setItem(ref, nil)
	if b := m.next.bankByRef[meta.bankRef()]; b != nil {
		b.items.Add(-1)
	}
}

// wait blocks until no searcher is merging in the background.
func (m *memory) wait() {
	m.mu.Lock()
	hs := make([]*hamming.Searcher, 0, len(m.srch))
	for _, h := range m.srch {
		hs = append(hs, h)
	}
	local := m.local
	m.mu.Unlock()
	for _, h := range hs {
		h.Wait()
	}
	if local != nil {
		local.Wait()
	}
}

// itemTable is a persistent map from item ref to metadata: a radix tree
// of 64-way nodes, indexed by the bits of the ref (refs are allocated
// densely from 1, so the tree is full and shallow: four levels hold 16M
// items). set copies the path to the changed leaf, except for nodes made
// in the same edit, which it changes in place, so a write of many items
// copies each node once and a published tree is never changed. The zero
// value is empty. Its cost is about one pointer per item.
type itemTable struct {
	root  *tableNode
	shift uint // bits of the ref below the root's index: 6*(levels-1)
}

// tableEdit identifies one edit: nodes created in it may be changed in place.
type tableEdit struct{ _ byte }

const (
	tableBits  = 6
	tableWidth = 1 << tableBits
	tableMask  = tableWidth - 1
)

type tableNode struct {
	edit  *tableEdit
	kids  *[tableWidth]*tableNode // inner nodes
	items *[tableWidth]*itemMeta  // leaves
}

func (t itemTable) get(ref uint64) *itemMeta {
	n := t.root
	if n == nil || ref>>t.shift>>tableBits != 0 {
		return nil
	}
	for shift := t.shift; shift > 0; shift -= tableBits {
		n = n.kids[ref>>shift&tableMask]
		if n == nil {
			return nil
		}
	}
	return n.items[ref&tableMask]
}

// set returns the table with ref mapped to meta (nil: removed).
func (t itemTable) set(e *tableEdit, ref uint64, meta *itemMeta) itemTable {
	if t.root == nil {
		if meta == nil {
			return t
		}
		t.root = newTableNode(e, true)
	}
	for ref>>t.shift>>tableBits != 0 { // grow a level
		if meta == nil {
			return t
		}
		r := newTableNode(e, false)
		r.kids[0] = t.root
		t.root, t.shift = r, t.shift+tableBits
	}
	t.root = t.root.set(e, t.shift, ref, meta)
	return t
}

func newTableNode(e *tableEdit, leaf bool) *tableNode {
	if leaf {
		return &tableNode{edit: e, items: new([tableWidth]*itemMeta)}
	}
	return &tableNode{edit: e, kids: new([tableWidth]*tableNode)}
}

func (n *tableNode) set(e *tableEdit, shift uint, ref uint64, meta *itemMeta) *tableNode {
	if n.edit != e { // frozen: copy
		c := &tableNode{edit: e}
		if n.items != nil {
			c.items = new([tableWidth]*itemMeta)
			*c.items = *n.items
		} else {
			c.kids = new([tableWidth]*tableNode)
			*c.kids = *n.kids
		}
		n = c
	}
	if shift == 0 {
		n.items[ref&tableMask] = meta
		return n
	}
	i := ref >> shift & tableMask
	kid := n.kids[i]
	if kid == nil {
		if meta == nil {
			return n
		}
		kid = newTableNode(e, shift == tableBits)
	}
	n.kids[i] = kid.set(e, shift-tableBits, ref, meta)
	return n
}
