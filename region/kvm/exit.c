/*
 * What the vCPU thread does with each KVM exit: the guest's I/O ports
 * (console, sleep), hlt, and everything that ends in "faulted".
 * All of it runs on the vCPU thread with v->lock held.
 */
#include "region/kvm/vcpu_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

const char *vcpu__exit_name(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_UNKNOWN: return "UNKNOWN";
	case KVM_EXIT_EXCEPTION: return "EXCEPTION";
	case KVM_EXIT_IO: return "IO";
	case KVM_EXIT_HYPERCALL: return "HYPERCALL";
	case KVM_EXIT_DEBUG: return "DEBUG";
	case KVM_EXIT_HLT: return "HLT";
	case KVM_EXIT_MMIO: return "MMIO";
	case KVM_EXIT_IRQ_WINDOW_OPEN: return "IRQ_WINDOW_OPEN";
	case KVM_EXIT_SHUTDOWN: return "SHUTDOWN";
	case KVM_EXIT_FAIL_ENTRY: return "FAIL_ENTRY";
	case KVM_EXIT_INTR: return "INTR";
	case KVM_EXIT_INTERNAL_ERROR: return "INTERNAL_ERROR";
	case KVM_EXIT_SYSTEM_EVENT: return "SYSTEM_EVENT";
	default: return "other";
	}
}

static uint64_t rip(struct vcpu *v)
{
	struct kvm_regs regs;

	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0)
		return ~0ULL;
	return regs.rip;
}

struct vcpu_fault *vcpu_fault_prepare_locked(struct vcpu *v, uint32_t reason,
					     uint64_t at)
{
	struct vcpu_fault *f = &v->fault_rec;

	memset(f, 0, sizeof(*f));
	f->exit_reason = reason;
	snprintf(f->exit_name, sizeof(f->exit_name), "%s",
		 vcpu__exit_name(reason));
	f->has_rip = at != ~0ULL;
	f->rip = at;
	v->fault_ready = true;
	return f;
}

void vcpu_fault_locked(struct vcpu *v, const char *fmt, ...)
{
	struct vcpu_fault *f = &v->fault_rec;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->fault, sizeof(v->fault), fmt, ap);
	va_end(ap);
	/* Not at an exit: KVM_RUN failed, or the vCPU could not be reset. */
	if (!v->fault_ready) {
		memset(f, 0, sizeof(*f));
		f->exit_reason = VCPU_FAULT_NO_EXIT;
		snprintf(f->exit_name, sizeof(f->exit_name), "none");
	}
	v->fault_ready = false;
	f->valid = true;
	snprintf(f->text, sizeof(f->text), "%s", v->fault);
	clock_gettime(CLOCK_REALTIME, &f->when);
	v->faults++;
	vcpu_log(v, "vcpu: faulted: %s", v->fault);
	vcpu_leave_locked(v, VCPU_FAULTED);
}

/*
 * The sleep hypercall: wait on the condition variable, so the thread
 * burns no CPU, until the time is up or someone wants the vCPU (pause,
 * stop, free).  A pause cuts the sleep short: after run, the guest goes
 * on as if it had slept its full time.
 */
static void guest_sleep(struct vcpu *v, uint32_t ms)
{
	struct timespec deadline;
	int ret = 0;

	if (ms > VCPU_SLEEP_MAX_MS)
		ms = VCPU_SLEEP_MAX_MS;
	vcpu_timeout(&deadline, ms);
	while (v->request == VCPU_REQ_NONE && !v->quit && ret != ETIMEDOUT)
		ret = pthread_cond_timedwait(&v->cond, &v->lock, &deadline);
}

static void port_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	size_t n = (size_t)run->io.size * run->io.count;
	uint32_t ms = 0;

	if (run->io.direction == KVM_EXIT_IO_IN) {
		/* Nothing answers: all ones, like an empty ISA bus. */
		memset(data, 0xff, n);
		return;
	}
	switch (run->io.port) {
	case VCPU_PORT_CONSOLE:
		vcpu_console_put(v, data, n);
		break;
	case VCPU_PORT_SLEEP:
		/* The last value of a rep outs, of whatever width it was. */
		memcpy(&ms, data + n - run->io.size,
		       run->io.size < 4 ? run->io.size : 4);
		guest_sleep(v, ms);
		break;
	default:
		break;	/* outs to other ports are ignored */
	}
}

static void mmio_fault(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint64_t gpa = run->mmio.phys_addr, start;
	struct region *r = vm__region_at(v->vm, gpa, &start);
	uint64_t at = rip(v);
	struct vcpu_fault *f;
	bool ro = false;

	if (r)
		vm__mapping(v->vm, r, &start, &ro);
	f = vcpu_fault_prepare_locked(v, KVM_EXIT_MMIO, at);
	f->memory = true;
	f->gpa = gpa;
	f->len = run->mmio.len;
	f->write = run->mmio.is_write;
	f->region_ro = ro;
	if (r)
		snprintf(f->region, sizeof(f->region), "%s", region__name(r));
	vcpu_fault_locked(v, "exit reason %u (MMIO) at rip 0x%llx: %s of %u "
			  "bytes at 0x%llx (%s%s)", KVM_EXIT_MMIO,
			  (unsigned long long)at,
			  run->mmio.is_write ? "write" : "read", run->mmio.len,
			  (unsigned long long)gpa,
			  r ? region__name(r) : "no region there",
			  ro ? ": read-only" : "");
	region__put(r);
}

void vcpu_exit_locked(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t reason = run->exit_reason;
	uint64_t at;

	v->exits[reason < VCPU_EXIT_REASONS ? reason : VCPU_EXIT_REASONS - 1]++;
	switch (reason) {
	case KVM_EXIT_IO:
		port_io(v);
		return;
	case KVM_EXIT_INTR:
		return;
	case KVM_EXIT_HLT:
		vcpu_log(v, "vcpu: halted at rip 0x%llx",
			 (unsigned long long)rip(v));
		vcpu_leave_locked(v, VCPU_HALTED);
		return;
	case KVM_EXIT_MMIO:
		mmio_fault(v);
		return;
	case KVM_EXIT_FAIL_ENTRY:
		at = rip(v);
		vcpu_fault_prepare_locked(v, reason, at);
		vcpu_fault_locked(v, "exit reason %u (FAIL_ENTRY) at rip 0x%llx:"
				  " hardware reason 0x%llx", reason,
				  (unsigned long long)at,
				  (unsigned long long)run->fail_entry
					  .hardware_entry_failure_reason);
		return;
	case KVM_EXIT_INTERNAL_ERROR:
		at = rip(v);
		vcpu_fault_prepare_locked(v, reason, at);
		vcpu_fault_locked(v, "exit reason %u (INTERNAL_ERROR) at rip "
				  "0x%llx: suberror %u", reason,
				  (unsigned long long)at,
				  run->internal.suberror);
		return;
	case KVM_EXIT_SHUTDOWN:
		/* KVM has INITed the vCPU (the VMCB is undefined after it). */
		at = rip(v);
		vcpu_fault_prepare_locked(v, reason, at);
		vcpu_fault_locked(v, "exit reason %u (SHUTDOWN) at rip 0x%llx: "
				  "a triple fault; KVM has reset the vCPU, so "
				  "rip is the reset vector", reason,
				  (unsigned long long)at);
		return;
	default:
		at = rip(v);
		vcpu_fault_prepare_locked(v, reason, at);
		vcpu_fault_locked(v, "exit reason %u (%s) at rip 0x%llx",
				  reason, vcpu__exit_name(reason),
				  (unsigned long long)at);
	}
}
