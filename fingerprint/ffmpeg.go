package fingerprint

// This file is the only one that knows ffmpeg: its command line (built with
// ffmpeg-go, whose types stay here), how the upload reaches it (a sealed
// memfd, never a file on disk), how it is killed, and how its stderr reads.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	ffmpeg "github.com/u2takey/ffmpeg-go"
	"golang.org/x/sys/unix"
)

// videoFormats is ffmpeg's -format_whitelist: demuxers of self-contained
// video files. Left out on purpose: anything that opens other files or URLs
// (hls, dash, concat, image2, tee, ...), raw elementary streams and images.
// ffmpeg matches a demuxer whose name is a list ("mov,mp4,m4a,3gp,3g2,mj2",
// "matroska,webm") if any of its names is listed.
const videoFormats = "mov,matroska,webm,avi,gif,mpegts,flv,mpeg,asf,ogg"

// videoProtocols is ffmpeg's -protocol_whitelist: only "file", to open
// /dev/fd/3, the memfd holding the upload. The demuxers above never open
// another file with it (mov's external references stay off by default).
const videoProtocols = "file"

// decodeMode trades decoding accuracy for CPU.
type decodeMode int

const (
	// decodeFast skips the loop filter (deblocking) and the frames that no
	// other frame references: the default. On 1080p H.264 it costs about
	// 0.5x the CPU of a full decode; its samples are about 1 bit (pHash and
	// dHash) from the exact decode's on average, 2-4 bits at the 90th
	// percentile. PDQ, which is finer, sees more: median 2 bits but p90
	// about 22 and up to 60 on the shared moving footage, where a tick
	// whose frame was skipped gets the frame one or two before it
	// (skipping the loop filter alone: mean 3 bits, no outliers).
	decodeFast decodeMode = iota
	// decodeExact decodes every frame in full: the reference that the
	// accuracy of decodeFast is measured against.
	decodeExact
	// decodeKeyframes decodes only the stream's keyframes (-skip_frame
	// nokey), about 0.03x the CPU of a full decode. Each tick gets the last
	// keyframe before it, so whatever happens between keyframes (often 2-10
	// s apart) is never seen: on moving footage most samples are more than
	// 8 bits from what is on screen, and a 5 s clip with one keyframe yields
	// one sample.
	decodeKeyframes
	// decodeNoLoopFilter and decodeNoRef are each half of decodeFast, to
	// measure what each costs.
	decodeNoLoopFilter
	decodeNoRef
)

func (m decodeMode) String() string {
	switch m {
	case decodeFast:
		return "fast"
	case decodeExact:
		return "exact"
	case decodeKeyframes:
		return "keyframes"
	case decodeNoLoopFilter:
		return "skip-loop-filter"
	case decodeNoRef:
		return "skip-nonref"
	}
	return "unknown"
}

// frameJob says how ffmpeg samples frames from one video.
type frameJob struct {
	ffmpeg string  // path of the binary
	fps    float64 // sampled frames per second of presentation time
	// rate, if over 0, is the rate at which frames are handed over
	// instead of fps, a multiple of it: every frame, for anchoring.
	rate      float64
	maxFrames int   // the most sampled frames accepted
	side      int   // frames are side x side 8-bit grey; 0: as decoded (displayed size)
	threads   int   // decoder threads
	maxPixels int64 // largest coded frame (width*height)
	mode      decodeMode
	limits    procLimits // the process's resource limits
	sandbox   *sandbox   // how the process is confined; shared by a Hasher's runs
}

// maxDuration is the longest video a job accepts: maxFrames samples.
func (j frameJob) maxDuration() time.Duration {
	return time.Duration(float64(j.maxFrames) / j.fps * float64(time.Second))
}

// outRate is the rate at which ffmpeg hands frames over.
func (j frameJob) outRate() float64 {
	if j.rate > 0 {
		return j.rate
	}
	return j.fps
}

// outFrames is the most frames ffmpeg hands over: those of maxFrames+1
// ticks.
func (j frameJob) outFrames() int {
	return int(math.Ceil(float64(j.maxFrames+1) * j.outRate() / j.fps))
}

// args returns ffmpeg's command line, reading the upload from input.
//
// The filter graph samples with fps first, so that only sampled frames are
// scaled: round=up takes for tick i the frame on screen at i/fps (the last
// one whose timestamp is <= i/fps), and start_time=0 pads the start, so the
// k-th frame out is tick k. fps_mode passthrough keeps ffmpeg's muxer from
// duplicating or dropping any of them. One frame more than maxFrames is let
// through so that the caller can tell a video at the cap from one over it.
//
// Frames come out as a stream of binary PGM images (8-bit grey, full
// range: swscale maps video-range luma to 0..255, as an RGB conversion
// would), each with its own size in its header, so that frames kept at
// their decoded size need no size known in advance and a stream whose
// resolution changes midway still reads correctly.
func (j frameJob) args(input string) []string {
	in := ffmpeg.KwArgs{
		"protocol_whitelist": videoProtocols,
		"format_whitelist":   videoFormats,
		"threads":            strconv.Itoa(j.threads),
		"max_pixels":         strconv.FormatInt(j.maxPixels, 10),
		// No input -t: as an input option it doubled ffmpeg's CPU on 1080p
		// H.264 with the fast decode (measured 6.3 vs 3.0 CPU-s for 30 s),
		// while the output frame cap below (one sample past maxFrames at
		// 1/fps each), the header duration check and the deadline already
		// bound what is read.
	}
	switch j.mode {
	case decodeFast:
		in["skip_loop_filter"] = "all"
		in["skip_frame"] = "noref"
	case decodeKeyframes:
		in["skip_frame"] = "nokey"
	case decodeNoLoopFilter:
		in["skip_loop_filter"] = "all"
	case decodeNoRef:
		in["skip_frame"] = "noref"
	}
	rate := strconv.FormatFloat(j.outRate(), 'g', -1, 64)
	// "V": the first video stream that is not cover art.
	s := ffmpeg.Input(input, in).Get("V").
		Filter("fps", nil, ffmpeg.KwArgs{"fps": rate, "round": "up", "start_time": "0"})
	if j.side > 0 {
		size := strconv.Itoa(j.side)
		s = s.Filter("scale", ffmpeg.Args{size, size}, ffmpeg.KwArgs{"flags": "area"})
	}
	return s.Filter("format", ffmpeg.Args{"gray"}).
		Output("pipe:1", ffmpeg.KwArgs{
			"f":        "image2pipe",
			"c:v":      "pgm",
			"fps_mode": "passthrough",
			"frames:v": strconv.Itoa(j.outFrames()),
		}).
		GlobalArgs("-nostdin", "-hide_banner", "-nostats",
			"-loglevel", "level+info", "-filter_complex_threads", "1").
		GetArgs()
}

// probe is what ffmpeg's stderr says about the input.
type probe struct {
	format     string        // demuxer, e.g. "mov,mp4,m4a,3gp,3g2,mj2"; "" if none matched
	majorBrand string        // MP4/MOV major brand, e.g. "isom", "qt"
	duration   time.Duration // 0 when unknown
	width      int           // coded size of the sampled stream; 0 if none
	height     int
	rotation   int      // display rotation in degrees, as ffmpeg applies it
	errors     []string // the last few error lines, sanitised
	notAllowed bool     // the input's format is not on the whitelist
	noStream   bool     // the input has no video stream
	noMemory   bool     // an allocation failed (ENOMEM: the address-space limit)
	// refusedW x refusedH is a frame size a decoder refused (-max_pixels,
	// or a size no frame can have); 0 if none.
	refusedW, refusedH int64
}

// errLines is how many of ffmpeg's error lines are kept, each at most
// errLineLen bytes: enough to say what went wrong.
const (
	errLines   = 6
	errLineLen = 160
	maxLineLen = 4096 // longer stderr lines are cut
)

var (
	reInput    = regexp.MustCompile(`^Input #0, (.+), from '`)
	reDuration = regexp.MustCompile(`^\s*Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)`)
	reVideo    = regexp.MustCompile(`^\s*Stream #0:\d+.*?: Video: .*?, (\d+)x(\d+)(?:[ ,]|$)`)
	reBrand    = regexp.MustCompile(`^\s*major_brand\s*: (\S+)`)
	reRotation = regexp.MustCompile(`rotation of (-?\d+(?:\.\d+)?) degrees`)
	// A frame size refused by av_image_check_size2: over -max_pixels
	// ("Picture size 8000x7000 exceeds specified max pixel count
	// 50000000"), or no size any frame can have ("... is invalid").
	reRefused = regexp.MustCompile(`Picture size (\d+)x(\d+) (?:is invalid|exceeds)`)
	// Context prefixes ("[h264 @ 0x55...] ", nested for helpers such as
	// "[IMGUTILS @ 0x7f...] "), then the level.
	reLevel = regexp.MustCompile(`^(?:\[[^\]]* @ [^\]]*\] )*\[(\w+)\] `)
)

// stderrLog reads ffmpeg's stderr (logged with -loglevel level+info): it
// parses the input header and keeps a few error lines, in bounded memory.
// Metadata lines, which come from the upload, are never kept.
// onVideo is called once, when the sampled stream's line has been read.
type stderrLog struct {
	onVideo func(probe)

	mu      sync.Mutex
	p       probe
	line    []byte
	cut     bool // the current line is over maxLineLen
	inInput bool // within the "Input #0" section
	sawVid  bool
}

func (l *stderrLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			l.add(b)
			break
		}
		l.add(b[:i])
		l.parse(string(l.line))
		l.line, l.cut = l.line[:0], false
		b = b[i+1:]
	}
	return n, nil
}

func (l *stderrLog) add(b []byte) {
	if room := maxLineLen - len(l.line); len(b) > room {
		b, l.cut = b[:room], true
	}
	l.line = append(l.line, b...)
}

func (l *stderrLog) parse(line string) {
	if line == "" {
		return
	}
	level := ""
	if m := reLevel.FindStringSubmatch(line); m != nil {
		level = m[1]
	}
	msg := line
	if i := strings.Index(line, "["+level+"] "); level != "" && i >= 0 {
		msg = line[i+len(level)+3:]
	}
	switch level {
	case "error", "fatal", "panic":
		if strings.Contains(msg, "not on whitelist") {
			l.p.notAllowed = true
		}
		if strings.Contains(msg, "Cannot allocate memory") {
			l.p.noMemory = true
		}
		if m := reRefused.FindStringSubmatch(msg); m != nil && l.p.refusedW == 0 {
			l.p.refusedW, _ = strconv.ParseInt(m[1], 10, 64)
			l.p.refusedH, _ = strconv.ParseInt(m[2], 10, 64)
		}
		if strings.Contains(msg, "matches no streams") ||
			strings.Contains(msg, "does not contain any stream") {
			l.p.noStream = true
		}
		if len(l.p.errors) == errLines {
			l.p.errors = l.p.errors[1:]
		}
		l.p.errors = append(l.p.errors, sanitise(msg))
		return
	case "info":
	default:
		return
	}
	switch {
	case strings.HasPrefix(msg, "Input #0, "):
		l.inInput = true
		if m := reInput.FindStringSubmatch(msg); m != nil {
			l.p.format = m[1]
		}
		return
	case strings.HasPrefix(msg, "Input #"), strings.HasPrefix(msg, "Output #"),
		strings.HasPrefix(msg, "Stream mapping:"):
		l.inInput = false
		return
	}
	if !l.inInput {
		return
	}
	if m := reDuration.FindStringSubmatch(msg); m != nil {
		h, _ := strconv.Atoi(m[1])
		mi, _ := strconv.Atoi(m[2])
		s, _ := strconv.ParseFloat(m[3], 64)
		l.p.duration = time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute +
			time.Duration(s*float64(time.Second))
		return
	}
	if m := reBrand.FindStringSubmatch(msg); m != nil && l.p.majorBrand == "" {
		l.p.majorBrand = m[1]
		return
	}
	if m := reVideo.FindStringSubmatch(msg); m != nil && !l.sawVid &&
		!strings.Contains(msg, "(attached pic)") {
		l.sawVid = true
		l.p.width, _ = strconv.Atoi(m[1])
		l.p.height, _ = strconv.Atoi(m[2])
		if l.onVideo != nil {
			l.onVideo(l.p)
		}
		return
	}
	if m := reRotation.FindStringSubmatch(msg); m != nil && l.sawVid && l.p.rotation == 0 {
		r, _ := strconv.ParseFloat(m[1], 64)
		l.p.rotation = int(r)
	}
}

// result returns what was parsed; call it after ffmpeg has exited.
func (l *stderrLog) result() probe {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.line) > 0 {
		l.parse(string(l.line))
		l.line = l.line[:0]
	}
	return l.p
}

// sanitise makes an ffmpeg message safe to put into an error: printable
// ASCII only, and short.
func sanitise(s string) string {
	b := make([]byte, 0, min(len(s), errLineLen))
	for i := 0; i < len(s) && len(b) < errLineLen; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		} else {
			b = append(b, '?')
		}
	}
	return strings.TrimSpace(string(b))
}

// Reasons for stopping ffmpeg early, as context causes.
var (
	errVideoTimeout = errors.New("ffmpeg ran past the video deadline")
	errStopped      = errors.New("ffmpeg stopped by the caller")
)

// ffmpegResult is the outcome of one ffmpeg run.
type ffmpegResult struct {
	probe  probe
	frames int   // frames delivered
	exit   error // ffmpeg's exit error, nil when it exited 0
	cause  error // why the run was cut short; nil if it ran to the end
	cpu    time.Duration
}

// runFFmpeg runs ffmpeg over data and hands each sampled frame (a grey
// image whose pixels are valid only during the call) to onFrame, in order.
//
// The upload is written to a sealed memfd passed as fd 3; ffmpeg runs in
// its own process group, which is killed with SIGKILL when ctx ends, when
// timeout passes, or when onVideo or onFrame return an error (which becomes
// the result's cause). Wait never blocks for more than a second
// after that. onVideo sees the input's header before any frame is decoded.
//
// runFFmpeg returns an error only when ffmpeg could not be started; how
// ffmpeg ended is in the result.
func runFFmpeg(ctx context.Context, job frameJob, timeout time.Duration, data []byte,
	onVideo func(probe) error, onFrame func(*image.Gray) error) (ffmpegResult, error) {
	input, err := memfd(data)
	if err != nil {
		return ffmpegResult{}, err
	}
	defer input.Close()

	ctx, cancelTimeout := context.WithTimeoutCause(ctx, timeout, errVideoTimeout)
	defer cancelTimeout()
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(errStopped)

	var stderr *stderrLog
	stderr = &stderrLog{onVideo: func(p probe) {
		if onVideo != nil {
			if err := onVideo(p); err != nil {
				stop(err)
			}
		}
	}}
	var stdout io.ReadCloser
	build := func() (*exec.Cmd, error) {
		cmd := exec.CommandContext(ctx, job.ffmpeg, job.args("file:/dev/fd/3")...)
		cmd.Env = []string{} // nothing from our environment: no proxies, no AV_LOG_FORCE_*
		cmd.ExtraFiles = []*os.File{input}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error {
			// The whole group: ffmpeg and anything it may have started.
			return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		cmd.WaitDelay = time.Second
		cmd.Stderr = stderr
		var err error
		stdout, err = cmd.StdoutPipe()
		return cmd, err
	}
	sb := job.sandbox
	if sb == nil { // a job not made by a Hasher (tests)
		sb = &sandbox{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	}
	cmd, err := sb.start(build, job.limits)
	if err != nil {
		return ffmpegResult{}, fmt.Errorf("fingerprint: start ffmpeg: %w", err)
	}
	input.Close() // ffmpeg holds its own copy

	var res ffmpegResult
	frames := pgmReader{r: bufio.NewReaderSize(stdout, 1<<16), maxPixels: job.maxPixels}
	for {
		img, err := frames.next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				stop(err) // not ffmpeg's PGM: it cannot be trusted further
			}
			break // EOF, or ffmpeg died: Wait says which
		}
		res.frames++
		if err := onFrame(img); err != nil {
			stop(err)
			break
		}
	}
	// Drain whatever is left so that ffmpeg is not blocked on a full pipe
	// while it is being killed or finishing.
	_, _ = io.Copy(io.Discard, stdout)
	res.exit = cmd.Wait()
	if ctx.Err() != nil {
		res.cause = context.Cause(ctx)
	}
	res.probe = stderr.result()
	if ps := cmd.ProcessState; ps != nil {
		res.cpu = ps.UserTime() + ps.SystemTime()
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && res.cause == nil &&
			killedAtCPULimit(ws, res.cpu, job.limits) {
			res.cause = errCPULimit
		}
	}
	return res, nil
}

// memfd returns a sealed, read-only in-memory file holding data. It is
// never linked into any file system.
func memfd(data []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate("mediamatch-upload", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("fingerprint: memfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), "memfd:upload")
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, fmt.Errorf("fingerprint: memfd: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("fingerprint: memfd seal: %w", err)
	}
	return f, nil
}

// errBadFrame is the cause of a run stopped because its output was not the
// PGM stream asked for.
var errBadFrame = errors.New("ffmpeg wrote a malformed frame")

// pgmReader reads the binary PGM images ffmpeg's pgm encoder writes: "P5",
// width, height and 255, separated by single whitespace characters as that
// encoder writes them, then width*height bytes.
type pgmReader struct {
	r         *bufio.Reader
	maxPixels int64
	img       image.Gray // reused: pixels are valid until the next call
}

// next returns the next frame, io.EOF at a clean end, io.ErrUnexpectedEOF
// if the stream stops inside a frame, or an error wrapping errBadFrame.
func (p *pgmReader) next() (*image.Gray, error) {
	magic, err := p.r.Peek(2)
	switch {
	case len(magic) == 0 && err != nil:
		return nil, err // io.EOF at a clean end
	case len(magic) < 2:
		return nil, io.ErrUnexpectedEOF
	}
	if string(magic) != "P5" {
		return nil, fmt.Errorf("%w: starts %q, want P5", errBadFrame, magic)
	}
	p.r.Discard(2)
	var f [3]int64
	for i := range f {
		if c, err := p.r.ReadByte(); err != nil {
			return nil, io.ErrUnexpectedEOF
		} else if c != ' ' && c != '\n' {
			return nil, fmt.Errorf("%w: %q after a header field", errBadFrame, c)
		}
		n, digits := int64(0), 0
		for {
			c, err := p.r.ReadByte()
			if err != nil {
				return nil, io.ErrUnexpectedEOF
			}
			if c < '0' || c > '9' {
				p.r.UnreadByte()
				break
			}
			if n = 10*n + int64(c-'0'); n > 1<<31 {
				return nil, fmt.Errorf("%w: header field too large", errBadFrame)
			}
			digits++
		}
		if digits == 0 {
			return nil, fmt.Errorf("%w: header field is not a number", errBadFrame)
		}
		f[i] = n
	}
	if c, err := p.r.ReadByte(); err != nil {
		return nil, io.ErrUnexpectedEOF
	} else if c != '\n' && c != ' ' {
		return nil, fmt.Errorf("%w: %q after the header", errBadFrame, c)
	}
	w, h, maxval := f[0], f[1], f[2]
	if w <= 0 || h <= 0 || maxval != 255 {
		return nil, fmt.Errorf("%w: %dx%d, maxval %d", errBadFrame, w, h, maxval)
	}
	if w*h > p.maxPixels { // ffmpeg's -max_pixels should have refused it
		return nil, framesTooLarge(w, h, p.maxPixels)
	}
	n := int(w * h)
	if cap(p.img.Pix) < n {
		p.img.Pix = make([]byte, n)
	}
	p.img.Pix = p.img.Pix[:n]
	p.img.Stride, p.img.Rect = int(w), image.Rect(0, 0, int(w), int(h))
	if _, err := io.ReadFull(p.r, p.img.Pix); err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	return &p.img, nil
}
