package mediamatchv1

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// This file is hand-written: it converts the records of bank.proto,
// match.proto and admin.proto (banks, items, sources, matches, tokens,
// audit entries, import counts) to and from the domain types of package
// mediamatch, for the server and the client alike. Times travel as
// google.protobuf.Timestamp, the zero time as an unset field. The
// conversions copy every field as it is: what a caller may see (distances
// and sources withheld from callers below curator) is the server's
// business, decided on the domain values before they are converted. The
// conversions from protobuf are lenient, as MediaFromProto is: an enum
// value this package does not know keeps its name (see RoleFromProto).
// All of them are safe for concurrent use.

// TimestampToProto returns the message of t; nil for the zero time.
func TimestampToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// TimestampFromProto returns the time of t, in UTC; the zero time for nil.
func TimestampFromProto(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

// BankToProto returns the message of b.
func BankToProto(b mediamatch.Bank) *Bank {
	return &Bank{
		Name:        b.Name,
		Description: b.Description,
		CreateTime:  TimestampToProto(b.CreateTime),
		ItemCount:   b.ItemCount,
	}
}

// BankFromProto returns the bank of b; the zero Bank for a nil b.
func BankFromProto(b *Bank) mediamatch.Bank {
	return mediamatch.Bank{
		Name:        b.GetName(),
		Description: b.GetDescription(),
		CreateTime:  TimestampFromProto(b.GetCreateTime()),
		ItemCount:   b.GetItemCount(),
	}
}

// ItemToProto returns the message of it.
func ItemToProto(it mediamatch.Item) *Item {
	return &Item{
		Id:         it.ID,
		Bank:       it.Bank,
		Labels:     it.Labels,
		Disabled:   it.Disabled,
		Media:      MediaToProto(it.Media),
		CreateTime: TimestampToProto(it.CreateTime),
		UpdateTime: TimestampToProto(it.UpdateTime),
		Source:     SourceToProto(it.Source),
	}
}

// ItemFromProto returns the item of it; the zero Item for a nil it.
// Labels is nil when it has none.
func ItemFromProto(it *Item) mediamatch.Item {
	out := mediamatch.Item{
		Bank:       it.GetBank(),
		ID:         it.GetId(),
		Disabled:   it.GetDisabled(),
		Media:      MediaFromProto(it.GetMedia()),
		CreateTime: TimestampFromProto(it.GetCreateTime()),
		UpdateTime: TimestampFromProto(it.GetUpdateTime()),
		Source:     SourceFromProto(it.GetSource()),
	}
	if len(it.GetLabels()) > 0 {
		out.Labels = it.GetLabels()
	}
	return out
}

// SourceToProto returns the message of s; nil for a nil s (an item added
// directly, or a source withheld).
func SourceToProto(s *mediamatch.Source) *Source {
	if s == nil {
		return nil
	}
	return &Source{
		Format:     s.Format,
		Partner:    s.Partner,
		UpstreamId: s.UpstreamID,
		Tags:       s.Tags,
		FirstSeen:  TimestampToProto(s.FirstSeen),
		Updated:    TimestampToProto(s.Updated),
	}
}

// SourceFromProto returns the provenance of s; nil for a nil s. Tags is
// nil when s has none.
func SourceFromProto(s *Source) *mediamatch.Source {
	if s == nil {
		return nil
	}
	out := &mediamatch.Source{
		Format:     s.GetFormat(),
		Partner:    s.GetPartner(),
		UpstreamID: s.GetUpstreamId(),
		FirstSeen:  TimestampFromProto(s.GetFirstSeen()),
		Updated:    TimestampFromProto(s.GetUpdated()),
	}
	if len(s.GetTags()) > 0 {
		out.Tags = s.GetTags()
	}
	return out
}

// timeRangeToProto returns the message of r (see TimeRangeToProto).
func timeRangeToProto(r mediamatch.TimeRange) *TimeRange { return TimeRangeToProto(r.Start, r.End) }

func timeRangeFromProto(r *TimeRange) mediamatch.TimeRange {
	start, end := TimeRangeFromProto(r)
	return mediamatch.TimeRange{Start: start, End: end}
}

func timeRangesToProto(rs []mediamatch.TimeRange) []*TimeRange {
	if len(rs) == 0 {
		return nil
	}
	out := make([]*TimeRange, len(rs))
	for i, r := range rs {
		out[i] = timeRangeToProto(r)
	}
	return out
}

func timeRangesFromProto(rs []*TimeRange) []mediamatch.TimeRange {
	if len(rs) == 0 {
		return nil
	}
	out := make([]mediamatch.TimeRange, len(rs))
	for i, r := range rs {
		out[i] = timeRangeFromProto(r)
	}
	return out
}

// FrameMatchToProto returns the message of f.
func FrameMatchToProto(f mediamatch.FrameMatch) *FrameMatch {
	return &FrameMatch{
		QueryFrame: int32(f.QueryFrame),
		ItemFrame:  int32(f.ItemFrame),
		QueryTime:  timeRangeToProto(f.QueryTime),
		ItemTime:   timeRangeToProto(f.ItemTime),
		Signal:     SignalTypeToProto(f.Signal),
		Distance:   int32(f.Distance),
		Transform:  TransformToProto(f.Transform),
		QueryView:  ViewToProto(f.QueryView),
		ItemView:   ViewToProto(f.ItemView),
		Points:     int32(f.Points),
	}
}

// FrameMatchFromProto returns the keyframe pair of f; the zero FrameMatch's
// fields for a nil f.
func FrameMatchFromProto(f *FrameMatch) mediamatch.FrameMatch {
	st, _ := SignalTypeFromProto(f.GetSignal())
	return mediamatch.FrameMatch{
		QueryFrame: int(f.GetQueryFrame()),
		ItemFrame:  int(f.GetItemFrame()),
		QueryTime:  timeRangeFromProto(f.GetQueryTime()),
		ItemTime:   timeRangeFromProto(f.GetItemTime()),
		Signal:     st,
		Distance:   int(f.GetDistance()),
		Transform:  TransformFromProto(f.GetTransform()),
		QueryView:  ViewFromProto(f.GetQueryView()),
		ItemView:   ViewFromProto(f.GetItemView()),
		Points:     int(f.GetPoints()),
	}
}

// MatchToProto returns the message of m, every field as it is.
func MatchToProto(m mediamatch.Match) *Match {
	out := &Match{
		ItemId:        m.ItemID,
		Bank:          m.Bank,
		Labels:        m.Labels,
		Signal:        SignalTypeToProto(m.Signal),
		Distance:      int32(m.Distance),
		Threshold:     int32(m.Threshold),
		QueryCoverage: m.QueryCoverage,
		ItemCoverage:  m.ItemCoverage,
		QueryRanges:   timeRangesToProto(m.QueryRanges),
		ItemRanges:    timeRangesToProto(m.ItemRanges),
		ItemKind:      KindToProto(m.ItemKind),
		Transform:     TransformToProto(m.Transform),
		QueryView:     ViewToProto(m.QueryView),
		ItemView:      ViewToProto(m.ItemView),
		Points:        int32(m.Points),
		Source:        SourceToProto(m.Source),
	}
	if len(m.Frames) > 0 {
		out.Frames = make([]*FrameMatch, len(m.Frames))
		for i, f := range m.Frames {
			out.Frames[i] = FrameMatchToProto(f)
		}
	}
	return out
}

// MatchFromProto returns the match of m; the zero Match's fields for a nil
// m. Labels, Frames and the ranges are nil when m has none.
func MatchFromProto(m *Match) mediamatch.Match {
	st, _ := SignalTypeFromProto(m.GetSignal())
	out := mediamatch.Match{
		Bank:          m.GetBank(),
		ItemID:        m.GetItemId(),
		ItemKind:      KindFromProto(m.GetItemKind()),
		Signal:        st,
		Distance:      int(m.GetDistance()),
		Threshold:     int(m.GetThreshold()),
		Transform:     TransformFromProto(m.GetTransform()),
		QueryView:     ViewFromProto(m.GetQueryView()),
		ItemView:      ViewFromProto(m.GetItemView()),
		Points:        int(m.GetPoints()),
		QueryCoverage: m.GetQueryCoverage(),
		ItemCoverage:  m.GetItemCoverage(),
		QueryRanges:   timeRangesFromProto(m.GetQueryRanges()),
		ItemRanges:    timeRangesFromProto(m.GetItemRanges()),
		Source:        SourceFromProto(m.GetSource()),
	}
	if len(m.GetLabels()) > 0 {
		out.Labels = m.GetLabels()
	}
	for _, f := range m.GetFrames() {
		out.Frames = append(out.Frames, FrameMatchFromProto(f))
	}
	return out
}

// MatchesToProto returns the messages of ms, in order.
func MatchesToProto(ms []mediamatch.Match) []*Match {
	out := make([]*Match, len(ms))
	for i, m := range ms {
		out[i] = MatchToProto(m)
	}
	return out
}

// MatchesFromProto returns the matches of ms, in order.
func MatchesFromProto(ms []*Match) []mediamatch.Match {
	out := make([]mediamatch.Match, len(ms))
	for i, m := range ms {
		out[i] = MatchFromProto(m)
	}
	return out
}

// roles pairs every known Role value with its domain role.
var roles = [...]struct {
	pb Role
	r  mediamatch.Role
}{
	{Role_ROLE_MATCHER, mediamatch.RoleMatcher},
	{Role_ROLE_MODERATOR, mediamatch.RoleModerator},
	{Role_ROLE_CURATOR, mediamatch.RoleCurator},
	{Role_ROLE_ADMIN, mediamatch.RoleAdmin},
}

// RoleToProto returns the enum value of r; ROLE_UNSPECIFIED for a role
// that is not Valid.
func RoleToProto(r mediamatch.Role) Role {
	for _, p := range roles {
		if p.r == r {
			return p.pb
		}
	}
	return Role_ROLE_UNSPECIFIED
}

// RoleFromProto returns the domain role of r and true. For
// ROLE_UNSPECIFIED and values this package does not know (from a newer
// server) it returns false and the enum's name as a role that is not
// Valid, so that what arrived can still be shown.
func RoleFromProto(r Role) (mediamatch.Role, bool) {
	for _, p := range roles {
		if p.pb == r {
			return p.r, true
		}
	}
	return mediamatch.Role(r.String()), false
}

// TokenToProto returns the message of t.
func TokenToProto(t mediamatch.Token) *Token {
	return &Token{
		Id:         t.ID,
		Name:       t.Name,
		Role:       RoleToProto(t.Role),
		Banks:      t.Banks,
		CreateTime: TimestampToProto(t.CreateTime),
		ExpireTime: TimestampToProto(t.ExpireTime),
		RevokeTime: TimestampToProto(t.RevokeTime),
	}
}

// TokenFromProto returns the token of t (see RoleFromProto for its role);
// Banks is nil when t has none.
func TokenFromProto(t *Token) mediamatch.Token {
	role, _ := RoleFromProto(t.GetRole())
	out := mediamatch.Token{
		ID:         t.GetId(),
		Name:       t.GetName(),
		Role:       role,
		CreateTime: TimestampFromProto(t.GetCreateTime()),
		ExpireTime: TimestampFromProto(t.GetExpireTime()),
		RevokeTime: TimestampFromProto(t.GetRevokeTime()),
	}
	if len(t.GetBanks()) > 0 {
		out.Banks = t.GetBanks()
	}
	return out
}

// AuditEntryToProto returns the message of e.
func AuditEntryToProto(e mediamatch.AuditEntry) *AuditEntry {
	return &AuditEntry{
		Time:   TimestampToProto(e.Time),
		Actor:  e.Actor,
		Role:   RoleToProto(e.Role),
		Action: e.Action,
		Target: e.Target,
		Detail: e.Detail,
	}
}

// AuditEntryFromProto returns the entry of e (see RoleFromProto for its
// role).
func AuditEntryFromProto(e *AuditEntry) mediamatch.AuditEntry {
	role, _ := RoleFromProto(e.GetRole())
	return mediamatch.AuditEntry{
		Time:   TimestampFromProto(e.GetTime()),
		Actor:  e.GetActor(),
		Role:   role,
		Action: e.GetAction(),
		Target: e.GetTarget(),
		Detail: e.GetDetail(),
	}
}

// ImportStatsToProto returns a response holding the counts of st; the
// server adds the format and the rejected records.
func ImportStatsToProto(st mediamatch.ImportStats) *ImportSignalsResponse {
	return &ImportSignalsResponse{Added: st.Added, Updated: st.Updated, Deleted: st.Deleted, Unchanged: st.Unchanged}
}

// ImportStatsFromProto returns the counts of r.
func ImportStatsFromProto(r *ImportSignalsResponse) mediamatch.ImportStats {
	return mediamatch.ImportStats{Added: r.GetAdded(), Updated: r.GetUpdated(), Deleted: r.GetDeleted(), Unchanged: r.GetUnchanged()}
}
