package fingerprint

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// TestPNG16 checks the 16-bit PNG decoder against image/png: the same
// 8-bit pixels (the high byte of each sample) and the same hashes, for
// grey, RGB and RGBA images of noise and of gradients (which make
// image/png's encoder use every filter type).
func TestPNG16(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const w, h = 203, 157
	for _, c := range []struct {
		name     string
		img      image.Image
		channels int
	}{
		{"grey", image.NewGray16(image.Rect(0, 0, w, h)), 1},
		{"rgb", image.NewRGBA64(image.Rect(0, 0, w, h)), 3}, // opaque: written as RGB
		{"rgba", image.NewNRGBA64(image.Rect(0, 0, w, h)), 4},
	} {
		for y := range h {
			for x := range w {
				v := func(base int) uint16 { return uint16(base*97 + x*300 + y*211 + rng.IntN(2000)) }
				switch m := c.img.(type) {
				case *image.Gray16:
					m.SetGray16(x, y, color.Gray16{v(1)})
				case *image.RGBA64:
					m.SetRGBA64(x, y, color.RGBA64{v(1), v(2), v(3), 0xffff})
				case *image.NRGBA64:
					m.SetNRGBA64(x, y, color.NRGBA64{v(1), v(2), v(3), uint16(0x8000 + x*100)})
				}
			}
		}
		var b bytes.Buffer
		if err := png.Encode(&b, c.img); err != nil {
			t.Fatal(err)
		}
		data := b.Bytes()
		p, ok := sniffPNG16(data)
		if !ok || p.channels != c.channels || p.width != w || p.height != h {
			t.Fatalf("%s: sniffPNG16 = %+v, %v; want %d channels, %dx%d", c.name, p, ok, c.channels, w, h)
		}
		got, err := decodePNG16(context.Background(), data, p)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for y := range h {
			for x := range w {
				g := color.NRGBAModel.Convert(got.At(x, y)).(color.NRGBA)
				n := color.NRGBA64Model.Convert(want.At(x, y)).(color.NRGBA64)
				if wb := (color.NRGBA{uint8(n.R >> 8), uint8(n.G >> 8), uint8(n.B >> 8), uint8(n.A >> 8)}); g != wb {
					t.Fatalf("%s: pixel (%d, %d) = %v, want %v (of %v)", c.name, x, y, g, wb, n)
				}
			}
		}
		if c.channels == 4 {
			continue // translucent: premultiplying at 8 or 16 bits rounds apart
		}
		if a, b := hashStill(got, 1, HashOptions{}), hashStill(want, 1, HashOptions{}); !sameSignals(a, b) {
			t.Errorf("%s: hashes of the 8-bit decode %v, of image/png's %v", c.name, a.Signals, b.Signals)
		}
	}
}

func sameSignals(a, b mediamatch.Keyframe) bool {
	if len(a.Signals) != len(b.Signals) || a.LowInformation != b.LowInformation {
		return false
	}
	for i := range a.Signals {
		if a.Signals[i].Hex() != b.Signals[i].Hex() || a.Signals[i].Quality != b.Signals[i].Quality {
			return false
		}
	}
	return true
}

// TestPNG16Corrupt: damage is refused as image/png refuses it.
func TestPNG16Corrupt(t *testing.T) {
	img := image.NewRGBA64(image.Rect(0, 0, 64, 64))
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	good := b.Bytes()
	h := New(Options{})
	if _, err := h.Hash(context.Background(), good); err != nil {
		t.Fatalf("Hash(16-bit PNG) = %v", err)
	}
	for name, data := range map[string][]byte{
		"truncated": good[:len(good)-30],
		"bad crc":   append(append([]byte{}, good[:40]...), append([]byte{good[40] ^ 1}, good[41:]...)...),
	} {
		if _, err := h.Hash(context.Background(), data); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Hash = %v, want ErrCorrupt", name, err)
		}
	}
}
