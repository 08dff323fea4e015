package eval

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// VideoEdit is one change made to an original video before it is matched,
// made by the real ffmpeg: a re-encode, a cut, a filter chain.
type VideoEdit struct {
	Name string // "reencode-low", "clip-8s"
	Doc  string // what it does, one line
	// Plan returns the ffmpeg run that makes the variant of a video of the
	// given size and duration; r draws its random choices (cut points,
	// crop position, corner), so that a seed decides them.
	Plan func(v VideoInfo, r *rand.Rand) VideoPlan
}

// VideoInfo is what a plan knows of the original video.
type VideoInfo struct {
	Width, Height int
	Duration      time.Duration
}

// VideoPlan is one ffmpeg run: ffmpeg [Input] -i original [-filter_complex
// Filter] [Output] variant.
type VideoPlan struct {
	Input  []string // options of the original's input: -ss, -t
	Filter string   // a filter graph from [0:v] to [v]; empty: the video as decoded
	// Output are the encoder options; nil means H.264 (libx264, CRF 23,
	// preset veryfast, yuv420p) in MP4, without audio.
	Output []string
	// Still makes one frame, an image, instead of a video: a PNG, or the
	// kind StillExt names (".jpg"), with Output as its encoder's options.
	Still    bool
	StillExt string
	// Source is the span of the original that the variant shows: where a
	// match's ItemRanges should be.
	Source mediamatch.TimeRange
}

// x264 are the default encoder options of a variant.
var x264 = []string{"-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"}

// whole is the span of the whole of v.
func whole(v VideoInfo) mediamatch.TimeRange { return mediamatch.TimeRange{End: v.Duration} }

// span returns the span of length d of v starting at start, cut to v.
func span(v VideoInfo, start, d time.Duration) mediamatch.TimeRange {
	start = max(0, min(start, v.Duration))
	return mediamatch.TimeRange{Start: start, End: min(v.Duration, start+d)}
}

// secs formats d as seconds for ffmpeg.
func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// cut returns the input options of the span s.
func cut(s mediamatch.TimeRange) []string {
	return []string{"-ss", secs(s.Start), "-t", secs(s.End - s.Start)}
}

// even is the filter expression of e rounded down to an even number of pixels.
func even(e string) string { return fmt.Sprintf("trunc((%s)/2)*2", e) }

// trimFrom is v from start on, or from a third of it for a short video.
func trimFrom(v VideoInfo, start time.Duration) VideoPlan {
	s := mediamatch.TimeRange{Start: min(start, v.Duration/3), End: v.Duration}
	return VideoPlan{Input: cut(s), Source: s}
}

// middleClip is the middle span of v at most d long.
func middleClip(v VideoInfo, d time.Duration) mediamatch.TimeRange {
	if v.Duration <= d {
		return whole(v)
	}
	return span(v, (v.Duration-d)/2, d)
}

// VideoEdits returns the video edits, in the order the report lists them.
func VideoEdits() []VideoEdit {
	filter := func(f string) func(VideoInfo, *rand.Rand) VideoPlan {
		return func(v VideoInfo, _ *rand.Rand) VideoPlan {
			return VideoPlan{Filter: "[0:v]" + f + "[v]", Source: whole(v)}
		}
	}
	return []VideoEdit{
		{Name: "original", Doc: "the original file, bytes unchanged (exact copy)"},
		{Name: "reencode-low", Doc: "re-encoded H.264 at CRF 40 (low quality), same size",
			Plan: func(v VideoInfo, _ *rand.Rand) VideoPlan {
				return VideoPlan{Output: []string{"-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", "40", "-pix_fmt", "yuv420p"}, Source: whole(v)}
			}},
		{Name: "360p", Doc: "scaled to 360 pixels high", Plan: filter("scale=-2:360")},
		{Name: "trim", Doc: "the first 1-3 s and the last 1 s cut off",
			Plan: func(v VideoInfo, r *rand.Rand) VideoPlan {
				start := time.Second + time.Duration(r.Int64N(int64(2*time.Second)))
				s := mediamatch.TimeRange{Start: min(start, v.Duration/3), End: max(v.Duration-time.Second, v.Duration*2/3)}
				return VideoPlan{Input: cut(s), Source: s}
			}},
		// Ticks are once a second from each file's start, so a copy cut
		// on a whole second samples the item's moments and one cut half a
		// second later the frames in between, which on fast footage only
		// the anchors (fingerprint's frames chosen by content) line up:
		// these two show whether matching depends on that phase.
		{Name: "trim-at-2s", Doc: "everything from 2 s on (a cut on a whole second)",
			Plan: func(v VideoInfo, _ *rand.Rand) VideoPlan { return trimFrom(v, 2*time.Second) }},
		{Name: "trim-at-2.5s", Doc: "everything from 2.5 s on (a cut half a second off the item's sampling)",
			Plan: func(v VideoInfo, _ *rand.Rand) VideoPlan { return trimFrom(v, 2500*time.Millisecond) }},
		{Name: "clip-8s", Doc: "the middle 8 s (the whole video if shorter)",
			Plan: func(v VideoInfo, _ *rand.Rand) VideoPlan {
				s := middleClip(v, 8*time.Second)
				return VideoPlan{Input: cut(s), Source: s}
			}},
		{Name: "compilation", Doc: "the middle 8 s between 3 s of ffmpeg's testsrc2 and 3 s of its cellular automaton, at the original's size",
			Plan: func(v VideoInfo, _ *rand.Rand) VideoPlan {
				s := middleClip(v, 8*time.Second)
				w, h := v.Width/2*2, v.Height/2*2
				f := fmt.Sprintf("testsrc2=s=%dx%d:r=30:d=3,format=yuv420p,setsar=1[a];"+
					"cellauto=s=%dx%d:r=30:rule=110:random_seed=1,trim=duration=3,format=yuv420p,setsar=1[c];"+
					"[0:v]scale=%d:%d,fps=30,format=yuv420p,setsar=1[b];[a][b][c]concat=n=3:v=1:a=0[v]", w, h, w, h, w, h)
				return VideoPlan{Input: cut(s), Filter: f, Source: s}
			}},
		{Name: "flip", Doc: "mirrored left to right", Plan: filter("hflip")},
		{Name: "letterbox", Doc: "black bars above and below: the height padded by a third",
			Plan: filter("pad=iw:" + even("ih*4/3") + ":0:(oh-ih)/2:black")},
		{Name: "pillarbox", Doc: "black bars left and right: the width padded by a third",
			Plan: filter("pad=" + even("iw*4/3") + ":ih:(ow-iw)/2:0:black")},
		{Name: "crop-10", Doc: "90% of width and of height kept, at a random position",
			Plan: func(v VideoInfo, r *rand.Rand) VideoPlan {
				x, y := r.Float64(), r.Float64()
				return VideoPlan{Filter: fmt.Sprintf("[0:v]crop=%s:%s:(iw-ow)*%.3f:(ih-oh)*%.3f[v]", even("iw*0.9"), even("ih*0.9"), x, y), Source: whole(v)}
			}},
		{Name: "watermark", Doc: "a half-opaque white box with a dark border, a fifth of the width, in a random corner",
			Plan: func(v VideoInfo, r *rand.Rand) VideoPlan {
				corner := r.IntN(4)
				x, y := "iw*0.03", "ih*0.03"
				if corner&1 != 0 {
					x = "iw*0.77"
				}
				if corner&2 != 0 {
					y = "ih*0.97-iw*0.1"
				}
				f := fmt.Sprintf("[0:v]drawbox=x=%[1]s:y=%[2]s:w=iw*0.2:h=iw*0.1:color=white@0.6:t=fill,"+
					"drawbox=x=%[1]s:y=%[2]s:w=iw*0.2:h=iw*0.1:color=black@0.8:t=3[v]", x, y)
				return VideoPlan{Filter: f, Source: whole(v)}
			}},
		{Name: "fps-15", Doc: "15 frames a second", Plan: filter("fps=15")},
		{Name: "speed+10", Doc: "played 10% faster (timestamps / 1.1)", Plan: filter("setpts=PTS/1.1")},
		{Name: "speed-10", Doc: "played 10% slower (timestamps / 0.9)", Plan: filter("setpts=PTS/0.9")},
		{Name: "grey", Doc: "greyscale (saturation 0)", Plan: filter("hue=s=0")},
		{Name: "reframe-9x16", Doc: "reframed to 9:16 at the original's height: the video fitted in, blurred and enlarged copy as bars",
			Plan: func(v VideoInfo, _ *rand.Rand) VideoPlan {
				h := v.Height / 2 * 2
				w := h * 9 / 16 / 2 * 2
				f := fmt.Sprintf("[0:v]split[a][b];[a]scale=%[1]d:%[2]d:force_original_aspect_ratio=increase,crop=%[1]d:%[2]d,boxblur=20:2[bg];"+
					"[b]scale=%[1]d:%[2]d:force_original_aspect_ratio=decrease,setsar=1[fg];[bg][fg]overlay=(W-w)/2:(H-h)/2,setsar=1[v]", w, h)
				return VideoPlan{Filter: f, Source: whole(v)}
			}},
		{Name: "frame", Doc: "one frame, at a random time in the middle half, as a PNG image (an image query)",
			Plan: func(v VideoInfo, r *rand.Rand) VideoPlan { return frameAt(v, r, false) }},
		{Name: "frame-jpeg", Doc: "one frame, at a random time in the middle half, as a JPEG image (quality about 85)",
			Plan: func(v VideoInfo, r *rand.Rand) VideoPlan { return frameAt(v, r, true) }},
	}
}

// frameAt is one frame of v at a random time in its middle half, as a
// PNG image or a JPEG.
func frameAt(v VideoInfo, r *rand.Rand, jpeg bool) VideoPlan {
	t := v.Duration/4 + time.Duration(r.Int64N(int64(max(1, v.Duration/2))))
	t = t.Truncate(time.Millisecond)
	p := VideoPlan{Input: []string{"-ss", secs(t)}, Still: true, Source: mediamatch.TimeRange{Start: t, End: t}}
	if jpeg {
		p.StillExt, p.Output = ".jpg", []string{"-q:v", "4"}
	}
	return p
}

// stillFilter fits a photo into at most 1280 pixels wide, even sizes (what
// H.264 in 4:2:0 needs), square pixels.
const stillFilter = "[0:v]scale=w='trunc(min(1280,iw)/2)*2':h=-2,setsar=1"

// StillEdits returns the edits of the photos in VideoConfig.Stills, in the
// order the report lists them: the photo itself, queried as an image, and
// videos made of it, queried as videos.
func StillEdits() []VideoEdit {
	// The loop filter repeats the photo's (first) frame, whatever its
	// format: the image demuxer's -loop does not read GIFs.
	still := func(filter string) func(VideoInfo, *rand.Rand) VideoPlan {
		return func(VideoInfo, *rand.Rand) VideoPlan {
			return VideoPlan{Filter: stillFilter + filter + ",loop=loop=124:size=1:start=0,setpts=N/25/TB[v]",
				Output: append(slices.Clone(x264), "-r", "25")}
		}
	}
	return []VideoEdit{
		{Name: "photo", Doc: "the photo itself, as an image query: must match its own item and no video"},
		{Name: "still-video", Doc: "a 5 s static shot of the photo (25 fps H.264, at most 1280 wide)", Plan: still("")},
		{Name: "still-letterbox", Doc: "the same with black bars above and below: the height padded by a third",
			Plan: still(",pad=iw:" + even("ih*4/3") + ":0:(oh-ih)/2:black")},
	}
}

// makeVideo runs ffmpeg (the binary at path ffmpeg) on the file in to make
// the variant of plan p at out; out must be in a temporary directory. It
// returns ffmpeg's error with its last words.
func makeVideo(ctx context.Context, ffmpeg, in, out string, p VideoPlan) error {
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-threads", "1"}
	args = append(args, p.Input...)
	args = append(args, "-i", in)
	if p.Filter != "" {
		args = append(args, "-filter_complex", p.Filter, "-map", "[v]")
	} else {
		args = append(args, "-map", "0:v:0")
	}
	switch {
	case p.Still:
		args = append(args, "-frames:v", "1", "-update", "1")
		args = append(args, p.Output...)
	case p.Output != nil:
		args = append(args, p.Output...)
	default:
		args = append(args, x264...)
	}
	args = append(args, "-threads", "1", out)
	cmd := exec.CommandContext(ctx, ffmpeg, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 300 {
			msg = "..." + msg[len(msg)-300:]
		}
		return fmt.Errorf("ffmpeg %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return nil
}
