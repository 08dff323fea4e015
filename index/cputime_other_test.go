//go:build !linux

package index

import "time"

// threadCPU is not measured on this platform: CPU figures read 0.
func threadCPU() time.Duration { return 0 }
