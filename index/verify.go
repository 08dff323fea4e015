package index

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// This file verifies local features (mediamatch.Feature): whether the
// features of a query frame and of an item frame show the same picture,
// the query being the item, or a part of it, moved and scaled (a crop, a
// pad, a screenshot, a resize). Pairs of features whose descriptors are
// each other's nearest and clearly nearer than any other (Lowe's ratio
// test) are put forward; a placement of the query in the item
// (x_item = s*x_query + tx, the same s on y) is fitted to them by RANSAC
// (Fischler and Bolles 1981); and the frames match only if enough pairs
// agree on it, span a fair share of both frames' features, and no second
// placement at the same scale is nearly as good, so that a logo, a
// watermark or a line of caption text that two different pictures share
// cannot make a match by itself, nor can a scene seen again from another
// point of view (mostly: see maxSecond).
//
// The thresholds come from TestLocalFeaturesOnSharedMedia
// (verify_test.go): 12 edits of the 25 shared originals (crops, pads,
// screenshots, some as JPEG) against their originals, and every pair of
// different pictures among them and their edits.

// localParams are the thresholds of verifyLocal.
type localParams struct {
	// maxDist is the farthest, in bits of 256, two descriptors of a pair
	// may be. Measured: 90% of verified pairs are within 23 bits, and
	// the nearest descriptor of an unrelated picture is 47 or more for
	// 90% of features (median 68).
	maxDist int
	// ratio is Lowe's ratio test, in percent: the nearest item
	// descriptor must be nearer than ratio% of the nearest other one
	// (not at the same place: a corner found on two levels is no rival).
	ratio int
	// tol is the inlier tolerance of a placement, in FeatureUnit at the
	// item feature's level 0; it grows with the level as the corner's
	// position does (features are found at 384 pixels on the long side:
	// 40 units is 3.75 pixels).
	tol float64
	// minPairDist is the least distance, in FeatureUnit, of the two query
	// features a RANSAC sample is made of: closer, their scale is noise.
	minPairDist float64
	// iterations is the most RANSAC samples drawn, for each placement.
	iterations int
	// minScale and maxScale bound the scale of a placement (item units a
	// query unit): a query 1/4 of the item's long side (a deep crop) to
	// a picture shown in a quarter of the query's long side.
	minScale, maxScale float64
	// minPoints is the fewest verified points of a match (K). Measured:
	// the best placements of unrelated pictures gather 9 points at most,
	// those of true pairs 16 or more (a 50% resize of a small video frame;
	// crops 18, pads 21, screenshots 24).
	minPoints int
	// minSpread is the least share of each side of a frame's extent (its
	// features' box, 5th to 95th percentile) that the verified points
	// must span, in both frames. Measured: true pairs span 0.43 or more;
	// two pictures under the same caption text meet on 41 points that
	// span 0.06.
	minSpread float64
	// maxSecond is the most points, as a share of the first placement's,
	// that a second placement at the same scale (within secondScale) may
	// gather among the other pairs: a copy has one placement, a scene
	// seen again from another point of view (a stereo pair, a burst of
	// shots) one for each depth. Measured: true pairs 0.23 at most (a
	// brick wall, whose period gives a second placement); the stereo pair
	// 0.3-0.45 where it is caught, but a 75% crop or a 9:16 pad of one
	// view has a single placement in the other (0.05-0.25), and matches.
	maxSecond   float64
	secondScale float64
	// maxResid is the most mean residual of the verified points under
	// the placement, in their tolerances: a copy is placed to within a
	// pixel or so (a crop exactly, a pad or a screenshot by a resampling),
	// a scene seen from another point of view only as well as its depths
	// allow. Measured on the shared originals and their edits: 195 of the
	// 197 true pairs that verify are at 0.30 or less (the other two, of a
	// dithered GIF, at 0.37 and 0.59); the stereo pair's edits that pass
	// every other test, at 0.335 to 0.45. The margin is thin: it rests on
	// one stereo pair, and costs one crop-25 of the GIF.
	maxResid float64
}

// defaultLocal returns the thresholds verifyLocal uses.
func defaultLocal() localParams {
	return localParams{
		maxDist:     64,
		ratio:       85,
		tol:         40,
		minPairDist: 200,
		iterations:  300,
		minScale:    0.25,
		maxScale:    4.5,
		minPoints:   14,
		minSpread:   0.3,
		maxSecond:   0.25,
		secondScale: 0.1,
		maxResid:    0.32,
	}
}

// localMatch is a verified local-feature match of two frames.
type localMatch struct {
	points     int    // verified points (one-to-one pairs consistent with the placement)
	dist       int    // mean descriptor distance of those pairs
	qbox, ibox [4]int // x0, y0, x1, y1 the verified points span in each frame, in mediamatch.FeatureUnit
	// The placement: a query point (x, y) is at (s*x+tx, s*y+ty) in the
	// item, in mediamatch.FeatureUnit.
	s, tx, ty float64
}

// placement is the best placement of a query in an item found by
// placeLocal, before the thresholds of verifyLocal.
type placement struct {
	localMatch
	pairs  int     // candidate pairs RANSAC chose among
	scale  float64 // item units a query unit
	spread float64 // least share of a side of either frame's extent the points span (0..1)
	second int     // points of the best second placement at about the same scale
	dists  []int   // descriptor distances of the verified pairs
	resid  float64 // mean residual of the verified points, in their tolerances (0..1)
}

// verifyLocal matches the features of a query frame against an item frame's.
// It returns the match and true if the frames show one picture (the query
// the item, or a part of it, moved and scaled), and false with a zero
// localMatch otherwise, including for fewer than 3 features on a side. It
// keeps no state: safe for concurrent use; it draws its RANSAC samples
// from a generator seeded by the inputs' sizes, so that a call gives the
// same answer every time.
func verifyLocal(q, it []mediamatch.Feature) (localMatch, bool) {
	return verifyWith(q, it, defaultLocal())
}

// verifyWith is verifyLocal with thresholds pr.
func verifyWith(q, it []mediamatch.Feature, pr localParams) (localMatch, bool) {
	p := placeLocal(q, it, pr)
	if !p.accepted(pr) {
		return localMatch{}, false
	}
	return p.localMatch, true
}

// accepted reports whether p passes the thresholds of pr.
func (p *placement) accepted(pr localParams) bool {
	return p.points >= pr.minPoints && p.spread >= pr.minSpread &&
		p.scale >= pr.minScale && p.scale <= pr.maxScale &&
		float64(p.second) <= pr.maxSecond*float64(p.points) &&
		(pr.maxResid == 0 || p.resid <= pr.maxResid)
}

// placeLocal returns the placement of q in it that the most pairs agree
// on, with its measures; zero if there are fewer than 3 pairs.
func placeLocal(q, it []mediamatch.Feature, pr localParams) placement {
	if len(q) < 3 || len(it) < 3 {
		return placement{}
	}
	qd, id := words(q), words(it)
	// Nearest item descriptor of each query descriptor, and nearest query
	// descriptor of each item descriptor, for the mutual test.
	colBest := make([]int32, len(it))
	colArg := make([]int32, len(it))
	for j := range colBest {
		colBest[j] = math.MaxInt32
	}
	row := make([]int32, len(it))
	type pair struct{ q, i, d int }
	var pairs []pair
	best := make([]int32, len(q))
	arg := make([]int32, len(q))
	second := make([]int32, len(q))
	for a := range qd {
		// Most of the cost of a verification (distRow).
		b1, a1, b2, a2 := distRow(&qd[a], id, row, colBest, colArg, int32(a))
		// The second nearest is the nearest elsewhere: the same corner
		// found on another level is not a rival. The nearest of the
		// others is, unless it is at the same place; then the row is
		// searched again.
		bf := it[a1]
		if a2 >= 0 && near(it[a2], bf, pr.tol) {
			b2 = math.MaxInt32
			for j, d := range row {
				if d < b2 && int32(j) != a1 && !near(it[j], bf, pr.tol) {
					b2 = d
				}
			}
		}
		best[a], arg[a], second[a] = b1, a1, b2
	}
	for a := range q {
		j := arg[a]
		if int(best[a]) <= pr.maxDist && colArg[j] == int32(a) &&
			(second[a] == math.MaxInt32 || int(best[a])*100 < int(second[a])*pr.ratio) {
			pairs = append(pairs, pair{a, int(j), int(best[a])})
		}
	}
	if len(pairs) < 3 {
		return placement{pairs: len(pairs)}
	}
	// The pairs' coordinates and inlier tolerances, once.
	n := len(pairs)
	qx, qy := make([]float64, n), make([]float64, n)
	ix, iy := make([]float64, n), make([]float64, n)
	tol := make([]float64, n)
	for k, p := range pairs {
		qx[k], qy[k] = float64(q[p.q].X), float64(q[p.q].Y)
		ix[k], iy[k] = float64(it[p.i].X), float64(it[p.i].Y)
		tol[k] = pr.tol * levelScale[it[p.i].Level%mediamatch.FeatureLevels]
	}
	type model struct{ s, tx, ty float64 }
	// fit2 is the placement of pairs a and b, false if their query
	// points are too close to give a scale, or it is implausible.
	fit2 := func(a, b int) (model, bool) {
		dqx, dqy := qx[b]-qx[a], qy[b]-qy[a]
		if math.Abs(dqx)+math.Abs(dqy) < pr.minPairDist {
			return model{}, false
		}
		s := (dqx*(ix[b]-ix[a]) + dqy*(iy[b]-iy[a])) / (dqx*dqx + dqy*dqy)
		if s < pr.minScale || s > pr.maxScale {
			return model{}, false
		}
		return model{s, (ix[a] + ix[b] - s*(qx[a]+qx[b])) / 2, (iy[a] + iy[b] - s*(qy[a]+qy[b])) / 2}, true
	}
	// fit is the least-squares placement of pairs in.
	fit := func(in []int) (model, bool) {
		var mqx, mqy, mix, miy float64
		for _, k := range in {
			mqx, mqy, mix, miy = mqx+qx[k], mqy+qy[k], mix+ix[k], miy+iy[k]
		}
		c := float64(len(in))
		mqx, mqy, mix, miy = mqx/c, mqy/c, mix/c, miy/c
		var num, den float64
		for _, k := range in {
			dqx, dqy := qx[k]-mqx, qy[k]-mqy
			num += dqx*(ix[k]-mix) + dqy*(iy[k]-miy)
			den += dqx*dqx + dqy*dqy
		}
		if den == 0 || num <= 0 {
			return model{}, false
		}
		s := num / den
		return model{s, mix - s*mqx, miy - s*mqy}, true
	}
	// inliers appends to dst the pairs of ks within tolerance of m, and
	// returns them with the sum of their residuals in tolerances.
	inliers := func(m model, ks, dst []int) ([]int, float64) {
		dst = dst[:0]
		var res float64
		for _, k := range ks {
			if e := math.Abs(m.s*qx[k]+m.tx-ix[k]) + math.Abs(m.s*qy[k]+m.ty-iy[k]); e <= tol[k] {
				dst = append(dst, k)
				res += e / tol[k]
			}
		}
		return dst, res
	}
	all := make([]int, n)
	for k := range all {
		all[k] = k
	}
	r := rand.New(rand.NewPCG(uint64(len(q)), uint64(len(it))<<32|uint64(n)))
	var bestIn, cur []int
	bestRes := math.Inf(1)
	// Samples are drawn until one of them is all inliers with
	// probability 0.999 for the share of inliers found so far (adaptive
	// RANSAC), or the cap.
	need := min(pr.iterations, n*(n-1)/2)
	for i := 0; i < need; i++ {
		a, b := r.IntN(n), r.IntN(n-1)
		if b >= a {
			b++
		}
		m, ok := fit2(a, b)
		if !ok {
			continue
		}
		var res float64
		cur, res = inliers(m, all, cur)
		if len(cur) < 2 || len(cur) < len(bestIn) || len(cur) == len(bestIn) && res >= bestRes {
			continue
		}
		bestIn, cur = cur, bestIn
		bestRes = res
		w := float64(len(bestIn)) / float64(n)
		if w >= 1 {
			break
		}
		if k := math.Log(0.001) / math.Log(1-w*w); k < float64(need) {
			need = int(math.Ceil(k))
		}
	}
	if len(bestIn) < 3 {
		return placement{pairs: n}
	}
	// Refit on the inliers and take the inliers of the refit, twice, so
	// that the placement is that of all of them rather than of a sample.
	m, _ := fit(bestIn)
	for range 2 {
		m2, ok := fit(bestIn)
		if !ok {
			break
		}
		in, _ := inliers(m2, all, nil)
		if len(in) < len(bestIn) {
			break
		}
		m, bestIn = m2, in
	}
	// A second placement at about the same scale, among the pairs the
	// first leaves: the mark of a scene seen from another point of view
	// (a stereo pair, a burst of shots), whose parts at other depths
	// shift by other amounts, where a copy has one placement only.
	// Sought only for a placement that could match; the search stops
	// once one is found that rules the match out.
	var second2 int
	if len(bestIn) >= pr.minPoints {
		isIn := make([]bool, n)
		for _, k := range bestIn {
			isIn[k] = true
		}
		var rest []int
		for k := range pairs {
			if !isIn[k] {
				rest = append(rest, k)
			}
		}
		enough := int(math.Ceil(pr.maxSecond * float64(len(bestIn))))
		for range min(pr.iterations, len(rest)*(len(rest)-1)/2) {
			a, b := rest[r.IntN(len(rest))], rest[r.IntN(len(rest))]
			if a == b {
				continue
			}
			m2, ok := fit2(a, b)
			if !ok || math.Abs(m2.s/m.s-1) > pr.secondScale {
				continue
			}
			cur, _ = inliers(m2, rest, cur)
			if second2 = max(second2, len(cur)); second2 > enough {
				break
			}
		}
	}
	pl := placement{pairs: n, scale: m.s, second: second2}
	pl.s, pl.tx, pl.ty = m.s, m.tx, m.ty
	pl.points = len(bestIn)
	qb := [4]int{math.MaxInt, math.MaxInt, -1, -1}
	ib := qb
	sum := 0
	for _, k := range bestIn {
		p := pairs[k]
		sum += p.d
		pl.dists = append(pl.dists, p.d)
		grow(&qb, q[p.q])
		grow(&ib, it[p.i])
	}
	pl.dist = (sum + len(bestIn)/2) / len(bestIn)
	pl.qbox, pl.ibox = qb, ib
	_, res := inliers(m, bestIn, nil)
	pl.resid = res / float64(len(bestIn))
	// The verified points must span a fair share of each frame's
	// features, on each side: of the query's, so that a logo or a line of
	// text that the item is all of does not match a picture it is pasted
	// on; and of the item's, so that the same logo or text on two
	// pictures does not. A crop or a pad still spans its picture: the
	// features of a pad or of a screenshot's chrome are left out when
	// they are found (fingerprint trims them), so a frame's extent is
	// its picture's.
	pl.spread = min(share(qb, extent(q)), share(ib, extent(it)))
	return pl
}

// words returns the descriptors of fs as 64-bit words.
func words(fs []mediamatch.Feature) [][4]uint64 {
	w := make([][4]uint64, len(fs))
	for i := range fs {
		d := &fs[i].Desc
		for k := range 4 {
			w[i][k] = uint64(d[8*k])<<56 | uint64(d[8*k+1])<<48 | uint64(d[8*k+2])<<40 | uint64(d[8*k+3])<<32 |
				uint64(d[8*k+4])<<24 | uint64(d[8*k+5])<<16 | uint64(d[8*k+6])<<8 | uint64(d[8*k+7])
		}
	}
	return w
}

// distRowGo is distRow in Go.
func distRowGo(x *[4]uint64, id [][4]uint64, row, colBest, colArg []int32, a int32) (b1, a1, b2, a2 int32) {
	for j := range id {
		d := int32(hamming4(x, &id[j]))
		row[j] = d
		if d < colBest[j] {
			colBest[j], colArg[j] = d, a
		}
	}
	return rowNearest(row[:len(id)])
}

// rowNearest returns the least distance in row and the first j at it,
// and the least distance at any other j and one j at it (MaxInt32 and -1
// for none), as distRow does.
func rowNearest(row []int32) (b1, a1, b2, a2 int32) {
	b1, a1, b2, a2 = math.MaxInt32, -1, math.MaxInt32, -1
	for j, d := range row {
		if d < b1 {
			b1, a1, b2, a2 = d, int32(j), b1, a1
		} else if d < b2 {
			b2, a2 = d, int32(j)
		}
	}
	return b1, a1, b2, a2
}

// hamming4 returns the Hamming distance of two 256-bit descriptors.
func hamming4(x, y *[4]uint64) int {
	return bits.OnesCount64(x[0]^y[0]) + bits.OnesCount64(x[1]^y[1]) +
		bits.OnesCount64(x[2]^y[2]) + bits.OnesCount64(x[3]^y[3])
}

// levelScale[n] is 2^(n/4), the size of a pixel of level n in pixels of
// level 0.
var levelScale = func() (t [mediamatch.FeatureLevels]float64) {
	for n := range t {
		t[n] = math.Exp2(float64(n) / 4)
	}
	return t
}()

// near reports whether two features of one frame are at the same place,
// within tol at the coarser one's level.
func near(a, b mediamatch.Feature, tol float64) bool {
	tol *= levelScale[max(a.Level, b.Level)%mediamatch.FeatureLevels]
	return math.Abs(float64(a.X)-float64(b.X))+math.Abs(float64(a.Y)-float64(b.Y)) <= tol
}

// grow extends the box b (x0, y0, x1, y1) to hold f.
func grow(b *[4]int, f mediamatch.Feature) {
	b[0], b[1] = min(b[0], int(f.X)), min(b[1], int(f.Y))
	b[2], b[3] = max(b[2], int(f.X)), max(b[3], int(f.Y))
}

// extent returns the box that holds most of fs: from the 5th to the 95th
// percentile of their coordinates on each axis, so that a few corners in
// a blurred pad or on a stray mark do not stretch a frame's extent.
func extent(fs []mediamatch.Feature) [4]int {
	if len(fs) == 0 {
		return [4]int{0, 0, -1, -1}
	}
	xs, ys := make([]int, len(fs)), make([]int, len(fs))
	for i, f := range fs {
		xs[i], ys[i] = int(f.X), int(f.Y)
	}
	slices.Sort(xs)
	slices.Sort(ys)
	lo, hi := len(fs)*5/100, len(fs)-1-len(fs)*5/100
	return [4]int{xs[lo], ys[lo], xs[hi], ys[hi]}
}

// share returns the least share of a side of the box e that the box b
// spans (0 for an empty or degenerate e).
func share(b, e [4]int) float64 {
	w, h := e[2]-e[0], e[3]-e[1]
	if w <= 0 || h <= 0 || b[2] < b[0] {
		return 0
	}
	return min(1, float64(b[2]-b[0])/float64(w), float64(b[3]-b[1])/float64(h))
}
