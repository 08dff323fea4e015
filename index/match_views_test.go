package index

import (
	"context"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// TestMatchViews: an item's signals of views other than the whole frame
// are stored (GetItem returns them with their views), indexed in the
// views' own structures and matched by any untransformed view of a query;
// a match names the views of both sides, a whole-frame hit is preferred
// at equal distance, and all of it survives a reopen, disabling and
// deleting. A turned query signal never searches the items' other views,
// and a partner item without views leaves the whole-frame structure as it
// was.
func TestMatchViews(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(131, 132))
	dir := t.TempDir()
	ix := openTest(t, dir, Options{})
	mustBank(t, ix, "b")

	whole, bottomCut, crop := h256(r), h256(r), h256(r)
	cutView := mediamatch.View{Region: mediamatch.Region{X0: 0, Y0: 0, X1: 1000, Y1: 800}}
	cropView := mediamatch.View{Region: mediamatch.Region{X0: 50, Y0: 50, X1: 950, Y1: 950}, Trimmed: true}
	view := func(h []byte, v mediamatch.View) mediamatch.Signal { s := pdq(h); s.View = v; return s }
	item := still(pdq(whole), view(bottomCut, cutView), view(crop, cropView))
	mustAdd(t, ix, mediamatch.Item{Bank: "b", ID: "photo", Media: item})
	partner := h256(r)
	mustAdd(t, ix, mediamatch.Item{Bank: "b", ID: "partner", Media: still(pdq(partner))})

	trimmed := mediamatch.View{Region: mediamatch.Region{X0: 0, Y0: 125, X1: 1000, Y1: 875}, Trimmed: true}
	type want struct {
		id           string
		qview, iview mediamatch.View
		dist         int
	}
	cases := []struct {
		name string
		q    mediamatch.Media
		want []want
	}{
		{"whole to whole", still(pdq(flip(r, whole, 3))), []want{{"photo", mediamatch.View{}, mediamatch.View{}, 3}}},
		{"trimmed query to whole item (a padded copy)", still(pdq(h256(r)), view(flip(r, whole, 4), trimmed)),
			[]want{{"photo", trimmed, mediamatch.View{}, 4}}},
		{"query band to item band (a caption)", still(pdq(h256(r)), view(flip(r, bottomCut, 2), cutView)),
			[]want{{"photo", cutView, cutView, 2}}},
		{"whole query to item region (a crop)", still(pdq(flip(r, crop, 5))), []want{{"photo", mediamatch.View{}, cropView, 5}}},
		{"partner item, trimmed query", still(pdq(h256(r)), view(flip(r, partner, 1), trimmed)),
			[]want{{"partner", trimmed, mediamatch.View{}, 1}}},
		{"unrelated", still(pdq(h256(r)), view(h256(r), trimmed)), nil},
		// A turned signal of the query only meets whole frames.
		{"turned query never searches other views", still(pdq(h256(r)), pdqT(flip(r, crop, 1), mediamatch.FlipY)), nil},
	}
	check := func(stage string) {
		t.Helper()
		for _, tc := range cases {
			ms, err := ix.Match(ctx, Query{Media: tc.q})
			if err != nil {
				t.Fatalf("%s: %s: Match = %v", stage, tc.name, err)
			}
			var got []want
			for _, m := range ms {
				got = append(got, want{m.ItemID, m.QueryView, m.ItemView, m.Distance})
				if len(m.Frames) != 1 || m.Frames[0].QueryView != m.QueryView || m.Frames[0].ItemView != m.ItemView {
					t.Errorf("%s: %s: frames %+v, want one with the match's views", stage, tc.name, m.Frames)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s: %s: matches %+v, want %+v", stage, tc.name, got, tc.want)
			}
		}
		// Equal distances: the whole-frame hit is the one reported.
		q := still(pdq(flip(r, whole, 0)), view(whole, trimmed))
		if ms, err := ix.Match(ctx, Query{Media: q}); err != nil || len(ms) != 1 || !ms[0].QueryView.Whole() || !ms[0].ItemView.Whole() {
			t.Errorf("%s: tie: Match = %+v, %v; want the whole-frame hit", stage, ms, err)
		}
		got, err := ix.GetItem(ctx, "b", "photo")
		if err != nil || !reflect.DeepEqual(got.Media.Keyframes, item.Keyframes) {
			t.Errorf("%s: GetItem keyframes = %+v, %v; want %+v", stage, got.Media.Keyframes, err, item.Keyframes)
		}
		st := ix.mem.state()
		if n := st.views[searchKey{mediamatch.PDQ, false}].Len(); n != 2 {
			t.Errorf("%s: whole-frame PDQ entries = %d, want 2", stage, n)
		}
		if n := st.views[searchKey{mediamatch.PDQ, true}].Len(); n != 2 {
			t.Errorf("%s: other-view PDQ entries = %d, want 2", stage, n)
		}
	}
	check("added")
	ix.Close()
	ix = openTest(t, dir, Options{})
	check("reopened")

	if _, err := ix.UpdateItem(ctx, "b", "photo", mediamatch.ItemUpdate{SetDisabled: true, Disabled: true}); err != nil {
		t.Fatal(err)
	}
	if ids := matchIDs(t, ix, Query{Media: still(pdq(flip(r, crop, 1)))}); len(ids) != 0 {
		t.Errorf("disabled: crop matches %v, want none", ids)
	}
	if _, err := ix.UpdateItem(ctx, "b", "photo", mediamatch.ItemUpdate{SetDisabled: true}); err != nil {
		t.Fatal(err)
	}
	if ids := matchIDs(t, ix, Query{Media: still(pdq(flip(r, crop, 1)))}); !reflect.DeepEqual(ids, []string{"b/photo"}) {
		t.Errorf("enabled again: crop matches %v, want b/photo", ids)
	}
	if err := ix.DeleteItem(ctx, "b", "photo"); err != nil {
		t.Fatal(err)
	}
	if n := ix.mem.state().entries(mediamatch.PDQ); n != 1 {
		t.Errorf("after delete: PDQ entries = %d, want 1 (the partner item)", n)
	}
	if n := countKeys(t, ix, keySignal); n != 1 {
		t.Errorf("after delete: signal keys = %d, want 1", n)
	}
}
