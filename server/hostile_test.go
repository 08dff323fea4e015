package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
	pb "github.com/mediamatch/mediamatch/api/mediamatch/v1"
	"github.com/mediamatch/mediamatch/fingerprint/hostile"
)

// hostileDeadline bounds every call of TestHostileMedia: a call still
// running then is a hang, and fails the test.
const hostileDeadline = 60 * time.Second

// TestHostileMedia sends hostile media to a running server (newEnv: the
// guard's interceptors, a real Hasher with the real ffmpeg, Badger), one
// case at a time. Each case must get its expected code within
// hostileDeadline, with a message naming the field or the limit, never
// Internal or Unknown; and after each the server must still serve: a
// MatchMedia of a real image succeeds, the goroutines return to their
// count before the first case, and no ffmpeg child of this process is
// left. The table it prints (t.Logf) is the record of codes and times.
//
// fingerprint's TestHostileVideos, TestTooLarge and
// TestVideoRefusesReferences hash the same files (package hostile) in
// process; this shows that the server maps their outcomes and survives
// them.
func TestHostileMedia(t *testing.T) {
	mmtest.FFmpeg(t)
	ff := ffmpegPath()
	e := newEnv(t, Options{})
	ctx := t.Context()
	if _, err := e.bank.CreateBank(ctx, &pb.CreateBankRequest{Bank: &pb.Bank{Name: "hostile"}}); err != nil {
		t.Fatal(err)
	}
	probe := probeImage(t)

	// Observers of the playlists' references (an upload has no name: ".mp4"
	// in the case names is what a client might call the file; ffmpeg reads
	// the bytes from /dev/fd/3 whatever the name): a directory watched with
	// inotify (any open or read of the files in it, by any process, is an
	// event), a clip and a FIFO in it, and a listener on loopback that must
	// see no connection.
	refs := t.TempDir()
	clip := filepath.Join(refs, "clip.mp4")
	if err := os.WriteFile(clip, hostile.Must(t)(hostile.Clip(ff, 2*time.Second)), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(refs, "fifo.ts")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	lis, err := hostile.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	url := lis.URL("/clip.mp4")
	ino, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	t.Cleanup(func() { unix.Close(ino) })
	if _, err := unix.InotifyAddWatch(ino, refs, unix.IN_OPEN|unix.IN_ACCESS); err != nil {
		t.Fatalf("inotify watch: %v", err)
	}

	// The files, made before the baseline is taken.
	const tenHours = 10 * time.Hour
	var (
		manyFrames  = hostile.Must(t)(hostile.ManyFrameGIF(10000, 100)) // 10,000 s: over the 3600-frame cap
		shortFrames = hostile.Must(t)(hostile.ManyFrameGIF(10000, 2))   // 200 s: 200 keyframes
		noMoov      = hostile.Must(t)(hostile.WithoutMoov(ff))
		moovAtEnd   = hostile.Must(t)(hostile.MoovAtEnd(ff, false))
		longMP4     = hostile.Must(t)(hostile.Long(ff, tenHours, true))
		longMKV     = hostile.Must(t)(hostile.Long(ff, tenHours, false))
		hugeFrame   = hostile.Must(t)(hostile.HugeAVI(ff, true))
		hugeHidden  = hostile.Must(t)(hostile.HugeAVI(ff, false))
		// A large video, streamed: 40 s of 640x360 at 30 fps, about 10 MB.
		big = hostile.Must(t)(hostile.Video(ff, "big.mp4", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=30:d=40",
			"-c:v", "libx264", "-preset", "ultrafast"))
	)

	unary := func(ctx context.Context, data []byte) error {
		_, err := e.match.MatchMedia(ctx, &pb.MatchMediaRequest{Content: data})
		return err
	}
	stream := func(ctx context.Context, data []byte) error {
		_, err := streamMatch(ctx, e.match, data, 256<<10, nil)
		return err
	}
	upload := func(data []byte) func(context.Context, *testing.T) error {
		return func(ctx context.Context, _ *testing.T) error { return unary(ctx, data) }
	}
	streamed := func(data []byte) func(context.Context, *testing.T) error {
		return func(ctx context.Context, _ *testing.T) error { return stream(ctx, data) }
	}
	// reference sends a playlist and checks that nothing it points at was
	// touched: a writer blocked opening the FIFO stays blocked (ffmpeg
	// opening it for reading would let it through), inotify saw nothing,
	// the listener no connection.
	reference := func(playlist []byte) func(context.Context, *testing.T) error {
		return func(ctx context.Context, t *testing.T) error {
			opened := make(chan error, 1)
			go func() {
				f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
				if err == nil {
					f.Close()
				}
				opened <- err
			}()
			err := unary(ctx, playlist)
			select {
			case err := <-opened:
				t.Errorf("the FIFO was opened for reading during the call (writer's open: %v)", err)
			case <-time.After(50 * time.Millisecond):
				// Let the writer go: open the read side ourselves, until
				// its open returns (it may not have started it yet).
				for released := false; !released; {
					r, rerr := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
					if rerr != nil {
						t.Fatalf("open the FIFO's read side: %v", rerr)
					}
					select {
					case <-opened:
						released = true
					case <-time.After(100 * time.Millisecond):
					}
					r.Close()
				}
			}
			// Our own opens of the FIFO are events, which shows that
			// inotify sees: report the others.
			evs := inotifyEvents(ino)
			for _, ev := range evs {
				if ev != "fifo.ts open" {
					t.Errorf("a referenced file was touched: %s", ev)
				}
			}
			if !slices.Contains(evs, "fifo.ts open") {
				t.Errorf("inotify missed this test's own open of the FIFO")
			}
			if n := lis.Reset(); n > 0 {
				t.Errorf("the loopback listener saw %d connections", n)
			}
			return err
		}
	}
	// selfMatch adds a file as an item and checks that it then matches
	// itself.
	selfMatch := func(data []byte, id string) func(context.Context, *testing.T) error {
		return func(ctx context.Context, t *testing.T) error {
			if err := stream(ctx, data); err != nil {
				return err
			}
			if _, err := streamAdd(ctx, e.bank, &pb.ItemSpec{Bank: "hostile", Id: id}, data); err != nil {
				return err
			}
			resp, err := streamMatch(ctx, e.match, data, 256<<10, nil)
			if err != nil {
				return err
			}
			if got := matchIDs(resp.GetMatches()); !slices.Contains(got, "hostile/"+id) {
				t.Errorf("MatchMediaStream after AddItemStream = %v, want hostile/%s among them", got, id)
			}
			return nil
		}
	}

	tests := []struct {
		name  string
		run   func(context.Context, *testing.T) error
		code  codes.Code
		parts []string // in the message
	}{
		{"empty file", upload(nil), codes.InvalidArgument, []string{"MatchMediaRequest.content", "empty"}},
		{"empty stream", streamed(nil), codes.InvalidArgument, []string{"MatchMediaStreamRequest.chunk", "no data"}},
		{"truncated JPEG", upload(hostile.TruncatedJPEG()), codes.InvalidArgument,
			[]string{"MatchMediaRequest.content", "corrupt"}},
		{"PNG 65535x65535", upload(hostile.PNGHeader(65535, 65535)), codes.InvalidArgument,
			[]string{"MatchMediaRequest.content", "65535x65535", "50000000"}},
		{"PNG 100000x100000", upload(hostile.PNGHeader(100000, 100000)), codes.InvalidArgument,
			[]string{"MatchMediaRequest.content", "100000x100000", "50000000"}},
		// A GIF cannot declare more than 65535x65535: its sizes are 16-bit.
		{"GIF 65535x65535", upload(hostile.GIFHeader(65535, 65535, 1)), codes.InvalidArgument,
			[]string{"MatchMediaRequest.content", "65535x65535", "50000000"}},
		{"GIF 65535x65535 animated", upload(hostile.GIFHeader(65535, 65535, 3)), codes.InvalidArgument,
			[]string{"MatchMediaRequest.content", "65535x65535", "50000000"}},
		{"GIF 10000 frames of 1s", upload(manyFrames), codes.InvalidArgument,
			[]string{"MatchMediaRequest.content", "too large", "3600 frames"}},
		{"GIF 10000 frames of 20ms", upload(shortFrames), codes.OK, nil},
		{"HLS .mp4 -> FIFO", reference(hostile.HLS(fifo)), codes.InvalidArgument,
			[]string{"MatchMediaRequest.content", "unsupported"}},
		{"HLS .mp4 -> file", reference(hostile.HLS("file:" + clip)), codes.InvalidArgument,
			[]string{"MatchMediaRequest.content", "unsupported"}},
		{"HLS .mp4 -> loopback URL", reference(hostile.HLS(url)), codes.InvalidArgument,
			[]string{"MatchMediaRequest.content", "unsupported"}},
		{"ffconcat .mp4 -> FIFO", reference(hostile.FFconcat(fifo)), codes.InvalidArgument,
			[]string{"MatchMediaRequest.content", "unsupported"}},
		{"ffconcat .mp4 -> file", reference(hostile.FFconcat(clip, clip)), codes.InvalidArgument,
			[]string{"MatchMediaRequest.content", "unsupported"}},
		{"ffconcat .mp4 -> loopback URL", reference(hostile.FFconcat(url)), codes.InvalidArgument,
			[]string{"MatchMediaRequest.content", "unsupported"}},
		{"MP4 without moov", streamed(noMoov), codes.InvalidArgument,
			[]string{"MatchMediaStreamRequest.chunk", "corrupt", "moov"}},
		{"MP4 moov at the end, matches itself", selfMatch(moovAtEnd, "moov-at-end"), codes.OK, nil},
		{"10 hours, duration in the header", streamed(longMP4), codes.InvalidArgument,
			[]string{"MatchMediaStreamRequest.chunk", "too large", "10h0m0s", "3600 frames"}},
		{"10 hours, no duration", streamed(longMKV), codes.InvalidArgument,
			[]string{"MatchMediaStreamRequest.chunk", "too large", "3600 frames"}},
		{"16384x16384 frame", upload(hugeFrame), codes.InvalidArgument,
			[]string{"MatchMediaRequest.content", "16384x16384", "50000000"}},
		{"16384x16384 frame, header says 16x16", upload(hugeHidden), codes.InvalidArgument,
			[]string{"MatchMediaRequest.content", "16384x16384", "50000000"}},
		{"cancel mid-upload", func(ctx context.Context, t *testing.T) error {
			return cancelMidUpload(ctx, t, e.match, big)
		}, codes.Canceled, nil},
		{"cancel while ffmpeg runs", func(ctx context.Context, t *testing.T) error {
			return cancelWhileHashing(ctx, t, e.match, big)
		}, codes.Canceled, nil},
	}

	h := &hostileRun{e: e, probe: probe}
	h.baseline(t)
	for _, tt := range tests {
		h.run(t, tt.name, tt.run, func(t *testing.T, st *status.Status) {
			if st.Code() != tt.code {
				t.Errorf("code %v (%s), want %v", st.Code(), st.Message(), tt.code)
			}
			for _, p := range tt.parts {
				if !strings.Contains(st.Message(), p) {
					t.Errorf("message %q does not contain %q", st.Message(), p)
				}
			}
		})
	}

	// Every shared malformed or edge-case file: a fingerprint, or
	// InvalidArgument naming the upload's field.
	if dir, err := mmtest.SharedPath("media"); err != nil {
		mmtest.Missing(t, "the shared malformed files: %v", err)
	} else {
		dir = filepath.Join(dir, "malformed")
		files, err := filepath.Glob(filepath.Join(dir, "*", "*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no files in %s: %v", dir, err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			name := "malformed/" + strings.TrimPrefix(f, dir+string(filepath.Separator))
			h.run(t, name, upload(data), func(t *testing.T, st *status.Status) {
				switch st.Code() {
				case codes.OK:
				case codes.InvalidArgument:
					if !strings.Contains(st.Message(), "MatchMediaRequest.content") {
						t.Errorf("message %q does not name MatchMediaRequest.content", st.Message())
					}
				default:
					t.Errorf("code %v (%s), want OK or InvalidArgument", st.Code(), st.Message())
				}
			})
		}
	}

	// The listener does see connections: this test's own.
	if err := lis.SeesOwn(5 * time.Second); err != nil {
		t.Error(err)
	}

	if strings.Contains(e.logs.String(), "internal error") || strings.Contains(e.logs.String(), "panic") {
		t.Errorf("hostile media were logged as internal errors:\n%s", e.logs.String())
	}
	t.Logf("%-48s %-16s %8s  %s\n%s", "case", "code", "time", "message", strings.Join(h.table, "\n"))
}

// hostileRun runs the cases of TestHostileMedia against one server and
// checks after each that it still serves.
type hostileRun struct {
	e          *env
	probe      []byte // a real image that must match fine after every case
	goroutines int    // before the first case
	table      []string
}

// baseline calls the server once (so that its connection is up) and
// records the goroutines.
func (h *hostileRun) baseline(t *testing.T) {
	t.Helper()
	if err := h.matchProbe(); err != nil {
		t.Fatalf("MatchMedia of a real image before the cases: %v", err)
	}
	// The fewest seen over 200ms: goroutines of the call just made may
	// still be ending.
	h.goroutines = runtime.NumGoroutine()
	for range 10 {
		time.Sleep(20 * time.Millisecond)
		h.goroutines = min(h.goroutines, runtime.NumGoroutine())
	}
}

func (h *hostileRun) matchProbe() error {
	ctx, cancel := context.WithTimeout(context.Background(), hostileDeadline)
	defer cancel()
	_, err := h.e.match.MatchMedia(ctx, &pb.MatchMediaRequest{Content: h.probe})
	return err
}

// run runs one case as a subtest, with its call bounded by
// hostileDeadline; check judges the status it got. Then, outside the
// subtest, it checks that the server still serves.
func (h *hostileRun) run(t *testing.T, name string, call func(context.Context, *testing.T) error,
	check func(*testing.T, *status.Status)) {
	t.Helper()
	var (
		st   *status.Status
		took time.Duration
	)
	t.Run(name, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), hostileDeadline)
		defer cancel()
		start := time.Now()
		err := call(ctx, t)
		took = time.Since(start)
		var ok bool
		if st, ok = status.FromError(err); !ok {
			t.Fatalf("error %v is not a gRPC status", err)
		}
		if st == nil {
			st = status.New(codes.OK, "")
		}
		switch st.Code() {
		case codes.DeadlineExceeded:
			t.Fatalf("no answer within %v: %s", hostileDeadline, st.Message())
		case codes.Internal, codes.Unknown:
			t.Errorf("code %v: %s", st.Code(), st.Message())
		case codes.InvalidArgument, codes.ResourceExhausted:
			if len(badFields(st)) == 0 {
				t.Errorf("%v without a BadRequest naming the field: %s", st.Code(), st.Message())
			}
		}
		check(t, st)
	})
	if st != nil {
		h.table = append(h.table, fmt.Sprintf("%-48s %-16v %8v  %s", name, st.Code(), took.Round(time.Millisecond), st.Message()))
	}
	if err := h.matchProbe(); err != nil {
		t.Fatalf("after %s: MatchMedia of a real image: %v", name, err)
	}
	if n := settledGoroutines(h.goroutines); n > h.goroutines {
		buf := make([]byte, 1<<20)
		t.Fatalf("after %s: %d goroutines, %d before the first case:\n%s", name, n, h.goroutines,
			buf[:runtime.Stack(buf, true)])
	}
	if left := ffmpegChildren(5 * time.Second); len(left) > 0 {
		t.Fatalf("after %s: ffmpeg processes %v of this process still exist", name, left)
	}
}

// settledGoroutines returns the goroutine count once it is at most want,
// or after 5 seconds of waiting for it to get there.
func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); n > want && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond)
	}
	return n
}

// ffmpegChildren returns the pids of the children of this process whose
// command is ffmpeg, zombies included (a child not reaped), once there
// are none or after settle.
func ffmpegChildren(settle time.Duration) []int {
	me := os.Getpid()
	deadline := time.Now().Add(settle)
	for {
		var pids []int
		ents, _ := os.ReadDir("/proc")
		for _, ent := range ents {
			pid, err := strconv.Atoi(ent.Name())
			if err != nil {
				continue
			}
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue
			}
			// pid (comm) state ppid ...
			s := string(stat)
			open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
			if open < 0 || end < open {
				continue
			}
			f := strings.Fields(s[end+1:])
			if len(f) < 2 || s[open+1:end] != "ffmpeg" {
				continue
			}
			if ppid, _ := strconv.Atoi(f[1]); ppid == me {
				pids = append(pids, pid)
			}
		}
		if len(pids) == 0 || time.Now().After(deadline) {
			return pids
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// inotifyEvents reads the events queued on ino: "name open" or "name
// access".
func inotifyEvents(ino int) []string {
	var evs []string
	buf := make([]byte, 4096)
	for {
		n, _ := unix.Read(ino, buf)
		if n <= 0 {
			return evs
		}
		for b := buf[:n]; len(b) >= unix.SizeofInotifyEvent; {
			mask := binary.NativeEndian.Uint32(b[4:8])
			size := int(binary.NativeEndian.Uint32(b[12:16]))
			end := min(unix.SizeofInotifyEvent+size, len(b))
			name := strings.TrimRight(string(b[unix.SizeofInotifyEvent:end]), "\x00")
			what := "access"
			if mask&unix.IN_OPEN != 0 {
				what = "open"
			}
			evs = append(evs, name+" "+what)
			b = b[end:]
		}
	}
}

// cancelMidUpload streams the first half of data to MatchMediaStream and
// cancels the call.
func cancelMidUpload(ctx context.Context, t *testing.T, c pb.MatchServiceClient, data []byte) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.MatchMediaStream(ctx)
	if err != nil {
		return err
	}
	const chunk = 256 << 10
	for sent := 0; sent < len(data)/2; sent += chunk {
		if err := stream.Send(&pb.MatchMediaStreamRequest{Chunk: data[sent:min(sent+chunk, len(data))]}); err != nil {
			t.Fatalf("Send at %d bytes: %v", sent, err)
		}
	}
	cancel()
	_, err = stream.CloseAndRecv()
	return err
}

// cancelWhileHashing streams data to MatchMediaStream and cancels the call
// as soon as ffmpeg runs (a child of this process named ffmpeg). If ffmpeg
// finishes before it is seen, it tries again, three times at most.
func cancelWhileHashing(ctx context.Context, t *testing.T, c pb.MatchServiceClient, data []byte) error {
	for attempt := range 3 {
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := streamMatch(ctx, c, data, 256<<10, nil)
			done <- err
		}()
		var err error
	wait:
		for {
			select {
			case err = <-done:
				break wait
			default:
			}
			if pids := ffmpegChildren(0); len(pids) > 0 {
				t.Logf("attempt %d: ffmpeg %v runs: cancelling", attempt, pids)
				cancel()
				err = <-done
				break
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		if status.Code(err) != codes.OK {
			return err
		}
		t.Logf("attempt %d: the hash was done before ffmpeg was seen", attempt)
	}
	return errors.New("ffmpeg always finished before the cancel")
}

// probeImage returns a real photo from the shared media, or when they are
// absent a 256x256 PNG drawn here.
func probeImage(t testing.TB) []byte {
	if dir, err := mmtest.SharedPath("media"); err == nil {
		if b, err := os.ReadFile(filepath.Join(dir, chelsea)); err == nil {
			return b
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, 256, 256))
	for y := range 256 {
		for x := range 256 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
