package index

import "golang.org/x/sys/cpu"

// distRowPOPCNT is distRowGo in assembly, for CPUs with POPCNT: Go
// compiles bits.OnesCount64 for the baseline amd64 (GOAMD64=v1) as a
// test of the CPU's features and a call to a fallback around each
// POPCNT, which doubles the cost of the distances, most of a
// verification's. n is len of id, row, colBest and colArg.
//
//go:noescape
func distRowPOPCNT(x *[4]uint64, id *[4]uint64, n int, row, colBest, colArg *int32, a int32) (b1, a1, b2, a2 int32)

// distRow sets row[j] to the distance of query descriptor x (number a)
// to id[j], lowers colBest[j] to it where it is nearer, setting
// colArg[j] to a, and returns the least distance in the row and the
// first j at it, and the least distance at any other j and one j at it
// (MaxInt32 and -1 for none). row, colBest and colArg are at least as
// long as id.
func distRow(x *[4]uint64, id [][4]uint64, row, colBest, colArg []int32, a int32) (b1, a1, b2, a2 int32) {
	if !cpu.X86.HasPOPCNT || len(id) == 0 {
		return distRowGo(x, id, row, colBest, colArg, a)
	}
	_, _, _ = row[len(id)-1], colBest[len(id)-1], colArg[len(id)-1]
	return distRowPOPCNT(x, &id[0], len(id), &row[0], &colBest[0], &colArg[0], a)
}
