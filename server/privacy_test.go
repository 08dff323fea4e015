package server

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
)

// TestUploadsLeaveNoTrace embeds a unique canary in uploads (after the end
// of a valid PNG, and inside a text file sent as a video), adds and matches
// them, and checks that the canary reaches neither the logs (at debug
// level), nor the data dir, nor the temp dir. An upload written to a
// temporary file and deleted again leaves nothing behind, so the temp dir
// is also watched (inotify) while the uploads are handled: nothing may be
// created in it, not even for a moment.
func TestUploadsLeaveNoTrace(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // for this process and the ffmpeg it starts
	e := newEnv(t, Options{})
	created := watchCreates(t, tmp)
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

	for _, name := range created() {
		t.Errorf("%s was created in the temp dir while uploads were handled", name)
	}
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

// watchCreates starts watching dir with inotify and returns a function
// that returns the names of the entries created in, moved into or written
// in dir since. The kernel queues the events as the file operations happen,
// so reading them afterwards misses none (the queue holds 16384 events).
func watchCreates(t *testing.T, dir string) func() []string {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatalf("inotify_init1: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_MODIFY); err != nil {
		t.Fatalf("inotify_add_watch %s: %v", dir, err)
	}
	return func() []string {
		var names []string
		buf := make([]byte, 64<<10)
		for {
			n, err := unix.Read(fd, buf)
			if err == unix.EAGAIN {
				return names
			}
			if err != nil {
				t.Fatalf("reading inotify events: %v", err)
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				name := string(bytes.TrimRight(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)], "\x00"))
				if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
					name = "(events lost: queue overflow)"
				}
				if !slices.Contains(names, name) {
					names = append(names, name)
				}
				off += unix.SizeofInotifyEvent + int(ev.Len)
			}
		}
	}
}
