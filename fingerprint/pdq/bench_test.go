package pdq

import (
	"bytes"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/corona10/goimagehash"
	"golang.org/x/image/draw"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
)

// benchPhoto is one decoded photo and its JPEG bytes.
type benchPhoto struct {
	name string
	jpg  []byte
	img  image.Image
}

// benchPhotos returns real photos from shared/media (1.6 and 2.2 MP) and,
// if big, a 12 MP JPEG made by upscaling one of them, skipping when the
// media are absent.
func benchPhotos(b *testing.B, big bool) []benchPhoto {
	b.Helper()
	var out []benchPhoto
	for _, f := range []struct{ name, rel string }{
		{"bridge-1.6MP", "images/pdq-bridge/aaa-orig.jpg"},
		{"landscape-2.2MP", "images/exif-orientation/Landscape_0.jpg"},
	} {
		data, err := os.ReadFile(filepath.Join(mediaDir(b), filepath.FromSlash(f.rel)))
		if os.IsNotExist(err) {
			mmtest.Missing(b, "shared media: %v", err)
		}
		if err != nil {
			b.Fatal(err)
		}
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, benchPhoto{f.name, data, img})
	}
	if !big {
		return out
	}
	// 12 MP: the landscape scaled to 4242x2828 and re-encoded (4:2:0, as
	// cameras write).
	up := image.NewRGBA(image.Rect(0, 0, 4242, 2828))
	draw.ApproxBiLinear.Scale(up, up.Bounds(), out[1].img, out[1].img.Bounds(), draw.Src, nil)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, up, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		b.Fatal(err)
	}
	return append(out, benchPhoto{"synthetic-12MP", buf.Bytes(), img})
}

// cost is the wall-clock and process CPU time of one operation. Under
// contention from other processes the wall time inflates but the CPU time
// does not, and CPU time counts work a library spreads over goroutines.
type cost struct{ wall, cpu float64 }

// measure times f, called in a loop for at least half a second. (The
// testing.Benchmark function cannot run inside a benchmark, so baselines
// are timed by hand.)
func measure(f func()) cost {
	f() // warm up
	for n := 1; ; n *= 2 {
		c0, start := cpuTime(), time.Now()
		for range n {
			f()
		}
		if el := time.Since(start); el >= 500*time.Millisecond || n >= 1<<24 {
			return cost{float64(el.Nanoseconds()) / float64(n), float64((cpuTime() - c0).Nanoseconds()) / float64(n)}
		}
	}
}

// loop runs f under b.Loop and returns its cost per operation.
func loop(b *testing.B, f func()) cost {
	var c0 time.Duration
	for first := true; b.Loop(); {
		if first { // b.Loop has just started the timer
			c0, first = cpuTime(), false
		}
		f()
	}
	n := float64(b.N)
	return cost{float64(b.Elapsed().Nanoseconds()) / n, float64((cpuTime() - c0).Nanoseconds()) / n}
}

// report reports c's ratio to base under name (wall clock) and, when CPU
// time is available, cpu:name.
func report(b *testing.B, c, base cost, name string) {
	b.ReportMetric(c.wall/base.wall, name)
	if base.cpu > 0 {
		b.ReportMetric(c.cpu/base.cpu, "cpu:"+name)
	}
}

// preShrink is the reference's pre-shrink, done outside PDQ: 512x512 by
// nearest neighbour, as an RGBA image for goimagehash.
func preShrink(img image.Image) image.Image {
	dst := image.NewRGBA(image.Rect(0, 0, preShrinkSide, preShrinkSide))
	draw.NearestNeighbor.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
	return dst
}

// BenchmarkHash times PDQ (FromImage + Hash) on decoded photos and reports
// its cost as ratios against baselines timed in the same process, by wall
// clock and (prefixed cpu:) by process CPU time:
//
//	pdq/phash          goimagehash.PerceptionHash on the same decoded image
//	pdq/phash-512      PerceptionHash on the image already pre-shrunk to 512x512
//	pdq/phash+shrink   PerceptionHash after the same nearest-neighbour pre-shrink
//	pdq/decode         decoding the JPEG with image/jpeg
//
// Below 1 means PDQ is cheaper.
func BenchmarkHash(b *testing.B) {
	for _, p := range benchPhotos(b, true) {
		b.Run(p.name, func(b *testing.B) {
			shrunk := preShrink(p.img)
			phash := measure(func() { _, _ = goimagehash.PerceptionHash(p.img) })
			phash512 := measure(func() { _, _ = goimagehash.PerceptionHash(shrunk) })
			phashShrink := measure(func() { _, _ = goimagehash.PerceptionHash(preShrink(p.img)) })
			decode := measure(func() { _, _ = jpeg.Decode(bytes.NewReader(p.jpg)) })
			pdq := loop(b, func() {
				d, err := FromImage(p.img)
				if err != nil {
					b.Fatal(err)
				}
				_ = d.Hash()
			})
			report(b, pdq, phash, "pdq/phash")
			report(b, pdq, phash512, "pdq/phash-512")
			report(b, pdq, phashShrink, "pdq/phash+shrink")
			report(b, pdq, decode, "pdq/decode")
			b.ReportMetric(pdq.cpu/1e6, "pdq-cpu-ms")
			b.ReportMetric(decode.cpu/1e6, "decode-cpu-ms")
		})
	}
}

// BenchmarkDihedral reports the cost of the eight variants on top of the
// hash, as a ratio against FromImage + Hash timed in the same process.
func BenchmarkDihedral(b *testing.B) {
	p := benchPhotos(b, false)[0]
	base := measure(func() {
		d, _ := FromImage(p.img)
		_ = d.Hash()
	})
	c := loop(b, func() {
		d, err := FromImage(p.img)
		if err != nil {
			b.Fatal(err)
		}
		_ = d.Dihedral()
	})
	report(b, c, base, "dihedral/hash")
}

// BenchmarkFrame times the vPDQ frame path (no pre-shrink) on a 1920x1080
// frame, as a ratio against the photo path on the same frame.
func BenchmarkFrame(b *testing.B) {
	frame := image.NewRGBA(image.Rect(0, 0, 1920, 1080))
	src := synthetic(480, 270, 3)
	for i := 3; i < len(src.Pix); i += 4 {
		src.Pix[i] = 0xff // video frames are opaque
	}
	draw.ApproxBiLinear.Scale(frame, frame.Bounds(), src, src.Bounds(), draw.Src, nil)
	photo := measure(func() { _, _ = FromImage(frame) })
	c := loop(b, func() {
		if _, err := FromFrame(frame); err != nil {
			b.Fatal(err)
		}
	})
	report(b, c, photo, "frame/photo")
	b.ReportMetric(c.cpu/1e6, "frame-cpu-ms")
}
