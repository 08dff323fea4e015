package hashlist

import (
	"bufio"
	"encoding/hex"
	"io"
	"runtime"
	"testing"
	"time"
)

// pdqLines generates n lines "pdq <hex>" of pseudo-random PDQ hashes as it
// is read, so that the input takes no memory either.
type pdqLines struct {
	n, done int
	x       uint64 // xorshift state
	buf     []byte // the rest of the current line
}

func newPDQLines(n int) *pdqLines { return &pdqLines{n: n, x: 88172645463325252} }

func (g *pdqLines) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		if len(g.buf) == 0 {
			if g.done == g.n {
				break
			}
			g.done++
			var h [32]byte
			for i := 0; i < len(h); i += 8 {
				g.x ^= g.x << 13
				g.x ^= g.x >> 7
				g.x ^= g.x << 17
				for j := range 8 {
					h[i+j] = byte(g.x >> (8 * j))
				}
			}
			g.buf = append(append(append(g.buf[:0], "pdq "...), hex.EncodeToString(h[:])...), '\n')
		}
		n := copy(p, g.buf)
		p, g.buf, total = p[n:], g.buf[n:], total+n
	}
	if total == 0 {
		return 0, io.EOF
	}
	return total, nil
}

// BenchmarkReadLines parses a million generated PDQ lines. It reports
// records/s; the peak heap in use, sampled every 50,000 records;
// the live heap after a collection at the end of the list, and its ratio
// to the live heap after the first tenth (near 1 when memory is constant
// in the list's length); and the time relative to a baseline, run in the
// same process, that only splits the same input into lines with
// bufio.Scanner.
func BenchmarkReadLines(b *testing.B) {
	const n = 1_000_000
	var base time.Duration
	for range 3 { // the baseline, best of three
		start := time.Now()
		sc := bufio.NewScanner(newPDQLines(n))
		lines := 0
		for sc.Scan() {
			lines++
		}
		if lines != n {
			b.Fatalf("baseline read %d lines", lines)
		}
		if d := time.Since(start); base == 0 || d < base {
			base = d
		}
	}
	var (
		ms                runtime.MemStats
		peak, tenth, last uint64
	)
	live := func() uint64 {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	b.ResetTimer()
	for b.Loop() {
		r, err := NewReader(newPDQLines(n), Lines, ReaderOptions{})
		if err != nil {
			b.Fatal(err)
		}
		count := 0
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if count++; count%50000 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
			switch count {
			case n / 10:
				tenth = live()
			case n:
				last = live()
			}
		}
		if count != n {
			b.Fatalf("read %d records, want %d", count, n)
		}
	}
	perRun := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(n)/perRun.Seconds(), "records/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(last)/(1<<10), "live-heap-KiB")
	b.ReportMetric(float64(last)/float64(tenth), "live-growth")
	b.ReportMetric(float64(perRun)/float64(base), "x-bufio-scan")
}
