package fingerprint

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
	"github.com/mediamatch/mediamatch/fingerprint/hostile"
)

// Tests of the limits on in-process image decoding: the JPEG scan limit,
// the decode deadline and cancellation, and the decode memory budget.

// TestScanBombRefused: a 7040x7040 progressive JPEG of 2,000 scans (about
// 280 KB) cost 7 s of CPU in libjpeg and 40 s in image/jpeg; it is refused
// from its scan count before any scan is decoded.
func TestScanBombRefused(t *testing.T) {
	bomb := hostile.ScanBomb(7040, 7040, 2000)
	h := New(Options{})
	_, err := h.Hash(context.Background(), bomb)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "2000 scans, limit 100 (Options.MaxJPEGScans)") {
		t.Fatalf("Hash(scan bomb) = %v, want ErrTooLarge naming 2000 scans and the limit 100", err)
	}
	// A bomb within the limit is an ordinary (flat grey) image.
	m, err := h.Hash(context.Background(), hostile.ScanBomb(640, 480, 100))
	if err != nil || m.Width != 640 || m.Height != 480 {
		t.Fatalf("Hash(100 scans) = %dx%d, %v; want 640x480, nil", m.Width, m.Height, err)
	}
}

// TestScanJPEG counts the scans of real files and of bombs, never counting
// what hides inside segments.
func TestScanJPEG(t *testing.T) {
	var b bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	baseline := b.Bytes()
	// An APP1 segment holding SOS markers (an EXIF thumbnail would).
	app := append([]byte{0xff, 0xe1, 0, 2 + 8}, 0xff, 0xda, 0, 4, 0xff, 0xda, 0, 4)
	hidden := append(append(append([]byte{}, baseline[:2]...), app...), baseline[2:]...)
	for _, c := range []struct {
		name        string
		data        []byte
		scans       int
		progressive bool
		components  int
	}{
		{"baseline", baseline, 1, false, 3},
		{"app1 holding SOS", hidden, 1, false, 3},
		{"bomb", hostile.ScanBomb(64, 64, 500), 500, true, 1},
		{"bomb, then garbage after EOI", append(hostile.ScanBomb(64, 64, 7), 0xff, 0xda, 0, 2), 7, true, 1},
	} {
		j := scanJPEG(c.data)
		if j.scans != c.scans || j.progressive != c.progressive || j.components != c.components {
			t.Errorf("%s: scanJPEG = %+v, want %d scans, progressive %v, %d components",
				c.name, j, c.scans, c.progressive, c.components)
		}
	}
}

// TestLibjpegScanLimit: libjpeg's progress monitor stops at the limit too,
// whatever the marker count said.
func TestLibjpegScanLimit(t *testing.T) {
	if !haveLibjpeg {
		mmtest.Missing(t, "libjpeg: built without it (cgo and jpeglib.h, see make deps)")
	}
	_, _, _, err := libjpegDecode(context.Background(), hostile.ScanBomb(1024, 1024, 50), 1<<30, 512, 10)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "11 scans, limit 10") {
		t.Fatalf("libjpegDecode(50 scans, limit 10) = %v, want ErrTooLarge at scan 11", err)
	}
}

// TestImageDecodeStops: with the scan limit lifted, the bomb decodes for
// seconds; a cancelled context or the decode deadline stops it, and the
// error says which.
func TestImageDecodeStops(t *testing.T) {
	bomb := hostile.ScanBomb(7040, 7040, 2000)
	t.Run("cancel", func(t *testing.T) {
		h := New(Options{MaxJPEGScans: 1 << 20})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		_, err := h.Hash(ctx, bomb)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Hash(scan bomb) cancelled = %v, want context.Canceled", err)
		}
		if used, _ := h.DecodeMemory(); used != 0 {
			t.Errorf("DecodeMemory in use after the cancel = %d, want 0", used)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		h := New(Options{MaxJPEGScans: 1 << 20, ImageTimeout: 300 * time.Millisecond})
		_, err := h.Hash(context.Background(), bomb)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "Options.ImageTimeout") {
			t.Fatalf("Hash(scan bomb) past ImageTimeout = %v, want DeadlineExceeded naming ImageTimeout", err)
		}
	})
}

// TestDecodeMemoryRefused: an image whose decode alone needs more than the
// whole budget fails at once, naming the budget.
func TestDecodeMemoryRefused(t *testing.T) {
	h := New(Options{DecodeMemory: 100 << 20})
	tiff16 := hostile.Must(t)(hostile.WideTIFF(3000, 3000)) // 69 MiB decoded, 220 MiB with the strip
	_, err := h.Hash(context.Background(), tiff16)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "budget of 100 MiB (Options.DecodeMemory)") {
		t.Fatalf("Hash(16-bit TIFF needing 236 MiB) = %v, want ErrTooLarge naming the 100 MiB budget", err)
	}
	// A 16-bit PNG is decoded to 8 bits: 4000x4000 RGBA takes 61 MiB, not 122.
	png16 := hostile.Must(t)(hostile.WidePNG(4000, 4000))
	if _, err := h.Hash(context.Background(), png16); err != nil {
		t.Fatalf("Hash(16-bit PNG of 4000x4000) with a 100 MiB budget: %v", err)
	}
	if _, peak := h.DecodeMemory(); peak != 4*4000*4000+pipelineBytes {
		t.Errorf("DecodeMemory peak %d, want %d", peak, 4*4000*4000+pipelineBytes)
	}
}

// TestDecodeMemoryShared: four 16-bit TIFFs and four 16-bit PNGs at once,
// each within the budget but not all together: every one is hashed, and
// neither the budget's accounted peak nor the live heap passes the budget.
func TestDecodeMemoryShared(t *testing.T) {
	const budget = 600 << 20
	h := New(Options{DecodeMemory: budget})
	tiff16 := hostile.Must(t)(hostile.WideTIFF(3000, 3000)) // 69 MiB image; ~240 MiB with the strip
	png16 := hostile.Must(t)(hostile.WidePNG(5000, 5000))   // 95 MiB image (8-bit)
	runtime.GC()
	base := hostile.HeapObjects()
	errs, heap := hostile.AllAtOnce(slices.Repeat([][]byte{tiff16, png16}, 4), func(data []byte) error {
		_, err := h.Hash(context.Background(), data)
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("Hash #%d: %v", i, err)
		}
	}
	used, accounted := h.DecodeMemory()
	t.Logf("accounted peak %d MiB, heap peak %d MiB over %d MiB before", accounted>>20, (heap-base)>>20, base>>20)
	if used != 0 || accounted > budget || accounted < 240<<20 {
		t.Errorf("DecodeMemory() = %d in use, peak %d; want 0, peak in 240 MiB..%d", used, accounted, budget)
	}
	// The heap holds the decodes' garbage too until the GC runs (GOGC:
	// up to the live heap again), hence twice the budget.
	if heap > base+2*budget {
		t.Errorf("heap peak %d MiB over %d MiB before, want at most twice the %d MiB budget more",
			heap>>20, base>>20, budget>>20)
	}
}

// TestMemBudget: FIFO grants, a waiter that gives up frees its place, and
// nothing is left in use.
func TestMemBudget(t *testing.T) {
	b := &memBudget{size: 10}
	ctx := context.Background()
	r1, err := b.acquire(ctx, 6, "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.acquire(ctx, 11, "huge"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("acquire(11 of 10) = %v, want ErrTooLarge", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	gaveUp := make(chan error)
	go func() { _, err := b.acquire(cctx, 5, "b"); gaveUp <- err }()
	got := make(chan func())
	go func() {
		for b.queued() < 1 {
			runtime.Gosched()
		}
		r, _ := b.acquire(ctx, 4, "c") // behind b: waits though 4 fits
		got <- r
	}()
	for b.queued() < 2 {
		runtime.Gosched()
	}
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire cancelled = %v, want context.Canceled", err)
	}
	r3 := <-got // granted once b left the queue
	r1()
	r3()
	if used, peak := b.used, b.peak; used != 0 || peak != 10 {
		t.Fatalf("used %d, peak %d; want 0, 10", used, peak)
	}
}

func (b *memBudget) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waiters.Len()
}

// TestDecodeMemoryCoversVideoFrames: the frames of a video hashed in
// process count against the budget too.
func TestDecodeMemoryCoversVideoFrames(t *testing.T) {
	data := makeVideo(t, "c.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=5:d=2", "-c:v", "libx264", "-preset", "ultrafast")
	_, err := hashVideoT(t, New(Options{DecodeMemory: 1 << 20}), data)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "video frames of 320x240 needs about 3 MiB") {
		t.Fatalf("hashVideo with a 1 MiB budget = %v, want ErrTooLarge for the frames", err)
	}
	h := New(Options{DecodeMemory: 4 << 20})
	if _, err := hashVideoT(t, h, data); err != nil {
		t.Fatalf("hashVideo with a 4 MiB budget: %v", err)
	}
	if used, peak := h.DecodeMemory(); used != 0 || peak != videoFrameBytes(320, 240) {
		t.Fatalf("DecodeMemory() = %d, %d; want 0, %d", used, peak, videoFrameBytes(320, 240))
	}
}
