//go:build !amd64

package index

// distRowKernels returns the kernels of distRow this CPU runs: only the
// Go one here.
func distRowKernels() []string { return []string{"go"} }

// distRowKernel is the kernel the tests set: distRow here has only the
// Go one, whatever it says.
var distRowKernel = "go"
