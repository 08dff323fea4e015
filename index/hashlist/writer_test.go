package hashlist

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// The items the writer tests write: an image with every kind of signal and
// label, a video hashed by mediamatch (one low-information keyframe), and
// an image with only an MD5 and no Source.
func imgItem() mediamatch.Item {
	return mediamatch.Item{Bank: "gifct", ID: "img-1",
		Labels: map[string]string{"category": "terrorism", "filename": "flag.jpg", "status": "MALICIOUS", "share_level": "AMBER",
			"confidence": "75", "first_descriptor_id": "990001", "tag:behaviour:glorification": ""},
		Media: mediamatch.Media{Kind: mediamatch.KindImage, Format: "jpeg", Width: 640, Height: 480, Size: 48213,
			FileSignals: []mediamatch.Signal{sig(mediamatch.MD5, m4, 0), sig(mediamatch.SHA256, s1, 0)},
			Keyframes: []mediamatch.Keyframe{{Signals: []mediamatch.Signal{sig(mediamatch.PDQ, p1, 93), sig(mediamatch.PHash, ph, 0)},
				Features: feats(3, 1)}}},
		CreateTime: iso("2024-08-01T10:00:00.123456789Z"), UpdateTime: iso("2024-08-02T10:00:00Z"),
		Source: src("te-updates", "GIFCT Member A", "3012345678901234", []string{"behaviour:glorification"},
			unix(1700000000), unix(1730000000))}
}

func vidItem() mediamatch.Item {
	return mediamatch.Item{Bank: "gifct", ID: "vid-1", Labels: map[string]string{"category": "terrorism"}, Disabled: true,
		Media: mediamatch.Media{Kind: mediamatch.KindVideo, Format: "mp4", Width: 1280, Height: 720, Size: 1234567,
			Duration:    3 * time.Second,
			FileSignals: []mediamatch.Signal{sig(mediamatch.MD5, m1, 0)},
			Keyframes: []mediamatch.Keyframe{
				{Index: 0, End: time.Second, Signals: []mediamatch.Signal{sig(mediamatch.PDQ, p3, 100)}, Features: feats(2, 7)},
				{Index: 30, Start: time.Second, End: 2 * time.Second, LowInformation: true,
					Signals: []mediamatch.Signal{sig(mediamatch.PDQ, zero, 0)}},
				{Index: 60, Start: 2 * time.Second, End: 3 * time.Second, Signals: []mediamatch.Signal{sig(mediamatch.PDQ, p4, 80)}},
			}},
		Source: src("jsonl", "GIFCT Member B", "", []string{"media_type_video"}, time.Time{}, unix(1730000100))}
}

func md5Item() mediamatch.Item {
	return mediamatch.Item{ID: "md5-only", Labels: map[string]string{"category": "instruction", "tag:manual": ""},
		Media: mediamatch.Media{Kind: mediamatch.KindImage, FileSignals: []mediamatch.Signal{sig(mediamatch.MD5, m2, 0)}}}
}

// feats returns n local features, distinct for each seed: what an item
// hashed from media has (jsonl keeps them; no partner format does).
func feats(n int, seed byte) []mediamatch.Feature {
	fs := make([]mediamatch.Feature, n)
	for i := range fs {
		f := &fs[i]
		f.X, f.Y, f.Level = uint16(4096-i*1000), uint16(100*i+int(seed)), uint8(i+int(seed))%mediamatch.FeatureLevels
		for j := range f.Desc {
			f.Desc[j] = seed*17 + byte(i*32+j)
		}
	}
	return fs
}

// withoutFeatures returns a copy of ks without their local features.
func withoutFeatures(ks []mediamatch.Keyframe) []mediamatch.Keyframe {
	ks = slices.Clone(ks)
	for i := range ks {
		ks[i].Features = nil
	}
	return ks
}

// vpdqVidID is the id read back from vidItem written as vPDQ.
func vpdqVidID() string {
	sum := sha256.Sum256([]byte("0,100," + p3 + ",0.000\n30,0," + zero + ",1.000\n60,80," + p4 + ",2.000\n"))
	return "vpdq-" + hex.EncodeToString(sum[:16])
}

// roundTripCase is a list written in one format, and the records that
// reading it back must give, written out by hand (not by the writer).
type roundTripCase struct {
	f          Format
	items      []mediamatch.Item
	deletes    []string // written with WriteDelete after the items
	unwritable []int    // the items whose Write fails with ErrNotRepresentable
	opts       ReaderOptions
	want       []Record // Line is not compared
}

// roundTripCases are the lists of TestRoundTrip; the first case of each
// format is also what TestGolden writes.
func roundTripCases() []roundTripCase {
	pdq := func(h string, q int) mediamatch.Signal { return sig(mediamatch.PDQ, h, q) }
	md5 := func(h string) mediamatch.Signal { return sig(mediamatch.MD5, h, 0) }
	vt := map[string]string{"tag:media_type_video": ""}
	vtags := []string{"media_type_video"}
	vidKeyframes := withoutFeatures(vidItem().Media.Keyframes)
	return []roundTripCase{{
		f: JSONL, items: []mediamatch.Item{imgItem(), vidItem(), md5Item()}, deletes: []string{"gone-1"},
		want: []Record{{Item: imgItem()}, {Item: vidItem()}, {Item: md5Item()}, {Delete: true, Item: mediamatch.Item{ID: "gone-1"}}},
	}, {
		f: Lines, items: []mediamatch.Item{imgItem(), vidItem(), md5Item()},
		want: []Record{
			rec(0, "pdq-"+p1, nil, image(pdq(p1, 100)), src("lines", "", "", nil)),
			rec(0, "phash-"+ph, nil, image(sig(mediamatch.PHash, ph, 0)), src("lines", "", "", nil)),
			rec(0, "md5-"+m4, nil, image(md5(m4)), src("lines", "", "", nil)),
			rec(0, "sha256-"+s1, nil, image(sig(mediamatch.SHA256, s1, 0)), src("lines", "", "", nil)),
			rec(0, "pdq-"+p3, nil, image(pdq(p3, 100)), src("lines", "", "", nil)),
			rec(0, "pdq-"+p4, nil, image(pdq(p4, 100)), src("lines", "", "", nil)),
			rec(0, "md5-"+m1, nil, video(md5(m1)), src("lines", "", "", nil)),
			rec(0, "md5-"+m2, nil, image(md5(m2)), src("lines", "", "", nil)),
		},
	}, {
		f: PDQRef, items: []mediamatch.Item{imgItem(), vidItem(), md5Item()}, unwritable: []int{2},
		want: []Record{
			rec(0, "pdq-"+p1, map[string]string{"filename": "flag.jpg"}, image(pdq(p1, 93)), src("pdq", "", "", nil)),
			rec(0, "pdq-"+p3, nil, image(pdq(p3, 100)), src("pdq", "", "", nil)),
			rec(0, "pdq-"+p4, nil, image(pdq(p4, 80)), src("pdq", "", "", nil)),
		},
	}, {
		f: TECSV, items: []mediamatch.Item{imgItem(), vidItem(), md5Item()},
		want: func() []Record {
			a := map[string]string{"collab": "GIFCT Member A", "category": "terrorism", "tag:behaviour:glorification": ""}
			aSrc := src("te-csv", "GIFCT Member A", "", []string{"behaviour:glorification"})
			b := map[string]string{"collab": "GIFCT Member B", "category": "terrorism", "tag:media_type_video": ""}
			bSrc := src("te-csv", "GIFCT Member B", "", vtags)
			return []Record{
				rec(0, "pdq-"+p1, a, image(pdq(p1, 100)), aSrc),
				rec(0, "md5-"+m4, a, image(md5(m4)), aSrc),
				rec(0, "pdq-"+p3, b, video(pdq(p3, 100)), bSrc),
				rec(0, "pdq-"+p4, b, video(pdq(p4, 100)), bSrc),
				rec(0, "md5-"+m1, b, video(md5(m1)), bSrc),
				rec(0, "md5-"+m2, map[string]string{"category": "instruction", "tag:manual": ""}, image(md5(m2)),
					src("te-csv", "", "", []string{"manual"})),
			}
		}(),
	}, {
		f: TESimple, items: []mediamatch.Item{imgItem(), vidItem(), md5Item()},
		want: []Record{
			rec(0, "img-1", map[string]string{"first_descriptor_id": "990001", "tag:behaviour:glorification": ""}, image(pdq(p1, 100)),
				src("te-simple", "", "img-1", []string{"behaviour:glorification"}, unix(1700000000))),
			rec(0, "vid-1", vt, video(md5(m1)), src("te-simple", "", "vid-1", vtags)),
			rec(0, "md5-only", map[string]string{"tag:manual": ""}, image(md5(m2)), src("te-simple", "", "md5-only", []string{"manual"})),
		},
	}, {
		f: TEUpdates, items: []mediamatch.Item{imgItem(), vidItem(), md5Item()}, deletes: []string{"gone-1"},
		want: []Record{
			rec(0, "img-1", map[string]string{"confidence": "75", "status": "MALICIOUS", "share_level": "AMBER",
				"tag:behaviour:glorification": ""}, image(pdq(p1, 100)),
				src("te-updates", "GIFCT Member A", "img-1", []string{"behaviour:glorification"}, unix(1700000000), unix(1730000000))),
			rec(0, "vid-1", vt, video(md5(m1)), src("te-updates", "GIFCT Member B", "vid-1", vtags, time.Time{}, unix(1730000100))),
			rec(0, "md5-only", map[string]string{"tag:manual": ""}, image(md5(m2)), src("te-updates", "", "md5-only", []string{"manual"})),
			del(0, "gone-1", src("te-updates", "", "gone-1", nil)),
		},
	}, {
		f: VPDQ, items: []mediamatch.Item{imgItem(), vidItem(), vidItem()}, unwritable: []int{0, 2},
		want: []Record{{Item: mediamatch.Item{ID: vpdqVidID(), Source: src("vpdq", "", "", nil),
			Media: mediamatch.Media{Kind: mediamatch.KindVideo, Duration: 3 * time.Second, Keyframes: vidKeyframes}}}},
	}, {
		f: VPDQ, items: []mediamatch.Item{vidItem()}, opts: ReaderOptions{ID: "vid-1"},
		want: []Record{{Item: mediamatch.Item{ID: "vid-1", Source: src("vpdq", "", "", nil),
			Media: mediamatch.Media{Kind: mediamatch.KindVideo, Duration: 3 * time.Second, Keyframes: vidKeyframes}}}},
	}}
}

// TestRoundTrip writes the test items in each writable format, reads them
// back, and checks that what the format carries survived.
func TestRoundTrip(t *testing.T) {
	for _, tt := range roundTripCases() {
		t.Run(string(tt.f), func(t *testing.T) {
			data := write(t, tt.f, tt.items, tt.deletes, tt.unwritable)
			got, errs, _ := readAll(t, data, tt.f, tt.opts)
			if len(errs) > 0 {
				t.Errorf("reading back: %q", errs)
			}
			for i := range got {
				got[i].Line = 0
			}
			compareRecords(t, got, tt.want)
		})
	}
}

// write writes items and deletes in format f and returns the bytes. The
// items at the indices in unwritable must fail with ErrNotRepresentable.
func write(t *testing.T, f Format, items []mediamatch.Item, deletes []string, unwritable []int) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := NewWriter(&b, f)
	if err != nil {
		t.Fatalf("NewWriter(%s): %v", f, err)
	}
	for i, it := range items {
		err := w.Write(it)
		wantBad := slices.Contains(unwritable, i)
		switch {
		case wantBad && !errors.Is(err, ErrNotRepresentable):
			t.Errorf("Write(%s) = %v, want ErrNotRepresentable", it.ID, err)
		case !wantBad && err != nil:
			t.Errorf("Write(%s): %v", it.ID, err)
		}
	}
	for _, id := range deletes {
		if err := w.WriteDelete(id); err != nil {
			t.Errorf("WriteDelete(%s): %v", id, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return b.Bytes()
}

// TestGolden checks the exact bytes each writer writes for the test items
// against testdata/golden; go test -update rewrites them.
func TestGolden(t *testing.T) {
	writable := []Format{JSONL, Lines, PDQRef, TECSV, TESimple, TEUpdates, VPDQ}
	for _, f := range writable {
		t.Run(string(f), func(t *testing.T) {
			items := []mediamatch.Item{imgItem(), vidItem(), md5Item()}
			var (
				unwritable []int
				deletes    []string
			)
			switch f {
			case PDQRef:
				unwritable = []int{2}
			case VPDQ:
				items, unwritable = []mediamatch.Item{vidItem()}, nil
			case JSONL, TEUpdates:
				deletes = []string{"gone-1"}
			}
			got := write(t, f, items, deletes, unwritable)
			name := filepath.Join("testdata", "golden", "items."+string(f))
			if *update {
				if err := os.WriteFile(name, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := readFile(t, name)
			if !bytes.Equal(got, want) {
				t.Errorf("%s writes\n%s\nwant (%s)\n%s", f, got, name, want)
			}
			if d, err := Detect(got); d != f || err != nil {
				t.Errorf("Detect(what %s writes) = %q, %v", f, d, err)
			}
		})
	}
}

func TestWriterErrors(t *testing.T) {
	for _, f := range []Format{TCAP, NCMEC, StopNCII} {
		if w, err := NewWriter(&bytes.Buffer{}, f); !errors.Is(err, ErrCannotWrite) {
			t.Errorf("NewWriter(%s) = %v, %v; want ErrCannotWrite", f, w, err)
		}
	}
	if _, err := NewWriter(&bytes.Buffer{}, "xml"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("NewWriter(xml) = %v, want ErrUnknownFormat", err)
	}
	tests := []struct {
		f    Format
		it   mediamatch.Item
		want string
	}{
		{PDQRef, md5Item(), `hashlist: item cannot be written in this format: pdq: item "md5-only" has no hash this format holds`},
		{Lines, mediamatch.Item{ID: "low", Media: image(sig(mediamatch.PDQ, p1, 49))},
			`hashlist: item cannot be written in this format: lines: item "low" has no hash this format holds`},
		{TECSV, mediamatch.Item{ID: "sha", Media: image(sig(mediamatch.SHA256, s1, 0))},
			`hashlist: item cannot be written in this format: te-csv: item "sha" has no hash this format holds`},
		{TESimple, mediamatch.Item{ID: "video-with-md5", Media: vidItem().Media}, ""},
		{TESimple, mediamatch.Item{ID: "frames-only", Media: mediamatch.Media{Kind: mediamatch.KindVideo, Keyframes: vidItem().Media.Keyframes}},
			`hashlist: item cannot be written in this format: te-simple: item "frames-only" has no hash this format holds`},
		{VPDQ, md5Item(), `hashlist: item cannot be written in this format: vpdq: item "md5-only" is an image, want a video`},
		{VPDQ, mediamatch.Item{ID: "v", Media: mediamatch.Media{Kind: mediamatch.KindVideo, Keyframes: []mediamatch.Keyframe{
			{Signals: []mediamatch.Signal{sig(mediamatch.PHash, ph, 0)}}}}},
			`hashlist: item cannot be written in this format: vpdq: mediamatch: vPDQ: keyframe 0 has no PDQ signal`},
		{PDQRef, mediamatch.Item{ID: "nl", Labels: map[string]string{"filename": "a\nb"}, Media: image(sig(mediamatch.PDQ, p1, 90))},
			`hashlist: item cannot be written in this format: pdq: item "nl": mediamatch: hash line: path "a\nb" has a line break`},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		w, err := NewWriter(&b, tt.f)
		if err != nil {
			t.Fatal(err)
		}
		err = w.Write(tt.it)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: Write(%s) = %v, want success", tt.f, tt.it.ID, err)
			}
			continue
		}
		if err == nil || err.Error() != tt.want || !errors.Is(err, ErrNotRepresentable) {
			t.Errorf("%s: Write(%s) = %v, want %q", tt.f, tt.it.ID, err, tt.want)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if tt.f != TECSV && tt.f != TESimple && b.Len() != 0 {
			t.Errorf("%s: a refused item wrote %q", tt.f, b.String())
		}
	}
	w, _ := NewWriter(&bytes.Buffer{}, Lines)
	if err := w.WriteDelete("x"); !errors.Is(err, ErrNotRepresentable) {
		t.Errorf("Lines WriteDelete = %v, want ErrNotRepresentable", err)
	}
	w.Close()
	if err := w.Write(md5Item()); err == nil {
		t.Error("Write after Close succeeded")
	}
}

// TestWriterFailure tests that the underlying writer's error comes back.
func TestWriterFailure(t *testing.T) {
	w, err := NewWriter(failWriter{}, JSONL)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(imgItem())
	if err := w.Close(); !errors.Is(err, errFail) {
		t.Errorf("Close = %v, want the writer's error", err)
	}
}

var errFail = errors.New("disk full")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errFail }
