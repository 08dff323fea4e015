package server

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mediamatch/mediamatch/index"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

// backupOf streams a backup from the server.
func backupOf(t *testing.T, c pb.AdminServiceClient, since uint64) []byte {
	t.Helper()
	stream, err := c.BackupStore(t.Context(), &pb.BackupStoreRequest{SinceVersion: since})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return b.Bytes()
		}
		if err != nil {
			t.Fatalf("BackupStore: %v", err)
		}
		if len(m.GetChunk()) > backupChunk {
			t.Fatalf("chunk of %d bytes, want at most %d", len(m.GetChunk()), backupChunk)
		}
		b.Write(m.GetChunk())
	}
}

// itemIDs opens the index in dir and returns each bank's item ids.
func itemIDs(t *testing.T, dir string) map[string][]string {
	t.Helper()
	ix, err := index.Open(dir, index.Options{})
	if err != nil {
		t.Fatalf("open restored index: %v", err)
	}
	defer ix.Close()
	out := map[string][]string{}
	for bank := range ix.Stats().BankItems {
		out[bank] = []string{}
		for tok := ""; ; {
			items, next, err := ix.ListItems(t.Context(), bank, 1000, tok)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				out[bank] = append(out[bank], it.ID)
			}
			if tok = next; tok == "" {
				break
			}
		}
		slices.Sort(out[bank])
	}
	return out
}

// TestBackupDuringImport takes a backup through AdminService.BackupStore
// while an import is being streamed in, and restores it into a new data
// dir: it holds exactly the items committed before it (the bank being
// imported into is empty, nothing half-applied) and reports the version
// it covers; an incremental backup since that version, restored on top,
// adds the import whole. A damaged, cut or foreign file is refused and
// nothing is written; a full backup is not restored over a store.
func TestBackupDuringImport(t *testing.T) {
	dir := t.TempDir()
	r := startOps(t, Config{DataDir: dir, FFmpeg: ffmpegPath()})
	ctx := t.Context()
	bank, admin := pb.NewBankServiceClient(r.conn), pb.NewAdminServiceClient(r.conn)
	for _, name := range []string{"kept", "half"} {
		if _, err := bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := importList(ctx, bank, &pb.ImportSignalsRequest{Bank: "kept", Format: "pdq"}, pdqList(pdqHex(t, 50)), 1<<16); err != nil {
		t.Fatal(err)
	}
	before := itemIDsLive(t, bank, "kept")
	baseline := backupOf(t, admin, 0)

	// An import streamed in, most of it sent, not committed.
	list := pdqList(pdqHex(t, 30000))
	stream, err := bank.ImportSignals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sent := len(list) * 9 / 10
	first := true
	for off := 0; off < sent; off += 1 << 16 {
		m := &pb.ImportSignalsRequest{Chunk: list[off:min(off+1<<16, sent)]}
		if first {
			m.Bank, m.Format, first = "half", "pdq", false
		}
		if err := stream.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	full := backupOf(t, admin, 0)
	t.Logf("backup during the import: %d bytes; before it: %d", len(full), len(baseline))
	for off := sent; off < len(list); off += 1 << 16 {
		if err := stream.Send(&pb.ImportSignalsRequest{Chunk: list[off:min(off+1<<16, len(list))]}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil || resp.GetAdded() != 30000 {
		t.Fatalf("import = %v, %v; want 30000 added", resp, err)
	}

	info, err := index.VerifyBackup(bytes.NewReader(full))
	if err != nil || info.Version == 0 || info.Since != 0 {
		t.Fatalf("VerifyBackup = %+v, %v; want a full backup with its version", info, err)
	}
	file := filepath.Join(t.TempDir(), "full.backup")
	if err := os.WriteFile(file, full, 0o600); err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	f, _ := os.Open(file)
	got, err := index.Restore(restored, f, nil)
	f.Close()
	if err != nil || got != info {
		t.Fatalf("Restore = %+v, %v; want %+v", got, err, info)
	}
	ids := itemIDs(t, restored)
	if !slices.Equal(ids["kept"], before) || len(ids["half"]) != 0 || len(ids) != 2 {
		t.Fatalf("restored banks: kept %d items (want %d, the same ids), half %d (want 0: the import was not committed), %d banks (want 2)",
			len(ids["kept"]), len(before), len(ids["half"]), len(ids))
	}

	// An incremental backup since that version adds the import, whole.
	incr := backupOf(t, admin, info.Version+1)
	inf2, err := index.VerifyBackup(bytes.NewReader(incr))
	if err != nil || inf2.Since != info.Version+1 || inf2.Version <= info.Version {
		t.Fatalf("incremental VerifyBackup = %+v, %v; want since %d and a later version", inf2, err, info.Version+1)
	}
	if _, err := index.Restore(restored, bytes.NewReader(incr), nil); err != nil {
		t.Fatalf("Restore incremental: %v", err)
	}
	ids = itemIDs(t, restored)
	if len(ids["half"]) != 30000 || !slices.Equal(ids["kept"], before) {
		t.Errorf("after the incremental: half %d items, kept %d; want 30000 and %d", len(ids["half"]), len(ids["kept"]), len(before))
	}

	// Bad files are refused before anything is written.
	for name, bad := range map[string][]byte{
		"flipped byte": func() []byte { b := slices.Clone(full); b[len(b)/2] ^= 1; return b }(),
		"cut short":    full[:len(full)-100],
		"foreign":      bytes.Repeat([]byte("not a backup "), 100),
		"empty":        nil,
	} {
		target := filepath.Join(t.TempDir(), "bad")
		if _, err := index.Restore(target, bytes.NewReader(bad), nil); !errors.Is(err, index.ErrBadBackup) {
			t.Errorf("Restore(%s) = %v, want ErrBadBackup", name, err)
		}
		if _, err := os.Stat(target); err == nil {
			t.Errorf("Restore(%s) created the data dir", name)
		}
	}
	if _, err := index.Restore(restored, bytes.NewReader(full), nil); err == nil {
		t.Error("a full backup was restored over a store, want an error")
	}
}

// itemIDsLive lists a bank's item ids over the API.
func itemIDsLive(t *testing.T, c pb.BankServiceClient, bank string) []string {
	t.Helper()
	var ids []string
	for _, it := range listAll(t, t.Context(), c, bank) {
		ids = append(ids, it.GetId())
	}
	slices.Sort(ids)
	return ids
}
