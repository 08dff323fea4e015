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

// TestFrameTrimmedView checks the one view of video frames: a letterboxed
// frame of a real photo carries a trimmed view near the photo's own
// frame hash, and the photo's frame carries none.
func TestFrameTrimmedView(t *testing.T) {
	photo := sharedPhoto(t, "skimage/astronaut.png")
	w, ht := photo.Rect.Dx(), photo.Rect.Dy()
	orig, variants, ok := framePDQ(photo, false)
	if !ok || len(variants) != 0 {
		t.Fatalf("framePDQ(photo): ok %v, %d extra signals, want ok and none", ok, len(variants))
	}
	// A 16:9 frame at the photo's height: bars left and right.
	boxed := framed(photo, w*16/9, ht, (w*16/9-w)/2, 0, color.Black)
	p, variants, ok := framePDQ(boxed, false)
	if !ok || !p.View.Whole() || len(variants) != 1 || !variants[0].View.Trimmed {
		t.Fatalf("framePDQ(pillarboxed): ok %v, whole %v, extra %v, want ok, whole, one trimmed view", ok, p.View, variants)
	}
	if d := mediamatch.Distance(variants[0].Hash, orig.Hash); d > 16 {
		t.Errorf("Distance(trimmed view of pillarboxed frame, frame) = %d, want at most 16", d)
	}
	if d := mediamatch.Distance(p.Hash, orig.Hash); d <= 31 {
		t.Errorf("Distance(pillarboxed whole frame, frame) = %d: the pillarbox should move the whole hash", d)
	}
}
