//go:build cgo && !nolibjpeg

package fingerprint

// JPEG decoding through libjpeg-turbo, the one cgo file of the package.
//
// Why: decoding is most of the cost of hashing a photo. On this 2-core
// machine Go's image/jpeg takes ~135 ms for a 10 MP photo, so a pure-Go
// pipeline measured only 1.2-1.8x faster than the stock path (image/jpeg +
// goimagehash on the full image) in BenchmarkImageHash, short of the 3x
// target, and no option of image/jpeg decodes at reduced size. libjpeg-turbo
// decodes at 1/2, 1/4 or 1/8 scale (its inverse DCT then keeps only the
// low frequencies of each block: close to the area average wanted for
// pHash and dHash) at a fraction of the cost. The scale is the smallest
// that keeps both sides at jpegMinSide pixels or more, for PDQ's 512x512
// pre-shrink (see jpegMinSide for what that costs PDQ in accuracy);
// pHash and dHash then shrink the result further. With PDQ added the whole
// Hash measured 3.2-7x faster than stock on 2.2-10 MP photos. libjpeg-turbo
// is the decoder behind most JPEG viewing, maintained, continuously fuzzed
// (OSS-Fuzz) and packaged by every distribution; the PDQ reference decodes
// JPEGs with it too.
//
// Build requirement: the libjpeg-turbo headers and library, Debian package
// libjpeg62-turbo-dev (runtime: libjpeg62-turbo). Build with -tags
// nolibjpeg, or CGO_ENABLED=0, for the pure-Go path (image/jpeg), which
// gives the same hashes within 2 bits (TestStockAgreement passes on both),
// only slower.
//
// Output is in the colour model image/jpeg returns for the same file:
// YCbCr (or grey for grey JPEGs), which goimagehash resizes in, with
// chroma replicated as image/jpeg does; RGBA for RGB JPEGs (Adobe
// transform 0, or components named R, G, B); CMYK for CMYK and YCCK JPEGs
// (libjpeg converts YCCK to CMYK), whose samples are taken as Adobe writes
// them, inverted, as image/jpeg and Pillow take them. libjpeg reads every
// sampling layout (factors 1 to 4, each component its own) and arithmetic
// coding, where image/jpeg reads a few layouts of RGB and CMYK and Huffman
// coding only, so the colour spaces are decoded here rather than left to
// image/jpeg. Any error or warning from libjpeg (truncation, corrupt data,
// 12-bit samples, a colour space it does not know) sends the file to
// image/jpeg instead, whose verdict stands: libjpeg's pixels are only used
// when it decodes a file without complaint. But a decode that libjpeg's
// progress monitor stopped (the caller's context ended, or more scans than
// allowed) is over: it is not tried again.

/*
#cgo LDFLAGS: -ljpeg
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>

enum { MM_OK, MM_ERROR, MM_WARNING, MM_TOO_LARGE, MM_STOPPED, MM_TOO_MANY_SCANS };

// The layouts of mm_result.pix.
enum {
	MM_GREY,  // one plane
	MM_YCC,   // Y, Cb and Cr planes
	MM_RGBA,  // interleaved R, G, B, 255
	MM_CMYK,  // interleaved C, M, Y, K as stored (Adobe: inverted)
};

typedef struct {
	struct jpeg_error_mgr pub;
	jmp_buf jb;
	int warned;
	int stop;                        // MM_STOPPED or MM_TOO_MANY_SCANS once the monitor gave up
	char msg[JMSG_LENGTH_MAX];
} mm_err;

// The progress monitor: libjpeg calls it between scans and between rows of
// every pass (of a progressive file: every iMCU row of every scan), so it
// is where a decode is cut short, when the caller asks (cancel, set from
// another thread by mm_cancel) or at the scan limit.
typedef struct {
	struct jpeg_progress_mgr pub;
	int *cancel;
	int max_scans;
} mm_progress;

static void mm_monitor(j_common_ptr c) {
	mm_progress *p = (mm_progress *)c->progress;
	mm_err *e = (mm_err *)c->err;
	j_decompress_ptr d = (j_decompress_ptr)c;
	if (__atomic_load_n(p->cancel, __ATOMIC_RELAXED))
		e->stop = MM_STOPPED;
	else if (d->input_scan_number > p->max_scans)
		e->stop = MM_TOO_MANY_SCANS;
	else
		return;
	longjmp(e->jb, 1);
}

// mm_cancel asks a running mm_decode to stop at its next progress call.
static void mm_cancel(int *flag) { __atomic_store_n(flag, 1, __ATOMIC_RELAXED); }

typedef struct {
	long long width, height;         // as stored
	int out_width, out_height;       // after DCT scaling
	int space;                       // MM_GREY, MM_YCC, MM_RGBA or MM_CMYK
	int scans;                       // scans read when a decode was stopped
	unsigned char *pix;              // malloc'ed, out_width*out_height pixels of 1, 3 or 4 bytes in space's layout
	char msg[JMSG_LENGTH_MAX];       // libjpeg's message on error or warning
} mm_result;

static void mm_error_exit(j_common_ptr c) {
	mm_err *e = (mm_err *)c->err;
	(*c->err->format_message)(c, e->msg);
	longjmp(e->jb, 1);
}

// Warnings (level < 0) are remembered, trace messages dropped; nothing is
// ever printed.
static void mm_emit_message(j_common_ptr c, int level) {
	mm_err *e = (mm_err *)c->err;
	if (level < 0 && !e->warned) {
		e->warned = 1;
		(*c->err->format_message)(c, e->msg);
	}
}

static int mm_decode(const unsigned char *data, unsigned long n,
                          long long max_pixels, int min_side, int max_scans,
                          int *cancel, mm_result *res) {
	struct jpeg_decompress_struct cinfo;
	mm_err err;
	mm_progress prog;
	unsigned char *volatile pix = NULL;
	unsigned char *volatile rowbuf = NULL;

	memset(&cinfo, 0, sizeof cinfo);
	memset(&err, 0, sizeof err);
	cinfo.err = jpeg_std_error(&err.pub);
	err.pub.error_exit = mm_error_exit;
	err.pub.emit_message = mm_emit_message;
	memset(&prog, 0, sizeof prog);
	prog.pub.progress_monitor = mm_monitor;
	prog.cancel = cancel;
	prog.max_scans = max_scans;
	if (setjmp(err.jb)) {
		res->scans = cinfo.input_scan_number;
		jpeg_destroy_decompress(&cinfo);
		free(pix);
		free(rowbuf);
		if (err.stop)
			return err.stop;
		memcpy(res->msg, err.msg, sizeof res->msg);
		return MM_ERROR;
	}
	jpeg_create_decompress(&cinfo);
	cinfo.progress = &prog.pub;
	jpeg_mem_src(&cinfo, data, n);
	jpeg_read_header(&cinfo, TRUE);
	res->width = cinfo.image_width;
	res->height = cinfo.image_height;
	if (res->width * res->height > max_pixels) {
		jpeg_destroy_decompress(&cinfo);
		return MM_TOO_LARGE;
	}
	// The largest 1/denom (at most 1/8) that keeps both sides of the
	// output, ceil(side/denom), at min_side or more.
	long long side = res->width < res->height ? res->width : res->height;
	unsigned int denom = 1;
	while (denom < 8 && (side + 2 * denom - 1) / (2 * denom) >= min_side)
		denom *= 2;
	cinfo.scale_num = 1;
	cinfo.scale_denom = denom;
	// Replicate chroma samples as image/jpeg does, rather than interpolate.
	cinfo.do_fancy_upsampling = FALSE;
	switch (cinfo.jpeg_color_space) {
	case JCS_GRAYSCALE:
		cinfo.out_color_space = JCS_GRAYSCALE;
		res->space = MM_GREY;
		break;
	case JCS_YCbCr:
		cinfo.out_color_space = JCS_YCbCr;
		res->space = MM_YCC;
		break;
	case JCS_RGB:
		cinfo.out_color_space = JCS_EXT_RGBA;
		res->space = MM_RGBA;
		break;
	case JCS_CMYK:
	case JCS_YCCK:
		cinfo.out_color_space = JCS_CMYK;
		res->space = MM_CMYK;
		break;
	default:
		jpeg_destroy_decompress(&cinfo);
		strcpy(res->msg, "colour space left to image/jpeg");
		return MM_ERROR;
	}
	jpeg_start_decompress(&cinfo);
	size_t w = cinfo.output_width, h = cinfo.output_height;
	size_t nc = cinfo.output_components, plane = w * h;
	// YCbCr rows are split into planes from an interleaved row buffer;
	// grey, RGBA and CMYK rows go straight into place.
	int split = res->space == MM_YCC;
	pix = malloc(plane * nc);
	rowbuf = split ? malloc(16 * w * nc) : NULL;
	if (pix == NULL || (split && rowbuf == NULL)) {
		jpeg_destroy_decompress(&cinfo);
		free(pix);
		free(rowbuf);
		strcpy(res->msg, "out of memory");
		return MM_ERROR;
	}
	while (cinfo.output_scanline < cinfo.output_height) {
		JSAMPROW rows[16];
		size_t k, y0 = cinfo.output_scanline, left = h - y0, got;
		if (left > 16)
			left = 16;
		for (k = 0; k < left; k++)
			rows[k] = split ? rowbuf + k * w * nc : pix + (y0 + k) * w * nc;
		got = jpeg_read_scanlines(&cinfo, rows, (JDIMENSION)left);
		if (got == 0)
			break; // only a suspending source stops early; finish then fails
		if (split) {
			for (k = 0; k < got; k++) {
				const unsigned char *s = rowbuf + k * w * nc;
				unsigned char *py = pix + (y0 + k) * w, *pb = py + plane, *pr = pb + plane;
				for (size_t x = 0; x < w; x++, s += 3) {
					py[x] = s[0];
					pb[x] = s[1];
					pr[x] = s[2];
				}
			}
		}
	}
	jpeg_finish_decompress(&cinfo);
	jpeg_destroy_decompress(&cinfo);
	free(rowbuf);
	rowbuf = NULL;
	if (err.warned) {
		free(pix);
		memcpy(res->msg, err.msg, sizeof res->msg);
		return MM_WARNING;
	}
	res->out_width = w;
	res->out_height = h;
	res->pix = pix;
	return MM_OK;
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"image"
	"unsafe"
)

// haveLibjpeg reports whether JPEGs are decoded by libjpeg-turbo.
const haveLibjpeg = true

// libjpegDecode decodes a JPEG at the smallest DCT scale of 1/1, 1/2, 1/4
// or 1/8 that keeps both sides at minSide pixels or more (1/1 for an image
// already smaller), refusing images of more than maxPixels before decoding
// any. It returns the scaled image (*image.Gray, 4:4:4 *image.YCbCr,
// *image.RGBA for RGB JPEGs or *image.CMYK for CMYK and YCCK JPEGs: the
// colour models of image/jpeg) and the stored width and height.
//
// The decode stops, between two rows or two scans, when ctx ends (the
// error is then ctx's cause) or when libjpeg reaches scan maxScans+1
// (ErrTooLarge). Errors wrap ErrTooLarge, ctx's cause, or carry
// libjpeg's message (the caller then tries image/jpeg).
func libjpegDecode(ctx context.Context, data []byte, maxPixels int64, minSide, maxScans int) (image.Image, int, int, error) {
	if len(data) == 0 {
		return nil, 0, 0, errors.New("libjpeg: empty")
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, 0, context.Cause(ctx)
	}
	// The flag lives in C memory: the monitor reads it while this
	// goroutine is in C, and the AfterFunc writes it from another.
	flag := (*C.int)(C.calloc(1, C.size_t(unsafe.Sizeof(C.int(0)))))
	if flag == nil {
		return nil, 0, 0, errors.New("libjpeg: out of memory")
	}
	cancelled := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		C.mm_cancel(flag)
		close(cancelled)
	})
	var res C.mm_result
	rc := C.mm_decode((*C.uchar)(unsafe.Pointer(unsafe.SliceData(data))), C.ulong(len(data)),
		C.longlong(maxPixels), C.int(minSide), C.int(maxScans), flag, &res)
	if !stop() {
		<-cancelled // the AfterFunc ran or runs: let it finish with flag
	}
	C.free(unsafe.Pointer(flag))
	w, h := int64(res.width), int64(res.height)
	switch rc {
	case C.MM_OK:
	case C.MM_TOO_LARGE:
		return nil, 0, 0, tooLarge("jpeg", w, h, maxPixels)
	case C.MM_TOO_MANY_SCANS:
		return nil, 0, 0, tooManyScans(int(res.scans), maxScans)
	case C.MM_STOPPED:
		return nil, 0, 0, context.Cause(ctx)
	default:
		return nil, 0, 0, fmt.Errorf("libjpeg: %s", C.GoString(&res.msg[0]))
	}
	defer C.free(unsafe.Pointer(res.pix))
	ow, oh := int(res.out_width), int(res.out_height)
	plane := ow * oh
	r := image.Rect(0, 0, ow, oh)
	switch res.space {
	case C.MM_GREY:
		g := image.NewGray(r)
		copy(g.Pix, unsafe.Slice((*byte)(unsafe.Pointer(res.pix)), plane))
		return g, int(w), int(h), nil
	case C.MM_YCC:
		pix := unsafe.Slice((*byte)(unsafe.Pointer(res.pix)), 3*plane)
		m := image.NewYCbCr(r, image.YCbCrSubsampleRatio444)
		copy(m.Y, pix[:plane])
		copy(m.Cb, pix[plane:2*plane])
		copy(m.Cr, pix[2*plane:])
		return m, int(w), int(h), nil
	case C.MM_RGBA:
		m := image.NewRGBA(r)
		copy(m.Pix, unsafe.Slice((*byte)(unsafe.Pointer(res.pix)), 4*plane))
		return m, int(w), int(h), nil
	default: // C.MM_CMYK
		// Adobe stores CMYK inverted (255 is no ink), and libjpeg's
		// YCCK conversion gives it so: image/jpeg and Pillow take every
		// CMYK sample as inverted, so does this.
		pix := unsafe.Slice((*byte)(unsafe.Pointer(res.pix)), 4*plane)
		m := image.NewCMYK(r)
		for i, v := range pix {
			m.Pix[i] = 255 - v
		}
		return m, int(w), int(h), nil
	}
}
