/* Bounded lock waits (lock.h). */
#include "region/util/lock.h"

#include <errno.h>
#include <time.h>

struct timespec lock__deadline(clockid_t clock, unsigned ms)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static int busy(int ret)
{
	return ret == ETIMEDOUT ? EBUSY : ret;
}

#ifdef __SANITIZE_THREAD__
int lock__rd(pthread_rwlock_t *l, unsigned ms)
{
	struct timespec ts = lock__deadline(CLOCK_REALTIME, ms);

	return busy(pthread_rwlock_timedrdlock(l, &ts));
}

int lock__wr(pthread_rwlock_t *l, unsigned ms)
{
	struct timespec ts = lock__deadline(CLOCK_REALTIME, ms);

	return busy(pthread_rwlock_timedwrlock(l, &ts));
}
#else
int lock__rd(pthread_rwlock_t *l, unsigned ms)
{
	struct timespec ts = lock__deadline(CLOCK_MONOTONIC, ms);

	return busy(pthread_rwlock_clockrdlock(l, CLOCK_MONOTONIC, &ts));
}

int lock__wr(pthread_rwlock_t *l, unsigned ms)
{
	struct timespec ts = lock__deadline(CLOCK_MONOTONIC, ms);

	return busy(pthread_rwlock_clockwrlock(l, CLOCK_MONOTONIC, &ts));
}
#endif
