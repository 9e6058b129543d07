/*
 * Which pages of a private file mapping were written (are anonymous
 * memory of this process, present or swapped), read from the page tables
 * with PAGEMAP_SCAN (Linux 6.7): at the cost of the range asked, never
 * the mapping's size, and nothing faulted in.  A file page is never
 * swapped (only dropped), so a swapped page is a written one.
 *
 * Offsets are bytes from base, page-aligned; errors: 0 or a positive
 * errno.  Private to region/mem/.
 */
#ifndef REGIONFS_PAGESCAN_H
#define REGIONFS_PAGESCAN_H

#include "region/util/why.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* 0 when this kernel has PAGEMAP_SCAN, else ENOSYS and why. */
int pagescan__supported(struct why *why);
/*
 * The first run of written pages in [off, end) of the mapping at base,
 * of size bytes: [*a, *b), or *a = *b = end when there is none.  off and
 * end need not be page-aligned: the run is clipped to them.
 */
int pagescan__run(uint8_t *base, uint64_t size, uint64_t off, uint64_t end,
		  uint64_t *a, uint64_t *b);
/* Every written page of the mapping, counted (SCAN_RUNS at a time). */
int pagescan__count(uint8_t *base, uint64_t size, uint64_t *pages);

/*
 * Drop the written pages of [p, p + len), page-aligned, of a private
 * mapping of fd at offset off: the pages moved out of the way in one
 * mremap (page tables, not pages), fd mapped there again, and the pages
 * freed on a thread (at most REAPERS_MAX at once): a restore waits
 * neither for the freeing (about 0.3 us a page) nor for a fault.  EBUSY
 * (too many threads) or EAGAIN (nothing changed): the caller drops them
 * itself (MADV_DONTNEED).  Worth it from PAGESCAN_MOVE_MIN bytes.
 */
#define PAGESCAN_MOVE_MIN (2ULL << 20)
int pagescan__drop(uint8_t *p, size_t len, int fd, off_t off);

#endif
