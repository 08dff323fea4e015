package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
	"github.com/mediamatch/mediamatch/client"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/server"
)

// Limits of the test server, small so that tests cross them cheaply.
const (
	unaryLimit  = 64 << 10
	streamLimit = 1 << 20
)

// newConn returns a connection to a real server (Badger index in a temp
// dir, real hasher) over bufconn.
func newConn(t *testing.T) *grpc.ClientConn {
	t.Helper()
	ix, err := index.Open(t.TempDir(), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	opts := server.Options{MaxUnaryBytes: unaryLimit, MaxStreamBytes: streamLimit}
	s := server.New(ix, fingerprint.New(fingerprint.Options{}), opts)
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(opts.MaxRecvMsgSize()))
	s.Register(gs)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func photo(t *testing.T) []byte {
	t.Helper()
	b := mmtest.ReadShared(t, "media", "images", "skimage", "chelsea.png")
	return b
}

func TestErrorsMapToSentinels(t *testing.T) {
	conn := newConn(t)
	c := client.New(conn)
	ctx := t.Context()
	if _, err := c.CreateBank(ctx, "tve", ""); err != nil {
		t.Fatal(err)
	}

	_, err := c.CreateBank(ctx, "tve", "")
	if !errors.Is(err, client.ErrAlreadyExists) {
		t.Errorf("CreateBank(existing) = %v, want ErrAlreadyExists", err)
	}
	_, err = c.GetBank(ctx, "nope")
	if !errors.Is(err, client.ErrNotFound) || status.Code(err) != codes.NotFound {
		t.Errorf("GetBank(missing) = %v, want ErrNotFound and code NotFound", err)
	}
	_, err = c.CreateBank(ctx, "Not Valid", "")
	var ce *client.Error
	if !errors.Is(err, client.ErrInvalidArgument) || !errors.As(err, &ce) || len(ce.Violations) != 1 ||
		ce.Violations[0].Field != "CreateBankRequest.bank.name" {
		t.Errorf("CreateBank(bad name) = %#v, want ErrInvalidArgument with a violation of CreateBankRequest.bank.name", err)
	} else if want := `invalid argument: CreateBankRequest.bank.name: `; err.Error()[:len(want)] != want {
		t.Errorf("error text %q, want it to start with %q", err, want)
	}

	// A streamed file over the server's stream limit.
	_, err = c.MatchReader(ctx, bytes.NewReader(make([]byte, streamLimit+1)), client.MatchOptions{})
	if !errors.Is(err, client.ErrResourceExhausted) {
		t.Errorf("MatchReader(over the stream limit) = %v, want ErrResourceExhausted", err)
	}
	// A unary file over the server's unary limit, when the client is told
	// the wrong limit.
	big := client.New(conn, client.WithUnaryLimit(1<<30))
	_, err = big.Hash(ctx, make([]byte, unaryLimit+1))
	if !errors.Is(err, client.ErrResourceExhausted) {
		t.Errorf("Hash(over the unary limit, unary) = %v, want ErrResourceExhausted", err)
	}

	dctx, cancel := context.WithTimeout(ctx, -time.Second)
	defer cancel()
	if _, err := c.GetBank(dctx, "tve"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("GetBank(expired context) = %v, want context.DeadlineExceeded", err)
	}

	// Nothing listens on a port we just released.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	dead, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	if _, err := client.New(dead).GetBank(ctx, "tve"); !errors.Is(err, client.ErrUnavailable) {
		t.Errorf("GetBank(no server) = %v, want ErrUnavailable", err)
	}
}

// TestErrorsCarryDomainCodes checks that a client error answers
// errors.Is with the domain's sentinels and gives the rejected field, as
// the server's BadRequest names it.
func TestErrorsCarryDomainCodes(t *testing.T) {
	c := client.New(newConn(t))
	ctx := t.Context()
	if _, err := c.CreateBank(ctx, "tve", ""); err != nil {
		t.Fatal(err)
	}

	_, err := c.GetBank(ctx, "nope")
	if !errors.Is(err, mediamatch.ErrNotFound) || !errors.Is(err, client.ErrNotFound) || errors.Is(err, mediamatch.ErrInvalid) {
		t.Errorf("GetBank(missing) = %v, want mediamatch.ErrNotFound and client.ErrNotFound, not ErrInvalid", err)
	}
	if want := `not found: bank "nope"`; err == nil || err.Error() != want {
		t.Errorf("GetBank(missing) = %v, want %q", err, want)
	}
	_, err = c.CreateBank(ctx, "tve", "")
	if !errors.Is(err, mediamatch.ErrAlreadyExists) {
		t.Errorf("CreateBank(existing) = %v, want mediamatch.ErrAlreadyExists", err)
	}

	_, err = c.AddItem(ctx, client.ItemSpec{Bank: "tve", ID: "a/b"}, photo(t))
	var ce *client.Error
	var de *mediamatch.Error
	switch {
	case !errors.Is(err, mediamatch.ErrInvalid) || !errors.As(err, &ce) || !errors.As(err, &de):
		t.Fatalf("AddItem(id a/b) = %v, want a *client.Error that is mediamatch.ErrInvalid", err)
	case ce.Field() != "AddItemRequest.item.id" || de.Field != ce.Field() || de.Code != mediamatch.Invalid:
		t.Errorf("AddItem(id a/b): Field() %q, domain field %q code %q; want AddItemRequest.item.id, invalid argument",
			ce.Field(), de.Field, de.Code)
	case !strings.Contains(de.Msg, `"a/b" contains '/' at byte 1, want 1..128 bytes`):
		t.Errorf("AddItem(id a/b): domain message %q, want the value and what was wanted", de.Msg)
	}

	// Over the stream limit: ResourceExhausted stands for no one domain code.
	_, err = c.MatchReader(ctx, bytes.NewReader(make([]byte, streamLimit+1)), client.MatchOptions{})
	if !errors.As(err, &ce) || ce.Domain() != nil || errors.As(err, &de) {
		t.Errorf("MatchReader(over the stream limit) = %v, want a client error with no domain code", err)
	}
}

// TestLargeFilesAreStreamed checks that files over the unary limit go
// through the streaming RPCs: the server refuses them in one message.
func TestLargeFilesAreStreamed(t *testing.T) {
	c := client.New(newConn(t), client.WithUnaryLimit(unaryLimit), client.WithChunkSize(100<<10))
	ctx := t.Context()
	data := photo(t)
	if len(data) <= unaryLimit {
		t.Fatalf("test photo is %d bytes, want more than %d", len(data), unaryLimit)
	}
	if _, err := c.CreateBank(ctx, "tve", ""); err != nil {
		t.Fatal(err)
	}
	it, err := c.AddItem(ctx, client.ItemSpec{Bank: "tve", ID: "cat", Labels: map[string]string{"entity": "x"}}, data)
	if err != nil {
		t.Fatalf("AddItem(%d bytes): %v", len(data), err)
	}
	if it.ID != "cat" || it.Media.Kind != mediamatch.KindImage || it.Labels["entity"] != "x" || it.CreateTime.IsZero() {
		t.Errorf("AddItem = %+v, want image item cat with its label and create time", it)
	}
	res, err := c.Match(ctx, data, client.MatchOptions{})
	if err != nil {
		t.Fatalf("Match(%d bytes): %v", len(data), err)
	}
	if len(res.Matches) != 1 || res.Matches[0].ItemID != "cat" || res.Query.Kind != mediamatch.KindImage {
		t.Errorf("Match = %+v, want the item cat and the query's signals", res)
	}
	m, err := c.Hash(ctx, data)
	if err != nil {
		t.Fatalf("Hash(%d bytes): %v", len(data), err)
	}
	if !slices.EqualFunc(m.Keyframes[0].Signals, it.Media.Keyframes[0].Signals,
		func(a, b mediamatch.Signal) bool { return a.Type == b.Type && bytes.Equal(a.Hash, b.Hash) }) {
		t.Errorf("Hash = %v, want the item's signals %v", m.Keyframes, it.Media.Keyframes)
	}
	// Small files go in one message.
	small := client.New(newConn(t))
	if _, err := small.Hash(ctx, data[:1000]); !errors.Is(err, client.ErrInvalidArgument) {
		t.Errorf("Hash(first 1000 bytes of a PNG) = %v, want ErrInvalidArgument", err)
	}
}

func TestListsIteratePages(t *testing.T) {
	c := client.New(newConn(t), client.WithPageSize(2))
	ctx := t.Context()
	var want []string
	for i := range 5 {
		name := fmt.Sprintf("bank-%d", i)
		want = append(want, name)
		if _, err := c.CreateBank(ctx, name, ""); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for b, err := range c.ListBanks(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b.Name)
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListBanks = %v, want %v", got, want)
	}
	for b, err := range c.ListBanks(ctx) {
		if err != nil || b.Name != "bank-0" {
			t.Errorf("first bank = %v, %v", b.Name, err)
		}
		break // stopping early must not panic
	}

	var ids []string
	for i := range 5 {
		id := fmt.Sprintf("item-%d", i)
		ids = append(ids, id)
		m := mediamatch.Media{Kind: mediamatch.KindImage, Keyframes: []mediamatch.Keyframe{{Signals: []mediamatch.Signal{
			{Type: mediamatch.PHash, Hash: []byte{byte(i), 1, 2, 3, 4, 5, 6, 7}}}}}}
		if _, err := c.AddItemSignals(ctx, client.ItemSpec{Bank: "bank-0", ID: id}, m); err != nil {
			t.Fatal(err)
		}
	}
	got = nil
	for it, err := range c.ListItems(ctx, "bank-0") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, it.ID)
	}
	if !slices.Equal(got, ids) {
		t.Errorf("ListItems = %v, want %v", got, ids)
	}
	var lastErr error
	for _, err := range c.ListItems(ctx, "missing") {
		lastErr = err
	}
	if !errors.Is(lastErr, client.ErrNotFound) {
		t.Errorf("ListItems(missing bank) error = %v, want ErrNotFound", lastErr)
	}
}

func TestUpdateAndMatchSignals(t *testing.T) {
	c := client.New(newConn(t))
	ctx := t.Context()
	data := photo(t)
	if _, err := c.CreateBank(ctx, "tve", ""); err != nil {
		t.Fatal(err)
	}
	local, err := fingerprint.New(fingerprint.Options{}).Hash(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddItemSignals(ctx, client.ItemSpec{Bank: "tve", ID: "cat"}, local); err != nil {
		t.Fatalf("AddItemSignals: %v", err)
	}
	matchIDs := func() []string {
		t.Helper()
		ms, err := c.MatchSignals(ctx, local, client.MatchOptions{Banks: []string{"tve"},
			Thresholds: map[mediamatch.SignalType]int{mediamatch.PHash: 4}})
		if err != nil {
			t.Fatalf("MatchSignals: %v", err)
		}
		var ids []string
		for _, m := range ms {
			ids = append(ids, m.ItemID)
		}
		return ids
	}
	if got := matchIDs(); !slices.Equal(got, []string{"cat"}) {
		t.Fatalf("MatchSignals = %v, want [cat]", got)
	}
	it, err := c.Disable(ctx, "tve", "cat")
	if err != nil || !it.Disabled {
		t.Fatalf("Disable = %+v, %v", it, err)
	}
	if got := matchIDs(); len(got) != 0 {
		t.Errorf("MatchSignals after Disable = %v, want none", got)
	}
	if it, err = c.Enable(ctx, "tve", "cat"); err != nil || it.Disabled {
		t.Fatalf("Enable = %+v, %v", it, err)
	}
	it, err = c.UpdateItem(ctx, "tve", "cat", mediamatch.ItemUpdate{Labels: map[string]string{"k": "v"}, SetLabels: true})
	if err != nil || it.Labels["k"] != "v" || it.Disabled {
		t.Fatalf("UpdateItem(labels) = %+v, %v", it, err)
	}
	if got := matchIDs(); !slices.Equal(got, []string{"cat"}) {
		t.Errorf("MatchSignals after Enable = %v, want [cat]", got)
	}
	if err := c.DeleteItem(ctx, "tve", "cat"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetItem(ctx, "tve", "cat"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("GetItem after DeleteItem = %v, want ErrNotFound", err)
	}
	if err := c.DeleteBank(ctx, "tve"); err != nil {
		t.Fatal(err)
	}
	_, err = c.MatchSignals(ctx, local, client.MatchOptions{Thresholds: map[mediamatch.SignalType]int{mediamatch.MD5: 1}})
	var ce *client.Error
	if !errors.As(err, &ce) || len(ce.Violations) == 0 || ce.Violations[0].Field != "MatchSignalsRequest.options.thresholds[0].signal" {
		t.Errorf("MatchSignals(threshold on md5) = %v, want a violation of the threshold's signal", err)
	}
}

// TestDihedral: with MatchOptions.Dihedral a mirrored copy matches and the
// match says how it is turned, over Match (streamed: the photo is over the
// test server's unary limit) and MatchSignals (hashed here).
func TestDihedral(t *testing.T) {
	c := client.New(newConn(t), client.WithUnaryLimit(unaryLimit))
	ctx := t.Context()
	data := photo(t)
	if _, err := c.CreateBank(ctx, "tve", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddItem(ctx, client.ItemSpec{Bank: "tve", ID: "cat"}, data); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	mirrored := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := range b.Dy() {
		for x := range b.Dx() {
			mirrored.Set(x, y, img.At(b.Max.X-1-x, b.Min.Y+y)) // left to right
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, mirrored); err != nil {
		t.Fatal(err)
	}
	upload := buf.Bytes()

	res, err := c.Match(ctx, upload, client.MatchOptions{Upright: true})
	if err != nil || len(res.Matches) != 0 {
		t.Errorf("Match(mirrored, upright) = %+v, %v; want no match", res.Matches, err)
	}
	res, err = c.Match(ctx, upload, client.MatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ms := res.Matches; len(ms) != 1 || ms[0].ItemID != "cat" || ms[0].Signal != mediamatch.PDQ ||
		ms[0].Transform != mediamatch.FlipY || len(ms[0].Frames) != 1 || ms[0].Frames[0].Transform != mediamatch.FlipY {
		t.Errorf("Match(mirrored) = %+v, want cat by PDQ with transform FlipY (%d)", ms, mediamatch.FlipY)
	}
	local, err := fingerprint.New(fingerprint.Options{}).HashWith(ctx, upload, fingerprint.HashOptions{Dihedral: true})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := c.MatchSignals(ctx, local, client.MatchOptions{})
	if err != nil || len(ms) != 1 || ms[0].Transform != mediamatch.FlipY {
		t.Errorf("MatchSignals(mirrored) = %+v, %v; want cat with transform FlipY", ms, err)
	}
	if ms, err := c.MatchSignals(ctx, local, client.MatchOptions{Upright: true}); err != nil || len(ms) != 0 {
		t.Errorf("MatchSignals(mirrored, upright) = %+v, %v; want no match", ms, err)
	}
}
