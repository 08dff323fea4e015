package eval

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"math/rand/v2"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Edit is one change made to an original before it is matched, as
// uploaders change known items: a re-encode, a resize, a crop, a caption.
type Edit struct {
	Name string // "jpeg-q30", "crop-10"
	Doc  string // what it does, one line
	// Apply returns the edited image; r draws its random choices (crop
	// positions, noise, colours), so that a seed decides them. Apply does
	// not change img. Nil means the original file as it is, bytes
	// unchanged.
	Apply func(img image.Image, r *rand.Rand) image.Image
	// JPEG is the quality (1..100) the edited image is encoded with; 0
	// encodes it as PNG, losslessly, so that the edit alone is measured.
	JPEG int
}

// ImageEdits returns the image edits, in the order the report lists them.
func ImageEdits() []Edit {
	plain := func(f func(*image.RGBA) *image.RGBA) func(image.Image, *rand.Rand) image.Image {
		return func(img image.Image, _ *rand.Rand) image.Image { return f(toRGBA(img)) }
	}
	return []Edit{
		{Name: "original", Doc: "the original file, bytes unchanged (exact copy)"},
		{Name: "png", Doc: "the decoded pixels re-encoded as PNG (lossless: only the decoder and the file differ)",
			Apply: plain(func(m *image.RGBA) *image.RGBA { return m })},
		{Name: "jpeg-q30", Doc: "re-encoded as JPEG quality 30", JPEG: 30,
			Apply: plain(func(m *image.RGBA) *image.RGBA { return m })},
		{Name: "resize-50", Doc: "scaled to 50% a side (Catmull-Rom)", Apply: plain(func(m *image.RGBA) *image.RGBA { return Scale(m, 0.5) })},
		{Name: "resize-25", Doc: "scaled to 25% a side (Catmull-Rom)", Apply: plain(func(m *image.RGBA) *image.RGBA { return Scale(m, 0.25) })},
		{Name: "crop-10", Doc: "90% of width and of height kept, at a random position",
			Apply: func(img image.Image, r *rand.Rand) image.Image { return Crop(toRGBA(img), 0.90, r) }},
		{Name: "crop-25", Doc: "75% of width and of height kept, at a random position",
			Apply: func(img image.Image, r *rand.Rand) image.Image { return Crop(toRGBA(img), 0.75, r) }},
		{Name: "flip", Doc: "mirrored left to right", Apply: plain(FlipH)},
		{Name: "rotate-90", Doc: "turned 90 degrees counter-clockwise", Apply: plain(Rotate90)},
		{Name: "rotate-180", Doc: "turned 180 degrees", Apply: plain(Rotate180)},
		{Name: "rotate-270", Doc: "turned 270 degrees counter-clockwise (90 clockwise)", Apply: plain(Rotate270)},
		{Name: "grey", Doc: "greyscale (Rec. 601 luma)", Apply: plain(Grey)},
		{Name: "bright-contrast", Doc: "brightness +20 of 255 and contrast x1.25",
			Apply: plain(func(m *image.RGBA) *image.RGBA { return Levels(m, 1.25, 20) })},
		{Name: "dark-contrast", Doc: "brightness -30 of 255 and contrast x0.8",
			Apply: plain(func(m *image.RGBA) *image.RGBA { return Levels(m, 0.8, -30) })},
		{Name: "blur", Doc: "Gaussian blur, sigma 1% of the shorter side (at least 1 px)",
			Apply: plain(func(m *image.RGBA) *image.RGBA { return Blur(m, max(1, 0.01*float64(minSide(m)))) })},
		{Name: "gamma-0.6", Doc: "gamma 0.6 (midtones lighter)", Apply: plain(func(m *image.RGBA) *image.RGBA { return Gamma(m, 0.6) })},
		{Name: "gamma-1.6", Doc: "gamma 1.6 (midtones darker)", Apply: plain(func(m *image.RGBA) *image.RGBA { return Gamma(m, 1.6) })},
		{Name: "noise", Doc: "Gaussian noise, sigma 12 of 255 per channel",
			Apply: func(img image.Image, r *rand.Rand) image.Image { return Noise(toRGBA(img), 12, r) }},
		{Name: "caption-top", Doc: "opaque black caption bar with white text over the top 15%",
			Apply: plain(func(m *image.RGBA) *image.RGBA { return Caption(m, 0.15, false, 255) })},
		{Name: "caption-bottom", Doc: "opaque black caption bar with white text over the bottom 15%",
			Apply: plain(func(m *image.RGBA) *image.RGBA { return Caption(m, 0.15, true, 255) })},
		{Name: "caption-top-60", Doc: "translucent (60% black) caption bar with white text over the top 15%",
			Apply: plain(func(m *image.RGBA) *image.RGBA { return Caption(m, 0.15, false, 153) })},
		{Name: "caption-bottom-60", Doc: "translucent (60% black) caption bar with white text over the bottom 15%",
			Apply: plain(func(m *image.RGBA) *image.RGBA { return Caption(m, 0.15, true, 153) })},
		{Name: "logo", Doc: "opaque logo, 15% of the shorter side, in a random corner",
			Apply: func(img image.Image, r *rand.Rand) image.Image { return Logo(toRGBA(img), 0.15, r) }},
		{Name: "pad-16x9-black", Doc: "padded to 16:9 with black bars", Apply: plain(func(m *image.RGBA) *image.RGBA { return Pad(m, 16, 9, PadBlack) })},
		{Name: "pad-16x9-white", Doc: "padded to 16:9 with white bars", Apply: plain(func(m *image.RGBA) *image.RGBA { return Pad(m, 16, 9, PadWhite) })},
		{Name: "pad-16x9-blur", Doc: "padded to 16:9 with a blurred, enlarged copy behind it",
			Apply: plain(func(m *image.RGBA) *image.RGBA { return Pad(m, 16, 9, PadBlurred) })},
		{Name: "pad-9x16-black", Doc: "padded to 9:16 with black bars", Apply: plain(func(m *image.RGBA) *image.RGBA { return Pad(m, 9, 16, PadBlack) })},
		{Name: "pad-9x16-white", Doc: "padded to 9:16 with white bars", Apply: plain(func(m *image.RGBA) *image.RGBA { return Pad(m, 9, 16, PadWhite) })},
		{Name: "pad-9x16-blur", Doc: "padded to 9:16 with a blurred, enlarged copy behind it",
			Apply: plain(func(m *image.RGBA) *image.RGBA { return Pad(m, 9, 16, PadBlurred) })},
		{Name: "border", Doc: "uniform border of a random colour, 5% of the shorter side on each side",
			Apply: func(img image.Image, r *rand.Rand) image.Image { return Border(toRGBA(img), 0.05, randomColour(r)) }},
		{Name: "screenshot", Doc: "shown in a phone screenshot: status bar, app header above, text and buttons below",
			Apply: plain(Screenshot)},
	}
}

// toRGBA returns img as an *image.RGBA with its origin at (0, 0); a copy
// unless it is one already.
func toRGBA(img image.Image) *image.RGBA {
	if m, ok := img.(*image.RGBA); ok && m.Rect.Min == (image.Point{}) {
		return m
	}
	b := img.Bounds()
	m := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(m, m.Rect, img, b.Min, draw.Src)
	return m
}

func minSide(m *image.RGBA) int { return min(m.Rect.Dx(), m.Rect.Dy()) }

// Scale returns m scaled by f on each side (at least 1 pixel), with
// Catmull-Rom.
func Scale(m *image.RGBA, f float64) *image.RGBA {
	w, h := max(1, int(math.Round(float64(m.Rect.Dx())*f))), max(1, int(math.Round(float64(m.Rect.Dy())*f)))
	return resize(m, w, h)
}

func resize(m *image.RGBA, w, h int) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.CatmullRom.Scale(dst, dst.Rect, m, m.Rect, draw.Src, nil)
	return dst
}

// Crop returns the part of m that keeps the share keep (0..1] of its
// width and of its height, at a position r draws.
func Crop(m *image.RGBA, keep float64, r *rand.Rand) *image.RGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	cw, ch := max(1, int(math.Round(float64(w)*keep))), max(1, int(math.Round(float64(h)*keep)))
	x0, y0 := r.IntN(w-cw+1), r.IntN(h-ch+1)
	dst := image.NewRGBA(image.Rect(0, 0, cw, ch))
	draw.Draw(dst, dst.Rect, m, image.Pt(x0, y0), draw.Src)
	return dst
}

// remap returns a w x h image whose pixel (x, y) is m's pixel at src(x, y).
func remap(m *image.RGBA, w, h int, src func(x, y int) (int, int)) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			sx, sy := src(x, y)
			copy(dst.Pix[dst.PixOffset(x, y):][:4], m.Pix[m.PixOffset(sx, sy):][:4])
		}
	}
	return dst
}

// FlipH returns m mirrored left to right.
func FlipH(m *image.RGBA) *image.RGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	return remap(m, w, h, func(x, y int) (int, int) { return w - 1 - x, y })
}

// Rotate90 returns m turned 90 degrees counter-clockwise.
func Rotate90(m *image.RGBA) *image.RGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	return remap(m, h, w, func(x, y int) (int, int) { return w - 1 - y, x })
}

// Rotate180 returns m turned 180 degrees.
func Rotate180(m *image.RGBA) *image.RGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	return remap(m, w, h, func(x, y int) (int, int) { return w - 1 - x, h - 1 - y })
}

// Rotate270 returns m turned 270 degrees counter-clockwise.
func Rotate270(m *image.RGBA) *image.RGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	return remap(m, h, w, func(x, y int) (int, int) { return y, h - 1 - x })
}

// perChannel returns m with f applied to every colour channel (alpha kept).
func perChannel(m *image.RGBA, f func(i int, v uint8) uint8) *image.RGBA {
	dst := image.NewRGBA(m.Rect)
	copy(dst.Pix, m.Pix)
	for i := range dst.Pix {
		if i%4 != 3 {
			dst.Pix[i] = f(i, dst.Pix[i])
		}
	}
	return dst
}

func lut(f func(v float64) float64) func(int, uint8) uint8 {
	var t [256]uint8
	for v := range t {
		t[v] = clamp(f(float64(v)))
	}
	return func(_ int, v uint8) uint8 { return t[v] }
}

func clamp(v float64) uint8 { return uint8(math.Round(min(255, max(0, v)))) }

// Grey returns m in greyscale (Rec. 601 luma in every channel).
func Grey(m *image.RGBA) *image.RGBA {
	dst := image.NewRGBA(m.Rect)
	copy(dst.Pix, m.Pix)
	for i := 0; i < len(dst.Pix); i += 4 {
		p := dst.Pix[i : i+3]
		y := clamp(0.299*float64(p[0]) + 0.587*float64(p[1]) + 0.114*float64(p[2]))
		p[0], p[1], p[2] = y, y, y
	}
	return dst
}

// Levels returns m with its contrast multiplied by contrast (about mid
// grey) and brightness (of 255) added.
func Levels(m *image.RGBA, contrast, brightness float64) *image.RGBA {
	return perChannel(m, lut(func(v float64) float64 { return (v-127.5)*contrast + 127.5 + brightness }))
}

// Gamma returns m with every channel raised to the power g (on 0..1).
func Gamma(m *image.RGBA, g float64) *image.RGBA {
	return perChannel(m, lut(func(v float64) float64 { return 255 * math.Pow(v/255, g) }))
}

// Noise returns m with Gaussian noise of standard deviation sigma (of 255)
// added to every colour channel, drawn from r.
func Noise(m *image.RGBA, sigma float64, r *rand.Rand) *image.RGBA {
	return perChannel(m, func(_ int, v uint8) uint8 { return clamp(float64(v) + r.NormFloat64()*sigma) })
}

// Blur returns m blurred with an approximately Gaussian kernel of standard
// deviation sigma pixels (three box blurs).
func Blur(m *image.RGBA, sigma float64) *image.RGBA {
	// Three box blurs of width 2r+1 have variance 3*((2r+1)^2-1)/12.
	r := max(1, int(math.Round((math.Sqrt(4*sigma*sigma+1)-1)/2)))
	dst := image.NewRGBA(m.Rect)
	copy(dst.Pix, m.Pix)
	tmp := make([]uint8, len(m.Pix))
	for range 3 {
		boxBlur(dst.Pix, tmp, m.Rect.Dx(), m.Rect.Dy(), dst.Stride, 4, r)
		boxBlur(tmp, dst.Pix, m.Rect.Dy(), m.Rect.Dx(), 4, dst.Stride, r)
	}
	return dst
}

// boxBlur blurs along lines of n pixels (rows when step is 4), lines
// apart in src and dst by lineStride bytes, writing to dst; edges repeat
// their pixel.
func boxBlur(src, dst []uint8, n, lines, lineStride, step, r int) {
	width := 2*r + 1
	for l := range lines {
		base := l * lineStride
		at := func(i, c int) int { return int(src[base+min(n-1, max(0, i))*step+c]) }
		for c := range 4 {
			sum := 0
			for i := -r; i <= r; i++ {
				sum += at(i, c)
			}
			for i := range n {
				dst[base+i*step+c] = uint8((sum + width/2) / width)
				sum += at(i+r+1, c) - at(i-r, c)
			}
		}
	}
}

// Caption returns m with a black bar of alpha (255: opaque) over the share
// band of its height, at the bottom or the top, with white text on it.
func Caption(m *image.RGBA, band float64, bottom bool, alpha uint8) *image.RGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	bh := max(1, int(math.Round(float64(h)*band)))
	bar := image.Rect(0, 0, w, bh)
	if bottom {
		bar = image.Rect(0, h-bh, w, h)
	}
	dst := image.NewRGBA(m.Rect)
	copy(dst.Pix, m.Pix)
	draw.Draw(dst, bar, image.NewUniform(color.NRGBA{A: alpha}), image.Point{}, draw.Over)
	text(dst, bar.Inset(bh/5), "BREAKING: WATCH BEFORE IT IS DELETED", color.White)
	return dst
}

// text draws s in c, scaled up from a bitmap font to the height of box,
// at box's left (clipped to box).
func text(dst *image.RGBA, box image.Rectangle, s string, c color.Color) {
	face := basicfont.Face7x13
	tw := font.MeasureString(face, s).Ceil()
	src := image.NewAlpha(image.Rect(0, 0, tw, 13))
	d := font.Drawer{Dst: src, Src: image.Opaque, Face: face, Dot: fixed.P(0, 11)}
	d.DrawString(s)
	if box.Dy() < 1 || box.Dx() < 1 {
		return
	}
	scale := float64(box.Dy()) / 13
	big := image.NewAlpha(image.Rect(0, 0, max(1, int(float64(tw)*scale)), box.Dy()))
	xdraw.NearestNeighbor.Scale(big, big.Rect, src, src.Rect, draw.Src, nil)
	draw.DrawMask(dst, box, image.NewUniform(c), image.Point{}, big, image.Point{}, draw.Over)
}

// Logo returns m with an opaque logo (a disc and a letter on a square
// badge) of the share size of its shorter side in a corner r picks.
func Logo(m *image.RGBA, size float64, r *rand.Rand) *image.RGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	s := max(4, int(math.Round(float64(minSide(m))*size)))
	margin := s / 4
	x, y := margin, margin
	if r.IntN(2) == 1 {
		x = w - s - margin
	}
	if r.IntN(2) == 1 {
		y = h - s - margin
	}
	dst := image.NewRGBA(m.Rect)
	copy(dst.Pix, m.Pix)
	box := image.Rect(x, y, x+s, y+s)
	draw.Draw(dst, box, image.NewUniform(color.RGBA{R: 200, G: 20, B: 30, A: 255}), image.Point{}, draw.Src)
	cx, cy, rad := x+s/2, y+s/2, float64(s)*0.4
	for py := y; py < y+s; py++ {
		for px := x; px < x+s; px++ {
			if math.Hypot(float64(px-cx), float64(py-cy)) <= rad {
				dst.SetRGBA(px, py, color.RGBA{R: 250, G: 250, B: 250, A: 255})
			}
		}
	}
	text(dst, image.Rect(x+s/3, y+s/4, x+s, y+3*s/4), "N", color.RGBA{R: 200, G: 20, B: 30, A: 255})
	return dst
}

// PadFill is what fills the bars of Pad.
type PadFill int

// The fills of Pad's bars.
const (
	PadBlack   PadFill = iota
	PadWhite           // white bars
	PadBlurred         // the image itself, enlarged to cover the frame and heavily blurred
)

// Pad returns m centred in the smallest frame of aspect aw:ah that holds
// it, the bars filled with fill.
func Pad(m *image.RGBA, aw, ah int, fill PadFill) *image.RGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	fw, fh := w, h
	if w*ah < h*aw { // narrower than the frame: bars left and right
		fw = (h*aw + ah - 1) / ah
	} else {
		fh = (w*ah + aw - 1) / aw
	}
	dst := image.NewRGBA(image.Rect(0, 0, fw, fh))
	switch fill {
	case PadBlack:
		draw.Draw(dst, dst.Rect, image.NewUniform(color.Black), image.Point{}, draw.Src)
	case PadWhite:
		draw.Draw(dst, dst.Rect, image.NewUniform(color.White), image.Point{}, draw.Src)
	case PadBlurred:
		// Cover the frame, then blur by shrinking to 1/16 and enlarging again.
		f := max(float64(fw)/float64(w), float64(fh)/float64(h))
		cover := Scale(m, f)
		small := resize(cover, max(1, cover.Rect.Dx()/16), max(1, cover.Rect.Dy()/16))
		back := resize(small, cover.Rect.Dx(), cover.Rect.Dy())
		off := image.Pt((back.Rect.Dx()-fw)/2, (back.Rect.Dy()-fh)/2)
		draw.Draw(dst, dst.Rect, back, off, draw.Src)
	}
	at := image.Pt((fw-w)/2, (fh-h)/2)
	draw.Draw(dst, m.Rect.Add(at), m, image.Point{}, draw.Src)
	return dst
}

// Border returns m framed by a border of colour c, the share width of its
// shorter side on each side.
func Border(m *image.RGBA, width float64, c color.Color) *image.RGBA {
	b := max(1, int(math.Round(float64(minSide(m))*width)))
	dst := image.NewRGBA(image.Rect(0, 0, m.Rect.Dx()+2*b, m.Rect.Dy()+2*b))
	draw.Draw(dst, dst.Rect, image.NewUniform(c), image.Point{}, draw.Src)
	draw.Draw(dst, m.Rect.Add(image.Pt(b, b)), m, image.Point{}, draw.Src)
	return dst
}

func randomColour(r *rand.Rand) color.RGBA {
	return color.RGBA{R: uint8(r.IntN(256)), G: uint8(r.IntN(256)), B: uint8(r.IntN(256)), A: 255}
}

// Screenshot returns m as a phone screenshot of a social-media post shows
// it: the full width of the screen, under a black status bar and a white
// app header (avatar, name), above a white footer of action buttons and
// lines of text.
func Screenshot(m *image.RGBA) *image.RGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	status, header, footer := max(2, w*6/100), max(4, w*14/100), max(8, w*35/100)
	dst := image.NewRGBA(image.Rect(0, 0, w, status+header+h+footer))
	draw.Draw(dst, dst.Rect, image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(dst, image.Rect(0, 0, w, status), image.NewUniform(color.Black), image.Point{}, draw.Src)
	text(dst, image.Rect(w/20, status/5, w, status*4/5), "9:41        LTE 87%", color.White)
	grey := image.NewUniform(color.RGBA{R: 120, G: 120, B: 120, A: 255})
	// Header: an avatar disc and the account name.
	ay, ar := status+header/2, header*3/10
	for y := ay - ar; y <= ay+ar; y++ {
		for x := w/20 + 0; x <= w/20+2*ar; x++ {
			if math.Hypot(float64(x-w/20-ar), float64(y-ay)) <= float64(ar) {
				dst.SetRGBA(x, y, color.RGBA{R: 40, G: 90, B: 200, A: 255})
			}
		}
	}
	text(dst, image.Rect(w/20+3*ar, ay-ar/2, w, ay+ar/2), "news.channel  - 2h", color.Black)
	draw.Draw(dst, m.Rect.Add(image.Pt(0, status+header)), m, image.Point{}, draw.Src)
	// Footer: a row of icons, then lines of text.
	fy := status + header + h
	icon := max(2, footer/6)
	for i := range 4 {
		x := w/20 + i*icon*2
		draw.Draw(dst, image.Rect(x, fy+icon/2, x+icon, fy+icon/2+icon), grey, image.Point{}, draw.Src)
	}
	line := max(2, footer/9)
	for i, s := range []string{"1,204 likes", "news.channel Share this everywhere before they take it down", "View all 318 comments"} {
		y := fy + 2*icon + i*line*3/2
		text(dst, image.Rect(w/20, y, w, y+line), s, color.Black)
	}
	return dst
}
