package index

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// updateStoreFixture rewrites testdata/store-v1.backup: run it only when
// the fixture must change, since every later build must read the old one.
//
//	go test ./index/ -run TestStoreFixture -update-store-fixture
var updateStoreFixture = flag.Bool("update-store-fixture", false, "rewrite testdata/store-v1.backup from this build")

const storeFixture = "testdata/store-v1.backup"

// fixtureHash returns n deterministic bytes from seed.
func fixtureHash(seed string, n int) []byte {
	var out []byte
	for i := 0; len(out) < n; i++ {
		s := sha256.Sum256([]byte(seed + string(rune('a'+i))))
		out = append(out, s[:]...)
	}
	return out[:n]
}

// fixtureItems are the items of the store fixture: an image with every
// signal type, a video of three keyframes, and a disabled item with labels.
func fixtureItems() []mediamatch.Item {
	sig := func(t mediamatch.SignalType, seed string, q int) mediamatch.Signal {
		return mediamatch.Signal{Type: t, Hash: fixtureHash(seed, t.Bits()/8), Quality: q}
	}
	image := mediamatch.Item{Bank: "fixture", ID: "poster-1", Labels: map[string]string{"entity": "example"},
		Media: mediamatch.Media{Kind: mediamatch.KindImage, Format: "jpeg", Width: 451, Height: 300, Size: 240512,
			FileSignals: []mediamatch.Signal{sig(mediamatch.MD5, "md5", 0), sig(mediamatch.SHA256, "sha", 0)},
			Keyframes: []mediamatch.Keyframe{{Signals: []mediamatch.Signal{
				sig(mediamatch.PDQ, "pdq", 100), sig(mediamatch.PHash, "phash", 0), sig(mediamatch.DHash, "dhash", 0)}}}}}
	var frames []mediamatch.Keyframe
	for i := range 3 {
		frames = append(frames, mediamatch.Keyframe{Index: i, Start: time.Duration(i) * time.Second, End: time.Duration(i+1) * time.Second,
			Signals: []mediamatch.Signal{sig(mediamatch.PDQ, "video"+string(rune('0'+i)), 90)}})
	}
	clip := mediamatch.Item{Bank: "fixture", ID: "clip-1", Labels: map[string]string{"behaviour": "glorification"},
		Media: mediamatch.Media{Kind: mediamatch.KindVideo, Format: "mp4", Width: 640, Height: 360, Duration: 3 * time.Second,
			Size: 1 << 20, Keyframes: frames}}
	off := mediamatch.Item{Bank: "fixture", ID: "retired-1", Labels: map[string]string{"source": "partner-a"}, Disabled: true,
		Media: mediamatch.Media{Kind: mediamatch.KindImage, Format: "png",
			Keyframes: []mediamatch.Keyframe{{Signals: []mediamatch.Signal{sig(mediamatch.PDQ, "retired", 80)}}}}}
	return []mediamatch.Item{image, clip, off}
}

// TestStoreFixture opens a store written by an earlier build (kept as a
// backup file, the portable form of a data dir) with this build: it must
// hold the fixture's items exactly, or be refused with the documented
// "store layout version" message, never misread.
func TestStoreFixture(t *testing.T) {
	if *updateStoreFixture {
		writeStoreFixture(t)
	}
	f, err := os.Open(storeFixture)
	if err != nil {
		t.Fatalf("%v (make it with -update-store-fixture)", err)
	}
	defer f.Close()
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := Restore(dir, f, nil); err != nil {
		t.Fatalf("Restore(%s): %v", storeFixture, err)
	}
	ix, err := Open(dir, Options{})
	if err != nil {
		if strings.Contains(err.Error(), "store layout version") {
			t.Logf("the fixture's layout is refused as documented: %v", err)
			return
		}
		t.Fatalf("Open(fixture) = %v, want the items or a layout version refusal", err)
	}
	defer ix.Close()
	if st := ix.Stats(); st.Items != 3 || st.BankItems["fixture"] != 3 {
		t.Errorf("Stats = %+v, want 3 items in the bank fixture", st)
	}
	for _, want := range fixtureItems() {
		got, err := ix.GetItem(t.Context(), want.Bank, want.ID)
		if err != nil {
			t.Errorf("GetItem(%s): %v", want.ID, err)
			continue
		}
		if got.Disabled != want.Disabled || !mapsEqual(got.Labels, want.Labels) || got.Media.Kind != want.Media.Kind {
			t.Errorf("%s: disabled %v labels %v kind %v; want %v %v %v", want.ID, got.Disabled, got.Labels, got.Media.Kind,
				want.Disabled, want.Labels, want.Media.Kind)
		}
		if !sameSignals(got.Media.FileSignals, want.Media.FileSignals) || len(got.Media.Keyframes) != len(want.Media.Keyframes) {
			t.Errorf("%s: file signals or keyframe count differ: %+v", want.ID, got.Media)
			continue
		}
		for i, k := range want.Media.Keyframes {
			if g := got.Media.Keyframes[i]; !sameSignals(g.Signals, k.Signals) || g.Start != k.Start || g.End != k.End {
				t.Errorf("%s: keyframe %d = %+v, want %+v", want.ID, i, g, k)
			}
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// sameSignals compares type, hash and quality, in any order.
func sameSignals(a, b []mediamatch.Signal) bool {
	key := func(s mediamatch.Signal) string {
		return string(s.Type) + "/" + string(s.Hash) + "/" + string(rune(s.Quality))
	}
	ka, kb := make([]string, len(a)), make([]string, len(b))
	for i, s := range a {
		ka[i] = key(s)
	}
	for i, s := range b {
		kb[i] = key(s)
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}

// writeStoreFixture builds the fixture's store with this build and writes
// its backup to testdata.
func writeStoreFixture(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	ix, err := Open(dir, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if _, err := ix.CreateBank(t.Context(), mediamatch.Bank{Name: "fixture", Description: "store fixture (index/fixture_test.go)"}); err != nil {
		t.Fatal(err)
	}
	for _, it := range fixtureItems() {
		if _, err := ix.AddItem(t.Context(), it); err != nil {
			t.Fatalf("AddItem(%s): %v", it.ID, err)
		}
	}
	var b bytes.Buffer
	if _, err := ix.Backup(t.Context(), &b, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(storeFixture, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", storeFixture, b.Len())
}
