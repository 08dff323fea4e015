package fingerprint

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
)

// TestVideoFeatures hashes a moving test pattern long enough to have more
// keyframes than featureKeyframes, cut into a black stretch, and checks
// that its keyframes carry local features within the bounds (videoFeatures
// a keyframe, featureKeyframes a video, none on a low-information
// keyframe), spread from its first informative keyframe to its last, and
// that HashOptions.NoFeatures leaves them all out.
func TestVideoFeatures(t *testing.T) {
	mmtest.FFmpeg(t)
	data := makeVideo(t, "features.mp4",
		"-f", "lavfi", "-i", "testsrc2=s=480x270:r=25:d=30",
		"-f", "lavfi", "-i", "color=c=black:s=480x270:r=25:d=3",
		"-f", "lavfi", "-i", "testsrc2=s=480x270:r=25:d=20",
		"-filter_complex", "[0][1][2]concat=n=3:v=1", "-c:v", "libx264", "-preset", "veryfast")
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	h := New(Options{})
	m, err := h.hashVideo(ctx, data, HashOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkVideo(t, m)
	informative := 0
	var with []int
	for i, k := range m.Keyframes {
		if !k.LowInformation {
			informative++
		}
		if len(k.Features) == 0 {
			continue
		}
		with = append(with, i)
		if k.LowInformation {
			t.Errorf("keyframe %d [%v, %v): low-information, with %d features, want none", i, k.Start, k.End, len(k.Features))
		}
		if len(k.Features) > videoFeatures {
			t.Errorf("keyframe %d: %d features, want at most %d", i, len(k.Features), videoFeatures)
		}
		for _, f := range k.Features {
			if !f.Valid() {
				t.Fatalf("keyframe %d: feature %+v not valid", i, f)
			}
		}
	}
	t.Logf("%d keyframes, %d informative, %d with features", len(m.Keyframes), informative, len(with))
	if informative <= featureKeyframes {
		t.Fatalf("%d informative keyframes, want more than %d to test the bound", informative, featureKeyframes)
	}
	if len(with) != featureKeyframes {
		t.Errorf("%d keyframes with features, want %d (featureKeyframes)", len(with), featureKeyframes)
	}
	if len(with) > 0 {
		first := slices.IndexFunc(m.Keyframes, func(k mediamatch.Keyframe) bool { return !k.LowInformation })
		last := len(m.Keyframes) - 1
		for last >= 0 && m.Keyframes[last].LowInformation {
			last--
		}
		if with[0] != first || with[len(with)-1] != last {
			t.Errorf("features on keyframes %d..%d, want the first and last informative ones (%d, %d)", with[0], with[len(with)-1], first, last)
		}
	}

	n, err := h.hashVideo(ctx, data, HashOptions{NoFeatures: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range n.Keyframes {
		if len(k.Features) > 0 {
			t.Errorf("NoFeatures: keyframe %d has %d features, want none", i, len(k.Features))
		}
	}
	if len(n.Keyframes) != len(m.Keyframes) {
		t.Errorf("NoFeatures: %d keyframes, want the %d of the default", len(n.Keyframes), len(m.Keyframes))
	}
}

// TestThinFeatures checks which keyframes keep their features.
func TestThinFeatures(t *testing.T) {
	f := []mediamatch.Feature{{X: 1}}
	// kfs returns keyframes starting at the given seconds, those marked
	// with a "+" carrying features.
	kfs := func(spec ...string) []mediamatch.Keyframe {
		var out []mediamatch.Keyframe
		for i, s := range spec {
			var sec int
			feats := s[len(s)-1] == '+'
			if feats {
				s = s[:len(s)-1]
			}
			fmt.Sscan(s, &sec)
			k := mediamatch.Keyframe{Index: i, Start: time.Duration(sec) * time.Second}
			if feats {
				k.Features = f
			}
			out = append(out, k)
		}
		return out
	}
	tests := []struct {
		name string
		kfs  []mediamatch.Keyframe
		n    int
		want []int // indices keeping features
	}{
		{"under the bound", kfs("0+", "1+", "2", "3+"), 3, []int{0, 1, 3}},
		{"first and last and the middle", kfs("0+", "1+", "2+", "3+", "4+"), 3, []int{0, 2, 4}},
		{"nearest in time, not in index", kfs("0+", "1+", "2+", "3+", "10+"), 3, []int{0, 3, 4}},
		{"ends without features", kfs("0", "1+", "2+", "3+", "4+", "5+", "6"), 2, []int{1, 5}},
		{"one", kfs("0+", "5+", "9+"), 1, []int{0}},
		{"none", kfs("0+", "5+"), 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			for i, k := range thinFeatures(tt.kfs, tt.n) {
				if len(k.Features) > 0 {
					got = append(got, i)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("thinFeatures(%d) kept features on %v, want %v", tt.n, got, tt.want)
			}
		})
	}
}
