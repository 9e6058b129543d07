/*
 * The checksums a snapshot directory records of its regions' bytes: one
 * line of info per region, "crc32c NAME 0x89abcdef", the CRC-32C
 * (region/mem/sum.h) of the region's whole view.  They catch accidents and
 * torn copies (a flipped bit, a file cut short or rewritten while it was
 * copied or loaded), not a forger, who can write the line again.
 *
 * Errors: 0 or a positive errno.
 */
#ifndef REGIONFS_SAVED_SUM_H
#define REGIONFS_SAVED_SUM_H

#include "region/mem/region.h"

#include <stddef.h>
#include <stdint.h>

/* The line; always the same length for a name, whatever the sum. */
#define SAVED_SUM_FMT "crc32c %s 0x%08x\n"
#define SAVED_SUM_KEY "crc32c "

/*
 * One line of info (len bytes, no newline): ENOENT when it is no checksum
 * line (another word first), EINVAL when it starts like one and is not
 * exactly one (a region name, 0x and 8 hex digits); else name and crc.
 */
int saved__parse_sum(const char *line, size_t len,
		     char name[REGION_NAME_MAX + 1], uint32_t *crc);

#endif
