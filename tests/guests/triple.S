/*
 * A triple fault: with no IDT, a page fault becomes #GP, #DF, shutdown
 * (KVM_EXIT_SHUTDOWN).  A page fault rather than ud2: KVM intercepts #UD to
 * emulate it, and that path wedges the lab's emulated SVM.
 */
	.include "lib.inc"
_start:
	movabs $0x7fff00000000, %rax	/* beyond the 4 GiB identity map */
	mov (%rax), %rax
	hlt
