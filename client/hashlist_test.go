package client_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/client"
)

// pdqLines returns n random PDQ hashes and a list of them in the PDQ
// reference hasher's format.
func pdqLines(t *testing.T, n int) ([]string, []byte) {
	t.Helper()
	var (
		hashes []string
		b      bytes.Buffer
	)
	for i := range n {
		h := make([]byte, 32)
		rand.Read(h)
		hashes = append(hashes, hex.EncodeToString(h))
		fmt.Fprintf(&b, "%s,%d,photo-%d.jpg\n", hashes[i], 50+i%51, i)
	}
	return hashes, b.Bytes()
}

// failingReader returns data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestImportExport(t *testing.T) {
	c := client.New(newConn(t), client.WithChunkSize(64<<10))
	ctx := t.Context()
	for _, b := range []string{"tve", "copy"} {
		if _, err := c.CreateBank(ctx, b, ""); err != nil {
			t.Fatal(err)
		}
	}
	hashes, list := pdqLines(t, 3000)

	var progress []int64
	res, err := c.Import(ctx, "tve", bytes.NewReader(list), client.ImportOptions{Partner: "partner-a",
		Progress: func(n int64) { progress = append(progress, n) }})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if res.Format != "pdq" || !res.Detected || res.Added != int64(len(hashes)) || res.Rejected != 0 {
		t.Errorf("Import = %+v, want pdq detected and %d added", res, len(hashes))
	}
	if len(progress) < 2 || progress[len(progress)-1] != int64(len(list)) {
		t.Errorf("progress %v, want several calls ending at %d bytes", progress, len(list))
	}

	it, err := c.GetItem(ctx, "tve", "pdq-"+hashes[0])
	if err != nil {
		t.Fatalf("GetItem: %v", err)
	}
	if it.Source == nil || it.Source.Format != "pdq" || it.Source.Partner != "partner-a" || it.Source.FirstSeen.IsZero() ||
		it.Labels["filename"] != "photo-0.jpg" {
		t.Errorf("imported item %+v source %+v, want format pdq, partner partner-a, a first-seen time and the filename label", it, it.Source)
	}
	h, _ := hex.DecodeString(hashes[1])
	ms, err := c.MatchSignals(ctx, mediamatch.Media{Kind: mediamatch.KindImage, Keyframes: []mediamatch.Keyframe{
		{Signals: []mediamatch.Signal{{Type: mediamatch.PDQ, Hash: h, Quality: 100}}}}}, client.MatchOptions{})
	if err != nil || len(ms) == 0 {
		t.Fatalf("MatchSignals = %v, %v, want the imported item", ms, err)
	}
	if ms[0].ItemID != "pdq-"+hashes[1] || ms[0].Source == nil || ms[0].Source.Partner != "partner-a" {
		t.Errorf("match %+v, want pdq-%s with its source", ms[0], hashes[1])
	}

	// Export and re-import into another bank.
	var out bytes.Buffer
	var items []int64
	if err := c.Export(ctx, "tve", "", &out, func(n int64) { items = append(items, n) }); err != nil {
		t.Fatalf("Export: %v", err)
	}
	if len(items) == 0 || items[len(items)-1] != int64(len(hashes)) {
		t.Errorf("export progress %v, want it to end at %d items", items, len(hashes))
	}
	res, err = c.Import(ctx, "copy", &out, client.ImportOptions{Format: "jsonl"})
	if err != nil || res.Added != int64(len(hashes)) || res.Detected {
		t.Errorf("Import(export) = %+v, %v, want %d added, format given", res, err, len(hashes))
	}
	copied, err := c.GetItem(ctx, "copy", "pdq-"+hashes[0])
	if err != nil || !sameSource(copied.Source, it.Source) {
		t.Errorf("copied item source %+v, %v, want %+v", copied.Source, err, it.Source)
	}

	var pdq bytes.Buffer
	if err := c.Export(ctx, "tve", "pdq", &pdq, nil); err != nil {
		t.Fatalf("Export(pdq): %v", err)
	}
	if !strings.Contains(pdq.String(), hashes[7]+",") {
		t.Errorf("pdq export lacks %s", hashes[7])
	}
}

func TestImportExportErrors(t *testing.T) {
	c := client.New(newConn(t))
	ctx := t.Context()
	if _, err := c.CreateBank(ctx, "tve", ""); err != nil {
		t.Fatal(err)
	}
	_, list := pdqLines(t, 3)
	bad := append([]byte("not-a-hash,90,x.jpg\n"), list...)

	_, err := c.Import(ctx, "tve", bytes.NewReader(bad), client.ImportOptions{Format: "pdq"})
	var ce *client.Error
	if !errors.Is(err, client.ErrInvalidArgument) || !errors.As(err, &ce) || len(ce.Violations) != 1 ||
		!strings.HasPrefix(ce.Violations[0].Description, "line 1: ") {
		t.Errorf("Import(bad line) = %v, want ErrInvalidArgument with a violation for line 1", err)
	}
	res, err := c.Import(ctx, "tve", bytes.NewReader(bad), client.ImportOptions{Format: "pdq", SkipInvalid: true})
	if err != nil || res.Added != 3 || res.Rejected != 1 || len(res.Errors) != 1 || !strings.HasPrefix(res.Errors[0], "line 1: ") {
		t.Errorf("Import(skip invalid) = %+v, %v, want 3 added, 1 rejected (line 1)", res, err)
	}
	if _, err := c.Import(ctx, "nope", bytes.NewReader(list), client.ImportOptions{}); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Import(missing bank) = %v, want ErrNotFound", err)
	}

	// A read error ends the stream; the server drops what it had.
	_, more := pdqLines(t, 5)
	readErr := errors.New("disk on fire")
	if _, err := c.Import(ctx, "tve", &failingReader{data: more, err: readErr}, client.ImportOptions{}); !errors.Is(err, readErr) {
		t.Errorf("Import(failing reader) = %v, want the reader's error", err)
	}
	n := 0
	for _, err := range c.ListItems(ctx, "tve") {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 3 {
		t.Errorf("bank has %d items after a failed import, want the 3 of before", n)
	}

	err = c.Export(ctx, "tve", "tcap", io.Discard, nil)
	if !errors.Is(err, client.ErrInvalidArgument) || !strings.Contains(err.Error(), "jsonl") {
		t.Errorf("Export(tcap) = %v, want ErrInvalidArgument listing the writable formats", err)
	}
	if err := c.Export(ctx, "nope", "", io.Discard, nil); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Export(missing bank) = %v, want ErrNotFound", err)
	}
	writeErr := errors.New("pipe closed")
	if err := c.Export(ctx, "tve", "", &failingWriter{err: writeErr}, nil); !errors.Is(err, writeErr) {
		t.Errorf("Export(failing writer) = %v, want the writer's error", err)
	}
}

type failingWriter struct{ err error }

func (w *failingWriter) Write([]byte) (int, error) { return 0, w.err }

func sameSource(a, b *mediamatch.Source) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Format == b.Format && a.Partner == b.Partner && a.UpstreamID == b.UpstreamID &&
		slices.Equal(a.Tags, b.Tags) && a.FirstSeen.Equal(b.FirstSeen) && a.Updated.Equal(b.Updated)
}
