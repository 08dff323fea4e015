//go:build !amd64

package index

// distRow sets row[j] to the distance of query descriptor x (number a)
// to id[j], lowers colBest[j] to it where it is nearer, setting
// colArg[j] to a, and returns the least distance in the row and the
// first j at it, and the least distance at any other j and one j at it
// (MaxInt32 and -1 for none). row, colBest and colArg are at least as
// long as id.
func distRow(x *[4]uint64, id [][4]uint64, row, colBest, colArg []int32, a int32) (b1, a1, b2, a2 int32) {
	return distRowGo(x, id, row, colBest, colArg, a)
}
