package index

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/mediamatch/mediamatch/fingerprint"
)

// Match returns the known items that q.Media matches, best first, at most
// q.MaxResults (0 means 100).
//
// Whole-file exact signals (MD5, SHA-256) match items with the same hash
// (distance 0). Each informative query keyframe (not low information, with
// at least one perceptual signal of a searched type) searches each of its
// perceptual signals within the type's threshold: q.Thresholds[type] if set,
// else the type's default. Per item, every matching (query keyframe, item
// keyframe) pair is reported once, with the signal of lowest relative
// distance (distance/bits). The best hit of an item is an exact match if it
// has one, else its pair of lowest relative distance. QueryCoverage is the
// share of the query's informative keyframes that matched the item,
// ItemCoverage the share of the item's; both are 1 for an exact file match.
// Query and item time ranges are given for videos only, merged where they
// touch. Matches are ordered exact first, then by lowest relative distance,
// highest query coverage, bank and id. Only enabled items of the named banks
// (q.Banks, or all banks) and the named signal types (q.Signals, or all)
// match. Match reads only memory.
//
// Errors: ErrInvalid for unknown signal types, a threshold on an exact type
// or outside 0..bits, a negative MaxResults or invalid media (see
// ValidateMedia); ErrNotFound if a bank in q.Banks does not exist;
// ErrClosed; the context's error. Safe for concurrent use.
func (ix *Index) Match(ctx context.Context, q Query) ([]Match, error) {
	p, err := planQuery(q)
	if err != nil {
		return nil, err
	}
	if err := ix.enter(ctx); err != nil {
		return nil, err
	}
	defer ix.exit()

	m := ix.mem
	m.mu.RLock()
	defer m.mu.RUnlock()
	var banks map[uint64]*bankState // nil: every live bank
	if len(q.Banks) > 0 {
		banks = make(map[uint64]*bankState, len(q.Banks))
		for _, name := range q.Banks {
			b := m.banks[name]
			if b == nil {
				return nil, fmt.Errorf("index: bank %q: %w", name, ErrNotFound)
			}
			banks[b.ref] = b
		}
	}
	mt := matcher{m: m, banks: banks, cands: make(map[uint64]*candidate)}

	for _, s := range q.Media.FileSignals {
		if !p.types[s.Type] || m.exact[s.Type] == nil {
			continue
		}
		for _, ref := range m.exact[s.Type].lookup(s.Hash) {
			if c := mt.candidate(ref); c != nil && (c.exact == "" || typeOrder(s.Type) < typeOrder(c.exact)) {
				c.exact = s.Type
			}
		}
	}
	for qpos, k := range q.Media.Keyframes {
		if !p.informative(k) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for _, s := range k.Signals {
			srch := m.perceptual[s.Type]
			if !p.types[s.Type] || s.Type.Exact() || srch == nil {
				continue
			}
			bits := s.Type.Bits()
			srch.search(hashWords(s.Hash), p.radius[s.Type], func(ref uint64, frame uint32, dist int) {
				if c := mt.candidate(ref); c != nil {
					c.hit(uint32(qpos), frame, hit{typ: s.Type, dist: dist, bits: bits})
				}
			})
		}
	}

	out := make([]Match, 0, len(mt.cands))
	for _, c := range mt.cands {
		if c != nil {
			out = append(out, c.result(q.Media, p, mt.bankName(c.meta.bank)))
		}
	}
	slices.SortFunc(out, compareMatches)
	if len(out) > p.maxResults {
		out = out[:p.maxResults]
	}
	return out, nil
}

// plan is a validated query: the types searched and their radii.
type plan struct {
	types       map[fingerprint.SignalType]bool
	radius      map[fingerprint.SignalType]int
	maxResults  int
	queryFrames int // informative query keyframes
}

func planQuery(q Query) (plan, error) {
	p := plan{
		types:      make(map[fingerprint.SignalType]bool),
		radius:     make(map[fingerprint.SignalType]int),
		maxResults: q.MaxResults,
	}
	if q.MaxResults < 0 {
		return p, invalidf("max results %d, want 0 or more", q.MaxResults)
	}
	if p.maxResults == 0 {
		p.maxResults = DefaultMaxMatchResults
	}
	for _, t := range q.Signals {
		if !t.Valid() {
			return p, invalidf("signal type %q is unknown", t)
		}
		p.types[t] = true
	}
	if len(q.Signals) == 0 {
		for _, t := range fingerprint.SignalTypes() {
			p.types[t] = true
		}
	}
	for _, t := range fingerprint.SignalTypes() {
		p.radius[t] = t.DefaultThreshold()
	}
	for t, r := range q.Thresholds {
		switch {
		case !t.Valid():
			return p, invalidf("threshold for unknown signal type %q", t)
		case t.Exact():
			return p, invalidf("threshold for %s, an exact type: want none", t)
		case r < 0 || r > t.Bits():
			return p, invalidf("threshold %d for %s, want 0..%d", r, t, t.Bits())
		}
		p.radius[t] = r
	}
	for _, b := range q.Banks {
		if err := ValidateBankName(b); err != nil {
			return p, err
		}
	}
	if err := ValidateMedia(q.Media); err != nil {
		return p, err
	}
	for _, k := range q.Media.Keyframes {
		if p.informative(k) {
			p.queryFrames++
		}
	}
	return p, nil
}

// informative reports whether a query keyframe is searched: not low
// information and with a perceptual signal of a searched type.
func (p plan) informative(k fingerprint.Keyframe) bool {
	if k.LowInformation {
		return false
	}
	for _, s := range k.Signals {
		if !s.Type.Exact() && p.types[s.Type] {
			return true
		}
	}
	return false
}

// matcher collects the candidates of one Match call; it holds memory's
// read lock.
type matcher struct {
	m     *memory
	banks map[uint64]*bankState
	cands map[uint64]*candidate // nil value: the item cannot match
}

// candidate returns the candidate for ref, or nil if the item is unknown,
// disabled, or outside the live banks searched.
func (mt *matcher) candidate(ref uint64) *candidate {
	if c, ok := mt.cands[ref]; ok {
		return c
	}
	var c *candidate
	meta := mt.m.items[ref]
	if meta != nil && !meta.disabled && mt.m.bankByRef[meta.bank] != nil &&
		(mt.banks == nil || mt.banks[meta.bank] != nil) {
		c = &candidate{meta: meta}
	}
	mt.cands[ref] = c
	return c
}

func (mt *matcher) bankName(ref uint64) string { return mt.m.bankByRef[ref].bank.Name }

// hit is one signal of a pair within the threshold.
type hit struct {
	typ        fingerprint.SignalType
	dist, bits int
}

// better reports whether h is closer than o: lower distance/bits, then lower
// distance, then the earlier type in fingerprint.SignalTypes.
func (h hit) better(o hit) bool {
	if c := cmp.Compare(h.dist*o.bits, o.dist*h.bits); c != 0 {
		return c < 0
	}
	if h.dist != o.dist {
		return h.dist < o.dist
	}
	return typeOrder(h.typ) < typeOrder(o.typ)
}

func typeOrder(t fingerprint.SignalType) int {
	i := slices.Index(fingerprint.SignalTypes(), t)
	if i < 0 {
		return len(fingerprint.SignalTypes())
	}
	return i
}

type framePair struct{ q, i uint32 }

type candidate struct {
	meta  *itemMeta
	exact fingerprint.SignalType // the exact type that matched, or ""
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

// result turns a candidate into a Match.
func (c *candidate) result(qm fingerprint.Media, p plan, bank string) Match {
	meta := c.meta
	r := Match{Bank: bank, ItemID: meta.id, Labels: maps.Clone(meta.labels), ItemKind: meta.kind}
	pairs := slices.SortedFunc(maps.Keys(c.pairs), func(a, b framePair) int {
		return cmp.Or(cmp.Compare(a.q, b.q), cmp.Compare(a.i, b.i))
	})
	var best hit
	qSeen := make(map[uint32]bool)
	iSeen := make(map[uint32]bool)
	var qSpans, iSpans []TimeRange
	for n, pr := range pairs {
		h := c.pairs[pr]
		if n == 0 || h.better(best) {
			best = h
		}
		qk := qm.Keyframes[pr.q]
		fi := frameInfo{index: int(pr.i)}
		if int(pr.i) < len(meta.frames) {
			fi = meta.frames[pr.i]
		}
		r.Frames = append(r.Frames, FrameMatch{
			QueryFrame: qk.Index,
			ItemFrame:  fi.index,
			QueryTime:  TimeRange{qk.Start, qk.End},
			ItemTime:   TimeRange{fi.start, fi.end},
			Signal:     h.typ,
			Distance:   h.dist,
		})
		if !qSeen[pr.q] {
			qSeen[pr.q] = true
			qSpans = append(qSpans, TimeRange{qk.Start, qk.End})
		}
		if !iSeen[pr.i] {
			iSeen[pr.i] = true
			iSpans = append(iSpans, TimeRange{fi.start, fi.end})
		}
	}
	if p.queryFrames > 0 {
		r.QueryCoverage = min(1, float64(len(qSeen))/float64(p.queryFrames))
	}
	if meta.informative > 0 {
		r.ItemCoverage = min(1, float64(len(iSeen))/float64(meta.informative))
	}
	if qm.Kind == fingerprint.KindVideo {
		r.QueryRanges = mergeRanges(qSpans)
	}
	if meta.kind == fingerprint.KindVideo {
		r.ItemRanges = mergeRanges(iSpans)
	}
	if c.exact != "" {
		r.Signal, r.Distance, r.Threshold = c.exact, 0, 0
		r.QueryCoverage, r.ItemCoverage = 1, 1
	} else {
		r.Signal, r.Distance, r.Threshold = best.typ, best.dist, p.radius[best.typ]
	}
	return r
}

// mergeRanges sorts spans and merges those that overlap or touch.
func mergeRanges(spans []TimeRange) []TimeRange {
	if len(spans) == 0 {
		return nil
	}
	slices.SortFunc(spans, func(a, b TimeRange) int {
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
func compareMatches(a, b Match) int {
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
