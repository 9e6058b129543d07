/*
 * A counter in %r12, mirrored at DATA, for save and restore: each round
 * checks the copy against %r12 ("MISMATCH" when memory and registers were
 * restored out of step), counts, stores the count at DATA and at
 * DATA+0x3000 (a second page, for the dirty log), says "tick " and the
 * count in 16 hex digits, and sleeps 20 ms.
 */
	.include "lib.inc"
_start:
	xor %r12d, %r12d
round:
	mov $DATA, %ebx
	cmp (%rbx), %r12
	je 1f
	puts mismatch, mismatch_len
1:	inc %r12
	mov %r12, (%rbx)
	mov %r12, 0x3000(%rbx)
	puts tick, tick_len
	mov %r12, %r13
	mov $16, %r14d
2:	rol $4, %r13
	mov %r13d, %eax
	and $15, %eax
	cmp $10, %al
	jb 3f
	add $('a' - '0' - 10), %al
3:	add $'0', %al
	out %al, %dx		/* dx is CONSOLE since puts */
	dec %r14d
	jnz 2b
	mov $'\n', %al
	out %al, %dx
	sleep_ms 20
	jmp round
mismatch:
	.ascii "MISMATCH\n"
	.equ mismatch_len, . - mismatch
tick:	.ascii "tick "
	.equ tick_len, . - tick
