package mediamatch

// This file holds the algebra of the eight dihedral transforms: how they
// compose, how they undo each other, and how they relate to the EXIF
// orientations (which are the same eight transforms, applied to the stored
// pixels to display them).
//
// Pixel semantics, the same as the PDQ reference's variants (checked in
// package fingerprint's TestTransforms against turned images and against
// the reference's dihedral hashes): with x to the right and y down, output
// pixel (x, y) of an image w wide and h high turned by
//
//	Rotate90    comes from (w-1-y, x)      the right edge goes to the top
//	Rotate180   comes from (w-1-x, h-1-y)
//	Rotate270   comes from (y, h-1-x)      the left edge goes to the top
//	FlipX       comes from (x, h-1-y)      mirrored top to bottom (about the x axis)
//	FlipY       comes from (w-1-x, y)      mirrored left to right (about the y axis)
//	FlipPlus1   comes from (y, x)          transposed
//	FlipMinus1  comes from (w-1-y, h-1-x)  anti-transposed

// transformMatrix holds, for each transform, the signed permutation matrix
// m that moves a point p (centred coordinates, x right, y down) of the
// original to m·p in the turned image.
var transformMatrix = [8][2][2]int{
	TransformNone: {{1, 0}, {0, 1}},
	Rotate90:      {{0, 1}, {-1, 0}},
	Rotate180:     {{-1, 0}, {0, -1}},
	Rotate270:     {{0, -1}, {1, 0}},
	FlipX:         {{1, 0}, {0, -1}},
	FlipY:         {{-1, 0}, {0, 1}},
	FlipPlus1:     {{0, 1}, {1, 0}},
	FlipMinus1:    {{0, -1}, {-1, 0}},
}

// Compose returns the transform that turns an image by b and then by a.
func Compose(a, b Transform) Transform {
	ma, mb := transformMatrix[a], transformMatrix[b]
	var m [2][2]int
	for i := range 2 {
		for j := range 2 {
			m[i][j] = ma[i][0]*mb[0][j] + ma[i][1]*mb[1][j]
		}
	}
	for t, mt := range transformMatrix {
		if mt == m {
			return Transform(t)
		}
	}
	panic("mediamatch: Compose: not a dihedral transform") // unreachable: the group is closed
}

// Inverse returns the transform that undoes t: Rotate90 and Rotate270 undo
// each other, every other transform undoes itself.
//
// If an upload is a known image turned by U, the upload's dihedral variant
// that matches the known image's hash is the one with Transform
// U.Inverse(); so a match on a variant with Transform T says that the
// upload is the known image turned by T.Inverse().
func (t Transform) Inverse() Transform {
	switch t {
	case Rotate90:
		return Rotate270
	case Rotate270:
		return Rotate90
	}
	return t
}

// exifTransform maps an EXIF orientation (1..8) to the transform that
// turns the stored pixels into the displayed image.
var exifTransform = [9]Transform{
	1: TransformNone,
	2: FlipY,      // mirrored left to right
	3: Rotate180,  // rotated 180 degrees
	4: FlipX,      // mirrored top to bottom
	5: FlipPlus1,  // transposed
	6: Rotate270,  // rotated 90 degrees clockwise
	7: FlipMinus1, // anti-transposed
	8: Rotate90,   // rotated 90 degrees counter-clockwise
}

// OrientationTransform returns the transform that turns the stored pixels
// of an image with EXIF orientation o into the displayed image, or
// TransformNone for a value out of 1..8.
func OrientationTransform(o int) Transform {
	if o < 1 || o > 8 {
		return TransformNone
	}
	return exifTransform[o]
}

// EXIFOrientation returns the EXIF orientation (1..8) whose transform is
// t (see OrientationTransform), or 1 for a t out of range.
func (t Transform) EXIFOrientation() int {
	for o := 1; o <= 8; o++ {
		if exifTransform[o] == t {
			return o
		}
	}
	return 1
}

// Transposes reports whether t swaps the axes (and so width and height).
func (t Transform) Transposes() bool { return transformMatrix[t][0][0] == 0 }
