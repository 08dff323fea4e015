package fingerprint

// This file decodes 16-bit PNGs straight to 8 bits a sample, keeping the
// high byte of each, so that such a PNG costs what its 8-bit twin does:
// image/png would return 16-bit pixels (8 bytes a pixel for RGBA, where
// every hash here works from 8-bit values; for opaque pixels the high byte
// is exactly what the pipeline takes of a 16-bit sample). It handles the
// common layouts, non-interlaced grey, RGB and RGBA without a tRNS
// chunk; anything else goes to image/png.

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"io"
)

// png16 is the layout of a PNG that decodePNG16 takes, from its IHDR.
type png16 struct {
	width, height int
	channels      int // 1 grey, 3 RGB, 4 RGBA
}

// sniffPNG16 returns the layout of a non-interlaced 16-bit grey, RGB or
// RGBA PNG without a tRNS chunk before its first IDAT, and false for
// anything else (then image/png decodes it).
func sniffPNG16(d []byte) (png16, bool) {
	const ihdr = 8 + 8 // signature, then IHDR's length and type
	if len(d) < ihdr+13 || string(d[12:16]) != "IHDR" {
		return png16{}, false
	}
	h := d[ihdr:]
	p := png16{width: int(binary.BigEndian.Uint32(h)), height: int(binary.BigEndian.Uint32(h[4:]))}
	depth, ct, interlace := h[8], h[9], h[12]
	switch ct {
	case 0:
		p.channels = 1
	case 2:
		p.channels = 3
	case 6:
		p.channels = 4
	default:
		return png16{}, false
	}
	if depth != 16 || interlace != 0 || p.width <= 0 || p.height <= 0 {
		return png16{}, false
	}
	for c := range pngChunks(d) {
		switch c.typ {
		case "tRNS":
			return png16{}, false
		case "IDAT":
			return p, true
		}
	}
	return p, true // no IDAT: decodePNG16 reports it
}

type pngChunk struct {
	typ  string
	data []byte
	crc  uint32
}

// pngChunks yields the chunks after the signature, stopping at IEND or
// where a chunk's length runs past the data.
func pngChunks(d []byte) func(yield func(pngChunk) bool) {
	return func(yield func(pngChunk) bool) {
		for i := 8; i+12 <= len(d); {
			n := int(binary.BigEndian.Uint32(d[i:]))
			if n < 0 || n > len(d)-i-12 {
				return
			}
			c := pngChunk{typ: string(d[i+4 : i+8]), data: d[i+8 : i+8+n], crc: binary.BigEndian.Uint32(d[i+8+n:])}
			if !yield(c) || c.typ == "IEND" {
				return
			}
			i += 12 + n
		}
	}
}

// decodePNG16 decodes a PNG that sniffPNG16 accepted into an *image.Gray,
// an *image.RGBA (opaque RGB) or an *image.NRGBA, stopping when ctx ends
// (see ctxReader). Errors are the decoder's, which decodeError maps, or
// ctx's cause.
func decodePNG16(ctx context.Context, d []byte, p png16) (image.Image, error) {
	var idat [][]byte
	for c := range pngChunks(d) {
		if crc32.Update(crc32.ChecksumIEEE([]byte(c.typ)), crc32.IEEETable, c.data) != c.crc {
			return nil, fmt.Errorf("png: invalid format: %s chunk checksum mismatch", c.typ)
		}
		if c.typ == "IDAT" {
			idat = append(idat, c.data)
		}
	}
	if len(idat) == 0 {
		return nil, errors.New("png: invalid format: no IDAT chunk")
	}
	z, err := zlib.NewReader(&ctxReader{ctx: ctx, r: bytes.NewReader(bytes.Join(idat, nil))})
	if err != nil {
		return nil, err
	}
	defer z.Close()

	bpp := 2 * p.channels // bytes per pixel in the file
	stride := bpp * p.width
	cur, prev := make([]byte, 1+stride), make([]byte, 1+stride)
	r := image.Rect(0, 0, p.width, p.height)
	var (
		pix    []byte
		step   int
		gray   *image.Gray
		rgba   *image.RGBA
		nrgba  *image.NRGBA
		result image.Image
	)
	switch p.channels {
	case 1:
		gray = image.NewGray(r)
		pix, step, result = gray.Pix, gray.Stride, gray
	case 3:
		rgba = image.NewRGBA(r)
		pix, step, result = rgba.Pix, rgba.Stride, rgba
	default:
		nrgba = image.NewNRGBA(r)
		pix, step, result = nrgba.Pix, nrgba.Stride, nrgba
	}
	for y := range p.height {
		if _, err := io.ReadFull(z, cur); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if err := unfilter(cur[0], cur[1:], prev[1:], bpp); err != nil {
			return nil, err
		}
		row, out := cur[1:], pix[y*step:]
		switch p.channels {
		case 1, 4:
			for i := range p.width * p.channels {
				out[i] = row[2*i]
			}
		case 3:
			for x := range p.width {
				s := row[6*x:]
				o := out[4*x:]
				o[0], o[1], o[2], o[3] = s[0], s[2], s[4], 0xff
			}
		}
		cur, prev = prev, cur
	}
	return result, nil
}

// unfilter reverses PNG filter ft on row cur, given the previous row prev
// (zero before the first) and bpp bytes a pixel.
func unfilter(ft byte, cur, prev []byte, bpp int) error {
	switch ft {
	case 0:
	case 1: // Sub
		for i := bpp; i < len(cur); i++ {
			cur[i] += cur[i-bpp]
		}
	case 2: // Up
		for i := range cur {
			cur[i] += prev[i]
		}
	case 3: // Average
		for i := range bpp {
			cur[i] += prev[i] / 2
		}
		for i := bpp; i < len(cur); i++ {
			cur[i] += byte((int(cur[i-bpp]) + int(prev[i])) / 2)
		}
	case 4: // Paeth
		for i := range bpp {
			cur[i] += prev[i]
		}
		for i := bpp; i < len(cur); i++ {
			cur[i] += paeth(cur[i-bpp], prev[i], prev[i-bpp])
		}
	default:
		return fmt.Errorf("png: invalid format: bad filter type %d", ft)
	}
	return nil
}

func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
