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

// makeTestImage has ffmpeg draw one frame of a lavfi source as a PNG at
// out and returns its bytes.
func makeTestImage(t *testing.T, ffmpeg, out, source string) []byte {
	t.Helper()
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source, "-frames:v", "1", out}
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
// scenes (the project's two posters and a cellular automaton, 2 s each), banked, and a distractor
// (ffmpeg's moving test pattern), with the edits that match today: each
// variant of the clip matches it, over the span of the clip it shows
// (within RangeTolerance), and nothing matches the distractor's. Both
// directions between videos and images are held too: a frame of the clip,
// as a PNG and as a JPEG, matches the clip; a photo banked beside it (a
// Mandelbrot set drawn by ffmpeg) matches itself and not the clip, and a
// 5 s video of it matches the photo; an unrelated photo (a Sierpinski
// carpet) and its video match nothing.
func TestVideoEvaluation(t *testing.T) {
	ffmpeg := mmtest.FFmpeg(t)
	media := filepath.Join(mmtest.ModuleRoot(t), "testdata", "media")
	tmp := t.TempDir()
	// The third scene is a still of ffmpeg's cellular automaton, not the
	// mirrored poster: rotations and mirrors are matched by default, so a
	// frame of a mirrored poster scene would match the poster's too.
	third := filepath.Join(tmp, "cells.png")
	makeTestImage(t, ffmpeg, third, "cellauto=s=192x144:rule=110:seed=3:random_fill_ratio=0.5:scroll=0")
	clip := makeTestVideo(t, ffmpeg, filepath.Join(tmp, "scenes.mp4"),
		"-loop", "1", "-framerate", "10", "-t", "2", "-i", filepath.Join(media, "poster.png"),
		"-loop", "1", "-framerate", "10", "-t", "2", "-i", filepath.Join(media, "other.png"),
		"-loop", "1", "-framerate", "10", "-t", "2", "-i", third,
		"-filter_complex", "[0:v][1:v][2:v]concat=n=3:v=1:a=0[v]", "-map", "[v]")
	pattern := makeTestVideo(t, ffmpeg, filepath.Join(tmp, "pattern.mp4"),
		"-f", "lavfi", "-i", "testsrc2=s=192x144:r=10:d=4")

	photo := makeTestImage(t, ffmpeg, filepath.Join(tmp, "mandelbrot.png"), "mandelbrot=s=192x144")
	unrelated := makeTestImage(t, ffmpeg, filepath.Join(tmp, "sierpinski.png"), "sierpinski=s=192x144:seed=1")

	want := []string{"original", "reencode-low", "360p", "grey", "trim", "crop-10", "reframe-9x16", "frame", "frame-jpeg"}
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
		Hasher:     fingerprint.New(fingerprint.Options{FFmpeg: ffmpeg}),
		Stills:     []Original{{Name: "mandelbrot.png", Data: photo}, {Name: "sierpinski.png", Data: unrelated, Distractor: true}},
		StillEdits: slices.DeleteFunc(StillEdits(), func(e VideoEdit) bool { return e.Name == "still-letterbox" }),
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
	if !slices.Equal(rep.BankedStills, []string{"mandelbrot.png"}) {
		t.Fatalf("banked photos %v, want [mandelbrot.png]", rep.BankedStills)
	}
	for _, name := range []string{"frame", "frame-jpeg"} {
		if res, _ := rep.Result(name); len(res.Ranges) != 1 || !strings.Contains(res.Ranges[0], "(in range)") {
			t.Errorf("%s: ranges %q, want the frame's moment in range", name, res.Ranges)
		}
	}
	// The letterboxed video of the photo (still-letterbox) is left out:
	// the photo's item is hashed whole and the video's frames with their
	// bars, so it does not match until frames are also hashed without them.
	for _, name := range []string{"photo", "still-video"} {
		var res VideoResult
		for _, r := range rep.StillResults {
			if r.Edit == name {
				res = r
			}
		}
		if res.Edit != name {
			t.Errorf("no result for still edit %s", name)
			continue
		}
		if res.Failed != 0 {
			t.Errorf("%s: %d variants not made or hashed: %v", name, res.Failed, res.Errors)
		}
		if res.Default.Right != 1 {
			t.Errorf("%s: matched %d of 1, want the photo's item: %v", name, res.Default.Right, res.Ranges)
		}
		if res.Default.Wrong != 0 || res.Default.FalsePositives != 0 || res.Upright.Wrong != 0 || res.Upright.FalsePositives != 0 {
			t.Errorf("%s: %d wrong items, %d false positives (upright %d, %d), want none: %v", name,
				res.Default.Wrong, res.Default.FalsePositives, res.Upright.Wrong, res.Upright.FalsePositives, res.Mistakes)
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
	frames := func(rs ...mediamatch.TimeRange) []mediamatch.FrameMatch {
		var fs []mediamatch.FrameMatch
		for _, r := range rs {
			fs = append(fs, mediamatch.FrameMatch{ItemTime: r})
		}
		return fs
	}
	for _, tc := range []struct {
		name   string
		frames []mediamatch.FrameMatch
		shown  mediamatch.TimeRange
		want   bool
	}{
		{"no frames", nil, sec(0, 10), false},
		{"ends near", frames(sec(3, 4), sec(1, 2), sec(11, 12)), sec(0, 10), true},
		{"start too late", frames(sec(3, 4), sec(9, 10)), sec(0, 10), false},
		{"end too early", frames(sec(0, 1), sec(6, 7)), sec(0, 10), false},
		{"a long keyframe covers the shown start", frames(sec(0, 10), sec(10, 11)), sec(8, 11), true},
		{"a long keyframe covers a frame", frames(sec(2, 9)), sec(6, 6), true},
		{"a frame far from its keyframe", frames(sec(2, 3)), sec(6, 6), false},
	} {
		if got := inRange(tc.frames, tc.shown); got != tc.want {
			t.Errorf("%s: inRange(%v, %v) = %v, want %v", tc.name, tc.frames, tc.shown, got, tc.want)
		}
	}
}
