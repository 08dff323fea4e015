package eval

import (
	"image"
	"image/color"
	"math/rand/v2"
	"testing"
)

// testImage returns a w x h image whose every pixel differs from the
// others: R and G are x and y, B a hash of both.
func testImage(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetRGBA(x, y, color.RGBA{R: uint8(x), G: uint8(y), B: uint8(x*7 + y*13), A: 255})
		}
	}
	return m
}

func TestEditsAreDeterministicAndPure(t *testing.T) {
	src := testImage(120, 80)
	before := append([]uint8(nil), src.Pix...)
	for _, e := range ImageEdits() {
		if e.Apply == nil {
			continue
		}
		a := toRGBA(e.Apply(src, rand.New(rand.NewPCG(1, 2))))
		b := toRGBA(e.Apply(src, rand.New(rand.NewPCG(1, 2))))
		if a.Rect != b.Rect || string(a.Pix) != string(b.Pix) {
			t.Errorf("%s: two runs with the same seed differ", e.Name)
		}
		if string(src.Pix) != string(before) {
			t.Fatalf("%s changed its input", e.Name)
		}
	}
}

func TestGeometry(t *testing.T) {
	src := testImage(120, 80)
	at := func(m *image.RGBA, x, y int) color.RGBA { return m.RGBAAt(x, y) }
	for _, tc := range []struct {
		name  string
		m     *image.RGBA
		w, h  int
		srcOf func(x, y int) (int, int) // the source pixel of (x, y)
	}{
		{"FlipH", FlipH(src), 120, 80, func(x, y int) (int, int) { return 119 - x, y }},
		{"Rotate90", Rotate90(src), 80, 120, func(x, y int) (int, int) { return 119 - y, x }},
		{"Rotate180", Rotate180(src), 120, 80, func(x, y int) (int, int) { return 119 - x, 79 - y }},
		{"Rotate270", Rotate270(src), 80, 120, func(x, y int) (int, int) { return y, 79 - x }},
	} {
		if got := tc.m.Rect.Size(); got != image.Pt(tc.w, tc.h) {
			t.Errorf("%s: size %v, want %dx%d", tc.name, got, tc.w, tc.h)
			continue
		}
		for y := range tc.h {
			for x := range tc.w {
				if sx, sy := tc.srcOf(x, y); at(tc.m, x, y) != at(src, sx, sy) {
					t.Fatalf("%s: pixel (%d,%d) = %v, want source (%d,%d) %v", tc.name, x, y, at(tc.m, x, y), sx, sy, at(src, sx, sy))
				}
			}
		}
	}
	// Rotating four times, or flipping twice, is the identity.
	if m := Rotate90(Rotate90(Rotate90(Rotate90(src)))); string(m.Pix) != string(src.Pix) {
		t.Error("Rotate90 four times is not the identity")
	}
	if m := Rotate270(Rotate90(src)); string(m.Pix) != string(src.Pix) {
		t.Error("Rotate270(Rotate90(m)) is not m")
	}
}

func TestCropKeepsTheShareAtRandomPositions(t *testing.T) {
	src := testImage(200, 100)
	offsets := make(map[image.Point]bool)
	for seed := range uint64(20) {
		for _, keep := range []float64{0.9, 0.75} {
			m := Crop(src, keep, rand.New(rand.NewPCG(seed, 0)))
			if want := image.Pt(int(200*keep+0.5), int(100*keep+0.5)); m.Rect.Size() != want {
				t.Fatalf("Crop(200x100, %v) is %v, want %v", keep, m.Rect.Size(), want)
			}
			// The crop is a window of the source: its first pixel says where.
			c := m.RGBAAt(0, 0)
			off := image.Pt(int(c.R), int(c.G))
			for y := range m.Rect.Dy() {
				for x := range m.Rect.Dx() {
					if m.RGBAAt(x, y) != src.RGBAAt(off.X+x, off.Y+y) {
						t.Fatalf("Crop(%v) at (%d,%d) is not the source at offset %v", keep, x, y, off)
					}
				}
			}
			if keep == 0.75 {
				offsets[off] = true
			}
		}
	}
	if len(offsets) < 5 {
		t.Errorf("20 seeds cropped at %d positions, want them spread (not only centred)", len(offsets))
	}
}

func TestPad(t *testing.T) {
	for _, tc := range []struct {
		w, h, aw, ah int
		want         image.Point
	}{
		{400, 300, 16, 9, image.Pt(534, 300)}, // 4:3 to 16:9: bars left and right
		{400, 300, 9, 16, image.Pt(400, 712)}, // 4:3 to 9:16: bars above and below
		{300, 400, 16, 9, image.Pt(712, 400)},
		{1600, 300, 16, 9, image.Pt(1600, 900)}, // wider than 16:9: bars above and below
		{160, 90, 16, 9, image.Pt(160, 90)},     // already 16:9
	} {
		src := testImage(tc.w, tc.h)
		for _, fill := range []PadFill{PadBlack, PadWhite, PadBlurred} {
			m := Pad(src, tc.aw, tc.ah, fill)
			if m.Rect.Size() != tc.want {
				t.Errorf("Pad(%dx%d, %d:%d, %d) is %v, want %v", tc.w, tc.h, tc.aw, tc.ah, fill, m.Rect.Size(), tc.want)
				continue
			}
			at := image.Pt((tc.want.X-tc.w)/2, (tc.want.Y-tc.h)/2)
			if m.RGBAAt(at.X+5, at.Y+7) != src.RGBAAt(5, 7) {
				t.Errorf("Pad(%dx%d, %d:%d, %d): the image is not centred", tc.w, tc.h, tc.aw, tc.ah, fill)
			}
			if at != (image.Point{}) {
				corner := m.RGBAAt(0, 0)
				switch fill {
				case PadBlack:
					if corner != (color.RGBA{A: 255}) {
						t.Errorf("Pad black: corner %v", corner)
					}
				case PadWhite:
					if corner != (color.RGBA{R: 255, G: 255, B: 255, A: 255}) {
						t.Errorf("Pad white: corner %v", corner)
					}
				case PadBlurred:
					if corner.A != 255 || corner == (color.RGBA{A: 255}) {
						t.Errorf("Pad blurred: corner %v, want image content", corner)
					}
				}
			}
		}
	}
}

func TestCaptionCoversTheBand(t *testing.T) {
	src := testImage(200, 100)
	for _, tc := range []struct {
		bottom bool
		alpha  uint8
	}{{false, 255}, {true, 255}, {false, 153}, {true, 153}} {
		m := Caption(src, 0.15, tc.bottom, tc.alpha)
		band := image.Rect(0, 0, 200, 15)
		if tc.bottom {
			band = image.Rect(0, 85, 200, 100)
		}
		changed, black := 0, 0
		for y := range 100 {
			for x := range 200 {
				in := image.Pt(x, y).In(band)
				same := m.RGBAAt(x, y) == src.RGBAAt(x, y)
				if !in && !same {
					t.Fatalf("Caption(bottom %v): pixel (%d,%d) outside the band changed", tc.bottom, x, y)
				}
				if in && !same {
					changed++
				}
				if in && m.RGBAAt(x, y) == (color.RGBA{A: 255}) {
					black++
				}
			}
		}
		area := band.Dx() * band.Dy()
		if changed < area*95/100 {
			t.Errorf("Caption(bottom %v, alpha %d) changed %d of the band's %d pixels, want nearly all", tc.bottom, tc.alpha, changed, area)
		}
		if tc.alpha == 255 && black < area/2 {
			t.Errorf("Caption(bottom %v, opaque): %d of %d band pixels black, want most", tc.bottom, black, area)
		}
		if tc.alpha < 255 && black > area/10 {
			t.Errorf("Caption(bottom %v, translucent): %d of %d band pixels pure black, want the image through it", tc.bottom, black, area)
		}
	}
}

func TestOtherEdits(t *testing.T) {
	src := testImage(120, 80)
	if m := Scale(src, 0.25); m.Rect.Size() != image.Pt(30, 20) {
		t.Errorf("Scale(120x80, 0.25) is %v, want 30x20", m.Rect.Size())
	}
	if m := Border(src, 0.05, color.White); m.Rect.Size() != image.Pt(128, 88) || m.RGBAAt(0, 0) != (color.RGBA{255, 255, 255, 255}) ||
		m.RGBAAt(4, 4) != src.RGBAAt(0, 0) {
		t.Errorf("Border(120x80, 5%%) is %v, want 128x88 with the image at (4,4)", m.Rect.Size())
	}
	g := Grey(src)
	for i := 0; i < len(g.Pix); i += 4 {
		if p := g.Pix[i : i+3]; p[0] != p[1] || p[1] != p[2] {
			t.Fatalf("Grey: pixel %d is %v, want R=G=B", i/4, p)
		}
	}
	if m := Screenshot(src); m.Rect.Dx() != 120 || m.Rect.Dy() <= 80 {
		t.Errorf("Screenshot(120x80) is %v, want 120 wide and taller than 80", m.Rect.Size())
	}
	// A blur keeps a flat image flat and smooths an edge.
	edge := image.NewRGBA(image.Rect(0, 0, 40, 10))
	for y := range 10 {
		for x := 20; x < 40; x++ {
			edge.SetRGBA(x, y, color.RGBA{255, 255, 255, 255})
		}
	}
	b := Blur(edge, 2)
	if v := b.RGBAAt(20, 5).R; v < 100 || v > 200 {
		t.Errorf("Blur: the edge pixel is %d, want about half way", v)
	}
	if b.RGBAAt(0, 5).R != 0 || b.RGBAAt(39, 5).R != 255 {
		t.Errorf("Blur: far from the edge %d and %d, want 0 and 255", b.RGBAAt(0, 5).R, b.RGBAAt(39, 5).R)
	}
}
