/*
 * Known values in every general register, then hlt: the registers a
 * halted vCPU shows (regs, core) are these, with rip at "halted".
 * Register n (rax 1, rbx 2, ... r15 15, in this order) holds n in each
 * of its bytes but the last, which holds 0x5n (0x1111111111111151 ...);
 * rsp and rbp are left to the stack.
 */
	.include "lib.inc"
	.globl halted
_start:
	movabs $0x1111111111111151, %rax
	movabs $0x2222222222222252, %rbx
	movabs $0x3333333333333353, %rcx
	movabs $0x4444444444444454, %rdx
	movabs $0x5555555555555555, %rsi
	movabs $0x6666666666666656, %rdi
	movabs $0x8888888888888858, %r8
	movabs $0x9999999999999959, %r9
	movabs $0xaaaaaaaaaaaaaa5a, %r10
	movabs $0xbbbbbbbbbbbbbb5b, %r11
	movabs $0xcccccccccccccc5c, %r12
	movabs $0xdddddddddddddd5d, %r13
	movabs $0xeeeeeeeeeeeeee5e, %r14
	movabs $0xffffffffffffff5f, %r15
	hlt
halted:
	jmp halted
