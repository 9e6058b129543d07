/*
 * Saving and loading the vCPU whole, for snapshots: what KVM holds of it
 * (x86/cpu_state.c) and what the vCPU thread holds (its state, the fault
 * text).  Both run with v->lock held and the vCPU not running, so the
 * thread is idle and no run can start under them.
 */
#include "region/kvm/vcpu_priv.h"
#include "region/x86/x86.h"
#include "region/util/codec.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

void vcpu__saved_free(struct vcpu_saved *s)
{
	if (!s)
		return;
	x86__state_free(s->cpu);
	free(s->console);
	free(s);
}

enum vcpu_state vcpu__saved_state(const struct vcpu_saved *s)
{
	return s->state;
}

void vcpu__saved_config(const struct vcpu_saved *s, struct vcpu_config *cfg)
{
	cfg->entry = s->entry;
	cfg->stack = s->stack;
}

uint64_t vcpu__saved_rip(const struct vcpu_saved *s)
{
	return x86__state_rip(s->cpu);
}

/* Numbers the saved states, so a vCPU knows which one KVM holds. */
static _Atomic uint64_t saved_seq = 1;

/*
 * KVM's state into s->cpu: a copy of the last full save while KVM holds
 * it still (nothing ran since), with the clock read (one ioctl against
 * seven); else read whole, and kept as the last.
 */
static int save_cpu_locked(struct vcpu *v, struct vcpu_saved *s,
			   struct x86_state *spare, const char **step)
{
	int ret;

	if (v->last && v->last_seq && v->held == v->last_seq &&
	    !v->io_pending) {
		x86__state_copy(s->cpu, v->last);
		*step = "KVM_GET_MSRS";
		return x86__state_save_tsc(v->fd, s->cpu);
	}
	ret = x86__state_save(v->fd, s->cpu, step);
	if (!v->last)
		v->last = spare;
	if (!ret && v->last)
		x86__state_copy(v->last, s->cpu);
	v->last_seq = 0;
	return ret;
}

int vcpu__save(struct vcpu *v, struct vcpu_saved **out)
{
	struct x86_state *spare = NULL;
	const char *step = "";
	struct vcpu_saved *s;
	int ret = 0;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s)
		s->cpu = x86__state_alloc(v->vm->kvm_fd, v->vm->vm_fd);
	if (!s || !s->cpu) {
		vcpu__saved_free(s);
		return ENOMEM;
	}
	/* The first save keeps a copy; made here, out of the lock. */
	if (!__atomic_load_n(&v->last, __ATOMIC_ACQUIRE))
		spare = x86__state_alloc(v->vm->kvm_fd, v->vm->vm_fd);
	pthread_mutex_lock(&v->lock);
	/* A pause still pending reads running: the registers move yet. */
	if (v->state == VCPU_RUNNING) {
		ret = EBUSY;
		goto out;
	}
	/*
	 * Paused before the thread reset it to the entry (a pause right
	 * after run): KVM holds its power-on registers, which mean nothing
	 * paused.  Nothing of the guest has run: saved as stopped, a restore
	 * starts it from the entry, as its next run would.
	 */
	s->state = v->state == VCPU_PAUSED && v->reset ? VCPU_STOPPED :
		   v->state;
	s->entry = v->cfg.entry;
	s->stack = v->cfg.stack;
	memcpy(s->fault, v->fault, sizeof(s->fault));
	s->fault_rec = v->fault_rec;
	ret = vcpu_console_save_locked(v, s);
	if (ret)
		goto out;
	/* The clock a restore left pending is the state's, not KVM's now. */
	ret = vcpu_clock_locked(v);
	if (ret)
		goto out;
	ret = save_cpu_locked(v, s, spare, &step);
	if (v->last == spare)
		spare = NULL;
	if (ret) {
		vcpu_log(v, "vcpu: save: %s: %s", step, strerror(ret));
	} else if (!v->io_pending) {
		/* KVM holds what was just read (a pending exit aside). */
		s->seq = atomic_fetch_add(&saved_seq, 1);
		v->held = s->seq;
		v->last_seq = s->seq;
	}
out:
	pthread_mutex_unlock(&v->lock);
	x86__state_free(spare);
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

	/* Completing it may write guest memory: the dirty logs must look. */
	vm__note_run(v->vm);
	for (i = 0; i < VCPU_COMPLETE_MAX; i++) {
		vcpu_immediate_exit(v, 1);
		/* 0: it asked for more (a next fragment); give it garbage. */
		if (ioctl(v->fd, KVM_RUN, 0) < 0 || !vcpu_io_exit(v->run))
			break;
	}
	vcpu_immediate_exit(v, 0);
	v->io_pending = false;
}

int vcpu__load(struct vcpu *v, const struct vcpu_saved *s)
{
	const char *step = "";
	enum vcpu_state was;
	bool held;
	int ret;

	pthread_mutex_lock(&v->lock);
	was = v->state;
	if (was == VCPU_RUNNING) {
		ret = EBUSY;
		goto out;
	}
	held = s->seq && v->held == s->seq && !v->io_pending;
	if (held) {
		/*
		 * KVM holds s already (nothing ran since it was saved or
		 * loaded), but for the clock, which ran on: set when the guest
		 * runs (a vCPU ioctl costs microseconds, a restore here none).
		 * The console holds s's too: only a running guest writes it.
		 */
		v->tsc_pending = x86__state_tsc(s->cpu, &v->tsc);
		ret = 0;
	} else {
		if (v->io_pending)
			discard_pending_locked(v);
		v->tsc_pending = false;
		/* What KVM gives back of it is KVM's: the next save reads it. */
		v->last_seq = 0;
		ret = x86__state_load(v->fd, s->cpu, &step);
	}
	v->held = ret ? 0 : s->seq;
	if (ret) {
		/* Half loaded: only a run from entry makes sense of it. */
		vcpu_log(v, "vcpu: load: %s: %s; the vCPU is stopped", step,
			 strerror(ret));
		v->state = VCPU_STOPPED;
		v->reset = true;
	} else {
		/*
		 * Without an in-kernel APIC, every KVM_RUN sets CR8 from
		 * kvm_run, which still holds the value of the last exit, not
		 * the loaded one.
		 */
		v->run->cr8 = x86__state_cr8(s->cpu);
		v->state = s->state;
		/* Paused, halted, faulted: the registers are the loaded ones. */
		v->reset = s->state == VCPU_STOPPED;
		memcpy(v->fault, s->fault, sizeof(v->fault));
		v->fault_rec = s->fault_rec;
		if (!held)
			vcpu_console_load_locked(v, s);
	}
	/*
	 * The thread waits for running, which a load never gives, and
	 * waking it for nothing costs a restore a context switch: only a
	 * change of state is said.
	 */
	atomic_fetch_add(&v->gen, 1);
	if (v->state != was)
		pthread_cond_broadcast(&v->cond);
out:
	pthread_mutex_unlock(&v->lock);
	return ret;
}
