package index

import (
	"math"
	"slices"

	"golang.org/x/sys/cpu"
)

// distRowPOPCNT is distRowGo in assembly, for CPUs with POPCNT: Go
// compiles bits.OnesCount64 for the baseline amd64 (GOAMD64=v1) as a
// test of the CPU's features and a call to a fallback around each
// POPCNT, which doubles the cost of the distances, most of a
// verification's. n is len of id, row, colBest and colArg.
//
//go:noescape
func distRowPOPCNT(x *[4]uint64, id *[4]uint64, n int, row, colBest, colArg *int32, a int32) (b1, a1, b2, a2 int32)

// distRowsAVX512 sets row[j] to the distance of query descriptor x to
// id[j] and lowers colBest[j] to it where it is nearer, setting colArg[j]
// to a, for j < n, a multiple of 8: eight distances at once (VPOPCNTQ of
// AVX-512). lanes gets, for each of the 8 lanes (j mod 8), the least
// distance of the lane and then the second least, from which distRow
// finds the row's nearest without a branch a distance. Measured
// (BenchmarkDistRow): a verification's distances in about half the time
// of distRowPOPCNT, whose branches on the row's nearest cost as much as
// its distances.
//
//go:noescape
func distRowsAVX512(x *[4]uint64, id *[4]uint64, n int, row, colBest, colArg *int32, a int32, lanes *[16]int32)

// indexAVX2 returns the first i < n (a multiple of 8) with p[i] == v, or
// -1.
//
//go:noescape
func indexAVX2(p *int32, n int, v int32) int

// index32 is slices.Index of int32s, eight at a time where distRowsAVX512
// runs (the two searches of a row for its nearest cost as much as its
// distances otherwise).
func index32(s []int32, v int32) int {
	n := len(s) &^ 7
	if n > 0 {
		if i := indexAVX2(&s[0], n, v); i >= 0 {
			return i
		}
	}
	if i := slices.Index(s[n:], v); i >= 0 {
		return n + i
	}
	return -1
}

// hasAVX512 says whether distRowsAVX512 runs here: VPOPCNTQ, and the
// 512-bit and narrowing instructions around it.
var hasAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VPOPCNTDQ && cpu.X86.HasAVX2

// distRowKernel is the kernel distRow uses: "avx512", "popcnt" or "go",
// the fastest the CPU runs; tests set it to check each against distRowGo.
var distRowKernel = func() string {
	switch {
	case hasAVX512:
		return "avx512"
	case cpu.X86.HasPOPCNT:
		return "popcnt"
	}
	return "go"
}()

// distRow sets row[j] to the distance of query descriptor x (number a)
// to id[j], lowers colBest[j] to it where it is nearer, setting
// colArg[j] to a, and returns the least distance in the row and the
// first j at it, and the least distance at any other j and one j at it
// (MaxInt32 and -1 for none). row, colBest and colArg are at least as
// long as id.
func distRow(x *[4]uint64, id [][4]uint64, row, colBest, colArg []int32, a int32) (b1, a1, b2, a2 int32) {
	if len(id) == 0 || distRowKernel == "go" {
		return distRowGo(x, id, row, colBest, colArg, a)
	}
	_, _, _ = row[len(id)-1], colBest[len(id)-1], colArg[len(id)-1]
	if distRowKernel == "popcnt" {
		return distRowPOPCNT(x, &id[0], len(id), &row[0], &colBest[0], &colArg[0], a)
	}
	// The least two distances of the row: those of the lanes, and of
	// the last few descriptors.
	var lanes [16]int32
	n := len(id) &^ 7
	if n > 0 {
		distRowsAVX512(x, &id[0], n, &row[0], &colBest[0], &colArg[0], a, &lanes)
	} else {
		for i := range lanes {
			lanes[i] = math.MaxInt32
		}
	}
	b1, b2 = math.MaxInt32, math.MaxInt32
	least2 := func(d int32) {
		if d < b1 {
			b1, b2 = d, b1
		} else if d < b2 {
			b2 = d
		}
	}
	for _, d := range lanes {
		least2(d)
	}
	for j := n; j < len(id); j++ {
		d := int32(hamming4(x, &id[j]))
		row[j] = d
		if d < colBest[j] {
			colBest[j], colArg[j] = d, a
		}
		least2(d)
	}
	// Where they are, as rowNearest places them: the first j at the
	// least, the first other j at the second.
	row = row[:len(id)]
	a1 = int32(index32(row, b1))
	a2 = -1
	if b2 != math.MaxInt32 {
		if j := index32(row, b2); j != int(a1) {
			a2 = int32(j)
		} else {
			a2 = int32(j + 1 + index32(row[j+1:], b2))
		}
	}
	return b1, a1, b2, a2
}
