package fingerprint

import (
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/fingerprint/pdq"
)

func BenchmarkTmpPDQ(b *testing.B) {
	img := sharedPhoto(b, "skimage/astronaut.png")
	b.Run("one", func(b *testing.B) {
		for b.Loop() {
			pdqImage(img, 1, mediamatch.TransformNone)
		}
	})
	b.Run("mirrors", func(b *testing.B) {
		for b.Loop() {
			pdq.FromOrientedImageMirrors(img, 1)
		}
	})
}
