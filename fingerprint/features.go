package fingerprint

import (
	"encoding/binary"
	"image"
	"math"
	"math/bits"
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
		// not its pixels, decides them. Bilinear, as the levels between
		// octaves below, for the reduction by 4/3 at most of a still's
		// luminance (512 pixels at most); by area averaging for more,
		// where sampling would alias.
		w, h := max(1, (l.w*featureSide+long/2)/long), max(1, (l.h*featureSide+long/2)/long)
		var small luma
		if long <= 2*featureSide {
			small = bilinear(l, w, h, nil)
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
	// The levels' sides, then their pixels in one allocation.
	pyr := make([]luma, levels)
	pyr[0] = *l
	size := 0
	for lv := 1; lv < levels; lv++ {
		if lv >= 4 {
			pyr[lv].w, pyr[lv].h = pyr[lv-4].w/2, pyr[lv-4].h/2
		} else {
			k := math.Pow(2, float64(lv)/4)
			pyr[lv].w, pyr[lv].h = max(1, int(math.Round(float64(w0)/k))), max(1, int(math.Round(float64(h0)/k)))
		}
		size += pyr[lv].w * pyr[lv].h
	}
	arena := make([]uint8, size)
	out := make([]mediamatch.Feature, 0, n)
	carry := 0
	rows := make([]uint16, 3*w0)
	var cs []corner
	iibuf := make([]uint32, (w0+1)*(h0+1))
	for lv := range levels {
		if lv > 0 {
			pix := arena[:pyr[lv].w*pyr[lv].h]
			arena = arena[len(pix):]
			if lv >= 4 {
				// An octave below a level already made: the mean of each
				// 2x2 block of it, the cheapest exact area reduction.
				pyr[lv] = halve(&pyr[lv-4], pix)
			} else {
				// The levels between level 0 and its half, sampled from
				// it bilinearly: BRIEF's tests compare means of 5x5 boxes
				// and the Harris window is 5x5 too, so the aliasing a
				// reduction by less than 2 without area averaging adds
				// hardly shows, at a few times less than area averaging
				// costs.
				pyr[lv] = bilinear(l, pyr[lv].w, pyr[lv].h, pix)
			}
		}
		p := &pyr[lv]
		rl := image.Rect(r.Min.X*p.w/w0, r.Min.Y*p.h/h0, (r.Max.X*p.w+w0-1)/w0, (r.Max.Y*p.h+h0-1)/h0)
		cs = detect(p, rl, rows, cs[:0])
		keep := spread(cs, rl, budget[lv]+carry)
		carry = budget[lv] + carry - len(keep)
		if len(keep) == 0 {
			continue
		}
		ii := integral(p, iibuf)
		at := briefAt(p.w)
		sx, sy := float64(w0)/float64(p.w), float64(h0)/float64(p.h)
		for _, c := range keep {
			ft := mediamatch.Feature{
				X:     unit((float64(c.x)+0.5)*sx, long0),
				Y:     unit((float64(c.y)+0.5)*sy, long0),
				Level: uint8(lv),
			}
			describe(ii, p.w, int(c.x), int(c.y), at, &ft.Desc)
			out = append(out, ft)
		}
	}
	return out
}

// halve returns p reduced to half its sides (rounded down), each pixel
// the rounded mean of a 2x2 block, in pix (of that size).
func halve(p *luma, pix []uint8) luma {
	w, h := p.w/2, p.h/2
	out := luma{w: w, h: h, pix: pix[:w*h]}
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
// interpolation at the centres of the new pixels, in 8-bit fixed point,
// in pix (w*h bytes or more; allocated if nil).
func bilinear(p *luma, w, h int, pix []uint8) luma {
	if pix == nil {
		pix = make([]uint8, w*h)
	}
	out := luma{w: w, h: h, pix: pix[:w*h]}
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
	// Each source row is interpolated along x once, unrounded (256 times
	// the value), into one of two rows that the output rows between it
	// and the next share: the rounding is the same as interpolating the
	// four pixels of each output pixel at once.
	xs := make([]int, w)
	xf := make([]uint32, w)
	for x := range w {
		xs[x], xf[x] = tap(x, w, p.w)
	}
	next := min(1, p.w-1) // the second pixel's offset: none in a 1-pixel row
	buf := make([]uint32, 2*w)
	rowOf := [2]int{-1, -1} // the source row each half of buf holds
	along := func(y int) []uint32 {
		k := y & 1
		r := buf[k*w:][:w]
		if rowOf[k] != y {
			rowOf[k] = y
			src := p.pix[y*p.w:][:p.w]
			for x := range r {
				i, f := xs[x], xf[x]
				r[x] = uint32(src[i])*(256-f) + uint32(src[i+next])*f
			}
		}
		return r
	}
	for y := range h {
		y0, fy := tap(y, h, p.h)
		top := along(y0)
		bot := top
		if p.h > 1 {
			bot = along(y0 + 1)
		}
		dst := out.pix[y*w:][:w]
		bot = bot[:len(dst)]
		top = top[:len(dst)]
		for x := range dst {
			dst[x] = uint8((top[x]*(256-fy) + bot[x]*fy + 1<<15) >> 16)
		}
	}
	return out
}

// unit converts a coordinate in level-0 pixels to mediamatch.FeatureUnit
// of a frame whose longer side is long pixels.
func unit(v float64, long int) uint16 {
	return uint16(min(mediamatch.FeatureUnit, max(0, math.Round(v*mediamatch.FeatureUnit/float64(long)))))
}

// detect appends to out the FAST-9 corners of p inside r that are local
// maxima of the FAST score among their 8 neighbours, featureBorder or more
// from its edges, in raster order, scored by their Harris response (those
// with a positive one), and returns it. rows is scratch of 3*p.w.
//
// Rows are taken one at a time and kept 3 at a time: a corner of row y-1
// is compared with its neighbours once row y is scored, so the scores
// need 3 rows, not the level (which, read back from memory in raster
// order, cost more than the comparisons).
func detect(p *luma, r image.Rectangle, rows []uint16, out []corner) []corner {
	w, h, pix := p.w, p.h, p.pix
	x0, x1 := max(featureBorder, r.Min.X), min(w-featureBorder, r.Max.X)
	y0, y1 := max(featureBorder, r.Min.Y), min(h-featureBorder, r.Max.Y)
	if x0 >= x1 || y0 >= y1 {
		return out
	}
	var off [16]int
	for i, c := range fastCircle {
		off[i] = c[1]*w + c[0]
	}
	rows = rows[:3*w]
	clear(rows)
	var xs [2][]int32 // the columns of the corners of rows y-1 and y
	for y := y0; y <= y1; y++ {
		cur := rows[y%3*w:][:w]
		clear(cur[x0:x1])
		xs[y&1] = xs[y&1][:0]
		if y < y1 {
			xs[y&1] = fastRow(pix, w, y, x0, x1, &off, cur, xs[y&1])
		}
		if y == y0 {
			continue
		}
		// Non-maximum suppression on row y-1: a corner stays if it
		// scores more than its neighbours before it in raster order
		// and no less than those after, so that of two equal neighbours
		// the first stays. Rows outside [y0, y1) score 0, as do the
		// pixels that are not corners.
		up, mid, down := rows[(y-2)%3*w:][:w], rows[(y-1)%3*w:][:w], cur
		for _, cx := range xs[(y-1)&1] {
			x := int(cx)
			s := mid[x]
			if s > up[x-1] && s > up[x] && s > up[x+1] && s > mid[x-1] &&
				s >= mid[x+1] && s >= down[x-1] && s >= down[x] && s >= down[x+1] {
				if hs := harris(pix, w, x, y-1); hs > 0 {
					out = append(out, corner{cx, int32(y - 1), hs})
				}
			}
		}
	}
	return out
}

// Constants of fastRow's tests on 8 pixels at a time (SWAR: the bytes of
// a uint64 split into two words of four 16-bit lanes, the even pixels'
// and the odd ones'). In a lane, a + (0x200-t-1) - c has bit 9 set exactly
// when a > c+t (a, c in 0..255, t = fastThreshold: the lane's value stays
// in 244..754, so no lane borrows from or carries into the next), and
// (0x200-t-1) + c - a when a < c-t.
const (
	swarLanes = 0x0001000100010001
	swarBias  = (0x200 - fastThreshold - 1) * swarLanes
	swarBit9  = 0x0200 * swarLanes
	swarBytes = 0x00ff00ff00ff00ff
)

// swarValid[n] has the candidate bits of the first n pixels of a word: a
// word's pixel k is bit 16*(k/2) + k%2 (its lane, and 1 for the odd word).
var swarValid = func() (v [9]uint64) {
	for n := 1; n <= 8; n++ {
		v[n] = v[n-1] | 1<<(16*((n-1)/2)+(n-1)%2)
	}
	return v
}()

// fastRow scores the FAST-9 corners of row y of the w-wide pix in
// columns [x0, x1), setting score[x] for each (its FAST score, 9 or
// more; left alone elsewhere) and appending x to xs, which it returns.
func fastRow(pix []uint8, w, y, x0, x1 int, off *[16]int, score []uint16, xs []int32) []int32 {
	for x := x0; x < x1; x += 8 {
		i := y*w + x
		// The 8 even pixels of the circle, for 8 centres at a time,
		// without a branch: 9 contiguous pixels of the 16 include 4
		// contiguous even ones (5 if the arc starts on one), so a centre
		// is a candidate of a side only if 4 contiguous even pixels are
		// past the threshold on that side. That leaves about a quarter
		// of a photo's pixels (astronaut.png: 93,000 of 352,000 over
		// the levels), a third of them corners.
		c := binary.LittleEndian.Uint64(pix[i:])
		ce, co := c&swarBytes, c>>8&swarBytes
		be, bo := swarBias-ce, swarBias-co // + a: bit 9 if a > c+t
		de, do := swarBias+ce, swarBias+co // - a: bit 9 if a < c-t
		test := func(o int) (uint64, uint64, uint64, uint64) {
			n := binary.LittleEndian.Uint64(pix[i+o:])
			ne, no := n&swarBytes, n>>8&swarBytes
			return be + ne, bo + no, de - ne, do - no
		}
		b0e, b0o, d0e, d0o := test(off[0])
		b1e, b1o, d1e, d1o := test(off[2])
		b2e, b2o, d2e, d2o := test(off[4])
		b3e, b3o, d3e, d3o := test(off[6])
		b4e, b4o, d4e, d4o := test(off[8])
		b5e, b5o, d5e, d5o := test(off[10])
		b6e, b6o, d6e, d6o := test(off[12])
		b7e, b7o, d7e, d7o := test(off[14])
		bright := arc4(b0e, b1e, b2e, b3e, b4e, b5e, b6e, b7e)>>9 | arc4(b0o, b1o, b2o, b3o, b4o, b5o, b6o, b7o)>>8
		dark := arc4(d0e, d1e, d2e, d3e, d4e, d5e, d6e, d7e)>>9 | arc4(d0o, d1o, d2o, d3o, d4o, d5o, d6o, d7o)>>8
		valid := swarValid[min(8, x1-x)]
		var corners uint64 // the candidate bits found corners
		// Each side's candidates on their own (a centre is rarely both):
		// the circle compared on that side only.
		for cand := bright & valid; cand != 0; cand &= cand - 1 {
			bit := bits.TrailingZeros64(cand)
			i := i + bit>>4*2 + bit&1
			hi := int(pix[i]) + fastThreshold
			q0, q1, q2, q3 := int(pix[i+off[0]]), int(pix[i+off[1]]), int(pix[i+off[2]]), int(pix[i+off[3]])
			q4, q5, q6, q7 := int(pix[i+off[4]]), int(pix[i+off[5]]), int(pix[i+off[6]]), int(pix[i+off[7]])
			q8, q9, q10, q11 := int(pix[i+off[8]]), int(pix[i+off[9]]), int(pix[i+off[10]]), int(pix[i+off[11]])
			q12, q13, q14, q15 := int(pix[i+off[12]]), int(pix[i+off[13]]), int(pix[i+off[14]]), int(pix[i+off[15]])
			// Unrolled: the loop's shifts and counting cost as much as
			// the tests.
			m := uint32((hi-q0)>>63&1 | (hi-q1)>>63&2 | (hi-q2)>>63&4 | (hi-q3)>>63&8 |
				(hi-q4)>>63&16 | (hi-q5)>>63&32 | (hi-q6)>>63&64 | (hi-q7)>>63&128 |
				(hi-q8)>>63&256 | (hi-q9)>>63&512 | (hi-q10)>>63&1024 | (hi-q11)>>63&2048 |
				(hi-q12)>>63&4096 | (hi-q13)>>63&8192 | (hi-q14)>>63&16384 | (hi-q15)>>63&32768)
			if !arc9(m) {
				continue
			}
			// The FAST score, how far the circle is past the threshold,
			// only picks the local maxima; the Harris response of those
			// ranks them (ORB's choice: FAST responds along edges too).
			s := max(0, q0-hi) + max(0, q1-hi) + max(0, q2-hi) + max(0, q3-hi) +
				max(0, q4-hi) + max(0, q5-hi) + max(0, q6-hi) + max(0, q7-hi) +
				max(0, q8-hi) + max(0, q9-hi) + max(0, q10-hi) + max(0, q11-hi) +
				max(0, q12-hi) + max(0, q13-hi) + max(0, q14-hi) + max(0, q15-hi)
			score[x+bit>>4*2+bit&1] = uint16(s)
			corners |= 1 << bit
		}
		for cand := dark & valid; cand != 0; cand &= cand - 1 {
			bit := bits.TrailingZeros64(cand)
			i := i + bit>>4*2 + bit&1
			lo := int(pix[i]) - fastThreshold
			q0, q1, q2, q3 := int(pix[i+off[0]]), int(pix[i+off[1]]), int(pix[i+off[2]]), int(pix[i+off[3]])
			q4, q5, q6, q7 := int(pix[i+off[4]]), int(pix[i+off[5]]), int(pix[i+off[6]]), int(pix[i+off[7]])
			q8, q9, q10, q11 := int(pix[i+off[8]]), int(pix[i+off[9]]), int(pix[i+off[10]]), int(pix[i+off[11]])
			q12, q13, q14, q15 := int(pix[i+off[12]]), int(pix[i+off[13]]), int(pix[i+off[14]]), int(pix[i+off[15]])
			m := uint32((q0-lo)>>63&1 | (q1-lo)>>63&2 | (q2-lo)>>63&4 | (q3-lo)>>63&8 |
				(q4-lo)>>63&16 | (q5-lo)>>63&32 | (q6-lo)>>63&64 | (q7-lo)>>63&128 |
				(q8-lo)>>63&256 | (q9-lo)>>63&512 | (q10-lo)>>63&1024 | (q11-lo)>>63&2048 |
				(q12-lo)>>63&4096 | (q13-lo)>>63&8192 | (q14-lo)>>63&16384 | (q15-lo)>>63&32768)
			if !arc9(m) {
				continue
			}
			s := max(0, lo-q0) + max(0, lo-q1) + max(0, lo-q2) + max(0, lo-q3) +
				max(0, lo-q4) + max(0, lo-q5) + max(0, lo-q6) + max(0, lo-q7) +
				max(0, lo-q8) + max(0, lo-q9) + max(0, lo-q10) + max(0, lo-q11) +
				max(0, lo-q12) + max(0, lo-q13) + max(0, lo-q14) + max(0, lo-q15)
			sx := &score[x+bit>>4*2+bit&1]
			*sx = max(*sx, uint16(s))
			corners |= 1 << bit
		}
		for ; corners != 0; corners &= corners - 1 {
			bit := bits.TrailingZeros64(corners)
			xs = append(xs, int32(x+bit>>4*2+bit&1))
		}
	}
	return xs
}

// arc4 returns, at bit 9 of each 16-bit lane (the rest cleared), whether
// 4 circularly contiguous ones of e0..e7 have that bit set.
func arc4(e0, e1, e2, e3, e4, e5, e6, e7 uint64) uint64 {
	p0, p1, p2, p3 := e0&e1, e1&e2, e2&e3, e3&e4
	p4, p5, p6, p7 := e4&e5, e5&e6, e6&e7, e7&e0
	return (p0&p2 | p1&p3 | p2&p4 | p3&p5 | p4&p6 | p5&p7 | p6&p0 | p7&p1) & swarBit9
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
	if len(cs) > 2*n+featureGrid*featureGrid {
		cs = contenders(cs, r, n)
	}
	return pick(cs, r, n)
}

// pick is spread without contenders: it sorts all of cs.
func pick(cs []corner, r image.Rectangle, n int) []corner {
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
		cell := cellOf(c, r)
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

// cellOf returns the cell of spread's grid over r that c is in.
func cellOf(c corner, r image.Rectangle) int {
	return (int(c.y)-r.Min.Y)*featureGrid/r.Dy()*featureGrid + (int(c.x)-r.Min.X)*featureGrid/r.Dx()
}

// contenders returns, in their order, the corners of cs (inside r) that
// spread can pick n of: those among the best n/cells of their cell (as
// spread shares n; 1 at least), or among the best 2n overall (those
// spread picks after the cells' shares, n at most, come after n of them
// at most), with those that tie with either. spread picks the same of
// them as of all, sorting a few hundred corners instead of thousands;
// the bests are found in one pass, a heap of the best 2n scores and a
// short sorted list of each cell's. It reuses cs's array.
func contenders(cs []corner, r image.Rectangle, n int) []corner {
	quota := max(1, n/(featureGrid*featureGrid))
	heap := make([]float32, 0, 2*n) // a min-heap of the best 2n scores so far
	tops := make([]float32, featureGrid*featureGrid*quota)
	var count [featureGrid * featureGrid]int
	cells := make([]uint8, len(cs))
	for i, c := range cs {
		s := c.score
		switch {
		case len(heap) < cap(heap):
			heap = append(heap, s)
			for j := len(heap) - 1; j > 0 && heap[(j-1)/2] > heap[j]; j = (j - 1) / 2 {
				heap[j], heap[(j-1)/2] = heap[(j-1)/2], heap[j]
			}
		case s > heap[0]:
			heap[0] = s
			for j := 0; ; {
				m := j
				if l := 2*j + 1; l < len(heap) && heap[l] < heap[m] {
					m = l
				}
				if r := 2*j + 2; r < len(heap) && heap[r] < heap[m] {
					m = r
				}
				if m == j {
					break
				}
				heap[j], heap[m] = heap[m], heap[j]
				j = m
			}
		}
		k := cellOf(c, r)
		cells[i] = uint8(k)
		top := tops[k*quota:][:quota] // the cell's best, descending
		if count[k] < quota {
			count[k]++
		} else if s <= top[quota-1] {
			continue
		}
		j := count[k] - 1
		for ; j > 0 && top[j-1] < s; j-- {
			top[j] = top[j-1]
		}
		top[j] = s
	}
	best := heap[0]                              // the 2n-th best score
	var least [featureGrid * featureGrid]float32 // the quota-th best of a cell
	for k := range least {
		least[k] = float32(math.Inf(-1))
		if count[k] == quota {
			least[k] = tops[k*quota+quota-1]
		}
	}
	out := cs[:0]
	for i, c := range cs {
		if c.score >= best || c.score >= least[cells[i]] {
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
// around its second. at is the tests' points as offsets in ii (briefAt).
func describe(ii []uint32, w, x, y int, at *[256][2]int, d *[32]byte) {
	stride := w + 1
	c := y*stride + x
	// The corners of the box around a point, as offsets in ii from it.
	a, b := (smoothRadius+1)*stride+smoothRadius+1, -smoothRadius*stride+smoothRadius+1
	e, f := (smoothRadius+1)*stride-smoothRadius, -smoothRadius*stride-smoothRadius
	for k := range 4 {
		var bitsOf uint64
		for _, t := range at[k*64:][:64] {
			p, q := c+t[0], c+t[1]
			box1 := ii[p+a] - ii[p+b] - ii[p+e] + ii[p+f]
			box2 := ii[q+a] - ii[q+b] - ii[q+e] + ii[q+f]
			// Sums of 25 pixels (6375 at most): their difference as a
			// signed number, its sign bit the test's result.
			bitsOf = bitsOf<<1 | uint64(uint32(int32(box1-box2))>>31)
		}
		binary.BigEndian.PutUint64(d[k*8:], bitsOf)
	}
}

// briefAt returns the points of briefPattern's tests as offsets in the
// integral image of a level w pixels wide.
func briefAt(w int) *[256][2]int {
	var at [256][2]int
	for i, t := range briefPattern {
		at[i] = [2]int{int(t.y1)*(w+1) + int(t.x1), int(t.y2)*(w+1) + int(t.x2)}
	}
	return &at
}
