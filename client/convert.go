package client

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

// The client's conversions between protobuf messages and its own types
// (Match, Bank, Item). The fingerprint types are converted by the api
// package (pb.MediaFromProto and friends), shared with the server; both
// follow the API's units (milliseconds, Timestamps, the SignalType enum).
// Conversions from protobuf are lenient: a signal type from a newer server
// keeps its enum name (see pb.SignalTypeFromProto).

// signalType returns the fingerprint type of t, or its enum name for a
// value this client does not know.
func signalType(t pb.SignalType) mediamatch.SignalType {
	st, _ := pb.SignalTypeFromProto(t)
	return st
}

func asTime(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

func optionsToProto(o MatchOptions) *pb.MatchOptions {
	out := &pb.MatchOptions{Banks: o.Banks, MaxResults: int32(o.MaxResults), Dihedral: o.Dihedral}
	for _, t := range mediamatch.SignalTypes() { // a fixed order, for stable requests
		if d, ok := o.Thresholds[t]; ok {
			out.Thresholds = append(out.Thresholds, &pb.Threshold{Signal: pb.SignalTypeToProto(t), MaxDistance: int32(d)})
		}
	}
	for t, d := range o.Thresholds {
		if !t.Valid() { // let the server name the unknown type
			out.Thresholds = append(out.Thresholds, &pb.Threshold{Signal: pb.SignalTypeToProto(t), MaxDistance: int32(d)})
		}
	}
	for _, s := range o.Signals {
		out.Signals = append(out.Signals, pb.SignalTypeToProto(s))
	}
	return out
}

func timeRangeFromProto(r *pb.TimeRange) mediamatch.TimeRange {
	start, end := pb.TimeRangeFromProto(r)
	return mediamatch.TimeRange{Start: start, End: end}
}

func timeRangesFromProto(rs []*pb.TimeRange) []mediamatch.TimeRange {
	if len(rs) == 0 {
		return nil
	}
	out := make([]mediamatch.TimeRange, len(rs))
	for i, r := range rs {
		out[i] = timeRangeFromProto(r)
	}
	return out
}

func matchesFromProto(ms []*pb.Match) []mediamatch.Match {
	out := make([]mediamatch.Match, len(ms))
	for i, m := range ms {
		out[i] = mediamatch.Match{
			Bank:          m.GetBank(),
			ItemID:        m.GetItemId(),
			Labels:        m.GetLabels(),
			ItemKind:      pb.KindFromProto(m.GetItemKind()),
			Signal:        signalType(m.GetSignal()),
			Distance:      int(m.GetDistance()),
			Threshold:     int(m.GetThreshold()),
			Transform:     pb.TransformFromProto(m.GetTransform()),
			QueryCoverage: m.GetQueryCoverage(),
			ItemCoverage:  m.GetItemCoverage(),
			QueryRanges:   timeRangesFromProto(m.GetQueryRanges()),
			ItemRanges:    timeRangesFromProto(m.GetItemRanges()),
			Source:        sourceFromProto(m.GetSource()),
		}
		for _, f := range m.GetFrames() {
			out[i].Frames = append(out[i].Frames, mediamatch.FrameMatch{
				QueryFrame: int(f.GetQueryFrame()),
				ItemFrame:  int(f.GetItemFrame()),
				QueryTime:  timeRangeFromProto(f.GetQueryTime()),
				ItemTime:   timeRangeFromProto(f.GetItemTime()),
				Signal:     signalType(f.GetSignal()),
				Distance:   int(f.GetDistance()),
				Transform:  pb.TransformFromProto(f.GetTransform()),
			})
		}
	}
	return out
}

func bankFromProto(b *pb.Bank) mediamatch.Bank {
	return mediamatch.Bank{
		Name:        b.GetName(),
		Description: b.GetDescription(),
		CreateTime:  asTime(b.GetCreateTime()),
		ItemCount:   b.GetItemCount(),
	}
}

func itemFromProto(it *pb.Item) mediamatch.Item {
	return mediamatch.Item{
		Bank:       it.GetBank(),
		ID:         it.GetId(),
		Labels:     it.GetLabels(),
		Disabled:   it.GetDisabled(),
		Media:      pb.MediaFromProto(it.GetMedia()),
		CreateTime: asTime(it.GetCreateTime()),
		UpdateTime: asTime(it.GetUpdateTime()),
		Source:     sourceFromProto(it.GetSource()),
	}
}

// sourceFromProto returns the provenance in s; nil for a nil s.
func sourceFromProto(s *pb.Source) *mediamatch.Source {
	if s == nil {
		return nil
	}
	return &mediamatch.Source{
		Format:     s.GetFormat(),
		Partner:    s.GetPartner(),
		UpstreamID: s.GetUpstreamId(),
		Tags:       s.GetTags(),
		FirstSeen:  asTime(s.GetFirstSeen()),
		Updated:    asTime(s.GetUpdated()),
	}
}

func specToProto(s ItemSpec) *pb.ItemSpec {
	return &pb.ItemSpec{Bank: s.Bank, Id: s.ID, Labels: s.Labels}
}
