package index

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// cropOf returns the features a crop of a w x h picture with features fs
// would have: those inside the box x0..x1, y0..y1 (thousandths of each
// side), moved into the crop's own units (FeatureUnit of its longer
// side) and found two levels finer (the crop is shown larger), their
// descriptors a few bits off; keep of 4 are found again.
func cropOf(r *rand.Rand, fs []mediamatch.Feature, w, h, x0, y0, x1, y1 int) (out []mediamatch.Feature, cw, ch int) {
	long := max(w, h)
	cw, ch = w*(x1-x0)/1000, h*(y1-y0)/1000
	clong := max(cw, ch)
	for _, f := range fs {
		// pixels of the picture
		px, py := int(f.X)*long/mediamatch.FeatureUnit, int(f.Y)*long/mediamatch.FeatureUnit
		qx, qy := px-w*x0/1000, py-h*y0/1000
		if qx < 8 || qy < 8 || qx >= cw-8 || qy >= ch-8 || r.IntN(4) == 0 {
			continue
		}
		g := f
		g.X, g.Y = uint16(qx*mediamatch.FeatureUnit/clong), uint16(qy*mediamatch.FeatureUnit/clong)
		g.Level = uint8(min(mediamatch.FeatureLevels-1, int(f.Level)+2))
		for range r.IntN(12) {
			p := r.IntN(256)
			g.Desc[p/8] ^= 1 << (p % 8)
		}
		out = append(out, g)
	}
	return out, cw, ch
}

// randFeatures returns n features spread over a w x h picture.
func randFeatures(r *rand.Rand, n, w, h int) []mediamatch.Feature {
	long := max(w, h)
	fs := make([]mediamatch.Feature, n)
	for i := range fs {
		f := &fs[i]
		f.X = uint16(r.IntN(mediamatch.FeatureUnit * w / long))
		f.Y = uint16(r.IntN(mediamatch.FeatureUnit * h / long))
		f.Level = uint8(r.IntN(6))
		for j := range f.Desc {
			f.Desc[j] = byte(r.Uint32())
		}
	}
	return fs
}

// TestLocalFeaturesStoredAndMatched adds image items with local features
// and checks that GetItem returns them, that a crop of one is matched
// through them (Signal local, the verified points, the item's region),
// after a reopen too, and that disabling or deleting the item, or
// naming other signals, takes it out.
func TestLocalFeaturesStoredAndMatched(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ix := openTest(t, dir, Options{})
	mustBank(t, ix, "b")
	r := rand.New(rand.NewPCG(1, 2))
	const w, h = 1000, 750
	var feats [][]mediamatch.Feature
	for i := range 20 {
		m := still(pdq(h256(r)))
		m.Width, m.Height = w, h
		fs := randFeatures(r, 200, w, h)
		m.Keyframes[0].Features = fs
		feats = append(feats, fs)
		if _, err := ix.AddItem(ctx, mediamatch.Item{Bank: "b", ID: string(rune('a' + i)), Media: m}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ix.GetItem(ctx, "b", "c")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Media.Keyframes[0].Features, feats[2]) {
		t.Fatalf("GetItem features differ from those added")
	}

	crop, cw, ch := cropOf(r, feats[2], w, h, 100, 50, 850, 800)
	query := still(pdq(h256(r))) // its PDQ is unrelated: only the features can match
	query.Width, query.Height = cw, ch
	query.Keyframes[0].Features = append(crop, randFeatures(r, 40, cw, ch)...)

	check := func(ix *Index, what string) {
		t.Helper()
		ms, err := ix.Match(ctx, Query{Media: query})
		if err != nil {
			t.Fatalf("%s: Match = %v", what, err)
		}
		if len(ms) != 1 || ms[0].ItemID != "c" {
			t.Fatalf("%s: Match = %+v, want item c alone", what, ms)
		}
		m := ms[0]
		if m.Signal != mediamatch.Local || m.Points < 10 || len(m.Frames) != 1 || m.Frames[0].Points != m.Points {
			t.Fatalf("%s: Match = signal %s, %d points, frames %+v; want local, >= 10 points", what, m.Signal, m.Points, m.Frames)
		}
		// The item region the points span lies within the crop's box.
		rg := m.ItemView.Region
		if rg.X0 < 90 || rg.Y0 < 40 || rg.X1 > 860 || rg.Y1 > 810 || rg.X1-rg.X0 < 500 || rg.Y1-rg.Y0 < 500 {
			t.Errorf("%s: item region %v, want within and most of 100,50-850,800", what, rg)
		}
	}
	check(ix, "fresh")

	// Named signals without local: no match.
	ms, err := ix.Match(ctx, Query{Media: query, Signals: []mediamatch.SignalType{mediamatch.PDQ}})
	if err != nil || len(ms) != 0 {
		t.Fatalf("Match naming pdq only = %+v, %v; want none", ms, err)
	}
	if _, err := ix.Match(ctx, Query{Media: query, Thresholds: map[mediamatch.SignalType]int{mediamatch.Local: 3}}); !errors.Is(err, mediamatch.ErrInvalid) {
		t.Errorf("Match with a local threshold = %v, want ErrInvalid", err)
	}

	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix = openTest(t, dir, Options{})
	check(ix, "reopened")

	if _, err := ix.UpdateItem(ctx, "b", "c", mediamatch.ItemUpdate{Disabled: true, SetDisabled: true}); err != nil {
		t.Fatal(err)
	}
	if ms, err := ix.Match(ctx, Query{Media: query}); err != nil || len(ms) != 0 {
		t.Fatalf("Match of a disabled item = %+v, %v; want none", ms, err)
	}
	if _, err := ix.UpdateItem(ctx, "b", "c", mediamatch.ItemUpdate{SetDisabled: true}); err != nil {
		t.Fatal(err)
	}
	check(ix, "enabled again")
	if err := ix.DeleteItem(ctx, "b", "c"); err != nil {
		t.Fatal(err)
	}
	if ms, err := ix.Match(ctx, Query{Media: query}); err != nil || len(ms) != 0 {
		t.Fatalf("Match of a deleted item = %+v, %v; want none", ms, err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix = openTest(t, dir, Options{})
	if ms, err := ix.Match(ctx, Query{Media: query}); err != nil || len(ms) != 0 {
		t.Fatalf("reopened: Match of a deleted item = %+v, %v; want none", ms, err)
	}
}

// TestLocalUnrelated checks that features of unrelated pictures match
// nothing, however many items there are.
func TestLocalUnrelated(t *testing.T) {
	ctx := context.Background()
	ix := openTest(t, "", Options{})
	mustBank(t, ix, "b")
	r := rand.New(rand.NewPCG(3, 4))
	addStills(t, ix, r, 200, 800, 600, "u%03d")
	for range 50 {
		q := still(pdq(h256(r)))
		q.Width, q.Height = 600, 800
		q.Keyframes[0].Features = randFeatures(r, 256, 600, 800)
		if ms, err := ix.Match(ctx, Query{Media: q}); err != nil || len(ms) != 0 {
			t.Fatalf("Match of unrelated features = %+v, %v; want none", ms, err)
		}
	}
}

func TestFeaturesCodec(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	fs := randFeatures(r, 50, 640, 480)
	w, h, got, err := decodeFeatures(encodeFeatures(640, 480, fs))
	if err != nil || w != 640 || h != 480 || !reflect.DeepEqual(got, fs) {
		t.Fatalf("decodeFeatures(encodeFeatures) = %d, %d, equal %v, %v", w, h, reflect.DeepEqual(got, fs), err)
	}
	for _, bad := range [][]byte{nil, {2}, {1}, {1, 10}, append(encodeFeatures(1, 1, fs[:1]), 0)} {
		if _, _, _, err := decodeFeatures(bad); err == nil {
			t.Errorf("decodeFeatures(%x) succeeded", bad)
		}
	}
	// A media record with features round-trips, and one without stays v1.
	m := still(pdq(h256(r)))
	if encodeMedia(m)[0] != recordV1 {
		t.Errorf("media without views or features: record version %d, want %d", encodeMedia(m)[0], recordV1)
	}
	m.Keyframes[0].Features = fs
	back, err := decodeMedia(encodeMedia(m))
	if err != nil || !reflect.DeepEqual(back.Keyframes[0].Features, fs) {
		t.Fatalf("decodeMedia(encodeMedia) features equal %v, %v", reflect.DeepEqual(back.Keyframes[0].Features, fs), err)
	}
	// A truncated record is an error, not a short list.
	enc := encodeMedia(m)
	if _, err := decodeMedia(enc[:len(enc)-5]); err == nil {
		t.Errorf("decodeMedia of a truncated record succeeded")
	}
}

func TestFeatureBox(t *testing.T) {
	for _, c := range []struct {
		box  [4]int
		w, h int
		want mediamatch.Region
	}{
		{[4]int{0, 0, 4096, 3072}, 1000, 750, mediamatch.Region{}},                                        // whole
		{[4]int{1024, 768, 3072, 2304}, 1000, 750, mediamatch.Region{X0: 250, Y0: 250, X1: 750, Y1: 750}}, // the middle
		{[4]int{0, 1024, 2304, 4096}, 750, 1000, mediamatch.Region{X0: 0, Y0: 250, X1: 750, Y1: 1000}},    // portrait
		{[4]int{0, 0, 10, 10}, 0, 0, mediamatch.Region{}},                                                 // no size
	} {
		if got := featureBox(c.box, c.w, c.h); got != c.want {
			t.Errorf("featureBox(%v, %d, %d) = %v, want %v", c.box, c.w, c.h, got, c.want)
		}
	}
}

func TestFeatureKeys(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	fs := randFeatures(r, 100, 10, 10)
	keys := featureKeys(nil, fs)
	if len(keys) > localTables*len(fs) || len(keys) < localTables*len(fs)*9/10 {
		t.Fatalf("%d keys of %d features, want about %d", len(keys), len(fs), localTables*len(fs))
	}
	for i := 1; i < len(keys); i++ {
		if keys[i] <= keys[i-1] {
			t.Fatalf("keys not sorted and distinct at %d", i)
		}
	}
	// The keys are the sampled bits, in order, below the table number.
	var want []uint32
	for _, f := range fs {
		for tb := range localTables {
			k := uint32(tb) << localKeyBits
			for j, p := range localBits[tb] {
				k |= uint32(f.Desc[p/8]>>(7-p%8)&1) << j
			}
			want = append(want, k)
		}
	}
	slices.Sort(want)
	if want = slices.Compact(want); !reflect.DeepEqual(keys, want) {
		t.Fatalf("featureKeys differs from the sampled bits")
	}
	// A descriptor with bits outside every table's sample keeps its keys.
	g := fs[0]
	sampled := map[int]bool{}
	for _, tb := range localBits {
		for _, p := range tb {
			sampled[int(p)] = true
		}
	}
	for p := range 256 {
		if !sampled[p] {
			g.Desc[p/8] ^= 1 << (7 - p%8)
		}
	}
	if a, b := featureKeys(nil, fs[:1]), featureKeys(nil, []mediamatch.Feature{g}); !reflect.DeepEqual(a, b) {
		t.Errorf("keys changed when only unsampled bits did: %x, %x", a, b)
	}
	g.Desc[localBits[0][0]/8] ^= 1 << (7 - localBits[0][0]%8)
	if a, b := featureKeys(nil, fs[:1]), featureKeys(nil, []mediamatch.Feature{g}); a[0] == b[0] && a[1] == b[1] {
		t.Errorf("keys unchanged when a sampled bit changed")
	}
}

// TestLocalVideo checks that video items keep their local features and
// are found by them only where time corroborates them: a video query
// whose keyframes are crops of the item's, in order, matches; one whose
// keyframes all meet one frame of the item (a continuation of the shot)
// or meet its frames in the reverse order does not. And a video query's
// features find an image item: a still of the video, cropped.
func TestLocalVideo(t *testing.T) {
	ctx := context.Background()
	ix := openTest(t, "", Options{})
	mustBank(t, ix, "b")
	r := rand.New(rand.NewPCG(11, 12))
	const w, h = 1280, 720
	stillFeats := randFeatures(r, 220, w, h)
	img := still(pdq(h256(r)))
	img.Width, img.Height = w, h
	img.Keyframes[0].Features = stillFeats
	if _, err := ix.AddItem(ctx, mediamatch.Item{Bank: "b", ID: "still", Media: img}); err != nil {
		t.Fatal(err)
	}
	vid := video(h256(r)[:8], h256(r)[:8], h256(r)[:8])
	vid.Width, vid.Height = w, h
	for i := range vid.Keyframes {
		vid.Keyframes[i].Features = randFeatures(r, 200, w, h)
	}
	if _, err := ix.AddItem(ctx, mediamatch.Item{Bank: "b", ID: "video", Media: vid}); err != nil {
		t.Fatal(err)
	}
	got, err := ix.GetItem(ctx, "b", "video")
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range got.Media.Keyframes {
		if !reflect.DeepEqual(k.Features, vid.Keyframes[i].Features) {
			t.Errorf("video item keyframe %d keeps %d features, want its %d", i, len(k.Features), len(vid.Keyframes[i].Features))
		}
	}
	// query returns a video whose keyframe j is a crop of the video
	// item's keyframe of[j] (unrelated features for -1), the same crop
	// of each, or if moving, another crop of each (a camera that moved).
	query := func(moving bool, of ...int) mediamatch.Media {
		q := video(h256(r)[:8], h256(r)[:8], h256(r)[:8])
		q.Width, q.Height = w, h
		for j, i := range of {
			q.Keyframes[j].Features = randFeatures(r, 200, w, h)
			x0 := 50
			if moving {
				x0 += 40 * j
			}
			if i >= 0 {
				q.Keyframes[j].Features, _, _ = cropOf(r, vid.Keyframes[i].Features, w, h, x0, 50, x0+850, 950)
			}
		}
		return q
	}
	for _, tc := range []struct {
		of     []int
		moving bool
		want   bool
	}{
		{[]int{0, 1, 2}, false, true},
		{[]int{-1, 1, 2}, false, true},
		{[]int{0, -1, 2}, false, true}, // two seconds apart: at the same offset
		{[]int{0, 0, 0}, false, false}, // every frame meets one: a shot continued
		{[]int{-1, -1, 1}, false, false},
		{[]int{2, 1, 0}, false, false}, // backwards
		{[]int{1, 0, -1}, false, false},
		{[]int{0, 1, 2}, true, false}, // in order, but placed as a moving camera's
	} {
		ms, err := ix.Match(ctx, Query{Media: query(tc.moving, tc.of...)})
		if err != nil {
			t.Fatal(err)
		}
		found := len(ms) == 1 && ms[0].ItemID == "video" && ms[0].Signal == mediamatch.Local
		if found != tc.want || len(ms) > 1 || (len(ms) == 1 && !found) {
			t.Errorf("query of item frames %v (moving %v): Match = %+v, want the video by local features: %v", tc.of, tc.moving, ms, tc.want)
		}
		if found {
			for _, f := range ms[0].Frames {
				if tc.of[f.QueryFrame] != f.ItemFrame {
					t.Errorf("query of item frames %v: query frame %d matched item frame %d", tc.of, f.QueryFrame, f.ItemFrame)
				}
			}
		}
	}
	// Past the work bound, local hits count as lone: fewer matches,
	// never more.
	defer func(w int) { corroborationWork = w }(corroborationWork)
	corroborationWork = 1
	if ms, err := ix.Match(ctx, Query{Media: query(false, 0, 1, 2)}); err != nil || len(ms) != 0 {
		t.Errorf("Match past the corroboration work bound = %+v, %v; want none", ms, err)
	}
	corroborationWork = 1 << 20
	// An image that is a crop of one of the video's frames does not
	// match it by local features: one frame cannot tell a copy from
	// another shot of the scene.
	img2 := still(pdq(h256(r)))
	img2.Width, img2.Height = w, h
	img2.Keyframes[0].Features, _, _ = cropOf(r, vid.Keyframes[1].Features, w, h, 50, 50, 900, 950)
	if ms, err := ix.Match(ctx, Query{Media: img2}); err != nil || len(ms) != 0 {
		t.Errorf("Match of a crop of a video frame as an image = %+v, %v; want none", ms, err)
	}
	// A video whose second keyframe is a crop of the still matches it:
	// one frame is enough between a video and an image.
	q := query(false, -1, -1, -1)
	q.Keyframes[1].Features, _, _ = cropOf(r, stillFeats, w, h, 50, 50, 900, 950)
	ms, err := ix.Match(ctx, Query{Media: q})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].ItemID != "still" || ms[0].Signal != mediamatch.Local || ms[0].Frames[0].QueryFrame != 1 {
		t.Fatalf("Match = %+v, want the still alone, by local features, from query keyframe 1", ms)
	}
}

// TestLocalPageBytes checks that ListItems counts local features against
// Options.MaxPageBytes: 9 KB of features an item fill a 64 KB page in
// fewer than 10 items.
func TestLocalPageBytes(t *testing.T) {
	ctx := context.Background()
	ix := openTest(t, "", Options{MaxPageBytes: 64 << 10})
	mustBank(t, ix, "b")
	r := rand.New(rand.NewPCG(13, 14))
	addStills(t, ix, r, 20, 100, 100, "i%02d")
	items, next, err := ix.ListItems(ctx, "b", 100, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) >= 10 || next == "" {
		t.Fatalf("ListItems returned %d items (next %q), want fewer than 10 and a next page: features count against the page bytes", len(items), next)
	}
}

// TestDistRow checks distRow with each kernel the CPU runs (assembly on
// amd64) against distRowGo on random descriptors and on copies of some
// (ties, for the first nearest of rows and of columns).
func TestDistRow(t *testing.T) {
	defer func(k string) { distRowKernel = k }(distRowKernel)
	t.Logf("kernels: %v", distRowKernels())
	for _, k := range distRowKernels() {
		distRowKernel = k
		t.Run(k, testDistRow)
	}
}

func testDistRow(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{0, 1, 7, 8, 15, 16, 256, 300} {
		it := words(randFeatures(r, n, 4, 3))
		q := words(randFeatures(r, 64, 4, 3))
		for i := range q {
			if n > 0 && i%3 == 0 {
				q[i] = it[r.IntN(n)]
				q[i][r.IntN(4)] ^= 1 << r.IntN(64)
			}
		}
		var cols [2][2][]int32
		for k := range cols {
			cols[k] = [2][]int32{make([]int32, n), make([]int32, n)}
			for j := range n {
				cols[k][0][j] = math.MaxInt32
			}
		}
		rowA, rowB := make([]int32, n), make([]int32, n)
		for a := range q {
			b1, a1, s1, j1 := distRow(&q[a], it, rowA, cols[0][0], cols[0][1], int32(a))
			b2, a2, s2, j2 := distRowGo(&q[a], it, rowB, cols[1][0], cols[1][1], int32(a))
			if b1 != b2 || a1 != a2 || s1 != s2 || j1 != j2 || !slices.Equal(rowA, rowB) {
				t.Fatalf("n %d row %d: distRow = %d at %d, %d at %d; distRowGo = %d at %d, %d at %d (rows equal: %v)",
					n, a, b1, a1, s1, j1, b2, a2, s2, j2, slices.Equal(rowA, rowB))
			}
			// The first nearest and the nearest of the others, as a
			// scan of the row finds them.
			w1, v1, w2 := int32(math.MaxInt32), int32(-1), int32(math.MaxInt32)
			for j, d := range rowB {
				if d < w1 {
					w1, v1 = d, int32(j)
				}
			}
			for j, d := range rowB {
				if int32(j) != v1 {
					w2 = min(w2, d)
				}
			}
			if b1 != w1 || a1 != v1 || s1 != w2 || (j1 >= 0 && rowB[j1] != w2) {
				t.Fatalf("n %d row %d: distRow = %d at %d, %d at %d; want %d at %d, %d", n, a, b1, a1, s1, j1, w1, v1, w2)
			}
		}
		if !reflect.DeepEqual(cols[0], cols[1]) {
			t.Fatalf("n %d: columns differ", n)
		}
	}
}

// addStills adds to bank "b" of ix n image items of w x h pixels, with a
// random PDQ and 256 random local features each, named by format and
// their number.
func addStills(t *testing.T, ix *Index, r *rand.Rand, n, w, h int, format string) {
	t.Helper()
	for i := range n {
		m := still(pdq(h256(r)))
		m.Width, m.Height = w, h
		m.Keyframes[0].Features = randFeatures(r, 256, w, h)
		if _, err := ix.AddItem(context.Background(), mediamatch.Item{Bank: "b", ID: fmt.Sprintf(format, i), Media: m}); err != nil {
			t.Fatal(err)
		}
	}
}
