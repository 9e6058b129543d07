/*
 * The CPU state of a vCPU (x86.h), for snapshots: registers, FPU, the
 * MSRs a long-mode guest uses, pending events, debug registers.  The
 * caller makes sure the vCPU is not running meanwhile (kvm/save.c).
 */
#include "region/x86/cpu_priv.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/*
 * The MSRs outside kvm_sregs that a long-mode guest can use; EFER and the
 * FS/GS bases are in kvm_sregs already.  Probed one by one: KVM refuses
 * those the host or the guest's CPUID lack (TSC_AUX without RDTSCP).
 */
static const uint32_t msr_list[] = {
	0x00000174,	/* IA32_SYSENTER_CS */
	0x00000175,	/* IA32_SYSENTER_ESP */
	0x00000176,	/* IA32_SYSENTER_EIP */
	0xc0000081,	/* STAR */
	0xc0000082,	/* LSTAR */
	0xc0000083,	/* CSTAR */
	0xc0000084,	/* SFMASK */
	0xc0000102,	/* KERNEL_GS_BASE */
	0x00000010,	/* IA32_TSC */
	0xc0000103,	/* TSC_AUX */
	0x00000277,	/* IA32_PAT */
	0x000001a0,	/* IA32_MISC_ENABLE */
};
#define NR_MSRS (sizeof(msr_list) / sizeof(msr_list[0]))
_Static_assert(NR_MSRS == X86_MSRS_MAX, "cpu_priv.h bounds the list");

/* A capability's value on the VM (where KVM answers most), or the system. */
static int check_cap(int kvm_fd, int vm_fd, long cap)
{
	int ret = ioctl(vm_fd, KVM_CHECK_EXTENSION, cap);

	if (ret < 0)
		ret = ioctl(kvm_fd, KVM_CHECK_EXTENSION, cap);
	return ret < 0 ? 0 : ret;
}

struct x86_state *x86__state_alloc(int kvm_fd, int vm_fd)
{
	struct x86_state *s = calloc(1, sizeof(*s));
	int size;

	if (!s)
		return NULL;
	s->msrs = calloc(1, sizeof(*s->msrs) +
			    NR_MSRS * sizeof(struct kvm_msr_entry));
	if (!s->msrs)
		goto fail;
	if (check_cap(kvm_fd, vm_fd, KVM_CAP_XSAVE)) {
		/* XSAVE2 says how big the area is (more than 4 KiB with AMX). */
		size = check_cap(kvm_fd, vm_fd, KVM_CAP_XSAVE2);
		s->xsave_size = (size_t)size > sizeof(struct kvm_xsave) ?
				(size_t)size : sizeof(struct kvm_xsave);
		s->xsave = calloc(1, s->xsave_size);
		if (!s->xsave)
			goto fail;
	}
	s->has_xcrs = check_cap(kvm_fd, vm_fd, KVM_CAP_XCRS) > 0;
	s->has_events = check_cap(kvm_fd, vm_fd, KVM_CAP_VCPU_EVENTS) > 0;
	s->has_debugregs = check_cap(kvm_fd, vm_fd, KVM_CAP_DEBUGREGS) > 0;
	return s;
fail:
	x86__state_free(s);
	return NULL;
}

void x86__state_free(struct x86_state *s)
{
	if (!s)
		return;
	free(s->xsave);
	free(s->msrs);
	free(s);
}

uint64_t x86__state_cr8(const struct x86_state *s)
{
	return s->sregs.cr8;
}

/* The MSRs of msr_list that KVM returns, one KVM_GET_MSRS each. */
static int get_msrs(int fd, struct kvm_msrs *msrs)
{
	/* A kvm_msrs with room for one entry (no struct: it ends in []). */
	uint64_t buf[(sizeof(struct kvm_msrs) +
		      sizeof(struct kvm_msr_entry) + 7) / 8];
	struct kvm_msrs *one = (struct kvm_msrs *)buf;
	int ret;

	msrs->nmsrs = 0;
	for (size_t i = 0; i < NR_MSRS; i++) {
		memset(buf, 0, sizeof(buf));
		one->nmsrs = 1;
		one->entries[0].index = msr_list[i];
		ret = ioctl(fd, KVM_GET_MSRS, one);
		if (ret < 0)
			return errno;
		/* It returns how many it read: 0 for one KVM refuses. */
		if (ret == 1)
			msrs->entries[msrs->nmsrs++] = one->entries[0];
	}
	return 0;
}

int x86__state_save(int fd, struct x86_state *s, const char **step)
{
	int ret;

#define GET(req, arg) do {					\
		*step = #req;					\
		if (ioctl(fd, req, arg) < 0)			\
			return errno;				\
	} while (0)
	GET(KVM_GET_REGS, &s->regs);
	GET(KVM_GET_SREGS, &s->sregs);
	if (s->xsave && s->xsave_size > sizeof(struct kvm_xsave))
		GET(KVM_GET_XSAVE2, s->xsave);
	else if (s->xsave)
		GET(KVM_GET_XSAVE, s->xsave);
	else
		GET(KVM_GET_FPU, &s->fpu);
	if (s->has_xcrs)
		GET(KVM_GET_XCRS, &s->xcrs);
	*step = "KVM_GET_MSRS";
	ret = get_msrs(fd, s->msrs);
	if (ret)
		return ret;
	if (s->has_events)
		GET(KVM_GET_VCPU_EVENTS, &s->events);
	if (s->has_debugregs)
		GET(KVM_GET_DEBUGREGS, &s->debugregs);
#undef GET
	return 0;
}

int x86__state_load(int fd, const struct x86_state *s, const char **step)
{
	int ret;

	/*
	 * kvmtool's and QEMU's order: SREGS before REGS (the mode decides
	 * what the registers mean), REGS before EVENTS (KVM_SET_REGS drops a
	 * pending exception, EVENTS puts it back).
	 */
#define PUT(req, arg) do {					\
		*step = #req;					\
		if (ioctl(fd, req, arg) < 0)			\
			return errno;				\
	} while (0)
	PUT(KVM_SET_SREGS, &s->sregs);
	PUT(KVM_SET_REGS, &s->regs);
	if (s->xsave)
		PUT(KVM_SET_XSAVE, s->xsave);
	else
		PUT(KVM_SET_FPU, &s->fpu);
	if (s->has_xcrs)
		PUT(KVM_SET_XCRS, &s->xcrs);
	*step = "KVM_SET_MSRS";
	ret = ioctl(fd, KVM_SET_MSRS, s->msrs);
	if (ret < 0)
		return errno;
	/* It returns how many it set: it stops at the first it refuses. */
	if ((unsigned)ret != s->msrs->nmsrs)
		return EINVAL;
	if (s->has_events) {
		struct kvm_vcpu_events ev = s->events;

		/* GET does not flag nmi.pending as valid; SET must, to use it. */
		ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING;
		PUT(KVM_SET_VCPU_EVENTS, &ev);
	}
	if (s->has_debugregs)
		PUT(KVM_SET_DEBUGREGS, &s->debugregs);
#undef PUT
	return 0;
}
