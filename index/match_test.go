package index

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

func TestMatchFilters(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 4))
	ix := openTest(t, "", Options{})
	mustBank(t, ix, "a")
	mustBank(t, ix, "b")
	base := h256(r)          // PDQ
	far := flip(r, base, 32) // distance 32: beyond PDQ's default 31
	pbase := h64(r.Uint64()) // pHash
	pfar := flip(r, pbase, 10)
	md5 := []byte("0123456789abcdef")
	withMD5 := still(phash(h64(r.Uint64())))
	withMD5.FileSignals = []mediamatch.Signal{md5sig(md5)}
	mustAdd(t, ix, mediamatch.Item{Bank: "a", ID: "base", Labels: map[string]string{"entity": "e1"}, Media: still(pdq(base), phash(pbase))})
	mustAdd(t, ix, mediamatch.Item{Bank: "b", ID: "base", Media: still(pdq(base), phash(pbase))})
	mustAdd(t, ix, mediamatch.Item{Bank: "a", ID: "far", Media: still(pdq(far), phash(pfar))})
	mustAdd(t, ix, mediamatch.Item{Bank: "a", ID: "dh", Media: still(dhash(pbase))})
	mustAdd(t, ix, mediamatch.Item{Bank: "b", ID: "md5", Media: withMD5})

	queryMD5 := still(phash(h64(r.Uint64())))
	queryMD5.FileSignals = []mediamatch.Signal{md5sig(md5)}
	all := still(pdq(base), phash(pbase), dhash(pbase))
	pdqAt := func(n int) map[mediamatch.SignalType]int { return map[mediamatch.SignalType]int{mediamatch.PDQ: n} }
	phashAt := func(n int) map[mediamatch.SignalType]int {
		return map[mediamatch.SignalType]int{mediamatch.PHash: n}
	}
	types := func(ts ...mediamatch.SignalType) []mediamatch.SignalType { return ts }

	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"default is pdq", Query{Media: still(pdq(base))}, []string{"a/base", "b/base"}},
		{"default ignores phash", Query{Media: still(phash(pbase))}, nil},
		{"default ignores dhash", Query{Media: still(dhash(pbase))}, nil},
		{"phash selectable", Query{Media: still(phash(pbase)), Signals: types(mediamatch.PHash)}, []string{"a/base", "b/base"}},
		{"pdq and phash", Query{Media: all, Signals: types(mediamatch.PDQ, mediamatch.PHash)}, []string{"a/base", "b/base"}},
		{"bank filter", Query{Media: still(pdq(base)), Banks: []string{"b"}}, []string{"b/base"}},
		{"two banks", Query{Media: still(pdq(base)), Banks: []string{"b", "a"}}, []string{"a/base", "b/base"}},
		{"pdq threshold override", Query{Media: still(pdq(base)), Thresholds: pdqAt(32)}, []string{"a/base", "b/base", "a/far"}},
		{"pdq threshold 31 too tight", Query{Media: still(pdq(base)), Thresholds: pdqAt(31)}, []string{"a/base", "b/base"}},
		{"pdq threshold 0", Query{Media: still(pdq(flip(r, base, 1))), Thresholds: pdqAt(0)}, nil},
		{"phash threshold override", Query{Media: still(phash(pbase)), Signals: types(mediamatch.PHash), Thresholds: phashAt(10)},
			[]string{"a/base", "b/base", "a/far"}},
		{"phash threshold 9 too tight", Query{Media: still(phash(pbase)), Signals: types(mediamatch.PHash), Thresholds: phashAt(9)},
			[]string{"a/base", "b/base"}},
		{"types do not cross", Query{Media: still(dhash(pbase)), Signals: types(mediamatch.DHash, mediamatch.PHash)}, []string{"a/dh"}},
		{"signal filter", Query{Media: all, Signals: types(mediamatch.DHash)}, []string{"a/dh"}},
		{"exact md5 by default", Query{Media: queryMD5}, []string{"b/md5"}},
		{"md5 filtered out", Query{Media: queryMD5, Signals: types(mediamatch.PHash)}, nil},
		{"max results", Query{Media: still(pdq(base)), MaxResults: 1}, []string{"a/base"}},
		{"nothing", Query{Media: still(pdq(flip(r, base, 100)))}, nil},
		{"low-information query frame", Query{Media: mediamatch.Media{Kind: mediamatch.KindImage,
			Keyframes: []mediamatch.Keyframe{{Signals: []mediamatch.Signal{pdq(base)}, LowInformation: true}}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := matchIDs(t, ix, tt.q); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}

	ms, err := ix.Match(ctx, Query{Media: queryMD5})
	if err != nil || len(ms) != 1 {
		t.Fatalf("exact md5 Match = %v, %v; want one match", ms, err)
	}
	if m := ms[0]; m.Signal != mediamatch.MD5 || m.Distance != 0 || m.Threshold != 0 || m.QueryCoverage != 1 || m.ItemCoverage != 1 {
		t.Errorf("exact md5 match = %+v, want md5 at distance 0, coverage 1", m)
	}
	ms, _ = ix.Match(ctx, Query{Media: still(pdq(flip(r, base, 3))), Banks: []string{"a"}})
	want := mediamatch.Match{Bank: "a", ItemID: "base", Labels: map[string]string{"entity": "e1"}, ItemKind: mediamatch.KindImage,
		Signal: mediamatch.PDQ, Distance: 3, Threshold: 31, QueryCoverage: 1, ItemCoverage: 1,
		Frames: []mediamatch.FrameMatch{{Signal: mediamatch.PDQ, Distance: 3}}}
	if len(ms) != 1 || !reflect.DeepEqual(ms[0], want) {
		t.Errorf("pdq image match = %+v, want %+v", ms, want)
	}
	ms, _ = ix.Match(ctx, Query{Media: still(phash(flip(r, pbase, 3))), Banks: []string{"a"}, Signals: types(mediamatch.PHash)})
	want = mediamatch.Match{Bank: "a", ItemID: "base", Labels: map[string]string{"entity": "e1"}, ItemKind: mediamatch.KindImage,
		Signal: mediamatch.PHash, Distance: 3, Threshold: 8, QueryCoverage: 1, ItemCoverage: 1,
		Frames: []mediamatch.FrameMatch{{Signal: mediamatch.PHash, Distance: 3}}}
	if len(ms) != 1 || !reflect.DeepEqual(ms[0], want) {
		t.Errorf("phash image match = %+v, want %+v", ms, want)
	}
	ms[0].Labels["entity"] = "changed" // must not reach the index
	if ms, _ := ix.Match(ctx, Query{Media: still(pdq(base)), Banks: []string{"a"}}); ms[0].Labels["entity"] != "e1" {
		t.Errorf("labels after caller changed a result: got %v, want entity=e1", ms[0].Labels)
	}

	errs := []struct {
		name string
		q    Query
		want error
	}{
		{"threshold over bits", Query{Thresholds: map[mediamatch.SignalType]int{mediamatch.PHash: 65}}, mediamatch.ErrInvalid},
		{"negative threshold", Query{Thresholds: map[mediamatch.SignalType]int{mediamatch.PDQ: -1}}, mediamatch.ErrInvalid},
		{"threshold on exact type", Query{Thresholds: map[mediamatch.SignalType]int{mediamatch.MD5: 0}}, mediamatch.ErrInvalid},
		{"threshold on unknown type", Query{Thresholds: map[mediamatch.SignalType]int{"ahash": 3}}, mediamatch.ErrInvalid},
		{"unknown signal filter", Query{Signals: []mediamatch.SignalType{"ahash"}}, mediamatch.ErrInvalid},
		{"bad query hash", Query{Media: still(phash([]byte{1}))}, mediamatch.ErrInvalid},
		{"negative max results", Query{MaxResults: -1}, mediamatch.ErrInvalid},
		{"malformed bank", Query{Banks: []string{"A"}}, mediamatch.ErrInvalid},
		{"missing bank", Query{Banks: []string{"zzz"}}, mediamatch.ErrNotFound},
	}
	for _, tt := range errs {
		if _, err := ix.Match(ctx, tt.q); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := ix.Match(ctx, Query{Thresholds: map[mediamatch.SignalType]int{mediamatch.PDQ: 256, mediamatch.PHash: 64}}); err != nil {
		t.Errorf("thresholds at bits: got %v, want nil", err)
	}
}

func TestMatchDisableDelete(t *testing.T) {
	ctx := context.Background()
	ix := openTest(t, "", Options{})
	mustBank(t, ix, "a")
	h := h64(0xdeadbeefcafef00d)
	m := still(phash(h), dhash(h))
	m.FileSignals = []mediamatch.Signal{md5sig([]byte("0123456789abcdef"))}
	mustAdd(t, ix, mediamatch.Item{Bank: "a", ID: "x", Media: m})
	q := Query{Media: m}

	steps := []struct {
		name string
		op   func() error
		want []string
	}{
		{"added", func() error { return nil }, []string{"a/x"}},
		{"disabled", func() error {
			_, err := ix.UpdateItem(ctx, "a", "x", mediamatch.ItemUpdate{SetDisabled: true, Disabled: true})
			return err
		}, nil},
		{"disabled twice", func() error {
			_, err := ix.UpdateItem(ctx, "a", "x", mediamatch.ItemUpdate{SetDisabled: true, Disabled: true})
			return err
		}, nil},
		{"labels changed while disabled", func() error {
			_, err := ix.UpdateItem(ctx, "a", "x", mediamatch.ItemUpdate{SetLabels: true, Labels: map[string]string{"k": "v"}})
			return err
		}, nil},
		{"re-enabled", func() error {
			_, err := ix.UpdateItem(ctx, "a", "x", mediamatch.ItemUpdate{SetDisabled: true})
			return err
		}, []string{"a/x"}},
		{"enabled twice", func() error {
			_, err := ix.UpdateItem(ctx, "a", "x", mediamatch.ItemUpdate{SetDisabled: true})
			return err
		}, []string{"a/x"}},
		{"deleted", func() error { return ix.DeleteItem(ctx, "a", "x") }, nil},
		{"re-added", func() error { _, err := ix.AddItem(ctx, mediamatch.Item{Bank: "a", ID: "x", Media: m}); return err }, []string{"a/x"}},
		{"added disabled", func() error {
			_, err := ix.AddItem(ctx, mediamatch.Item{Bank: "a", ID: "y", Disabled: true, Media: m})
			return err
		}, []string{"a/x"}},
	}
	for _, s := range steps {
		if err := s.op(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := matchIDs(t, ix, q); !reflect.DeepEqual(got, s.want) {
			t.Errorf("%s: got %v, want %v", s.name, got, s.want)
		}
		// Exactly one entry per signal of each enabled item: disable and
		// enable must not leak or duplicate entries.
		wantEntries := len(s.want)
		for _, typ := range []mediamatch.SignalType{mediamatch.PHash, mediamatch.DHash} {
			if got := ix.mem.state().entries(typ); got != wantEntries {
				t.Errorf("%s: %s entries = %d, want %d", s.name, typ, got, wantEntries)
			}
		}
		if got := ix.mem.state().entries(mediamatch.MD5); got != wantEntries {
			t.Errorf("%s: md5 entries = %d, want %d", s.name, got, wantEntries)
		}
	}
	if ms, _ := ix.Match(ctx, q); len(ms) != 1 || ms[0].Labels != nil {
		t.Errorf("re-added item labels = %v, want none", ms)
	}
}

func TestMatchVideo(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 6))
	ix := openTest(t, "", Options{})
	mustBank(t, ix, "v")
	var hs [][]byte
	for range 7 {
		hs = append(hs, h64(r.Uint64()))
	}
	// Item: 7 keyframes of 1 s; frame 0 is low-information, so it never
	// matches and the item has 6 informative frames.
	item := video(hs...)
	item.Keyframes[0].LowInformation = true
	mustAdd(t, ix, mediamatch.Item{Bank: "v", ID: "clip", Media: item})

	// Query: 6 keyframes. q0 ~ item 2, q1 ~ item 3, q2 unrelated, q3 ~ item 5
	// and item 6 (it matches two item frames), q4 low-information copy of
	// item 4 (ignored), q5 copy of item 0 (low-information on the item side).
	q := video(flip(r, hs[2], 2), flip(r, hs[3], 1), h64(r.Uint64()), flip(r, hs[5], 3), hs[4], hs[0])
	q.Keyframes[4].LowInformation = true
	// Make item frame 6 close to q3 as well: re-add the item with hs[6] near hs[5].
	hs6 := flip(r, hs[5], 2)
	item.Keyframes[6].Signals = []mediamatch.Signal{phash(hs6)}
	if err := ix.DeleteItem(ctx, "v", "clip"); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, ix, mediamatch.Item{Bank: "v", ID: "clip", Media: item})
	d36 := mediamatch.Distance(q.Keyframes[3].Signals[0].Hash, hs6) // 1..5

	ms, err := ix.Match(ctx, Query{Media: q, Signals: phashOnly(), Thresholds: map[mediamatch.SignalType]int{mediamatch.PHash: 8}})
	if err != nil || len(ms) != 1 {
		t.Fatalf("Match = %+v, %v; want one match", ms, err)
	}
	got := ms[0]
	sec := func(i int) mediamatch.TimeRange {
		return mediamatch.TimeRange{Start: time.Duration(i) * time.Second, End: time.Duration(i+1) * time.Second}
	}
	fm := func(qf, itf, d int) mediamatch.FrameMatch {
		return mediamatch.FrameMatch{QueryFrame: qf, ItemFrame: itf, QueryTime: sec(qf), ItemTime: sec(itf), Signal: mediamatch.PHash, Distance: d}
	}
	wantFrames := []mediamatch.FrameMatch{fm(0, 2, 2), fm(1, 3, 1), fm(3, 5, 3), fm(3, 6, d36)}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Frames", got.Frames, wantFrames},
		{"Signal", got.Signal, mediamatch.PHash},
		{"Distance", got.Distance, 1},
		{"Threshold", got.Threshold, 8},
		{"ItemKind", got.ItemKind, mediamatch.KindVideo},
		{"QueryCoverage", got.QueryCoverage, 3.0 / 5}, // q0, q1, q3 of 5 informative
		{"ItemCoverage", got.ItemCoverage, 4.0 / 6},   // items 2, 3, 5, 6 of 6 informative
		{"QueryRanges", got.QueryRanges, []mediamatch.TimeRange{{Start: 0, End: 2 * time.Second}, sec(3)}},
		{"ItemRanges", got.ItemRanges, []mediamatch.TimeRange{{Start: 2 * time.Second, End: 4 * time.Second}, {Start: 5 * time.Second, End: 7 * time.Second}}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}

	// An image query matching one frame of the video: item ranges only.
	ms, _ = ix.Match(ctx, Query{Media: still(phash(hs[3])), Signals: phashOnly()})
	if len(ms) != 1 || ms[0].QueryRanges != nil || !reflect.DeepEqual(ms[0].ItemRanges, []mediamatch.TimeRange{sec(3)}) {
		t.Errorf("image vs video = %+v, want no query ranges and item range 3s..4s", ms)
	}
	if len(ms) == 1 && (ms[0].QueryCoverage != 1 || ms[0].ItemCoverage != 1.0/6) {
		t.Errorf("image vs video coverage = %v, %v; want 1, 1/6", ms[0].QueryCoverage, ms[0].ItemCoverage)
	}
}

func TestMatchBestSignal(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 8))
	ix := openTest(t, "", Options{})
	mustBank(t, ix, "a")
	p256 := make([]byte, 32)
	for i := range p256 {
		p256[i] = byte(r.Uint32())
	}
	ph := h64(r.Uint64())
	dh := h64(r.Uint64())
	mustAdd(t, ix, mediamatch.Item{Bank: "a", ID: "x", Media: still(pdq(p256), phash(ph), dhash(dh))})

	tests := []struct {
		name       string
		q          mediamatch.Media
		wantSignal mediamatch.SignalType
		wantDist   int
	}{
		// 10/256 < 3/64: PDQ is relatively closer although its distance is larger.
		{"pdq relatively closer", still(pdq(flip(r, p256, 10)), phash(flip(r, ph, 3))), mediamatch.PDQ, 10},
		// 20/256 > 3/64.
		{"phash relatively closer", still(pdq(flip(r, p256, 20)), phash(flip(r, ph, 3))), mediamatch.PHash, 3},
		// 12/256 == 3/64: the lower absolute distance wins.
		{"tie", still(pdq(flip(r, p256, 12)), phash(flip(r, ph, 3))), mediamatch.PHash, 3},
		{"dhash alone", still(dhash(flip(r, dh, 5))), mediamatch.DHash, 5},
	}
	for _, tt := range tests {
		ms, err := ix.Match(ctx, Query{Media: tt.q, Signals: mediamatch.SignalTypes()})
		if err != nil || len(ms) != 1 {
			t.Errorf("%s: Match = %v, %v; want one match", tt.name, ms, err)
			continue
		}
		if m := ms[0]; m.Signal != tt.wantSignal || m.Distance != tt.wantDist || len(m.Frames) != 1 || m.Frames[0].Signal != tt.wantSignal {
			t.Errorf("%s: got %s at %d (frames %+v), want %s at %d", tt.name, m.Signal, m.Distance, m.Frames, tt.wantSignal, tt.wantDist)
		}
	}
}

func TestMatchOrder(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(9, 10))
	ix := openTest(t, "", Options{})
	mustBank(t, ix, "a")
	mustBank(t, ix, "b")
	h := h64(r.Uint64())
	md5 := []byte("fedcba9876543210")
	exact := still(phash(flip(r, h, 7)))
	exact.FileSignals = []mediamatch.Signal{md5sig(md5)}
	other := h64(r.Uint64())
	items := []mediamatch.Item{
		{Bank: "a", ID: "d5", Media: still(phash(flip(r, h, 5)))},
		{Bank: "b", ID: "d2", Media: still(phash(flip(r, h, 2)))},
		{Bank: "a", ID: "d2", Media: still(phash(flip(r, h, 2)))},
		{Bank: "b", ID: "exact", Media: exact},
		// Same distance as d2, but it covers both query frames.
		{Bank: "b", ID: "d2-both", Media: mediamatch.Media{Kind: mediamatch.KindImage, Keyframes: []mediamatch.Keyframe{
			{Index: 0, Signals: []mediamatch.Signal{phash(flip(r, h, 2))}},
			{Index: 1, Signals: []mediamatch.Signal{phash(flip(r, other, 2))}},
		}}},
	}
	for _, it := range items {
		mustAdd(t, ix, it)
	}
	q := mediamatch.Media{Kind: mediamatch.KindImage, FileSignals: []mediamatch.Signal{md5sig(md5)}, Keyframes: []mediamatch.Keyframe{
		{Index: 0, Signals: []mediamatch.Signal{phash(h)}},
		{Index: 1, Signals: []mediamatch.Signal{phash(other)}},
	}}
	qry := Query{Media: q, Signals: []mediamatch.SignalType{mediamatch.PHash, mediamatch.MD5}}
	got := matchIDs(t, ix, qry)
	want := []string{"b/exact", "b/d2-both", "a/d2", "b/d2", "a/d5"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	ms, _ := ix.Match(ctx, qry)
	if len(ms) > 1 && (ms[1].QueryCoverage != 1 || ms[2].QueryCoverage != 0.5) {
		t.Errorf("coverages = %v, %v; want 1, 0.5", ms[1].QueryCoverage, ms[2].QueryCoverage)
	}
}

func TestMergeRanges(t *testing.T) {
	s := time.Second
	tests := []struct {
		in, want []mediamatch.TimeRange
	}{
		{nil, nil},
		{[]mediamatch.TimeRange{{Start: 0, End: s}}, []mediamatch.TimeRange{{Start: 0, End: s}}},
		{[]mediamatch.TimeRange{{Start: 2 * s, End: 3 * s}, {Start: 0, End: s}, {Start: s, End: 2 * s}}, []mediamatch.TimeRange{{Start: 0, End: 3 * s}}},
		{[]mediamatch.TimeRange{{Start: 0, End: s}, {Start: 2 * s, End: 3 * s}}, []mediamatch.TimeRange{{Start: 0, End: s}, {Start: 2 * s, End: 3 * s}}},
		{[]mediamatch.TimeRange{{Start: 0, End: 5 * s}, {Start: s, End: 2 * s}, {Start: 4 * s, End: 6 * s}}, []mediamatch.TimeRange{{Start: 0, End: 6 * s}}},
	}
	for _, tt := range tests {
		in := append([]mediamatch.TimeRange(nil), tt.in...)
		if got := mergeRanges(in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("mergeRanges(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
