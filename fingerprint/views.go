package fingerprint

import (
	"image"
	"slices"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/fingerprint/pdq"
)

// This file finds the views of a frame (mediamatch.View) and hashes them
// with PDQ: the picture with its bars and borders trimmed, and fixed
// regions that leave out a band where captions and logos go, or that a
// centred zoom keeps. Both sides of a match are hashed by this code and
// any view of an upload may match any view of an item, so what matters is
// that an edit of a picture and the picture itself yield one view of the
// same pixels, not that a view equals the reference PDQ of some cropped
// file.
//
// A still image has, besides its whole-frame PDQ (the reference
// pipeline's, bit for bit: pdq.go), up to 7 views: the trimmed content
// and, where it differs, the outer cut (trimBars), both hashed by the
// reference pipeline from the decoded pixels inside the bars, their sides
// set onto a flat bar's end at full resolution (refineCut), so that a
// padded copy's trimmed view meets the item's whole-frame hash
// (TestTrimmedView and TestOuterTrimmedView bound the distance at 20
// bits); then regions hashed from the luminance of the image already
// shrunk for pHash and dHash (256 to 512 pixels on the long side): the
// frame without its top or bottom fifth, the same of the trimmed content,
// and the centred window of the content (or of the frame). That is 4 PDQ
// signals for a picture without bars and 7 or 8 with, at 1.0-1.5x the
// cost of hashing without views (BenchmarkHashViews). A video frame has
// only its trimmed view, from its luminance area-averaged to viewSide
// pixels, so that letterboxed, pillarboxed and reframed clips are found at
// little cost per frame.

// viewSide is the long side, in pixels, of the luminance image that a
// video frame's bars are found and its trimmed view hashed on. PDQ
// samples 64x64 points after a tent filter: a picture of a third of the
// frame (a 16:9 clip reframed to 9:16) still has more than one pixel a
// sample.
const viewSide = 256

// luma is a luminance image, 0..255, w by h, row-major.
type luma struct {
	w, h int
	pix  []uint8
}

// at returns the value at column x, row y.
func (l *luma) at(x, y int) uint8 { return l.pix[y*l.w+x] }

// viewLuma returns the luminance of small, the frame as displayed and
// already shrunk for pHash and dHash (shrink: 256 to 512 pixels on the
// long side for any larger frame), at its size.
func viewLuma(small image.Image) luma {
	b := small.Bounds()
	l := luma{w: b.Dx(), h: b.Dy(), pix: make([]uint8, b.Dx()*b.Dy())}
	row := lumaRows(small)
	for y := range l.h {
		row(y, l.pix[y*l.w:(y+1)*l.w])
	}
	return l
}

// reduceLuma returns the luminance of img area-averaged to viewSide
// pixels on its long side, or at its size if no larger: for video frames,
// which come at full size.
func reduceLuma(img image.Image) luma { return reduceLumaTo(img, viewSide) }

// reduceLumaTo is reduceLuma to side pixels on the long side.
func reduceLumaTo(img image.Image, side int) luma {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if long := max(w, h); long > side {
		dw = max(1, (w*side+long/2)/long)
		dh = max(1, (h*side+long/2)/long)
	}
	l := luma{w: dw, h: dh, pix: make([]uint8, dw*dh)}
	if w > 0 && h > 0 {
		areaReduce(w, h, 1, lumaRows(img), l.pix, dw, dw, dh)
	}
	return l
}

// Trimming. A line (row or column) of the frame belongs to a bar when it
// is flat (most of its pixels within barTolerance of one level: black,
// white or any colour's luminance, with JPEG noise and a little text such
// as a caption, a status bar or an app's header) or when it is far
// smoother along its length than the lines of the picture (a bar filled
// with a blurred, enlarged copy of the picture, as short-video apps pad
// to 16:9 and 9:16). Bars are taken from each edge inwards while the lines
// qualify, and kept only if they are thick enough to be an edit.
const (
	// barTolerance is how far, in luminance levels, a pixel may be from
	// a flat line's level. Flat bars in a JPEG stay within it (the
	// shrink for pHash averages the noise; TestTrimmedView's JPEG case),
	// while a low-contrast texture (skimage/brick.png) does not: with 10,
	// the brick's rows counted as flat and a padded copy was not trimmed.
	// Measured on the shared originals padded and framed by the eval's
	// edits, 6 found 1-2 more of 21 per pad edit than 4 or 10.
	barTolerance = 6
	// barFlat is the share of a line's pixels that must lie at its level.
	// Text over a bar (white on black captions, a screenshot's header
	// and footer) covers well under a quarter of a line.
	barFlat = 0.75
	// barSmooth is the ratio of a line's mean gradient along its length
	// to that of the picture's busiest lines (barBusyRank) under which the
	// line counts as a blurred bar. The pads of short-video apps blur the
	// picture enlarged by 2x or more, leaving a tenth of its gradient or
	// less.
	barSmooth = 0.2
	// barBusyRank is the quantile of line activity taken as the picture's:
	// bars may cover two thirds of the frame (a landscape picture padded
	// to 9:16), so a median would measure the bars.
	barBusyRank = 0.9
	// minBar is the thinnest bar trimmed, in thousandths of the side: a
	// line or two of edge noise is not a border.
	minBar = 20
	// barGap is the longest run of other lines, in thousandths of the
	// side, taken into a bar between its lines: a line of text in a
	// screenshot's footer is 2-3% of the frame's height.
	barGap = 40
	// barEdge and barEdgeMin say what a pasted edge is: a step between
	// two lines barEdge times the picture's median step between lines,
	// and barEdgeMin luminance levels at least.
	barEdge    = 2.5
	barEdgeMin = 8
	// barBusy is the activity, as a share of the picture's (barBusyRank),
	// of the three lines inside a smooth bar that make its end an edge
	// even without a step: a textured picture starting at once.
	barBusy = 0.5
	// pairEdge is barEdge for the two steps of a centred pair
	// (centredPair), each weaker alone, and pairSlack how far, in lines,
	// the second may be from the first's mirror (rounding of the pad and
	// of the shrink).
	pairEdge  = 1.5
	pairSlack = 2
	// minContent is the smallest content kept, in thousandths of each
	// side: a 16:9 picture padded to 9:16 keeps 316.
	minContent = 200
)

// trim returns the content of l inside its bars and borders, and false if
// it has none worth trimming (the content is l itself, or too small to be
// the picture). The columns are judged over the content rows found so far
// and the rows over the content columns, until neither changes (at most 4
// rounds), so that a picture padded both ways (a border around a
// letterbox) is trimmed on all sides.
func trim(l *luma) (image.Rectangle, bool) { return newLines(l).trimBars(false) }

// trims returns what trim returns, c, and the outer cut o of l (see
// bars; the whole frame if it has none), measuring each line once for
// both: the outer cut judges the lines across the whole frame, as trim's
// first round does.
func trims(l *luma) (c image.Rectangle, o image.Rectangle) {
	ls := newLines(l)
	c, _ = ls.trimBars(false)
	o, _ = ls.trimBars(true)
	return c, o
}

// lines measures the lines of a luminance image for bars, keeping the
// measures of each region and direction asked for, which trim and the
// outer cut share.
type lines struct {
	l    *luma
	seen []*lineStats
}

func newLines(l *luma) *lines { return &lines{l: l} }

// trimBars is trim; if outer, only the bars that run on at the level of
// the frame's edge line are cut (see bars).
func (ls *lines) trimBars(outer bool) (image.Rectangle, bool) {
	l := ls.l
	r := image.Rect(0, 0, l.w, l.h)
	if l.w < 8 || l.h < 8 {
		return r, false
	}
	if outer {
		// One pass, each line judged across the whole frame: the edge
		// lines are then the bars' own, not the picture's.
		x0, x1 := ls.bars(r, false, true)
		y0, y1 := ls.bars(r, true, true)
		r = image.Rect(x0, y0, x1, y1)
		if r.Dx() <= 2 || r.Dy() <= 2 {
			return image.Rect(0, 0, l.w, l.h), false
		}
	}
	for i := 0; i < 4 && !outer; i++ {
		prev := r
		// Each direction is cut afresh from the frame's edges, judged
		// over the content found in the other: a column of dark picture
		// under black letterbox bars looks like a bar until the bars are
		// left out, and must not stay cut once they are.
		r.Min.X, r.Max.X = ls.bars(image.Rect(0, r.Min.Y, l.w, r.Max.Y), false, outer)
		if r.Dx() <= 2 {
			return image.Rect(0, 0, l.w, l.h), false
		}
		r.Min.Y, r.Max.Y = ls.bars(image.Rect(r.Min.X, 0, r.Max.X, l.h), true, outer)
		if r.Dy() <= 2 {
			return image.Rect(0, 0, l.w, l.h), false
		}
		if r == prev {
			break
		}
	}
	if r.Dx()*1000 < minContent*l.w || r.Dy()*1000 < minContent*l.h {
		return image.Rect(0, 0, l.w, l.h), false
	}
	return r, r != image.Rect(0, 0, l.w, l.h)
}

// lineStats are the measures of the lines (rows if rows, else columns) of
// the region r of a luminance image, each line judged over r's extent in
// the other direction: whether it is flat and at what level, its
// activity (mean second difference along it), the picture's activity
// (barBusyRank of the lines'), and the mean steps between neighbouring
// lines, worked out when first asked for.
type lineStats struct {
	r     image.Rectangle
	rows  bool
	flat  []bool
	level []int
	act   []float64
	busy  float64
	// crossed[i] is the mean step between lines i-1 and i, once worked
	// out (see cross).
	crossed []float64
}

// cross returns the mean steps between neighbouring lines of s's region
// of l: [i] between lines i-1 and i, [0] unused. They are worked out all
// at once when first asked for: the cut asks for most of them when it
// asks for any (the steps within a smooth run, a centred pair's
// candidates), and steps between columns are then summed along rows, as
// the pixels lie, rather than down each column.
func (s *lineStats) cross(l *luma) []float64 {
	if s.crossed != nil {
		return s.crossed
	}
	r := s.r
	n, lo, hi, first := r.Dx(), r.Min.Y, r.Max.Y, r.Min.X // lines, over [lo, hi) along them
	if s.rows {
		n, lo, hi, first = r.Dy(), r.Min.X, r.Max.X, r.Min.Y
	}
	sums := make([]int, n)
	if s.rows {
		for i := 1; i < n; i++ {
			cur, prev := l.pix[(first+i)*l.w+lo:][:hi-lo], l.pix[(first+i-1)*l.w+lo:][:hi-lo]
			sum := 0
			for k, v := range cur {
				d := int(v) - int(prev[k])
				sum += (d ^ d>>63) - d>>63 // |d|, without a branch on its sign
			}
			sums[i] = sum
		}
	} else if n > 1 {
		for y := lo; y < hi; y++ {
			row := l.pix[y*l.w+first:][:n]
			for i := 1; i < n; i++ {
				d := int(row[i]) - int(row[i-1])
				sums[i] += (d ^ d>>63) - d>>63
			}
		}
	}
	s.crossed = make([]float64, n)
	for i := 1; i < n; i++ {
		s.crossed[i] = float64(sums[i]) / float64(hi-lo)
	}
	return s.crossed
}

// stats returns the measures of the lines of r, rows if rows, made once.
func (ls *lines) stats(r image.Rectangle, rows bool) *lineStats {
	for _, s := range ls.seen {
		if s.r == r && s.rows == rows {
			return s
		}
	}
	l := ls.l
	n, lo, hi := r.Dx(), r.Min.X, r.Max.X // lines, over [lo, hi) along them
	first := r.Min.X
	if rows {
		n, lo, hi, first = r.Dy(), r.Min.X, r.Max.X, r.Min.Y
	} else {
		lo, hi = r.Min.Y, r.Max.Y
	}
	st := &lineStats{r: r, rows: rows, flat: make([]bool, n), level: make([]int, n), act: make([]float64, n)}
	flat, level, act := st.flat, st.level, st.act
	// Two histograms, of the even and the odd pixels of a line: counting
	// into one, a run of equal pixels makes each count wait for the last.
	var hist [2][256]int32
	for i := range n {
		clear(hist[0][:])
		clear(hist[1][:])
		// The line's pixels, from start a step apart (a row's are next
		// to each other).
		start, step := (first+i)*l.w+lo, 1
		if !rows {
			start, step = lo*l.w+first+i, l.w
		}
		sum := lineScan(l.pix, start, step, hi-lo, &hist)
		// The most pixels in any window of 2*barTolerance+1 levels.
		best, win := 0, 0
		for v := 0; v < 256; v++ {
			win += int(hist[0][v] + hist[1][v])
			if v > 2*barTolerance {
				win -= int(hist[0][v-2*barTolerance-1] + hist[1][v-2*barTolerance-1])
			}
			if win > best {
				best, level[i] = win, v-barTolerance
			}
		}
		flat[i] = float64(best) >= barFlat*float64(hi-lo)
		act[i] = float64(sum) / float64(max(hi-lo-2, 1))
	}
	sorted := slices.Clone(act)
	slices.Sort(sorted)
	st.busy = sorted[min(n-1, int(barBusyRank*float64(n)))]
	ls.seen = append(ls.seen, st)
	return st
}

// lineScan counts the n pixels of pix from start, step apart, into hist
// (even ones into hist[0], odd ones into hist[1]: counting into one, a run
// of equal pixels makes each count wait for the last) and returns the sum
// of their absolute second differences |v - 2*p1 + p2|.
func lineScan(pix []uint8, start, step, n int, hist *[2][256]int32) int {
	if n < 2 {
		if n == 1 {
			hist[0][pix[start]]++
		}
		return 0
	}
	p2, p1 := int(pix[start]), int(pix[start+step]) // the two values before v
	hist[0][p2]++
	hist[1][p1]++
	sum := 0
	j := start + 2*step
	for k := 2; k < n; k++ {
		v := int(pix[j])
		hist[k&1][v]++
		// Without a branch on the sign, which is as often one as the
		// other.
		d := v - 2*p1 + p2
		sum += (d ^ d>>63) - d>>63
		p1, p2 = v, p1
		j += step
	}
	return sum
}

// bars returns the extent [lo, hi) of the content between bars, of the
// rows of r if rows, else of its columns, each line judged over r's
// extent in the other direction. A bar thinner than minBar is not cut.
// If outer, flat lines count only at an edge line's level, and a centred
// pair of edges (centredPair) cuts where a side is left uncut.
func (ls *lines) bars(r image.Rectangle, rows, outer bool) (int, int) {
	l := ls.l
	n, first, side := r.Dx(), r.Min.X, l.w // lines, the first's index, the frame's side they lie along
	if rows {
		n, first, side = r.Dy(), r.Min.Y, l.h
	}
	st := ls.stats(r, rows)
	flat, level, act, busy := st.flat, st.level, st.act, st.busy
	smooth := func(i int) bool { return flat[i] || act[i] < barSmooth*busy }
	flatOnly := func(i int) bool { return flat[i] }
	if outer && n > 0 {
		// The outer cut: a bar is of the colour of an edge line of the
		// frame (a pad's, or a screenshot's header and footer, white at
		// both ends under a black status bar at one), so a flat line at
		// another level (the picture's own flat sky or dark ground, or a
		// texture flat enough to pass) ends it.
		at := func(i, edge int) bool { return flat[edge] && abs(level[i]-level[edge]) <= barTolerance }
		flatOnly = func(i int) bool { return flat[i] && (at(i, 0) || at(i, n-1)) }
	}
	// cross returns the mean step between lines i-1 and i.
	cross := func(i int) float64 {
		if i <= 0 || i >= n {
			return 0
		}
		return st.cross(l)[i]
	}
	a, b := run(flatOnly, n, side)
	// A blurred bar is relative (smoother than the picture), and the
	// soft background of a photo is smooth too; what sets the bar apart
	// is the straight edge where the picture is pasted over it. So within
	// a run of smooth lines at an end, the cut is made at the strongest
	// step between two lines, and only if that step is an edge: barEdge
	// times the median step between the lines left, and barEdgeMin levels.
	if sa, sb := run(smooth, n, side); sa > a || sb < b {
		var steps []float64
		for i := sa + 1; i < sb; i++ {
			steps = append(steps, cross(i))
		}
		slices.Sort(steps)
		typical := 0.0
		if len(steps) > 0 {
			typical = steps[len(steps)/2]
		}
		strongest := func(from, to int) (int, bool) {
			best, at := 0.0, 0
			for i := max(from, 1); i <= min(to, n-1); i++ {
				if c := cross(i); c > best {
					best, at = c, i
				}
			}
			return at, best >= barEdge*typical && best >= barEdgeMin
		}
		// Over a textured picture (grass, gravel) every step between
		// lines is large, the edge's too; there the bar ends where the
		// texture starts at once: the lines just inside are busy.
		busyAt := func(i, dir int) bool {
			var sum float64
			for k := range 3 {
				j := min(max(i+k*dir, 0), n-1)
				sum += act[j]
			}
			return sum/3 >= barBusy*busy
		}
		// A flat bar that ends at an edge is the bar: smooth lines inside
		// it are the picture's own soft edge.
		edgeAt := func(i int) bool {
			e := max(cross(i-1), cross(i), cross(i+1))
			return e >= barEdge*typical && e >= barEdgeMin
		}
		if sa > a && (a == 0 || !edgeAt(a)) {
			if i, ok := strongest(a+1, sa+1); ok && i > a {
				a = i
			} else if busyAt(sa, 1) {
				a = sa
			}
		}
		if sb < b && (b == n || !edgeAt(b)) {
			if i, ok := strongest(sb-1, b-1); ok && i < b {
				b = i
			} else if busyAt(sb-1, -1) {
				b = sb
			}
		}
	}
	if outer && (a == 0 || b == n) {
		if i, j, ok := centredPair(act, cross, n, side); ok {
			a, b = i, j
		}
	}
	if a*1000 < minBar*side {
		a = 0
	}
	if (n-b)*1000 < minBar*side {
		b = n
	}
	return first + a, first + b
}

// centredPair returns the ends [i, j) of a picture pasted centred over a
// blurred copy of itself (the pads of short-video apps), found as two
// steps between lines at mirrored places, each the stronger for its
// mirror (so neither is one of the picture's own), with lines outside them
// smoother than inside; false if there is no such pair. The steps of a
// picture with a soft edge (a sky, a dark ground) are weak on that side
// alone, which the mirrored step makes up for.
func centredPair(act []float64, cross func(int) float64, n, side int) (int, int, bool) {
	if n < 16 {
		return 0, n, false
	}
	// The picture's typical step, from its central fifth: the picture
	// covers at least minContent of the side, centred.
	var mid []float64
	for i := n * 2 / 5; i < n*3/5; i++ {
		mid = append(mid, cross(i))
	}
	slices.Sort(mid)
	typical := mid[len(mid)/2]
	best, bi, bj := 0.0, 0, n
	for i := max(1, (minBar*side+999)/1000); i*2000 <= n*(1000-minContent); i++ {
		ci := cross(i)
		if ci < barEdgeMin {
			continue
		}
		for d := -pairSlack; d <= pairSlack; d++ {
			j := n - i + d
			if j <= i || j >= n {
				continue
			}
			if e := min(ci, cross(j)); e > best {
				best, bi, bj = e, i, j
			}
		}
	}
	if best < barEdgeMin || best < pairEdge*typical {
		return 0, n, false
	}
	var out, in float64
	for k := range n {
		if k < bi || k >= bj {
			out += act[k]
		} else {
			in += act[k]
		}
	}
	out /= float64(n - (bj - bi))
	in /= float64(bj - bi)
	if out >= barBusy*in {
		return 0, n, false
	}
	return bi, bj, true
}

// run returns the extent [a, b) of n lines left between the runs of bar
// lines at either end, side the frame's side along which they lie.
func run(bar func(int) bool, n, side int) (int, int) {
	// Lines of text over a bar (a screenshot's header and footer, a
	// caption) interrupt it for a few lines: a run of other lines no
	// longer than barGap between bar lines is taken as part of the bar.
	gap := max(1, barGap*side/1000)
	a := 0
	for i := 0; i < n && i-a < gap; i++ {
		if bar(i) {
			a = i + 1
		}
	}
	b := n
	for i := n - 1; i >= a && b-1-i < gap; i-- {
		if bar(i) {
			b = i
		}
	}
	return a, b
}

// Fixed regions, in thousandths of the base they cut (the frame, or the
// trimmed content). A caption bar or a corner logo leaves the rest of the
// picture untouched, so the picture without the band it covers is the
// same view of the item and of the captioned copy: captionCut covers the
// captions of the usual apps (up to a fifth of the height) and a logo in
// a corner (15% of the shorter side and its margin, which a band of a
// fifth of the height holds whenever the height is the shorter side or
// not much longer).
const captionCut = 200

// centreKeep is the share, in thousandths a side, of the centred window
// hashed as one more view: the zoom that apps apply to fill a frame
// crops the picture evenly around its centre. Crops at other positions
// are not covered: PDQ is sensitive to shifts (its 16x16 DCT's highest
// frequencies turn a half-cycle every 3% of the side), and measured on
// the shared photos a grid of 3x3 windows of 90% (the nearest within
// 2.5% of any 10% crop) found 3 of 21 crops, median distance 60, while
// it brought the stereo pair skimage/motorcycle_left/right (a hard
// negative: the same scene seen a few per cent apart) from 44 to 38 bits.
const centreKeep = 900

// outerApart is how far, in thousandths of the side, the outer cut must
// be from the full one to be hashed as a view of its own.
const outerApart = 10

// viewRegion is one region to hash, in pixels of the view luminance.
type viewRegion struct {
	view mediamatch.View
	rect image.Rectangle
}

// regionsOf returns the views to hash of a frame whose luminance is l,
// besides the whole frame and the trimmed content c (trimmed says there
// is one): the caption cuts of the frame and of the content, and the crop
// windows of the content (of the frame if nothing was trimmed).
func regionsOf(l *luma, c image.Rectangle, trimmed bool) []viewRegion {
	whole := image.Rect(0, 0, l.w, l.h)
	var vs []viewRegion
	add := func(trimmed bool, r image.Rectangle) {
		if r.Dx() < pdq.MinSide || r.Dy() < pdq.MinSide {
			return
		}
		v := mediamatch.View{Region: toRegion(r, l), Trimmed: trimmed}
		if v.Whole() || trimmed && r == c {
			return
		}
		for _, o := range vs {
			if o.view == v {
				return
			}
		}
		vs = append(vs, viewRegion{view: v, rect: r})
	}
	cuts := func(trimmed bool, b image.Rectangle) {
		for _, r := range captionCuts(b) {
			add(trimmed, r)
		}
	}
	base := whole
	if trimmed {
		base = c
	}
	cuts(false, whole)
	if trimmed {
		cuts(true, c)
	}
	m := (1000 - centreKeep) / 2
	add(trimmed, sub(base, m, m, 1000-m, 1000-m))
	return vs
}

// captionCuts returns b without its top and without its bottom
// captionCut thousandths: the parts a caption bar or a corner logo over
// that band leaves intact.
func captionCuts(b image.Rectangle) [2]image.Rectangle {
	cut := (b.Dy()*captionCut + 500) / 1000
	return [2]image.Rectangle{
		image.Rect(b.Min.X, b.Min.Y+cut, b.Max.X, b.Max.Y),
		image.Rect(b.Min.X, b.Min.Y, b.Max.X, b.Max.Y-cut),
	}
}

// apart reports whether two cuts of l differ on some side by more than
// outerApart thousandths of it.
func apart(a, b image.Rectangle, l *luma) bool {
	dx, dy := outerApart*l.w/1000, outerApart*l.h/1000
	return abs(a.Min.X-b.Min.X) > dx || abs(a.Max.X-b.Max.X) > dx ||
		abs(a.Min.Y-b.Min.Y) > dy || abs(a.Max.Y-b.Max.Y) > dy
}

// sub returns the part of r from x0, y0 to x1, y1 thousandths of it.
func sub(r image.Rectangle, x0, y0, x1, y1 int) image.Rectangle {
	w, h := r.Dx(), r.Dy()
	return image.Rect(r.Min.X+(w*x0+500)/1000, r.Min.Y+(h*y0+500)/1000,
		r.Min.X+(w*x1+500)/1000, r.Min.Y+(h*y1+500)/1000)
}

// toRegion returns r, in pixels of l, in thousandths of the frame.
func toRegion(r image.Rectangle, l *luma) mediamatch.Region {
	return mediamatch.Region{
		X0: r.Min.X * 1000 / l.w, Y0: r.Min.Y * 1000 / l.h,
		X1: (r.Max.X*1000 + l.w - 1) / l.w, Y1: (r.Max.Y*1000 + l.h - 1) / l.h,
	}
}

// lumaDigests returns the PDQ digests of the rectangles rs of l (each at
// least pdq.MinSide a side, inside l), those of the same columns sharing
// their first filter pass (pdq.FromGrayRegions).
func lumaDigests(l *luma, rs []image.Rectangle) []pdq.Digest {
	ds, err := pdq.FromGrayRegions(&image.Gray{Pix: l.pix, Stride: l.w, Rect: image.Rect(0, 0, l.w, l.h)}, rs)
	if err != nil { // the callers' regions are inside and large enough
		panic("fingerprint: lumaDigests: " + err.Error())
	}
	return ds
}

// viewSignals returns the PDQ signals of the views of a frame whose
// luminance is l, content c and outer cut o (what trims(l) returns; the
// caller shares c with contentFeatures), each with its View and its own
// quality: the trimmed content, hashed by trimmed (its rectangle in pixels
// of l) if it has bars or borders, and the outer cut likewise where it is
// apart from the content, then the regions of regionsOf, hashed from l.
func viewSignals(l *luma, c, o image.Rectangle, trimmed func(image.Rectangle) (pdq.Digest, bool)) []mediamatch.Signal {
	var sigs []mediamatch.Signal
	add := func(v mediamatch.View, d *pdq.Digest) {
		s := pdqSignal(d, mediamatch.TransformNone, mediamatch.TransformNone)
		s.View = v
		sigs = append(sigs, s)
	}
	ok := c != image.Rect(0, 0, l.w, l.h)
	if ok {
		if d, ok := trimmed(c); ok {
			add(mediamatch.View{Region: toRegion(c, l), Trimmed: true}, &d)
		}
	}
	if o != image.Rect(0, 0, l.w, l.h) && (!ok || apart(o, c, l)) {
		if d, ok := trimmed(o); ok {
			add(mediamatch.View{Region: toRegion(o, l), Trimmed: true}, &d)
		}
	}
	vs := regionsOf(l, c, ok)
	rs := make([]image.Rectangle, len(vs))
	for i, v := range vs {
		rs[i] = v.rect
	}
	for i, d := range lumaDigests(l, rs) {
		add(vs[i].view, &d)
	}
	return sigs
}

// frameViewSignals returns the PDQ views of a video frame whose luminance
// is l: its trimmed view when it has bars or borders (letterboxes,
// pillarboxes and the blurred pads of a reframed clip are the edits that
// move the picture), and the picture (the trimmed one, if any) without its
// top or bottom fifth, which a corner watermark or a caption over the
// clip leaves intact, as a still's caption cuts do. At most 3 a frame: a
// video has many frames, so not the still's centred window.
func frameViewSignals(l *luma) []mediamatch.Signal {
	var vs []mediamatch.View
	var rs []image.Rectangle
	add := func(v mediamatch.View, r image.Rectangle) {
		if r.Dx() >= pdq.MinSide && r.Dy() >= pdq.MinSide {
			vs, rs = append(vs, v), append(rs, r)
		}
	}
	base, trimmed := trim(l)
	if trimmed {
		add(mediamatch.View{Region: toRegion(base, l), Trimmed: true}, base)
	} else {
		base = image.Rect(0, 0, l.w, l.h)
	}
	for _, r := range captionCuts(base) {
		add(mediamatch.View{Region: toRegion(r, l), Trimmed: trimmed}, r)
	}
	var sigs []mediamatch.Signal
	for i, d := range lumaDigests(l, rs) {
		s := pdqSignal(&d, mediamatch.TransformNone, mediamatch.TransformNone)
		s.View = vs[i]
		sigs = append(sigs, s)
	}
	return sigs
}

// pdqImageRect returns the PDQ digest of the part r of a still image as
// displayed under EXIF orientation o, r given in pixels of a luminance
// image of lw x lh of the displayed frame, by the reference photo
// pipeline on that part of the decoded pixels: the trimmed view of a
// padded or bordered copy is then hashed the way the item's whole frame
// was, from as many pixels.
func pdqImageRect(img image.Image, o int, r image.Rectangle, lw, lh int) (pdq.Digest, bool) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy() // stored
	dw, dh := w, h         // displayed
	if o >= 5 && o <= 8 {
		dw, dh = h, w
	}
	x0, x1 := r.Min.X*dw/lw, (r.Max.X*dw+lw-1)/lw
	y0, y1 := r.Min.Y*dh/lh, (r.Max.Y*dh+lh-1)/lh
	// The displayed rectangle [x0, x1) x [y0, y1) in stored pixels; a
	// mirrored axis maps [a, b) to [n-b, n-a).
	var s image.Rectangle
	switch o {
	default:
		s = image.Rect(x0, y0, x1, y1)
	case 2:
		s = image.Rect(w-x1, y0, w-x0, y1)
	case 3:
		s = image.Rect(w-x1, h-y1, w-x0, h-y0)
	case 4:
		s = image.Rect(x0, h-y1, x1, h-y0)
	case 5:
		s = image.Rect(y0, x0, y1, x1)
	case 6:
		s = image.Rect(y0, h-x1, y1, h-x0)
	case 7:
		s = image.Rect(w-y1, h-x1, w-y0, h-x0)
	case 8:
		s = image.Rect(w-y1, x0, w-y0, x1)
	}
	s = refineCut(img, s.Add(b.Min), (w+lw-1)/lw+(h+lh-1)/lh+1).Sub(b.Min)
	si, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	})
	if !ok {
		return pdq.Digest{}, false
	}
	sub := si.SubImage(s.Add(b.Min))
	d, err := pdq.FromOrientedImage(sub, pdq.Orientation(o))
	return d, err == nil
}

// refineCut returns the cut s of img, in its coordinates, with each side
// that lies against a flat bar moved onto the bar's end to the pixel: the
// cut was found on a luminance image a few times smaller, and a picture
// of fine texture (skimage/brick.png) shifted by a pixel or two of its
// own moves its PDQ by 50 bits. k is how many pixels of img a line of
// that luminance image covers, and a little more.
func refineCut(img image.Image, s image.Rectangle, k int) image.Rectangle {
	b := img.Bounds()
	const samples = 64
	// lineLuma returns the luminance of samples pixels spread over the
	// line at x (a column) or y (a row), across s's extent the other way.
	lineLuma := func(at int, rows bool) []int {
		lo, hi := s.Min.Y, s.Max.Y
		if rows {
			lo, hi = s.Min.X, s.Max.X
		}
		out := make([]int, 0, samples)
		for i := range samples {
			p := lo + (2*i+1)*(hi-lo)/(2*samples)
			x, y := at, p
			if rows {
				x, y = p, at
			}
			r, g, bb, _ := img.At(x, y).RGBA()
			out = append(out, int((19595*r+38470*g+7471*bb+1<<15)>>24))
		}
		return out
	}
	// share returns the share of v within barTolerance of level.
	share := func(v []int, level int) float64 {
		n := 0
		for _, x := range v {
			if abs(x-level) <= barTolerance {
				n++
			}
		}
		return float64(n) / float64(len(v))
	}
	// side returns the side at edge (the first line inside the cut,
	// the bar outside it at edge-dir*k) moved onto the end of the bar,
	// and false if there is no flat bar there to move it onto.
	side := func(edge, dir int, rows bool, limLo, limHi int) (int, bool) {
		out := edge - dir*k
		if out < limLo || out >= limHi {
			return 0, false
		}
		ref := lineLuma(out, rows)
		sorted := slices.Clone(ref)
		slices.Sort(sorted)
		level := sorted[len(sorted)/2]
		if share(ref, level) < 0.9 {
			return 0, false // no flat bar there: a blurred pad, or none
		}
		for at := out; at != edge+dir*k; at += dir {
			if at < limLo || at >= limHi {
				return 0, false
			}
			if share(lineLuma(at, rows), level) < barFlat {
				if dir > 0 {
					return at, true
				}
				return at + 1, true
			}
		}
		return 0, false
	}
	r := s
	if v, ok := side(s.Min.X, 1, false, b.Min.X, b.Max.X); ok && s.Min.X > b.Min.X {
		r.Min.X = v
	}
	if v, ok := side(s.Max.X-1, -1, false, b.Min.X, b.Max.X); ok && s.Max.X < b.Max.X {
		r.Max.X = v
	}
	if v, ok := side(s.Min.Y, 1, true, b.Min.Y, b.Max.Y); ok && s.Min.Y > b.Min.Y {
		r.Min.Y = v
	}
	if v, ok := side(s.Max.Y-1, -1, true, b.Min.Y, b.Max.Y); ok && s.Max.Y < b.Max.Y {
		r.Max.Y = v
	}
	if r.Dx() < s.Dx()/2 || r.Dy() < s.Dy()/2 {
		return s
	}
	return r
}
