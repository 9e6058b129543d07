/* Sleep 10 s in one hypercall, then say so and halt. */
	.include "lib.inc"
_start:
	puts a, a_len
	sleep_ms 10000
	puts b, b_len
	hlt
a:	.ascii "sleeping\n"
	.equ a_len, . - a
b:	.ascii "woke\n"
	.equ b_len, . - b
