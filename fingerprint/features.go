package fingerprint

import (
	"image"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// This file finds the local features of a still image
// (mediamatch.Feature): corners found by FAST (Rosten and Drummond 2006)
// on a pyramid of the luminance as displayed, ranked by the Harris
// response, spread over the picture by a grid, and described by 256
// binary intensity tests on the smoothed patch around them (BRIEF,
// Calonder et al. 2010, with ORB's multi-scale detection, Rublee et al.
// 2011). Features are what recognises a crop, which whole-frame and view
// hashes cannot: a copy keeping 75% of each side still has most of the
// corners of that part at the same places relative to each other, and the
// index verifies that they agree on one placement (index/verify.go).
//
// The descriptors are upright (not steered by an orientation, unlike
// ORB's): flips and rotations are PDQ's job (HashOptions.Dihedral), the
// edits features are for (crops, pads, screenshots) do not rotate, and
// without the freedom to turn, unrelated patches look less alike.
//
// They are found on the luminance of the image already shrunk for pHash
// and dHash (256 to 512 pixels on the long side for any larger image),
// reduced to featureSide, so they cost no decode of their own; its pyramid
// spans scales of 1 to 2^((featureLevels-1)/4) = 3.4, and two pyramids
// meet over the scale of a picture padded to the other aspect (3.2) or
// shown in a screenshot. Features are sought only inside the picture's
// content as trim finds it (contentFeatures).

const (
	// featureSide is the longest side features are sought on: the
	// luminance the hasher has (256 to 512 pixels) is reduced to it.
	// Corners are sought at every pixel of every level, the cost of
	// features: 384 instead of 512 pixels halves it.
	featureSide = 384
	// maxFeatures is the most features kept of an image: 256 at 37 bytes
	// is 9.5 KB an item. Measured at 128 (on 512 pixels): crop-25 recall
	// 20/21, its true pairs down to 16 verified points against 7 for
	// unrelated pictures; at 256, 22 against 8.
	maxFeatures = 256
	// featureLevels is the most pyramid levels searched: level n is the
	// frame shrunk by 2^(n/4).
	featureLevels = 8
	// fastThreshold is how much brighter or darker than the centre, in
	// luminance levels, the 9 contiguous pixels of the circle of a FAST
	// corner must be. Low, because the Harris response ranks the corners
	// and the grid spreads them: a threshold only keeps flat and nearly
	// flat areas (JPEG noise, gradients) from making corners at all.
	// Measured: with ORB's 20, a motion-blurred photo
	// (skimage/clock_motion.png) kept 4-8 verified points of its crops
	// and pads, and was missed.
	fastThreshold = 12
	// patchRadius is the half side of the patch the descriptor's tests
	// are drawn in (ORB's 31x31), and smoothRadius that of the box filter
	// each test compares the means of (BRIEF's smoothing, 5x5).
	patchRadius  = 15
	smoothRadius = 2
	// featureBorder is how far from a level's edges corners are sought:
	// the patch and its smoothing must fit inside.
	featureBorder = patchRadius + smoothRadius + 1
	// minLevelSide is the shortest side a level may have: a few patches.
	minLevelSide = 2*featureBorder + 16
	// featureGrid is the number of cells on each side of the grid that
	// spreads a level's features: each cell gets its share of the level's
	// budget before the best of the rest fill it, so that a caption, a
	// logo or one textured corner cannot take them all.
	featureGrid = 4
	// harrisK is the Harris detector's constant.
	harrisK = 0.04
)

// briefTest is one test of the descriptor: bit set if the smoothed patch
// is darker at (x1, y1) than at (x2, y2), offsets from the corner.
type briefTest struct{ x1, y1, x2, y2 int8 }

// briefPattern is the fixed set of 256 tests, drawn once from a seeded
// generator, isotropic Gaussian around the corner with sigma a fifth of
// the patch side (BRIEF's best sampling, G II) and clipped to the patch.
// Changing it (or its seed) changes every descriptor: items hashed before
// would no longer match.
var briefPattern = makeBriefPattern()

func makeBriefPattern() [256]briefTest {
	r := rand.New(rand.NewPCG(0x6d656469616d6174, 0x6272696566)) // "mediamat", "brief"
	const sigma = (2*patchRadius + 1) / 5.0
	draw := func() int8 {
		for {
			v := math.Round(r.NormFloat64() * sigma)
			if math.Abs(v) <= patchRadius {
				return int8(v)
			}
		}
	}
	var p [256]briefTest
	for i := range p {
		for {
			t := briefTest{draw(), draw(), draw(), draw()}
			if t.x1 != t.x2 || t.y1 != t.y2 {
				p[i] = t
				break
			}
		}
	}
	return p
}

// fastCircle is the Bresenham circle of radius 3 FAST tests, clockwise
// from the top.
var fastCircle = [16][2]int{
	{0, -3}, {1, -3}, {2, -2}, {3, -1}, {3, 0}, {3, 1}, {2, 2}, {1, 3},
	{0, 3}, {-1, 3}, {-2, 2}, {-3, 1}, {-3, 0}, {-3, -1}, {-2, -2}, {-1, -3},
}

// stillFeatures returns the local features of a decoded still image
// stored under EXIF orientation o, with coordinates as displayed: those
// hashStill gives it (from the luminance it already has).
func stillFeatures(img image.Image, o int) []mediamatch.Feature {
	l := viewLuma(orient(shrink(img), o))
	return contentFeatures(&l, maxFeatures)
}

// contentFeatures returns the features of l found inside its content,
// the picture inside bars, borders, a screenshot's chrome or an opaque
// caption band at an edge (trim). Two screenshots of different pictures
// in one app, or two pictures under the same news banner, share every
// corner of their chrome at one placement: features there would make
// them match.
func contentFeatures(l *luma, n int) []mediamatch.Feature {
	r, _ := trim(l)
	return featuresIn(l, r, n)
}

// corner is a corner found on one level, in that level's pixels.
type corner struct {
	x, y  int32
	score float32
}

// featuresIn returns at most n features of l, the frame as displayed,
// reduced to featureSide, with corners sought only inside r, in l's
// pixels (their patches may reach outside): on each level of its pyramid
// (while its shorter side is minLevelSide or more) a share of n falling
// by 2^(1/4) a level, as ORB shares its features, what a level leaves
// unused going to the next; within a level, the best corners of each
// cell of a grid over r first. None for an image too small for one
// patch, or with no corners (a flat image).
func featuresIn(l *luma, r image.Rectangle, n int) []mediamatch.Feature {
	if long := max(l.w, l.h); long > featureSide {
		// Coordinates are shares of the longer side: the frame's shape,
		// not its pixels, decides them. Bilinear, as the levels between octaves below, for the
		// reduction by 4/3 at most of a still's luminance (512 pixels at
		// most); by area averaging for more, where sampling would alias.
		w, h := max(1, (l.w*featureSide+long/2)/long), max(1, (l.h*featureSide+long/2)/long)
		var small luma
		if long <= 2*featureSide {
			small = bilinear(l, w, h)
		} else {
			small = luma{w: w, h: h, pix: make([]uint8, w*h)}
			areaReduce(l.w, l.h, 1, planeRows(l.pix, l.w, 0), small.pix, w, w, h)
		}
		r = image.Rect(r.Min.X*w/l.w, r.Min.Y*h/l.h, (r.Max.X*w+l.w-1)/l.w, (r.Max.Y*h+l.h-1)/l.h)
		l = &small
	}
	w0, h0 := l.w, l.h
	long0 := max(w0, h0)
	if min(w0, h0) < minLevelSide || n <= 0 {
		return nil
	}
	levels := 0
	for levels < featureLevels && float64(min(w0, h0))/math.Pow(2, float64(levels)/4) >= minLevelSide {
		levels++
	}
	f := math.Pow(2, -0.25)
	budget := make([]int, levels)
	left := n
	for i := range budget {
		budget[i] = int(math.Round(float64(n) * (1 - f) / (1 - math.Pow(f, float64(levels))) * math.Pow(f, float64(i))))
		budget[i] = min(budget[i], left)
		left -= budget[i]
	}
	budget[0] += left
	pyr := make([]luma, levels)
	pyr[0] = *l
	out := make([]mediamatch.Feature, 0, n)
	carry := 0
	scores := make([]float32, w0*h0)
	iibuf := make([]uint32, (w0+1)*(h0+1))
	for lv := range levels {
		switch {
		case lv >= 4:
			// An octave below a level already made: the mean of each 2x2
			// block of it, the cheapest exact area reduction.
			pyr[lv] = halve(&pyr[lv-4])
		case lv > 0:
			// The levels between level 0 and its half, sampled from it
			// bilinearly: BRIEF's tests compare means of 5x5 boxes and
			// the Harris window is 5x5 too, so the aliasing a reduction
			// by less than 2 without area averaging adds hardly shows,
			// at a few times less than area averaging costs.
			k := math.Pow(2, float64(lv)/4)
			pyr[lv] = bilinear(l, max(1, int(math.Round(float64(w0)/k))), max(1, int(math.Round(float64(h0)/k))))
		}
		p := &pyr[lv]
		rl := image.Rect(r.Min.X*p.w/w0, r.Min.Y*p.h/h0, (r.Max.X*p.w+w0-1)/w0, (r.Max.Y*p.h+h0-1)/h0)
		cs := detect(p, rl, scores[:p.w*p.h])
		keep := spread(cs, rl, budget[lv]+carry)
		carry = budget[lv] + carry - len(keep)
		if len(keep) == 0 {
			continue
		}
		ii := integral(p, iibuf)
		sx, sy := float64(w0)/float64(p.w), float64(h0)/float64(p.h)
		for _, c := range keep {
			ft := mediamatch.Feature{
				X:     unit((float64(c.x)+0.5)*sx, long0),
				Y:     unit((float64(c.y)+0.5)*sy, long0),
				Level: uint8(lv),
			}
			describe(ii, p.w, int(c.x), int(c.y), &ft.Desc)
			out = append(out, ft)
		}
	}
	return out
}

// halve returns p reduced to half its sides (rounded down), each pixel
// the rounded mean of a 2x2 block.
func halve(p *luma) luma {
	w, h := p.w/2, p.h/2
	out := luma{w: w, h: h, pix: make([]uint8, w*h)}
	for y := range h {
		a, b := p.pix[2*y*p.w:][:2*w], p.pix[(2*y+1)*p.w:][:2*w]
		dst := out.pix[y*w:][:w]
		for x := range dst {
			dst[x] = uint8((uint32(a[2*x]) + uint32(a[2*x+1]) + uint32(b[2*x]) + uint32(b[2*x+1]) + 2) >> 2)
		}
	}
	return out
}

// bilinear returns p resampled to w x h (smaller) by bilinear
// interpolation at the centres of the new pixels, in 8-bit fixed point.
func bilinear(p *luma, w, h int) luma {
	out := luma{w: w, h: h, pix: make([]uint8, w*h)}
	// tap returns the first source index and the weight (out of 256) of
	// the second for position i of n taken from m.
	tap := func(i, n, m int) (int, uint32) {
		if m == 1 {
			return 0, 0
		}
		v := (float64(i)+0.5)*float64(m)/float64(n) - 0.5
		v = min(max(v, 0), float64(m-1))
		i0 := min(int(v), m-2)
		return i0, uint32(math.Round((v - float64(i0)) * 256))
	}
	xs := make([]int, w)
	xf := make([]uint32, w)
	for x := range w {
		xs[x], xf[x] = tap(x, w, p.w)
	}
	for y := range h {
		y0, fy := tap(y, h, p.h)
		a := p.pix[y0*p.w:][:p.w]
		b := a
		if p.h > 1 {
			b = p.pix[(y0+1)*p.w:][:p.w]
		}
		dst := out.pix[y*w:][:w]
		for x := range dst {
			i, fx := xs[x], xf[x]
			top := uint32(a[i])*(256-fx) + uint32(a[min(i+1, len(a)-1)])*fx
			bot := uint32(b[i])*(256-fx) + uint32(b[min(i+1, len(b)-1)])*fx
			dst[x] = uint8((top*(256-fy) + bot*fy + 1<<15) >> 16)
		}
	}
	return out
}

// unit converts a coordinate in level-0 pixels to mediamatch.FeatureUnit
// of a frame whose longer side is long pixels.
func unit(v float64, long int) uint16 {
	return uint16(min(mediamatch.FeatureUnit, max(0, math.Round(v*mediamatch.FeatureUnit/float64(long)))))
}

// detect returns the FAST-9 corners of p inside r that are local maxima
// of the FAST score among their 8 neighbours, featureBorder or more from
// its edges, in raster order, scored by their Harris response (those with
// a positive one). scores is scratch of p's size, left zeroed.
func detect(p *luma, r image.Rectangle, scores []float32) []corner {
	w, h, pix := p.w, p.h, p.pix
	var off [16]int
	for i, c := range fastCircle {
		off[i] = c[1]*w + c[0]
	}
	var found []corner
	x0, x1 := max(featureBorder, r.Min.X), min(w-featureBorder, r.Max.X)
	if x0 >= x1 {
		return nil
	}
	for y := max(featureBorder, r.Min.Y); y < min(h-featureBorder, r.Max.Y); y++ {
		// The centre, the pixels 3 above and below it and those 3 left
		// and right, as slices of one length indexed alike, so that the
		// quick test reads them without bounds checks.
		row := pix[y*w+x0 : y*w+x1]
		up, down := pix[(y-3)*w+x0:][:len(row)], pix[(y+3)*w+x0:][:len(row)]
		left, right := pix[y*w+x0-3:][:len(row)], pix[y*w+x0+3:][:len(row)]
		for j, cv := range row {
			v := int(cv)
			hi, lo := v+fastThreshold, v-fastThreshold
			// Any 9 contiguous pixels of the 16 include one of the two
			// opposite ones at the top and bottom, and one of those at
			// the left and right: most pixels are out after these 4
			// reads, tested without branches (x>>63 is -1 for x < 0).
			a, b, c, d := int(up[j]), int(right[j]), int(down[j]), int(left[j])
			bright := ((hi-a)>>63 | (hi-c)>>63) & ((hi-b)>>63 | (hi-d)>>63)
			dark := ((a-lo)>>63 | (c-lo)>>63) & ((b-lo)>>63 | (d-lo)>>63)
			if bright|dark == 0 {
				continue
			}
			x := x0 + j
			i := y*w + x
			// So do the pixels between them, at 2, 6, 10 and 14: the arc
			// holds one of 2 and 10 and one of 6 and 14 too.
			a, b = int(pix[i+off[2]]), int(pix[i+off[6]])
			c, d = int(pix[i+off[10]]), int(pix[i+off[14]])
			bright &= ((hi-a)>>63 | (hi-c)>>63) & ((hi-b)>>63 | (hi-d)>>63)
			dark &= ((a-lo)>>63 | (c-lo)>>63) & ((b-lo)>>63 | (d-lo)>>63)
			if bright|dark == 0 {
				continue
			}
			// The whole circle, as two masks built without branches (most
			// pixels that get here are not corners: the score is summed
			// only for those that are), each kept only if its side passed
			// the quick tests.
			// Unrolled: the loop's shifts and counting cost as much as
			// the tests.
			q0, q1, q2, q3 := int(pix[i+off[0]]), int(pix[i+off[1]]), int(pix[i+off[2]]), int(pix[i+off[3]])
			q4, q5, q6, q7 := int(pix[i+off[4]]), int(pix[i+off[5]]), int(pix[i+off[6]]), int(pix[i+off[7]])
			q8, q9, q10, q11 := int(pix[i+off[8]]), int(pix[i+off[9]]), int(pix[i+off[10]]), int(pix[i+off[11]])
			q12, q13, q14, q15 := int(pix[i+off[12]]), int(pix[i+off[13]]), int(pix[i+off[14]]), int(pix[i+off[15]])
			bm := uint32((hi-q0)>>63&1 | (hi-q1)>>63&2 | (hi-q2)>>63&4 | (hi-q3)>>63&8 |
				(hi-q4)>>63&16 | (hi-q5)>>63&32 | (hi-q6)>>63&64 | (hi-q7)>>63&128 |
				(hi-q8)>>63&256 | (hi-q9)>>63&512 | (hi-q10)>>63&1024 | (hi-q11)>>63&2048 |
				(hi-q12)>>63&4096 | (hi-q13)>>63&8192 | (hi-q14)>>63&16384 | (hi-q15)>>63&32768)
			dm := uint32((q0-lo)>>63&1 | (q1-lo)>>63&2 | (q2-lo)>>63&4 | (q3-lo)>>63&8 |
				(q4-lo)>>63&16 | (q5-lo)>>63&32 | (q6-lo)>>63&64 | (q7-lo)>>63&128 |
				(q8-lo)>>63&256 | (q9-lo)>>63&512 | (q10-lo)>>63&1024 | (q11-lo)>>63&2048 |
				(q12-lo)>>63&4096 | (q13-lo)>>63&8192 | (q14-lo)>>63&16384 | (q15-lo)>>63&32768)
			bm &= uint32(bright)
			dm &= uint32(dark)
			isBright, isDark := arc9(bm), arc9(dm)
			if !isBright && !isDark {
				continue
			}
			// The FAST score, how far the circle is past the threshold,
			// only picks the local maxima; the Harris response of those
			// ranks them (ORB's choice: FAST responds along edges too).
			sb := max(0, q0-hi) + max(0, q1-hi) + max(0, q2-hi) + max(0, q3-hi) +
				max(0, q4-hi) + max(0, q5-hi) + max(0, q6-hi) + max(0, q7-hi) +
				max(0, q8-hi) + max(0, q9-hi) + max(0, q10-hi) + max(0, q11-hi) +
				max(0, q12-hi) + max(0, q13-hi) + max(0, q14-hi) + max(0, q15-hi)
			sd := max(0, lo-q0) + max(0, lo-q1) + max(0, lo-q2) + max(0, lo-q3) +
				max(0, lo-q4) + max(0, lo-q5) + max(0, lo-q6) + max(0, lo-q7) +
				max(0, lo-q8) + max(0, lo-q9) + max(0, lo-q10) + max(0, lo-q11) +
				max(0, lo-q12) + max(0, lo-q13) + max(0, lo-q14) + max(0, lo-q15)
			score := 0
			if isBright {
				score = sb
			}
			if isDark {
				score = max(score, sd)
			}
			scores[i] = float32(score)
			found = append(found, corner{int32(x), int32(y), float32(score)})
		}
	}
	// Non-maximum suppression: a corner stays if it scores more than
	// its neighbours before it in raster order and no less than those
	// after, so that of two equal neighbours the first stays.
	var kept []corner
	for _, c := range found {
		i := int(c.y)*w + int(c.x)
		s := scores[i]
		if s > scores[i-w-1] && s > scores[i-w] && s > scores[i-w+1] && s > scores[i-1] &&
			s >= scores[i+1] && s >= scores[i+w-1] && s >= scores[i+w] && s >= scores[i+w+1] {
			if hs := harris(pix, w, int(c.x), int(c.y)); hs > 0 {
				kept = append(kept, corner{c.x, c.y, hs})
			}
		}
	}
	for _, c := range found {
		scores[int(c.y)*w+int(c.x)] = 0
	}
	return kept
}

// arc9 reports whether the 16-bit circular mask m has 9 contiguous bits set.
func arc9(m uint32) bool {
	// Bit j of r is set if bits j to j+1 of m are, then j to j+3, j to
	// j+7 and j to j+8: 4 steps instead of 8 shifts.
	m |= m << 16
	r := m & (m >> 1)
	r &= r >> 2
	r &= r >> 4
	r &= m >> 8
	return r&0xffff != 0
}

// harris returns the Harris corner response at (x, y) of the w-wide pix,
// over a 5x5 window of central-difference gradients.
func harris(pix []uint8, w, x, y int) float32 {
	var a, b, c int32
	for dy := -2; dy <= 2; dy++ {
		r := (y+dy)*w + x
		up, row, down := pix[r-w-2:r-w+3], pix[r-3:r+4], pix[r+w-2:r+w+3]
		for dx := range 5 {
			gx := int32(row[dx+2]) - int32(row[dx])
			gy := int32(down[dx]) - int32(up[dx])
			a += gx * gx
			b += gy * gy
			c += gx * gy
		}
	}
	fa, fb, fc := float64(a), float64(b), float64(c)
	tr := fa + fb
	return float32(fa*fb - fc*fc - harrisK*tr*tr)
}

// spread returns at most n of cs, the corners of a level inside r: first
// the best n/cells of each cell of a featureGrid x featureGrid grid over
// r, then the best of the others; in descending score, ties in raster
// order.
func spread(cs []corner, r image.Rectangle, n int) []corner {
	if n <= 0 || len(cs) == 0 {
		return nil
	}
	// cs is in raster order: ties go to the first in it, as a stable
	// sort would keep them, at the cost of an unstable one.
	slices.SortFunc(cs, func(a, b corner) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		case a.y != b.y:
			return int(a.y - b.y)
		}
		return int(a.x - b.x)
	})
	if len(cs) <= n {
		return cs
	}
	quota := max(1, n/(featureGrid*featureGrid))
	var inCell [featureGrid * featureGrid]int
	taken := make([]bool, len(cs))
	out := make([]corner, 0, n)
	for i, c := range cs {
		cell := (int(c.y)-r.Min.Y)*featureGrid/r.Dy()*featureGrid + (int(c.x)-r.Min.X)*featureGrid/r.Dx()
		if inCell[cell] < quota && len(out) < n {
			inCell[cell]++
			taken[i] = true
			out = append(out, c)
		}
	}
	for i, c := range cs {
		if len(out) >= n {
			break
		}
		if !taken[i] {
			out = append(out, c)
		}
	}
	return out
}

// integral returns the integral image of p, (w+1) x (h+1): entry
// (x, y) is the sum of p over [0, x) x [0, y), in buf (large enough). BRIEF's tests compare the
// means of boxes around their points, a smoothing that keeps them stable
// under noise and re-encoding; from the integral image each box costs 4
// reads, and only the patches of the kept corners are read.
func integral(p *luma, buf []uint32) []uint32 {
	w, h := p.w, p.h
	s := buf[:(w+1)*(h+1)]
	clear(s[:w+1])
	for y := range h {
		var row uint32
		src := p.pix[y*w : (y+1)*w]
		prev := s[y*(w+1) : (y+1)*(w+1)]
		cur := s[(y+1)*(w+1) : (y+2)*(w+1)]
		for x, v := range src {
			row += uint32(v)
			cur[x+1] = prev[x+1] + row
		}
	}
	return s
}

// describe sets d to the descriptor of the corner at (x, y) of a level
// whose integral image (integral) is ii, w pixels wide: bit i (most
// significant first) is set if the box of side 2*smoothRadius+1 around
// the first point of test i of briefPattern sums to less than the one
// around its second.
func describe(ii []uint32, w, x, y int, d *[32]byte) {
	stride := w + 1
	box := func(px, py int) uint32 {
		x0, y0 := px-smoothRadius, py-smoothRadius
		x1, y1 := px+smoothRadius+1, py+smoothRadius+1
		return ii[y1*stride+x1] - ii[y0*stride+x1] - ii[y1*stride+x0] + ii[y0*stride+x0]
	}
	*d = [32]byte{}
	for i, t := range briefPattern {
		if box(x+int(t.x1), y+int(t.y1)) < box(x+int(t.x2), y+int(t.y2)) {
			d[i/8] |= 0x80 >> (i % 8)
		}
	}
}
