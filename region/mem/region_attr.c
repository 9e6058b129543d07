/*
 * What a region says of itself, for everyone outside region/mem/ who
 * holds it opaque: its name and kind of use, the guest's access, a
 * snapshot's mapping, and questions about its memory that its backing
 * answers (backing.h).
 */
#include "region/mem/backing.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/mman.h>
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

uint64_t region__own_bytes(struct region *r)
{
	const struct backing_ops *ops = region__ops(r);

	return ops->own_bytes ? ops->own_bytes(r, true) : region__resident(r);
}

uint64_t region__own_bytes_seen(struct region *r)
{
	const struct backing_ops *ops = region__ops(r);

	return ops->own_bytes ? ops->own_bytes(r, false) : region__resident(r);
}

void region__charge(struct region *r, _Atomic uint64_t *counter)
{
	r->charged = region__own_bytes(r);
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

int region__data_map(struct region *src, uint64_t **bits_out, size_t *len_out)
{
	uint64_t page = region__page_size(), size = src->mem_size,
		 npages = size / page;
	size_t len = (npages + 63) / 64 * sizeof(uint64_t);
	struct extents x = { .hole = 0 };
	uint64_t off = 0, *bits;
	int ret = 0;

	*bits_out = NULL;
	if (!src->ops->by_map)
		return 0;
	bits = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (bits == MAP_FAILED)
		return errno;
	/* Its extents, walked once. */
	while (off < size) {
		ret = src->ops->extent(src, &x, off, size);
		if (ret || x.data >= size)
			break;
		for (uint64_t p = x.data / page;
		     p < (x.hole + page - 1) / page && p < npages; p++)
			bits[p / 64] |= 1ULL << (p % 64);
		off = x.hole;
	}
	if (ret) {
		munmap(bits, len);
		return ret;
	}
	*bits_out = bits;
	*len_out = len;
	return 0;
}

bool region__has_memfd(struct region *r)
{
	const struct backing_ops *ops = region__ops(r);

	return region__memfd(r) >= 0 && (!ops->fd_whole || ops->fd_whole(r));
}

bool region__copies_by_map(const struct region *r)
{
	return region__ops(r)->by_map;
}

int region__punch_locked(struct region *r, uint64_t off, uint64_t len)
{
	return r->ops->punch(r, off, len);
}

/*
 * A resize stores raw and mem_size atomically: these accessors may be
 * called without the region's lock (metrics, stat), one word at a time;
 * a consistent pair comes from region__geometry.
 */
uint8_t *region__raw_addr(const struct region *r)
{
	return __atomic_load_n(&r->raw, __ATOMIC_ACQUIRE);
}

uint64_t region__raw_size(const struct region *r)
{
	return region__mem_size(r) + 2 * region__page_size();
}

uint8_t *region__base_addr(const struct region *r)
{
	return region__raw_addr(r) + region__page_size();
}

uint64_t region__mem_size(const struct region *r)
{
	return __atomic_load_n(&r->mem_size, __ATOMIC_ACQUIRE);
}

uint8_t *region__host_region_base(const struct region *r)
{
	return region__base_addr(r);
}

uint8_t *region__host_region_end(const struct region *r)
{
	return region__base_addr(r) + region__mem_size(r);
}

enum region_kind region__kind(const struct region *r)
{
	if (r->readonly)
		return REGION_READONLY;
	return region__mapped(r) ? REGION_HOST : REGION_EXCLUSIVE;
}

const char *region__kind_name(enum region_kind kind)
{
	switch (kind) {
	case REGION_EXCLUSIVE:
		return "exclusive";
	case REGION_HOST:
		return "host";
	case REGION_READONLY:
		return "readonly";
	}
	return "?";
}

void region__times(struct region *r, struct timespec *mtime,
		   struct timespec *ctime)
{
	int64_t m = atomic_load(&r->mtime_ns), c = atomic_load(&r->ctime_ns);

	if (c < m)
		c = m;	/* a change of the data is a change of the file */
	*mtime = (struct timespec){ m / 1000000000LL, m % 1000000000LL };
	*ctime = (struct timespec){ c / 1000000000LL, c % 1000000000LL };
}
