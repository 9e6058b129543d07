/* A tight loop with no exits at all: only a kick gets the vCPU out. */
	.include "lib.inc"
_start:
	mov $DATA, %edi
1:	incq (%rdi)
	jmp 1b
