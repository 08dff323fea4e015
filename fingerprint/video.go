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
	// anchorRate is the rate, in frames per second, at which ffmpeg hands
	// over frames for anchoring (see anchorer): the rate of most footage,
	// so that every frame of a 24-30 fps video is seen once and a 60 fps
	// one every other frame.
	anchorRate = 30
	// anchorWindow is the half-width of the window in which an anchor is
	// the stillest frame. Anchors are therefore at least this far apart
	// (one or two a second on moving footage), and a copy must show this
	// much around a moment for both to choose it.
	anchorWindow = 500 * time.Millisecond
	// videoFeatures is the most local features of a video keyframe: as
	// many as a still image's (maxFeatures), because verification needs
	// as many points of a frame as of a photo (16), and a crop keeps only
	// part of them.
	videoFeatures = maxFeatures
	// featureKeyframes is the most keyframes of a video that carry local
	// features (thinFeatures): at 37 bytes a feature, 8 x 256 features
	// are 76 KB an item at most, whatever the video's length. Measured on
	// the shared videos (4.3-22.5 s; eval --videos): 8 and 32 both find
	// the crop-10 copies of both banked videos over their whole range;
	// with 32, a single frame of the chair clip also met keyframes 5 s
	// away in the same shot, which put its matched range out of place,
	// and 32 cost 4 times the memory (303 KB an item).
	featureKeyframes = 8
	// featureTail is the end of a long video (see featureSlot) whose
	// every tick gets features: the span within which the evaluation
	// wants the end of a copy placed (eval.RangeTolerance).
	featureTail = 2 * time.Second
)

// sample is one sampled video frame, shown from at until the next sample.
type sample struct {
	at       time.Duration
	signals  []mediamatch.Signal  // PDQ first, then pHash and dHash
	variants []mediamatch.Signal  // with HashOptions.Dihedral: PDQ turned by Rotate90..FlipMinus1
	features []mediamatch.Feature // local features (frameFeatures), unless HashOptions.NoFeatures
	low      bool
}

// videoSamples is a video's frames as sampled, before folding.
type videoSamples struct {
	format        string
	width, height int // as displayed
	duration      time.Duration
	fps           float64
	frames        []sample      // one per tick of fps: frames[i].at = tick(i, fps)
	anchors       []sample      // frames chosen by content (anchorer), in time order
	cpu           time.Duration // ffmpeg's user+system CPU time
}

// all returns the grid samples and the anchors in time order, an anchor
// that falls on a tick left out.
func (v videoSamples) all() []sample {
	out := make([]sample, 0, len(v.frames)+len(v.anchors))
	i, j := 0, 0
	for i < len(v.frames) || j < len(v.anchors) {
		switch {
		case j == len(v.anchors) || (i < len(v.frames) && v.frames[i].at <= v.anchors[j].at):
			if j < len(v.anchors) && v.frames[i].at == v.anchors[j].at {
				j++
			}
			out = append(out, v.frames[i])
			i++
		default:
			out = append(out, v.anchors[j])
			j++
		}
	}
	return out
}

// hashVideo fingerprints a video (or animated image) with ffmpeg: frames
// sampled at Options.FrameRate and at anchors (frames chosen by their
// content, see anchorer), hashed, and runs of near-identical frames folded
// into keyframes; unless opts.NoFeatures, at most featureKeyframes of them,
// spread over the video, carry local features (frameFeatures), which find
// a cropped copy.
//
// The anchors are what let a copy cut anywhere match: the grid of ticks
// starts at each file's first frame, so a copy cut half a second off a
// whole second samples the frames between the item's, and on moving
// footage a frame is 24 PDQ bits from the next at the median (p90 56: the
// shared chair clip at 30 fps; doorknob 52, p90 84), so no affordable grid
// is dense enough. An anchor depends only on the frames around it, so an
// item and a copy that both show a moment choose the same frame.
//
// Errors wrap ErrUnsupported (not a video in a whitelisted container, or no
// video stream), ErrCorrupt (ffmpeg could not decode a single frame),
// ErrTooLarge (longer than MaxFrames/FrameRate, or frames over MaxPixels:
// the video is refused, not truncated, so that a long video is never
// reported as clean on the strength of its first hour), or the context's
// error when ctx ends or VideoTimeout passes.
func (h *Hasher) hashVideo(ctx context.Context, data []byte, opts HashOptions) (mediamatch.Media, error) {
	// Anchors need every frame: skipping the non-reference ones, as
	// decodeFast does, would leave the frames that each encoding happens
	// to make references, which differ between an item and its copy.
	mode, anchored := decodeNoLoopFilter, true
	if h.opts.KeyframesOnly {
		mode, anchored = decodeKeyframes, false
	}
	v, err := h.sampleFrames(ctx, data, mode, frameSide, opts, anchored)
	if err != nil {
		return mediamatch.Media{}, err
	}
	return mediamatch.Media{
		Kind:      mediamatch.KindVideo,
		Format:    v.format,
		Width:     v.width,
		Height:    v.height,
		Duration:  v.duration,
		Keyframes: thinFeatures(fold(v.all(), v.duration), featureKeyframes),
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

// sampleVideo runs ffmpeg over data and hashes the frame at every tick
// of Options.FrameRate: the sampling before anchors.
func (h *Hasher) sampleVideo(ctx context.Context, data []byte, mode decodeMode, side int, opts HashOptions) (videoSamples, error) {
	return h.sampleFrames(ctx, data, mode, side, opts, false)
}

// sampleFrames runs ffmpeg over data and hashes the frame at every tick
// of Options.FrameRate and, if anchored, every anchor: the PDQ variants
// if opts.Dihedral, the local features unless opts.NoFeatures.
func (h *Hasher) sampleFrames(ctx context.Context, data []byte, mode decodeMode, side int, opts HashOptions, anchored bool) (videoSamples, error) {
	job := h.job(mode, side)
	// With anchors ffmpeg hands over every frame at the anchor rate; the
	// grid's frame for tick i is the one on screen at i/fps, frame
	// floor(i*rate/fps) of those.
	per := 1.0
	if anchored {
		job.rate = max(anchorRate, job.fps)
		per = job.rate / job.fps
	}
	var (
		frames  []sample
		anchors []sample
		seen    int // frames handed over
		anc     = anchorer{window: int(math.Round(anchorWindow.Seconds() * job.rate))}
	)
	// The header's duration, from the stderr goroutine: a last sample past
	// it is a sliver that is dropped below, so it does not count against
	// the cap; and it says which samples get local features
	// (featureSlot).
	var declared atomic.Int64
	// feats reports whether the sample of grid tick i (anchor: -1) gets
	// local features, as far as the duration is known yet; the samples
	// are thinned again once it is (below), so that a race with the
	// stderr goroutine costs time, not determinism.
	feats := func(i int) bool {
		d := time.Duration(declared.Load())
		return !opts.NoFeatures && wantFeatures(i, featureSlot(d, job.fps), job.fps, d)
	}
	hash := func(img *image.Gray, at time.Duration, feats bool) sample {
		// hashFrame and framePDQ do not keep img.
		sigs, low := hashFrame(img)
		p, variants, ok := framePDQ(img, opts.Dihedral)
		if ok {
			sigs = append([]mediamatch.Signal{p}, sigs...)
		}
		s := sample{at: at, signals: sigs, variants: variants, low: low}
		if ok && !low && feats {
			s.features = frameFeatures(img)
		}
		return s
	}
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
		k := seen
		seen++
		if anchored {
			// At most as many anchors as ticks (measured: 0.8 a second on
			// the chair clip, 0.4-0.7 on the others), so that a video at
			// the cap has at most 2 x MaxFrames samples, 7,200 by default,
			// under mediamatch.MaxKeyframes; past that, ticks only.
			if a, ok := anc.add(k, img); ok && len(anchors) < job.maxFrames {
				anchors = append(anchors, hash(a, tick(anc.chosen, job.rate), feats(-1)))
			}
			if k != int(math.Floor(float64(len(frames))*per+1e-9)) {
				return nil
			}
		}
		if d := time.Duration(declared.Load()); len(frames) == job.maxFrames &&
			(d <= 0 || tick(len(frames), job.fps) < d) {
			return fmt.Errorf("%w: video is longer than %v (%d frames at %g per second)",
				ErrTooLarge, job.maxDuration(), job.maxFrames, job.fps)
		}
		frames = append(frames, hash(img, tick(len(frames), job.fps), feats(len(frames))))
		return nil
	}
	start := time.Now()
	res, err := runFFmpeg(ctx, job, h.opts.VideoTimeout, data, onVideo, onFrame)
	if err != nil {
		return videoSamples{}, err
	}
	if h.opts.FFmpegDone != nil {
		h.opts.FFmpegDone(time.Since(start), res.cpu)
	}
	if err := videoError(ctx, res, job, h.opts.VideoTimeout); err != nil {
		return videoSamples{}, err
	}
	if a, ok := anc.flush(); ok && len(anchors) < job.maxFrames {
		anchors = append(anchors, hash(a, tick(anc.chosen, job.rate), feats(-1)))
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
	// Anchors past the end of the grid's last sample are slivers of the
	// last frame that the cap or the declared end cut off.
	for len(anchors) > 0 && len(frames) > 0 && anchors[len(anchors)-1].at >= tick(len(frames), job.fps) {
		anchors = anchors[:len(anchors)-1]
	}
	v.anchors = anchors
	if slot := featureSlot(p.duration, job.fps); slot > 0 {
		for i := range v.frames {
			if !wantFeatures(i, slot, job.fps, p.duration) {
				v.frames[i].features = nil
			}
		}
		for i := range v.anchors {
			v.anchors[i].features = nil
		}
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
		for len(v.anchors) > 0 && v.anchors[len(v.anchors)-1].at >= d {
			v.anchors = v.anchors[:len(v.anchors)-1]
		}
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
// luminance of the (reduced) frame, the anchorer's two copies of a frame,
// what finding local features holds (frameFeatures: about 12 bytes a
// pixel of the frame reduced to featureSide on its long side: its
// luminance, its pyramid, corner scores and an integral image), with
// 1 MiB for the rest.
func videoFrameBytes(w, h int) int64 {
	px := int64(w) * int64(h)
	p := min(px, maxFramePixels)
	fp := px
	if long := int64(max(w, h)); long > featureSide {
		fp = px * featureSide * featureSide / (long * long)
	}
	n := 3*px + 4*p + 12*fp + 1<<20
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

// fold turns samples, in time order, into keyframes: each run of
// consecutive samples that are near (see near) the run's first sample
// becomes one keyframe with the first sample's signals (and dihedral
// variants, when it is matchable, and local features, or those of the
// run's first sample that has them) and the run's time range, from its first
// sample's time to the next run's. The first range starts at 0 and the
// last ends at duration, which must be after the last sample's time.
func fold(frames []sample, duration time.Duration) []mediamatch.Keyframe {
	var kfs []mediamatch.Keyframe
	var first sample
	for i, f := range frames {
		end := duration
		if i+1 < len(frames) {
			end = frames[i+1].at
		}
		if len(kfs) > 0 && near(first, f) {
			k := &kfs[len(kfs)-1]
			k.End = end
			if len(k.Features) == 0 && !k.LowInformation {
				// The run's frames are one picture within noise: the
				// features of any stand for the keyframe (see featureSlot:
				// only some samples have them).
				k.Features = f.features
			}
			continue
		}
		first = f
		start := f.at
		if len(kfs) == 0 {
			start = 0
		}
		k := mediamatch.Keyframe{
			Index:          len(kfs),
			Start:          start,
			End:            end,
			Signals:        f.signals,
			LowInformation: f.low,
			Features:       f.features,
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

// featureSlot returns the span of a video of duration d (0 if unknown)
// in which only the first tick's sample gets local features, or 0 for
// every sample to get them: a video short enough for its samples to fit
// twice in featureKeyframes (16 s at 1 sample a second) has them all,
// a longer one at most 2 x featureKeyframes, the first tick of each of as
// many equal spans, from which thinFeatures keeps featureKeyframes. A
// long video thus costs the features of 16 frames (and of its last 2 s), not of every sample,
// and a copy of the whole of it, with the same duration, gets them at
// the same ticks.
func featureSlot(d time.Duration, fps float64) time.Duration {
	w := d / (2 * featureKeyframes)
	if fps <= 0 || w <= time.Duration(float64(time.Second)/fps) {
		return 0
	}
	return w
}

// wantFeatures reports whether the sample of grid tick i (-1 for an
// anchor) of a video of duration d gets local features when slot is
// featureSlot's span: besides the first tick of each span, the ticks of
// the last featureTail, so that the last keyframe with features places
// the end of a copy of the whole video (thinFeatures keeps it).
func wantFeatures(i int, slot time.Duration, fps float64, d time.Duration) bool {
	switch {
	case slot == 0:
		return true
	case i < 0:
		return false
	}
	t := tick(i, fps)
	return i == 0 || t/slot != tick(i-1, fps)/slot || t >= d-featureTail
}

// frameFeatures returns the local features of a sampled video frame
// (features.go): at most videoFeatures, found inside its content (bars
// and borders trimmed), on its luminance area-averaged to featureSide
// pixels on the long side, as a still image's are, so that a frame and a
// photo of it meet at the same scales.
func frameFeatures(img image.Image) []mediamatch.Feature {
	if b := img.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 {
		return nil
	}
	l := reduceLumaTo(img, featureSide)
	return contentFeatures(&l, videoFeatures)
}

// thinFeatures leaves local features on at most n keyframes of kfs (in
// time order), spread over the video: for each of n moments evenly
// spaced from the start of the first keyframe with features to the
// start of the last (both kept), the keyframe with features that starts
// nearest. The others lose theirs. A copy of the whole video, hashed the
// same way, keeps keyframes at the same moments, and the first and last
// place its range. It returns kfs.
func thinFeatures(kfs []mediamatch.Keyframe, n int) []mediamatch.Keyframe {
	var with []int
	for i, k := range kfs {
		if len(k.Features) > 0 {
			with = append(with, i)
		}
	}
	if len(with) <= n {
		return kfs
	}
	keep := make(map[int]bool, n)
	t0, t1 := kfs[with[0]].Start, kfs[with[len(with)-1]].Start
	j := 0
	for i := range n {
		t := t0
		if n > 1 {
			t = t0 + time.Duration(float64(t1-t0)*float64(i)/float64(n-1))
		}
		// with is in time order: the nearest start is at j or after it.
		for j+1 < len(with) && absDur(kfs[with[j+1]].Start-t) <= absDur(kfs[with[j]].Start-t) {
			j++
		}
		keep[with[j]] = true
	}
	for _, i := range with {
		if !keep[i] {
			kfs[i].Features = nil
		}
	}
	return kfs
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
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

// thumbSide is the side of the grid of block means that anchoring compares
// frames by: coarse enough that re-encoding, scaling and noise hardly move
// it, fine enough to see motion.
const thumbSide = 16

// stillFloor is the change between thumbs (mean absolute difference, in
// grey levels) under which a frame is taken for a repeat of the last frame
// counted. Encoders do not repeat a frame exactly: the duplicates that a
// change of frame rate inserts (a copy slowed by 10% at 23.976 fps) come
// back 0.02-0.23 apart, which would make them the stillest frames and put
// the anchors where the duplicates fall, not where the content says; real
// motion between frames is 0.46 and more on the shared perception clip and
// 0.55 at the 5th percentile on the chair clip. Slow footage under the
// floor (doorknob: 0.23 at the 5th percentile) is not lost: a frame is
// compared with the last one counted, so the change adds up until it
// counts.
const stillFloor = 0.3

// thumb is a frame's grey level averaged over thumbSide x thumbSide blocks.
type thumb [thumbSide * thumbSide]float32

// anchorer chooses anchors among a video's frames, handed to it in order at
// anchorRate: a frame is an anchor when it is the stillest of the frames
// within window frames on either side, stillness being the change from the
// frame before (the mean absolute difference of their thumbs; ties go to
// the earlier frame). The rule depends only on the frames around a moment,
// not on where the file starts, so an item and a copy of it cut anywhere
// choose the same frames, except within window of the copy's ends. It
// picks the minima of motion rather than its peaks because there the next
// and previous frames are the nearest: when an edit moves the choice by a
// frame (a frame dropped by a lower frame rate, noise from re-encoding
// between two near-equal frames), the frame chosen is the one that differs
// least from the item's. Thumbs change in proportion under the edits that
// keep a picture (bars and borders change nothing, a logo little, a flip
// nothing), so the order of frames by stillness, which is all that
// matters, survives them.
//
// A frame whose thumb is within stillFloor of the last frame counted (the
// duplicates that the resampling to anchorRate makes of a slower video or
// that an encoder made, a frozen picture) is not a frame of its own: it is
// neither chosen nor compared, so that where the duplicates fall, which
// depends on where the file starts and on the encoding, does not decide
// the choice.
//
// Only one frame is held at a time: a frame stiller than every frame in the
// window before it replaces the one held, which is in its window.
type anchorer struct {
	window int // half-width, in frames

	prev     thumb // of the last frame counted
	havePrev bool
	past     []scored // the frames within window before the last one
	cols     []int32  // the block column of each pixel column, for width w
	w        int

	cand     image.Gray // the frame that may become an anchor
	candK    int
	candD    float32
	haveCand bool
	out      image.Gray // the last anchor returned
	chosen   int        // its index
}

type scored struct {
	k int
	d float32
}

// add takes frame k (valid only during the call) and returns the anchor
// that it settles, if any: a frame window frames or more before it, held
// in a buffer valid until the next call. Its index is a.chosen.
func (a *anchorer) add(k int, img *image.Gray) (*image.Gray, bool) {
	var t thumb
	a.thumbOf(img, &t)
	if !a.havePrev {
		a.prev, a.havePrev = t, true
		return nil, false // the change into the first frame is unknown
	}
	var d float32
	for i := range t {
		x := t[i] - a.prev[i]
		if x < 0 {
			x = -x
		}
		d += x
	}
	d /= float32(len(t))
	var out *image.Gray
	if a.haveCand && k > a.candK+a.window {
		out = a.emit()
	}
	if d < stillFloor {
		return out, out != nil
	}
	a.prev = t
	if a.haveCand && d < a.candD {
		a.haveCand = false
	}
	n := 0
	still := true
	for _, p := range a.past {
		if p.k >= k-a.window {
			a.past[n] = p
			n++
			if p.d <= d {
				still = false
			}
		}
	}
	a.past = append(a.past[:n], scored{k, d})
	if still {
		copyGray(&a.cand, img)
		a.candK, a.candD, a.haveCand = k, d, true
	}
	return out, out != nil
}

// flush returns the frame held at the end of the video, if any: its window
// runs past the end.
func (a *anchorer) flush() (*image.Gray, bool) {
	if !a.haveCand {
		return nil, false
	}
	return a.emit(), true
}

func (a *anchorer) emit() *image.Gray {
	a.cand, a.out = a.out, a.cand
	a.chosen, a.haveCand = a.candK, false
	return &a.out
}

// thumbOf sets t to img's block means, from every other pixel of every
// other row of frames at least 4*thumbSide on a side (a quarter of the
// reads, the same means within noise).
func (a *anchorer) thumbOf(img *image.Gray, t *thumb) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	step := 1
	if min(w, h) >= 4*thumbSide {
		step = 2
	}
	if a.w != w || len(a.cols) != w {
		a.cols = slices.Grow(a.cols[:0], w)[:w]
		for x := range w {
			a.cols[x] = int32(x * thumbSide / w)
		}
		a.w = w
	}
	var sum [thumbSide * thumbSide]uint32
	var cnt [thumbSide * thumbSide]uint32
	for y := 0; y < h; y += step {
		row := img.Pix[y*img.Stride : y*img.Stride+w]
		by := (y * thumbSide / h) * thumbSide
		for x := 0; x < w; x += step {
			i := by + int(a.cols[x])
			sum[i] += uint32(row[x])
			cnt[i]++
		}
	}
	for i := range t {
		if cnt[i] > 0 {
			t[i] = float32(sum[i]) / float32(cnt[i])
		} else {
			t[i] = 0
		}
	}
}

// copyGray makes dst a copy of src, reusing dst's pixels.
func copyGray(dst, src *image.Gray) {
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	dst.Pix = slices.Grow(dst.Pix[:0], w*h)[:w*h]
	for y := range h {
		copy(dst.Pix[y*w:(y+1)*w], src.Pix[y*src.Stride:y*src.Stride+w])
	}
	dst.Stride, dst.Rect = w, image.Rect(0, 0, w, h)
}
