package index

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/index/hamming"
)

// Match returns the known items that q.Media matches, best first, at most
// q.MaxResults (0 means 100).
//
// The signal types searched are q.Signals, or DefaultSignals (PDQ and the
// exact types MD5 and SHA-256) when it is empty: pHash and dHash stay
// indexed and match only when named. Whole-file exact signals match items
// with the same hash (distance 0). Each informative query keyframe (not low
// information, with at least one searchable signal) searches each of its
// searchable perceptual signals within the type's threshold:
// q.Thresholds[type] if set, else the type's default (PDQ 31, pHash and
// dHash 8). A signal is searchable if its type is searched, it is
// matchable (mediamatch.Keyframe.Matchable: quality at least the type's
// MinQuality, keyframe not low-information; the same test decides what is
// indexed) and, if q.Upright is set, it is untransformed.
//
// Unless q.Upright, a keyframe's transformed signals (the hashes of the
// upload rotated or mirrored by Signal.Transform T) are searched too; a hit
// by one means the upload is the item turned by T's inverse, which is what
// FrameMatch.Transform and Match.Transform report. Signals of any View
// are searched: any untransformed view of the query against any view of
// an item (a padded copy's trimmed view against the item's whole frame, a
// captioned copy's cut against the item's same cut), a turned one against
// items' whole frames; matches report the two views (QueryView, ItemView).
//
// The search is exact for a keyframe's primary signal of each type (the
// whole frame, untransformed: what partners' lists hold) against items'
// whole frames: every item within the threshold is found. The other
// pairs (variants, views) are searched approximately, at a fraction of
// the cost (see searchKeyframe): within about 11 bits always, farther
// out to the threshold mostly (at 1M PDQ entries 98% at 20 bits, 70% at
// 31), and never anything beyond the threshold.
//
// Per item, every matching (query keyframe, item keyframe) pair is reported
// once, with the hit of lowest relative distance (distance/bits; ties go to
// the lower distance, the earlier type in mediamatch.SignalTypes, then the
// untransformed or lower transform). The best hit of an item is an exact
// match if it has one, else its pair of lowest relative distance.
// QueryCoverage is the share of the query's informative keyframes that
// matched the item, ItemCoverage the share of the item's keyframes indexed
// for the searched types; both are 1 for an exact file match. Query and
// item time ranges are given for videos only, merged where they touch.
// Matches are ordered exact first, then by lowest relative distance,
// highest query coverage, bank and id. Only enabled items of the named
// banks (q.Banks, or all banks) match. Match reads only memory.
//
// The work and the answer of one call are budgeted: a query with more
// signals to search than q.MaxProbes is refused before any search, and
// one whose keyframe pairs within the threshold (in the banks searched,
// enabled items only) exceed q.MaxHits stops searching there; both return
// mediamatch.ErrOverBudget, so a call holds at most about MaxHits pairs in memory.
// At most q.MaxFrameMatches FrameMatch entries are returned across all
// matches, best match first, and as many time ranges; coverage counts
// every pair.
//
// Errors: mediamatch.ErrInvalid for unknown signal types, a threshold on an exact type
// or outside 0..bits, a negative MaxResults or invalid media (see
// mediamatch.ValidateMedia); mediamatch.ErrNotFound if a bank in q.Banks does not exist;
// mediamatch.ErrOverBudget; mediamatch.ErrClosed; the context's error. Safe for concurrent use.
func (ix *Index) Match(ctx context.Context, q Query) ([]mediamatch.Match, error) {
	p, err := planQuery(q)
	if err != nil {
		return nil, err
	}
	if err := ix.enter(ctx); err != nil {
		return nil, err
	}
	defer ix.exit()

	st := ix.mem.state()            // one immutable state: no lock, never waits for a writer
	var banks map[uint64]*bankState // nil: every live bank
	if len(q.Banks) > 0 {
		banks = make(map[uint64]*bankState, len(q.Banks))
		for _, name := range q.Banks {
			b := st.banks[name]
			if b == nil {
				return nil, mediamatch.Errorf(mediamatch.NotFound, "", "bank %q", name)
			}
			banks[b.ref] = b
		}
	}
	mt := matcher{st: st, banks: banks, cands: make(map[uint64]*candidate), maxHits: p.maxHits,
		timed: ix.searchObserved != nil, qw: q.Media.Width, qh: q.Media.Height,
		qvideo: q.Media.Kind == mediamatch.KindVideo}
	if mt.timed {
		defer mt.observe(ix.searchObserved)
	}

	for _, s := range q.Media.FileSignals {
		v, ok := st.views[searchKey{typ: s.Type}]
		if !p.types[s.Type] || !s.Type.Exact() || !ok {
			continue
		}
		v.Search(hashWords(s.Hash), 0, func(ref uint64, _ uint32, _ int) {
			if c := mt.candidate(ref); c != nil && (c.exact == "" || typeOrder(s.Type) < typeOrder(c.exact)) {
				c.exact = s.Type
			}
		})
	}
	for qpos, k := range q.Media.Keyframes {
		if !p.informative(k) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := mt.searchKeyframe(st, p, uint32(qpos), k); err != nil {
			return nil, err
		}
	}

	out := make([]mediamatch.Match, 0, len(mt.cands))
	for ref, c := range mt.cands {
		if !c.corroborate(q.Media) {
			delete(mt.cands, ref)
			continue
		}
		out = append(out, c.result(q.Media, p, mt.bankName(c.meta.bankRef())))
	}
	slices.SortFunc(out, compareMatches)
	if len(out) > p.maxResults {
		out = out[:p.maxResults]
	}
	capDetails(out, p.maxFrames)
	return out, nil
}

// searchKeyframe searches the signals of query keyframe k (at position
// qpos), type by type. The keyframe's primary signal of a type (of the
// whole frame, as it is: what partners' lists hold) searches the items'
// whole frames exactly. Its other signals (rotated and mirrored variants,
// other views) search them with SearchNearMany, and its untransformed
// signals, the primary too, search the items' other views with
// SearchNearMany: approximate searches that report only true hits within
// the threshold but miss some beyond about 11 bits (see
// hamming.View.SearchNear), at a fraction of an exact search's cost, so
// that a default query (8 variants and the views) costs little more than
// the primary search alone (BenchmarkMatchViewsCost). A turned view of
// the upload would meet a view of an item only if both were cut the same
// way after turning, so variants search whole frames only.
func (mt *matcher) searchKeyframe(st *state, p plan, qpos uint32, k mediamatch.Keyframe) error {
	var done []mediamatch.SignalType
	for _, s := range k.Signals {
		if !p.searchable(k, s) || slices.Contains(done, s.Type) {
			continue
		}
		t := s.Type
		done = append(done, t)
		var start time.Time
		if mt.timed {
			start = time.Now()
		}
		var primary *mediamatch.Signal
		var others, untransformed []mediamatch.Signal
		for i, o := range k.Signals {
			if o.Type != t || !p.searchable(k, o) {
				continue
			}
			if o.Transform == mediamatch.TransformNone {
				untransformed = append(untransformed, o)
				if primary == nil && o.View.Whole() {
					primary = &k.Signals[i]
					continue
				}
			}
			others = append(others, o)
		}
		radius := p.radius[t]
		if v, ok := st.views[searchKey{t, false}]; ok {
			if primary != nil {
				h := hit{typ: t, bits: t.Bits(), qview: primary.View}
				v.Search(hashWords(primary.Hash), radius, func(ref uint64, frame uint32, dist int) {
					mt.record(qpos, ref, frame, dist, h)
				})
			}
			mt.searchNear(v, qpos, others, radius)
		}
		if v, ok := st.views[searchKey{t, true}]; ok {
			mt.searchNear(v, qpos, untransformed, radius)
		}
		if mt.timed {
			mt.spent[typeOrder(t)&7] += time.Since(start)
			mt.searched |= typeBit(t)
		}
		if mt.over {
			return overBudget(p)
		}
	}
	if p.local(k) && st.local != nil {
		var start time.Time
		if mt.timed {
			start = time.Now()
		}
		mt.searchLocal(st.local, qpos, localFrame{feats: k.Features, w: mt.qw, h: mt.qh})
		if mt.timed {
			mt.spent[typeOrder(mediamatch.Local)&7] += time.Since(start)
			mt.searched |= typeBit(mediamatch.Local)
		}
		if mt.over {
			return overBudget(p)
		}
	}
	return nil
}

// overBudget is the error of a search that found more pairs than the
// match budget.
func overBudget(p plan) error {
	return mediamatch.Errorf(mediamatch.OverBudget, "", "more than %d keyframe pairs within the thresholds (the match "+
		"budget); narrow the thresholds, name fewer signal types or send fewer keyframes", p.maxHits)
}

// searchNear searches v for the signals sigs of query keyframe qpos with
// one SearchNearMany.
func (mt *matcher) searchNear(v *hamming.View, qpos uint32, sigs []mediamatch.Signal, radius int) {
	if len(sigs) == 0 {
		return
	}
	qs := make([][]uint64, len(sigs))
	hs := make([]hit, len(sigs))
	for i, s := range sigs {
		qs[i] = hashWords(s.Hash)
		hs[i] = hit{typ: s.Type, bits: s.Type.Bits(), transform: s.Transform.Inverse(), qview: s.View}
	}
	v.SearchNearMany(qs, radius, func(qi int, ref uint64, frame uint32, dist int) {
		mt.record(qpos, ref, frame, dist, hs[qi])
	})
}

// record notes a hit of query keyframe qpos on entry (ref, frame) at dist,
// h saying which query signal hit.
func (mt *matcher) record(qpos uint32, ref uint64, frame uint32, dist int, h hit) {
	if mt.over {
		return // the search cannot be stopped; what follows is dropped
	}
	if c := mt.candidate(ref); c != nil {
		kf, view := splitFrame(frame)
		h.dist, h.iview = dist, uint8(view)
		mt.hit(c, qpos, uint32(kf), h)
	}
}

// Default budgets of one Match call (see Query).
const (
	// DefaultMaxMatchProbes is the default of Query.MaxProbes: enough for
	// the longest video the hasher samples (3,600 keyframes on the
	// once-a-second ticks and as many at anchors) with its 8 PDQ dihedral
	// variants, its 3 views, and pHash and dHash named (93,600).
	DefaultMaxMatchProbes = 100_000
	// DefaultMaxMatchHits is the default of Query.MaxHits: keyframe pairs
	// within the thresholds, about 100 bytes of memory each.
	DefaultMaxMatchHits = 100_000
	// DefaultMaxFrameMatches is the default of Query.MaxFrameMatches,
	// about 40 bytes each on the wire.
	DefaultMaxFrameMatches = 10_000
)

// capDetails trims the Frames of ms, in order, to limit entries in all,
// and their QueryRanges and ItemRanges to limit in all; a negative limit
// means none.
func capDetails(ms []mediamatch.Match, limit int) {
	if limit < 0 {
		return
	}
	frames, ranges := limit, limit
	for i := range ms {
		m := &ms[i]
		m.Frames = m.Frames[:min(len(m.Frames), frames)]
		frames -= len(m.Frames)
		m.QueryRanges = m.QueryRanges[:min(len(m.QueryRanges), ranges)]
		ranges -= len(m.QueryRanges)
		m.ItemRanges = m.ItemRanges[:min(len(m.ItemRanges), ranges)]
		ranges -= len(m.ItemRanges)
		if len(m.Frames) == 0 {
			m.Frames = nil
		}
		if len(m.QueryRanges) == 0 {
			m.QueryRanges = nil
		}
		if len(m.ItemRanges) == 0 {
			m.ItemRanges = nil
		}
	}
}

// budget returns the limit n stands for: def for 0, -1 (none) for a
// negative n.
func budget(n, def int) int {
	switch {
	case n == 0:
		return def
	case n < 0:
		return -1
	}
	return n
}

// DefaultSignals returns the signal types Match searches when a query
// names none: PDQ, the type partners share, and the exact types MD5 and
// SHA-256. pHash and dHash are indexed too but searched only when named.
func DefaultSignals() []mediamatch.SignalType {
	return []mediamatch.SignalType{mediamatch.PDQ, mediamatch.Local, mediamatch.MD5, mediamatch.SHA256}
}

// plan is a validated query: the types searched and their radii.
type plan struct {
	types       map[mediamatch.SignalType]bool
	mask        uint8 // typeBit of every perceptual type searched
	radius      map[mediamatch.SignalType]int
	dihedral    bool
	maxResults  int
	queryFrames int // informative query keyframes
	maxHits     int // -1: no limit
	maxFrames   int // -1: no limit
}

func planQuery(q Query) (plan, error) {
	p := plan{
		types:      make(map[mediamatch.SignalType]bool),
		radius:     make(map[mediamatch.SignalType]int),
		dihedral:   !q.Upright,
		maxResults: q.MaxResults,
		maxHits:    budget(q.MaxHits, DefaultMaxMatchHits),
		maxFrames:  budget(q.MaxFrameMatches, DefaultMaxFrameMatches),
	}
	if q.MaxResults < 0 {
		return p, invalidf("query.max_results", "%d, want 0 or more", q.MaxResults)
	}
	if p.maxResults == 0 {
		p.maxResults = DefaultMaxMatchResults
	}
	for _, t := range q.Signals {
		if !t.Valid() && t != mediamatch.Local {
			return p, invalidf("query.signals", "%q is unknown, want one of %v or %s", t, mediamatch.SignalTypes(), mediamatch.Local)
		}
		p.types[t] = true
	}
	if len(q.Signals) == 0 {
		for _, t := range DefaultSignals() {
			p.types[t] = true
		}
	}
	for t := range p.types {
		if !t.Exact() {
			p.mask |= typeBit(t)
		}
	}
	for _, t := range mediamatch.SignalTypes() {
		p.radius[t] = t.DefaultThreshold()
	}
	for t, r := range q.Thresholds {
		switch {
		case t == mediamatch.Local:
			return p, invalidf("query.thresholds", "for %s: local features have no threshold to set, want none", t)
		case !t.Valid():
			return p, invalidf("query.thresholds", "for unknown signal type %q", t)
		case t.Exact():
			return p, invalidf("query.thresholds", "for %s, an exact type: want none", t)
		case r < 0 || r > t.Bits():
			return p, invalidf("query.thresholds", "%d for %s, want 0..%d", r, t, t.Bits())
		}
		p.radius[t] = r
	}
	for i, b := range q.Banks {
		if err := mediamatch.ValidateBankName(fmt.Sprintf("query.banks[%d]", i), b); err != nil {
			return p, err
		}
	}
	if err := mediamatch.ValidateMedia("query.media", q.Media); err != nil {
		return p, err
	}
	probes := 0
	for _, k := range q.Media.Keyframes {
		if p.informative(k) {
			p.queryFrames++
			for _, s := range k.Signals {
				if p.searchable(k, s) {
					probes++
				}
			}
			if p.local(k) {
				probes += len(k.Features) // a lookup per table each, as cheap as a near probe
			}
		}
	}
	if limit := budget(q.MaxProbes, DefaultMaxMatchProbes); limit >= 0 && probes > limit {
		return p, mediamatch.Errorf(mediamatch.OverBudget, "", "%d signals to search (informative keyframes times their searched "+
			"signals and variants), want at most %d (the match budget)", probes, limit)
	}
	return p, nil
}

// searchable reports whether signal s of query keyframe k is searched: a
// perceptual signal of a searched type, matchable (Keyframe.Matchable),
// and untransformed unless the query is dihedral.
func (p plan) searchable(k mediamatch.Keyframe, s mediamatch.Signal) bool {
	return !s.Type.Exact() && p.types[s.Type] && k.Matchable(s) &&
		(p.dihedral || s.Transform == mediamatch.TransformNone)
}

// informative reports whether a query keyframe is searched: it has a
// searchable signal, or local features searched (p.local).
func (p plan) informative(k mediamatch.Keyframe) bool {
	return p.local(k) || slices.ContainsFunc(k.Signals, func(s mediamatch.Signal) bool { return p.searchable(k, s) })
}

// local reports whether the local features of query keyframe k are
// searched: Local is searched, and k has features and is not
// low-information.
func (p plan) local(k mediamatch.Keyframe) bool {
	return p.types[mediamatch.Local] && len(k.Features) > 0 && !k.LowInformation
}

// itemFrames returns the number of an item's keyframes indexed for a
// searched type: the denominator of ItemCoverage.
func (p plan) itemFrames(meta *itemMeta) int {
	n := 0
	for _, m := range meta.shape.types {
		if m&p.mask != 0 {
			n++
		}
	}
	return n
}

// matcher collects the candidates of one Match call, from one state.
type matcher struct {
	st    *state
	banks map[uint64]*bankState
	cands map[uint64]*candidate // items that may match and were hit

	maxHits int  // budget of pairs; -1: none
	hits    int  // pairs gathered
	over    bool // a pair beyond maxHits was found: stop

	// With timed (Options.SearchObserved set), spent adds up the time
	// of the searches of each perceptual type over the query's keyframes,
	// by typeOrder, and searched has the typeBit of each type searched.
	timed    bool
	spent    [8]time.Duration
	searched uint8

	qw, qh int  // the query's frame size, which places its local features
	qvideo bool // the query is a video (see corroborate)
}

// observe reports the search time of each type searched to fn.
func (mt *matcher) observe(fn func(mediamatch.SignalType, time.Duration)) {
	for _, t := range mediamatch.MatchTypes() {
		if mt.searched&typeBit(t) != 0 {
			fn(t, mt.spent[typeOrder(t)&7])
		}
	}
}

// candidate returns the candidate for ref, or nil if the item is unknown,
// disabled, or outside the live banks searched. Only items that may match
// are remembered, so that memory grows with the hits in the banks
// searched, never with the index.
func (mt *matcher) candidate(ref uint64) *candidate {
	if c, ok := mt.cands[ref]; ok {
		return c
	}
	meta := mt.admissible(ref)
	if meta == nil {
		return nil
	}
	c := &candidate{meta: meta}
	mt.cands[ref] = c
	return c
}

// admissible returns the metadata of ref if it may match: known, enabled
// and in a live bank searched; nil otherwise.
func (mt *matcher) admissible(ref uint64) *itemMeta {
	meta := mt.st.items.get(ref)
	if meta == nil || meta.disabled || mt.st.bankByRef[meta.bankRef()] == nil ||
		(mt.banks != nil && mt.banks[meta.bankRef()] == nil) {
		return nil
	}
	return meta
}

// localOK reports whether ref may match by local features: it may match
// (admissible), and it is not a video item hit by an image query, whose
// local hits could not be corroborated (corroborate).
func (mt *matcher) localOK(ref uint64) bool {
	var meta *itemMeta
	if c, ok := mt.cands[ref]; ok {
		meta = c.meta
	} else {
		meta = mt.admissible(ref)
	}
	return meta != nil && (mt.qvideo || mediamatch.Kind(meta.kind) != mediamatch.KindVideo)
}

// hit records h for the pair (q, i) of c, unless it is a new pair over the
// budget, which sets mt.over instead.
func (mt *matcher) hit(c *candidate, q, i uint32, h hit) {
	if _, ok := c.pairs[framePair{q, i}]; !ok {
		if mt.maxHits >= 0 && mt.hits >= mt.maxHits {
			mt.over = true
			return
		}
		mt.hits++
	}
	c.hit(q, i, h)
}

func (mt *matcher) bankName(ref uint64) string { return mt.st.bankByRef[ref].bank.Name }

// hit is one signal of a pair within the threshold.
type hit struct {
	typ        mediamatch.SignalType
	dist, bits int
	transform  mediamatch.Transform // how the query frame is turned relative to the item frame
	qview      mediamatch.View      // the query signal's view
	iview      uint8                // the item signal's view number (0: the whole frame; see entryFrame)
	// For a Local hit: the verified points, and the item's region they
	// span (iview is 0).
	points    int
	lview     mediamatch.View
	s, tx, ty float64 // the placement of the query frame in the item's (localMatch)
}

// itemView returns the view of the item at h.
func (h hit) itemView(s *frameShape) mediamatch.View {
	if h.typ == mediamatch.Local {
		return h.lview
	}
	return s.view(h.iview)
}

// whole reports whether both signals of h are of the whole frames.
func (h hit) whole() bool { return h.typ != mediamatch.Local && h.iview == 0 && h.qview.Whole() }

// better reports whether h is closer than o: any signal's hit before a
// Local one, then lower distance/bits, then lower
// distance, then the earlier type in mediamatch.SignalTypes, then the
// lower transform (TransformNone first), then whole frames before other
// views.
func (h hit) better(o hit) bool {
	if (h.typ == mediamatch.Local) != (o.typ == mediamatch.Local) {
		return o.typ == mediamatch.Local // a hash of a frame or view says more
	}
	if c := cmp.Compare(h.dist*o.bits, o.dist*h.bits); c != 0 {
		return c < 0
	}
	if h.dist != o.dist {
		return h.dist < o.dist
	}
	if h.typ != o.typ {
		return typeOrder(h.typ) < typeOrder(o.typ)
	}
	if h.transform != o.transform {
		return h.transform < o.transform
	}
	return h.whole() && !o.whole()
}

func typeOrder(t mediamatch.SignalType) int {
	i := slices.Index(mediamatch.SignalTypes(), t)
	if i < 0 {
		return len(mediamatch.SignalTypes())
	}
	return i
}

type framePair struct{ q, i uint32 }

// comparePairs orders pairs by query frame, then item frame.
func comparePairs(a, b framePair) int {
	return cmp.Or(cmp.Compare(a.q, b.q), cmp.Compare(a.i, b.i))
}

type candidate struct {
	meta  *itemMeta
	exact mediamatch.SignalType // the exact type that matched, or ""
	pairs map[framePair]hit
}

func (c *candidate) hit(q, i uint32, h hit) {
	if c.pairs == nil {
		c.pairs = make(map[framePair]hit)
	}
	k := framePair{q, i}
	if old, ok := c.pairs[k]; !ok || h.better(old) {
		c.pairs[k] = h
	}
}

// Between two videos, local features alone are weak evidence frame by
// frame: a camera that moves over a scene makes each frame a crop of the
// ones before, so two videos of one continuous shot meet as a copy would.
// In the shared media the end of one drone flight (perception/v1) meets
// the start of the next (v2) on up to 115 points, where a 10% crop of v2
// meets v2 on 117 to 165 points. What tells them apart is that a copy is
// one edit of the whole video: its frames meet the item's in order, at
// one offset in time, each placed in the item's frame the same way (the
// same crop, the same reframing), while the continuation's frames meet
// the few where the shots touch, each placed as the camera had moved. So
// a local hit of a video query on a video item counts only when another
// pair of frames of the two corroborates it (corroborates), and an image
// query's local features are not matched against a video item's at all
// (localOK): one frame has no time
// to tell a copy from the continuation (a frame of v1 met v2 on 13
// points). Its hashes still find the video's frames, and a video query's
// local hits on an image item (a still of the video) count as a still's.
const (
	// offsetSlack is how far two pairs' offsets in time may differ and
	// still corroborate: a second for where the keyframes of a run start
	// (ticks a second apart, anchors within half a second of them), and
	// offsetDrift of the time between them, for a copy played 10% faster
	// or slower.
	offsetSlack = time.Second
	offsetDrift = 0.12
	// scaleSlack and shiftSlack are how far two local hits' placements
	// may differ and still corroborate: in scale (relative), and in
	// translation (mediamatch.FeatureUnit, 4096 the item's longer side).
	// Measured on the shared videos' crop-10 and 9:16 reframe copies,
	// every pair of their frames' placements is within 0.43% in scale and
	// 9 units in translation; the pairs of v1 and v2 that meet in order
	// at one offset are 3.6-3.9% and over 100 units apart.
	scaleSlack = 0.015
	shiftSlack = 40
)

// corroborationWork bounds the pairs corroborate compares for one
// candidate: a query's local hits on one item times all its hits on it.
// A query the hasher makes has at most 8 featured keyframes, so at most
// 64 local hits on an item and a few thousand hits in all; a query sent
// as signals may have some 1,500 local hits on an item (195 keyframes of
// 512 features within the probe budget, 8 item frames verified each) and
// MaxHits hits in all. Past the bound the hits not yet corroborated
// count as lone: fewer matches, never more.
var corroborationWork = 1 << 20 // a variable for tests

// corroborate drops the local hits of a video query on a video item c
// that no other hit of c corroborates, and reports whether c still
// matches. (An image query gets no local hits on video items: localOK.)
func (c *candidate) corroborate(qm mediamatch.Media) bool {
	if qm.Kind != mediamatch.KindVideo || mediamatch.Kind(c.meta.kind) != mediamatch.KindVideo || !c.hasLocal() {
		return true
	}
	// In order, so that where the work runs out does not depend on the
	// map's order.
	pairs := slices.SortedFunc(maps.Keys(c.pairs), comparePairs)
	work := corroborationWork
	var lone []framePair
	for _, a := range pairs {
		ha := c.pairs[a]
		if ha.typ != mediamatch.Local {
			continue
		}
		ok := false
		for _, b := range pairs {
			if work == 0 {
				break
			}
			work--
			if c.corroborates(qm, a, ha, b, c.pairs[b]) {
				ok = true
				break
			}
		}
		if !ok {
			lone = append(lone, a)
		}
	}
	for _, a := range lone {
		delete(c.pairs, a)
	}
	return c.exact != "" || len(c.pairs) > 0
}

// hasLocal reports whether some hit of c is local.
func (c *candidate) hasLocal() bool {
	for _, h := range c.pairs {
		if h.typ == mediamatch.Local {
			return true
		}
	}
	return false
}

// corroborates reports whether hit hb of frames b supports local hit ha
// of frames a: other frames on both sides, in the same order, at about
// the same offset in time, and if hb is local too, placed about the same
// way.
func (c *candidate) corroborates(qm mediamatch.Media, a framePair, ha hit, b framePair, hb hit) bool {
	frames := c.meta.shape.frames
	if int(a.i) >= len(frames) || int(b.i) >= len(frames) {
		return false
	}
	dq := qm.Keyframes[b.q].Start - qm.Keyframes[a.q].Start
	di := frames[b.i].start - frames[a.i].start
	if dq == 0 || di == 0 || (dq > 0) != (di > 0) ||
		(di-dq).Abs() > offsetSlack+time.Duration(offsetDrift*float64(dq.Abs())) {
		return false
	}
	if hb.typ != mediamatch.Local {
		return true
	}
	return math.Abs(math.Log(ha.s/hb.s)) <= scaleSlack &&
		math.Abs(ha.tx-hb.tx)+math.Abs(ha.ty-hb.ty) <= shiftSlack
}

// result turns a candidate into a Match.
func (c *candidate) result(qm mediamatch.Media, p plan, bank string) mediamatch.Match {
	meta := c.meta
	r := mediamatch.Match{Bank: bank, ItemID: meta.id, Labels: meta.labelMap(), ItemKind: mediamatch.Kind(meta.kind), Source: meta.src.source()}
	pairs := slices.SortedFunc(maps.Keys(c.pairs), comparePairs)
	var best hit
	qSeen := make(map[uint32]bool)
	iSeen := make(map[uint32]bool)
	var qSpans, iSpans []mediamatch.TimeRange
	for n, pr := range pairs {
		h := c.pairs[pr]
		if n == 0 || h.better(best) {
			best = h
		}
		qk := qm.Keyframes[pr.q]
		fi := frameInfo{index: int(pr.i)}
		if int(pr.i) < len(meta.shape.frames) {
			fi = meta.shape.frames[pr.i]
		}
		r.Frames = append(r.Frames, mediamatch.FrameMatch{
			QueryFrame: qk.Index,
			ItemFrame:  fi.index,
			QueryTime:  mediamatch.TimeRange{Start: qk.Start, End: qk.End},
			ItemTime:   mediamatch.TimeRange{Start: fi.start, End: fi.end},
			Signal:     h.typ,
			Distance:   h.dist,
			Transform:  h.transform,
			QueryView:  h.qview,
			ItemView:   h.itemView(meta.shape),
			Points:     h.points,
		})
		if !qSeen[pr.q] {
			qSeen[pr.q] = true
			qSpans = append(qSpans, mediamatch.TimeRange{Start: qk.Start, End: qk.End})
		}
		if !iSeen[pr.i] {
			iSeen[pr.i] = true
			iSpans = append(iSpans, mediamatch.TimeRange{Start: fi.start, End: fi.end})
		}
	}
	if p.queryFrames > 0 {
		r.QueryCoverage = min(1, float64(len(qSeen))/float64(p.queryFrames))
	}
	if n := p.itemFrames(meta); n > 0 {
		r.ItemCoverage = min(1, float64(len(iSeen))/float64(n))
	}
	if qm.Kind == mediamatch.KindVideo {
		r.QueryRanges = mergeRanges(qSpans)
	}
	if mediamatch.Kind(meta.kind) == mediamatch.KindVideo {
		r.ItemRanges = mergeRanges(iSpans)
	}
	if c.exact != "" {
		r.Signal, r.Distance, r.Threshold = c.exact, 0, 0
		r.QueryCoverage, r.ItemCoverage = 1, 1
	} else {
		r.Signal, r.Distance, r.Threshold, r.Transform = best.typ, best.dist, p.radius[best.typ], best.transform
		r.QueryView, r.ItemView, r.Points = best.qview, best.itemView(meta.shape), best.points
	}
	return r
}

// mergeRanges sorts spans and merges those that overlap or touch.
func mergeRanges(spans []mediamatch.TimeRange) []mediamatch.TimeRange {
	if len(spans) == 0 {
		return nil
	}
	slices.SortFunc(spans, func(a, b mediamatch.TimeRange) int {
		return cmp.Or(cmp.Compare(a.Start, b.Start), cmp.Compare(a.End, b.End))
	})
	out := spans[:1]
	for _, s := range spans[1:] {
		last := &out[len(out)-1]
		if s.Start <= last.End {
			last.End = max(last.End, s.End)
		} else {
			out = append(out, s)
		}
	}
	return out
}

// compareMatches orders matches best first: exact, then lowest relative
// distance, then highest query coverage, then bank and id.
func compareMatches(a, b mediamatch.Match) int {
	ae, be := a.Signal.Exact(), b.Signal.Exact()
	if ae != be {
		if ae {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(a.Distance*b.Signal.Bits(), b.Distance*a.Signal.Bits()); c != 0 {
		return c
	}
	if c := cmp.Compare(b.QueryCoverage, a.QueryCoverage); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(a.Bank, b.Bank), cmp.Compare(a.ItemID, b.ItemID))
}
