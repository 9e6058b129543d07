/* Is all of data zero?  Says "zero ok" or "nonzero", then halts. */
	.include "lib.inc"
_start:
	mov $DATA, %esi
	mov $(DATA_SIZE / 8), %ecx
1:	cmpq $0, (%rsi)
	jne bad
	add $8, %rsi
	dec %ecx
	jnz 1b
	puts ok, ok_len
	hlt
bad:	puts no, no_len
	hlt
ok:	.ascii "zero ok\n"
	.equ ok_len, . - ok
no:	.ascii "nonzero\n"
	.equ no_len, . - no
