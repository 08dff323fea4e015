package server

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/index"
)

// This file is the only place that converts between the protobuf messages
// and the fingerprint and index types. Durations travel as milliseconds,
// times as google.protobuf.Timestamp, signal types as the SignalType enum.
// Conversions from protobuf assume the message has been validated.

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

// signalTypeFromProto returns the signal type of t, or false for
// UNSPECIFIED and unknown values.
func signalTypeFromProto(t pb.SignalType) (fingerprint.SignalType, bool) {
	for _, st := range signalTypes {
		if st.pb == t {
			return st.fp, true
		}
	}
	return "", false
}

func signalTypeToProto(t fingerprint.SignalType) pb.SignalType {
	for _, st := range signalTypes {
		if st.fp == t {
			return st.pb
		}
	}
	return pb.SignalType_SIGNAL_TYPE_UNSPECIFIED
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

func kindFromProto(k pb.MediaKind) fingerprint.Kind {
	switch k {
	case pb.MediaKind_MEDIA_KIND_IMAGE:
		return fingerprint.KindImage
	case pb.MediaKind_MEDIA_KIND_VIDEO:
		return fingerprint.KindVideo
	}
	return fingerprint.KindUnknown
}

func millis(d time.Duration) int64 { return d.Milliseconds() }

func fromMillis(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func signalsToProto(sigs []fingerprint.Signal) []*pb.Signal {
	out := make([]*pb.Signal, len(sigs))
	for i, s := range sigs {
		out[i] = &pb.Signal{Type: signalTypeToProto(s.Type), Hash: s.Hash, Quality: int32(s.Quality)}
	}
	return out
}

func signalsFromProto(sigs []*pb.Signal) []fingerprint.Signal {
	out := make([]fingerprint.Signal, len(sigs))
	for i, s := range sigs {
		t, _ := signalTypeFromProto(s.GetType())
		out[i] = fingerprint.Signal{Type: t, Hash: s.GetHash(), Quality: int(s.GetQuality())}
	}
	return out
}

func mediaToProto(m fingerprint.Media) *pb.Media {
	out := &pb.Media{
		Kind:           kindToProto(m.Kind),
		Format:         m.Format,
		Width:          int32(m.Width),
		Height:         int32(m.Height),
		DurationMillis: millis(m.Duration),
		SizeBytes:      m.Size,
		FileSignals:    signalsToProto(m.FileSignals),
		Keyframes:      make([]*pb.Keyframe, len(m.Keyframes)),
	}
	for i, k := range m.Keyframes {
		out.Keyframes[i] = &pb.Keyframe{
			Index:          int32(k.Index),
			StartMillis:    millis(k.Start),
			EndMillis:      millis(k.End),
			Signals:        signalsToProto(k.Signals),
			LowInformation: k.LowInformation,
		}
	}
	return out
}

func mediaFromProto(m *pb.Media) fingerprint.Media {
	out := fingerprint.Media{
		Kind:        kindFromProto(m.GetKind()),
		Format:      m.GetFormat(),
		Width:       int(m.GetWidth()),
		Height:      int(m.GetHeight()),
		Duration:    fromMillis(m.GetDurationMillis()),
		Size:        m.GetSizeBytes(),
		FileSignals: signalsFromProto(m.GetFileSignals()),
		Keyframes:   make([]fingerprint.Keyframe, len(m.GetKeyframes())),
	}
	for i, k := range m.GetKeyframes() {
		out.Keyframes[i] = fingerprint.Keyframe{
			Index:          int(k.GetIndex()),
			Start:          fromMillis(k.GetStartMillis()),
			End:            fromMillis(k.GetEndMillis()),
			Signals:        signalsFromProto(k.GetSignals()),
			LowInformation: k.GetLowInformation(),
		}
	}
	return out
}

func bankToProto(b index.Bank) *pb.Bank {
	return &pb.Bank{
		Name:        b.Name,
		Description: b.Description,
		CreateTime:  timestamp(b.CreateTime),
		ItemCount:   b.ItemCount,
	}
}

func itemToProto(it index.Item) *pb.Item {
	return &pb.Item{
		Id:         it.ID,
		Bank:       it.Bank,
		Labels:     it.Labels,
		Disabled:   it.Disabled,
		Media:      mediaToProto(it.Media),
		CreateTime: timestamp(it.CreateTime),
		UpdateTime: timestamp(it.UpdateTime),
	}
}

func timeRangeToProto(r index.TimeRange) *pb.TimeRange {
	return &pb.TimeRange{StartMillis: millis(r.Start), EndMillis: millis(r.End)}
}

func timeRangesToProto(rs []index.TimeRange) []*pb.TimeRange {
	out := make([]*pb.TimeRange, len(rs))
	for i, r := range rs {
		out[i] = timeRangeToProto(r)
	}
	return out
}

func matchesToProto(ms []index.Match) []*pb.Match {
	out := make([]*pb.Match, len(ms))
	for i, m := range ms {
		pm := &pb.Match{
			ItemId:        m.ItemID,
			Bank:          m.Bank,
			Labels:        m.Labels,
			Signal:        signalTypeToProto(m.Signal),
			Distance:      int32(m.Distance),
			Threshold:     int32(m.Threshold),
			QueryCoverage: m.QueryCoverage,
			ItemCoverage:  m.ItemCoverage,
			QueryRanges:   timeRangesToProto(m.QueryRanges),
			ItemRanges:    timeRangesToProto(m.ItemRanges),
			ItemKind:      kindToProto(m.ItemKind),
			Frames:        make([]*pb.FrameMatch, len(m.Frames)),
		}
		for j, f := range m.Frames {
			pm.Frames[j] = &pb.FrameMatch{
				QueryFrame: int32(f.QueryFrame),
				ItemFrame:  int32(f.ItemFrame),
				QueryTime:  timeRangeToProto(f.QueryTime),
				ItemTime:   timeRangeToProto(f.ItemTime),
				Signal:     signalTypeToProto(f.Signal),
				Distance:   int32(f.Distance),
			}
		}
		out[i] = pm
	}
	return out
}

// queryFromOptions builds an index query for m from validated options.
func queryFromOptions(m fingerprint.Media, o *pb.MatchOptions) index.Query {
	q := index.Query{Media: m, Banks: o.GetBanks(), MaxResults: int(o.GetMaxResults())}
	if ts := o.GetThresholds(); len(ts) > 0 {
		q.Thresholds = make(map[fingerprint.SignalType]int, len(ts))
		for _, t := range ts {
			st, _ := signalTypeFromProto(t.GetSignal())
			q.Thresholds[st] = int(t.GetMaxDistance())
		}
	}
	for _, s := range o.GetSignals() {
		st, _ := signalTypeFromProto(s)
		q.Signals = append(q.Signals, st)
	}
	return q
}
