package fingerprint

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
)

// projectTestdata is the repository's top-level testdata directory, made
// by go run ./testdata/gen.
var projectTestdata = filepath.Join("..", "testdata")

// TestProjectMedia hashes the images of testdata/media (no ffmpeg needed):
// the PNGs hash exactly to the PDQ of testdata/lists/media.pdq.csv, which
// the generator wrote with this package (a change to image hashing shows
// here; remake the fixtures with go run ./testdata/gen and review the
// diff), the JPEG of the same scene is near it, the mirrored copy matches
// only through its flipy variant, and the solid grey image is low
// information.
func TestProjectMedia(t *testing.T) {
	f, err := os.Open(filepath.Join(projectTestdata, "lists", "media.pdq.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := make(map[string]mediamatch.Signal) // by file name
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		s, name, err := mediamatch.ParseHashLine(sc.Text())
		if err != nil {
			t.Fatalf("media.pdq.csv: %v", err)
		}
		listed[name] = s
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	poster, other := listed["poster.png"], listed["other.png"]
	if poster.Hash == nil || other.Hash == nil {
		t.Fatalf("media.pdq.csv lists %v, want poster.png and other.png", listed)
	}

	h := New(Options{})
	hash := func(name string, o HashOptions) mediamatch.Media {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(projectTestdata, "media", name))
		if err != nil {
			t.Fatal(err)
		}
		m, err := h.HashWith(context.Background(), data, o)
		if err != nil {
			t.Fatalf("Hash(%s) = %v", name, err)
		}
		if m.Kind != mediamatch.KindImage || len(m.Keyframes) != 1 {
			t.Fatalf("Hash(%s) = %v with %d keyframes, want an image with 1", name, m.Kind, len(m.Keyframes))
		}
		return m
	}
	pdqOf := func(m mediamatch.Media) mediamatch.Signal {
		s, _ := m.Keyframes[0].Signal(mediamatch.PDQ)
		return s
	}
	threshold := mediamatch.PDQ.DefaultThreshold()

	for _, name := range []string{"poster.png", "other.png"} {
		got := pdqOf(hash(name, HashOptions{}))
		if got.Hex() != listed[name].Hex() || got.Quality != listed[name].Quality {
			t.Errorf("PDQ of %s = %s quality %d, want %s quality %d as listed", name, got.Hex(), got.Quality,
				listed[name].Hex(), listed[name].Quality)
		}
	}
	if d := mediamatch.Distance(poster.Hash, other.Hash); d <= threshold {
		t.Errorf("Distance(poster, other) = %d, want over the threshold %d", d, threshold)
	}
	// Go's image/jpeg and libjpeg-turbo decode the JPEG a little apart, so
	// this is a bound, not an exact hash.
	if d := mediamatch.Distance(pdqOf(hash("poster.jpg", HashOptions{})).Hash, poster.Hash); d > 16 {
		t.Errorf("Distance(poster.jpg, poster.png) = %d, want at most 16", d)
	}

	flipped := hash("poster-flipped.png", HashOptions{Dihedral: true})
	if d := mediamatch.Distance(pdqOf(flipped).Hash, poster.Hash); d <= threshold {
		t.Errorf("Distance(poster-flipped.png, poster.png) = %d untransformed, want over the threshold %d", d, threshold)
	}
	found := false
	for _, s := range flipped.Keyframes[0].Signals {
		if s.Type == mediamatch.PDQ && s.Transform == mediamatch.FlipY {
			found = true
			if d := mediamatch.Distance(s.Hash, poster.Hash); d > threshold {
				t.Errorf("Distance(flipy of poster-flipped.png, poster.png) = %d, want at most %d", d, threshold)
			}
		}
	}
	if !found {
		t.Errorf("Dihedral hash of poster-flipped.png has no flipy variant")
	}

	if k := hash("flat.png", HashOptions{}).Keyframes[0]; !k.LowInformation {
		t.Errorf("flat.png keyframe = %+v, want LowInformation", k)
	}
}

// TestProjectVideo hashes testdata/media/clip.mp4, a second of poster.png
// and a second of other.png in H.264, and compares it with its vPDQ file
// testdata/lists/clip.mp4.txt: two keyframes, one a second, each within a
// few bits of the listed frame (the decoded frames may differ a little
// with the ffmpeg build).
func TestProjectVideo(t *testing.T) {
	ffmpeg := mmtest.FFmpeg(t)
	data, err := os.ReadFile(filepath.Join(projectTestdata, "media", "clip.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	list, err := os.Open(filepath.Join(projectTestdata, "lists", "clip.mp4.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer list.Close()
	want, err := mediamatch.ParseVPDQ(list)
	if err != nil {
		t.Fatalf("clip.mp4.txt: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	m, err := New(Options{FFmpeg: ffmpeg}).Hash(ctx, data)
	if err != nil {
		t.Fatalf("Hash(clip.mp4) = %v", err)
	}
	if m.Kind != mediamatch.KindVideo || len(m.Keyframes) != 2 || len(want.Keyframes) != 2 {
		t.Fatalf("Hash(clip.mp4) = %v with %d keyframes, listed %d; want a video with 2", m.Kind, len(m.Keyframes), len(want.Keyframes))
	}
	for i, k := range m.Keyframes {
		got, _ := k.Signal(mediamatch.PDQ)
		listed, _ := want.Keyframes[i].Signal(mediamatch.PDQ)
		if d := mediamatch.Distance(got.Hash, listed.Hash); d > 8 {
			t.Errorf("keyframe %d: PDQ %s, %d bits from the listed %s; want at most 8", i, got.Hex(), d, listed.Hex())
		}
		if k.Start != want.Keyframes[i].Start {
			t.Errorf("keyframe %d starts at %v, listed at %v", i, k.Start, want.Keyframes[i].Start)
		}
	}
}
