package index

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// TestMatchQuality: a PDQ signal below MinQuality (50) is stored and
// returned by GetItem but never indexed, and a low-quality query signal
// never searches; at 50 exactly both work.
func TestMatchQuality(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(21, 22))
	dir := t.TempDir()
	ix := openTest(t, dir, Options{})
	mustBank(t, ix, "a")
	good, poor, edge := h256(r), h256(r), h256(r)
	if q := mediamatch.PDQ.MinQuality(); q != 50 {
		t.Fatalf("PDQ.MinQuality() = %d, want 50", q)
	}
	low := mediamatch.Item{Bank: "a", ID: "low", Media: still(pdqQ(poor, 49))}
	mustAdd(t, ix, low)
	mustAdd(t, ix, mediamatch.Item{Bank: "a", ID: "good", Media: still(pdqQ(good, 90))})
	mustAdd(t, ix, mediamatch.Item{Bank: "a", ID: "edge", Media: still(pdqQ(edge, 50))})

	check := func(stage string) {
		t.Helper()
		tests := []struct {
			name string
			q    mediamatch.Media
			want []string
		}{
			{"low-quality item is never matched", still(pdq(poor)), nil},
			{"low-quality query never matches", still(pdqQ(good, 49)), nil},
			{"quality 0 query never matches", still(pdqQ(good, 0)), nil},
			{"good query matches good item", still(pdqQ(good, 50)), []string{"a/good"}},
			{"quality 50 item matches", still(pdq(flip(r, edge, 5))), []string{"a/edge"}},
		}
		for _, tt := range tests {
			if got := matchIDs(t, ix, Query{Media: tt.q}); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s: %s: got %v, want %v", stage, tt.name, got, tt.want)
			}
		}
		// Stored and reported all the same.
		got, err := ix.GetItem(ctx, "a", "low")
		if err != nil {
			t.Fatalf("%s: GetItem(low) = %v", stage, err)
		}
		if s := got.Media.Keyframes[0].Signals; len(s) != 1 || s[0].Quality != 49 || !reflect.DeepEqual(s[0].Hash, poor) {
			t.Errorf("%s: GetItem(low) signals = %+v, want the PDQ hash with quality 49", stage, s)
		}
		if n := ix.mem.state().entries(mediamatch.PDQ); n != 2 {
			t.Errorf("%s: PDQ entries = %d, want 2 (good and edge)", stage, n)
		}
	}
	check("added")
	if n := countKeys(t, ix, keySignal); n != 2 {
		t.Errorf("signal keys = %d, want 2: the low-quality signal is never indexed", n)
	}
	ix.Close()
	ix = openTest(t, dir, Options{})
	check("reopened")
	// Delete leaves no key behind.
	for _, id := range []string{"low", "good", "edge"} {
		if err := ix.DeleteItem(ctx, "a", id); err != nil {
			t.Fatal(err)
		}
	}
	if n := countKeys(t, ix, keySignal); n != 0 {
		t.Errorf("signal keys after delete = %d, want 0", n)
	}
}

// TestMatchCoverageTypes: ItemCoverage counts the item keyframes indexed
// for the searched types, so a frame with a low-quality PDQ (but a good
// pHash) is not in the PDQ denominator; it survives a reopen, and
// disabling and enabling.
func TestMatchCoverageTypes(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(23, 24))
	dir := t.TempDir()
	ix := openTest(t, dir, Options{})
	mustBank(t, ix, "v")
	var pd, ph [][]byte
	item := mediamatch.Media{Kind: mediamatch.KindVideo, Format: "mp4", Duration: 4 * time.Second}
	for i := range 4 {
		pd, ph = append(pd, h256(r)), append(ph, h64(r.Uint64()))
		q := 80
		if i == 3 {
			q = 10 // dark frame: PDQ not indexed, pHash is
		}
		item.Keyframes = append(item.Keyframes, mediamatch.Keyframe{
			Index: i, Start: time.Duration(i) * time.Second, End: time.Duration(i+1) * time.Second,
			Signals: []mediamatch.Signal{pdqQ(pd[i], q), phash(ph[i])},
		})
	}
	mustAdd(t, ix, mediamatch.Item{Bank: "v", ID: "clip", Media: item})
	query := mediamatch.Media{Kind: mediamatch.KindImage, Keyframes: []mediamatch.Keyframe{
		{Signals: []mediamatch.Signal{pdq(flip(r, pd[0], 4)), phash(ph[0])}}}}

	check := func(stage string) {
		t.Helper()
		for _, tt := range []struct {
			name    string
			signals []mediamatch.SignalType
			want    float64
		}{
			{"pdq", nil, 1.0 / 3},                           // frames 0..2 have an indexed PDQ
			{"phash", phashOnly(), 1.0 / 4},                 // all four have a pHash
			{"both", mediamatch.SignalTypes(), 1.0 / 4},     // a frame counts once
			{"dhash", []mediamatch.SignalType{"dhash"}, -1}, // no match
		} {
			ms, err := ix.Match(ctx, Query{Media: query, Signals: tt.signals})
			if err != nil {
				t.Fatalf("%s: %s: Match = %v", stage, tt.name, err)
			}
			switch {
			case tt.want < 0 && len(ms) != 0:
				t.Errorf("%s: %s: Match = %+v, want none", stage, tt.name, ms)
			case tt.want >= 0 && (len(ms) != 1 || ms[0].ItemCoverage != tt.want):
				t.Errorf("%s: %s: Match = %+v, want one with ItemCoverage %v", stage, tt.name, ms, tt.want)
			}
		}
	}
	check("added")
	ix.Close()
	ix = openTest(t, dir, Options{})
	check("reopened")
	for _, d := range []bool{true, false} {
		if _, err := ix.UpdateItem(ctx, "v", "clip", mediamatch.ItemUpdate{SetDisabled: true, Disabled: d}); err != nil {
			t.Fatal(err)
		}
	}
	check("disabled and enabled")
}

// TestMatchDihedral: a query's transformed PDQ signals are searched only
// unless Query.Upright, and the match reports how the upload is turned
// relative to the item: the inverse of the transform of the query signal
// that hit.
func TestMatchDihedral(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(25, 26))
	ix := openTest(t, "", Options{})
	mustBank(t, ix, "a")
	orig := h256(r)
	mustAdd(t, ix, mediamatch.Item{Bank: "a", ID: "orig", Media: still(pdq(orig))})

	for tr := mediamatch.Transform(1); tr <= mediamatch.FlipMinus1; tr++ {
		// The upload is the item turned by tr; its own hash is unrelated
		// bits, and its variant tr.Inverse() is close to the item.
		sigs := []mediamatch.Signal{pdq(h256(r))}
		for v := mediamatch.Transform(1); v <= mediamatch.FlipMinus1; v++ {
			h := h256(r)
			if v == tr.Inverse() {
				h = flip(r, orig, 6)
			}
			sigs = append(sigs, pdqT(h, v))
		}
		q := still(sigs...)
		if ms, err := ix.Match(ctx, Query{Media: q, Upright: true}); err != nil || len(ms) != 0 {
			t.Errorf("upload turned %d, Upright: Match = %+v, %v; want no match", tr, ms, err)
		}
		ms, err := ix.Match(ctx, Query{Media: q})
		if err != nil || len(ms) != 1 {
			t.Fatalf("upload turned %d: Match = %+v, %v; want one match", tr, ms, err)
		}
		m := ms[0]
		if m.Transform != tr || m.Distance != 6 || len(m.Frames) != 1 || m.Frames[0].Transform != tr {
			t.Errorf("upload turned %d: match transform %d at %d, frames %+v; want transform %d at 6", tr, m.Transform,
				m.Distance, m.Frames, tr)
		}
	}

	// When the untransformed hash and a variant are equally close, the
	// untransformed one is reported.
	q := still(pdq(flip(r, orig, 3)), pdqT(flip(r, orig, 3), mediamatch.FlipX))
	if ms, _ := ix.Match(ctx, Query{Media: q}); len(ms) != 1 || ms[0].Transform != mediamatch.TransformNone {
		t.Errorf("tie between none and flipx = %+v, want transform none", ms)
	}
	// A closer variant wins over a farther untransformed hit.
	q = still(pdq(flip(r, orig, 20)), pdqT(flip(r, orig, 2), mediamatch.Rotate90))
	if ms, _ := ix.Match(ctx, Query{Media: q}); len(ms) != 1 || ms[0].Transform != mediamatch.Rotate270 || ms[0].Distance != 2 {
		t.Errorf("closer rotate90 variant = %+v, want transform rotate270 (its inverse) at 2", ms)
	}
	// Low-quality variants are ignored like any low-quality signal.
	low := mediamatch.Signal{Type: mediamatch.PDQ, Hash: orig, Quality: 20, Transform: mediamatch.FlipY}
	if ms, _ := ix.Match(ctx, Query{Media: still(pdq(h256(r)), low)}); len(ms) != 0 {
		t.Errorf("low-quality variant = %+v, want no match", ms)
	}
}

// TestTransformValidation: a query keyframe may repeat PDQ with distinct
// transforms; items are refused any transformed signal.
func TestTransformValidation(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(27, 28))
	ix := openTest(t, "", Options{})
	mustBank(t, ix, "a")
	h := h256(r)
	dihedral := []mediamatch.Signal{pdq(h)}
	for v := mediamatch.Transform(1); v <= mediamatch.FlipMinus1; v++ {
		dihedral = append(dihedral, pdqT(h256(r), v))
	}
	dihedral = append(dihedral, phash(h64(1)), dhash(h64(2)))
	if err := mediamatch.ValidateMedia("query.media", still(dihedral...)); err != nil {
		t.Errorf("ValidateMedia(8 PDQ variants, pHash, dHash) = %v, want nil", err)
	}
	fileTransform := still(pdq(h))
	fileTransform.FileSignals = []mediamatch.Signal{{Type: mediamatch.MD5, Hash: make([]byte, 16), Transform: mediamatch.FlipX}}
	for _, tt := range []struct {
		name string
		m    mediamatch.Media
		want string
	}{
		{"same transform twice", still(pdq(h), pdqT(h, mediamatch.FlipX), pdqT(h256(r), mediamatch.FlipX)),
			"query.media.keyframes[0].signals[2].type: pdq repeated with transform 4, want each type and transform at most once"},
		{"untransformed twice", still(pdq(h), pdq(h256(r))), "query.media.keyframes[0].signals[1].type: pdq repeated, want each type at most once"},
		{"transform out of range", still(pdqT(h, 8)), "query.media.keyframes[0].signals[0].transform: pdq transform 8, want 0..7"},
		{"transformed file signal", fileTransform, "query.media.file_signals[0].transform: 4 on a md5 signal, want none"},
	} {
		err := mediamatch.ValidateMedia("query.media", tt.m)
		if !errors.Is(err, mediamatch.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ValidateMedia = %v, want mediamatch.ErrInvalid saying %q", tt.name, err, tt.want)
		}
	}

	// Items: refused, naming the signal; nothing stored.
	_, err := ix.AddItem(ctx, mediamatch.Item{Bank: "a", ID: "turned", Media: still(dihedral...)})
	if !errors.Is(err, mediamatch.ErrInvalid) || !strings.Contains(err.Error(), "item.media.keyframes[0].signals[1].transform: 1 on a pdq signal, want none") {
		t.Errorf("AddItem(transformed signals) = %v, want mediamatch.ErrInvalid naming keyframe 0 signal 1", err)
	}
	if _, err := ix.GetItem(ctx, "a", "turned"); !errors.Is(err, mediamatch.ErrNotFound) {
		t.Errorf("GetItem after refused AddItem = %v, want mediamatch.ErrNotFound", err)
	}
	if err := ix.addItems(ctx, "a", []mediamatch.Item{{Bank: "a", ID: "bulk", Media: still(pdqT(h, mediamatch.Rotate90))}}); !errors.Is(err, mediamatch.ErrInvalid) {
		t.Errorf("addItems(transformed signal) = %v, want mediamatch.ErrInvalid", err)
	}
}
