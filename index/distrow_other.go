//go:build !amd64

package index

// distRow is distRowGo (see distrow_amd64.go for what it does): other
// architectures have no assembly version.
func distRow(x *[4]uint64, id [][4]uint64, row, colBest, colArg []int32, a int32) (b1, a1, b2, a2 int32) {
	return distRowGo(x, id, row, colBest, colArg, a)
}
