/* The lease watcher (lease.h). */
#include "region/sandbox/lease.h"
#include "region/kvm/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* How often the watcher looks at its stop flag. */
#define LEASE_POLL_MS 200
/*
 * How long a break may try to take a busy region (lease-break-time is
 * 45 s by default; the administrator may lower it, to 1 s at the least
 * that makes sense here).
 */
#define LEASE_LEAVE_MS 5000

int lease__signal(void)
{
	return SIGRTMIN + 1;
}

static void ignore(int sig)
{
	(void)sig;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Region r's file is wanted by a writer: r leaves it.  A running guest
 * holds its mapped regions, so it is paused for the copy, and resumed.
 */
static void broken(struct lease_watch *w, struct region *r)
{
	struct vcpu *v = w->vcpu ? *w->vcpu : NULL;
	char base[4200] = "";
	const char *path, *what = region__readonly(r) ? "a snapshot's copy of " : "";
	struct why why = { "" };
	bool resume = false;
	uint64_t t0 = now_ms(), gen = 0;
	int ret;

	region__base_text(r, base, sizeof(base), true);
	base[strcspn(base, "\n")] = '\0';
	/* "PAGES PATH": the path. */
	path = strchr(base, ' ') ? strchr(base, ' ') + 1 : base;
	/*
	 * Busy while the guest runs on it (paused for the copy, and resumed)
	 * or while a snapshot or restore holds it: tried again, within the
	 * bound, which is well inside lease-break-time.
	 */
	for (;;) {
		ret = region__leave_base(r, &why);
		if (ret != EBUSY || now_ms() - t0 > LEASE_LEAVE_MS)
			break;
		if (v && vcpu__state(v) == VCPU_RUNNING &&
		    vcpu__pause_gen(v, &gen) == 0)
			resume = true;
		else
			usleep(10000);
	}
	if (ret) {
		/*
		 * The writer will go on: the file's bytes may change under the
		 * mapping.  Nobody reads them as good, and the guest stays
		 * paused.
		 */
		region__check_end(r, false);
		resume = false;
	}
	/* Not if it was stopped, restored or paused by another meanwhile. */
	if (resume && (ret = vcpu__resume(v, gen)) != 0) {
		if (ret != ESTALE && w->log)
			w->log(w->log_arg, "%s: the vCPU paused for the copy "
			       "did not run again", region__name(r));
		resume = false;
		ret = 0;
	}
	atomic_fetch_add(&w->breaks, 1);
	if (!w->log)
		return;
	if (ret)
		w->log(w->log_arg, "%s%s: %s, which it maps copy-on-write, is "
		       "wanted by a writer, and it could not leave it: %s; its "
		       "reads now fail with EIO%s, and the writer goes on "
		       "after lease-break-time", what, region__name(r), path,
		       why__text(&why, ret), resume || (v &&
		       vcpu__state(v) == VCPU_PAUSED) ? ", the guest stays "
		       "paused" : "");
	else
		w->log(w->log_arg, "%s%s: %s, which it mapped copy-on-write, "
		       "was opened for writing or truncated by another "
		       "process: its pages were copied into memory of its own "
		       "in %llu ms%s, and the writer went on", what,
		       region__name(r), path,
		       (unsigned long long)(now_ms() - t0),
		       resume ? " (the guest paused meanwhile)" : "");
}

static void *watch(void *arg)
{
	struct lease_watch *w = arg;
	struct timespec poll = { 0, LEASE_POLL_MS * 1000000L };
	sigset_t set;
	siginfo_t info;

	sigemptyset(&set);
	sigaddset(&set, lease__signal());
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	w->lease.tid = (pid_t)syscall(SYS_gettid);
	sem_post(&w->ready);
	while (!atomic_load(&w->stop)) {
		struct region *r;

		if (sigtimedwait(&set, &info, &poll) < 0)
			continue;
		r = region__by_base_fd(info.si_fd);
		if (r) {
			broken(w, r);
			region__put(r);
		}
	}
	return NULL;
}

int lease__start(struct lease_watch *w, struct why *why)
{
	struct sigaction sa;
	int ret;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ignore;
	sigemptyset(&sa.sa_mask);
	/* A break sent to a thread that is gone must not end the daemon. */
	if (sigaction(lease__signal(), &sa, NULL) < 0)
		return why__set(why, errno, "sigaction: %s", strerror(errno));
	w->lease.sig = lease__signal();
	atomic_init(&w->stop, false);
	sem_init(&w->ready, 0, 0);
	ret = pthread_create(&w->thread, NULL, watch, w);
	if (ret) {
		sem_destroy(&w->ready);
		return why__set(why, ret, "cannot start the lease watcher: %s",
				strerror(ret));
	}
	sem_wait(&w->ready);
	w->started = true;
	return 0;
}

void lease__stop(struct lease_watch *w)
{
	if (!w->started)
		return;
	atomic_store(&w->stop, true);
	pthread_join(w->thread, NULL);
	sem_destroy(&w->ready);
	w->started = false;
}
