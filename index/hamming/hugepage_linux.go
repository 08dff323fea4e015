package hamming

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the size of an x86-64 (and arm64 4K-granule) transparent
// huge page.
const hugePage = 2 << 20

// backHuge asks the kernel to back the whole 2 MiB pages inside s with
// transparent huge pages at once (MADV_COLLAPSE, Linux 6.1 and later), for
// arrays that searches read at random. A search of 10 million 64-bit
// hashes at radius 10 reads some 7,000 cache lines at random spread over
// 200 MB: with 4 KiB pages nearly every one is also a TLB miss, and under
// a hypervisor a page walk is itself several memory reads. Huge pages
// take most of those walks away (10% off such a search here, a quarter
// off a dependent read). The Go runtime does not ask for huge pages, and
// where the system leaves them to madvise (the common default) the heap
// never gets them unasked.
//
// It is best effort: an older kernel, a system with huge pages disabled,
// or no free 2 MiB block leaves the pages as they are, which changes only
// speed. The memory stays the Go heap's: it is freed as any other, and
// counted in the heap. Collapsing takes about 2 ms a MiB, once per
// (immutable) array, so only arrays of at least minHuge are asked.
func backHuge[T any](s []T) {
	var zero T
	size := uintptr(len(s)) * unsafe.Sizeof(zero)
	if size < minHuge {
		return
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	start := (p + hugePage - 1) &^ (hugePage - 1)
	end := (p + size) &^ (hugePage - 1)
	if end > start {
		// The pointer is to the Go heap, which does not move; s is kept
		// alive until the call returns.
		unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_COLLAPSE)
	}
	runtime.KeepAlive(s)
}

// minHuge is the smallest array backHuge collapses: smaller ones are
// cheap to keep in cache, or not worth the collapse.
const minHuge = 4 << 20
