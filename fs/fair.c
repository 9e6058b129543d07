/*
 * Per-request priority of the FUSE workers (fair.h).  The level is a
 * thread's own (setpriority on its tid), changed only when the next
 * request's uid calls for another one: two syscalls at most per change.
 */
#include "fs/fair.h"
#include "fs/state.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FAIR_LOW 19

static atomic_bool on;
static int base;			/* the daemon's nice at start */
static _Thread_local bool low;

static int set_nice(int nice)
{
	return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
}

bool fair__init(void)
{
	errno = 0;
	base = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
	if (errno || base >= FAIR_LOW)
		return false;
	/* Down and up again: raising needs CAP_SYS_NICE (or RLIMIT_NICE). */
	if (set_nice(base + 1) < 0)
		return false;
	if (set_nice(base) < 0)
		return false;
	atomic_store(&on, true);
	return true;
}

void fair__request(uid_t uid)
{
	bool other = uid != rfs.uid && uid != 0;

	if (!atomic_load_explicit(&on, memory_order_relaxed) || other == low)
		return;
	if (set_nice(other ? FAIR_LOW : base) == 0)
		low = other;
}
