package cli

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/index/hashlist"
)

// The output of local features and local hits, from the printers
// themselves: the commands that call them are tested end to end against
// a server (cli_test.go, pdq_test.go), which does not match by local
// features yet.

// testFeatures returns n valid features with distinct descriptors.
func testFeatures(n int) []mediamatch.Feature {
	fs := make([]mediamatch.Feature, n)
	for i := range fs {
		f := &fs[i]
		f.X, f.Y, f.Level = uint16(i*10), uint16(4000-i), uint8(i%mediamatch.FeatureLevels)
		for j := range f.Desc {
			f.Desc[j] = byte(i + j*3)
		}
	}
	return fs
}

func localMedia() mediamatch.Media {
	pdq := mediamatch.Signal{Type: mediamatch.PDQ, Hash: bytes.Repeat([]byte{0xa5}, 32), Quality: 90}
	return mediamatch.Media{Kind: mediamatch.KindVideo, Format: "mp4", Width: 640, Height: 360, Duration: 2 * time.Second,
		Keyframes: []mediamatch.Keyframe{
			{Index: 0, End: time.Second, Signals: []mediamatch.Signal{pdq}, Features: testFeatures(212)},
			{Index: 1, Start: time.Second, End: 2 * time.Second, Signals: []mediamatch.Signal{pdq}},
		}}
}

// TestHashOutputFeatures: people see how many features a keyframe has;
// hash --json carries them whole, in the jsonl encoding.
func TestHashOutputFeatures(t *testing.T) {
	m := localMedia()
	if got, want := describeMedia(m), "video mp4 640x360, 2.0s, 2 keyframes, 212 local features"; got != want {
		t.Errorf("describeMedia = %q, want %q", got, want)
	}
	m0 := m
	m0.Keyframes = m.Keyframes[1:]
	if got := describeMedia(m0); strings.Contains(got, "feature") {
		t.Errorf("describeMedia without features = %q, want no features", got)
	}
	var b bytes.Buffer
	printSignals(&b, m)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if want := "  features: 212  frame 0  0.0s-1.0s"; len(lines) != 3 || lines[1] != want {
		t.Errorf("printSignals =\n%s\nwant 3 lines, the second %q", b.String(), want)
	}

	out, err := json.Marshal(toJSONMedia(m))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Keyframes []map[string]any `json:"keyframes"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Keyframes) != 2 {
		t.Fatalf("hash --json = %s, want 2 keyframes", out)
	}
	s, _ := got.Keyframes[0]["features"].(string)
	fs, err := hashlist.DecodeFeatures(s)
	if err != nil || !reflect.DeepEqual(fs, m.Keyframes[0].Features) {
		t.Errorf("hash --json keyframe 0 features decode to %d features, %v; want the keyframe's %d", len(fs), err, len(m.Keyframes[0].Features))
	}
	if _, ok := got.Keyframes[1]["features"]; ok {
		t.Errorf("hash --json keyframe 1 = %v, want no features key", got.Keyframes[1])
	}
	// The string is the one the jsonl record of an item with this media
	// holds, so a script can copy it across.
	line, err := hashlist.MarshalItem(mediamatch.Item{ID: "x", Media: m})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(line, []byte(`"features":"`+s+`"`)) {
		t.Errorf("the jsonl record does not hold hash --json's features string")
	}
}

func localMatch(distance int) mediamatch.Match {
	q := mediamatch.View{Region: mediamatch.Region{X0: 0, Y0: 0, X1: 1000, Y1: 990}}
	i := mediamatch.View{Region: mediamatch.Region{X0: 100, Y0: 50, X1: 900, Y1: 950}}
	return mediamatch.Match{Bank: "tve", ItemID: "poster.jpg", ItemKind: mediamatch.KindImage, Signal: mediamatch.Local,
		Distance: distance, Threshold: 64, Points: 37, QueryView: q, ItemView: i, QueryCoverage: 1, ItemCoverage: 1,
		Frames: []mediamatch.FrameMatch{{Signal: mediamatch.Local, Distance: distance, Points: 37, QueryView: q, ItemView: i}}}
}

// TestLocalMatchOutput: a local hit says how many points agreed and which
// regions of the two frames they span, in words and in JSON.
func TestLocalMatchOutput(t *testing.T) {
	pdqHit := mediamatch.Match{Bank: "tve", ItemID: "flag.png", ItemKind: mediamatch.KindImage, Signal: mediamatch.PDQ,
		Distance: 4, Threshold: 31, QueryCoverage: 1, ItemCoverage: 1}
	for _, tc := range []struct {
		name string
		ms   []mediamatch.Match
		want []string
	}{
		{"curator", []mediamatch.Match{pdqHit, localMatch(41)}, []string{
			"a.jpg: 2 matches",
			"  tve/flag.png  pdq distance 4 (threshold 31)",
			"  tve/poster.jpg  local features, 37 points, mean distance 41, upload region 0,0-1000,990 ~ item region 100,50-900,950",
		}},
		{"withheld", []mediamatch.Match{func() mediamatch.Match { m := localMatch(-1); m.Points = -1; return m }()}, []string{
			"a.jpg: 1 match",
			"  tve/poster.jpg  local features, upload region 0,0-1000,990 ~ item region 100,50-900,950",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			printMatches(&b, "a.jpg", tc.ms)
			if got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n"); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("printMatches =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}

	out, err := json.Marshal(toJSONMatches([]mediamatch.Match{pdqHit, localMatch(41)}))
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got[0]["points"]; ok {
		t.Errorf("JSON of a pdq match = %v, want no points", got[0])
	}
	local := got[1]
	frames, _ := local["frames"].([]any)
	frame, _ := frames[0].(map[string]any)
	wantView := map[string]any{"x0": 100.0, "y0": 50.0, "x1": 900.0, "y1": 950.0}
	if local["signal"] != "local" || local["points"] != 37.0 || local["distance"] != 41.0 ||
		!reflect.DeepEqual(local["item_view"], wantView) || frame["points"] != 37.0 || frame["signal"] != "local" {
		t.Errorf("JSON of a local match = %s, want signal local, points 37, distance 41, item_view %v, and a frame with points 37", out, wantView)
	}
}
