/*
 * The vCPU for inspection (inspect.h): registers read under v->lock while
 * the thread is idle, the paging registers it leaves behind, the fault
 * record and the counters.
 */
#include "region/kvm/inspect.h"
#include "region/kvm/vcpu_priv.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static uint64_t ns_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - t0->tv_sec) * 1000000000ULL +
	       (uint64_t)(now.tv_nsec - t0->tv_nsec);
}

void vcpu_run_begin_locked(struct vcpu *v)
{
	atomic_fetch_add(&v->gen, 1);
	v->runs++;
	clock_gettime(CLOCK_MONOTONIC, &v->run_since);
}

/*
 * On the thread, which owns the fd while it runs: one KVM_GET_SREGS per
 * pause, halt, fault or stop, so vmem can walk the tables the guest was
 * last seen with while it runs again.
 */
void vcpu_run_end_locked(struct vcpu *v)
{
	atomic_fetch_add(&v->gen, 1);
	v->run_ns += ns_since(&v->run_since);
	if (!x86__get_paging(v->fd, &v->paging))
		v->paging_known = true;
}

int vcpu__regs(struct vcpu *v, struct x86_regs *out, enum vcpu_state *state)
{
	const char *step;
	int ret;

	pthread_mutex_lock(&v->lock);
	*state = v->state;
	/* The thread is in KVM_RUN, or may be at any moment. */
	if (v->state == VCPU_RUNNING)
		ret = EBUSY;
	else
		ret = x86__get_regs(v->fd, out, &step);
	pthread_mutex_unlock(&v->lock);
	return ret;
}

int vcpu__paging(struct vcpu *v, struct x86_paging *out, bool *live)
{
	int ret = 0;

	pthread_mutex_lock(&v->lock);
	*live = v->state == VCPU_RUNNING;
	if (!*live) {
		ret = x86__get_paging(v->fd, &v->paging);
		v->paging_known = !ret;
	} else if (!v->paging_known) {
		/* Between run and the thread's reset: a moment at most. */
		ret = EBUSY;
	}
	if (!ret)
		*out = v->paging;
	pthread_mutex_unlock(&v->lock);
	return ret;
}

uint64_t vcpu__gen(struct vcpu *v)
{
	return atomic_load(&v->gen);
}

void vcpu__fault_info(struct vcpu *v, struct vcpu_fault *out)
{
	pthread_mutex_lock(&v->lock);
	*out = v->fault_rec;
	pthread_mutex_unlock(&v->lock);
}

void vcpu__stats(struct vcpu *v, struct vcpu_stats *out)
{
	pthread_mutex_lock(&v->lock);
	out->state = v->state;
	out->run_ns = v->run_ns;
	if (v->state == VCPU_RUNNING)
		out->run_ns += ns_since(&v->run_since);
	out->runs = v->runs;
	out->faults = v->faults;
	memcpy(out->exits, v->exits, sizeof(out->exits));
	pthread_mutex_unlock(&v->lock);
}
