package fingerprint

// This file confines the ffmpeg child process beyond what ffmpeg's own
// options (ffmpeg.go) ask of it, so that the limits hold even if a demuxer
// or decoder is subverted by the upload: kernel resource limits on the
// child, a network namespace of its own when this process may create
// one, no descriptor of this process but those it is given, and file
// access confined by Landlock where the kernel has it (landlock.go). It
// knows nothing of ffmpeg's command line.

import (
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The limits set on every ffmpeg run, chosen from what the caps in Options
// already allow ffmpeg to need. Figures measured with ffmpeg 5.1 on this
// 2-core machine (prlimit and /proc/<pid>/status over the shared videos,
// 4K H.264 and HEVC, and 49 MP MJPEG and PNG frames in Matroska).
const (
	// ffmpegFiles is RLIMIT_NOFILE. ffmpeg needs stdin, stdout, stderr, the
	// memfd as fd 3 and the descriptor it opens through /dev/fd/3: at most
	// 7 were open at once in the runs above. 16 leaves room for any
	// decoder's own use while a demuxer led to open many files or sockets
	// fails at once.
	ffmpegFiles = 16
	// ffmpegBaseMemory is the address space (RLIMIT_AS) allowed before any
	// frame: ffmpeg maps about 215 shared libraries, a stack per thread and
	// a 64 MiB malloc arena reservation per busy thread. The smallest
	// limit that decoded 720p H.264 was 312 MiB (4K H.264: 404 MiB);
	// 512 MiB leaves room for the arenas of more threads.
	ffmpegBaseMemory = 512 << 20
	// ffmpegBytesPerPixel is the address space allowed per pixel of
	// MaxPixels (the largest frame ffmpeg may decode, -max_pixels): 16
	// frames of 8-bit 4:2:0 at 1.5 bytes a pixel, the largest decoded
	// picture buffer H.264 and HEVC allow (16 frames, and only 5-6 at
	// their largest frame sizes), which also covers the frame threads'
	// and the filter graph's copies. The smallest limits that decoded a
	// 49 MP frame were 556 MiB (MJPEG) and 846 MiB (PNG: RGB, one frame
	// per decoder thread), against the default 512 MiB + 24 x 50 M =
	// 1.6 GiB.
	ffmpegBytesPerPixel = 24
	// ffmpegBusyThreads is how many threads of ffmpeg can be busy at once:
	// the decoder's videoThreads and one more for demuxing, the
	// filter graph (-filter_complex_threads 1) and the PGM encoder. The
	// default CPU limit is VideoTimeout times this: the most CPU time
	// ffmpeg can use before the wall-clock deadline kills it. The deadline
	// normally comes first; the CPU limit is the kernel's backstop when it
	// cannot, for instance for an ffmpeg left spinning, without writing, by
	// a crash of this process.
	ffmpegBusyThreads = videoThreads + 1
)

// procLimits are the resource limits of one ffmpeg run. RLIMIT_CORE and
// RLIMIT_FSIZE are always 0: no core dump of a process that held an
// upload, and no file written at all (ffmpeg's output is its stdout pipe,
// its log its stderr pipe, and pipes are not files to RLIMIT_FSIZE).
type procLimits struct {
	cpu    time.Duration // RLIMIT_CPU, user plus system time of all threads; applied in whole seconds, rounded up
	memory int64         // RLIMIT_AS, bytes
	files  uint64        // RLIMIT_NOFILE
}

// limitsFor returns the limits that opts ask for, with the defaults
// described above for those left at zero.
func limitsFor(opts Options) procLimits {
	l := procLimits{cpu: opts.FFmpegCPU, memory: opts.FFmpegMemory, files: ffmpegFiles}
	if l.cpu <= 0 {
		l.cpu = opts.VideoTimeout * ffmpegBusyThreads
	}
	if l.memory <= 0 {
		l.memory = ffmpegBaseMemory + ffmpegBytesPerPixel*opts.MaxPixels
	}
	return l
}

// cpuSeconds is the CPU limit as RLIMIT_CPU takes it: whole seconds, at
// least 1 (the kernel treats 0 as 1).
func (l procLimits) cpuSeconds() uint64 {
	return uint64(max(1, (l.cpu+time.Second-1)/time.Second))
}

// apply sets the limits on process pid, soft and hard alike: at the CPU
// limit the kernel sends SIGKILL rather than SIGXCPU (which ffmpeg would
// catch, to end "cleanly" with a partial output). The limits of this
// process are not touched. A process that has already exited is not an
// error.
func (l procLimits) apply(pid int) error {
	for _, r := range []struct {
		name     string
		resource int
		value    uint64
	}{
		{"core", unix.RLIMIT_CORE, 0},
		{"fsize", unix.RLIMIT_FSIZE, 0},
		{"nofile", unix.RLIMIT_NOFILE, l.files},
		{"as", unix.RLIMIT_AS, uint64(l.memory)},
		{"cpu", unix.RLIMIT_CPU, l.cpuSeconds()},
	} {
		lim := unix.Rlimit{Cur: r.value, Max: r.value}
		if err := unix.Prlimit(pid, r.resource, &lim, nil); err != nil {
			if errors.Is(err, unix.ESRCH) {
				return nil
			}
			return fmt.Errorf("fingerprint: ffmpeg rlimit %s: %w", r.name, err)
		}
	}
	return nil
}

// errCPULimit is the cause of a run the kernel killed at its CPU limit.
var errCPULimit = errors.New("ffmpeg killed at its CPU-time limit")

// killedAtCPULimit reports whether a process that ended with ws after
// using cpu was killed by the kernel at limit l: SIGKILL (or SIGXCPU) with
// the limit used up. SIGKILL alone would not say it: the deadline's kill
// and the OOM killer send it too (the deadline's kill is told apart
// before this is asked: it leaves a cause). The CPU time that wait reports
// runs short of the kernel's own count, and more so on a loaded machine:
// 975 ms for a shell killed at a 1 s limit on an idle one, 840 to 890 ms
// with the load at five times the cores. Half the limit used up is
// therefore taken as the limit reached; an OOM kill that early is told by
// the memory limit instead (RLIMIT_AS makes allocations fail first).
func killedAtCPULimit(ws syscall.WaitStatus, cpu time.Duration, l procLimits) bool {
	if !ws.Signaled() || (ws.Signal() != syscall.SIGKILL && ws.Signal() != syscall.SIGXCPU) {
		return false
	}
	limit := time.Duration(l.cpuSeconds()) * time.Second
	return cpu >= limit/2
}

// confinement is one way of starting ffmpeg.
type confinement struct {
	// netns starts it in a new network namespace (CLONE_NEWNET): only a
	// loopback interface, and that one down, so that no address at all
	// can be reached, local or remote.
	netns bool
	// gate starts it stopped: traced (PTRACE_TRACEME), it stops on the
	// SIGTRAP of its exec before running a single instruction of the new
	// program, and is let go (PTRACE_DETACH, the SIGTRAP dropped) once its
	// limits are set. Without the gate the limits are set right after
	// Start, and the program runs unlimited until then: long enough for a
	// shell to write a file (TestFFmpegWritesNoFile), while ffmpeg spends
	// that time in the dynamic loader mapping its 215 libraries (30-200 ms
	// before it first opened its input, under strace).
	gate bool
}

// confinements are the ways of starting ffmpeg, from the most confined.
// A sandbox uses the first that the kernel allows.
var confinements = [...]confinement{{netns: true, gate: true}, {gate: true}, {netns: true}, {}}

// sandbox is what a Hasher has learnt about confining ffmpeg: how far its
// first start had to go down confinements. It is safe for concurrent use.
type sandbox struct {
	log  *slog.Logger
	mode atomic.Int32 // 1 + the index in confinements once learnt; 0 before

	landlockOnce sync.Once
	landlockABI  int // the kernel's Landlock ABI version; 0 without Landlock
}

// landlock returns the kernel's Landlock ABI version, 0 if it has none
// (logged once per sandbox: ffmpeg's file access then goes unconfined).
func (s *sandbox) landlock() int {
	s.landlockOnce.Do(func() {
		abi, err := landlockABI()
		if err != nil || abi < 1 {
			s.log.Warn("ffmpeg's file access is not confined: the kernel offers no Landlock",
				slog.Any("err", err))
			return
		}
		s.landlockABI = abi
	})
	return s.landlockABI
}

// confined returns the confinement in use, and false if no ffmpeg has been
// started yet.
func (s *sandbox) confined() (confinement, bool) {
	m := s.mode.Load()
	if m == 0 {
		return confinements[0], false
	}
	return confinements[m-1], true
}

// start starts the command that build returns, confined as tightly as the
// kernel allows, with the limits l set before it runs (with the gate) or
// right after it starts (without).
//
// On the sandbox's first start, a refusal from the kernel (no
// CAP_SYS_ADMIN for the namespace, ptrace forbidden by a seccomp filter or
// Yama, a tracer already attached: EPERM, or EINVAL, ENOSYS, ENOSPC for no
// namespaces) sends it down confinements; what starts is kept for the
// life of the sandbox, and what was given up is logged once. ffmpeg's
// -protocol_whitelist still keeps it off the network without the
// namespace. Later starts never go further down. build is called once per
// attempt, since a Cmd cannot be started twice; it must return a command
// with SysProcAttr set, or an error that start returns.
//
// If the limits cannot be set, the process group is killed and start
// fails: ffmpeg never runs without them.
func (s *sandbox) start(build func() (*exec.Cmd, error), l procLimits) (*exec.Cmd, error) {
	c, learnt := s.confined()
	if learnt {
		cmd, err := build()
		if err != nil {
			return nil, err
		}
		return s.startOne(cmd, c, l)
	}
	var refused error
	for i, c := range confinements {
		cmd, err := build()
		if err != nil {
			return nil, err
		}
		cmd, err = s.startOne(cmd, c, l)
		if err == nil {
			if s.mode.CompareAndSwap(0, int32(i+1)) && i > 0 {
				s.log.Warn("ffmpeg is less confined than it could be: the kernel refused the rest",
					slog.Bool("network_namespace", c.netns),
					slog.Bool("limits_before_exec", c.gate),
					slog.Any("err", refused))
			}
			return cmd, nil
		}
		if !namespaceDenied(err) {
			return nil, err
		}
		if refused == nil {
			refused = err
		}
	}
	return nil, refused
}

// startOne starts cmd under c with the limits l (startConfined), with no
// descriptor of this process but those cmd names (closeOnExec), and,
// where the kernel has Landlock, from a thread of its own restricted to
// reading and executing what ffmpeg needs (landlock.go).
func (s *sandbox) startOne(cmd *exec.Cmd, c confinement, l procLimits) (*exec.Cmd, error) {
	if err := closeOnExec(); err != nil {
		return nil, fmt.Errorf("fingerprint: ffmpeg's descriptors: %w", err)
	}
	abi := s.landlock()
	if abi == 0 {
		return startConfined(cmd, c, l)
	}
	ruleset, err := landlockRuleset(abi, binDir(cmd.Path))
	if err != nil {
		return nil, fmt.Errorf("fingerprint: ffmpeg's file sandbox: %w", err)
	}
	defer unix.Close(ruleset)
	var started *exec.Cmd
	onDisposableThread(func() {
		if err = landlockThread(ruleset); err != nil {
			err = fmt.Errorf("fingerprint: ffmpeg's file sandbox: %w", err)
			return
		}
		started, err = startConfined(cmd, c, l)
	})
	return started, err
}

// FileAccessConfined reports whether ffmpeg's file access is confined by
// Landlock: whether the kernel offers it. Safe for concurrent use.
func (h *Hasher) FileAccessConfined() bool { return h.sandbox.landlock() > 0 }

// startConfined starts cmd under c and sets the limits l on it.
func startConfined(cmd *exec.Cmd, c confinement, l procLimits) (*exec.Cmd, error) {
	if c.netns {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWNET
	}
	if c.gate {
		// The tracer is the thread that forks; it alone may detach.
		cmd.SysProcAttr.Ptrace = true
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pid := cmd.Process.Pid
	fail := func(err error) (*exec.Cmd, error) {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return nil, err
	}
	if c.gate {
		// Wait for the exec's stop without consuming anything (WNOWAIT):
		// if the process died instead (killed by a cancel), cmd.Wait
		// reaps it.
		var info unix.Siginfo
		var err error = unix.EINTR
		for errors.Is(err, unix.EINTR) {
			err = unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WSTOPPED|unix.WNOWAIT, nil)
		}
		if err != nil {
			return fail(fmt.Errorf("fingerprint: wait for ffmpeg's exec: %w", err))
		}
		if info.Code != cldTrapped {
			return cmd, nil
		}
	}
	if err := l.apply(pid); err != nil {
		return fail(err)
	}
	if c.gate {
		if err := unix.PtraceDetach(pid); err != nil {
			return fail(fmt.Errorf("fingerprint: release ffmpeg: %w", err))
		}
	}
	return cmd, nil
}

// cldTrapped is siginfo's si_code for a traced child that stopped
// (CLD_TRAPPED in <signal.h>).
const cldTrapped = 4

// namespaceDenied reports whether Start failed because the kernel refused
// a confinement: EPERM (no privilege for the namespace, or ptrace
// forbidden by a seccomp filter, by Yama, or by a tracer already
// attached), EINVAL or ENOSYS (no namespace support), ENOSPC
// (user.max_net_namespaces reached, 0 when an administrator disabled
// them). Not EACCES nor ENOENT: those say ffmpeg cannot be executed at
// all, which no lesser confinement would change.
func namespaceDenied(err error) bool {
	for _, e := range []error{unix.EPERM, unix.EINVAL, unix.ENOSYS, unix.ENOSPC} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// NetworkIsolated reports whether ffmpeg runs in a network namespace of
// its own. It is known once a first ffmpeg has been started; before that,
// NetworkIsolated finds out by starting `ffmpeg -version` the same way,
// and reports false if even that fails (no ffmpeg). Safe for concurrent
// use.
func (h *Hasher) NetworkIsolated() bool {
	if c, learnt := h.sandbox.confined(); learnt {
		return c.netns
	}
	cmd, err := h.sandbox.start(func() (*exec.Cmd, error) {
		cmd := exec.Command(h.opts.FFmpeg, "-version")
		cmd.Env = []string{}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		return cmd, nil
	}, limitsFor(h.opts))
	if err != nil {
		return false
	}
	_ = cmd.Wait()
	c, _ := h.sandbox.confined()
	return c.netns
}
