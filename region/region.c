/*
 * Regions: a memfd mapped MAP_SHARED into a reservation whose first and
 * last pages stay PROT_NONE.  KVM maps the same host range, so the guest,
 * the daemon and every reader of the memfd see the same pages.
 */
#include "region/region.h"
#include "region/copy.h"
#include "region/huge.h"
#include "region/overlay.h"
#include "region/util/lock.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
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

/*
 * A memfd of size bytes that nobody can grow or shrink: a writer of the
 * memfd itself (a FUSE passthrough writer, whoever has the fd) gets EPERM
 * past the end from the kernel, so the region never holds more than
 * mem_size.  A resize makes a new one.
 */
static int new_memfd(const char *name, uint64_t size, uint64_t huge, int *out)
{
	unsigned flags = 0;
	int fd, ret;

	if (huge && (ret = huge__memfd_flags(huge, &flags)))
		return ret;
	/* The memfd name shows in /proc/PID/maps: say whose memory it is. */
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | flags);
	if (fd < 0)
		return errno;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
		ret = errno;
		close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}

/* The mapping of either kind of memfd; ordinary ones get the THP hint. */
static int map_region(int memfd, uint64_t size, uint64_t huge, uint8_t **raw)
{
	int ret;

	if (huge)
		return huge__map(memfd, size, huge, raw);
	ret = map_memfd(memfd, size, raw);
	if (!ret)
		huge__advise(*raw + region__page_size(), size);
	return ret;
}

uint64_t region__page_bytes(const struct region *r)
{
	uint64_t huge = __atomic_load_n(&r->huge, __ATOMIC_ACQUIRE);

	return huge ? huge : region__page_size();
}

static unsigned page_shift(void)
{
	return (unsigned)__builtin_ctzll(region__page_size());
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static _Atomic uint64_t changes;

void region__touch(struct region *r)
{
	atomic_store(&r->mtime_ns, now_ns());
	atomic_fetch_add_explicit(&changes, 1, memory_order_relaxed);
}

void region__touch_attr(struct region *r)
{
	atomic_store(&r->ctime_ns, now_ns());
	atomic_fetch_add_explicit(&changes, 1, memory_order_relaxed);
}

uint64_t region__changes(void)
{
	return atomic_load(&changes);
}

static int create(const char *name, uint64_t size, bool readonly,
		  uint64_t huge, struct region **out)
{
	pthread_rwlockattr_t attr;
	struct region *r;
	int ret;

	if (size == 0 || size > REGION_SIZE_MAX)
		return EINVAL;
	if (strlen(name) > REGION_NAME_MAX)
		return ENAMETOOLONG;
	size = round_up_page(size);
	if (huge && size % huge)
		return EINVAL;

	r = calloc(1, sizeof(*r));
	if (!r)
		return ENOMEM;
	strcpy(r->name, name);
	r->mem_size = size;
	r->readonly = readonly;
	r->huge = huge;
	atomic_init(&r->refs, 1);
	clock_gettime(CLOCK_REALTIME, &r->created);
	r->mtime_ns = r->ctime_ns = now_ns();

	ret = new_memfd(name, size, huge, &r->memfd);
	if (ret)
		goto out_free;
	ret = map_region(r->memfd, size, huge, &r->raw);
	if (ret)
		goto out_close;
	ret = dirty__init(&r->dirty, size / region__page_size(), page_shift(),
			  dirty__tracking() && !readonly);
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
	if (r->charge)
		atomic_fetch_sub(r->charge, r->charged);
	/* The sandbox unmaps before it drops its reference. */
	munmap(r->raw, r->mem_size + 2 * region__page_size());
	dirty__free(&r->dirty);
	close(r->memfd);
	overlay__free(r->overlay);
	pthread_rwlock_destroy(&r->lock);
	free(r);
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

/*
 * The guard changes under exclusive, but metadata readers (kind, stat)
 * look without the lock: the owner is published before the guard, and
 * read after it.
 */
bool region__mapped(const struct region *r)
{
	return __atomic_load_n(&r->guard, __ATOMIC_ACQUIRE) != NULL;
}

void region__set_guard(struct region *r, const struct region_guard *guard,
		       void *owner)
{
	if (guard)
		__atomic_store_n(&r->guard_owner, owner, __ATOMIC_RELAXED);
	__atomic_store_n(&r->guard, guard, __ATOMIC_RELEASE);
}

bool region__guest_running(struct region *r)
{
	const struct region_guard *g = __atomic_load_n(&r->guard,
						       __ATOMIC_ACQUIRE);

	return g && g->running(__atomic_load_n(&r->guard_owner,
					       __ATOMIC_RELAXED));
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
	/* Monotonic: setting the clock back must not stretch a bounded wait. */
	return lock__deadline(CLOCK_MONOTONIC, ms);
}

int region__shared_begin(struct region *r)
{
	return lock__rd(&r->lock, REGION_SHARED_WAIT_MS);
}

void region__shared_end(struct region *r)
{
	pthread_rwlock_unlock(&r->lock);
}

/* Exclusive operations that had to wait, and those refused EBUSY. */
static _Atomic uint64_t excl_waits, excl_busy;

void region__exclusive_stats(uint64_t *waits, uint64_t *busy)
{
	*waits = atomic_load(&excl_waits);
	*busy = atomic_load(&excl_busy);
}

int region__exclusive_begin(struct region *r, struct why *why)
{
	int ret;

	if (r->readonly)
		return why__set(why, EPERM, "the region is readonly (a "
				"snapshot's copy)");
	/* A running vCPU holds every mapped region: refuse at once. */
	if (region__guest_running(r)) {
		atomic_fetch_add(&excl_busy, 1);
		return why__set(why, EBUSY, "the vCPU is running and the "
				"region is mapped (pause first)");
	}
	ret = pthread_rwlock_trywrlock(&r->lock);
	if (ret == EBUSY) {
		atomic_fetch_add(&excl_waits, 1);
		ret = lock__wr(&r->lock, REGION_EXCL_WAIT_MS);
	}
	if (ret == EBUSY)
		atomic_fetch_add(&excl_busy, 1);
	if (ret == EBUSY)
		return why__set(why, EBUSY, "host accesses did not drain "
				"within %d ms", REGION_EXCL_WAIT_MS);
	if (ret)
		return why__set(why, ret, "cannot lock the region: %s",
				strerror(ret));
	/*
	 * Mapping changes need exclusivity, so the guard is stable now.
	 * Keep the guest out until the end: it may have started while we
	 * waited.
	 */
	r->excl_guard = NULL;
	if (r->guard) {
		ret = r->guard->enter(r->guard_owner);
		if (ret) {
			pthread_rwlock_unlock(&r->lock);
			return why__set(why, ret, "the vCPU started while "
					"waiting (pause first)");
		}
		r->excl_guard = r->guard;
		r->excl_owner = r->guard_owner;
	}
	return 0;
}

void region__exclusive_end(struct region *r)
{
	/* The guest we kept out, even if this operation unmapped the region. */
	if (r->excl_guard) {
		r->excl_guard->exit(r->excl_owner);
		r->excl_guard = NULL;
	}
	pthread_rwlock_unlock(&r->lock);
}

/* fn on the memfd, held shared; EXDEV for a huge one when !huge_ok. */
static int with_memfd(struct region *r, size_t len, uint64_t off,
		      bool huge_ok, region_contents_fn *fn, void *arg)
{
	int ret = region__shared_begin(r);

	if (ret)
		return ret;
	if (off >= r->mem_size)
		len = 0;
	else if (len > r->mem_size - off)
		len = r->mem_size - off;
	/* Asked under the lock: page_size may move the region meanwhile. */
	ret = !huge_ok && r->huge ? EXDEV : fn(arg, r->memfd, off, len);
	region__shared_end(r);
	return ret;
}

int region__with_contents(struct region *r, size_t len, uint64_t off,
			  region_contents_fn *fn, void *arg)
{
	/* A diff's view reads through to its parent: no one memfd holds it. */
	if (r->overlay)
		return EXDEV;
	/*
	 * hugetlbfs has no splice_read: libfuse would make a pipe, fail
	 * the splice, drop the pipe and copy through a fresh buffer, for
	 * every read.
	 */
	return with_memfd(r, len, off, false, fn, arg);
}

/* Never written: its pages are the zero page, whatever reads them. */
static uint8_t zeros_to_read[REGION_MAPPED_READ_MAX];

/*
 * ThreadSanitizer checks every byte a writev reads from the mapping: a
 * shadow for every GiB read (contents.sh's 1 GiB dd took minutes), and
 * a report of the concurrent writes that a read of live memory meets by
 * design.  Its builds read huge regions with pread, as before.
 */
#if defined(__SANITIZE_THREAD__)
#define MAPPED_READS false
#else
#define MAPPED_READS true
#endif

int region__read_mapped(struct region *r, size_t len, uint64_t off,
			region_iov_fn *fn, void *arg)
{
	/* len is below a huge page: it spans two at most. */
	struct iovec iov[2];
	uint64_t pos, next, end;
	uint8_t *base;
	int ret, n = 0;

	if (r->overlay || len > REGION_MAPPED_READ_MAX || !MAPPED_READS)
		return EXDEV;
	ret = region__shared_begin(r);
	if (ret)
		return ret;
	/* Asked under the lock: page_size may move the region meanwhile. */
	if (!r->huge) {
		region__shared_end(r);
		return EXDEV;
	}
	base = region__base_addr(r);
	end = off >= r->mem_size ? off :
	      off + (len < r->mem_size - off ? len : r->mem_size - off);
	/*
	 * A page present now stays so while we hold the region (a punch
	 * needs it exclusive), so the copy from the mapping faults in the
	 * page that exists, never a new one.
	 */
	for (pos = off; pos < end; pos = next) {
		next = (pos & ~(r->huge - 1)) + r->huge;
		if (next > end)
			next = end;
		iov[n].iov_base = huge__present(base, pos, r->huge) ?
				  base + pos : zeros_to_read;
		iov[n++].iov_len = next - pos;
	}
	ret = fn(arg, iov, n);
	region__shared_end(r);
	return ret;
}

struct read_into {
	void *buf;
	size_t *done;
};

/*
 * pread, not memcpy from the mapping: a read of a hole through the memfd
 * returns zeros without allocating, a fault on the mapping would allocate
 * the page.
 */
static int pread_into(void *arg, int memfd, uint64_t off, size_t len)
{
	struct read_into *to = arg;
	ssize_t n = len ? pread(memfd, to->buf, len, (off_t)off) : 0;

	if (n < 0)
		return errno;
	*to->done = (size_t)n;
	return 0;
}

int region__read(struct region *r, void *buf, size_t len, uint64_t off,
		 size_t *done)
{
	struct read_into to = { buf, done };

	if (r->overlay)
		return overlay__read(r, buf, len, off, done);
	*done = 0;
	return with_memfd(r, len, off, true, pread_into, &to);
}

int region__write(struct region *r, const void *buf, size_t len, uint64_t off,
		  size_t *done)
{
	ssize_t n;
	int ret;

	*done = 0;
	if (r->readonly)
		return EPERM;
	ret = region__shared_begin(r);
	if (ret)
		return ret;
	if (off >= r->mem_size) {
		ret = len ? ENOSPC : 0;
		goto out;
	}
	if (len > r->mem_size - off)
		len = r->mem_size - off;
	/*
	 * pwrite, not memcpy into the mapping: the memfd allocates the pages
	 * without faulting each one into our page tables first.  hugetlbfs
	 * has no write(2): there the mapping (reserved: no SIGBUS) is the
	 * way, and its page tables are what say where the data is (huge.h).
	 */
	if (r->huge) {
		memcpy(r->raw + region__page_size() + off, buf, len);
		n = (ssize_t)len;
	} else {
		n = pwrite(r->memfd, buf, len, (off_t)off);
	}
	if (n < 0) {
		ret = errno;
	} else {
		*done = (size_t)n;
		region__dirty_mark(r, off, (uint64_t)n);
	}
out:
	region__shared_end(r);
	return ret;
}

/*
 * Punch a hole: the pages go back to the system, and KVM's MMU notifiers
 * drop the guest's mappings of them so the guest sees zeros at once.
 */
int region__zero_locked(struct region *r)
{
	/* Every page is written (with zeros), whatever it held. */
	dirty__mark_all(&r->dirty);
	region__touch(r);
	if (r->huge)
		return huge__punch(r, 0, r->mem_size);
	/* A memfd (shmem) always punches holes: no fallback to memset. */
	if (fallocate(r->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      0, (off_t)r->mem_size) < 0)
		return errno;
	return 0;
}

int region__zero_from_locked(struct region *r, uint64_t off)
{
	static const uint8_t zeros[4096];
	uint64_t page = region__page_size(), end;

	if (off >= r->mem_size)
		return 0;
	end = (off + page - 1) & ~(page - 1);
	if (r->huge) {
		/* hugetlbfs zeroes the part of a page before the cut itself. */
		int ret = huge__punch(r, off, r->mem_size - off);

		if (ret)
			return ret;
	} else if (end > off &&
		   pwrite(r->memfd, zeros, end - off, (off_t)off) < 0) {
		/* The part of a page before the cut keeps its bytes: zeros. */
		return errno;
	}
	if (!r->huge && end < r->mem_size &&
	    fallocate(r->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)end, (off_t)(r->mem_size - end)) < 0)
		return errno;
	/*
	 * Stamping costs a word per page, and a punch costs next to nothing:
	 * past a bound every page is marked at once instead, which says more
	 * than was written, never less.  (Writes and restores stamp exactly:
	 * a word per page they copy.)
	 */
	if ((r->mem_size - off) / page > DIRTY_MARK_MAX_PAGES) {
		dirty__mark_all(&r->dirty);
		region__touch(r);
	} else {
		region__dirty_mark(r, off, r->mem_size - off);
	}
	return 0;
}

int region__new(const char *name, uint64_t size, struct region **out)
{
	return create(name, size, false, 0, out);
}

int region__new_readonly(const char *name, uint64_t size, struct region **out)
{
	return create(name, size, true, 0, out);
}

int region__new_huge(const char *name, uint64_t size, uint64_t huge,
		     bool readonly, struct region **out)
{
	return create(name, size, readonly, huge, out);
}

static struct huge_side side_of(struct region *r)
{
	return (struct huge_side){ r->memfd, r->raw + region__page_size(),
				   r->huge };
}

int region__copy(struct region *dst, struct region *src, uint8_t *buf,
		 struct extents *x, uint64_t off, uint64_t end,
		 bool fill_holes)
{
	struct huge_side d = side_of(dst), s = side_of(src);

	/* hugetlbfs cannot be written with pwrite: through the mappings. */
	if (dst->huge)
		return huge__copy(&d, &s, off, end, fill_holes);
	/* Big ranges on two threads, the source read through its mapping. */
	return copy__sides((struct copy_side){ dst->memfd, d.base },
			   (struct copy_side){ src->memfd, s.base }, buf, x,
			   off, end, fill_holes);
}

int region__copy_read(struct region *dst, struct region *src, uint8_t *buf,
		      struct extents *x, uint64_t off, uint64_t end)
{
	struct huge_side d = side_of(dst), s = side_of(src);

	/* huge__copy reads a shmem source with pread, a huge one by mincore. */
	if (dst->huge)
		return huge__copy(&d, &s, off, end, false);
	return copy__sides((struct copy_side){ dst->memfd, d.base },
			   (struct copy_side){ src->memfd, NULL }, buf, x,
			   off, end, false);
}

int region__copy_fd(struct region *dst, int src, uint8_t *buf,
		    struct extents *x, uint64_t off, uint64_t end,
		    bool fill_holes)
{
	struct huge_side d = side_of(dst), s = { src, NULL, 0 };

	if (dst->huge)
		return huge__copy(&d, &s, off, end, fill_holes);
	return copy__range(dst->memfd, src, buf, x, off, end, fill_holes);
}

int region__zero(struct region *r, struct why *why)
{
	int ret = region__exclusive_begin(r, why);

	if (ret)
		return ret;
	ret = region__zero_locked(r);
	region__exclusive_end(r);
	return ret;
}

/*
 * A new memfd (the old one is sealed at its size) with the old one's data
 * copied sparsely, and a new reservation rather than mremap: the guard
 * pages must follow the new end, and a fresh reservation keeps the
 * trailing guard PROT_NONE.  Costs the data, not the size.
 */
static int rebuild(struct region *r, uint64_t size, uint64_t huge)
{
	uint64_t keep;
	uint8_t *raw = NULL, *buf;
	int fd, ret;

	if (size == 0 || size > REGION_SIZE_MAX)
		return EINVAL;
	if (region__mapped(r))
		return EPERM;
	size = round_up_page(size);
	if (huge && size % huge)
		return EINVAL;
	if (size == r->mem_size && huge == r->huge)
		return 0;
	ret = new_memfd(r->name, size, huge, &fd);
	if (ret)
		return ret;
	keep = size < r->mem_size ? size : r->mem_size;
	/* Mapped first: a huge region copies through the mappings. */
	ret = map_region(fd, size, huge, &raw);
	if (!ret && huge) {
		struct huge_side d = { fd, raw + region__page_size(), huge },
				 s = side_of(r);

		ret = huge__copy(&d, &s, 0, keep, false);
	} else if (!ret) {
		buf = malloc(COPY_CHUNK);
		ret = buf ? copy__range(fd, r->memfd, buf,
					&(struct extents){ 0 }, 0, keep,
					false) : ENOMEM;
		free(buf);
	}
	if (ret && raw) {
		munmap(raw, size + 2 * region__page_size());
		raw = NULL;
	}
	if (!ret) {
		ret = dirty__resize(&r->dirty, size / region__page_size());
		if (ret)
			munmap(raw, size + 2 * region__page_size());
	}
	if (ret) {
		close(fd);
		return ret;
	}
	/*
	 * The pages past the old end or the new one changed: say so.  New
	 * memory: no mapping of the old one writes this one.
	 */
	dirty__mark_all(&r->dirty);
	dirty__reset_unseen(&r->dirty);
	atomic_fetch_add(&r->geo_seq, 1);
	munmap(r->raw, r->mem_size + 2 * region__page_size());
	close(r->memfd);
	__atomic_store_n(&r->memfd, fd, __ATOMIC_RELEASE);
	__atomic_store_n(&r->raw, raw, __ATOMIC_RELEASE);
	__atomic_store_n(&r->mem_size, size, __ATOMIC_RELEASE);
	__atomic_store_n(&r->huge, huge, __ATOMIC_RELEASE);
	atomic_fetch_add(&r->geo_seq, 1);
	region__touch(r);
	region__touch_attr(r);
	return 0;
}

int region__resize_locked(struct region *r, uint64_t size)
{
	return rebuild(r, size, r->huge);
}

int region__repage_locked(struct region *r, uint64_t huge)
{
	if (huge && huge__memfd_flags(huge, &(unsigned){ 0 }))
		return EINVAL;
	return rebuild(r, r->mem_size, huge);
}

int region__resize(struct region *r, uint64_t size, struct why *why)
{
	int ret = region__exclusive_begin(r, why);

	if (ret)
		return ret;
	ret = region__resize_locked(r, size);
	region__exclusive_end(r);
	return ret;
}

/* Held shared: a resize replaces the memfd, and closes the old one. */
static int seek(struct region *r, uint64_t off, int whence, uint64_t *pos)
{
	off_t p;
	int ret;

	if (r->overlay)
		return overlay__seek(r, off, whence, pos);
	ret = region__shared_begin(r);
	if (ret)
		return ret;
	if (off >= r->mem_size) {
		ret = ENXIO;
	} else if (r->huge) {
		ret = huge__seek(r, off, whence, pos);
	} else {
		p = lseek(r->memfd, (off_t)off, whence);
		if (p < 0)
			ret = errno;
		else
			*pos = (uint64_t)p;
	}
	region__shared_end(r);
	return ret;
}

int region__seek_data(struct region *r, uint64_t off, uint64_t *pos)
{
	return seek(r, off, SEEK_DATA, pos);
}

int region__seek_hole(struct region *r, uint64_t off, uint64_t *pos)
{
	return seek(r, off, SEEK_HOLE, pos);
}

uint64_t region__resident(struct region *r)
{
	struct region_geometry g;

	region__geometry(r, &g, true);
	/* The memory it takes: an overlay's view shows its base's too. */
	return r->overlay ? atomic_load(&r->resident_seen) : g.resident;
}

/*
 * A seqlock over what a resize changes: the reader retries while a resize
 * is under way or happened meanwhile.  The resident bytes need the memfd,
 * which a resize closes: they are read under the region's lock when it
 * is free at once, else the last value read is given (never a wait).
 */
void region__geometry(struct region *r, struct region_geometry *g,
		      bool resident)
{
	struct stat st;
	unsigned seq;

	for (;;) {
		seq = atomic_load(&r->geo_seq);
		if (seq & 1) {
			sched_yield();
			continue;
		}
		g->raw = __atomic_load_n(&r->raw, __ATOMIC_ACQUIRE);
		g->mem_size = __atomic_load_n(&r->mem_size, __ATOMIC_ACQUIRE);
		if (atomic_load(&r->geo_seq) == seq)
			break;
	}
	g->resident = 0;
	if (!resident)
		return;
	if (pthread_rwlock_tryrdlock(&r->lock) == 0) {
		if (fstat(r->memfd, &st) == 0)
			atomic_store(&r->resident_seen,
				     (uint64_t)st.st_blocks * 512);
		pthread_rwlock_unlock(&r->lock);
	}
	g->resident = r->overlay ? r->overlay->shown :
				   atomic_load(&r->resident_seen);
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
