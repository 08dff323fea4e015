package index

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// largestVideo returns a video at the limits: mediamatch.MaxKeyframes keyframes,
// each with every perceptual signal type once (validation allows no more).
func largestVideo(r *rand.Rand) mediamatch.Media {
	m := mediamatch.Media{Kind: mediamatch.KindVideo, Format: "mp4", Duration: mediamatch.MaxKeyframes * time.Second}
	for i := range mediamatch.MaxKeyframes {
		m.Keyframes = append(m.Keyframes, mediamatch.Keyframe{
			Index: i, Start: time.Duration(i) * time.Second, End: time.Duration(i+1) * time.Second,
			Signals: []mediamatch.Signal{pdq(h256(r)), phash(h64(r.Uint64())), dhash(h64(r.Uint64()))},
		})
	}
	return m
}

// TestItemAtLimits adds the largest item the limits allow, directly and by
// import, and reopens the index: the store's transaction limits must not
// refuse an item that validation accepts (a committed import that could
// not apply would fail again at every Open). TestLargestItem covers the
// direct add alone.
func TestItemAtLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 60,000 signals")
	}
	ctx := context.Background()
	dir := t.TempDir()
	ix := openTest(t, dir, Options{})
	mustBank(t, ix, "b")
	r := rand.New(rand.NewPCG(1, 2))
	v1, v2 := largestVideo(r), largestVideo(r)
	if _, err := ix.AddItem(ctx, mediamatch.Item{Bank: "b", ID: "direct", Media: v1}); err != nil {
		t.Fatalf("AddItem(largest) = %v", err)
	}
	im, err := ix.BeginImport(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Add(ctx, ImportRecord{Item: mediamatch.Item{ID: "imported", Media: v2}}); err != nil {
		t.Fatalf("Import.Add(largest) = %v", err)
	}
	if st, err := im.Commit(ctx); err != nil || st.Added != 1 {
		t.Fatalf("Commit = %+v, %v", st, err)
	}
	ix.Close()
	ix = openTest(t, dir, Options{})
	for id, m := range map[string]mediamatch.Media{"direct": v1, "imported": v2} {
		q := Query{Media: mediamatch.Media{Kind: mediamatch.KindImage, Keyframes: []mediamatch.Keyframe{m.Keyframes[mediamatch.MaxKeyframes-1]}}}
		ms, err := ix.Match(ctx, q)
		if err != nil || len(ms) != 1 || ms[0].ItemID != id {
			t.Errorf("Match(last keyframe of %s) = %d matches, %v", id, len(ms), err)
		}
	}
}
