/*
 * The region's side of dirty tracking (region.h): host writes in bytes to
 * the pages of dirty.h, the guest's writes fetched through the guard, and
 * `echo 0 > dirty`.
 */
#include "region/mem/backing.h"

#include <errno.h>
#include <string.h>
#include <time.h>

void region__writer_open(struct region *r)
{
	dirty__unseen(&r->dirty);
	atomic_fetch_add(&r->writers, 1);
	region__touch(r);
}

void region__writer_close(struct region *r)
{
	region__touch(r);
	atomic_fetch_sub(&r->writers, 1);
}

bool region__writer_is_open(struct region *r)
{
	return atomic_load(&r->writers) > 0;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int region__dirty_harvest(struct region *r)
{
	int ret;

	if (!r->dirty.track || !r->guard)
		return 0;
	ret = r->guard->harvest(r->guard_owner, r);
	if (!ret)
		atomic_store(&r->harvest_ms, mono_ms());
	return ret;
}

uint64_t region__harvest_age_ms(struct region *r)
{
	uint64_t last = atomic_load(&r->harvest_ms);

	return last ? mono_ms() - last : UINT64_MAX;
}

bool region__dirty_next(struct region *r, uint32_t since, uint64_t from,
			uint64_t *first, uint64_t *end)
{
	/* A diff's copy: the pages it holds, whatever since says. */
	const struct backing_ops *ops = region__ops(r);

	if (ops->held_next)
		return ops->held_next(r, from, first, end);
	return dirty__next(&r->dirty, since, from, first, end);
}

int region__dirty_clear(struct region *r, struct why *why)
{
	int ret;

	if (r->readonly)
		return why__set(why, EPERM, "the region is readonly (a "
				"snapshot's copy)");
	if (!r->dirty.track)
		return why__set(why, EOPNOTSUPP, "dirty tracking is off "
				"(-o nodirty)");
	ret = region__exclusive_begin(r, why);
	if (ret)
		return ret;
	ret = region__dirty_harvest(r);
	if (ret)
		why__set(why, ret, "KVM_GET_DIRTY_LOG: %s", strerror(ret));
	else
		dirty__clear(&r->dirty);
	region__exclusive_end(r);
	return ret;
}

bool region__tracked(const struct region *r)
{
	return r->dirty.track;
}

void region__dirty_mark_all(struct region *r)
{
	dirty__mark_all(&r->dirty);
}

void region__dirty_mark_bits(struct region *r, const uint64_t *bits,
			     uint64_t npages)
{
	dirty__mark_bits(&r->dirty, bits, npages);
}

bool region__dirty_all_since(struct region *r, uint32_t since)
{
	return dirty__all_since(&r->dirty, since);
}

uint64_t region__dirty_pages(struct region *r)
{
	return dirty__pages(&r->dirty);
}
