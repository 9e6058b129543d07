/*
 * The hugetlb backing: a hugetlbfs memfd (hugetlb.h says what it lacks,
 * and what stands in for it here).
 */
#include "region/mem/backing.h"
#include "region/mem/hugetlb.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/memfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* mincore's vector for one call: 128 MiB of 4 KiB pages, a bound. */
#define MINCORE_SPAN (128ULL << 20)
/* Copies of this many bytes or more run on two threads (copy). */
#define HUGE_SPLIT_MIN (64ULL << 20)

int huge__memfd_flags(uint64_t huge, unsigned *flags)
{
	if (huge == (2ULL << 20))
		*flags = MFD_HUGETLB | MFD_HUGE_2MB;
	else if (huge == (1ULL << 30))
		*flags = MFD_HUGETLB | MFD_HUGE_1GB;
	else
		return EINVAL;
	return 0;
}

static int map(int fd, uint64_t size, uint64_t huge, uint8_t **raw)
{
	size_t page = region__page_size();
	uint64_t len = size + 2 * huge;
	uint8_t *res, *base, *end;

	/*
	 * A hugetlb mapping must start on a huge page: reserve room for the
	 * alignment, then give back what lies outside the two guard pages.
	 */
	res = mmap(NULL, len, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return errno;
	base = (uint8_t *)(((uintptr_t)res + page + huge - 1) & ~(huge - 1));
	end = base + size + page;
	/* No MAP_NORESERVE: hugetlbfs reserves every page now, or fails. */
	if (mmap(base, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 fd, 0) == MAP_FAILED) {
		int err = errno;

		munmap(res, len);
		return err;
	}
	if (base - page > res)
		munmap(res, (size_t)(base - page - res));
	if (end < res + len)
		munmap(end, (size_t)(res + len - end));
	*raw = base - page;
	return 0;
}

static bool present(const uint8_t *base, uint64_t off, uint64_t huge)
{
	unsigned char v = 0;

	/* One base page of a huge one answers for it: mapped whole or not. */
	if (mincore((void *)(base + (off & ~(huge - 1))), region__page_size(),
		    &v) < 0)
		return true;	/* say data: never a hole that is not */
	return v & 1;
}

/*
 * The first huge page at or after off that is (data) or is not (!data)
 * present, or end: one mincore per MINCORE_SPAN, looking at the first
 * base page of each huge page.
 */
static int scan(const uint8_t *base, uint64_t off, uint64_t end,
		uint64_t huge, bool data, uint64_t *pos)
{
	size_t page = region__page_size();
	uint64_t step = huge / page;
	unsigned char *v;

	off &= ~(huge - 1);
	/* The vector for what is asked (a short range: a short one). */
	v = malloc(end > off && end - off < MINCORE_SPAN ?
		   (end - off + page - 1) / page : MINCORE_SPAN / page);
	if (!v)
		return ENOMEM;
	while (off < end) {
		uint64_t span = end - off < MINCORE_SPAN ? end - off :
			MINCORE_SPAN;

		if (mincore((void *)(base + off), span, v) < 0) {
			int err = errno;

			free(v);
			return err;
		}
		for (uint64_t i = 0; i < span / page; i += step) {
			if ((bool)(v[i] & 1) == data) {
				free(v);
				*pos = off + i * page;
				return 0;
			}
		}
		off += span;
	}
	free(v);
	*pos = end;
	return 0;
}

/*
 * Zeros in [off, end) that keep the pages.  A hole punch would give the
 * pages' reservation back with them, and taking it again fails once the
 * pool is emptied (or another process took the pages meanwhile): the
 * region would hold pages that nothing can give, and the next write
 * through the mapping would be SIGBUS.  So a page mapped here is written
 * with zeros and, where it is covered whole, unmapped from the daemon
 * (MADV_DONTNEED on a shared mapping keeps it in the file): a hole to
 * mincore again, which is what seek, serve and the copies see.  A page
 * not mapped here holds zeros already (hugetlb.h).
 */
static int clear(const struct mem_side *m, uint64_t off, uint64_t end)
{
	uint64_t data, hole = end, from, to, first, last;
	int ret;

	while (off < end) {
		ret = scan(m->base, off, end, m->huge, true, &data);
		if (!ret && data < end)
			ret = scan(m->base, data, end, m->huge, false, &hole);
		if (ret || data >= end)
			return ret;
		from = data < off ? off : data;
		to = hole < end ? hole : end;
		memset(m->base + from, 0, to - from);
		first = (from + m->huge - 1) & ~(m->huge - 1);
		last = to & ~(m->huge - 1);
		if (first < last &&
		    madvise(m->base + first, last - first, MADV_DONTNEED) < 0)
			return errno;
		off = to;
	}
	return 0;
}

static int punch_region(struct region *r, uint64_t off, uint64_t len)
{
	struct mem_side m = region__side(r);

	return clear(&m, off, off + len);
}

/*
 * The pages under [off, off + len) made to exist before a write through
 * the mapping: from the region's reservation (kept, clear), or from the
 * pool where it has none.  Where neither can give one, the write fails
 * here with ENOMEM instead of the daemon dying of SIGBUS.
 * MADV_POPULATE_WRITE faults them in as a write would, and says EFAULT
 * where that write would have been SIGBUS; before Linux 5.14, fallocate
 * allocates them (under the inode's lock: the two halves of a copy would
 * wait for each other).
 */
static int ensure(const struct mem_side *m, uint64_t off, uint64_t len)
{
	uint64_t first = off & ~(m->huge - 1);
	uint64_t last = (off + len + m->huge - 1) & ~(m->huge - 1);
	int err;

	if (!len ||
	    madvise(m->base + first, last - first, MADV_POPULATE_WRITE) == 0)
		return 0;
	err = errno;
	if (err == EINVAL &&
	    fallocate(m->fd, FALLOC_FL_KEEP_SIZE, (off_t)first,
		      (off_t)(last - first)) == 0)
		return 0;
	if (err == EINVAL)
		err = errno;
	/* EFAULT: the fault would have been SIGBUS; ENOSPC: fallocate's. */
	return err == EFAULT || err == ENOSPC ? ENOMEM : err;
}

static int seek_to(struct region *r, uint64_t off, uint64_t end, int whence,
		  uint64_t *pos)
{
	uint8_t *base = r->raw + region__page_size();
	int ret;

	if (end > r->mem_size)
		end = r->mem_size;
	ret = scan(base, off, end, r->huge, whence == SEEK_DATA, pos);
	if (ret)
		return ret;
	if (*pos < off)
		*pos = off;	/* inside the page off is in */
	return 0;
}

static int seek(struct region *r, uint64_t off, int whence, uint64_t *pos)
{
	int ret = seek_to(r, off, r->mem_size, whence, pos);

	if (!ret && whence == SEEK_DATA && *pos >= r->mem_size)
		return ENXIO;
	return ret;
}

static int next_data(struct region *r, uint64_t off, uint64_t end,
		     uint64_t *pos)
{
	return seek_to(r, off, end, SEEK_DATA, pos);
}

static bool zeros(const uint8_t *p, uint64_t len)
{
	const uint64_t *w = (const uint64_t *)p;

	for (uint64_t i = 0; i < len / 8; i++)
		if (w[i])
			return false;
	return true;
}

/* Whether src holds data in [off, end) (within one of dst's pages). */
static bool src_data(const struct mem_side *src, uint64_t off, uint64_t end)
{
	off_t d;

	if (src->huge)
		for (uint64_t o = off; o < end;
		     o = (o & ~(src->huge - 1)) + src->huge)
			if (present(src->base, o, src->huge))
				return true;
	if (src->huge)
		return false;
	d = lseek(src->fd, (off_t)off, SEEK_DATA);
	return d < 0 ? errno != ENXIO : (uint64_t)d < end;
}

/* One thread's part of copy: [off, end), whole huge pages apart. */
static int copy_span(const struct mem_side *dst, const struct mem_side *src,
		     uint64_t off, uint64_t end, bool fill_holes)
{
	uint64_t hole = off;	/* [hole, off): to clear, one call for a run */
	int ret = 0;

	while (off < end && !ret) {
		uint64_t next = (off & ~(dst->huge - 1)) + dst->huge;
		uint64_t n = (next < end ? next : end) - off;
		bool data = src_data(src, off, off + n) &&
			(!src->huge || !zeros(src->base + off, n));

		if (data) {
			if (fill_holes && hole < off)
				ret = clear(dst, hole, off);
			/*
			 * dst's page made to exist first (ensure).  A shmem
			 * or file source is read with pread: a hole in it
			 * read through a mapping would be allocated.
			 */
			if (!ret)
				ret = ensure(dst, off, n);
			if (!ret && src->huge)
				memcpy(dst->base + off, src->base + off, n);
			else if (!ret)
				ret = memfd__pread_whole(src->fd, dst->base + off,
							 n, off);
			hole = off + n;
		} else if (!fill_holes) {
			hole = off + n;	/* dst holds a hole there already */
		}
		off += n;
	}
	if (!ret && fill_holes && hole < end)
		ret = clear(dst, hole, end);
	return ret;
}

struct half {
	const struct mem_side *dst, *src;
	uint64_t off, end;
	bool fill_holes;
	int ret;
};

static void *copy_half(void *arg)
{
	struct half *h = arg;

	h->ret = copy_span(h->dst, h->src, h->off, h->end, h->fill_holes);
	return NULL;
}

static int copy(const struct mem_side *dst, const struct mem_side *src,
	       uint64_t off, uint64_t end, bool fill_holes)
{
	uint64_t mid = (off + (end - off) / 2) & ~(dst->huge - 1);
	struct half h = { dst, src, mid, end, fill_holes, 0 };
	pthread_t t;
	int ret;

	/*
	 * A big range on two threads, split at a huge page: the faults
	 * that zero dst's pages and the copies run on both cores, and the
	 * halves share no page (each clears only its own).
	 */
	if (end - off < HUGE_SPLIT_MIN || mid <= off ||
	    pthread_create(&t, NULL, copy_half, &h) != 0)
		return copy_span(dst, src, off, end, fill_holes);
	ret = copy_span(dst, src, off, mid, fill_holes);
	pthread_join(t, NULL);
	return ret ? ret : h.ret;
}

/*
 * New memory; a rebuild copies through the mappings (mapped first), a
 * huge page at a time.
 */
static int make(const char *name, uint64_t size, uint64_t huge,
		struct region *from, struct mem *out)
{
	struct mem m = { .huge = huge };
	unsigned flags;
	int ret = huge__memfd_flags(huge, &flags);

	if (ret)
		return ret;
	ret = memfd__new(name, size, flags, &m.fd);
	if (ret)
		return ret;
	ret = map(m.fd, size, huge, &m.raw);
	if (ret) {
		close(m.fd);
		return ret;
	}
	if (from) {
		uint64_t keep = size < from->mem_size ? size : from->mem_size;
		struct mem_side d = { m.fd, m.raw + region__page_size(), huge },
				s = region__side(from);

		ret = copy(&d, &s, 0, keep, false);
	}
	if (ret) {
		memfd__unmake(&m, size);
		return ret;
	}
	*out = m;
	return 0;
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

/*
 * hugetlbfs has no splice_read (libfuse would make a pipe, fail the
 * splice, drop the pipe and copy through a fresh buffer, for every
 * read): the reply is made from the mapping, which the kernel copies
 * once.  A page present now stays so while the region is held (a punch
 * needs it exclusive), so the copy faults in the page that exists,
 * never a new one; a hole is read from zeros that allocate nothing.
 */
static void serve(struct region *r, uint64_t off, size_t len, size_t want,
		  struct serve *how)
{
	uint8_t *base = r->raw + region__page_size();
	uint64_t pos, next, end = off + len;

	how->kind = SERVE_COPY;
	if (!MAPPED_READS || want > REGION_MAPPED_READ_MAX)
		return;
	how->kind = SERVE_MAP;
	how->cnt = 0;
	/* len is below a huge page: it spans two at most. */
	for (pos = off; pos < end; pos = next) {
		next = (pos & ~(r->huge - 1)) + r->huge;
		if (next > end)
			next = end;
		how->iov[how->cnt].iov_base = present(base, pos, r->huge) ?
					      base + pos : zeros_to_read;
		how->iov[how->cnt++].iov_len = next - pos;
	}
}

/*
 * hugetlbfs has no write(2): the mapping is the way (its pages made to
 * exist first, or nothing written), and its page tables are what say
 * where the data is (hugetlb.h).
 */
static int write_at(struct region *r, const void *buf, size_t len,
		    uint64_t off, size_t *done)
{
	struct mem_side m = region__side(r);
	int ret = ensure(&m, off, len);

	if (ret)
		return ret;
	memcpy(m.base + off, buf, len);
	*done = len;
	return 0;
}

/*
 * A source whose mapping holds its bytes, its extents given (a
 * copy-on-write region: [off, end) is a hole up to x->data, then data):
 * copied from that mapping.
 */
static int copy_mapped(const struct mem_side *dst, const struct mem_side *src,
		       const struct extents *x, uint64_t off, uint64_t end,
		       bool fill_holes)
{
	uint64_t a = x->data > off ? x->data : off;
	uint64_t b = x->hole < end ? x->hole : end;
	int ret = 0;

	if (a > end)
		a = end;
	if (fill_holes && a > off)
		ret = clear(dst, off, a);
	if (!ret && a < b) {
		ret = ensure(dst, a, b - a);
		if (!ret)
			memcpy(dst->base + a, src->base + a, b - a);
	}
	if (!ret && fill_holes && b > a && b < end)
		ret = clear(dst, b, end);
	return ret;
}

static int copy_in(struct region *dst, const struct mem_side *src,
		   uint8_t *buf, struct extents *x, uint64_t off, uint64_t end,
		   unsigned how)
{
	struct mem_side d = region__side(dst);

	(void)buf;
	if (how & COPY_SRC_MAP)
		return copy_mapped(&d, src, x, off, end, how & COPY_FILL_HOLES);
	return copy(&d, src, off, end, how & COPY_FILL_HOLES);
}

/*
 * hugetlbfs says "data" everywhere: the extent comes from the mapping,
 * asked about [p, end) only (a mincore costs the range it looks at).
 */
static int extent(struct region *r, struct extents *x, uint64_t p,
		  uint64_t end)
{
	uint64_t data, hole;
	int ret;

	if (p >= x->from && p < x->hole)
		return 0;
	x->from = p;
	ret = seek_to(r, p, end, SEEK_DATA, &data);
	if (!ret && data < end)
		ret = seek_to(r, data, end, SEEK_HOLE, &hole);
	if (ret)
		return ret;
	/* Nothing found before end: a hole to there, asked again after. */
	x->data = data;
	x->hole = data < end ? hole : end;
	return 0;
}

/* Present huge pages are data whole: an extent a time. */
static int data_bytes(struct region *r, uint64_t off, uint64_t end,
		      uint64_t *bytes)
{
	*bytes = 0;
	while (off < end) {
		struct extents x = { .hole = 0 };
		int ret = extent(r, &x, off, end);

		if (ret)
			return ret;
		if (x.data < end)
			*bytes += x.hole - x.data;
		off = x.hole;
	}
	return 0;
}

const struct backing_ops hugetlb_ops = {
	.name = "hugetlb",
	.make = make,
	.read = memfd__read,
	.serve = serve,
	.write = write_at,
	.seek = seek,
	.next_data = next_data,
	.data_bytes = data_bytes,
	.punch = punch_region,
	.resident = memfd__resident,
	.copy_out = memfd__copy_out,
	.copy_in = copy_in,
	.extent = extent,
};

static uint64_t pool_count(uint64_t huge, const char *what)
{
	char path[128];
	unsigned long long n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/"
		 "hugepages-%llukB/%s", (unsigned long long)(huge >> 10), what);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &n) != 1)
		n = 0;
	fclose(f);
	return n;
}

uint64_t region__huge_free(uint64_t huge)
{
	uint64_t free_pages = pool_count(huge, "free_hugepages"),
		 resv = pool_count(huge, "resv_hugepages");

	return free_pages > resv ? free_pages - resv : 0;
}

/* Why a huge region could not be made: the size, or the pool. */
int region__huge_refused(int ret, uint64_t size, uint64_t huge,
			 struct why *why)
{
	unsigned long long mib = (unsigned long long)(huge >> 20);

	if (ret == EINVAL)
		return why__set(why, EINVAL, "size %llu is not a multiple of "
				"the huge page size (%lluM)",
				(unsigned long long)size, mib);
	return why__set(why, ret, "cannot reserve %llu huge pages of %lluM "
			"(%llu free; raise /proc/sys/vm/nr_hugepages): %s",
			(unsigned long long)(size / huge), mib,
			(unsigned long long)region__huge_free(huge),
			strerror(ret));
}
