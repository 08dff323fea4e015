package pdq

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// synthetic returns a w x h image of smooth waves plus noise, with varying
// alpha (which PDQ must ignore), the same for the same seed.
func synthetic(w, h int, seed uint64) *image.NRGBA {
	rng := rand.New(rand.NewPCG(seed, 1))
	type wave struct{ fx, fy, ph, amp float64 }
	var waves [3][4]wave
	for c := range waves {
		for k := range waves[c] {
			waves[c][k] = wave{rng.Float64() * 12, rng.Float64() * 12, rng.Float64() * 6.3, 20 + rng.Float64()*30}
		}
	}
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			var px [4]uint8
			for c := range waves {
				v := 128.0
				for _, wv := range waves[c] {
					v += wv.amp * math.Sin(wv.fx*float64(x)/float64(w)*math.Pi+wv.fy*float64(y)/float64(h)*math.Pi+wv.ph)
				}
				v += rng.NormFloat64() * 8
				px[c] = uint8(max(0, min(255, v)))
			}
			px[3] = uint8(rng.IntN(256))
			copy(m.Pix[m.PixOffset(x, y):], px[:])
		}
	}
	return m
}

// opaque hides an image's concrete type so that readLuma takes its generic At path.
type opaque struct{ image.Image }

func mustDigest(t testing.TB, img image.Image) Digest {
	t.Helper()
	d, err := FromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func toJPEG(t testing.TB, img image.Image) *image.YCbCr {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	out, err := jpeg.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return out.(*image.YCbCr)
}

// TestFastPaths checks that each image type read directly gives exactly
// what the generic At path gives, for whole images and sub-images with odd
// offsets, below and above the pre-shrink size.
func TestFastPaths(t *testing.T) {
	for _, size := range []image.Point{{300, 200}, {700, 530}} {
		src := synthetic(size.X, size.Y, 7)
		rgba := image.NewRGBA(src.Bounds()) // opaque, so premultiplication is moot
		gray := image.NewGray(src.Bounds())
		pal := image.NewPaletted(src.Bounds(), palette.Plan9)
		for y := range size.Y {
			for x := range size.X {
				c := src.NRGBAAt(x, y)
				c.A = 255
				rgba.Set(x, y, c)
				gray.Set(x, y, c)
				pal.Set(x, y, c)
			}
		}
		rgbaAlpha := image.NewRGBA(src.Bounds()) // premultiplied, with alpha
		draw.Draw(rgbaAlpha, rgbaAlpha.Bounds(), src, image.Point{}, draw.Src)
		sub := image.Rect(3, 5, size.X-2, size.Y-1)
		for name, img := range map[string]image.Image{
			"nrgba":        src,
			"rgba":         rgba,
			"rgba-alpha":   rgbaAlpha,
			"gray":         gray,
			"paletted":     pal,
			"nrgba-sub":    src.SubImage(sub),
			"gray-sub":     gray.SubImage(sub),
			"rgba-sub":     rgba.SubImage(sub),
			"paletted-sub": pal.SubImage(sub),
		} {
			t.Run(fmt.Sprintf("%dx%d/%s", size.X, size.Y, name), func(t *testing.T) {
				fast, slow := mustDigest(t, img), mustDigest(t, opaque{img})
				if fast != slow {
					t.Errorf("fast path: hash %v quality %d; At path: hash %v quality %d",
						fast.Hash(), fast.Quality(), slow.Hash(), slow.Quality())
				}
			})
		}
	}
}

// TestYCbCr checks the YCbCr reader's indexing, for every subsampling ratio
// and odd sub-image offsets, against a per-pixel read through YOffset and
// COffset.
func TestYCbCr(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, ratio := range []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	} {
		m := image.NewYCbCr(image.Rect(-3, 1, 97, 80), ratio)
		for _, p := range [][]uint8{m.Y, m.Cb, m.Cr} {
			for i := range p {
				p[i] = uint8(rng.IntN(256))
			}
		}
		for _, r := range []image.Rectangle{m.Rect, image.Rect(0, 4, 91, 77), image.Rect(-2, 3, 95, 78)} {
			sub := m.SubImage(r).(*image.YCbCr)
			w, h := r.Dx(), r.Dy()
			rows, cols := nearest(h, h-7), nearest(w, w-5)
			got := make([]float32, len(rows)*len(cols))
			readLuma(got, sub, rows, cols)
			for i, y := range rows {
				for j, x := range cols {
					px, py := r.Min.X+x, r.Min.Y+y
					want := ycbcrLuma(m.Y[m.YOffset(px, py)], m.Cb[m.COffset(px, py)], m.Cr[m.COffset(px, py)])
					if g := got[i*len(cols)+j]; g != want {
						t.Fatalf("%v %v: luma at (%d,%d) = %v, want %v", ratio, r, px, py, g, want)
					}
				}
			}
		}
	}
	// Against Go's own YCbCr to RGB conversion (the At path), which rounds
	// differently by at most one level per channel.
	img := toJPEG(t, synthetic(640, 480, 9))
	fast, slow := mustDigest(t, img), mustDigest(t, opaque{img})
	if d := Distance(fast.Hash(), slow.Hash()); d > 8 || absInt(fast.Quality()-slow.Quality()) > 2 {
		t.Errorf("YCbCr fast path vs At path: distance %d, quality %d vs %d; want <= 8 bits, <= 2 points", d, fast.Quality(), slow.Quality())
	}
}

// TestOriented checks that hashing under an EXIF orientation equals hashing
// the pixels turned for display.
func TestOriented(t *testing.T) {
	display := map[Orientation]Variant{
		TopLeft: Original, TopRight: FlipY, BottomRight: Rotate180, BottomLeft: FlipX,
		LeftTop: FlipPlus1, RightTop: Rotate270, RightBottom: FlipMinus1, LeftBottom: Rotate90,
	}
	for _, size := range []image.Point{{600, 400}, {300, 200}, {513, 100}, {37, 50}} {
		img := synthetic(size.X, size.Y, 11)
		for o := TopLeft; o <= LeftBottom; o++ {
			got, err := FromOrientedImage(img, o)
			if err != nil {
				t.Fatal(err)
			}
			want := mustDigest(t, transform(img, display[o]))
			if got != want {
				t.Errorf("%v orientation %d: hash %v quality %d, want (pixels turned by %v) %v quality %d",
					size, o, got.Hash(), got.Quality(), display[o], want.Hash(), want.Quality())
			}
		}
		// No tag or a bad one: as stored.
		for _, o := range []Orientation{0, 9, -1} {
			got, _ := FromOrientedImage(img, o)
			if want := mustDigest(t, img); got != want {
				t.Errorf("%v orientation %d: differs from FromImage", size, o)
			}
		}
	}
}

// lumaOf returns the full-size luminance of an NRGBA image.
func lumaOf(m *image.NRGBA) []float32 {
	b := m.Bounds()
	out := make([]float32, 0, b.Dx()*b.Dy())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := m.NRGBAAt(x, y)
			out = append(out, luma8(c.R, c.G, c.B))
		}
	}
	return out
}

func TestFrameAndLuma(t *testing.T) {
	small := synthetic(300, 200, 5)
	big := synthetic(700, 530, 6)
	for _, tc := range []struct {
		name      string
		img       *image.NRGBA
		sameImage bool // FromFrame equals FromImage (no pre-shrink either way)
	}{
		{"small", small, true},
		{"big", big, false},
	} {
		f, err := FromFrame(tc.img)
		if err != nil {
			t.Fatal(err)
		}
		b := tc.img.Bounds()
		lum := lumaOf(tc.img)
		before := slices.Clone(lum)
		l, err := FromLuma(lum, b.Dx(), b.Dy())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(lum, before) {
			t.Errorf("%s: FromLuma modified its input", tc.name)
		}
		if f != l {
			t.Errorf("%s: FromFrame %v, FromLuma %v", tc.name, f.Hash(), l.Hash())
		}
		if im := mustDigest(t, tc.img); (im == f) != tc.sameImage {
			t.Errorf("%s: FromImage == FromFrame is %v, want %v", tc.name, im == f, tc.sameImage)
		}
	}
	// A 64x64 buffer goes straight to quality and DCT.
	lum := lumaOf(synthetic(64, 64, 8))
	d, err := FromLuma(lum, 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	var a [64 * 64]float32
	copy(a[:], lum)
	var want Digest
	want.quality = quality(&a)
	dct(&a, &want.coef)
	if d != want {
		t.Errorf("64x64 FromLuma: hash %v, want %v", d.Hash(), want.Hash())
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"FromImage 4x100", second(FromImage(image.NewGray(image.Rect(0, 0, 4, 100)))), ErrTooSmall},
		{"FromImage 100x0", second(FromImage(image.NewGray(image.Rect(0, 0, 100, 0)))), ErrTooSmall},
		{"FromOrientedImage 100x4", second(FromOrientedImage(image.NewGray(image.Rect(0, 0, 100, 4)), RightTop)), ErrTooSmall},
		{"FromFrame 4x4", second(FromFrame(image.NewGray(image.Rect(0, 0, 4, 4)))), ErrTooSmall},
		{"FromLuma short", second(FromLuma(make([]float32, 99), 10, 10)), ErrBadLuma},
		{"FromLuma 4x4", second(FromLuma(make([]float32, 16), 4, 4)), ErrTooSmall},
		{"FromImage 5x5", second(FromImage(image.NewGray(image.Rect(0, 0, 5, 5)))), nil},
	} {
		if !errors.Is(tc.err, tc.want) || (tc.want == nil) != (tc.err == nil) {
			t.Errorf("%s: error %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// TestFlat checks that a flat image has quality 0, so it is never matched.
func TestFlat(t *testing.T) {
	for _, c := range []color.Gray{{0}, {128}, {255}} {
		m := image.NewGray(image.Rect(0, 0, 400, 250))
		for i := range m.Pix {
			m.Pix[i] = c.Y
		}
		if d := mustDigest(t, m); d.Quality() != 0 {
			t.Errorf("flat grey %d: quality %d, want 0", c.Y, d.Quality())
		}
	}
	if d := mustDigest(t, synthetic(400, 250, 1)); d.Quality() < minQuality {
		t.Errorf("textured image: quality %d, want >= %d", d.Quality(), minQuality)
	}
}

// naiveBox is the 1-D box mean of ALGORITHM.md written out directly.
func naiveBox(in []float32, win int) []float32 {
	half := (win + 2) / 2
	out := make([]float32, len(in))
	for o := range in {
		lo, hi := max(0, o-(win-half)), min(len(in)-1, o+half-1)
		var s float64
		for k := lo; k <= hi; k++ {
			s += float64(in[k])
		}
		out[o] = float32(s / float64(hi-lo+1))
	}
	return out
}

// TestJaroszAndDCT checks the running-sum filter and the DCT against direct
// evaluations of their definitions.
func TestJaroszAndDCT(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []image.Point{{64, 64}, {300, 77}, {129, 1000}, {512, 512}, {1920, 1080}} {
		w, h := size.X, size.Y
		lum := make([]float32, w*h)
		for i := range lum {
			lum[i] = float32(rng.IntN(256))
		}
		// Naive: rows then columns, twice, then sample the centres.
		want := slices.Clone(lum)
		wx, wy := jaroszWindow(w), jaroszWindow(h)
		for range 2 {
			for y := range h {
				copy(want[y*w:], naiveBox(want[y*w:(y+1)*w], wx))
			}
			col := make([]float32, h)
			for x := range w {
				for y := range h {
					col[y] = want[y*w+x]
				}
				col = naiveBox(col, wy)
				for y := range h {
					want[y*w+x] = col[y]
				}
			}
		}
		var got [64 * 64]float32
		var z digester
		lc := slices.Clone(lum)
		z.rows(lc, w, h) // the whole filter: its pass along rows, then down columns
		z.jarosz(lc, w, h, nil, &got)
		for i := range 64 {
			for j := range 64 {
				y, x := int(math.Floor((float64(i)+0.5)*float64(h)/64)), int(math.Floor((float64(j)+0.5)*float64(w)/64))
				if g, wv := got[64*i+j], want[y*w+x]; math.Abs(float64(g-wv)) > 1e-3 {
					t.Fatalf("%v: cell (%d,%d) = %v, want %v", size, i, j, g, wv)
				}
			}
		}
		// DCT by its definition.
		var b [256]float64
		dct(&got, &b)
		for u := range 16 {
			for v := range 16 {
				var s float64
				for y := range 64 {
					for x := range 64 {
						s += math.Sqrt(2.0/64) * math.Cos(math.Pi/128*float64(u+1)*float64(2*y+1)) *
							math.Sqrt(2.0/64) * math.Cos(math.Pi/128*float64(v+1)*float64(2*x+1)) * float64(got[64*y+x])
					}
				}
				if math.Abs(s-b[16*u+v]) > 1e-6*(1+math.Abs(s)) {
					t.Fatalf("%v: DCT (%d,%d) = %v, want %v", size, u, v, b[16*u+v], s)
				}
			}
		}
	}
}

// TestThreshold checks the median rule: with 256 distinct coefficients,
// exactly the 128 above the lower middle value are set.
func TestThreshold(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20 {
		var c [256]float64
		for k := range c {
			c[k] = rng.NormFloat64()
		}
		h := threshold(&c)
		sorted := c
		slices.Sort(sorted[:])
		n := 0
		for k := range Bits {
			if h.Bit(k) {
				n++
				if c[k] <= sorted[127] {
					t.Fatalf("bit %d set for %v <= median %v", k, c[k], sorted[127])
				}
			}
		}
		if n != 128 {
			t.Fatalf("%d bits set, want 128", n)
		}
	}
}

func TestLumaWeights(t *testing.T) {
	for _, tc := range []struct {
		c    color.Color
		want float64
	}{
		{color.NRGBA{255, 0, 0, 255}, 0.299 * 255},
		{color.NRGBA{0, 255, 0, 0}, 0.587 * 255}, // alpha ignored
		{color.NRGBA{0, 0, 255, 128}, 0.114 * 255},
		{color.NRGBA{10, 20, 30, 255}, 0.299*10 + 0.587*20 + 0.114*30},
		{color.Gray{77}, 77},
		{color.Gray16{0x8080}, 128},
		{color.RGBA{100, 50, 0, 200}, 0.299*127.5 + 0.587*63.75}, // premultiplied: un-premultiplied first
		{color.CMYK{0, 255, 255, 0}, 0.299 * 255},                // red
	} {
		if got := lumaColor(tc.c); math.Abs(float64(got)-tc.want) > 0.5 {
			t.Errorf("lumaColor(%#v) = %v, want %v", tc.c, got, tc.want)
		}
	}
	for _, tc := range []struct {
		y, cb, cr uint8
		want      float64
	}{
		{128, 128, 128, 128},
		{0, 128, 128, 0},
		{255, 128, 128, 255},
		{76, 85, 255, 0.299 * 254}, // red: R clips at 255 is the only loss
	} {
		if got := ycbcrLuma(tc.y, tc.cb, tc.cr); math.Abs(float64(got)-tc.want) > 1 {
			t.Errorf("ycbcrLuma(%d, %d, %d) = %v, want %v", tc.y, tc.cb, tc.cr, got, tc.want)
		}
	}
}

// TestYCbCrTables checks the table-driven conversion against libjpeg's
// formulas written out, for every Y, Cb and Cr.
func TestYCbCrTables(t *testing.T) {
	clamp := func(v int32) float32 { return float32(min(max(v, 0), 255)) }
	for y := range 256 {
		for cb := range 256 {
			for cr := range 256 {
				yy, b, r := int32(y), int32(cb)-128, int32(cr)-128
				red := clamp(yy + (91881*r+32768)>>16)
				green := clamp(yy + (-22554*b-46802*r+32768)>>16)
				blue := clamp(yy + (116130*b+32768)>>16)
				want := float32(0.299)*red + float32(0.587)*green + float32(0.114)*blue
				if got := ycbcrLuma(uint8(y), uint8(cb), uint8(cr)); got != want {
					t.Fatalf("ycbcrLuma(%d, %d, %d) = %v, want %v", y, cb, cr, got, want)
				}
			}
		}
	}
}

// TestMirrors checks FromOrientedImageMirrors against FromImage of the
// picture as displayed under each orientation with its pixels turned and
// then left, or mirrored (top to bottom, left to right, both), bit for
// bit: on images not pre-shrunk (its shortcut: one read, shared first
// pass) and pre-shrunk ones, of several pixel types.
func TestMirrors(t *testing.T) {
	display := map[Orientation]Variant{
		TopLeft: Original, TopRight: FlipY, BottomRight: Rotate180, BottomLeft: FlipX,
		LeftTop: FlipPlus1, RightTop: Rotate270, RightBottom: FlipMinus1, LeftBottom: Rotate90,
	}
	for _, size := range []image.Point{{512, 512}, {300, 200}, {37, 50}, {600, 400}, {513, 100}} {
		img := synthetic(size.X, size.Y, 5)
		gray := image.NewGray(img.Bounds())
		for i := range gray.Pix {
			gray.Pix[i] = img.Pix[4*i+1]
		}
		for _, m := range []image.Image{img, gray} {
			for o := TopLeft; o <= LeftBottom; o++ {
				got, err := FromOrientedImageMirrors(m, o)
				if err != nil {
					t.Fatal(err)
				}
				shown := transform(m, display[o])
				for k, v := range []Variant{Original, FlipX, FlipY, Rotate180} {
					var turned image.Image = transform(shown, v)
					if _, ok := m.(*image.Gray); ok { // grey stays grey, not weighted RGB
						g := image.NewGray(turned.Bounds())
						draw.Draw(g, g.Rect, turned, turned.Bounds().Min, draw.Src)
						turned = g
					}
					if want := mustDigest(t, turned); got[k] != want {
						t.Errorf("%v %T orientation %d then %v: hash %v quality %d, want (pixels turned) %v quality %d",
							size, m, o, v, got[k].Hash(), got[k].Quality(), want.Hash(), want.Quality())
					}
				}
			}
		}
	}
	if _, err := FromOrientedImageMirrors(synthetic(4, 40, 1), TopLeft); !errors.Is(err, ErrTooSmall) {
		t.Errorf("FromOrientedImageMirrors(4x40) = %v, want ErrTooSmall", err)
	}
}

// TestGrayRegions checks FromGrayRegions against FromFrame of each region
// cut out, bit for bit, on regions that share their columns (top and
// bottom cuts, which share the first pass) and others, and its errors.
func TestGrayRegions(t *testing.T) {
	img := synthetic(512, 410, 3)
	m := image.NewGray(image.Rect(0, 0, 512, 410))
	for i := range m.Pix {
		m.Pix[i] = img.Pix[4*i]
	}
	rs := []image.Rectangle{
		image.Rect(0, 82, 512, 410), image.Rect(0, 0, 512, 328), // the caption cuts of the frame
		image.Rect(26, 20, 487, 390),                                                                 // a centred window
		image.Rect(100, 0, 300, 200), image.Rect(100, 150, 300, 410), image.Rect(100, 300, 300, 310), // disjoint
		image.Rect(0, 0, 512, 410), image.Rect(7, 3, 12, 8),
	}
	got, err := FromGrayRegions(m, rs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		want, err := FromFrame(m.SubImage(r))
		if err != nil {
			t.Fatal(err)
		}
		if got[i] != want {
			t.Errorf("region %v: hash %v quality %d, want (FromFrame of the region) %v quality %d",
				r, got[i].Hash(), got[i].Quality(), want.Hash(), want.Quality())
		}
	}
	if _, err := FromGrayRegions(m, []image.Rectangle{image.Rect(0, 0, 4, 100)}); !errors.Is(err, ErrTooSmall) {
		t.Errorf("FromGrayRegions(4x100 region) = %v, want ErrTooSmall", err)
	}
	if _, err := FromGrayRegions(m, []image.Rectangle{image.Rect(500, 0, 520, 100)}); !errors.Is(err, ErrBadLuma) {
		t.Errorf("FromGrayRegions(region outside) = %v, want ErrBadLuma", err)
	}
}
