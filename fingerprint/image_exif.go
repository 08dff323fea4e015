package fingerprint

import (
	"bytes"
	"encoding/binary"
	"image"
)

// This file reads the EXIF orientation tag (0x0112) of JPEG, TIFF and WebP
// files and applies it. It is a few dozen bounds-checked lines rather than
// a dependency: only one tag of IFD0 is needed, and anything malformed
// simply means "no orientation" (1).

const tagOrientation = 0x0112

// orientation returns the EXIF orientation (1..8) of an image file of the
// given format, or 1 when it has none or it cannot be read.
func orientation(format string, data []byte) int {
	switch format {
	case "jpeg":
		return jpegOrientation(data)
	case "tiff":
		return tiffOrientation(data)
	case "webp":
		return webpOrientation(data)
	}
	return 1
}

// jpegOrientation walks the marker segments before the first scan looking
// for an APP1 "Exif" segment.
func jpegOrientation(d []byte) int {
	if len(d) < 4 || d[0] != 0xff || d[1] != 0xd8 {
		return 1
	}
	i := 2
	for i+4 <= len(d) {
		if d[i] != 0xff {
			return 1
		}
		m := d[i+1]
		switch {
		case m == 0xff: // fill byte
			i++
			continue
		case m == 0xd8 || m == 0x01 || (m >= 0xd0 && m <= 0xd7): // no length
			i += 2
			continue
		case m == 0xda || m == 0xd9: // start of scan, end of image
			return 1
		}
		n := int(binary.BigEndian.Uint16(d[i+2:]))
		if n < 2 || i+2+n > len(d) {
			return 1
		}
		seg := d[i+4 : i+2+n]
		if m == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return tiffOrientation(seg[6:])
		}
		i += 2 + n
	}
	return 1
}

// tiffOrientation reads the orientation tag of IFD0 of a TIFF structure
// (a TIFF file, or the payload of an EXIF block).
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(t[2:]) != 42 {
		return 1
	}
	off := uint64(bo.Uint32(t[4:]))
	if off+2 > uint64(len(t)) {
		return 1
	}
	n := uint64(bo.Uint16(t[off:]))
	for i := uint64(0); i < n; i++ {
		e := off + 2 + 12*i
		if e+12 > uint64(len(t)) {
			return 1
		}
		if bo.Uint16(t[e:]) != tagOrientation {
			continue
		}
		const typeShort = 3
		if bo.Uint16(t[e+2:]) != typeShort || bo.Uint32(t[e+4:]) < 1 {
			return 1
		}
		if v := int(bo.Uint16(t[e+8:])); v >= 1 && v <= 8 {
			return v
		}
		return 1
	}
	return 1
}

// webpOrientation looks for an EXIF chunk in a RIFF WebP file.
func webpOrientation(d []byte) int {
	if len(d) < 12 || string(d[:4]) != "RIFF" || string(d[8:12]) != "WEBP" {
		return 1
	}
	for i := 12; i+8 <= len(d); {
		id := string(d[i : i+4])
		n := int(binary.LittleEndian.Uint32(d[i+4:]))
		if n < 0 || n > len(d)-i-8 {
			return 1
		}
		if id == "EXIF" {
			p := d[i+8 : i+8+n]
			p = bytes.TrimPrefix(p, []byte("Exif\x00\x00"))
			return tiffOrientation(p)
		}
		i += 8 + n + n&1 // chunks are padded to even sizes
	}
	return 1
}

// orient returns img as displayed under EXIF orientation o: 2 mirrors, 3
// rotates 180°, 4 flips, 5 transposes, 6 rotates 90° clockwise, 7
// transverses, 8 rotates 90° counter-clockwise. Orientations 5..8 swap
// width and height. The result is a *image.Gray, a 4:4:4 *image.YCbCr or
// an *image.RGBA (other types are converted by reduce first).
func orient(img image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	r := image.Rect(0, 0, dw, dh)
	switch m := img.(type) {
	case *image.Gray:
		d := image.NewGray(r)
		orientPlane(d.Pix, d.Stride, m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride, w, h, 1, o)
		return d
	case *image.RGBA:
		d := image.NewRGBA(r)
		orientPlane(d.Pix, d.Stride, m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride, w, h, 4, o)
		return d
	case *image.YCbCr:
		if m.SubsampleRatio != image.YCbCrSubsampleRatio444 {
			break
		}
		d := image.NewYCbCr(r, image.YCbCrSubsampleRatio444)
		orientPlane(d.Y, d.YStride, m.Y[m.YOffset(b.Min.X, b.Min.Y):], m.YStride, w, h, 1, o)
		orientPlane(d.Cb, d.CStride, m.Cb[m.COffset(b.Min.X, b.Min.Y):], m.CStride, w, h, 1, o)
		orientPlane(d.Cr, d.CStride, m.Cr[m.COffset(b.Min.X, b.Min.Y):], m.CStride, w, h, 1, o)
		return d
	}
	return orient(reduce(img, w, h), o)
}

// orientPlane writes into dst the w x h plane src (c bytes per pixel)
// under orientation o.
func orientPlane(dst []uint8, dstStride int, src []uint8, stride, w, h, c, o int) {
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	for y := 0; y < dh; y++ {
		row := dst[y*dstStride : y*dstStride+dw*c]
		for x := 0; x < dw; x++ {
			var sx, sy int
			switch o {
			case 2:
				sx, sy = w-1-x, y
			case 3:
				sx, sy = w-1-x, h-1-y
			case 4:
				sx, sy = x, h-1-y
			case 5:
				sx, sy = y, x
			case 6:
				sx, sy = y, h-1-x
			case 7:
				sx, sy = w-1-y, h-1-x
			case 8:
				sx, sy = w-1-y, x
			}
			i := sy*stride + sx*c
			copy(row[x*c:x*c+c], src[i:i+c])
		}
	}
}
