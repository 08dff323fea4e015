package index

import "golang.org/x/sys/cpu"

// distRowKernels returns the kernels of distRow this CPU runs, for the
// tests and benchmarks that check and time each.
func distRowKernels() []string {
	ks := []string{"go"}
	if cpu.X86.HasPOPCNT {
		ks = append(ks, "popcnt")
	}
	if hasAVX512 {
		ks = append(ks, "avx512")
	}
	return ks
}
