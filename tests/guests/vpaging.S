/*
 * Page tables of its own, not the identity: built in region data (DATA,
 * 64 KiB), then loaded into cr3.
 *   PML4 DATA+0x1000, PDPT DATA+0x2000, PD DATA+0x3000, PT DATA+0x4000
 *   VA 0-2M          -> PA 0-2M             (2 MiB page: this code, the boot tables)
 *   VA 2M+0x0000     -> PA DATA+0x8000      (4 KiB page)
 *   VA 2M+0x1000     -> PA DATA+0x0000      (4 KiB page)
 *   VA 1G-2G         -> PA 0-1G             (1 GiB page; never touched by the guest)
 *   everything else not present.
 * Then it writes "vpaging!" through VA 0x200000 (lands at PA DATA+0x8000)
 * and "through!" through VA 0x201010 (lands at PA DATA+0x10), and halts.
 */
	.include "lib.inc"
	.equ P, 0x3		/* present, writable */
	.equ PS, 0x80		/* a 2 MiB or 1 GiB page */
	.globl halted
_start:
	mov $(DATA + 0x1000), %edi
	movq $(DATA + 0x2000 + P), (%rdi)		/* PML4[0] */
	movq $(DATA + 0x3000 + P), 0x1000(%rdi)		/* PDPT[0] */
	movq $(0 + P + PS), 0x1008(%rdi)		/* PDPT[1]: 1 GiB page at 0 */
	movq $(0 + P + PS), 0x2000(%rdi)		/* PD[0]: 2 MiB page at 0 */
	movq $(DATA + 0x4000 + P), 0x2008(%rdi)		/* PD[1] */
	movq $(DATA + 0x8000 + P), 0x3000(%rdi)		/* PT[0] */
	movq $(DATA + P), 0x3008(%rdi)			/* PT[1] */
	mov %rdi, %cr3
	movabs $0x21676e6967617076, %rax		/* "vpaging!" */
	mov %rax, 0x200000
	movabs $0x216867756f726874, %rax		/* "through!" */
	mov %rax, 0x201010
	hlt
halted:
	jmp halted
