/*
 * Regions: memory mapped into a reservation whose first and last pages
 * stay PROT_NONE.  KVM maps the same host range, so the guest, the daemon
 * and every reader of the memfd see the same pages.  What every region
 * has lives here: life and references, exclusivity and the guest's
 * guard, geometry, times, dirty marks.  The bytes are the backing's
 * (backing.h): reached through r->ops, never by testing which it is.
 */
#include "region/mem/backing.h"
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

static void unmap(uint8_t *raw, uint64_t size)
{
	munmap(raw, size + 2 * region__page_size());
}

static int make_with(const char *name, uint64_t size, bool readonly,
		     uint64_t huge, const struct backing_ops *ops,
		     const void *arg, struct region **out);

int region__make(const char *name, uint64_t size, bool readonly,
		 uint64_t huge, const struct backing_ops *ops,
		 struct region **out)
{
	return make_with(name, size, readonly, huge, ops, NULL, out);
}

int region__make_arg(const char *name, uint64_t size, bool readonly,
		     const struct backing_ops *ops, const void *arg,
		     struct region **out)
{
	return make_with(name, size, readonly, 0, ops, arg, out);
}

static int make_with(const char *name, uint64_t size, bool readonly,
		     uint64_t huge, const struct backing_ops *ops,
		     const void *arg, struct region **out)
{
	pthread_rwlockattr_t attr;
	struct mem m = { .arg = arg };
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
	r->ops = ops;
	r->mem_size = size;
	r->readonly = readonly;
	atomic_init(&r->refs, 1);
	clock_gettime(CLOCK_REALTIME, &r->created);
	r->mtime_ns = r->ctime_ns = now_ns();

	ret = ops->make(name, size, huge, NULL, &m);
	if (ret)
		goto out_free;
	r->memfd = m.fd;
	r->raw = m.raw;
	r->huge = m.huge;
	ret = dirty__init(&r->dirty, size / region__page_size(), page_shift(),
			  dirty__tracking() && !readonly);
	if (ret) {
		unmap(r->raw, size);
		close(r->memfd);
		goto out_free;
	}

	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
		PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&r->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	*out = r;
	return 0;

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
	if (r->ops->free)
		r->ops->free(r);
	unmap(r->raw, r->mem_size);
	dirty__free(&r->dirty);
	close(r->memfd);
	pthread_rwlock_destroy(&r->lock);
	free(r);
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

/*
 * One read, served the way the backing says (backing.h's serve) when the
 * reader takes it, else copied: asked once, under the region held
 * shared until the reply is made, so whatever the reader sends (a splice
 * the kernel copies later in fd) is the memory as it is now, never a
 * zeroed or resized one.
 */
int region__reply_read(struct region *r, size_t len, uint64_t off,
		       const struct region_reader *rd, void *arg)
{
	size_t want = len, n = 0;
	struct serve how;
	void *buf;
	int ret = check__wait(r);

	if (!ret)
		ret = region__shared_begin(r);
	if (ret)
		return ret;
	/* Asked under the lock: page_size may move the region meanwhile. */
	len = region__clip(r, off, len);
	r->ops->serve(r, off, len, want, &how);
	if (how.kind == SERVE_FD && rd->fd && want <= rd->fd_max) {
		ret = rd->fd(arg, how.fd, off, len);
	} else if (how.kind == SERVE_MAP && rd->iov &&
		   want <= REGION_MAPPED_READ_MAX) {
		ret = rd->iov(arg, how.iov, how.cnt);
	} else if (!rd->buffer) {
		ret = EXDEV;
	} else if ((buf = rd->buffer(arg, &want))) {
		if (want < len)
			len = want;
		ret = len ? r->ops->read(r, buf, len, off, &n) : 0;
		if (!ret)
			ret = rd->copied(arg, buf, n);
	}
	region__shared_end(r);
	return ret;
}

int region__with_contents(struct region *r, size_t len, uint64_t off,
			  region_contents_fn *fn, void *arg)
{
	struct region_reader rd = { .fd = fn, .fd_max = SIZE_MAX };

	return region__reply_read(r, len, off, &rd, arg);
}

int region__read_mapped(struct region *r, size_t len, uint64_t off,
			region_iov_fn *fn, void *arg)
{
	struct region_reader rd = { .iov = fn };

	if (len > REGION_MAPPED_READ_MAX)
		return EXDEV;
	return region__reply_read(r, len, off, &rd, arg);
}

int region__read(struct region *r, void *buf, size_t len, uint64_t off,
		 size_t *done)
{
	int ret;

	*done = 0;
	ret = check__wait(r);
	if (!ret)
		ret = region__shared_begin(r);
	if (ret)
		return ret;
	len = region__clip(r, off, len);
	ret = len ? r->ops->read(r, buf, len, off, done) : 0;
	region__shared_end(r);
	return ret;
}

int region__write(struct region *r, const void *buf, size_t len, uint64_t off,
		  size_t *done)
{
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
	len = region__clip(r, off, len);
	ret = r->ops->write(r, buf, len, off, done);
	if (!ret)
		region__dirty_mark(r, off, *done);
out:
	region__shared_end(r);
	return ret;
}

/*
 * Punch a hole: the pages go back to the system, and KVM's MMU notifiers
 * drop the guest's mappings of them so the guest sees zeros at once (a
 * huge region keeps its pages, zeroed: its backing's punch says why).
 */
int region__zero_locked(struct region *r)
{
	/* Every page is written (with zeros), whatever it held. */
	dirty__mark_all(&r->dirty);
	region__touch(r);
	return r->ops->punch(r, 0, r->mem_size);
}

int region__zero_from_locked(struct region *r, uint64_t off)
{
	uint64_t page = region__page_size();
	int ret;

	if (off >= r->mem_size)
		return 0;
	ret = r->ops->punch(r, off, r->mem_size - off);
	if (ret)
		return ret;
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

struct mem_side region__side(struct region *r)
{
	return (struct mem_side){ r->memfd, r->raw + region__page_size(),
				  r->huge };
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
 * New memory (the old memfd is sealed at its size) with the old one's
 * data copied sparsely by the new backing, and a new reservation rather
 * than mremap: the guard pages must follow the new end, and a fresh
 * reservation keeps the trailing guard PROT_NONE.  Costs the data, not
 * the size.
 */
int region__rebuild_locked(struct region *r, uint64_t size, uint64_t huge,
			   const struct backing_ops *ops)
{
	struct mem m;
	int ret;

	if (size == 0 || size > REGION_SIZE_MAX)
		return EINVAL;
	if (region__mapped(r))
		return EPERM;
	size = round_up_page(size);
	if (huge && size % huge)
		return EINVAL;
	if (size == r->mem_size && huge == r->huge)
		return 0;
	/* The new backing copies from a memfd: a file's pages leave it. */
	if (r->ops->leave && (ret = r->ops->leave(r, true)))
		return ret;
	ret = ops->make(r->name, size, huge, r, &m);
	if (ret)
		return ret;
	ret = dirty__resize(&r->dirty, size / region__page_size());
	if (ret) {
		unmap(m.raw, size);
		close(m.fd);
		return ret;
	}
	/*
	 * The pages past the old end or the new one changed: say so.  New
	 * memory: no mapping of the old one writes this one.
	 */
	dirty__mark_all(&r->dirty);
	dirty__reset_unseen(&r->dirty);
	atomic_fetch_add(&r->geo_seq, 1);
	unmap(r->raw, r->mem_size);
	close(r->memfd);
	__atomic_store_n(&r->ops, ops, __ATOMIC_RELEASE);
	__atomic_store_n(&r->memfd, m.fd, __ATOMIC_RELEASE);
	__atomic_store_n(&r->raw, m.raw, __ATOMIC_RELEASE);
	__atomic_store_n(&r->mem_size, size, __ATOMIC_RELEASE);
	__atomic_store_n(&r->huge, m.huge, __ATOMIC_RELEASE);
	atomic_fetch_add(&r->geo_seq, 1);
	region__touch(r);
	region__touch_attr(r);
	return 0;
}

/* Held shared: a resize replaces the memfd, and closes the old one. */
static int seek(struct region *r, uint64_t off, int whence, uint64_t *pos)
{
	int ret = region__shared_begin(r);

	if (ret)
		return ret;
	ret = off >= r->mem_size ? ENXIO : r->ops->seek(r, off, whence, pos);
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

	/* The memory it takes: an overlay's view shows its base's too. */
	region__geometry(r, &g, true);
	return atomic_load(&r->resident_seen);
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
	g->resident = region__ops(r)->resident(r,
					      atomic_load(&r->resident_seen));
}

void region__dirty_mark(struct region *r, uint64_t off, uint64_t len)
{
	uint64_t page = region__page_size();

	if (!len || off >= r->mem_size)
		return;
	if (len > r->mem_size - off)
		len = r->mem_size - off;
	dirty__mark(&r->dirty, off / page, (off + len + page - 1) / page);
	region__touch(r);
}

size_t region__clip(const struct region *r, uint64_t off, size_t len)
{
	if (off >= r->mem_size)
		return 0;
	return len < r->mem_size - off ? len : (size_t)(r->mem_size - off);
}
