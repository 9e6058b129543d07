/*
 * Reads of a region whose bytes are being checked (region.h's
 * region__check_begin): they wait for the verdict, bounded, and fail
 * with EIO after a failed one, so no reader is given bytes that did not
 * match their checksum with a success.
 */
#include "region/mem/backing.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

enum { CHECK_NONE, CHECK_PENDING, CHECK_FAILED };

/* One for every region: a verdict is rare, and wakes all waiters. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t verdict = PTHREAD_COND_INITIALIZER;
static __thread bool checker;

/*
 * A failure is for good: a region that could not leave its file on a
 * lease break (lease.c) is failed whatever --from's checks of the bytes
 * as they were loaded say after, or when they begin after it.
 */
void region__check_begin(struct region *r)
{
	int none = CHECK_NONE;

	atomic_compare_exchange_strong(&r->check, &none, CHECK_PENDING);
}

void region__check_end(struct region *r, bool ok)
{
	pthread_mutex_lock(&lock);
	if (atomic_load(&r->check) != CHECK_FAILED)
		atomic_store(&r->check, ok ? CHECK_NONE : CHECK_FAILED);
	pthread_cond_broadcast(&verdict);
	pthread_mutex_unlock(&lock);
}

void region__checker_thread(void)
{
	checker = true;
}

int check__wait(struct region *r)
{
	struct timespec until;
	int state = atomic_load(&r->check);

	if (state == CHECK_NONE || checker)
		return 0;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += REGION_CHECK_WAIT_MS / 1000;
	pthread_mutex_lock(&lock);
	while ((state = atomic_load(&r->check)) == CHECK_PENDING &&
	       pthread_cond_timedwait(&verdict, &lock, &until) == 0)
		;
	pthread_mutex_unlock(&lock);
	return state == CHECK_NONE ? 0 : state == CHECK_FAILED ? EIO : EBUSY;
}

int region__check_wait(struct region *r)
{
	return check__wait(r);
}
