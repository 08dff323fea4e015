package server

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

// TestUploadsLeaveNoTrace embeds a unique canary in uploads (after the end
// of a valid PNG, and inside a text file sent as a video), adds and matches
// them, and checks that the canary reaches neither the logs (at debug
// level), nor the data dir, nor the temp dir.
func TestUploadsLeaveNoTrace(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // for this process and the ffmpeg it starts
	e := newEnv(t, Options{})
	ctx := t.Context()

	canary := make([]byte, 16)
	rand.Read(canary)
	mark := []byte("CANARY-" + hex.EncodeToString(canary))
	png := append(append([]byte(nil), readMedia(t, chelsea)...), mark...)
	text := append(bytes.Repeat([]byte("not a video "), 100), mark...)

	if _, err := e.bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "tve"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.bank.AddItem(ctx, &pb.AddItemRequest{Item: &pb.ItemSpec{Bank: "tve", Id: "canary"},
		Source: &pb.AddItemRequest_Content{Content: png}}); err != nil {
		t.Fatalf("AddItem: %v", err)
	}
	if _, err := streamAdd(ctx, e.bank, &pb.ItemSpec{Bank: "tve", Id: "canary-2"}, png); err != nil {
		t.Fatalf("AddItemStream: %v", err)
	}
	if _, err := e.match.MatchMedia(ctx, &pb.MatchMediaRequest{Content: png}); err != nil {
		t.Fatalf("MatchMedia: %v", err)
	}
	if _, err := streamMatch(ctx, e.match, png, 64<<10, nil); err != nil {
		t.Fatalf("MatchMediaStream: %v", err)
	}
	// Fails (not a video), through ffmpeg when it is installed.
	e.match.MatchMedia(ctx, &pb.MatchMediaRequest{Content: text})

	if bytes.Contains([]byte(e.logs.String()), mark) {
		t.Errorf("the canary is in the log:\n%s", e.logs.String())
	}
	for _, dir := range []string{e.dir, tmp} {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if fileContains(t, path, mark) {
				t.Errorf("the canary is in %s", path)
			}
			return nil
		})
	}
}

// fileContains reports whether the file at path holds mark. It reads only
// the file's data segments (Linux SEEK_DATA/SEEK_HOLE), since Badger's
// value log and memtable files are large and mostly holes.
func fileContains(t *testing.T, path string, mark []byte) bool {
	const seekData, seekHole = 3, 4
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	buf := make([]byte, 1<<20)
	for off := int64(0); off < fi.Size(); {
		start, err := f.Seek(off, seekData)
		if errors.Is(err, syscall.ENXIO) {
			break // no data after off
		}
		if err != nil {
			start = off // no SEEK_DATA here: read everything
		}
		end, err := f.Seek(start, seekHole)
		if err != nil {
			end = fi.Size()
		}
		// Read [start, end) in chunks that overlap by len(mark)-1.
		for pos := start; pos < end; {
			n, _ := f.ReadAt(buf[:min(int64(len(buf)), end-pos)], pos)
			if n <= 0 {
				break
			}
			if bytes.Contains(buf[:n], mark) {
				return true
			}
			if pos+int64(n) >= end {
				break
			}
			pos += int64(max(1, n-len(mark)+1))
		}
		off = end
	}
	return false
}
