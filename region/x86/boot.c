/*
 * Getting a vCPU into 64-bit long mode (x86.h): the boot tables (page
 * tables and GDT, written into guest memory like any other so the mount
 * shows them), CPUID, and the register state every run from stopped
 * starts from.
 */
#include "region/x86/x86.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* Offsets in the boot tables; GPA = boot_gpa + offset. */
#define PML4_OFF	0x0000
#define PDPT_OFF	0x1000
#define PD_OFF		0x2000	/* four of them: 4 GiB of 2 MiB pages */
#define GDT_OFF		0x6000
#define NR_PD		4

#define PTE_P		(1ULL << 0)
#define PTE_RW		(1ULL << 1)
#define PTE_PS		(1ULL << 7)

#define SEL_TSS		0x18

#define CR0_PE		(1ULL << 0)
#define CR0_MP		(1ULL << 1)
#define CR0_ET		(1ULL << 4)
#define CR0_NE		(1ULL << 5)
#define CR0_WP		(1ULL << 16)
#define CR0_AM		(1ULL << 18)
#define CR0_PG		(1ULL << 31)
#define CR4_PAE		(1ULL << 5)
#define CR4_OSFXSR	(1ULL << 9)
#define CR4_OSXMMEXCPT	(1ULL << 10)
#define EFER_LME	(1ULL << 8)
#define EFER_LMA	(1ULL << 10)

/*
 * The GDT: null, 64-bit code, data, and a 16-byte TSS descriptor.  The
 * accessed bits are preset so the CPU never writes to the table.
 */
static const uint64_t gdt[] = {
	0,
	0x00af9b000000ffffULL,	/* 0x08: code, L=1, present, DPL 0 */
	0x00cf93000000ffffULL,	/* 0x10: data, 4 GiB, writable */
	0x00008b0000000067ULL,	/* 0x18: TSS (busy), base 0, limit 0x67 */
	0,
};

void x86__boot_tables(void *out, uint64_t gpa)
{
	uint64_t *buf = out;

	memset(buf, 0, X86_BOOT_SIZE);
	buf[PML4_OFF / 8] = (gpa + PDPT_OFF) | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < NR_PD; i++) {
		buf[PDPT_OFF / 8 + i] = (gpa + PD_OFF + i * 0x1000) |
					PTE_P | PTE_RW;
		for (uint64_t j = 0; j < 512; j++)
			buf[PD_OFF / 8 + i * 512 + j] =
				((i * 512 + j) << 21) | PTE_P | PTE_RW | PTE_PS;
	}
	memcpy((uint8_t *)buf + GDT_OFF, gdt, sizeof(gdt));
}

int x86__setup_cpuid(int kvm_fd, int vcpu_fd, struct why *why)
{
	struct kvm_cpuid2 *cpuid = NULL;
	int ret = E2BIG;

	for (unsigned nent = 64; nent <= 4096 && ret == E2BIG; nent *= 2) {
		free(cpuid);
		cpuid = calloc(1, sizeof(*cpuid) +
				  nent * sizeof(struct kvm_cpuid_entry2));
		if (!cpuid)
			return ENOMEM;
		cpuid->nent = nent;
		ret = 0;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0)
			ret = errno;
	}
	if (ret) {
		why__set(why, ret, "KVM_GET_SUPPORTED_CPUID: %s", strerror(ret));
		goto out;
	}
	if (ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid) < 0) {
		ret = errno;
		why__set(why, ret, "KVM_SET_CPUID2: %s", strerror(ret));
	}
out:
	free(cpuid);
	return ret;
}

static void flat_segment(struct kvm_segment *s, uint16_t sel, uint8_t type,
			 bool code)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;	/* L and D/B together are reserved */
}

static int set_long_mode(int fd, uint64_t boot_gpa)
{
	struct kvm_sregs sregs;

	if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
		return errno;
	flat_segment(&sregs.cs, X86_SEL_CODE, 11, true);
	flat_segment(&sregs.ds, X86_SEL_DATA, 3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.selector = SEL_TSS;
	sregs.tr.limit = 0x67;
	sregs.tr.type = 11;
	sregs.tr.present = 1;
	sregs.gdt.base = boot_gpa + GDT_OFF;
	sregs.gdt.limit = sizeof(gdt) - 1;
	/* No IDT: any exception becomes a triple fault, i.e. "faulted". */
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM |
		    CR0_PG;
	sregs.cr3 = boot_gpa + PML4_OFF;
	sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	sregs.efer = EFER_LME | EFER_LMA;
	memset(sregs.interrupt_bitmap, 0, sizeof(sregs.interrupt_bitmap));
	if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0)
		return errno;
	return 0;
}

int x86__reset(int fd, uint64_t boot_gpa, uint64_t entry, uint64_t stack,
	       struct why *why)
{
	struct kvm_regs regs = {
		.rip = entry,
		.rsp = stack,
		.rflags = 0x2,	/* bit 1 is reserved, always set */
	};
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	const char *step = "KVM_SET_SREGS";
	int ret;

	ret = set_long_mode(fd, boot_gpa);
	if (!ret && ioctl(fd, KVM_SET_FPU, &fpu) < 0) {
		step = "KVM_SET_FPU";
		ret = errno;
	}
	if (!ret && ioctl(fd, KVM_SET_REGS, &regs) < 0) {
		step = "KVM_SET_REGS";
		ret = errno;
	}
	if (ret)
		why__set(why, ret, "cannot reset the vCPU: %s: %s", step,
			 strerror(ret));
	return ret;
}
