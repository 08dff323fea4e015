// Package pdq computes PDQ perceptual hashes of images and video frames,
// bit-compatible in layout and close in value to Meta's reference
// implementation, so that hashes exchanged with partners (GIFCT, Tech
// Against Terrorism, ThreatExchange, NCMEC, StopNCII) can be compared with
// ours.
//
// PDQ turns an image into luminance, blurs and decimates it to 64x64 with a
// two-pass box ("Jarosz") filter, takes 16x16 DCT coefficients, and sets one
// bit per coefficient above their median. A quality score 0..100 measures
// how much gradient the 64x64 image has; hashes of low quality carry too
// little information to be matched. The minimum quality and the default
// matching threshold are not this package's: they are policy, defined once
// with the signal types in package mediamatch (PDQ.MinQuality,
// PDQ.DefaultThreshold), which imports no algorithm.
//
// [FromImage] follows the reference photo pipeline (including its
// nearest-neighbour pre-shrink of images over 512 pixels to 512x512),
// [FromFrame] the vPDQ video-frame pipeline (no pre-shrink), and [FromLuma]
// hashes a luminance buffer. Each returns a [Digest], from which the hash and
// its eight dihedral (rotation and mirror) variants are taken without
// recomputing.
//
// Package fingerprint is its user. It is an engine with its own
// conformance tests against Meta's PDQ reference and imports only the
// standard library: never another package of mediamatch.
//
// Everything in this package is safe for concurrent use; it keeps no state
// between calls.
package pdq
