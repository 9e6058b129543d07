/*
 * The copy-on-write backing: a file's bytes (a saved `contents`) mapped
 * MAP_PRIVATE into the region's reservation, the way Firecracker maps a
 * snapshot's memory file.  The file is never written: a write (the
 * daemon's, the guest's through KVM) makes the page private, anonymous
 * memory of this process; a page never written stays the file's page
 * cache page, shared with every other sandbox that maps the same file.
 *
 * What stands in for a memfd here:
 *   - no fd holds the bytes (r->memfd is -1): reads are served from the
 *     mapping, or with pread of the file where no page is private, so a
 *     hole of the file is read as zeros without being allocated;
 *   - which pages are private is read from the page tables with
 *     PAGEMAP_SCAN (Linux 6.7): a present page that is not a file page,
 *     or a swapped one (a file page is never swapped, only dropped), at
 *     the cost of the range asked, never the region's size;
 *   - the file's data and holes are read once, at the first need, into a
 *     table (cow->ext): the file cannot change (the lease, below), and
 *     tmpfs's SEEK_HOLE walks to the next hole, which in a file of data
 *     is its end;
 *   - a restore to the copy sharing the same file drops the private
 *     pages (MADV_DONTNEED: the next access maps the file's page again);
 *   - zeroing the whole region, a resize, a page_size write and a lease
 *     break make it leave its file (cow__leave): new memory, a shmem
 *     memfd, mapped MAP_SHARED | MAP_FIXED over the same addresses, so
 *     KVM's slot stays valid (its MMU notifier drops the old pages).
 *
 * The file is leased (F_SETLEASE F_RDLCK) by whoever made the region
 * (region.h's cow_lease): an open for writing or a truncate of it by
 * anyone first tells us, and waits until the region has left it.
 *
 * Errors: 0 or a positive errno.
 */
#include "region/mem/cow.h"
#include "region/mem/pagescan.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* PAGEMAP_SCAN's ABI (linux/fs.h since 6.7; older headers lack it). */
#if defined(__SANITIZE_THREAD__)
#define MAPPED_READS false	/* hugetlb.c says why */
#else
#define MAPPED_READS true
#endif

/* Leaves so far (layout's text says which regions map a file). */
static _Atomic uint64_t gen;

uint64_t region__cow_gen(void)
{
	return atomic_load(&gen);
}

static uint64_t page_size(void)
{
	return region__page_size();
}

static uint8_t *base_of(struct region *r)
{
	return r->raw + page_size();
}

static int private_run(struct region *r, uint64_t off, uint64_t end,
		       uint64_t *a, uint64_t *b)
{
	return pagescan__run(base_of(r), r->mem_size, off, end, a, b);
}

static int count_private(struct region *r, uint64_t *pages)
{
	return pagescan__count(base_of(r), r->mem_size, pages);
}

/* The file's data extents, once (it cannot change: the lease). */

/* The first run of the file's data in [off, end): [*a, *b) or end, end. */

/*
 * The first run of data in [off, end), the file's data and the private
 * pages together: [*a, *b), or *a = *b = end.
 */
static int data_run(struct region *r, uint64_t off, uint64_t end,
		    uint64_t *a, uint64_t *b)
{
	uint64_t pa, pb, fa, fb;
	int ret = cow__file_run(r, off, end, &fa, &fb);

	/*
	 * Private pages are looked for only before the file's next data: a
	 * scan walks the page tables to the next private page or to the end
	 * it is given, so one to the region's end on every run made a walk
	 * over the region (leave, seek, copy_runs) cost runs x size.
	 */
	if (!ret && fa > off)
		ret = private_run(r, off, fa, &pa, &pb);
	if (ret)
		return ret;
	if (fa > off && pa < fa) {
		*a = pa;
		*b = pb;
	} else {
		*a = fa;
		*b = fb;
	}
	while (*a < end && *b < end) {
		ret = cow__file_run(r, *b, end, &fa, &fb);
		if (ret)
			return ret;
		if (fa == *b) {
			*b = fb;
			continue;
		}
		ret = private_run(r, *b, fa, &pa, &pb);
		if (ret)
			return ret;
		if (pa != *b)
			break;
		*b = pb;
	}
	return 0;
}

static int make(const char *name, uint64_t size, uint64_t huge,
		struct region *from, struct mem *out)
{
	const struct cow_base *cb = out->arg;
	uint64_t page = page_size();
	uint8_t *res;

	(void)name;
	/* Only made from a file: a rebuild leaves the file first. */
	if (huge || from || !cb)
		return EINVAL;
	res = mmap(NULL, size + 2 * page, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return errno;
	/* A readonly copy can never write: no private page, ever. */
	if (mmap(res + page, size, PROT_READ | (cb->readonly ? 0 : PROT_WRITE),
		 MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, cb->fd, 0) ==
	    MAP_FAILED) {
		int err = errno;

		munmap(res, size + 2 * page);
		return err;
	}
	out->fd = -1;
	out->raw = res;
	out->huge = 0;
	return 0;
}

/* Private pages from the mapping, the rest with pread (holes: zeros). */
static int read_at(struct region *r, void *buf, size_t len, uint64_t off,
		   size_t *done)
{
	uint64_t p = off, end = off + len, a, b;
	uint8_t *out = buf;
	int ret;

	while (p < end) {
		ret = private_run(r, p, end, &a, &b);
		if (!ret && a > p)
			ret = memfd__pread_whole(cow__of(r)->fd, out + (p - off),
						 a - p, p);
		if (ret)
			return ret;
		if (a < end)
			memcpy(out + (a - off), base_of(r) + a, b - a);
		p = a < end ? b : end;
	}
	*done = len;
	return 0;
}

/*
 * From the mapping where the file has data throughout (its pages, or
 * private ones): no page is allocated.  A range with a hole of the file
 * is copied (read_at), so that the hole is not filled in the page cache.
 */
static void serve(struct region *r, uint64_t off, size_t len, size_t want,
		  struct serve *how)
{
	uint64_t a, b;

	how->kind = SERVE_COPY;
	if (!MAPPED_READS || want > REGION_MAPPED_READ_MAX ||
	    cow__file_run(r, off, off + len, &a, &b) || a != off || b < off + len)
		return;
	how->kind = SERVE_MAP;
	how->cnt = 1;
	how->iov[0].iov_base = base_of(r) + off;
	how->iov[0].iov_len = len;
}

static int write_at(struct region *r, const void *buf, size_t len,
		    uint64_t off, size_t *done)
{
	uint64_t page = page_size(), a = off & ~(page - 1);

	/* The pages made private at once, not a fault each. */
	if (madvise(base_of(r) + a, off + len - a, MADV_POPULATE_WRITE) < 0 &&
	    errno != EINVAL)
		return errno == EFAULT ? ENOMEM : errno;
	memcpy(base_of(r) + off, buf, len);
	*done = len;
	return 0;
}

static int seek(struct region *r, uint64_t off, int whence, uint64_t *pos)
{
	uint64_t a, b;
	int ret = data_run(r, off, r->mem_size, &a, &b);

	if (ret)
		return ret;
	if (whence == SEEK_DATA) {
		if (a >= r->mem_size)
			return ENXIO;
		*pos = a;
	} else {
		*pos = a > off ? off : b;
	}
	return 0;
}

static int next_data(struct region *r, uint64_t off, uint64_t end,
		     uint64_t *pos)
{
	uint64_t b;

	return data_run(r, off, end, pos, &b);
}

static int data_bytes(struct region *r, uint64_t off, uint64_t end,
		      uint64_t *bytes)
{
	uint64_t a, b;
	int ret;

	*bytes = 0;
	while (off < end) {
		ret = data_run(r, off, end, &a, &b);
		if (ret)
			return ret;
		*bytes += b - a;
		off = b > off ? b : end;
	}
	return 0;
}

static int extent(struct region *r, struct extents *x, uint64_t p,
		  uint64_t end)
{
	uint64_t a, b;
	int ret = data_run(r, p, r->mem_size, &a, &b);

	(void)end;
	if (ret)
		return ret;
	x->from = p;
	x->data = a < r->mem_size ? a : UINT64_MAX;
	x->hole = a < r->mem_size ? b : UINT64_MAX;
	return 0;
}

static int leave(struct region *r, bool keep);

/*
 * Zeros in [off, off + len): where the file has a hole, the private
 * pages dropped (the hole shows again); where it has data, zeros written
 * (private pages of zeros).  The whole region: it leaves its file, for
 * new memory of holes.
 */
static int punch(struct region *r, uint64_t off, uint64_t len)
{
	uint64_t page = page_size(), end = off + len, a, b, first, last;
	uint8_t *base = base_of(r);
	int ret;

	if (off == 0 && len >= r->mem_size)
		return leave(r, false);
	first = (off + page - 1) & ~(page - 1);
	last = end & ~(page - 1);
	if (first >= last) {
		memset(base + off, 0, len);
		return 0;
	}
	memset(base + off, 0, first - off);
	memset(base + last, 0, end - last);
	for (uint64_t p = first; p < last; p = b) {
		ret = cow__file_run(r, p, last, &a, &b);
		if (ret)
			return ret;
		if (a > p && madvise(base + p, a - p, MADV_DONTNEED) < 0)
			return errno;
		if (a < last)
			memset(base + a, 0, b - a);
		else
			b = last;
	}
	return 0;
}

/* The shared file's bytes, and the private pages counted (at most 1/s). */
static uint64_t resident(struct region *r, uint64_t own)
{
	uint64_t pages;

	/* Under the lock: a leave frees what this reads. */
	if (pthread_rwlock_tryrdlock(&r->lock) != 0)
		return own;
	if (r->ops == &cow_ops) {
		struct cow *c = r->priv;

		if (cow__stale(c) && count_private(r, &pages) == 0)
			cow__counted(c, pages);
		own = c->file_bytes + atomic_load(&c->priv_pages) * page_size();
		atomic_store(&r->resident_seen, own);
	}
	pthread_rwlock_unlock(&r->lock);
	return own;
}

/*
 * What it takes of its own: the pages written (the file's are shared
 * with whoever else maps it, and with the file).  Not fresh (metrics,
 * anyone's): the count of at most a second ago, as a stat's.
 */
static uint64_t own_bytes(struct region *r, bool fresh)
{
	uint64_t pages = 0;

	if (fresh)
		return count_private(r, &pages) == 0 ? pages * page_size() :
		       r->mem_size;
	if (pthread_rwlock_tryrdlock(&r->lock) != 0)
		return 0;
	if (r->ops == &cow_ops) {
		struct cow *c = r->priv;

		if (cow__stale(c) && count_private(r, &pages) == 0)
			cow__counted(c, pages);
		pages = atomic_load(&c->priv_pages);
	}
	pthread_rwlock_unlock(&r->lock);
	return pages * page_size();
}

static bool same_file(struct region *a, struct region *b)
{
	struct cow *x = cow__of(a), *y = cow__of(b);

	return x && y && x->dev == y->dev && x->ino == y->ino;
}

/*
 * [off, end) of src's view, a run at a time: holes and data told to
 * dst's copy_in by an extent it need not ask (copy.h's cursor, made
 * here), the data read through src's mapping.
 */
static int copy_runs(struct region *src, struct region *dst, uint8_t *buf,
		     uint64_t off, uint64_t end, unsigned how)
{
	struct mem_side s = { -1, base_of(src), 0 };
	uint64_t a, b;
	int ret;

	while (off < end) {
		struct extents x = { .hole = 0 };

		ret = data_run(src, off, end, &a, &b);
		if (ret)
			return ret;
		x.from = off;
		x.data = a < end ? a : UINT64_MAX;
		x.hole = a < end ? b : UINT64_MAX;
		ret = dst->ops->copy_in(dst, &s, buf, &x, off,
					a < end ? b : end, how | COPY_SRC_MAP);
		if (ret)
			return ret;
		off = a < end ? b : end;
	}
	return 0;
}

/*
 * Into a region mapping the same file (a restore to the copy taken when
 * it was loaded): its private pages dropped, the file's shown again.
 * Costs the pages written, never the region's size; a long run, its
 * page tables (pagescan__drop).  The caller holds dst exclusive: no one
 * reads it meanwhile, the guest included.
 */
static int discard(struct region *dst, uint64_t off, uint64_t end)
{
	uint8_t *p = base_of(dst) + off;

	if (end - off >= PAGESCAN_MOVE_MIN &&
	    pagescan__drop(p, end - off, cow__of(dst)->fd,
			   (off_t)(p - base_of(dst))) == 0)
		return 0;
	if (madvise(p, end - off, MADV_DONTNEED) < 0)
		return errno;
	return 0;
}

static int copy_out(struct region *src, struct region *dst, uint8_t **buf,
		    struct copy_cursor *cur, uint64_t off, uint64_t end,
		    unsigned how)
{
	uint64_t page = page_size();
	int ret;

	(void)cur;
	/* A readonly copy never has a private page: it is the file. */
	if (src->readonly && same_file(src, dst) && !(off % page) &&
	    !(end % page) && (how & COPY_FILL_HOLES))
		return discard(dst, off, end);
	ret = copy__buffer(buf);
	return ret ? ret : copy_runs(src, dst, *buf, off, end, how);
}

/*
 * Into the mapping: the range zeroed first (punch), then src's data
 * written over it (its zeros skipped: they are there).
 */
static int copy_in(struct region *dst, const struct mem_side *src,
		   uint8_t *buf, struct extents *x, uint64_t off, uint64_t end,
		   unsigned how)
{
	int ret = punch(dst, off, end - off);

	if (ret)
		return ret;
	/* A whole punch left the file: the new memory copies itself. */
	if (dst->ops != &cow_ops)
		return dst->ops->copy_in(dst, src, buf, x, off, end, how);
	return copy__sides((struct copy_side){ -1, base_of(dst), false },
			   (struct copy_side){ src->fd,
					       (how & COPY_SRC_PREAD) &&
					       !(how & COPY_SRC_MAP) ? NULL :
					       src->base,
					       how & COPY_SRC_MAP },
			   buf, x, off, end, false);
}

static void cow_free(struct region *r)
{
	cow__free(r->priv);
	r->priv = NULL;
}

/* New memory for r, a shmem memfd, with r's bytes when keep (else holes). */
static int fill(struct region *r, bool keep, int *out)
{
	uint64_t size = r->mem_size, a, b, p = 0;
	uint8_t *base = base_of(r);
	int fd = -1, ret;

	ret = memfd__new(r->name, size, 0, &fd);
	while (!ret && keep && p < size) {
		ret = data_run(r, p, size, &a, &b);
		for (uint64_t q = a; !ret && q < b;) {
			ssize_t n = pwrite(fd, base + q, b - q, (off_t)q);

			if (n <= 0)
				ret = n < 0 ? errno : EIO;
			else
				q += (uint64_t)n;
		}
		p = b > p ? b : size;
	}
	if (ret && fd >= 0)
		close(fd);
	*out = ret ? -1 : fd;
	return ret;
}

/*
 * fd, filled, mapped over r's addresses: the guest's slot and every
 * pointer to the mapping stay valid.  The caller holds r exclusive.
 */
static int swap(struct region *r, int fd)
{
	struct cow *c = cow__of(r);

	/* A readonly copy is never written again: mapped so. */
	if (mmap(base_of(r), r->mem_size, PROT_READ |
		 (r->readonly ? 0 : PROT_WRITE), MAP_SHARED | MAP_FIXED, fd,
		 0) == MAP_FAILED) {
		int err = errno;

		close(fd);
		return err;
	}
	atomic_fetch_add(&r->geo_seq, 1);
	__atomic_store_n(&r->memfd, fd, __ATOMIC_RELEASE);
	__atomic_store_n(&r->ops, &shmem_ops, __ATOMIC_RELEASE);
	r->priv = NULL;
	atomic_fetch_add(&r->geo_seq, 1);
	cow__free(c);
	atomic_fetch_add(&gen, 1);
	region__touch_attr(r);
	return 0;
}

/*
 * New memory for r, with r's bytes when keep (else holes), at the same
 * addresses.  The caller holds r exclusive (nothing reads or writes it
 * meanwhile, the guest included).
 */
static int leave(struct region *r, bool keep)
{
	int fd, ret = fill(r, keep, &fd);

	return ret ? ret : swap(r, fd);
}

const struct backing_ops cow_ops = {
	.name = "cow",
	.by_map = false,
	.make = make,
	.read = read_at,
	.serve = serve,
	.write = write_at,
	.seek = seek,
	.next_data = next_data,
	.data_bytes = data_bytes,
	.punch = punch,
	.resident = resident,
	.copy_out = copy_out,
	.copy_in = copy_in,
	.extent = extent,
	.free = cow_free,
	.leave = leave,
	.own_bytes = own_bytes,
};

int region__leave_base_locked(struct region *r)
{
	return cow__of(r) ? leave(r, true) : 0;
}

int region__leave_base(struct region *r, struct why *why)
{
	struct timespec until;
	int fd = -1, ret;

	if (!r->readonly) {
		ret = region__exclusive_begin(r, why);
		if (ret)
			return ret;
		ret = cow__of(r) ? leave(r, true) : 0;
		region__exclusive_end(r);
		return ret ? why__set(why, ret, "%s", strerror(ret)) : 0;
	}
	/*
	 * A snapshot's copy: its bytes never change, so they are copied
	 * while readers go on (held shared), and it is held exclusive only
	 * to swap the mappings (a reader sees either, the same bytes).
	 */
	ret = region__shared_begin(r);
	if (ret)
		return why__set(why, ret, "its readers did not let go");
	ret = cow__of(r) ? fill(r, true, &fd) : 0;
	region__shared_end(r);
	if (ret || fd < 0)
		return ret ? why__set(why, ret, "%s", strerror(ret)) : 0;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	if (pthread_rwlock_timedwrlock(&r->lock, &until)) {
		close(fd);
		return why__set(why, EBUSY, "its readers did not let go");
	}
	ret = cow__of(r) ? swap(r, fd) : (close(fd), 0);
	pthread_rwlock_unlock(&r->lock);
	return ret ? why__set(why, ret, "%s", strerror(ret)) : 0;
}
