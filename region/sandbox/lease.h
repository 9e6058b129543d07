/*
 * The thread that hears of writers of the files that copy-on-write
 * regions map (region.h's cow_lease): an open for writing or a truncate
 * of such a file, by anyone, breaks our read lease; the kernel makes the
 * writer wait (up to /proc/sys/fs/lease-break-time) and sends this
 * thread a signal.  The region then leaves the file, its remaining pages
 * copied into memory of its own at the same addresses (the guest paused
 * meanwhile if it runs, and resumed), the file is closed, and the writer
 * goes on: neither the guest nor a reader ever sees the writer's bytes,
 * or a SIGBUS for a page the truncate took away.
 *
 * Errors: 0 or a positive errno, with why.
 */
#ifndef REGIONFS_LEASE_H
#define REGIONFS_LEASE_H

#include "region/mem/region.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>

struct vcpu;

struct lease_watch {
	struct cow_lease lease;	/* what the regions are told to use */
	pthread_t thread;
	sem_t ready;
	atomic_bool stop;
	bool started;
	/* Where the vCPU is (it may be made after the watcher starts). */
	struct vcpu *const *vcpu;
	void (*log)(void *arg, const char *fmt, ...)
		__attribute__((format(printf, 2, 3)));
	void *log_arg;
	atomic_uint breaks;	/* lease breaks handled (metrics, tests) */
};

/* The signal a lease break sends (the vCPU's kick is SIGRTMIN). */
int lease__signal(void);
int lease__start(struct lease_watch *w, struct why *why);
void lease__stop(struct lease_watch *w);

#endif
