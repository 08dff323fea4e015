package mediamatchv1

import (
	"time"

	"github.com/mediamatch/mediamatch/fingerprint"
)

// This file is hand-written: it converts between the messages of media.proto
// (and TimeRange of match.proto) and the fingerprint types, for the server
// and the client alike. It follows the API's units: durations travel as
// milliseconds (truncated toward zero), signal types as the SignalType enum.
// The conversions check nothing; the server validates a message, naming
// the fields, before converting it. All of them are safe for concurrent use.

// signalTypes pairs every known SignalType value with its fingerprint type.
var signalTypes = [...]struct {
	pb SignalType
	fp fingerprint.SignalType
}{
	{SignalType_SIGNAL_TYPE_PHASH, fingerprint.PHash},
	{SignalType_SIGNAL_TYPE_DHASH, fingerprint.DHash},
	{SignalType_SIGNAL_TYPE_MD5, fingerprint.MD5},
	{SignalType_SIGNAL_TYPE_SHA256, fingerprint.SHA256},
	{SignalType_SIGNAL_TYPE_PDQ, fingerprint.PDQ},
}

// SignalTypeToProto returns the enum value of t, or
// SIGNAL_TYPE_UNSPECIFIED for a type the API does not know (which the
// server rejects with a message naming the field).
func SignalTypeToProto(t fingerprint.SignalType) SignalType {
	for _, st := range signalTypes {
		if st.fp == t {
			return st.pb
		}
	}
	return SignalType_SIGNAL_TYPE_UNSPECIFIED
}

// SignalTypeFromProto returns the fingerprint type of t and true. For
// SIGNAL_TYPE_UNSPECIFIED and values this package does not know (from a
// newer server) it returns false and the enum's name as a type that is not
// Valid ("SIGNAL_TYPE_UNSPECIFIED", or the number for an unknown value),
// so that what arrived can still be shown.
func SignalTypeFromProto(t SignalType) (fingerprint.SignalType, bool) {
	for _, st := range signalTypes {
		if st.pb == t {
			return st.fp, true
		}
	}
	return fingerprint.SignalType(t.String()), false
}

// KindToProto returns the enum value of k; MEDIA_KIND_UNSPECIFIED for
// fingerprint.KindUnknown.
func KindToProto(k fingerprint.Kind) MediaKind {
	switch k {
	case fingerprint.KindImage:
		return MediaKind_MEDIA_KIND_IMAGE
	case fingerprint.KindVideo:
		return MediaKind_MEDIA_KIND_VIDEO
	}
	return MediaKind_MEDIA_KIND_UNSPECIFIED
}

// KindFromProto returns the fingerprint kind of k; fingerprint.KindUnknown
// for MEDIA_KIND_UNSPECIFIED and unknown values.
func KindFromProto(k MediaKind) fingerprint.Kind {
	switch k {
	case MediaKind_MEDIA_KIND_IMAGE:
		return fingerprint.KindImage
	case MediaKind_MEDIA_KIND_VIDEO:
		return fingerprint.KindVideo
	}
	return fingerprint.KindUnknown
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
// (fingerprint.Transform and Transform both number the variants as Meta's
// PDQ reference does), so a value out of range stays out of range and the
// receiver's validation rejects it.
func TransformToProto(t fingerprint.Transform) Transform { return Transform(t) }

// TransformFromProto returns the fingerprint transform of t, keeping the
// number of a value this package does not know (Signal.Validate rejects it).
func TransformFromProto(t Transform) fingerprint.Transform { return fingerprint.Transform(t) }

// SignalToProto returns the message of s (see SignalTypeToProto for its type).
func SignalToProto(s fingerprint.Signal) *Signal {
	return &Signal{Type: SignalTypeToProto(s.Type), Hash: s.Hash, Quality: int32(s.Quality),
		Transform: TransformToProto(s.Transform)}
}

// SignalFromProto returns the signal of s (see SignalTypeFromProto for its
// type); the zero Signal's fields for a nil s.
func SignalFromProto(s *Signal) fingerprint.Signal {
	t, _ := SignalTypeFromProto(s.GetType())
	return fingerprint.Signal{Type: t, Hash: s.GetHash(), Quality: int(s.GetQuality()),
		Transform: TransformFromProto(s.GetTransform())}
}

// KeyframeToProto returns the message of k.
func KeyframeToProto(k fingerprint.Keyframe) *Keyframe {
	return &Keyframe{
		Index:          int32(k.Index),
		StartMillis:    k.Start.Milliseconds(),
		EndMillis:      k.End.Milliseconds(),
		Signals:        signalsToProto(k.Signals),
		LowInformation: k.LowInformation,
	}
}

// KeyframeFromProto returns the keyframe of k; Signals is nil when k has
// none.
func KeyframeFromProto(k *Keyframe) fingerprint.Keyframe {
	return fingerprint.Keyframe{
		Index:          int(k.GetIndex()),
		Start:          fromMillis(k.GetStartMillis()),
		End:            fromMillis(k.GetEndMillis()),
		Signals:        signalsFromProto(k.GetSignals()),
		LowInformation: k.GetLowInformation(),
	}
}

// MediaToProto returns the message of m.
func MediaToProto(m fingerprint.Media) *Media {
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

// MediaFromProto returns the fingerprint of m; the zero Media for a nil m.
// FileSignals, Keyframes and each keyframe's Signals are nil when m has
// none. It does not check m: a signal type this package does not know
// becomes a type that is not Valid (see SignalTypeFromProto), which
// fingerprint's and index's validation reject.
func MediaFromProto(m *Media) fingerprint.Media {
	out := fingerprint.Media{
		Kind:        KindFromProto(m.GetKind()),
		Format:      m.GetFormat(),
		Width:       int(m.GetWidth()),
		Height:      int(m.GetHeight()),
		Duration:    fromMillis(m.GetDurationMillis()),
		Size:        m.GetSizeBytes(),
		FileSignals: signalsFromProto(m.GetFileSignals()),
	}
	if ks := m.GetKeyframes(); len(ks) > 0 {
		out.Keyframes = make([]fingerprint.Keyframe, len(ks))
		for i, k := range ks {
			out.Keyframes[i] = KeyframeFromProto(k)
		}
	}
	return out
}

func signalsToProto(sigs []fingerprint.Signal) []*Signal {
	out := make([]*Signal, len(sigs))
	for i, s := range sigs {
		out[i] = SignalToProto(s)
	}
	return out
}

func signalsFromProto(sigs []*Signal) []fingerprint.Signal {
	if len(sigs) == 0 {
		return nil
	}
	out := make([]fingerprint.Signal, len(sigs))
	for i, s := range sigs {
		out[i] = SignalFromProto(s)
	}
	return out
}

func fromMillis(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }
