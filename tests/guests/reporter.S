/* Forever: the first 16 bytes of data in hex, one line, then 20 ms of sleep. */
	.include "lib.inc"
_start:
report:
	mov $DATA, %esi
	mov $16, %ecx
1:	movzbl (%rsi), %ebx
	mov %ebx, %eax
	shr $4, %eax
	call hexdigit
	mov %ebx, %eax
	and $15, %eax
	call hexdigit
	inc %rsi
	dec %ecx
	jnz 1b
	mov $'\n', %al
	out %al, %dx
	sleep_ms 20
	jmp report

/* The hex digit for al (0..15) to the console; leaves dx = CONSOLE. */
hexdigit:
	cmp $10, %al
	jb 2f
	add $('a' - '0' - 10), %al
2:	add $'0', %al
	mov $CONSOLE, %dx
	out %al, %dx
	ret
