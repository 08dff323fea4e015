package fingerprint

import (
	"fmt"
	"image"
	"image/color"
	"testing"
)

func TestDiag2(t *testing.T) {
	photo := sharedPhoto(t, "imaging-flowers/flowers.png")
	w, ht := photo.Rect.Dx(), photo.Rect.Dy()
	m := framed(photo, w*16/9, ht, (w*16/9-w)/2, 0, color.White)
	l := viewLuma(shrink(m))
	fmt.Println(l.w, l.h, w, ht)
	r := image.Rect(0, 0, l.w, l.h)
	x0, x1 := bars(&l, r, false)
	fmt.Println("cols", x0, x1)
	for x := 0; x < l.w; x += 4 {
		var hist [256]int
		for y := 0; y < l.h; y++ {
			hist[l.at(x, y)]++
		}
		best, win := 0, 0
		for v := 0; v < 256; v++ {
			win += hist[v]
			if v > 20 {
				win -= hist[v-21]
			}
			best = max(best, win)
		}
		fmt.Printf(" %d:%.2f", x, float64(best)/float64(l.h))
	}
	fmt.Println()
}
