package pdq

import (
	"errors"
	"fmt"
	"image"
	"math"
	"slices"
)

// MinSide is the smallest width or height that is hashed; the reference
// gives smaller images an all-zero hash, this package refuses them.
const MinSide = 5

// preShrinkSide is the side the reference photo pipeline shrinks larger
// images to (both axes, aspect ratio not kept) by nearest neighbour.
const preShrinkSide = 512

// Errors returned, wrapped with detail, by the From functions.
var (
	ErrTooSmall = errors.New("pdq: image too small") // a side under MinSide pixels
	ErrBadLuma  = errors.New("pdq: bad luma buffer") // FromLuma: length is not width*height
	ErrTooLarge = errors.New("pdq: image too large") // FromFrame/FromLuma: more pixels than the int range can index
)

// Digest is the 16x16 DCT of one image's 64x64 luminance together with its
// quality. The hash and its eight dihedral variants are all taken from it.
// A Digest is a plain value, safe to copy and to read concurrently.
type Digest struct {
	// coef[16*i+j] is the DCT coefficient of vertical frequency i+1 and
	// horizontal frequency j+1 (the DC row and column are not used).
	coef    [256]float64
	quality int
}

// Quality returns the quality score 0..100: the sum of the absolute
// differences between neighbouring pixels of the 64x64 luminance (on a 0..100
// scale), divided by 90 and capped at 100. Hashes below
// mediamatch.PDQ.MinQuality are never matched.
func (d *Digest) Quality() int { return d.quality }

// Hash returns the PDQ hash: bit 16*i+j is set when coefficient (i, j) is
// above the median of the 256 coefficients (the 128th smallest).
func (d *Digest) Hash() Hash { return threshold(&d.coef) }

// Variant returns the hash of the image transformed by v, computed from the
// same coefficients by transposition and sign flips. It panics if v is out of
// range.
func (d *Digest) Variant(v Variant) Hash {
	if v < 0 || v >= NumVariants {
		panic(fmt.Sprintf("pdq: Digest.Variant(%d) out of range", int(v)))
	}
	var t [256]float64
	for i := range 16 {
		for j := range 16 {
			c := d.coef[16*i+j]
			ieven, jeven := i%2 == 0, j%2 == 0 // even index = odd frequency i+1
			switch v {
			case Original:
				t[16*i+j] = c
			case Rotate90: // B'[j][i] = B[i][j], negated when frequency j+1 is odd
				t[16*j+i] = neg(c, jeven)
			case Rotate180:
				t[16*i+j] = neg(c, ieven != jeven)
			case Rotate270:
				t[16*j+i] = neg(c, ieven)
			case FlipX:
				t[16*i+j] = neg(c, ieven)
			case FlipY:
				t[16*i+j] = neg(c, jeven)
			case FlipPlus1:
				t[16*j+i] = c
			case FlipMinus1:
				t[16*j+i] = neg(c, ieven != jeven)
			}
		}
	}
	return threshold(&t)
}

// Dihedral returns the hashes of all eight dihedral variants; Dihedral()[Original] == Hash().
func (d *Digest) Dihedral() Dihedral {
	var out Dihedral
	for v := range out {
		out[v] = d.Variant(Variant(v))
	}
	return out
}

func neg(c float64, flip bool) float64 {
	if flip {
		return -c
	}
	return c
}

// threshold sets one bit per coefficient strictly above the median, the
// lower middle value of the 256.
func threshold(coef *[256]float64) Hash {
	sorted := *coef
	slices.Sort(sorted[:])
	median := sorted[127]
	var h Hash
	for k, c := range coef {
		if c > median {
			h.setBit(k)
		}
	}
	return h
}

// FromImage computes the digest of img by the reference photo pipeline:
// the pixels as stored (no EXIF orientation), pre-shrunk to exactly 512x512
// by nearest neighbour when either side is over 512, then luminance
// 0.299 R + 0.587 G + 0.114 B in float32 (grey images: the grey value), the
// Jarosz filter to 64x64 and the DCT.
//
// Alpha is ignored as the reference ignores it: non-premultiplied colours
// (NRGBA, PNG) keep their stored RGB, premultiplied ones are
// un-premultiplied. (Go's image/gif already replaces a GIF's transparent
// colour with black, where the reference keeps the palette's RGB.) JPEG
// YCbCr is converted to RGB with libjpeg's rounding, as the reference's
// decoder does. 16-bit images are scaled to 0..255, so their quality is on
// the usual scale (the reference, reading ImageMagick's 16-bit PNM, may see
// 0..65535: the same hash, an inflated quality; no reference image here is
// 16-bit).
//
// *image.YCbCr, *image.Gray, *image.RGBA, *image.NRGBA and *image.Paletted
// are read directly; other types through At. Since at most 512x512 pixels
// are read, the cost hardly grows with the image. It returns an error
// wrapping ErrTooSmall if a side is under MinSide pixels.
func FromImage(img image.Image) (Digest, error) {
	return FromOrientedImage(img, TopLeft)
}

// Orientation is an EXIF orientation tag value, 1..8, saying how the stored
// pixels are to be turned for display.
type Orientation int

// The EXIF orientations, named as in the EXIF standard after where the
// stored first row and first column go when displayed.
const (
	TopLeft     Orientation = 1 // as stored
	TopRight    Orientation = 2 // mirrored left to right
	BottomRight Orientation = 3 // rotated 180 degrees
	BottomLeft  Orientation = 4 // mirrored top to bottom
	LeftTop     Orientation = 5 // transposed
	RightTop    Orientation = 6 // displayed after rotating the stored pixels 90 degrees clockwise
	RightBottom Orientation = 7 // anti-transposed
	LeftBottom  Orientation = 8 // displayed after rotating the stored pixels 90 degrees counter-clockwise
)

// FromOrientedImage is FromImage for the image as displayed under EXIF
// orientation o: the result equals FromImage of the pixels turned by o (as
// `convert -auto-orient` does), but without copying them. An out-of-range o
// (such as 0, no tag) is treated as TopLeft.
func FromOrientedImage(img image.Image, o Orientation) (Digest, error) {
	t, err := turnOf(img, o)
	if err != nil {
		return Digest{}, err
	}
	var z digester
	return z.digest(z.read(img, t), t.tw, t.th), nil
}

// FromOrientedImageMirrors returns the digests of img as displayed under
// EXIF orientation o (FromOrientedImage's) and of that picture mirrored
// top to bottom, mirrored left to right, and rotated 180 degrees, in that
// order: each is FromImage of the picture so turned, bit for bit. Along an
// axis where the pre-shrink keeps or repeats every line (a side of 512
// pixels or less), the mirrored picture's lines are the picture's own in
// another order: its luminance is then the picture's, read once and
// reordered, and the first, along-rows pass of the filter is shared as
// well (a row's result depends on that row alone), so that the four cost
// about 2.5 FromOrientedImage where no side is over 512. Along an axis
// shrunk from more than 512, the mirrored picks (floor(i*n/512) mirrored)
// are other pixels, read and filtered in full. The error is
// FromOrientedImage's.
func FromOrientedImageMirrors(img image.Image, o Orientation) ([4]Digest, error) {
	var ds [4]Digest
	t, err := turnOf(img, o)
	if err != nil {
		return ds, err
	}
	// Mirroring the displayed rows reverses the stored lines that give
	// them: rows, or columns if transposed; the displayed columns
	// likewise.
	tx, ty := t, t
	tx.flipRows, tx.flipCols = t.flipRows != !t.swap, t.flipCols != t.swap
	ty.flipRows, ty.flipCols = t.flipRows != t.swap, t.flipCols != !t.swap
	txy := tx
	txy.flipRows, txy.flipCols = tx.flipRows != t.swap, tx.flipCols != !t.swap
	dw, dh := t.w, t.h // displayed size
	if t.swap {
		dw, dh = t.h, t.w
	}
	mr, mc := mirrorPicks(t.ry, dh), mirrorPicks(t.cx, dw)
	var z digester
	w, h := t.tw, t.th
	lum := z.read(img, t)
	var lumY []float32 // mirrored left to right
	if mc != nil {
		lumY = make([]float32, len(lum))
		for y := range h {
			src, dst := lum[y*w:(y+1)*w], lumY[y*w:(y+1)*w]
			for x, k := range mc {
				dst[x] = src[k]
			}
		}
	} else {
		lumY = z.read(img, ty)
	}
	z.rows(lum, w, h)
	z.rows(lumY, w, h)
	ds[0] = z.finish(lum, w, h, nil)
	if mr != nil {
		// Mirrored top to bottom: the rows, filtered along, taken in
		// mirrored order where they lie (finish only reads them).
		ds[1] = z.finish(lum, w, h, mr)
		ds[3] = z.finish(lumY, w, h, mr)
	} else {
		ds[1] = z.digest(z.read(img, tx), w, h)
		ds[3] = z.digest(z.read(img, txy), w, h)
	}
	ds[2] = z.finish(lumY, w, h, nil)
	return ds, nil
}

// mirrorPicks returns, for each pick p[i] of the n lines of a side, the
// index of a pick of the mirrored line n-1-p[i] (the same line of the
// picture, so the same values), or nil if some mirrored line is not
// picked (a pre-shrink from more than 512 drops lines).
func mirrorPicks(p []int, n int) []int {
	at := make([]int, n)
	for i := range at {
		at[i] = -1
	}
	for k, v := range p {
		at[v] = k
	}
	m := make([]int, len(p))
	for i, v := range p {
		k := at[n-1-v]
		if k < 0 {
			return nil
		}
		m[i] = k
	}
	return m
}

// turn says which stored pixels make the (pre-shrunk) picture as
// displayed: displayed column x' and row y' of the tw x th picture come
// from displayed column cx[x'] and row ry[y'] of the dw x dh one, which
// are stored row and column (rows[y'], cols[x']) with rows = ry, cols = cx
// (or, if swap, stored row and column (rows[x'], cols[y']) with rows = cx,
// cols = ry), each taken in reverse (n-1-i) if flipRows or flipCols.
type turn struct {
	swap, flipRows, flipCols bool
	w, h, tw, th             int // stored size, size after the pre-shrink
	cx, ry                   []int
}

// turnOf returns the turn of img displayed under o, or an error wrapping
// ErrTooSmall if a side is under MinSide pixels.
func turnOf(img image.Image, o Orientation) (turn, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w < MinSide || h < MinSide {
		return turn{}, fmt.Errorf("%w: %dx%d, want at least %dx%d", ErrTooSmall, w, h, MinSide, MinSide)
	}
	t := turn{w: w, h: h}
	switch o {
	default: // TopLeft
	case TopRight:
		t.flipCols = true
	case BottomRight:
		t.flipRows, t.flipCols = true, true
	case BottomLeft:
		t.flipRows = true
	// Transposing orientations: stored rows follow displayed columns.
	case LeftTop:
		t.swap = true
	case RightTop:
		t.swap, t.flipRows = true, true
	case RightBottom:
		t.swap, t.flipRows, t.flipCols = true, true, true
	case LeftBottom:
		t.swap, t.flipCols = true, true
	}
	dw, dh := w, h // displayed size
	if t.swap {
		dw, dh = h, w
	}
	t.tw, t.th = dw, dh
	if dw > preShrinkSide || dh > preShrinkSide {
		t.tw, t.th = preShrinkSide, preShrinkSide
	}
	t.cx = nearest(dw, t.tw)
	t.ry = nearest(dh, t.th)
	return t, nil
}

// read returns the luminance of the picture t makes of img, tw x th in
// displayed order.
func (z *digester) read(img image.Image, t turn) []float32 {
	mirror := func(s []int, n int) []int {
		m := make([]int, len(s))
		for i, v := range s {
			m[i] = n - 1 - v
		}
		return m
	}
	rows, cols := t.ry, t.cx // stored rows and columns to read
	if t.swap {
		rows, cols = t.cx, t.ry
	}
	if t.flipRows {
		rows = mirror(rows, t.h)
	}
	if t.flipCols {
		cols = mirror(cols, t.w)
	}
	tw, th := t.tw, t.th
	lum := make([]float32, tw*th)
	readLuma(lum, img, rows, cols)
	if t.swap { // lum is th columns by tw rows; turn it to displayed order
		d := make([]float32, len(lum))
		for x := range tw {
			for y := range th {
				d[y*tw+x] = lum[x*th+y]
			}
		}
		lum = d
	}
	return lum
}

// nearest returns, for each of m output positions, the input position
// floor(i*n/m) that nearest-neighbour resizing from n takes.
func nearest(n, m int) []int {
	s := make([]int, m)
	for i := range s {
		s[i] = int(int64(i) * int64(n) / int64(m))
	}
	return s
}

// FromFrame computes the digest of a video frame by the vPDQ pipeline: like
// FromImage but without the 512-pixel pre-shrink, so every pixel of the
// frame is read and blurred (the cost grows with the frame size). It returns
// an error wrapping ErrTooSmall if a side is under MinSide pixels.
func FromFrame(img image.Image) (Digest, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w < MinSide || h < MinSide {
		return Digest{}, fmt.Errorf("%w: %dx%d, want at least %dx%d", ErrTooSmall, w, h, MinSide, MinSide)
	}
	if int64(w)*int64(h) > math.MaxInt32 {
		return Digest{}, fmt.Errorf("%w: %dx%d", ErrTooLarge, w, h)
	}
	lum := make([]float32, w*h)
	readLuma(lum, img, nearest(h, h), nearest(w, w))
	return digest(lum, w, h), nil
}

// FromLuma computes the digest of a luminance image given as width*height
// row-major values on a 0..255 scale (0.299 R + 0.587 G + 0.114 B). No
// pre-shrink is done; a 64x64 buffer (say, a frame already scaled by ffmpeg)
// goes straight to the DCT. luma is not modified. It returns an error
// wrapping ErrBadLuma if len(luma) != width*height, or ErrTooSmall if a side
// is under MinSide.
func FromLuma(luma []float32, width, height int) (Digest, error) {
	if width < MinSide || height < MinSide {
		return Digest{}, fmt.Errorf("%w: %dx%d, want at least %dx%d", ErrTooSmall, width, height, MinSide, MinSide)
	}
	if int64(width)*int64(height) > math.MaxInt32 {
		return Digest{}, fmt.Errorf("%w: %dx%d", ErrTooLarge, width, height)
	}
	if len(luma) != width*height {
		return Digest{}, fmt.Errorf("%w: %d values for %dx%d, want %d", ErrBadLuma, len(luma), width, height, width*height)
	}
	return digest(slices.Clone(luma), width, height), nil
}

// FromGrayRegions returns the digest of each region rs[i] of a grey image
// (a luminance image on a 0..255 scale), equal to FromFrame of
// m.SubImage(rs[i]) bit for bit. Regions of the same columns (a picture
// without its top or its bottom band) share the reading of their rows and
// the first pass of the filter along them, whose result for a row depends
// on that row alone. It returns an error wrapping ErrTooSmall if a region
// has a side under MinSide pixels, or ErrBadLuma if one is not inside
// m.Rect.
func FromGrayRegions(m *image.Gray, rs []image.Rectangle) ([]Digest, error) {
	for _, r := range rs {
		if !r.In(m.Rect) {
			return nil, fmt.Errorf("%w: region %v outside %v", ErrBadLuma, r, m.Rect)
		}
		if r.Dx() < MinSide || r.Dy() < MinSide {
			return nil, fmt.Errorf("%w: %dx%d, want at least %dx%d", ErrTooSmall, r.Dx(), r.Dy(), MinSide, MinSide)
		}
	}
	ds := make([]Digest, len(rs))
	done := make([]bool, len(rs))
	var z digester
	var band []float32
	for i, r := range rs {
		if done[i] {
			continue
		}
		same := func(q image.Rectangle) bool { return q.Min.X == r.Min.X && q.Max.X == r.Max.X }
		y0, y1 := r.Min.Y, r.Max.Y
		for _, q := range rs[i+1:] {
			if same(q) {
				y0, y1 = min(y0, q.Min.Y), max(y1, q.Max.Y)
			}
		}
		w := r.Dx()
		band = grow(band, w*(y1-y0))
		for y := y0; y < y1; y++ {
			src := m.Pix[m.PixOffset(r.Min.X, y):][:w]
			out := band[(y-y0)*w:][:w]
			for x, v := range src {
				out[x] = float32(v)
			}
		}
		z.rows(band, w, y1-y0)
		for j := i; j < len(rs); j++ {
			if q := rs[j]; !done[j] && same(q) {
				ds[j], done[j] = z.finish(band[(q.Min.Y-y0)*w:(q.Max.Y-y0)*w], w, q.Dy(), nil), true
			}
		}
	}
	return ds, nil
}

// digest runs the Jarosz filter, quality and DCT on lum (w by h, row-major),
// which it overwrites.
func digest(lum []float32, w, h int) Digest {
	var z digester
	return z.digest(lum, w, h)
}

// digester holds the scratch buffers of the filter, kept from one digest
// to the next of the same size. The zero value is ready to use; it is not
// safe for concurrent use.
type digester struct {
	tmp  []float32 // boxRow's
	acc  []float64 // the first pass down the columns: running sums
	line []float32 // and a row of its output
	need []bool    // the rows the second pass down the columns reads
	r    []float32 // the second pass along rows
}

// grow returns s resized to n, reusing its array when large enough.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// digest is the package's digest, with z's buffers.
func (z *digester) digest(lum []float32, w, h int) Digest {
	z.rows(lum, w, h)
	return z.finish(lum, w, h, nil)
}

// rows runs the Jarosz filter's first pass along the rows of lum (w by
// h), in place. Each row's result depends on that row alone.
func (z *digester) rows(lum []float32, w, h int) {
	if wx := jaroszWindow(w); wx > 1 {
		z.tmp = grow(z.tmp, w)
		for y := range h {
			boxRow(lum[y*w:(y+1)*w], z.tmp, wx)
		}
	}
}

// finish runs the rest of the filter on lum after rows and returns the
// digest: quality and DCT of the 64x64 samples. lum is only read: row y of
// the picture is row order[y] of lum (rows may repeat), or row y if order
// is nil.
func (z *digester) finish(lum []float32, w, h int, order []int) Digest {
	var a [64 * 64]float32
	z.jarosz(lum, w, h, order, &a)
	var d Digest
	d.quality = quality(&a)
	dct(&a, &d.coef)
	return d
}

// jarosz blurs lum (w by h), whose rows have had the first pass of a box
// filter (rows), with the first pass down its columns (a tent filter is
// two passes of each) and takes the 64x64 samples at the centres of a
// 64x64 grid. lum is only read: row y of the picture is row at(order, y)
// of lum. The second passes are evaluated only where the samples need
// them, and the first down the columns only on the columns and at the
// rows that the second along the rows reads (about half of each): each
// column's running sum depends on that column alone and runs over every
// row as the whole filter's does, so the samples are the whole filter's,
// bit for bit.
func (z *digester) jarosz(lum []float32, w, h int, order []int, out *[64 * 64]float32) {
	wx, wy := jaroszWindow(w), jaroszWindow(h)
	var xs, ys [64]int // sampled columns and rows
	for i := range 64 {
		xs[i] = (2*i + 1) * w / 128
		ys[i] = (2*i + 1) * h / 128
	}
	lox, hix := boxExtent(wx)
	loy, hiy := boxExtent(wy)
	row := func(k int) []float32 { return lum[at(order, k)*w:][:w] }
	// The rows the second pass down the columns reads.
	z.need = grow(z.need, h)
	need := z.need
	clear(need)
	for _, y := range ys {
		for k := max(y-loy, 0); k <= min(y+hiy, h-1); k++ {
			need[k] = true
		}
	}
	// Second pass along rows, at the sampled columns only: r[k*64+j] of
	// row k after the first pass down the columns.
	z.r = grow(z.r, h*64)
	r := z.r
	sample := func(k int, line []float32) {
		for j, x := range xs {
			r[k*64+j] = mean(line[max(x-lox, 0) : min(x+hix, w-1)+1])
		}
	}
	if wy == 1 {
		for k := range h {
			if need[k] {
				sample(k, row(k))
			}
		}
	} else {
		// The columns the second pass along rows reads, as spans [a, b).
		var spans [][2]int
		for _, x := range xs {
			a, b := max(x-lox, 0), min(x+hix, w-1)+1
			if n := len(spans); n > 0 && a <= spans[n-1][1] {
				spans[n-1][1] = max(spans[n-1][1], b)
				continue
			}
			spans = append(spans, [2]int{a, b})
		}
		z.acc = grow(z.acc, w)
		z.line = grow(z.line, w)
		acc, line := z.acc, z.line
		clear(acc)
		// Output row o is the mean of rows o-loy..o+hiy: a running sum
		// that adds row o+hiy and drops row o-loy-1 (primed with rows
		// 0..hiy-1), as boxRow does along a row.
		for k := 0; k < hiy && k < h; k++ {
			in := row(k)
			for _, s := range spans {
				addRow(acc[s[0]:s[1]], in[s[0]:s[1]])
			}
		}
		for o := range h {
			var in, drop []float32
			if o+hiy < h {
				in = row(o + hiy)
			}
			if o-loy-1 >= 0 {
				drop = row(o - loy - 1)
			}
			inv := 1 / float64(min(o+hiy, h-1)-max(o-loy, 0)+1)
			for _, s := range spans {
				a, b := s[0], s[1]
				acc := acc[a:b]
				switch {
				case in != nil && drop != nil: // the inside: one fused loop
					in, drop := in[a:b], drop[a:b]
					for x := range acc {
						acc[x] = acc[x] + float64(in[x]) - float64(drop[x])
					}
				case in != nil:
					addRow(acc, in[a:b])
				case drop != nil:
					subRow(acc, drop[a:b])
				}
				if need[o] {
					out := line[a:b]
					for x := range acc {
						out[x] = float32(acc[x] * inv)
					}
				}
			}
			if need[o] {
				sample(o, line)
			}
		}
	}
	// Second pass along columns, at the sampled rows only.
	var col [64]float64
	for i, y := range ys {
		a, b := max(y-loy, 0), min(y+hiy, h-1)
		clear(col[:])
		for k := a; k <= b; k++ {
			for j, v := range r[k*64 : k*64+64] {
				col[j] += float64(v)
			}
		}
		inv := 1 / float64(b-a+1)
		for j := range col {
			out[64*i+j] = float32(col[j] * inv)
		}
	}
}

// jaroszWindow returns the box window for a side of n pixels: ceil(n/128).
func jaroszWindow(n int) int { return (n + 2*64 - 1) / (2 * 64) }

// boxExtent returns how many inputs before and after the output position a
// box window of win covers: output o is the mean of inputs o-lo .. o+hi,
// clipped to the data, with hi = (win+2)/2 - 1 and lo = win-1-hi.
func boxExtent(win int) (lo, hi int) {
	half := (win + 2) / 2
	return win - half, half - 1
}

func mean(s []float32) float32 {
	var sum float64
	for _, v := range s {
		sum += float64(v)
	}
	return float32(sum / float64(len(s)))
}

// boxRow replaces row with its box mean of window win (see boxExtent).
// tmp must be as long as row.
func boxRow(row, tmp []float32, win int) {
	n := len(row)
	lo, hi := boxExtent(win)
	// Output o adds input o+hi and drops input o-lo-1; prime with 0..hi-1.
	var sum float64
	for k := 0; k < hi && k < n; k++ {
		sum += float64(row[k])
	}
	edge := func(o int) {
		if k := o + hi; k < n {
			sum += float64(row[k])
		}
		if k := o - lo - 1; k >= 0 {
			sum -= float64(row[k])
		}
		tmp[o] = float32(sum / float64(min(o+hi, n-1)-max(o-lo, 0)+1))
	}
	// Inside, the window is whole: no clipping, a fixed divisor.
	first, last := lo+1, n-1-hi
	o := 0
	for ; o < min(first, n); o++ {
		edge(o)
	}
	if o <= last {
		inv := 1 / float64(win)
		add, drop := row[first+hi:last+hi+1], row[first-lo-1:last-lo]
		out := tmp[first : last+1]
		for k := range out {
			sum += float64(add[k]) - float64(drop[k])
			out[k] = float32(sum * inv)
		}
		o = last + 1
	}
	for ; o < n; o++ {
		edge(o)
	}
	copy(row, tmp)
}

// at returns order[k], or k if order is nil.
func at(order []int, k int) int {
	if order == nil {
		return k
	}
	return order[k]
}

func addRow(acc []float64, row []float32) {
	acc = acc[:len(row)]
	for x, v := range row {
		acc[x] += float64(v)
	}
}

func subRow(acc []float64, row []float32) {
	acc = acc[:len(row)]
	for x, v := range row {
		acc[x] -= float64(v)
	}
}

// quality sums |trunc((u-v)*100/255)| over all vertically and horizontally
// adjacent pairs of the 64x64 block and scales it to 0..100.
func quality(a *[64 * 64]float32) int {
	sum := 0
	for i := range 63 {
		for j := range 64 {
			u, v := a[64*i+j], a[64*(i+1)+j]
			sum += absInt(int((u - v) * 100 / 255))
		}
	}
	for i := range 64 {
		for j := range 63 {
			u, v := a[64*i+j], a[64*i+j+1]
			sum += absInt(int((u - v) * 100 / 255))
		}
	}
	return min(100, sum/90)
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// dctMatrix is the read-only 16x64 DCT-II matrix without its DC row:
// dctMatrix[i][j] = sqrt(2/64) cos(pi/128 (i+1) (2j+1)).
var dctMatrix = func() (m [16][64]float64) {
	for i := range 16 {
		for j := range 64 {
			m[i][j] = math.Sqrt(2.0/64) * math.Cos(math.Pi/128*float64(i+1)*float64(2*j+1))
		}
	}
	return m
}()

// dct computes B = D A D^T for the 16x64 matrix D = dctMatrix.
func dct(a *[64 * 64]float32, b *[256]float64) {
	// t = D A: 16 x 64.
	var t [16][64]float64
	for i := range 16 {
		di := &dctMatrix[i]
		ti := &t[i]
		for k := range 64 {
			dik := di[k]
			row := a[64*k : 64*k+64]
			for j, v := range row {
				ti[j] += dik * float64(v)
			}
		}
	}
	// B = t D^T: B[i][j] = sum_k t[i][k] D[j][k].
	for i := range 16 {
		for j := range 16 {
			var s float64
			dj := &dctMatrix[j]
			for k := range 64 {
				s += t[i][k] * dj[k]
			}
			b[16*i+j] = s
		}
	}
}
