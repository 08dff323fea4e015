package index

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/mediamatch/mediamatch/fingerprint"
)

// memory is the in-memory side of the index: the live banks, the metadata
// of every item, and one search structure per signal type. It is built from
// the store at Open and updated after every committed write, so Match never
// reads the store. Callers hold mu: RLock to read, Lock to change.
type memory struct {
	mu sync.RWMutex

	banks     map[string]*bankState // live banks by name
	bankByRef map[uint64]*bankState // live banks by ref

	// items holds every stored item, enabled or not, including the items of
	// deleted banks until the purge reaches them (Match skips those, since
	// their bank ref is no longer live).
	items map[uint64]*itemMeta

	perceptual  map[fingerprint.SignalType]searcher
	exact       map[fingerprint.SignalType]*exactIndex
	newSearcher func(t fingerprint.SignalType) searcher
	wbuf        []uint64 // scratch for index; searchers copy what they keep
}

// bankState is a live bank.
type bankState struct {
	ref   uint64
	bank  Bank // without ItemCount
	items int64
}

// itemMeta is what Match needs to know of an item. It is replaced, never
// modified, once published in memory.items.
type itemMeta struct {
	bank        uint64
	id          string
	labels      map[string]string
	disabled    bool
	kind        fingerprint.Kind
	informative int         // keyframes that can match (as stored; Match uses frameTypes)
	frames      []frameInfo // by keyframe position
	// frameTypes holds, by keyframe position, the mask (typeBit) of the
	// perceptual types indexed for that keyframe. It is not stored: it is
	// derived from the item's signal entries when the item is added,
	// updated or loaded. Match counts an item's informative keyframes for
	// the types it searches with it.
	frameTypes []uint8
}

// frameInfo is one keyframe of an item as Match reports it.
type frameInfo struct {
	index      int
	start, end time.Duration
}

func newMemory(newSearcher func(fingerprint.SignalType) searcher) *memory {
	if newSearcher == nil {
		newSearcher = newSearcherFor // multi-index hashing or a tuned scan, chosen per query (hamming.go)
	}
	return &memory{
		banks:       make(map[string]*bankState),
		bankByRef:   make(map[uint64]*bankState),
		items:       make(map[uint64]*itemMeta),
		perceptual:  make(map[fingerprint.SignalType]searcher),
		exact:       make(map[fingerprint.SignalType]*exactIndex),
		newSearcher: newSearcher,
	}
}

func (m *memory) addBank(b *bankState) {
	m.banks[b.bank.Name] = b
	m.bankByRef[b.ref] = b
}

// dropBank makes a bank invisible at once; its items stay until purged.
func (m *memory) dropBank(b *bankState) {
	delete(m.banks, b.bank.Name)
	delete(m.bankByRef, b.ref)
}

// index adds one signal of ref to the search structures.
func (m *memory) index(ref uint64, e sigEntry) {
	if e.typ.Exact() {
		x := m.exact[e.typ]
		if x == nil {
			x = newExactIndex()
			m.exact[e.typ] = x
		}
		x.add(ref, e.hash)
		return
	}
	s := m.perceptual[e.typ]
	if s == nil {
		s = m.newSearcher(e.typ)
		m.perceptual[e.typ] = s
	}
	m.wbuf = m.wbuf[:0]
	for i := 0; i+8 <= len(e.hash); i += 8 {
		m.wbuf = append(m.wbuf, binary.BigEndian.Uint64(e.hash[i:]))
	}
	s.add(ref, e.frame, m.wbuf)
}

// unindex removes ref's signals (as listed in sigs) from the search structures.
func (m *memory) unindex(ref uint64, sigs []sigEntry) {
	done := make(map[fingerprint.SignalType]bool, 4)
	for _, e := range sigs {
		if e.typ.Exact() {
			if x := m.exact[e.typ]; x != nil {
				x.remove(ref, e.hash)
			}
			continue
		}
		if s := m.perceptual[e.typ]; s != nil && !done[e.typ] {
			s.remove(ref)
			done[e.typ] = true
		}
	}
}

// addItem publishes a new item and, unless it is disabled, its signals.
func (m *memory) addItem(ref uint64, meta *itemMeta, sigs []sigEntry) {
	m.items[ref] = meta
	if b := m.bankByRef[meta.bank]; b != nil {
		b.items++
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
	old := m.items[ref]
	m.items[ref] = meta
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
	meta := m.items[ref]
	if meta == nil {
		return
	}
	if !meta.disabled {
		m.unindex(ref, sigs)
	}
	delete(m.items, ref)
	if b := m.bankByRef[meta.bank]; b != nil {
		b.items--
	}
}
