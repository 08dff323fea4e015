package fingerprint

import (
	"encoding/binary"
	"image"
	"slices"
	"testing"
)

// exifTIFF returns a TIFF structure in byte order bo whose IFD0 holds
// extra unrelated tags and then an orientation tag of type typ.
func exifTIFF(bo binary.AppendByteOrder, orient uint16, typ uint16, extra int) []byte {
	var t []byte
	if bo.String() == binary.LittleEndian.String() {
		t = append(t, "II"...)
	} else {
		t = append(t, "MM"...)
	}
	t = bo.AppendUint16(t, 42)
	t = bo.AppendUint32(t, 8)
	t = bo.AppendUint16(t, uint16(extra+1))
	for i := 0; i < extra; i++ { // unrelated tags first (ImageWidth...)
		t = bo.AppendUint16(t, uint16(0x0100+i))
		t = bo.AppendUint16(t, 4)
		t = bo.AppendUint32(t, 1)
		t = bo.AppendUint32(t, 1234)
	}
	t = bo.AppendUint16(t, tagOrientation)
	t = bo.AppendUint16(t, typ)
	t = bo.AppendUint32(t, 1)
	t = bo.AppendUint16(t, orient)
	t = bo.AppendUint16(t, 0)
	t = bo.AppendUint32(t, 0) // no next IFD
	return t
}

// jpegWithExif wraps a TIFF structure in SOI, an APP0, an APP1 Exif
// segment and EOI.
func jpegWithExif(tiff []byte) []byte {
	d := []byte{0xff, 0xd8}
	d = append(d, 0xff, 0xe0, 0, 16)
	d = append(d, "JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"...)
	payload := append([]byte("Exif\x00\x00"), tiff...)
	d = append(d, 0xff, 0xe1)
	d = binary.BigEndian.AppendUint16(d, uint16(len(payload)+2))
	d = append(d, payload...)
	return append(d, 0xff, 0xd9)
}

func webpWithExif(tiff []byte) []byte {
	chunk := func(id string, data []byte) []byte {
		c := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
		c = append(c, data...)
		if len(data)%2 == 1 {
			c = append(c, 0)
		}
		return c
	}
	body := append([]byte("WEBP"), chunk("VP8X", make([]byte, 10))...)
	body = append(body, chunk("ICCP", []byte{1, 2, 3})...) // odd size: padded
	body = append(body, chunk("EXIF", tiff)...)
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}

func TestOrientation(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	tests := []struct {
		name   string
		format string
		data   []byte
		want   int
	}{
		{"jpeg-le-6", "jpeg", jpegWithExif(exifTIFF(le, 6, 3, 2)), 6},
		{"jpeg-be-8", "jpeg", jpegWithExif(exifTIFF(be, 8, 3, 0)), 8},
		{"jpeg-be-3", "jpeg", jpegWithExif(exifTIFF(be, 3, 3, 5)), 3},
		{"jpeg-out-of-range", "jpeg", jpegWithExif(exifTIFF(le, 9, 3, 0)), 1},
		{"jpeg-zero", "jpeg", jpegWithExif(exifTIFF(le, 0, 3, 0)), 1},
		{"jpeg-wrong-type", "jpeg", jpegWithExif(exifTIFF(le, 6, 4, 0)), 1},
		{"jpeg-no-exif", "jpeg", []byte{0xff, 0xd8, 0xff, 0xd9}, 1},
		{"tiff-5", "tiff", exifTIFF(le, 5, 3, 3), 5},
		{"webp-7", "webp", webpWithExif(exifTIFF(be, 7, 3, 1)), 7},
		{"png-ignored", "png", exifTIFF(le, 6, 3, 0), 1},
		{"bad-magic", "tiff", []byte("XX*\x00\x08\x00\x00\x00"), 1},
		{"ifd-past-end", "tiff", []byte("II*\x00\xff\xff\x00\x00"), 1},
		{"count-past-end", "tiff", []byte("II*\x00\x08\x00\x00\x00\xff\xff"), 1},
		{"empty", "jpeg", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := orientation(tt.format, tt.data); got != tt.want {
				t.Errorf("orientation = %d, want %d", got, tt.want)
			}
		})
	}

	// Every truncation of a valid block must be read without panicking.
	for _, d := range [][]byte{jpegWithExif(exifTIFF(le, 6, 3, 4)), webpWithExif(exifTIFF(be, 6, 3, 4))} {
		for n := range d {
			orientation(sniffOr(d, "tiff"), d[:n])
			orientation("tiff", d[:n])
		}
	}
}

func sniffOr(d []byte, def string) string {
	if f := sniff(d); f != "" {
		return f
	}
	return def
}

func TestOrient(t *testing.T) {
	// The stored image:
	//   1 2 3
	//   4 5 6
	src := &image.Gray{Pix: []uint8{1, 2, 3, 4, 5, 6}, Stride: 3, Rect: image.Rect(0, 0, 3, 2)}
	tests := []struct {
		o    int
		w, h int
		want []uint8
	}{
		{1, 3, 2, []uint8{1, 2, 3, 4, 5, 6}},
		{2, 3, 2, []uint8{3, 2, 1, 6, 5, 4}}, // mirrored
		{3, 3, 2, []uint8{6, 5, 4, 3, 2, 1}}, // rotated 180
		{4, 3, 2, []uint8{4, 5, 6, 1, 2, 3}}, // flipped
		{5, 2, 3, []uint8{1, 4, 2, 5, 3, 6}}, // transposed
		{6, 2, 3, []uint8{4, 1, 5, 2, 6, 3}}, // rotated 90 clockwise
		{7, 2, 3, []uint8{6, 3, 5, 2, 4, 1}}, // transversed
		{8, 2, 3, []uint8{3, 6, 2, 5, 1, 4}}, // rotated 90 counter-clockwise
	}
	for _, tt := range tests {
		got := orient(src, tt.o)
		g, ok := got.(*image.Gray)
		if !ok {
			t.Fatalf("orient %d returned %T, want *image.Gray", tt.o, got)
		}
		if g.Rect.Dx() != tt.w || g.Rect.Dy() != tt.h || !slices.Equal(g.Pix, tt.want) {
			t.Errorf("orient %d = %dx%d %v, want %dx%d %v", tt.o, g.Rect.Dx(), g.Rect.Dy(), g.Pix, tt.w, tt.h, tt.want)
		}
		// The RGBA and YCbCr paths move pixels the same way.
		rgba := reduce(src, 3, 2)
		if _, ok := rgba.(*image.Gray); ok {
			r := image.NewRGBA(src.Rect)
			for i, v := range src.Pix {
				copy(r.Pix[4*i:], []uint8{v, v, v, 255})
			}
			rgba = r
		}
		or := orient(rgba, tt.o).(*image.RGBA)
		for i, v := range tt.want {
			if or.Pix[4*i] != v {
				t.Errorf("orient %d RGBA pixel %d = %d, want %d", tt.o, i, or.Pix[4*i], v)
			}
		}
		ycc := image.NewYCbCr(src.Rect, image.YCbCrSubsampleRatio420)
		copy(ycc.Y, src.Pix)
		oy := orient(ycc, tt.o).(*image.YCbCr)
		if tt.o > 1 && !slices.Equal(oy.Y, tt.want) {
			t.Errorf("orient %d YCbCr = %v, want %v", tt.o, oy.Y, tt.want)
		}
	}
}
