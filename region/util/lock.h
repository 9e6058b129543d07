/*
 * Bounded lock waits on the monotonic clock (setting the wall clock back
 * must not stretch a bounded wait).  0, EBUSY when the wait ran out, or
 * another positive errno.
 *
 * ThreadSanitizer (gcc 12) does not intercept the pthread_*_clock*lock
 * calls and would see neither the lock nor what it orders: a thread
 * sanitizer build uses the timed (CLOCK_REALTIME) calls instead.
 */
#ifndef REGIONFS_LOCK_H
#define REGIONFS_LOCK_H

#include <pthread.h>
#include <time.h>

/* A deadline ms from now on clock. */
struct timespec lock__deadline(clockid_t clock, unsigned ms);
int lock__rd(pthread_rwlock_t *l, unsigned ms);
int lock__wr(pthread_rwlock_t *l, unsigned ms);

#endif
