package hashlist

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"slices"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// FuzzReader reads arbitrary bytes in every format. It must not panic or
// hang; every record must be one the index accepts; a fatal error must
// repeat; and a jsonl record must survive being written and read again.
func FuzzReader(f *testing.F) {
	for file, format := range samples(f) {
		data := readFile(f, file)
		f.Add(uint8(slices.Index(Formats(), format)), uint16(0), data)
		f.Add(uint8(slices.Index(Formats(), format)), uint16(40), data)
	}
	// Items with local features, which only jsonl carries.
	f.Add(uint8(slices.Index(Formats(), JSONL)), uint16(0), readFile(f, "testdata/golden/items.jsonl"))
	f.Fuzz(func(t *testing.T, fi uint8, max uint16, data []byte) {
		format := Formats()[int(fi)%len(Formats())]
		opts := ReaderOptions{MaxLineBytes: int(max % 4096), Partner: "p"}
		r, err := NewReader(bytes.NewReader(data), format, opts)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			if i > len(data)+1 {
				t.Fatalf("%s: more results than input bytes", format)
			}
			rec, err := r.Next()
			var le *LineError
			switch {
			case err == io.EOF:
				return
			case errors.As(err, &le):
				if le.Line < 1 || le.Reason == "" {
					t.Fatalf("%s: line error %+v", format, le)
				}
				continue
			case err != nil:
				if _, again := r.Next(); again != err {
					t.Fatalf("%s: fatal error %v, then %v", format, err, again)
				}
				return
			}
			checkRecord(t, format, rec)
		}
	})
}

// checkRecord fails t unless rec is one the index accepts, and, for jsonl,
// reads back the same after being written.
func checkRecord(t *testing.T, format Format, rec Record) {
	t.Helper()
	it := rec.Item
	if rec.Line < 1 {
		t.Fatalf("%s: record at line %d", format, rec.Line)
	}
	if err := mediamatch.ValidateItemID("item.id", it.ID); err != nil {
		t.Fatalf("%s: %v", format, err)
	}
	if err := mediamatch.ValidateLabels("item.labels", it.Labels); err != nil {
		t.Fatalf("%s: %v", format, err)
	}
	if err := mediamatch.ValidateMedia("item.media", it.Media); err != nil {
		t.Fatalf("%s: %v", format, err)
	}
	if format == JSONL && !rec.Delete {
		var b bytes.Buffer
		w, _ := NewWriter(&b, JSONL)
		if err := w.Write(it); err != nil {
			t.Fatalf("writing %s: %v", describe(rec), err)
		}
		w.Close()
		again, errs, _ := readAll(t, b.Bytes(), JSONL, ReaderOptions{})
		if len(errs) != 0 || len(again) != 1 || !reflect.DeepEqual(again[0].Item, it) {
			t.Fatalf("jsonl record\n  %s\nwritten as %s\nreads back as %v, %q", describe(rec), b.Bytes(), again, errs)
		}
	}
}

// FuzzDetect sniffs arbitrary bytes: no panic, and an error only wrapping
// ErrUnknownFormat.
func FuzzDetect(f *testing.F) {
	for file := range samples(f) {
		f.Add(readFile(f, file))
	}
	f.Add([]byte(`{"id": "x", "media": {}}`))
	f.Add([]byte("<?xml version=\"1.0\"?><queryResult/>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Detect(data)
		if err != nil && (!errors.Is(err, ErrUnknownFormat) || got != "") {
			t.Fatalf("Detect = %q, %v", got, err)
		}
		if err == nil && !slices.Contains(Formats(), got) {
			t.Fatalf("Detect = %q, not a format", got)
		}
	})
}
