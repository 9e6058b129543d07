/*
 * The region's side of dirty tracking (region.h): host writes in bytes to
 * the pages of dirty.h, the guest's writes fetched through the guard, and
 * `echo 0 > dirty`.
 */
#include "region/mem/backing.h"

#include <errno.h>
#include <string.h>
#include <time.h>

/*
 * Counted before the record turns whole, and as open before as opened: a
 * clear (region__dirty_clear) reads them in the other order, so one of
 * the two always sees the other.
 */
void region__writer_open(struct region *r)
{
	atomic_fetch_add(&r->writers, 1);
	atomic_fetch_add(&r->writer_opens, 1);
	dirty__unseen(&r->dirty);
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

static atomic_bool mmap_rw_default;

void region__set_mmap_rw_default(bool on)
{
	atomic_store(&mmap_rw_default, on);
}

bool region__mmap_rw(struct region *r)
{
	int v = atomic_load(&r->mmap_rw);

	return v ? v > 0 : atomic_load(&mmap_rw_default);
}

/*
 * A policy for the opens to come, not a change of the memory: no
 * exclusivity.  A writer already open keeps the record whole until a
 * clear finds it gone.
 */
int region__set_mmap_rw(struct region *r, bool on, struct why *why)
{
	if (r->readonly)
		return why__set(why, EPERM, "the region is readonly (a "
				"snapshot's copy)");
	atomic_store(&r->mmap_rw, on ? 1 : -1);
	return 0;
}

void region__set_alias(struct region *r, dev_t dev, ino_t ino)
{
	atomic_store(&r->alias_dev, (uint64_t)dev);
	atomic_store(&r->alias_ino, (uint64_t)ino);
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

/*
 * What a clear found before it took the region exclusive: the search of
 * /proc takes what the processes map, and host accesses wait meanwhile
 * only for the clear itself.  The search is complete only if no writer
 * was open while it ran (a mapping needs one to be made; one made by an
 * open released already shows in its process's maps): none open when it
 * began, and none opened since (opens is the count of them then).
 */
struct unseen_search {
	bool done;
	unsigned opens;
	int found;		/* region__shared_writers */
	struct why why;
};

static void search_unseen(struct region *r, struct unseen_search *s)
{
	s->done = false;
	if (!atomic_load(&r->dirty.unseen))
		return;
	s->opens = atomic_load(&r->writer_opens);
	if (atomic_load(&r->writers) > 0)
		return;
	s->why.msg[0] = '\0';
	s->found = region__shared_writers(r, &s->why);
	s->done = true;
}

/*
 * Exact again, under exclusivity, if nobody can write unseen any more.
 * Every snapshot taken before now counts every page as written (the
 * floor): what the unseen writer wrote is in none of the stamps.  The
 * record turns exact first and whole again if a writer is found: a
 * read-write open counts itself before it turns the record whole
 * (region__writer_open), so an open racing this clear is either seen
 * here or turns it whole after.
 */
static void rearm(struct region *r, const struct unseen_search *s,
		  struct why *why)
{
	dirty__mark_all(&r->dirty);
	dirty__reset_unseen(&r->dirty);
	if (!s->done || atomic_load(&r->writers) > 0 ||
	    atomic_load(&r->writer_opens) != s->opens) {
		why__set(why, EBUSY, "a read-write open of contents that may "
			 "map it (mmap_rw) is still open, or opened during "
			 "the clear");
		dirty__unseen(&r->dirty);
	} else if (s->found) {
		why__set(why, s->found, "%s", s->why.msg);
		dirty__unseen(&r->dirty);
	}
}

int region__dirty_clear(struct region *r, struct why *why)
{
	struct unseen_search search;
	int ret;

	if (r->readonly)
		return why__set(why, EPERM, "the region is readonly (a "
				"snapshot's copy)");
	if (!r->dirty.track)
		return why__set(why, EOPNOTSUPP, "dirty tracking is off "
				"(-o nodirty)");
	search_unseen(r, &search);
	ret = region__exclusive_begin(r, why);
	if (ret)
		return ret;
	ret = region__dirty_harvest(r);
	if (ret) {
		why__set(why, ret, "KVM_GET_DIRTY_LOG: %s", strerror(ret));
	} else {
		if (atomic_load(&r->dirty.unseen))
			rearm(r, &search, why);
		dirty__clear(&r->dirty);
	}
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
