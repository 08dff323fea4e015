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
