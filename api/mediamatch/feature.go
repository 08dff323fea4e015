package mediamatch

import "fmt"

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

// FeatureBytes is the size of a feature's binary form (AppendFeatures):
// X and Y as big-endian uint16, Level, then Desc. The index stores
// features in it, and list formats carry it (jsonl, base64).
const FeatureBytes = 2 + 2 + 1 + 32

// AppendFeatures appends the binary form of fs to b, FeatureBytes each.
func AppendFeatures(b []byte, fs []Feature) []byte {
	for _, f := range fs {
		b = append(b, byte(f.X>>8), byte(f.X), byte(f.Y>>8), byte(f.Y), f.Level)
		b = append(b, f.Desc[:]...)
	}
	return b
}

// ParseFeatures returns the features whose binary form is b
// (AppendFeatures). It fails if b is not a whole number of features; it
// does not check their ranges (ValidateMedia does).
func ParseFeatures(b []byte) ([]Feature, error) {
	if len(b)%FeatureBytes != 0 {
		return nil, fmt.Errorf("%d bytes, want a multiple of %d (x, y: 2 bytes each, level: 1, descriptor: 32)", len(b), FeatureBytes)
	}
	if len(b) == 0 {
		return nil, nil
	}
	fs := make([]Feature, len(b)/FeatureBytes)
	for i := range fs {
		r := b[i*FeatureBytes : (i+1)*FeatureBytes]
		fs[i] = Feature{X: uint16(r[0])<<8 | uint16(r[1]), Y: uint16(r[2])<<8 | uint16(r[3]), Level: r[4], Desc: [32]byte(r[5:])}
	}
	return fs, nil
}
