package fingerprint

import (
	"bytes"
	"fmt"
	"image"
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"

	"github.com/corona10/goimagehash"
)

// isImage reports whether data starts like an image format decoded in process.
func isImage(data []byte) bool {
	for _, m := range [][]byte{{0xff, 0xd8, 0xff}, []byte("\x89PNG"), []byte("GIF8")} {
		if bytes.HasPrefix(data, m) {
			return true
		}
	}
	return false
}

// hashImage is replaced by the full image pipeline.
func (h *Hasher) hashImage(data []byte) (Media, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return Media{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > h.opts.MaxPixels {
		return Media{}, fmt.Errorf("%w: %dx%d", ErrTooLarge, cfg.Width, cfg.Height)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return Media{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	sigs, low := hashFrame(img)
	return Media{Kind: KindImage, Format: format, Width: cfg.Width, Height: cfg.Height,
		Keyframes: []Keyframe{{Signals: sigs, LowInformation: low}}}, nil
}

// hashFrame returns the perceptual signals of one frame and whether it is
// low-information. Video frames go through it too.
func hashFrame(img image.Image) ([]Signal, bool) {
	var sigs []Signal
	if p, err := goimagehash.PerceptionHash(img); err == nil {
		sigs = append(sigs, Signal{Type: PHash, Hash: u64bytes(p.GetHash())})
	}
	if d, err := goimagehash.DifferenceHash(img); err == nil {
		sigs = append(sigs, Signal{Type: DHash, Hash: u64bytes(d.GetHash())})
	}
	return sigs, false
}

func u64bytes(v uint64) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(v >> (56 - 8*i))
	}
	return b
}
