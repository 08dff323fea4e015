package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/index"
)

// tokenIDOfSecret returns the id of the token whose secret this is.
func tokenIDOfSecret(t *testing.T, ix *index.Index, secret string) string {
	t.Helper()
	tok, err := ix.Authenticate(secret)
	if err != nil {
		t.Fatal(err)
	}
	return tok.ID
}

// TestAttackScopedAdmin: an admin limited to bank a
// must not see tokens beyond its banks, revoke them, or read the audit
// entries of other banks and other admins, over the real server and guard.
func TestAttackScopedAdmin(t *testing.T) {
	ctx := t.Context()
	e := newAuthEnv(t, authConfig{})
	conn := e.conn(t, nil)
	bank, admin := pb.NewBankServiceClient(conn), pb.NewAdminServiceClient(conn)
	rootSecret := e.token(t, "root", mediamatch.RoleAdmin)
	root := as(ctx, rootSecret)
	for _, b := range []string{"a", "b"} {
		if _, err := bank.CreateBank(root, &pb.CreateBankRequest{Bank: &pb.Bank{Name: b}}); err != nil {
			t.Fatal(err)
		}
		if _, err := bank.AddItem(root, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: b, Id: "secret-" + b},
			Source: &pb.AddItemRequest_Media{Media: pdqMedia(t, pdqHex(t, 1)[0])}}); err != nil {
			t.Fatal(err)
		}
	}
	scopedSecret := e.token(t, "partner-a", mediamatch.RoleAdmin, "a")
	scoped := as(ctx, scopedSecret)
	matcherA := e.token(t, "gateway-a", mediamatch.RoleMatcher, "a")
	matcherB := e.token(t, "gateway-b", mediamatch.RoleMatcher, "b")
	matcherAB := e.token(t, "gateway-ab", mediamatch.RoleMatcher, "a", "b")
	rootID, scopedID := tokenIDOfSecret(t, e.ix, rootSecret), tokenIDOfSecret(t, e.ix, scopedSecret)
	aID, bID, abID := tokenIDOfSecret(t, e.ix, matcherA), tokenIDOfSecret(t, e.ix, matcherB), tokenIDOfSecret(t, e.ix, matcherAB)

	// The scoped admin acts in its bank: an entry it must see.
	if _, err := bank.DeleteItem(scoped, &pb.DeleteItemRequest{Bank: "a", Id: "secret-a"}); err != nil {
		t.Fatal(err)
	}

	list, err := admin.ListTokens(scoped, &pb.ListTokensRequest{})
	if err != nil {
		t.Fatalf("ListTokens as scoped admin: %v", err)
	}
	var seen []string
	for _, tok := range list.GetTokens() {
		seen = append(seen, tok.GetId())
	}
	slices.Sort(seen)
	want := []string{scopedID, aID}
	slices.Sort(want)
	if !slices.Equal(seen, want) {
		t.Errorf("ListTokens as admin of a = %v, want only the tokens limited to a: %v (root %s, b %s, ab %s)",
			seen, want, rootID, bID, abID)
	}

	// Revoking a token outside its banks: NotFound, exactly as for an id
	// that does not exist, and the token still works.
	_, errAbsent := admin.RevokeToken(scoped, &pb.RevokeTokenRequest{Id: "tok_0000000000000000"})
	wantStatus(t, errAbsent, codes.NotFound)
	for _, id := range []string{rootID, bID, abID} {
		_, err := admin.RevokeToken(scoped, &pb.RevokeTokenRequest{Id: id})
		st := wantStatus(t, err, codes.NotFound)
		if strings.Contains(st.Message(), "root") || strings.Contains(st.Message(), "gateway") {
			t.Errorf("RevokeToken(%s) message %q names the token", id, st.Message())
		}
	}
	if _, err := bank.ListBanks(root, &pb.ListBanksRequest{}); err != nil {
		t.Fatalf("root token no longer works after the scoped admin's attempt: %v", err)
	}
	if _, err := admin.RevokeToken(scoped, &pb.RevokeTokenRequest{Id: aID}); err != nil {
		t.Errorf("RevokeToken of a token limited to a, as admin of a: %v", err)
	}

	// The audit log: its own entries and those of bank a only.
	var entries []*pb.AuditEntry
	for token := ""; ; {
		resp, err := admin.ListAuditEntries(scoped, &pb.ListAuditEntriesRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatalf("ListAuditEntries as scoped admin: %v", err)
		}
		entries = append(entries, resp.GetEntries()...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	sawOwn, sawRootInA := false, false
	for _, en := range entries {
		line := en.GetActor() + "|" + en.GetAction() + "|" + en.GetTarget() + "|" + en.GetDetail()
		own := strings.HasPrefix(en.GetActor(), scopedID)
		inA := en.GetTarget() == "a" || strings.HasPrefix(en.GetTarget(), "a/")
		if !own && !(inA && strings.HasPrefix(en.GetAction(), "BankService/")) {
			t.Errorf("admin of a sees audit entry %q", line)
		}
		sawOwn = sawOwn || own
		sawRootInA = sawRootInA || (strings.HasPrefix(en.GetActor(), rootID) && inA)
	}
	if !sawOwn || !sawRootInA {
		t.Errorf("admin of a sees %d entries, own ones %t, root's in bank a %t: want both", len(entries), sawOwn, sawRootInA)
	}
	// The unlimited admin still sees everything.
	all, err := admin.ListAuditEntries(root, &pb.ListAuditEntriesRequest{PageSize: 1000})
	if err != nil || len(all.GetEntries()) <= len(entries) {
		t.Errorf("ListAuditEntries as root = %d entries, %v; want more than the %d of the admin of a", len(all.GetEntries()), err, len(entries))
	}
	if all, err := admin.ListTokens(root, &pb.ListTokensRequest{}); err != nil || len(all.GetTokens()) != 5 {
		t.Errorf("ListTokens as root = %d tokens, %v; want 5", len(all.GetTokens()), err)
	}
}

// TestAttackListBanksPages: a caller limited to some
// banks pages through ListBanks without empty pages and without page
// tokens that name, or count, the other banks. The names are long enough
// that a random page token cannot hold one by chance.
func TestAttackListBanksPages(t *testing.T) {
	ctx := t.Context()
	e := newAuthEnv(t, authConfig{})
	bank := pb.NewBankServiceClient(e.conn(t, nil))
	root := as(ctx, e.token(t, "root", mediamatch.RoleAdmin))
	names := []string{"alpha-shown", "hidden-b", "hidden-c", "hidden-d", "mike-shown", "hidden-x", "hidden-y", "zulu-shown"}
	for _, b := range names {
		if _, err := bank.CreateBank(root, &pb.CreateBankRequest{Bank: &pb.Bank{Name: b}}); err != nil {
			t.Fatal(err)
		}
	}
	scoped := as(ctx, e.token(t, "partner", mediamatch.RoleModerator, "alpha-shown", "mike-shown", "zulu-shown"))
	var got []string
	pages := 0
	for token := ""; ; {
		resp, err := bank.ListBanks(scoped, &pb.ListBanksRequest{PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatalf("ListBanks page %d: %v", pages, err)
		}
		pages++
		if len(resp.GetBanks()) != 1 {
			t.Errorf("page %d holds %d banks, want 1 (no empty pages: they count the hidden banks)", pages, len(resp.GetBanks()))
		}
		for _, b := range resp.GetBanks() {
			got = append(got, b.GetName())
		}
		token = resp.GetNextPageToken()
		raw, _ := base64.RawURLEncoding.DecodeString(token)
		for _, s := range []string{token, string(raw)} {
			for _, n := range names {
				if strings.Contains(s, n) {
					t.Errorf("page token %q (%q) names bank %s", token, raw, n)
				}
			}
		}
		if token == "" || pages > len(names)+1 {
			break
		}
	}
	if want := []string{"alpha-shown", "mike-shown", "zulu-shown"}; !slices.Equal(got, want) || pages != 3 {
		t.Errorf("ListBanks limited to three banks = %v in %d pages, want %v in 3", got, pages, want)
	}
	// A token from a page of one caller serves only to continue a listing:
	// a garbage or forged token is InvalidArgument.
	forged := base64.RawURLEncoding.EncodeToString([]byte("bhidden-c"))
	_, err := bank.ListBanks(scoped, &pb.ListBanksRequest{PageSize: 1, PageToken: forged})
	wantStatus(t, err, codes.InvalidArgument, "ListBanksRequest.page_token")
	_ = context.Background
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory and returns
// it; the test fails when mounting is impossible under CI (root in CI, as
// here), and is skipped elsewhere.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		mmtest.Missing(t, "a tmpfs mount (CI runs as root and must be able to): %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

// serveIndexDir serves the index in dir with opts over loopback TCP through
// the real guard, and returns its clients and a function that stops the
// server and closes the index.
func serveIndexDir(t *testing.T, dir string, opts index.Options) (pb.BankServiceClient, pb.MatchServiceClient, func()) {
	t.Helper()
	ix, err := index.Open(dir, opts)
	if err != nil {
		t.Fatalf("index.Open: %v", err)
	}
	s := New(ix, fingerprint.New(fingerprint.Options{FFmpeg: ffmpegPath()}), Options{Logger: slogTo(&mmtest.SyncBuffer{})})
	gs := grpc.NewServer(s.ServerOptions()...)
	s.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		conn.Close()
		gs.Stop()
		if err := ix.Close(); err != nil {
			t.Errorf("index.Close: %v", err)
		}
	}
	t.Cleanup(stop)
	return pb.NewBankServiceClient(conn), pb.NewMatchServiceClient(conn), stop
}

// fillDiskTo grows the file path until the file system holding it has
// free bytes free (roughly: whole MiBs).
func fillDiskTo(t *testing.T, path string, free int64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		t.Fatal(err)
	}
	have := int64(st.Bavail) * st.Bsize
	if have <= free {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := bytes.Repeat([]byte{0x5a}, 1<<20)
	for n := (have - free) >> 20; n > 0; n-- {
		if _, err := f.Write(buf); err != nil {
			t.Fatalf("filling %s: %v", path, err)
		}
	}
}

// TestAttackDiskFullImport: an import fills the disk
// of the data dir (a small tmpfs). The server must refuse it with
// ResourceExhausted naming the free bytes and the reserve, not die of
// SIGBUS in Badger's mapped files; and when restarted with no room left it
// must serve matches read-only and refuse writes.
func TestAttackDiskFullImport(t *testing.T) {
	ctx := t.Context()
	const (
		disk    = 256 << 20
		reserve = 96 << 20
	)
	mnt := mountTmpfs(t, disk)
	data := filepath.Join(mnt, "data")
	opts := index.Options{MinFreeBytes: reserve}
	bank, match, stop := serveIndexDir(t, data, opts)
	if _, err := bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "known"}}); err != nil {
		t.Fatal(err)
	}
	known := pdqHex(t, 1)[0]
	if _, err := bank.AddItem(ctx, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: "known", Id: "k1"},
		Source: &pb.AddItemRequest_Media{Media: pdqMedia(t, known)}}); err != nil {
		t.Fatal(err)
	}

	// A list far larger than the disk: videos of 5000 keyframes, about
	// 600 KB of jsonl and 250 KB stored each, 1200 of them.
	stream, err := bank.ImportSignals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := true
	var line bytes.Buffer
	h := make([]byte, 32)
	sent := 0
	for i := 0; i < 1200; i++ {
		line.Reset()
		fmt.Fprintf(&line, `{"id":"v%05d","media":{"kind":"video","keyframes":[`, i)
		for k := range 5000 {
			rand.Read(h)
			if k > 0 {
				line.WriteByte(',')
			}
			fmt.Fprintf(&line, `{"index":%d,"start_ns":%d,"end_ns":%d,"signals":[{"type":"pdq","hash":"%x","quality":90}]}`,
				k, k*1000, k*1000+999, h)
		}
		line.WriteString("]}}\n")
		m := &pb.ImportSignalsRequest{Chunk: line.Bytes()}
		if first {
			m.Bank, m.Format, first = "known", "jsonl", false
		}
		if err := stream.Send(m); err != nil {
			break // the server ended the call: CloseAndRecv has its status
		}
		sent++
	}
	_, err = stream.CloseAndRecv()
	t.Logf("import after %d of 1200 records: %v", sent, err)
	wantStatus(t, err, codes.ResourceExhausted, "bytes free", "reserve")

	// The server lives on and still matches and writes small things.
	resp, err := match.MatchSignals(ctx, &pb.MatchSignalsRequest{Media: pdqMedia(t, known)})
	if err != nil || len(resp.GetMatches()) != 1 {
		t.Fatalf("MatchSignals after the refused import = %v, %v; want k1", matchIDs(resp.GetMatches()), err)
	}
	stop()

	// No room to recover: the next start opens read-only, serves matches
	// and refuses writes.
	fillDiskTo(t, filepath.Join(mnt, "filler"), reserve/2)
	bank, match, stop = serveIndexDir(t, data, opts)
	resp, err = match.MatchSignals(ctx, &pb.MatchSignalsRequest{Media: pdqMedia(t, known)})
	if err != nil || len(resp.GetMatches()) != 1 {
		t.Fatalf("MatchSignals after a restart on a full disk = %v, %v; want k1", matchIDs(resp.GetMatches()), err)
	}
	_, err = bank.AddItem(ctx, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: "known", Id: "k2"},
		Source: &pb.AddItemRequest_Media{Media: pdqMedia(t, pdqHex(t, 2)[1])}})
	wantStatus(t, err, codes.ResourceExhausted, "read-only")
	stop()

	// Space freed (the filler, and the refused import's staging is only
	// reclaimed by compaction later, so the disk grows too): writable
	// again.
	if err := os.Remove(filepath.Join(mnt, "filler")); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", fmt.Sprintf("remount,size=%d", 2*disk), mnt).CombinedOutput(); err != nil {
		t.Fatalf("growing the tmpfs: %v\n%s", err, out)
	}
	bank, _, _ = serveIndexDir(t, data, opts)
	if _, err := bank.AddItem(ctx, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: "known", Id: "k2"},
		Source: &pb.AddItemRequest_Media{Media: pdqMedia(t, pdqHex(t, 2)[1])}}); err != nil {
		t.Errorf("AddItem after space was freed: %v", err)
	}
}

// TestAttackRevokedImportCommits: a token revoked
// while its import streams in must not get the import applied.
func TestAttackRevokedImportCommits(t *testing.T) {
	ctx := t.Context()
	e := newAuthEnv(t, authConfig{})
	conn := e.conn(t, nil)
	bank, admin := pb.NewBankServiceClient(conn), pb.NewAdminServiceClient(conn)
	root := as(ctx, e.token(t, "root", mediamatch.RoleAdmin))
	curSecret := e.token(t, "stolen-curator", mediamatch.RoleCurator)
	if _, err := bank.CreateBank(root, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "p"}}); err != nil {
		t.Fatal(err)
	}
	stream, err := bank.ImportSignals(as(ctx, curSecret))
	if err != nil {
		t.Fatal(err)
	}
	list := pdqList(pdqHex(t, 20))
	if err := stream.Send(&pb.ImportSignalsRequest{Bank: "p", Format: "pdq", Chunk: list[:len(list)/2]}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RevokeToken(root, &pb.RevokeTokenRequest{Id: tokenIDOfSecret(t, e.ix, curSecret)}); err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.ImportSignalsRequest{Chunk: list[len(list)/2:]}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.CloseAndRecv()
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("import by a token revoked before it ended = %v, %v; want Unauthenticated", resp, err)
	}
	b, err := bank.GetBank(root, &pb.GetBankRequest{Name: "p"})
	if err != nil || b.GetBank().GetItemCount() != 0 {
		t.Errorf("bank p after the revoked import: %d items, %v; want 0", b.GetBank().GetItemCount(), err)
	}
}

// TestAttackDuplicateImportIDs: one id given twice in
// a list with different content must not silently take the later record
// and count an update; an exact repeat changes nothing, and a delete
// after a put is an update (te-updates pages retract records).
func TestAttackDuplicateImportIDs(t *testing.T) {
	ctx := t.Context()
	e := newEnv(t, Options{})
	if _, err := e.bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "d"}}); err != nil {
		t.Fatal(err)
	}
	h := pdqHex(t, 3)
	line := func(id, hash string) string {
		return fmt.Sprintf(`{"id":%q,"media":{"kind":"image","keyframes":[{"index":0,"signals":[{"type":"pdq","hash":%q,"quality":90}]}]}}`+"\n", id, hash)
	}
	list := []byte(line("x", h[0]) + line("y", h[1]) + line("x", h[2]) + line("y", h[1]) + `{"id":"y","delete":true}` + "\n")
	_, err := importList(ctx, e.bank, &pb.ImportSignalsRequest{Bank: "d", Format: "jsonl"}, list, 1<<20)
	st := wantStatus(t, err, codes.InvalidArgument, "line 3", "line 1")
	if strings.Contains(st.Message(), "line 4:") || strings.Contains(st.Message(), "line 5:") {
		t.Errorf("an exact repeat (line 4) or a delete (line 5) is reported: %s", st.Message())
	}
	resp, err := importList(ctx, e.bank, &pb.ImportSignalsRequest{Bank: "d", Format: "jsonl", SkipInvalid: true}, list, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetAdded() != 2 || resp.GetUpdated() != 0 || resp.GetDeleted() != 1 || resp.GetUnchanged() != 1 || resp.GetRejected() != 1 {
		t.Errorf("import with skip_invalid: added %d updated %d deleted %d unchanged %d rejected %d; want 2 0 1 1 1",
			resp.GetAdded(), resp.GetUpdated(), resp.GetDeleted(), resp.GetUnchanged(), resp.GetRejected())
	}
	it, err := e.bank.GetItem(ctx, &pb.GetItemRequest{Bank: "d", Id: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%x", it.GetItem().GetMedia().GetKeyframes()[0].GetSignals()[0].GetHash()); got != h[0] {
		t.Errorf("item x has hash %s, want the first record's %s", got, h[0])
	}
}

// TestAttackListItemsPageBytes: pages count items,
// not bytes, so a page of items with 10,000 keyframes each goes over the
// client's 4 MiB message limit and the bank cannot be listed at all.
func TestAttackListItemsPageBytes(t *testing.T) {
	ctx := t.Context()
	e := newAuthEnv(t, authConfig{})
	bank := pb.NewBankServiceClient(e.conn(t, nil)) // gRPC's default 4 MiB receive limit
	root := as(ctx, e.token(t, "root", mediamatch.RoleAdmin))
	if _, err := e.ix.CreateBank(ctx, mediamatch.Bank{Name: "big"}); err != nil {
		t.Fatal(err)
	}
	const items = 12
	h := make([]byte, 32)
	for i := range items {
		m := mediamatch.Media{Kind: mediamatch.KindVideo, Duration: time.Hour}
		for k := range mediamatch.MaxKeyframes {
			rand.Read(h)
			m.Keyframes = append(m.Keyframes, mediamatch.Keyframe{Index: k, Start: time.Duration(k) * time.Millisecond,
				End:     time.Duration(k+1) * time.Millisecond,
				Signals: []mediamatch.Signal{{Type: mediamatch.PDQ, Hash: slices.Clone(h), Quality: 90}}})
		}
		if _, err := e.ix.AddItem(ctx, mediamatch.Item{Bank: "big", ID: fmt.Sprintf("v%02d", i), Media: m}); err != nil {
			t.Fatal(err)
		}
	}
	got, pages := 0, 0
	for token := ""; ; pages++ {
		resp, err := bank.ListItems(root, &pb.ListItemsRequest{Bank: "big", PageSize: 1000, PageToken: token})
		if err != nil {
			t.Fatalf("ListItems page %d of a bank of %d items of %d keyframes: %v", pages, items, mediamatch.MaxKeyframes, err)
		}
		if n := proto.Size(resp); n > 4<<20 {
			t.Errorf("page %d is %d bytes, over 4 MiB", pages, n)
		}
		got += len(resp.GetItems())
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if got != items || pages < 2 {
		t.Errorf("listed %d items in %d pages, want %d in several", got, pages+1, items)
	}
}

// TestAttackBootstrapTokenLingers: the bootstrap
// admin token must expire, and its file must not stay in the data dir
// once the token has been used.
func TestAttackBootstrapTokenLingers(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "data")
	conn, _, stop := startRunWith(t, Config{DataDir: dir, FFmpeg: ffmpegPath(), Auth: true},
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer stop()
	file := filepath.Join(dir, BootstrapTokenFile)
	secret, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	admin := pb.NewAdminServiceClient(conn)
	list, err := admin.ListTokens(as(ctx, strings.TrimSpace(string(secret))), &pb.ListTokensRequest{})
	if err != nil || len(list.GetTokens()) != 1 {
		t.Fatalf("ListTokens with the bootstrap token = %v, %v", list, err)
	}
	exp := list.GetTokens()[0].GetExpireTime()
	if exp == nil || exp.AsTime().After(time.Now().Add(BootstrapTokenTTL)) || exp.AsTime().Before(time.Now()) {
		t.Errorf("bootstrap token expires at %v, want within %v", exp, BootstrapTokenTTL)
	}
	// The file goes once the token was used (in the background: wait).
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still there a minute after the token's first use", file)
		}
	}
}
