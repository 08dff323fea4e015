package mediamatchv1

import (
	"fmt"
	"math"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// This file is hand-written: it converts between the messages of media.proto
// (and TimeRange of match.proto) and the domain types of package mediamatch, for the server
// and the client alike. It follows the API's units: durations travel as
// milliseconds (truncated toward zero), signal types as the SignalType enum.
// The conversions check nothing; the server validates a message, naming
// the fields, before converting it: CheckMedia for what only the message
// can get wrong (a descriptor's length), then mediamatch.ValidateMedia on
// the converted Media for the rest. All of them are safe for concurrent use.

// signalTypes pairs every known SignalType value with its domain type.
var signalTypes = [...]struct {
	pb SignalType
	fp mediamatch.SignalType
}{
	{SignalType_SIGNAL_TYPE_PHASH, mediamatch.PHash},
	{SignalType_SIGNAL_TYPE_DHASH, mediamatch.DHash},
	{SignalType_SIGNAL_TYPE_MD5, mediamatch.MD5},
	{SignalType_SIGNAL_TYPE_SHA256, mediamatch.SHA256},
	{SignalType_SIGNAL_TYPE_PDQ, mediamatch.PDQ},
}

// SignalTypeToProto returns the enum value of t (SIGNAL_TYPE_LOCAL for
// mediamatch.Local), or SIGNAL_TYPE_UNSPECIFIED for a type the API does
// not know (which the server rejects with a message naming the field).
func SignalTypeToProto(t mediamatch.SignalType) SignalType {
	for _, st := range signalTypes {
		if st.fp == t {
			return st.pb
		}
	}
	if t == mediamatch.Local {
		return SignalType_SIGNAL_TYPE_LOCAL
	}
	return SignalType_SIGNAL_TYPE_UNSPECIFIED
}

// SignalTypeFromProto returns the domain type of t and true. For values
// that are not the type of a Signal it returns false and a type that is
// not Valid, so that what arrived can still be shown: mediamatch.Local for
// SIGNAL_TYPE_LOCAL (what matches by local features name their signal),
// and the enum's name for SIGNAL_TYPE_UNSPECIFIED and for values this
// package does not know, from a newer server ("SIGNAL_TYPE_UNSPECIFIED",
// or the number). Validators that want a signal type refuse all three on
// false.
func SignalTypeFromProto(t SignalType) (mediamatch.SignalType, bool) {
	for _, st := range signalTypes {
		if st.pb == t {
			return st.fp, true
		}
	}
	if t == SignalType_SIGNAL_TYPE_LOCAL {
		return mediamatch.Local, false
	}
	return mediamatch.SignalType(t.String()), false
}

// KindToProto returns the enum value of k; MEDIA_KIND_UNSPECIFIED for
// mediamatch.KindUnknown.
func KindToProto(k mediamatch.Kind) MediaKind {
	switch k {
	case mediamatch.KindImage:
		return MediaKind_MEDIA_KIND_IMAGE
	case mediamatch.KindVideo:
		return MediaKind_MEDIA_KIND_VIDEO
	}
	return MediaKind_MEDIA_KIND_UNSPECIFIED
}

// KindFromProto returns the domain kind of k; mediamatch.KindUnknown
// for MEDIA_KIND_UNSPECIFIED and unknown values.
func KindFromProto(k MediaKind) mediamatch.Kind {
	switch k {
	case MediaKind_MEDIA_KIND_IMAGE:
		return mediamatch.KindImage
	case MediaKind_MEDIA_KIND_VIDEO:
		return mediamatch.KindVideo
	}
	return mediamatch.KindUnknown
}

// TimeRangeToProto returns the range [start, end) in milliseconds.
func TimeRangeToProto(start, end time.Duration) *TimeRange {
	return &TimeRange{StartMillis: start.Milliseconds(), EndMillis: end.Milliseconds()}
}

// TimeRangeFromProto returns the start and end of r; zero for a nil r.
func TimeRangeFromProto(r *TimeRange) (start, end time.Duration) {
	return fromMillis(r.GetStartMillis()), fromMillis(r.GetEndMillis())
}

// TransformToProto returns the enum value of t; the numbers are the same
// (mediamatch.Transform and Transform both number the variants as Meta's
// PDQ reference does), so a value out of range stays out of range and the
// receiver's validation rejects it.
func TransformToProto(t mediamatch.Transform) Transform { return Transform(t) }

// TransformFromProto returns the domain transform of t, keeping the
// number of a value this package does not know (Signal.Validate rejects it).
func TransformFromProto(t Transform) mediamatch.Transform { return mediamatch.Transform(t) }

// SignalToProto returns the message of s (see SignalTypeToProto for its type).
func SignalToProto(s mediamatch.Signal) *Signal {
	return &Signal{Type: SignalTypeToProto(s.Type), Hash: s.Hash, Quality: int32(s.Quality),
		Transform: TransformToProto(s.Transform), View: ViewToProto(s.View)}
}

// ViewToProto returns the message of v; nil for the whole frame.
func ViewToProto(v mediamatch.View) *View {
	if v.Whole() {
		return nil
	}
	r := v.Region
	return &View{X0: int32(r.X0), Y0: int32(r.Y0), X1: int32(r.X1), Y1: int32(r.Y1), Trimmed: v.Trimmed}
}

// ViewFromProto returns the view of v; the whole frame for a nil v.
// Coordinates outside 0..1000 are kept, for Signal.Validate to refuse.
func ViewFromProto(v *View) mediamatch.View {
	if v == nil {
		return mediamatch.View{}
	}
	return mediamatch.View{
		Region:  mediamatch.Region{X0: int(v.GetX0()), Y0: int(v.GetY0()), X1: int(v.GetX1()), Y1: int(v.GetY1())},
		Trimmed: v.GetTrimmed(),
	}
}

// SignalFromProto returns the signal of s (see SignalTypeFromProto for its
// type); the zero Signal's fields for a nil s.
func SignalFromProto(s *Signal) mediamatch.Signal {
	t, _ := SignalTypeFromProto(s.GetType())
	return mediamatch.Signal{Type: t, Hash: s.GetHash(), Quality: int(s.GetQuality()),
		Transform: TransformFromProto(s.GetTransform()), View: ViewFromProto(s.GetView())}
}

// KeyframeToProto returns the message of k.
func KeyframeToProto(k mediamatch.Keyframe) *Keyframe {
	return &Keyframe{
		Index:          int32(k.Index),
		StartMillis:    k.Start.Milliseconds(),
		EndMillis:      k.End.Milliseconds(),
		Signals:        signalsToProto(k.Signals),
		LowInformation: k.LowInformation,
		Features:       featuresToProto(k.Features),
	}
}

// KeyframeFromProto returns the keyframe of k; Signals and Features are
// nil when k has none.
func KeyframeFromProto(k *Keyframe) mediamatch.Keyframe {
	return mediamatch.Keyframe{
		Index:          int(k.GetIndex()),
		Start:          fromMillis(k.GetStartMillis()),
		End:            fromMillis(k.GetEndMillis()),
		Signals:        signalsFromProto(k.GetSignals()),
		LowInformation: k.GetLowInformation(),
		Features:       featuresFromProto(k.GetFeatures()),
	}
}

// FeatureToProto returns the message of f.
func FeatureToProto(f mediamatch.Feature) *LocalFeature {
	return &LocalFeature{X: uint32(f.X), Y: uint32(f.Y), Level: uint32(f.Level), Descriptor_: f.Desc[:]}
}

// FeatureFromProto returns the feature of f; the zero Feature for a nil f.
// It checks nothing, but loses nothing that validation needs: a
// coordinate or level too large for the domain's fields becomes the
// largest value they hold (which Feature.Valid refuses) rather than
// wrapping round to one that looks valid. A descriptor of the wrong
// length is cut or padded with zeros; CheckMedia is what refuses it.
func FeatureFromProto(f *LocalFeature) mediamatch.Feature {
	out := mediamatch.Feature{
		X:     uint16(min(f.GetX(), math.MaxUint16)),
		Y:     uint16(min(f.GetY(), math.MaxUint16)),
		Level: uint8(min(f.GetLevel(), math.MaxUint8)),
	}
	copy(out.Desc[:], f.GetDescriptor_())
	return out
}

// CheckMedia returns what is wrong with m that converting it hides: a
// local feature's descriptor that is not 32 bytes, which the domain's
// fixed-size Feature.Desc cannot hold. It reports at most one feature a
// keyframe and at most mediamatch.MaxMediaErrors in all, as
// mediamatch.Errors of code Invalid naming the field from field, the
// path of m ("MatchSignalsRequest.media.keyframes[3].features[7].descriptor:
// 31 bytes, want 32"); nil if there is nothing. Everything else (counts,
// ranges, signals) is mediamatch.ValidateMedia's, on the converted Media.
func CheckMedia(field string, m *Media) error {
	var es mediamatch.Errors
	for i, k := range m.GetKeyframes() {
		for j, f := range k.GetFeatures() {
			if n := len(f.GetDescriptor_()); n != len(mediamatch.Feature{}.Desc) {
				es = append(es, mediamatch.Errorf(mediamatch.Invalid,
					fmt.Sprintf("%s.keyframes[%d].features[%d].descriptor", field, i, j),
					"%d bytes, want %d", n, len(mediamatch.Feature{}.Desc)))
				break
			}
		}
		if len(es) >= mediamatch.MaxMediaErrors {
			break
		}
	}
	if len(es) == 0 {
		return nil
	}
	return es
}

// MediaToProto returns the message of m.
func MediaToProto(m mediamatch.Media) *Media {
	out := &Media{
		Kind:           KindToProto(m.Kind),
		Format:         m.Format,
		Width:          int32(m.Width),
		Height:         int32(m.Height),
		DurationMillis: m.Duration.Milliseconds(),
		SizeBytes:      m.Size,
		FileSignals:    signalsToProto(m.FileSignals),
		Keyframes:      make([]*Keyframe, len(m.Keyframes)),
	}
	for i, k := range m.Keyframes {
		out.Keyframes[i] = KeyframeToProto(k)
	}
	return out
}

// MediaFromProto returns the mediamatch.Media of m; the zero Media for a
// nil m. FileSignals, Keyframes and each keyframe's Signals are nil when m
// has none. It does not check m: a signal type this package does not know
// becomes a type that is not Valid (see SignalTypeFromProto), which
// Signal.Validate and the index's validation reject.
func MediaFromProto(m *Media) mediamatch.Media {
	out := mediamatch.Media{
		Kind:        KindFromProto(m.GetKind()),
		Format:      m.GetFormat(),
		Width:       int(m.GetWidth()),
		Height:      int(m.GetHeight()),
		Duration:    fromMillis(m.GetDurationMillis()),
		Size:        m.GetSizeBytes(),
		FileSignals: signalsFromProto(m.GetFileSignals()),
	}
	if ks := m.GetKeyframes(); len(ks) > 0 {
		out.Keyframes = make([]mediamatch.Keyframe, len(ks))
		for i, k := range ks {
			out.Keyframes[i] = KeyframeFromProto(k)
		}
	}
	return out
}

func signalsToProto(sigs []mediamatch.Signal) []*Signal {
	out := make([]*Signal, len(sigs))
	for i, s := range sigs {
		out[i] = SignalToProto(s)
	}
	return out
}

func signalsFromProto(sigs []*Signal) []mediamatch.Signal {
	if len(sigs) == 0 {
		return nil
	}
	out := make([]mediamatch.Signal, len(sigs))
	for i, s := range sigs {
		out[i] = SignalFromProto(s)
	}
	return out
}

func featuresToProto(fs []mediamatch.Feature) []*LocalFeature {
	if len(fs) == 0 {
		return nil
	}
	// One allocation for all the messages and one for all the descriptors:
	// an image has a few hundred features.
	msgs := make([]LocalFeature, len(fs))
	descs := make([]byte, len(fs)*len(mediamatch.Feature{}.Desc))
	out := make([]*LocalFeature, len(fs))
	for i, f := range fs {
		d := descs[i*len(f.Desc) : (i+1)*len(f.Desc) : (i+1)*len(f.Desc)]
		copy(d, f.Desc[:])
		m := &msgs[i]
		m.X, m.Y, m.Level, m.Descriptor_ = uint32(f.X), uint32(f.Y), uint32(f.Level), d
		out[i] = m
	}
	return out
}

func featuresFromProto(fs []*LocalFeature) []mediamatch.Feature {
	if len(fs) == 0 {
		return nil
	}
	out := make([]mediamatch.Feature, len(fs))
	for i, f := range fs {
		out[i] = FeatureFromProto(f)
	}
	return out
}

func fromMillis(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }
