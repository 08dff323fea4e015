package pdq

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
)

// Bits is the length of a PDQ hash in bits.
const Bits = 256

// ErrSyntax is returned, wrapped with detail, by [ParseHash] for a string
// that is not 64 hex digits.
var ErrSyntax = errors.New("pdq: invalid hash")

// Hash is a 256-bit PDQ hash. Its bytes hold the hash as one big-endian
// 256-bit number: coefficient k (k = 16*row + column of the 16x16 DCT) is
// bit k of that number, i.e. bit k%8 of byte 31-k/8. This is the byte order
// of the reference's hex form, so hex.EncodeToString(h[:]) == h.String().
type Hash [32]byte

// String returns the hash as 64 lowercase hex digits, the form partners
// exchange (the reference's word 15 first, word 0 last).
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText implements encoding.TextMarshaler with the String form.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts what
// [ParseHash] accepts and returns its errors.
func (h *Hash) UnmarshalText(b []byte) error {
	p, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = p
	return nil
}

// ParseHash parses 64 hex digits (either case) into a Hash. Any other
// length or a non-hex character gives an error wrapping [ErrSyntax] that
// names the problem.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return Hash{}, fmt.Errorf("%w: %q is %d characters, want 64 hex digits", ErrSyntax, truncate(s), len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return Hash{}, fmt.Errorf("%w: %q has %q at offset %d, want hex digits only", ErrSyntax, truncate(s), c, i)
		}
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil { // cannot fail after the checks above
		return Hash{}, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	return h, nil
}

// truncate shortens s for an error message.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// Distance returns the Hamming distance between a and b: the number of
// differing bits, 0..256.
func Distance(a, b Hash) int {
	n := 0
	for i := 0; i < len(a); i += 8 {
		n += bits.OnesCount64(binary.BigEndian.Uint64(a[i:]) ^ binary.BigEndian.Uint64(b[i:]))
	}
	return n
}

// Bit reports whether bit k (0..255) of h is set; bit k belongs to DCT
// coefficient (k/16, k%16), row = vertical frequency. It panics if k is out
// of range.
func (h Hash) Bit(k int) bool {
	if k < 0 || k >= Bits {
		panic(fmt.Sprintf("pdq: Hash.Bit(%d) out of range 0..255", k))
	}
	return h[31-k/8]>>(k%8)&1 == 1
}

// setBit sets bit k of h.
func (h *Hash) setBit(k int) { h[31-k/8] |= 1 << (k % 8) }

// Variant names one of the eight dihedral transforms of an image (the
// rotations and mirrors of a square), in the order of the reference tool's
// --pdqdih-across output and of dihedral.csv.
type Variant int

// The dihedral variants. Rotations are counter-clockwise as displayed:
// Rotate90 moves the right edge of the image to the top.
const (
	Original   Variant = iota // the image as given
	Rotate90                  // rotated 90 degrees counter-clockwise
	Rotate180                 // rotated 180 degrees
	Rotate270                 // rotated 270 degrees counter-clockwise (90 clockwise)
	FlipX                     // mirrored top to bottom (about the horizontal axis)
	FlipY                     // mirrored left to right (about the vertical axis)
	FlipPlus1                 // transposed (mirrored about the main diagonal)
	FlipMinus1                // anti-transposed (mirrored about the other diagonal)
)

// NumVariants is the number of dihedral variants.
const NumVariants = 8

var variantNames = [NumVariants]string{"original", "rotate90", "rotate180", "rotate270", "flipx", "flipy", "flipplus1", "flipminus1"}

// String returns the variant's lowercase name ("rotate90"), or
// "Variant(n)" for a value out of range.
func (v Variant) String() string {
	if v < 0 || v >= NumVariants {
		return fmt.Sprintf("Variant(%d)", int(v))
	}
	return variantNames[v]
}

// Inverse returns the transform that undoes v: Rotate90 and Rotate270 undo
// each other, every other variant undoes itself.
func (v Variant) Inverse() Variant {
	switch v {
	case Rotate90:
		return Rotate270
	case Rotate270:
		return Rotate90
	}
	return v
}

// Dihedral holds the hashes of the eight dihedral transforms of one image,
// indexed by [Variant]: d[v] is the hash of the image transformed by v.
//
// If an upload is a known image transformed by T, then the known image's
// d[T] is (close to) the upload's hash, and the upload's d[T.Inverse()] is
// (close to) the known image's hash.
type Dihedral [NumVariants]Hash
