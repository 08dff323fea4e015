package mediamatch

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Limits of the domain. The validators below enforce them, the index and
// the server call the validators, and the API documentation
// (api/mediamatch/v1) repeats them.
const (
	MaxBankNameLen        = 64
	MaxDescriptionLen     = 1024
	MaxItemIDLen          = 128
	MaxLabels             = 64
	MaxLabelKeyLen        = 64
	MaxLabelValueLen      = 256
	MaxKeyframes          = 10000
	MaxSignalsPerKeyframe = 64
	MaxFileSignals        = 16
	MaxFormatLen          = 64
	MaxMediaErrors        = 20  // the most problems ValidateMedia reports at once
	MaxSourceFieldLen     = 256 // Source.Format, Partner, UpstreamID and each tag
	MaxSourceTags         = 64
	MaxTokenNameLen       = 128
)

// The validators return nil for a valid value and otherwise an *Error of
// code Invalid whose Field is field (or a path below it, for the parts of
// a Source or a Media) and whose message quotes the value, shortened, and
// says what was wanted. field is the path of the value from what the
// caller sent: "item.id" in the index, "AddItemRequest.spec.id" in the
// server. They are safe for concurrent use.

// ValidateBankName wants 1..64 characters of [a-z0-9_.-] starting with a
// letter or digit.
func ValidateBankName(field, name string) error {
	const want = "want 1..64 characters of [a-z0-9_.-] starting with a letter or digit"
	if len(name) == 0 || len(name) > MaxBankNameLen {
		return Errorf(Invalid, field, "%q has %d characters, %s", clip(name), len(name), want)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return Errorf(Invalid, field, "%q starts with %q, %s", name, c, want)
		}
		if !alnum && c != '_' && c != '.' && c != '-' {
			return Errorf(Invalid, field, "%q contains %q, %s", name, c, want)
		}
	}
	return nil
}

// ValidateDescription wants UTF-8 text of at most 1024 bytes.
func ValidateDescription(field, d string) error {
	if len(d) > MaxDescriptionLen {
		return Errorf(Invalid, field, "%d bytes, want at most %d", len(d), MaxDescriptionLen)
	}
	if !utf8.ValidString(d) {
		return Errorf(Invalid, field, "not valid UTF-8, want UTF-8 text")
	}
	return nil
}

// ValidateItemID wants 1..128 bytes of printable ASCII without spaces or
// '/'.
func ValidateItemID(field, id string) error {
	const want = "want 1..128 bytes of printable ASCII without space or '/'"
	if len(id) == 0 || len(id) > MaxItemIDLen {
		return Errorf(Invalid, field, "%q has %d bytes, %s", clip(id), len(id), want)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == '/' {
			return Errorf(Invalid, field, "%q contains %q at byte %d, %s", id, c, i, want)
		}
	}
	return nil
}

// ValidateLabels wants at most 64 pairs, keys of 1..64 bytes, values of at
// most 256 bytes, all UTF-8. The message names the offending key.
func ValidateLabels(field string, l map[string]string) error {
	if len(l) > MaxLabels {
		return Errorf(Invalid, field, "%d labels, want at most %d", len(l), MaxLabels)
	}
	for k, v := range l {
		if err := ValidateLabelKey(field, k); err != nil {
			return err
		}
		if len(v) > MaxLabelValueLen {
			return Errorf(Invalid, field, "value of %q has %d bytes, want at most %d", k, len(v), MaxLabelValueLen)
		}
		if !utf8.ValidString(v) {
			return Errorf(Invalid, field, "value of %q is not valid UTF-8, want UTF-8 text", k)
		}
	}
	return nil
}

// ValidateLabelKey wants a label key of 1..64 bytes of UTF-8.
func ValidateLabelKey(field, k string) error {
	if len(k) == 0 || len(k) > MaxLabelKeyLen {
		return Errorf(Invalid, field, "key %q has %d bytes, want 1..%d", clip(k), len(k), MaxLabelKeyLen)
	}
	if !utf8.ValidString(k) {
		return Errorf(Invalid, field, "key %q is not valid UTF-8, want UTF-8 text", clip(k))
	}
	return nil
}

// ValidateSource wants s (which may be nil) to have UTF-8 fields and tags
// of at most 256 bytes and at most 64 tags. The error's field is below
// field: "item.source.partner", "item.source.tags[3]".
func ValidateSource(field string, s *Source) error {
	if s == nil {
		return nil
	}
	if len(s.Tags) > MaxSourceTags {
		return Errorf(Invalid, field+".tags", "%d tags, want at most %d", len(s.Tags), MaxSourceTags)
	}
	check := func(f, v string) error {
		if len(v) > MaxSourceFieldLen || !utf8.ValidString(v) {
			return Errorf(Invalid, field+"."+f, "%q, want at most %d bytes of UTF-8", clip(v), MaxSourceFieldLen)
		}
		return nil
	}
	for _, f := range []struct{ name, v string }{{"format", s.Format}, {"partner", s.Partner}, {"upstream_id", s.UpstreamID}} {
		if err := check(f.name, f.v); err != nil {
			return err
		}
	}
	for i, t := range s.Tags {
		if err := check(fmt.Sprintf("tags[%d]", i), t); err != nil {
			return err
		}
	}
	return nil
}

// ValidateMedia wants m to be storable and matchable; the error's field is
// below field, named as in the API: "item.media.keyframes[2].signals[0].hash".
// It wants:
//   - a known Kind, non-negative sizes and duration, a format of at most 64 bytes;
//   - at most 16 file signals, each of an exact type (MD5, SHA-256), no type twice;
//   - at most 10,000 keyframes with strictly increasing, non-negative Index
//     and 0 <= Start <= End;
//   - at most 64 signals per keyframe, each of a perceptual type, no type
//     twice with the same Transform and View (a query's dihedral variants
//     repeat PDQ with Transforms 1..7, views repeat it with other Views);
//   - every signal of a known type with a hash of that type's length,
//     quality 0..100, a Transform 0..7 and a valid View.Region; file
//     signals untransformed, of the whole file.
//
// It reports up to MaxMediaErrors problems at once, as Errors; after an
// error in a count it stops. It accepts signals of any quality: low-quality signals are stored and
// reported but never indexed or matched. Items must also have no
// transformed signals (the index checks that when it adds them).
func ValidateMedia(field string, m Media) error {
	var es Errors
	add := func(e *Error) bool {
		es = append(es, e)
		return len(es) < MaxMediaErrors
	}
	if m.Kind < KindUnknown || m.Kind > KindVideo {
		add(Errorf(Invalid, field+".kind", "%d, want unknown, image or video", int(m.Kind)))
	}
	if len(m.Format) > MaxFormatLen || !utf8.ValidString(m.Format) {
		add(Errorf(Invalid, field+".format", "%q, want at most %d bytes of UTF-8", clip(m.Format), MaxFormatLen))
	}
	if m.Width < 0 || m.Height < 0 {
		add(Errorf(Invalid, field, "size %dx%d, want non-negative", m.Width, m.Height))
	}
	if m.Duration < 0 {
		add(Errorf(Invalid, field+".duration", "%v, want non-negative", m.Duration))
	}
	if m.Size < 0 {
		add(Errorf(Invalid, field+".size", "%d bytes, want non-negative", m.Size))
	}
	if len(m.FileSignals) > MaxFileSignals {
		add(Errorf(Invalid, field+".file_signals", "%d signals, want at most %d", len(m.FileSignals), MaxFileSignals))
	} else if !validateSignals(field, m.FileSignals, -1, add) {
		return es
	}
	if len(m.Keyframes) > MaxKeyframes {
		add(Errorf(Invalid, field+".keyframes", "%d keyframes, want at most %d", len(m.Keyframes), MaxKeyframes))
		return es
	}
	for i, k := range m.Keyframes {
		if k.Index < 0 || i > 0 && k.Index <= m.Keyframes[i-1].Index {
			if !add(Errorf(Invalid, keyframeField(field, i), "index %d, want non-negative and increasing", k.Index)) {
				return es
			}
		}
		if k.Start < 0 || k.End < k.Start {
			if !add(Errorf(Invalid, keyframeField(field, i), "spans %v..%v, want 0 <= start <= end", k.Start, k.End)) {
				return es
			}
		}
		if len(k.Signals) > MaxSignalsPerKeyframe {
			if !add(Errorf(Invalid, keyframeField(field, i)+".signals", "%d signals, want at most %d", len(k.Signals), MaxSignalsPerKeyframe)) {
				return es
			}
			continue
		}
		if !validateSignals(field, k.Signals, i, add) {
			return es
		}
		if len(k.Features) > MaxFeaturesPerKeyframe {
			if !add(Errorf(Invalid, keyframeField(field, i)+".features", "%d features, want at most %d", len(k.Features), MaxFeaturesPerKeyframe)) {
				return es
			}
			continue
		}
		for j, f := range k.Features {
			if !f.Valid() {
				if !add(Errorf(Invalid, fmt.Sprintf("%s.features[%d]", keyframeField(field, i), j),
					"at %d,%d level %d, want x and y at most %d and level below %d", f.X, f.Y, f.Level, FeatureUnit, FeatureLevels)) {
					return es
				}
				break
			}
		}
	}
	if len(es) == 0 {
		return nil
	}
	return es
}

// keyframeField returns the path of keyframe i of the media at field.
func keyframeField(field string, i int) string { return fmt.Sprintf("%s.keyframes[%d]", field, i) }

// signalField returns the path of signal j of keyframe frame (or, for -1,
// of the file) of the media at field.
func signalField(field string, frame, j int) string {
	if frame < 0 {
		return fmt.Sprintf("%s.file_signals[%d]", field, j)
	}
	return fmt.Sprintf("%s.keyframes[%d].signals[%d]", field, frame, j)
}

// validateSignals checks each signal and that the types are of the wanted
// family (exact for the file's, frame -1; perceptual for a keyframe's) and
// not repeated. It formats a field path only for an error: validation runs
// for every imported line.
func validateSignals(field string, sigs []Signal, frame int, add func(*Error) bool) bool {
	exact := frame < 0
	for j, s := range sigs {
		if !s.Type.Valid() {
			if !add(Errorf(Invalid, signalField(field, frame, j)+".type", "unknown type %q, want one of %v", s.Type, SignalTypes())) {
				return false
			}
			continue
		}
		if err := s.validate(func() string { return signalField(field, frame, j) }); err != nil {
			if !add(err) {
				return false
			}
			continue
		}
		if s.Type.Exact() != exact {
			want := "a perceptual type"
			if exact {
				want = "an exact type (md5, sha256)"
			}
			if !add(Errorf(Invalid, signalField(field, frame, j)+".type", "%s, want %s", s.Type, want)) {
				return false
			}
			continue
		}
		if exact && s.Transform != TransformNone {
			if !add(Errorf(Invalid, signalField(field, frame, j)+".transform", "%d on a %s signal, want none for a whole-file signal",
				s.Transform, s.Type)) {
				return false
			}
			continue
		}
		if exact && !s.View.Whole() {
			if !add(Errorf(Invalid, signalField(field, frame, j)+".view", "%v on a %s signal, want the whole file", s.View, s.Type)) {
				return false
			}
			continue
		}
		for _, p := range sigs[:j] {
			if p.Type != s.Type || p.Transform != s.Transform || p.View != s.View {
				continue
			}
			e := Errorf(Invalid, signalField(field, frame, j)+".type", "%s repeated, want each type at most once", s.Type)
			switch {
			case !s.View.Whole():
				e = Errorf(Invalid, signalField(field, frame, j)+".type",
					"%s repeated with transform %d and view %v, want each type, transform and view at most once", s.Type, s.Transform, s.View)
			case s.Transform != TransformNone:
				e = Errorf(Invalid, signalField(field, frame, j)+".type",
					"%s repeated with transform %d, want each type and transform at most once", s.Type, s.Transform)
			}
			if !add(e) {
				return false
			}
			break
		}
	}
	return true
}

// ValidateUntransformed wants every signal of m untransformed, as items
// are stored: the dihedral variants belong to queries only. The error
// names the first transformed signal, below field.
func ValidateUntransformed(field string, m Media) error {
	for i, k := range m.Keyframes {
		for j, s := range k.Signals {
			if s.Transform != TransformNone {
				return Errorf(Invalid, signalField(field, i, j)+".transform", "%d on a %s signal, want none: items are stored "+
					"untransformed, only queries carry rotated or mirrored variants", s.Transform, s.Type)
			}
		}
	}
	return nil
}

// ValidateTokenName wants 1..128 bytes of printable UTF-8 (letters, marks,
// numbers, punctuation, symbols and the ASCII space: no control or format
// characters, which could forge lines or terminal escapes where names are
// printed).
func ValidateTokenName(field, name string) error {
	const want = "want 1..128 bytes of printable UTF-8 (no control characters)"
	if name == "" || len(name) > MaxTokenNameLen {
		return Errorf(Invalid, field, "%q has %d bytes, %s", clip(name), len(name), want)
	}
	if !utf8.ValidString(name) {
		return Errorf(Invalid, field, "%q is not valid UTF-8, %s", clip(name), want)
	}
	for i, r := range name {
		if !unicode.IsPrint(r) {
			return Errorf(Invalid, field, "%q contains %U at byte %d, %s", clip(name), r, i, want)
		}
	}
	return nil
}

// ValidateItem wants it storable as an item, apart from its bank (which
// ValidateBankName checks where a bank is named): a valid id, labels and
// source, and valid, untransformed media, each named below field
// ("item.id", "item.media.keyframes[0]...").
func ValidateItem(field string, it Item) error {
	if err := ValidateItemID(field+".id", it.ID); err != nil {
		return err
	}
	if err := ValidateLabels(field+".labels", it.Labels); err != nil {
		return err
	}
	if err := ValidateSource(field+".source", it.Source); err != nil {
		return err
	}
	if err := ValidateMedia(field+".media", it.Media); err != nil {
		return err
	}
	return ValidateUntransformed(field+".media", it.Media)
}
