package eval

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
	"github.com/mediamatch/mediamatch/fingerprint"
)

// makeTestVideo has ffmpeg make a video at out from the arguments between
// -y and the output, and returns its bytes.
func makeTestVideo(t *testing.T, ffmpeg, out string, args ...string) []byte {
	t.Helper()
	args = append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, args...)
	args = append(args, "-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-threads", "1", out)
	if b, err := exec.Command(ffmpeg, args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestVideoEvaluation runs the video evaluation on a 6 s clip of three
// scenes (the project's posters, 2 s each), banked, and a distractor
// (ffmpeg's moving test pattern), with the edits that match today: each
// variant of the clip matches it, over the span of the clip it shows
// (within RangeTolerance), and nothing matches the distractor's.
func TestVideoEvaluation(t *testing.T) {
	ffmpeg := mmtest.FFmpeg(t)
	media := filepath.Join(mmtest.ModuleRoot(t), "testdata", "media")
	tmp := t.TempDir()
	clip := makeTestVideo(t, ffmpeg, filepath.Join(tmp, "scenes.mp4"),
		"-loop", "1", "-framerate", "10", "-t", "2", "-i", filepath.Join(media, "poster.png"),
		"-loop", "1", "-framerate", "10", "-t", "2", "-i", filepath.Join(media, "other.png"),
		"-loop", "1", "-framerate", "10", "-t", "2", "-i", filepath.Join(media, "poster-flipped.png"),
		"-filter_complex", "[0:v][1:v][2:v]concat=n=3:v=1:a=0[v]", "-map", "[v]")
	pattern := makeTestVideo(t, ffmpeg, filepath.Join(tmp, "pattern.mp4"),
		"-f", "lavfi", "-i", "testsrc2=s=192x144:r=10:d=4")

	want := []string{"original", "reencode-low", "360p", "grey", "trim"}
	var edits []VideoEdit
	for _, e := range VideoEdits() {
		if slices.Contains(want, e.Name) {
			edits = append(edits, e)
		}
	}
	if len(edits) != len(want) {
		t.Fatalf("found %d of the edits %v in VideoEdits", len(edits), want)
	}
	dir := filepath.Join(tmp, "eval")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	rep, err := RunVideo(context.Background(), VideoConfig{
		Originals: []Original{{Name: "scenes.mp4", Data: clip}, {Name: "pattern.mp4", Data: pattern, Distractor: true}},
		Edits:     edits, BankShare: 1, Seed: 1, Dir: dir, Workers: 2, FFmpeg: ffmpeg,
		Hasher: fingerprint.New(fingerprint.Options{FFmpeg: ffmpeg}),
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.WriteText(&b)
	t.Logf("\n%s", b.String())
	if !slices.Equal(rep.Banked, []string{"scenes.mp4"}) {
		t.Fatalf("banked %v, want [scenes.mp4]", rep.Banked)
	}
	for _, name := range want {
		res, ok := rep.Result(name)
		if !ok {
			t.Errorf("no result for edit %s", name)
			continue
		}
		if res.Failed != 0 {
			t.Errorf("%s: %d variants not made or hashed: %v", name, res.Failed, res.Errors)
		}
		if res.Default.Right != 1 || res.InRange != 1 {
			t.Errorf("%s: matched %d of 1, %d in range, want 1 and 1: %v", name, res.Default.Right, res.InRange, res.Ranges)
		}
		if res.Default.Wrong != 0 || res.Default.FalsePositives != 0 {
			t.Errorf("%s: %d wrong items, %d false positives, want none: %v", name, res.Default.Wrong, res.Default.FalsePositives, res.Mistakes)
		}
	}
	// The trim shows a span that starts after 0; the report must say which.
	if res, _ := rep.Result("trim"); len(res.Ranges) != 1 || strings.HasPrefix(res.Ranges[0], "scenes.mp4: shows 0.0") {
		t.Errorf("trim: ranges %q, want one of a span after the start", res.Ranges)
	}
}

// TestHull checks the matched span of a match: from its first start to
// its last end.
func TestHull(t *testing.T) {
	sec := func(a, b float64) mediamatch.TimeRange {
		return mediamatch.TimeRange{Start: time.Duration(a * float64(time.Second)), End: time.Duration(b * float64(time.Second))}
	}
	for _, tc := range []struct {
		in   []mediamatch.TimeRange
		want mediamatch.TimeRange
		ok   bool
	}{
		{nil, mediamatch.TimeRange{}, false},
		{[]mediamatch.TimeRange{sec(2, 3)}, sec(2, 3), true},
		{[]mediamatch.TimeRange{sec(5, 6), sec(1, 2), sec(3, 4)}, sec(1, 6), true},
	} {
		if got, ok := hull(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("hull(%v) = %v, %v, want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	if !near(3*time.Second, 5*time.Second) || near(3*time.Second, 5*time.Second+time.Millisecond) {
		t.Errorf("near: want ends within %s in range, and no further", RangeTolerance)
	}
}
