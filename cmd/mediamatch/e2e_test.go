package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
)

// The end-to-end test builds the mediamatch binary, runs `mediamatch serve`
// as a real process on a free loopback port with a temp data dir, and
// drives it with the same binary's CLI: bank, add (an image, and a video
// streamed from stdin), match of near-duplicates made here (a JPEG at
// quality 50, a half-size copy, a re-encoded and downscaled video made with
// ffmpeg), of an unrelated image, with --json and --local-hash; then it
// kills the server with SIGKILL, restarts it on the same data dir and
// matches again.

const (
	photoRel     = "images/skimage/chelsea.png"
	unrelatedRel = "images/skimage/camera.png"
	videoRel     = "videos/tmk/chair-orig-22-sd-bar.mp4"
	otherVideo   = "videos/tmk/doorknob-hd-no-bar.mp4"
)

func TestEndToEnd(t *testing.T) {
	media := mmtest.Shared(t, "media")
	ffmpeg := mmtest.FFmpeg(t)
	tmp := t.TempDir()
	bin := buildBinary(t, tmp)
	data := filepath.Join(tmp, "data")

	// Inputs made by the test.
	photo := filepath.Join(media, photoRel)
	q50 := filepath.Join(tmp, "chelsea-q50.jpg")
	writeFile(t, q50, encodeJPEG(t, decodeFile(t, photo), 50))
	half := filepath.Join(tmp, "chelsea-half.png")
	writeFile(t, half, encodePNG(t, halve(decodeFile(t, photo))))
	video := filepath.Join(media, videoRel)
	videoCopy := filepath.Join(tmp, "chair-reencoded.mp4")
	run(t, exec.Command(ffmpeg, "-nostdin", "-loglevel", "error", "-i", video,
		"-vf", "scale=trunc(iw/4)*2:trunc(ih/4)*2", "-c:v", "libx264", "-preset", "veryfast", "-crf", "32",
		"-an", videoCopy))
	unrelated := filepath.Join(media, unrelatedRel)
	textFile := filepath.Join(tmp, "notes.mp4")
	writeFile(t, textFile, []byte(strings.Repeat("this is text, not a video\n", 50)))

	srv := startServer(t, bin, data)
	cli := func(stdin io.Reader, args ...string) result { return runCLI(t, bin, srv.addr, stdin, args...) }

	cli(nil, "bank", "create", "tve", "--description", "e2e test bank").ok(t)
	if r := cli(nil, "bank", "create", "tve"); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("second bank create: %v, want a failure saying it already exists", r)
	}
	added := cli(nil, "add", "--bank", "tve", "--label", "entity=test-cat", "--label", "source=skimage", photo).ok(t)
	if !strings.Contains(added.stdout, "tve/chelsea.png") {
		t.Errorf("add output %q, want the item tve/chelsea.png (id from the file name)", added.stdout)
	}
	// The video goes through stdin, which the CLI always streams.
	f, err := os.Open(video)
	if err != nil {
		t.Fatal(err)
	}
	cli(f, "add", "--bank", "tve", "--id", "chair", "--label", "entity=test-chair", "-").ok(t)
	f.Close()

	var hashed struct {
		File      string `json:"file"`
		Kind      string `json:"kind"`
		Keyframes []struct {
			Signals []struct {
				Type, Hash string
				Quality    int
				View       *struct{ X0, Y0, X1, Y1 int }
			}
		}
	}
	decodeLine(t, cli(nil, "--json", "hash", q50).ok(t).stdout, &hashed)
	wantHex := map[string]*regexp.Regexp{"pdq": regexp.MustCompile(`^[0-9a-f]{64}$`),
		"phash": regexp.MustCompile(`^[0-9a-f]{16}$`), "dhash": regexp.MustCompile(`^[0-9a-f]{16}$`)}
	if hashed.Kind != "image" || len(hashed.Keyframes) != 1 {
		t.Errorf("hash --json = %+v, want one image keyframe", hashed)
	} else {
		// The whole frame's pdq, phash and dhash, and PDQ views of parts of it.
		whole := 0
		for _, s := range hashed.Keyframes[0].Signals {
			if re := wantHex[s.Type]; re == nil || !re.MatchString(s.Hash) || s.Type == "pdq" && s.Quality < 50 {
				t.Errorf("hash --json signal %+v, want lowercase hex of the type's length (pdq: quality >= 50)", s)
			}
			switch {
			case s.View == nil:
				whole++
			case s.Type != "pdq" || s.View.X1 <= s.View.X0 || s.View.Y1 <= s.View.Y0:
				t.Errorf("hash --json signal %+v, want views of PDQ only, each a region", s)
			}
		}
		if whole != len(wantHex) {
			t.Errorf("hash --json = %+v, want pdq, phash and dhash of the whole frame", hashed)
		}
	}

	want := map[string]string{q50: "tve/chelsea.png", half: "tve/chelsea.png", videoCopy: "tve/chair", unrelated: ""}
	files := []string{q50, half, videoCopy, unrelated}
	checkMatches := func(stage string, extra ...string) {
		t.Helper()
		args := append(append([]string{"--json", "match"}, extra...), files...)
		out := cli(nil, args...).ok(t).stdout
		t.Logf("%s: match --json:\n%s", stage, out)
		got := parseMatches(t, out)
		for _, file := range files {
			ms, ok := got[file]
			switch {
			case !ok:
				t.Errorf("%s: no JSON object for %s", stage, file)
			case want[file] == "" && len(ms) != 0:
				t.Errorf("%s: match %s = %v, want nothing", stage, filepath.Base(file), ms)
			case want[file] != "" && (len(ms) == 0 || ms[0].Bank+"/"+ms[0].ItemID != want[file]):
				t.Errorf("%s: match %s = %v, want %s first", stage, filepath.Base(file), ms, want[file])
			}
		}
		if ms := got[q50]; len(ms) > 0 {
			m := ms[0]
			if m.Labels["entity"] != "test-cat" || m.Threshold <= 0 && m.Signal != "md5" && m.Signal != "sha256" ||
				m.Signal != strings.ToLower(m.Signal) {
				t.Errorf("%s: match of the q50 JPEG = %+v, want lowercase signal, threshold and labels", stage, m)
			}
		}
		if ms := got[videoCopy]; len(ms) > 0 {
			m := ms[0]
			if m.ItemKind != "video" || m.QueryCoverage < 0.5 || len(m.Frames) == 0 || len(m.QueryRanges) == 0 {
				t.Errorf("%s: match of the video copy = %+v, want a video match with frames, coverage >= 0.5 and ranges",
					stage, m)
			}
		}
	}
	checkMatches("server-side hashing")
	checkMatches("--local-hash", "--local-hash", "--ffmpeg", ffmpeg)

	// Human-readable output and exit codes.
	human := cli(nil, "match", q50, videoCopy, unrelated).ok(t).stdout
	t.Logf("match:\n%s", human)
	if !strings.Contains(human, "tve/chelsea.png") || !strings.Contains(human, "no match") ||
		!strings.Contains(human, "entity=test-cat") {
		t.Errorf("match output:\n%s\nwant the matched item with its labels and a 'no match' line", human)
	}
	bad := cli(nil, "match", textFile)
	if bad.code == 0 || !strings.HasPrefix(bad.stderr, "mediamatch: match "+textFile+": invalid argument: ") {
		t.Errorf("match of a text file: %v, want exit != 0 and 'mediamatch: match %s: invalid argument: ...'", bad, textFile)
	}
	if r := cli(nil, "match", "--threshold", "phash=99", q50); r.code == 0 || !strings.Contains(r.stderr, "max_distance: 99") {
		t.Errorf("match --threshold phash=99: %v, want the field and value in the error", r)
	}

	// Disabled items stop matching; enabled match again.
	cli(nil, "item", "disable", "--bank", "tve", "chelsea.png").ok(t)
	if got := parseMatches(t, cli(nil, "--json", "match", q50).ok(t).stdout); len(got[q50]) != 0 {
		t.Errorf("match after disable = %v, want nothing", got[q50])
	}
	cli(nil, "item", "enable", "--bank", "tve", "chelsea.png").ok(t)
	list := cli(nil, "item", "list", "--bank", "tve").ok(t).stdout
	if !strings.Contains(list, "tve/chair") || !strings.Contains(list, "tve/chelsea.png") {
		t.Errorf("item list:\n%s\nwant both items", list)
	}

	// Acknowledged writes survive kill -9.
	srv.kill(t)
	srv = startServer(t, bin, data)
	checkMatches("after SIGKILL and restart")
	banks := cli(nil, "--json", "bank", "list").ok(t).stdout
	var b struct {
		Name      string `json:"name"`
		ItemCount int    `json:"item_count"`
	}
	decodeLine(t, banks, &b)
	if b.Name != "tve" || b.ItemCount != 2 {
		t.Errorf("bank list after restart = %+v, want tve with 2 items", b)
	}
	if got := parseMatches(t, cli(nil, "--json", "match", filepath.Join(media, otherVideo)).ok(t).stdout); len(got[filepath.Join(media, otherVideo)]) != 0 {
		t.Errorf("match of an unrelated video = %v, want nothing", got)
	}
	srv.stop(t)
}

// jsonMatch is the part of the CLI's match JSON that the test reads.
type jsonMatch struct {
	ItemID        string            `json:"item_id"`
	Bank          string            `json:"bank"`
	Signal        string            `json:"signal"`
	Distance      int               `json:"distance"`
	Threshold     int               `json:"threshold"`
	Labels        map[string]string `json:"labels"`
	ItemKind      string            `json:"item_kind"`
	Transform     string            `json:"transform"`
	QueryCoverage float64           `json:"query_coverage"`
	ItemCoverage  float64           `json:"item_coverage"`
	Frames        []json.RawMessage `json:"frames"`
	QueryRanges   []json.RawMessage `json:"query_ranges"`
}

// parseMatches reads `match --json` output: one object per file.
func parseMatches(t *testing.T, out string) map[string][]jsonMatch {
	t.Helper()
	got := map[string][]jsonMatch{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var obj struct {
			File    string      `json:"file"`
			Matches []jsonMatch `json:"matches"`
		}
		decodeLine(t, line, &obj)
		if obj.Matches == nil {
			t.Errorf("match --json line %s has no matches array", line)
		}
		got[obj.File] = obj.Matches
	}
	return got
}

func decodeLine(t *testing.T, line string, v any) {
	t.Helper()
	line = strings.TrimSpace(line)
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	if err := json.Unmarshal([]byte(line), v); err != nil {
		t.Fatalf("bad JSON %q: %v", line, err)
	}
}

// server is a running `mediamatch serve` process.
type server struct {
	cmd    *exec.Cmd
	addr   string
	logs   *mmtest.SyncBuffer
	done   chan error
	exited bool // done has been received from
}

func startServer(t *testing.T, bin, data string) *server {
	t.Helper()
	return startServerArgs(t, bin, nil, "--dev", "--data", data, "--listen", "127.0.0.1:0")
}

// waitServing polls gRPC health checking until the server reports SERVING.
func waitServing(t testing.TB, addr string) {
	t.Helper()
	waitServingWith(t, addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// waitServingWith is waitServing over a connection made with opts.
func waitServingWith(t testing.TB, addr string, opts ...grpc.DialOption) {
	t.Helper()
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	hc := healthpb.NewHealthClient(conn)
	for {
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("server at %s not SERVING: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the server with SIGKILL: no graceful shutdown, no index close.
func (s *server) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.done
	s.exited = true
}

// stopWithin ends the server with SIGTERM, and with SIGKILL if it has not
// exited after d; either way is fine.
func (s *server) stopWithin(t testing.TB, d time.Duration) {
	if s.exited {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(d):
		t.Logf("mediamatch serve still running %v after SIGTERM: killed", d)
		s.cmd.Process.Kill()
		<-s.done
	}
	s.exited = true
}

// stop ends the server with SIGTERM and wants a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := <-s.done
	s.exited = true
	if err != nil {
		t.Errorf("mediamatch serve after SIGTERM: %v, want exit 0", err)
	}
	if !strings.Contains(s.logs.String(), "msg=stopped") {
		t.Errorf("server log lacks the graceful stop:\n%s", s.logs.String())
	}
}

type result struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("mediamatch %s: exit %d, stdout %q, stderr %q", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%v, want exit 0", r)
	}
	return r
}

func runCLI(t *testing.T, bin, addr string, stdin io.Reader, args ...string) result {
	t.Helper()
	return runCLIWith(t, bin, addr, stdin, nil, args...)
}

// runCLIWith runs the binary against addr with stdin and extra environment
// variables (env); MEDIAMATCH_TOKEN is cleared unless env sets it.
func runCLIWith(t *testing.T, bin, addr string, stdin io.Reader, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), "MEDIAMATCH_SERVER="+addr, "MEDIAMATCH_TOKEN="), env...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("mediamatch %v: %v", args, err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

func run(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
}

// buildBinary builds this package into dir.
func buildBinary(t testing.TB, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		mmtest.Missing(t, "the go tool: %v", err)
	}
	bin := filepath.Join(dir, "mediamatch")
	run(t, exec.Command(goBin, "build", "-o", bin, "."))
	return bin
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func decodeFile(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func encodeJPEG(t *testing.T, img image.Image, quality int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// halve returns img at half its width and height, each pixel the mean of
// a 2x2 block.
func halve(img image.Image) image.Image {
	r := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, r.Dx()/2, r.Dy()/2))
	for y := 0; y < r.Dy()/2; y++ {
		for x := 0; x < r.Dx()/2; x++ {
			var sr, sg, sb uint32
			for _, d := range [4][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
				cr, cg, cb, _ := img.At(r.Min.X+2*x+d[0], r.Min.Y+2*y+d[1]).RGBA()
				sr, sg, sb = sr+cr, sg+cg, sb+cb
			}
			out.Set(x, y, color.RGBA64{R: uint16(sr / 4), G: uint16(sg / 4), B: uint16(sb / 4), A: 0xffff})
		}
	}
	return out
}
