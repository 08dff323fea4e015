package fingerprint

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
)

// benchClipSeconds is the length of the 1080p benchmark clip.
const benchClipSeconds = 30

// benchClip makes a 1080p H.264 clip in a temporary directory: the shared
// chair video (camera footage) scaled up and looped when ../shared is
// there, else ffmpeg's testsrc2 pattern. It returns its path and bytes.
func benchClip(b *testing.B) (string, []byte) {
	b.Helper()
	bin := mmtest.FFmpeg(b)
	path := filepath.Join(b.TempDir(), "clip1080.mp4")
	src := []string{"-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=30"}
	chair := filepath.Join("..", "..", "shared", "media", "videos", "tmk", "chair-orig-22-sd-bar.mp4")
	if _, err := os.Stat(chair); err == nil {
		src = []string{"-stream_loop", "-1", "-i", chair, "-vf", "scale=1920:1080:flags=bicubic"}
		b.Logf("benchmark clip: %s scaled to 1920x1080, %ds", chair, benchClipSeconds)
	} else {
		b.Logf("benchmark clip: testsrc2 1920x1080, %ds", benchClipSeconds)
	}
	args := append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, src...)
	args = append(args, "-t", "30", "-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
		"-pix_fmt", "yuv420p", path)
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		b.Fatalf("making the clip: %v\n%s", err, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return path, data
}

// fullDecodeCPU returns the CPU time (user+system) of the baseline: a full
// decode of path by `ffmpeg -i path -f null -`.
func fullDecodeCPU(b *testing.B, bin, path string) time.Duration {
	cmd := exec.Command(bin, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", path, "-f", "null", "-")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("full decode: %v\n%s", err, out)
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// BenchmarkVideoCPU compares the CPU time spent sampling a minute of 1080p
// H.264 in each decode mode with a full decode of the same clip by ffmpeg
// (the baseline, run in every iteration), and how far each mode's samples
// are from those of an exact decode.
//
// Metrics: cpu-ratio-vs-full-decode (ffmpeg's CPU; target <= 0.6 for the
// default "fast" mode), total-cpu-ratio-vs-full-decode (ffmpeg's plus this
// process's hashing of the frames), cpu-s/min, hash-cpu-s/min and
// full-decode-cpu-s/min (CPU seconds per minute of video), pdq-bits-vs-exact,
// phash-bits-vs-exact and dhash-bits-vs-exact (mean distance of each sample
// to the exact decode's sample at the same tick), and off-share (share of
// samples more than 31 PDQ bits from the exact one: what the mode misses).
//
//	go test ./fingerprint/ -run '^$' -bench BenchmarkVideoCPU -benchtime 1x
func BenchmarkVideoCPU(b *testing.B) {
	bin := mmtest.FFmpeg(b)
	path, data := benchClip(b)
	h := New(Options{FFmpeg: bin})
	ctx := context.Background()
	exact, err := h.sampleVideo(ctx, data, decodeExact, frameSide, HashOptions{NoFeatures: true})
	if err != nil {
		b.Fatal(err)
	}
	minutes := float64(benchClipSeconds) / 60
	for _, mode := range []decodeMode{decodeFast, decodeKeyframes, decodeNoLoopFilter, decodeNoRef, decodeExact} {
		b.Run(mode.String(), func(b *testing.B) {
			var base, ours, hashing time.Duration
			var v videoSamples
			n := 0
			for b.Loop() {
				base += fullDecodeCPU(b, bin, path)
				c0 := selfCPU()
				v, err = h.sampleVideo(ctx, data, mode, frameSide, HashOptions{NoFeatures: true})
				if err != nil {
					b.Fatal(err)
				}
				hashing += selfCPU() - c0
				ours += v.cpu
				n++
			}
			p, d := sampleDistances(exact.frames, v.frames)
			q := pdqDistances(exact.frames, v.frames)
			off := 0
			for _, x := range q {
				if x > mediamatch.PDQ.DefaultThreshold() {
					off++
				}
			}
			b.ReportMetric(ours.Seconds()/base.Seconds(), "cpu-ratio-vs-full-decode")
			b.ReportMetric((ours+hashing).Seconds()/base.Seconds(), "total-cpu-ratio-vs-full-decode")
			b.ReportMetric(ours.Seconds()/float64(n)/minutes, "cpu-s/min")
			b.ReportMetric(hashing.Seconds()/float64(n)/minutes, "hash-cpu-s/min")
			b.ReportMetric(base.Seconds()/float64(n)/minutes, "full-decode-cpu-s/min")
			b.ReportMetric(mean(q), "pdq-bits-vs-exact")
			b.ReportMetric(mean(p), "phash-bits-vs-exact")
			b.ReportMetric(mean(d), "dhash-bits-vs-exact")
			b.ReportMetric(float64(off)/float64(len(q)), "off-share")
		})
	}
}

// selfCPU returns the CPU time (user and system, all threads) this process
// has used so far; child processes such as ffmpeg are not counted.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkVideoSampling compares the sampling that hashVideo does (the
// frame at each tick and at each anchor, every frame decoded but for the
// loop filter) with the sampling before anchors (ticks only, decodeFast),
// both without local features, and the same anchored sampling with local
// features (what hashVideo does by default), run one after the other in
// each iteration on the same 1080p clip; then, once, the keyframes that
// each gives the shared test videos.
//
// Metrics: cpu-ratio-anchored-vs-ticks (ffmpeg's CPU plus this process's,
// anchored over ticks only), cpu-ratio-features-vs-none (the same, anchored
// with features over anchored without), hash-ratio-features-vs-none (this
// process alone), ticks-cpu-ms/video-s, anchored-cpu-ms/video-s and
// features-cpu-ms/video-s (the same per second of video),
// ticks-hash-ms/video-s, anchored-hash-ms/video-s and
// features-hash-ms/video-s (this process alone: hashing, and for anchors
// the frames' thumbs), ticks-keyframes/min and anchored-keyframes/min on the
// clip, shared-ticks-keyframes/min and shared-anchored-keyframes/min over the
// shared videos (what an item holds: 48 bytes of hashes a keyframe).
//
//	go test ./fingerprint/ -run '^$' -bench BenchmarkVideoSampling -benchtime 1x
func BenchmarkVideoSampling(b *testing.B) {
	bin := mmtest.FFmpeg(b)
	_, data := benchClip(b)
	h := New(Options{FFmpeg: bin})
	ctx := context.Background()
	noFeatures := HashOptions{NoFeatures: true}
	run := func(b *testing.B, data []byte, anchored bool, opts HashOptions) (total, self time.Duration, keyframes int, d time.Duration) {
		mode := decodeFast
		if anchored {
			mode = decodeNoLoopFilter
		}
		c0 := selfCPU()
		v, err := h.sampleFrames(ctx, data, mode, frameSide, opts, anchored)
		if err != nil {
			b.Fatal(err)
		}
		self = selfCPU() - c0
		return v.cpu + self, self, len(fold(v.all(), v.duration)), v.duration
	}
	var ticks, anchored, featured, ticksSelf, anchoredSelf, featuredSelf, dur time.Duration
	var kt, ka, n int
	for b.Loop() {
		t, ts, k, d := run(b, data, false, noFeatures)
		a, as, k2, _ := run(b, data, true, noFeatures)
		f, fs, _, _ := run(b, data, true, HashOptions{})
		ticks, ticksSelf, anchored, anchoredSelf = ticks+t, ticksSelf+ts, anchored+a, anchoredSelf+as
		featured, featuredSelf = featured+f, featuredSelf+fs
		kt, ka, dur, n = k, k2, d, n+1
	}
	secs := dur.Seconds() * float64(n)
	b.ReportMetric(anchored.Seconds()/ticks.Seconds(), "cpu-ratio-anchored-vs-ticks")
	b.ReportMetric(featured.Seconds()/anchored.Seconds(), "cpu-ratio-features-vs-none")
	b.ReportMetric(featuredSelf.Seconds()/anchoredSelf.Seconds(), "hash-ratio-features-vs-none")
	b.ReportMetric(1000*ticks.Seconds()/secs, "ticks-cpu-ms/video-s")
	b.ReportMetric(1000*anchored.Seconds()/secs, "anchored-cpu-ms/video-s")
	b.ReportMetric(1000*featured.Seconds()/secs, "features-cpu-ms/video-s")
	b.ReportMetric(1000*ticksSelf.Seconds()/secs, "ticks-hash-ms/video-s")
	b.ReportMetric(1000*anchoredSelf.Seconds()/secs, "anchored-hash-ms/video-s")
	b.ReportMetric(1000*featuredSelf.Seconds()/secs, "features-hash-ms/video-s")
	b.ReportMetric(float64(kt)/dur.Minutes(), "ticks-keyframes/min")
	b.ReportMetric(float64(ka)/dur.Minutes(), "anchored-keyframes/min")

	files, _ := filepath.Glob(filepath.Join("..", "..", "shared", "media", "videos", "*", "*"))
	if len(files) == 0 {
		b.Logf("no shared videos: keyframes of the 1080p clip only")
		return
	}
	var st, sa int
	var total time.Duration
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		_, _, k, d := run(b, data, false, noFeatures)
		_, _, k2, _ := run(b, data, true, noFeatures)
		b.Logf("%s: %d keyframes with ticks only, %d with anchors, over %v", filepath.Base(f), k, k2, d.Round(time.Millisecond))
		st, sa, total = st+k, sa+k2, total+d
	}
	b.ReportMetric(float64(st)/total.Minutes(), "shared-ticks-keyframes/min")
	b.ReportMetric(float64(sa)/total.Minutes(), "shared-anchored-keyframes/min")
}
