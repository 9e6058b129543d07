/* Fill the first 4 KiB of data with byte i = i * 7 + 3, say so, halt. */
	.include "lib.inc"
_start:
	mov $DATA, %edi
	xor %ecx, %ecx
1:	imul $7, %ecx, %eax
	add $3, %eax
	mov %al, (%rdi,%rcx)
	inc %ecx
	cmp $4096, %ecx
	jb 1b
	puts msg, msg_len
	hlt
msg:	.ascii "pattern done\n"
	.equ msg_len, . - msg
