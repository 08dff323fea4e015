package index

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/index/hamming"
)

// Local features (mediamatch.Feature) are indexed apart from signals, in
// one hamming.KeyIndex: each feature's descriptor gives localTables keys,
// localKeyBits bits of it each (locality-sensitive hashing by bit
// sampling: two descriptors d bits apart share a key with probability
// (1-d/256)^localKeyBits), and a query frame's keys vote for the item
// frames that hold them, each vote weighed by how rare its key is
// (VoteWeighted: descriptors are far from uniform, and on the shared
// photos an unrelated picture gathered up to 18 plain votes against 14
// for the hardest true copies). The few item frames with the most votes
// are then verified (verifyLocal): their features must meet the query's
// at one placement. The entry's payload is the item frame's features, so
// verification reads memory only.
//
// In the store an item frame's features are in its media record and
// again as the value of one signal key of type mediamatch.Local (hash
// empty): that payload (encodeFeatures), which load reads.

// The key sampling. Every key of one table samples the same bit
// positions of the descriptor; the table's number is in the key's top
// bits, so the tables share one KeyIndex.
const (
	// localTables is the number of tables; items and queries use both.
	// Measured with queries voting with one (half the vote, the most
	// costly step of a match at scale: about 55 us less a match at
	// 200,000 items), every crop, pad and screenshot of the shared photos
	// still ranked its own item first or second, but the true pairs held
	// as few as 5 keys, against the 4 a vote needs, where with both they
	// hold 11: too thin a margin for pictures we have not seen.
	localTables  = 2
	localKeyBits = 24
	// localMaxPostings is the longest posting list a key is looked up
	// in: a longer one is a descriptor that many pictures share (flat
	// texture, text), which says little and costs much.
	localMaxPostings = 4096
	// localMinVotes is the fewest of a query frame's keys an item frame
	// must hold to be verified. Measured on the shared photos' edits
	// against their originals: every one of the 231 pairs with 14 points
	// or more holds 11 of the keys or more (a grass texture the fewest).
	localMinVotes = 4
	// localVerify is the most item frames verified per query frame, the
	// most voted first (votes weighed by the keys' rarity:
	// hamming.KeyView.VoteWeighted): each costs about 0.1 ms. On the
	// shared photos every crop, pad and screenshot ranks its own item
	// first (TestLocalFeaturesOnSharedMedia).
	localVerify = 8
)

// localBits are the descriptor bits each table samples: fixed (a seeded
// shuffle), distinct within a table; both sides must agree, so they never
// change once items are stored.
var localBits = func() (b [localTables][localKeyBits]uint8) {
	r := rand.New(rand.NewPCG(0x6d6d6c6f, 0x63616c31))
	for t := range b {
		perm := r.Perm(256)
		for i := range b[t] {
			b[t][i] = uint8(perm[i])
		}
	}
	return b
}()

// localKeyParts[t][i][b] is what descriptor byte i of value b gives
// table t's key: its sampled bits at their places. A key is the OR of
// its 32 bytes' parts, 32 lookups instead of 24 bit extractions, for
// every feature of every query.
var localKeyParts = func() (parts [localTables][32][256]uint32) {
	for t := range localTables {
		for j, p := range localBits[t] {
			for b := range 256 {
				if b>>(7-p&7)&1 != 0 {
					parts[t][p>>3][b] |= 1 << j
				}
			}
		}
	}
	return parts
}()

// featureKeys appends the keys of every feature of fs to dst, each once:
// an item frame's, every table's.
func featureKeys(dst []uint32, fs []mediamatch.Feature) []uint32 {
	start := len(dst)
	dst = queryKeys(dst, fs)
	keys := dst[start:]
	slices.Sort(keys)
	return append(dst[:start], slices.Compact(keys)...)
}

// queryKeys appends to dst the keys of every feature of fs, in no order
// and not deduplicated: a vote counts a key once and sorts nothing
// (hamming.KeyView.Vote).
func queryKeys(dst []uint32, fs []mediamatch.Feature) []uint32 {
	for i := range fs {
		d := &fs[i].Desc
		for t := range localTables {
			k := uint32(t) << localKeyBits
			pt := &localKeyParts[t]
			for n, v := range d {
				k |= pt[n][v]
			}
			dst = append(dst, k)
		}
	}
	return dst
}

// encodeFeatures returns the stored form of a frame's features, the
// payload of its KeyIndex entry: a version byte (1), the frame's
// displayed width and height (uvarint), then mediamatch.FeatureBytes a
// feature. The size places the features in the frame (Feature.X and Y
// are in units of its longer side; regions are in thousandths of each
// side).
func encodeFeatures(w, h int, fs []mediamatch.Feature) []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen32+len(fs)*mediamatch.FeatureBytes)
	b = append(b, 1)
	b = binary.AppendUvarint(b, uint64(w))
	b = binary.AppendUvarint(b, uint64(h))
	return mediamatch.AppendFeatures(b, fs)
}

// decodeFeatures undoes encodeFeatures.
func decodeFeatures(b []byte) (w, h int, fs []mediamatch.Feature, err error) {
	if len(b) < 1 || b[0] != 1 {
		return 0, 0, nil, fmt.Errorf("index: features record: bad version")
	}
	b = b[1:]
	uw, n1 := binary.Uvarint(b)
	if n1 <= 0 {
		return 0, 0, nil, fmt.Errorf("index: features record: bad width")
	}
	uh, n2 := binary.Uvarint(b[n1:])
	if n2 <= 0 {
		return 0, 0, nil, fmt.Errorf("index: features record: bad height")
	}
	if uw > 1<<20 || uh > 1<<20 {
		return 0, 0, nil, fmt.Errorf("index: features record: frame %dx%d", uw, uh)
	}
	if fs, err = mediamatch.ParseFeatures(b[n1+n2:]); err != nil {
		return 0, 0, nil, fmt.Errorf("index: features record: %v", err)
	}
	return int(uw), int(uh), fs, nil
}

// featureBox returns the box b (x0, y0, x1, y1 in mediamatch.FeatureUnit
// of the longer side) of a w x h frame as a Region in thousandths of its
// width and height.
func featureBox(b [4]int, w, h int) mediamatch.Region {
	if w <= 0 || h <= 0 {
		return mediamatch.Region{}
	}
	long := max(w, h)
	// A side of s pixels spans FeatureUnit*s/long units.
	sx, sy := mediamatch.FeatureUnit*w/long, mediamatch.FeatureUnit*h/long
	clamp := func(v, s int, up bool) int {
		if s <= 0 {
			return 0
		}
		n := v * mediamatch.RegionScale
		if up {
			n += s - 1
		}
		return min(mediamatch.RegionScale, max(0, n/s))
	}
	r := mediamatch.Region{X0: clamp(b[0], sx, false), Y0: clamp(b[1], sy, false), X1: clamp(b[2], sx, true), Y1: clamp(b[3], sy, true)}
	if !r.Valid() || r.Whole() {
		return mediamatch.Region{}
	}
	return r
}

// localFrame is one query frame's features and size.
type localFrame struct {
	feats []mediamatch.Feature
	w, h  int
}

// searchLocal finds the item frames whose features meet those of query
// keyframe qpos (lf) at one placement: the KeyIndex votes, the
// localVerify best-voted frames of items that may match are verified.
func (mt *matcher) searchLocal(v *hamming.KeyView, qpos uint32, lf localFrame) {
	keys := queryKeys(nil, lf.feats)
	type cand struct {
		ref     uint64
		frame   uint32
		votes   int
		payload []byte
	}
	var cs []cand
	v.VoteWeighted(keys, localMinVotes, localMaxPostings, func(ref uint64, frame uint32, votes int, payload []byte) {
		if mt.localOK(ref) {
			cs = append(cs, cand{ref, frame, votes, payload})
		}
	})
	slices.SortFunc(cs, func(a, b cand) int {
		return cmp.Or(cmp.Compare(b.votes, a.votes), cmp.Compare(a.ref, b.ref), cmp.Compare(a.frame, b.frame))
	})
	for _, c := range cs[:min(len(cs), localVerify)] {
		iw, ih, fs, err := decodeFeatures(c.payload)
		if err != nil {
			continue
		}
		lm, ok := verifyLocal(lf.feats, fs)
		if !ok {
			continue
		}
		h := hit{typ: mediamatch.Local, bits: mediamatch.Local.Bits(), dist: lm.dist, points: lm.points,
			qview: mediamatch.View{Region: featureBox(lm.qbox, lf.w, lf.h)},
			lview: mediamatch.View{Region: featureBox(lm.ibox, iw, ih)}, s: lm.s, tx: lm.tx, ty: lm.ty}
		mt.record(qpos, c.ref, c.frame, lm.dist, h)
		if mt.over {
			return
		}
	}
}

// LocalPoints returns the most points of a keyframe of q and one of it
// that agree on one placement (verified points, before the thresholds),
// over every pair of their keyframes with local features, and whether
// some pair passes the thresholds: a match by local features. It is for
// evaluations, which report the margin of unrelated pairs against
// LocalMinPoints.
func LocalPoints(q, it mediamatch.Media) (points int, verified bool) {
	pr := defaultLocal()
	for _, a := range q.Keyframes {
		for _, b := range it.Keyframes {
			if len(a.Features) == 0 || len(b.Features) == 0 || a.LowInformation || b.LowInformation {
				continue
			}
			p := placeLocal(a.Features, b.Features, pr)
			points = max(points, p.points)
			verified = verified || p.accepted(pr)
		}
	}
	return points, verified
}

// LocalMinPoints returns the fewest verified points of a match by local
// features.
func LocalMinPoints() int { return defaultLocal().minPoints }
