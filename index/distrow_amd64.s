#include "textflag.h"

// func distRowPOPCNT(x *[4]uint64, id *[4]uint64, n int, row, colBest, colArg *int32, a int32) (b1, a1, b2, a2 int32)
TEXT ·distRowPOPCNT(SB), NOSPLIT, $0-72
	MOVQ x+0(FP), SI
	MOVQ id+8(FP), DI
	MOVQ n+16(FP), CX
	MOVQ row+24(FP), R8
	MOVQ colBest+32(FP), R9
	MOVQ colArg+40(FP), R10
	MOVL $0x7fffffff, R11
	MOVL $-1, AX
	MOVL AX, a1+60(FP)
	MOVL AX, a2+68(FP)
	MOVL $0x7fffffff, AX
	MOVL AX, b2+64(FP)
	MOVQ 0(SI), R12
	MOVQ 8(SI), R13
	MOVQ 16(SI), R14
	MOVQ 24(SI), SI
	XORQ BX, BX
	TESTQ CX, CX
	JLE done

loop:
	MOVQ 0(DI), AX
	XORQ R12, AX
	POPCNTQ AX, AX
	MOVQ 8(DI), DX
	XORQ R13, DX
	POPCNTQ DX, DX
	ADDQ DX, AX
	MOVQ 16(DI), DX
	XORQ R14, DX
	POPCNTQ DX, DX
	ADDQ DX, AX
	MOVQ 24(DI), DX
	XORQ SI, DX
	POPCNTQ DX, DX
	ADDQ DX, AX
	MOVL AX, (R8)(BX*4)
	// The row's first nearest; the nearest of the others.
	CMPL AX, R11
	JGE other
	MOVL R11, DX
	MOVL DX, b2+64(FP)
	MOVL a1+60(FP), DX
	MOVL DX, a2+68(FP)
	MOVL AX, R11
	MOVL BX, a1+60(FP)
	JMP col

other:
	CMPL AX, b2+64(FP)
	JGE col
	MOVL AX, b2+64(FP)
	MOVL BX, a2+68(FP)

col:
	// The column's first nearest: a row before this one wins a tie.
	CMPL AX, (R9)(BX*4)
	JGE next
	MOVL AX, (R9)(BX*4)
	MOVL a+48(FP), DX
	MOVL DX, (R10)(BX*4)

next:
	ADDQ $32, DI
	INCQ BX
	CMPQ BX, CX
	JLT loop

done:
	MOVL R11, b1+56(FP)
	RET

// The order VPHADDD leaves 8 distances in (lanes of 4: d0 d2 d4 d6 | d1
// d3 d5 d7), as VPERMD indices that put them back in order.
DATA distPerm<>+0(SB)/4, $0
DATA distPerm<>+4(SB)/4, $4
DATA distPerm<>+8(SB)/4, $1
DATA distPerm<>+12(SB)/4, $5
DATA distPerm<>+16(SB)/4, $2
DATA distPerm<>+20(SB)/4, $6
DATA distPerm<>+24(SB)/4, $3
DATA distPerm<>+28(SB)/4, $7
GLOBL distPerm<>(SB), RODATA|NOPTR, $32

// func distRowsAVX512(x *[4]uint64, id *[4]uint64, n int, row, colBest, colArg *int32, a int32, lanes *[16]int32)
// n is a multiple of 8. Eight descriptors an iteration: two to a ZMM,
// XOR with the query twice over, VPOPCNTQ, the words' counts narrowed to
// dwords and summed by two VPHADDD, then put in order; the column update
// is a compare, a min and a blend; each lane keeps the least two
// distances it saw (Y10, Y12), for the row's nearest.
TEXT ·distRowsAVX512(SB), NOSPLIT, $0-64
	MOVQ x+0(FP), SI
	MOVQ id+8(FP), DI
	MOVQ n+16(FP), CX
	MOVQ row+24(FP), R8
	MOVQ colBest+32(FP), R9
	MOVQ colArg+40(FP), R10
	MOVQ lanes+56(FP), R11
	VBROADCASTI64X4 (SI), Z16
	MOVL a+48(FP), AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	VMOVDQU distPerm<>(SB), Y14
	VPCMPEQD Y13, Y13, Y13
	VPSRLD $1, Y13, Y10
	VMOVDQA Y10, Y12
	XORQ BX, BX
	TESTQ CX, CX
	JLE done

loop:
	VPXORQ (DI), Z16, Z17
	VPXORQ 64(DI), Z16, Z18
	VPXORQ 128(DI), Z16, Z19
	VPXORQ 192(DI), Z16, Z20
	VPOPCNTQ Z17, Z17
	VPOPCNTQ Z18, Z18
	VPOPCNTQ Z19, Z19
	VPOPCNTQ Z20, Z20
	VPMOVQD Z17, Y0
	VPMOVQD Z18, Y1
	VPMOVQD Z19, Y2
	VPMOVQD Z20, Y3
	VPHADDD Y1, Y0, Y4
	VPHADDD Y3, Y2, Y5
	VPHADDD Y5, Y4, Y6
	VPERMD Y6, Y14, Y6
	VMOVDQU Y6, (R8)(BX*4)
	// The lanes' least two: second = min(second, max(least, d)).
	VPMAXSD Y6, Y10, Y11
	VPMINSD Y11, Y12, Y12
	VPMINSD Y6, Y10, Y10
	// colBest[j] > d: d is the nearest so far of column j.
	VMOVDQU (R9)(BX*4), Y7
	VPCMPGTD Y6, Y7, Y8
	VPMINSD Y6, Y7, Y7
	VMOVDQU Y7, (R9)(BX*4)
	VMOVDQU (R10)(BX*4), Y9
	VPBLENDVB Y8, Y15, Y9, Y9
	VMOVDQU Y9, (R10)(BX*4)
	ADDQ $256, DI
	ADDQ $8, BX
	CMPQ BX, CX
	JLT loop

done:
	VMOVDQU Y10, (R11)
	VMOVDQU Y12, 32(R11)
	VZEROUPPER
	RET

// func indexAVX2(p *int32, n int, v int32) int
// The first i < n (a multiple of 8) with p[i] == v, or -1: eight
// compares at once, the first set lane found by TZCNT of their mask.
TEXT ·indexAVX2(SB), NOSPLIT, $0-32
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	MOVL v+16(FP), AX
	VMOVD AX, X1
	VPBROADCASTD X1, Y1
	XORQ BX, BX
	TESTQ CX, CX
	JLE none

iloop:
	VPCMPEQD (SI)(BX*4), Y1, Y2
	VMOVMSKPS Y2, DX
	TESTL DX, DX
	JNZ found
	ADDQ $8, BX
	CMPQ BX, CX
	JLT iloop

none:
	MOVQ $-1, ret+24(FP)
	VZEROUPPER
	RET

found:
	TZCNTL DX, DX
	ADDQ DX, BX
	MOVQ BX, ret+24(FP)
	VZEROUPPER
	RET
