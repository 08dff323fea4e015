package hostile

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
)

// This file makes decoding bombs: small files that cost a decoder far more
// CPU or memory than their size suggests, while staying inside a pixel
// budget.

// ScanBomb returns a w x h grey progressive JPEG (SOF2) of one DC scan and
// then scans-1 identical AC scans (coefficients 1..63, no successive
// approximation), every block of every scan empty. Both libjpeg and
// image/jpeg accept the repetition (each AC scan merely rewrites the same
// zero coefficients), and each scan costs them a pass over every block of
// the image: a 7040x7040 bomb of 2,000 scans is about 225 KB (97 KB of DC
// scan, then about 64 bytes a scan) and costs seconds of CPU. It panics if
// scans < 1 or a side is not 1..65535.
func ScanBomb(w, h, scans int) []byte {
	if scans < 1 || w < 1 || h < 1 || w > 65535 || h > 65535 {
		panic(fmt.Sprintf("hostile: ScanBomb(%d, %d, %d)", w, h, scans))
	}
	var b bytes.Buffer
	seg := func(marker byte, data ...byte) {
		b.Write([]byte{0xff, marker})
		b.Write(binary.BigEndian.AppendUint16(nil, uint16(len(data)+2)))
		b.Write(data)
	}
	b.Write([]byte{0xff, 0xd8})                                     // SOI
	seg(0xdb, append([]byte{0}, bytes.Repeat([]byte{1}, 64)...)...) // DQT 0: all ones
	seg(0xc2, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 1, 1, 0x11, 0)
	// DC table 0: one code, "0", for category 0 (a zero difference).
	seg(0xc4, append([]byte{0x00, 1}, append(make([]byte, 15), 0)...)...)
	// AC table 0: EOB0..EOB14 (0x00, 0x10, ..., 0xe0), 4-bit codes 0000..1110.
	ac := []byte{0x10, 0, 0, 0, 15}
	ac = append(ac, make([]byte, 12)...)
	for r := range 15 {
		ac = append(ac, byte(r<<4))
	}
	seg(0xc4, ac...)
	blocks := ((w + 7) / 8) * ((h + 7) / 8)

	// DC first scan: a "0" for every block.
	seg(0xda, 1, 1, 0x00, 0, 0, 0)
	var bw bitWriter
	bw.w = &b
	for range blocks {
		bw.put(0, 1)
	}
	bw.flush()
	// AC scans: end-of-band runs over every block (EOBn codes a run of
	// 2^n..2^(n+1)-1 blocks, with n extra bits).
	var scan bytes.Buffer
	bw.w = &scan
	for left := blocks; left > 0; {
		run := min(left, 1<<15-1)
		n := bits.Len(uint(run)) - 1
		bw.put(uint32(n), 4)
		bw.put(uint32(run-1<<n), n)
		left -= run
	}
	bw.flush()
	for range scans - 1 {
		seg(0xda, 1, 1, 0x00, 1, 63, 0)
		b.Write(scan.Bytes())
	}
	b.Write([]byte{0xff, 0xd9}) // EOI
	return b.Bytes()
}

// bitWriter writes JPEG entropy-coded bits, most significant first, with
// 0xff bytes stuffed.
type bitWriter struct {
	w    *bytes.Buffer
	acc  uint32
	nacc int
}

func (bw *bitWriter) put(v uint32, n int) {
	for i := n - 1; i >= 0; i-- {
		bw.acc = bw.acc<<1 | (v>>i)&1
		if bw.nacc++; bw.nacc == 8 {
			bw.w.WriteByte(byte(bw.acc))
			if byte(bw.acc) == 0xff {
				bw.w.WriteByte(0)
			}
			bw.acc, bw.nacc = 0, 0
		}
	}
}

// flush pads the last byte with ones, as JPEG wants.
func (bw *bitWriter) flush() {
	for bw.nacc != 0 {
		bw.put(1, 1)
	}
}

// wideRows streams h rows of w copies of pixel, each row preceded by
// prefix bytes, through zlib into dst. The picture is a flat colour,
// which deflate shrinks about 1000 times. It returns zlib's error.
func wideRows(dst io.Writer, w, h int, prefix, pixel []byte) error {
	z, err := zlib.NewWriterLevel(dst, zlib.BestCompression)
	if err != nil {
		return err
	}
	row := append([]byte(nil), prefix...)
	for range w {
		row = append(row, pixel...)
	}
	for range h {
		if _, err := z.Write(row); err != nil {
			return err
		}
	}
	return z.Close()
}

// WidePNG returns a w x h 16-bit RGBA PNG (8 bytes a pixel decoded) of
// one flat colour: a 7000x7000 one (49 MP, under the default pixel budget)
// is about 400 KB and decodes to 392 MB. It fails only if a side is 0.
func WidePNG(w, h int) ([]byte, error) {
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("hostile: WidePNG(%d, %d)", w, h)
	}
	var b bytes.Buffer
	b.WriteString(pngSignature)
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	pngChunk(&b, "IHDR", append(ihdr, 16, 6, 0, 0, 0)) // 16-bit RGBA, deflate, no filter, no interlace
	var idat bytes.Buffer
	// Filter type None before each row; samples big-endian, as PNG wants.
	if err := wideRows(&idat, w, h, []byte{0}, []byte{0x40, 0x00, 0x80, 0x00, 0xc0, 0x00, 0xff, 0xff}); err != nil {
		return nil, fmt.Errorf("hostile: WidePNG: %w", err)
	}
	pngChunk(&b, "IDAT", idat.Bytes())
	pngChunk(&b, "IEND", nil)
	return b.Bytes(), nil
}

// WideTIFF returns a w x h 16-bit RGBA TIFF (8 bytes a pixel decoded, with
// unassociated alpha) in one Deflate-compressed strip, of one flat colour:
// a 7000x7000 one is about 400 KB, and the Go decoder holds both the
// decompressed strip and the image. It fails only if a side is 0.
func WideTIFF(w, h int) ([]byte, error) {
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("hostile: WideTIFF(%d, %d)", w, h)
	}
	var strip bytes.Buffer
	// TIFF is little-endian here, but 16-bit samples are in the file's
	// byte order: write them little-endian.
	if err := wideRows(&strip, w, h, nil, []byte{0x00, 0x40, 0x00, 0x80, 0x00, 0xc0, 0xff, 0xff}); err != nil {
		return nil, fmt.Errorf("hostile: WideTIFF: %w", err)
	}
	le := binary.LittleEndian
	const entries = 11
	ifd := 8
	bps := ifd + 2 + entries*12 + 4 // the four BitsPerSample values
	data := bps + 8
	var b []byte
	b = append(b, 'I', 'I', 42, 0)
	b = le.AppendUint32(b, uint32(ifd))
	b = le.AppendUint16(b, entries)
	entry := func(tag, typ uint16, count, value uint32) {
		b = le.AppendUint16(b, tag)
		b = le.AppendUint16(b, typ)
		b = le.AppendUint32(b, count)
		b = le.AppendUint32(b, value)
	}
	const short, long = 3, 4
	entry(256, long, 1, uint32(w))           // ImageWidth
	entry(257, long, 1, uint32(h))           // ImageLength
	entry(258, short, 4, uint32(bps))        // BitsPerSample: 16,16,16,16
	entry(259, short, 1, 8)                  // Compression: Deflate
	entry(262, short, 1, 2)                  // PhotometricInterpretation: RGB
	entry(273, long, 1, uint32(data))        // StripOffsets
	entry(277, short, 1, 4)                  // SamplesPerPixel
	entry(278, long, 1, uint32(h))           // RowsPerStrip
	entry(279, long, 1, uint32(strip.Len())) // StripByteCounts
	entry(284, short, 1, 1)                  // PlanarConfiguration: chunky
	entry(338, short, 1, 2)                  // ExtraSamples: unassociated alpha
	b = le.AppendUint32(b, 0)                // no next IFD
	for range 4 {
		b = le.AppendUint16(b, 16)
	}
	return append(b, strip.Bytes()...), nil
}

// BigFrameVideo returns a one-second Matroska video of one w x h grey
// MJPEG frame, whose container states no frame size that ffmpeg would
// report before decoding: with -max_pixels under w*h, ffmpeg finds no
// decodable video stream at all, and only its refusal of the picture size
// says why.
func BigFrameVideo(ffmpeg string, w, h int) ([]byte, error) {
	return Video(ffmpeg, "big.mkv", "-f", "lavfi", "-i", fmt.Sprintf("color=c=gray:s=%dx%d:r=1:d=1", w, h),
		"-frames:v", "1", "-c:v", "mjpeg", "-pix_fmt", "yuvj420p")
}
