package fingerprint

import (
	"image"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/fingerprint/pdq"
)

// This file is the only one that knows the pdq package: it turns decoded
// still images and sampled video frames into PDQ signals, with the
// dihedral variants of a query (HashOptions.Dihedral).
//
// A variant with Transform T is the hash of the keyframe turned by T
// (transform.go says exactly how pixels move). It is computed two ways:
//
//   - Still images: from the image actually turned. The reference pipeline
//     is not mirror-symmetric: the nearest-neighbour pre-shrink picks pixel
//     floor(i*n/512), whose mirror image is not a pick, and an even Jarosz
//     window reaches one pixel further on one side than on the other. So
//     the variants that the algorithm derives from one DCT (pdq.Digest's
//     Variant: transposition and sign flips of the coefficients) differ
//     from the hash of the turned image: over the 131 shared photos of
//     quality >= 50, each turned 8 ways and hashed through Hash, the
//     one-DCT variant was 12 bits from the original's hash at the median,
//     30 at p90 and up to 102 (skimage/brick.png; small textured images
//     are worst), 406 of 1048 cases over 16. Hashing the turned image puts
//     the right variant within 0 bits of the original for every PNG and
//     within 6 for the JPEGs (the drift of the scaled JPEG decode, see
//     jpegMinSide). Transposition, unlike mirroring, commutes with every
//     stage (the pre-shrink picks the same pixels, the windows and sample
//     centres of the two axes swap), so only the four non-transposing
//     turns (none, FlipX, FlipY, Rotate180) are hashed, and each
//     transposing turn T is the FlipPlus1 variant of the turn
//     mediamatch.Compose(FlipPlus1, T). (Over the 135 shared images these
//     agree bit for bit with hashing each transposed image, but on the two
//     flat quality-0 ones, where float rounding decides.) The four come
//     from pdq.FromOrientedImageMirrors, which, along a side the
//     pre-shrink keeps whole (512 pixels or less), reorders the picture's
//     own lines instead of reading the image again, and shares the
//     filter's first pass: the four digests of a 512x512 picture cost
//     about 2.5 times its PDQ alone, not 4 (BenchmarkUploadSteps).
//   - Video frames: from the one DCT. Turning a full-size frame and
//     running the filter again would cost 4 times the frame's PDQ for
//     every keyframe; the one-DCT variants cost nothing. They are less
//     exact: on the shared clips (full-size frames of quality >= 50,
//     turned 7 ways) the right variant is 10 bits from the frame's hash
//     at the median, 20 at p90, 34 at most (320x180 frames), and always
//     the nearest of the eight. Against the default threshold of 31 that
//     leaves a turned re-upload matching on almost every frame, which is
//     what video matching needs.

// pdqSignal returns d's hash turned by v (from the one DCT) as a signal
// with Transform t.
func pdqSignal(d *pdq.Digest, v, t mediamatch.Transform) mediamatch.Signal {
	h := d.Variant(pdq.Variant(v))
	return mediamatch.Signal{Type: mediamatch.PDQ, Hash: h[:], Quality: d.Quality(), Transform: t}
}

// pdqImage returns the PDQ digest of a decoded still image as displayed
// under EXIF orientation o (1..8) and then turned by t, following the
// reference photo pipeline (pdq.FromOrientedImage): over 512 pixels on
// either side, a 512x512 nearest-neighbour pre-shrink, then luminance,
// Jarosz filter and DCT. ok is false for an image under pdq.MinSide pixels
// on a side, which has no PDQ hash.
func pdqImage(img image.Image, o int, t mediamatch.Transform) (d pdq.Digest, ok bool) {
	d, err := pdq.FromOrientedImage(img, pdq.Orientation(mediamatch.Compose(t, mediamatch.OrientationTransform(o)).EXIFOrientation()))
	return d, err == nil
}

// pdqImageMirrors returns the PDQ digests of a still image as displayed
// under EXIF orientation o (1..8), as pdqImage does, and then turned by
// FlipX, FlipY and Rotate180 (pdq.FromOrientedImageMirrors, which shares
// the reading and the first filter pass of the four). ok is false for an
// image under pdq.MinSide pixels on a side.
func pdqImageMirrors(img image.Image, o int) (ms [4]pdq.Digest, ok bool) {
	ms, err := pdq.FromOrientedImageMirrors(img, pdq.Orientation(mediamatch.OrientationTransform(o).EXIFOrientation()))
	return ms, err == nil
}

// mirrorVariants returns the PDQ signals turned by Rotate90..FlipMinus1,
// in that order, of a still image whose digests turned by none, FlipX,
// FlipY and Rotate180 are ms (pdqImageMirrors).
func mirrorVariants(ms *[4]pdq.Digest) []mediamatch.Signal {
	var mirrors [8]pdq.Digest // indexed by the non-transposing transforms
	mirrors[mediamatch.TransformNone], mirrors[mediamatch.FlipX] = ms[0], ms[1]
	mirrors[mediamatch.FlipY], mirrors[mediamatch.Rotate180] = ms[2], ms[3]
	var sigs []mediamatch.Signal
	for t := mediamatch.Rotate90; t <= mediamatch.FlipMinus1; t++ {
		if t.Transposes() {
			m := mediamatch.Compose(mediamatch.FlipPlus1, t)
			sigs = append(sigs, pdqSignal(&mirrors[m], mediamatch.FlipPlus1, t))
		} else {
			sigs = append(sigs, pdqSignal(&mirrors[t], mediamatch.TransformNone, t))
		}
	}
	return sigs
}

// maxFramePixels bounds the frames hashed at full size by framePDQ: 4K UHD
// (3840x2160). The vPDQ pipeline filters the whole frame in float32, 4
// bytes a pixel; a larger frame (up to Options.MaxPixels) is first
// area-averaged by the smallest power of two that brings it under, which
// keeps the memory per video under 40 MB at the price of exactness on
// frames beyond 4K.
const maxFramePixels = 3840 * 2160

// framePDQ returns the PDQ signal of a sampled video frame (the vPDQ
// pipeline: no pre-shrink) and its extra PDQ signals: its views
// (frameViewSignals: the trimmed view if it has bars, for letterboxed,
// pillarboxed and reframed copies, and the picture without its top or
// bottom fifth, for corner watermarks and captions), then, if dihedral,
// its 7 turned variants, taken from the same DCT. Keyframes take the extra signals only
// when their whole-frame PDQ is matchable. ok is false for a frame under
// pdq.MinSide pixels on a side.
func framePDQ(img image.Image, dihedral bool) (s mediamatch.Signal, variants []mediamatch.Signal, ok bool) {
	b := img.Bounds()
	if w, h := b.Dx(), b.Dy(); w*h > maxFramePixels {
		k := 2
		for ((w+k-1)/k)*((h+k-1)/k) > maxFramePixels {
			k *= 2
		}
		img = reduce(img, (w+k-1)/k, (h+k-1)/k)
	}
	d, err := pdq.FromFrame(img)
	if err != nil {
		return mediamatch.Signal{}, nil, false
	}
	l := reduceLuma(img)
	variants = append(variants, frameViewSignals(&l)...)
	if dihedral {
		for t := mediamatch.Rotate90; t <= mediamatch.FlipMinus1; t++ {
			variants = append(variants, pdqSignal(&d, t, t))
		}
	}
	return pdqSignal(&d, mediamatch.TransformNone, mediamatch.TransformNone), variants, true
}

// matchable reports whether a keyframe can ever be matched on PDQ: it has
// a PDQ signal and Keyframe.Matchable holds for it.
func matchable(k mediamatch.Keyframe) bool {
	s, ok := k.Signal(mediamatch.PDQ)
	return ok && k.Matchable(s)
}
