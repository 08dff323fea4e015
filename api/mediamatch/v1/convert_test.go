package mediamatchv1_test

import (
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/fingerprint"
)

func TestSignalTypes(t *testing.T) {
	// Every fingerprint type has an enum value and back.
	for _, st := range fingerprint.SignalTypes() {
		p := pb.SignalTypeToProto(st)
		if p == pb.SignalType_SIGNAL_TYPE_UNSPECIFIED {
			t.Errorf("SignalTypeToProto(%q) = %v, want a value", st, p)
		}
		if got, ok := pb.SignalTypeFromProto(p); got != st || !ok {
			t.Errorf("SignalTypeFromProto(%v) = %q, %v, want %q, true", p, got, ok, st)
		}
	}
	// Every enum value but UNSPECIFIED has a fingerprint type.
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
		want fingerprint.SignalType
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
		fp fingerprint.Kind
		pb pb.MediaKind
	}{
		{fingerprint.KindUnknown, pb.MediaKind_MEDIA_KIND_UNSPECIFIED},
		{fingerprint.KindImage, pb.MediaKind_MEDIA_KIND_IMAGE},
		{fingerprint.KindVideo, pb.MediaKind_MEDIA_KIND_VIDEO},
	} {
		if got := pb.KindToProto(tc.fp); got != tc.pb {
			t.Errorf("KindToProto(%v) = %v, want %v", tc.fp, got, tc.pb)
		}
		if got := pb.KindFromProto(tc.pb); got != tc.fp {
			t.Errorf("KindFromProto(%v) = %v, want %v", tc.pb, got, tc.fp)
		}
	}
	if got := pb.KindFromProto(42); got != fingerprint.KindUnknown {
		t.Errorf("KindFromProto(42) = %v, want %v", got, fingerprint.KindUnknown)
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
		fp fingerprint.Transform
		pb pb.Transform
	}{
		{fingerprint.TransformNone, pb.Transform_TRANSFORM_UNSPECIFIED},
		{fingerprint.Rotate90, pb.Transform_TRANSFORM_ROTATE_90},
		{fingerprint.Rotate180, pb.Transform_TRANSFORM_ROTATE_180},
		{fingerprint.Rotate270, pb.Transform_TRANSFORM_ROTATE_270},
		{fingerprint.FlipX, pb.Transform_TRANSFORM_FLIP_X},
		{fingerprint.FlipY, pb.Transform_TRANSFORM_FLIP_Y},
		{fingerprint.FlipPlus1, pb.Transform_TRANSFORM_FLIP_PLUS1},
		{fingerprint.FlipMinus1, pb.Transform_TRANSFORM_FLIP_MINUS1},
	} {
		if got := pb.TransformToProto(tc.fp); got != tc.pb {
			t.Errorf("TransformToProto(%d) = %v, want %v", tc.fp, got, tc.pb)
		}
		if got := pb.TransformFromProto(tc.pb); got != tc.fp {
			t.Errorf("TransformFromProto(%v) = %d, want %d", tc.pb, got, tc.fp)
		}
	}
	// An unknown value keeps its number, which validation rejects.
	if got := pb.TransformFromProto(42); got != 42 || (fingerprint.Signal{Type: fingerprint.PDQ, Hash: make([]byte, 32), Transform: got}).Validate() == nil {
		t.Errorf("TransformFromProto(42) = %d, want 42, rejected by Signal.Validate", got)
	}
}

func TestMediaRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    fingerprint.Media
	}{
		{"empty", fingerprint.Media{}},
		{"image", fingerprint.Media{
			Kind: fingerprint.KindImage, Format: "jpeg", Width: 640, Height: 480, Size: 12345,
			FileSignals: []fingerprint.Signal{
				{Type: fingerprint.MD5, Hash: hash(16, 1)},
				{Type: fingerprint.SHA256, Hash: hash(32, 2)},
			},
			Keyframes: []fingerprint.Keyframe{{Signals: []fingerprint.Signal{
				{Type: fingerprint.PDQ, Hash: hash(32, 3), Quality: 87},
				{Type: fingerprint.PHash, Hash: hash(8, 4)},
				{Type: fingerprint.DHash, Hash: hash(8, 5)},
			}}},
		}},
		{"dihedral query", fingerprint.Media{
			Kind: fingerprint.KindImage, Format: "png",
			Keyframes: []fingerprint.Keyframe{{Signals: []fingerprint.Signal{
				{Type: fingerprint.PDQ, Hash: hash(32, 8), Quality: 90},
				{Type: fingerprint.PDQ, Hash: hash(32, 9), Quality: 90, Transform: fingerprint.Rotate90},
				{Type: fingerprint.PDQ, Hash: hash(32, 10), Quality: 90, Transform: fingerprint.FlipMinus1},
			}}},
		}},
		{"video", fingerprint.Media{
			Kind: fingerprint.KindVideo, Format: "mp4", Width: 1920, Height: 1080,
			Duration: 90500 * time.Millisecond, Size: 1 << 30,
			Keyframes: []fingerprint.Keyframe{
				{Index: 0, End: 2 * time.Second, Signals: []fingerprint.Signal{{Type: fingerprint.PHash, Hash: hash(8, 6)}}},
				{Index: 1, Start: 2 * time.Second, End: 2500 * time.Millisecond, LowInformation: true},
				{Index: 2, Start: 2500 * time.Millisecond, End: 90500 * time.Millisecond,
					Signals: []fingerprint.Signal{{Type: fingerprint.PDQ, Hash: hash(32, 7), Quality: 100}}},
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
	m := fingerprint.Media{
		Kind: fingerprint.KindVideo, Format: "webm", Width: 320, Height: 240,
		Duration: 1999 * time.Microsecond, Size: 7,
		FileSignals: []fingerprint.Signal{{Type: fingerprint.MD5, Hash: hash(16, 0)}},
		Keyframes: []fingerprint.Keyframe{{Index: 3, Start: 1500 * time.Microsecond, End: 1999 * time.Microsecond,
			Signals: []fingerprint.Signal{{Type: "nope", Hash: []byte{1}, Quality: 5}}, LowInformation: true}},
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
		want fingerprint.Media
	}{
		{"nil", nil, fingerprint.Media{}},
		{"empty lists are nil", &pb.Media{
			Kind:        pb.MediaKind_MEDIA_KIND_IMAGE,
			FileSignals: []*pb.Signal{},
			Keyframes:   []*pb.Keyframe{{Signals: []*pb.Signal{}}},
		}, fingerprint.Media{Kind: fingerprint.KindImage, Keyframes: []fingerprint.Keyframe{{}}}},
		{"unknown signal type keeps its name", &pb.Media{
			Keyframes: []*pb.Keyframe{{Signals: []*pb.Signal{{Type: 99, Hash: []byte{1}}}}},
		}, fingerprint.Media{Keyframes: []fingerprint.Keyframe{{Signals: []fingerprint.Signal{{Type: "99", Hash: []byte{1}}}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pb.MediaFromProto(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("MediaFromProto(%v) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}
