package fingerprint

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
	"github.com/mediamatch/mediamatch/fingerprint/hostile"
)

// Tests of ffmpeg's file-system view: no descriptor
// of this process leaks into it, and Landlock keeps it from reading or
// creating files outside what it needs.

// TestFFmpegInheritsNoDescriptor opens a file without close-on-exec, as a
// descriptor inherited from this process's parent (or opened by C code)
// would be, and looks at the descriptors of the real ffmpeg while it
// runs: only its standard streams and the upload.
func TestFFmpegInheritsNoDescriptor(t *testing.T) {
	secret, fd := hostile.LeakedDescriptor(t)
	data := makeVideo(t, "c.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=5:d=3", "-c:v", "libx264", "-preset", "ultrafast")
	h := New(Options{})
	var fds map[string]string
	onFrame := func(*image.Gray) error {
		if fds != nil {
			return nil
		}
		pid := ffmpegChild()
		if pid == 0 {
			return errors.New("no ffmpeg child found")
		}
		fds = descriptors(t, pid)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	res, err := runFFmpeg(ctx, h.job(decodeFast, 0), testDeadline, data, nil, onFrame)
	if err != nil || res.cause != nil || res.exit != nil {
		t.Fatalf("runFFmpeg: cause %v, exit %v, %v", res.cause, res.exit, err)
	}
	t.Logf("ffmpeg's descriptors: %v (the leaked one was %d)", fds, fd)
	for n, target := range fds {
		switch {
		case target == secret:
			t.Errorf("ffmpeg holds the leaked descriptor %d as its fd %s -> %s", fd, n, target)
		case n == "0" && target == "/dev/null", (n == "1" || n == "2") && strings.HasPrefix(target, "pipe:"),
			strings.HasPrefix(target, "/memfd:mediamatch-upload"):
		default:
			t.Errorf("ffmpeg's fd %s -> %s, want only /dev/null, its pipes and the upload", n, target)
		}
	}
}

// descriptors returns the open descriptors of process pid: number ->
// target.
func descriptors(t *testing.T, pid int) map[string]string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fds := map[string]string{}
	for _, e := range ents {
		target, _ := os.Readlink(filepath.Join(dir, e.Name()))
		fds[e.Name()] = target
	}
	return fds
}

// TestFFmpegFileAccessConfined runs a fake ffmpeg, started exactly as
// ffmpeg is, that tries to read a file of this user outside the system
// directories and to create a directory: Landlock refuses both. Its exit
// status counts what worked (10 + 1 for the read, + 2 for the directory).
func TestFFmpegFileAccessConfined(t *testing.T) {
	h := New(Options{})
	if !h.FileAccessConfined() {
		abi, err := landlockABI()
		t.Skipf("the kernel offers no Landlock (ABI %d, %v)", abi, err)
	}
	dir := t.TempDir()
	secret, made := filepath.Join(dir, "secret"), filepath.Join(dir, "made")
	if err := os.WriteFile(secret, []byte("not for ffmpeg\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	script := fakeFFmpeg(t, fmt.Sprintf("r=10\nread -r x < %s && r=$((r+1))\nmkdir %s && r=$((r+2))\nexit $r", secret, made))
	job := New(Options{FFmpeg: script}).job(decodeFast, 0)
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	res, err := runFFmpeg(ctx, job, testDeadline, []byte("never read"), nil, func(*image.Gray) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if res.exit == nil || res.exit.Error() != "exit status 10" {
		t.Errorf("fake ffmpeg: %v, want exit status 10 (neither read %s nor made %s)", res.exit, secret, made)
	}
	if _, err := os.Stat(made); err == nil {
		t.Errorf("the fake ffmpeg made %s", made)
	}
}

// TestBigVideoFrameNamesTheLimit: a video whose container does not state
// its frame size, with frames over MaxPixels, was reported as having no
// video stream; it is refused as too large, naming the frame size and the
// limit.
func TestBigVideoFrameNamesTheLimit(t *testing.T) {
	data, err := hostile.BigFrameVideo(mmtest.FFmpeg(t), 1280, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, err = hashVideoT(t, New(Options{MaxPixels: 1_000_000}), data)
	if !errors.Is(err, ErrTooLarge) ||
		!strings.Contains(err.Error(), "1280x1024 = 1310720 pixels, over the limit of 1000000 pixels (Options.MaxPixels)") {
		t.Fatalf("hashVideo(1280x1024 frames, MaxPixels 1000000) = %v, want ErrTooLarge naming the size and the limit", err)
	}
}
