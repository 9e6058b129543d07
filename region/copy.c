/* Sparse copies between memfds (copy.h). */
#include "region/copy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stddef.h>
#include <unistd.h>

static bool zero_page(const uint8_t *p, size_t len)
{
	const uint64_t *w = (const uint64_t *)p;

	for (size_t i = 0; i < len / 8; i++)
		if (w[i])
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
 * Copy [off, end) of src's memfd into dst's, page by page: pages of zeros
 * become holes in dst (punched when fill_holes, else dst is known to hold
 * a hole there already), so a copy costs only the pages with data.
 */
static int copy_data(int dst, int src, uint8_t *buf, uint64_t off,
		     uint64_t end, bool fill_holes)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	while (off < end) {
		size_t len = end - off > COPY_CHUNK ? COPY_CHUNK : end - off;
		ssize_t n = pread(src, buf, len, (off_t)off);

		if (n < 0)
			return errno;
		if ((size_t)n != len)
			return EIO;
		for (size_t p = 0; p < len;) {
			bool zero = zero_page(buf + p, page);
			size_t q = p + page;
			int ret = 0;

			while (q < len && zero_page(buf + q, page) == zero)
				q += page;
			if (!zero) {
				if (pwrite(dst, buf + p, q - p, (off_t)(off + p)) !=
				    (ssize_t)(q - p))
					ret = errno ? errno : EIO;
			} else if (fill_holes) {
				ret = punch(dst, off + p, q - p);
			}
			if (ret)
				return ret;
			p = q;
		}
		off += len;
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

int copy__range(int dst, int src, uint8_t *buf, struct extents *x,
		      uint64_t off, uint64_t end, bool fill_holes)
{
	while (off < end) {
		uint64_t data, hole;
		int ret = find_extent(src, x, off);

		if (ret)
			return ret;
		data = x->data > off ? x->data : off;
		if (data > end)
			data = end;
		if (fill_holes && data > off) {
			ret = punch(dst, off, data - off);
			if (ret)
				return ret;
		}
		if (data >= end)
			break;
		hole = x->hole < end ? x->hole : end;
		ret = copy_data(dst, src, buf, data, hole, fill_holes);
		if (ret)
			return ret;
		off = hole;
	}
	return 0;
}
