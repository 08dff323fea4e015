package fingerprint

import (
	"context"
	"image"
)

// Functions that only tests need, kept out of the package proper.

// decodeSmall is decode followed by shrink: the image that pHash and dHash
// are computed from.
func (h *Hasher) decodeSmall(format string, data []byte) (image.Image, int, int, error) {
	img, w, ht, release, err := h.decode(context.Background(), format, data)
	if err != nil {
		return nil, 0, 0, err
	}
	defer release()
	return shrink(img), w, ht, nil
}
