package fingerprint

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"

	xdraw "golang.org/x/image/draw"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
)

// sharedPhoto decodes a photo of ../shared/media/images as RGBA.
func sharedPhoto(t testing.TB, rel string) *image.RGBA {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(mmtest.ReadShared(t, "media", "images", rel)))
	if err != nil {
		t.Fatal(err)
	}
	m := image.NewRGBA(image.Rect(0, 0, img.Bounds().Dx(), img.Bounds().Dy()))
	draw.Draw(m, m.Rect, img, img.Bounds().Min, draw.Src)
	return m
}

// framed returns m pasted at (left, top) in a w x h frame of colour c.
func framed(m *image.RGBA, w, h, left, top int, c color.Color) *image.RGBA {
	d := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(d, d.Rect, image.NewUniform(c), image.Point{}, draw.Src)
	draw.Draw(d, m.Rect.Add(image.Pt(left, top)), m, image.Point{}, draw.Src)
	return d
}

func encodePNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// viewSignal returns the untransformed PDQ signal of m's first keyframe
// with the view that want accepts.
func viewSignal(m mediamatch.Media, want func(mediamatch.View) bool) (mediamatch.Signal, bool) {
	for _, s := range m.Keyframes[0].Signals {
		if s.Type == mediamatch.PDQ && s.Transform == mediamatch.TransformNone && want(s.View) {
			return s, true
		}
	}
	return mediamatch.Signal{}, false
}

// isTrimmed accepts the trimmed view, which comes before the regions cut
// from it.
func isTrimmed(v mediamatch.View) bool { return v.Trimmed }

// TestTrimmedView pads and frames real photos in flat colours (a
// letterbox, a pillarbox, a coloured border, a white pad) and checks that
// the copy gets a trimmed view whose Region is the photo's place in the
// frame (within 15 thousandths) and whose hash is within 20 bits (of the
// threshold 31) of the photo's whole-frame
// hash: the pair a padded upload matches its item by.
func TestTrimmedView(t *testing.T) {
	h := New(Options{})
	ctx := context.Background()
	for _, name := range []string{"skimage/astronaut.png", "skimage/coffee.png", "imaging-flowers/flowers.png"} {
		photo := sharedPhoto(t, name)
		orig, err := h.Hash(ctx, encodePNG(t, photo))
		if err != nil {
			t.Fatal(err)
		}
		whole, _ := viewSignal(orig, mediamatch.View.Whole)
		w, ht := photo.Rect.Dx(), photo.Rect.Dy()
		for _, c := range []struct {
			name      string
			fw, fh    int
			left, top int
			fill      color.Color
		}{
			{"letterbox-black", w, ht * 16 / 9, 0, (ht*16/9 - ht) / 2, color.Black},
			{"pillarbox-white", w * 16 / 9, ht, (w*16/9 - w) / 2, 0, color.White},
			{"border-teal", w + 2*w/20, ht + 2*w/20, w / 20, w / 20, color.RGBA{R: 20, G: 140, B: 130, A: 255}},
			{"off-centre-grey", w + w/4, ht + ht/10, w / 5, ht / 20, color.RGBA{R: 128, G: 128, B: 128, A: 255}},
			{"letterbox-black-jpeg50", w, ht * 16 / 9, 0, (ht*16/9 - ht) / 2, color.Black},
		} {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				f := framed(photo, c.fw, c.fh, c.left, c.top, c.fill)
				data := encodePNG(t, f)
				if strings.HasSuffix(c.name, "jpeg50") {
					var b bytes.Buffer
					if err := jpeg.Encode(&b, f, &jpeg.Options{Quality: 50}); err != nil {
						t.Fatal(err)
					}
					data = b.Bytes()
				}
				m, err := h.Hash(ctx, data)
				if err != nil {
					t.Fatal(err)
				}
				s, ok := viewSignal(m, isTrimmed)
				if !ok {
					t.Fatalf("no trimmed view; signals %v", m.Keyframes[0].Signals)
				}
				want := mediamatch.Region{X0: c.left * 1000 / c.fw, Y0: c.top * 1000 / c.fh,
					X1: (c.left + w) * 1000 / c.fw, Y1: (c.top + ht) * 1000 / c.fh}
				r := s.View.Region
				if abs(r.X0-want.X0) > 15 || abs(r.Y0-want.Y0) > 15 || abs(r.X1-want.X1) > 15 || abs(r.Y1-want.Y1) > 15 {
					t.Errorf("trimmed region %v, want %v within 15 thousandths", r, want)
				}
				if d := mediamatch.Distance(s.Hash, whole.Hash); d > 20 {
					t.Errorf("Distance(trimmed view, original's whole hash) = %d, want at most 20", d)
				}
			})
		}
	}
}

// blurPadded returns m centred in a w x h frame filled with m enlarged to
// cover it and blurred (shrunk to a sixteenth and enlarged back), as
// short-video apps pad a picture to 16:9 or 9:16.
func blurPadded(m *image.RGBA, w, h int) *image.RGBA {
	f := max(float64(w)/float64(m.Rect.Dx()), float64(h)/float64(m.Rect.Dy()))
	cw, ch := int(float64(m.Rect.Dx())*f+0.5), int(float64(m.Rect.Dy())*f+0.5)
	scale := func(src *image.RGBA, w, h int) *image.RGBA {
		d := image.NewRGBA(image.Rect(0, 0, w, h))
		xdraw.CatmullRom.Scale(d, d.Rect, src, src.Rect, draw.Src, nil)
		return d
	}
	back := scale(scale(scale(m, cw, ch), max(1, cw/16), max(1, ch/16)), cw, ch)
	d := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(d, d.Rect, back, image.Pt((cw-w)/2, (ch-h)/2), draw.Src)
	draw.Draw(d, m.Rect.Add(image.Pt((w-m.Rect.Dx())/2, (h-m.Rect.Dy())/2)), m, image.Point{}, draw.Src)
	return d
}

// screenshotted returns m as a phone screenshot shows it: under a black
// status bar and a white header with an avatar, above a white footer with
// grey icons and lines of dark "text", with the top-left at which m lies.
func screenshotted(m *image.RGBA) (*image.RGBA, image.Point) {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	status, header, footer := w*6/100, w*14/100, w*35/100
	d := framed(m, w, status+header+h+footer, 0, status+header, color.White)
	draw.Draw(d, image.Rect(0, 0, w, status), image.NewUniform(color.Black), image.Point{}, draw.Src)
	draw.Draw(d, image.Rect(w/20, status+header/4, w/20+header/2, status+header*3/4), image.NewUniform(color.RGBA{R: 40, G: 90, B: 200, A: 255}), image.Point{}, draw.Src)
	fy := status + header + h
	for i := range 4 {
		x := w/20 + i*footer/3
		draw.Draw(d, image.Rect(x, fy+footer/12, x+footer/6, fy+footer/4), image.NewUniform(color.RGBA{R: 120, G: 120, B: 120, A: 255}), image.Point{}, draw.Src)
	}
	for i := range 3 {
		y := fy + footer/3 + i*footer/6
		draw.Draw(d, image.Rect(w/20, y, w*(6+i)/10, y+footer/9), image.NewUniform(color.RGBA{R: 30, G: 30, B: 30, A: 255}), image.Point{}, draw.Src)
	}
	return d, image.Pt(0, status+header)
}

// TestOuterTrimmedView pads real photos whose own edges are flat, soft or
// finely textured (a dark star field, a low-contrast brick wall, a sky)
// and checks that some trimmed view of the copy is the photo's place in
// the frame (within 15 thousandths) and within 20 bits of the photo's
// whole-frame hash. The trim that follows every flat or smooth line
// either runs on into such a photo or stops short in a blurred pad; the
// outer cut (bars of an edge line's level only, or a centred pair of
// pasted edges), set onto a flat bar's end at full resolution, does not.
func TestOuterTrimmedView(t *testing.T) {
	h := New(Options{})
	ctx := context.Background()
	for _, c := range []struct {
		photo, edit string
	}{
		{"skimage/hubble_deep_field.jpg", "pillarbox-white"},
		{"skimage/hubble_deep_field.jpg", "screenshot"},
		{"skimage/brick.png", "pillarbox-black"},
		{"skimage/brick.png", "screenshot"},
		{"skimage/retina.jpg", "letterbox-white"},
		{"images4/large.jpg", "pillarbox-blur"},
		{"pdq-bridge/aaa-orig.jpg", "pillarbox-blur"},
		{"skimage/rocket.jpg", "letterbox-blur"},
	} {
		t.Run(c.photo+"/"+c.edit, func(t *testing.T) {
			data := mmtest.ReadShared(t, "media", "images", c.photo)
			img, _, err := image.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			photo := image.NewRGBA(image.Rect(0, 0, img.Bounds().Dx(), img.Bounds().Dy()))
			draw.Draw(photo, photo.Rect, img, img.Bounds().Min, draw.Src)
			orig, err := h.Hash(ctx, encodePNG(t, photo))
			if err != nil {
				t.Fatal(err)
			}
			whole, _ := viewSignal(orig, mediamatch.View.Whole)
			w, ht := photo.Rect.Dx(), photo.Rect.Dy()
			fw, fh := max(w, (ht*16+8)/9), ht // 16:9 pillarbox
			if strings.HasPrefix(c.edit, "letterbox") {
				fw, fh = w, max(ht, (w*16+8)/9) // 9:16
			}
			at := image.Pt((fw-w)/2, (fh-ht)/2)
			var f *image.RGBA
			switch c.edit {
			case "pillarbox-white", "letterbox-white":
				f = framed(photo, fw, fh, at.X, at.Y, color.White)
			case "pillarbox-black":
				f = framed(photo, fw, fh, at.X, at.Y, color.Black)
			case "pillarbox-blur", "letterbox-blur":
				f = blurPadded(photo, fw, fh)
			case "screenshot":
				f, at = screenshotted(photo)
			}
			m, err := h.Hash(ctx, encodePNG(t, f))
			if err != nil {
				t.Fatal(err)
			}
			fw, fh = f.Rect.Dx(), f.Rect.Dy()
			want := mediamatch.Region{X0: at.X * 1000 / fw, Y0: at.Y * 1000 / fh,
				X1: (at.X + w) * 1000 / fw, Y1: (at.Y + ht) * 1000 / fh}
			best, region := 256, mediamatch.Region{}
			for _, s := range m.Keyframes[0].Signals {
				r := s.View.Region
				if s.Type != mediamatch.PDQ || !s.View.Trimmed || abs(r.X0-want.X0) > 15 || abs(r.Y0-want.Y0) > 15 || abs(r.X1-want.X1) > 15 || abs(r.Y1-want.Y1) > 15 {
					continue
				}
				if d := mediamatch.Distance(s.Hash, whole.Hash); d < best {
					best, region = d, r
				}
			}
			if best > 20 {
				var views []mediamatch.View
				for _, s := range m.Keyframes[0].Signals {
					if s.Type == mediamatch.PDQ && s.View.Trimmed {
						views = append(views, s.View)
					}
				}
				t.Errorf("closest trimmed view at %v (want %v within 15 thousandths): %d bits from the photo's whole hash, want at most 20; trimmed views %v", region, want, best, views)
			}
		})
	}
}

// TestNoTrimWithoutBorders checks that photos without bars or borders get
// no trimmed view, and that flat frames get none either (nothing is left
// inside their "borders"). (A photo under a flat sky, skimage/rocket.jpg,
// is trimmed to below it, as is every copy of it: that is consistent, not
// an error.)
func TestNoTrimWithoutBorders(t *testing.T) {
	for _, name := range []string{"skimage/astronaut.png", "skimage/coffee.png", "imaging-flowers/flowers.png", "skimage/coins.png"} {
		data := mmtest.ReadShared(t, "media", "images", name)
		img, _, err := image.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		l := viewLuma(shrink(img))
		if r, ok := trim(&l); ok {
			t.Errorf("%s: trim = %v of %dx%d, want no trim", name, r, l.w, l.h)
		}
	}
	flat := image.NewGray(image.Rect(0, 0, 300, 200))
	for i := range flat.Pix {
		flat.Pix[i] = 90
	}
	l := viewLuma(flat)
	if r, ok := trim(&l); ok {
		t.Errorf("flat frame: trim = %v, want none", r)
	}
}

// TestViewsValid checks on real photos that every view has a valid
// Region, no two signals share a type, transform and view, there are at
// most 16 PDQ signals, and the whole-frame PDQ is the one the hasher gave
// before views (the reference pipeline's, which TestPDQConformance checks
// against Meta's hashes).
func TestViewsValid(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"skimage/astronaut.png", "skimage/chelsea.png", "exif-orientation/Landscape_6.jpg"} {
		data := mmtest.ReadShared(t, "media", "images", name)
		format := sniff(data)
		h := New(Options{})
		img, _, _, release, err := h.decode(ctx, format, data)
		if err != nil {
			t.Fatal(err)
		}
		o := orientation(format, data)
		with := hashStillViews(img, o, HashOptions{}, true)
		without := hashStillViews(img, o, HashOptions{}, false)
		release()
		a, _ := with.Signal(mediamatch.PDQ)
		b, _ := without.Signal(mediamatch.PDQ)
		if !a.View.Whole() || !bytes.Equal(a.Hash, b.Hash) {
			t.Errorf("%s: whole PDQ %x (view %v), want %x as without views", name, a.Hash, a.View, b.Hash)
		}
		type key struct {
			t  mediamatch.SignalType
			tr mediamatch.Transform
			v  mediamatch.View
		}
		seen := map[key]bool{}
		n := 0
		for _, s := range with.Signals {
			if err := s.Validate(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			k := key{s.Type, s.Transform, s.View}
			if seen[k] {
				t.Errorf("%s: two %s signals with view %v", name, s.Type, s.View)
			}
			seen[k] = true
			if s.Type == mediamatch.PDQ {
				n++
			}
		}
		if n < 2 || n > 16 {
			t.Errorf("%s: %d PDQ signals, want 2..16", name, n)
		}
	}
}

// TestCaptionCutView checks that a photo under an opaque caption bar over
// its top 15% has a view whose hash is within a few bits of a view of the
// photo itself: the band the caption covers is left out of both.
func TestCaptionCutView(t *testing.T) {
	h := New(Options{})
	ctx := context.Background()
	photo := sharedPhoto(t, "skimage/astronaut.png")
	orig, err := h.Hash(ctx, encodePNG(t, photo))
	if err != nil {
		t.Fatal(err)
	}
	capd := image.NewRGBA(photo.Rect)
	copy(capd.Pix, photo.Pix)
	draw.Draw(capd, image.Rect(0, 0, photo.Rect.Dx(), photo.Rect.Dy()*15/100), image.NewUniform(color.Black), image.Point{}, draw.Src)
	m, err := h.Hash(ctx, encodePNG(t, capd))
	if err != nil {
		t.Fatal(err)
	}
	cut := func(v mediamatch.View) bool {
		r := v.Region
		return !v.Trimmed && r.X0 == 0 && r.X1 == 1000 && r.Y1 == 1000 && abs(r.Y0-captionCut) <= 5
	}
	a, ok1 := viewSignal(orig, cut)
	b, ok2 := viewSignal(m, cut)
	if !ok1 || !ok2 {
		t.Fatalf("no view without the top band: %v %v", ok1, ok2)
	}
	if d := mediamatch.Distance(a.Hash, b.Hash); d > 8 {
		t.Errorf("Distance(captioned, original) without the top band = %d, want at most 8", d)
	}
	w, _ := viewSignal(m, mediamatch.View.Whole)
	o, _ := viewSignal(orig, mediamatch.View.Whole)
	if d := mediamatch.Distance(w.Hash, o.Hash); d <= 31 {
		t.Logf("whole frames already within %d bits: the test image is too easy", d)
	}
}

// TestFrameTrimmedView checks the views of video frames: a frame of a real
// photo carries its two caption cuts and no trimmed view; a pillarboxed
// one carries a trimmed view near the photo's own frame hash, and the
// trimmed picture's two cuts.
func TestFrameTrimmedView(t *testing.T) {
	photo := sharedPhoto(t, "skimage/astronaut.png")
	w, ht := photo.Rect.Dx(), photo.Rect.Dy()
	orig, variants, ok := framePDQ(photo, false)
	if !ok || len(variants) != 2 || variants[0].View.Trimmed || variants[1].View.Trimmed ||
		variants[0].View.Region.Whole() || variants[1].View.Region.Whole() {
		t.Fatalf("framePDQ(photo): ok %v, extra %v, want ok and the two caption cuts, untrimmed", ok, variants)
	}
	// A 16:9 frame at the photo's height: bars left and right.
	boxed := framed(photo, w*16/9, ht, (w*16/9-w)/2, 0, color.Black)
	p, variants, ok := framePDQ(boxed, false)
	if !ok || !p.View.Whole() || len(variants) != 3 || !variants[0].View.Trimmed || !variants[1].View.Trimmed || !variants[2].View.Trimmed {
		t.Fatalf("framePDQ(pillarboxed): ok %v, whole %v, extra %v, want ok, whole, the trimmed view and its two cuts", ok, p.View, variants)
	}
	if d := mediamatch.Distance(variants[0].Hash, orig.Hash); d > 16 {
		t.Errorf("Distance(trimmed view of pillarboxed frame, frame) = %d, want at most 16", d)
	}
	if d := mediamatch.Distance(p.Hash, orig.Hash); d <= 31 {
		t.Errorf("Distance(pillarboxed whole frame, frame) = %d: the pillarbox should move the whole hash", d)
	}
}
