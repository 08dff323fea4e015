package client

import (
	"github.com/mediamatch/mediamatch/api/mediamatch"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

// The records (banks, items, matches, tokens, audit entries) are converted
// by the api package (pb.ItemFromProto and friends), shared with the
// server; what stays here converts the client's own request types.

func optionsToProto(o MatchOptions) *pb.MatchOptions {
	out := &pb.MatchOptions{Banks: o.Banks, MaxResults: int32(o.MaxResults), Upright: o.Upright}
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

func specToProto(s ItemSpec) *pb.ItemSpec {
	return &pb.ItemSpec{Bank: s.Bank, Id: s.ID, Labels: s.Labels}
}
