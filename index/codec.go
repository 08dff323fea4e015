package index

// Key layout and record formats.
//
// Every key starts with one byte that says what it holds. Integers in keys
// are big-endian so that byte order is numeric order. Refs are compact
// internal numbers: each bank and each item gets a uint64 ref that is never
// shown to callers; names and ids map to refs.
//
//	"v"                                 -> layout version (1 byte, layoutVersion)
//	"b" name                            -> bank record
//	"x" bankRef(8)                      -> empty: the bank was deleted, its items are being purged
//	"i" bankRef(8) id                   -> item ref (8 bytes): ListItems in id order, id lookups
//	"m" ref(8)                          -> item record: what Match needs (bank, id, labels, flags, frames)
//	"d" ref(8)                          -> media record: the full mediamatch.Media, read only by GetItem/ListItems
//	"s" type 0x00 ref(8) frame(4) hash  -> empty: one indexed signal
//	"s" "local" 0x00 ref(8) frame(4)    -> the local features of one keyframe (encodeFeatures)
//
// Signal keys carry everything the in-memory search needs, so start-up is a
// key-only prefix scan of "s" (no values read, no Get per item) plus a scan
// of the small "m" records. They sort by type first, so each type's search
// structure is built from one contiguous run of keys. frame is the keyframe's
// position in Media.Keyframes, or fileFrame for a whole-file (exact) signal.
// Only exact file signals and the perceptual signals of informative
// keyframes with at least their type's minimum quality get signal keys;
// low-information keyframes and low-quality signals are never indexed (they
// stay in the media record, which GetItem returns).
//
// A signal of a view other than the whole frame (mediamatch.View: borders
// trimmed, a region) has the view's number in the top byte of frame (see
// entryFrame): 1 + its position in the item's table of views, which the
// item record holds; such signals are searched in a structure of their own
// per type (searchKey), so that the whole-frame structure, which partner
// lists fill, stays the size it would be without them.
//
// Local features (mediamatch.Keyframe.Features) are in the media record
// (v3), and each keyframe's again as the value of a signal key of type
// mediamatch.Local with an empty hash, which load reads into the KeyIndex
// (local.go) without reading media records.
//
// Items of a bank are keyed by the bank's ref, not its name, so a deleted
// bank's items can be purged in the background while a new bank of the same
// name is already in use.
//
// Records start with a format byte (recordV1) so that later versions can add
// fields. Inside, integers are varints, strings and byte strings are a
// uvarint length and the bytes, times are Unix nanoseconds.
//
//	bank record v1:  1, uvarint bankRef, string description, varint created
//	item record v1:  1, uvarint bankRef, string id, uvarint flags (1: disabled),
//	                 uvarint kind, varint created, varint updated,
//	                 uvarint #labels, (string key, string value)... in key order,
//	                 uvarint #informative keyframes,
//	                 uvarint #keyframes, (varint index, varint start, varint end-start)...,
//	                 optionally: uvarint flags (1: source), string format, string partner,
//	                 string upstream id, uvarint #tags, string tag..., varint first seen,
//	                 varint updated;
//	                 optionally: uvarint 2 (views), uvarint #views, (uvarint flags
//	                 (1: trimmed), uvarint x0, y0, x1, y1)...
//	media record v1: 1, uvarint kind, string format, uvarint width, uvarint height,
//	                 varint duration, varint size, uvarint #file signals, signal...,
//	                 uvarint #keyframes, (varint index, varint start, varint end,
//	                 uvarint flags (1: low information), uvarint #signals, signal...)...
//	signal:          string type, bytes hash, uvarint quality
//	media record v2: as v1, each signal followed by its view: uvarint flags
//	                 (1: a region follows, 2: trimmed), [uvarint x0, y0, x1, y1]
//	                 (v1 is written when every signal is of the whole frame)
//	media record v3: as v2, each keyframe's signals followed by its local
//	                 features: uvarint #features, then 37 bytes each
//	                 (mediamatch.AppendFeatures: X, Y big-endian uint16, level, descriptor);
//	                 written only for media with features

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

const (
	layoutVersion = 1
	recordV1      = 1
	recordV2      = 2 // media records with views
	recordV3      = 3 // media records with local features

	keyLayout    = 'v'
	keyBank      = 'b'
	keyTombstone = 'x'
	keyItemID    = 'i'
	keyMeta      = 'm'
	keyMedia     = 'd'
	keySignal    = 's'
	keyImport    = 'J' // "J" import id -> bank ref: a committed import still being applied
	keyStage     = 'j' // "j" import id, seq -> a staged record (import.go)
	keyToken     = 't' // "t" token id -> token record (auth.go)
	keyAudit     = 'a' // "a" unix nanos, seq -> audit entry (audit.go)

	// fileFrame is the frame of a whole-file signal in a signal key.
	fileFrame = math.MaxUint32

	// A signal key's frame is the keyframe's position in its low
	// frameBits bits and the signal's view number in the rest (see
	// entryFrame); mediamatch.MaxKeyframes is far below 1<<frameBits.
	frameBits = 24
	frameMask = 1<<frameBits - 1
	maxViews  = 255 // view numbers 1..255
)

// entryFrame returns the frame of a signal key: keyframe position kf and
// view number view (0: the whole frame; else 1 + the view's position in
// the item's table of views).
func entryFrame(kf int, view int) uint32 { return uint32(kf) | uint32(view)<<frameBits }

// splitFrame undoes entryFrame; kf is -1 for fileFrame.
func splitFrame(f uint32) (kf int, view int) {
	if f == fileFrame {
		return -1, 0
	}
	return int(f & frameMask), int(f >> frameBits)
}

func layoutKey() []byte { return []byte{keyLayout} }

func bankKey(name string) []byte { return append([]byte{keyBank}, name...) }

func tombstoneKey(bankRef uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{keyTombstone}, bankRef)
}

// itemIDPrefix is the prefix of every item-id key of a bank.
func itemIDPrefix(bankRef uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 1, 9+mediamatch.MaxItemIDLen), bankRef)
}

func itemIDKey(bankRef uint64, id string) []byte {
	k := itemIDPrefix(bankRef)
	k[0] = keyItemID
	return append(k, id...)
}

func metaKey(ref uint64) []byte  { return binary.BigEndian.AppendUint64([]byte{keyMeta}, ref) }
func mediaKey(ref uint64) []byte { return binary.BigEndian.AppendUint64([]byte{keyMedia}, ref) }

func signalKey(t mediamatch.SignalType, ref uint64, frame uint32, hash []byte) []byte {
	k := make([]byte, 0, 1+len(t)+1+8+4+len(hash))
	k = append(k, keySignal)
	k = append(k, t...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, ref)
	k = binary.BigEndian.AppendUint32(k, frame)
	return append(k, hash...)
}

// parseSignalKey splits a signal key. hash aliases key.
func parseSignalKey(key []byte) (t mediamatch.SignalType, ref uint64, frame uint32, hash []byte, err error) {
	if len(key) < 1 || key[0] != keySignal {
		return "", 0, 0, nil, fmt.Errorf("index: signal key %x: bad prefix", key)
	}
	end := slices.Index(key[1:], 0)
	if end < 0 || len(key) < 1+end+1+12 {
		return "", 0, 0, nil, fmt.Errorf("index: signal key %x: too short", key)
	}
	t = mediamatch.SignalType(key[1 : 1+end])
	rest := key[1+end+1:]
	return t, binary.BigEndian.Uint64(rest), binary.BigEndian.Uint32(rest[8:]), rest[12:], nil
}

func parseRefKey(key []byte) (uint64, error) {
	if len(key) != 9 {
		return 0, fmt.Errorf("index: key %x: want 9 bytes", key)
	}
	return binary.BigEndian.Uint64(key[1:]), nil
}

func refValue(ref uint64) []byte { return binary.BigEndian.AppendUint64(nil, ref) }

func parseRefValue(v []byte) (uint64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("index: ref value %x: want 8 bytes", v)
	}
	return binary.BigEndian.Uint64(v), nil
}

// sigEntry is one signal of an item as indexed: a signal key without the
// ref. For type mediamatch.Local, hash is the keyframe's encoded features
// (encodeFeatures), which the store keeps as the key's value (see key and
// value).
type sigEntry struct {
	typ   mediamatch.SignalType
	frame uint32
	hash  []byte
}

// key returns the signal key of e for item ref.
func (e sigEntry) key(ref uint64) []byte {
	if e.typ == mediamatch.Local {
		return signalKey(e.typ, ref, e.frame, nil)
	}
	return signalKey(e.typ, ref, e.frame, e.hash)
}

// value returns the value of e's signal key: empty but for Local.
func (e sigEntry) value() []byte {
	if e.typ == mediamatch.Local {
		return e.hash
	}
	return nil
}

// indexedSignals returns the signals of m that are indexed: its exact file
// signals and the untransformed perceptual signals of its keyframes that
// are matchable (Keyframe.Matchable), of any view; a view other than the
// whole frame is numbered by its position in itemViews(m); and one Local
// entry per keyframe with local features that is not low-information.
func indexedSignals(m mediamatch.Media) []sigEntry {
	var out []sigEntry
	for _, s := range m.FileSignals {
		if s.Type.Exact() {
			out = append(out, sigEntry{s.Type, fileFrame, s.Hash})
		}
	}
	views := itemViews(m)
	for i, k := range m.Keyframes {
		for _, s := range k.Signals {
			if !indexable(k, s) {
				continue
			}
			v := 0
			if !s.View.Whole() {
				if v = slices.Index(views, s.View) + 1; v == 0 {
					continue // beyond what a frame number holds (maxViews): not indexed
				}
			}
			out = append(out, sigEntry{s.Type, entryFrame(i, v), s.Hash})
		}
		if len(k.Features) > 0 && !k.LowInformation {
			out = append(out, sigEntry{mediamatch.Local, entryFrame(i, 0), encodeFeatures(m.Width, m.Height, k.Features)})
		}
	}
	return out
}

// indexable reports whether signal s of keyframe k is indexed: perceptual,
// matchable (Keyframe.Matchable) and untransformed.
func indexable(k mediamatch.Keyframe, s mediamatch.Signal) bool {
	return !s.Type.Exact() && k.Matchable(s) && s.Transform == mediamatch.TransformNone
}

// itemViews returns the views other than the whole frame of m's indexed
// signals, each once, in the order indexedSignals numbers them.
func itemViews(m mediamatch.Media) []mediamatch.View {
	var views []mediamatch.View
	for _, k := range m.Keyframes {
		for _, s := range k.Signals {
			if indexable(k, s) && !s.View.Whole() && len(views) < maxViews && !slices.Contains(views, s.View) {
				views = append(views, s.View)
			}
		}
	}
	return views
}

// informativeFrames counts the keyframes of m that can match: with at
// least one matchable perceptual signal (Keyframe.Matchable).
func informativeFrames(m mediamatch.Media) int {
	n := 0
	for _, k := range m.Keyframes {
		if slices.ContainsFunc(k.Signals, func(s mediamatch.Signal) bool {
			return !s.Type.Exact() && k.Matchable(s)
		}) {
			n++
		}
	}
	return n
}

// typeBit is the bit of perceptual type t in a frame's type mask: one bit
// per position in mediamatch.SignalTypes (at most 8 types).
func typeBit(t mediamatch.SignalType) uint8 { return 1 << (typeOrder(t) & 7) }

// frameTypeMasks returns, for each of n keyframes, the mask of the
// perceptual types indexed for it in sigs.
func frameTypeMasks(n int, sigs []sigEntry) []uint8 {
	if n == 0 {
		return nil
	}
	out := make([]uint8, n)
	for _, e := range sigs {
		if kf, _ := splitFrame(e.frame); kf >= 0 && kf < n {
			out[kf] |= typeBit(e.typ)
		}
	}
	return out
}

// bankRecord is the stored form of a bank.
type bankRecord struct {
	ref         uint64
	description string
	created     time.Time
}

func encodeBank(b bankRecord) []byte {
	var e encoder
	e.byte(recordV1)
	e.uvarint(b.ref)
	e.str(b.description)
	e.time(b.created)
	return e.b
}

func decodeBank(v []byte) (bankRecord, error) {
	d := decoder{b: v}
	var b bankRecord
	if ver := d.byte(); d.err == nil && ver != recordV1 {
		return b, fmt.Errorf("index: bank record version %d, want %d", ver, recordV1)
	}
	b.ref = d.uvarint()
	b.description = d.str()
	b.created = d.time()
	return b, d.done("bank record")
}

// itemRecord is the stored form of an item's metadata. Memory keeps a
// compact form of it (itemMeta, see itemRecord.meta).
type itemRecord struct {
	bank        uint64
	id          string
	labels      map[string]string
	disabled    bool
	kind        mediamatch.Kind
	informative int                // keyframes that can match
	frames      []frameInfo        // by keyframe position
	source      *mediamatch.Source // provenance of an imported item; nil otherwise
	views       []mediamatch.View  // the views of its indexed signals (itemViews), by number - 1
	// frameTypes is derived, not stored: the mask (typeBit) of the
	// perceptual types indexed for each keyframe (see frameTypeMasks).
	frameTypes       []uint8
	created, updated time.Time
}

func encodeItem(r itemRecord) []byte {
	var e encoder
	e.byte(recordV1)
	e.uvarint(r.bank)
	e.str(r.id)
	var flags uint64
	if r.disabled {
		flags |= 1
	}
	e.uvarint(flags)
	e.uvarint(uint64(r.kind))
	e.time(r.created)
	e.time(r.updated)
	keys := make([]string, 0, len(r.labels))
	for k := range r.labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.uvarint(uint64(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.str(r.labels[k])
	}
	e.uvarint(uint64(r.informative))
	e.uvarint(uint64(len(r.frames)))
	for _, f := range r.frames {
		e.varint(int64(f.index))
		e.varint(int64(f.start))
		e.varint(int64(f.end - f.start))
	}
	if src := r.source; src != nil {
		e.uvarint(itemHasSource)
		e.str(src.Format)
		e.str(src.Partner)
		e.str(src.UpstreamID)
		e.uvarint(uint64(len(src.Tags)))
		for _, t := range src.Tags {
			e.str(t)
		}
		e.time(src.FirstSeen)
		e.time(src.Updated)
	}
	if len(r.views) > 0 {
		e.uvarint(itemHasViews)
		e.uvarint(uint64(len(r.views)))
		for _, v := range r.views {
			e.view(v, true)
		}
	}
	return e.b
}

// The optional sections at the end of an item record, in this order
// (item records written before them have none).
const (
	itemHasSource = 1
	itemHasViews  = 2
)

func decodeItem(v []byte) (itemRecord, error) {
	d := decoder{b: v}
	var r itemRecord
	if ver := d.byte(); d.err == nil && ver != recordV1 {
		return r, fmt.Errorf("index: item record version %d, want %d", ver, recordV1)
	}
	r.bank = d.uvarint()
	r.id = d.str()
	r.disabled = d.uvarint()&1 != 0
	r.kind = mediamatch.Kind(d.uvarint())
	r.created = d.time()
	r.updated = d.time()
	if n := d.count(2); n > 0 {
		r.labels = make(map[string]string, n)
		for range n {
			k := d.str()
			r.labels[k] = d.str()
		}
	}
	r.informative = int(d.uvarint())
	if n := d.count(3); n > 0 {
		r.frames = make([]frameInfo, n)
		for i := range r.frames {
			f := &r.frames[i]
			f.index = int(d.varint())
			f.start = time.Duration(d.varint())
			f.end = f.start + time.Duration(d.varint())
		}
	}
	last := uint64(0)
	for len(d.b) > 0 && d.err == nil {
		sec := d.uvarint()
		if sec <= last || sec > itemHasViews {
			d.fail()
			break
		}
		last = sec
		switch sec {
		case itemHasSource:
			src := &mediamatch.Source{Format: d.str(), Partner: d.str(), UpstreamID: d.str()}
			if n := d.count(1); n > 0 {
				src.Tags = make([]string, n)
				for i := range src.Tags {
					src.Tags[i] = d.str()
				}
			}
			src.FirstSeen, src.Updated = d.time(), d.time()
			r.source = src
		case itemHasViews:
			if n := d.count(5); n > 0 {
				r.views = make([]mediamatch.View, n)
				for i := range r.views {
					r.views[i] = d.view(true)
				}
			}
		}
	}
	return r, d.done("item record")
}

// encodeLabels returns labels in a canonical form (sorted by key), for
// interning; decodeLabels reverses it.
func encodeLabels(l map[string]string) string {
	var e encoder
	for _, k := range slices.Sorted(maps.Keys(l)) {
		e.str(k)
		e.str(l[k])
	}
	return string(e.b)
}

func decodeLabels(s string) map[string]string {
	d := decoder{b: []byte(s)}
	l := make(map[string]string)
	for len(d.b) > 0 && d.err == nil {
		k := d.str()
		l[k] = d.str()
	}
	return l
}

// encodeStrings and decodeStrings do the same for a list of strings.
func encodeStrings(ss []string) string {
	var e encoder
	for _, s := range ss {
		e.str(s)
	}
	return string(e.b)
}

func decodeStrings(s string) []string {
	d := decoder{b: []byte(s)}
	var out []string
	for len(d.b) > 0 && d.err == nil {
		out = append(out, d.str())
	}
	return out
}

// frameInfos returns what Match needs to know of m's keyframes.
func frameInfos(m mediamatch.Media) []frameInfo {
	if len(m.Keyframes) == 0 {
		return nil
	}
	out := make([]frameInfo, len(m.Keyframes))
	for i, k := range m.Keyframes {
		out[i] = frameInfo{index: k.Index, start: k.Start, end: k.End}
	}
	return out
}

func encodeMedia(m mediamatch.Media) []byte {
	var e encoder
	e.views = slices.ContainsFunc(m.Keyframes, func(k mediamatch.Keyframe) bool {
		return slices.ContainsFunc(k.Signals, func(s mediamatch.Signal) bool { return !s.View.Whole() })
	})
	feats := slices.ContainsFunc(m.Keyframes, func(k mediamatch.Keyframe) bool { return len(k.Features) > 0 })
	switch {
	case feats:
		e.views = true
		e.byte(recordV3)
	case e.views:
		e.byte(recordV2)
	default:
		e.byte(recordV1)
	}
	e.uvarint(uint64(m.Kind))
	e.str(m.Format)
	e.uvarint(uint64(m.Width))
	e.uvarint(uint64(m.Height))
	e.varint(int64(m.Duration))
	e.varint(m.Size)
	e.signals(m.FileSignals)
	e.uvarint(uint64(len(m.Keyframes)))
	for _, k := range m.Keyframes {
		e.varint(int64(k.Index))
		e.varint(int64(k.Start))
		e.varint(int64(k.End))
		var flags uint64
		if k.LowInformation {
			flags |= 1
		}
		e.uvarint(flags)
		e.signals(k.Signals)
		if feats {
			e.uvarint(uint64(len(k.Features)))
			e.b = mediamatch.AppendFeatures(e.b, k.Features)
		}
	}
	return e.b
}

func decodeMedia(v []byte) (mediamatch.Media, error) {
	d := decoder{b: v}
	var m mediamatch.Media
	feats := false
	switch ver := d.byte(); {
	case d.err != nil:
	case ver == recordV2:
		d.views = true
	case ver == recordV3:
		d.views, feats = true, true
	case ver != recordV1:
		return m, fmt.Errorf("index: media record version %d, want %d to %d", ver, recordV1, recordV3)
	}
	m.Kind = mediamatch.Kind(d.uvarint())
	m.Format = d.str()
	m.Width = int(d.uvarint())
	m.Height = int(d.uvarint())
	m.Duration = time.Duration(d.varint())
	m.Size = d.varint()
	m.FileSignals = d.signals()
	if n := d.count(5); n > 0 {
		m.Keyframes = make([]mediamatch.Keyframe, n)
		for i := range m.Keyframes {
			k := &m.Keyframes[i]
			k.Index = int(d.varint())
			k.Start = time.Duration(d.varint())
			k.End = time.Duration(d.varint())
			k.LowInformation = d.uvarint()&1 != 0
			k.Signals = d.signals()
			if feats {
				if n := d.count(mediamatch.FeatureBytes); n > 0 {
					k.Features, _ = mediamatch.ParseFeatures(d.take(n * mediamatch.FeatureBytes)) // a whole number: cannot fail
				}
			}
		}
	}
	return m, d.done("media record")
}

// encoder appends varints and strings to b; with views, signals carry
// their view (media record v2).
type encoder struct {
	b     []byte
	views bool
}

func (e *encoder) byte(v byte)      { e.b = append(e.b, v) }
func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bytes(p []byte)   { e.uvarint(uint64(len(p))); e.b = append(e.b, p...) }
func (e *encoder) time(t time.Time) { e.varint(t.UnixNano()) }

// optTime writes a time that may be zero (time.Time{}, whose UnixNano is
// not representable).
func (e *encoder) optTime(t time.Time) {
	if t.IsZero() {
		e.uvarint(0)
		return
	}
	e.uvarint(1)
	e.time(t)
}
func (e *encoder) signal(s mediamatch.Signal) {
	e.str(string(s.Type))
	e.bytes(s.Hash)
	e.uvarint(uint64(s.Quality))
	if e.views {
		e.view(s.View, false)
	}
}

// view appends v: flags (1: a region follows, 2: trimmed) and the region;
// with always, the region is written even for the whole frame.
func (e *encoder) view(v mediamatch.View, always bool) {
	var flags uint64
	region := always || !v.Region.Whole()
	if region {
		flags |= 1
	}
	if v.Trimmed {
		flags |= 2
	}
	e.uvarint(flags)
	if region {
		r := v.Region
		for _, c := range [4]int{r.X0, r.Y0, r.X1, r.Y1} {
			e.uvarint(uint64(c))
		}
	}
}

// view reads what encoder.view wrote.
func (d *decoder) view(always bool) mediamatch.View {
	var v mediamatch.View
	flags := d.uvarint()
	v.Trimmed = flags&2 != 0
	if flags&1 != 0 || always {
		v.Region = mediamatch.Region{X0: int(d.uvarint()), Y0: int(d.uvarint()), X1: int(d.uvarint()), Y1: int(d.uvarint())}
	}
	return v
}

func (e *encoder) signals(sigs []mediamatch.Signal) {
	e.uvarint(uint64(len(sigs)))
	for _, s := range sigs {
		e.signal(s)
	}
}

var errCorrupt = errors.New("index: corrupt record")

// decoder reads what encoder wrote; the first error sticks and later reads
// return zero values.
type decoder struct {
	b     []byte
	err   error
	views bool // signals carry their view (media record v2)
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length whose elements take at least min bytes each, so a
// corrupt length cannot make the caller allocate more than the record holds.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/min) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) raw() []byte {
	n := d.count(1)
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

// take returns the next n bytes, or n zero bytes past the end (and fails).
func (d *decoder) take(n int) []byte {
	if len(d.b) < n {
		d.fail()
		return make([]byte, n)
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) str() string { return string(d.raw()) }

func (d *decoder) bytes() []byte { return slices.Clone(d.raw()) }

func (d *decoder) time() time.Time { return time.Unix(0, d.varint()).UTC() }

func (d *decoder) optTime() time.Time {
	if d.uvarint() == 0 {
		return time.Time{}
	}
	return d.time()
}

func (d *decoder) signals() []mediamatch.Signal {
	n := d.count(3)
	if n == 0 {
		return nil
	}
	out := make([]mediamatch.Signal, n)
	for i := range out {
		out[i].Type = mediamatch.SignalType(d.str())
		out[i].Hash = d.bytes()
		out[i].Quality = int(d.uvarint())
		if d.views {
			out[i].View = d.view(false)
		}
	}
	return out
}

// done returns the decoder's error, or an error if bytes are left over.
func (d *decoder) done(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	if d.err != nil {
		return fmt.Errorf("index: decode %s: %w", what, d.err)
	}
	return nil
}
