package fingerprint

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mediamatch/mediamatch/fingerprint/hostile"
)

// BenchmarkDecodeBombs hashes four 16-bit RGBA bombs at once (7000x7000:
// 49 MP, within the default pixel budget, in 400-600 KB files; and a
// 6000x6000 TIFF, whose decode fits in the default budget) with the
// default Options, and reports the process's peak RSS (VmHWM, since the
// process started: run one sub-benchmark per process) and the decode
// memory budget's accounted peak:
//
//	go test -run '^$' -bench 'DecodeBombs/tiff16$' -benchtime 1x ./fingerprint/
//	go test -run '^$' -bench 'DecodeBombs/tiff16-36mp' -benchtime 1x ./fingerprint/
//	go test -run '^$' -bench 'DecodeBombs/png16' -benchtime 1x ./fingerprint/
func BenchmarkDecodeBombs(b *testing.B) {
	for _, c := range []struct {
		name string
		make func(w, h int) ([]byte, error)
		side int
	}{
		{"tiff16", hostile.WideTIFF, 7000},
		{"tiff16-36mp", hostile.WideTIFF, 6000},
		{"png16", hostile.WidePNG, 7000},
	} {
		b.Run(c.name, func(b *testing.B) {
			data := hostile.Must(b)(c.make(c.side, c.side))
			h := New(Options{})
			for b.Loop() {
				var wg sync.WaitGroup
				for range 4 {
					wg.Go(func() {
						if _, err := h.Hash(context.Background(), data); err != nil {
							b.Log(err)
						}
					})
				}
				wg.Wait()
			}
			_, peak := h.DecodeMemory()
			b.ReportMetric(float64(vmHWM())/(1<<20), "peak-rss-mb")
			b.ReportMetric(float64(peak)/(1<<20), "accounted-mb")
		})
	}
}

// vmHWM returns this process's peak resident set size in bytes, or 0 if
// /proc does not say.
func vmHWM() int64 {
	s, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(s), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
