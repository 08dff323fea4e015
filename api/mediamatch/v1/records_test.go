package mediamatchv1_test

import (
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

// The records' conversions keep every field: a domain value converted to
// its message, through the wire and back, is the value again.

var (
	t1 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	t2 = time.Date(2026, 4, 2, 8, 30, 0, 0, time.UTC)
)

func testSource() *mediamatch.Source {
	return &mediamatch.Source{Format: "te-updates", Partner: "Meta", UpstreamID: "u1", Tags: []string{"a", "b"},
		FirstSeen: t1, Updated: t2}
}

func testMedia() mediamatch.Media {
	return mediamatch.Media{Kind: mediamatch.KindVideo, Format: "mp4", Width: 640, Height: 360, Duration: 2 * time.Second,
		Size: 1000, Keyframes: []mediamatch.Keyframe{{Index: 0, End: time.Second,
			Signals:  []mediamatch.Signal{{Type: mediamatch.PDQ, Hash: make([]byte, 32), Quality: 90, Transform: mediamatch.FlipY}},
			Features: features(3)}}}
}

// wire marshals m and unmarshals it into a fresh message of its type.
func wire[M proto.Message](t *testing.T, m M) M {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatalf("proto.Marshal: %v", err)
	}
	out := m.ProtoReflect().New().Interface().(M)
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatalf("proto.Unmarshal: %v", err)
	}
	return out
}

func check[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s round trip = %+v, want %+v", what, got, want)
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	t.Run("bank", func(t *testing.T) {
		for _, b := range []mediamatch.Bank{{Name: "tve", Description: "known", CreateTime: t1, ItemCount: 7}, {Name: "empty"}} {
			check(t, "Bank", pb.BankFromProto(wire(t, pb.BankToProto(b))), b)
		}
	})
	t.Run("item", func(t *testing.T) {
		for _, it := range []mediamatch.Item{
			{Bank: "tve", ID: "a", Labels: map[string]string{"k": "v"}, Disabled: true, Media: testMedia(),
				CreateTime: t1, UpdateTime: t2, Source: testSource()},
			{Bank: "tve", ID: "direct", Media: mediamatch.Media{Kind: mediamatch.KindImage}},
		} {
			check(t, "Item", pb.ItemFromProto(wire(t, pb.ItemToProto(it))), it)
		}
	})
	t.Run("source", func(t *testing.T) {
		for _, s := range []*mediamatch.Source{testSource(), {Format: "pdq"}, nil} {
			got := pb.SourceFromProto(wire(t, &pb.Item{Source: pb.SourceToProto(s)}).GetSource())
			check(t, "Source", got, s)
		}
	})
	t.Run("match", func(t *testing.T) {
		for _, m := range []mediamatch.Match{
			{Bank: "tve", ItemID: "a", Labels: map[string]string{"action": "block"}, ItemKind: mediamatch.KindVideo,
				Signal: mediamatch.PDQ, Distance: 3, Threshold: 31, Transform: mediamatch.Rotate90,
				Frames: []mediamatch.FrameMatch{{QueryFrame: 1, ItemFrame: 2,
					QueryTime: mediamatch.TimeRange{Start: time.Second, End: 2 * time.Second},
					ItemTime:  mediamatch.TimeRange{Start: 3 * time.Second, End: 4 * time.Second},
					Signal:    mediamatch.PDQ, Distance: -1, Transform: mediamatch.FlipX,
					QueryView: mediamatch.View{Region: mediamatch.Region{X0: 100, Y0: 0, X1: 900, Y1: 1000}, Trimmed: true},
					ItemView:  mediamatch.View{Region: mediamatch.Region{X0: 0, Y0: 0, X1: 1000, Y1: 820}}},
					{QueryFrame: 3, ItemFrame: 4, Signal: mediamatch.Local, Distance: 41, Points: 37,
						QueryView: mediamatch.View{Region: mediamatch.Region{X0: 0, Y0: 10, X1: 990, Y1: 1000}},
						ItemView:  mediamatch.View{Region: mediamatch.Region{X0: 100, Y0: 50, X1: 900, Y1: 950}}}},
				QueryView:     mediamatch.View{Region: mediamatch.Region{X0: 100, Y0: 0, X1: 900, Y1: 1000}, Trimmed: true},
				QueryCoverage: 0.5, ItemCoverage: 0.25,
				QueryRanges: []mediamatch.TimeRange{{Start: 0, End: time.Second}},
				ItemRanges:  []mediamatch.TimeRange{{Start: time.Second, End: 3 * time.Second}},
				Source:      testSource()},
			{Bank: "b", ItemID: "x", ItemKind: mediamatch.KindImage, Signal: mediamatch.MD5, Threshold: 0},
			{Bank: "tve", ItemID: "cropped", ItemKind: mediamatch.KindImage, Signal: mediamatch.Local, Distance: 38, Points: 212,
				QueryView: mediamatch.View{Region: mediamatch.Region{X0: 3, Y0: 5, X1: 997, Y1: 990}},
				ItemView:  mediamatch.View{Region: mediamatch.Region{X0: 100, Y0: 50, X1: 900, Y1: 950}},
				Frames: []mediamatch.FrameMatch{{Signal: mediamatch.Local, Distance: 38, Points: 212,
					QueryView: mediamatch.View{Region: mediamatch.Region{X0: 3, Y0: 5, X1: 997, Y1: 990}},
					ItemView:  mediamatch.View{Region: mediamatch.Region{X0: 100, Y0: 50, X1: 900, Y1: 950}}}}},
		} {
			got := pb.MatchesFromProto(wire(t, &pb.MatchSignalsResponse{Matches: pb.MatchesToProto([]mediamatch.Match{m})}).GetMatches())
			check(t, "Match", got, []mediamatch.Match{m})
		}
	})
	t.Run("token", func(t *testing.T) {
		for _, tok := range []mediamatch.Token{
			{ID: "tok_0123456789abcdef", Name: "gw", Role: mediamatch.RoleMatcher, Banks: []string{"tve"},
				CreateTime: t1, ExpireTime: t2, RevokeTime: t2},
			{ID: "tok_1", Name: "root", Role: mediamatch.RoleAdmin, CreateTime: t1},
		} {
			check(t, "Token", pb.TokenFromProto(wire(t, pb.TokenToProto(tok))), tok)
		}
	})
	t.Run("audit entry", func(t *testing.T) {
		e := mediamatch.AuditEntry{Time: t1, Actor: "tok_1 (root)", Role: mediamatch.RoleCurator,
			Action: "BankService/DeleteBank", Target: "tve", Detail: "ok"}
		check(t, "AuditEntry", pb.AuditEntryFromProto(wire(t, pb.AuditEntryToProto(e))), e)
	})
	t.Run("import stats", func(t *testing.T) {
		st := mediamatch.ImportStats{Added: 1, Updated: 2, Deleted: 3, Unchanged: 4}
		check(t, "ImportStats", pb.ImportStatsFromProto(wire(t, pb.ImportStatsToProto(st))), st)
	})
}

func TestRoles(t *testing.T) {
	for _, r := range mediamatch.Roles() {
		p := pb.RoleToProto(r)
		if p == pb.Role_ROLE_UNSPECIFIED {
			t.Errorf("RoleToProto(%q) = %v, want a value", r, p)
		}
		if got, ok := pb.RoleFromProto(p); got != r || !ok {
			t.Errorf("RoleFromProto(%v) = %q, %v, want %q, true", p, got, ok, r)
		}
	}
	if got := pb.RoleToProto("root"); got != pb.Role_ROLE_UNSPECIFIED {
		t.Errorf(`RoleToProto("root") = %v, want ROLE_UNSPECIFIED`, got)
	}
	for _, tc := range []struct {
		in   pb.Role
		want mediamatch.Role
	}{
		{pb.Role_ROLE_UNSPECIFIED, "ROLE_UNSPECIFIED"},
		{pb.Role(99), "99"},
	} {
		if got, ok := pb.RoleFromProto(tc.in); got != tc.want || ok || got.Valid() {
			t.Errorf("RoleFromProto(%v) = %q, %v, want %q, false", tc.in, got, ok, tc.want)
		}
	}
}

// TestTimestamps: the zero time is an unset field, and back.
func TestTimestamps(t *testing.T) {
	if got := pb.TimestampToProto(time.Time{}); got != nil {
		t.Errorf("TimestampToProto(zero) = %v, want nil", got)
	}
	if got := pb.TimestampFromProto(nil); !got.IsZero() {
		t.Errorf("TimestampFromProto(nil) = %v, want the zero time", got)
	}
	if got := pb.TimestampFromProto(pb.TimestampToProto(t1)); !got.Equal(t1) {
		t.Errorf("TimestampFromProto(TimestampToProto(%v)) = %v", t1, got)
	}
}
