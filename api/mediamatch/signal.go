package mediamatch

import (
	"encoding/hex"
	"math/bits"
	"time"
)

// SignalType names one kind of hash. Its string form is what is stored and
// shown ("phash", "pdq", ...).
type SignalType string

// The signal types.
const (
	PHash  SignalType = "phash"  // goimagehash PerceptionHash, 64 bits
	DHash  SignalType = "dhash"  // goimagehash DifferenceHash, 64 bits
	MD5    SignalType = "md5"    // MD5 of the whole file, 128 bits, exact
	SHA256 SignalType = "sha256" // SHA-256 of the whole file, 256 bits, exact
	PDQ    SignalType = "pdq"    // PDQ, 256 bits
)

type typeInfo struct {
	local      bool // Local: named by matches, never a Signal's type
	bits       int  // hash length in bits
	exact      bool // compared for equality, not by distance
	threshold  int  // default largest matching Hamming distance
	minQuality int  // signals of lower quality are never indexed or matched
}

// types is the one definition of each type's size, default threshold and
// minimum quality: everything else (index, server ceilings, CLI help, the
// README) takes them from here through the SignalType methods.

var types = map[SignalType]typeInfo{
	PHash:  {bits: 64, threshold: 8},
	DHash:  {bits: 64, threshold: 8},
	MD5:    {bits: 128, exact: true},
	SHA256: {bits: 256, exact: true},
	// Threshold 31 and quality 50 are what partners sharing PDQ lists use.
	PDQ: {bits: 256, threshold: 31, minQuality: 50},
	// Local features' descriptors are 256 bits; Match.Distance of a
	// Local hit is their mean distance.
	Local: {local: true, bits: 256},
}

// SignalTypes lists every known signal type in a fixed order: the
// perceptual types first, then the exact ones.
func SignalTypes() []SignalType { return []SignalType{PDQ, PHash, DHash, MD5, SHA256} }

// MatchTypes lists what a match may name as its signal: SignalTypes,
// then Local. Status and metrics count and time each.
func MatchTypes() []SignalType { return append(SignalTypes(), Local) }

// Valid reports whether t is a known signal type.
// Local is not: it names local-feature matches (see Local).
func (t SignalType) Valid() bool { i, ok := types[t]; return ok && !i.local }

// Bits returns the length of a hash of type t in bits, or 0 if t is unknown.
func (t SignalType) Bits() int { return types[t].bits }

// Exact reports whether t is compared for equality (MD5, SHA-256) rather
// than by Hamming distance.
func (t SignalType) Exact() bool { return types[t].exact }

// DefaultThreshold returns the largest Hamming distance that counts as a
// match for t by default; 0 for exact types.
func (t SignalType) DefaultThreshold() int { return types[t].threshold }

// MinQuality returns the lowest quality at which a signal of type t is
// indexed or matched; 0 where t has no quality measure. Callers that
// decide whether a signal is searched use Signal.Matchable or
// Keyframe.Matchable, not this number.
func (t SignalType) MinQuality() int { return types[t].minQuality }

// Transform is one of the 8 rotations and mirrors of an image (the
// dihedral group), numbered as pdq.Variant and the PDQ reference number them.
type Transform int

// The transforms. TransformNone is the image as it is.
const (
	TransformNone Transform = iota
	Rotate90                // 90 degrees counter-clockwise
	Rotate180
	Rotate270 // 270 degrees counter-clockwise (90 clockwise)
	FlipX     // mirrored top to bottom (about the X axis)
	FlipY     // mirrored left to right (about the Y axis)
	FlipPlus1 // mirrored across the main diagonal (transposed)
	FlipMinus1
)

// Signal is one hash of a frame or of a whole file.
type Signal struct {
	Type SignalType
	// Hash holds the bits, most significant first; len(Hash)*8 == Type.Bits().
	Hash []byte
	// Quality is 0..100 (100 best), or 0 where the type has no quality measure.
	Quality int
	// Transform is set on the extra PDQ signals of a query hashed with
	// dihedral variants: the rotation or mirror of the upload this hash is
	// of. Stored items only have untransformed signals.
	Transform Transform
	// View is the part of the frame hashed: the zero View is the whole
	// frame; others are the picture with its borders trimmed, or a region
	// of it (see View). Items and queries both carry views; a keyframe
	// has at most one signal per type, transform and view.
	View View
}

// Validate returns an *Error of code Invalid if s has an unknown type, a
// hash of the wrong length, a quality outside 0..100 or an unknown
// Transform.
func (s Signal) Validate() error {
	if e := s.validate(nil); e != nil {
		return e
	}
	return nil
}

// validate is Validate with the error's field below the path of the
// signal ("item.media.keyframes[0].signals[1]"): ".hash", ".quality". path
// is called only for an error, since validation runs for every signal of
// every imported line; with path nil the error has no field.
func (s Signal) validate(path func() string) *Error {
	at := func(sub string) string {
		if path == nil {
			return ""
		}
		return path() + "." + sub
	}
	if !s.Type.Valid() {
		return Errorf(Invalid, at("type"), "unknown signal type %q", s.Type)
	}
	if want := s.Type.Bits() / 8; len(s.Hash) != want {
		return Errorf(Invalid, at("hash"), "%s hash is %d bytes, want %d", s.Type, len(s.Hash), want)
	}
	if s.Quality < 0 || s.Quality > 100 {
		return Errorf(Invalid, at("quality"), "%s quality %d, want 0..100", s.Type, s.Quality)
	}
	if s.Transform < TransformNone || s.Transform > FlipMinus1 {
		return Errorf(Invalid, at("transform"), "%s transform %d, want 0..7", s.Type, s.Transform)
	}
	if !s.View.Region.Valid() {
		return Errorf(Invalid, at("view.region"), "%s region %d,%d-%d,%d, want 0 <= x0 < x1 <= %d and 0 <= y0 < y1 <= %d, or all zero",
			s.Type, s.View.Region.X0, s.View.Region.Y0, s.View.Region.X1, s.View.Region.Y1, RegionScale, RegionScale)
	}
	return nil
}

// Matchable reports whether s is good enough to be indexed or searched:
// its quality is at least its type's MinQuality (PDQ: 50; types without a
// quality measure always are). It is the one test of the quality minimum:
// a signal that is not matchable is stored, reported and exported with its
// item in mediamatch's own form, but never indexed, searched or written to
// a partner hash list. A signal of a keyframe is matchable only if the
// keyframe is too (Keyframe.Matchable).
func (s Signal) Matchable() bool { return s.Quality >= s.Type.MinQuality() }

// Hex returns the hash as lowercase hexadecimal, the form partners exchange.
func (s Signal) Hex() string { return hex.EncodeToString(s.Hash) }

// Distance returns the Hamming distance between two hashes of equal length
// in bits. It panics if the lengths differ.
func Distance(a, b []byte) int {
	if len(a) != len(b) {
		panic("mediamatch: Distance of hashes of different lengths")
	}
	d := 0
	i := 0
	for ; i+8 <= len(a); i += 8 {
		d += bits.OnesCount64(be64(a[i:]) ^ be64(b[i:]))
	}
	for ; i < len(a); i++ {
		d += bits.OnesCount8(a[i] ^ b[i])
	}
	return d
}

func be64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

// Kind says whether a file was hashed as a still image or as a video.
type Kind int

// The media kinds.
const (
	KindUnknown Kind = iota
	KindImage        // a still image: one keyframe
	KindVideo        // a video or an animated image: keyframes with time ranges
)

func (k Kind) String() string {
	switch k {
	case KindImage:
		return "image"
	case KindVideo:
		return "video"
	}
	return "unknown"
}

// Keyframe is one frame of an image, or a run of near-identical sampled
// video frames folded into one.
type Keyframe struct {
	Index      int
	Start, End time.Duration // the run [Start, End); zero for still images
	Signals    []Signal
	// LowInformation marks a featureless frame (solid colour, near-blank):
	// its signals are reported but never indexed or matched.
	LowInformation bool
	// Features are the frame's local features (see Feature), at most
	// MaxFeaturesPerKeyframe; none where the hasher found none or was not
	// asked for them. Like views, they exist only for items added from
	// media: partner lists carry PDQ only.
	Features []Feature
}

// Signal returns the keyframe's signal of type t, untransformed and of the
// whole frame (what partners' lists hold), and whether it has one.
func (k Keyframe) Signal(t SignalType) (Signal, bool) {
	for _, s := range k.Signals {
		if s.Type == t && s.Transform == TransformNone && s.View.Whole() {
			return s, true
		}
	}
	return Signal{}, false
}

// Matchable reports whether s, one of k's signals, may be indexed or
// searched: k is not low-information and s is Matchable.
func (k Keyframe) Matchable(s Signal) bool { return !k.LowInformation && s.Matchable() }

// Media is the fingerprint of one file: all that mediamatch keeps of it.
type Media struct {
	Kind          Kind
	Format        string // "jpeg", "png", "mp4", ...
	Width, Height int    // as displayed, after EXIF orientation
	Duration      time.Duration
	Size          int64    // file size in bytes
	FileSignals   []Signal // MD5, SHA-256 of the whole file
	Keyframes     []Keyframe
}
