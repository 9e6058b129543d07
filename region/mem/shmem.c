/*
 * The shmem backing: an ordinary memfd (tmpfs).  Its SEEK_DATA and
 * SEEK_HOLE are exact (also under swap), a hole punch frees the pages and
 * KVM sees it at once through its MMU notifiers, it takes pread and
 * pwrite (which allocate without faulting pages into our page tables),
 * and it splices: a read is served from the memfd itself.
 */
#include "region/mem/backing.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int shmem_thp_advised(void)
{
	/* Read once; two first readers at once both read the same. */
	static _Atomic int advised = -1;
	char buf[128] = "";
	FILE *f;

	if (advised >= 0)
		return advised;
	f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "re");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	advised = strstr(buf, "[advise]") || strstr(buf, "[within_size]") ||
		  strstr(buf, "[always]");
	return atomic_load(&advised);
}

/*
 * MADV_HUGEPAGE where the administrator lets shmem use transparent huge
 * pages on advice (shmem_enabled advise, within_size or always); nothing
 * elsewhere.  Never changes a system setting.  A hint: where the kernel
 * says no, the region works as before.
 */
static void advise(uint8_t *base, uint64_t size)
{
	if (shmem_thp_advised())
		madvise(base, size, MADV_HUGEPAGE);
}

static int make(const char *name, uint64_t size, uint64_t huge,
		struct region *from, struct mem *out)
{
	struct mem m = { .huge = 0 };
	uint8_t *buf;
	int ret;

	(void)huge;
	ret = memfd__new(name, size, 0, &m.fd);
	if (ret)
		return ret;
	ret = memfd__map(m.fd, size, &m.raw);
	if (ret) {
		close(m.fd);
		return ret;
	}
	advise(m.raw + region__page_size(), size);
	if (from) {
		uint64_t keep = size < from->mem_size ? size : from->mem_size;

		buf = malloc(COPY_CHUNK);
		ret = buf ? copy__range(m.fd, from->memfd, buf,
					&(struct extents){ 0 }, 0, keep,
					false) : ENOMEM;
		free(buf);
	}
	if (ret) {
		memfd__unmake(&m, size);
		return ret;
	}
	*out = m;
	return 0;
}

static void serve(struct region *r, uint64_t off, size_t len, size_t want,
		  struct serve *how)
{
	(void)off, (void)len, (void)want;
	how->kind = SERVE_FD;
	how->fd = r->memfd;
}

/*
 * pwrite, not memcpy into the mapping: the memfd allocates the pages
 * without faulting each one into our page tables first.
 */
static int write_at(struct region *r, const void *buf, size_t len,
		    uint64_t off, size_t *done)
{
	ssize_t n = pwrite(r->memfd, buf, len, (off_t)off);

	if (n < 0)
		return errno;
	*done = (size_t)n;
	return 0;
}

static int seek(struct region *r, uint64_t off, int whence, uint64_t *pos)
{
	off_t p = lseek(r->memfd, (off_t)off, whence);

	if (p < 0)
		return errno;
	*pos = (uint64_t)p;
	return 0;
}

static int next_data(struct region *r, uint64_t off, uint64_t end,
		     uint64_t *pos)
{
	off_t d = lseek(r->memfd, (off_t)off, SEEK_DATA);

	if (d < 0 && errno != ENXIO)
		return errno;
	*pos = d < 0 || (uint64_t)d > end ? end : (uint64_t)d;
	return 0;
}

/*
 * SEEK_DATA only: it skips holes at once, where SEEK_HOLE walks the data
 * to the next hole, past end (in a base written end to end, its whole
 * size for a run of one page).  A call per page of data or per hole.
 */
static int data_bytes(struct region *r, uint64_t off, uint64_t end,
		      uint64_t *bytes)
{
	uint64_t page = region__page_size(), p = off;

	*bytes = 0;
	while (p < end) {
		off_t d = lseek(r->memfd, (off_t)p, SEEK_DATA);

		if (d < 0 && errno != ENXIO)
			return errno;
		if (d < 0 || (uint64_t)d >= end) {
			break;	/* a hole to end */
		} else if ((uint64_t)d >= p + page) {
			p = (uint64_t)d & ~(page - 1);
		} else {
			*bytes += page;
			p += page;
		}
	}
	return 0;
}

/* A memfd (shmem) always punches holes: no fallback to memset. */
static int punch(struct region *r, uint64_t off, uint64_t len)
{
	static const uint8_t zeros[4096];
	uint64_t page = region__page_size(), stop = off + len,
		 end = (off + page - 1) & ~(page - 1);

	if (end > stop)
		end = stop;
	/* The part of a page before the cut keeps its bytes: zeros. */
	if (end > off && pwrite(r->memfd, zeros, end - off, (off_t)off) < 0)
		return errno;
	if (end < stop &&
	    fallocate(r->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)end, (off_t)(stop - end)) < 0)
		return errno;
	return 0;
}

/*
 * Big ranges on two threads, the source read through its mapping unless
 * how says pread (copy.h says why each).
 */
static int copy_in(struct region *dst, const struct mem_side *src,
		   uint8_t *buf, struct extents *x, uint64_t off, uint64_t end,
		   unsigned how)
{
	struct mem_side d = region__side(dst);

	return copy__sides((struct copy_side){ d.fd, how & COPY_DST_PWRITE ?
					       NULL : d.base, false },
			   (struct copy_side){ src->fd,
					       (how & COPY_SRC_PREAD) &&
					       !(how & COPY_SRC_MAP) ? NULL :
					       src->base, how & COPY_SRC_MAP },
			   buf, x, off, end, how & COPY_FILL_HOLES);
}

static bool has_data(const uint64_t *bits, uint64_t p)
{
	return bits[p / 64] >> (p % 64) & 1;
}

/*
 * Pages [first, end) of dst from src, between the mappings: pages src
 * holds are copied (the first read maps a page of src into our page
 * tables, after which a copy of it costs the memcpy), its holes punched
 * in dst.
 */
static int copy_dense(struct region *src, struct region *dst,
		      const uint64_t *bits, uint64_t first, uint64_t end)
{
	uint64_t page = region__page_size();
	uint8_t *to = region__base_addr(dst), *from = region__base_addr(src);
	int ret;

	for (uint64_t p = first, q; p < end; p = q) {
		bool data = has_data(bits, p);

		for (q = p + 1; q < end && has_data(bits, q) == data; q++)
			;
		if (data)
			memcpy(to + p * page, from + p * page, (q - p) * page);
		else if ((ret = dst->ops->punch(dst, p * page,
						(q - p) * page)))
			return ret;
	}
	return 0;
}

/*
 * A short range into memory that copies by its mapping too, as the data
 * map says (copy.h's COPY_DENSE_PAGES); anything else through dst's
 * copy_in.  A huge dst is written and punched through its own table; a
 * huge source is never read through its mapping (its holes would be
 * allocated), so it has no map.
 */
static int copy_out(struct region *src, struct region *dst, uint8_t **buf,
		    struct copy_cursor *cur, uint64_t off, uint64_t end,
		    unsigned how)
{
	uint64_t page = region__page_size();

	if (cur->map && dst->ops->by_map && (how & COPY_FILL_HOLES) &&
	    end - off <= COPY_DENSE_PAGES * page && !(off % page) &&
	    !(end % page))
		return copy_dense(src, dst, cur->map, off / page, end / page);
	return memfd__copy_out(src, dst, buf, cur, off, end, how);
}

static int extent(struct region *r, struct extents *x, uint64_t p,
		  uint64_t end)
{
	(void)end;
	return copy__extent(r->memfd, x, p);
}

const struct backing_ops shmem_ops = {
	.name = "shmem",
	.by_map = true,
	.make = make,
	.read = memfd__read,
	.serve = serve,
	.write = write_at,
	.seek = seek,
	.next_data = next_data,
	.data_bytes = data_bytes,
	.punch = punch,
	.resident = memfd__resident,
	.copy_out = copy_out,
	.copy_in = copy_in,
	.extent = extent,
};
