/* Forever: increment the qword at the start of data, sleep 10 ms. */
	.include "lib.inc"
_start:
	mov $DATA, %edi
1:	incq (%rdi)
	sleep_ms 10
	jmp 1b
