package fingerprint

import (
	"fmt"
	"image"
	_ "image/png"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestDiag(t *testing.T) {
	files, _ := filepath.Glob("/tmp/scratch/pads/*.png")
	for _, f := range files {
		fh, _ := os.Open(f)
		img, _, err := image.Decode(fh)
		fh.Close()
		if err != nil {
			continue
		}
		l := viewLuma(shrink(img))
		r, ok := trim(&l)
		// diagnostics along the padded direction
		rows := l.h > l.w
		full := image.Rect(0, 0, l.w, l.h)
		n := l.w
		if rows {
			n = l.h
		}
		act := make([]float64, n)
		crs := make([]float64, n)
		for i := 0; i < n; i++ {
			var s, c int
			m := l.h
			if rows {
				m = l.w
			}
			for k := 2; k < m; k++ {
				var v, p1, p2, q int
				if rows {
					v, p1, p2 = int(l.at(k, i)), int(l.at(k-1, i)), int(l.at(k-2, i))
					if i > 0 {
						q = int(l.at(k, i-1))
					}
				} else {
					v, p1, p2 = int(l.at(i, k)), int(l.at(i, k-1)), int(l.at(i, k-2))
					if i > 0 {
						q = int(l.at(i-1, k))
					}
				}
				s += abs(v - 2*p1 + p2)
				c += abs(v - q)
			}
			act[i] = float64(s) / float64(m)
			crs[i] = float64(c) / float64(m)
		}
		_ = full
		srt := slices.Clone(act)
		slices.Sort(srt)
		fmt.Printf("%s %dx%d trim=%v %v busy=%.1f\n", filepath.Base(f), l.w, l.h, r, ok, srt[n*9/10])
		// print act and cross at 20 points + around expected boundary
		for i := 0; i < n; i += max(1, n/40) {
			fmt.Printf(" %d:%.1f/%.0f", i, act[i], crs[i])
		}
		fmt.Println()
	}
}
