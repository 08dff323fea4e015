//go:build !unix

package pdq

import "time"

// cpuTime is not measured on this platform; CPU ratios are then not reported.
func cpuTime() time.Duration { return 0 }
