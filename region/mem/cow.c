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
#include "region/mem/backing.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* PAGEMAP_SCAN's ABI (linux/fs.h since 6.7; older headers lack it). */
struct cow_scan_run {
	uint64_t start, end, categories;
};
struct cow_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask;
	uint64_t return_mask;
};
#define COW_PAGEMAP_SCAN _IOWR('f', 16, struct cow_scan_arg)
#define COW_PAGE_IS_FILE (1ULL << 2)
#define COW_PAGE_IS_PRESENT (1ULL << 3)
#define COW_PAGE_IS_SWAPPED (1ULL << 4)

/* Runs asked of PAGEMAP_SCAN at a time when counting. */
#define SCAN_RUNS 64
/* The private page count shown by stat is at most this old. */
#define COUNT_MAX_AGE_NS 1000000000LL

#if defined(__SANITIZE_THREAD__)
#define MAPPED_READS false	/* hugetlb.c says why */
#else
#define MAPPED_READS true
#endif

struct cow_ext {
	uint64_t a, b;	/* [a, b) of the file is data, page-aligned */
};

struct cow {
	int fd;			/* the file, O_RDONLY, leased */
	dev_t dev;
	ino_t ino;
	uint64_t file_bytes;	/* its st_blocks, in bytes */
	char path[PATH_MAX];
	struct cow_lease lease;	/* sig 0: not leased */
	/* The file's data extents, read at the first need. */
	pthread_mutex_t ext_lock;
	struct cow_ext *ext;
	uint64_t next;
	bool ext_read;
	/* The private page count last read, and when (stat's). */
	_Atomic uint64_t priv_pages;
	_Atomic int64_t priv_at_ns;
	/* Every leased one (cow__by_fd finds a lease's region). */
	struct region *r;
	struct cow *prev, *nextc;
};

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cow *list;

static uint64_t page_size(void)
{
	return region__page_size();
}

static struct cow *of(struct region *r)
{
	return r->ops == &cow_ops ? r->priv : NULL;
}

static uint8_t *base_of(struct region *r)
{
	return r->raw + page_size();
}

static int pagemap_fd(void)
{
	static _Atomic int fd = -1;
	int f, none = -1;

	if (atomic_load(&fd) >= 0)
		return atomic_load(&fd);
	f = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (f >= 0 && !atomic_compare_exchange_strong(&fd, &none, f))
		close(f);
	return atomic_load(&fd);
}

/*
 * The private runs of [off, end) (page-aligned offsets of the mapping
 * at base), at most max of them into v; *walked: where the scan stopped.
 */
static int scan(uint8_t *base, uint64_t off, uint64_t end,
		struct cow_scan_run *v, unsigned max, unsigned *n,
		uint64_t *walked)
{
	struct cow_scan_arg arg = {
		.size = sizeof(arg),
		.start = (uintptr_t)(base + off),
		.end = (uintptr_t)(base + end),
		.vec = (uintptr_t)v,
		.vec_len = max,
		/* Not a file page, and there: present or swapped. */
		.category_inverted = COW_PAGE_IS_FILE,
		.category_mask = COW_PAGE_IS_FILE,
		.category_anyof_mask = COW_PAGE_IS_PRESENT |
				       COW_PAGE_IS_SWAPPED,
		.return_mask = COW_PAGE_IS_PRESENT | COW_PAGE_IS_SWAPPED,
	};
	int fd = pagemap_fd();
	long got;

	if (fd < 0)
		return errno ? errno : EBADF;
	got = ioctl(fd, COW_PAGEMAP_SCAN, &arg);
	if (got < 0)
		return errno;
	*n = (unsigned)got;
	*walked = arg.walk_end ? arg.walk_end - (uintptr_t)base : end;
	return 0;
}

/*
 * The first run of private pages in [off, end) of r: [*a, *b), or
 * *a = *b = end when there is none.  Costs the pages up to its end.
 */
static int private_run(struct region *r, uint64_t off, uint64_t end,
		       uint64_t *a, uint64_t *b)
{
	uint64_t page = page_size(), from = off & ~(page - 1),
		 to = (end + page - 1) & ~(page - 1), walked;
	struct cow_scan_run v;
	unsigned n;
	int ret;

	if (to > r->mem_size)
		to = r->mem_size;
	ret = scan(base_of(r), from, to, &v, 1, &n, &walked);
	if (ret || !n) {
		*a = *b = end;
		return ret;
	}
	*a = v.start - (uintptr_t)base_of(r);
	*b = v.end - (uintptr_t)base_of(r);
	/* Present and swapped pages come as runs of their own: join them. */
	while (*b < to) {
		ret = scan(base_of(r), *b, to, &v, 1, &n, &walked);
		if (ret)
			return ret;
		if (!n || v.start - (uintptr_t)base_of(r) != *b)
			break;
		*b = v.end - (uintptr_t)base_of(r);
	}
	if (*a < off)
		*a = off;
	if (*b > end)
		*b = end;
	return 0;
}

/* Every private page of r, counted (the runs, SCAN_RUNS at a time). */
static int count_private(struct region *r, uint64_t *pages)
{
	struct cow_scan_run v[SCAN_RUNS];
	uint64_t off = 0, walked, page = page_size();
	unsigned n;
	int ret;

	*pages = 0;
	while (off < r->mem_size) {
		ret = scan(base_of(r), off, r->mem_size, v, SCAN_RUNS, &n,
			   &walked);
		if (ret)
			return ret;
		for (unsigned i = 0; i < n; i++)
			*pages += (v[i].end - v[i].start) / page;
		if (n < SCAN_RUNS || walked <= off)
			break;
		off = walked;
	}
	return 0;
}

/* The file's data extents, once (it cannot change: the lease). */
static int read_extents(struct cow *c, uint64_t size)
{
	uint64_t page = page_size(), p = 0, cap = 0;
	int ret = 0;

	pthread_mutex_lock(&c->ext_lock);
	while (!c->ext_read && p < size) {
		off_t d = lseek(c->fd, (off_t)p, SEEK_DATA), h;

		if (d < 0 && errno == ENXIO)
			break;
		h = d < 0 ? -1 : lseek(c->fd, d, SEEK_HOLE);
		if (h < 0) {
			ret = errno;
			break;
		}
		if (c->next == cap) {
			struct cow_ext *n;

			cap = cap ? cap * 2 : 16;
			n = realloc(c->ext, cap * sizeof(*n));
			if (!n) {
				ret = ENOMEM;
				break;
			}
			c->ext = n;
		}
		c->ext[c->next].a = (uint64_t)d & ~(page - 1);
		c->ext[c->next].b = ((uint64_t)h + page - 1) & ~(page - 1);
		if (c->ext[c->next].b > size)
			c->ext[c->next].b = size;
		p = c->ext[c->next++].b;
	}
	if (ret) {
		free(c->ext);
		c->ext = NULL;
		c->next = 0;
	} else {
		c->ext_read = true;
	}
	pthread_mutex_unlock(&c->ext_lock);
	return ret;
}

/* The first run of the file's data in [off, end): [*a, *b) or end, end. */
static int file_run(struct region *r, uint64_t off, uint64_t end,
		    uint64_t *a, uint64_t *b)
{
	struct cow *c = of(r);
	uint64_t lo = 0, hi;
	int ret = 0;

	if (!__atomic_load_n(&c->ext_read, __ATOMIC_ACQUIRE))
		ret = read_extents(c, r->mem_size);
	if (ret)
		return ret;
	hi = c->next;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (c->ext[mid].b > off)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo == c->next || c->ext[lo].a >= end) {
		*a = *b = end;
		return 0;
	}
	*a = c->ext[lo].a > off ? c->ext[lo].a : off;
	*b = c->ext[lo].b < end ? c->ext[lo].b : end;
	return 0;
}

/*
 * The first run of data in [off, end), the file's data and the private
 * pages together: [*a, *b), or *a = *b = end.
 */
static int data_run(struct region *r, uint64_t off, uint64_t end,
		    uint64_t *a, uint64_t *b)
{
	uint64_t pa, pb, fa, fb;
	int ret = private_run(r, off, end, &pa, &pb);

	if (!ret)
		ret = file_run(r, off, end, &fa, &fb);
	if (ret)
		return ret;
	*a = pa < fa ? pa : fa;
	*b = pa <= fa ? pb : fb;
	while (*a < end && *b < end) {
		ret = private_run(r, *b, end, &pa, &pb);
		if (!ret)
			ret = file_run(r, *b, end, &fa, &fb);
		if (ret)
			return ret;
		if (pa == *b)
			*b = pb;
		else if (fa == *b)
			*b = fb;
		else
			break;
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

/* pread of the file, whole: a short one is EIO, never zeros made up. */
static int pread_all(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pread(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : EIO;
		buf += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
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
			ret = pread_all(of(r)->fd, out + (p - off), a - p, p);
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
	    file_run(r, off, off + len, &a, &b) || a != off || b < off + len)
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
		ret = file_run(r, p, last, &a, &b);
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
	struct timespec ts;
	int64_t now;

	/* Under the lock: a leave frees what this reads. */
	if (pthread_rwlock_tryrdlock(&r->lock) != 0)
		return own;
	if (r->ops == &cow_ops) {
		struct cow *c = r->priv;
		uint64_t pages;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = ts.tv_sec * 1000000000LL + ts.tv_nsec;
		if (now - atomic_load(&c->priv_at_ns) > COUNT_MAX_AGE_NS &&
		    count_private(r, &pages) == 0) {
			atomic_store(&c->priv_pages, pages);
			atomic_store(&c->priv_at_ns, now);
		}
		own = c->file_bytes + atomic_load(&c->priv_pages) * page_size();
		atomic_store(&r->resident_seen, own);
	}
	pthread_rwlock_unlock(&r->lock);
	return own;
}

static bool same_file(struct region *a, struct region *b)
{
	struct cow *x = of(a), *y = of(b);

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
 * Costs the pages written, never the region's size.
 */
static int discard(struct region *dst, uint64_t off, uint64_t end)
{
	if (madvise(base_of(dst) + off, end - off, MADV_DONTNEED) < 0)
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

static void unlist(struct cow *c)
{
	pthread_mutex_lock(&list_lock);
	if (c->prev)
		c->prev->nextc = c->nextc;
	else if (list == c)
		list = c->nextc;
	if (c->nextc)
		c->nextc->prev = c->prev;
	c->prev = c->nextc = NULL;
	pthread_mutex_unlock(&list_lock);
}

static void cow_free_priv(struct cow *c)
{
	unlist(c);
	/* Closing the last fd of the file gives the lease back. */
	close(c->fd);
	free(c->ext);
	pthread_mutex_destroy(&c->ext_lock);
	free(c);
}

static void cow_free(struct region *r)
{
	cow_free_priv(r->priv);
	r->priv = NULL;
}

/*
 * New memory for r, a shmem memfd with r's bytes when keep (else holes),
 * mapped over the same addresses: the guest's slot and every pointer to
 * the mapping stay valid.  The caller holds r exclusive (nothing reads
 * or writes it meanwhile, the guest included).
 */
static int leave(struct region *r, bool keep)
{
	struct cow *c = of(r);
	uint64_t size = r->mem_size, a, b, p = 0;
	uint8_t *base = base_of(r);
	int fd, ret;

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
	if (!ret && mmap(base, size, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED)
		ret = errno;
	if (ret) {
		if (fd >= 0)
			close(fd);
		return ret;
	}
	atomic_fetch_add(&r->geo_seq, 1);
	__atomic_store_n(&r->memfd, fd, __ATOMIC_RELEASE);
	__atomic_store_n(&r->ops, &shmem_ops, __ATOMIC_RELEASE);
	r->priv = NULL;
	atomic_fetch_add(&r->geo_seq, 1);
	cow_free_priv(c);
	region__touch_attr(r);
	return 0;
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
};

int region__cow_supported(struct why *why)
{
	static _Atomic int known = -1;
	struct cow_scan_run v;
	unsigned n;
	uint64_t walked;
	uint8_t *p;
	int ret;

	if (atomic_load(&known) >= 0)
		return atomic_load(&known) ? 0 :
		       why__set(why, ENOSYS, "this kernel has no PAGEMAP_SCAN "
				"(Linux 6.7), which tells the pages written");
	p = mmap(NULL, page_size(), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return why__set(why, errno, "mmap: %s", strerror(errno));
	p[0] = 1;
	ret = scan(p, 0, page_size(), &v, 1, &n, &walked);
	munmap(p, page_size());
	/* One anonymous page written: exactly one private run. */
	atomic_store(&known, !ret && n == 1);
	return region__cow_supported(why);
}

/*
 * Open the file again (its own open file description: a lease is one's),
 * lease it, and check it is still what the caller saw.
 */
static int take(struct cow *c, int fd, uint64_t size,
		const struct cow_lease *lease, struct why *why)
{
	char proc[64];
	struct stat st;
	struct f_owner_ex owner;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	c->fd = open(proc, O_RDONLY | O_CLOEXEC);
	if (c->fd < 0)
		return why__set(why, errno, "cannot open it again: %s",
				strerror(errno));
	if (lease && lease->sig) {
		owner.type = F_OWNER_TID;
		owner.pid = lease->tid;
		if (fcntl(c->fd, F_SETSIG, lease->sig) < 0 ||
		    fcntl(c->fd, F_SETOWN_EX, &owner) < 0 ||
		    fcntl(c->fd, F_SETLEASE, F_RDLCK) < 0)
			return why__set(why, errno, "no read lease on it (%s%s)",
					strerror(errno), errno == EAGAIN ?
					": it is open for writing" :
					errno == EACCES ? ": not its owner, "
					"and no CAP_LEASE" : errno == EINVAL ?
					": its filesystem gives none" : "");
		c->lease = *lease;
	}
	/* Leased now: what it is cannot change any more. */
	if (fstat(c->fd, &st) < 0)
		return why__set(why, errno, "fstat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
		return why__set(why, EINVAL, "it is %llu bytes, not %llu: it "
				"changed", (unsigned long long)st.st_size,
				(unsigned long long)size);
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	c->file_bytes = (uint64_t)st.st_blocks * 512;
	return 0;
}

static int new_cow(const char *name, int fd, const char *path, uint64_t size,
		   bool readonly, const struct cow_lease *lease,
		   struct region **out, struct why *why)
{
	struct cow *c;
	struct region *r;
	int ret = region__cow_supported(why);

	if (ret)
		return ret;
	if (size % page_size())
		return why__set(why, EINVAL, "%llu bytes: not whole pages",
				(unsigned long long)size);
	c = calloc(1, sizeof(*c));
	if (!c)
		return why__set(why, ENOMEM, "out of memory");
	pthread_mutex_init(&c->ext_lock, NULL);
	snprintf(c->path, sizeof(c->path), "%s", path);
	ret = take(c, fd, size, lease, why);
	if (!ret) {
		ret = region__make_arg(name, size, readonly, &cow_ops,
				       &(struct cow_base){ c->fd, readonly },
				       &r);
		if (ret)
			why__set(why, ret, "cannot map it: %s", strerror(ret));
	}
	if (ret) {
		if (c->fd >= 0)
			close(c->fd);
		pthread_mutex_destroy(&c->ext_lock);
		free(c);
		return ret;
	}
	c->r = r;
	r->priv = c;
	atomic_store(&c->priv_at_ns, INT64_MIN / 2);
	pthread_mutex_lock(&list_lock);
	c->nextc = list;
	if (list)
		list->prev = c;
	list = c;
	pthread_mutex_unlock(&list_lock);
	*out = r;
	return 0;
}

int region__new_cow(const char *name, int fd, const char *path,
		    uint64_t size, const struct cow_lease *lease,
		    struct region **out, struct why *why)
{
	return new_cow(name, fd, path, size, false, lease, out, why);
}

int region__share(struct region *r, struct region **copy)
{
	struct cow *c = of(r);
	uint64_t pages;
	int ret;

	if (!c)
		return ENOTSUP;
	ret = count_private(r, &pages);
	if (ret || pages)
		return ret ? ret : ENOTSUP;
	return new_cow(r->name, c->fd, c->path, r->mem_size, true,
		       c->lease.sig ? &c->lease : NULL, copy, NULL);
}

bool region__has_memfd(struct region *r)
{
	return region__memfd(r) >= 0;
}

int region__base_text(struct region *r, char *buf, size_t len)
{
	struct cow *c;
	uint64_t pages = 0;
	int n = 0;

	buf[0] = '\0';
	if (region__ops(r) != &cow_ops || region__shared_begin(r))
		return 0;
	c = of(r);
	if (c && count_private(r, &pages) == 0)
		n = snprintf(buf, len, "%llu %s\n", (unsigned long long)pages,
			     c->path);
	region__shared_end(r);
	return n < 0 ? 0 : (size_t)n >= len ? (int)len - 1 : n;
}

struct region *region__by_base_fd(int fd)
{
	struct region *r = NULL;

	pthread_mutex_lock(&list_lock);
	for (struct cow *c = list; c; c = c->nextc)
		if (c->fd == fd && c->lease.sig) {
			r = region__get(c->r);
			break;
		}
	pthread_mutex_unlock(&list_lock);
	return r;
}

int region__leave_base_locked(struct region *r)
{
	return of(r) ? leave(r, true) : 0;
}

int region__leave_base(struct region *r, struct why *why)
{
	struct timespec until;
	int ret;

	if (!r->readonly) {
		ret = region__exclusive_begin(r, why);
		if (ret)
			return ret;
		ret = of(r) ? leave(r, true) : 0;
		region__exclusive_end(r);
		return ret ? why__set(why, ret, "%s", strerror(ret)) : 0;
	}
	/*
	 * A snapshot's copy is never held exclusive by a control write;
	 * here only for as long as a read of it takes (its bytes stay the
	 * same: a reader sees either mapping).
	 */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	if (pthread_rwlock_timedwrlock(&r->lock, &until))
		return why__set(why, EBUSY, "its readers did not let go");
	ret = of(r) ? leave(r, true) : 0;
	pthread_rwlock_unlock(&r->lock);
	return ret ? why__set(why, ret, "%s", strerror(ret)) : 0;
}
