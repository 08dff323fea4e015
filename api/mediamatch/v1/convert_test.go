package mediamatchv1_test

import (
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

func TestSignalTypes(t *testing.T) {
	// Every domain signal type has an enum value and back.
	for _, st := range mediamatch.SignalTypes() {
		p := pb.SignalTypeToProto(st)
		if p == pb.SignalType_SIGNAL_TYPE_UNSPECIFIED {
			t.Errorf("SignalTypeToProto(%q) = %v, want a value", st, p)
		}
		if got, ok := pb.SignalTypeFromProto(p); got != st || !ok {
			t.Errorf("SignalTypeFromProto(%v) = %q, %v, want %q, true", p, got, ok, st)
		}
	}
	// Every enum value but UNSPECIFIED has a domain signal type.
	for n, name := range pb.SignalType_name {
		if n == 0 {
			continue
		}
		if got, ok := pb.SignalTypeFromProto(pb.SignalType(n)); !ok || !got.Valid() {
			t.Errorf("SignalTypeFromProto(%s) = %q, %v, want a valid type, true", name, got, ok)
		}
	}
}

func TestSignalTypeUnknown(t *testing.T) {
	if got := pb.SignalTypeToProto("nope"); got != pb.SignalType_SIGNAL_TYPE_UNSPECIFIED {
		t.Errorf(`SignalTypeToProto("nope") = %v, want SIGNAL_TYPE_UNSPECIFIED`, got)
	}
	for _, tc := range []struct {
		in   pb.SignalType
		want mediamatch.SignalType
	}{
		{pb.SignalType_SIGNAL_TYPE_UNSPECIFIED, "SIGNAL_TYPE_UNSPECIFIED"},
		{99, "99"}, // from a newer server
	} {
		got, ok := pb.SignalTypeFromProto(tc.in)
		if got != tc.want || ok || got.Valid() {
			t.Errorf("SignalTypeFromProto(%d) = %q, %v (valid %v), want %q, false (not valid)",
				tc.in, got, ok, got.Valid(), tc.want)
		}
	}
}

func TestKinds(t *testing.T) {
	for _, tc := range []struct {
		fp mediamatch.Kind
		pb pb.MediaKind
	}{
		{mediamatch.KindUnknown, pb.MediaKind_MEDIA_KIND_UNSPECIFIED},
		{mediamatch.KindImage, pb.MediaKind_MEDIA_KIND_IMAGE},
		{mediamatch.KindVideo, pb.MediaKind_MEDIA_KIND_VIDEO},
	} {
		if got := pb.KindToProto(tc.fp); got != tc.pb {
			t.Errorf("KindToProto(%v) = %v, want %v", tc.fp, got, tc.pb)
		}
		if got := pb.KindFromProto(tc.pb); got != tc.fp {
			t.Errorf("KindFromProto(%v) = %v, want %v", tc.pb, got, tc.fp)
		}
	}
	if got := pb.KindFromProto(42); got != mediamatch.KindUnknown {
		t.Errorf("KindFromProto(42) = %v, want %v", got, mediamatch.KindUnknown)
	}
}

func TestTimeRange(t *testing.T) {
	r := pb.TimeRangeToProto(1500*time.Millisecond+999*time.Microsecond, 3*time.Second)
	want := &pb.TimeRange{StartMillis: 1500, EndMillis: 3000}
	if !proto.Equal(r, want) {
		t.Errorf("TimeRangeToProto(1.500999s, 3s) = %v, want %v", r, want)
	}
	if start, end := pb.TimeRangeFromProto(r); start != 1500*time.Millisecond || end != 3*time.Second {
		t.Errorf("TimeRangeFromProto(%v) = %v, %v, want 1.5s, 3s", r, start, end)
	}
	if start, end := pb.TimeRangeFromProto(nil); start != 0 || end != 0 {
		t.Errorf("TimeRangeFromProto(nil) = %v, %v, want 0, 0", start, end)
	}
}

func hash(n int, b byte) []byte {
	h := make([]byte, n)
	for i := range h {
		h[i] = b + byte(i)
	}
	return h
}

func TestTransforms(t *testing.T) {
	for _, tc := range []struct {
		fp mediamatch.Transform
		pb pb.Transform
	}{
		{mediamatch.TransformNone, pb.Transform_TRANSFORM_UNSPECIFIED},
		{mediamatch.Rotate90, pb.Transform_TRANSFORM_ROTATE_90},
		{mediamatch.Rotate180, pb.Transform_TRANSFORM_ROTATE_180},
		{mediamatch.Rotate270, pb.Transform_TRANSFORM_ROTATE_270},
		{mediamatch.FlipX, pb.Transform_TRANSFORM_FLIP_X},
		{mediamatch.FlipY, pb.Transform_TRANSFORM_FLIP_Y},
		{mediamatch.FlipPlus1, pb.Transform_TRANSFORM_FLIP_PLUS1},
		{mediamatch.FlipMinus1, pb.Transform_TRANSFORM_FLIP_MINUS1},
	} {
		if got := pb.TransformToProto(tc.fp); got != tc.pb {
			t.Errorf("TransformToProto(%d) = %v, want %v", tc.fp, got, tc.pb)
		}
		if got := pb.TransformFromProto(tc.pb); got != tc.fp {
			t.Errorf("TransformFromProto(%v) = %d, want %d", tc.pb, got, tc.fp)
		}
	}
	// An unknown value keeps its number, which validation rejects.
	if got := pb.TransformFromProto(42); got != 42 || (mediamatch.Signal{Type: mediamatch.PDQ, Hash: make([]byte, 32), Transform: got}).Validate() == nil {
		t.Errorf("TransformFromProto(42) = %d, want 42, rejected by Signal.Validate", got)
	}
}

func TestMediaRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    mediamatch.Media
	}{
		{"empty", mediamatch.Media{}},
		{"image", mediamatch.Media{
			Kind: mediamatch.KindImage, Format: "jpeg", Width: 640, Height: 480, Size: 12345,
			FileSignals: []mediamatch.Signal{
				{Type: mediamatch.MD5, Hash: hash(16, 1)},
				{Type: mediamatch.SHA256, Hash: hash(32, 2)},
			},
			Keyframes: []mediamatch.Keyframe{{Signals: []mediamatch.Signal{
				{Type: mediamatch.PDQ, Hash: hash(32, 3), Quality: 87},
				{Type: mediamatch.PHash, Hash: hash(8, 4)},
				{Type: mediamatch.DHash, Hash: hash(8, 5)},
			}}},
		}},
		{"dihedral query", mediamatch.Media{
			Kind: mediamatch.KindImage, Format: "png",
			Keyframes: []mediamatch.Keyframe{{Signals: []mediamatch.Signal{
				{Type: mediamatch.PDQ, Hash: hash(32, 8), Quality: 90},
				{Type: mediamatch.PDQ, Hash: hash(32, 9), Quality: 90, Transform: mediamatch.Rotate90},
				{Type: mediamatch.PDQ, Hash: hash(32, 10), Quality: 90, Transform: mediamatch.FlipMinus1},
			}}},
		}},
		{"views", mediamatch.Media{
			Kind: mediamatch.KindImage, Format: "jpeg",
			Keyframes: []mediamatch.Keyframe{{Signals: []mediamatch.Signal{
				{Type: mediamatch.PDQ, Hash: hash(32, 11), Quality: 90},
				{Type: mediamatch.PDQ, Hash: hash(32, 12), Quality: 80,
					View: mediamatch.View{Region: mediamatch.Region{X0: 0, Y0: 125, X1: 1000, Y1: 875}, Trimmed: true}},
				{Type: mediamatch.PDQ, Hash: hash(32, 13), Quality: 70, View: mediamatch.View{Region: mediamatch.Region{X1: 1000, Y1: 800}}},
			}}},
		}},
		{"video", mediamatch.Media{
			Kind: mediamatch.KindVideo, Format: "mp4", Width: 1920, Height: 1080,
			Duration: 90500 * time.Millisecond, Size: 1 << 30,
			Keyframes: []mediamatch.Keyframe{
				{Index: 0, End: 2 * time.Second, Signals: []mediamatch.Signal{{Type: mediamatch.PHash, Hash: hash(8, 6)}}},
				{Index: 1, Start: 2 * time.Second, End: 2500 * time.Millisecond, LowInformation: true},
				{Index: 2, Start: 2500 * time.Millisecond, End: 90500 * time.Millisecond,
					Signals: []mediamatch.Signal{{Type: mediamatch.PDQ, Hash: hash(32, 7), Quality: 100}}},
			},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Through the wire, as the server and client see it.
			b, err := proto.Marshal(pb.MediaToProto(tc.m))
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			var p pb.Media
			if err := proto.Unmarshal(b, &p); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if got := pb.MediaFromProto(&p); !reflect.DeepEqual(got, tc.m) {
				t.Errorf("MediaFromProto(MediaToProto(m)) = %+v, want %+v", got, tc.m)
			}
		})
	}
}

func TestMediaToProto(t *testing.T) {
	m := mediamatch.Media{
		Kind: mediamatch.KindVideo, Format: "webm", Width: 320, Height: 240,
		Duration: 1999 * time.Microsecond, Size: 7,
		FileSignals: []mediamatch.Signal{{Type: mediamatch.MD5, Hash: hash(16, 0)}},
		Keyframes: []mediamatch.Keyframe{{Index: 3, Start: 1500 * time.Microsecond, End: 1999 * time.Microsecond,
			Signals: []mediamatch.Signal{{Type: "nope", Hash: []byte{1}, Quality: 5}}, LowInformation: true}},
	}
	want := &pb.Media{
		Kind: pb.MediaKind_MEDIA_KIND_VIDEO, Format: "webm", Width: 320, Height: 240,
		DurationMillis: 1, SizeBytes: 7,
		FileSignals: []*pb.Signal{{Type: pb.SignalType_SIGNAL_TYPE_MD5, Hash: hash(16, 0)}},
		Keyframes: []*pb.Keyframe{{Index: 3, StartMillis: 1, EndMillis: 1,
			Signals: []*pb.Signal{{Type: pb.SignalType_SIGNAL_TYPE_UNSPECIFIED, Hash: []byte{1}, Quality: 5}}, LowInformation: true}},
	}
	if got := pb.MediaToProto(m); !proto.Equal(got, want) {
		t.Errorf("MediaToProto(%+v) = %v, want %v", m, got, want)
	}
}

func TestMediaFromProto(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   *pb.Media
		want mediamatch.Media
	}{
		{"nil", nil, mediamatch.Media{}},
		{"empty lists are nil", &pb.Media{
			Kind:        pb.MediaKind_MEDIA_KIND_IMAGE,
			FileSignals: []*pb.Signal{},
			Keyframes:   []*pb.Keyframe{{Signals: []*pb.Signal{}}},
		}, mediamatch.Media{Kind: mediamatch.KindImage, Keyframes: []mediamatch.Keyframe{{}}}},
		{"unknown signal type keeps its name", &pb.Media{
			Keyframes: []*pb.Keyframe{{Signals: []*pb.Signal{{Type: 99, Hash: []byte{1}}}}},
		}, mediamatch.Media{Keyframes: []mediamatch.Keyframe{{Signals: []mediamatch.Signal{{Type: "99", Hash: []byte{1}}}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pb.MediaFromProto(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("MediaFromProto(%v) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}
