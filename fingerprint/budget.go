package fingerprint

// This file bounds the memory of in-process image decoding. The pixel
// budget (Options.MaxPixels) bounds pixels, not bytes: a 16-bit RGBA image
// is 8 bytes a pixel, the Go TIFF decoder holds the decompressed strip as
// well as the image, and a progressive JPEG keeps every DCT coefficient.
// So each decode first estimates its bytes from the header (decodeBytes)
// and takes them from one budget shared by all the Hasher's decodes
// (memBudget): a decode that needs more than the whole budget is refused at
// once, the others wait for room, within their context.

import (
	"bytes"
	"container/list"
	"context"
	"fmt"
	"image"
	"image/color"
	"runtime"
	"sync"
)

// gcBytes is the reservation from which giving it back, while other
// decodes wait, runs the GC first.
const gcBytes = 64 << 20

// memBudget is a weighted semaphore of bytes, granted in FIFO order so that
// a large decode is not starved by small ones. Safe for concurrent use.
type memBudget struct {
	size int64

	mu      sync.Mutex
	used    int64
	peak    int64
	waiters list.List // of *memWaiter, oldest first
}

type memWaiter struct {
	n     int64
	ready chan struct{} // closed when granted
}

// acquire takes n bytes, waiting for room until ctx ends. It returns the
// function that gives them back (call it once), ctx's cause when ctx ends
// first, or an error wrapping ErrTooLarge at once if n is over the whole
// budget. what names the decode for that error.
func (b *memBudget) acquire(ctx context.Context, n int64, what string) (func(), error) {
	if n > b.size {
		return nil, fmt.Errorf("%w: %s needs about %d MiB to decode, over the decode memory budget of %d MiB (Options.DecodeMemory)",
			ErrTooLarge, what, mib(n), mib(b.size))
	}
	release := func() {
		if n >= gcBytes && b.contended() {
			// The decode's pixels are garbage now, and another decode
			// waits to take their place: collect them first, or the heap
			// would grow to the budget twice over before the GC's own
			// pace ran it. A collection marks the whole live heap (the
			// index too), so it is paid only when decodes queue, not for
			// every large photo.
			runtime.GC()
		}
		b.release(n)
	}
	b.mu.Lock()
	if b.waiters.Len() == 0 && b.used+n <= b.size {
		b.grant(n)
		b.mu.Unlock()
		return release, nil
	}
	w := &memWaiter{n: n, ready: make(chan struct{})}
	e := b.waiters.PushBack(w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return release, nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	select {
	case <-w.ready: // granted meanwhile: give it back
		b.mu.Unlock()
		b.release(n)
	default:
		b.waiters.Remove(e)
		b.wake() // the head may have changed
		b.mu.Unlock()
	}
	return nil, context.Cause(ctx)
}

// contended reports whether decodes wait for room.
func (b *memBudget) contended() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waiters.Len() > 0
}

func (b *memBudget) grant(n int64) {
	b.used += n
	b.peak = max(b.peak, b.used)
}

func (b *memBudget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.wake()
	b.mu.Unlock()
}

// wake grants the waiters at the head of the queue that fit; b.mu is held.
func (b *memBudget) wake() {
	for e := b.waiters.Front(); e != nil; e = b.waiters.Front() {
		w := e.Value.(*memWaiter)
		if b.used+w.n > b.size {
			return
		}
		b.grant(w.n)
		b.waiters.Remove(e)
		close(w.ready)
	}
}

// DecodeMemory returns the bytes of the decode memory budget
// (Options.DecodeMemory) that in-process image decodes hold now, and the
// most they have held at once since h was made. Safe for concurrent use.
func (h *Hasher) DecodeMemory() (inUse, peak int64) {
	h.mem.mu.Lock()
	defer h.mem.mu.Unlock()
	return h.mem.used, h.mem.peak
}

func mib(n int64) int64 { return (n + 1<<20 - 1) >> 20 }

// pipelineBytes is what hashing a decoded image allocates beside it: the
// 512x512 pre-shrink of the PDQ pipeline and its float buffers (its
// dihedral variants one after another), and the small image of pHash and
// dHash. Measured under 10 MiB.
const pipelineBytes = 16 << 20

// pixelBytes returns the bytes a pixel of a decoded image of colour model
// m takes: 1 for grey and paletted images, 8 for 16-bit RGBA, ..., and 8
// for a model not known here.
func pixelBytes(m color.Model) int64 {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel:
		return 3 // 4:4:4 at most
	case color.RGBAModel, color.NRGBAModel, color.CMYKModel, color.NYCbCrAModel:
		return 4
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 8
}

// goDecodeBytes estimates the peak bytes that the Go decoder of format
// allocates for an image of header cfg, with the hashing pipeline. The
// figures follow each decoder's allocations (Go 1.26, x/image 0.48):
//
//   - png: the image, twice for an interlaced one (each pass is decoded
//     into an image of its own, then merged); 16-bit PNGs that
//     decodePNG16 takes are budgeted apart, at 8 bits;
//   - tiff: the image and the decompressed strip, which for Deflate and LZW
//     is read with io.ReadAll: growing it keeps up to 2.25 times the strip
//     at once (the strip is taken as large as the image);
//   - jpeg: the image, 4 bytes a pixel per component for the coefficients
//     of a progressive one, and 4 more for the RGBA or CMYK conversion of
//     a 3- or 4-component JPEG that is not YCbCr;
//   - gif: the frame, and its copy when interlaced;
//   - webp: lossless (NRGBA) decodes to 32-bit ARGB first, then NRGBA; the
//     alpha plane of lossy images is itself a lossless image;
//   - bmp: the image.
func goDecodeBytes(format string, cfg image.Config, data []byte) int64 {
	px := int64(cfg.Width) * int64(cfg.Height)
	img := px * pixelBytes(cfg.ColorModel)
	n := img
	switch format {
	case "png":
		if len(data) > 28 && data[28] == 1 { // IHDR interlace method: Adam7
			n = 2 * img
		}
	case "tiff":
		n = img + img*9/4
	case "jpeg":
		j := scanJPEG(data)
		if j.progressive {
			n += 4 * px * int64(max(1, j.components))
		}
		if j.components >= 3 && cfg.ColorModel != color.YCbCrModel {
			n += 4 * px
		}
	case "gif":
		n = 2 * px
	case "webp":
		switch cfg.ColorModel {
		case color.NRGBAModel:
			n = 8 * px
		case color.NYCbCrAModel:
			n = img + 8*px
		}
	}
	return n + pipelineBytes
}

// libjpegBytes estimates the peak bytes of libjpegDecode for a JPEG of w x
// h pixels (jpegScale's output size): for a file of several scans
// (progressive), libjpeg's whole-image coefficient buffer of 2 bytes a
// pixel per component; the output in C and its copy in Go, 1 byte a pixel
// for grey and 4 for colour (RGBA and CMYK; YCbCr takes 3); and the
// hashing pipeline.
func libjpegBytes(w, h int, j jpegLayout) int64 {
	px := int64(w) * int64(h)
	comps := int64(max(1, j.components))
	var n int64
	if j.progressive || j.scans > 1 {
		n += 2 * px * comps
	}
	d := int64(jpegScale(w, h, jpegMinSide))
	out := ((int64(w) + d - 1) / d) * ((int64(h) + d - 1) / d)
	if comps > 1 {
		out *= 4
	}
	return n + 2*out + pipelineBytes
}

// jpegScale returns the denominator (1, 2, 4 or 8) of the DCT scaling
// that libjpegDecode uses for a w x h JPEG: the largest that keeps both
// sides at minSide or more. It is the C code's rule, restated.
func jpegScale(w, h, minSide int) int {
	side := int64(min(w, h))
	d := int64(1)
	for d < 8 && (side+2*d-1)/(2*d) >= int64(minSide) {
		d *= 2
	}
	return int(d)
}

// jpegLayout is what scanJPEG learns of a JPEG's structure.
type jpegLayout struct {
	scans       int  // SOS markers up to EOI or the end of the data
	progressive bool // SOF2 (or another progressive SOF)
	components  int  // of the frame; 0 if there is no SOF
	width       int  // of the frame, as its SOF declares; 0 if there is no SOF
	height      int  // 0 if there is no SOF, or the height comes later (DNL)
}

// scanJPEG walks a JPEG's markers, from SOI to EOI or the end of the data,
// skipping segments by their lengths and entropy-coded data to its next
// marker, and counts the scans, without decoding anything: a linear pass
// over the bytes. Embedded JPEGs (EXIF thumbnails in APP1) are inside
// segments and not counted; damage ends the walk with what was seen.
func scanJPEG(d []byte) jpegLayout {
	var j jpegLayout
	i := 2 // after SOI
	for i+1 < len(d) {
		if d[i] != 0xff {
			// Garbage between segments, or entropy-coded data: to the next
			// marker.
			k := bytes.IndexByte(d[i:], 0xff)
			if k < 0 {
				return j
			}
			i += k
			continue
		}
		m := d[i+1]
		switch {
		case m == 0xff: // fill byte
			i++
			continue
		case m == 0x00 || (m >= 0xd0 && m <= 0xd7) || m == 0x01:
			// Stuffed 0xff, restart marker or TEM: inside or between scans.
			i += 2
			continue
		case m == 0xd9: // EOI
			return j
		}
		if i+4 > len(d) {
			return j
		}
		n := int(d[i+2])<<8 | int(d[i+3])
		switch {
		case m == 0xda:
			j.scans++
		case m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc: // SOFn
			j.progressive = j.progressive || m == 0xc2 || m == 0xc6 || m == 0xca || m == 0xce
			if i+10 <= len(d) && j.components == 0 {
				j.components = int(d[i+9])
				j.height = int(d[i+5])<<8 | int(d[i+6])
				j.width = int(d[i+7])<<8 | int(d[i+8])
			}
		}
		if n < 2 {
			return j
		}
		i += 2 + n
	}
	return j
}

// tooManyScans is the error for a JPEG of more than limit scans.
func tooManyScans(scans, limit int) error {
	return fmt.Errorf("%w: jpeg has %d scans, limit %d (Options.MaxJPEGScans)", ErrTooLarge, scans, limit)
}
