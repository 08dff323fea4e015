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
// and dHash (256 to 512 pixels on the long side for any larger image), so
// they cost no decode or resize of their own; its pyramid spans scales of
// 1 to 2^(featureLevels-1)/4, which covers the scale of a picture padded
// to the other aspect (3.2x) or shown in a screenshot.

const (
	// maxFeatures is the most features kept of an image: 256 at 37 bytes
	// is 9.5 KB an item.
	maxFeatures = 256
	// featureLevels is the most pyramid levels searched: level n is the
	// frame shrunk by 2^(n/4).
	featureLevels = 10
	// fastThreshold is how much brighter or darker than the centre, in
	// luminance levels, the 9 contiguous pixels of the circle of a FAST
	// corner must be. Low, because the Harris response ranks the corners
	// and the grid spreads them: a threshold only keeps flat and nearly
	// flat areas (JPEG noise, gradients) from making corners at all.
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
// stored under EXIF orientation o, with coordinates as displayed.
func stillFeatures(img image.Image, o int) []mediamatch.Feature {
	l := viewLuma(orient(shrink(img), o))
	return lumaFeatures(&l, maxFeatures)
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
	x, y  int
	score float32
}

// lumaFeatures returns at most n features of l, the frame as displayed:
// on each level of its pyramid (while its shorter side is minLevelSide or
// more) a share of n falling by 2^(1/4) a level, as ORB shares its
// features, what a level leaves unused going to the next; within a
// level, the best corners of each cell of a grid first. None for an image
// too small for one patch, or with no corners (a flat image).
func lumaFeatures(l *luma, n int) []mediamatch.Feature {
	return featuresIn(l, image.Rect(0, 0, l.w, l.h), n)
}

// featuresIn is lumaFeatures with corners sought only inside r, in l's
// pixels (their patches may reach outside).
func featuresIn(l *luma, r image.Rectangle, n int) []mediamatch.Feature {
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
	for lv := range levels {
		if lv > 0 {
			// Each level from the one an octave above when there is one,
			// so that no level is reduced from more than twice its size.
			src := &pyr[0]
			if lv >= 4 {
				src = &pyr[lv-4]
			}
			k := math.Pow(2, float64(lv)/4)
			w, h := max(1, int(math.Round(float64(w0)/k))), max(1, int(math.Round(float64(h0)/k)))
			pyr[lv] = luma{w: w, h: h, pix: make([]uint8, w*h)}
			areaReduce(src.w, src.h, 1, planeRows(src.pix, src.w, 0), pyr[lv].pix, w, w, h)
		}
		p := &pyr[lv]
		rl := image.Rect(r.Min.X*p.w/w0, r.Min.Y*p.h/h0, (r.Max.X*p.w+w0-1)/w0, (r.Max.Y*p.h+h0-1)/h0)
		cs := detect(p, rl, scores[:p.w*p.h])
		keep := spread(cs, rl, budget[lv]+carry)
		carry = budget[lv] + carry - len(keep)
		if len(keep) == 0 {
			continue
		}
		sm := smooth(p)
		sx, sy := float64(w0)/float64(p.w), float64(h0)/float64(p.h)
		for _, c := range keep {
			ft := mediamatch.Feature{
				X:     unit((float64(c.x)+0.5)*sx, long0),
				Y:     unit((float64(c.y)+0.5)*sy, long0),
				Level: uint8(lv),
			}
			describe(sm, p.w, c.x, c.y, &ft.Desc)
			out = append(out, ft)
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
// of the Harris response among their 8 neighbours, featureBorder or more
// from its edges, in raster order. scores is scratch of p's size, left
// zeroed.
func detect(p *luma, r image.Rectangle, scores []float32) []corner {
	w, h, pix := p.w, p.h, p.pix
	var off [16]int
	for i, c := range fastCircle {
		off[i] = c[1]*w + c[0]
	}
	var found []corner
	for y := max(featureBorder, r.Min.Y); y < min(h-featureBorder, r.Max.Y); y++ {
		for x := max(featureBorder, r.Min.X); x < min(w-featureBorder, r.Max.X); x++ {
			i := y*w + x
			v := int(pix[i])
			hi, lo := v+fastThreshold, v-fastThreshold
			// Any 9 contiguous pixels of the 16 include 2 of the 4 at
			// the compass points: most pixels are out after 4 reads.
			nb, nd := 0, 0
			for _, k := range [4]int{0, 4, 8, 12} {
				if q := int(pix[i+off[k]]); q > hi {
					nb++
				} else if q < lo {
					nd++
				}
			}
			if nb < 2 && nd < 2 {
				continue
			}
			var bright, dark uint32
			for k := range 16 {
				q := int(pix[i+off[k]])
				if q > hi {
					bright |= 1 << k
				} else if q < lo {
					dark |= 1 << k
				}
			}
			if !arc9(bright) && !arc9(dark) {
				continue
			}
			s := harris(pix, w, x, y)
			if s <= 0 {
				continue
			}
			scores[i] = s
			found = append(found, corner{x, y, s})
		}
	}
	// Non-maximum suppression: a corner stays if it scores more than
	// its neighbours before it in raster order and no less than those
	// after, so that of two equal neighbours the first stays.
	var kept []corner
	for _, c := range found {
		i := c.y*w + c.x
		s := scores[i]
		if s > scores[i-w-1] && s > scores[i-w] && s > scores[i-w+1] && s > scores[i-1] &&
			s >= scores[i+1] && s >= scores[i+w-1] && s >= scores[i+w] && s >= scores[i+w+1] {
			kept = append(kept, c)
		}
	}
	for _, c := range found {
		scores[c.y*w+c.x] = 0
	}
	return kept
}

// arc9 reports whether the 16-bit circular mask m has 9 contiguous bits set.
func arc9(m uint32) bool {
	m |= m << 16
	r := m
	for k := 1; k < 9; k++ {
		r &= m >> k
	}
	return r&0xffff != 0
}

// harris returns the Harris corner response at (x, y) of the w-wide pix,
// over a 7x7 window of central-difference gradients.
func harris(pix []uint8, w, x, y int) float32 {
	var a, b, c int64
	for dy := -3; dy <= 3; dy++ {
		r := (y+dy)*w + x
		for dx := -3; dx <= 3; dx++ {
			i := r + dx
			gx := int64(pix[i+1]) - int64(pix[i-1])
			gy := int64(pix[i+w]) - int64(pix[i-w])
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
	slices.SortStableFunc(cs, func(a, b corner) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	if len(cs) <= n {
		return cs
	}
	quota := max(1, n/(featureGrid*featureGrid))
	var inCell [featureGrid * featureGrid]int
	taken := make([]bool, len(cs))
	out := make([]corner, 0, n)
	for i, c := range cs {
		cell := (c.y-r.Min.Y)*featureGrid/r.Dy()*featureGrid + (c.x-r.Min.X)*featureGrid/r.Dx()
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

// smooth returns the sums of p over (2*smoothRadius+1)^2 boxes (edges
// clamped), the smoothing BRIEF's tests need to be stable under noise and
// re-encoding.
func smooth(p *luma) []uint16 {
	w, h := p.w, p.h
	tmp := make([]uint16, w*h)
	for y := range h {
		row := p.pix[y*w : (y+1)*w]
		var s int
		for k := -smoothRadius; k <= smoothRadius; k++ {
			s += int(row[min(w-1, max(0, k))])
		}
		for x := range w {
			tmp[y*w+x] = uint16(s)
			s += int(row[min(w-1, x+smoothRadius+1)]) - int(row[max(0, x-smoothRadius)])
		}
	}
	out := make([]uint16, w*h)
	for x := range w {
		var s int
		for k := -smoothRadius; k <= smoothRadius; k++ {
			s += int(tmp[min(h-1, max(0, k))*w+x])
		}
		for y := range h {
			out[y*w+x] = uint16(s)
			s += int(tmp[min(h-1, y+smoothRadius+1)*w+x]) - int(tmp[max(0, y-smoothRadius)*w+x])
		}
	}
	return out
}

// describe sets d to the descriptor of the corner at (x, y) of the
// smoothed w-wide level sm: bit i (most significant first) is test i of
// briefPattern.
func describe(sm []uint16, w, x, y int, d *[32]byte) {
	c := y*w + x
	*d = [32]byte{}
	for i, t := range briefPattern {
		if sm[c+int(t.y1)*w+int(t.x1)] < sm[c+int(t.y2)*w+int(t.x2)] {
			d[i/8] |= 0x80 >> (i % 8)
		}
	}
}
