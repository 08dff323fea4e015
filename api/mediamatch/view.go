package mediamatch

import "fmt"

// RegionScale is the unit of Region's coordinates: thousandths of a frame's
// displayed width and height.
const RegionScale = 1000

// Region is a rectangle of a frame as displayed (after EXIF orientation),
// [X0, X1) by [Y0, Y1) in thousandths of its width and height. The zero
// Region stands for the whole frame, as does {0, 0, 1000, 1000}.
type Region struct {
	X0, Y0, X1, Y1 int
}

// Whole reports whether r covers the whole frame.
func (r Region) Whole() bool {
	return r == Region{} || r == Region{0, 0, RegionScale, RegionScale}
}

// Valid reports whether r is the zero Region or a non-empty rectangle
// inside the frame.
func (r Region) Valid() bool {
	if r == (Region{}) {
		return true
	}
	return 0 <= r.X0 && r.X0 < r.X1 && r.X1 <= RegionScale && 0 <= r.Y0 && r.Y0 < r.Y1 && r.Y1 <= RegionScale
}

// String returns "whole" or "x0,y0-x1,y1" in thousandths.
func (r Region) String() string {
	if r.Whole() {
		return "whole"
	}
	return fmt.Sprintf("%d,%d-%d,%d", r.X0, r.Y0, r.X1, r.Y1)
}

// View says which part of a frame a signal hashes and how it was found.
// The zero View is the whole frame as displayed. Besides the whole frame,
// the hasher hashes views that survive the edits uploaders make: the
// picture with uniform or blurred bars and borders trimmed (pads,
// letterboxes, frames), and fixed regions that leave out a band where
// captions and logos go, or that a crop keeps. A view of the upload may
// match any view of an item: that is how a padded, captioned or cropped
// copy is found.
type View struct {
	// Region is the part of the frame hashed; zero for the whole frame.
	Region Region
	// Trimmed says the frame's borders were trimmed first: Region lies
	// within the content found inside them (for a trimmed view with no
	// further cut, Region is that content).
	Trimmed bool
}

// Whole reports whether v is the whole frame, untrimmed.
func (v View) Whole() bool { return v.Region.Whole() && !v.Trimmed }

// String describes v for people: "whole", "trimmed to 0,125-1000,875"
// (the part of the frame kept once borders are trimmed, perhaps cut
// further), "region 0,0-1000,800".
func (v View) String() string {
	switch {
	case v.Whole():
		return "whole"
	case v.Trimmed && v.Region.Whole():
		return "trimmed"
	case v.Trimmed:
		return "trimmed to " + v.Region.String()
	}
	return "region " + v.Region.String()
}
