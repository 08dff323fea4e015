package fingerprint

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/api/mediamatch/mmtest"
)

// ffmpegChild returns the pid of the live child process of the test named
// ffmpeg, or 0.
func ffmpegChild() int {
	me := os.Getpid()
	for _, pid := range liveProcesses(func(_, ppid, _ int) bool { return ppid == me }) {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(b)) == "ffmpeg" {
			return pid
		}
	}
	return 0
}

// procLimits parses /proc/<pid>/limits ("self" for this process) into
// "Max cpu time" -> "360 360".
func readProcLimits(t *testing.T, pid string) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/limits")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		if len(line) < 26 {
			continue
		}
		// Fixed columns: name (25), soft (21), hard (21), units.
		f := strings.Fields(line[25:])
		if len(f) >= 2 {
			m[strings.TrimSpace(line[:25])] = f[0] + " " + f[1]
		}
	}
	return m
}

// hasCapSysAdmin reports whether this process has CAP_SYS_ADMIN in its
// effective set, which creating a network namespace needs.
func hasCapSysAdmin() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<21) != 0 // CAP_SYS_ADMIN
		}
	}
	return false
}

// TestFFmpegConfined reads, while the real ffmpeg runs, its resource
// limits and network namespace from /proc, and checks that this process's
// own limits did not change.
func TestFFmpegConfined(t *testing.T) {
	if _, err := os.Stat("/proc/self/limits"); err != nil {
		t.Skip("no /proc")
	}
	// 320x240 grey frames are 77 kB: after the first, the other four do
	// not fit in the pipe, so ffmpeg is alive, blocked on its stdout,
	// while onFrame looks at it.
	data := makeVideo(t, "c.mp4", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=5:d=5", "-c:v", "libx264", "-preset", "ultrafast")
	ourLimits := readProcLimits(t, "self")
	ourNet, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name string
		mode int32 // the sandbox's state before the run: 0, or 1 + an index in confinements
	}{
		{"as confined as permitted", 0},
		{"no namespace", 2},       // the fallbacks: the limits all the same
		{"limits after start", 3}, // (no ptrace gate)
		{"neither namespace nor gate", 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := New(Options{})
			h.sandbox.mode.Store(tt.mode)
			job := h.job(decodeFast, 0)
			var limits map[string]string
			var net string
			onFrame := func(*image.Gray) error {
				if limits != nil {
					return nil
				}
				pid := ffmpegChild()
				if pid == 0 {
					return errors.New("no ffmpeg child found")
				}
				limits = readProcLimits(t, strconv.Itoa(pid))
				net, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
				return nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
			defer cancel()
			res, err := runFFmpeg(ctx, job, testDeadline, data, nil, onFrame)
			if err != nil || res.cause != nil || res.exit != nil || res.frames != 5 {
				t.Fatalf("runFFmpeg = %d frames, cause %v, exit %v, %v; want 5 frames", res.frames, res.cause, res.exit, err)
			}
			want := map[string]string{
				"Max cpu time":       fmt.Sprintf("%d %[1]d", job.limits.cpuSeconds()),
				"Max address space":  fmt.Sprintf("%d %[1]d", job.limits.memory),
				"Max open files":     fmt.Sprintf("%d %[1]d", ffmpegFiles),
				"Max core file size": "0 0",
				"Max file size":      "0 0",
			}
			for k, v := range want {
				if limits[k] != v {
					t.Errorf("ffmpeg's %q = %q, want %q", k, limits[k], v)
				}
			}
			t.Logf("ffmpeg's limits: cpu %s s, address space %s, files %s", limits["Max cpu time"],
				limits["Max address space"], limits["Max open files"])

			c, _ := h.sandbox.confined()
			isolated := h.NetworkIsolated()
			if isolated != c.netns {
				t.Errorf("NetworkIsolated = %v, confinement %+v", isolated, c)
			}
			if isolated != (net != ourNet) || net == "" {
				t.Errorf("NetworkIsolated = %v, but ffmpeg's network namespace is %q, ours %q", isolated, net, ourNet)
			}
			if tt.mode == 0 && !isolated && hasCapSysAdmin() {
				t.Errorf("NetworkIsolated = false with CAP_SYS_ADMIN (uid %d)", os.Geteuid())
			}
			t.Logf("confinement %+v: ffmpeg in %s, the test in %s", c, net, ourNet)
		})
	}
	if got := readProcLimits(t, "self"); fmt.Sprint(got) != fmt.Sprint(ourLimits) {
		t.Errorf("the test process's own limits changed:\n%v\nwant\n%v", got, ourLimits)
	}
}

// fakeFFmpeg writes an executable shell script named ffmpeg with body.
func fakeFFmpeg(t *testing.T, body string) string {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	script := filepath.Join(t.TempDir(), "ffmpeg")
	if err := os.WriteFile(script, []byte("#!"+sh+"\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

// TestFFmpegCPULimit checks that the kernel kills an ffmpeg that uses up
// its CPU limit, and that the video fails with a clear ErrTooLarge rather
// than being hashed from what came out before.
func TestFFmpegCPULimit(t *testing.T) {
	check := func(t *testing.T, h *Hasher, data []byte, mode decodeMode) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		defer cancel()
		start := time.Now()
		_, err := h.sampleVideo(ctx, data, mode, 0, HashOptions{NoFeatures: true})
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "CPU") {
			t.Fatalf("sampleVideo = %v, want ErrTooLarge for the CPU limit", err)
		}
		t.Logf("after %v: %v", time.Since(start).Round(time.Millisecond), err)
	}
	t.Run("spinning fake", func(t *testing.T) {
		script := fakeFFmpeg(t, "while :; do :; done")
		check(t, New(Options{FFmpeg: script, FFmpegCPU: time.Second}), []byte("never read"), decodeFast)
	})
	t.Run("real video", func(t *testing.T) {
		mmtest.FFmpeg(t)
		// The most expensive shared clip, decoded in full and sampled 30
		// times a second (each sample converted and written as PGM), took
		// ffmpeg 2.5 CPU-s here. The frames are discarded unhashed, so
		// that this process does not hold ffmpeg back.
		// On a machine fast enough to decode it within the limit, the
		// clip is looped (stream copy, cheap) 4 times longer and decoded
		// again, until the limit is reached.
		data := readMedia(t, "videos/tmk/chair-orig-22-sd-bar.mp4")
		h := New(Options{FFmpegCPU: time.Second, FrameRate: 30})
		job := h.job(decodeExact, 0)
		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		defer cancel()
		var res ffmpegResult
		for loops := 1; ; loops *= 4 {
			var err error
			res, err = runFFmpeg(ctx, job, testDeadline, data, nil, func(*image.Gray) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			if res.cause != nil || res.exit != nil || res.cpu >= time.Second {
				break
			}
			if loops >= 64 {
				t.Fatalf("ffmpeg decoded the clip looped %d times in %v of CPU, under the 1 s limit", loops, res.cpu)
			}
			t.Logf("the clip looped %d times took %v of CPU, under the 1 s limit: looping it 4 times more", loops, res.cpu)
			data = loopVideo(t, data, 4)
		}
		err := videoError(ctx, res, job, testDeadline)
		if !errors.Is(err, ErrTooLarge) || !errors.Is(res.cause, errCPULimit) {
			t.Fatalf("after %d frames and %v of CPU: %v (exit %v), want ErrTooLarge for the CPU limit", res.frames, res.cpu, err, res.exit)
		}
		t.Logf("after %d frames and %v of CPU: %v", res.frames, res.cpu, err)
	})
}

// TestFFmpegWritesNoFile checks RLIMIT_FSIZE 0 on fake ffmpegs that try
// to write a file. With the gate (limits set before its first
// instruction) a fake that writes at once is killed by SIGXFSZ before any
// byte lands. Without the gate such a fake can win the race with prlimit,
// so the fake first waits (spinning in shell builtins, bounded by the
// test's deadline) until ulimit shows its file size limit, then writes: that must fail either way.
func TestFFmpegWritesNoFile(t *testing.T) {
	h0 := New(Options{})
	c, _ := h0.sandbox.confined()
	cases := []struct {
		name, wait string
	}{
		{"after its limits are set", `until [ "$(ulimit -f)" != unlimited ]; do :; done; `},
	}
	if c.gate {
		cases = append(cases, struct{ name, wait string }{"at its first instruction", ""})
	} else {
		t.Logf("no gate (%+v): only the fake that waits for its limits is run", c)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "written")
			script := fakeFFmpeg(t, tc.wait+"echo leaked > "+out)
			ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
			defer cancel()
			h := New(Options{FFmpeg: script})
			_, err := h.hashVideo(ctx, []byte("never read"), HashOptions{})
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
				t.Errorf("hashVideo = %v, want ErrCorrupt or ErrUnsupported", err)
			}
			t.Logf("%v", err)
			if b, err := os.ReadFile(out); len(b) > 0 {
				t.Errorf("the fake wrote %q to %s", b, out)
			} else if !errors.Is(err, os.ErrNotExist) && err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestFFmpegMemoryLimit checks that an ffmpeg that runs out of its address
// space fails the video with ErrTooLarge. Each 16 MP RGB48 PNG frame is
// 100 MB decoded: measured, ffmpeg needed at least 648 MiB for the two, and
// with 512 MiB it failed to allocate the second frame's buffer and, left
// to itself, exited 0 having delivered only the first.
func TestFFmpegMemoryLimit(t *testing.T) {
	start := time.Now()
	data := makeVideo(t, "big.mkv", "-f", "lavfi", "-i", "color=c=gray:s=4096x4096:r=1:d=2",
		"-c:v", "png", "-pix_fmt", "rgb48be")
	t.Logf("made in %v", time.Since(start))
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	h := New(Options{FFmpegMemory: 512 << 20})
	job := h.job(decodeFast, 0)
	// Frames discarded unhashed: ffmpeg is what is measured.
	res, err := runFFmpeg(ctx, job, testDeadline, data, nil, func(*image.Gray) error { return nil })
	if err == nil {
		err = videoError(ctx, res, job, testDeadline)
	}
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "memory") {
		t.Errorf("%d frames, %v; want ErrTooLarge for memory", res.frames, err)
	}
	t.Logf("%d frames, %v", res.frames, err)
}

// TestLimitsFor checks the limits derived from Options.
func TestLimitsFor(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want procLimits
	}{
		{"defaults", Options{}, procLimits{cpu: 6 * time.Minute, memory: 512<<20 + 24*50_000_000, files: 16}},
		{"from the caps", Options{VideoTimeout: 10 * time.Second, MaxPixels: 1 << 20},
			procLimits{cpu: 30 * time.Second, memory: 512<<20 + 24<<20, files: 16}},
		{"set", Options{FFmpegCPU: 1500 * time.Millisecond, FFmpegMemory: 1 << 30},
			procLimits{cpu: 1500 * time.Millisecond, memory: 1 << 30, files: 16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := limitsFor(tt.opts.withDefaults()); got != tt.want {
				t.Errorf("limitsFor = %+v, want %+v", got, tt.want)
			}
		})
	}
	if got := (procLimits{cpu: 1500 * time.Millisecond}).cpuSeconds(); got != 2 {
		t.Errorf("cpuSeconds(1.5s) = %d, want 2", got)
	}
	if got := (procLimits{cpu: time.Millisecond}).cpuSeconds(); got != 1 {
		t.Errorf("cpuSeconds(1ms) = %d, want 1", got)
	}
}

// loopVideo returns the MP4 video data played n times over, remuxed by
// ffmpeg without re-encoding.
func loopVideo(t *testing.T, data []byte, n int) []byte {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.mp4"), filepath.Join(dir, "out.mp4")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(mmtest.FFmpeg(t), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
		"-stream_loop", strconv.Itoa(n-1), "-i", in, "-c", "copy", "-an", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("looping the clip: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
