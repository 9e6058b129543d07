/*
 * The CPU state of a vCPU (x86.h), for snapshots: registers, FPU, the
 * MSRs a long-mode guest uses, pending events, debug registers.  The
 * caller makes sure the vCPU is not running meanwhile (kvm/save.c).
 */
#include "region/x86/cpu_priv.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdatomic.h>
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
#define MSR_IA32_TSC 0x00000010

static const uint32_t msr_list[] = {
	0x00000174,	/* IA32_SYSENTER_CS */
	0x00000175,	/* IA32_SYSENTER_ESP */
	0x00000176,	/* IA32_SYSENTER_EIP */
	0xc0000081,	/* STAR */
	0xc0000082,	/* LSTAR */
	0xc0000083,	/* CSTAR */
	0xc0000084,	/* SFMASK */
	0xc0000102,	/* KERNEL_GS_BASE */
	MSR_IA32_TSC,
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

/*
 * What the capabilities say, asked once: they are the host's and the VM's
 * (one VM per process) and do not change, and asking took ten ioctls of
 * every snapshot.  Racing first callers compute the same values.
 */
static struct {
	atomic_bool known;
	size_t xsave_size;	/* 0: no XSAVE */
	bool xcrs, events, debugregs;
} caps;

static void probe_caps(int kvm_fd, int vm_fd)
{
	size_t xsave = 0;
	int size;

	if (atomic_load(&caps.known))
		return;
	if (check_cap(kvm_fd, vm_fd, KVM_CAP_XSAVE)) {
		/* XSAVE2 says how big the area is (more than 4 KiB with AMX). */
		size = check_cap(kvm_fd, vm_fd, KVM_CAP_XSAVE2);
		xsave = (size_t)size > sizeof(struct kvm_xsave) ?
			(size_t)size : sizeof(struct kvm_xsave);
	}
	caps.xsave_size = xsave;
	caps.xcrs = check_cap(kvm_fd, vm_fd, KVM_CAP_XCRS) > 0;
	caps.events = check_cap(kvm_fd, vm_fd, KVM_CAP_VCPU_EVENTS) > 0;
	caps.debugregs = check_cap(kvm_fd, vm_fd, KVM_CAP_DEBUGREGS) > 0;
	atomic_store(&caps.known, true);
}

struct x86_state *x86__state_alloc(int kvm_fd, int vm_fd)
{
	struct x86_state *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->msrs = calloc(1, sizeof(*s->msrs) +
			    NR_MSRS * sizeof(struct kvm_msr_entry));
	if (!s->msrs)
		goto fail;
	probe_caps(kvm_fd, vm_fd);
	if (caps.xsave_size) {
		s->xsave_size = caps.xsave_size;
		s->xsave = calloc(1, s->xsave_size);
		if (!s->xsave)
			goto fail;
	}
	s->has_xcrs = caps.xcrs;
	s->has_events = caps.events;
	s->has_debugregs = caps.debugregs;
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

/*
 * Which of msr_list KVM returns (bit i: msr_list[i]), as the first probe
 * found; 0: not probed yet.  It depends on the guest's CPUID, which is
 * the same for every vCPU of the process (boot.c sets it once).
 */
static _Atomic uint32_t msrs_taken;

/*
 * All of them in one KVM_GET_MSRS, once the probe below knows which KVM
 * takes: false (and nothing said) when it stops short, and the probe
 * runs again.
 */
static bool get_msrs_known(int fd, struct kvm_msrs *msrs)
{
	uint32_t taken = atomic_load(&msrs_taken);

	if (!taken)
		return false;
	msrs->nmsrs = 0;
	for (size_t i = 0; i < NR_MSRS; i++) {
		if (!(taken & (1U << i)))
			continue;
		memset(&msrs->entries[msrs->nmsrs], 0,
		       sizeof(msrs->entries[0]));
		msrs->entries[msrs->nmsrs++].index = msr_list[i];
	}
	return ioctl(fd, KVM_GET_MSRS, msrs) == (int)msrs->nmsrs;
}

/* The MSRs of msr_list that KVM returns, one KVM_GET_MSRS each. */
static int get_msrs(int fd, struct kvm_msrs *msrs)
{
	uint32_t taken = 0;

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
		if (ret == 1) {
			msrs->entries[msrs->nmsrs++] = one->entries[0];
			taken |= 1U << i;
		}
	}
	atomic_store(&msrs_taken, taken);
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
	ret = get_msrs_known(fd, s->msrs) ? 0 : get_msrs(fd, s->msrs);
	if (ret)
		return ret;
	if (s->has_events)
		GET(KVM_GET_VCPU_EVENTS, &s->events);
	if (s->has_debugregs)
		GET(KVM_GET_DEBUGREGS, &s->debugregs);
#undef GET
	return 0;
}

bool x86__state_tsc(const struct x86_state *s, uint64_t *tsc)
{
	for (uint32_t i = 0; i < s->msrs->nmsrs; i++) {
		if (s->msrs->entries[i].index == MSR_IA32_TSC) {
			*tsc = s->msrs->entries[i].data;
			return true;
		}
	}
	return false;
}

void x86__state_copy(struct x86_state *dst, const struct x86_state *src)
{
	struct kvm_xsave *xsave = dst->xsave;
	struct kvm_msrs *msrs = dst->msrs;
	size_t xsave_size = dst->xsave_size;

	/* The scalars; then what the pointers hold, into dst's own. */
	*dst = *src;
	dst->xsave = xsave;
	dst->msrs = msrs;
	dst->xsave_size = xsave_size;
	if (xsave && src->xsave)
		memcpy(xsave, src->xsave, xsave_size < src->xsave_size ?
			      xsave_size : src->xsave_size);
	msrs->nmsrs = src->msrs->nmsrs;
	memcpy(msrs->entries, src->msrs->entries,
	       src->msrs->nmsrs * sizeof(msrs->entries[0]));
}

int x86__state_save_tsc(int fd, struct x86_state *s)
{
	uint64_t buf[(sizeof(struct kvm_msrs) +
		      sizeof(struct kvm_msr_entry) + 7) / 8] = { 0 };
	struct kvm_msrs *one = (struct kvm_msrs *)buf;
	int ret;

	for (uint32_t i = 0; i < s->msrs->nmsrs; i++) {
		if (s->msrs->entries[i].index != MSR_IA32_TSC)
			continue;
		one->nmsrs = 1;
		one->entries[0].index = MSR_IA32_TSC;
		ret = ioctl(fd, KVM_GET_MSRS, one);
		if (ret < 0)
			return errno;
		/* It returns how many it read. */
		if (ret != 1)
			return EINVAL;
		s->msrs->entries[i].data = one->entries[0].data;
	}
	return 0;
}

int x86__set_tsc(int fd, uint64_t tsc)
{
	uint64_t buf[(sizeof(struct kvm_msrs) +
		      sizeof(struct kvm_msr_entry) + 7) / 8] = { 0 };
	struct kvm_msrs *one = (struct kvm_msrs *)buf;
	int ret;

	one->nmsrs = 1;
	one->entries[0].index = MSR_IA32_TSC;
	one->entries[0].data = tsc;
	ret = ioctl(fd, KVM_SET_MSRS, one);
	if (ret < 0)
		return errno;
	/* It returns how many it set. */
	return ret == 1 ? 0 : EINVAL;
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
