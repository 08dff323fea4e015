//go:build !cgo || nolibjpeg

package fingerprint

import (
	"context"
	"errors"
	"image"
)

// haveLibjpeg reports whether JPEGs are decoded by libjpeg-turbo; in this
// build (-tags nolibjpeg or CGO_ENABLED=0) image/jpeg decodes them all.
const haveLibjpeg = false

var errNoLibjpeg = errors.New("libjpeg: not built in")

// libjpegDecode always fails in this build, sending JPEGs to image/jpeg.
func libjpegDecode(ctx context.Context, data []byte, maxPixels int64, minSide, maxScans int) (image.Image, int, int, error) {
	return nil, 0, 0, errNoLibjpeg
}
