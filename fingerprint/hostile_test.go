package fingerprint

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
	"github.com/mediamatch/mediamatch/fingerprint/hostile"
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
// file claims. The files are made by package hostile, which server's
// TestHostileMedia shares to send them to a running server.

// TestHostileVideos hashes videos built to exhaust the video path: many
// frames, long durations, huge frames, a missing index.
func TestHostileVideos(t *testing.T) {
	// A 10-hour video, 16x16 at 1 fps: 36,000 frames that encode in about
	// a second. Streamed to a pipe, Matroska has no duration in its header,
	// so only the frame cap can stop it; in MP4 it has one.
	const tenHours = 10 * time.Hour
	ff := mmtest.FFmpeg(t)
	tests := []struct {
		name string
		data func(t *testing.T) []byte
		want error // nil: a valid fingerprint
		// frames, if set, bounds the keyframes of a valid result.
		frames int
	}{
		{"gif 10000 frames of 1s", func(t *testing.T) []byte { return manyFrameGIF(t, 10000, 100) }, ErrTooLarge, 0},
		{"gif 10000 frames of 20ms", func(t *testing.T) []byte { return manyFrameGIF(t, 10000, 2) }, nil, 201},
		{"mp4 without moov", func(t *testing.T) []byte { return hostile.Must(t)(hostile.WithoutMoov(ff)) }, ErrCorrupt, 0},
		{"10 hours, duration in the header", func(t *testing.T) []byte {
			return hostile.Must(t)(hostile.Long(ff, tenHours, true))
		}, ErrTooLarge, 0},
		{"10 hours, no duration", func(t *testing.T) []byte { return hostile.Must(t)(hostile.Long(ff, tenHours, false)) }, ErrTooLarge, 0},
		{"16384x16384 frame, declared", func(t *testing.T) []byte { return hostile.Must(t)(hostile.HugeAVI(ff, true)) }, ErrTooLarge, 0},
		{"16384x16384 frame, declared 16x16", func(t *testing.T) []byte {
			return hostile.Must(t)(hostile.HugeAVI(ff, false))
		}, ErrTooLarge, 0},
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

// manyFrameGIF returns hostile.ManyFrameGIF(n, delay), checked with the
// package's own frame counter.
func manyFrameGIF(t *testing.T, n, delay int) []byte {
	t.Helper()
	d, err := hostile.ManyFrameGIF(n, delay)
	if err != nil {
		t.Fatal(err)
	}
	if got := gifFrames(d, n+1); got != n {
		t.Fatalf("gifFrames = %d, want %d", got, n)
	}
	return d
}
