/*
 * Getting the vCPU into 64-bit long mode: the boot region (page tables and
 * GDT, guest memory like any other so the mount shows them), CPUID, and the
 * register state every run from stopped starts from.
 */
#include "region/vcpu_priv.h"
#include "region/sandbox.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* Offsets in the boot region; GPA = VCPU_BOOT_GPA + offset. */
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

static int write_tables(struct vcpu *v)
{
	uint64_t *buf;
	ssize_t n;
	int ret = 0;

	buf = calloc(1, VCPU_BOOT_SIZE);
	if (!buf)
		return ENOMEM;
	buf[PML4_OFF / 8] = (VCPU_BOOT_GPA + PDPT_OFF) | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < NR_PD; i++) {
		buf[PDPT_OFF / 8 + i] = (VCPU_BOOT_GPA + PD_OFF + i * 0x1000) |
					PTE_P | PTE_RW;
		for (uint64_t j = 0; j < 512; j++)
			buf[PD_OFF / 8 + i * 512 + j] =
				((i * 512 + j) << 21) | PTE_P | PTE_RW | PTE_PS;
	}
	memcpy((uint8_t *)buf + GDT_OFF, gdt, sizeof(gdt));
	n = region__write(v->boot, buf, VCPU_BOOT_SIZE, 0);
	if (n < 0)
		ret = (int)-n;
	else if (n != (ssize_t)VCPU_BOOT_SIZE)
		ret = EIO;
	free(buf);
	return ret;
}

int vcpu_boot_create(struct vcpu *v, char *why, size_t why_len)
{
	int ret;

	ret = sandbox__create(v->sb, VCPU_BOOT_REGION, VCPU_BOOT_SIZE, NULL);
	if (ret) {
		snprintf(why, why_len, "cannot create region %s: %s",
			 VCPU_BOOT_REGION, strerror(ret));
		return ret;
	}
	v->boot = sandbox__find(v->sb, VCPU_BOOT_REGION, NULL);
	if (!v->boot)
		return ENOENT;
	ret = sandbox__set_guest_addr(v->sb, v->boot, false, VCPU_BOOT_GPA);
	if (ret) {
		snprintf(why, why_len, "cannot map region %s at 0x%llx: %s",
			 VCPU_BOOT_REGION, VCPU_BOOT_GPA, strerror(ret));
		goto out;
	}
	ret = write_tables(v);
	if (ret)
		snprintf(why, why_len, "cannot write the page tables: %s",
			 strerror(ret));
out:
	if (ret) {
		region__put(v->boot);
		v->boot = NULL;
		sandbox__remove(v->sb, VCPU_BOOT_REGION);
	}
	return ret;
}

/* Without CPUID entries KVM's guest has no long mode (EFER.LME refused). */
int vcpu_setup_cpuid(struct vcpu *v, char *why, size_t why_len)
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
		if (ioctl(v->vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0)
			ret = errno;
	}
	if (ret) {
		snprintf(why, why_len, "KVM_GET_SUPPORTED_CPUID: %s",
			 strerror(ret));
		goto out;
	}
	if (ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0) {
		ret = errno;
		snprintf(why, why_len, "KVM_SET_CPUID2: %s", strerror(ret));
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

static int set_long_mode(struct vcpu *v)
{
	struct kvm_sregs sregs;

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return errno;
	flat_segment(&sregs.cs, VCPU_SEL_CODE, 11, true);
	flat_segment(&sregs.ds, VCPU_SEL_DATA, 3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.selector = SEL_TSS;
	sregs.tr.limit = 0x67;
	sregs.tr.type = 11;
	sregs.tr.present = 1;
	sregs.gdt.base = VCPU_BOOT_GPA + GDT_OFF;
	sregs.gdt.limit = sizeof(gdt) - 1;
	/* No IDT: any exception becomes a triple fault, i.e. "faulted". */
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM |
		    CR0_PG;
	sregs.cr3 = VCPU_BOOT_GPA + PML4_OFF;
	sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	sregs.efer = EFER_LME | EFER_LMA;
	memset(sregs.interrupt_bitmap, 0, sizeof(sregs.interrupt_bitmap));
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return errno;
	return 0;
}

/*
 * Back to the entry point.  Called by the thread, unlocked, in the running
 * state (so the guest side already holds the regions).
 */
int vcpu_reset(struct vcpu *v, char *why, size_t why_len)
{
	struct kvm_regs regs = {
		.rip = v->cfg.entry,
		.rsp = v->cfg.stack,
		.rflags = 0x2,	/* bit 1 is reserved, always set */
	};
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	const char *step = "write the page tables";
	int ret;

	if (!region__mapped(v->boot) || v->boot->gpa != VCPU_BOOT_GPA) {
		snprintf(why, why_len, "region %s is not mapped at 0x%llx: no "
			 "page tables", VCPU_BOOT_REGION, VCPU_BOOT_GPA);
		return EINVAL;
	}
	/*
	 * An I/O or MMIO exit is only complete once KVM_RUN is entered
	 * again; do that without running the guest before the registers
	 * are overwritten, or the stale completion lands after the reset.
	 * (A kick that sets immediate_exit meanwhile comes with a request,
	 * which the thread looks at before its next KVM_RUN.)
	 */
	v->run->immediate_exit = 1;
	ioctl(v->fd, KVM_RUN, 0);
	v->run->immediate_exit = 0;

	ret = write_tables(v);
	if (!ret) {
		step = "KVM_SET_SREGS";
		ret = set_long_mode(v);
	}
	if (!ret && ioctl(v->fd, KVM_SET_FPU, &fpu) < 0) {
		step = "KVM_SET_FPU";
		ret = errno;
	}
	if (!ret && ioctl(v->fd, KVM_SET_REGS, &regs) < 0) {
		step = "KVM_SET_REGS";
		ret = errno;
	}
	if (ret)
		snprintf(why, why_len, "cannot reset the vCPU: %s: %s", step,
			 strerror(ret));
	return ret;
}
