package eval

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
)

// smallOriginals are the originals of the small evaluation: the project's
// own posters and a few distinct photos of the shared set; the
// distractors are never banked.
func smallOriginals(t *testing.T) []Original {
	t.Helper()
	root := mmtest.ModuleRoot(t)
	shared := mmtest.Shared(t, "media", "images")
	var out []Original
	for _, f := range []struct {
		path       string
		distractor bool
	}{
		{filepath.Join(root, "testdata", "media", "poster.png"), false},
		{filepath.Join(shared, "skimage", "astronaut.png"), false},
		{filepath.Join(shared, "skimage", "coffee.png"), false},
		{filepath.Join(shared, "skimage", "camera.png"), false},
		{filepath.Join(root, "testdata", "media", "other.png"), true},
		{filepath.Join(root, "testdata", "media", "flat.png"), true},
		{filepath.Join(shared, "skimage", "chelsea.png"), true},
	} {
		data, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Original{Name: filepath.Base(f.path), Data: data, Distractor: f.distractor})
	}
	return out
}

// minRight is how many of the 4 banked originals' variants match their
// original today with the default query (rotated and mirrored variants,
// and views), per edit: a floor, so that a change that loses one fails.
// Raise it when matching gets better. Crops are found by local
// features (views do not cover them).
var minRight = map[string]int{
	"original":          4,
	"png":               4,
	"jpeg-q30":          4,
	"resize-50":         4,
	"resize-25":         4,
	"crop-10":           4,
	"crop-25":           4,
	"flip":              4,
	"rotate-90":         4,
	"rotate-180":        4,
	"rotate-270":        4,
	"grey":              4,
	"bright-contrast":   4,
	"dark-contrast":     4,
	"blur":              4,
	"gamma-0.6":         4,
	"gamma-1.6":         4,
	"noise":             4,
	"caption-top":       4,
	"caption-bottom":    4,
	"caption-top-60":    4,
	"caption-bottom-60": 4,
	"logo":              4,
	"pad-16x9-black":    4,
	"pad-16x9-white":    4,
	"pad-16x9-blur":     4,
	"pad-9x16-black":    4,
	"pad-9x16-white":    4,
	"pad-9x16-blur":     4,
	"border":            4,
	"screenshot":        4,
}

// TestEvaluation runs the evaluation on a few originals with every edit
// and holds the default path to today's results: no edit loses a match it
// has (minRight), and no edit of any original matches a wrong item or a
// distractor.
func TestEvaluation(t *testing.T) {
	rep, err := Run(context.Background(), Config{
		Originals: smallOriginals(t), BankShare: 1, Seed: 1, Dir: t.TempDir(), Workers: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.WriteText(&b)
	t.Logf("\n%s", b.String())
	if len(rep.Banked) != 4 {
		t.Fatalf("banked %v, want the 4 originals not marked Distractor", rep.Banked)
	}
	for _, e := range ImageEdits() {
		res, ok := rep.Result(e.Name)
		if !ok {
			t.Errorf("no result for edit %s", e.Name)
			continue
		}
		want, ok := minRight[e.Name]
		if !ok {
			t.Errorf("edit %s has no floor in minRight: add today's count", e.Name)
		}
		if res.Default.Right < want {
			t.Errorf("%s: %d of %d variants matched their original, want at least %d (the floor)", e.Name, res.Default.Right, res.Queries, want)
		}
		if res.Default.Wrong != 0 || res.Default.FalsePositives != 0 {
			t.Errorf("%s: %d wrong items, %d false positives, want none: %v", e.Name, res.Default.Wrong, res.Default.FalsePositives, res.Mistakes)
		}
		if res.Failed != 0 {
			t.Errorf("%s: %d variants not hashed: %v", e.Name, res.Failed, res.Errors)
		}
		if res.LocalUnrelated >= rep.LocalMinPoints {
			t.Errorf("%s: %d local-feature points of a variant agree on a placement in another original, want under %d (a match needs that many)",
				e.Name, res.LocalUnrelated, rep.LocalMinPoints)
		}
		if res.Default.Right < res.Reference.Right {
			t.Errorf("%s: the default query matched %d, fewer than the PDQ reference's %d", e.Name, res.Default.Right, res.Reference.Right)
		}
	}
	for _, e := range []string{"flip", "rotate-90", "rotate-180", "rotate-270"} {
		if res, _ := rep.Result(e); res.Default.Right != res.Queries {
			t.Errorf("%s: matched %d of %d, want all: rotations and mirrors are searched by default", e, res.Default.Right, res.Queries)
		}
	}
	if p := rep.OriginalPairs; p.N == 0 || p.Min <= 31 {
		t.Errorf("every two originals: closest %d bits over %d pairs, want some pairs, all over the threshold 31", p.Min, p.N)
	}
	if rep.LocalMinPoints == 0 || rep.OriginalPairsLocal >= rep.LocalMinPoints {
		t.Errorf("every two originals: %d local-feature points at one placement, want under %d", rep.OriginalPairsLocal, rep.LocalMinPoints)
	}
}
