/*
 * What the vCPU's control calls (vcpu.c) and its exit handling (exit.c)
 * share: the log line, the bounded deadlines, and leaving the running
 * state.  Below both, so that neither calls the other back.
 */
#include "region/kvm/vcpu_priv.h"

#include <stdarg.h>
#include <stdio.h>

void vcpu_log(struct vcpu *v, const char *fmt, ...)
{
	char line[VCPU_FAULT_MAX + 64];
	va_list ap;

	if (!v->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	v->cfg.log(v->cfg.log_arg, "%s", line);
}

void vcpu_timeout(struct timespec *ts, unsigned ms)
{
	*ts = region__deadline_ms(ms);
}

/* Called by the thread, v->lock held, when it leaves the running state. */
void vcpu_leave_locked(struct vcpu *v, enum vcpu_state to)
{
	if (v->state == VCPU_RUNNING) {
		vm__guest_exit(v->vm);
		vcpu_run_end_locked(v);
	}
	v->state = to;
	if (to == VCPU_STOPPED)
		v->reset = true;
	atomic_fetch_add(&v->gen, 1);
	pthread_cond_broadcast(&v->cond);
}
