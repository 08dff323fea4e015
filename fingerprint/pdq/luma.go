package pdq

import (
	"image"
	"image/color"
)

// Luma weights of the reference (ITU-R BT.601), applied in float32.
const (
	wr float32 = 0.299
	wg float32 = 0.587
	wb float32 = 0.114
)

// lumaTab holds read-only lookup tables for the luminance of 8-bit colour,
// built once: a sum of three table entries replaces three multiplications
// and, for YCbCr, the clamping of each channel.
var lumaTab = func() (t struct {
	// r, g, b[v+256] = weight * clamp(v, 0, 255), for v in -256..511.
	r, g, b [768]float32
	// libjpeg's fixed-point YCbCr to RGB terms: R = Y + crR[Cr],
	// G = Y + (cbG[Cb] + crG[Cr]) >> 16, B = Y + cbB[Cb].
	crR, cbB, cbG, crG [256]int32
}) {
	for i := range t.r {
		v := float32(min(max(i-256, 0), 255))
		t.r[i], t.g[i], t.b[i] = wr*v, wg*v, wb*v
	}
	for i := range 256 {
		x := int32(i) - 128
		t.crR[i] = (91881*x + 1<<15) >> 16
		t.cbB[i] = (116130*x + 1<<15) >> 16
		t.cbG[i] = -22554*x + 1<<15
		t.crG[i] = -46802 * x
	}
	return t
}()

// luma8 returns 0.299 r + 0.587 g + 0.114 b in float32, each product
// rounded, summed left to right.
func luma8(r, g, b uint8) float32 {
	return lumaTab.r[256+int(r)] + lumaTab.g[256+int(g)] + lumaTab.b[256+int(b)]
}

// readLuma fills dst (len(rows) by len(cols), row-major) with the luminance
// of img at column cols[j], row rows[i], both relative to img.Bounds().Min.
// Alpha is ignored: non-premultiplied colours keep their stored RGB, as the
// reference (which drops alpha) sees them.
func readLuma(dst []float32, img image.Image, rows, cols []int) {
	nc := len(cols)
	switch m := img.(type) {
	case *image.YCbCr:
		readYCbCr(dst, m, rows, cols)
	case *image.Gray:
		for i, y := range rows {
			src := m.Pix[y*m.Stride:]
			out := dst[i*nc : (i+1)*nc]
			for j, x := range cols {
				out[j] = float32(src[x])
			}
		}
	case *image.NRGBA:
		for i, y := range rows {
			src := m.Pix[y*m.Stride:]
			out := dst[i*nc : (i+1)*nc]
			for j, x := range cols {
				p := src[4*x : 4*x+3 : 4*x+3]
				out[j] = luma8(p[0], p[1], p[2])
			}
		}
	case *image.RGBA:
		for i, y := range rows {
			src := m.Pix[y*m.Stride:]
			out := dst[i*nc : (i+1)*nc]
			for j, x := range cols {
				p := src[4*x : 4*x+4 : 4*x+4]
				if a := p[3]; a != 0xff && a != 0 { // premultiplied: recover the colour
					out[j] = lumaPremul16(uint32(p[0])*0x101, uint32(p[1])*0x101, uint32(p[2])*0x101, uint32(a)*0x101)
					continue
				}
				out[j] = luma8(p[0], p[1], p[2])
			}
		}
	case *image.Paletted:
		pal := make([]float32, 256)
		for k, c := range m.Palette {
			if k < len(pal) {
				pal[k] = lumaColor(c)
			}
		}
		for i, y := range rows {
			src := m.Pix[y*m.Stride:]
			out := dst[i*nc : (i+1)*nc]
			for j, x := range cols {
				out[j] = pal[src[x]]
			}
		}
	default:
		b := img.Bounds()
		for i, y := range rows {
			out := dst[i*nc : (i+1)*nc]
			for j, x := range cols {
				out[j] = lumaColor(img.At(b.Min.X+x, b.Min.Y+y))
			}
		}
	}
}

// lumaColor returns the luminance of c on a 0..255 scale, from its
// non-premultiplied colour where the type keeps one.
func lumaColor(c color.Color) float32 {
	switch c := c.(type) {
	case color.NRGBA:
		return luma8(c.R, c.G, c.B)
	case color.Gray:
		return float32(c.Y)
	case color.Gray16:
		return float32(c.Y) / 257
	case color.NRGBA64:
		return (wr*float32(c.R) + wg*float32(c.G) + wb*float32(c.B)) / 257
	case color.RGBA:
		if c.A == 0xff || c.A == 0 {
			return luma8(c.R, c.G, c.B)
		}
	}
	return lumaPremul16(c.RGBA())
}

// lumaPremul16 returns the luminance (0..255 scale) of a 16-bit
// alpha-premultiplied colour after undoing the premultiplication, as
// color.NRGBA64Model does.
func lumaPremul16(r, g, b, a uint32) float32 {
	if a != 0xffff && a != 0 {
		r, g, b = r*0xffff/a, g*0xffff/a, b*0xffff/a
	}
	return (wr*float32(r) + wg*float32(g) + wb*float32(b)) / 257
}

// readYCbCr is readLuma for YCbCr images (JPEG). Each pixel is converted to
// 8-bit RGB with libjpeg's fixed-point rounding (the reference decodes with
// libjpeg-turbo), then weighted; chroma is taken from the sample covering the
// pixel, without libjpeg's interpolating upsampling (its effect on luminance
// cancels out except where a channel clips).
func readYCbCr(dst []float32, m *image.YCbCr, rows, cols []int) {
	nc := len(cols)
	b := m.Rect
	yCol := make([]int, nc)
	cCol := make([]int, nc)
	base := m.COffset(b.Min.X, b.Min.Y)
	for j, x := range cols {
		yCol[j] = x
		cCol[j] = m.COffset(b.Min.X+x, b.Min.Y) - base
	}
	for i, y := range rows {
		yRow := m.Y[y*m.YStride:]
		cOff := m.COffset(b.Min.X, b.Min.Y+y)
		cbRow, crRow := m.Cb[cOff:], m.Cr[cOff:]
		out := dst[i*nc : (i+1)*nc]
		for j := range out {
			out[j] = ycbcrLuma(yRow[yCol[j]], cbRow[cCol[j]], crRow[cCol[j]])
		}
	}
}

// ycbcrLuma converts one JFIF YCbCr pixel to 8-bit RGB as libjpeg does
// (16-bit fixed point, rounding half up, clamping) and returns its
// luminance.
func ycbcrLuma(y, cb, cr uint8) float32 {
	t := &lumaTab
	yy := int(y) + 256
	return t.r[yy+int(t.crR[cr])] + t.g[yy+int((t.cbG[cb]+t.crG[cr])>>16)] + t.b[yy+int(t.cbB[cb])]
}
