package pdq

import (
	"bytes"
	"encoding/binary"
)

// exifOrientation returns the EXIF orientation tag of a JPEG file, or 0
// when it has none. It reads only what the conformance tests need: the
// first APP1 "Exif" segment and the orientation entry of IFD0.
func exifOrientation(data []byte) Orientation {
	if len(data) < 4 || data[0] != 0xff || data[1] != 0xd8 {
		return 0
	}
	p := 2
	for p+4 <= len(data) {
		if data[p] != 0xff {
			return 0
		}
		marker := data[p+1]
		if marker == 0xd8 || marker >= 0xd0 && marker <= 0xd7 || marker == 0x01 || marker == 0xff {
			p++
			continue
		}
		if marker == 0xda || marker == 0xd9 { // start of scan: no more metadata
			return 0
		}
		n := int(binary.BigEndian.Uint16(data[p+2:]))
		if n < 2 || p+2+n > len(data) {
			return 0
		}
		seg := data[p+4 : p+2+n]
		if marker == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return tiffOrientation(seg[6:])
		}
		p += 2 + n
	}
	return 0
}

func tiffOrientation(t []byte) Orientation {
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	ifd := int(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > len(t) {
		return 0
	}
	n := int(bo.Uint16(t[ifd:]))
	for i := range n {
		e := ifd + 2 + 12*i
		if e+12 > len(t) {
			return 0
		}
		if bo.Uint16(t[e:]) == 0x0112 && bo.Uint16(t[e+2:]) == 3 { // Orientation, SHORT
			return Orientation(bo.Uint16(t[e+8:]))
		}
	}
	return 0
}
