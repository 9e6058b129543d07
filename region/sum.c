/*
 * A region's checksum (sum.h).  A region whose bytes are its memfd's (the
 * with_contents kind: shmem) is summed straight from the daemon's mapping
 * of it, its data extents only, which hold pages that exist: nothing is
 * allocated, nothing copied.  1 GiB of data costs 150 ms of CPU: 90 the
 * CRC, the rest page faults (shmem maps 16 pages a fault; a
 * MADV_POPULATE_READ first cost more).  Any other region (a diff's copy,
 * whose view reads through to its parent; a huge region) is read with
 * region__read, 256 KiB at a time, summed while still in the cache.
 */
#include "region/sum.h"
#include "region/region.h"
#include "region/util/crc32c.h"

#include <errno.h>

struct mapped {
	const uint8_t *base;
	uint32_t crc;
};

static int sum_mapped(void *arg, int memfd, uint64_t off, size_t len)
{
	struct mapped *m = arg;

	(void)memfd;
	m->crc = crc32c__extend(m->crc, m->base + off, len);
	return 0;
}

/* [off, end), all data: extends *crc. */
static int sum_data(struct region *r, uint8_t *buf, uint64_t off,
		    uint64_t end, uint32_t *crc)
{
	struct mapped m = { region__base_addr(r), *crc };
	int ret = region__with_contents(r, end - off, off, sum_mapped, &m);

	if (ret != EXDEV) {
		*crc = m.crc;
		return ret;
	}
	ret = 0;
	while (!ret && off < end) {
		size_t n = end - off < SUM_CHUNK ? end - off : SUM_CHUNK, done;

		ret = region__read(r, buf, n, off, &done);
		if (!ret && done != n)
			ret = EIO;
		if (!ret)
			*crc = crc32c__extend(*crc, buf, n);
		off += n;
	}
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
