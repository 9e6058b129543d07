/* Dirty two pages of data, a byte each, say so and halt. */
	.include "lib.inc"
_start:
	mov $DATA, %ebx
	movb $0xa1, 0x1000(%rbx)
	movb $0xb2, 0x5000(%rbx)
	puts msg, msg_len
	hlt
msg:	.ascii "dirtied\n"
	.equ msg_len, . - msg
