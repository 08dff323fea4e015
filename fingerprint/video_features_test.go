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
// keyframes than featureKeyframes, and for only some of its samples to get
// features (featureSlot), cut into a black stretch, and checks
// that its keyframes carry local features within the bounds (videoFeatures
// a keyframe, featureKeyframes a video, none on a low-information
// keyframe), spread from its first informative keyframe to its last, and
// that HashOptions.NoFeatures leaves them all out.
func TestVideoFeatures(t *testing.T) {
	mmtest.FFmpeg(t)
	data := makeVideo(t, "features.mp4",
		"-f", "lavfi", "-i", "testsrc2=s=384x216:r=15:d=40",
		"-f", "lavfi", "-i", "color=c=black:s=384x216:r=15:d=3",
		"-f", "lavfi", "-i", "testsrc2=s=384x216:r=15:d=30",
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
		// Only ticks get features in a video this long, the first tick of
		// each span of featureSlot and those of the last featureTail: the
		// last keyframe with features starts within featureTail and a tick
		// of the last informative one.
		slot := featureSlot(m.Duration, New(Options{}).opts.FrameRate)
		if slot == 0 {
			t.Fatalf("featureSlot(%v) = 0, want a video long enough for only some samples to get features", m.Duration)
		}
		end := m.Keyframes[with[len(with)-1]].Start
		if with[0] != first || end < m.Keyframes[last].Start-featureTail-time.Second {
			t.Errorf("features on keyframes %d..%d (ending at %v), want from the first informative one (%d) to within %v of the last (%d at %v)",
				with[0], with[len(with)-1], end, first, featureTail+time.Second, last, m.Keyframes[last].Start)
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

// TestFeatureSlot checks which samples get local features: all of a
// video up to 2 x featureKeyframes samples long, else the first tick of
// each of 2 x featureKeyframes spans, those of the last featureTail, and
// no anchor.
func TestFeatureSlot(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		fps  float64
		want int // of the ticks of d
	}{
		{0, 1, -1},
		{10 * time.Second, 1, -1},
		{2 * featureKeyframes * time.Second, 1, -1},
		{2*featureKeyframes*time.Second + time.Second, 1, 2 * featureKeyframes},
		{time.Hour, 1, 2*featureKeyframes + 2},
		{time.Hour, 2, 2*featureKeyframes + 4},
		{30 * time.Second, 4, 2*featureKeyframes + 7},
	} {
		slot := featureSlot(tt.d, tt.fps)
		n, ticks := 0, int(tt.d.Seconds()*tt.fps)
		for i := range ticks {
			if wantFeatures(i, slot, tt.fps, tt.d) {
				n++
			}
		}
		if tt.want < 0 {
			if slot != 0 || !wantFeatures(-1, slot, tt.fps, tt.d) {
				t.Errorf("featureSlot(%v, %g) = %v, want 0 (every sample, anchors too)", tt.d, tt.fps, slot)
			}
			continue
		}
		last := wantFeatures(ticks-1, slot, tt.fps, tt.d)
		if n != tt.want || wantFeatures(-1, slot, tt.fps, tt.d) || !wantFeatures(0, slot, tt.fps, tt.d) || !last {
			t.Errorf("%v at %g fps: %d of %d ticks get features (anchors %v, the first %v, the last %v), want %d, no anchor, the first and the last",
				tt.d, tt.fps, n, ticks, wantFeatures(-1, slot, tt.fps, tt.d), wantFeatures(0, slot, tt.fps, tt.d), last, tt.want)
		}
	}
}
