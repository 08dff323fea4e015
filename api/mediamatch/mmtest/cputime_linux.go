//go:build linux

package mmtest

import (
	"syscall"
	"time"
	"unsafe"
)

// clockThreadCPUTimeID is Linux's CLOCK_THREAD_CPUTIME_ID.
const clockThreadCPUTimeID = 3

// ThreadCPU returns the CPU time the calling thread has used so far, or 0
// if it cannot be read. Benchmarks that lock their goroutine to its
// thread (runtime.LockOSThread) read it around a step to time the step's
// CPU, which a loaded machine does not stretch as it does wall time. It
// reads CLOCK_THREAD_CPUTIME_ID, exact to the nanosecond, where
// getrusage(RUSAGE_THREAD) counts the thread's time as the scheduler last
// booked it (at its ticks, 4 ms apart), so that a 2 ms step could read 0.
func ThreadCPU() time.Duration {
	var ts syscall.Timespec
	if _, _, e := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}
