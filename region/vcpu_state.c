/*
 * Saving and loading the vCPU whole, for snapshots: what KVM holds of it
 * (registers, FPU, the MSRs a long-mode guest uses, pending events, debug
 * registers) and what the vCPU thread holds (its state, the fault text).
 *
 * Both run with v->lock held and the vCPU not running, so the thread is
 * idle and no run can start under them.  What is optional in KVM is
 * probed at save and recorded, so a load puts back exactly what was got.
 */
#include "region/vcpu_priv.h"

#include <errno.h>
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

struct vcpu_saved {
	enum vcpu_state state;
	char fault[VCPU_FAULT_MAX];

	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave *xsave;	/* xsave_size bytes; NULL: fpu */
	size_t xsave_size;
	struct kvm_fpu fpu;
	bool has_xcrs, has_events, has_debugregs;
	struct kvm_xcrs xcrs;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
	struct kvm_msrs *msrs;		/* those KVM returned, of msr_list */
};

/* A capability's value on the VM (where KVM answers most), or the system. */
static int check_cap(struct vcpu *v, long cap)
{
	int ret = ioctl(v->vm->vm_fd, KVM_CHECK_EXTENSION, cap);

	if (ret < 0)
		ret = ioctl(v->vm->kvm_fd, KVM_CHECK_EXTENSION, cap);
	return ret < 0 ? 0 : ret;
}

/* Allocated before v->lock is taken: what the capabilities call for. */
static struct vcpu_saved *saved_alloc(struct vcpu *v)
{
	struct vcpu_saved *s = calloc(1, sizeof(*s));
	int size;

	if (!s)
		return NULL;
	s->msrs = calloc(1, sizeof(*s->msrs) +
			    NR_MSRS * sizeof(struct kvm_msr_entry));
	if (!s->msrs)
		goto fail;
	if (check_cap(v, KVM_CAP_XSAVE)) {
		/* XSAVE2 says how big the area is (more than 4 KiB with AMX). */
		size = check_cap(v, KVM_CAP_XSAVE2);
		s->xsave_size = (size_t)size > sizeof(struct kvm_xsave) ?
				(size_t)size : sizeof(struct kvm_xsave);
		s->xsave = calloc(1, s->xsave_size);
		if (!s->xsave)
			goto fail;
	}
	s->has_xcrs = check_cap(v, KVM_CAP_XCRS) > 0;
	s->has_events = check_cap(v, KVM_CAP_VCPU_EVENTS) > 0;
	s->has_debugregs = check_cap(v, KVM_CAP_DEBUGREGS) > 0;
	return s;
fail:
	vcpu__saved_free(s);
	return NULL;
}

void vcpu__saved_free(struct vcpu_saved *s)
{
	if (!s)
		return;
	free(s->xsave);
	free(s->msrs);
	free(s);
}

enum vcpu_state vcpu__saved_state(const struct vcpu_saved *s)
{
	return s->state;
}

/* The MSRs of msr_list that KVM returns, one KVM_GET_MSRS each. */
static int get_msrs(struct vcpu *v, struct kvm_msrs *msrs)
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
		ret = ioctl(v->fd, KVM_GET_MSRS, one);
		if (ret < 0)
			return errno;
		/* It returns how many it read: 0 for one KVM refuses. */
		if (ret == 1)
			msrs->entries[msrs->nmsrs++] = one->entries[0];
	}
	return 0;
}

static int get_locked(struct vcpu *v, struct vcpu_saved *s, const char **step)
{
	int ret;

#define GET(req, arg) do {					\
		*step = #req;					\
		if (ioctl(v->fd, req, arg) < 0)			\
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
	ret = get_msrs(v, s->msrs);
	if (ret)
		return ret;
	if (s->has_events)
		GET(KVM_GET_VCPU_EVENTS, &s->events);
	if (s->has_debugregs)
		GET(KVM_GET_DEBUGREGS, &s->debugregs);
#undef GET
	return 0;
}

int vcpu__save(struct vcpu *v, struct vcpu_saved **out)
{
	const char *step = "";
	struct vcpu_saved *s;
	int ret = 0;

	*out = NULL;
	s = saved_alloc(v);
	if (!s)
		return ENOMEM;
	pthread_mutex_lock(&v->lock);
	/* A pause still pending reads running: the registers move yet. */
	if (v->state == VCPU_RUNNING) {
		ret = EBUSY;
		goto out;
	}
	s->state = v->state;
	memcpy(s->fault, v->fault, sizeof(s->fault));
	ret = get_locked(v, s, &step);
	if (ret)
		vcpu_log(v, "vcpu: save: %s: %s", step, strerror(ret));
out:
	pthread_mutex_unlock(&v->lock);
	if (ret) {
		vcpu__saved_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

/*
 * A fault leaves its MMIO exit pending in KVM, which would complete it at
 * the next KVM_RUN: on the registers just loaded, moving rip and writing a
 * register from the old instruction.  Complete it now instead, before they
 * are loaded (immediate_exit: no guest instruction runs).  Whatever it
 * leaves in the registers is overwritten; the old instruction could only
 * write memory if it was a memory-to-memory one (movs from MMIO).
 */
static void discard_pending_locked(struct vcpu *v)
{
	int i;

	for (i = 0; i < VCPU_COMPLETE_MAX; i++) {
		v->run->immediate_exit = 1;
		/* 0: it asked for more (a next fragment); give it garbage. */
		if (ioctl(v->fd, KVM_RUN, 0) < 0 || !vcpu_io_exit(v->run))
			break;
	}
	v->run->immediate_exit = 0;
	v->io_pending = false;
}

static int put_locked(struct vcpu *v, const struct vcpu_saved *s,
		      const char **step)
{
	int ret;

	/*
	 * kvmtool's and QEMU's order: SREGS before REGS (the mode decides
	 * what the registers mean), REGS before EVENTS (KVM_SET_REGS drops a
	 * pending exception, EVENTS puts it back).
	 */
#define PUT(req, arg) do {					\
		*step = #req;					\
		if (ioctl(v->fd, req, arg) < 0)			\
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
	ret = ioctl(v->fd, KVM_SET_MSRS, s->msrs);
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
	/*
	 * Without an in-kernel APIC, every KVM_RUN sets CR8 from kvm_run,
	 * which still holds the value of the last exit, not the loaded one.
	 */
	v->run->cr8 = s->sregs.cr8;
	return 0;
}

int vcpu__load(struct vcpu *v, const struct vcpu_saved *s)
{
	const char *step = "";
	int ret;

	pthread_mutex_lock(&v->lock);
	if (v->state == VCPU_RUNNING) {
		ret = EBUSY;
		goto out;
	}
	if (v->io_pending)
		discard_pending_locked(v);
	ret = put_locked(v, s, &step);
	if (ret) {
		/* Half loaded: only a run from entry makes sense of it. */
		vcpu_log(v, "vcpu: load: %s: %s; the vCPU is stopped", step,
			 strerror(ret));
		v->state = VCPU_STOPPED;
		v->reset = true;
	} else {
		v->state = s->state;
		/* Paused, halted, faulted: the registers are the loaded ones. */
		v->reset = s->state == VCPU_STOPPED;
		memcpy(v->fault, s->fault, sizeof(v->fault));
	}
	pthread_cond_broadcast(&v->cond);
out:
	pthread_mutex_unlock(&v->lock);
	return ret;
}
