package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/index/hashlist"
)

// importList sends data to ImportSignals in chunks of size chunk, with the
// options of first on the first message.
func importList(ctx context.Context, c pb.BankServiceClient, first *pb.ImportSignalsRequest, data []byte, chunk int) (*pb.ImportSignalsResponse, error) {
	stream, err := c.ImportSignals(ctx)
	if err != nil {
		return nil, err
	}
	m := proto.Clone(first).(*pb.ImportSignalsRequest)
	for sent := false; len(data) > 0 || !sent; sent = true {
		n := min(chunk, len(data))
		m.Chunk = data[:n]
		if err := stream.Send(m); err != nil {
			break // the server ended the stream; CloseAndRecv has its status
		}
		data = data[n:]
		m = &pb.ImportSignalsRequest{}
	}
	return stream.CloseAndRecv()
}

// exportList returns the whole of ExportSignals and the item count of its
// last message, failing the test if a chunk is over 1 MiB or the counts go
// down.
func exportList(t testing.TB, ctx context.Context, c pb.BankServiceClient, bank, format string) ([]byte, int64, error) {
	t.Helper()
	stream, err := c.ExportSignals(ctx, &pb.ExportSignalsRequest{Bank: bank, Format: format})
	if err != nil {
		return nil, 0, err
	}
	var (
		out   []byte
		items int64
	)
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, items, nil
		}
		if err != nil {
			return nil, 0, err
		}
		if n := len(m.GetChunk()); n > 1<<20 {
			t.Errorf("export chunk of %d bytes, want at most 1 MiB", n)
		}
		if m.GetItems() < items {
			t.Errorf("export item count went from %d to %d, want it never to go down", items, m.GetItems())
		}
		out, items = append(out, m.GetChunk()...), m.GetItems()
	}
}

// listAll returns every item of bank, in id order.
func listAll(t testing.TB, ctx context.Context, c pb.BankServiceClient, bank string) []*pb.Item {
	t.Helper()
	var items []*pb.Item
	token := ""
	for {
		resp, err := c.ListItems(ctx, &pb.ListItemsRequest{Bank: bank, PageSize: 1000, PageToken: token})
		if err != nil {
			t.Fatalf("ListItems(%s): %v", bank, err)
		}
		items = append(items, resp.GetItems()...)
		if token = resp.GetNextPageToken(); token == "" {
			return items
		}
	}
}

// content returns what an import sets of an item: everything but its bank
// and its creation and update times.
func content(it *pb.Item) *pb.Item {
	c := proto.Clone(it).(*pb.Item)
	c.Bank, c.CreateTime, c.UpdateTime = "", nil, nil
	return c
}

func createBank(t testing.TB, e *env, name string) {
	t.Helper()
	if _, err := e.bank.CreateBank(t.Context(), &pb.CreateBankRequest{Bank: &pb.Bank{Name: name}}); err != nil {
		t.Fatalf("CreateBank(%s): %v", name, err)
	}
}

// sampleFiles returns the hash-list samples of package hashlist with the
// format each is in (from its name: sample.<format>[-pages].<ext>).
func sampleFiles(t testing.TB) map[string]hashlist.Format {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "index", "hashlist", "testdata", "sample.*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no hash-list samples in index/hashlist/testdata: %v", err)
	}
	out := map[string]hashlist.Format{}
	for _, f := range files {
		name, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(f), "sample."), ".")
		format, err := hashlist.ParseFormat(strings.TrimSuffix(name, "-pages"))
		if err != nil {
			t.Fatalf("sample %s: %v", f, err)
		}
		out[f] = format
	}
	return out
}

// readList reads data as the server does and returns how many records it
// has and the texts of its bad records: the expected outcome of an import
// into an empty bank.
func readList(t testing.TB, data []byte, f hashlist.Format) (records int64, bad []string) {
	t.Helper()
	r, err := hashlist.NewReader(bytes.NewReader(data), f, hashlist.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		_, err := r.Next()
		var le *hashlist.LineError
		switch {
		case errors.Is(err, io.EOF):
			return records, bad
		case errors.As(err, &le):
			bad = append(bad, le.Error())
		case err != nil:
			t.Fatalf("reading the %s sample: %v", f, err)
		default:
			records++
		}
	}
}

func TestImportSamples(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := t.Context()
	for file, format := range sampleFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			records, bad := readList(t, data, format)
			bank := strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(filepath.Base(file)))
			createBank(t, e, bank)

			// Without skip_invalid a bad record fails the whole list; with
			// it the others go in. The format is detected.
			first := &pb.ImportSignalsRequest{Bank: bank, Partner: "sample partner"}
			resp, err := importList(ctx, e.bank, first, data, 100)
			if len(bad) > 0 {
				st := wantStatus(t, err, codes.InvalidArgument, bad[0], fmt.Sprintf("%d bad record", len(bad)), "nothing imported")
				if fields := badFields(st); len(fields) != len(bad) || fields[0] != "ImportSignalsRequest.chunk" {
					t.Errorf("BadRequest fields %v, want %d of ImportSignalsRequest.chunk", fields, len(bad))
				}
				if items := listAll(t, ctx, e.bank, bank); len(items) != 0 {
					t.Errorf("after a failed import the bank has %d items, want none", len(items))
				}
				first.SkipInvalid = true
				resp, err = importList(ctx, e.bank, first, data, 7)
			}
			if err != nil {
				t.Fatalf("ImportSignals(skip_invalid=%v): %v", first.SkipInvalid, err)
			}
			if resp.GetFormat() != string(format) {
				t.Errorf("detected format %q, want %q", resp.GetFormat(), format)
			}
			if resp.GetRejected() != int64(len(bad)) || !slices.Equal(resp.GetErrors(), bad) {
				t.Errorf("rejected %d %q, want %d %q", resp.GetRejected(), resp.GetErrors(), len(bad), bad)
			}
			if sum := resp.GetAdded() + resp.GetUpdated() + resp.GetDeleted() + resp.GetUnchanged(); sum != records || resp.GetAdded() == 0 {
				t.Errorf("added+updated+deleted+unchanged = %v, want %d records, some added", resp, records)
			}
			items := listAll(t, ctx, e.bank, bank)
			if n := resp.GetAdded() - resp.GetDeleted(); int64(len(items)) != n {
				t.Errorf("bank has %d items, want the %d added less those deleted", len(items), n)
			}
			for _, it := range items {
				src := it.GetSource()
				switch {
				case format == hashlist.JSONL && src == nil:
					// jsonl carries an item's source as it was, and some have none.
				case src.GetFormat() == "" || src.GetFirstSeen() == nil || src.GetUpdated() == nil:
					t.Errorf("item %s source %v, want a format and times", it.GetId(), src)
				case format != hashlist.JSONL && src.GetPartner() == "":
					t.Errorf("item %s source %v, want a partner", it.GetId(), src)
				}
			}

			// A repeat changes nothing.
			// (A list that adds and deletes the same item does both again.)
			first.Format, first.SkipInvalid = string(format), true
			again, err := importList(ctx, e.bank, first, data, 1<<20)
			if err != nil {
				t.Fatalf("second ImportSignals: %v", err)
			}
			if resp.GetDeleted() == 0 && (again.GetAdded()+again.GetUpdated()+again.GetDeleted() != 0 || again.GetUnchanged() != records) {
				t.Errorf("repeated import = %v, want all %d records unchanged", again, records)
			}
			after := listAll(t, ctx, e.bank, bank)
			if len(after) != len(items) {
				t.Fatalf("repeated import: %d items, want %d", len(after), len(items))
			}
			for i := range after {
				if !proto.Equal(after[i], items[i]) {
					t.Errorf("repeated import changed item %d:\n got  %v\n want %v", i, after[i], items[i])
				}
			}
		})
	}
}

// pdqHex returns n distinct random PDQ hashes in hex.
func pdqHex(t testing.TB, n int) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	for len(out) < n {
		b := make([]byte, 32)
		rand.Read(b)
		if h := hex.EncodeToString(b); !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}

// pdqList returns the hashes as the PDQ reference hasher prints them.
func pdqList(hashes []string) []byte {
	var b bytes.Buffer
	for i, h := range hashes {
		fmt.Fprintf(&b, "%s,%d,photo-%d.jpg\n", h, 60+i%41, i)
	}
	return b.Bytes()
}

func TestImportExportRoundTrip(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := t.Context()
	for _, b := range []string{"partner", "copy", "lines"} {
		createBank(t, e, b)
	}
	// A bank with every kind of item: the jsonl sample (video, disabled,
	// sources with times), a te-updates sample, and enough PDQ items for
	// several export chunks and index pages.
	for _, f := range []string{"sample.jsonl", "sample.te-updates.jsonl", "sample.tcap.json"} {
		data, err := os.ReadFile(filepath.Join("..", "index", "hashlist", "testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := importList(ctx, e.bank, &pb.ImportSignalsRequest{Bank: "partner", SkipInvalid: true}, data, 1<<20); err != nil {
			t.Fatalf("ImportSignals(%s): %v", f, err)
		}
	}
	hashes := pdqHex(t, 8000)
	resp, err := importList(ctx, e.bank, &pb.ImportSignalsRequest{Bank: "partner", Format: "pdq", Partner: "list-a"}, pdqList(hashes), 4<<20)
	if err != nil {
		t.Fatalf("ImportSignals(pdq): %v", err)
	}
	if resp.GetAdded() != int64(len(hashes)) || resp.GetFormat() != "pdq" {
		t.Errorf("ImportSignals(pdq) = %v, want %d added", resp, len(hashes))
	}
	want := listAll(t, ctx, e.bank, "partner")

	// jsonl carries everything: an export imports into another bank as it was.
	data, items, err := exportList(t, ctx, e.bank, "partner", "")
	if err != nil {
		t.Fatalf("ExportSignals(jsonl): %v", err)
	}
	if items != int64(len(want)) || len(data) <= 1<<20 {
		t.Errorf("export: %d items in %d bytes, want %d items in more than one chunk", items, len(data), len(want))
	}
	resp, err = importList(ctx, e.bank, &pb.ImportSignalsRequest{Bank: "copy"}, data, 1<<20)
	if err != nil {
		t.Fatalf("ImportSignals(export): %v", err)
	}
	if resp.GetFormat() != "jsonl" || resp.GetAdded() != int64(len(want)) {
		t.Errorf("import of the export = %v, want jsonl detected and %d added", resp, len(want))
	}
	got := listAll(t, ctx, e.bank, "copy")
	if len(got) != len(want) {
		t.Fatalf("copy has %d items, want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(content(got[i]), content(want[i])) {
			t.Errorf("copied item %d:\n got  %v\n want %v", i, content(got[i]), content(want[i]))
		}
	}
	if src := pb.SourceFromProto(got[0].GetSource()); src == nil || !proto.Equal(pb.SourceToProto(src), got[0].GetSource()) {
		t.Errorf("Source round trip of %v = %v", got[0].GetSource(), src)
	}

	// A repeat of the export changes nothing.
	resp, err = importList(ctx, e.bank, &pb.ImportSignalsRequest{Bank: "copy", Format: "jsonl"}, data, 1<<20)
	if err != nil || resp.GetUnchanged() != int64(len(want)) || resp.GetAdded()+resp.GetUpdated()+resp.GetDeleted() != 0 {
		t.Errorf("repeated import = %v, %v, want all %d unchanged", resp, err, len(want))
	}

	// Partner formats carry what they can; a PDQ item's hash survives.
	for _, f := range hashlist.WritableFormats() {
		if f == hashlist.JSONL || f == hashlist.VPDQ {
			continue
		}
		out, n, err := exportList(t, ctx, e.bank, "partner", string(f))
		if err != nil {
			t.Fatalf("ExportSignals(%s): %v", f, err)
		}
		if n < int64(len(hashes)) || !bytes.Contains(out, []byte(hashes[17])) {
			t.Errorf("ExportSignals(%s): %d items, want at least %d and the hash %s", f, n, len(hashes), hashes[17])
		}
	}
	_, err = importList(ctx, e.bank, &pb.ImportSignalsRequest{Bank: "lines", Format: "lines"}, []byte("pdq "+hashes[3]+"\n"), 10)
	if err != nil {
		t.Fatal(err)
	}
	lines, n, err := exportList(t, ctx, e.bank, "lines", "lines")
	if err != nil || n != 1 || string(lines) != "pdq "+hashes[3]+"\n" {
		t.Errorf("ExportSignals(lines) = %q, %d items, %v, want the line imported", lines, n, err)
	}

	// Matches of an imported item name its source.
	h, _ := hex.DecodeString(hashes[5])
	m, err := e.match.MatchSignals(ctx, &pb.MatchSignalsRequest{Media: &pb.Media{Kind: pb.MediaKind_MEDIA_KIND_IMAGE,
		Keyframes: []*pb.Keyframe{{Signals: []*pb.Signal{{Type: pb.SignalType_SIGNAL_TYPE_PDQ, Hash: h, Quality: 100}}}}},
		Options: &pb.MatchOptions{Banks: []string{"partner"}}})
	if err != nil {
		t.Fatalf("MatchSignals: %v", err)
	}
	if len(m.GetMatches()) == 0 {
		t.Fatal("MatchSignals of an imported hash found nothing")
	}
	if src := m.GetMatches()[0].GetSource(); src.GetFormat() != "pdq" || src.GetPartner() != "list-a" || src.GetFirstSeen() == nil {
		t.Errorf("match source = %v, want format pdq, partner list-a and a first-seen time", src)
	}
}

func TestImportDeletesAndUpdates(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := t.Context()
	createBank(t, e, "tve")
	hashes := pdqHex(t, 3)
	item := func(id, h, label string) string {
		return fmt.Sprintf(`{"id":%q,"labels":{"v":%q},"media":{"kind":"image","keyframes":[{"index":0,"signals":[{"type":"pdq","hash":%q,"quality":90}]}]}}`+"\n", id, label, h)
	}
	a := item("a", hashes[0], "1") + item("b", hashes[1], "1")
	if _, err := importList(ctx, e.bank, &pb.ImportSignalsRequest{Bank: "tve"}, []byte(a), 1<<20); err != nil {
		t.Fatal(err)
	}
	b := item("a", hashes[0], "2") + `{"id":"b","delete":true}` + "\n" + item("c", hashes[2], "1") + `{"id":"zz","delete":true}` + "\n"
	resp, err := importList(ctx, e.bank, &pb.ImportSignalsRequest{Bank: "tve"}, []byte(b), 5)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetAdded() != 1 || resp.GetUpdated() != 1 || resp.GetDeleted() != 1 || resp.GetUnchanged() != 1 {
		t.Errorf("ImportSignals = %v, want 1 added, 1 updated, 1 deleted, 1 unchanged", resp)
	}
	var got []string
	for _, it := range listAll(t, ctx, e.bank, "tve") {
		got = append(got, it.GetId()+"="+it.GetLabels()["v"])
	}
	if want := []string{"a=2", "c=1"}; !slices.Equal(got, want) {
		t.Errorf("items %v, want %v", got, want)
	}
}

func TestImportErrors(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := t.Context()
	createBank(t, e, "tve")
	good := []byte(pdqHex(t, 1)[0] + ",90,x.jpg\n")
	tests := []struct {
		name  string
		first *pb.ImportSignalsRequest
		data  []byte
		code  codes.Code
		want  []string
	}{
		{"bad bank name", &pb.ImportSignalsRequest{Bank: "Bad Name"}, good, codes.InvalidArgument,
			[]string{"ImportSignalsRequest.bank", `"Bad Name"`}},
		{"missing bank", &pb.ImportSignalsRequest{Bank: "nope"}, good, codes.NotFound, []string{"nope"}},
		{"unknown format", &pb.ImportSignalsRequest{Bank: "tve", Format: "csv"}, good, codes.InvalidArgument,
			[]string{"ImportSignalsRequest.format", `"csv"`, "te-updates", "jsonl"}},
		{"item id for a pdq list", &pb.ImportSignalsRequest{Bank: "tve", Format: "pdq", ItemId: "x"}, good,
			codes.InvalidArgument, []string{"ImportSignalsRequest.item_id", "vpdq"}},
		{"item id for a detected pdq list", &pb.ImportSignalsRequest{Bank: "tve", ItemId: "x"}, good,
			codes.InvalidArgument, []string{"ImportSignalsRequest.item_id", "detected as pdq"}},
		{"bad item id", &pb.ImportSignalsRequest{Bank: "tve", Format: "vpdq", ItemId: "a b"}, good,
			codes.InvalidArgument, []string{"ImportSignalsRequest.item_id", `"a b"`}},
		{"long partner", &pb.ImportSignalsRequest{Bank: "tve", Partner: strings.Repeat("p", 300)}, good,
			codes.InvalidArgument, []string{"ImportSignalsRequest.partner", "256"}},
		{"undetectable", &pb.ImportSignalsRequest{Bank: "tve"}, []byte("hello world, not a list\n"), codes.InvalidArgument,
			[]string{"ImportSignalsRequest.format", "cannot be detected", "hello world"}},
		{"empty", &pb.ImportSignalsRequest{Bank: "tve"}, nil, codes.InvalidArgument,
			[]string{"ImportSignalsRequest.format", "empty"}},
		{"broken document", &pb.ImportSignalsRequest{Bank: "tve"},
			[]byte("{\"count\":1,\"results\":[\n{\"id\":1,\"hash_digest\":\"" + pdqHex(t, 1)[0] + "\",\"algorithm\":\"PDQ\"},\n{\"id\":2,"),
			codes.InvalidArgument, []string{"ImportSignalsRequest.chunk", "tcap list broken", "line 3"}},
		{"bad line", &pb.ImportSignalsRequest{Bank: "tve", Format: "pdq"}, append(slices.Clone(good), "abc,90,y.jpg\n"...),
			codes.InvalidArgument, []string{"1 bad record", "line 2: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := importList(ctx, e.bank, tt.first, tt.data, 1<<20)
			wantStatus(t, err, tt.code, tt.want...)
		})
	}
	if items := listAll(t, ctx, e.bank, "tve"); len(items) != 0 {
		t.Errorf("after failed imports the bank has %d items, want none", len(items))
	}

	// The first 100 bad records are listed, and all are counted.
	var b bytes.Buffer
	for i := range 150 {
		fmt.Fprintf(&b, "%s,90,ok-%d.jpg\nnot-a-hash,90,bad-%d.jpg\n", pdqHex(t, 1)[0], i, i)
	}
	_, err := importList(ctx, e.bank, &pb.ImportSignalsRequest{Bank: "tve", Format: "pdq"}, b.Bytes(), 1000)
	st := wantStatus(t, err, codes.InvalidArgument, "150 bad records", "line 2: ", "line 200: ", "... and 50 more")
	if strings.Contains(st.Message(), "line 202: ") || len(badFields(st)) != 100 {
		t.Errorf("message lists more than 100 bad records, or %d field violations, want 100", len(badFields(st)))
	}
	resp, err := importList(ctx, e.bank, &pb.ImportSignalsRequest{Bank: "tve", Format: "pdq", SkipInvalid: true}, b.Bytes(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetAdded() != 150 || resp.GetRejected() != 150 || len(resp.GetErrors()) != 100 || !strings.HasPrefix(resp.GetErrors()[0], "line 2: ") {
		t.Errorf("skip_invalid: %d added, %d rejected, %d errors (%q...), want 150, 150, 100 from line 2",
			resp.GetAdded(), resp.GetRejected(), len(resp.GetErrors()), resp.GetErrors()[:1])
	}

	// A chunk over 4 MiB is refused by name (the server's receive limit
	// has room for it plus the slack, so the edge's own check answers).
	big := bytes.Repeat(good, (4<<20)/len(good)+1)
	_, err = importList(ctx, e.bank, &pb.ImportSignalsRequest{Bank: "tve"}, big, len(big))
	wantStatus(t, err, codes.InvalidArgument, "ImportSignalsRequest.chunk", "want at most 4194304")
}

// TestImportCancel cancels an import mid-stream: the bank stays as it was
// and nothing staged is left behind (the index drops leftover staging at
// the next Open, and logs it).
func TestImportCancel(t *testing.T) {
	e := newEnv(t, Options{})
	createBank(t, e, "tve")
	// Enough records that the import has flushed staged batches (4 MiB)
	// when it is cancelled.
	data := pdqList(pdqHex(t, 60000))
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := e.bank.ImportSignals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msgs := 0
	for m := (&pb.ImportSignalsRequest{Bank: "tve", Format: "pdq"}); len(data) > 0; m = (&pb.ImportSignalsRequest{}) {
		n := min(len(data), 1<<20)
		m.Chunk, data = data[:n], data[n:]
		if err := stream.Send(m); err != nil {
			t.Fatal(err)
		}
		msgs++
	}
	// The server stages what it was sent, then waits for more: its
	// handler asks for message msgs+1.
	e.recvs.wait(msgs + 1)
	// Cancel without closing the stream (CloseAndRecv would half-close it
	// first, racing the cancel: the server could see the end of a list).
	cancel()
	e.waitStreams(t)
	if _, err := stream.CloseAndRecv(); status.Code(err) != codes.Canceled {
		t.Errorf("CloseAndRecv after cancel: %v, want Canceled", err)
	}
	if items := listAll(t, t.Context(), e.bank, "tve"); len(items) != 0 {
		t.Errorf("after a cancelled import the bank has %d items, want none", len(items))
	}
	if err := e.ix.Close(); err != nil {
		t.Fatal(err)
	}
	logs := &mmtest.SyncBuffer{}
	ix, err := index.Open(e.dir, index.Options{Logger: slogTo(logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if strings.Contains(logs.String(), "import") {
		t.Errorf("reopening the index found an import left behind:\n%s", logs.String())
	}
	if items, _, err := ix.ListItems(t.Context(), "tve", 10, ""); err != nil || len(items) != 0 {
		t.Errorf("after reopening: %d items, %v, want none", len(items), err)
	}
}

func TestExportErrors(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := t.Context()
	createBank(t, e, "tve")
	tests := []struct {
		bank, format string
		code         codes.Code
		want         []string
	}{
		{"tve", "csv", codes.InvalidArgument, []string{"ExportSignalsRequest.format", `"csv"`, "unknown", "te-updates, vpdq, jsonl"}},
		{"tve", "tcap", codes.InvalidArgument, []string{"ExportSignalsRequest.format", `"tcap"`, "read but not written", "te-updates"}},
		{"Bad", "", codes.InvalidArgument, []string{"ExportSignalsRequest.bank", `"Bad"`}},
		{"nope", "", codes.NotFound, []string{"nope"}},
	}
	for _, tt := range tests {
		_, _, err := exportList(t, ctx, e.bank, tt.bank, tt.format)
		st := wantStatus(t, err, tt.code, tt.want...)
		if tt.code == codes.InvalidArgument && len(badFields(st)) == 0 {
			t.Errorf("ExportSignals(%s, %q): no BadRequest detail", tt.bank, tt.format)
		}
	}
	// An empty bank exports nothing, and says so.
	data, n, err := exportList(t, ctx, e.bank, "tve", "jsonl")
	if err != nil || n != 0 || len(data) != 0 {
		t.Errorf("export of an empty bank = %q, %d items, %v", data, n, err)
	}
	// vpdq holds one video: a bank of images cannot be written so.
	if _, err := e.bank.AddItem(ctx, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: "tve", Id: "img"},
		Source: &pb.AddItemRequest_Media{Media: pb.MediaToProto(mediamatch.Media{Kind: mediamatch.KindImage,
			Keyframes: []mediamatch.Keyframe{{Signals: []mediamatch.Signal{{Type: mediamatch.PDQ, Hash: bytes.Repeat([]byte{1, 2}, 16), Quality: 90}}}}})}}); err != nil {
		t.Fatal(err)
	}
	_, _, err = exportList(t, ctx, e.bank, "tve", "vpdq")
	wantStatus(t, err, codes.InvalidArgument, "ExportSignalsRequest.format", "vpdq", "img")
}
