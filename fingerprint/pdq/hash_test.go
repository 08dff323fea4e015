package pdq

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// minQuality is the quality under which the reference (and partners, and
// mediamatch) drop a hash: the conformance tests leave such hashes out of
// their distance figures. It is mediamatch's one definition, not a copy.
var minQuality = mediamatch.PDQ.MinQuality()

func TestParseHash(t *testing.T) {
	const lower = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
	for _, tc := range []struct {
		name, in string
		want     string // String() of the result; "" when an error is wanted
		errHas   string
	}{
		{"lower", lower, lower, ""},
		{"upper", strings.ToUpper(lower), lower, ""},
		{"zero", strings.Repeat("0", 64), strings.Repeat("0", 64), ""},
		{"empty", "", "", "0 characters"},
		{"short", lower[:63], "", "63 characters"},
		{"long", lower + "0", "", "65 characters"},
		{"0x prefix", "0x" + lower[2:], "", `'x' at offset 1`},
		{"space", " " + lower[1:], "", `' ' at offset 0`},
		{"non-hex", lower[:63] + "g", "", `'g' at offset 63`},
		{"multibyte", lower[:62] + "é", "", "at offset 62"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseHash(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("ParseHash(%q) = %v, want an error", tc.in, h)
				}
				if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tc.errHas) {
					t.Errorf("ParseHash(%q) error = %v, want ErrSyntax mentioning %q", tc.in, err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseHash(%q): %v", tc.in, err)
			}
			if got := h.String(); got != tc.want {
				t.Errorf("ParseHash(%q).String() = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestBitOrder checks the layout ALGORITHM.md gives: bit k in word k/16 at
// position k%16, word 15 printed first, so the first hex digit holds bits
// 255..252 and the last bits 3..0.
func TestBitOrder(t *testing.T) {
	for _, tc := range []struct {
		bit  int
		want string
	}{
		{0, strings.Repeat("0", 63) + "1"},
		{3, strings.Repeat("0", 63) + "8"},
		{4, strings.Repeat("0", 62) + "10"},
		{15, strings.Repeat("0", 60) + "8000"},
		{16, strings.Repeat("0", 59) + "1" + "0000"},
		{252, "1" + strings.Repeat("0", 63)},
		{255, "8" + strings.Repeat("0", 63)},
	} {
		var h Hash
		h.setBit(tc.bit)
		if got := h.String(); got != tc.want {
			t.Errorf("bit %d: String() = %s, want %s", tc.bit, got, tc.want)
		}
		for k := range Bits {
			if h.Bit(k) != (k == tc.bit) {
				t.Errorf("bit %d set: Bit(%d) = %v", tc.bit, k, h.Bit(k))
			}
		}
	}
}

func TestDistance(t *testing.T) {
	ones := mustParse(t, strings.Repeat("f", 64))
	var zero, one, spread Hash
	one.setBit(200)
	for k := 0; k < Bits; k += 17 {
		spread.setBit(k)
	}
	for _, tc := range []struct {
		name string
		a, b Hash
		want int
	}{
		{"equal", ones, ones, 0},
		{"zero-ones", zero, ones, 256},
		{"one bit", zero, one, 1},
		{"spread", spread, zero, 16},
		{"spread-ones", ones, spread, 240},
	} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: Distance(a, b) = %d, want %d", tc.name, got, tc.want)
		}
		if got := Distance(tc.b, tc.a); got != tc.want {
			t.Errorf("%s: Distance(b, a) = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestTextMarshal(t *testing.T) {
	h := mustParse(t, "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22")
	b, err := json.Marshal(map[string]Hash{"pdq": h})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"pdq":"d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"}`; string(b) != want {
		t.Errorf("json.Marshal = %s, want %s", b, want)
	}
	var back map[string]Hash
	if err := json.Unmarshal(b, &back); err != nil || back["pdq"] != h {
		t.Errorf("json.Unmarshal = %v, %v; want %v", back["pdq"], err, h)
	}
	if err := json.Unmarshal([]byte(`{"pdq":"abc"}`), &back); !errors.Is(err, ErrSyntax) {
		t.Errorf("json.Unmarshal of a short hash: error %v, want ErrSyntax", err)
	}
}

func TestVariant(t *testing.T) {
	for _, tc := range []struct {
		v       Variant
		name    string
		inverse Variant
	}{
		{Original, "original", Original},
		{Rotate90, "rotate90", Rotate270},
		{Rotate180, "rotate180", Rotate180},
		{Rotate270, "rotate270", Rotate90},
		{FlipX, "flipx", FlipX},
		{FlipY, "flipy", FlipY},
		{FlipPlus1, "flipplus1", FlipPlus1},
		{FlipMinus1, "flipminus1", FlipMinus1},
		{Variant(8), "Variant(8)", Variant(8)},
	} {
		if got := tc.v.String(); got != tc.name {
			t.Errorf("Variant(%d).String() = %q, want %q", int(tc.v), got, tc.name)
		}
		if got := tc.v.Inverse(); got != tc.inverse {
			t.Errorf("%v.Inverse() = %v, want %v", tc.v, got, tc.inverse)
		}
	}
}

func TestNearest(t *testing.T) {
	var d Dihedral
	for v := range d {
		d[v].setBit(10 * v)
		d[v].setBit(10*v + 1)
	}
	q := d[FlipY]
	q.setBit(250)
	if v, dist := d.Nearest(q); v != FlipY || dist != 1 {
		t.Errorf("Nearest = %v, %d; want flipy, 1", v, dist)
	}
	var same Dihedral // all equal: ties go to Original
	if v, dist := same.Nearest(Hash{}); v != Original || dist != 0 {
		t.Errorf("Nearest on equal variants = %v, %d; want original, 0", v, dist)
	}
}

func FuzzParseHash(f *testing.F) {
	f.Add("d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22")
	f.Add(strings.Repeat("F", 64))
	f.Add("xyz")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHash(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("ParseHash(%q) error %v does not wrap ErrSyntax", s, err)
			}
			return
		}
		if got := h.String(); got != strings.ToLower(s) {
			t.Errorf("ParseHash(%q).String() = %q", s, got)
		}
	})
}

// Nearest returns the variant of d closest to h and its distance; ties go
// to the lowest variant, so an exact Original match reports Original.
func (d *Dihedral) Nearest(h Hash) (Variant, int) {
	best, bestDist := Original, Bits+1
	for v := range d {
		if dist := Distance(d[v], h); dist < bestDist {
			best, bestDist = Variant(v), dist
		}
	}
	return best, bestDist
}
