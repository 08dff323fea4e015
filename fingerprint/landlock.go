package fingerprint

// This file confines ffmpeg's file access with Landlock (Linux 5.13 and
// later), and keeps it from inheriting this process's descriptors.
//
// Landlock restricts the thread that asks and everything it starts later,
// and Go runs no code of ours between fork and exec. So ffmpeg is started
// from a thread of its own (onDisposableThread): locked to its goroutine,
// restricted, then used to fork and exec ffmpeg, and thrown away (a
// goroutine that ends locked takes its thread with it), so that no other
// goroutine ever runs restricted. The Go runtime never starts threads from
// a locked one (it uses its template thread), so the restriction spreads
// no further.
//
// What ffmpeg may do under the ruleset: read and execute under the system
// directories its binary and shared libraries come from (/usr, /lib,
// /lib64, /lib32, /bin, /sbin, /opt when present) and the directory of the
// binary itself, read /etc/ld.so.cache and /dev/null; nothing else on any
// file system, and no file or directory may be created, written, removed,
// renamed or truncated anywhere. The upload reaches it as fd 3 (a memfd,
// re-opened through /dev/fd/3: an anonymous file, which Landlock does not
// restrict). Where the kernel has them, also no TCP at all (Landlock ABI
// 4) and no signal to, nor abstract unix socket of, any process outside
// (ABI 6).

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// landlockReadable are the directories and files ffmpeg may read (and, the
// directories, execute from), besides its binary's directory; those that
// do not exist are skipped.
var landlockReadable = []string{"/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/opt",
	"/etc/ld.so.cache", "/dev/null"}

// landlockABI returns the kernel's Landlock ABI version, or 0 and the
// reason when it has none (ENOSYS: not built; EOPNOTSUPP: disabled at
// boot).
func landlockABI() (int, error) {
	v, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if e != 0 {
		return 0, e
	}
	return int(v), nil
}

// landlockFSRights returns the file-system rights that ABI version abi
// knows, all handled (denied unless a rule grants them).
func landlockFSRights(abi int) uint64 {
	r := uint64(unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE |
		unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR |
		unix.LANDLOCK_ACCESS_FS_REMOVE_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_FILE |
		unix.LANDLOCK_ACCESS_FS_MAKE_CHAR | unix.LANDLOCK_ACCESS_FS_MAKE_DIR |
		unix.LANDLOCK_ACCESS_FS_MAKE_REG | unix.LANDLOCK_ACCESS_FS_MAKE_SOCK |
		unix.LANDLOCK_ACCESS_FS_MAKE_FIFO | unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK |
		unix.LANDLOCK_ACCESS_FS_MAKE_SYM)
	if abi >= 2 {
		r |= unix.LANDLOCK_ACCESS_FS_REFER
	}
	if abi >= 3 {
		r |= unix.LANDLOCK_ACCESS_FS_TRUNCATE
	}
	if abi >= 5 {
		r |= unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	}
	return r
}

// landlockRuleset returns a new ruleset (a descriptor, close-on-exec) for
// ABI version abi that lets a process read and execute only what
// landlockReadable and binDir hold.
func landlockRuleset(abi int, binDir string) (int, error) {
	attr := unix.LandlockRulesetAttr{Handled_access_fs: landlockFSRights(abi)}
	size := unsafe.Sizeof(attr.Handled_access_fs)
	if abi >= 4 {
		attr.Handled_access_net = unix.LANDLOCK_ACCESS_NET_BIND_TCP | unix.LANDLOCK_ACCESS_NET_CONNECT_TCP
		size += unsafe.Sizeof(attr.Handled_access_net)
	}
	if abi >= 6 {
		attr.Scoped = unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | unix.LANDLOCK_SCOPE_SIGNAL
		size += unsafe.Sizeof(attr.Scoped)
	}
	fd, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), size, 0)
	if e != 0 {
		return -1, fmt.Errorf("landlock_create_ruleset: %w", e)
	}
	const (
		fileRead = unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_EXECUTE
		dirRead  = fileRead | unix.LANDLOCK_ACCESS_FS_READ_DIR
	)
	for _, p := range append(landlockReadable, binDir) {
		pfd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			continue
		}
		if err != nil {
			unix.Close(int(fd))
			return -1, fmt.Errorf("landlock rule for %s: %w", p, err)
		}
		var st unix.Stat_t
		err = unix.Fstat(pfd, &st)
		rule := unix.LandlockPathBeneathAttr{Allowed_access: dirRead, Parent_fd: int32(pfd)}
		if err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			rule.Allowed_access = fileRead
			if p == "/dev/null" {
				rule.Allowed_access = unix.LANDLOCK_ACCESS_FS_READ_FILE
			}
		}
		if err == nil {
			_, _, e = unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, fd, unix.LANDLOCK_RULE_PATH_BENEATH,
				uintptr(unsafe.Pointer(&rule)), 0, 0, 0)
			if e != 0 {
				err = fmt.Errorf("landlock_add_rule %s: %w", p, e)
			}
		}
		unix.Close(pfd)
		if err != nil {
			unix.Close(int(fd))
			return -1, err
		}
	}
	return int(fd), nil
}

// landlockThread restricts the calling thread, which must be locked to its
// goroutine and never unlocked, by ruleset fd: no new privileges (which
// Landlock requires of an unprivileged caller, and ffmpeg never needs),
// then the ruleset.
func landlockThread(fd int) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(fd), 0, 0); e != 0 {
		return fmt.Errorf("landlock_restrict_self: %w", e)
	}
	return nil
}

// onDisposableThread runs f on a new thread of its own, which ends with f:
// whatever f does to its thread (a Landlock restriction) dies with it.
func onDisposableThread(f func()) {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		defer close(done)
		f()
	}()
	<-done
}

// closeOnExec marks every descriptor of this process from 3 up
// close-on-exec, so that a child started afterwards gets only what it is
// given (os/exec's Stdin, Stdout, Stderr and ExtraFiles, which the child
// side re-numbers from 0 without the flag). Go opens every descriptor
// close-on-exec; this catches those it did not open: inherited from this
// process's parent, or opened by C code. Only the children started later
// see the difference; this process's own use of its descriptors is
// unchanged. A descriptor opened without the flag by another thread
// between this call and the fork can still leak.
func closeOnExec() error {
	err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("close_range: %w", err)
	}
	// Before Linux 5.11: one by one.
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list descriptors: %w", err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 {
			continue
		}
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
			unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags|unix.FD_CLOEXEC)
		}
	}
	return nil
}

// binDir returns the directory of the executable path, symlinks resolved.
func binDir(path string) string {
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	return filepath.Dir(path)
}
