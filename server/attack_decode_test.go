package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/fingerprint"
	"github.com/mediamatch/mediamatch/fingerprint/hostile"
	"github.com/mediamatch/mediamatch/index"
)

// Attacks on the in-process decoders (scan bombs, decompression bombs)
// through the real handler chain: a real gRPC server over loopback TCP with the
// guard's interceptors, a Badger index in a temp dir and a real Hasher,
// fed by real streamed uploads.

// attackDecodeServer starts a server with Options sopts and a Hasher with
// fopts (ffmpeg found as the other tests find it), and returns its match
// client and the Hasher.
func attackDecodeServer(t *testing.T, sopts Options, fopts fingerprint.Options) (pb.MatchServiceClient, *fingerprint.Hasher) {
	t.Helper()
	ix, err := index.Open(t.TempDir(), index.Options{})
	if err != nil {
		t.Fatalf("index.Open: %v", err)
	}
	t.Cleanup(func() { ix.Close() })
	logs := &mmtest.SyncBuffer{}
	sopts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	if fopts.FFmpeg == "" {
		fopts.FFmpeg = ffmpegPath()
	}
	h := fingerprint.New(fopts)
	s := New(ix, h, sopts)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(s.ServerOptions()...)
	s.Register(gs)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewMatchServiceClient(conn), h
}

// TestAttackDecodeScanBomb: a 280 KB 7040x7040 progressive JPEG of 2,000
// scans took 7 s of CPU to match (40 s under -tags nolibjpeg); it is
// refused from its scan count, naming the limit.
func TestAttackDecodeScanBomb(t *testing.T) {
	c, _ := attackDecodeServer(t, Options{}, fingerprint.Options{})
	bomb := hostile.ScanBomb(7040, 7040, 2000)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err := streamMatch(ctx, c, bomb, 1<<20, nil)
	wantStatus(t, err, codes.InvalidArgument, "MatchMediaStreamRequest.chunk", "2000 scans, limit 100")
}

// TestAttackDecodeCancelFreesSlot: with one upload slot, a client sends a
// scan bomb that the operator's scan limit lets through (minutes of
// decoding), and gives up once the server is decoding it. The decode
// stops, the handler returns and the slot is free: a second upload, with a
// deadline far shorter than the bomb's decode, is matched.
func TestAttackDecodeCancelFreesSlot(t *testing.T) {
	c, h := attackDecodeServer(t, Options{MaxUploads: 1}, fingerprint.Options{MaxJPEGScans: 1 << 20, ImageTimeout: time.Hour})
	bomb := hostile.ScanBomb(7040, 7040, 20000) // 2.3 MB, over a minute of CPU
	probe := probeImage(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := c.MatchMediaStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for sent := 0; sent < len(bomb); sent += 1 << 20 {
		if err := stream.Send(&pb.MatchMediaStreamRequest{Chunk: bomb[sent:min(sent+1<<20, len(bomb))]}); err != nil {
			t.Fatalf("Send at %d bytes: %v", sent, err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	// The server runs in this process: it is decoding once this process
	// has burnt a second of CPU since the upload was sent.
	start := attackDecodeCPU()
	for deadline := time.Now().Add(2 * time.Minute); attackDecodeCPU()-start < time.Second; {
		if time.Now().After(deadline) {
			t.Fatal("the server never started decoding the bomb")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if _, err := stream.CloseAndRecv(); status.Code(err) != codes.Canceled {
		t.Fatalf("cancelled bomb: %v, want Canceled", err)
	}

	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	if _, err := streamMatch(ctx2, c, probe, 1<<20, nil); err != nil {
		t.Fatalf("upload after the cancelled bomb: %v, want it matched (the bomb's slot freed)", err)
	}
	if used, _ := h.DecodeMemory(); used != 0 {
		t.Errorf("decode memory in use after both calls: %d bytes, want 0", used)
	}
}

// attackDecodeCPU returns the CPU time (user and system) of this process,
// cgo threads included.
func attackDecodeCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestAttackDecodeMemoryBombs: four 16-bit RGBA TIFFs (4000x4000, 128 MB
// decoded, plus the decompressed strip) and four 16-bit RGBA PNGs
// (5000x5000, 200 MB as image/png decodes them; 100 MB as the Hasher
// decodes them, at 8 bits), a few hundred KB each and all within the pixel
// budget, uploaded at once. Unbounded, they would hold 2.1 GB of heap at
// once; with a decode memory budget of 512 MiB the decodes wait for each
// other: all are matched, the
// Hasher's accounted peak stays within the budget and the heap within
// twice the budget and what it held before (the GC lets garbage reach the
// live heap again).
func TestAttackDecodeMemoryBombs(t *testing.T) {
	const budget = 512 << 20
	c, h := attackDecodeServer(t, Options{MaxUploads: 8}, fingerprint.Options{DecodeMemory: budget})
	tiff16 := hostile.Must(t)(hostile.WideTIFF(4000, 4000))
	png16 := hostile.Must(t)(hostile.WidePNG(5000, 5000))
	t.Logf("bombs: TIFF %d bytes, PNG %d bytes", len(tiff16), len(png16))
	runtime.GC()
	base := hostile.HeapObjects()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	errs, heap := hostile.AllAtOnce(slices.Repeat([][]byte{tiff16, png16}, 4), func(data []byte) error {
		_, err := streamMatch(ctx, c, data, 1<<20, nil)
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("upload %d: %v", i, err)
		}
	}
	used, accounted := h.DecodeMemory()
	t.Logf("heap peak %d MiB, %d MiB before; accounted decode memory peak %d MiB of %d MiB",
		heap>>20, base>>20, accounted>>20, budget>>20)
	if heap > 2*(base+budget) {
		t.Errorf("heap peak %d MiB with %d MiB before, want at most %d MiB (twice the budget and what was before)",
			heap>>20, base>>20, 2*(base+budget)>>20)
	}
	if used != 0 || accounted > budget {
		t.Errorf("decode memory: %d bytes in use, peak %d; want 0, peak at most %d", used, accounted, budget)
	}
}

// TestAttackDecodeOverBudget: an image whose decode alone needs more than
// the whole budget is refused at once, naming the budget.
func TestAttackDecodeOverBudget(t *testing.T) {
	c, _ := attackDecodeServer(t, Options{}, fingerprint.Options{DecodeMemory: 256 << 20})
	tiff16 := hostile.Must(t)(hostile.WideTIFF(4000, 4000)) // about 430 MiB to decode
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err := streamMatch(ctx, c, tiff16, 1<<20, nil)
	wantStatus(t, err, codes.InvalidArgument, "MatchMediaStreamRequest.chunk", "decode memory budget of 256 MiB")
}

// TestAttackDecodeBigVideoFrame: a video whose container states no frame
// size, with frames over the pixel limit, was refused as "matroska file
// has no video stream"; it is refused naming the frame size and the limit.
func TestAttackDecodeBigVideoFrame(t *testing.T) {
	mmtest.FFmpeg(t)
	c, _ := attackDecodeServer(t, Options{}, fingerprint.Options{MaxPixels: 1_000_000})
	video := hostile.Must(t)(hostile.BigFrameVideo(ffmpegPath(), 1280, 1024))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err := streamMatch(ctx, c, video, 1<<20, nil)
	wantStatus(t, err, codes.InvalidArgument, "MatchMediaStreamRequest.chunk",
		"video frames are 1280x1024 = 1310720 pixels, over the limit of 1000000 pixels")
}

// TestAttackDecodeFFmpegDescriptors: the server holds a descriptor opened
// without close-on-exec (inherited from whatever started it); while a
// video upload is hashed, the ffmpeg child holds only its standard
// streams and the upload.
func TestAttackDecodeFFmpegDescriptors(t *testing.T) {
	mmtest.FFmpeg(t)
	_, fd := hostile.LeakedDescriptor(t)
	c, _ := attackDecodeServer(t, Options{}, fingerprint.Options{FrameRate: 5})
	// 10 s of 640x480 at 5 samples a second: long enough to be seen.
	video := hostile.Must(t)(hostile.Video(ffmpegPath(), "v.mp4", "-f", "lavfi", "-i", "testsrc2=s=640x480:r=25:d=10",
		"-c:v", "libx264", "-preset", "ultrafast"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := streamMatch(ctx, c, video, 1<<20, nil); done <- err }()
	seen := map[string]string{}
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("video upload: %v", err)
			}
			running = false
		default:
		}
		for _, pid := range ffmpegChildren(0) {
			dir := fmt.Sprintf("/proc/%d/fd", pid)
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil {
					seen[e.Name()] = target
				}
			}
		}
		time.Sleep(time.Millisecond)
	}
	if len(seen) == 0 {
		t.Fatal("ffmpeg was never seen running")
	}
	t.Logf("ffmpeg's descriptors: %v (the leaked one was %d)", seen, fd)
	for n, target := range seen {
		switch {
		case n == "0" && target == "/dev/null", (n == "1" || n == "2") && strings.HasPrefix(target, "pipe:"),
			strings.HasPrefix(target, "/memfd:mediamatch-upload"):
		default:
			t.Errorf("ffmpeg's fd %s -> %s, want only /dev/null, its pipes and the upload", n, target)
		}
	}
}

// TestAttackDecodeFFmpegFiles: a subverted ffmpeg (here a fake one, started
// by the server exactly as ffmpeg is, that reports on its stderr what it
// managed) tries to read a file outside the system directories and to
// create a directory: Landlock refuses both, and the upload fails naming
// what the fake saw ("r=10": nothing worked; 11: the read; 12: mkdir).
func TestAttackDecodeFFmpegFiles(t *testing.T) {
	if !fingerprint.New(fingerprint.Options{}).FileAccessConfined() {
		t.Skip("the kernel offers no Landlock")
	}
	dir := t.TempDir()
	secret, made := filepath.Join(dir, "secret"), filepath.Join(dir, "made")
	if err := os.WriteFile(secret, []byte("not for ffmpeg\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "ffmpeg")
	body := fmt.Sprintf("#!/bin/sh\nr=10\nread -r x < %s && r=$((r+1))\nmkdir %s && r=$((r+2))\necho \"[error] fake ffmpeg: r=$r\" >&2\nexit 1\n", secret, made)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	c, _ := attackDecodeServer(t, Options{}, fingerprint.Options{FFmpeg: script})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := streamMatch(ctx, c, []byte("not an image: ffmpeg's to read"), 1<<20, nil)
	wantStatus(t, err, codes.InvalidArgument, "fake ffmpeg: r=10")
	if _, err := os.Stat(made); err == nil {
		t.Errorf("the fake ffmpeg made %s", made)
	}
}
