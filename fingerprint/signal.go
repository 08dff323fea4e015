// Package fingerprint turns media into signals: it decodes images, pulls
// frames out of videos with ffmpeg, and computes the perceptual (pHash,
// dHash, later PDQ) and exact (MD5, SHA-256) hashes that the index stores
// and matches.
//
// The types in this file are the signal model shared by the whole service.
// A new signal type is one more SignalType value with its size and default
// threshold; nothing else changes shape.
package fingerprint

import (
	"encoding/hex"
	"fmt"
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
	bits      int  // hash length in bits
	exact     bool // compared for equality, not by distance
	threshold int  // default largest matching Hamming distance
}

var types = map[SignalType]typeInfo{
	PHash:  {bits: 64, threshold: 8},
	DHash:  {bits: 64, threshold: 8},
	MD5:    {bits: 128, exact: true},
	SHA256: {bits: 256, exact: true},
	PDQ:    {bits: 256, threshold: 31},
}

// SignalTypes lists every known signal type in a fixed order: the
// perceptual types first, then the exact ones.
func SignalTypes() []SignalType { return []SignalType{PDQ, PHash, DHash, MD5, SHA256} }

// Valid reports whether t is a known signal type.
func (t SignalType) Valid() bool { _, ok := types[t]; return ok }

// Bits returns the length of a hash of type t in bits, or 0 if t is unknown.
func (t SignalType) Bits() int { return types[t].bits }

// Exact reports whether t is compared for equality (MD5, SHA-256) rather
// than by Hamming distance.
func (t SignalType) Exact() bool { return types[t].exact }

// DefaultThreshold returns the largest Hamming distance that counts as a
// match for t by default; 0 for exact types.
func (t SignalType) DefaultThreshold() int { return types[t].threshold }

// Signal is one hash of a frame or of a whole file.
type Signal struct {
	Type SignalType
	// Hash holds the bits, most significant first; len(Hash)*8 == Type.Bits().
	Hash []byte
	// Quality is 0..100 (100 best), or 0 where the type has no quality measure.
	Quality int
}

// Validate returns an error if s has an unknown type or a hash of the wrong length.
func (s Signal) Validate() error {
	if !s.Type.Valid() {
		return fmt.Errorf("unknown signal type %q", s.Type)
	}
	if want := s.Type.Bits() / 8; len(s.Hash) != want {
		return fmt.Errorf("%s hash is %d bytes, want %d", s.Type, len(s.Hash), want)
	}
	if s.Quality < 0 || s.Quality > 100 {
		return fmt.Errorf("%s quality %d, want 0..100", s.Type, s.Quality)
	}
	return nil
}

// Hex returns the hash as lowercase hexadecimal, the form partners exchange.
func (s Signal) Hex() string { return hex.EncodeToString(s.Hash) }

// Distance returns the Hamming distance between two hashes of equal length
// in bits. It panics if the lengths differ.
func Distance(a, b []byte) int {
	if len(a) != len(b) {
		panic("fingerprint: Distance of hashes of different lengths")
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
}

// Signal returns the keyframe's signal of type t and whether it has one.
func (k Keyframe) Signal(t SignalType) (Signal, bool) {
	for _, s := range k.Signals {
		if s.Type == t {
			return s, true
		}
	}
	return Signal{}, false
}

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
