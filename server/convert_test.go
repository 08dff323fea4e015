package server

import (
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// TestVisibleMatchesLocal: callers below curator see that a local hit
// matched and where, but neither its mean distance nor its number of
// points, which move with closeness as a distance does; curators see
// both, and the caller's copy never changes the index's matches.
func TestVisibleMatchesLocal(t *testing.T) {
	region := mediamatch.View{Region: mediamatch.Region{X0: 100, Y0: 50, X1: 900, Y1: 950}}
	ms := []mediamatch.Match{
		{Bank: "tve", ItemID: "b", Signal: mediamatch.Local, Distance: 41, Points: 37, ItemView: region,
			Frames: []mediamatch.FrameMatch{{Signal: mediamatch.Local, Distance: 41, Points: 37, ItemView: region}}},
		{Bank: "tve", ItemID: "a", Signal: mediamatch.PDQ, Distance: 3,
			Frames: []mediamatch.FrameMatch{{Signal: mediamatch.PDQ, Distance: 3}}},
	}
	if got := visibleMatches(ms, true); got[0].Points != 37 || got[0].Frames[0].Points != 37 || got[0].Distance != 41 {
		t.Errorf("visibleMatches(full) = %+v, want points 37 and distance 41", got[0])
	}
	got := visibleMatches(ms, false)
	if len(got) != 2 || got[0].ItemID != "a" || got[1].ItemID != "b" {
		t.Fatalf("visibleMatches(not full) = %+v, want a then b", got)
	}
	if a := got[0]; a.Points != 0 || a.Frames[0].Points != 0 {
		t.Errorf("pdq match points = %d, frame %d; want 0 (no local hit, nothing to withhold)", a.Points, a.Frames[0].Points)
	}
	b := got[1]
	if b.Points != -1 || b.Distance != -1 || b.Frames[0].Points != -1 || b.Frames[0].Distance != -1 {
		t.Errorf("local match = points %d distance %d, frame points %d distance %d; want all -1 (withheld)",
			b.Points, b.Distance, b.Frames[0].Points, b.Frames[0].Distance)
	}
	if b.ItemView != region || b.Frames[0].ItemView != region {
		t.Errorf("local match views = %v, frame %v; want the item region %v kept", b.ItemView, b.Frames[0].ItemView, region)
	}
	if ms[0].Points != 37 || ms[0].Frames[0].Points != 37 {
		t.Errorf("visibleMatches changed the matches it was given: %+v", ms[0])
	}
}
