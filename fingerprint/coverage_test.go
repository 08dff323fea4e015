package fingerprint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// Tests of decoder coverage (issue 13): every image that Go's decoders or
// libjpeg-turbo read is hashed, in both builds (libjpeg, and -tags
// nolibjpeg or CGO_ENABLED=0), and the hashes of one picture in every
// encoding stay within PDQ's default threshold of each other.

// stdDecode decodes data with the first of the standard decoders that the
// package links (image/jpeg, png, gif, x/image webp, bmp, tiff) that reads
// it, independently of the package's sniffing: the judge of what Go can
// decode. It returns the last decoder's error if none reads it.
func stdDecode(data []byte) (img image.Image, err error) {
	for _, decode := range []func(io.Reader) (image.Image, error){
		jpeg.Decode, png.Decode, gif.Decode, webp.Decode, bmp.Decode, tiff.Decode,
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			img, err = decode(bytes.NewReader(data))
		}()
		if err == nil {
			return img, nil
		}
	}
	return nil, err
}

// video001 returns the hash of the shared video-001.png, the picture that
// every video-001.* file encodes.
func video001(t *testing.T, h *Hasher) mediamatch.Media {
	t.Helper()
	return hashFiles(t, h, []string{"images/go-stdlib-video001/video-001.png"})[0]
}

// checkNear fails t unless m's PDQ is within the default threshold of ref's.
func checkNear(t *testing.T, m, ref mediamatch.Media) {
	t.Helper()
	d := frameDistance(t, m, ref, mediamatch.PDQ)
	t.Logf("pdq distance to video-001.png: %d", d)
	if d > mediamatch.PDQ.DefaultThreshold() {
		t.Errorf("PDQ distance to video-001.png = %d, want <= %d", d, mediamatch.PDQ.DefaultThreshold())
	}
}

// TestDecoderCoverageShared: every shared image that Go's decoders read is
// hashed, and every re-encoding of video-001 (GROUPS.tsv group video001)
// hashes within PDQ's threshold of video-001.png.
func TestDecoderCoverageShared(t *testing.T) {
	h := New(Options{})
	ref := video001(t, h)
	for _, rel := range mediaFiles(t, "images") {
		t.Run(strings.TrimPrefix(rel, "images/"), func(t *testing.T) {
			data := readMedia(t, rel)
			if _, err := stdDecode(data); err != nil {
				t.Skipf("no Go decoder reads it: %v", err)
			}
			m, err := h.Hash(context.Background(), data)
			if err != nil {
				t.Fatalf("Go's decoders read it, but Hash = %v", err)
			}
			if strings.HasPrefix(filepath.Base(rel), "video-001.") {
				checkNear(t, m, ref)
			}
		})
	}
}

// TestDecoderCoverageJPEG hashes the JPEG colour spaces and sampling
// layouts of testdata/jpegcs (made by libjpeg-turbo's encoder from
// video-001.png, see its README): with libjpeg built in, every one is
// hashed near video-001.png; without it, those that image/jpeg reads are,
// and the others are refused as unsupported or corrupt, as image/jpeg says.
func TestDecoderCoverageJPEG(t *testing.T) {
	tests := []struct {
		file    string
		goReads bool // image/jpeg reads it
	}{
		{"rgb-r22", true},           // RGB (Adobe transform 0), R 2x2, G and B 1x1
		{"rgb-g22", false},          // RGB, G 2x2: R's factors are not multiples of G's
		{"rgb-r31", false},          // RGB, R 3x1: image/jpeg reads no factor of 3
		{"rgb-arith", false},        // RGB 4:4:4, arithmetic coding
		{"rgb-g22-prog-rst", false}, // rgb-g22, progressive, a restart every MCU
		{"ycc420-prog-rst", false},  // YCbCr 4:2:0, progressive, a restart every MCU
		{"cmyk-2112", true},         // Adobe CMYK, C and K 2x2
		{"cmyk-noadobe", false},     // CMYK without the Adobe APP14 segment
		{"ycck-2112", true},         // Adobe YCCK, Y and K 2x2
		{"ycck-2111", false},        // Adobe YCCK, Y 2x2, K 1x1
	}
	h := New(Options{})
	ref := video001(t, h)
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "jpegcs", "video-001."+tt.file+".jpeg"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := stdDecode(data); (err == nil) != tt.goReads {
				t.Fatalf("image/jpeg: err = %v, want goReads = %v (the table is out of date)", err, tt.goReads)
			}
			h := New(Options{}) // its own, for the budget's peak
			m, err := h.Hash(context.Background(), data)
			if !haveLibjpeg && !tt.goReads {
				if !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Hash without libjpeg = %v, want ErrUnsupported or ErrCorrupt", err)
				}
				t.Logf("refused without libjpeg: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Hash = %v, want a fingerprint", err)
			}
			checkImageMedia(t, m, len(data))
			if m.Width != 150 || m.Height != 103 {
				t.Errorf("size = %dx%d, want 150x103", m.Width, m.Height)
			}
			checkNear(t, m, ref)
			// Where image/jpeg's header reader refuses the file, the
			// budget is still taken for its size, not for the largest
			// image allowed.
			if _, peak := h.DecodeMemory(); peak > pipelineBytes+1<<20 {
				t.Errorf("decode memory peak = %d bytes, want <= %d for a 150x103 image", peak, pipelineBytes+1<<20)
			}
		})
	}
}

// TestDecoderCoverageRefused: JPEGs that neither decoder reads (12-bit
// samples, which this libjpeg-turbo build and image/jpeg lack, and
// lossless JPEG) are refused as unsupported, naming what is missing.
func TestDecoderCoverageRefused(t *testing.T) {
	base := smallJPEG(t, 64, 48)
	sof := bytes.Index(base, []byte{0xff, 0xc0})
	if sof < 0 {
		t.Fatal("no SOF0 in image/jpeg's output")
	}
	patch := func(marker, precision byte) []byte {
		d := bytes.Clone(base)
		d[sof+1], d[sof+4] = marker, precision
		return d
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"12-bit", patch(0xc1, 12), "precision"},
		{"lossless", patch(0xc3, 8), "unsupported"},
	}
	h := New(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.Hash(context.Background(), tt.data)
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Hash = %v, want ErrUnsupported naming %q", err, tt.want)
			}
		})
	}
}

// TestDecoderCoverageLimits: the limits on decoding hold for a JPEG that
// only libjpeg reads (RGB with green sampled 2x2, progressive in 14 scans,
// 150x103) as for any other: the pixel limit, the scan limit (from the
// marker count, and libjpeg's own), the decode memory budget and the
// caller's context.
func TestDecoderCoverageLimits(t *testing.T) {
	if !haveLibjpeg {
		t.Skip("without libjpeg, image/jpeg refuses this file before any limit")
	}
	data, err := os.ReadFile(filepath.Join("testdata", "jpegcs", "video-001.rgb-g22-prog-rst.jpeg"))
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		opts Options
		ctx  context.Context
		want error
		msg  string
	}{
		{"pixels", Options{MaxPixels: 15000}, context.Background(), ErrTooLarge, "150x103 = 15450 pixels, limit 15000"},
		{"scans", Options{MaxJPEGScans: 13}, context.Background(), ErrTooLarge, "14 scans, limit 13"},
		{"memory", Options{DecodeMemory: 1 << 20}, context.Background(), ErrTooLarge, "Options.DecodeMemory"},
		{"cancelled", Options{}, cancelled, context.Canceled, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts).Hash(tt.ctx, data)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Hash = %v, want %v naming %q", err, tt.want, tt.msg)
			}
		})
	}
	_, _, _, err = libjpegDecode(context.Background(), data, 1<<30, jpegMinSide, 9)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "10 scans, limit 9") {
		t.Fatalf("libjpegDecode(10 scans, limit 9) = %v, want ErrTooLarge at scan 10", err)
	}
}
