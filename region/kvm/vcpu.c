/*
 * The vCPU: one KVM vCPU in 64-bit long mode, driven by a thread of its own.
 *
 * The thread owns KVM_RUN; the control calls (run, pause, stop) only change
 * the requested state under v->lock, kick the thread out of KVM_RUN and wait
 * a bounded time for it to acknowledge.  Whoever moves the state into
 * running calls vm__guest_enter; the thread calls vm__guest_exit when it
 * leaves running, so "a running vCPU holds every mapped region shared"
 * holds for the whole running period (sleep hypercalls included).
 */
#include "region/kvm/vcpu.h"
#include "region/kvm/vcpu_priv.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Intel's real-mode TSS (kvmtool's address); we never run real mode. */
#define TSS_GPA 0xfffbd000

static const char *const state_names[] = {
	[VCPU_STOPPED] = "stopped",
	[VCPU_RUNNING] = "running",
	[VCPU_PAUSED] = "paused",
	[VCPU_HALTED] = "halted",
	[VCPU_FAULTED] = "faulted",
};

const char *vcpu__state_name(enum vcpu_state s)
{
	if ((unsigned)s >= sizeof(state_names) / sizeof(state_names[0]))
		return "unknown";
	return state_names[s];
}

static int kick_signal(void)
{
	return SIGRTMIN;
}

static void kick_handler(int sig)
{
	(void)sig;	/* only there so KVM_RUN returns EINTR */
}

static void install_kick(void)
{
	struct sigaction sa = { .sa_handler = kick_handler };

	/* No SA_RESTART: the point is that KVM_RUN returns. */
	sigemptyset(&sa.sa_mask);
	sigaction(kick_signal(), &sa, NULL);
}

int vcpu_clock_locked(struct vcpu *v)
{
	int ret;

	if (!v->tsc_pending)
		return 0;
	v->tsc_pending = false;
	ret = x86__set_tsc(v->fd, v->tsc);
	if (ret)
		vcpu_log(v, "vcpu: setting the restored clock: KVM_SET_MSRS: "
			 "%s", strerror(ret));
	return ret;
}

/*
 * Make the thread notice v->request: immediate_exit covers the window
 * between its last look at the request and KVM_RUN, the signal a KVM_RUN
 * already under way, the broadcast a sleep hypercall.
 */
static void kick_locked(struct vcpu *v)
{
	vcpu_immediate_exit(v, 1);
	pthread_cond_broadcast(&v->cond);
	if (v->thread_started)
		pthread_kill(v->thread, kick_signal());
}

bool vcpu_io_exit(const struct kvm_run *run)
{
	return run->exit_reason == KVM_EXIT_IO ||
	       run->exit_reason == KVM_EXIT_MMIO;
}

/*
 * Complete a pending I/O exit without running the guest: KVM_RUN with
 * immediate_exit finishes the operation, then returns (api.rst).  Without
 * it a paused vCPU's registers show rip still at its OUT, and a state saved
 * then would replay the OUT once loaded (the completion is KVM's, not in
 * any register).  The console byte is already taken, so it is not doubled.
 * Should the completion ask for more (the next chunk of a string IN), that
 * exit is handled like any; the pending request cuts a sleep short.
 * With a reset to come, vcpu_reset does it (a fault's leftover, out of
 * place here).
 */
static void complete_io_locked(struct vcpu *v)
{
	int ret, err;

	for (int i = 0; i < VCPU_COMPLETE_MAX && v->io_pending && !v->reset &&
			v->state == VCPU_RUNNING; i++) {
		vcpu_immediate_exit(v, 1);
		ret = ioctl(v->fd, KVM_RUN, 0);
		err = errno;
		if (ret < 0) {
			/* EINTR is the normal end: completed, nothing run. */
			if (err != EINTR && err != EAGAIN)
				vcpu_log(v, "vcpu: completing I/O: KVM_RUN: %s",
					 strerror(err));
			v->io_pending = false;
			break;
		}
		v->io_pending = vcpu_io_exit(v->run);
		vcpu_exit_locked(v);
	}
	if (v->io_pending && !v->reset && v->state == VCPU_RUNNING)
		vcpu_log(v, "vcpu: I/O still pending after %d completions",
			 VCPU_COMPLETE_MAX);
	vcpu_immediate_exit(v, 0);
}

/* The page tables and GDT, into the boot region like any host write. */
static int write_tables(struct vcpu *v, struct why *why)
{
	uint8_t *tables = malloc(VCPU_BOOT_SIZE);
	size_t n;
	int ret;

	if (!tables)
		return why__set(why, ENOMEM, "no memory for the page tables");
	x86__boot_tables(tables, VCPU_BOOT_GPA);
	ret = region__write(v->boot, tables, VCPU_BOOT_SIZE, 0, &n);
	free(tables);
	if (!ret && n != VCPU_BOOT_SIZE)
		ret = EIO;
	if (ret)
		return why__set(why, ret, "cannot write the page tables: %s",
				strerror(ret));
	return 0;
}

/*
 * Back to the entry point.  Called by the thread, unlocked, in the running
 * state (so the guest side already holds the regions).
 */
static int reset(struct vcpu *v, struct why *why)
{
	struct x86_paging paging;
	uint64_t gpa;
	int ret;

	if (!vm__mapping(v->vm, v->boot, &gpa, NULL) || gpa != VCPU_BOOT_GPA)
		return why__set(why, EINVAL, "region %s is not mapped at "
				"0x%llx: no page tables", region__name(v->boot),
				VCPU_BOOT_GPA);
	/*
	 * An I/O or MMIO exit is only complete once KVM_RUN is entered
	 * again; do that without running the guest before the registers
	 * are overwritten, or the stale completion lands after the reset.
	 * (A kick that sets immediate_exit meanwhile comes with a request,
	 * which the thread looks at before its next KVM_RUN.)
	 */
	vcpu_immediate_exit(v, 1);
	ioctl(v->fd, KVM_RUN, 0);
	vcpu_immediate_exit(v, 0);

	ret = write_tables(v, why);
	if (ret)
		return ret;
	ret = x86__reset(v->fd, VCPU_BOOT_GPA, v->cfg.entry, v->cfg.stack,
			 why);
	/* What vmem walks while this run goes on (inspect.h). */
	if (!ret && !x86__get_paging(v->fd, &paging)) {
		pthread_mutex_lock(&v->lock);
		v->paging = paging;
		v->paging_known = true;
		atomic_fetch_add(&v->gen, 1);
		pthread_mutex_unlock(&v->lock);
	}
	return ret;
}

static int apply_request_locked(struct vcpu *v)
{
	enum vcpu_req req = v->request;

	/* Before the request goes: a sleep met on the way must not wait. */
	complete_io_locked(v);
	v->request = VCPU_REQ_NONE;
	vcpu_immediate_exit(v, 0);
	/* A fault met completing stays, unless it was asked to stop. */
	if (req == VCPU_REQ_PAUSE && v->state == VCPU_RUNNING)
		vcpu_leave_locked(v, VCPU_PAUSED);
	else if (req == VCPU_REQ_STOP)
		vcpu_leave_locked(v, VCPU_STOPPED);
	return 0;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct why why;
	sigset_t set;
	int ret, err;

	/* Signals are the main thread's business, except our kick. */
	sigfillset(&set);
	sigdelset(&set, kick_signal());
	pthread_sigmask(SIG_SETMASK, &set, NULL);

	pthread_mutex_lock(&v->lock);
	while (!v->quit) {
		if (v->state != VCPU_RUNNING) {
			pthread_cond_wait(&v->cond, &v->lock);
			continue;
		}
		if (v->request != VCPU_REQ_NONE) {
			apply_request_locked(v);
			continue;
		}
		if (v->reset) {
			/*
			 * Unlocked: it writes the boot region, which may wait
			 * for a host access, and state readers must not.  Only
			 * this thread touches the vCPU; a request that comes
			 * meanwhile is seen at the top of the loop.
			 */
			pthread_mutex_unlock(&v->lock);
			ret = reset(v, &why);
			pthread_mutex_lock(&v->lock);
			/* reset completed what was pending. */
			v->io_pending = false;
			if (ret)
				vcpu_fault_locked(v, "%s", why.msg);
			else
				v->reset = false;
			continue;
		}
		pthread_mutex_unlock(&v->lock);
		ret = ioctl(v->fd, KVM_RUN, 0);
		err = errno;
		pthread_mutex_lock(&v->lock);
		/* Entering KVM_RUN completed the previous one, whatever else. */
		v->io_pending = ret == 0 && vcpu_io_exit(v->run);
		if (ret < 0) {
			/* A kick nobody wants any more must not spin us. */
			if (v->request == VCPU_REQ_NONE && !v->quit)
				vcpu_immediate_exit(v, 0);
			if (err == EINTR || err == EAGAIN)
				continue;
			vcpu_fault_locked(v, "KVM_RUN: %s", strerror(err));
			continue;
		}
		vcpu_exit_locked(v);
	}
	/* Said under the lock: vcpu__free waits for it, boundedly. */
	v->exited = true;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	return NULL;
}

/* Ask for req and wait, bounded, until the state is no longer running. */
static int request_locked(struct vcpu *v, enum vcpu_req req)
{
	struct timespec deadline;
	int ret = 0;

	v->request = req;
	kick_locked(v);
	vcpu_timeout(&deadline, VCPU_WAIT_MS);
	while (v->state == VCPU_RUNNING && ret != ETIMEDOUT)
		ret = pthread_cond_timedwait(&v->cond, &v->lock, &deadline);
	/* Still running: the request stays pending, the thread will get to it. */
	return v->state == VCPU_RUNNING ? EBUSY : 0;
}

static int run_locked(struct vcpu *v)
{
	int ret = 0;

	switch (v->state) {
	case VCPU_RUNNING:
		/* A pause or stop still pending past its wait: cancel it. */
		v->request = VCPU_REQ_NONE;
		vcpu_immediate_exit(v, 0);
		break;
	case VCPU_STOPPED:
	case VCPU_PAUSED:
		ret = vm__guest_enter(v->vm);
		if (ret)
			break;
		/* The guest moves the registers on: no saved state holds. */
		v->held = 0;
		/* A failure is logged; the guest runs on a later clock. */
		vcpu_clock_locked(v);
		v->request = VCPU_REQ_NONE;
		vcpu_immediate_exit(v, 0);
		v->state = VCPU_RUNNING;
		vcpu_run_begin_locked(v);
		pthread_cond_broadcast(&v->cond);
		break;
	default:
		ret = EINVAL;	/* halted/faulted: stop, then run */
	}
	return ret;
}

int vcpu__run(struct vcpu *v)
{
	int ret;

	pthread_mutex_lock(&v->lock);
	ret = run_locked(v);
	pthread_mutex_unlock(&v->lock);
	return ret;
}

int vcpu__pause(struct vcpu *v)
{
	return vcpu__pause_gen(v, NULL);
}

int vcpu__pause_gen(struct vcpu *v, uint64_t *gen)
{
	int ret = 0;

	pthread_mutex_lock(&v->lock);
	if (v->state == VCPU_RUNNING)
		ret = request_locked(v, VCPU_REQ_PAUSE);
	if (!ret && v->state != VCPU_PAUSED)
		ret = EINVAL;
	if (!ret && gen)
		*gen = atomic_load(&v->gen);
	pthread_mutex_unlock(&v->lock);
	return ret;
}

int vcpu__resume(struct vcpu *v, uint64_t gen)
{
	int ret = ESTALE;

	pthread_mutex_lock(&v->lock);
	if (v->state == VCPU_PAUSED && atomic_load(&v->gen) == gen)
		ret = run_locked(v);
	pthread_mutex_unlock(&v->lock);
	return ret;
}

int vcpu__stop(struct vcpu *v)
{
	int ret = 0;

	pthread_mutex_lock(&v->lock);
	if (v->state == VCPU_RUNNING)
		ret = request_locked(v, VCPU_REQ_STOP);
	if (!ret && v->state != VCPU_STOPPED) {
		/* Paused, halted, faulted: the thread is idle, just say so. */
		v->state = VCPU_STOPPED;
		v->reset = true;
		atomic_fetch_add(&v->gen, 1);
		pthread_cond_broadcast(&v->cond);
	}
	pthread_mutex_unlock(&v->lock);
	return ret;
}

enum vcpu_state vcpu__state(struct vcpu *v)
{
	enum vcpu_state s;

	pthread_mutex_lock(&v->lock);
	s = v->state;
	pthread_mutex_unlock(&v->lock);
	return s;
}

const char *vcpu__fault(struct vcpu *v)
{
	return v->fault;
}

void vcpu__fault_copy(struct vcpu *v, char *buf, size_t len)
{
	pthread_mutex_lock(&v->lock);
	snprintf(buf, len, "%s", v->fault);
	pthread_mutex_unlock(&v->lock);
}

static int create_fd(struct vcpu *v, struct why *why)
{
	int size, ret;

	/* Only matters on Intel without unrestricted guest; harmless else. */
	ioctl(v->vm->vm_fd, KVM_SET_TSS_ADDR, TSS_GPA);
	v->fd = ioctl(v->vm->vm_fd, KVM_CREATE_VCPU, 0);
	if (v->fd < 0) {
		ret = errno;
		return why__set(why, ret, "KVM_CREATE_VCPU: %s%s", strerror(ret),
				ret == EEXIST ? " (one vCPU per sandbox)" : "");
	}
	size = ioctl(v->vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run)) {
		ret = size < 0 ? errno : EINVAL;
		return why__set(why, ret, "KVM_GET_VCPU_MMAP_SIZE: %s",
				strerror(ret));
	}
	v->run_size = (size_t)size;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		ret = errno;
		return why__set(why, ret, "mmap kvm_run: %s", strerror(ret));
	}
	return x86__setup_cpuid(v->vm->kvm_fd, v->fd, why);
}

static void destroy(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->fd >= 0)
		close(v->fd);
	region__put(v->boot);
	x86__state_free(v->last);
	ring__free(&v->con);
	pthread_cond_destroy(&v->cond);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

int vcpu__new(struct vm *vm, struct region *boot,
	      const struct vcpu_config *cfg, struct vcpu **out,
	      struct why *why)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_condattr_t ca;
	struct vcpu *v;
	int ret;

	v = calloc(1, sizeof(*v));
	if (!v)
		return why__set(why, ENOMEM, "out of memory");
	v->fd = -1;
	v->vm = vm;
	v->boot = region__get(boot);
	v->cfg = *cfg;
	v->state = VCPU_STOPPED;
	v->reset = true;
	pthread_mutex_init(&v->lock, NULL);
	/* Sleeps and bounded waits must not jump with the wall clock. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&v->cond, &ca);
	pthread_condattr_destroy(&ca);

	ret = ring__init(&v->con, cfg->console_max ? cfg->console_max :
					       VCPU_CONSOLE_DEFAULT);
	if (ret) {
		why__set(why, ret, "no memory for a %zu-byte console",
			 v->con.max);
		goto out;
	}
	ret = write_tables(v, why);
	if (!ret)
		ret = create_fd(v, why);
	if (ret)
		goto out;
	pthread_once(&once, install_kick);
	ret = pthread_create(&v->thread, NULL, vcpu_thread, v);
	if (ret) {
		why__set(why, ret, "pthread_create: %s", strerror(ret));
		goto out;
	}
	v->thread_started = true;
	*out = v;
	return 0;
out:
	destroy(v);
	return ret;
}

void vcpu__free(struct vcpu *v)
{
	struct timespec deadline;
	bool exited = false;

	if (!v)
		return;
	/*
	 * Kick until it says it has left its loop, a bounded number of
	 * times; then the join does not wait.
	 */
	pthread_mutex_lock(&v->lock);
	for (int i = 0; i < 5 && !v->exited; i++) {
		v->quit = true;
		kick_locked(v);
		vcpu_timeout(&deadline, VCPU_WAIT_MS);
		while (!v->exited &&
		       pthread_cond_timedwait(&v->cond, &v->lock, &deadline) !=
		       ETIMEDOUT)
			;
	}
	exited = v->exited;
	pthread_mutex_unlock(&v->lock);
	if (exited)
		pthread_join(v->thread, NULL);
	if (!exited) {
		/* Stuck in the kernel: leak it rather than free under it. */
		vcpu_log(v, "vcpu: thread did not stop within %d ms, leaked",
			 5 * VCPU_WAIT_MS);
		return;
	}
	if (v->state == VCPU_RUNNING)
		vm__guest_exit(v->vm);
	destroy(v);
}
