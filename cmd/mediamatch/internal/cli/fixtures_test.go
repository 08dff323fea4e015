package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestProjectFixtures runs the command line on the project's testdata
// against a real server: the partner lists of testdata/lists go in with
// add --hashes and add --vpdq, and the media of testdata/media match them.
// It needs neither ffmpeg nor the shared media set: the video item comes
// from its vPDQ file.
func TestProjectFixtures(t *testing.T) {
	testdata := filepath.Join("..", "..", "..", "..", "testdata")
	media := func(name string) string { return filepath.Join(testdata, "media", name) }
	addr := startServer(t)
	must := func(args ...string) string { t.Helper(); return mustRun(t, addr, args...) }
	must("bank", "create", "fixtures")

	out := must("add", "--bank", "fixtures", "--label", "source=testdata", "--hashes", filepath.Join(testdata, "lists", "media.pdq.csv"))
	for _, want := range []string{"added fixtures/poster.png", "added fixtures/other.png", "added 2 items"} {
		if !strings.Contains(out, want) {
			t.Errorf("add --hashes media.pdq.csv = %q, want %q", out, want)
		}
	}
	out = must("add", "--bank", "fixtures", "--vpdq", filepath.Join(testdata, "lists", "clip.mp4.txt"))
	if !strings.Contains(out, "added fixtures/clip.mp4") {
		t.Errorf("add --vpdq clip.mp4.txt = %q, want fixtures/clip.mp4 added", out)
	}

	tests := []struct {
		args      []string
		want, not []string
	}{
		// The listed hash is this file's: distance 0, and the clip's first
		// second is the same scene.
		{[]string{"match", media("poster.png")}, []string{"fixtures/poster.png  pdq distance 0 (threshold 31)", "fixtures/clip.mp4  pdq distance"},
			[]string{"fixtures/other.png"}},
		{[]string{"match", media("poster.jpg")}, []string{"fixtures/poster.png  pdq distance"}, []string{"fixtures/other.png"}},
		{[]string{"match", "--local-hash", media("other.png")}, []string{"fixtures/other.png  pdq distance 0", "fixtures/clip.mp4"},
			[]string{"fixtures/poster.png"}},
		// Mirrored: found only by its flipy variant, which --upright leaves out.
		{[]string{"match", "--upright", media("poster-flipped.png")}, []string{"no match"}, []string{"fixtures/"}},
		{[]string{"match", media("poster-flipped.png")}, []string{"fixtures/poster.png  pdq distance", "transform flipy"}, nil},
		{[]string{"match", media("flat.png")}, []string{"no match"}, []string{"fixtures/"}},
	}
	for _, tt := range tests {
		out := must(tt.args...)
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s = %q, want %q", strings.Join(tt.args, " "), out, w)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(out, n) {
				t.Errorf("%s = %q, want no %q", strings.Join(tt.args, " "), out, n)
			}
		}
	}
}
