package pdq

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
)

var allVideos = flag.Bool("pdq.allvideos", false, "TestVPDQ: compare every video under pdq-reference/vpdq, not a quick subset")

// vpdqFrame is one line of vPDQ's text format: frame,quality,pdqhex,timestamp.
type vpdqFrame struct {
	frame     int
	quality   int
	hash      Hash
	timestamp string // seconds, 3 decimals, as written
}

func readVPDQ(t *testing.T, path string) []vpdqFrame {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []vpdqFrame
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Split(line, ",")
		if len(f) != 4 {
			t.Fatalf("%s:%d: %q: want frame,quality,pdqhex,timestamp", path, i+1, line)
		}
		out = append(out, vpdqFrame{mustAtoi(t, f[0]), mustAtoi(t, f[1]), mustParse(t, f[2]), f[3]})
	}
	return out
}

// probe returns a video's size and average frame rate.
func probe(t *testing.T, path string) (w, h int, fps float64) {
	t.Helper()
	out, err := exec.Command(mmtest.FFprobe(t), "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=width,height,avg_frame_rate", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var num, den float64
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "%d,%d,%g/%g", &w, &h, &num, &den); err != nil || den == 0 {
		t.Fatalf("ffprobe %s: %q: %v", path, out, err)
	}
	return w, h, num / den
}

// TestVPDQ hashes video frames the way vpdq-hash-video samples them (every
// int(frame rate)-th decoded frame, converted to RGB at full size; here by
// the ffmpeg binary) with FromFrame, and compares them with the reference's
// per-frame hashes under pdq-reference/vpdq.
func TestVPDQ(t *testing.T) {
	refs, _ := filepath.Glob(filepath.Join(refDir(t), "vpdq", "*", "*.txt"))
	if len(refs) == 0 {
		mmtest.Missing(t, "vPDQ references under %s", filepath.Join(refDir(t), "vpdq"))
	}
	ffmpeg := mmtest.FFmpeg(t)
	mmtest.FFprobe(t)
	if !*allVideos {
		// The small clips and the one with low-quality frames; the other
		// chair clips take most of the decoding time.
		refs = slices.DeleteFunc(refs, func(r string) bool {
			return strings.Contains(r, "chair-") && !strings.Contains(r, "chair-19-")
		})
	}
	if testing.Short() {
		refs = refs[:1]
	}
	var dists []int
	for _, ref := range refs {
		rel := strings.TrimSuffix(strings.TrimPrefix(ref, filepath.Join(refDir(t), "vpdq")+string(filepath.Separator)), ".txt")
		video := filepath.Join(mediaDir(t), "videos", rel)
		if _, err := os.Stat(video); err != nil {
			mmtest.Missing(t, "the video of vPDQ reference %s: %v", rel, err)
		}
		want := readVPDQ(t, ref)
		w, h, fps := probe(t, video)
		step := int(fps)
		cmd := exec.Command(ffmpeg, "-v", "error", "-i", video,
			"-vf", fmt.Sprintf(`select=not(mod(n\,%d))`, step), "-fps_mode", "passthrough",
			"-f", "rawvideo", "-pix_fmt", "rgb24", "-")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReaderSize(stdout, 1<<20)
		rgb := make([]byte, 3*w*h)
		var got []vpdqFrame
		for k := 0; ; k++ {
			if _, err := io.ReadFull(r, rgb); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: frame %d: %v", rel, k, err)
			}
			img := image.NewNRGBA(image.Rect(0, 0, w, h))
			for i := range w * h {
				copy(img.Pix[4*i:4*i+3], rgb[3*i:])
				img.Pix[4*i+3] = 0xff
			}
			d, err := FromFrame(img)
			if err != nil {
				t.Fatalf("%s: frame %d: %v", rel, k, err)
			}
			n := k * step
			got = append(got, vpdqFrame{n, d.Quality(), d.Hash(), strconv.FormatFloat(float64(n)/fps, 'f', 3, 64)})
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%s: ffmpeg: %v", rel, err)
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d frames, reference %d", rel, len(got), len(want))
		}
		var vd []int
		for i := range min(len(got), len(want)) {
			g, wf := got[i], want[i]
			if g.frame != wf.frame || g.timestamp != wf.timestamp {
				t.Errorf("%s: line %d: frame %d at %s, reference frame %d at %s", rel, i+1, g.frame, g.timestamp, wf.frame, wf.timestamp)
			}
			if absInt(g.quality-wf.quality) > 10 {
				t.Errorf("%s: frame %d: quality %d, reference %d", rel, wf.frame, g.quality, wf.quality)
			}
			if wf.quality < minQuality {
				continue
			}
			dist := Distance(g.hash, wf.hash)
			vd = append(vd, dist)
			if dist > 16 {
				t.Errorf("%s: frame %d: Distance(ours, reference) = %d, want <= 16", rel, wf.frame, dist)
			}
		}
		if len(vd) > 0 {
			s := slices.Sorted(slices.Values(vd))
			t.Logf("%s: %d frames, %d with quality >= %d: median %d, max %d bits", rel, len(got), len(vd), minQuality, quantile(s, 0.5), s[len(s)-1])
		}
		dists = append(dists, vd...)
	}
	if len(dists) > 0 {
		slices.Sort(dists)
		t.Logf("all videos: %d frames with quality >= %d: median %d, p95 %d, max %d bits",
			len(dists), minQuality, quantile(dists, 0.5), quantile(dists, 0.95), dists[len(dists)-1])
		if m, p := quantile(dists, 0.5), quantile(dists, 0.95); m > 2 || p > 8 {
			t.Errorf("median %d, p95 %d; want <= 2 and <= 8", m, p)
		}
	}
}
