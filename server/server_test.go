package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	_ "image/png"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/fingerprint/hostile"
)

const chelsea = "images/skimage/chelsea.png"

// reencode returns img re-encoded as a JPEG of the given quality.
func reencode(t testing.TB, data []byte, quality int) []byte {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestBankAndItemCRUD(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := t.Context()

	for _, name := range []string{"tve", "alpha", "zulu"} {
		resp, err := e.bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: name, Description: "list " + name}})
		if err != nil {
			t.Fatalf("CreateBank(%s): %v", name, err)
		}
		if resp.GetBank().GetName() != name || resp.GetBank().GetCreateTime() == nil {
			t.Errorf("CreateBank(%s) = %v, want the bank with a create time", name, resp.GetBank())
		}
	}
	_, err := e.bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "tve"}})
	wantStatus(t, err, codes.AlreadyExists, "tve")

	// ListBanks a page at a time.
	var names []string
	token := ""
	for pages := 0; ; pages++ {
		resp, err := e.bank.ListBanks(ctx, &pb.ListBanksRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatalf("ListBanks: %v", err)
		}
		for _, b := range resp.GetBanks() {
			names = append(names, b.GetName())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
		if pages > 3 {
			t.Fatal("ListBanks does not end")
		}
	}
	if want := []string{"alpha", "tve", "zulu"}; !slices.Equal(names, want) {
		t.Errorf("ListBanks = %v, want %v", names, want)
	}

	photo := readMedia(t, chelsea)
	add, err := e.bank.AddItem(ctx, &pb.AddItemRequest{
		Item:   &pb.ItemSpec{Bank: "tve", Id: "cat-1", Labels: map[string]string{"entity": "example"}},
		Source: &pb.AddItemRequest_Content{Content: photo},
	})
	if err != nil {
		t.Fatalf("AddItem: %v", err)
	}
	it := add.GetItem()
	if it.GetId() != "cat-1" || it.GetMedia().GetKind() != pb.MediaKind_MEDIA_KIND_IMAGE ||
		len(it.GetMedia().GetKeyframes()) != 1 || len(it.GetMedia().GetFileSignals()) == 0 {
		t.Fatalf("AddItem = %v, want an image item with one keyframe and file signals", it)
	}
	_, err = e.bank.AddItem(ctx, &pb.AddItemRequest{
		Item: &pb.ItemSpec{Bank: "tve", Id: "cat-1"}, Source: &pb.AddItemRequest_Content{Content: photo}})
	wantStatus(t, err, codes.AlreadyExists, "cat-1")
	_, err = e.bank.AddItem(ctx, &pb.AddItemRequest{
		Item: &pb.ItemSpec{Bank: "nope", Id: "x"}, Source: &pb.AddItemRequest_Content{Content: photo}})
	wantStatus(t, err, codes.NotFound, "nope")
	// Streamed adds fail on the first message, before any hashing: the
	// bytes here are no media at all.
	_, err = streamAdd(ctx, e.bank, &pb.ItemSpec{Bank: "nope", Id: "x"}, make([]byte, 3<<20))
	wantStatus(t, err, codes.NotFound, "nope")
	_, err = streamAdd(ctx, e.bank, &pb.ItemSpec{Bank: "tve", Id: "cat-1"}, make([]byte, 3<<20))
	wantStatus(t, err, codes.AlreadyExists, "cat-1")

	// An item added from signals only.
	sigs := &pb.Media{Kind: pb.MediaKind_MEDIA_KIND_IMAGE, Keyframes: []*pb.Keyframe{{Signals: []*pb.Signal{
		{Type: pb.SignalType_SIGNAL_TYPE_PHASH, Hash: []byte{1, 2, 3, 4, 5, 6, 7, 8}}}}}}
	if _, err := e.bank.AddItem(ctx, &pb.AddItemRequest{
		Item: &pb.ItemSpec{Bank: "tve", Id: "from-signals"}, Source: &pb.AddItemRequest_Media{Media: sigs}}); err != nil {
		t.Fatalf("AddItem(media): %v", err)
	}

	got, err := e.bank.GetItem(ctx, &pb.GetItemRequest{Bank: "tve", Id: "cat-1"})
	if err != nil {
		t.Fatalf("GetItem: %v", err)
	}
	if got.GetItem().GetLabels()["entity"] != "example" {
		t.Errorf("GetItem labels = %v, want entity=example", got.GetItem().GetLabels())
	}
	_, err = e.bank.GetItem(ctx, &pb.GetItemRequest{Bank: "tve", Id: "missing"})
	wantStatus(t, err, codes.NotFound, "missing")

	list, err := e.bank.ListItems(ctx, &pb.ListItemsRequest{Bank: "tve"})
	if err != nil {
		t.Fatalf("ListItems: %v", err)
	}
	var ids []string
	for _, it := range list.GetItems() {
		ids = append(ids, it.GetId())
	}
	if want := []string{"cat-1", "from-signals"}; !slices.Equal(ids, want) {
		t.Errorf("ListItems = %v, want %v", ids, want)
	}

	// The photo matches itself, and a re-encoded copy.
	query := reencode(t, photo, 50)
	match := func() []string {
		t.Helper()
		resp, err := e.match.MatchMedia(ctx, &pb.MatchMediaRequest{Content: query})
		if err != nil {
			t.Fatalf("MatchMedia: %v", err)
		}
		if resp.GetQuery().GetKind() != pb.MediaKind_MEDIA_KIND_IMAGE || len(resp.GetQuery().GetKeyframes()) != 1 {
			t.Errorf("MatchMedia query = %v, want the computed image signals", resp.GetQuery())
		}
		return matchIDs(resp.GetMatches())
	}
	if got := match(); !slices.Equal(got, []string{"tve/cat-1"}) {
		t.Fatalf("match of a JPEG q50 copy = %v, want [tve/cat-1]", got)
	}

	// Update labels; disable stops matching, enable restores it.
	upd, err := e.bank.UpdateItem(ctx, &pb.UpdateItemRequest{
		Item:       &pb.Item{Bank: "tve", Id: "cat-1", Labels: map[string]string{"entity": "other", "source": "test"}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels"}},
	})
	if err != nil {
		t.Fatalf("UpdateItem(labels): %v", err)
	}
	if l := upd.GetItem().GetLabels(); l["entity"] != "other" || l["source"] != "test" {
		t.Errorf("UpdateItem labels = %v, want entity=other source=test", l)
	}
	setDisabled := func(d bool) {
		t.Helper()
		resp, err := e.bank.UpdateItem(ctx, &pb.UpdateItemRequest{
			Item:       &pb.Item{Bank: "tve", Id: "cat-1", Disabled: d},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"disabled"}},
		})
		if err != nil {
			t.Fatalf("UpdateItem(disabled=%v): %v", d, err)
		}
		if resp.GetItem().GetDisabled() != d {
			t.Fatalf("UpdateItem(disabled=%v) = %v", d, resp.GetItem())
		}
	}
	setDisabled(true)
	if got := match(); len(got) != 0 {
		t.Errorf("match after disabling = %v, want none", got)
	}
	setDisabled(false)
	if got := match(); !slices.Equal(got, []string{"tve/cat-1"}) {
		t.Errorf("match after enabling = %v, want [tve/cat-1]", got)
	}

	if _, err := e.bank.DeleteItem(ctx, &pb.DeleteItemRequest{Bank: "tve", Id: "cat-1"}); err != nil {
		t.Fatalf("DeleteItem: %v", err)
	}
	if got := match(); len(got) != 0 {
		t.Errorf("match after deleting = %v, want none", got)
	}
	_, err = e.bank.DeleteItem(ctx, &pb.DeleteItemRequest{Bank: "tve", Id: "cat-1"})
	wantStatus(t, err, codes.NotFound)

	if _, err := e.bank.DeleteBank(ctx, &pb.DeleteBankRequest{Name: "tve"}); err != nil {
		t.Fatalf("DeleteBank: %v", err)
	}
	_, err = e.bank.GetBank(ctx, &pb.GetBankRequest{Name: "tve"})
	wantStatus(t, err, codes.NotFound, "tve")
}

// TestBadInput sends hostile and broken uploads: each gets InvalidArgument
// or ResourceExhausted with a message naming the problem, and the server
// keeps serving.
func TestBadInput(t *testing.T) {
	const streamLimit = 3 << 20
	e := newEnv(t, Options{MaxStreamBytes: streamLimit})
	ctx := t.Context()
	photo := readMedia(t, chelsea)
	jpg := readMedia(t, "images/skimage/rocket.jpg")

	unary := func(content []byte) error {
		_, err := e.match.MatchMedia(ctx, &pb.MatchMediaRequest{Content: content})
		return err
	}
	tests := []struct {
		name  string
		call  func() error
		code  codes.Code
		parts []string
	}{
		{"empty unary", func() error { return unary(nil) },
			codes.InvalidArgument, []string{"MatchMediaRequest.content", "empty"}},
		{"empty stream", func() error { _, err := streamMatch(ctx, e.match, nil, 1<<20, nil); return err },
			codes.InvalidArgument, []string{"MatchMediaStreamRequest.chunk", "no data"}},
		{"empty hash", func() error { _, err := e.hash.HashMedia(ctx, &pb.HashMediaRequest{}); return err },
			codes.InvalidArgument, []string{"HashMediaRequest.content", "empty"}},
		{"truncated JPEG", func() error { return unary(jpg[:len(jpg)/2]) },
			codes.InvalidArgument, []string{"corrupt"}},
		{"PNG declaring 100000x100000", func() error { return unary(hostile.PNGHeader(100000, 100000)) },
			codes.InvalidArgument, []string{"100000x100000"}},
		{"text sent as a video", func() error {
			mmtest.FFmpeg(t)
			return unary([]byte(strings.Repeat("this is plain text, not a video\n", 100)))
		}, codes.InvalidArgument, []string{"unsupported"}},
		{"text streamed as a video", func() error {
			mmtest.FFmpeg(t)
			_, err := streamMatch(ctx, e.match, []byte(strings.Repeat("plain text\n", 1000)), 1000, nil)
			return err
		}, codes.InvalidArgument, []string{"unsupported"}},
		{"unary over the limit", func() error { return unary(make([]byte, DefaultMaxUnaryBytes+1)) },
			codes.ResourceExhausted, []string{"MatchMediaRequest.content", "4194305 bytes", "4194304", "MatchMediaStream"}},
		{"unary far over the limit", func() error { return unary(make([]byte, 3*DefaultMaxUnaryBytes)) },
			codes.ResourceExhausted, nil}, // gRPC's own receive limit answers
		{"unary hash over the limit", func() error {
			_, err := e.hash.HashMedia(ctx, &pb.HashMediaRequest{Content: make([]byte, DefaultMaxUnaryBytes+1)})
			return err
		}, codes.ResourceExhausted, []string{"HashMediaRequest.content", "HashMediaStream"}},
		{"stream over the limit", func() error {
			_, err := streamMatch(ctx, e.match, make([]byte, streamLimit+1), 1<<20, nil)
			return err
		}, codes.ResourceExhausted, []string{"MatchMediaStreamRequest.chunk", fmt.Sprint(streamLimit)}},
		{"add stream over the limit", func() error {
			_, err := streamAdd(ctx, e.bank, &pb.ItemSpec{Bank: "tve", Id: "big"}, make([]byte, streamLimit+1))
			return err
		}, codes.ResourceExhausted, []string{"AddItemStreamRequest.chunk", fmt.Sprint(streamLimit)}},
		{"oversize chunk", func() error {
			_, err := streamMatch(ctx, e.match, make([]byte, 2<<20), 2<<20, nil)
			return err
		}, codes.InvalidArgument, []string{"MatchMediaStreamRequest.chunk", "2097152 bytes"}},
	}
	if _, err := e.bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "tve"}}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := wantStatus(t, tt.call(), tt.code, tt.parts...)
			t.Logf("%v: %s", st.Code(), st.Message())
			// The server keeps serving.
			if _, err := e.match.MatchMedia(ctx, &pb.MatchMediaRequest{Content: photo}); err != nil {
				t.Fatalf("MatchMedia after %s: %v", tt.name, err)
			}
		})
	}
	if strings.Contains(e.logs.String(), "internal error") {
		t.Errorf("bad input was logged as an internal error:\n%s", e.logs.String())
	}
}

// TestValidationNamesFields checks that requests failing validation get
// InvalidArgument naming the field, the value and what was wanted, with a
// BadRequest detail for the field.
func TestValidationNamesFields(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := t.Context()
	photo := readMedia(t, chelsea)
	if _, err := e.bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "tve"}}); err != nil {
		t.Fatal(err)
	}
	phash := func(n int) *pb.Media {
		return &pb.Media{Kind: pb.MediaKind_MEDIA_KIND_IMAGE, Keyframes: []*pb.Keyframe{{Signals: []*pb.Signal{
			{Type: pb.SignalType_SIGNAL_TYPE_PHASH, Hash: make([]byte, n)}}}}}
	}
	thresholds := func(ts ...*pb.Threshold) *pb.MatchOptions { return &pb.MatchOptions{Thresholds: ts} }
	tests := []struct {
		name  string
		call  func() error
		field string
		parts []string
	}{
		{"threshold over the bits", func() error {
			_, err := e.match.MatchMedia(ctx, &pb.MatchMediaRequest{Content: photo, Options: thresholds(
				&pb.Threshold{Signal: pb.SignalType_SIGNAL_TYPE_PHASH, MaxDistance: 300})})
			return err
		}, "MatchMediaRequest.options.thresholds[0].max_distance", []string{"300, want 0..64 for phash"}},
		{"threshold on an exact signal", func() error {
			_, err := e.match.MatchMedia(ctx, &pb.MatchMediaRequest{Content: photo, Options: thresholds(
				&pb.Threshold{Signal: pb.SignalType_SIGNAL_TYPE_MD5, MaxDistance: 1})})
			return err
		}, "MatchMediaRequest.options.thresholds[0].signal", []string{"SIGNAL_TYPE_MD5", "perceptual"}},
		{"threshold without a signal", func() error {
			_, err := e.match.MatchSignals(ctx, &pb.MatchSignalsRequest{Media: phash(8), Options: thresholds(
				&pb.Threshold{MaxDistance: 1})})
			return err
		}, "MatchSignalsRequest.options.thresholds[0].signal", []string{"SIGNAL_TYPE_UNSPECIFIED"}},
		{"negative threshold", func() error {
			_, err := e.match.MatchSignals(ctx, &pb.MatchSignalsRequest{Media: phash(8), Options: thresholds(
				&pb.Threshold{Signal: pb.SignalType_SIGNAL_TYPE_DHASH, MaxDistance: -1})})
			return err
		}, "MatchSignalsRequest.options.thresholds[0].max_distance", []string{"-1, want 0..64 for dhash"}},
		{"too many results", func() error {
			_, err := e.match.MatchMedia(ctx, &pb.MatchMediaRequest{Content: photo,
				Options: &pb.MatchOptions{MaxResults: 5000}})
			return err
		}, "MatchMediaRequest.options.max_results", []string{"5000, want 0..1000"}},
		{"bad bank name in options", func() error {
			_, err := e.match.MatchMedia(ctx, &pb.MatchMediaRequest{Content: photo,
				Options: &pb.MatchOptions{Banks: []string{"tve", "Bad Bank"}}})
			return err
		}, "MatchMediaRequest.options.banks[1]", []string{`"Bad Bank"`, "want"}},
		{"bad options on a stream", func() error {
			_, err := streamMatch(ctx, e.match, photo, 1<<20, &pb.MatchOptions{MaxResults: -1})
			return err
		}, "MatchMediaStreamRequest.options.max_results", []string{"-1"}},
		{"no media", func() error {
			_, err := e.match.MatchSignals(ctx, &pb.MatchSignalsRequest{})
			return err
		}, "MatchSignalsRequest.media", []string{"missing"}},
		{"short hash", func() error {
			_, err := e.match.MatchSignals(ctx, &pb.MatchSignalsRequest{Media: phash(7)})
			return err
		}, "MatchSignalsRequest.media.keyframes[0].signals[0].hash", []string{"phash hash is 7 bytes, want 8"}},
		{"short descriptor", func() error {
			m := phash(8)
			m.Keyframes[0].Features = []*pb.LocalFeature{{Descriptor_: make([]byte, 32)}, {X: 4096, Descriptor_: make([]byte, 31)}}
			_, err := e.match.MatchSignals(ctx, &pb.MatchSignalsRequest{Media: m})
			return err
		}, "MatchSignalsRequest.media.keyframes[0].features[1].descriptor", []string{"31 bytes, want 32"}},
		{"feature out of the frame", func() error {
			m := phash(8)
			m.Keyframes[0].Features = []*pb.LocalFeature{{X: 1<<16 + 5, Descriptor_: make([]byte, 32)}}
			_, err := e.bank.AddItem(ctx, &pb.AddItemRequest{
				Item: &pb.ItemSpec{Bank: "tve", Id: "x"}, Source: &pb.AddItemRequest_Media{Media: m}})
			return err
		}, "AddItemRequest.media.keyframes[0].features[0]", []string{"at 65535,0 level 0, want x and y at most 4096"}},
		{"bank without a name", func() error {
			_, err := e.bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{}})
			return err
		}, "CreateBankRequest.bank.name", []string{"want 1..64"}},
		{"long description", func() error {
			_, err := e.bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "x", Description: strings.Repeat("d", 2000)}})
			return err
		}, "CreateBankRequest.bank.description", []string{"2000 bytes, want at most 1024"}},
		{"negative page size", func() error {
			_, err := e.bank.ListBanks(ctx, &pb.ListBanksRequest{PageSize: -1})
			return err
		}, "ListBanksRequest.page_size", []string{"-1, want 0..1000"}},
		{"item id with a slash", func() error {
			_, err := e.bank.GetItem(ctx, &pb.GetItemRequest{Bank: "tve", Id: "a/b"})
			return err
		}, "GetItemRequest.id", []string{`"a/b"`}},
		{"add without a source", func() error {
			_, err := e.bank.AddItem(ctx, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: "tve", Id: "x"}})
			return err
		}, "AddItemRequest.source", []string{"content", "media"}},
		{"add without an item", func() error {
			_, err := e.bank.AddItem(ctx, &pb.AddItemRequest{Source: &pb.AddItemRequest_Content{Content: photo}})
			return err
		}, "AddItemRequest.item", []string{"missing"}},
		{"add with a long label", func() error {
			_, err := e.bank.AddItem(ctx, &pb.AddItemRequest{
				Item:   &pb.ItemSpec{Bank: "tve", Id: "x", Labels: map[string]string{"k": strings.Repeat("v", 300)}},
				Source: &pb.AddItemRequest_Content{Content: photo}})
			return err
		}, "AddItemRequest.item.labels", []string{"300 bytes"}},
		{"add stream without an item", func() error {
			_, err := streamAdd(ctx, e.bank, nil, photo)
			return err
		}, "AddItemStreamRequest.item", []string{"missing"}},
		{"add with perceptual file signal", func() error {
			m := phash(8)
			m.FileSignals = m.Keyframes[0].Signals
			_, err := e.bank.AddItem(ctx, &pb.AddItemRequest{
				Item: &pb.ItemSpec{Bank: "tve", Id: "x"}, Source: &pb.AddItemRequest_Media{Media: m}})
			return err
		}, "AddItemRequest.media.file_signals[0].type", []string{"phash, want an exact type (md5, sha256)"}},
		{"update without a mask", func() error {
			_, err := e.bank.UpdateItem(ctx, &pb.UpdateItemRequest{Item: &pb.Item{Bank: "tve", Id: "x"}})
			return err
		}, "UpdateItemRequest.update_mask", []string{`"labels"`, `"disabled"`}},
		{"update of an unknown field", func() error {
			_, err := e.bank.UpdateItem(ctx, &pb.UpdateItemRequest{Item: &pb.Item{Bank: "tve", Id: "x"},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"disabled", "media"}}})
			return err
		}, "UpdateItemRequest.update_mask.paths[1]", []string{`"media"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := wantStatus(t, tt.call(), codes.InvalidArgument, append([]string{tt.field}, tt.parts...)...)
			if fields := badFields(st); !slices.Contains(fields, tt.field) {
				t.Errorf("BadRequest fields = %v, want %s", fields, tt.field)
			}
		})
	}
}

func TestMatchSignalsAgreesWithMatchMedia(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := t.Context()
	photo := readMedia(t, chelsea)
	if _, err := e.bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "tve"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.bank.AddItem(ctx, &pb.AddItemRequest{
		Item: &pb.ItemSpec{Bank: "tve", Id: "cat"}, Source: &pb.AddItemRequest_Content{Content: photo}}); err != nil {
		t.Fatal(err)
	}
	query := reencode(t, photo, 50)
	m, err := fingerprint.New(fingerprint.Options{}).Hash(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := e.match.MatchSignals(ctx, &pb.MatchSignalsRequest{Media: pb.MediaToProto(m)})
	if err != nil {
		t.Fatalf("MatchSignals: %v", err)
	}
	med, err := e.match.MatchMedia(ctx, &pb.MatchMediaRequest{Content: query})
	if err != nil {
		t.Fatalf("MatchMedia: %v", err)
	}
	if got, want := matchIDs(sig.GetMatches()), matchIDs(med.GetMatches()); !slices.Equal(got, want) || len(got) != 1 {
		t.Fatalf("MatchSignals = %v, MatchMedia = %v, want the same single match", got, want)
	}
	s, d := sig.GetMatches()[0], med.GetMatches()[0]
	if s.GetSignal() != d.GetSignal() || s.GetDistance() != d.GetDistance() || s.GetThreshold() != d.GetThreshold() {
		t.Errorf("MatchSignals best hit %v/%d/%d, MatchMedia %v/%d/%d", s.GetSignal(), s.GetDistance(), s.GetThreshold(),
			d.GetSignal(), d.GetDistance(), d.GetThreshold())
	}

	// PDQ is the default signal.
	if s.GetSignal() != pb.SignalType_SIGNAL_TYPE_PDQ || s.GetThreshold() != 31 {
		t.Errorf("default best hit %v at threshold %d, want SIGNAL_TYPE_PDQ at 31", s.GetSignal(), s.GetThreshold())
	}
	// pHash and dHash are still indexed and selectable.
	for _, st := range []pb.SignalType{pb.SignalType_SIGNAL_TYPE_PHASH, pb.SignalType_SIGNAL_TYPE_DHASH} {
		resp, err := e.match.MatchSignals(ctx, &pb.MatchSignalsRequest{Media: pb.MediaToProto(m),
			Options: &pb.MatchOptions{Signals: []pb.SignalType{st}}})
		if err != nil {
			t.Fatal(err)
		}
		if ms := resp.GetMatches(); len(ms) != 1 || ms[0].GetSignal() != st || ms[0].GetThreshold() != 8 {
			t.Errorf("MatchSignals with signals [%v] = %v, want one %v match at threshold 8", st, ms, st)
		}
	}

	// A threshold of 0 for every perceptual type lets only an exact
	// perceptual hit through; the re-encode is not one.
	strict := &pb.MatchOptions{Thresholds: []*pb.Threshold{
		{Signal: pb.SignalType_SIGNAL_TYPE_PDQ, MaxDistance: 0},
		{Signal: pb.SignalType_SIGNAL_TYPE_PHASH, MaxDistance: 0},
		{Signal: pb.SignalType_SIGNAL_TYPE_DHASH, MaxDistance: 0},
	}, Signals: []pb.SignalType{pb.SignalType_SIGNAL_TYPE_PDQ, pb.SignalType_SIGNAL_TYPE_PHASH, pb.SignalType_SIGNAL_TYPE_DHASH}}
	if d.GetDistance() > 0 {
		resp, err := e.match.MatchSignals(ctx, &pb.MatchSignalsRequest{Media: pb.MediaToProto(m), Options: strict})
		if err != nil {
			t.Fatal(err)
		}
		for _, mm := range resp.GetMatches() {
			if mm.GetDistance() > 0 {
				t.Errorf("match with threshold 0 = %v, want distance 0", mm)
			}
		}
	}
}

func TestVideoStreams(t *testing.T) {
	mmtest.FFmpeg(t)
	e := newEnv(t, Options{})
	ctx := t.Context()
	if _, err := e.bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "tve"}}); err != nil {
		t.Fatal(err)
	}
	item := readMedia(t, "videos/tmk/chair-orig-22-sd-bar.mp4")
	add, err := streamAdd(ctx, e.bank, &pb.ItemSpec{Bank: "tve", Id: "chair"}, item)
	if err != nil {
		t.Fatalf("AddItemStream: %v", err)
	}
	if add.GetItem().GetMedia().GetKind() != pb.MediaKind_MEDIA_KIND_VIDEO || len(add.GetItem().GetMedia().GetKeyframes()) < 2 {
		t.Fatalf("AddItemStream = %v, want a video with keyframes", add.GetItem().GetMedia())
	}
	query := readMedia(t, "videos/tmk/chair-22-sd-grey-bar.mp4")
	resp, err := streamMatch(ctx, e.match, query, 256<<10, nil)
	if err != nil {
		t.Fatalf("MatchMediaStream: %v", err)
	}
	if got := matchIDs(resp.GetMatches()); !slices.Equal(got, []string{"tve/chair"}) {
		t.Fatalf("MatchMediaStream(grey copy) = %v, want [tve/chair]", got)
	}
	m := resp.GetMatches()[0]
	if m.GetItemKind() != pb.MediaKind_MEDIA_KIND_VIDEO || len(m.GetFrames()) == 0 || m.GetQueryCoverage() <= 0 ||
		len(m.GetQueryRanges()) == 0 || len(m.GetItemRanges()) == 0 {
		t.Errorf("video match = %v, want frames, coverage and ranges", m)
	}
	if resp.GetQuery().GetDurationMillis() <= 0 {
		t.Errorf("query duration = %d ms, want > 0", resp.GetQuery().GetDurationMillis())
	}
	other, err := streamMatch(ctx, e.match, readMedia(t, "videos/tmk/doorknob-hd-no-bar.mp4"), 1<<20, nil)
	if err != nil {
		t.Fatalf("MatchMediaStream(unrelated): %v", err)
	}
	if got := matchIDs(other.GetMatches()); len(got) != 0 {
		t.Errorf("MatchMediaStream(unrelated video) = %v, want none", got)
	}
	h, err := e.hash.HashMediaStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for b := query; len(b) > 0; b = b[min(len(b), 1<<20):] {
		if err := h.Send(&pb.HashMediaStreamRequest{Chunk: b[:min(len(b), 1<<20)]}); err != nil {
			t.Fatal(err)
		}
	}
	hr, err := h.CloseAndRecv()
	if err != nil {
		t.Fatalf("HashMediaStream: %v", err)
	}
	if !slices.EqualFunc(hr.GetMedia().GetKeyframes(), resp.GetQuery().GetKeyframes(),
		func(a, b *pb.Keyframe) bool {
			return bytes.Equal(a.GetSignals()[0].GetHash(), b.GetSignals()[0].GetHash())
		}) {
		t.Errorf("HashMediaStream and MatchMediaStream disagree on the query's keyframes")
	}
}

// TestCanceledUpload checks that a client going away mid-upload ends the
// call without an internal error, and the server keeps serving.
func TestCanceledUpload(t *testing.T) {
	e := newEnv(t, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := e.match.MatchMediaStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.MatchMediaStreamRequest{Chunk: make([]byte, 1<<20)}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := stream.CloseAndRecv(); err == nil {
		t.Fatal("CloseAndRecv after cancel succeeded")
	}
	if _, err := e.match.MatchMedia(t.Context(), &pb.MatchMediaRequest{Content: readMedia(t, chelsea)}); err != nil {
		t.Fatalf("MatchMedia after a cancelled upload: %v", err)
	}
	if logs := e.logs.String(); strings.Contains(logs, "internal error") {
		t.Errorf("a cancelled upload was logged as an internal error:\n%s", logs)
	}
}

func TestToStatus(t *testing.T) {
	logs := &mmtest.SyncBuffer{}
	s := New(nil, nil, Options{Logger: slogTo(logs)})
	ctx := t.Context()
	tests := []struct {
		err  error
		code codes.Code
		msg  string
	}{
		{fmt.Errorf("hash: %w", fingerprint.ErrEmpty), codes.InvalidArgument, "hash: empty file"},
		{fmt.Errorf("%w: 100000x100000", fingerprint.ErrTooLarge), codes.InvalidArgument, "too large: 100000x100000"},
		{fmt.Errorf("%w: bad huffman", fingerprint.ErrCorrupt), codes.InvalidArgument, "corrupt media: bad huffman"},
		{fmt.Errorf("%w: webm", fingerprint.ErrUnsupported), codes.InvalidArgument, "unsupported format: webm"},
		{mediamatch.Errorf(mediamatch.NotFound, "", "bank %q", "x"), codes.NotFound, `bank "x"`},
		{fmt.Errorf("get: %w", mediamatch.Errorf(mediamatch.AlreadyExists, "", "item %q", "y")), codes.AlreadyExists, `item "y"`},
		{mediamatch.Errorf(mediamatch.Invalid, "page_token", "%q is malformed", "x"), codes.InvalidArgument, `page_token: "x" is malformed`},
		{mediamatch.Errorf(mediamatch.Unauthenticated, "", "token %s was revoked", "tok_1"), codes.Unauthenticated, "token tok_1 was revoked"},
		{mediamatch.Errorf(mediamatch.NoSpace, "", "no space: 10 bytes free"), codes.ResourceExhausted, "no space: 10 bytes free"},
		{mediamatch.Errorf(mediamatch.OverBudget, "", "12 signals, want at most 3"), codes.ResourceExhausted, "12 signals, want at most 3"},
		{mediamatch.Errorf(mediamatch.Syntax, "", "hash line: quality %q", "x"), codes.InvalidArgument, `hash line: quality "x"`},
		{mediamatch.ErrClosed, codes.Unavailable, "shutting down"},
		{fmt.Errorf("add: %w", mediamatch.ErrClosed), codes.Unavailable, "shutting down"},
		{fmt.Errorf("ffmpeg: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "deadline exceeded"},
		{context.Canceled, codes.Canceled, "canceled"},
		{invalid("X.y", "%d, want 1", 2), codes.InvalidArgument, "X.y: 2, want 1"},
		{&limitError{field: "X.content", msg: "too big"}, codes.ResourceExhausted, "X.content: too big"},
		{errors.New("badger: disk on fire /secret/path"), codes.Internal, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			st := wantStatus(t, s.toStatus(ctx, tt.err), tt.code, tt.msg)
			if tt.code == codes.Internal && st.Message() != "internal error" {
				t.Errorf("Internal message = %q, want %q", st.Message(), "internal error")
			}
			for _, prefix := range []string{"index: ", "fingerprint: ", "mediamatch: "} {
				if strings.Contains(st.Message(), prefix) {
					t.Errorf("message %q has the package prefix %q", st.Message(), prefix)
				}
			}
		})
	}
	if !strings.Contains(logs.String(), "disk on fire") {
		t.Errorf("log = %q, want the internal error's detail", logs.String())
	}
	if s.toStatus(ctx, nil) != nil {
		t.Error("toStatus(nil) != nil")
	}
}
