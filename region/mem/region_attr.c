/*
 * What a region says of itself, for everyone outside region/mem/ who
 * holds it opaque: its name and kind of use, the guest's access, a
 * snapshot's mapping, and questions about its memory that its backing
 * answers (backing.h).
 */
#include "region/mem/backing.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

const char *region__name(const struct region *r)
{
	return r->name;
}

bool region__readonly(const struct region *r)
{
	return r->readonly;
}

struct timespec region__created(const struct region *r)
{
	return r->created;
}

uint64_t region__huge_size(const struct region *r)
{
	return __atomic_load_n(&r->huge, __ATOMIC_ACQUIRE);
}

int region__memfd(struct region *r)
{
	return __atomic_load_n(&r->memfd, __ATOMIC_ACQUIRE);
}

/* Changed under exclusive, read by attribute files without the lock. */
bool region__guest_ro(const struct region *r)
{
	return __atomic_load_n(&r->guest_ro, __ATOMIC_RELAXED);
}

void region__set_guest_ro(struct region *r, bool ro)
{
	__atomic_store_n(&r->guest_ro, ro, __ATOMIC_RELAXED);
}

bool region__snap_gpa(const struct region *r, uint64_t *gpa)
{
	*gpa = r->snap_gpa;
	return r->snap_mapped;
}

void region__set_snap_gpa(struct region *r, bool mapped, uint64_t gpa)
{
	r->snap_mapped = mapped;
	r->snap_gpa = gpa;
}

void region__charge(struct region *r, _Atomic uint64_t *counter)
{
	r->charged = region__resident(r);
	r->charge = counter;
	atomic_fetch_add(counter, r->charged);
}

uint64_t region__resident_locked(struct region *r)
{
	struct stat st;

	return fstat(r->memfd, &st) == 0 ? (uint64_t)st.st_blocks * 512 :
					   r->mem_size;
}

int region__next_data_locked(struct region *r, uint64_t off, uint64_t end,
			     uint64_t *pos)
{
	if (end > r->mem_size)
		end = r->mem_size;
	if (off >= end) {
		*pos = end;
		return 0;
	}
	return r->ops->next_data(r, off, end, pos);
}

int region__extent(struct region *r, struct extents *x, uint64_t off)
{
	return r->ops->extent(r, x, off, r->mem_size);
}

bool region__copies_by_map(const struct region *r)
{
	return r->ops->by_map;
}

int region__punch_locked(struct region *r, uint64_t off, uint64_t len)
{
	return r->ops->punch(r, off, len);
}
