//go:build amd64 || arm64

package hamming

// prefetch asks the CPU to start loading the cache lines at addrs, and
// returns at once: a prefetch, unlike a load, does not hold up the
// instructions after it until its line arrives, so a search can fetch
// the next buckets from memory while it compares the current ones (see
// inlineSeg.probe). An address may be anything: a prefetch never faults.
//
// Go has no prefetch intrinsic for user code, hence the assembly: one
// call per batch of addresses, not per line.
//
//go:noescape
func prefetch(addrs []uintptr)
