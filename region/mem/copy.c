/* Sparse copies between memfds (copy.h). */
#include "region/mem/copy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define FAULT_AROUND 16

/* One copy: what both threads share, set up before the helper starts. */
struct job {
	struct copy_side dst, src;
	bool src_mapped;	/* read src through its mapping */
	bool dst_writable;	/* dst takes pwrite (not hugetlbfs) */
	bool fill_holes;
	size_t page;
	uint64_t off, end;
	/*
	 * The extents the caller gave, for the helper to start from: a
	 * source whose fd is not its bytes (copy_side.exact) has no other.
	 */
	struct extents given;
	atomic_uint_least64_t next;	/* the next block to take */
	atomic_int err;			/* the first error, which stops both */
};

/* What one thread copies with. */
struct worker {
	struct job *j;
	uint8_t *buf;		/* COPY_CHUNK bytes, unless src_mapped */
	struct extents *x;
	bool via_map;		/* write dst through its mapping */
};

static bool zero_bytes(const uint8_t *p, size_t len)
{
	size_t i = 0;

	for (; i < len && ((uintptr_t)(p + i) & 7); i++)
		if (p[i])
			return false;
	for (; i + 8 <= len; i += 8)
		if (*(const uint64_t *)(const void *)(p + i))
			return false;
	for (; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static int punch(int fd, uint64_t off, uint64_t len)
{
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len) < 0)
		return errno;
	return 0;
}

/*
 * Write [off, off + len) of dst from p.  Through the mapping, the pages
 * are faulted in by one call first: memcpy would take a fault per page.
 * EINVAL from madvise is a kernel without MADV_POPULATE_WRITE (before
 * 5.14): the memcpy faults them in instead.
 */
static int put(const struct worker *w, const uint8_t *p, uint64_t off,
	       size_t len)
{
	const struct job *j = w->j;

	if (w->via_map) {
		uint64_t a = off & ~(uint64_t)(j->page - 1);

		if (madvise(j->dst.map + a, off + len - a,
			    MADV_POPULATE_WRITE) < 0 && errno != EINVAL)
			return errno;
		memcpy(j->dst.map + off, p, len);
		return 0;
	}
	while (len) {
		ssize_t n = pwrite(j->dst.fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : EIO;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The bytes of src's [off, off + len), len <= COPY_CHUNK.  Through the
 * mapping, its pages are mapped in by one call (a data extent: no page is
 * allocated): reading would take a fault per 16 pages, and each costs
 * more than the call (restores of 1 GiB went from 4.3 to 4.5-5 GB/s).
 * A kernel without MADV_POPULATE_READ faults them in as before.  A
 * read fault maps up to FAULT_AROUND pages (the kernel's default
 * fault_around_bytes): a shorter range, a restore's run of dirty pages,
 * costs one fault either way.
 */
static int get(const struct job *j, uint8_t *buf, uint64_t off, size_t len,
	       const uint8_t **p)
{
	size_t done = 0;

	if (j->src_mapped) {
		uint64_t a = off & ~(uint64_t)(j->page - 1);

		if (len > FAULT_AROUND * j->page &&
		    madvise(j->src.map + a, off + len - a,
			    MADV_POPULATE_READ) < 0 && errno != EINVAL)
			return errno;
		*p = j->src.map + off;
		return 0;
	}
	while (done < len) {
		ssize_t n = pread(j->src.fd, buf + done, len - done,
				  (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : EIO;
		done += (size_t)n;
	}
	*p = buf;
	return 0;
}

/* Where the page holding off ends, or end if sooner. */
static uint64_t page_end(const struct job *j, uint64_t off, uint64_t end)
{
	uint64_t e = (off | (j->page - 1)) + 1;

	return e < end ? e : end;
}

/*
 * Copy the data range [off, end) page by page: runs of pages with data
 * are written, runs of zeros become holes in dst (punched when
 * fill_holes, else dst holds zeros there already).
 */
static int copy_data(const struct worker *w, uint64_t off, uint64_t end)
{
	const struct job *j = w->j;

	while (off < end) {
		size_t len = end - off > COPY_CHUNK ? COPY_CHUNK : end - off;
		const uint8_t *p = NULL;
		uint64_t a = off, c = off + len;
		int ret = get(j, w->buf, off, len, &p);

		if (ret)
			return ret;
		while (a < c) {
			uint64_t b = page_end(j, a, c);
			bool zero = zero_bytes(p + (a - off), b - a);

			while (b < c) {
				uint64_t e = page_end(j, b, c);

				if (zero_bytes(p + (b - off), e - b) != zero)
					break;
				b = e;
			}
			if (!zero)
				ret = put(w, p + (a - off), a, b - a);
			else if (j->fill_holes)
				ret = punch(j->dst.fd, a, b - a);
			if (ret)
				return ret;
			a = b;
		}
		off = c;
	}
	return 0;
}

/*
 * The extent around off, often known already: shmem answers SEEK_HOLE by
 * walking its pages up to the next hole, which in a copy without holes is
 * the end of the file, so asking once per dirty range made a restore of
 * scattered pages cost the region's size each time.  With the cursor, all
 * the walks of one region add up to its size.
 */
static int find_extent(int src, struct extents *x, uint64_t off)
{
	off_t data, hole;

	if (off >= x->from && off < x->hole)
		return 0;
	x->from = off;
	data = lseek(src, (off_t)off, SEEK_DATA);
	if (data < 0 && errno != ENXIO)
		return errno;
	if (data < 0) {
		x->data = x->hole = UINT64_MAX;	/* holes to the end */
		return 0;
	}
	hole = lseek(src, data, SEEK_HOLE);
	if (hole < 0)
		return errno;
	x->data = (uint64_t)data;
	x->hole = (uint64_t)hole;
	return 0;
}

/* [off, end) by extents: holes punched (when fill_holes), data copied. */
static int copy_extents(const struct worker *w, uint64_t off, uint64_t end)
{
	const struct job *j = w->j;
	struct extents *x = w->x;

	while (off < end) {
		uint64_t data, hole;
		int ret = find_extent(j->src.fd, x, off);

		if (ret)
			return ret;
		data = x->data > off ? x->data : off;
		if (data > end)
			data = end;
		if (j->fill_holes && data > off) {
			ret = punch(j->dst.fd, off, data - off);
			if (ret)
				return ret;
		}
		if (data >= end)
			break;
		hole = x->hole < end ? x->hole : end;
		ret = copy_data(w, data, hole);
		if (ret)
			return ret;
		off = hole;
	}
	return 0;
}

int copy__extent(int src, struct extents *x, uint64_t off)
{
	return find_extent(src, x, off);
}

/*
 * Take blocks until none is left or the other thread failed.  Blocks are
 * COPY_BLOCK-aligned in the file (the first and last clipped to the
 * range), so the two threads never share a page.  Each thread's blocks
 * only move forward, so each keeps its own cursor.
 */
static int take_blocks(const struct worker *w)
{
	struct job *j = w->j;

	for (;;) {
		uint64_t b = atomic_fetch_add(&j->next, COPY_BLOCK);
		int ret;

		if (b >= j->end || atomic_load(&j->err))
			return 0;
		ret = copy_extents(w, b > j->off ? b : j->off,
				   j->end - b > COPY_BLOCK ? b + COPY_BLOCK :
				   j->end);
		if (ret) {
			int none = 0;

			atomic_compare_exchange_strong(&j->err, &none, ret);
			return ret;
		}
	}
}

static void *helper(void *arg)
{
	struct job *j = arg;
	struct extents x = j->src.exact ? j->given :
			   (struct extents){ .hole = 0 };
	struct worker w = { .j = j, .x = &x, .via_map = true };

	if (!j->src_mapped && !(w.buf = malloc(COPY_CHUNK))) {
		int none = 0;

		atomic_compare_exchange_strong(&j->err, &none, ENOMEM);
		return NULL;
	}
	take_blocks(&w);
	free(w.buf);
	return NULL;
}

/* Whether fd is shmem: SEEK_DATA exact, pwrite works (not hugetlbfs). */
static bool is_shmem(int fd)
{
	struct statfs sf;

	return fstatfs(fd, &sf) == 0 && sf.f_type == TMPFS_MAGIC;
}

enum { KINDS_KNOWN = 1, SRC_SHMEM = 2, DST_SHMEM = 4 };

/* Asked once per cursor: a restore calls once per run of dirty pages. */
static uint8_t kinds(struct extents *x, int dst, int src)
{
	if (!x->kinds)
		x->kinds = KINDS_KNOWN | (is_shmem(src) ? SRC_SHMEM : 0) |
			   (is_shmem(dst) ? DST_SHMEM : 0);
	return x->kinds;
}

int copy__sides(struct copy_side dst, struct copy_side src, uint8_t *buf,
		struct extents *x, uint64_t off, uint64_t end,
		bool fill_holes)
{
	uint8_t k = kinds(x, dst.fd, src.fd);
	struct job j = {
		.dst = dst, .src = src, .fill_holes = fill_holes,
		.page = (size_t)sysconf(_SC_PAGESIZE), .off = off, .end = end,
		.src_mapped = src.map && (src.exact || (k & SRC_SHMEM)),
		.dst_writable = !dst.map || (k & DST_SHMEM),
	};
	/*
	 * The caller's thread writes with pwrite where it can: of the ways
	 * measured, the one that costs the least CPU per page (no zeroing,
	 * no page tables).  The helper writes through the mapping, whose
	 * faults do not wait for the inode lock that pwrite holds.
	 */
	struct worker w = { .j = &j, .buf = buf, .x = x,
			    .via_map = !j.dst_writable };
	pthread_t t;
	int ret;

	if (off >= end)
		return 0;
	j.given = *x;
	atomic_init(&j.next, off & ~(COPY_BLOCK - 1));
	atomic_init(&j.err, 0);
	/* One thread below COPY_SPLIT_MIN: a thread costs tens of µs. */
	if (end - off < COPY_SPLIT_MIN || !dst.map ||
	    pthread_create(&t, NULL, helper, &j) != 0)
		return copy_extents(&w, off, end);
	ret = take_blocks(&w);
	pthread_join(t, NULL);
	return ret ? ret : atomic_load(&j.err);
}

int copy__buffer(uint8_t **buf)
{
	if (!*buf)
		*buf = malloc(COPY_CHUNK);
	return *buf ? 0 : ENOMEM;
}

int copy__range(int dst, int src, uint8_t *buf, struct extents *x,
		uint64_t off, uint64_t end, bool fill_holes)
{
	return copy__sides((struct copy_side){ .fd = dst },
			   (struct copy_side){ .fd = src }, buf, x, off, end,
			   fill_holes);
}
