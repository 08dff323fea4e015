//go:build !linux

package mmtest

import "time"

// ThreadCPU is not measured on this platform: it returns 0, and CPU
// figures read 0.
func ThreadCPU() time.Duration { return 0 }
