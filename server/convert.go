package server

import (
	"cmp"
	"slices"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/index"
)

// The records are converted by the api package (pb.ItemToProto,
// pb.MatchesToProto and friends), shared with the client. What stays here
// is the server's own: what a caller may see of a match, decided on the
// domain values before they are converted, and the index query a request
// asks for. Conversions from protobuf assume the message has been
// validated.

// visibleMatches returns matches as the caller may see them: ms itself
// when full; else copies without distances (-1 for perceptual hits and for
// every keyframe pair), without the points of local hits (-1: how many
// features agree is a closeness score, as a distance is), without
// sources, and ordered exact first, then by bank and id, so that nothing
// in the answer moves with the distance (see fullMatches).
func visibleMatches(ms []mediamatch.Match, full bool) []mediamatch.Match {
	if full {
		return ms
	}
	ms = slices.Clone(ms)
	slices.SortStableFunc(ms, func(a, b mediamatch.Match) int {
		if ae, be := a.Signal.Exact(), b.Signal.Exact(); ae != be {
			if ae {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.Bank, b.Bank), cmp.Compare(a.ItemID, b.ItemID))
	})
	for i := range ms {
		m := &ms[i]
		m.Source = nil
		if !m.Signal.Exact() {
			m.Distance = -1
		}
		if m.Points > 0 {
			m.Points = -1
		}
		m.Frames = slices.Clone(m.Frames)
		for j := range m.Frames {
			f := &m.Frames[j]
			f.Distance = -1
			if f.Points > 0 {
				f.Points = -1
			}
		}
	}
	return ms
}

// queryFromOptions builds an index query for m from validated options.
func queryFromOptions(m mediamatch.Media, o *pb.MatchOptions) index.Query {
	q := index.Query{Media: m, Banks: o.GetBanks(), MaxResults: int(o.GetMaxResults()), Upright: o.GetUpright()}
	if ts := o.GetThresholds(); len(ts) > 0 {
		q.Thresholds = make(map[mediamatch.SignalType]int, len(ts))
		for _, t := range ts {
			st, _ := pb.SignalTypeFromProto(t.GetSignal())
			q.Thresholds[st] = int(t.GetMaxDistance())
		}
	}
	for _, s := range o.GetSignals() {
		st, _ := pb.SignalTypeFromProto(s)
		q.Signals = append(q.Signals, st)
	}
	return q
}
