package fingerprint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// Video sampling parameters, chosen by measurement on the shared test
// videos (figures from ffmpeg 5.1 and goimagehash v1.1.0).
const (
	// frameSide is the side of the square grey frames ffmpeg hands over, or
	// 0 to hand them over at their decoded (displayed) size, which is what
	// vPDQ hashes. It is 0: PDQ's Jarosz filter sizes its windows from the
	// frame's size, so a frame squashed to a square hashes differently
	// from the vPDQ reference's full frame. Against Meta's vPDQ reference
	// output for the shared test videos (frames of quality >= 50 at the
	// same timestamp, exact decode), 256x256 frames are 18 bits off at the
	// median (p90 24), 384x384 4 (p90 8), 512x512 6 (p90 10), full-size
	// frames 2 (p90 4; grey from swscale instead of the reference's RGB
	// luma). The cost is the hashing of full frames in this process: about
	// 16 ms of CPU per 1080p sample (PDQ 13, pHash and dHash 4), 1.2-1.5
	// CPU seconds per minute of 1080p at 1 sample a second, against 0.17 for
	// 256x256 frames (BenchmarkVideoCPU: hash-cpu-s/min; a full decode is
	// 14-20), while ffmpeg's own CPU is unchanged within the noise of
	// repeated runs (the area scaling that a fixed frameSide needs costs
	// about what writing the larger frames does). pHash and dHash do not mind
	// either way: hashFrame area-averages large frames to at most
	// reduceSide pixels before goimagehash squashes them to 64x64 and 9x8.
	frameSide = 0
	// videoThreads caps ffmpeg's decoder threads per video.
	videoThreads = 2
	// foldBits is the largest pHash and dHash distance from the first
	// sample of a run at which a sample is folded into the run's keyframe.
	// It is the noise floor of one frame decoded two ways: a re-encode
	// (grey, sepia) or the fast decode moves a sample by 0-2 bits at the
	// 90th percentile, while samples one second apart in moving footage
	// differ by 15-25 bits. A query that matches a folded sample within the
	// match threshold T matches the keyframe within T+foldBits at worst.
	foldBits = 4
	// foldBitsPDQ is the same bound for PDQ, from the same kind of
	// measurement: the re-encoded copies of the chair clip (grey, sepia)
	// are 0-8 bits from the original at the same frames in the reference's
	// vPDQ files (p90 6), and our exact decode 0-4 bits from the
	// reference, while samples one second apart in that moving footage
	// differ by 16-142 bits. So a run stays within 8 bits on PDQ, and a
	// query within the default threshold 31 of a folded sample is within
	// 39 of the keyframe.
	foldBitsPDQ = 8
)

// sample is one sampled video frame: tick i covers [i/fps, (i+1)/fps).
type sample struct {
	signals  []mediamatch.Signal // PDQ first, then pHash and dHash
	variants []mediamatch.Signal // with HashOptions.Dihedral: PDQ turned by Rotate90..FlipMinus1
	low      bool
}

// videoSamples is a video's frames as sampled, before folding.
type videoSamples struct {
	format        string
	width, height int // as displayed
	duration      time.Duration
	fps           float64
	frames        []sample
	cpu           time.Duration // ffmpeg's user+system CPU time
}

// hashVideo fingerprints a video (or animated image) with ffmpeg: frames
// sampled at Options.FrameRate, hashed, and runs of near-identical frames
// folded into keyframes.
//
// Errors wrap ErrUnsupported (not a video in a whitelisted container, or no
// video stream), ErrCorrupt (ffmpeg could not decode a single frame),
// ErrTooLarge (longer than MaxFrames/FrameRate, or frames over MaxPixels:
// the video is refused, not truncated, so that a long video is never
// reported as clean on the strength of its first hour), or the context's
// error when ctx ends or VideoTimeout passes.
func (h *Hasher) hashVideo(ctx context.Context, data []byte, opts HashOptions) (mediamatch.Media, error) {
	mode := decodeFast
	if h.opts.KeyframesOnly {
		mode = decodeKeyframes
	}
	v, err := h.sampleVideo(ctx, data, mode, frameSide, opts.Dihedral)
	if err != nil {
		return mediamatch.Media{}, err
	}
	return mediamatch.Media{
		Kind:      mediamatch.KindVideo,
		Format:    v.format,
		Width:     v.width,
		Height:    v.height,
		Duration:  v.duration,
		Keyframes: fold(v.frames, v.fps, v.duration),
	}, nil
}

// job returns the ffmpeg job for h's options.
func (h *Hasher) job(mode decodeMode, side int) frameJob {
	return frameJob{
		ffmpeg:    h.opts.FFmpeg,
		fps:       h.opts.FrameRate,
		maxFrames: h.opts.MaxFrames,
		side:      side,
		threads:   videoThreads,
		maxPixels: h.opts.MaxPixels,
		mode:      mode,
		limits:    limitsFor(h.opts),
		sandbox:   h.sandbox,
	}
}

// sampleVideo runs ffmpeg over data and hashes every sampled frame.
func (h *Hasher) sampleVideo(ctx context.Context, data []byte, mode decodeMode, side int, dihedral bool) (videoSamples, error) {
	job := h.job(mode, side)
	var frames []sample
	// The header's duration, from the stderr goroutine: a last sample past
	// it is a sliver that is dropped below, so it does not count against
	// the cap.
	var declared atomic.Int64
	onVideo := func(p probe) error {
		declared.Store(int64(p.duration))
		if p.duration > job.maxDuration() {
			return fmt.Errorf("%w: video is %v long, the limit is %v (%d frames at %g per second)",
				ErrTooLarge, p.duration.Round(time.Second), job.maxDuration(), job.maxFrames, job.fps)
		}
		if px := int64(p.width) * int64(p.height); px > job.maxPixels {
			return framesTooLarge(int64(p.width), int64(p.height), job.maxPixels)
		}
		return nil
	}
	// The frames' memory in this process, from the decode memory budget:
	// taken when the first frame arrives (and topped up if the size grows
	// midway), held to the end of the run.
	var held int64
	var releases []func()
	defer func() {
		for _, r := range releases {
			r()
		}
	}()
	onFrame := func(img *image.Gray) error {
		b := img.Bounds()
		if need := videoFrameBytes(b.Dx(), b.Dy()); need > held {
			r, err := h.mem.acquire(ctx, need-held, fmt.Sprintf("video frames of %dx%d", b.Dx(), b.Dy()))
			if err != nil {
				return err
			}
			releases, held = append(releases, r), need
		}
		if d := time.Duration(declared.Load()); len(frames) == job.maxFrames &&
			(d <= 0 || tick(len(frames), job.fps) < d) {
			return fmt.Errorf("%w: video is longer than %v (%d frames at %g per second)",
				ErrTooLarge, job.maxDuration(), job.maxFrames, job.fps)
		}
		// hashFrame and framePDQ do not keep img.
		sigs, low := hashFrame(img)
		p, variants, ok := framePDQ(img, dihedral)
		if ok {
			sigs = append([]mediamatch.Signal{p}, sigs...)
		}
		frames = append(frames, sample{signals: sigs, variants: variants, low: low})
		return nil
	}
	res, err := runFFmpeg(ctx, job, h.opts.VideoTimeout, data, onVideo, onFrame)
	if err != nil {
		return videoSamples{}, err
	}
	if err := videoError(ctx, res, job, h.opts.VideoTimeout); err != nil {
		return videoSamples{}, err
	}
	p := res.probe
	v := videoSamples{
		format: containerName(p, data),
		width:  p.width, height: p.height,
		duration: p.duration,
		fps:      job.fps,
		frames:   frames,
		cpu:      res.cpu,
	}
	if r := ((p.rotation % 180) + 180) % 180; r == 90 {
		v.width, v.height = v.height, v.width
	}
	// ffmpeg's fps filter runs to the end of the last frame, which can be a
	// few milliseconds past the container's duration: drop a last sample
	// that starts after the declared end. A header duration that is missing
	// or ends before the samples do is not trusted.
	n := len(v.frames)
	if d := v.duration; n > 1 && tick(n-1, job.fps) >= d && tick(n-2, job.fps) < d {
		v.frames = v.frames[:n-1]
	}
	if len(v.frames) > job.maxFrames {
		return videoSamples{}, fmt.Errorf("%w: video is longer than %v (%d frames at %g per second)",
			ErrTooLarge, job.maxDuration(), job.maxFrames, job.fps)
	}
	if last := tick(len(v.frames)-1, job.fps); v.duration <= last {
		v.duration = tick(len(v.frames), job.fps)
	}
	return v, nil
}

// videoFrameBytes estimates what hashing sampled frames of w x h pixels
// holds in this process: the frame as read from ffmpeg (8-bit grey), its
// reduction when over maxFramePixels, and the vPDQ pipeline's float32
// luminance of the (reduced) frame, with 1 MiB for the rest.
func videoFrameBytes(w, h int) int64 {
	px := int64(w) * int64(h)
	p := min(px, maxFramePixels)
	n := px + 4*p + 1<<20
	if px > maxFramePixels {
		n += p
	}
	return n
}

// videoError maps how an ffmpeg run ended to the package's errors, or nil
// if it produced frames and exited cleanly.
func videoError(ctx context.Context, res ffmpegResult, job frameJob, timeout time.Duration) error {
	p := res.probe
	switch cause := res.cause; {
	case cause == nil:
	case errors.Is(cause, errVideoTimeout):
		return fmt.Errorf("fingerprint: video: ffmpeg killed after the %v deadline: %w",
			timeout, context.DeadlineExceeded)
	case ctx.Err() != nil:
		return fmt.Errorf("fingerprint: video: ffmpeg killed: %w", ctx.Err())
	case errors.Is(cause, errCPULimit):
		return fmt.Errorf("%w: video: %v of %v (Options.FFmpegCPU)", ErrTooLarge, cause, job.limits.cpu)
	default:
		return cause // ErrTooLarge from the callbacks or the frame reader; errBadFrame
	}
	if w, h := p.refusedW, p.refusedH; w*h > job.maxPixels && res.frames == 0 {
		// -max_pixels: the container may not even have said the size.
		return framesTooLarge(w, h, job.maxPixels)
	}
	if p.noMemory {
		// An allocation failed, most likely at the address-space limit:
		// ffmpeg may even exit 0 having skipped the frame, so whatever
		// it delivered is not the whole video.
		return fmt.Errorf("%w: video: ffmpeg ran out of memory (limit %d bytes, Options.FFmpegMemory)",
			ErrTooLarge, job.limits.memory)
	}
	detail := strings.Join(p.errors, "; ")
	if detail == "" && res.exit != nil {
		detail = res.exit.Error()
	}
	switch {
	case p.notAllowed:
		return fmt.Errorf("%w: not a video container that is accepted (%s)", ErrUnsupported,
			strings.ReplaceAll(videoFormats, ",", ", "))
	case p.format == "" && res.frames == 0 && !demuxerSpoke(p):
		return fmt.Errorf("%w: not a recognised video (%s)", ErrUnsupported, detail)
	case p.noStream || (p.format != "" && p.width == 0 && res.frames == 0):
		return fmt.Errorf("%w: %s file has no video stream", ErrUnsupported, containerName(p, nil))
	case res.exit != nil:
		return fmt.Errorf("%w: ffmpeg failed: %s", ErrCorrupt, detail)
	case res.frames == 0 && detail != "":
		return fmt.Errorf("%w: no frame could be decoded: %s", ErrCorrupt, detail)
	case res.frames == 0:
		return fmt.Errorf("%w: no frame could be decoded", ErrCorrupt)
	}
	return nil
}

// framesTooLarge is the error for video frames of w x h pixels, over
// limit (Options.MaxPixels).
func framesTooLarge(w, h, limit int64) error {
	return fmt.Errorf("%w: video frames are %dx%d = %d pixels, over the limit of %d pixels (Options.MaxPixels)",
		ErrTooLarge, w, h, w*h, limit)
}

// demuxerSpoke reports whether an error came from a demuxer, which means
// ffmpeg recognised the container but could not read it: "[mov,mp4,...]
// moov atom not found" is corrupt; a lone "Invalid data found when
// processing input" is not a video at all.
func demuxerSpoke(p probe) bool {
	for _, e := range p.errors {
		if !strings.Contains(e, "Invalid data found when processing input") &&
			!strings.Contains(e, "End of file") {
			return true
		}
	}
	return false
}

// containerName names the container the way users know it, from ffmpeg's
// demuxer name: mp4 or mov (by major brand), webm or matroska (by EBML
// doctype), else the demuxer's first name (avi, gif, mpegts, flv, ...).
func containerName(p probe, data []byte) string {
	name, _, _ := strings.Cut(p.format, ",")
	switch name {
	case "mov":
		if p.majorBrand == "qt" {
			return "mov"
		}
		return "mp4"
	case "matroska":
		if bytes.Contains(data[:min(len(data), 64)], []byte("webm")) {
			return "webm"
		}
	}
	return name
}

// tick returns the start of sample i at fps samples per second.
func tick(i int, fps float64) time.Duration {
	return time.Duration(math.Round(float64(i) * float64(time.Second) / fps))
}

// fold turns samples into keyframes: each run of consecutive samples that
// are near (see near) the run's first sample becomes one keyframe with the
// first sample's signals (and dihedral variants, when it is matchable) and
// the run's time range. The last range ends at duration, which must be
// after the start of the last sample.
func fold(frames []sample, fps float64, duration time.Duration) []mediamatch.Keyframe {
	var kfs []mediamatch.Keyframe
	var first sample
	for i, f := range frames {
		if len(kfs) > 0 && near(first, f) {
			kfs[len(kfs)-1].End = tick(i+1, fps)
			continue
		}
		first = f
		k := mediamatch.Keyframe{
			Index:          len(kfs),
			Start:          tick(i, fps),
			End:            tick(i+1, fps),
			Signals:        f.signals,
			LowInformation: f.low,
		}
		if len(f.variants) > 0 && matchable(k) {
			k.Signals = append(slices.Clip(k.Signals), f.variants...)
		}
		kfs = append(kfs, k)
	}
	if n := len(kfs); n > 0 {
		// The last sample stays on screen to the end, even when the
		// decoder skipped the frames after it (keyframes only).
		kfs[n-1].End = duration
	}
	return kfs
}

// near reports whether b folds into a run that starts with a. Both must
// be low-information or neither, have the same perceptual signal types, at
// least one, and each within its bound of a's: foldBits for pHash and
// dHash, foldBitsPDQ for PDQ. A type with a quality floor (PDQ) must be
// matchable (Signal.Matchable) in both samples or in
// neither, so that a run's keyframe, which carries the first sample's
// signals, is matchable exactly when every sample it stands for is; where
// neither is, its bits are noise and are not compared.
func near(a, b sample) bool {
	if a.low != b.low || len(a.signals) != len(b.signals) {
		return false
	}
	compared := 0
	for _, sa := range a.signals {
		if sa.Type.Exact() || sa.Transform != mediamatch.TransformNone {
			continue
		}
		sb, ok := signalOf(b.signals, sa.Type)
		if !ok || len(sa.Hash) != len(sb.Hash) {
			return false
		}
		okA, okB := sa.Matchable(), sb.Matchable()
		if okA != okB {
			return false
		}
		if !okA {
			continue
		}
		bound := foldBits
		if sa.Type == mediamatch.PDQ {
			bound = foldBitsPDQ
		}
		if mediamatch.Distance(sa.Hash, sb.Hash) > bound {
			return false
		}
		compared++
	}
	return compared > 0
}

func signalOf(sigs []mediamatch.Signal, t mediamatch.SignalType) (mediamatch.Signal, bool) {
	return mediamatch.Keyframe{Signals: sigs}.Signal(t)
}
