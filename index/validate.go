package index

import (
	"fmt"
	"unicode/utf8"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// Limits on what the index accepts. The validation helpers below enforce
// them and the API documentation (api/mediamatch/v1) repeats them.
const (
	MaxBankNameLen         = 64
	MaxDescriptionLen      = 1024
	MaxItemIDLen           = 128
	MaxLabels              = 64
	MaxLabelKeyLen         = 64
	MaxLabelValueLen       = 256
	MaxKeyframes           = 10000
	MaxSignalsPerKeyframe  = 16
	MaxFileSignals         = 16
	MaxFormatLen           = 64
	MaxPageSize            = 1000
	MaxSourceFieldLen      = 256 // Source.Format, Partner, UpstreamID and each tag
	MaxSourceTags          = 64
	DefaultPageSize        = 100
	DefaultMaxMatchResults = 100
)

// invalidf returns an error wrapping ErrInvalid whose text says what was
// wrong and what was wanted.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("index: "+format+": %w", append(args, ErrInvalid)...)
}

// ValidateBankName returns nil if name is 1..64 characters of [a-z0-9_.-]
// starting with a letter or digit, and otherwise an error wrapping
// ErrInvalid that says what was wanted.
func ValidateBankName(name string) error {
	const want = "want 1..64 characters of [a-z0-9_.-] starting with a letter or digit"
	if len(name) == 0 || len(name) > MaxBankNameLen {
		return invalidf("bank name %q has %d characters, %s", name, len(name), want)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return invalidf("bank name %q starts with %q, %s", name, c, want)
		}
		if !alnum && c != '_' && c != '.' && c != '-' {
			return invalidf("bank name %q contains %q, %s", name, c, want)
		}
	}
	return nil
}

// validateDescription returns nil if d is valid UTF-8 of at most 1024 bytes.
func validateDescription(d string) error {
	if len(d) > MaxDescriptionLen {
		return invalidf("bank description has %d bytes, want at most %d", len(d), MaxDescriptionLen)
	}
	if !utf8.ValidString(d) {
		return invalidf("bank description is not valid UTF-8, want UTF-8 text")
	}
	return nil
}

// ValidateItemID returns nil if id is 1..128 bytes of printable ASCII
// without spaces or '/', and otherwise an error wrapping ErrInvalid that
// says what was wanted.
func ValidateItemID(id string) error {
	const want = "want 1..128 bytes of printable ASCII without space or '/'"
	if len(id) == 0 || len(id) > MaxItemIDLen {
		return invalidf("item id %q has %d bytes, %s", id, len(id), want)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == '/' {
			return invalidf("item id %q contains %q at byte %d, %s", id, c, i, want)
		}
	}
	return nil
}

// ValidateLabels returns nil if l has at most 64 pairs, keys of 1..64 bytes,
// values of at most 256 bytes, all valid UTF-8; otherwise an error wrapping
// ErrInvalid that names the offending key.
func ValidateLabels(l map[string]string) error {
	if len(l) > MaxLabels {
		return invalidf("%d labels, want at most %d", len(l), MaxLabels)
	}
	for k, v := range l {
		if len(k) == 0 || len(k) > MaxLabelKeyLen {
			return invalidf("label key %q has %d bytes, want 1..%d", k, len(k), MaxLabelKeyLen)
		}
		if !utf8.ValidString(k) {
			return invalidf("label key %q is not valid UTF-8, want UTF-8 text", k)
		}
		if len(v) > MaxLabelValueLen {
			return invalidf("label %q value has %d bytes, want at most %d", k, len(v), MaxLabelValueLen)
		}
		if !utf8.ValidString(v) {
			return invalidf("label %q value is not valid UTF-8, want UTF-8 text", k)
		}
	}
	return nil
}

// ValidateSource returns nil if s (which may be nil) can be stored: UTF-8
// fields and tags of at most 256 bytes, at most 64 tags. Otherwise it
// returns an error wrapping ErrInvalid.
func ValidateSource(s *mediamatch.Source) error {
	if s == nil {
		return nil
	}
	if len(s.Tags) > MaxSourceTags {
		return invalidf("source has %d tags, want at most %d", len(s.Tags), MaxSourceTags)
	}
	fields := []struct{ name, v string }{{"format", s.Format}, {"partner", s.Partner}, {"upstream id", s.UpstreamID}}
	for _, t := range s.Tags {
		fields = append(fields, struct{ name, v string }{"tag", t})
	}
	for _, f := range fields {
		if len(f.v) > MaxSourceFieldLen || !utf8.ValidString(f.v) {
			return invalidf("source %s %q, want at most %d bytes of UTF-8", f.name, clip(f.v), MaxSourceFieldLen)
		}
	}
	return nil
}

// ValidateMedia returns nil if m can be stored and matched, and otherwise an
// error wrapping ErrInvalid that names the offending part. It wants:
//   - a known Kind, non-negative sizes and duration, a format of at most 64 bytes;
//   - at most 16 file signals, each of an exact type (MD5, SHA-256), no type twice;
//   - at most 10,000 keyframes with strictly increasing, non-negative Index
//     and 0 <= Start <= End;
//   - at most 16 signals per keyframe, each of a perceptual type, no type
//     twice with the same Transform (a query's dihedral variants repeat PDQ
//     with Transforms 1..7);
//   - every signal of a known type with a hash of that type's length,
//     quality 0..100 and a Transform 0..7; file signals untransformed.
//
// It accepts signals of any quality: low-quality signals are stored and
// reported but never indexed or matched. Items must also have no
// transformed signals (AddItem checks that).
func ValidateMedia(m mediamatch.Media) error {
	if m.Kind < mediamatch.KindUnknown || m.Kind > mediamatch.KindVideo {
		return invalidf("media kind %d, want unknown, image or video", int(m.Kind))
	}
	if len(m.Format) > MaxFormatLen || !utf8.ValidString(m.Format) {
		return invalidf("media format %q, want at most %d bytes of UTF-8", m.Format, MaxFormatLen)
	}
	if m.Width < 0 || m.Height < 0 {
		return invalidf("media size %dx%d, want non-negative", m.Width, m.Height)
	}
	if m.Duration < 0 {
		return invalidf("media duration %v, want non-negative", m.Duration)
	}
	if m.Size < 0 {
		return invalidf("media file size %d, want non-negative", m.Size)
	}
	if len(m.FileSignals) > MaxFileSignals {
		return invalidf("%d file signals, want at most %d", len(m.FileSignals), MaxFileSignals)
	}
	if err := validateSignals(m.FileSignals, true, -1); err != nil {
		return err
	}
	if len(m.Keyframes) > MaxKeyframes {
		return invalidf("%d keyframes, want at most %d", len(m.Keyframes), MaxKeyframes)
	}
	for i, k := range m.Keyframes {
		if k.Index < 0 || i > 0 && k.Index <= m.Keyframes[i-1].Index {
			return invalidf("keyframe %d has index %d, want non-negative and increasing", i, k.Index)
		}
		if k.Start < 0 || k.End < k.Start {
			return invalidf("keyframe %d spans %v..%v, want 0 <= start <= end", i, k.Start, k.End)
		}
		if len(k.Signals) > MaxSignalsPerKeyframe {
			return invalidf("keyframe %d has %d signals, want at most %d", i, len(k.Signals), MaxSignalsPerKeyframe)
		}
		if err := validateSignals(k.Signals, false, i); err != nil {
			return err
		}
	}
	return nil
}

// validateSignals checks each signal and that the types are of the wanted
// family (exact or perceptual) and not repeated. frame is the keyframe the
// signals are of, or -1 for file signals.
func validateSignals(sigs []mediamatch.Signal, exact bool, frame int) error {
	what := signalsName(frame)
	for j, s := range sigs {
		if !s.Type.Valid() {
			return invalidf("%s %d has unknown type %q, want one of %v", what, j, s.Type, mediamatch.SignalTypes())
		}
		if err := s.Validate(); err != nil {
			return invalidf("%s %d: %v", what, j, err)
		}
		if s.Type.Exact() != exact {
			want := "a perceptual type"
			if exact {
				want = "an exact type (md5, sha256)"
			}
			return invalidf("%s %d has type %s, want %s", what, j, s.Type, want)
		}
		if exact && s.Transform != mediamatch.TransformNone {
			return invalidf("%s %d (%s) has transform %d, want none for a whole-file signal", what, j, s.Type, s.Transform)
		}
		for _, p := range sigs[:j] {
			if p.Type == s.Type && p.Transform == s.Transform {
				if s.Transform == mediamatch.TransformNone {
					return invalidf("%s %d repeats type %s, want each type at most once", what, j, s.Type)
				}
				return invalidf("%s %d repeats type %s with transform %d, want each type and transform at most once",
					what, j, s.Type, s.Transform)
			}
		}
	}
	return nil
}

// validatePageSize returns the page size to use for n.
func validatePageSize(n int) (int, error) {
	switch {
	case n < 0:
		return 0, invalidf("page size %d, want 0..%d", n, MaxPageSize)
	case n == 0:
		return DefaultPageSize, nil
	case n > MaxPageSize:
		return MaxPageSize, nil
	}
	return n, nil
}

// validateUntransformed returns an ErrInvalid error naming the first
// transformed signal of m: items are stored as they are, untransformed;
// the dihedral variants belong to queries only.
func validateUntransformed(m mediamatch.Media) error {
	for i, k := range m.Keyframes {
		for j, s := range k.Signals {
			if s.Transform != mediamatch.TransformNone {
				return invalidf("keyframe %d signal %d (%s) has transform %d, want none: items are stored untransformed, "+
					"only queries carry rotated or mirrored variants", i, j, s.Type, s.Transform)
			}
		}
	}
	return nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// signalsName names the signals of a keyframe (or, for -1, of the file) in
// errors. It allocates nothing: validation runs for every imported line.
type signalsName int

func (n signalsName) String() string {
	if n < 0 {
		return "file signal"
	}
	return fmt.Sprintf("keyframe %d signal", int(n))
}
