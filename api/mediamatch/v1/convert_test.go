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
	// Every enum value but UNSPECIFIED and LOCAL (which names matches,
	// not signals: TestSignalTypeLocal) has a domain signal type.
	for n, name := range pb.SignalType_name {
		if n == 0 || pb.SignalType(n) == pb.SignalType_SIGNAL_TYPE_LOCAL {
			continue
		}
		if got, ok := pb.SignalTypeFromProto(pb.SignalType(n)); !ok || !got.Valid() {
			t.Errorf("SignalTypeFromProto(%s) = %q, %v, want a valid type, true", name, got, ok)
		}
	}
}

// TestSignalTypeLocal: LOCAL is what local-feature matches name their
// signal, carried both ways, but not a signal type: validators that want
// one (MatchOptions.signals, thresholds) refuse it on false.
func TestSignalTypeLocal(t *testing.T) {
	if got := pb.SignalTypeToProto(mediamatch.Local); got != pb.SignalType_SIGNAL_TYPE_LOCAL {
		t.Errorf("SignalTypeToProto(Local) = %v, want SIGNAL_TYPE_LOCAL", got)
	}
	if got, ok := pb.SignalTypeFromProto(pb.SignalType_SIGNAL_TYPE_LOCAL); got != mediamatch.Local || ok || got.Valid() {
		t.Errorf("SignalTypeFromProto(SIGNAL_TYPE_LOCAL) = %q, %v (valid %v), want %q, false (not valid)",
			got, ok, got.Valid(), mediamatch.Local)
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
		{"features", mediamatch.Media{
			Kind: mediamatch.KindImage, Format: "jpeg", Width: 800, Height: 600,
			Keyframes: []mediamatch.Keyframe{{Signals: []mediamatch.Signal{{Type: mediamatch.PDQ, Hash: hash(32, 14), Quality: 90}},
				Features: features(300)}},
		}},
		{"video", mediamatch.Media{
			Kind: mediamatch.KindVideo, Format: "mp4", Width: 1920, Height: 1080,
			Duration: 90500 * time.Millisecond, Size: 1 << 30,
			Keyframes: []mediamatch.Keyframe{
				{Index: 0, End: 2 * time.Second, Signals: []mediamatch.Signal{{Type: mediamatch.PHash, Hash: hash(8, 6)}}},
				{Index: 1, Start: 2 * time.Second, End: 2500 * time.Millisecond, LowInformation: true,
					Features: features(2)},
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

// features returns n features at distinct places, levels and
// descriptors, with every bit pattern of the descriptor bytes in use.
func features(n int) []mediamatch.Feature {
	fs := make([]mediamatch.Feature, n)
	for i := range fs {
		f := &fs[i]
		f.X, f.Y, f.Level = uint16(i*13%4097), uint16(4096-i*7%3073), uint8(i%mediamatch.FeatureLevels)
		for j := range f.Desc {
			f.Desc[j] = byte(i*31 + j*97)
		}
	}
	return fs
}

// TestFeatureToProto pins the message of one feature, field by field.
func TestFeatureToProto(t *testing.T) {
	f := mediamatch.Feature{X: 4096, Y: 3072, Level: 15}
	f.Desc[0], f.Desc[31] = 0x80, 0x01
	want := &pb.LocalFeature{X: 4096, Y: 3072, Level: 15, Descriptor_: append(append([]byte{0x80}, make([]byte, 30)...), 0x01)}
	if got := pb.FeatureToProto(f); !proto.Equal(got, want) {
		t.Errorf("FeatureToProto(%+v) = %v, want %v", f, got, want)
	}
	// The descriptor is a copy: changing the message leaves f alone.
	got := pb.FeatureToProto(f)
	got.Descriptor_[0] = 0
	if f.Desc[0] != 0x80 {
		t.Errorf("FeatureToProto shares the descriptor's bytes with the feature")
	}
}

// TestFeatureFromProto: values too large for the domain's fields do not
// wrap round to valid ones; a descriptor of the wrong length converts
// without a panic (CheckMedia refuses it).
func TestFeatureFromProto(t *testing.T) {
	desc := hash(32, 40)
	for _, tc := range []struct {
		name  string
		in    *pb.LocalFeature
		want  mediamatch.Feature
		valid bool
	}{
		{"nil", nil, mediamatch.Feature{}, true},
		{"in range", &pb.LocalFeature{X: 4096, Y: 12, Level: 15, Descriptor_: desc},
			mediamatch.Feature{X: 4096, Y: 12, Level: 15, Desc: [32]byte(desc)}, true},
		{"x past uint16", &pb.LocalFeature{X: 1<<16 + 100, Descriptor_: desc},
			mediamatch.Feature{X: 65535, Desc: [32]byte(desc)}, false},
		{"y past uint16", &pb.LocalFeature{Y: 1 << 31, Descriptor_: desc},
			mediamatch.Feature{Y: 65535, Desc: [32]byte(desc)}, false},
		{"level past uint8", &pb.LocalFeature{Level: 256 + 3, Descriptor_: desc},
			mediamatch.Feature{Level: 255, Desc: [32]byte(desc)}, false},
		{"short descriptor", &pb.LocalFeature{Descriptor_: []byte{1, 2}}, mediamatch.Feature{Desc: [32]byte{1, 2}}, true},
		{"long descriptor", &pb.LocalFeature{Descriptor_: hash(40, 40)}, mediamatch.Feature{Desc: [32]byte(desc)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := pb.FeatureFromProto(tc.in)
			if got != tc.want || got.Valid() != tc.valid {
				t.Errorf("FeatureFromProto(%v) = %+v (valid %v), want %+v (valid %v)", tc.in, got, got.Valid(), tc.want, tc.valid)
			}
		})
	}
}

// TestCheckMedia: a descriptor that is not 32 bytes is refused, naming
// the feature; one error a keyframe, at most MaxMediaErrors in all.
func TestCheckMedia(t *testing.T) {
	good := func() *pb.LocalFeature { return &pb.LocalFeature{X: 1, Y: 2, Level: 3, Descriptor_: hash(32, 0)} }
	kf := func(fs ...*pb.LocalFeature) *pb.Keyframe { return &pb.Keyframe{Features: fs} }
	bad := func(n int) *pb.LocalFeature { f := good(); f.Descriptor_ = f.Descriptor_[:n]; return f }
	for _, tc := range []struct {
		name string
		m    *pb.Media
		want []string // "field: message" of each error
	}{
		{"nil", nil, nil},
		{"no features", &pb.Media{Keyframes: []*pb.Keyframe{{}}}, nil},
		{"good", &pb.Media{Keyframes: []*pb.Keyframe{kf(good(), good())}}, nil},
		{"short", &pb.Media{Keyframes: []*pb.Keyframe{kf(good()), kf(), kf(), kf(good(), good(), good(), good(), good(), good(), good(), bad(31))}},
			[]string{"r.media.keyframes[3].features[7].descriptor: 31 bytes, want 32"}},
		{"missing and long, first of a keyframe only", &pb.Media{Keyframes: []*pb.Keyframe{kf(bad(0), bad(5)), kf(good(), &pb.LocalFeature{Descriptor_: hash(33, 0)})}},
			[]string{"r.media.keyframes[0].features[0].descriptor: 0 bytes, want 32",
				"r.media.keyframes[1].features[1].descriptor: 33 bytes, want 32"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := pb.CheckMedia("r.media", tc.m)
			var got []string
			if err != nil {
				es, ok := err.(mediamatch.Errors)
				if !ok {
					t.Fatalf("CheckMedia = %T %v, want mediamatch.Errors", err, err)
				}
				for _, e := range es {
					if e.Code != mediamatch.Invalid {
						t.Errorf("CheckMedia: %v has code %q, want %q", e, e.Code, mediamatch.Invalid)
					}
					got = append(got, e.Field+": "+e.Msg)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("CheckMedia = %q, want %q", got, tc.want)
			}
		})
	}
	many := &pb.Media{}
	for range mediamatch.MaxMediaErrors + 5 {
		many.Keyframes = append(many.Keyframes, kf(bad(1)))
	}
	if es, _ := pb.CheckMedia("m", many).(mediamatch.Errors); len(es) != mediamatch.MaxMediaErrors {
		t.Errorf("CheckMedia(%d bad keyframes) reports %d, want MaxMediaErrors (%d)", len(many.Keyframes), len(es), mediamatch.MaxMediaErrors)
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
