package hashlist

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/index"
)

// The import and export workflows over a real index in a temporary
// directory.

// openIndex returns an index in t.TempDir with the banks named.
func openIndex(t *testing.T, banks ...string) *index.Index {
	t.Helper()
	ix, err := index.Open(t.TempDir(), index.Options{})
	if err != nil {
		t.Fatalf("index.Open: %v", err)
	}
	t.Cleanup(func() { ix.Close() })
	for _, b := range banks {
		if _, err := ix.CreateBank(context.Background(), mediamatch.Bank{Name: b}); err != nil {
			t.Fatalf("CreateBank(%q): %v", b, err)
		}
	}
	return ix
}

// bankItems returns the items of bank, in id order, without their times.
func bankItems(t *testing.T, ix *index.Index, bank string) []mediamatch.Item {
	t.Helper()
	items, _, err := ix.ListItems(context.Background(), bank, index.MaxPageSize, "")
	if err != nil {
		t.Fatalf("ListItems(%q): %v", bank, err)
	}
	for i := range items {
		items[i].CreateTime, items[i].UpdateTime = items[i].CreateTime.UTC(), items[i].UpdateTime.UTC()
	}
	return items
}

func TestImport(t *testing.T) {
	ctx := context.Background()
	ix := openIndex(t, "tve")
	list := p1 + ",90,one.jpg\n" + p2 + ",80,two.jpg\n"
	for i, want := range []mediamatch.ImportStats{{Added: 2}, {Unchanged: 2}} {
		res, err := Import(ctx, ix, "tve", strings.NewReader(list), ImportOptions{Partner: "Partner A"})
		if err != nil {
			t.Fatalf("Import #%d: %v", i, err)
		}
		if res.Format != PDQRef || res.Stats != want || res.Rejected != 0 || res.Bad != nil {
			t.Errorf("Import #%d = %+v, want pdq detected, %+v", i, res, want)
		}
	}
	items := bankItems(t, ix, "tve")
	if len(items) != 2 || items[1].ID != "pdq-"+p1 || items[1].Labels["filename"] != "one.jpg" ||
		items[1].Source == nil || items[1].Source.Partner != "Partner A" {
		t.Errorf("bank after the import = %+v, want pdq-%s (one.jpg) and another from Partner A", items, p1)
	}
	// Records of the same hash without ids share the id made from it.
	res, err := Import(ctx, ix, "tve", strings.NewReader("pdq "+p3+"\n"+p3+"\n"), ImportOptions{Format: Lines})
	if err != nil || res.Stats != (mediamatch.ImportStats{Added: 1, Unchanged: 1}) {
		t.Errorf("Import of one hash twice = %+v, %v, want 1 added, 1 unchanged", res, err)
	}
}

func TestImportBadRecords(t *testing.T) {
	ctx := context.Background()
	ix := openIndex(t, "tve")
	// Line 2 is refused by the reader, line 3 by the index: a second
	// version of item a.
	jsonl := func(id, hash string) string {
		return `{"id":"` + id + `","media":{"kind":"image","keyframes":[{"index":0,"signals":[{"type":"pdq","hash":"` + hash + `","quality":90}]}]}}` + "\n"
	}
	list := jsonl("a", p1) + jsonl("b", p2[:63]) + jsonl("a", p3) + jsonl("c", p4)

	res, err := Import(ctx, ix, "tve", strings.NewReader(list), ImportOptions{})
	var bad *BadRecordsError
	if !errors.As(err, &bad) || bad.Count != 2 || res.Rejected != 2 || len(res.Bad) != 2 {
		t.Fatalf("Import of a list with 2 bad records = %+v, %v, want a *BadRecordsError of 2", res, err)
	}
	if res.Bad[0].Line != 2 || res.Bad[0].Err != nil {
		t.Errorf("first bad record = %+v, want line 2, refused by the reader", res.Bad[0])
	}
	if got := res.Bad[1]; got.Line != 3 || !errors.Is(got, mediamatch.ErrInvalid) || strings.HasPrefix(got.Reason, "index: ") {
		t.Errorf("second bad record = %+v, want line 3, refused by the index (ErrInvalid) with a reason without prefix", got)
	}
	if items := bankItems(t, ix, "tve"); len(items) != 0 {
		t.Errorf("bank after the refused import holds %d items, want none", len(items))
	}

	res, err = Import(ctx, ix, "tve", strings.NewReader(list), ImportOptions{SkipInvalid: true})
	if err != nil || res.Stats != (mediamatch.ImportStats{Added: 2}) || res.Rejected != 2 || len(res.Bad) != 2 {
		t.Errorf("Import with SkipInvalid = %+v, %v, want 2 added, 2 rejected", res, err)
	}

	// Only the first MaxBadRecords are kept; all are counted.
	var b strings.Builder
	for range MaxBadRecords + 5 {
		b.WriteString(p1[:10] + ",90,x.jpg\n")
	}
	res, err = Import(ctx, ix, "tve", strings.NewReader(b.String()), ImportOptions{Format: PDQRef})
	if !errors.As(err, &bad) || bad.Count != MaxBadRecords+5 || len(res.Bad) != MaxBadRecords {
		t.Errorf("Import of %d bad records = %d kept, %v; want %d kept and all counted", MaxBadRecords+5, len(res.Bad), err, MaxBadRecords)
	}
}

// failReader returns its data, then err.
type failReader struct {
	data []byte
	err  error
}

func (r *failReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestImportErrors(t *testing.T) {
	ctx := context.Background()
	ix := openIndex(t, "tve")
	errRead := errors.New("connection lost")
	var (
		broken  *BrokenError
		options *OptionsError
	)
	for _, tc := range []struct {
		name   string
		bank   string
		r      io.Reader
		o      ImportOptions
		is     func(error) bool
		format Format
	}{
		{"unknown bank", "nope", strings.NewReader(p1 + "\n"), ImportOptions{},
			func(err error) bool { return errors.Is(err, mediamatch.ErrNotFound) }, ""},
		{"undetectable", "tve", strings.NewReader("hello world, this is not a list\n"), ImportOptions{},
			func(err error) bool { return errors.Is(err, ErrUnknownFormat) }, ""},
		{"item id, detected not vpdq", "tve", strings.NewReader(p1 + ",90,one.jpg\n"), ImportOptions{ItemID: "clip"},
			func(err error) bool { return errors.Is(err, ErrItemIDNotVPDQ) }, PDQRef},
		{"broken json", "tve", strings.NewReader(`{"hashRecords":[{"hashValue":` + "\n"), ImportOptions{Format: StopNCII},
			func(err error) bool { return errors.As(err, &broken) && broken.Format == StopNCII }, StopNCII},
		{"bad options", "tve", strings.NewReader(""), ImportOptions{Format: VPDQ, ItemID: "bad\nid"},
			func(err error) bool { return errors.As(err, &options) }, VPDQ},
		{"read error while detecting", "tve", &failReader{err: errRead}, ImportOptions{},
			func(err error) bool { return err == errRead }, ""},
		{"read error while reading", "tve", &failReader{data: []byte(p1 + ",90,one.jpg\n"), err: errRead}, ImportOptions{Format: PDQRef},
			func(err error) bool { return errors.As(err, &broken) && errors.Is(err, errRead) }, PDQRef},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Import(ctx, ix, tc.bank, tc.r, tc.o)
			if !tc.is(err) || res.Format != tc.format {
				t.Errorf("Import = %+v, %v (%T); want format %q and the error of its kind", res, err, err, tc.format)
			}
		})
	}
	if items := bankItems(t, ix, "tve"); len(items) != 0 {
		t.Errorf("bank after the failed imports holds %d items, want none", len(items))
	}
	// A cancelled context drops what was staged.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Import(cctx, ix, "tve", strings.NewReader(p1+",90,one.jpg\n"), ImportOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Import with a cancelled context: %v, want context.Canceled", err)
	}
	if items := bankItems(t, ix, "tve"); len(items) != 0 {
		t.Errorf("bank after the cancelled import holds %d items, want none", len(items))
	}
}

func TestExport(t *testing.T) {
	ctx := context.Background()
	ix := openIndex(t, "tve", "copy", "empty")
	list := p1 + ",90,one.jpg\n" + p2 + ",80,two.jpg\n"
	if _, err := Import(ctx, ix, "tve", strings.NewReader(list), ImportOptions{Partner: "Partner A"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.AddItem(ctx, mediamatch.Item{Bank: "tve", ID: "md5-only",
		Media: image(sig(mediamatch.MD5, m1, 0))}); err != nil {
		t.Fatal(err)
	}

	// jsonl carries everything: imported into another bank, the same items.
	var out bytes.Buffer
	var progress []int64
	if err := Export(ctx, ix, "tve", &out, JSONL, func(n int64) { progress = append(progress, n) }); err != nil {
		t.Fatalf("Export jsonl: %v", err)
	}
	if !reflect.DeepEqual(progress, []int64{1, 2, 3}) || strings.Count(out.String(), "\n") != 3 {
		t.Errorf("Export jsonl: progress %v, %d lines; want 1, 2, 3 and 3 lines", progress, strings.Count(out.String(), "\n"))
	}
	res, err := Import(ctx, ix, "copy", &out, ImportOptions{})
	if err != nil || res.Format != JSONL || res.Stats != (mediamatch.ImportStats{Added: 3}) {
		t.Fatalf("Import of the export = %+v, %v, want 3 added from jsonl", res, err)
	}
	a, b := bankItems(t, ix, "tve"), bankItems(t, ix, "copy")
	for i := range a {
		if a[i].ID != b[i].ID || !reflect.DeepEqual(a[i].Media, b[i].Media) || !reflect.DeepEqual(a[i].Labels, b[i].Labels) ||
			!reflect.DeepEqual(a[i].Source, b[i].Source) {
			t.Errorf("item %d through jsonl:\n got  %+v\n want %+v", i, b[i], a[i])
		}
	}

	// A partner format skips what it cannot carry.
	out.Reset()
	progress = nil
	if err := Export(ctx, ix, "tve", &out, PDQRef, func(n int64) { progress = append(progress, n) }); err != nil {
		t.Fatalf("Export pdq: %v", err)
	}
	if len(progress) != 2 || strings.Count(out.String(), "\n") != 2 {
		t.Errorf("Export pdq = %q (progress %v), want the two PDQ items only", out.String(), progress)
	}

	// Errors.
	out.Reset()
	if err := Export(ctx, ix, "nope", &out, JSONL, nil); !errors.Is(err, mediamatch.ErrNotFound) || out.Len() != 0 {
		t.Errorf("Export of an unknown bank: %v, %d bytes; want ErrNotFound and nothing written", err, out.Len())
	}
	if err := Export(ctx, ix, "tve", &out, VPDQ, nil); !errors.Is(err, ErrNotRepresentable) {
		t.Errorf("Export of images as vpdq: %v, want ErrNotRepresentable", err)
	}
	if err := Export(ctx, ix, "tve", &out, TCAP, nil); !errors.Is(err, ErrCannotWrite) {
		t.Errorf("Export as tcap: %v, want ErrCannotWrite", err)
	}
	out.Reset()
	if err := Export(ctx, ix, "empty", &out, JSONL, nil); err != nil || out.Len() != 0 {
		t.Errorf("Export of an empty bank: %v, %q; want nothing", err, out.String())
	}
	if err := Export(ctx, ix, "tve", failWriter{}, JSONL, nil); !errors.Is(err, errFail) {
		t.Errorf("Export to a failing writer: %v, want its error", err)
	}
}

func TestWritableFormats(t *testing.T) {
	want := []Format{Lines, PDQRef, TECSV, TESimple, TEUpdates, VPDQ, JSONL}
	if got := WritableFormats(); !reflect.DeepEqual(got, want) {
		t.Errorf("WritableFormats() = %v, want %v", got, want)
	}
}

// TestMarshalItem: MarshalItem writes the line a jsonl Writer writes, and
// a jsonl Reader reads it back as the item.
func TestMarshalItem(t *testing.T) {
	trimmed := sig(mediamatch.PDQ, p2, 80)
	trimmed.View = mediamatch.View{Region: mediamatch.Region{X0: 0, Y0: 125, X1: 1000, Y1: 875}, Trimmed: true}
	it := mediamatch.Item{Bank: "tve", ID: "a", Labels: map[string]string{"k": "v"}, Disabled: true,
		Media:  image(sig(mediamatch.PDQ, p1, 90), trimmed, sig(mediamatch.MD5, m1, 0)),
		Source: src("te-updates", "Meta", "u1", []string{"x"})}
	line, err := MarshalItem(it)
	if err != nil {
		t.Fatalf("MarshalItem: %v", err)
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, JSONL)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(it); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := string(line)+"\n", buf.String(); got != want {
		t.Errorf("MarshalItem = %s, want the Writer's line %s", got, want)
	}
	if !bytes.Contains(line, []byte(`"view":{"x0":0,"y0":125,"x1":1000,"y1":875,"trimmed":true}`)) {
		t.Errorf("MarshalItem = %s, want the trimmed view", line)
	}
	rd, err := NewReader(bytes.NewReader(line), JSONL, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := rd.Next()
	if err != nil || !reflect.DeepEqual(rec.Item, it) {
		t.Errorf("Reader of MarshalItem's line = %+v, %v; want %+v", rec.Item, err, it)
	}
}
