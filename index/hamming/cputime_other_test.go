//go:build !linux

package hamming

import "time"

// cpuNow is not measured on this platform: CPU figures read 0.
func cpuNow() time.Duration { return 0 }
