/*
 * The checksum of a region's bytes, as a saved directory records it: the
 * CRC-32C (region/util/crc32c.h) of its whole view, mem_size bytes, holes
 * as the zeros they read as.  Only the data is read (SEEK_DATA/SEEK_HOLE);
 * a hole costs a few multiplications, whatever its length.
 *
 * Errors: 0 or a positive errno.
 */
#ifndef REGIONFS_SUM_H
#define REGIONFS_SUM_H

#include <stdint.h>

struct region;

/* What sum__region reads at a time (its buffer's size). */
#define SUM_CHUNK (256 << 10)

/*
 * r's checksum, read through buf (SUM_CHUNK bytes).  The caller keeps the
 * bytes still (a readonly copy, or a region nobody else has yet).
 */
int sum__region(struct region *r, uint8_t *buf, uint32_t *crc);
/*
 * The same for a diff's copy (an overlay over a base), from base_crc,
 * the checksum of its base, and the pages it holds alone: a CRC is
 * linear, so for messages of one length crc(view) = crc(base) ^
 * crc(view ^ base) ^ crc(zeros), and view ^ base is zeros but where the
 * copy holds pages.  Costs the pages held, not the size: a diff taken
 * to move a running sandbox is summed in the pause at once.  EINVAL for
 * a region that reads through no base.
 */
int sum__diff(struct region *view, uint32_t base_crc, uint8_t *buf,
	      uint32_t *crc);

#endif
