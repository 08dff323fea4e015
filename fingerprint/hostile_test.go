package fingerprint

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"os/exec"
	"testing"
	"time"
)

// Hostile inputs and where each is shown:
//
//	empty file, truncated JPEG             TestBadInput
//	PNG, GIF, JPEG declaring huge sizes    TestTooLarge (refused from the header)
//	HLS and ffconcat pointing at a file,
//	  a FIFO or a loopback URL             TestVideoRefusesReferences
//	MP4 with moov at the end               TestVideoMoovAtEnd
//	a caller that cancels mid-run          TestVideoCancelKillsFFmpeg
//	every file in ../shared/media/malformed TestHashMalformed, TestVideoMalformed
//	the rest                               TestHostileVideos, below
//
// Each must give a valid fingerprint or a sentinel error within its
// deadline: never a panic, a hang or an allocation the size of what the
// file claims.

// TestHostileVideos hashes videos built to exhaust the video path: many
// frames, long durations, huge frames, a missing index.
func TestHostileVideos(t *testing.T) {
	needFFmpeg(t)
	// A 10-hour video, 16x16 at 1 fps: 36,000 frames that encode in about
	// a second. Streamed to a pipe, Matroska has no duration in its header,
	// so only the frame cap can stop it; remuxed to MP4 it has one.
	tenHours := func(t *testing.T) []byte {
		cmd := exec.Command(needFFmpeg(t), "-nostdin", "-loglevel", "error", "-f", "lavfi",
			"-i", "color=c=gray:s=16x16:r=1:d=36000", "-c:v", "mpeg4", "-f", "matroska", "pipe:1")
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tests := []struct {
		name string
		data func(t *testing.T) []byte
		want error // nil: a valid fingerprint
		// frames, if set, bounds the keyframes of a valid result.
		frames int
	}{
		{"gif 10000 frames of 1s", func(t *testing.T) []byte { return manyFrameGIF(t, 10000, 100) }, ErrTooLarge, 0},
		{"gif 10000 frames of 20ms", func(t *testing.T) []byte { return manyFrameGIF(t, 10000, 2) }, nil, 201},
		{"mp4 without moov", func(t *testing.T) []byte {
			return withoutBox(t, makeVideo(t, "m.mp4", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=2", "-c:v", "libx264"), "moov")
		}, ErrCorrupt, 0},
		{"10 hours, duration in the header", func(t *testing.T) []byte {
			return makeVideo(t, "long.mp4", "-f", "lavfi", "-i", "color=c=gray:s=16x16:r=1:d=36000", "-c:v", "mpeg4")
		}, ErrTooLarge, 0},
		{"10 hours, no duration", tenHours, ErrTooLarge, 0},
		{"16384x16384 frame, declared", func(t *testing.T) []byte { return hugeAVI(t, true) }, ErrTooLarge, 0},
		{"16384x16384 frame, declared 16x16", func(t *testing.T) []byte { return hugeAVI(t, false) }, ErrTooLarge, 0},
	}
	h := New(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data(t)
			ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
			defer cancel()
			start := time.Now()
			m, err := h.Hash(ctx, data)
			took := time.Since(start).Round(time.Millisecond)
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Hash hung: %v", err)
			}
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("Hash = %v, want %v", err, tt.want)
				}
				t.Logf("%v: %v", took, err)
				return
			}
			if err != nil {
				t.Fatalf("Hash = %v, want a fingerprint", err)
			}
			checkVideo(t, m)
			if len(m.Keyframes) > tt.frames {
				t.Errorf("%d keyframes, want at most %d", len(m.Keyframes), tt.frames)
			}
			t.Logf("%v: %d keyframes over %v", took, len(m.Keyframes), m.Duration)
		})
	}
}

// manyFrameGIF builds in memory an animated 16x16 GIF of n frames of
// delay hundredths of a second each, alternating two pictures.
func manyFrameGIF(t *testing.T, n, delay int) []byte {
	t.Helper()
	var frames [2]*image.Paletted
	for i := range frames {
		frames[i] = image.NewPaletted(image.Rect(0, 0, 16, 16), color.Palette{color.Black, color.White})
		for y := 0; y < 16; y++ {
			for x := 0; x < 16; x++ {
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
		t.Fatal(err)
	}
	if got := gifFrames(b.Bytes(), n+1); got != n {
		t.Fatalf("gifFrames = %d, want %d", got, n)
	}
	return b.Bytes()
}

// withoutBox returns an MP4 with its top-level box typ cut out.
func withoutBox(t *testing.T, mp4 []byte, typ string) []byte {
	t.Helper()
	var out []byte
	cut := false
	for b := mp4; len(b) >= 8; {
		size := int(binary.BigEndian.Uint32(b))
		if size < 8 || size > len(b) {
			t.Fatalf("box %q of size %d in %d bytes", b[4:8], size, len(b))
		}
		if string(b[4:8]) == typ {
			cut = true
		} else {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	if !cut {
		t.Fatalf("no %s box in %v", typ, topBoxes(mp4))
	}
	return out
}

// hugeAVI returns a one-frame MJPEG AVI whose JPEG frame declares
// 16384x16384 pixels (268 M, over the default 50 M budget), as does the
// AVI header if declared, else the header says 16x16. ffmpeg cannot even
// make such a frame (its own size check refuses it), so a 16x16 one is
// made and its sizes patched: the file stays a few hundred bytes.
func hugeAVI(t *testing.T, declared bool) []byte {
	t.Helper()
	d := makeVideo(t, "h.avi", "-f", "lavfi", "-i", "color=c=gray:s=16x16:r=1:d=1",
		"-frames:v", "1", "-c:v", "mjpeg", "-pix_fmt", "yuvj420p")
	le := binary.LittleEndian
	// The JPEG's SOF0: ff c0, length, precision, height, width.
	i := bytes.Index(d, []byte{0xff, 0xc0})
	if i < 0 || i+9 > len(d) || binary.BigEndian.Uint16(d[i+5:]) != 16 || binary.BigEndian.Uint16(d[i+7:]) != 16 {
		t.Fatal("no 16x16 SOF0 in the AVI")
	}
	binary.BigEndian.PutUint16(d[i+5:], 16384)
	binary.BigEndian.PutUint16(d[i+7:], 16384)
	if !declared {
		return d
	}
	// avih: dwWidth and dwHeight at 32 and 36 of its data; strf (the
	// video stream's BITMAPINFOHEADER): biWidth and biHeight at 4 and 8.
	for _, p := range []struct {
		chunk string
		at    int
	}{{"avih", 32}, {"strf", 4}} {
		j := bytes.Index(d, []byte(p.chunk))
		if j < 0 || j+8+p.at+8 > len(d) {
			t.Fatalf("no %s chunk", p.chunk)
		}
		w := d[j+8+p.at:]
		if le.Uint32(w) != 16 || le.Uint32(w[4:]) != 16 {
			t.Fatalf("%s says %dx%d, want 16x16", p.chunk, le.Uint32(w), le.Uint32(w[4:]))
		}
		le.PutUint32(w, 16384)
		le.PutUint32(w[4:], 16384)
	}
	return d
}
