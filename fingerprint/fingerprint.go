package fingerprint

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// Errors returned by Hash, wrapped with detail; test with errors.Is.
var (
	ErrEmpty       = errors.New("empty file")
	ErrUnsupported = errors.New("unsupported format")
	ErrTooLarge    = errors.New("too large")
	ErrCorrupt     = errors.New("corrupt media")
)

// Options configure a Hasher. The zero value of each field means its default.
type Options struct {
	// MaxPixels is the largest image (width*height, as declared in its
	// header) that is decoded; larger ones fail with ErrTooLarge before
	// any pixel is decoded. For an animated GIF it bounds the logical
	// screen. Default 50,000,000.
	MaxPixels int64
	// MaxJPEGScans is the most scans a JPEG may have; one with more fails
	// with ErrTooLarge before any is decoded. A progressive JPEG is
	// decoded in scans, each a pass over the whole image: encoders write
	// 10 or fewer (libjpeg's progressive script: 10 for colour, 6 for
	// grey; a baseline JPEG has 1, or one per component), while each scan
	// of a 50 MP image costs a decoder about 3 ms of CPU (image/jpeg:
	// about 20), which a file of thousands of tiny scans multiplies.
	// Default 100.
	MaxJPEGScans int
	// ImageTimeout is the wall-clock deadline for decoding and hashing one
	// still image in process, past which Hash fails with an error wrapping
	// context.DeadlineExceeded; the decoders stop at it (libjpeg between
	// two rows, the Go decoders at their next read). The largest images
	// allowed decode in about a second on one core. Default 30s.
	ImageTimeout time.Duration
	// DecodeMemory is the bytes that the in-process image decodes of this
	// Hasher, and the hashing of video frames, may use at once, all
	// together. Each decode estimates its peak from the image's header
	// (the decoded colour model and bit depth times its pixels, what the
	// decoder holds beside the image, and the hashing pipeline: 16-bit
	// RGBA is 8 bytes a pixel, a 16-bit TIFF about 26, a progressive
	// colour JPEG in libjpeg about 6) and takes that much of it until the
	// image is hashed; a video takes about 7 bytes a pixel of its frames
	// (at most 4K UHD's worth for the hashing, plus the frame and two
	// copies for anchoring) when its first frame arrives, until ffmpeg is
	// done. An image needing more
	// than DecodeMemory fails at once with ErrTooLarge; others wait for
	// room until their context ends. It bounds the memory of decoding
	// whatever the number of uploads at once; ffmpeg's own memory is
	// bounded apart (FFmpegMemory). Default 1 GiB: a 50 MP 8-bit RGBA
	// PNG takes about 216 MiB, a 12 MP JPEG photo in libjpeg 20-90 MiB;
	// 16-bit PNGs are decoded to 8 bits (grey, RGB, RGBA, not
	// interlaced), so cost the same; a 16-bit RGBA TIFF over about 40 MP
	// is refused.
	DecodeMemory int64
	// FFmpeg is the path of the ffmpeg binary; default "ffmpeg" from PATH.
	FFmpeg string
	// FrameRate is how many video frames are sampled per second; default 1.
	FrameRate float64
	// MaxFrames caps the sampled frames of one video; default 3600.
	MaxFrames int
	// VideoTimeout is the wall-clock deadline for one ffmpeg run; default 2m.
	VideoTimeout time.Duration
	// KeyframesOnly decodes only the video's own keyframes (I-frames):
	// much faster, but misses content between keyframes.
	KeyframesOnly bool
	// FFmpegCPU is the CPU time (user plus system, all threads; whole
	// seconds, rounded up) after which the kernel kills ffmpeg
	// (RLIMIT_CPU); the video then fails with ErrTooLarge. Default
	// VideoTimeout x 3: all that ffmpeg's busy threads (2 decoding, 1 for
	// the rest) can use within the deadline, which normally kills it
	// first (see ffmpegBusyThreads).
	FFmpegCPU time.Duration
	// FFmpegMemory is ffmpeg's address space in bytes (RLIMIT_AS): past
	// it allocations fail and the video fails with ErrTooLarge. Default
	// 512 MiB + 24 bytes x MaxPixels: 1.6 GiB for the default MaxPixels
	// (see ffmpegBytesPerPixel).
	FFmpegMemory int64
	// FFmpegDone, if set, is called after each ffmpeg run that started,
	// with its wall-clock time and the CPU time (user and system, all
	// threads) it used, for metrics; from the goroutine that hashed.
	FFmpegDone func(wall, cpu time.Duration)
	// Logger receives the warning, logged once per Hasher, that ffmpeg
	// cannot be given a network namespace of its own. Default: discard.
	Logger *slog.Logger
}

// Defaults of the decoding limits in Options.
const (
	DefaultMaxJPEGScans = 100
	DefaultImageTimeout = 30 * time.Second
	DefaultDecodeMemory = 1 << 30 // bytes
)

func (o Options) withDefaults() Options {
	if o.MaxPixels <= 0 {
		o.MaxPixels = 50_000_000
	}
	if o.MaxJPEGScans <= 0 {
		o.MaxJPEGScans = DefaultMaxJPEGScans
	}
	if o.ImageTimeout <= 0 {
		o.ImageTimeout = DefaultImageTimeout
	}
	if o.DecodeMemory <= 0 {
		o.DecodeMemory = DefaultDecodeMemory
	}
	if o.FFmpeg == "" {
		o.FFmpeg = "ffmpeg"
	}
	if o.FrameRate <= 0 {
		o.FrameRate = 1
	}
	if o.MaxFrames <= 0 {
		o.MaxFrames = 3600
	}
	if o.VideoTimeout <= 0 {
		o.VideoTimeout = 2 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// Hasher computes the fingerprint of media files. It is safe for
// concurrent use.
type Hasher struct {
	opts    Options
	sandbox *sandbox   // shared by the Hasher's ffmpeg runs
	mem     *memBudget // Options.DecodeMemory, shared by the Hasher's image decodes
}

// HashOptions are per-call options of HashWith. The zero value is what
// Hash does.
type HashOptions struct {
	// Dihedral adds to every keyframe that can be matched (its PDQ signal
	// is mediamatch.Keyframe.Matchable) 7 more PDQ
	// signals, after its other signals: the hash of the keyframe turned by
	// Rotate90, Rotate180, ..., FlipMinus1, in that order, each with its
	// Transform set. A signal with Transform T is the hash of the upload
	// turned by T, so if the upload is a known item turned by U, the
	// variant with Transform U.Inverse() is the one that matches the
	// item's (untransformed) hash. It is for queries: stored items need
	// only the untransformed hash.
	//
	// For still images the variants are hashed from the turned image (4
	// passes of the PDQ pipeline instead of 1; HashWith costs 1.2-1.7x
	// Hash on 2-10 MP photos); for video frames they come from the frame's
	// one DCT, at no cost and less exactly (pdq.go has the figures).
	Dihedral bool
	// NoFeatures leaves out the local features of still images and of
	// video keyframes (mediamatch.Keyframe.Features): for callers that
	// store or match only the hashes.
	NoFeatures bool
}

// New returns a Hasher with the given options.
func New(opts Options) *Hasher {
	opts = opts.withDefaults()
	return &Hasher{opts: opts, sandbox: &sandbox{log: opts.Logger}, mem: &memBudget{size: opts.DecodeMemory}}
}

// fileSignals returns the exact signals of a whole file.
func fileSignals(data []byte) []mediamatch.Signal {
	m := md5.Sum(data)
	s := sha256.Sum256(data)
	return []mediamatch.Signal{
		{Type: mediamatch.MD5, Hash: m[:]},
		{Type: mediamatch.SHA256, Hash: s[:]},
	}
}

// Hash returns the fingerprint of one file held in memory. Still images
// (JPEG, PNG, GIF, WebP, BMP, TIFF) are decoded in process, with their EXIF
// orientation applied; animated GIFs and anything else are handed to
// ffmpeg as a video. The data is never written to disk.
//
// Every keyframe carries PDQ (with its quality 0..100), pHash and dHash
// signals, in that order, all of the image as displayed; an image or
// video under 5 pixels on a side has no PDQ signal. Still images follow
// Meta's reference PDQ photo pipeline, video frames the vPDQ one (each
// sampled frame at its decoded size).
//
// It returns an error wrapping ErrEmpty, ErrUnsupported, ErrTooLarge or
// ErrCorrupt when the file cannot be hashed, one wrapping
// context.DeadlineExceeded past Options.ImageTimeout or VideoTimeout, or
// the context's error. Decoding stops soon after ctx ends.
func (h *Hasher) Hash(ctx context.Context, data []byte) (mediamatch.Media, error) {
	return h.HashWith(ctx, data, HashOptions{})
}

// HashWith is Hash with per-call options; HashWith(ctx, data,
// HashOptions{}) is Hash(ctx, data). It returns the same errors as Hash.
func (h *Hasher) HashWith(ctx context.Context, data []byte, o HashOptions) (mediamatch.Media, error) {
	if len(data) == 0 {
		return mediamatch.Media{}, ErrEmpty
	}
	if err := ctx.Err(); err != nil {
		return mediamatch.Media{}, err
	}
	var (
		m   mediamatch.Media
		err error
	)
	if isImage(data) {
		m, err = h.hashImage(ctx, data, o)
	} else {
		m, err = h.hashVideo(ctx, data, o)
	}
	if err != nil {
		return mediamatch.Media{}, err
	}
	m.Size = int64(len(data))
	m.FileSignals = fileSignals(data)
	return m, nil
}
