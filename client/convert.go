package client

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/fingerprint"
)

// The client's conversions between protobuf messages and Go types. They
// mirror server/convert.go; both follow the API's units (milliseconds,
// Timestamps, the SignalType enum).

var signalTypes = []struct {
	pb pb.SignalType
	fp fingerprint.SignalType
}{
	{pb.SignalType_SIGNAL_TYPE_PHASH, fingerprint.PHash},
	{pb.SignalType_SIGNAL_TYPE_DHASH, fingerprint.DHash},
	{pb.SignalType_SIGNAL_TYPE_MD5, fingerprint.MD5},
	{pb.SignalType_SIGNAL_TYPE_SHA256, fingerprint.SHA256},
	{pb.SignalType_SIGNAL_TYPE_PDQ, fingerprint.PDQ},
}

func signalTypeFromProto(t pb.SignalType) fingerprint.SignalType {
	for _, st := range signalTypes {
		if st.pb == t {
			return st.fp
		}
	}
	return fingerprint.SignalType(t.String())
}

// signalTypeToProto returns UNSPECIFIED for an unknown type, which the
// server rejects with a message naming the field.
func signalTypeToProto(t fingerprint.SignalType) pb.SignalType {
	for _, st := range signalTypes {
		if st.fp == t {
			return st.pb
		}
	}
	return pb.SignalType_SIGNAL_TYPE_UNSPECIFIED
}

func kindFromProto(k pb.MediaKind) fingerprint.Kind {
	switch k {
	case pb.MediaKind_MEDIA_KIND_IMAGE:
		return fingerprint.KindImage
	case pb.MediaKind_MEDIA_KIND_VIDEO:
		return fingerprint.KindVideo
	}
	return fingerprint.KindUnknown
}

func kindToProto(k fingerprint.Kind) pb.MediaKind {
	switch k {
	case fingerprint.KindImage:
		return pb.MediaKind_MEDIA_KIND_IMAGE
	case fingerprint.KindVideo:
		return pb.MediaKind_MEDIA_KIND_VIDEO
	}
	return pb.MediaKind_MEDIA_KIND_UNSPECIFIED
}

func ms(v int64) time.Duration { return time.Duration(v) * time.Millisecond }

func asTime(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

func signalsFromProto(sigs []*pb.Signal) []fingerprint.Signal {
	if len(sigs) == 0 {
		return nil
	}
	out := make([]fingerprint.Signal, len(sigs))
	for i, s := range sigs {
		out[i] = fingerprint.Signal{Type: signalTypeFromProto(s.GetType()), Hash: s.GetHash(), Quality: int(s.GetQuality())}
	}
	return out
}

func signalsToProto(sigs []fingerprint.Signal) []*pb.Signal {
	out := make([]*pb.Signal, len(sigs))
	for i, s := range sigs {
		out[i] = &pb.Signal{Type: signalTypeToProto(s.Type), Hash: s.Hash, Quality: int32(s.Quality)}
	}
	return out
}

func mediaFromProto(m *pb.Media) fingerprint.Media {
	out := fingerprint.Media{
		Kind:        kindFromProto(m.GetKind()),
		Format:      m.GetFormat(),
		Width:       int(m.GetWidth()),
		Height:      int(m.GetHeight()),
		Duration:    ms(m.GetDurationMillis()),
		Size:        m.GetSizeBytes(),
		FileSignals: signalsFromProto(m.GetFileSignals()),
	}
	for _, k := range m.GetKeyframes() {
		out.Keyframes = append(out.Keyframes, fingerprint.Keyframe{
			Index:          int(k.GetIndex()),
			Start:          ms(k.GetStartMillis()),
			End:            ms(k.GetEndMillis()),
			Signals:        signalsFromProto(k.GetSignals()),
			LowInformation: k.GetLowInformation(),
		})
	}
	return out
}

func mediaToProto(m fingerprint.Media) *pb.Media {
	out := &pb.Media{
		Kind:           kindToProto(m.Kind),
		Format:         m.Format,
		Width:          int32(m.Width),
		Height:         int32(m.Height),
		DurationMillis: m.Duration.Milliseconds(),
		SizeBytes:      m.Size,
		FileSignals:    signalsToProto(m.FileSignals),
	}
	for _, k := range m.Keyframes {
		out.Keyframes = append(out.Keyframes, &pb.Keyframe{
			Index:          int32(k.Index),
			StartMillis:    k.Start.Milliseconds(),
			EndMillis:      k.End.Milliseconds(),
			Signals:        signalsToProto(k.Signals),
			LowInformation: k.LowInformation,
		})
	}
	return out
}

func optionsToProto(o MatchOptions) *pb.MatchOptions {
	out := &pb.MatchOptions{Banks: o.Banks, MaxResults: int32(o.MaxResults)}
	for _, t := range fingerprint.SignalTypes() { // a fixed order, for stable requests
		if d, ok := o.Thresholds[t]; ok {
			out.Thresholds = append(out.Thresholds, &pb.Threshold{Signal: signalTypeToProto(t), MaxDistance: int32(d)})
		}
	}
	for t, d := range o.Thresholds {
		if !t.Valid() { // let the server name the unknown type
			out.Thresholds = append(out.Thresholds, &pb.Threshold{Signal: signalTypeToProto(t), MaxDistance: int32(d)})
		}
	}
	for _, s := range o.Signals {
		out.Signals = append(out.Signals, signalTypeToProto(s))
	}
	return out
}

func timeRangeFromProto(r *pb.TimeRange) TimeRange {
	return TimeRange{Start: ms(r.GetStartMillis()), End: ms(r.GetEndMillis())}
}

func timeRangesFromProto(rs []*pb.TimeRange) []TimeRange {
	if len(rs) == 0 {
		return nil
	}
	out := make([]TimeRange, len(rs))
	for i, r := range rs {
		out[i] = timeRangeFromProto(r)
	}
	return out
}

func matchesFromProto(ms []*pb.Match) []Match {
	out := make([]Match, len(ms))
	for i, m := range ms {
		out[i] = Match{
			Bank:          m.GetBank(),
			ItemID:        m.GetItemId(),
			Labels:        m.GetLabels(),
			ItemKind:      kindFromProto(m.GetItemKind()),
			Signal:        signalTypeFromProto(m.GetSignal()),
			Distance:      int(m.GetDistance()),
			Threshold:     int(m.GetThreshold()),
			QueryCoverage: m.GetQueryCoverage(),
			ItemCoverage:  m.GetItemCoverage(),
			QueryRanges:   timeRangesFromProto(m.GetQueryRanges()),
			ItemRanges:    timeRangesFromProto(m.GetItemRanges()),
		}
		for _, f := range m.GetFrames() {
			out[i].Frames = append(out[i].Frames, FrameMatch{
				QueryFrame: int(f.GetQueryFrame()),
				ItemFrame:  int(f.GetItemFrame()),
				QueryTime:  timeRangeFromProto(f.GetQueryTime()),
				ItemTime:   timeRangeFromProto(f.GetItemTime()),
				Signal:     signalTypeFromProto(f.GetSignal()),
				Distance:   int(f.GetDistance()),
			})
		}
	}
	return out
}

func bankFromProto(b *pb.Bank) Bank {
	return Bank{
		Name:        b.GetName(),
		Description: b.GetDescription(),
		CreateTime:  asTime(b.GetCreateTime()),
		ItemCount:   b.GetItemCount(),
	}
}

func itemFromProto(it *pb.Item) Item {
	return Item{
		Bank:       it.GetBank(),
		ID:         it.GetId(),
		Labels:     it.GetLabels(),
		Disabled:   it.GetDisabled(),
		Media:      mediaFromProto(it.GetMedia()),
		CreateTime: asTime(it.GetCreateTime()),
		UpdateTime: asTime(it.GetUpdateTime()),
	}
}

func specToProto(s ItemSpec) *pb.ItemSpec {
	return &pb.ItemSpec{Bank: s.Bank, Id: s.ID, Labels: s.Labels}
}
