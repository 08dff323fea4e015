package fingerprint

import (
	"image"
	"image/color"
	"math"

	"github.com/corona10/goimagehash"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// This file holds the perceptual hashing of one frame, still image or video
// frame alike, and is the only place that knows goimagehash.
//
// goimagehash resizes whatever it is given to 64x64 (pHash) or 9x8 (dHash)
// with a bilinear filter whose support grows with the scale factor, so on a
// full photo its resize is nearly all of its time. A large frame is
// therefore first area-averaged here by a power of two down to a long side
// between reduceSide/2 and reduceSide, which the wide filter hardly tells
// from the full image, and only that is handed to goimagehash. The small
// image keeps the colour model goimagehash would have resized the original
// in (grey, YCbCr or RGBA): dHash compares neighbouring cells, near-ties
// flip on the rounding of whichever colour conversion runs last, and a
// grey-only shortcut put images4/large.jpg 3 bits off the stock dHash.

// reduceSide is the largest long side, in pixels, of the image handed to
// goimagehash; frames no larger are handed over as they are. Measured over
// the 135 files of ../shared/media/images (TestStockAgreement, both
// decoders): with power-of-two reductions to 256..512 pixels, pHash and
// dHash stay within 2 bits of goimagehash on the full image (pHash 0 bits
// for 132 files, dHash 0 for 114); capping at 384 instead, the texture
// photo skimage/grass.png went 3 bits off in dHash. goimagehash's resize of
// a 512-pixel image costs a few milliseconds.
const reduceSide = 512

// lowInfoStdDev is the luminance standard deviation (0..255) of the frame
// area-averaged to at most 32x32 below which a frame is featureless: its
// hashes would be decided by noise and compression artefacts. Measured
// (TestLowInformation): the flat images4/uniform-*.png are at 0.0, the
// least varied real photos (skimage/brick.png, hubble_deep_field.jpg) at
// 11.5, so 4 sits almost 3x below any real photo, while a flat frame with
// +-8 levels of pixel noise averages down to about 0.3.
const lowInfoStdDev = 4.0

// hashFrame returns the pHash and dHash signals of one video frame and
// whether it is low-information (PDQ is framePDQ's).
func hashFrame(img image.Image) ([]mediamatch.Signal, bool) {
	return hashSmall(shrink(img))
}

// hashSmall hashes an image that is already small (long side at most
// reduceSide). It never fails: goimagehash only refuses nil images.
func hashSmall(img image.Image) ([]mediamatch.Signal, bool) {
	var sigs []mediamatch.Signal
	if p, err := goimagehash.PerceptionHash(img); err == nil {
		sigs = append(sigs, mediamatch.Signal{Type: mediamatch.PHash, Hash: u64bytes(p.GetHash())})
	}
	if d, err := goimagehash.DifferenceHash(img); err == nil {
		sigs = append(sigs, mediamatch.Signal{Type: mediamatch.DHash, Hash: u64bytes(d.GetHash())})
	}
	return sigs, lumaStdDev(img) < lowInfoStdDev
}

// u64bytes returns v big-endian, the byte order of Signal.Hash.
func u64bytes(v uint64) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(v >> (56 - 8*i))
	}
	return b
}

// lumaStdDev returns the standard deviation of img's luminance after area
// averaging it down to at most 32x32: the large-scale structure that the
// 64-bit hashes see, with pixel noise averaged away.
func lumaStdDev(img image.Image) float64 {
	b := img.Bounds()
	if b.Empty() {
		return 0
	}
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if long := max(w, h); long > 32 {
		dw = max(1, int(math.Round(float64(w)*32/float64(long))))
		dh = max(1, int(math.Round(float64(h)*32/float64(long))))
	}
	g := make([]uint8, dw*dh)
	areaReduce(w, h, 1, lumaRows(img), g, dw, dw, dh)
	var sum, sq float64
	for _, v := range g {
		f := float64(v)
		sum += f
		sq += f * f
	}
	n := float64(len(g))
	mean := sum / n
	return math.Sqrt(math.Max(sq/n-mean*mean, 0))
}

// shrink returns img itself if its long side is at most reduceSide
// pixels, and otherwise img area-averaged down by the smallest power of two
// that brings the long side to at most reduceSide (so to between
// reduceSide/2 and reduceSide), sizes rounded up: the same reduction that
// libjpeg's DCT scaling makes, so both decoders give the same hashes.
// Reducing by an arbitrary ratio near 1 (533 to 512 pixels) blends
// neighbouring pixels and put images4/large.jpg and 180.jpg 3 bits off the
// stock dHash; with the factor of 2 they are within 2.
func shrink(img image.Image) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	k := 1
	for max(w, h) > k*reduceSide {
		k *= 2
	}
	if b.Empty() || k == 1 {
		return img
	}
	return reduce(img, (w+k-1)/k, (h+k-1)/k)
}

// reduce returns img area-averaged to dw x dh (no larger than img), each
// destination pixel the mean of the source area it covers, in the colour
// model goimagehash would resize img in: *image.Gray for grey,
// *image.YCbCr (4:4:4) for YCbCr, and alpha-premultiplied *image.RGBA for
// everything else. With the same size it only converts.
func reduce(img image.Image, dw, dh int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	switch m := img.(type) {
	case *image.Gray:
		d := image.NewGray(image.Rect(0, 0, dw, dh))
		areaReduce(w, h, 1, planeRows(m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y)), d.Pix, d.Stride, dw, dh)
		return d
	case *image.YCbCr:
		d := image.NewYCbCr(image.Rect(0, 0, dw, dh), image.YCbCrSubsampleRatio444)
		areaReduce(w, h, 1, planeRows(m.Y, m.YStride, m.YOffset(b.Min.X, b.Min.Y)), d.Y, d.YStride, dw, dh)
		c := chromaRect(b, m.SubsampleRatio)
		o := m.COffset(b.Min.X, b.Min.Y)
		areaReduce(c.Dx(), c.Dy(), 1, planeRows(m.Cb, m.CStride, o), d.Cb, d.CStride, dw, dh)
		areaReduce(c.Dx(), c.Dy(), 1, planeRows(m.Cr, m.CStride, o), d.Cr, d.CStride, dw, dh)
		return d
	default:
		d := image.NewRGBA(image.Rect(0, 0, dw, dh))
		areaReduce(w, h, 4, rgbaRows(img), d.Pix, d.Stride, dw, dh)
		return d
	}
}

// chromaRect returns the rectangle of the chroma planes of a YCbCr image
// with luma rectangle r.
func chromaRect(r image.Rectangle, s image.YCbCrSubsampleRatio) image.Rectangle {
	dx, dy := 1, 1
	switch s {
	case image.YCbCrSubsampleRatio422:
		dx = 2
	case image.YCbCrSubsampleRatio420:
		dx, dy = 2, 2
	case image.YCbCrSubsampleRatio440:
		dy = 2
	case image.YCbCrSubsampleRatio411:
		dx = 4
	case image.YCbCrSubsampleRatio410:
		dx, dy = 4, 2
	}
	return image.Rect(r.Min.X/dx, r.Min.Y/dy, (r.Max.X+dx-1)/dx, (r.Max.Y+dy-1)/dy)
}

// rowFunc fills dst with row y (0-based) of a source, c bytes per pixel.
type rowFunc func(y int, dst []uint8)

// planeRows reads rows of one byte plane starting at offset off.
func planeRows(pix []uint8, stride, off int) rowFunc {
	return func(y int, dst []uint8) {
		i := off + y*stride
		copy(dst, pix[i:i+len(dst)])
	}
}

// taps says which source pixels make up one destination pixel of an area
// reduction: the whole pixels [lo, hi), plus pixel lo-1 with weight wl
// and pixel hi with weight wr for the parts of them it covers.
type taps struct {
	lo, hi int
	wl, wr float32
}

// tapsFor returns the taps of m destination pixels over n source pixels
// (m <= n), destination pixel j covering [j*n/m, (j+1)*n/m).
func tapsFor(n, m int) []taps {
	t := make([]taps, m)
	scale := float64(n) / float64(m)
	for j := range t {
		a, b := float64(j)*scale, min(float64(j+1)*scale, float64(n))
		lo, hi := int(math.Ceil(a)), int(math.Floor(b))
		if j == m-1 {
			hi = n
		}
		if hi < lo { // cannot happen for scale >= 1; keep the slices valid
			hi = lo
		}
		t[j] = taps{lo: lo, hi: hi, wl: float32(float64(lo) - a), wr: float32(b - float64(hi))}
		if lo == 0 {
			t[j].wl = 0
		}
		if hi >= n {
			t[j].wr = 0
		}
	}
	return t
}

// rowShare says how one source row is shared among destination rows: all
// of it to row j, or w to row j and 1-w to row j+1.
type rowShare struct {
	j int
	w float32
}

// rowShares returns the share of each of n source rows among m
// destination rows (m <= n).
func rowShares(n, m int) []rowShare {
	s := make([]rowShare, n)
	scale := float64(n) / float64(m)
	for i := range s {
		j := min(int(float64(i)/scale), m-1)
		w := 1.0
		if j < m-1 {
			// The part of row [i, i+1) above destination row j's lower edge.
			w = math.Max(math.Min(float64(j+1)*scale-float64(i), 1), 0)
		}
		s[i] = rowShare{j: j, w: float32(w)}
	}
	return s
}

// areaReduce averages a w x h source with c interleaved channels, read a
// row at a time through row, into dst (dw x dh, stride dstStride), each
// destination pixel the mean of the source area it covers. Only one source
// row and two destination rows are held at a time.
func areaReduce(w, h, c int, row rowFunc, dst []uint8, dstStride, dw, dh int) {
	if w%dw == 0 && h%dh == 0 {
		boxReduce(w, h, c, row, dst, dstStride, dw, dh)
		return
	}
	fractionalReduce(w, h, c, row, dst, dstStride, dw, dh)
}

// fractionalReduce is areaReduce for any sizes, in float32.
func fractionalReduce(w, h, c int, row rowFunc, dst []uint8, dstStride, dw, dh int) {
	xt, ys := tapsFor(w, dw), rowShares(h, dh)
	inv := float32(dw) / float32(w) * float32(dh) / float32(h) // 1/area
	src := make([]uint8, w*c)
	hrow := make([]float32, dw*c)
	acc, next := make([]float32, dw*c), make([]float32, dw*c)
	cur := 0 // the destination row accumulating in acc
	flush := func() {
		out := dst[cur*dstStride : cur*dstStride+dw*c]
		for x, v := range acc {
			out[x] = uint8(min(v*inv+0.5, 255))
		}
		acc, next = next, acc
		clear(next)
		cur++
	}
	for y := 0; y < h; y++ {
		row(y, src)
		if c == 1 {
			for x, t := range xt {
				var sum uint32
				for _, v := range src[t.lo:t.hi] {
					sum += uint32(v)
				}
				f := float32(sum)
				if t.wl > 0 {
					f += t.wl * float32(src[t.lo-1])
				}
				if t.wr > 0 {
					f += t.wr * float32(src[t.hi])
				}
				hrow[x] = f
			}
		} else {
			for x, t := range xt {
				for k := 0; k < c; k++ {
					var sum uint32
					for i := t.lo*c + k; i < t.hi*c; i += c {
						sum += uint32(src[i])
					}
					f := float32(sum)
					if t.wl > 0 {
						f += t.wl * float32(src[(t.lo-1)*c+k])
					}
					if t.wr > 0 {
						f += t.wr * float32(src[t.hi*c+k])
					}
					hrow[x*c+k] = f
				}
			}
		}
		s := ys[y]
		for s.j > cur {
			flush()
		}
		if s.w == 1 {
			for x, v := range hrow {
				acc[x] += v
			}
			continue
		}
		for x, v := range hrow {
			acc[x] += v * s.w
			next[x] += v * (1 - s.w)
		}
	}
	for cur < dh {
		flush()
	}
}

// boxReduce is areaReduce for whole reduction factors (w a multiple of
// dw, h of dh), in integers: the usual case of a power-of-two shrink, at
// several times the speed.
func boxReduce(w, h, c int, row rowFunc, dst []uint8, dstStride, dw, dh int) {
	kx, ky := w/dw, h/dh
	n := uint32(kx * ky)
	src := make([]uint8, w*c)
	acc := make([]uint32, dw*c)
	for y := 0; y < h; y++ {
		row(y, src)
		switch {
		case c == 1 && kx == 1:
			for x, v := range src[:len(acc)] {
				acc[x] += uint32(v)
			}
		case c == 1 && kx == 2:
			s := src[:2*len(acc)]
			for x := range acc {
				acc[x] += uint32(s[2*x]) + uint32(s[2*x+1])
			}
		case c == 1 && kx == 4:
			s := src[:4*len(acc)]
			for x := range acc {
				q := s[4*x : 4*x+4 : 4*x+4]
				acc[x] += uint32(q[0]) + uint32(q[1]) + uint32(q[2]) + uint32(q[3])
			}
		case c == 1:
			for x := range acc {
				var sum uint32
				for _, v := range src[x*kx : x*kx+kx] {
					sum += uint32(v)
				}
				acc[x] += sum
			}
		default:
			for x := 0; x < dw; x++ {
				for k := 0; k < c; k++ {
					var sum uint32
					for i := x*kx*c + k; i < (x+1)*kx*c; i += c {
						sum += uint32(src[i])
					}
					acc[x*c+k] += sum
				}
			}
		}
		if (y+1)%ky == 0 {
			out := dst[(y/ky)*dstStride : (y/ky)*dstStride+dw*c]
			for x, v := range acc {
				out[x] = uint8((v + n/2) / n)
			}
			clear(acc)
		}
	}
}

// rgbaRows reads rows of any image as alpha-premultiplied 8-bit RGBA,
// with fast paths for the types the decoders return.
func rgbaRows(img image.Image) rowFunc {
	b := img.Bounds()
	switch m := img.(type) {
	case *image.RGBA:
		return planeRows(m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y))
	case *image.NRGBA:
		return func(y int, dst []uint8) {
			p := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for i := 0; i+3 < len(dst); i += 4 {
				a := uint32(p[i+3])
				dst[i+0] = uint8((uint32(p[i+0])*a + 127) / 255)
				dst[i+1] = uint8((uint32(p[i+1])*a + 127) / 255)
				dst[i+2] = uint8((uint32(p[i+2])*a + 127) / 255)
				dst[i+3] = uint8(a)
			}
		}
	case *image.Paletted:
		var pal [256][4]uint8
		for i, c := range m.Palette {
			if i < len(pal) {
				r, g, b, a := c.RGBA()
				pal[i] = [4]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
			}
		}
		return func(y int, dst []uint8) {
			p := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for i := 0; i+3 < len(dst); i += 4 {
				copy(dst[i:i+4], pal[p[i/4]][:])
			}
		}
	case *image.NYCbCrA: // WebP with alpha
		return func(y int, dst []uint8) {
			for i := 0; i+3 < len(dst); i += 4 {
				x := b.Min.X + i/4
				yi, ci := m.YOffset(x, b.Min.Y+y), m.COffset(x, b.Min.Y+y)
				r, g, bl := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				a := uint32(m.A[m.AOffset(x, b.Min.Y+y)])
				dst[i+0] = uint8((uint32(r)*a + 127) / 255)
				dst[i+1] = uint8((uint32(g)*a + 127) / 255)
				dst[i+2] = uint8((uint32(bl)*a + 127) / 255)
				dst[i+3] = uint8(a)
			}
		}
	case *image.CMYK: // CMYK and YCCK JPEGs
		return func(y int, dst []uint8) {
			p := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for i := 0; i+3 < len(dst); i += 4 {
				dst[i+0], dst[i+1], dst[i+2] = color.CMYKToRGB(p[i], p[i+1], p[i+2], p[i+3])
				dst[i+3] = 255
			}
		}
	case *image.RGBA64: // 16-bit PNGs
		return func(y int, dst []uint8) {
			p := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for i := 0; i+3 < len(dst); i += 4 {
				dst[i], dst[i+1], dst[i+2], dst[i+3] = p[2*i], p[2*i+2], p[2*i+4], p[2*i+6]
			}
		}
	case *image.NRGBA64:
		return func(y int, dst []uint8) {
			p := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for i := 0; i+3 < len(dst); i += 4 {
				q := p[2*i : 2*i+8]
				a := uint32(q[6])<<8 | uint32(q[7])
				for k := 0; k < 3; k++ {
					v := uint32(q[2*k])<<8 | uint32(q[2*k+1])
					dst[i+k] = uint8(v * a / 0xffff >> 8)
				}
				dst[i+3] = q[6]
			}
		}
	case *image.Gray16:
		return func(y int, dst []uint8) {
			p := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for i := 0; i+3 < len(dst); i += 4 {
				v := p[i/2]
				dst[i], dst[i+1], dst[i+2], dst[i+3] = v, v, v, 255
			}
		}
	}
	return func(y int, dst []uint8) {
		for i := 0; i+3 < len(dst); i += 4 {
			r, g, bl, a := img.At(b.Min.X+i/4, b.Min.Y+y).RGBA()
			dst[i+0], dst[i+1], dst[i+2], dst[i+3] = uint8(r>>8), uint8(g>>8), uint8(bl>>8), uint8(a>>8)
		}
	}
}

// lumaRows reads rows of any image as 8-bit luminance: the Y plane of
// YCbCr, else Rec. 601 luminance (0.299 R + 0.587 G + 0.114 B, as
// goimagehash uses) of the alpha-premultiplied colour.
func lumaRows(img image.Image) rowFunc {
	b := img.Bounds()
	switch m := img.(type) {
	case *image.Gray:
		return planeRows(m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y))
	case *image.YCbCr:
		return planeRows(m.Y, m.YStride, m.YOffset(b.Min.X, b.Min.Y))
	}
	rgba := rgbaRows(img)
	var buf []uint8
	return func(y int, dst []uint8) {
		if len(buf) < 4*len(dst) {
			buf = make([]uint8, 4*len(dst))
		}
		rgba(y, buf[:4*len(dst)])
		for x := range dst {
			dst[x] = luma8(buf[4*x], buf[4*x+1], buf[4*x+2])
		}
	}
}

// luma8 is the Rec. 601 luminance of 8-bit RGB, rounded (as color.GrayModel).
func luma8(r, g, b uint8) uint8 {
	return uint8((19595*uint32(r) + 38470*uint32(g) + 7471*uint32(b) + 1<<15) >> 16)
}
