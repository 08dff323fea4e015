package fingerprint

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/corona10/goimagehash"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// displayed returns the full decoded img as displayed under EXIF
// orientation o, built pixel by pixel through At in the colour model the
// decoder returned (4:4:4 YCbCr for YCbCr, grey for grey, RGBA otherwise),
// so that goimagehash resizes it exactly as it would the upright original.
func displayed(img image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	r := image.Rect(0, 0, w, h)
	if o >= 5 {
		r = image.Rect(0, 0, h, w)
	}
	// src maps a displayed pixel to the stored one (EXIF 2.3, table of
	// orientation tag values: where row 0 and column 0 of the stored
	// image are shown).
	src := func(x, y int) (int, int) {
		switch o {
		case 2:
			return w - 1 - x, y
		case 3:
			return w - 1 - x, h - 1 - y
		case 4:
			return x, h - 1 - y
		case 5:
			return y, x
		case 6:
			return y, h - 1 - x
		case 7:
			return w - 1 - y, h - 1 - x
		default: // 8
			return w - 1 - y, x
		}
	}
	var set func(x, y int, c color.Color)
	var out image.Image
	switch img.(type) {
	case *image.YCbCr:
		d := image.NewYCbCr(r, image.YCbCrSubsampleRatio444)
		set = func(x, y int, c color.Color) {
			v := c.(color.YCbCr)
			d.Y[d.YOffset(x, y)], d.Cb[d.COffset(x, y)], d.Cr[d.COffset(x, y)] = v.Y, v.Cb, v.Cr
		}
		out = d
	case *image.Gray:
		d := image.NewGray(r)
		set, out = d.Set, d
	default:
		d := image.NewRGBA(r)
		set, out = d.Set, d
	}
	for y := 0; y < r.Dy(); y++ {
		for x := 0; x < r.Dx(); x++ {
			sx, sy := src(x, y)
			set(x, y, img.At(b.Min.X+sx, b.Min.Y+sy))
		}
	}
	return out
}

// stockHashes decodes a file with the Go decoder, applies its EXIF
// orientation to the full image and returns goimagehash's pHash and dHash
// of it: what the service would compute without any shortcut.
func stockHashes(t *testing.T, data []byte) (uint64, uint64) {
	t.Helper()
	format := sniff(data)
	_, decode := codec(format)
	img, err := decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	full := displayed(img, orientation(format, data))
	p, err := goimagehash.PerceptionHash(full)
	if err != nil {
		t.Fatal(err)
	}
	d, err := goimagehash.DifferenceHash(full)
	if err != nil {
		t.Fatal(err)
	}
	return p.GetHash(), d.GetHash()
}

// TestStockAgreement checks that Hash's pHash and dHash are within 2 bits
// of goimagehash on the full decoded image for every shared image, and
// reports the largest and median differences.
func TestStockAgreement(t *testing.T) {
	const maxBits = 2
	h := New(Options{})
	var pd, dd []int
	for _, rel := range mediaFiles(t, "images") {
		data := readMedia(t, rel)
		m, err := h.Hash(context.Background(), data)
		if err != nil {
			t.Fatalf("Hash(%s): %v", rel, err)
		}
		sp, sd := stockHashes(t, data)
		p, _ := m.Keyframes[0].Signal(mediamatch.PHash)
		d, _ := m.Keyframes[0].Signal(mediamatch.DHash)
		bp, bd := bits.OnesCount64(binary.BigEndian.Uint64(p.Hash)^sp), bits.OnesCount64(binary.BigEndian.Uint64(d.Hash)^sd)
		if bp > maxBits || bd > maxBits {
			t.Errorf("%s: pHash %d bits and dHash %d bits from stock goimagehash, want <= %d", rel, bp, bd, maxBits)
		}
		pd, dd = append(pd, bp), append(dd, bd)
	}
	hist := func(s []int) map[int]int {
		m := map[int]int{}
		for _, v := range s {
			m[v]++
		}
		return m
	}
	slices.Sort(pd)
	slices.Sort(dd)
	t.Logf("libjpeg=%v, %d images: pHash bits vs stock max %d, median %d, histogram %v; dHash max %d, median %d, histogram %v",
		haveLibjpeg, len(pd), pd[len(pd)-1], pd[len(pd)/2], hist(pd), dd[len(dd)-1], dd[len(dd)/2], hist(dd))
}

// TestLowInformation checks the featureless-frame flag on the shared
// media: the flat images4/uniform-*.png must be flagged and no real photo
// may be; it logs the margins on both sides of lowInfoStdDev. Synthetic
// frames check the cases the shared set lacks: a flat frame with pixel
// noise (flagged) and a dark frame with a small bright shape (not).
func TestLowInformation(t *testing.T) {
	h := New(Options{})
	maxFlat, minReal, minRealFile := 0.0, math.Inf(1), ""
	for _, rel := range mediaFiles(t, "images") {
		data := readMedia(t, rel)
		m, err := h.Hash(context.Background(), data)
		if err != nil {
			t.Fatalf("Hash(%s): %v", rel, err)
		}
		small, _, _, err := h.decodeSmall(sniff(data), data)
		if err != nil {
			t.Fatal(err)
		}
		sd := lumaStdDev(small)
		flat := strings.Contains(rel, "/uniform-")
		if got := m.Keyframes[0].LowInformation; got != flat {
			t.Errorf("%s: LowInformation = %v, want %v (luminance std dev %.2f, threshold %.1f)", rel, got, flat, sd, lowInfoStdDev)
		}
		if flat {
			maxFlat = max(maxFlat, sd)
		} else if sd < minReal {
			minReal, minRealFile = sd, rel
		}
	}
	t.Logf("luminance std dev at 32x32: flat images up to %.2f, real photos from %.2f (%s); threshold %.1f",
		maxFlat, minReal, minRealFile, lowInfoStdDev)

	rng := rand.New(rand.NewPCG(1, 2))
	noisy := image.NewGray(image.Rect(0, 0, 640, 360))
	for i := range noisy.Pix {
		noisy.Pix[i] = uint8(100 + rng.IntN(17) - 8) // flat grey, +-8 noise
	}
	logo := image.NewRGBA(image.Rect(0, 0, 640, 360))
	for y := 0; y < 360; y++ {
		for x := 0; x < 640; x++ {
			c := color.RGBA{8, 8, 8, 255}
			if x >= 280 && x < 360 && y >= 150 && y < 210 {
				c = color.RGBA{240, 240, 240, 255}
			}
			logo.SetRGBA(x, y, c)
		}
	}
	for _, tt := range []struct {
		name string
		img  image.Image
		want bool
	}{
		{"noisy-flat-gray", noisy, true},
		{"black-with-small-logo", logo, false},
		{"solid-rgba", image.NewRGBA(image.Rect(0, 0, 320, 240)), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, low := hashFrame(tt.img); low != tt.want {
				t.Errorf("LowInformation = %v, want %v (std dev %.2f)", low, tt.want, lumaStdDev(shrink(tt.img)))
			}
		})
	}
}

// TestHashFrame checks the entry point of the video path on the frame
// types ffmpeg produces: small frames are hashed exactly as goimagehash
// hashes them, and a large one within 2 bits.
func TestHashFrame(t *testing.T) {
	src, _, err := image.Decode(bytes.NewReader(readMedia(t, "images/skimage/astronaut.png")))
	if err != nil {
		t.Fatal(err)
	}
	sb := src.Bounds()
	gray := image.NewGray(image.Rect(0, 0, 320, 320))
	rgba := image.NewRGBA(image.Rect(0, 0, 320, 320))
	big := image.NewRGBA(image.Rect(0, 0, 1024, 1024))
	for _, d := range []interface {
		image.Image
		Set(x, y int, c color.Color)
	}{gray, rgba, big} {
		db := d.Bounds()
		for y := 0; y < db.Dy(); y++ {
			for x := 0; x < db.Dx(); x++ {
				d.Set(x, y, src.At(x*sb.Dx()/db.Dx(), y*sb.Dy()/db.Dy()))
			}
		}
	}
	for _, tt := range []struct {
		name    string
		img     image.Image
		maxBits int
	}{
		{"gray-320", gray, 0},
		{"rgba-320", rgba, 0},
		{"rgba-1024", big, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sigs, low := hashFrame(tt.img)
			if low {
				t.Error("astronaut flagged low-information")
			}
			sp, _ := goimagehash.PerceptionHash(tt.img)
			sd, _ := goimagehash.DifferenceHash(tt.img)
			want := map[mediamatch.SignalType]uint64{mediamatch.PHash: sp.GetHash(), mediamatch.DHash: sd.GetHash()}
			if len(sigs) != 2 {
				t.Fatalf("%d signals, want 2", len(sigs))
			}
			for _, s := range sigs {
				if d := bits.OnesCount64(binary.BigEndian.Uint64(s.Hash) ^ want[s.Type]); d > tt.maxBits {
					t.Errorf("%s: %d bits from goimagehash, want <= %d", s.Type, d, tt.maxBits)
				}
			}
		})
	}
}

func TestAreaReduce(t *testing.T) {
	gray := func(w, h int, pix ...uint8) *image.Gray {
		return &image.Gray{Pix: pix, Stride: w, Rect: image.Rect(0, 0, w, h)}
	}
	tests := []struct {
		name   string
		src    *image.Gray
		dw, dh int
		want   []uint8
	}{
		{"2x2-blocks", gray(4, 2, 0, 10, 100, 200, 20, 30, 100, 200), 2, 1, []uint8{15, 150}},
		{"3-to-2", gray(3, 1, 0, 90, 180), 2, 1, []uint8{30, 150}}, // (0+45)/1.5, (45+180)/1.5
		{"3x3-to-2x2", gray(3, 3, 0, 90, 180, 0, 90, 180, 0, 90, 180), 2, 2, []uint8{30, 150, 30, 150}},
		{"column", gray(1, 4, 0, 0, 255, 255), 1, 2, []uint8{0, 255}},
		{"to-1x1", gray(2, 2, 0, 255, 255, 255), 1, 1, []uint8{191}},
		{"same-size", gray(2, 1, 7, 9), 2, 1, []uint8{7, 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := reduce(tt.src, tt.dw, tt.dh).(*image.Gray)
			if !slices.Equal(got.Pix, tt.want) {
				t.Errorf("reduce = %v, want %v", got.Pix, tt.want)
			}
		})
	}

	// Any size to any smaller size keeps a flat image flat and the mean
	// of a random one.
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 50; i++ {
		w, h := 1+rng.IntN(300), 1+rng.IntN(300)
		dw, dh := 1+rng.IntN(w), 1+rng.IntN(h)
		flat := image.NewRGBA(image.Rect(0, 0, w, h))
		noise := image.NewGray(image.Rect(0, 0, w, h))
		for j := range flat.Pix {
			flat.Pix[j] = []uint8{200, 100, 50, 255}[j%4]
		}
		var sum float64
		for j := range noise.Pix {
			noise.Pix[j] = uint8(rng.IntN(256))
			sum += float64(noise.Pix[j])
		}
		for j, v := range reduce(flat, dw, dh).(*image.RGBA).Pix {
			if want := []uint8{200, 100, 50, 255}[j%4]; v != want {
				t.Fatalf("%dx%d->%dx%d flat RGBA: byte %d = %d, want %d", w, h, dw, dh, j, v, want)
			}
		}
		var got float64
		for _, v := range reduce(noise, dw, dh).(*image.Gray).Pix {
			got += float64(v)
		}
		if m, want := got/float64(dw*dh), sum/float64(w*h); math.Abs(m-want) > 1 {
			t.Errorf("%dx%d->%dx%d: mean %.2f, want %.2f", w, h, dw, dh, m, want)
		}
	}
}

// TestBoxReduce checks the integer path of areaReduce (whole reduction
// factors) against the general one: the same means, up to float32
// rounding.
func TestBoxReduce(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []int{1, 4} {
		for _, k := range [][2]int{{1, 1}, {2, 2}, {3, 2}, {4, 4}, {8, 8}, {1, 5}} {
			dw, dh := 1+rng.IntN(40), 1+rng.IntN(40)
			w, h := dw*k[0], dh*k[1]
			src := make([]uint8, w*h*c)
			for i := range src {
				src[i] = uint8(rng.IntN(256))
			}
			box, frac := make([]uint8, dw*dh*c), make([]uint8, dw*dh*c)
			boxReduce(w, h, c, planeRows(src, w*c, 0), box, dw*c, dw, dh)
			fractionalReduce(w, h, c, planeRows(src, w*c, 0), frac, dw*c, dw, dh)
			for i := range box {
				if d := int(box[i]) - int(frac[i]); d < -1 || d > 1 {
					t.Fatalf("c=%d, %dx%d to %dx%d: byte %d is %d, the general path gives %d", c, w, h, dw, dh, i, box[i], frac[i])
				}
			}
		}
	}
}

// TestReduceYCbCr checks that the chroma planes of a subsampled image are
// averaged over the same areas as the luma.
func TestReduceYCbCr(t *testing.T) {
	m := image.NewYCbCr(image.Rect(0, 0, 64, 32), image.YCbCrSubsampleRatio420)
	for y := 0; y < 32; y++ {
		for x := 0; x < 64; x++ {
			m.Y[m.YOffset(x, y)] = uint8(4 * x)
			m.Cb[m.COffset(x, y)] = uint8(4 * (x &^ 1))
			m.Cr[m.COffset(x, y)] = 128
		}
	}
	d := reduce(m, 4, 2).(*image.YCbCr)
	if d.SubsampleRatio != image.YCbCrSubsampleRatio444 {
		t.Fatalf("ratio %v, want 4:4:4", d.SubsampleRatio)
	}
	for x := 0; x < 4; x++ {
		y, cb := d.Y[x], d.Cb[x]
		if int(cb) < int(y)-3 || int(cb) > int(y)+3 || d.Cr[x] != 128 {
			t.Errorf("column %d: Y %d Cb %d Cr %d, want Cb near Y and Cr 128", x, y, cb, d.Cr[x])
		}
	}
}

// TestRGBARows checks the fast row readers against the image's own At:
// every byte within 1 of At(x, y).RGBA() >> 8.
func TestRGBARows(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	r := image.Rect(3, 2, 40, 17) // bounds not at the origin
	fill := func(p []uint8) {
		for i := range p {
			p[i] = uint8(rng.IntN(256))
		}
	}
	nycc := image.NewNYCbCrA(r, image.YCbCrSubsampleRatio420)
	fill(nycc.Y)
	fill(nycc.Cb)
	fill(nycc.Cr)
	fill(nycc.A)
	cmyk := image.NewCMYK(r)
	fill(cmyk.Pix)
	rgba64 := image.NewRGBA64(r)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			a := uint16(rng.IntN(65536))
			rgba64.SetRGBA64(x, y, color.RGBA64{uint16(rng.IntN(int(a) + 1)), uint16(rng.IntN(int(a) + 1)), uint16(rng.IntN(int(a) + 1)), a})
		}
	}
	nrgba64 := image.NewNRGBA64(r)
	fill(nrgba64.Pix)
	gray16 := image.NewGray16(r)
	fill(gray16.Pix)
	nrgba := image.NewNRGBA(r)
	fill(nrgba.Pix)
	pal := image.NewPaletted(r, palette.WebSafe)
	for i := range pal.Pix {
		pal.Pix[i] = uint8(rng.IntN(len(palette.WebSafe)))
	}
	rgba := image.NewRGBA(r)
	for i := range rgba.Pix {
		rgba.Pix[i] = uint8(rng.IntN(256))
		if i%4 == 3 {
			rgba.Pix[i] = 255
		}
	}
	for _, img := range []image.Image{nycc, cmyk, rgba64, nrgba64, gray16, nrgba, pal, rgba} {
		t.Run(fmt.Sprintf("%T", img), func(t *testing.T) {
			row := rgbaRows(img)
			buf := make([]uint8, 4*r.Dx())
			for y := 0; y < r.Dy(); y++ {
				row(y, buf)
				for x := 0; x < r.Dx(); x++ {
					cr, cg, cb, ca := img.At(r.Min.X+x, r.Min.Y+y).RGBA()
					want := []uint32{cr >> 8, cg >> 8, cb >> 8, ca >> 8}
					for k, w := range want {
						if d := int(buf[4*x+k]) - int(w); d < -1 || d > 1 {
							t.Fatalf("pixel (%d,%d) channel %d = %d, want %d", x, y, k, buf[4*x+k], w)
						}
					}
				}
			}
		})
	}
}
