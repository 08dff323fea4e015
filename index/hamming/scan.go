package hamming

import (
	"math/bits"
	"runtime"
	"sync"
)

// The scan kernels compare a query with every hash of a packed array (words
// uint64s per entry, as in searcher) and append the positions of the hashes
// within radius to out, offset by base. They never call back, so the hot
// loops stay free of indirect calls, and a caller can split one array
// across goroutines.

// scanHits dispatches to the kernel for the word count.
func scanHits(words int, h, q []uint64, radius int, base uint32, out []uint32) []uint32 {
	switch words {
	case 1:
		return scan1(h, q[0], radius, base, out)
	case 4:
		return scan4(h, q, radius, base, out)
	}
	for i := 0; i*words < len(h); i++ {
		d := 0
		for j, w := range h[i*words : (i+1)*words] {
			d += bits.OnesCount64(w ^ q[j])
		}
		if d <= radius {
			out = append(out, base+uint32(i))
		}
	}
	return out
}

// scan1 is the 64-bit kernel, unrolled by eight. d-radius-1 is negative
// exactly when d <= radius, so the OR of eight of them is negative exactly
// when one of the eight hashes matches: one well-predicted branch per eight
// hashes.
func scan1(h []uint64, q uint64, radius int, base uint32, out []uint32) []uint32 {
	lim := radius + 1
	i := 0
	for ; i+8 <= len(h); i += 8 {
		x := (*[8]uint64)(h[i : i+8])
		neg := (bits.OnesCount64(x[0]^q) - lim) | (bits.OnesCount64(x[1]^q) - lim) |
			(bits.OnesCount64(x[2]^q) - lim) | (bits.OnesCount64(x[3]^q) - lim) |
			(bits.OnesCount64(x[4]^q) - lim) | (bits.OnesCount64(x[5]^q) - lim) |
			(bits.OnesCount64(x[6]^q) - lim) | (bits.OnesCount64(x[7]^q) - lim)
		if neg >= 0 {
			continue
		}
		for j, w := range x {
			if bits.OnesCount64(w^q) <= radius {
				out = append(out, base+uint32(i+j))
			}
		}
	}
	for ; i < len(h); i++ {
		if bits.OnesCount64(h[i]^q) <= radius {
			out = append(out, base+uint32(i))
		}
	}
	return out
}

// scan4 is the 256-bit kernel, two hashes per round. Unrelated hashes
// differ in about half their bits, so the first two words of both are
// usually beyond the radius already: the last two words are only read
// when they could matter.
func scan4(h, q []uint64, radius int, base uint32, out []uint32) []uint32 {
	q0, q1, q2, q3 := q[0], q[1], q[2], q[3]
	lim := radius + 1
	i := 0
	for ; i+8 <= len(h); i += 8 {
		x := (*[8]uint64)(h[i : i+8])
		a := bits.OnesCount64(x[0]^q0) + bits.OnesCount64(x[1]^q1)
		b := bits.OnesCount64(x[4]^q0) + bits.OnesCount64(x[5]^q1)
		if (a-lim)|(b-lim) >= 0 {
			continue
		}
		if a+bits.OnesCount64(x[2]^q2)+bits.OnesCount64(x[3]^q3) <= radius {
			out = append(out, base+uint32(i/4))
		}
		if b+bits.OnesCount64(x[6]^q2)+bits.OnesCount64(x[7]^q3) <= radius {
			out = append(out, base+uint32(i/4+1))
		}
	}
	if i+4 <= len(h) {
		d := bits.OnesCount64(h[i]^q0) + bits.OnesCount64(h[i+1]^q1) +
			bits.OnesCount64(h[i+2]^q2) + bits.OnesCount64(h[i+3]^q3)
		if d <= radius {
			out = append(out, base+uint32(i/4))
		}
	}
	return out
}

// parallelScanMin is the smallest array, in entries, that a scan splits
// across goroutines: below it, starting them costs more than they save.
const parallelScanMin = 1 << 17

// scanParallel is scanHits over n entries split into one contiguous chunk
// per available CPU. Results come back in position order. bufs supplies
// one output buffer per chunk (grown and returned for reuse).
func scanParallel(words, n int, h, q []uint64, radius int, bufs [][]uint32) ([]uint32, [][]uint32) {
	parts := min(runtime.GOMAXPROCS(0), n/(parallelScanMin/2))
	if parts <= 1 {
		if len(bufs) == 0 {
			bufs = append(bufs, nil)
		}
		bufs[0] = scanHits(words, h, q, radius, 0, bufs[0][:0])
		return bufs[0], bufs
	}
	for len(bufs) < parts {
		bufs = append(bufs, nil)
	}
	chunk := (n + parts - 1) / parts
	var wg sync.WaitGroup
	for p := 1; p < parts; p++ {
		lo, hi := p*chunk, min((p+1)*chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			bufs[p] = scanHits(words, h[lo*words:hi*words], q, radius, uint32(lo), bufs[p][:0])
		}()
	}
	bufs[0] = scanHits(words, h[:chunk*words], q, radius, 0, bufs[0][:0])
	wg.Wait()
	for p := 1; p < parts; p++ {
		bufs[0] = append(bufs[0], bufs[p]...)
	}
	return bufs[0], bufs
}
