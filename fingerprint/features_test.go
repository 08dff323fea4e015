package fingerprint

import (
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/color"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
)

// inverseOrientation returns the EXIF orientation that undoes o: 6 and 8
// (quarter turns) undo each other, the others undo themselves.
func inverseOrientation(o int) int {
	switch o {
	case 6:
		return 8
	case 8:
		return 6
	}
	return o
}

// TestFeaturesAsDisplayed stores a photo under each EXIF orientation (the
// displayed picture turned back) and checks that its features are those
// of the picture as displayed: the same corners, coordinates and
// descriptors.
func TestFeaturesAsDisplayed(t *testing.T) {
	shown := sharedPhoto(t, "skimage/chelsea.png") // 451x300: not shrunk, not square
	want := stillFeatures(shown, 1)
	if len(want) < 100 {
		t.Fatalf("%d features of chelsea.png, want 100 or more", len(want))
	}
	for o := 1; o <= 8; o++ {
		stored := orient(shown, inverseOrientation(o))
		if o >= 5 && stored.Bounds().Dx() != shown.Bounds().Dy() {
			t.Fatalf("orientation %d: stored %v, want the sides of %v swapped", o, stored.Bounds(), shown.Bounds())
		}
		if got := stillFeatures(stored, o); !slices.Equal(got, want) {
			t.Errorf("orientation %d: %d features differ from the %d of the picture as displayed", o, len(got), len(want))
		}
	}
}

// TestFeaturesWhereTheCornersAre draws a white square on black and checks
// that features are found at its corners only, in FeatureUnit of the
// longer side, and that they are valid.
func TestFeaturesWhereTheCornersAre(t *testing.T) {
	m := image.NewGray(image.Rect(0, 0, 400, 200))
	for y := 60; y < 140; y++ {
		for x := 100; x < 180; x++ {
			m.SetGray(x, y, color.Gray{Y: 255})
		}
	}
	fs := stillFeatures(m, 1)
	if len(fs) == 0 {
		t.Fatal("no features of a square")
	}
	corners := [][2]int{{100, 60}, {180, 60}, {100, 140}, {180, 140}}
	for _, f := range fs {
		if !f.Valid() || int(f.Y) > mediamatch.FeatureUnit/2 {
			t.Errorf("feature %+v: not valid in a 2:1 frame", f)
		}
		x, y := float64(f.X)*400/mediamatch.FeatureUnit, float64(f.Y)*400/mediamatch.FeatureUnit
		near := false
		for _, c := range corners {
			// A corner found on a coarser level is placed within a few of
			// its pixels, each up to 2^(15/4) of the frame's.
			tol := 3 * float64(int(1)<<(f.Level/4+1))
			if x > float64(c[0])-tol && x < float64(c[0])+tol && y > float64(c[1])-tol && y < float64(c[1])+tol {
				near = true
			}
		}
		if !near {
			t.Errorf("feature at (%.0f, %.0f) level %d: not at a corner of the square", x, y, f.Level)
		}
	}
}

// TestFeaturesBounds checks the count and repeatability of features on
// photos and textures, and that flat, nearly flat and tiny images have
// none.
func TestFeaturesBounds(t *testing.T) {
	for _, rel := range []string{"skimage/astronaut.png", "skimage/gravel.png", "skimage/coins.png"} {
		img := sharedPhoto(t, rel)
		a, b := stillFeatures(img, 1), stillFeatures(img, 1)
		if len(a) == 0 || len(a) > maxFeatures {
			t.Errorf("%s: %d features, want 1..%d", rel, len(a), maxFeatures)
		}
		if !slices.Equal(a, b) {
			t.Errorf("%s: two extractions differ", rel)
		}
		levels := make(map[uint8]bool)
		for _, f := range a {
			levels[f.Level] = true
		}
		if len(levels) < 4 {
			t.Errorf("%s: features on %d levels, want 4 or more", rel, len(levels))
		}
	}
	flat := image.NewGray(image.Rect(0, 0, 300, 200))
	for i := range flat.Pix {
		flat.Pix[i] = 128
	}
	noisy := image.NewGray(image.Rect(0, 0, 300, 200))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range noisy.Pix {
		noisy.Pix[i] = uint8(126 + r.IntN(5)) // JPEG-like noise of +-2 levels
	}
	tiny := sharedPhoto(t, "skimage/astronaut.png").SubImage(image.Rect(0, 0, 40, 40))
	for name, img := range map[string]image.Image{"flat": flat, "noisy": noisy, "40x40": tiny} {
		if fs := stillFeatures(img, 1); len(fs) != 0 {
			t.Errorf("%s image: %d features, want none", name, len(fs))
		}
	}
}

// TestSpreadContenders checks that spread, which sorts only the corners
// it can pick (contenders), picks what sorting all of them picks, on
// random corners with many ties, for shares from 1 to more than there
// are corners.
func TestSpreadContenders(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	r := image.Rect(20, 10, 300, 200)
	for trial := range 300 {
		cs := make([]corner, 1+rnd.IntN(2000))
		y, x := r.Min.Y, r.Min.X
		for i := range cs {
			// In raster order, as detect finds them; few distinct
			// scores, so that many tie.
			x += 1 + rnd.IntN(40)
			if x >= r.Max.X {
				x, y = r.Min.X+rnd.IntN(5), y+1
			}
			cs[i] = corner{int32(x), int32(min(y, r.Max.Y-1)), float32(1 + rnd.IntN(1+trial%50))}
		}
		n := 1 + rnd.IntN(300)
		want := pick(slices.Clone(cs), r, n)
		if got := spread(slices.Clone(cs), r, n); !slices.Equal(got, want) {
			t.Fatalf("trial %d: %d corners, n %d: spread picks %d corners, sorting all %d, or in another order", trial, len(cs), n, len(got), len(want))
		}
	}
}

// TestArc9 checks the FAST-9 arc test on masks with and without 9
// contiguous bits, across the wrap from bit 15 to bit 0.
func TestArc9(t *testing.T) {
	for _, c := range []struct {
		m    uint32
		want bool
	}{
		{0x01ff, true}, {0x00ff, false}, {0xf01f, true}, {0xe01f, false}, {0xffff, true}, {0x5555, false}, {0xff80 | 0x0001, true},
	} {
		if got := arc9(c.m); got != c.want {
			t.Errorf("arc9(%#04x) = %v, want %v", c.m, got, c.want)
		}
	}
}

// BenchmarkFeatures times the features of a still image from the
// luminance the hasher already has (the 512x512 astronaut): the content's
// trim and the features in it (contentFeatures), and the features alone
// (featuresIn), as the fastest CPU time of the thread over the iterations
// (cpu-ms, features-cpu-ms: what other processes sharing the cores
// disturb least), and reports how many it keeps.
func BenchmarkFeatures(b *testing.B) {
	img := sharedPhoto(b, "skimage/astronaut.png")
	l := viewLuma(orient(shrink(img), 1))
	r, _ := trim(&l)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var both, alone time.Duration
	fastest := func(best *time.Duration, d time.Duration) {
		if *best == 0 || d < *best {
			*best = d
		}
	}
	n := 0
	for b.Loop() {
		c0 := mmtest.ThreadCPU()
		n = len(contentFeatures(&l, maxFeatures))
		c1 := mmtest.ThreadCPU()
		featuresIn(&l, r, maxFeatures)
		c2 := mmtest.ThreadCPU()
		fastest(&both, c1-c0)
		fastest(&alone, c2-c1)
	}
	b.ReportMetric(float64(n), "features")
	b.ReportMetric(float64(both.Microseconds())/1000, "cpu-ms")
	b.ReportMetric(float64(alone.Microseconds())/1000, "features-cpu-ms")
}

// TestFeaturesGolden checks that the features of shared photos are those
// they had when the items of an index were hashed: a digest of their
// binary form (mediamatch.AppendFeatures) against the one recorded. A
// faster detector or pyramid that moved one corner, or flipped one
// descriptor bit, would change what an index built before matches.
// Reduced from 512 (astronaut, a still) and 600 pixels (coffee, as a
// video frame is), taken at 384 as it is (coins), and from a still shrunk
// by 2 (motorcycle_left, 741 pixels).
func TestFeaturesGolden(t *testing.T) {
	for _, c := range []struct {
		rel, as string
		want    string
	}{
		{"skimage/astronaut.png", "still", "cc5757ec34bcdc21"},
		{"skimage/chelsea.png", "still", "daca92b31e8d94f4"},
		{"skimage/coins.png", "still", "d49fc39d05eb77c8"},
		{"skimage/motorcycle_left.png", "still", "4c727c4642b9605d"},
		{"skimage/coffee.png", "frame", "5ee974ae337e95c9"},
	} {
		img := sharedPhoto(t, c.rel)
		var fs []mediamatch.Feature
		if c.as == "still" {
			fs = stillFeatures(img, 1)
		} else {
			fs = frameFeatures(img)
		}
		sum := sha256.Sum256(mediamatch.AppendFeatures(nil, fs))
		if got := hex.EncodeToString(sum[:8]); got != c.want {
			t.Errorf("%s (%s): %d features, digest %s, want %s", c.rel, c.as, len(fs), got, c.want)
		}
	}
}
