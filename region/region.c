/*
 * Regions: a memfd mapped MAP_SHARED into a reservation whose first and
 * last pages stay PROT_NONE.  KVM maps the same host range, so the guest,
 * the daemon and every reader of the memfd see the same pages.
 */
#include "region/region.h"
#include "region/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

size_t region__page_size(void)
{
	static size_t page;

	if (!page)
		page = (size_t)sysconf(_SC_PAGESIZE);
	return page;
}

static uint64_t round_up_page(uint64_t size)
{
	uint64_t page = region__page_size();

	return (size + page - 1) & ~(page - 1);
}

uint64_t region__round_size(uint64_t size)
{
	return round_up_page(size);
}

/*
 * Reserve size + 2 pages of PROT_NONE address space and map the memfd over
 * the middle.  The reservation is never touched, so a 64 GiB region costs
 * nothing until it is written.
 */
static int map_memfd(int memfd, uint64_t mem_size, uint8_t **raw_out)
{
	size_t page = region__page_size();
	uint8_t *raw, *base;

	raw = mmap(NULL, mem_size + 2 * page, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return errno;
	base = mmap(raw + page, mem_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_FIXED | MAP_NORESERVE, memfd, 0);
	if (base == MAP_FAILED) {
		int err = errno;

		munmap(raw, mem_size + 2 * page);
		return err;
	}
	*raw_out = raw;
	return 0;
}

static int create(const char *name, uint64_t size, bool readonly,
		  struct region **out)
{
	pthread_rwlockattr_t attr;
	struct region *r;
	int ret;

	if (size == 0 || size > REGION_SIZE_MAX)
		return EINVAL;
	if (strlen(name) > REGION_NAME_MAX)
		return ENAMETOOLONG;
	size = round_up_page(size);

	r = calloc(1, sizeof(*r));
	if (!r)
		return ENOMEM;
	strcpy(r->name, name);
	r->mem_size = size;
	r->readonly = readonly;
	r->slot = -1;
	atomic_init(&r->refs, 1);
	clock_gettime(CLOCK_REALTIME, &r->created);

	/* The memfd name shows in /proc/PID/maps: say whose memory it is. */
	r->memfd = memfd_create(name, MFD_CLOEXEC);
	if (r->memfd < 0) {
		ret = errno;
		goto out_free;
	}
	if (ftruncate(r->memfd, (off_t)size) < 0) {
		ret = errno;
		goto out_close;
	}
	ret = map_memfd(r->memfd, size, &r->raw);
	if (ret)
		goto out_close;
	ret = region__dirty_alloc(r, size);
	if (ret) {
		munmap(r->raw, size + 2 * region__page_size());
		goto out_close;
	}

	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
		PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&r->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	*out = r;
	return 0;

out_close:
	close(r->memfd);
out_free:
	free(r);
	return ret;
}

struct region *region__get(struct region *r)
{
	atomic_fetch_add(&r->refs, 1);
	return r;
}

void region__put(struct region *r)
{
	if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	/* The sandbox unmaps before it drops its reference. */
	munmap(r->raw, r->mem_size + 2 * region__page_size());
	region__dirty_free(r);
	close(r->memfd);
	pthread_rwlock_destroy(&r->lock);
	free(r);
}

uint8_t *region__raw_addr(const struct region *r)
{
	return r->raw;
}

uint64_t region__raw_size(const struct region *r)
{
	return r->mem_size + 2 * region__page_size();
}

uint8_t *region__base_addr(const struct region *r)
{
	return r->raw + region__page_size();
}

uint64_t region__mem_size(const struct region *r)
{
	return r->mem_size;
}

uint8_t *region__host_region_base(const struct region *r)
{
	return region__base_addr(r);
}

uint8_t *region__host_region_end(const struct region *r)
{
	return region__base_addr(r) + r->mem_size;
}

bool region__mapped(const struct region *r)
{
	return r->slot >= 0;
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

struct timespec region__deadline_ms(unsigned ms)
{
	struct timespec ts;

	/* Monotonic: setting the clock back must not stretch a bounded wait. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

int region__shared_begin(struct region *r)
{
	struct timespec ts = region__deadline_ms(REGION_SHARED_WAIT_MS);
	int ret = pthread_rwlock_clockrdlock(&r->lock, CLOCK_MONOTONIC, &ts);

	return ret == ETIMEDOUT ? EBUSY : ret;
}

void region__shared_end(struct region *r)
{
	pthread_rwlock_unlock(&r->lock);
}

int region__exclusive_begin(struct region *r)
{
	struct timespec ts;
	int ret;

	if (r->readonly)
		return EPERM;
	/* A running vCPU holds every mapped region: refuse at once. */
	if (region__mapped(r) && r->vm && vm__guest_running(r->vm))
		return EBUSY;
	ts = region__deadline_ms(REGION_EXCL_WAIT_MS);
	ret = pthread_rwlock_clockwrlock(&r->lock, CLOCK_MONOTONIC, &ts);
	if (ret)
		return ret == ETIMEDOUT ? EBUSY : ret;
	/*
	 * Mapping changes need exclusivity, so r->vm is stable now.  Keep
	 * the guest out until the end: it may have started while we waited.
	 */
	r->excl_vm = NULL;
	if (region__mapped(r) && r->vm) {
		ret = vm__excl_enter(r->vm);
		if (ret) {
			pthread_rwlock_unlock(&r->lock);
			return ret;
		}
		r->excl_vm = r->vm;
	}
	return 0;
}

void region__exclusive_end(struct region *r)
{
	/* The VM we kept out, even if this operation unmapped the region. */
	if (r->excl_vm) {
		vm__excl_exit(r->excl_vm);
		r->excl_vm = NULL;
	}
	pthread_rwlock_unlock(&r->lock);
}

ssize_t region__read(struct region *r, void *buf, size_t len, uint64_t off)
{
	ssize_t n;
	int ret;

	ret = region__shared_begin(r);
	if (ret)
		return -ret;
	if (off >= r->mem_size) {
		n = 0;
		goto out;
	}
	if (len > r->mem_size - off)
		len = r->mem_size - off;
	/*
	 * pread, not memcpy from the mapping: a read of a hole through the
	 * memfd returns zeros without allocating, a fault on the mapping
	 * would allocate the page.
	 */
	n = pread(r->memfd, buf, len, (off_t)off);
	if (n < 0)
		n = -errno;
out:
	region__shared_end(r);
	return n;
}

ssize_t region__write(struct region *r, const void *buf, size_t len,
		      uint64_t off)
{
	ssize_t n;
	int ret;

	if (r->readonly)
		return -EPERM;
	ret = region__shared_begin(r);
	if (ret)
		return -ret;
	if (off >= r->mem_size) {
		n = len ? -ENOSPC : 0;
		goto out;
	}
	if (len > r->mem_size - off)
		len = r->mem_size - off;
	/*
	 * pwrite, not memcpy into the mapping: the memfd allocates the pages
	 * without faulting each one into our page tables first.
	 */
	n = pwrite(r->memfd, buf, len, (off_t)off);
	if (n < 0)
		n = -errno;
	else
		region__dirty_mark(r, off, (uint64_t)n);
out:
	region__shared_end(r);
	return n;
}

/*
 * Punch a hole: the pages go back to the system, and KVM's MMU notifiers
 * drop the guest's mappings of them so the guest sees zeros at once.
 */
int region__zero_locked(struct region *r)
{
	/* Every page is written (with zeros), whatever it held. */
	region__dirty_mark_all(r);
	if (fallocate(r->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      0, (off_t)r->mem_size) == 0)
		return 0;
	if (errno != EOPNOTSUPP)
		return errno;
	memset(region__base_addr(r), 0, r->mem_size);
	return 0;
}

int region__new(const char *name, uint64_t size, struct region **out)
{
	return create(name, size, false, out);
}

int region__new_readonly(const char *name, uint64_t size, struct region **out)
{
	return create(name, size, true, out);
}

int region__zero(struct region *r)
{
	int ret = region__exclusive_begin(r);

	if (ret)
		return ret;
	ret = region__zero_locked(r);
	region__exclusive_end(r);
	return ret;
}

/*
 * A new reservation rather than mremap: the guard pages must follow the
 * new end, and a fresh reservation keeps the trailing guard PROT_NONE.
 */
int region__resize_locked(struct region *r, uint64_t size)
{
	uint8_t *raw;
	int ret;

	if (size == 0 || size > REGION_SIZE_MAX)
		return EINVAL;
	if (region__mapped(r))
		return EPERM;
	size = round_up_page(size);
	if (size == r->mem_size)
		return 0;
	if (ftruncate(r->memfd, (off_t)size) < 0)
		return errno;
	ret = map_memfd(r->memfd, size, &raw);
	if (!ret) {
		ret = region__dirty_alloc(r, size);
		if (ret)
			munmap(raw, size + 2 * region__page_size());
	}
	if (ret) {
		/* Put the old size back; shrinking already dropped data. */
		if (ftruncate(r->memfd, (off_t)r->mem_size) < 0)
			return errno;
		return ret;
	}
	/* The pages past the old end or the new one changed: say so. */
	region__dirty_mark_all(r);
	munmap(r->raw, r->mem_size + 2 * region__page_size());
	r->raw = raw;
	r->mem_size = size;
	return 0;
}

int region__resize(struct region *r, uint64_t size)
{
	int ret = region__exclusive_begin(r);

	if (ret)
		return ret;
	ret = region__resize_locked(r, size);
	region__exclusive_end(r);
	return ret;
}

int64_t region__trim(struct region *r)
{
	struct stat st;
	int64_t cut = 0;
	int ret;

	ret = region__exclusive_begin(r);
	if (ret)
		return -ret;
	if (fstat(r->memfd, &st) < 0) {
		cut = -errno;
	} else if ((uint64_t)st.st_size > r->mem_size) {
		cut = st.st_size - (off_t)r->mem_size;
		if (ftruncate(r->memfd, (off_t)r->mem_size) < 0)
			cut = -errno;
	}
	region__exclusive_end(r);
	return cut;
}

static int64_t seek(struct region *r, uint64_t off, int whence)
{
	off_t pos;

	if (off >= r->mem_size)
		return -ENXIO;
	pos = lseek(r->memfd, (off_t)off, whence);
	if (pos < 0)
		return -errno;
	return pos;
}

int64_t region__seek_data(struct region *r, uint64_t off)
{
	return seek(r, off, SEEK_DATA);
}

int64_t region__seek_hole(struct region *r, uint64_t off)
{
	return seek(r, off, SEEK_HOLE);
}

uint64_t region__resident(struct region *r)
{
	struct stat st;

	if (fstat(r->memfd, &st) < 0)
		return 0;
	return (uint64_t)st.st_blocks * 512;
}
