package server

import (
	"cmp"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/index"
)

// This file converts between the protobuf messages and the index types.
// The fingerprint types (Media, Signal, SignalType, Kind) are converted by
// the api package (pb.MediaToProto and friends), shared with the client.
// Durations travel as milliseconds, times as google.protobuf.Timestamp,
// signal types as the SignalType enum. Conversions from protobuf assume the
// message has been validated.

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func bankToProto(b mediamatch.Bank) *pb.Bank {
	return &pb.Bank{
		Name:        b.Name,
		Description: b.Description,
		CreateTime:  timestamp(b.CreateTime),
		ItemCount:   b.ItemCount,
	}
}

func itemToProto(it mediamatch.Item) *pb.Item {
	return &pb.Item{
		Id:         it.ID,
		Bank:       it.Bank,
		Labels:     it.Labels,
		Disabled:   it.Disabled,
		Media:      pb.MediaToProto(it.Media),
		CreateTime: timestamp(it.CreateTime),
		UpdateTime: timestamp(it.UpdateTime),
		Source:     sourceToProto(it.Source),
	}
}

// sourceToProto returns the message of s; nil for an item added directly.
func sourceToProto(s *mediamatch.Source) *pb.Source {
	if s == nil {
		return nil
	}
	return &pb.Source{
		Format:     s.Format,
		Partner:    s.Partner,
		UpstreamId: s.UpstreamID,
		Tags:       s.Tags,
		FirstSeen:  timestamp(s.FirstSeen),
		Updated:    timestamp(s.Updated),
	}
}

// sourceFromProto returns the provenance of s; nil for a nil s. Tags is nil
// when s has none.
func sourceFromProto(s *pb.Source) *mediamatch.Source {
	if s == nil {
		return nil
	}
	out := &mediamatch.Source{
		Format:     s.GetFormat(),
		Partner:    s.GetPartner(),
		UpstreamID: s.GetUpstreamId(),
		FirstSeen:  asTime(s.GetFirstSeen()),
		Updated:    asTime(s.GetUpdated()),
	}
	if len(s.GetTags()) > 0 {
		out.Tags = s.GetTags()
	}
	return out
}

// asTime returns the time of t; the zero time for nil.
func asTime(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

func timeRangeToProto(r mediamatch.TimeRange) *pb.TimeRange {
	return pb.TimeRangeToProto(r.Start, r.End)
}

func timeRangesToProto(rs []mediamatch.TimeRange) []*pb.TimeRange {
	out := make([]*pb.TimeRange, len(rs))
	for i, r := range rs {
		out[i] = timeRangeToProto(r)
	}
	return out
}

// matchesToProto converts matches, whole when full; else without
// distances (-1 for perceptual hits), without sources, and ordered exact
// first, then by bank and id, so that nothing in the answer moves with the
// distance (see fullMatches).
func matchesToProto(ms []mediamatch.Match, full bool) []*pb.Match {
	if !full {
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
	}
	out := make([]*pb.Match, len(ms))
	for i, m := range ms {
		pm := &pb.Match{
			ItemId:        m.ItemID,
			Bank:          m.Bank,
			Labels:        m.Labels,
			Signal:        pb.SignalTypeToProto(m.Signal),
			Distance:      int32(m.Distance),
			Threshold:     int32(m.Threshold),
			QueryCoverage: m.QueryCoverage,
			ItemCoverage:  m.ItemCoverage,
			QueryRanges:   timeRangesToProto(m.QueryRanges),
			ItemRanges:    timeRangesToProto(m.ItemRanges),
			ItemKind:      pb.KindToProto(m.ItemKind),
			Transform:     pb.TransformToProto(m.Transform),
			Source:        sourceToProto(m.Source),
			Frames:        make([]*pb.FrameMatch, len(m.Frames)),
		}
		for j, f := range m.Frames {
			pm.Frames[j] = &pb.FrameMatch{
				QueryFrame: int32(f.QueryFrame),
				ItemFrame:  int32(f.ItemFrame),
				QueryTime:  timeRangeToProto(f.QueryTime),
				ItemTime:   timeRangeToProto(f.ItemTime),
				Signal:     pb.SignalTypeToProto(f.Signal),
				Distance:   int32(f.Distance),
				Transform:  pb.TransformToProto(f.Transform),
			}
			if !full {
				pm.Frames[j].Distance = -1
			}
		}
		if !full {
			pm.Source = nil
			if !m.Signal.Exact() {
				pm.Distance = -1
			}
		}
		out[i] = pm
	}
	return out
}

// queryFromOptions builds an index query for m from validated options.
func queryFromOptions(m mediamatch.Media, o *pb.MatchOptions) index.Query {
	q := index.Query{Media: m, Banks: o.GetBanks(), MaxResults: int(o.GetMaxResults()), Dihedral: o.GetDihedral()}
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

// roles pairs every Role enum value with its index role.
func roles() []struct {
	pb pb.Role
	ix mediamatch.Role
} {
	return []struct {
		pb pb.Role
		ix mediamatch.Role
	}{
		{pb.Role_ROLE_MATCHER, mediamatch.RoleMatcher},
		{pb.Role_ROLE_MODERATOR, mediamatch.RoleModerator},
		{pb.Role_ROLE_CURATOR, mediamatch.RoleCurator},
		{pb.Role_ROLE_ADMIN, mediamatch.RoleAdmin},
	}
}

func roleToProto(r mediamatch.Role) pb.Role {
	for _, p := range roles() {
		if p.ix == r {
			return p.pb
		}
	}
	return pb.Role_ROLE_UNSPECIFIED
}

// roleFromProto returns the index role of r; "" for ROLE_UNSPECIFIED or
// an unknown value.
func roleFromProto(r pb.Role) mediamatch.Role {
	for _, p := range roles() {
		if p.pb == r {
			return p.ix
		}
	}
	return ""
}

func tokenToProto(t mediamatch.Token) *pb.Token {
	return &pb.Token{
		Id:         t.ID,
		Name:       t.Name,
		Role:       roleToProto(t.Role),
		Banks:      t.Banks,
		CreateTime: timestamp(t.CreateTime),
		ExpireTime: timestamp(t.ExpireTime),
		RevokeTime: timestamp(t.RevokeTime),
	}
}

func auditToProto(e mediamatch.AuditEntry) *pb.AuditEntry {
	return &pb.AuditEntry{
		Time:   timestamp(e.Time),
		Actor:  e.Actor,
		Role:   roleToProto(e.Role),
		Action: e.Action,
		Target: e.Target,
		Detail: e.Detail,
	}
}
