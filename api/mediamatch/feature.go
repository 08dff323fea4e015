package mediamatch

// Local is the name matches give to local features (Keyframe.Features)
// where they name a signal type (Match.Signal, FrameMatch.Signal): a
// match found by descriptors of corners that agree on one placement of
// the upload in the item, not by a hash of a whole frame or view. It is
// not a type a Signal may have: Valid reports false for it.
const Local SignalType = "local"

// FeatureUnit is the unit of Feature.X and Feature.Y: 1/FeatureUnit of the
// frame's longer side as displayed, the same on both axes, so that a
// frame's features keep its shape.
const FeatureUnit = 4096

// FeatureLevels is the number of scales features are found at: level n is
// the frame shrunk by 2^(n/4) (about 1.19 a level).
const FeatureLevels = 16

// MaxFeaturesPerKeyframe is the most local features a keyframe may carry.
const MaxFeaturesPerKeyframe = 512

// Feature is one local feature of a frame: a corner found at some scale,
// and a 256-bit binary descriptor of the patch around it, compared by
// Hamming distance. Local features survive edits that move the picture
// within the frame or cut part of it away (crops, pads, screenshots),
// which whole-frame and view hashes do not: a copy is recognised when
// enough of its features meet features of an item at one consistent
// placement (translation and scale).
type Feature struct {
	// X and Y are the centre, in 1/FeatureUnit of the longer side of the
	// frame as displayed: 0 <= X <= FeatureUnit*width/longer side.
	X, Y uint16
	// Level is the scale it was found at, 0..FeatureLevels-1 (see
	// FeatureLevels): its patch spans 2^(Level/4) times more of the frame
	// than at level 0.
	Level uint8
	// Desc is the descriptor, most significant bit first.
	Desc [32]byte
}

// Valid reports whether f lies within the unit square's bounds and has
// a known level.
func (f Feature) Valid() bool {
	return int(f.X) <= FeatureUnit && int(f.Y) <= FeatureUnit && int(f.Level) < FeatureLevels
}
