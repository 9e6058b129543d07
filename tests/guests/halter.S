/* Say so and halt. */
	.include "lib.inc"
_start:
	puts msg, msg_len
	hlt
msg:	.ascii "halting\n"
	.equ msg_len, . - msg
