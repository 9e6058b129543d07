/*
 * The demo guest: a greeting on the console, then a heartbeat every 100 ms.
 * Region layout (keep in step with region/guest/guest.h, GUEST_DEMO_*):
 *   ram        [0x100000-0x200000)  this code; the stack grows down from its top
 *   heartbeat  [0x200000-0x201000)  +0 ticks (uint64), +8 TSC of the last tick
 * Ports (region/kvm/vcpu.h): out byte to 0xE9 = console, out dword to 0xE8 =
 * sleep that many milliseconds.
 */
	.equ CONSOLE, 0xe9
	.equ SLEEP, 0xe8
	.equ HEARTBEAT, 0x200000
	.equ PERIOD_MS, 100

	.code64
	.section .text.start, "ax"
	.globl _start
_start:
	lea greeting(%rip), %rsi
	mov $greeting_len, %ecx
	mov $CONSOLE, %dx
	cld
	rep outsb
	mov $HEARTBEAT, %edi
tick:
	incq (%rdi)
	rdtsc
	shl $32, %rdx
	or %rax, %rdx
	mov %rdx, 8(%rdi)
	mov $PERIOD_MS, %eax
	mov $SLEEP, %dx
	out %eax, %dx
	jmp tick

	.section .rodata
greeting:
	.ascii "regionfs demo guest: hello; heartbeat every 100 ms in region heartbeat\n"
	.equ greeting_len, . - greeting
	.section .note.GNU-stack, "", @progbits
