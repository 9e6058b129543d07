/*
 * A region's checksum (sum.h).  Each extent of data is asked for once
 * through region__reply_read, and summed the way the backing serves it:
 * a memfd that splices (shmem) straight from the daemon's mapping of it,
 * its data extents only, which hold pages that exist: nothing is
 * allocated, nothing copied.  1 GiB of data costs 150 ms of CPU: 90 the
 * CRC, the rest page faults (shmem maps 16 pages a fault; a
 * MADV_POPULATE_READ first cost more).  Huge pages up to
 * REGION_MAPPED_READ_MAX from their iovecs; anything else (a diff's
 * copy, whose view reads through to its parent; a longer huge extent)
 * read into the buffer, 256 KiB at a time, summed while still in the
 * cache.
 */
#include "region/mem/sum.h"
#include "region/mem/overlay.h"
#include "region/mem/region.h"
#include "region/util/crc32c.h"

#include <errno.h>
#include <stdint.h>
#include <sys/uio.h>

struct summing {
	const uint8_t *base;
	uint8_t *buf;
	uint32_t crc;
	size_t done;		/* bytes summed by the last reply */
};

static int sum_fd(void *arg, int memfd, uint64_t off, size_t len)
{
	struct summing *s = arg;

	(void)memfd;
	s->crc = crc32c__extend(s->crc, s->base + off, len);
	s->done = len;
	return 0;
}

static int sum_iov(void *arg, const struct iovec *iov, int cnt)
{
	struct summing *s = arg;

	s->done = 0;
	for (int i = 0; i < cnt; i++) {
		s->crc = crc32c__extend(s->crc, iov[i].iov_base,
					iov[i].iov_len);
		s->done += iov[i].iov_len;
	}
	return 0;
}

static void *sum_buffer(void *arg, size_t *len)
{
	struct summing *s = arg;

	if (*len > SUM_CHUNK)
		*len = SUM_CHUNK;
	return s->buf;
}

static int sum_copied(void *arg, const void *buf, size_t len)
{
	struct summing *s = arg;

	s->crc = crc32c__extend(s->crc, buf, len);
	s->done = len;
	return 0;
}

static const struct region_reader sum_reader = {
	.fd = sum_fd,
	.fd_max = SIZE_MAX,
	.iov = sum_iov,
	.buffer = sum_buffer,
	.copied = sum_copied,
};

/* [off, end), all data: extends *crc. */
static int sum_data(struct region *r, uint8_t *buf, uint64_t off,
		    uint64_t end, uint32_t *crc)
{
	struct summing s = { region__base_addr(r), buf, *crc, 0 };
	int ret = 0;

	while (!ret && off < end) {
		s.done = 0;
		ret = region__reply_read(r, end - off, off, &sum_reader, &s);
		/* Short only if the region shrank: it was to be kept still. */
		if (!ret && !s.done)
			ret = EIO;
		off += s.done;
	}
	*crc = s.crc;
	return ret;
}

int sum__region(struct region *r, uint8_t *buf, uint32_t *crc)
{
	uint64_t size = region__mem_size(r), off = 0, data, hole;
	uint32_t c = 0;
	int ret = 0;

	while (off < size) {
		ret = region__seek_data(r, off, &data);
		if (ret == ENXIO) {
			data = size;
			ret = 0;
		}
		if (ret)
			break;
		c = crc32c__zeros(c, data - off);
		if (data >= size)
			break;
		ret = region__seek_hole(r, data, &hole);
		if (ret)
			break;
		if (hole > size)
			hole = size;
		ret = sum_data(r, buf, data, hole, &c);
		off = hole;
	}
	*crc = c;
	return ret;
}

/* [off, off + len) of r into p, whole. */
static int read_whole(struct region *r, uint8_t *p, size_t len, uint64_t off)
{
	size_t done;
	int ret = region__read(r, p, len, off, &done);

	return ret ? ret : done == len ? 0 : EIO;
}

int sum__diff(struct region *view, uint32_t base_crc, uint8_t *buf,
	      uint32_t *crc)
{
	const struct overlay *o = overlay__of(view);
	uint64_t page = region__page_size(), size = region__mem_size(view);
	uint64_t from = 0, first, end, at = 0;
	size_t half = SUM_CHUNK / 2;
	uint32_t d = 0;
	int ret = 0;

	if (!o || !o->base)
		return EINVAL;
	/* crc(view ^ base): zeros but for the runs held, xored. */
	while (!ret && region__dirty_next(view, 0, from, &first, &end)) {
		d = crc32c__zeros(d, first * page - at);
		for (uint64_t p = first * page; !ret && p < end * page;) {
			size_t n = end * page - p < half ? end * page - p : half;

			ret = read_whole(view, buf, n, p);
			if (!ret)
				ret = read_whole(o->base, buf + half, n, p);
			for (size_t i = 0; !ret && i < n; i++)
				buf[i] ^= buf[half + i];
			if (!ret)
				d = crc32c__extend(d, buf, n);
			p += n;
		}
		at = end * page;
		from = end;
	}
	d = crc32c__zeros(d, size - at);
	*crc = base_crc ^ d ^ crc32c__zeros(0, size);
	return ret;
}
