package hostile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// PNGHeader returns a PNG signature and a valid IHDR chunk declaring
// w x h 8-bit RGB, followed by an empty IDAT and IEND: a file that claims
// an enormous image in a few dozen bytes. PNG sides are 31-bit, so
// 100000x100000 (10 G pixels) can be declared.
func PNGHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString(pngSignature)
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // depth 8, RGB, deflate, no filter, no interlace
	pngChunk(&b, "IHDR", ihdr)
	pngChunk(&b, "IDAT", nil)
	pngChunk(&b, "IEND", nil)
	return b.Bytes()
}

// pngSignature opens every PNG file.
const pngSignature = "\x89PNG\r\n\x1a\n"

// pngChunk appends a PNG chunk of type typ holding data to b: its length,
// type, data and CRC.
func pngChunk(b *bytes.Buffer, typ string, data []byte) {
	b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(data))))
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	b.WriteString(typ)
	b.Write(data)
	b.Write(binary.BigEndian.AppendUint32(nil, crc.Sum32()))
}

// GIFHeader returns a GIF89a whose logical screen and frames declare
// w x h pixels, with frames image descriptors of one-pixel LZW data each:
// a few dozen bytes per frame that claim an enormous image. A GIF cannot
// declare more than 65535 on a side: its sizes are 16-bit fields.
func GIFHeader(w, h uint16, frames int) []byte {
	var b bytes.Buffer
	b.WriteString("GIF89a")
	b.Write(binary.LittleEndian.AppendUint16(binary.LittleEndian.AppendUint16(nil, w), h))
	b.Write([]byte{0x80, 0, 0})             // global colour table of 2 entries
	b.Write([]byte{0, 0, 0, 255, 255, 255}) // black, white
	for range frames {
		b.Write([]byte{0x21, 0xf9, 4, 0, 10, 0, 0, 0}) // graphic control: 0.1 s
		b.WriteByte(0x2c)
		for _, v := range [4]uint16{0, 0, w, h} {
			b.Write(binary.LittleEndian.AppendUint16(nil, v))
		}
		b.Write([]byte{0, 2, 2, 0x44, 0x01, 0}) // no local table; LZW: one pixel, end
	}
	b.WriteByte(0x3b)
	return b.Bytes()
}

// JPEGWithSize returns a copy of a baseline JPEG whose first SOF0 marker
// is patched to declare w x h pixels. It fails if there is no SOF0.
func JPEGWithSize(data []byte, w, h uint16) ([]byte, error) {
	d := slices.Clone(data)
	i := bytes.Index(d, []byte{0xff, 0xc0})
	if i < 0 || i+9 > len(d) {
		return nil, fmt.Errorf("hostile: no SOF0 marker in %d bytes", len(d))
	}
	binary.BigEndian.PutUint16(d[i+5:], h)
	binary.BigEndian.PutUint16(d[i+7:], w)
	return d, nil
}

// TruncatedJPEG returns the first half of a 64x64 baseline JPEG: a valid
// header and half the scan.
func TruncatedJPEG() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for y := range 64 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 4), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		panic(err) // into a bytes.Buffer, jpeg.Encode fails only for an empty image
	}
	return b.Bytes()[:b.Len()/2]
}

// ManyFrameGIF returns an animated 16x16 GIF of n frames of delay
// hundredths of a second each, alternating two pictures every 50 frames.
// 10,000 frames make about 300 KB.
func ManyFrameGIF(n, delay int) ([]byte, error) {
	var frames [2]*image.Paletted
	for i := range frames {
		frames[i] = image.NewPaletted(image.Rect(0, 0, 16, 16), color.Palette{color.Black, color.White})
		for y := range 16 {
			for x := range 16 {
				if (x/4+y/4+i)%2 == 0 {
					frames[i].SetColorIndex(x, y, 1)
				}
			}
		}
	}
	g := &gif.GIF{}
	for i := range n {
		g.Image = append(g.Image, frames[i/50%2])
		g.Delay = append(g.Delay, delay)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		return nil, fmt.Errorf("hostile: gif of %d frames: %w", n, err)
	}
	return b.Bytes(), nil
}

// TopBoxes returns the types of an MP4's top-level boxes, in order,
// stopping at the first box whose size does not fit.
func TopBoxes(b []byte) []string {
	var types []string
	for len(b) >= 8 {
		size := uint64(binary.BigEndian.Uint32(b))
		types = append(types, string(b[4:8]))
		if size == 1 && len(b) >= 16 {
			size = binary.BigEndian.Uint64(b[8:])
		}
		if size < 8 || size > uint64(len(b)) {
			break
		}
		b = b[size:]
	}
	return types
}

// WithoutBox returns a copy of an MP4 with its top-level box typ ("moov")
// cut out. It fails if the boxes do not parse or there is no such box.
func WithoutBox(mp4 []byte, typ string) ([]byte, error) {
	var out []byte
	cut := false
	for b := mp4; len(b) >= 8; {
		size := int(binary.BigEndian.Uint32(b))
		if size < 8 || size > len(b) {
			return nil, fmt.Errorf("hostile: box %q of size %d in %d bytes", b[4:8], size, len(b))
		}
		if string(b[4:8]) == typ {
			cut = true
		} else {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	if !cut {
		return nil, fmt.Errorf("hostile: no %s box in %v", typ, TopBoxes(mp4))
	}
	return out, nil
}

// Video runs ffmpeg with args (inputs and options; "-y" and a quiet log
// level are added) writing to a file called name, whose extension picks
// the container, in a temporary directory, and returns the file's bytes.
func Video(ffmpeg, name string, args ...string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "hostile-")
	if err != nil {
		return nil, fmt.Errorf("hostile: %w", err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, name)
	full := append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, args...)
	full = append(full, out)
	if b, err := exec.Command(ffmpeg, full...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("hostile: ffmpeg %s: %v\n%s", strings.Join(full, " "), err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("hostile: %w", err)
	}
	return data, nil
}

// Clip returns a short H.264 MP4 of ffmpeg's test pattern, 160x90 at 25
// fps for d: a small valid video to point playlists at or to break.
func Clip(ffmpeg string, d time.Duration) ([]byte, error) {
	return Video(ffmpeg, "clip.mp4", "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=s=160x90:r=25:d=%g", d.Seconds()),
		"-c:v", "libx264", "-preset", "veryfast")
}

// MoovAtEnd returns a 4-second 320x240 H.264 MP4 whose index (moov)
// follows the media data (mdat), as ffmpeg writes it without
// +faststart: reading it needs a seekable input. With faststart the
// same video comes with moov first. It fails if the boxes are not in the
// order asked for.
func MoovAtEnd(ffmpeg string, faststart bool) ([]byte, error) {
	args := []string{"-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=4", "-c:v", "libx264", "-preset", "veryfast"}
	if faststart {
		args = append(args, "-movflags", "+faststart")
	}
	d, err := Video(ffmpeg, "moov.mp4", args...)
	if err != nil {
		return nil, err
	}
	boxes := TopBoxes(d)
	moov, mdat := slices.Index(boxes, "moov"), slices.Index(boxes, "mdat")
	if moov < 0 || mdat < 0 || (moov < mdat) != faststart {
		return nil, fmt.Errorf("hostile: MP4 boxes %v (faststart %v)", boxes, faststart)
	}
	return d, nil
}

// WithoutMoov returns a 2-second MP4 (Clip) with its moov box cut out:
// media data without the index that says how to read it.
func WithoutMoov(ffmpeg string) ([]byte, error) {
	d, err := Clip(ffmpeg, 2*time.Second)
	if err != nil {
		return nil, err
	}
	return WithoutBox(d, "moov")
}

// Long returns a grey 16x16 video at 1 fps lasting d, which encodes fast
// (10 hours, 36,000 frames, in a second or two and about 1 MB). With
// header it is an MP4, whose header states the duration; without, it is
// Matroska streamed through a pipe, which has no duration in its header,
// so that only a cap on the frames read can stop its decoding.
func Long(ffmpeg string, d time.Duration, header bool) ([]byte, error) {
	src := fmt.Sprintf("color=c=gray:s=16x16:r=1:d=%d", int64(d.Seconds()))
	if header {
		return Video(ffmpeg, "long.mp4", "-f", "lavfi", "-i", src, "-c:v", "mpeg4")
	}
	cmd := exec.Command(ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", src,
		"-c:v", "mpeg4", "-f", "matroska", "pipe:1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("hostile: ffmpeg %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, stderr.Bytes())
	}
	return out, nil
}

// HugeAVI returns a one-frame MJPEG AVI whose JPEG frame declares
// 16384x16384 pixels (268 M), as does the AVI header if declared, else
// the header says 16x16. ffmpeg cannot even make such a frame (its own
// size check refuses it), so a 16x16 one is made and its sizes patched:
// the file stays a few hundred bytes.
func HugeAVI(ffmpeg string, declared bool) ([]byte, error) {
	d, err := Video(ffmpeg, "h.avi", "-f", "lavfi", "-i", "color=c=gray:s=16x16:r=1:d=1",
		"-frames:v", "1", "-c:v", "mjpeg", "-pix_fmt", "yuvj420p")
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	// The JPEG's SOF0: ff c0, length, precision, height, width.
	i := bytes.Index(d, []byte{0xff, 0xc0})
	if i < 0 || i+9 > len(d) || binary.BigEndian.Uint16(d[i+5:]) != 16 || binary.BigEndian.Uint16(d[i+7:]) != 16 {
		return nil, fmt.Errorf("hostile: no 16x16 SOF0 in the AVI")
	}
	binary.BigEndian.PutUint16(d[i+5:], 16384)
	binary.BigEndian.PutUint16(d[i+7:], 16384)
	if !declared {
		return d, nil
	}
	// avih: dwWidth and dwHeight at 32 and 36 of its data; strf (the
	// video stream's BITMAPINFOHEADER): biWidth and biHeight at 4 and 8.
	for _, p := range []struct {
		chunk string
		at    int
	}{{"avih", 32}, {"strf", 4}} {
		j := bytes.Index(d, []byte(p.chunk))
		if j < 0 || j+8+p.at+8 > len(d) {
			return nil, fmt.Errorf("hostile: no %s chunk in the AVI", p.chunk)
		}
		w := d[j+8+p.at:]
		if le.Uint32(w) != 16 || le.Uint32(w[4:]) != 16 {
			return nil, fmt.Errorf("hostile: AVI %s says %dx%d, want 16x16", p.chunk, le.Uint32(w), le.Uint32(w[4:]))
		}
		le.PutUint32(w, 16384)
		le.PutUint32(w[4:], 16384)
	}
	return d, nil
}

// HLS returns an HLS playlist (#EXTM3U) of one 10-second segment per
// entry: paths ("/tmp/x.ts"), file: URLs or http URLs. Uploaded under
// any name, ".mp4" included, it asks the demuxer to open each entry.
func HLS(entries ...string) []byte {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-TARGETDURATION:10\n")
	for _, e := range entries {
		b.WriteString("#EXTINF:10.0,\n" + e + "\n")
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	return []byte(b.String())
}

// FFconcat returns an ffconcat script that plays each entry (a path or a
// URL) in turn: ffmpeg's concat demuxer would open each.
func FFconcat(entries ...string) []byte {
	var b strings.Builder
	b.WriteString("ffconcat version 1.0\n")
	for _, e := range entries {
		b.WriteString("file '" + e + "'\n")
	}
	return []byte(b.String())
}

// Must(t)(X(...)) returns the file generator X made, or fails the test.
func Must(t testing.TB) func(data []byte, err error) []byte {
	return func(data []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
}
